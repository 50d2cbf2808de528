package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// verifyIssuer serves discovery and a one-key JWKS, and mints tokens with
// that key, as Sigil would.
type verifyIssuer struct {
	url string
	key *ecdsa.PrivateKey
	kid string
}

func newVerifyIssuer(t *testing.T) *verifyIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := key.PublicKey.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	vi := &verifyIssuer{key: key, kid: "kid-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": vi.url, "jwks_uri": vi.url + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "EC", "crv": "P-256", "kid": vi.kid, "use": "sig", "alg": "ES256",
			"x": b64(pt[1:33]), "y": b64(pt[33:]),
		}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	vi.url = srv.URL
	return vi
}

func (vi *verifyIssuer) mint(t *testing.T, typ string, exp time.Time) string {
	t.Helper()
	enc := func(v any) string {
		data, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(data)
	}
	now := time.Now()
	input := enc(map[string]string{"alg": "ES256", "kid": vi.kid, "typ": typ}) + "." + enc(map[string]any{
		"iss": vi.url, "sub": "user-1", "aud": "api", "exp": exp.Unix(), "iat": now.Unix(), "nbf": now.Unix(),
		"jti": "j1", "client_id": "cli", "scope": "read",
	})
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, vi.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyCommand(t *testing.T) {
	vi := newVerifyIssuer(t)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	valid := vi.mint(t, "at+jwt", time.Now().Add(5*time.Minute))
	expired := vi.mint(t, "at+jwt", time.Now().Add(-time.Hour))
	idToken := vi.mint(t, "JWT", time.Now().Add(5*time.Minute))
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout []string // substrings
		stderr string   // substring
	}{
		{"valid argument", "", []string{"--issuer", vi.url, "--audience", "api", valid}, 0,
			[]string{"header (unverified):", `"typ": "at+jwt"`, `"sub": "user-1"`, "valid: issuer " + vi.url + ", key kid-1"}, ""},
		{"valid on stdin", valid + "\n", []string{"--issuer", vi.url, "--audience", "api"}, 0, []string{"valid:"}, ""},
		{"valid on stdin with -", valid, []string{"--issuer", vi.url, "--skip-audience", "-"}, 0, []string{"valid:"}, ""},
		{"wrong audience", "", []string{"--issuer", vi.url, "--audience", "billing", valid}, 2,
			[]string{"invalid: wrong token audience"}, "sigil: invalid token: wrong token audience"},
		{"expired", "", []string{"--issuer", vi.url, "--audience", "api", expired}, 2,
			[]string{`"exp":`, "invalid: token expired at"}, "sigil: invalid token: token expired"},
		{"id token", "", []string{"--issuer", vi.url, "--audience", "api", idToken}, 2,
			[]string{"invalid: wrong token type"}, "wrong token type"},
		{"garbage", "", []string{"--issuer", vi.url, "--audience", "api", "not-a-token"}, 2,
			[]string{"not decoded", "invalid: malformed token"}, "malformed token"},
		{"no audience choice", "", []string{"--issuer", vi.url, valid}, 2, nil, "--audience"},
		{"both audience flags", "", []string{"--issuer", vi.url, "--audience", "api", "--skip-audience", valid}, 2, nil, "mutually exclusive"},
		{"empty stdin", "", []string{"--issuer", vi.url, "--audience", "api"}, 2, nil, "no token"},
		{"two tokens", "", []string{"--issuer", vi.url, "--audience", "api", valid, valid}, 2, nil, "at most one token"},
		{"issuer unreachable", "", []string{"--issuer", down.URL, "--audience", "api", valid}, 1, nil, "discovery"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(t, tc.stdin, append([]string{"verify"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, want := range tc.stdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout %q lacks %q", r.stdout, want)
				}
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tc.stderr)
			}
			sig := valid[strings.LastIndexByte(valid, '.')+1:]
			if strings.Contains(r.stdout+r.stderr, sig) {
				t.Error("output contains the token's signature")
			}
		})
	}
}
