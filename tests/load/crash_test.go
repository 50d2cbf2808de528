package load

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage/bolt"
)

// TestCrashKeepsAnsweredRefreshes kills sigil (SIGKILL) on bolt while 16
// clients refresh as fast as they can, then checks on the file and through
// a restarted server that every refresh the server answered survived: for
// each client, the last refresh token it received is the family's current
// token, or its previous one (a refresh that committed but whose answer was
// lost in the crash), which the reuse grace then accepts. A family is one
// record swapped in one transaction, so no batch can leave it half-rotated.
func TestCrashKeepsAnsweredRefreshes(t *testing.T) {
	const clients = 16
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	settings := map[string]string{
		"keys.algorithms":            "[ES256, RS256]",
		"security.ip_limit.disabled": "true",
		"tokens.refresh_reuse_grace": "1h",
	}
	s, err := NewSigil(sigilBin, t.TempDir(), "bolt", "", settings)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Cleanup)
	d, err := Provision(s, clients)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := NewClient(clients)
	last := make([]string, clients)
	for i := range clients {
		tr, err := d.Login(ctx, c, d.User(i))
		if err != nil {
			t.Fatal(err)
		}
		last[i] = tr.RefreshToken
	}

	var answered sync.WaitGroup
	var mu sync.Mutex
	count := 0
	loadCtx, stopLoad := context.WithCancel(ctx)
	for i := range clients {
		answered.Add(1)
		go func() {
			defer answered.Done()
			for loadCtx.Err() == nil {
				tr, err := d.Refresh(loadCtx, c, last[i])
				if err != nil {
					return // the server died
				}
				last[i] = tr.RefreshToken // answered: must survive
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := count
		mu.Unlock()
		if n >= 2000 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Kill()
	answered.Wait()
	stopLoad()
	t.Logf("killed after %d answered refreshes", count)

	st, err := bolt.Open(s.BoltPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, rt := range last {
		famID := rt[len("sgl_rt_"):strings.IndexByte(rt, '.')]
		fam, err := st.GetFamily(ctx, famID, time.Now())
		if err != nil {
			t.Fatalf("client %d: family: %v", i, err)
		}
		h := tokenHash(rt)
		if fam.Revoked || (fam.CurrentHash != h && fam.PreviousHash != h) || fam.CurrentHash == "" {
			t.Fatalf("client %d: the last answered token is neither current nor previous (revoked=%v)", i, fam.Revoked)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i, rt := range last {
		if _, err := d.Refresh(ctx, c, rt); err != nil {
			t.Fatalf("client %d: refresh with the last answered token after the crash: %v", i, err)
		}
	}
}

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
