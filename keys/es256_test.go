package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"
)

// TestDERToRS: the R || S that signES256 reads out of the DER are the
// integers encoding/asn1 reads, right-aligned in 32 bytes, and verify; short
// integers (leading zero bytes dropped by DER) are padded; malformed DER is
// refused.
func TestDERToRS(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("payload"))
	for i := range 300 {
		var out [64]byte
		if err := signES256(priv, digest[:], &out); err != nil {
			t.Fatal(err)
		}
		r, s := new(big.Int).SetBytes(out[:32]), new(big.Int).SetBytes(out[32:])
		if !ecdsa.Verify(&priv.PublicKey, digest[:], r, s) {
			t.Fatalf("signature %d does not verify", i)
		}
	}
	type sig struct{ R, S *big.Int }
	enc := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(sig{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	top := new(big.Int).Lsh(big.NewInt(0xff), 248) // 32 bytes, top bit set: DER adds a zero byte
	tests := []struct {
		name string
		der  []byte
		r, s *big.Int // nil: malformed
	}{
		{name: "short integers are right-aligned", der: enc(big.NewInt(1), big.NewInt(0x1234)), r: big.NewInt(1), s: big.NewInt(0x1234)},
		{name: "top bit set (sign byte)", der: enc(top, top), r: top, s: top},
		{name: "empty", der: nil},
		{name: "not a sequence", der: []byte{0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}},
		{name: "length mismatch", der: []byte{0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}},
		{name: "one integer", der: []byte{0x30, 0x03, 0x02, 0x01, 0x01}},
		{name: "trailing bytes", der: []byte{0x30, 0x08, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00}},
		{name: "negative", der: []byte{0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01}},
		{name: "empty integer", der: []byte{0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01}},
		{name: "33-byte value", der: enc(new(big.Int).Lsh(big.NewInt(1), 264), big.NewInt(1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out [64]byte
			for i := range out {
				out[i] = 0xaa // stale content must be overwritten
			}
			err := derToRS(tc.der, &out)
			if tc.r == nil {
				if err == nil {
					t.Fatalf("accepted %x", tc.der)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want [64]byte
			tc.r.FillBytes(want[:32])
			tc.s.FillBytes(want[32:])
			if out != want {
				t.Fatalf("got %x, want %x", out, want)
			}
		})
	}
}
