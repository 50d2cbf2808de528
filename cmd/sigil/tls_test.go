package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
)

// writeSelfSigned writes a fresh self-signed certificate for 127.0.0.1
// named cn and its key to certFile and keyFile, stamped with mtime.
func writeSelfSigned(t *testing.T, certFile, keyFile, cn string, mtime time.Time) *x509.Certificate {
	t.Helper()
	cert, certPEM, keyPEM := keystest.SelfSignedCert(t, cn)
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return cert
}

// TestCertReloader drives the reloader with an injected clock: a changed
// pair is picked up only once a check is due, a broken pair keeps the
// previous certificate, and reload (SIGHUP) re-reads at once.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	a := writeSelfSigned(t, cf, kf, "A", t0.Add(-time.Hour))
	r, err := newCertReloader(cf, kf, clock, quiet)
	if err != nil {
		t.Fatal(err)
	}
	serving := func() string {
		t.Helper()
		c, err := r.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	b := writeSelfSigned(t, cf, kf, "B", t0)
	steps := []struct {
		name    string
		advance time.Duration
		act     func()
		want    string
	}{
		{name: "changed files wait for the check", advance: 30 * time.Second, want: "A"},
		{name: "check due: new pair", advance: 31 * time.Second, want: "B"},
		{name: "broken pair keeps the previous", advance: 2 * time.Minute, act: func() {
			if err := os.WriteFile(cf, []byte("not a certificate"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: "B"},
		{name: "forced reload of a good pair", act: func() {
			writeSelfSigned(t, cf, kf, "C", t0.Add(time.Hour))
			if err := r.reload(); err != nil {
				t.Fatal(err)
			}
		}, want: "C"},
		{name: "forced reload of a broken pair fails and keeps", act: func() {
			if err := os.WriteFile(kf, []byte("junk"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := r.reload(); err == nil {
				t.Error("reload of a broken key succeeded")
			}
		}, want: "C"},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.act != nil {
			st.act()
		}
		if got := serving(); got != st.want {
			t.Fatalf("%s: serving %s, want %s", st.name, got, st.want)
		}
	}
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Fatal("test certificates share a serial")
	}
	if _, err := newCertReloader(cf, kf, clock, quiet); err == nil {
		t.Error("newCertReloader accepted a broken key file")
	}
}
