# smc — the commands others rely on (DESIGN.md §7). Each installs what is missing first.
SWIFT ?= swift
HOST ?= 127.0.0.1
PORT ?= 8080
UNIT_TESTS = SMCEngineTests|SMCSyncTests|SMCAPITests
CLIENT_TESTS = SMCClientTests

.PHONY: setup build run test test-swift lint-spec api-fuzz bench bench-baseline fuzz clean

setup:
	@bash scripts/setup

build: setup
	$(SWIFT) build --product smc-server
	$(SWIFT) build --product smc-client

## Serve on http://$(HOST):$(PORT) with the embedded PostgreSQL under ./.smc, migrating first.
run: build
	SMC_LOG_FORMAT=$${SMC_LOG_FORMAT:-text} .build/debug/smc-server serve --migrate --host $(HOST) --port $(PORT)

## Every test, against a real PostgreSQL that the tests start themselves; then the API fuzzed against its contract
## (schemathesis, 3 minutes, 0 failures allowed) and the parsers of untrusted bytes fuzzed (libFuzzer, 1 minute each).
test: setup lint-spec test-swift api-fuzz fuzz

test-swift:
	@python3 -c "import standardwebhooks" 2>/dev/null || python3 -m pip install -q standardwebhooks
	$(SWIFT) build --build-tests
	@# The unit suites run first and on their own: their CPU-bound tests would otherwise hold the cooperative threads
	@# (as many as cores) that the integration suites' in-process servers answer on, stalling them for tens of seconds.
	$(SWIFT) test --skip-build --filter '$(UNIT_TESTS)'
	@# The client's suites (each with servers, client processes and PostgreSQL of its own) run after the server's, one
	@# test at a time: run alongside, they stalled the process for 30 s at a time on two cores and requests missed
	@# their deadlines.
	$(SWIFT) test --skip-build --skip '$(UNIT_TESTS)|$(CLIENT_TESTS)'
	$(SWIFT) test --skip-build --no-parallel --filter '$(CLIENT_TESTS)'

## The REST contract must be valid OpenAPI 3.1, and the tables the server reads from it current.
lint-spec:
	@python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q openapi-spec-validator
	python3 -m openapi_spec_validator api-spec/openapi.yaml
	python3 scripts/spec_tables.py --check

## Speed figures (release build), printed and never asserted: the engine's micro-benchmarks against the baseline
## stored in .benchmarkBaselines/, the engine beside the Python reference, the pipeline and sync end to end.
bench: setup
	@if [ -x scripts/bench ]; then bash scripts/bench; else $(SWIFT) run -c release smc-bench; fi

## Runs the engine's micro-benchmarks and stores them as the baseline `make bench` compares with (commit it).
bench-baseline: setup
	SMC_BENCHMARKS=1 $(SWIFT) package --allow-writing-to-package-directory benchmark baseline update stored \
		--target SMCEngineBenchmarks --no-progress

## schemathesis (every check; examples, coverage, fuzzing, stateful) against a server it starts; API_FUZZ_SECONDS.
api-fuzz:
	bash scripts/api-fuzz

## libFuzzer over the parsers of untrusted bytes, FUZZ_SECONDS (default 60) per target; fails on any finding.
fuzz:
	bash scripts/fuzz

clean:
	rm -rf .build .build-*
