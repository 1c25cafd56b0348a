# Ferry — see README.md.
SHELL := /bin/bash
SWIFT ?= swift
BUILD_FLAGS ?=
BIN := .build/debug/ferry

.PHONY: all deps build release test test-unit test-integration test-faults demo bench-fetch bench-install bench-peers bench-proxy bench-rollout clean

all: build

## Install the system packages Ferry and its tests need (Debian; fast no-op when present).
deps:
	@cluster/deps.sh

build: deps
	$(SWIFT) build $(BUILD_FLAGS)

release: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)

## Every test: unit tests and end-to-end tests against the real registry, skopeo and the ferry binary.
test: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build --parallel --num-workers 2 $(BUILD_FLAGS)

## The test targets that start programs (registry, skopeo, ferry processes, dockerd) and whose
## suites need root; everything else is a unit target.
INTEGRATION_TARGETS := FerryIntegrationTests FerryDockerIntegrationTests

## The unit targets only: neither root nor dockerd, about a minute once built.
test-unit: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(addprefix --skip ,$(INTEGRATION_TARGETS)) $(BUILD_FLAGS)

## The integration targets only (root for the suites with dockerd, mounts or namespaces).
test-integration: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(addprefix --filter ,$(INTEGRATION_TARGETS)) $(BUILD_FLAGS)

## The fault-injection suite at full strength (24 leader kills, 8 follower kills, link cuts, upstream
## drops and corruption, a full disk, a leader restart): the figures go to .build/fault-report.md,
## the table of docs/reliability.md. `make test` runs the same scenarios bounded (6 leader kills).
test-faults: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	@rm -f .build/fault-report.md
	FERRY_FAULTS=full FERRY_FAULT_REPORT=$(CURDIR)/.build/fault-report.md $(SWIFT) test --skip-build --filter '\.FaultTests' $(BUILD_FLAGS)
	@cat .build/fault-report.md

## The main job on an embedded default: a local registry with a generated image, a leader and two
## followers each with its own dockerd, a cluster-wide install with progress, the image run on every node.
demo: build
	@cluster/demo.sh

## Leader fetch vs skopeo copy, and store hashing vs sha256sum; results in docs/benchmarks.md.
bench-fetch: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)
	@bench/bench-fetch.sh

clean:
	rm -rf .build

## ferry install vs docker pull on every node (busybox + 2 x 50 MiB and + 40 x 1 MiB, 1 and 4 nodes) over
## a shaped upstream link (100 Mbit/s) and leader link (200 Mbit/s); KEEP=1 keeps the logs; docs/benchmarks.md.
bench-install: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)
	@bench/bench-install.sh

## One image onto NODES (8) nodes four ways: docker pull, a pull-through cache, ferry install without
## and with peers, over network namespaces (upstream 100 Mbit/s, 1 Gbit/s elsewhere); docs/benchmarks.md.
bench-peers: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)
	@bench/bench-peers.sh

## skopeo copy from a password-protected registry direct vs through `ferry proxy` cold and warm, and
## LICENCES (8) licences pulling at once through a cold proxy (upstream bytes ÷ image); docs/benchmarks.md.
bench-proxy: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)
	@bench/bench-proxy.sh

## A rolling update (a 200 MiB update onto NODES (8) nodes, one container each): the naive script (docker
## pull, stop, recreate, node by node) vs ferry rollout stop-first and start-first; docs/benchmarks.md.
bench-rollout: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)
	@bench/bench-rollout.sh

## Package.swift declares exactly what each target imports (no more, no less).
.PHONY: check-imports
check-imports:
	@scripts/check-imports.py

## Fuzz the parsers of untrusted input with libFuzzer: every target in Fuzz/ for FUZZ_SECONDS (60)
## each; fails if any crashed or hung. Not part of test or CI. See docs/fuzzing.md.
.PHONY: fuzz
fuzz:
	@SWIFT=$(SWIFT) Fuzz/run.sh

## Simulated installs on 10, 100, 1,000 and 10,000 nodes with the tracker's own SourceSelector:
## completion p50/p99/max against N, as the tracker is (slots per blob, receivers listed at
## assignment), then the old tracker for comparison (slots per node, receivers listed on report),
## each with followers starting at once and over 1 s. See docs/simulation.md. Not part of test or CI.
.PHONY: simulate
simulate:
	$(SWIFT) build -c release --product ferry-sim $(BUILD_FLAGS)
	$(SWIFT) run -c release --skip-build $(BUILD_FLAGS) ferry-sim --nodes 10,100,1000,10000
	$(SWIFT) run -c release --skip-build $(BUILD_FLAGS) ferry-sim --nodes 10,100,1000,10000 --stagger 1s
	$(SWIFT) run -c release --skip-build $(BUILD_FLAGS) ferry-sim --nodes 10,100,1000,10000 --slot-scope node --receiving-known report
	$(SWIFT) run -c release --skip-build $(BUILD_FLAGS) ferry-sim --nodes 10,100,1000,10000 --slot-scope node --receiving-known report --stagger 1s

## A Debian package, .build/ferry_<version>_<arch>.deb: the release binary (Swift runtime linked
## statically), the systemd units, commented /etc/ferry/*.toml, man pages and completions.
## The release build is redone only when a source changed. See docs/operations.md.
.PHONY: deb deb-test deps-package
deps-package:
	@cluster/deps.sh --package

deb: deps deps-package
	@SWIFT=$(SWIFT) packaging/deb/build-deb.sh

## Installs the package into a fresh Debian 12 root (debootstrap, cached in .build/) and runs
## ferry, a packaged leader and lintian there. Needs root; not part of `make test` (a few minutes).
deb-test: deb
	@time packaging/deb/test-deb.sh "$$(ls -t .build/ferry_*.deb | head -1)"
