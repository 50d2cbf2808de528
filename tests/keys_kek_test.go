package tests

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// TestKEKRotationRollsAcrossReplicas rotates the key-encryption key under
// two `sigil serve` processes sharing one MongoDB database, the documented
// way: replica B restarts with the new KEK as current and the old one as
// previous while replica A still runs on the old KEK alone; B must start
// and sign. Then `keys rewrap` re-seals under the new KEK, A restarts the
// same way, and both keep signing. A process holding only the old KEK can
// no longer change the key set.
func TestKEKRotationRollsAcrossReplicas(t *testing.T) {
	e := newOAuthEnv(t, Mongo, nil)
	oldKEK := e.KEK
	a := e.Start()

	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	newKEK := base64.StdEncoding.EncodeToString(fresh)
	newFile := filepath.Join(e.Dir, "new-kek")
	if err := os.WriteFile(newFile, []byte(newKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.KEK = newKEK
	e.ExtraEnv = []string{"SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS=" + oldKEK}

	signs := func(step string, srv *Server) {
		t.Helper()
		e.srv = srv
		r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "scope": {"openid"}}, webID, webSecret)
		if r.status != 200 {
			t.Fatalf("%s: token %d %s", step, r.status, r.raw)
		}
		e.verifyJWT(t, r.str("access_token"))
	}
	b := e.StartOn("127.0.0.1:" + freePort(t))
	signs("new+previous KEK replica before rewrap", b)
	signs("old KEK replica before rewrap", a)

	e.MustCLI("", "keys", "rewrap", "--new-key-file", newFile)
	a.Kill()
	a = e.StartOn(e.Listen)
	signs("restarted replica after rewrap", a)
	signs("new+previous KEK replica after rewrap", b)

	// Every key is now sealed under the new KEK alone.
	e.KEK, e.ExtraEnv = newKEK, nil
	e.MustCLI("", "keys", "rotate", "--now", "--reason", "check new KEK alone")
	e.KEK = oldKEK
	if _, _, code := e.CLI("", "keys", "rotate", "--now", "--reason", "stale KEK"); code == 0 {
		t.Fatal("a process holding only the old KEK changed the key set after the rewrap")
	}
}
