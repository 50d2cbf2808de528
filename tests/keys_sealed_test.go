package tests

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sigilauth/sigil/keys"
)

// privateForms returns the encodings in which a private key could leak:
// PKCS #8 DER, the secret scalar or primes, and their base64 and hex.
func privateForms(t *testing.T, priv crypto.Signer) [][]byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	raw := [][]byte{der}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, d)
	case *rsa.PrivateKey:
		raw = append(raw, k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes())
	}
	var out [][]byte
	for _, r := range raw {
		out = append(out, r,
			[]byte(base64.StdEncoding.EncodeToString(r)),
			[]byte(base64.RawURLEncoding.EncodeToString(r)),
			[]byte(hex.EncodeToString(r)))
	}
	return out
}

// TestNoPrivateKeyInTheClear lets the real server bootstrap ES256 and RS256
// keys, then reads the raw store (the bolt file's bytes, the MongoDB key-set
// document's BSON) and searches it for every active and next private key,
// unsealed with the KEK, in every plausible encoding.
func TestNoPrivateKeyInTheClear(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		ctx := context.Background()
		e := NewEnv(t, b, map[string]string{"keys.algorithms": "[ES256, RS256]"})
		srv := e.Start()
		srv.Stop(t)

		var raw []byte
		switch b {
		case Bolt:
			path := e.values["storage.bolt_path"]
			var err error
			if raw, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
		case Mongo:
			uri, db := e.values["storage.mongo_uri"], e.values["storage.mongo_database"]
			c, err := mongo.Connect(options.Client().ApplyURI(uri))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Disconnect(ctx) }()
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			doc, err := c.Database(db).Collection("keyset").FindOne(cctx, bson.D{}).Raw()
			if err != nil {
				t.Fatal(err)
			}
			raw = doc
		}
		store, err := e.OpenStore(ctx)
		if err != nil {
			t.Fatal(err)
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
		checked := 0
		for _, k := range set.Keys {
			if len(k.SealedPrivate) == 0 {
				continue
			}
			priv, err := sealer.UnsealKey(k)
			if err != nil {
				t.Fatalf("unseal %s: %v", k.KID, err)
			}
			for _, form := range privateForms(t, priv) {
				if bytes.Contains(raw, form) {
					t.Fatalf("%s key %s: private material found in the clear in the raw store", k.Alg, k.KID)
				}
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
