package tests

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// keyLeakSearch finds a private key in raw storage bytes in any plausible
// encoding: PKCS #8, PKCS #1 (RSA) and SEC1 (EC) DER and the bare secret
// scalar or primes; each raw, in hex, and in base64 (standard or URL
// alphabet, padded or not, starting at any of the three byte offsets of a
// longer base64 stream, so also inside a PEM block). Before the text
// searches the haystack is normalised: JSON escapes undone (\n, \/, \uXXXX
// ...), whitespace removed (PEM line breaks), the URL alphabet mapped to the
// standard one.
type keyLeakSearch struct {
	raw    [][]byte // searched in the haystack as is
	b64    [][]byte // searched in the normalised haystack
	hexLow [][]byte // searched in the normalised, lower-cased haystack
}

func newKeyLeakSearch(t testing.TB, priv crypto.Signer) *keyLeakSearch {
	t.Helper()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	forms := [][]byte{pkcs8}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		sec1, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		d, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		forms = append(forms, sec1, d)
	case *rsa.PrivateKey:
		forms = append(forms, x509.MarshalPKCS1PrivateKey(k), k.D.Bytes(), k.Primes[0].Bytes(), k.Primes[1].Bytes())
	default:
		t.Fatalf("unexpected key type %T", priv)
	}
	s := &keyLeakSearch{}
	for _, f := range forms {
		s.raw = append(s.raw, f)
		s.hexLow = append(s.hexLow, []byte(hex.EncodeToString(f)))
		s.b64 = append(s.b64, base64Needles(f)...)
	}
	return s
}

// base64Needles returns, for each offset o of 0, 1, 2 at which b may start
// inside a longer base64-encoded stream, the characters that encode b alone:
// the 4-character groups that hold only bytes of b (the first group, shared
// with the bytes before, and the last partial one, shared with the bytes
// after or padded, are left out).
func base64Needles(b []byte) [][]byte {
	var out [][]byte
	for o := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, o), b...))
		start := 0
		if o > 0 {
			start = 4
		}
		end := 4 * ((o + len(b)) / 3)
		out = append(out, []byte(enc[start:end]))
	}
	return out
}

// normalise undoes JSON string escapes, drops whitespace and maps the
// base64url alphabet to the standard one.
func normalise(in []byte) []byte {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '\\' && i+1 < len(in) {
			switch in[i+1] {
			case 'n', 'r', 't', 'f', 'b':
				i++
				continue // whitespace: dropped
			case '/', '\\', '"':
				i++
				c = in[i]
			case 'u':
				if i+5 < len(in) {
					if n, err := strconv.ParseUint(string(in[i+2:i+6]), 16, 8); err == nil {
						c = byte(n)
						i += 5
					}
				}
			}
		}
		switch c {
		case ' ', '\n', '\r', '\t', '\f', '\v':
			continue
		case '-':
			c = '+'
		case '_':
			c = '/'
		}
		out = append(out, c)
	}
	return out
}

// found names the first form of the key present in haystack, or "".
func (s *keyLeakSearch) found(haystack []byte) string {
	for i, n := range s.raw {
		if bytes.Contains(haystack, n) {
			return "raw form " + strconv.Itoa(i)
		}
	}
	norm := normalise(haystack)
	for i, n := range s.b64 {
		if bytes.Contains(norm, n) {
			return "base64 form " + strconv.Itoa(i/3) + " at offset " + strconv.Itoa(i%3)
		}
	}
	low := bytes.ToLower(norm)
	for i, n := range s.hexLow {
		if bytes.Contains(low, n) {
			return "hex form " + strconv.Itoa(i)
		}
	}
	return ""
}

// rawStore returns every byte the deployment's storage holds: the bolt file
// (every bucket, free pages too), or the BSON of every document of every
// collection of the MongoDB database. For bolt the server must be stopped.
func rawStore(t testing.TB, e *Env) []byte {
	t.Helper()
	switch e.Backend {
	case Bolt:
		raw, err := os.ReadFile(e.values["storage.bolt_path"])
		if err != nil {
			t.Fatal(err)
		}
		return raw
	case Mongo:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(e.values["storage.mongo_uri"]))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Disconnect(context.Background()) }()
		db := c.Database(e.values["storage.mongo_database"])
		names, err := db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if len(names) == 0 {
			t.Fatal("no collections in the database")
		}
		var raw []byte
		for _, name := range names {
			cur, err := db.Collection(name).Find(ctx, bson.D{})
			if err != nil {
				t.Fatalf("read collection %s: %v", name, err)
			}
			for cur.Next(ctx) {
				raw = append(raw, cur.Current...)
			}
			if err := cur.Err(); err != nil {
				t.Fatalf("read collection %s: %v", name, err)
			}
			_ = cur.Close(ctx)
		}
		return raw
	}
	t.Fatalf("unknown backend %s", e.Backend)
	return nil
}

// plant writes value into the deployment's raw storage, outside Sigil's
// records: a bolt bucket "planted", or a MongoDB collection "planted" (as a
// BSON string, or binary when asBinary).
func plant(t testing.TB, e *Env, key string, value []byte, asBinary bool) {
	t.Helper()
	switch e.Backend {
	case Bolt:
		db, err := bbolt.Open(e.values["storage.bolt_path"], 0o600, &bbolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("planted"))
			if err != nil {
				return err
			}
			return b.Put([]byte(key), value)
		}); err != nil {
			t.Fatal(err)
		}
	case Mongo:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongo.Connect(options.Client().ApplyURI(e.values["storage.mongo_uri"]))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Disconnect(context.Background()) }()
		var v any = string(value)
		if asBinary {
			v = bson.Binary{Data: value}
		}
		if _, err := c.Database(e.values["storage.mongo_database"]).Collection("planted").InsertOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "v", Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func jsonString(t testing.TB, s string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"note": s})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyLeakSearchFindsPlantedKeys proves the raw-store search of
// TestNoPrivateKeyInTheClear works: a key planted in the store in each
// encoding is found, and a key not planted is not (issue 12, point 12: the
// old search missed a PEM key inside JSON and SEC1 DER in a byte field).
func TestKeyLeakSearchFindsPlantedKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := NewEnv(t, b, map[string]string{"keys.algorithms": "[ES256]"})
		srv := e.Start() // real records around the planted ones
		srv.Stop(t)

		ecKey := func() *ecdsa.PrivateKey {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		rsaKey := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		must := func(b []byte, err error) []byte {
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		tests := []struct {
			name     string
			key      crypto.Signer
			encode   func(k crypto.Signer) []byte
			asBinary bool
		}{
			{name: "PKCS#8 PEM inside a JSON string", key: ecKey(), encode: func(k crypto.Signer) []byte {
				return jsonString(t, pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(k))))
			}},
			{name: "PKCS#1 PEM with CRLF and indentation inside JSON", key: rsaKey(), encode: func(k crypto.Signer) []byte {
				p := strings.ReplaceAll(pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))), "\n", "\r\n    ")
				return jsonString(t, p)
			}},
			{name: "SEC1 PEM with escaped slashes and plus signs", key: ecKey(), encode: func(k crypto.Signer) []byte {
				j := string(jsonString(t, pemOf("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))))))
				return []byte(strings.NewReplacer("/", `\/`, "+", `\u002b`).Replace(j))
			}},
			{name: "SEC1 DER in a byte field", key: ecKey(), asBinary: true, encode: func(k crypto.Signer) []byte {
				return append([]byte{0x01, 0x02, 0x03}, must(x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey)))...)
			}},
			{name: "SEC1 DER in a JSON byte field at offset 1", key: ecKey(), encode: func(k crypto.Signer) []byte {
				return must(json.Marshal(struct{ B []byte }{append([]byte{9}, must(x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey)))...)}))
			}},
			{name: "PKCS#1 DER raw", key: rsaKey(), asBinary: true, encode: func(k crypto.Signer) []byte {
				return x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))
			}},
			{name: "PKCS#8 DER in unpadded base64url at offset 2", key: ecKey(), encode: func(k crypto.Signer) []byte {
				return []byte(base64.RawURLEncoding.EncodeToString(append([]byte{1, 2}, must(x509.MarshalPKCS8PrivateKey(k))...)))
			}},
			{name: "EC scalar in upper-case hex", key: ecKey(), encode: func(k crypto.Signer) []byte {
				return []byte(strings.ToUpper(hex.EncodeToString(must(k.(*ecdsa.PrivateKey).Bytes()))))
			}},
			{name: "RSA prime in padded base64 at offset 0", key: rsaKey(), encode: func(k crypto.Signer) []byte {
				return []byte(`{"p":"` + base64.StdEncoding.EncodeToString(k.(*rsa.PrivateKey).Primes[1].Bytes()) + `"}`)
			}},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newKeyLeakSearch(t, tc.key)
				if where := s.found(rawStore(t, e)); where != "" {
					t.Fatalf("found (%s) before it was planted: the search matches anything", where)
				}
				plant(t, e, "k"+strconv.Itoa(i), tc.encode(tc.key), tc.asBinary)
				if s.found(rawStore(t, e)) == "" {
					t.Fatal("planted key not found in the raw store")
				}
			})
		}
	})
}
