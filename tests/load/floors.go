package load

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sigilauth/sigil/oauth/password"
	"golang.org/x/crypto/argon2"
)

// Floor names: what a mode's server CPU per request is compared with.
const (
	FloorGET       = "GET floor"
	FloorPOST      = "POST floor"
	FloorPOSTP256  = "POST floor + P-256 sign"
	FloorPOSTRSA   = "POST floor + RSA-2048 sign"
	FloorPOSTP256v = "POST floor + P-256 verify"
	// FloorArgon2 compares throughput (not CPU) with the argon2id ceiling.
	FloorArgon2 = "argon2id ceiling"
)

// ServeFloor serves the HTTP floor on l until it fails: the least a Go
// net/http server does per request. GET /get answers a small JSON body;
// POST /post parses a form and answers a small JSON body.
func ServeFloor(l net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	mux.HandleFunc("POST /post", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"ok":true,"grant_type":"` + fmt.Sprint(len(r.PostForm.Get("grant_type"))) + `"}`))
	})
	return (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(l)
}

// FloorOps are the requests measured against a floor server at base.
func FloorOps(base string) (get, post Op) {
	get = func(ctx context.Context, w *Worker) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/get", nil)
		return do(w.Client, req, http.StatusOK, nil)
	}
	post = func(ctx context.Context, w *Worker) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/post",
			strings.NewReader("grant_type=client_credentials&scope=api"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc", "secret-0123456789abcdef0123456789abcdef")
		return do(w.Client, req, http.StatusOK, nil)
	}
	return get, post
}

// Crypto is the CPU time of one raw signature operation, measured here.
type Crypto struct {
	P256Sign, P256Verify, RSASign time.Duration
}

// MeasureCrypto times P-256 signing and verification and RSA-2048 PKCS#1
// v1.5 signing (what RS256 does) by the process's own CPU time over d each.
func MeasureCrypto(d time.Duration) (Crypto, error) {
	return measureCrypto(d, true)
}

// MeasureP256Sign times P-256 signing alone, as MeasureCrypto does.
func MeasureP256Sign(d time.Duration) (time.Duration, error) {
	c, err := measureCrypto(d, false)
	return c.P256Sign, err
}

// measureCrypto is MeasureCrypto, or only its P-256 signing without all.
func measureCrypto(d time.Duration, all bool) (Crypto, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Crypto{}, err
	}
	digest := sha256.Sum256([]byte("header.payload of a typical access token"))
	var c Crypto
	c.P256Sign = perOp(d, func() { _, _ = ecdsa.SignASN1(rand.Reader, ec, digest[:]) })
	if !all {
		return c, nil
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Crypto{}, err
	}
	sig, _ := ecdsa.SignASN1(rand.Reader, ec, digest[:])
	c.P256Verify = perOp(d, func() { ecdsa.VerifyASN1(&ec.PublicKey, digest[:], sig) })
	c.RSASign = perOp(d, func() { _, _ = rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, digest[:]) })
	return c, nil
}

// perOp runs f on one goroutine for about d and returns this process's CPU
// time per call.
func perOp(d time.Duration, f func()) time.Duration {
	runtime.GC()
	c0 := selfCPU()
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		for range 10 {
			f()
		}
		n += 10
	}
	return (selfCPU() - c0) / time.Duration(n)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Argon2Ceiling measures how many argon2id hashes per second slots
// goroutines complete in d with the default parameters: the most password
// logins per second this machine can do.
func Argon2Ceiling(d time.Duration, slots int) float64 {
	return MeasureArgon2(d, slots).PerSec
}

// Argon2 is one measurement of the argon2id ceiling.
type Argon2 struct {
	// PerSec is hashes per second (wall clock).
	PerSec float64
	// CPUPerHash is this process's CPU time per hash: what one login's
	// hash costs, however busy the rest of the machine is.
	CPUPerHash time.Duration
	// Cores is the CPU time the hashing got per second of wall clock (at
	// most slots): below slots, other processes took the rest.
	Cores float64
}

// MeasureArgon2 is Argon2Ceiling with the CPU the hashes took. It hashes
// with password.Hash, the server's own argon2id (memory reused between
// hashes).
func MeasureArgon2(d time.Duration, slots int) Argon2 {
	return measureHashes(d, slots, func() {
		_, _ = password.Hash("load-test correct horse battery", password.DefaultParams)
	})
}

// MeasureArgon2XCrypto is MeasureArgon2 with golang.org/x/crypto's
// argon2.IDKey, which allocates its memory on every call: the ceiling of a
// server hashing the way Sigil did before deriveIDKey, for reference.
func MeasureArgon2XCrypto(d time.Duration, slots int) Argon2 {
	p := password.DefaultParams
	salt := []byte("load-test salt 16")
	return measureHashes(d, slots, func() {
		_ = argon2.IDKey([]byte("load-test correct horse battery"), salt, p.Time, p.Memory, p.Threads, 32)
	})
}

// measureHashes runs hash on slots goroutines for d.
func measureHashes(d time.Duration, slots int, hash func()) Argon2 {
	var n atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	c0 := selfCPU()
	start := time.Now()
	for range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				hash()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	cpu := selfCPU() - c0
	a := Argon2{PerSec: float64(n.Load()) / wall.Seconds(), Cores: cpu.Seconds() / wall.Seconds()}
	if n.Load() > 0 {
		a.CPUPerHash = cpu / time.Duration(n.Load())
	}
	return a
}
