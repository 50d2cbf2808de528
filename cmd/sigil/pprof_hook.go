//go:build sigilpprof

// This file is compiled only with -tags sigilpprof and never ships: the
// release build, make build and the Dockerfile use no tags, and a hardening
// test checks that the product serves no /debug/pprof. It lets a developer
// profile the server under load:
//
//	go build -tags sigilpprof -o bin/sigil ./cmd/sigil
//	SIGIL_PPROF_LISTEN=127.0.0.1:6061 bin/sigil-load bench -sigil bin/sigil -modes 'client_credentials ES256' ...
//	go tool pprof -seconds 5 http://127.0.0.1:6061/debug/pprof/profile
//
// tests/load passes SIGIL_PPROF_LISTEN through to the server it starts.

package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("SIGIL_PPROF_LISTEN")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return // loopback only
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go func() { _ = http.Serve(ln, mux) }()
}
