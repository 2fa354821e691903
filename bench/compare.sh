#!/usr/bin/env bash
# keel (mio, poll, uring) vs memcached -t 1, side by side, in one run. One command for each measurement:
#
#   bash bench/compare.sh            # throughput / p99 / req per server-CPU-s, table + SVG plot
#   bash bench/compare.sh --quick    # smoke run, a few seconds
#   bash bench/compare.sh mem        # RSS per idle connection (10,000) and per-item overhead
#   bash bench/compare.sh instr      # instructions per request under callgrind
#   bash bench/compare.sh tls        # keel -Z vs memcached -Z (and keel plaintext), -t 1 each,
#                                    # 50 connections: req/s and req per server-CPU-second
#
# Extra arguments go to `keel-compare run|mem|instr` (see --help). Results land in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p keel-server -p keel-bench
bin="$CARGO_TARGET_DIR/release"
case "${1:-}" in
  mem|instr|run) sub="$1"; shift ;;
  tls) shift; exec bash bench/tls.sh "$bin" "$@" ;;
  *) sub=run ;;
esac
exec "$bin/keel-compare" "$sub" "$@"
