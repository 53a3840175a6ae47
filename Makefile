# LeviBot. `make help` lists the targets; `make demo` and `make test` set up what they need.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
VENV ?= /opt/levibot/venv
export PATH := $(HOME)/.cargo/bin:$(PATH)
# ONNX Runtime is loaded at run time from this path (set-up installs it into $(VENV)).
export ORT_DYLIB_PATH ?= $(firstword $(wildcard $(VENV)/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*))

.PHONY: help setup build demo test bench lint fmt up sanity clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install what the build and tests need (apt, Rust, ONNX Runtime); start Redis and PostgreSQL
	@bash scripts/setup.sh

build: ## build every crate (debug)
	$(CARGO) build --workspace --locked

demo: setup build ## set up, start the fleet, sanity-check it, replay real data through it, stop it
	@bash scripts/demo.sh

test: setup lint ## set up, lint, then the doc tests and every test (nextest)
	$(CARGO) test --doc --workspace --locked
	$(CARGO) nextest run --workspace --locked --profile ci

bench: setup ## benchmarks (release build); prints `bench <name>: <figure>` lines
	$(CARGO) bench --locked -p levibot-bus -p levibot-exchange -p levibot-trade-store -p levibot-trading 2>&1 | grep -E '^(bench|machine)'
	$(CARGO) bench --locked -p levibot-tests --bench trading 2>&1 | grep -E '^(bench|machine)'

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

up: build ## run the fleet in the foreground (Ctrl-C stops it)
	$(CARGO) run --locked --bin levibot -- up

sanity: ## sanity-check a running fleet
	$(CARGO) run --locked --quiet --bin levibot -- sanity-check

clean: ## remove build output and local state
	$(CARGO) clean
	rm -rf var
