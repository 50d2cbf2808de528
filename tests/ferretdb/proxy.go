package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Wire protocol constants (MongoDB Wire Protocol: standard message header).
const (
	headerLen      = 16
	maxMessageLen  = 48 << 20 // maxMessageSizeBytes announced by MongoDB and FerretDB
	opMsg          = 2013
	flagMoreToCome = 1 << 1
)

// proxy forwards MongoDB wire-protocol messages from clients to an upstream
// server, one request/reply round trip at a time across all connections.
type proxy struct {
	ln       net.Listener
	upstream string
	log      *slog.Logger

	mu sync.Mutex // held for one upstream round trip
	wg sync.WaitGroup
}

// listenProxy binds addr for a proxy to upstream.
func listenProxy(addr, upstream string, log *slog.Logger) (*proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return &proxy{ln: ln, upstream: upstream, log: log}, nil
}

// addr returns the address the proxy listens on.
func (p *proxy) addr() string { return p.ln.Addr().String() }

// serve accepts connections until ctx ends, then closes the listener and every
// connection and waits for their goroutines.
func (p *proxy) serve(ctx context.Context) {
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	go func() {
		<-ctx.Done()
		p.ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			break
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			p.log.Error("proxy: dial upstream", "error", err)
			c.Close()
			continue
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			up.Close()
			break
		}
		conns[c], conns[up] = struct{}{}, struct{}{}
		mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.relay(c, up); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.log.Debug("proxy: connection ended", "error", err)
			}
			c.Close()
			up.Close()
			mu.Lock()
			delete(conns, c)
			delete(conns, up)
			mu.Unlock()
		}()
	}
	p.wg.Wait()
}

// relay forwards requests from client to up and replies back until either
// side closes.
func (p *proxy) relay(client, up net.Conn) error {
	for {
		req, err := readMessage(client)
		if err != nil {
			return err
		}
		replies, err := p.roundTrip(up, req)
		for _, r := range replies {
			if _, werr := client.Write(r); werr != nil {
				return werr
			}
		}
		if err != nil {
			return err
		}
	}
}

// roundTrip sends req upstream and reads its replies while holding the
// global lock, so no other command runs meanwhile. A request flagged
// moreToCome has no reply; a reply flagged moreToCome is followed by more.
func (p *proxy) roundTrip(up net.Conn, req []byte) ([][]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := up.Write(req); err != nil {
		return nil, err
	}
	if moreToCome(req) {
		return nil, nil
	}
	var replies [][]byte
	for {
		r, err := readMessage(up)
		if err != nil {
			return replies, err
		}
		replies = append(replies, r)
		if !moreToCome(r) {
			return replies, nil
		}
	}
}

// readMessage reads one whole wire-protocol message.
func readMessage(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(hdr[:])))
	if n < headerLen || n > maxMessageLen {
		return nil, fmt.Errorf("bad message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[4:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// moreToCome reports whether msg is an OP_MSG with the moreToCome flag.
func moreToCome(msg []byte) bool {
	if len(msg) < headerLen+4 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return false
	}
	return binary.LittleEndian.Uint32(msg[16:20])&flagMoreToCome != 0
}
