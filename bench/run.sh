#!/usr/bin/env bash
# The benchmarks (QUALITY.md): builds the server and the load generator in release mode, starts
# PostgreSQL and Redis on loopback, runs every scenario with its same-run baseline and prints a
# table of figures, baselines and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/services.sh

install_missing
start_services
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

log "building (release)"
cargo build --release -q -p bangban-server -p bench

log "running the benchmarks"
"${CARGO_TARGET_DIR:-target}/release/bangban-bench" --postgres "$PG_URL" --redis "$REDIS_URL" "$@"
