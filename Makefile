# The project's entry points. `make run` and `make test` are all a newcomer needs.

CARGO ?= cargo
DATA_DIR ?= data

.PHONY: run run-manual-clock test nextest lint fmt bench bench-scale rebuild build

## Build and start the server on the embedded store, under ./data, port 8080.
run:
	$(CARGO) run --release -p api --bin groupware -- serve --data-dir $(DATA_DIR)

## Same, on a settable clock (POST /test/clock), for demos.
run-manual-clock:
	$(CARGO) run --release -p api --bin groupware -- serve --data-dir $(DATA_DIR) --clock manual

## The whole test suite: every crate (PostgreSQL tests use DATABASE_URL, default
## postgres://postgres@127.0.0.1:5432/postgres, a fresh database each), then the
## end-to-end suite again with events and read models in PostgreSQL. Without a
## reachable PostgreSQL its tests are skipped, and this says so (under CI=true
## that fails).
test: nextest
	$(CARGO) nextest run --workspace --no-fail-fast
	@if $(CARGO) run -q -p store --features postgres --example postgres_reachable; then \
		echo "GROUPWARE_TEST_STORE=postgres $(CARGO) nextest run -p tests --test e2e --no-fail-fast"; \
		GROUPWARE_TEST_STORE=postgres $(CARGO) nextest run -p tests --test e2e --no-fail-fast; \
	else \
		echo "PostgreSQL is not reachable: its tests were skipped (README, Set-up, says how to get one)"; \
		test "$$CI" != true; \
	fi

## The test runner `make test` uses, installed from crates.io when missing.
nextest:
	@$(CARGO) nextest --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest

## Formatting and clippy, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p api --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## Throughput figures, one `bench <name> <value> <unit>` line each (release build):
## the embedded store, then PostgreSQL (DATABASE_URL) beside pgbench.
bench:
	$(CARGO) bench -p tests --bench throughput
	$(CARGO) bench -p tests --bench webmail
	$(CARGO) bench -p tests --bench search
	$(CARGO) bench -p tests --bench approval
	$(CARGO) bench -p tests --bench archive
	$(CARGO) bench -p tests --bench history
	$(CARGO) bench -p tests --bench postgres

## The history figures over 10,000,000 events (`make bench` writes 1,000,000):
## first start, restart and resident memory on the embedded default.
bench-scale:
	GROUPWARE_BENCH_EVENTS=10000000 $(CARGO) bench -p tests --bench history

## Replay the event log under ./data into fresh read models.
rebuild:
	$(CARGO) run --release -p api --bin groupware -- rebuild --data-dir $(DATA_DIR)

build:
	$(CARGO) build --workspace --all-targets
