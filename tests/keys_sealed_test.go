package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/storage"
)

// TestNoPrivateKeyInTheClear lets the real server bootstrap ES256 and RS256
// keys, then reads the raw store (the bolt file's bytes, the BSON of every
// document in every MongoDB collection) and searches it for every active
// and next private key, unsealed with the KEK, in every plausible encoding
// (keyLeakSearch; TestKeyLeakSearchFindsPlantedKeys shows it finds them).
func TestNoPrivateKeyInTheClear(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		ctx := context.Background()
		e := NewEnv(t, b, map[string]string{"keys.algorithms": "[ES256, RS256]"})
		srv := e.Start()
		srv.Stop(t)

		raw := rawStore(t, e)
		set, sealer := storedKeySet(ctx, t, e)
		checked := 0
		for _, k := range set.Keys {
			if len(k.SealedPrivate) == 0 {
				continue
			}
			priv, err := sealer.UnsealKey(k)
			if err != nil {
				t.Fatalf("unseal %s: %v", k.KID, err)
			}
			if where := newKeyLeakSearch(t, priv).found(raw); where != "" {
				t.Fatalf("%s key %s: private material (%s) found in the clear in the raw store", k.Alg, k.KID, where)
			}
			// Bolt records are JSON (bytes as base64), MongoDB's are BSON
			// binary: the sealed blob must be found in one form.
			if !bytes.Contains(raw, k.SealedPrivate) && !bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(k.SealedPrivate))) {
				t.Fatalf("key %s: sealed blob not found in the raw store; the search reads the wrong bytes", k.KID)
			}
			checked++
		}
		if checked != 4 {
			t.Fatalf("checked %d private keys, want 4 (active and next for ES256 and RS256)", checked)
		}
	})
}

// storedKeySet reads the key set from e's store (the server must be
// stopped: bolt allows one process) and returns it with a sealer for e's
// KEK, as an insider holding both could.
func storedKeySet(ctx context.Context, t *testing.T, e *Env) (storage.KeySet, *keys.Sealer) {
	t.Helper()
	store, err := e.OpenStore(ctx)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer store.Close()
	kek, err := keys.DecodeKEK(e.KEK)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	set, err := store.GetKeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return set, sealer
}
