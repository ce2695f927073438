# Faultline: make run starts everything in one process; make test proves it.
GO      ?= go
BIN     := bin/faultline
FUZZTIME ?= 4s

.PHONY: run build test test-unit test-deploy test-e2e fuzz bench soak lint fmt deps clean

build:
	$(GO) build -o $(BIN) ./services/faultline

run: build
	./$(BIN) serve

# Everything CI runs, from a fresh clone: services first, then every test.
test: deps build
	$(GO) vet ./... ./e2e/... ./deploy/...
	$(GO) test -count=1 -timeout 15m ./...
	$(MAKE) test-deploy
	$(MAKE) fuzz
	$(MAKE) test-e2e

test-unit:
	$(GO) test -count=1 ./...

# compose.yaml, the Dockerfile, the Helm chart and the Grafana dashboard,
# checked with their own parsers (a module of its own: deploy/go.mod).
test-deploy:
	cd deploy && $(GO) test -count=1 ./...

test-e2e: build
	cd e2e && FAULTLINE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 15m ./...

# Short runs of every fuzz target; longer with FUZZTIME=5m.
fuzz:
	@scripts/fuzz.sh $(FUZZTIME)

bench: build
	scripts/bench.sh

# Not in CI: 30 minutes at 1,000 error events/s through the all-in-one,
# a line a minute (RSS, goroutines, open files, p99), then a verdict.
SOAK_DURATION ?= 30m
soak: build
	$(GO) build -o bin/loadgen ./e2e/cmd/loadgen
	bin/loadgen -faultline $(BIN) -scenarios soak -soak-duration $(SOAK_DURATION)

deps:
	@scripts/deps.sh

lint:
	$(GO) vet ./... ./e2e/... ./deploy/...
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)

fmt:
	gofmt -w .

clean:
	rm -rf bin data
