// Command sigil-load drives a sigil server on loopback: `bench` measures
// every request mode against floors measured in the same run (make
// bench-server), `soak` runs a mixed load while keys rotate (make soak), and
// `floor` serves the HTTP floor (the bench starts it itself).
//
//	sigil-load bench -sigil bin/sigil [-mongo URI] [-c 16] [-d 5s] [-warmup 1s] [-modes a,b]
//	sigil-load soak  -sigil bin/sigil [-mongo URI] [-d 5m] [-c 8] [-rate 300]
//
// It only ever targets 127.0.0.1, and stops by itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sigilauth/sigil/tests/load"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "floor":
		err = floor()
	case "bench":
		err = bench(ctx, os.Args[2:])
	case "soak":
		err = soak(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sigil-load:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: sigil-load bench|soak|floor [flags]")
	os.Exit(2)
}

func floor() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().String())
	return load.ServeFloor(l)
}

func mongoDefault() string {
	if v := os.Getenv("SIGIL_TEST_MONGODB_URI"); v != "" {
		return v
	}
	return os.Getenv("MONGODB_URI")
}

func bench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	bin := fs.String("sigil", "bin/sigil", "sigil binary")
	mongo := fs.String("mongo", mongoDefault(), "MongoDB URI (also run on MongoDB)")
	c := fs.Int("c", 16, "concurrent clients")
	d := fs.Duration("d", 5*time.Second, "measured duration per mode")
	w := fs.Duration("warmup", time.Second, "warm-up per mode")
	modes := fs.String("modes", "", "comma-separated mode names (default all)")
	_ = fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sigil-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	o := load.BenchOptions{Bin: abs, Self: self, Dir: dir, MongoURI: *mongo, Concurrency: *c, Warmup: *w, Duration: *d, Out: os.Stdout}
	if *modes != "" {
		o.Modes = strings.Split(*modes, ",")
	}
	return load.Bench(ctx, o)
}

func soak(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	bin := fs.String("sigil", "bin/sigil", "sigil binary")
	mongo := fs.String("mongo", "", "MongoDB URI (soak on MongoDB instead of bolt)")
	d := fs.Duration("d", 5*time.Minute, "measured duration")
	c := fs.Int("c", 8, "concurrent clients")
	rate := fs.Float64("rate", 100, "requests per second, at most")
	_ = fs.Parse(args)
	dir, err := os.MkdirTemp("", "sigil-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	o := load.SoakOptions{Bin: abs, Dir: dir, MongoURI: *mongo, Duration: *d, Concurrency: *c, Rate: *rate, Out: os.Stdout}
	if *mongo != "" {
		o.Backend = "mongo"
	}
	_, err = load.Soak(ctx, o)
	return err
}
