# chaosgate — two commands on a fresh machine:
#   make gate   create (or reuse) the local kind cluster and run the resilience
#               gate against the bundled sample workload; exits non-zero when an
#               SLO is breached
#   make test   every test: unit tests, then end-to-end specs against a real
#               kind cluster (cluster smoke spec, gate with negative controls)

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
BIN := bin/chaosgate
CLUSTER ?= chaosgate
REPORT_DIR ?= chaosgate-reports/latest
E2E_TIMEOUT ?= 75m

.PHONY: all build docker image cluster gate list unit e2e e2e-cluster e2e-specs e2e-controls test soak bench down recover fmt vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/chaosgate

# Docker engine with this machine's fixes, plus debootstrap/gcc for the
# offline node image.
docker:
	clusters/scripts/ensure-docker.sh --image-tools

image: docker build
	$(BIN) image build

cluster: docker build
	$(BIN) cluster up --name $(CLUSTER)

gate: docker build
	$(BIN) run --name $(CLUSTER) --report-dir $(REPORT_DIR)

# Every suite, its checks, labels and expected duration (no cluster needed).
list: build
	$(BIN) run --list

fmt:
	@out="$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# One vet with every tag: no file is built only without a tag (no !e2e or
# !chromium constraint), so this covers the untagged build too, and the
# packages are vetted once instead of three times. -race makes vet compile
# the dependencies as the unit tests' -race build does, so client-go, kind
# and the rest compile once for both (measured on ./load/ with an empty
# build cache: the race test after vet 7.6s, 35.7s after a plain vet). Like
# the race tests, it needs cgo and gcc.
vet:
	GOGC=$(COMPILE_GOGC) $(GO) vet -race -tags e2e,chromium ./...

# The compiler collects its garbage a quarter as often: the unit phase on a
# fresh clone with an empty build cache took 4m45.2s against 5m21.5s (CPU
# 6m01s against 7m02s), one run each the same hour. The unit test binaries
# inherit it (they were measured so); the end-to-end specs and the gate
# keep Go's default.
COMPILE_GOGC ?= 400

unit: fmt vet
	GOGC=$(COMPILE_GOGC) $(GO) test -race -count=1 ./...

# End-to-end specs run one package at a time: they share the kind cluster.
# Each e2e target keeps its log; on failure the failed specs and their
# messages are printed last, where a CI log's tail shows them.
LOG_DIR ?= chaosgate-logs
e2e-log = set -o pipefail; mkdir -p $(LOG_DIR); time $(1) 2>&1 | tee $(LOG_DIR)/$(2).log || { suites/scripts/failure-digest.sh $(LOG_DIR)/$(2).log; exit 1; }

e2e-cluster: docker build
	$(call e2e-log,$(GO) test -tags e2e -count=1 -p 1 -timeout $(E2E_TIMEOUT) ./clusters/e2e/ -v -ginkgo.v -ginkgo.no-color,e2e-cluster)

# The gate's own specs under go test (Ginkgo flags work), shortened.
e2e-specs: docker build
	$(call e2e-log,$(GO) test -tags e2e -count=1 -p 1 -timeout $(E2E_TIMEOUT) ./suites/ -run TestSpecs -v -ginkgo.v -ginkgo.no-color \
		-ginkgo.label-filter=scenario:self-healing -chaosgate.duration=30s -chaosgate.kills=2 -chaosgate.kill-interval=10s,e2e-specs)

# The binary against the healthy sample and every negative control, and the
# safety matrix: about 45 minutes on this machine, near Ginkgo's default
# one-hour suite timeout, hence its own.
CONTROLS_TIMEOUT ?= 95m
e2e-controls: docker build
	$(call e2e-log,$(GO) test -tags e2e -count=1 -p 1 -timeout 100m ./suites/controls/ -v -ginkgo.v -ginkgo.no-color -ginkgo.timeout $(CONTROLS_TIMEOUT),e2e-controls)

e2e: e2e-cluster e2e-specs e2e-controls

# Ten healthy gate runs back to back: false failures must be 0.
soak: docker build
	suites/scripts/soak.sh 10

test: unit test-report e2e

# Benchmarks of the recorder, the timeline arithmetic and the generator,
# and our generator side by side with vegeta's own CLI (a table).
bench:
	$(GO) test -run '^$$' -bench 'Generator|VersusVegetaCLI' -benchtime=1x -timeout 20m ./load/
	$(GO) test -run '^$$' -bench 'Recorder|Windows|Intervals|Summarize' ./load/

down: build
	$(BIN) cluster down --name $(CLUSTER)

recover: build
	$(BIN) recover

clean:
	rm -rf bin chaosgate-reports chaosgate-logs

# The HTML report as a person sees it: every sample report (and a trend page)
# opened in headless Chromium (Debian's package): no console error, no
# request but the file, every chart holding the run's data points.
# Screenshots are kept under $(TEST_REPORT_DIR)/_artifacts;
# UPDATE_SCREENSHOT=1 also rewrites docs/report-screenshot.png.
TEST_REPORT_DIR ?= chaosgate-reports/test-report
.PHONY: test-report
test-report:
	command -v chromium >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }
	mkdir -p $(TEST_REPORT_DIR)
	$(GO) test -tags chromium -count=1 ./reports/ -run Chromium -v -artifacts -outputdir $(CURDIR)/$(TEST_REPORT_DIR) $(if $(UPDATE_SCREENSHOT),-update-screenshot)
