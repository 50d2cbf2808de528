#!/usr/bin/env bash
# bench-server.sh — server performance (issue 13): builds sigil and the
# load generator (tests/load), then `sigil-load bench` starts sigil on bolt
# on 127.0.0.1 (and on MongoDB when SIGIL_TEST_MONGODB_URI or MONGODB_URI is
# set), registers clients and users through the CLI, runs every mode with
# keep-alive, a warm-up, a fixed duration and bounded concurrency, and
# prints per mode: requests/s, p50/p99, errors, the server's CPU per request
# (/proc/PID/stat) and its ratio to floors measured in the same run (a Go
# hello-world server for GET and form POST, raw P-256 and RSA-2048
# signatures, the argon2id ceiling), then the MongoDB round trips per
# operation when a MongoDB is set. It stops by itself.
#
# Environment: BENCH_CONCURRENCY (default 16), BENCH_DURATION (default 5s),
# BENCH_WARMUP (default 1s), BENCH_MODES (comma-separated mode names).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/sigil ./cmd/sigil
go build -o bin/sigil-load ./tests/load/cmd/sigil-load
args=(-sigil bin/sigil -c "${BENCH_CONCURRENCY:-16}" -d "${BENCH_DURATION:-5s}" -warmup "${BENCH_WARMUP:-1s}")
if [[ -n "${BENCH_MODES:-}" ]]; then
	args+=(-modes "$BENCH_MODES")
fi
bin/sigil-load bench "${args[@]}"
# MongoDB round trips per operation, counted by the driver's command
# monitor on the real handlers (web/roundtrips_test.go).
uri=${SIGIL_TEST_MONGODB_URI:-${MONGODB_URI:-}}
if [[ -n "$uri" ]]; then
	echo
	SIGIL_TEST_MONGODB_URI=$uri go test -count=1 -run '^TestMongoRoundTrips$' -v ./web/ |
		sed -n 's/.*mongo round trips: /mongo round trips: /p'
fi
