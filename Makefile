# The two commands a newcomer needs: `make dev` (run locally) and `make test` (all tests).
# Both install the pinned tools they use into .venv on first run.

SHELL := /bin/bash
VENV := .venv
TOOLS_STAMP := $(VENV)/.tools-installed
# The venv's python3 comes first: the tests call Twilio's library through it, and cargo-lambda
# finds zig with `python3 -m ziglang`.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

.PHONY: test dev tools bench load reconcile schema

tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): tools/requirements.txt tools/pyproject.toml tools/npm/package-lock.json
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --quiet -r tools/requirements.txt
	# The dev and test tooling (tools/flex_handoff_dev), editable: `python3 -m flex_handoff_dev.…`.
	$(VENV)/bin/pip install --disable-pip-version-check --quiet --no-deps --no-build-isolation -e tools
	npm ci --prefix tools/npm --no-audit --no-fund --loglevel=error
	rustup target add aarch64-unknown-linux-gnu
	touch $@

test: $(TOOLS_STAMP)
	cargo fmt --all -- --check
	ruff check tools
	python3 -m pytest -q tools
	cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
	bash tools/deny.sh
	@if [ -n "$${RUSTSEC_SNAPSHOT:-}" ]; then bash tools/deny.sh --prove-offline; fi
	cargo test --workspace --locked
	@command -v qemu-aarch64 > /dev/null && test -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 || { echo "the arm64 artifact test needs Debian's qemu-user and libc6-arm64-cross: apt-get install qemu-user libc6-arm64-cross"; exit 1; }
	cargo lambda build --release --arm64 --locked
	cargo test --locked -p flex-handoff --test arm64_artifacts -- --ignored
	cfn-lint template.yaml
	sam validate --lint --template template.yaml
	python3 -m flex_handoff_dev.check_template template.yaml
	@test -x /usr/bin/chromium || { echo "the browser test needs Debian's chromium: apt-get install chromium"; exit 1; }
	# The operators' command, which the browser test runs as the README says.
	cargo build --locked -p flex-handoff --features schedule-cli --bin flex-schedule
	node --test local/e2e/
	cargo build --release --locked -p create-channel -p flex-webhook -p chat-graphql -p reconcile-chats
	python3 -m flex_handoff_dev.load --quick

dev: $(TOOLS_STAMP)
	local/dev.sh

# Measures cold start, memory, size, hot paths and round trips; writes BENCHMARKS.md.
bench: $(TOOLS_STAMP)
	python3 -m flex_handoff_dev.bench

# The load and fault suite at full size (release binaries as separate processes); writes its
# section of BENCHMARKS.md and tools/load/results.md. `make test` runs it at quick sizes.
load: $(TOOLS_STAMP)
	cargo build --release --locked -p create-channel -p flex-webhook -p chat-graphql -p reconcile-chats
	python3 -m flex_handoff_dev.load

# One reconciler run against `make dev`'s stack (it also runs there every minute).
reconcile:
	cargo lambda invoke reconcile-chats -A 127.0.0.1 -P $${DEV_LAMBDA_PORT:-9000} -F events/reconcile-scheduled.json

# Rewrites schema.graphql from the code's schema (a test fails while the two differ).
schema:
	FLEX_HANDOFF_WRITE_SCHEMA=1 cargo test --locked -p flex-handoff --test graphql_schema
