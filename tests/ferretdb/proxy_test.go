package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// msg builds a wire-protocol message: the standard header, then for OP_MSG
// the flag bits, then body.
func msg(id int32, opCode, flags uint32, body string) []byte {
	var b bytes.Buffer
	n := headerLen + len(body)
	if opCode == opMsg {
		n += 4
	}
	for _, v := range []uint32{uint32(n), uint32(id), 0, opCode} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	if opCode == opMsg {
		_ = binary.Write(&b, binary.LittleEndian, flags)
	}
	b.WriteString(body)
	return b.Bytes()
}

// fakeUpstream is a wire server whose handler gets every request and
// returns the replies to write.
type fakeUpstream struct {
	ln      net.Listener
	handler func(req []byte) [][]byte
}

func startUpstream(t *testing.T, handler func(req []byte) [][]byte) *fakeUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{ln: ln, handler: handler}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for {
					req, err := readMessage(c)
					if err != nil {
						return
					}
					for _, r := range u.handler(req) {
						if _, err := c.Write(r); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return u
}

// startProxy serves a proxy to up until the test ends.
func startProxy(t *testing.T, up string) *proxy {
	t.Helper()
	p, err := listenProxy("127.0.0.1:0", up, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.serve(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("proxy did not stop")
		}
	})
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func reqID(m []byte) int32 { return int32(binary.LittleEndian.Uint32(m[4:8])) }

// echo answers each request with one reply carrying the request's body.
func echo(req []byte) [][]byte {
	return [][]byte{msg(reqID(req)+1000, opMsg, 0, string(req[headerLen+4:]))}
}

// TestProxyForwardsRepliesIntact: a request reaches the upstream byte for
// byte and its reply comes back byte for byte, over several round trips on
// one connection.
func TestProxyForwardsRepliesIntact(t *testing.T) {
	var got [][]byte
	var mu sync.Mutex
	up := startUpstream(t, func(req []byte) [][]byte {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		return echo(req)
	})
	c := dial(t, startProxy(t, up.ln.Addr().String()).addr())
	for i, body := range []string{"hello", strings.Repeat("x", 70000), ""} {
		req := msg(int32(i), opMsg, 0, body)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		reply, err := readMessage(c)
		if err != nil {
			t.Fatal(err)
		}
		if want := msg(int32(i)+1000, opMsg, 0, body); !bytes.Equal(reply, want) {
			t.Fatalf("round trip %d: reply of %d bytes differs from the upstream's %d", i, len(reply), len(want))
		}
		mu.Lock()
		if !bytes.Equal(got[i], req) {
			t.Fatalf("round trip %d: upstream got a different request", i)
		}
		mu.Unlock()
	}
}

// TestProxySerializesCommands: while one command is at the upstream, a
// command from another connection waits; it is sent only after the first
// one's reply.
func TestProxySerializesCommands(t *testing.T) {
	arrived := make(chan int32, 2)
	release := make(chan struct{}, 2)
	stop := make(chan struct{}) // frees a held upstream when the test fails
	var inflight, maxInflight int
	var mu sync.Mutex
	up := startUpstream(t, func(req []byte) [][]byte {
		mu.Lock()
		inflight++
		maxInflight = max(maxInflight, inflight)
		mu.Unlock()
		arrived <- reqID(req)
		select {
		case <-release:
		case <-stop:
		}
		mu.Lock()
		inflight--
		mu.Unlock()
		return echo(req)
	})
	p := startProxy(t, up.ln.Addr().String())
	t.Cleanup(func() { close(stop) }) // runs before the proxy's and upstream's cleanups
	a, b := dial(t, p.addr()), dial(t, p.addr())
	if _, err := a.Write(msg(1, opMsg, 0, "a")); err != nil {
		t.Fatal(err)
	}
	if id := <-arrived; id != 1 {
		t.Fatalf("upstream got request %d first, want 1", id)
	}
	if _, err := b.Write(msg(2, opMsg, 0, "b")); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-arrived:
		t.Fatalf("request %d reached the upstream while request 1 was still there", id)
	case <-time.After(200 * time.Millisecond):
	}
	release <- struct{}{}
	if r, err := readMessage(a); err != nil || reqID(r) != 1001 {
		t.Fatalf("reply to a: %v", err)
	}
	if id := <-arrived; id != 2 {
		t.Fatalf("upstream got request %d, want 2", id)
	}
	release <- struct{}{}
	if r, err := readMessage(b); err != nil || reqID(r) != 1002 {
		t.Fatalf("reply to b: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxInflight != 1 {
		t.Fatalf("%d commands at the upstream at once, want 1", maxInflight)
	}
}

// TestProxyMoreToCome: a request flagged moreToCome gets no reply (the
// proxy must not wait for one), and a reply flagged moreToCome is followed
// by the rest of the stream, all forwarded.
func TestProxyMoreToCome(t *testing.T) {
	up := startUpstream(t, func(req []byte) [][]byte {
		switch body := string(req[headerLen+4:]); body {
		case "fire and forget":
			return nil
		case "exhaust":
			return [][]byte{msg(1, opMsg, flagMoreToCome, "1"), msg(2, opMsg, flagMoreToCome, "2"), msg(3, opMsg, 0, "3")}
		default:
			return echo(req)
		}
	})
	c := dial(t, startProxy(t, up.ln.Addr().String()).addr())
	if _, err := c.Write(msg(1, opMsg, flagMoreToCome, "fire and forget")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(msg(2, opMsg, 0, "after")); err != nil {
		t.Fatal(err)
	}
	if r, err := readMessage(c); err != nil || string(r[headerLen+4:]) != "after" {
		t.Fatalf("reply after a moreToCome request: %q %v", r, err)
	}
	if _, err := c.Write(msg(3, opMsg, 0, "exhaust")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1", "2", "3"} {
		r, err := readMessage(c)
		if err != nil || string(r[headerLen+4:]) != want {
			t.Fatalf("exhaust reply %s: %q %v", want, r, err)
		}
	}
}

// TestReadMessageRefusesBadLengths: a length under the header size or
// over the maximum, or a message cut short, is an error.
func TestReadMessageRefusesBadLengths(t *testing.T) {
	le := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"whole message", msg(1, opMsg, 0, "x"), true},
		{"length under the header", append(le(15), make([]byte, 11)...), false},
		{"negative length", append(le(0xffffffff), make([]byte, 12)...), false},
		{"length over the maximum", append(le(maxMessageLen+1), make([]byte, 12)...), false},
		{"cut short", msg(1, opMsg, 0, "xyz")[:18], false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := readMessage(bytes.NewReader(tc.in))
			if tc.ok && (err != nil || !bytes.Equal(m, tc.in)) {
				t.Fatalf("readMessage = %d bytes, %v", len(m), err)
			}
			if !tc.ok && err == nil {
				t.Fatal("readMessage accepted it")
			}
		})
	}
}

// TestMoreToCome reads the flag only from OP_MSG.
func TestMoreToCome(t *testing.T) {
	tests := []struct {
		name string
		m    []byte
		want bool
	}{
		{"OP_MSG with the flag", msg(1, opMsg, flagMoreToCome, ""), true},
		{"OP_MSG with other flags", msg(1, opMsg, 1|1<<16, ""), false},
		{"OP_QUERY with the bit set", append(msg(1, 2004, 0, ""), le32(flagMoreToCome)...), false},
		{"too short", msg(1, opMsg, flagMoreToCome, "")[:18], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := moreToCome(tc.m); got != tc.want {
				t.Fatalf("moreToCome = %v, want %v", got, tc.want)
			}
		})
	}
}

func le32(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }

// TestProxyStopsWithItsContext: cancelling serve's context closes the
// listener and open connections, and serve returns.
func TestProxyStopsWithItsContext(t *testing.T) {
	up := startUpstream(t, echo)
	p, err := listenProxy("127.0.0.1:0", up.ln.Addr().String(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.serve(ctx); close(done) }()
	c := dial(t, p.addr())
	if _, err := c.Write(msg(1, opMsg, 0, "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := readMessage(c); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
	if _, err := readMessage(c); err == nil {
		t.Fatal("client connection still open after stop")
	}
	if c2, err := net.DialTimeout("tcp", p.addr(), time.Second); err == nil {
		c2.Close()
		t.Fatal("listener still accepts after stop")
	}
}
