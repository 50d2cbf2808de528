package web

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/sigilauth/sigil/oauth"
)

// TestTokenDecodesCodeGrant checks that the token endpoint hands the
// authorization_code grant's form fields to the service.
func TestTokenDecodesCodeGrant(t *testing.T) {
	fake := &fakeTokens{}
	s, _ := newFakeServer(t, fake)
	rec := fakeDo(s, http.MethodPost, PathToken, contentTypeForm,
		form("grant_type", "authorization_code", "client_id", "app", "code", "c0de",
			"redirect_uri", "https://app.test/cb", "code_verifier", "v3rifier"), "203.0.113.5:1", nil)
	if rec.Code != 200 || fake.calls != 1 {
		t.Fatalf("status %d, %d calls: %s", rec.Code, fake.calls, rec.Body)
	}
	got := fake.token
	addr := netip.MustParseAddr("203.0.113.5")
	want := oauth.TokenRequest{GrantType: "authorization_code", Client: oauth.ClientCredentials{ID: "app", RemoteIP: addr},
		Code: "c0de", RedirectURI: "https://app.test/cb", CodeVerifier: "v3rifier", RemoteIP: addr}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestDiscoverySSO checks the metadata of the authorization code flow and
// logout (issue 9).
func TestDiscoverySSO(t *testing.T) {
	const iss = "https://example.com/auth"
	b, err := discoveryDocument(iss, []string{"ES256"})
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		want  string // JSON
	}{
		{"authorization_endpoint", `"` + iss + `/oauth2/authorize"`},
		{"end_session_endpoint", `"` + iss + `/oauth2/logout"`},
		{"code_challenge_methods_supported", `["S256"]`},
		{"response_types_supported", `["code"]`},
		{"response_modes_supported", `["query","form_post"]`},
		{"authorization_response_iss_parameter_supported", `true`},
		{"backchannel_logout_supported", `true`},
		{"backchannel_logout_session_supported", `true`},
		{"grant_types_supported", `["authorization_code","password","refresh_token","client_credentials"]`},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			got, _ := json.Marshal(d[tc.field])
			if string(got) != tc.want {
				t.Fatalf("%s = %s, want %s", tc.field, got, tc.want)
			}
		})
	}
}
