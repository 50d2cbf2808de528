package password

import (
	"encoding/binary"
	"sync"
	_ "unsafe" // for go:linkname

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/blake2b"
)

// This file derives argon2id keys as golang.org/x/crypto/argon2.IDKey does,
// byte for byte, but over working memory that is reused between calls.
//
// IDKey allocates its memory (19 MiB with DefaultParams) on every call. On a
// server hashing one login after another that costs, per hash, the runtime
// zeroing a fresh span, page faults whenever the scavenger has returned the
// previous one to the OS, and garbage collections paced by 19 MiB of garbage:
// under login load about 17% of a login's CPU (see README, Performance).
// Here the memory comes from a pool and is cleared before it goes back.
//
// The initial hash H0, the variable-length hash H' and the first and last
// blocks are this file's own code, after RFC 9106 section 3. Filling the
// memory, the part that needs x/crypto's SSE4 assembly to be fast (pure Go
// is about 30% slower per block), is x/crypto's own unexported
// processBlocks, reached with go:linkname. The linker does not check that
// declaration against the function: TestIDKeyMatchesXCrypto compares the
// two derivations over a table of parameters, and TestXCryptoAudited fails
// when golang.org/x/crypto moves off the version whose processBlocks was
// read (auditedXCrypto), so that an upgrade re-reads it first.

// auditedXCrypto is the golang.org/x/crypto version whose unexported
// argon2.processBlocks has the signature and contract declared below: it
// fills memory blocks (already holding blocks 0 and 1 of each lane, the rest
// zero) for time passes over threads lanes, in argon2id mode when mode is 2.
const auditedXCrypto = "v0.58.0"

// blockWords is the length of an argon2 block in 64-bit words (1 KiB).
const blockWords = 128

// block is one argon2 memory block, laid out as x/crypto's argon2.block.
type block [blockWords]uint64

// modeArgon2id is x/crypto's mode number for argon2id (the type y of RFC
// 9106, also hashed into H0).
const modeArgon2id = 2

// syncPoints is the number of slices per pass (RFC 9106 SL).
const syncPoints = 4

//go:linkname processBlocks golang.org/x/crypto/argon2.processBlocks
func processBlocks(B []block, time, memory, threads uint32, mode int)

// memoryPools hold cleared working memory, one pool per block count. A
// pool's buffers go when the garbage collector has run twice without them
// being used, so an idle server gives its hash memory back within minutes.
var memoryPools struct {
	sync.Mutex
	bySize map[uint32]*sync.Pool // block count -> pool of *[]block
}

// maxPooledSizes bounds the distinct block counts pooled; a stored hash with
// yet another memory cost allocates and drops its memory as IDKey does.
const maxPooledSizes = 8

// memoryPool returns the pool for blocks, or nil when maxPooledSizes other
// sizes have one. (One lock per hash: nothing next to a 20 ms derivation.)
func memoryPool(blocks uint32) *sync.Pool {
	memoryPools.Lock()
	defer memoryPools.Unlock()
	if p, ok := memoryPools.bySize[blocks]; ok {
		return p
	}
	if len(memoryPools.bySize) >= maxPooledSizes {
		return nil
	}
	if memoryPools.bySize == nil {
		memoryPools.bySize = make(map[uint32]*sync.Pool)
	}
	p := &sync.Pool{}
	memoryPools.bySize[blocks] = p
	return p
}

// getMemory returns blocks zeroed blocks and the pool to return them to (nil:
// do not return them).
func getMemory(blocks uint32) (*[]block, *sync.Pool) {
	pool := memoryPool(blocks)
	if pool != nil {
		if m, ok := pool.Get().(*[]block); ok {
			return m, pool
		}
	}
	m := make([]block, blocks)
	return &m, pool
}

// deriveIDKey is argon2.IDKey(password, salt, time, memory, threads, keyLen)
// over pooled memory. Like IDKey it panics when time or threads is zero.
func deriveIDKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	if time < 1 {
		panic("password: argon2id time must be at least 1")
	}
	if threads < 1 {
		panic("password: argon2id threads must be at least 1")
	}
	lanes := uint32(threads)
	h0 := initialHash(password, salt, time, memory, lanes, keyLen)

	// RFC 9106 section 3.2: m' = 4p * floor(m / 4p), at least 8p blocks.
	blocks := memory / (syncPoints * lanes) * (syncPoints * lanes)
	blocks = max(blocks, 2*syncPoints*lanes)
	m, pool := getMemory(blocks)
	B := *m
	laneLen := blocks / lanes

	var buf [blockWords * 8]byte
	for lane := range lanes {
		binary.LittleEndian.PutUint32(h0[blake2b.Size+4:], lane)
		for i := range uint32(2) {
			binary.LittleEndian.PutUint32(h0[blake2b.Size:], i)
			hashPrime(buf[:], h0[:])
			readBlock(&B[lane*laneLen+i], &buf)
		}
	}
	processBlocks(B, time, blocks, lanes, modeArgon2id)

	// The final block is the XOR of each lane's last block.
	final := B[blocks-1]
	for lane := range lanes - 1 {
		for i, v := range B[lane*laneLen+laneLen-1] {
			final[i] ^= v
		}
	}
	for i, v := range final {
		binary.LittleEndian.PutUint64(buf[i*8:], v)
	}
	key := make([]byte, keyLen)
	hashPrime(key, buf[:])

	// Nothing derived from the password stays in the pool: x/crypto's
	// processBlocks XORs into memory it expects zeroed, and a buffer
	// waiting for the next login holds no secret.
	clear(B)
	clear(buf[:])
	clear(final[:])
	clear(h0[:])
	if pool != nil {
		pool.Put(m)
	}
	return key
}

// initialHash is H0 of RFC 9106 section 3.2, with no secret and no
// associated data, followed by 8 bytes of room for the block and lane
// numbers of the first blocks.
func initialHash(password, salt []byte, time, memory, lanes, keyLen uint32) [blake2b.Size + 8]byte {
	h, _ := blake2b.New512(nil) // cannot fail without a key
	var params [24]byte
	binary.LittleEndian.PutUint32(params[0:], lanes)
	binary.LittleEndian.PutUint32(params[4:], keyLen)
	binary.LittleEndian.PutUint32(params[8:], memory)
	binary.LittleEndian.PutUint32(params[12:], time)
	binary.LittleEndian.PutUint32(params[16:], argon2.Version)
	binary.LittleEndian.PutUint32(params[20:], modeArgon2id)
	h.Write(params[:])
	for _, field := range [][]byte{password, salt, nil, nil} { // P, S, K, X
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(field)))
		h.Write(n[:])
		h.Write(field)
	}
	var h0 [blake2b.Size + 8]byte
	h.Sum(h0[:0])
	return h0
}

// hashPrime fills out with H'^len(out)(in), the variable-length hash of RFC
// 9106 section 3.3.
func hashPrime(out, in []byte) {
	var outLen [4]byte
	binary.LittleEndian.PutUint32(outLen[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil) // 1..64 bytes, no key: cannot fail
		h.Write(outLen[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	// V1 = H^64(LE32(T) || A); each next V is H^64 of the previous, and
	// the output is the first 32 bytes of each V but the last, which is
	// H^(T - 32r) of the one before it, in full.
	h, _ := blake2b.New512(nil)
	h.Write(outLen[:])
	h.Write(in)
	var v [blake2b.Size]byte
	h.Sum(v[:0])
	for len(out) > blake2b.Size {
		copy(out, v[:32])
		out = out[32:]
		if len(out) > blake2b.Size {
			v = blake2b.Sum512(v[:])
		}
	}
	last, _ := blake2b.New(len(out), nil) // 33..64 bytes left
	last.Write(v[:])
	last.Sum(out[:0])
}

// readBlock decodes a little-endian 1 KiB block.
func readBlock(b *block, buf *[blockWords * 8]byte) {
	for i := range b {
		b[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
}
