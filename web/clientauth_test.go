package web

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/sigilauth/sigil/oauth"
)

func TestParseClientCredentials(t *testing.T) {
	b64 := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name     string
		authz    string
		form     url.Values
		want     oauth.ClientCredentials
		wantCode string
	}{
		{name: "post", form: url.Values{"client_id": {"a"}, "client_secret": {"s"}}, want: oauth.ClientCredentials{ID: "a", Secret: "s"}},
		{name: "none", form: url.Values{"client_id": {"a"}}, want: oauth.ClientCredentials{ID: "a"}},
		{name: "nothing", form: url.Values{}, want: oauth.ClientCredentials{}},
		{name: "basic", authz: b64("a:s"), want: oauth.ClientCredentials{ID: "a", Secret: "s", Basic: true}},
		{name: "basic lower-case scheme", authz: "basic " + base64.StdEncoding.EncodeToString([]byte("a:s")), want: oauth.ClientCredentials{ID: "a", Secret: "s", Basic: true}},
		{name: "basic urlencoded", authz: b64("my%3Aapp:p%40ss+word"), want: oauth.ClientCredentials{ID: "my:app", Secret: "p@ss word", Basic: true}},
		{name: "basic empty secret", authz: b64("cli:"), want: oauth.ClientCredentials{ID: "cli", Basic: true}},
		{name: "basic with same client_id", authz: b64("a:s"), form: url.Values{"client_id": {"a"}}, want: oauth.ClientCredentials{ID: "a", Secret: "s", Basic: true}},
		{name: "basic and client_secret", authz: b64("a:s"), form: url.Values{"client_secret": {"s"}}, wantCode: oauth.CodeInvalidRequest},
		{name: "basic and other client_id", authz: b64("a:s"), form: url.Values{"client_id": {"b"}}, wantCode: oauth.CodeInvalidRequest},
		{name: "bad base64", authz: "Basic !!!", wantCode: oauth.CodeInvalidClient},
		{name: "no colon", authz: b64("as"), wantCode: oauth.CodeInvalidClient},
		{name: "bad escape", authz: b64("a%zz:s"), wantCode: oauth.CodeInvalidClient},
		{name: "bearer scheme", authz: "Bearer xyz", wantCode: oauth.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.form == nil {
				tc.form = url.Values{}
			}
			got, err := parseClientCredentials(tc.authz, tc.form)
			if tc.wantCode != "" {
				e := oauth.AsError(err)
				if e == nil || e.Code != tc.wantCode {
					t.Fatalf("err = %v, want %s", err, tc.wantCode)
				}
				if tc.wantCode == oauth.CodeInvalidClient && (e.Status != 401 || !strings.HasPrefix(e.Challenge, "Basic")) {
					t.Fatalf("invalid_client from Basic must be 401 with a Basic challenge, got %d %q", e.Status, e.Challenge)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
