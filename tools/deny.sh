#!/usr/bin/env bash
# `cargo deny check advisories bans licenses sources` (deny.toml), as `make test` runs it.
#
# bans, licenses and sources need only the crates, which come from the registry. advisories needs
# the RustSec advisory database, a git repository that cargo-deny clones from GitHub. In order:
#   1. fetched now, when GitHub answers;
#   2. else the copy a previous fetch left in cargo-deny's db-path (~/.cargo/advisory-dbs);
#   3. else a snapshot tarball of the database (a depth-1 clone, top folder any name) named by
#      RUSTSEC_SNAPSHOT, unpacked into a fresh folder of its own: nothing on the machine is reused.
# It prints which database it checked, its commit and its date. With none of them, advisories
# cannot be checked: that is a warning, and a failure where REQUIRE_ADVISORY_DB=1 (CI sets it).
# An advisory fails the check whichever database found it.
#
#   tools/deny.sh                  the checks above
#   tools/deny.sh --prove-offline  with RUSTSEC_SNAPSHOT: the snapshot path alone, twice, in a
#                                  temporary db-path: as it is (must pass) and with an advisory
#                                  added against a crate we use (must fail)
set -euo pipefail
cd "$(dirname "$0")/.."

# The folder cargo-deny 0.20 opens for the default database URL under its db-path (it names it
# when the folder is missing: "cannot change to '<db-path>/advisory-db-3157b0e258782691'").
DB_FOLDER=advisory-db-3157b0e258782691

describe() { # the database folder: commit and date
  git -C "$1" log -1 --format='commit %h of %cs' 2>/dev/null || echo "no git history"
}

# A config like deny.toml whose advisories are read from $1 and never fetched.
config_reading() {
  local db_path=$1 config=$2
  sed "s|^\[advisories\]$|[advisories]\ndb-path = \"$db_path\"|" deny.toml > "$config"
  grep -q "^db-path = \"$db_path\"$" "$config" || { echo "deny.sh: deny.toml has no [advisories] table"; exit 1; }
}

# The snapshot unpacked into a fresh db-path, $work/dbs, and $work/deny.toml reading it.
use_snapshot() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/dbs/$DB_FOLDER"
  tar xzf "$RUSTSEC_SNAPSHOT" -C "$work/dbs/$DB_FOLDER" --strip-components=1
  test -d "$work/dbs/$DB_FOLDER/crates" || { echo "deny.sh: $RUSTSEC_SNAPSHOT holds no RustSec database (no crates/)"; exit 1; }
  config_reading "$work/dbs" "$work/deny.toml"
}

# Every crate of every platform's graph, so the checks below can run --offline.
cargo fetch --locked --quiet

if [ "${1:-}" = --prove-offline ]; then
  [ -f "${RUSTSEC_SNAPSHOT:-}" ] || { echo "deny.sh --prove-offline: set RUSTSEC_SNAPSHOT to a snapshot tarball"; exit 1; }
  use_snapshot
  echo "offline proof: snapshot $(describe "$work/dbs/$DB_FOLDER"), in an empty db-path"
  cargo deny --config "$work/deny.toml" --offline --locked check advisories
  # An advisory against itoa, which the graph has: the same offline path must now fail.
  mkdir -p "$work/dbs/$DB_FOLDER/crates/itoa"
  cat > "$work/dbs/$DB_FOLDER/crates/itoa/RUSTSEC-2099-0001.md" <<'ADVISORY'
```toml
[advisory]
id = "RUSTSEC-2099-0001"
package = "itoa"
date = "2099-01-01"
title = "A planted advisory: the offline check must report it"

[versions]
patched = []
```

# A planted advisory

tools/deny.sh --prove-offline adds this to a temporary copy of the database.
ADVISORY
  if cargo deny --config "$work/deny.toml" --offline --locked check advisories > "$work/out" 2>&1; then
    cat "$work/out"
    echo "offline proof FAILED: a planted advisory against itoa passed the check"
    exit 1
  fi
  grep -q RUSTSEC-2099-0001 "$work/out" || { cat "$work/out"; echo "offline proof FAILED: the check failed, but not on the planted advisory"; exit 1; }
  echo "offline proof: the planted advisory RUSTSEC-2099-0001 fails the check, as any advisory would"
  exit 0
fi

cargo deny --offline --locked check bans licenses sources

db_root="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if timeout 120 cargo deny --locked fetch db > /dev/null 2>&1; then
  echo "advisories: RustSec database fetched now, $(describe "$db_root/$DB_FOLDER")"
  cargo deny --offline --locked check advisories
elif [ -d "$db_root/$DB_FOLDER/crates" ]; then
  echo "advisories: the RustSec database could not be fetched; using the copy in $db_root, $(describe "$db_root/$DB_FOLDER")"
  cargo deny --offline --locked check advisories
elif [ -f "${RUSTSEC_SNAPSHOT:-}" ]; then
  use_snapshot
  echo "advisories: the RustSec database could not be fetched and none is in $db_root; using the snapshot $RUSTSEC_SNAPSHOT, $(describe "$work/dbs/$DB_FOLDER")"
  cargo deny --config "$work/deny.toml" --offline --locked check advisories
else
  echo "WARNING: advisories NOT CHECKED: no RustSec database could be fetched, none is in $db_root, and RUSTSEC_SNAPSHOT names no snapshot"
  if [ "${REQUIRE_ADVISORY_DB:-0}" = 1 ]; then exit 1; fi
fi
