#!/usr/bin/env bash
# with-browser.sh CMD [ARG...]
#
# Runs CMD with a headless Chromium for the browser tests:
# SIGIL_TEST_BROWSER is set to its path and SIGIL_TEST_BROWSER_REQUIRED=1,
# so a browser test that cannot start one fails instead of skipping.
#
# The browser is, in order of preference:
#   1. the one at $SIGIL_TEST_BROWSER, if set;
#   2. chromium (or chromium-browser, google-chrome) on PATH;
#   3. Debian's chromium package, installed with apt-get when this runs as
#      root (CI and these development machines); otherwise the script stops
#      with a message saying what to install.
# Exits with CMD's status, or 1 if no browser could be found or installed.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi

find_browser() {
	local name
	if [ -n "${SIGIL_TEST_BROWSER:-}" ]; then
		echo "$SIGIL_TEST_BROWSER"
		return 0
	fi
	for name in chromium chromium-browser google-chrome; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return 0
		fi
	done
	return 1
}

if ! browser=$(find_browser); then
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "with-browser: no Chromium found; install Debian's chromium package (apt-get install -y chromium) or set SIGIL_TEST_BROWSER" >&2
		exit 1
	fi
	echo "with-browser: installing Debian's chromium package" >&2
	started=$SECONDS
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } >/tmp/with-browser-apt.log 2>&1; then
		echo "with-browser: apt-get install chromium failed:" >&2
		tail -n 20 /tmp/with-browser-apt.log >&2
		exit 1
	fi
	echo "with-browser: installed chromium in $((SECONDS - started))s" >&2
	browser=$(find_browser) || {
		echo "with-browser: chromium installed but not on PATH" >&2
		exit 1
	}
fi
echo "with-browser: using $browser" >&2
SIGIL_TEST_BROWSER=$browser SIGIL_TEST_BROWSER_REQUIRED=1 exec "$@"
