#!/usr/bin/env bash
# `cargo deny check advisories bans licenses sources` (deny.toml), as `make test` runs it.
#
# bans, licenses and sources need only the crates, which come from the registry. advisories needs
# the RustSec advisory database, a git repository cargo-deny clones from GitHub: where GitHub
# cannot be reached and no copy is on the machine, that one check cannot run, and this says so
# loudly. REQUIRE_ADVISORY_DB=1 (set it in a CI that has the network) makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every crate of every platform's graph, so the checks below can run --offline.
cargo fetch --locked --quiet
cargo deny --offline --locked check bans licenses sources

db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if ! timeout 120 cargo deny --locked fetch db > /dev/null 2>&1; then
  echo "note: the RustSec advisory database could not be fetched; using the local copy if any"
fi
if compgen -G "$db_root/advisory-db-*/crates" > /dev/null; then
  cargo deny --offline --locked check advisories
else
  echo "WARNING: advisories NOT CHECKED: no RustSec advisory database at $db_root and none could be fetched"
  if [ "${REQUIRE_ADVISORY_DB:-0}" = 1 ]; then exit 1; fi
fi
