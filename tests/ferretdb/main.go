// Command ferretdb runs an embedded FerretDB v1 server (SQLite storage) so that
// Sigil's MongoDB-backed tests have a MongoDB wire-protocol server on machines
// where no mongod is installed.
//
// It stores its data in a fresh temporary directory, listens on a free port
// of 127.0.0.1 only, and, once the port accepts connections, prints exactly
// one line to standard output:
//
//	mongodb://127.0.0.1:PORT/
//
// It then serves until it receives SIGINT or SIGTERM (or its standard input is
// closed, with -stdin-eof), shuts down and removes the temporary directory.
// FerretDB's own log goes to standard error at the level given by -log-level.
//
// # Atomic commands
//
// MongoDB applies each single-document write atomically: an update or
// findAndModify evaluates its filter and writes the document as one step.
// FerretDB v1 does not: it reads the matching documents, applies the update in
// Go and writes the result back in a separate SQL statement, so two
// concurrent conditional updates (a compare-and-swap on a version field, an
// update filtered on used:false, an $inc) can both match and both win. Sigil's
// MongoDB backend relies on MongoDB's guarantee, and its conformance suite
// checks it. So, by default (-serialize), clients talk to a small proxy in
// front of FerretDB that forwards one command at a time: every command runs
// alone, which is at least as strong as MongoDB's per-document atomicity.
// Each client connection keeps its own upstream connection (cursors stay
// per-connection); only the request/reply round trips are serialized.
//
// This is test tooling, kept in its own Go module so that FerretDB and its
// dependencies stay out of Sigil's module graph.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr     = flag.String("listen", "127.0.0.1:0", "TCP address to listen on (loopback only; port 0 picks a free port)")
		logLevel = flag.String("log-level", "error", "FerretDB log level: debug, info, warn or error")
		stdinEOF = flag.Bool("stdin-eof", false, "also shut down when standard input reaches end of file")
		serial   = flag.Bool("serialize", true, "serve through a proxy that runs one command at a time, making every command atomic as on MongoDB")
	)
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("parse -listen: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: only loopback IP addresses are allowed", *addr)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("parse -log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	dir, err := os.MkdirTemp("", "sigil-ferretdb-")
	if err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	defer os.RemoveAll(dir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *stdinEOF {
		ctx = stopOnEOF(ctx, os.Stdin)
	}

	ferretAddr := *addr
	if *serial {
		ferretAddr = net.JoinHostPort(host, "0") // the proxy takes *addr
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: ferretAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(dir) + "/",
	})
	if err != nil {
		return fmt.Errorf("start ferretdb: %w", err)
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// New has already bound the listener, so MongoDBURI does not block.
	uri := f.MongoDBURI()
	if err := waitAccepting(ctx, uri, 30*time.Second); err != nil {
		stop()
		<-done
		return err
	}
	if *serial {
		p, err := listenProxy(*addr, hostPort(uri), logger)
		if err != nil {
			stop()
			<-done
			return err
		}
		proxyDone := make(chan struct{})
		go func() {
			defer close(proxyDone)
			p.serve(ctx)
		}()
		defer func() { <-proxyDone }()
		uri = "mongodb://" + p.addr() + "/"
		if err := waitAccepting(ctx, uri, 30*time.Second); err != nil {
			stop()
			<-done
			return err
		}
	}
	if _, err := fmt.Println(uri); err != nil {
		stop()
		<-done
		return fmt.Errorf("print uri: %w", err)
	}

	<-ctx.Done()
	if err := <-done; err != nil {
		return fmt.Errorf("run ferretdb: %w", err)
	}
	return nil
}

// waitAccepting dials the host of uri until a connection succeeds, ctx ends or
// timeout passes.
func waitAccepting(ctx context.Context, uri string, timeout time.Duration) error {
	hostport := hostPort(uri)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", hostport)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to accept connections: %w", hostport, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// hostPort returns the host:port of a mongodb://host:port/ URI.
func hostPort(uri string) string {
	return strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
}

// stopOnEOF returns a context that is canceled when r reaches end of file (or
// fails), so that the server stops when the process that started it exits.
func stopOnEOF(parent context.Context, r io.Reader) context.Context {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		_, _ = io.Copy(io.Discard, r)
		cancel()
	}()
	return ctx
}
