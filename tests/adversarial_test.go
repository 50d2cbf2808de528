package tests

// The adversarial suite: black-box attacks on the real server, one named
// case per attack, each asserting the refusal the README's Security section
// promises. Storage-independent attacks run on bolt only (the code paths
// are the same); refresh abuse runs on every backend.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var b64url = base64.RawURLEncoding

// jwtParts splits a compact JWS.
func jwtParts(t *testing.T, tok string) (hdr map[string]any, payload []byte, sig string) {
	t.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	h, err := b64url.DecodeString(p[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	payload, err = b64url.DecodeString(p[1])
	if err != nil {
		t.Fatal(err)
	}
	return hdr, payload, p[2]
}

// compact assembles a JWS from a header, a payload and a signing function
// over the signing input (nil: empty signature).
func compact(t *testing.T, hdr map[string]any, payload []byte, sign func(input string) []byte) string {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	in := b64url.EncodeToString(h) + "." + b64url.EncodeToString(payload)
	if sign == nil {
		return in + "."
	}
	return in + "." + b64url.EncodeToString(sign(in))
}

func hs256(key []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

func es256(k *ecdsa.PrivateKey) func(string) []byte {
	return func(in string) []byte {
		sum := sha256.Sum256([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			panic(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	}
}

func withHeader(base map[string]any, kv ...any) map[string]any {
	h := map[string]any{}
	for k, v := range base {
		h[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(h, kv[i].(string))
			continue
		}
		h[kv[i].(string)] = kv[i+1]
	}
	return h
}

// noStackTrace fails if an answer looks like a Go panic or stack trace.
func noStackTrace(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, s := range []string{"goroutine ", "panic:", ".go:", "runtime/debug", "runtime error"} {
		if strings.Contains(string(body), s) {
			t.Errorf("%s: answer contains %q: %.300s", what, s, body)
		}
	}
}

// acceptance probes one token at userinfo, introspection (as its own
// client) and the simplejwt verify route, and reports which accepted it.
func (e *oauthEnv) acceptance(t *testing.T, tok string) (userinfo, introspect, simplejwt bool) {
	t.Helper()
	u := call(t, http.MethodPost, e.srv.URL+"/userinfo", "application/x-www-form-urlencoded", "",
		map[string]string{"Authorization": "Bearer " + tok})
	noStackTrace(t, "userinfo", u.raw)
	if u.status >= 500 {
		t.Errorf("userinfo answered %d: %s", u.status, u.raw)
	}
	in := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, webID, webSecret)
	noStackTrace(t, "introspect", in.raw)
	if in.status >= 500 {
		t.Errorf("introspect answered %d: %s", in.status, in.raw)
	}
	sj := e.postJSON(t, "/api/token/verify/", map[string]string{"token": tok})
	noStackTrace(t, "simplejwt verify", sj.raw)
	if sj.status >= 500 {
		t.Errorf("simplejwt verify answered %d: %s", sj.status, sj.raw)
	}
	// Introspection reports refresh tokens too (RFC 7662), as such: only an
	// active answer that is not token_type refresh_token counts as taking
	// the token for an access token.
	return u.status == 200, in.status == 200 && in.body["active"] == true && in.str("token_type") != "refresh_token", sj.status == 200
}

// TestAdversarialForgery: forged, confused and malformed tokens are refused
// at userinfo, introspection and simplejwt verify, while the genuine token
// is accepted by all three (so the probes can fail).
func TestAdversarialForgery(t *testing.T) {
	e := newOAuthEnv(t, Bolt, nil)
	e.start()
	tok := e.login(t, "alice", alicePW, "openid profile api")
	access, idTok, rt := tok.str("access_token"), tok.str("id_token"), tok.str("refresh_token")
	if ui, in, sj := e.acceptance(t, access); !ui || !in || !sj {
		t.Fatalf("genuine access token: userinfo %v introspect %v simplejwt %v", ui, in, sj)
	}
	hdr, payload, sig := jwtParts(t, access)
	kid, _ := hdr["kid"].(string)
	_, _, body := get(t, e.srv.URL+"/.well-known/jwks.json", nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || len(set.Key(kid)) != 1 {
		t.Fatalf("JWKS %s: %v", body, err)
	}
	pub := set.Key(kid)[0]
	pubJSON, _ := json.Marshal(pub)
	spki, err := x509.MarshalPKIXPublicKey(pub.Key)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	ecPub := pub.Key.(*ecdsa.PublicKey)
	point, _ := ecPub.Bytes()

	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ajwk := jose.JSONWebKey{Key: attacker.Public(), KeyID: "attacker", Algorithm: "ES256", Use: "sig"}
	ajwkJSON, _ := json.Marshal(ajwk)
	var ajwkMap map[string]any
	_ = json.Unmarshal(ajwkJSON, &ajwkMap)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sigil"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, attacker.Public(), attacker)
	if err != nil {
		t.Fatal(err)
	}
	// A JWKS the attacker serves, for jku/x5u.
	evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintf(w, `{"keys":[%s]}`, ajwkJSON)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = evil.Serve(ln) }()
	t.Cleanup(func() { _ = evil.Close() })
	evilURL := "http://" + ln.Addr().String() + "/jwks.json"

	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	tampered := func(kv ...any) []byte {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		b, _ := json.Marshal(c)
		return b
	}
	realSig := func(string) []byte { s, _ := b64url.DecodeString(sig); return s }
	p := strings.Split(access, ".")

	cases := []struct{ name, tok string }{
		{"alg none", compact(t, withHeader(hdr, "alg", "none"), payload, nil)},
		{"alg None", compact(t, withHeader(hdr, "alg", "None"), payload, nil)},
		{"alg NONE", compact(t, withHeader(hdr, "alg", "NONE"), payload, nil)},
		{"alg nOnE", compact(t, withHeader(hdr, "alg", "nOnE"), payload, nil)},
		{"alg none keeping the real signature", compact(t, withHeader(hdr, "alg", "none"), payload, realSig)},
		{"alg none without kid", compact(t, map[string]any{"alg": "none", "typ": "JWT"}, payload, nil)},
		{"HS256 keyed with the public JWK", compact(t, withHeader(hdr, "alg", "HS256"), payload, hs256(pubJSON))},
		{"HS256 keyed with the public PEM", compact(t, withHeader(hdr, "alg", "HS256"), payload, hs256(pubPEM))},
		{"HS256 keyed with the SPKI DER", compact(t, withHeader(hdr, "alg", "HS256"), payload, hs256(spki))},
		{"HS256 keyed with the raw point", compact(t, withHeader(hdr, "alg", "HS256"), payload, hs256(point))},
		{"HS512 keyed with the public PEM", compact(t, withHeader(hdr, "alg", "HS512"), payload, hs256(pubPEM))},
		{"RS256 header on the EC key", compact(t, withHeader(hdr, "alg", "RS256"), payload, realSig)},
		{"ES384 header on the EC key", compact(t, withHeader(hdr, "alg", "ES384"), payload, realSig)},
		{"PS256 header", compact(t, withHeader(hdr, "alg", "PS256"), payload, realSig)},
		{"EdDSA header", compact(t, withHeader(hdr, "alg", "EdDSA"), payload, realSig)},
		{"alg missing", compact(t, withHeader(hdr, "alg", nil), payload, realSig)},
		{"embedded jwk with our kid", compact(t, withHeader(hdr, "jwk", ajwkMap), payload, es256(attacker))},
		{"embedded jwk without kid", compact(t, withHeader(hdr, "jwk", ajwkMap, "kid", nil), payload, es256(attacker))},
		{"jku to the attacker's JWKS", compact(t, withHeader(hdr, "jku", evilURL, "kid", "attacker"), payload, es256(attacker))},
		{"x5u to the attacker", compact(t, withHeader(hdr, "x5u", evilURL, "kid", "attacker"), payload, es256(attacker))},
		{"x5c self-signed", compact(t, withHeader(hdr, "x5c", []string{base64.StdEncoding.EncodeToString(certDER)}, "kid", nil), payload, es256(attacker))},
		{"x5c with our kid", compact(t, withHeader(hdr, "x5c", []string{base64.StdEncoding.EncodeToString(certDER)}), payload, es256(attacker))},
		{"crit exp", compact(t, withHeader(hdr, "crit", []string{"exp"}, "exp", 1), payload, es256(attacker))},
		{"crit unknown on the real signature", compact(t, withHeader(hdr, "crit", []string{"sigil-x"}, "sigil-x", true), payload, realSig)},
		{"kid empty", compact(t, withHeader(hdr, "kid", ""), payload, es256(attacker))},
		{"kid missing", compact(t, withHeader(hdr, "kid", nil), payload, es256(attacker))},
		{"kid path traversal", compact(t, withHeader(hdr, "kid", "../../../../etc/passwd"), payload, es256(attacker))},
		{"kid SQL", compact(t, withHeader(hdr, "kid", "' OR '1'='1"), payload, es256(attacker))},
		{"kid NUL", compact(t, withHeader(hdr, "kid", kid+"\x00"), payload, es256(attacker))},
		{"kid number", compact(t, withHeader(hdr, "kid", 1), payload, es256(attacker))},
		{"kid object", compact(t, withHeader(hdr, "kid", map[string]any{"$ne": ""}), payload, es256(attacker))},
		{"kid 4 KiB", compact(t, withHeader(hdr, "kid", strings.Repeat("k", 4096)), payload, es256(attacker))},
		{"unknown kid", compact(t, withHeader(hdr, "kid", "no-such-kid"), payload, es256(attacker))},
		{"our kid, attacker's signature", compact(t, hdr, payload, es256(attacker))},
		{"claims changed, real signature", p[0] + "." + b64url.EncodeToString(tampered("sub", "bob", "username", "bob")) + "." + p[2]},
		{"claims changed: iss", p[0] + "." + b64url.EncodeToString(tampered("iss", "https://evil.example")) + "." + p[2]},
		{"claims changed: exp", p[0] + "." + b64url.EncodeToString(tampered("exp", 4102444800)) + "." + p[2]},
		{"signature stripped", p[0] + "." + p[1] + "."},
		{"signature truncated", p[0] + "." + p[1] + "." + p[2][:len(p[2])-4]},
		{"ID token as access token", idTok},
		{"refresh token as access token", rt},
		{"JWS JSON serialization", fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, p[0], p[1], p[2])},
		{"JWS JSON flattened in base64", b64url.EncodeToString([]byte(fmt.Sprintf(`{"protected":%q,"payload":%q,"signature":%q}`, p[0], p[1], p[2])))},
		{"four parts", access + ".x"},
		{"two parts", p[0] + "." + p[1]},
		{"JWE shape", p[0] + ".." + p[1] + "." + p[2] + ".tag"},
		{"padding in base64", p[0] + "=." + p[1] + "." + p[2]},
		{"64 KiB of dots", strings.Repeat(".", 64<<10)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if ui, in, sj := e.acceptance(t, c.tok); ui || in || sj {
				t.Fatalf("accepted: userinfo %v introspect %v simplejwt %v", ui, in, sj)
			}
		})
	}
	// A megabyte of dots: no endpoint reads it (header and body limits),
	// and the server keeps serving.
	t.Run("a megabyte of dots", func(t *testing.T) {
		dots := strings.Repeat(".", 1<<20)
		if r := callMaybe(t, http.MethodGet, e.srv.URL+"/userinfo", "", "", map[string]string{"Authorization": "Bearer " + dots}); r.status == 200 || r.status >= 500 && r.status != 0 {
			t.Errorf("userinfo: %d", r.status)
		}
		if r := e.post(t, "/oauth2/introspect", url.Values{"token": {dots}}, webID, webSecret); r.status != 413 {
			t.Errorf("introspect: %d %.200s", r.status, r.raw)
		}
		if r := e.postJSON(t, "/api/token/verify/", map[string]string{"token": dots}); r.status != 413 {
			t.Errorf("simplejwt verify: %d %.200s", r.status, r.raw)
		}
		if ui, in, sj := e.acceptance(t, access); !ui || !in || !sj {
			t.Fatalf("genuine token after the flood: userinfo %v introspect %v simplejwt %v", ui, in, sj)
		}
	})
}

// callMaybe is call that reports a connection the server closed (as it may
// for a request it will not read) as status 0.
func callMaybe(t *testing.T, method, u, contentType, body string, hdr map[string]string) response {
	t.Helper()
	r, err := send(method, u, contentType, body, hdr)
	if err != nil {
		return response{}
	}
	noStackTrace(t, u, r.raw)
	return r
}

// TestAdversarialExpiredToken: with a 1 s access token lifetime and no
// leeway, a token is refused everywhere once expired.
func TestAdversarialExpiredToken(t *testing.T) {
	e := newOAuthEnv(t, Bolt, map[string]string{"tokens.access_ttl": "1s", "keys.clock_leeway": "0s"})
	e.start()
	access := e.login(t, "alice", alicePW, "openid profile api").str("access_token")
	time.Sleep(2100 * time.Millisecond) // real expiry of a real token; the server has no clock override
	if ui, in, sj := e.acceptance(t, access); ui || in || sj {
		t.Fatalf("expired token accepted: userinfo %v introspect %v simplejwt %v", ui, in, sj)
	}
}

// TestAdversarialRefreshAbuse: a refresh token works once; its reuse ends
// the family; another client cannot use it; a revoked family stays
// revoked; garbage of every shape is invalid_grant or invalid_request,
// never a 500.
func TestAdversarialRefreshAbuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, map[string]string{"tokens.refresh_reuse_grace": "0s"})
		e.start()
		t.Run("reuse ends the family", func(t *testing.T) {
			rt1 := e.login(t, "alice", alicePW, "openid").str("refresh_token")
			r := e.refresh(t, rt1)
			if r.status != 200 {
				t.Fatalf("first refresh: %d %s", r.status, r.raw)
			}
			rt2 := r.str("refresh_token")
			wantOAuthError(t, e.refresh(t, rt1), 400, "invalid_grant")
			wantOAuthError(t, e.refresh(t, rt2), 400, "invalid_grant")
		})
		t.Run("another client's token", func(t *testing.T) {
			rt := e.login(t, "alice", alicePW, "openid").str("refresh_token")
			r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicID}}, "", "")
			wantOAuthError(t, r, 400, "invalid_grant")
			r = e.postJSON(t, "/api/token/refresh/", map[string]string{"refresh": rt})
			if r.status == 200 {
				t.Fatalf("simplejwt refresh took the web client's token: %s", r.raw)
			}
			// The owner's token still works: a foreign presentation is not a
			// reuse of it.
			if r := e.refresh(t, rt); r.status != 200 {
				t.Fatalf("owner's refresh after a foreign attempt: %d %s", r.status, r.raw)
			}
		})
		t.Run("revoked family", func(t *testing.T) {
			rt := e.login(t, "alice", alicePW, "openid").str("refresh_token")
			r := e.refresh(t, rt)
			if r.status != 200 {
				t.Fatal(r.status)
			}
			child := r.str("refresh_token")
			if r := e.post(t, "/oauth2/revoke", url.Values{"token": {rt}}, webID, webSecret); r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			wantOAuthError(t, e.refresh(t, child), 400, "invalid_grant")
		})
		access := e.login(t, "alice", alicePW, "openid").str("access_token")
		for _, g := range []struct{ name, tok string }{
			{"empty", ""}, {"one char", "x"}, {"access token", access}, {"dots", "a.b.c"},
			{"8 KiB", strings.Repeat("A", 8<<10)}, {"NUL", "rt\x00x"}, {"unicode", "ŕéfrèsh-tökên"},
			{"base64 padding", "AAAA===="}, {"JSON", `{"$ne":null}`}, {"percent", "%00%ff"},
		} {
			t.Run("garbage "+g.name, func(t *testing.T) {
				r := e.refresh(t, g.tok)
				noStackTrace(t, g.name, r.raw)
				if r.status != 400 || (r.str("error") != "invalid_grant" && r.str("error") != "invalid_request") {
					t.Fatalf("got %d %s", r.status, r.raw)
				}
			})
		}
	})
}

// djangoHash returns a Django pbkdf2_sha256 hash of pw with a few
// iterations (the import keeps the hash as it is; the login checks it).
func djangoHash(t *testing.T, pw, salt string) string {
	t.Helper()
	k, err := pbkdf2.Key(sha256.New, pw, []byte(salt), 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	return "pbkdf2_sha256$1000$" + salt + "$" + base64.StdEncoding.EncodeToString(k)
}

// TestAdversarialPasswordSpray: one password tried against 1,000 imported
// accounts from one address. The address bucket (burst 30, one more every
// 2 s) stops the spray after about 30 tries, so the one account whose
// password it is, placed late in the list, is never reached; another
// address still logs in. The lockout part: an account is refused its right
// password after its free failures.
func TestAdversarialPasswordSpray(t *testing.T) {
	e := newOAuthEnv(t, Bolt, nil)
	const n, sprayed, victim = 1000, "Summer2026!", 900
	var csv strings.Builder
	csv.WriteString("id,username,password\n")
	for i := range n {
		pw := fmt.Sprintf("unguessable-%d", i)
		if i == victim {
			pw = sprayed
		}
		fmt.Fprintf(&csv, "%d,spray%04d,%s\n", 100000+i, i, djangoHash(t, pw, fmt.Sprintf("salt%d", i)))
	}
	path := filepath.Join(e.Dir, "users.csv")
	if err := os.WriteFile(path, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustCLI("", "users", "import", "--format", "csv", path)
	e.start()

	start := time.Now()
	passed, limited := 0, 0
	for i := range n {
		r := e.post(t, "/oauth2/token", pwForm(fmt.Sprintf("spray%04d", i), sprayed), webID, webSecret)
		switch {
		case r.status == 200:
			t.Fatalf("the spray logged in as spray%04d after %d tries", i, i+1)
		case r.status == 429:
			limited++
		default:
			wantOAuthError(t, r, 400, "invalid_grant")
			passed++
		}
	}
	if allowed := 30 + int(time.Since(start)/(2*time.Second)) + 1; passed > allowed {
		t.Fatalf("%d of %d tries were checked in %s; the address bucket allows %d", passed, n, time.Since(start).Round(time.Millisecond), allowed)
	}
	if limited < n-passed {
		t.Fatalf("%d limited, %d passed of %d", limited, passed, n)
	}
	t.Run("lockout after free failures", func(t *testing.T) {
		for range 5 {
			call(t, "POST", e.srv.URL+"/oauth2/token", "application/x-www-form-urlencoded", pwForm("spray0001", "wrong").Encode(),
				map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)})
		}
		r := call(t, "POST", e.srv.URL+"/oauth2/token", "application/x-www-form-urlencoded", pwForm("spray0001", "unguessable-1").Encode(),
			map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)})
		if r.status == 200 {
			t.Fatalf("locked-out or rate-limited account logged in")
		}
	})
}

// TestAdversarialHTTP: hostile requests get bounded, clean answers and no
// stack traces; the key material served is public only; no debug
// endpoints exist.
func TestAdversarialHTTP(t *testing.T) {
	e := newOAuthEnv(t, Bolt, nil)
	e.start()
	t.Run("JSON at the token endpoint", func(t *testing.T) {
		r := call(t, http.MethodPost, e.srv.URL+"/oauth2/token", "application/json",
			`{"grant_type":"password","username":"alice","password":"`+alicePW+`"}`,
			map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)})
		wantOAuthError(t, r, 415, "invalid_request")
	})
	t.Run("huge form body", func(t *testing.T) {
		body := "grant_type=password&username=alice&password=" + strings.Repeat("a", 2<<20)
		r := callMaybe(t, http.MethodPost, e.srv.URL+"/oauth2/token", "application/x-www-form-urlencoded", body,
			map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)})
		if r.status != 413 && r.status != 0 {
			t.Fatalf("got %d %.200s", r.status, r.raw)
		}
	})
	t.Run("huge JSON body", func(t *testing.T) {
		r := callMaybe(t, http.MethodPost, e.srv.URL+"/api/token/", "application/json",
			`{"username":"alice","password":"`+strings.Repeat("a", 2<<20)+`"}`, nil)
		if r.status != 413 && r.status != 0 {
			t.Fatalf("got %d %.200s", r.status, r.raw)
		}
	})
	t.Run("deeply nested JSON", func(t *testing.T) {
		r := callMaybe(t, http.MethodPost, e.srv.URL+"/api/token/", "application/json",
			`{"username":`+strings.Repeat("[", 50000)+strings.Repeat("]", 50000)+`}`, nil)
		if r.status != 400 && r.status != 413 {
			t.Fatalf("got %d %.200s", r.status, r.raw)
		}
	})
	t.Run("header flood", func(t *testing.T) {
		hdr := map[string]string{}
		for i := range 200 {
			hdr[fmt.Sprintf("X-Flood-%d", i)] = strings.Repeat("v", 1024)
		}
		r := callMaybe(t, http.MethodGet, e.srv.URL+"/.well-known/jwks.json", "", "", hdr)
		if r.status != 431 && r.status != 0 {
			t.Fatalf("got %d", r.status)
		}
	})
	t.Run("many small headers", func(t *testing.T) {
		c, err := net.Dial("tcp", e.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var b strings.Builder
		b.WriteString("GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n")
		for i := range 20000 {
			fmt.Fprintf(&b, "A%d: b\r\n", i)
		}
		b.WriteString("\r\n")
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write([]byte(b.String()))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if line != "" && !strings.Contains(line, " 431 ") {
			t.Fatalf("status line %q", line)
		}
	})
	t.Run("slowloris", func(t *testing.T) {
		// One connection trickles a header a byte at a time; the server's
		// ReadHeaderTimeout (5 s) must cut it, and others are served
		// meanwhile.
		c, err := net.Dial("tcp", e.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		closed := make(chan time.Duration, 1)
		go func() {
			_, _ = c.Write([]byte("GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nX-Slow: "))
			buf := make([]byte, 512)
			for {
				if _, err := c.Write([]byte("a")); err != nil {
					closed <- time.Since(start)
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				if n, err := c.Read(buf); n > 0 || (err != nil && !os.IsTimeout(err)) {
					closed <- time.Since(start)
					return
				}
				if time.Since(start) > 20*time.Second {
					closed <- time.Since(start)
					return
				}
			}
		}()
		for range 5 {
			if status, _, _ := get(t, e.srv.URL+"/.well-known/jwks.json", nil); status != 200 {
				t.Fatalf("another client got %d during the slowloris", status)
			}
			time.Sleep(200 * time.Millisecond)
		}
		d := <-closed
		if d < 4*time.Second || d > 10*time.Second {
			t.Fatalf("the slow connection was cut after %s, want about the 5 s header timeout", d.Round(time.Millisecond))
		}
	})
	t.Run("no stack traces on bad methods and paths", func(t *testing.T) {
		for _, c := range []struct{ method, path, ct, body string }{
			{"DELETE", "/oauth2/token", "", ""}, {"GET", "/oauth2/token", "", ""}, {"PUT", "/userinfo", "text/plain", "x"},
			{"POST", "/oauth2/token", "multipart/form-data; boundary=x", "--x\r\n"}, {"POST", "/oauth2/token", "application/x-www-form-urlencoded; charset=utf-16", "a=b"},
			{"POST", "/api/token/", "application/json", `{"username":1}`}, {"POST", "/api/token/", "application/json", `{"username":"a","username":"b"}`},
			{"GET", "/%00", "", ""}, {"GET", "/oauth2/authorize?client_id=%ff%fe", "", ""}, {"POST", "/oauth2/introspect", "application/x-www-form-urlencoded", "%zz"},
		} {
			r := callMaybe(t, c.method, e.srv.URL+c.path, c.ct, c.body, nil)
			if r.status >= 500 {
				t.Errorf("%s %s: %d %.200s", c.method, c.path, r.status, r.raw)
			}
		}
	})
	t.Run("JWKS holds public keys only, kids unique", func(t *testing.T) {
		_, _, body := get(t, e.srv.URL+"/.well-known/jwks.json", nil)
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("JWKS %s: %v", body, err)
		}
		kids := map[string]bool{}
		for _, k := range set.Keys {
			for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
				if _, ok := k[priv]; ok {
					t.Errorf("JWKS key %v has private member %q", k["kid"], priv)
				}
			}
			kid, _ := k["kid"].(string)
			if kid == "" || kids[kid] {
				t.Errorf("kid %q empty or repeated", kid)
			}
			kids[kid] = true
		}
	})
	t.Run("no debug endpoints", func(t *testing.T) {
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=2", "/debug/vars", "/debug/requests", "/metrics/debug"} {
			if status, _, body := get(t, e.srv.URL+p, nil); status != 404 {
				t.Errorf("%s: %d %.100s", p, status, body)
			}
		}
	})
}

// TestAdversarialForeignIssuer: a replica configured with another issuer on
// the same MongoDB signs with the same keys, so its tokens carry a valid
// signature and the wrong iss; the real server refuses them everywhere.
func TestAdversarialForeignIssuer(t *testing.T) {
	// MongoDB only: a second server on the same key set.
	e := newOAuthEnv(t, Mongo, nil)
	e.start()
	addr := "127.0.0.1:" + freePort(t)
	e.ExtraEnv = append(e.ExtraEnv, "SIGIL_ISSUER=http://"+addr)
	other := e.StartOn(addr)
	e.ExtraEnv = nil
	r := call(t, "POST", other.URL+"/oauth2/token", "application/x-www-form-urlencoded", pwForm("alice", alicePW).Encode(),
		map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)})
	if r.status != 200 {
		t.Fatalf("login at the other issuer: %d %s", r.status, r.raw)
	}
	access := r.str("access_token")
	hdr, payload, _ := jwtParts(t, access)
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	if c["iss"] != "http://"+addr {
		t.Fatalf("other issuer's token has iss %v", c["iss"])
	}
	if _, claims := e.verifyJWT(t, access); claims["iss"] == e.Issuer {
		t.Fatal("same issuer")
	} else if hdr["kid"] == nil {
		t.Fatal("no kid")
	}
	if ui, in, sj := e.acceptance(t, access); ui || in || sj {
		t.Fatalf("token of another issuer accepted: userinfo %v introspect %v simplejwt %v", ui, in, sj)
	}
}
