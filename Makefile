# deckhand — see README.md. Every target is what CI and users run.
GO      ?= go
BIN     := bin/deckhand
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/deckhand/deckhand/internal/version.Version=$(VERSION)

.PHONY: build test unit testenv testenv-down lint bench demo demo-clean clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/deckhand

# test runs every test, unit and end-to-end. It installs and starts what the
# end-to-end tests need (Docker engine + single-node swarm, nginx, an
# authenticated registry on 127.0.0.1:5000, sshd and openssl, chromium, and the
# current engine built once per machine) when they are absent.
# The end-to-end scenario on a 3-manager swarm runs first and prints its
# summary (requests sent/failed per phase); then every other package.
E2E_SUMMARY := $(CURDIR)/bin/e2e-summary.txt
test: lint testenv
	@mkdir -p bin && rm -f $(E2E_SUMMARY)
	DECKHAND_E2E_SUMMARY=$(E2E_SUMMARY) $(GO) test -count=1 -timeout 20m ./internal/e2e
	@cat $(E2E_SUMMARY)
	$(GO) test -count=1 -timeout 40m $$($(GO) list ./... | grep -v /internal/e2e$$)

# unit runs the tests that need no engine, nginx or registry.
unit:
	DECKHAND_UNIT_ONLY=1 $(GO) test -count=1 ./...

testenv:
	./hack/testenv.sh up

testenv-down:
	./hack/testenv.sh down

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to rewrite:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# bench prints deckhand's figures side by side with docker's from one run.
bench: testenv
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

demo: build
	./examples/demo.sh

demo-clean:
	./examples/demo.sh clean

clean:
	rm -rf bin
