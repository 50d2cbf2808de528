#!/usr/bin/env bash
# with-mongo.sh CMD [ARG...]
#
# Runs CMD with a MongoDB server for the tests: SIGIL_TEST_MONGODB_URI is set
# to its connection string and SIGIL_TEST_MONGODB_REQUIRED=1, so a
# MongoDB-backed test that cannot get one fails instead of skipping.
#
# The server is, in order of preference:
#   1. the one at $MONGODB_URI, if set (nothing is started or stopped);
#   2. a mongod found on PATH, started on a free 127.0.0.1 port with a
#      temporary dbpath;
#   3. the embedded FerretDB of tests/ferretdb, built with the go command.
# Whatever this script started is stopped, and its temporary files removed,
# when it exits, whatever the outcome. Exits with CMD's status, or 1 if no
# server could be started. The wait for the server to accept connections
# is bounded by $MONGO_START_TIMEOUT seconds (default 60; building
# FerretDB, about a minute from a cold cache, comes before and is not
# counted).
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
timeout=${MONGO_START_TIMEOUT:-60}
tmp=""
server_pid=""

cleanup() {
	local status=$?
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		# Give it up to 10 s to shut down cleanly, then kill it.
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	exec 3>&- 4<&-
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
	exit "$status"
}
trap cleanup EXIT
cmd_pid=""
# On INT or TERM, pass the signal on to CMD, then clean up.
on_signal() {
	if [ -n "$cmd_pid" ]; then
		kill "-$1" "$cmd_pid" 2>/dev/null || true
		wait "$cmd_pid" 2>/dev/null || true
	fi
	exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

# redact prints a connection string without its password.
redact() {
	sed -E 's#(://[^:/@]*:)[^@]*@#\1xxxxx@#' <<<"$1"
}

# fail_start reports a server that did not come up, with its log.
fail_start() {
	echo "with-mongo: $1" >&2
	if [ -n "${2:-}" ] && [ -s "$2" ]; then
		echo "--- last lines of $(basename "$2"):" >&2
		tail -n 40 "$2" >&2
	fi
	exit 1
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local port
	for _ in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	return 1
}

start_mongod() {
	local mongod=$1 port log deadline
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigil-mongod.XXXXXX")
	mkdir "$tmp/db"
	log="$tmp/mongod.log"
	port=$(free_port) || fail_start "no free port for mongod"
	"$mongod" --bind_ip 127.0.0.1 --port "$port" --dbpath "$tmp/db" \
		--logpath "$log" --nounixsocket </dev/null >/dev/null 2>&1 &
	server_pid=$!
	deadline=$((SECONDS + timeout))
	until (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		kill -0 "$server_pid" 2>/dev/null || fail_start "mongod exited before accepting connections" "$log"
		[ "$SECONDS" -lt "$deadline" ] || fail_start "mongod not ready after ${timeout}s" "$log"
		sleep 0.1
	done
	uri="mongodb://127.0.0.1:$port/"
	echo "with-mongo: started $("$mongod" --version | head -n 1) at $uri" >&2
}

start_ferretdb() {
	local bin="$root/tests/ferretdb/ferretdb-bin" log started
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigil-ferretdb.XXXXXX")
	log="$tmp/ferretdb.log"
	echo "with-mongo: no MONGODB_URI and no mongod on PATH: building tests/ferretdb" >&2
	started=$SECONDS
	(cd "$root/tests/ferretdb" && go build -o ferretdb-bin .) ||
		fail_start "building tests/ferretdb failed"
	echo "with-mongo: built tests/ferretdb in $((SECONDS - started))s" >&2

	# The server prints its URI as one line on stdout once it accepts
	# connections. It also stops when its stdin (fd 3 here, held by this
	# script only) reaches EOF, so it dies with this script even if the
	# script is killed outright. Its data directory goes inside $tmp.
	mkfifo "$tmp/uri" "$tmp/stdin"
	TMPDIR="$tmp" "$bin" -stdin-eof <"$tmp/stdin" >"$tmp/uri" 2>"$log" &
	server_pid=$!
	exec 3>"$tmp/stdin" 4<"$tmp/uri"
	uri=""
	started=$SECONDS
	if ! read -r -t "$timeout" -u 4 uri || [ -z "$uri" ]; then
		fail_start "FerretDB printed no URI within ${timeout}s" "$log"
	fi
	echo "with-mongo: FerretDB ready at $uri in $((SECONDS - started))s" >&2
}

uri=""
if [ -n "${MONGODB_URI:-}" ]; then
	uri=$MONGODB_URI
	echo "with-mongo: using MONGODB_URI ($(redact "$uri"))" >&2
elif mongod=$(command -v mongod); then
	start_mongod "$mongod"
else
	start_ferretdb
fi

# Run CMD without the pipe ends that keep FerretDB alive, so that only this
# script's exit stops the server. CMD runs in the background and is waited
# for, so that a signal reaches the traps at once.
status=0
SIGIL_TEST_MONGODB_URI=$uri SIGIL_TEST_MONGODB_REQUIRED=1 "$@" 3>&- 4<&- <&0 &
cmd_pid=$!
wait "$cmd_pid" || status=$?
cmd_pid=""
exit "$status"
