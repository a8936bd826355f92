#!/usr/bin/env bash
# The whole test suite, on a fresh machine as on a developer's: installs what is missing
# (Redis, PostgreSQL, the Node conformance tools), starts PostgreSQL and Redis on loopback in a
# temporary directory, then runs formatting and lint checks and the end-to-end suite on both
# backends (SQLite + in-process, PostgreSQL + Redis). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/services.sh

install_missing
if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
  log "installing the Node conformance tools (tests/node)"
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
  touch tests/node/node_modules
fi
start_services

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -q -- -D warnings

log "tests: SQLite + in-process"
cargo test --workspace

log "tests: PostgreSQL + Redis"
BANGBAN_TEST_BACKEND=postgres BANGBAN_TEST_DATABASE_URL="$PG_URL" BANGBAN_TEST_REDIS_URL="$REDIS_URL" \
  cargo test --workspace

log "all tests passed on both backends"
