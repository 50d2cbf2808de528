package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, the certificate files are
// stat'ed for a change.
const certCheckInterval = time.Minute

// certReloader serves the TLS certificate of tls.cert_file and
// tls.key_file. Its GetCertificate re-reads the pair when either file's
// modification time or size changed, checking at most once per
// certCheckInterval; reload re-reads it at once (SIGHUP). A pair that fails
// to load is logged and the previous certificate stays, so a half-written
// renewal never takes the server down. Established connections are never
// touched: only new handshakes see a new certificate.
type certReloader struct {
	certFile, keyFile string
	now               func() time.Time
	logger            *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]fileStamp // of certFile, keyFile when cert was loaded
	lastCheck time.Time
}

// fileStamp identifies a version of a file cheaply.
type fileStamp struct {
	mod  time.Time
	size int64
}

func statStamp(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: st.ModTime(), size: st.Size()}, nil
}

// newCertReloader loads the pair once; an unreadable or invalid pair is an
// error naming the files (never their content).
func newCertReloader(certFile, keyFile string, now func() time.Time, logger *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, now: now, logger: logger}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload re-reads the pair now.
func (r *certReloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadLocked()
}

func (r *certReloader) loadLocked() error {
	r.lastCheck = r.now()
	cs, err1 := statStamp(r.certFile)
	ks, err2 := statStamp(r.keyFile)
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s with key %s: %w", r.certFile, r.keyFile, err)
	}
	if err1 != nil || err2 != nil {
		return fmt.Errorf("stat TLS files: %v %v", err1, err2)
	}
	r.cert, r.stamp = &cert, [2]fileStamp{cs, ks}
	r.logger.Info("TLS certificate loaded", "cert_file", r.certFile, "not_after", cert.Leaf.NotAfter, "subject", cert.Leaf.Subject.String())
	return nil
}

// GetCertificate is the tls.Config hook: the current certificate, first
// re-read if a check is due and a file changed.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= certCheckInterval {
		r.lastCheck = now
		cs, err1 := statStamp(r.certFile)
		ks, err2 := statStamp(r.keyFile)
		if err1 == nil && err2 == nil && [2]fileStamp{cs, ks} != r.stamp {
			if err := r.loadLocked(); err != nil {
				r.logger.Error("TLS certificate changed but does not load; the previous one stays", "err", err)
			}
		}
	}
	return r.cert, nil
}
