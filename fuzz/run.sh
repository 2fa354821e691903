#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target for a while; fails on the first crash.
#
#   fuzz/run.sh [seconds-per-target] [target...]      (defaults: 60, all targets)
#
# Needs the nightly toolchain (`cargo +nightly`); installs cargo-fuzz when it is missing. Without
# nightly it prints a warning and exits 0, unless KEEL_FUZZ_REQUIRED=1.
# Environment: FUZZ_SANITIZER (default none: the core is safe Rust, and ASan costs ~3x speed;
# use address to check the dependencies' unsafe code), FUZZ_JOBS (parallel jobs per target,
# default 1), FUZZ_ARGS (extra libFuzzer flags).
#
# New inputs go to fuzz/target/corpus/<target> (ignored by git), seeded from the checked-in
# fuzz/corpus/<target> and fuzz/regressions/<target>, which the run never modifies. A crash
# leaves its input in fuzz/artifacts/<target>/; see the README for minimizing it and adding it
# to fuzz/regressions/.
set -euo pipefail

secs=${1:-60}
shift || true
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 0 ]; then targets=("$@"); else targets=(frame connection server text); fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "run.sh: the nightly toolchain is not installed (rustup toolchain install nightly)" >&2
    [ "${KEEL_FUZZ_REQUIRED:-0}" = 1 ] && exit 1
    echo "run.sh: skipping the fuzz run" >&2
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi

sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}
cd "$here/.."
# -a: debug assertions and overflow checks on, so arithmetic overflow in the core is a crash.
build=(--fuzz-dir "$here" -O -a -s "$sanitizer")

for t in "${targets[@]}"; do
    cargo +nightly fuzz build "${build[@]}" "$t"
done

status=0
for t in "${targets[@]}"; do
    work="$here/target/corpus/$t"
    mkdir -p "$work"
    dirs=("$work" "$here/corpus/$t")
    [ -d "$here/regressions/$t" ] && dirs+=("$here/regressions/$t")
    echo "=== fuzzing $t for ${secs}s" >&2
    # shellcheck disable=SC2086
    if ! cargo +nightly fuzz run "${build[@]}" -j "$jobs" "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 ${FUZZ_ARGS:-}; then
        echo "run.sh: $t failed; the crashing input is in $here/artifacts/$t/" >&2
        status=1
        break
    fi
done
exit $status
