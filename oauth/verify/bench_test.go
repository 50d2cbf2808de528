package verify

// Benchmarks for issue 5: the raw signature check, Sigil's Verify cold and
// warm, and the Go JWT libraries verifying the same tokens. Run them with
// scripts/bench-verify.sh (make bench-verify), which prints the table of
// ratios to raw; the ratios, not the absolute times, are the targets.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
)

// benchPoolSize is how many distinct tokens each benchmark cycles through.
const benchPoolSize = 256

// benchSet is one algorithm's fixture: a key and a pool of distinct tokens
// of Sigil's shape, with their signing inputs and signatures pre-decoded
// for the raw baseline.
type benchSet struct {
	alg    string
	key    *testKey
	tokens []string
	inputs [][]byte
	sigs   [][]byte
	r, s   []*big.Int
}

var (
	benchOnce  sync.Once
	benchSets  map[string]*benchSet
	benchClock = newFakeClock()
)

func benchFixture(b *testing.B, alg string) *benchSet {
	b.Helper()
	benchOnce.Do(func() {
		fixtureKeys()
		benchSets = map[string]*benchSet{}
		for _, k := range []*testKey{newTestKey(ES256, ecA), newTestKey(RS256, rsaA)} {
			set := &benchSet{alg: k.alg, key: k}
			for i := range benchPoolSize {
				tok := mint(k, testIss, benchClock.Now(), tokenSpec{claims: map[string]any{
					"jti": fmt.Sprintf("%012d", i),
				}})
				dot := strings.LastIndexByte(tok, '.')
				sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
				if err != nil {
					panic(err)
				}
				set.tokens = append(set.tokens, tok)
				set.inputs = append(set.inputs, []byte(tok[:dot]))
				set.sigs = append(set.sigs, sig)
				if k.alg == ES256 {
					set.r = append(set.r, new(big.Int).SetBytes(sig[:32]))
					set.s = append(set.s, new(big.Int).SetBytes(sig[32:]))
				}
			}
			benchSets[k.alg] = set
		}
	})
	return benchSets[alg]
}

// raw is the baseline: SHA-256 of the signing input and the signature check
// alone, with the key and signature already decoded.
func (s *benchSet) raw(i int) bool {
	sum := sha256.Sum256(s.inputs[i])
	if s.alg == RS256 {
		return rsa.VerifyPKCS1v15(&rsaA.PublicKey, crypto.SHA256, sum[:], s.sigs[i]) == nil
	}
	return ecdsa.Verify(&ecA.PublicKey, sum[:], s.r[i], s.s[i])
}

func (s *benchSet) verifier(b *testing.B, opts ...Option) *Verifier {
	key, err := NewKey(s.key.kid, s.alg, s.key.priv.Public())
	if err != nil {
		b.Fatal(err)
	}
	ks, _ := NewStaticKeySet(key)
	v, err := New(context.Background(), testIss,
		append([]Option{WithKeySet(ks), WithAudience("api"), WithClock(benchClock.Now)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// coldVerifier has a cache far smaller than the pool, so cycling through
// the pool misses every time: each Verify pays parsing, the signature and
// the cache insert (with an eviction).
func (s *benchSet) coldVerifier(b *testing.B) *Verifier {
	v := s.verifier(b, WithCacheSize(16))
	seen := map[*Claims]bool{}
	for round := range 2 {
		for _, tok := range s.tokens {
			c, err := v.Verify(context.Background(), tok)
			if err != nil {
				b.Fatal(err)
			}
			if round == 1 && seen[c] {
				b.Fatal("cold benchmark hit the cache")
			}
			seen[c] = true
		}
	}
	return v
}

// warmVerifier has every token of the pool cached.
func (s *benchSet) warmVerifier(b *testing.B) *Verifier {
	v := s.verifier(b)
	for _, tok := range s.tokens {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
	return v
}

type peer struct {
	name   string
	verify func(tok string) error
}

type gjwtClaims struct {
	gjwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// peers verify the same tokens with the same checks where the library has
// them: signature with the one key, alg allow-list, iss, aud, exp.
func (s *benchSet) peers(b *testing.B) []peer {
	ctx := context.Background()
	pub := s.key.priv.Public()

	oidcV := oidc.NewVerifier(testIss, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{pub}}, &oidc.Config{
		SkipClientIDCheck: true, SupportedSigningAlgs: []string{s.alg}, Now: benchClock.Now,
	})
	gp := gjwt.NewParser(gjwt.WithValidMethods([]string{s.alg}), gjwt.WithIssuer(testIss),
		gjwt.WithAudience("api"), gjwt.WithExpirationRequired(), gjwt.WithLeeway(DefaultLeeway),
		gjwt.WithTimeFunc(benchClock.Now))
	keyFunc := func(*gjwt.Token) (any, error) { return pub, nil }
	jwxAlg := jwa.ES256()
	joseAlg := jose.ES256
	if s.alg == RS256 {
		jwxAlg, joseAlg = jwa.RS256(), jose.RS256
	}
	jwxOpts := []jwxjwt.ParseOption{jwxjwt.WithKey(jwxAlg, pub), jwxjwt.WithIssuer(testIss),
		jwxjwt.WithAudience("api"), jwxjwt.WithClock(jwxjwt.ClockFunc(benchClock.Now)),
		jwxjwt.WithAcceptableSkew(DefaultLeeway)}

	ps := []peer{
		{"go-oidc", func(tok string) error { _, err := oidcV.Verify(ctx, tok); return err }},
		{"golang-jwt", func(tok string) error {
			_, err := gp.ParseWithClaims(tok, &gjwtClaims{}, keyFunc)
			return err
		}},
		{"go-jose", func(tok string) error {
			t, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{joseAlg})
			if err != nil {
				return err
			}
			var c josejwt.Claims
			if err := t.Claims(pub, &c); err != nil {
				return err
			}
			return c.ValidateWithLeeway(josejwt.Expected{Issuer: testIss, AnyAudience: []string{"api"},
				Time: benchClock.Now()}, DefaultLeeway)
		}},
		{"jwx", func(tok string) error { _, err := jwxjwt.ParseString(tok, jwxOpts...); return err }},
	}
	for _, p := range ps {
		if err := p.verify(s.tokens[0]); err != nil {
			b.Fatalf("%s refuses the benchmark token: %v", p.name, err)
		}
	}
	return ps
}

// BenchmarkVerify runs, for each algorithm in one process: raw, sigil-cold,
// sigil-warm and the peers, each cycling through the same token pool.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{ES256, RS256} {
		b.Run(alg, func(b *testing.B) {
			s := benchFixture(b, alg)
			ctx := context.Background()
			loop := func(b *testing.B, check func(i int) error) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := check(i); err != nil {
						b.Fatal(err)
					}
					i = (i + 1) % benchPoolSize
				}
			}
			subs := s.sigilSubs(ctx, loop)
			for _, p := range s.peers(b) {
				subs = append(subs, benchSub{p.name, func(b *testing.B) { loop(b, func(i int) error { return p.verify(s.tokens[i]) }) }})
			}
			runSubs(b, subs)
		})
	}
}

// benchSub is one named sub-benchmark.
type benchSub struct {
	name string
	run  func(b *testing.B)
}

// sigilSubs are the raw, sigil-cold and sigil-warm sub-benchmarks over s's
// token pool; drive runs a check of pool entry i in the benchmark's loop
// (serial or parallel).
func (s *benchSet) sigilSubs(ctx context.Context, drive func(b *testing.B, check func(i int) error)) []benchSub {
	return []benchSub{
		{"raw", func(b *testing.B) {
			drive(b, func(i int) error {
				if !s.raw(i) {
					return fmt.Errorf("raw check failed")
				}
				return nil
			})
		}},
		{"sigil-cold", func(b *testing.B) {
			v := s.coldVerifier(b)
			drive(b, func(i int) error { _, err := v.Verify(ctx, s.tokens[i]); return err })
		}},
		{"sigil-warm", func(b *testing.B) {
			v := s.warmVerifier(b)
			drive(b, func(i int) error { _, err := v.Verify(ctx, s.tokens[i]); return err })
		}},
	}
}

// runSubs runs subs in order, or in reverse order when benchReversed.
func runSubs(b *testing.B, subs []benchSub) {
	if benchReversed() {
		slices.Reverse(subs)
	}
	for _, sub := range subs {
		b.Run(sub.name, sub.run)
	}
}

// benchReversed reports whether VERIFY_BENCH_REVERSE asks to run the
// sub-benchmarks in reverse order. scripts/bench-verify.sh alternates the
// order between rounds, so that whatever runs second in a process (slower
// on a shared machine) is not always the same contender.
func benchReversed() bool { return os.Getenv("VERIFY_BENCH_REVERSE") != "" }

// BenchmarkVerifyPaired measures raw, sigil-cold and the peers interleaved
// in one loop: each iteration runs every contender once (on different
// tokens, in a rotating order) and times it, so a burst of load from other
// processes hits them all alike. It reports, per contender, ns/op as
// "<name>-ns/op" and the ratio of its total time to raw's as "<name>-x/raw";
// these ratios are the ones the targets of issue 5 are checked against.
func BenchmarkVerifyPaired(b *testing.B) {
	for _, alg := range []string{ES256, RS256} {
		b.Run(alg, func(b *testing.B) {
			s := benchFixture(b, alg)
			ctx := context.Background()
			cold := s.coldVerifier(b)
			contenders := []peer{
				{"raw", func(tok string) error { return nil }}, // replaced below
				{"sigil-cold", func(tok string) error { _, err := cold.Verify(ctx, tok); return err }},
			}
			contenders = append(contenders, s.peers(b)...)
			index := make(map[string]int, benchPoolSize)
			for i, tok := range s.tokens {
				index[tok] = i
			}
			contenders[0].verify = func(tok string) error {
				if !s.raw(index[tok]) {
					return fmt.Errorf("raw check failed")
				}
				return nil
			}
			total := make([]time.Duration, len(contenders))
			n := 0
			for b.Loop() {
				for j := range contenders {
					c := (n + j) % len(contenders)
					tok := s.tokens[(n+c*31)%benchPoolSize]
					t0 := time.Now()
					err := contenders[c].verify(tok)
					total[c] += time.Since(t0)
					if err != nil {
						b.Fatalf("%s: %v", contenders[c].name, err)
					}
				}
				n++
			}
			for c, p := range contenders {
				b.ReportMetric(float64(total[c])/float64(n), p.name+"-ns/op")
				b.ReportMetric(float64(total[c])/float64(total[0]), p.name+"-x/raw")
			}
		})
	}
}

// BenchmarkVerifyParallel is the parallel variant (run with -cpu 1,2): all
// goroutines share one verifier and one pool.
func BenchmarkVerifyParallel(b *testing.B) {
	for _, alg := range []string{ES256, RS256} {
		b.Run(alg, func(b *testing.B) {
			s := benchFixture(b, alg)
			ctx := context.Background()
			run := func(b *testing.B, check func(i int) error) {
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer() // exclude the verifier set-up
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(97)) % benchPoolSize // spread the goroutines over the pool
					for pb.Next() {
						if err := check(i); err != nil {
							b.Error(err)
							return
						}
						i = (i + 1) % benchPoolSize
					}
				})
			}
			runSubs(b, s.sigilSubs(ctx, run))
		})
	}
}

// TestBenchmarkTokenShape keeps the benchmark honest: tokens of Sigil's
// shape with a signing input of about 300 bytes.
func TestBenchmarkTokenShape(t *testing.T) {
	b := &testing.B{}
	for _, alg := range []string{ES256, RS256} {
		s := benchFixture(b, alg)
		in := len(s.inputs[0])
		t.Logf("%s: token %d bytes, signing input %d bytes", alg, len(s.tokens[0]), in)
		if in < 250 || in > 350 {
			t.Errorf("%s signing input is %d bytes, want about 300", alg, in)
		}
	}
}
