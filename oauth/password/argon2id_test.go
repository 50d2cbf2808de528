package password

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"
)

// idKeyCase is one argon2id derivation compared with x/crypto.
type idKeyCase struct {
	name     string
	password string
	salt     string
	time     uint32
	memory   uint32
	threads  uint8
	keyLen   uint32
}

var idKeyCases = []idKeyCase{
	{name: "default params", password: "correct horse", salt: "0123456789abcdef", time: 2, memory: 19456, threads: 1, keyLen: 32},
	{name: "minimum memory one lane", password: "p", salt: "saltsalt", time: 1, memory: 8, threads: 1, keyLen: 32},
	{name: "memory below 8 blocks per lane", password: "p", salt: "saltsalt", time: 1, memory: 3, threads: 2, keyLen: 32},
	{name: "memory not a multiple of 4 lanes", password: "pw", salt: "saltsaltsalt", time: 3, memory: 101, threads: 4, keyLen: 16},
	{name: "three lanes", password: "pw", salt: "saltsalt", time: 2, memory: 96, threads: 3, keyLen: 32},
	{name: "many passes", password: "pw", salt: "saltsalt", time: 7, memory: 64, threads: 1, keyLen: 32},
	{name: "empty password", password: "", salt: "saltsalt", time: 1, memory: 32, threads: 1, keyLen: 32},
	{name: "long password and salt", password: string(bytes.Repeat([]byte("x"), 300)), salt: string(bytes.Repeat([]byte("s"), 70)), time: 1, memory: 64, threads: 2, keyLen: 32},
	{name: "key of 4 bytes", password: "pw", salt: "saltsalt", time: 1, memory: 32, threads: 1, keyLen: 4},
	{name: "key of 64 bytes", password: "pw", salt: "saltsalt", time: 1, memory: 32, threads: 1, keyLen: 64},
	{name: "key of 65 bytes", password: "pw", salt: "saltsalt", time: 1, memory: 32, threads: 1, keyLen: 65},
	{name: "key of 100 bytes", password: "pw", salt: "saltsalt", time: 1, memory: 32, threads: 1, keyLen: 100},
	{name: "key of 1000 bytes", password: "pw", salt: "saltsalt", time: 1, memory: 32, threads: 1, keyLen: 1000},
	{name: "key of 1024 bytes", password: "pw", salt: "saltsalt", time: 1, memory: 32, threads: 2, keyLen: 1024},
}

// TestIDKeyMatchesXCrypto checks that deriveIDKey gives argon2.IDKey's
// bytes, twice over, so that the second derivation of each case runs on
// memory a previous one used (pooled memory must come back cleared).
func TestIDKeyMatchesXCrypto(t *testing.T) {
	for round := range 2 {
		for _, tc := range idKeyCases {
			t.Run(fmt.Sprintf("%s/round %d", tc.name, round), func(t *testing.T) {
				want := argon2.IDKey([]byte(tc.password), []byte(tc.salt), tc.time, tc.memory, tc.threads, tc.keyLen)
				got := deriveIDKey([]byte(tc.password), []byte(tc.salt), tc.time, tc.memory, tc.threads, tc.keyLen)
				if !bytes.Equal(got, want) {
					t.Fatalf("deriveIDKey = %x, x/crypto IDKey = %x", got, want)
				}
			})
		}
	}
}

// TestIDKeyConcurrent derives in parallel on shared pools (run it with
// -race): every result must still be x/crypto's.
func TestIDKeyConcurrent(t *testing.T) {
	cases := idKeyCases[1:6]
	want := make([][]byte, len(cases))
	for i, tc := range cases {
		want[i] = argon2.IDKey([]byte(tc.password), []byte(tc.salt), tc.time, tc.memory, tc.threads, tc.keyLen)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(cases))
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 4 * len(cases) {
				i := (g + j) % len(cases)
				tc := cases[i]
				got := deriveIDKey([]byte(tc.password), []byte(tc.salt), tc.time, tc.memory, tc.threads, tc.keyLen)
				if !bytes.Equal(got, want[i]) {
					errs <- tc.name
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for name := range errs {
		t.Errorf("%s: a concurrent derivation differs from x/crypto's", name)
	}
}

// TestIDKeyPanics checks the argument checks that guard processBlocks.
func TestIDKeyPanics(t *testing.T) {
	tests := []struct {
		name          string
		time, threads uint32
	}{
		{name: "zero time", time: 0, threads: 1},
		{name: "zero threads", time: 1, threads: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			deriveIDKey([]byte("pw"), []byte("saltsalt"), tc.time, 32, uint8(tc.threads), 32)
		})
	}
}

// TestPooledSizesBounded checks that only maxPooledSizes block counts get a
// pool, and that the others still derive correctly.
func TestPooledSizesBounded(t *testing.T) {
	for i := range maxPooledSizes + 3 {
		memory := uint32(8 * (200 + i)) // sizes no other test uses
		want := argon2.IDKey([]byte("pw"), []byte("saltsalt"), 1, memory, 1, 32)
		if got := deriveIDKey([]byte("pw"), []byte("saltsalt"), 1, memory, 1, 32); !bytes.Equal(got, want) {
			t.Fatalf("memory %d: derivation differs from x/crypto's", memory)
		}
	}
	memoryPools.Lock()
	n := len(memoryPools.bySize)
	memoryPools.Unlock()
	if n != maxPooledSizes {
		t.Fatalf("%d pooled sizes, want the bound %d", n, maxPooledSizes)
	}
}

// TestXCryptoAudited fails when go.mod requires (or replaces) another
// golang.org/x/crypto than the version whose unexported argon2.processBlocks
// deriveIDKey links to. After an upgrade, read processBlocks (its signature,
// the mode numbers and that it expects zeroed memory) in the new version,
// then move auditedXCrypto. (A test binary carries no module versions, so
// this reads the repository's go.mod.)
func TestXCryptoAudited(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var required []string
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		switch {
		case len(f) >= 2 && f[0] == "golang.org/x/crypto":
			required = append(required, f[1])
		case slices.Contains(f, "golang.org/x/crypto") && slices.Contains(f, "=>"):
			t.Fatalf("go.mod replaces golang.org/x/crypto (%s): deriveIDKey links to argon2.processBlocks as read in %s", strings.TrimSpace(line), auditedXCrypto)
		}
	}
	if len(required) != 1 {
		t.Fatalf("go.mod requires golang.org/x/crypto %d times (%v), want once", len(required), required)
	}
	if required[0] != auditedXCrypto {
		t.Fatalf("golang.org/x/crypto is %s; deriveIDKey links to argon2.processBlocks as read in %s: re-read it, then update auditedXCrypto", required[0], auditedXCrypto)
	}
}

// BenchmarkIDKey compares x/crypto's IDKey, which allocates its memory on
// every call, with deriveIDKey, which reuses it, at DefaultParams, one
// derivation per CPU in parallel as a busy server runs them. Report the
// ratio of the two ns/op from one run, not either alone.
func BenchmarkIDKey(b *testing.B) {
	p := DefaultParams
	for _, bc := range []struct {
		name   string
		derive func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
	}{
		{name: "x/crypto IDKey", derive: argon2.IDKey},
		{name: "deriveIDKey", derive: deriveIDKey},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bc.derive([]byte("correct horse"), []byte("0123456789abcdef"), p.Time, p.Memory, p.Threads, keyLen)
				}
			})
		})
	}
}
