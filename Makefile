# Sigil build and test entry points. CI runs `make test` (through .ci/run).
#
#   make test       go vet, the tests of tests/ferretdb (its own module),
#                   then every test with -race against a MongoDB
#                   (MONGODB_URI, else a mongod on PATH, else the embedded
#                   FerretDB of tests/ferretdb) and a headless Chromium
#                   (installed from Debian's packages when missing and run
#                   as root); fails if any test was skipped that
#                   scripts/testreport does not expect. The go test -json
#                   stream is kept in bin/test-report.json; browser tests
#                   save screenshots under bin/screenshots/.
#   make build      build every package and bin/sigil
#   make vet        go vet, root module and tests/ferretdb
#   make lint       staticcheck (pinned; fetched through the module proxy)
#   make fmt-check  fail if a Go file is not gofmt-formatted
#   make fuzz       run every Go fuzz target for FUZZTIME (30s) each; the
#                   seeds under testdata/fuzz run in make test as ordinary
#                   tests. A failing input is written to testdata/fuzz.
#   make bench-verify  oauth/verify benchmarks: ns/op, allocs/op and ratio to
#                   the raw signature check measured in the same run
#   make bench-server  the server under load on loopback (tests/load): req/s,
#                   p50/p99, errors and server CPU per request of every mode,
#                   against floors measured in the same run (bolt, and
#                   MongoDB when SIGIL_TEST_MONGODB_URI or MONGODB_URI is set)
#   make soak       password, authorization_code (login page, session reuse),
#                   refresh, client_credentials, simplejwt, JWKS and
#                   verification for SOAK_DURATION (default 5m) while keys
#                   rotate every ~13 s; fails on any error, unknown kid,
#                   goroutine or RSS growth

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO ?= go
# staticcheck 2026.2.2
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_FLAGS ?= -race -count=1 -timeout 20m
PKGS ?= ./...

.PHONY: test test-go build docker vet lint fmt-check ferretdb clean bench-verify fuzz bench-server soak

test:
	scripts/with-browser.sh scripts/with-mongo.sh $(MAKE) --no-print-directory test-go

# test-go expects SIGIL_TEST_MONGODB_URI and SIGIL_TEST_BROWSER (make test
# sets them); alone, it runs the tests with whatever the environment says.
test-go: vet
	@mkdir -p bin
	cd tests/ferretdb && $(GO) test -count=1 -timeout 5m ./...
	$(GO) build -o bin/testreport ./scripts/testreport
	$(GO) test $(TEST_FLAGS) -json $(PKGS) | tee bin/test-report.json | bin/testreport -fail-on-skip

VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS    := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)

build:
	$(GO) build ./...
	@mkdir -p bin
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/sigil ./cmd/sigil

# The container image (configs/Dockerfile); needs a Docker daemon.
docker:
	docker build -f configs/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
		--build-arg BUILD_DATE=$(BUILD_DATE) -t sigil:$(VERSION) .

vet:
	$(GO) vet ./...
	cd tests/ferretdb && $(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...
	cd tests/ferretdb && $(GO) run $(STATICCHECK) ./...

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

bench-verify:
	scripts/bench-verify.sh

FUZZTIME ?= 30s
# Every FuzzXxx target in the module, found in the _test.go files, one
# after the other (go test -fuzz takes one target per run); fails at the
# end, naming the targets that failed.
fuzz:
	@failed=""; targets=$$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./tests/ferretdb/' | sort); \
	for f in $$targets; do \
		pkg=./$$(dirname $${f#./}); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "== $$pkg $$name ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || failed="$$failed $$pkg.$$name"; \
		done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz targets failed:$$failed"; exit 1; fi

bench-server:
	scripts/bench-server.sh

SOAK_DURATION ?= 5m
SOAK_RATE ?= 100
soak:
	@mkdir -p bin
	$(GO) build -o bin/sigil ./cmd/sigil
	$(GO) build -o bin/sigil-load ./tests/load/cmd/sigil-load
	bin/sigil-load soak -sigil bin/sigil -d $(SOAK_DURATION) -rate $(SOAK_RATE)

# ferretdb builds the embedded FerretDB test server.
ferretdb:
	cd tests/ferretdb && $(GO) build -o ferretdb-bin .

clean:
	rm -rf bin tests/ferretdb/ferretdb-bin
