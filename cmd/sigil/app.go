package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/storage"
)

// app is what every command shares: standard streams, the environment, the
// clock and how to open storage. Tests replace fields; commands never touch
// os.Stdin, os.Stdout or os.Getenv directly.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string // "NAME=value" entries, as os.Environ
	now            func() time.Time
	openStore      func(ctx context.Context, cfg configs.Config) (storage.Store, error)

	// configPath is the --config flag.
	configPath string
	// server is the --server flag of keys, users and clients: the issuer
	// URL of a running server whose admin API the verbs call.
	server string
}

// config loads the configuration named by --config (or $SIGIL_CONFIG; none:
// defaults), applies SIGIL_* environment overrides and validates it. Any
// problem is bad input (exit status 2); a validation error lists every
// problem with its key.
func (a *app) config() (configs.Config, error) {
	path := a.configPath
	if path == "" {
		path = a.getenv(configEnv)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		return configs.Config{}, usageError(err)
	}
	if err := cfg.Validate(); err != nil {
		return configs.Config{}, usageError(err)
	}
	return cfg, nil
}

// withStore loads the configuration, opens storage, runs fn and closes
// storage. Failing to open or close storage is an operational failure; fn's
// error is returned as is (fn classifies it).
func (a *app) withStore(ctx context.Context, fn func(cfg configs.Config, s storage.Store) error) (err error) {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	return a.withConfiguredStore(ctx, cfg, fn)
}

// store opens the storage backend cfg selects. Failing to open it is an
// operational failure (exit status 1). The caller closes the store.
func (a *app) store(ctx context.Context, cfg configs.Config) (storage.Store, error) {
	s, err := a.openStore(ctx, cfg)
	if err != nil {
		return nil, failure(err)
	}
	return s, nil
}

// withConfiguredStore is withStore for an already loaded configuration.
func (a *app) withConfiguredStore(ctx context.Context, cfg configs.Config, fn func(cfg configs.Config, s storage.Store) error) (err error) {
	s, err := a.store(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = failure(fmt.Errorf("close storage: %w", cerr))
		}
	}()
	return fn(cfg, s)
}

// storeError classifies an error from storage: a missing or duplicate
// record is bad input (exit status 2), anything else an operational failure
// (exit status 1).
func storeError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDuplicate) {
		return usageError(err)
	}
	return failure(err)
}

// maxSecretLine bounds what readSecretLine accepts, so a wrong redirect
// cannot make it read a huge file into memory.
const maxSecretLine = 4096

// readSecretLine reads the first line of r without its line ending ("\n" or
// "\r\n"). what names the secret in error messages, which never contain the
// secret itself. An empty line is bad input.
func readSecretLine(r io.Reader, what string) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, maxSecretLine+2))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", failure(fmt.Errorf("read %s from stdin: %w", what, err))
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	switch {
	case line == "":
		return "", usagef("empty %s on stdin", what)
	case len(line) > maxSecretLine:
		return "", usagef("%s on stdin is longer than %d bytes", what, maxSecretLine)
	}
	return line, nil
}

// promptPassword reads a new password twice from the terminal without echo.
// It is used when --password-stdin is absent and stdin is a terminal.
func (a *app) promptPassword() (string, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("--password-stdin is required when stdin is not a terminal (passwords are never taken as arguments)")
	}
	read := func(prompt string) (string, error) {
		fmt.Fprint(a.stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", failure(fmt.Errorf("read password from terminal: %w", err))
		}
		return string(b), nil
	}
	p1, err := read("Password: ")
	if err != nil {
		return "", err
	}
	if p1 == "" {
		return "", usagef("empty password")
	}
	p2, err := read("Repeat password: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", usagef("passwords do not match")
	}
	return p1, nil
}
