#!/usr/bin/env bash
# The one command that installs what the test suite needs and runs all of it:
#   bash scripts/test.sh
# Idempotent; on a fresh Debian machine (as root) it installs memcached, libmemcached-tools, nutcracker
# (twemproxy) and the Python packages (python-binary-memcached, pymemcache, python-memcached, pytest)
# when they are missing. Every step must pass:
# the script exits non-zero on the first failing step and prints each runner's closing summary.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# ---- prerequisites -------------------------------------------------------------------------
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

if ! command -v memcached >/dev/null || ! command -v memccapable >/dev/null; then
    log "installing memcached and libmemcached-tools"
    apt_install memcached libmemcached-tools
fi
if ! command -v python3 >/dev/null; then
    log "installing python3"
    apt_install python3 python3-pip
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    log "installing pip"
    apt_install python3-pip
fi
pip_install() {
    # PEP 668 (Debian 12+) marks the system Python as externally managed: retry with the override.
    python3 -m pip install --quiet "$@" 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages "$@"
}
if ! python3 -c 'import bmemcached' 2>/dev/null; then
    log "installing python-binary-memcached"
    pip_install python-binary-memcached
fi
if ! python3 -c 'import pytest' 2>/dev/null; then
    log "installing pytest"
    pip_install pytest
fi
if ! python3 -c 'import pymemcache' 2>/dev/null; then
    log "installing pymemcache"
    pip_install pymemcache
fi
if ! python3 -c 'import memcache' 2>/dev/null; then
    log "installing python-memcached"
    pip_install python-memcached
fi
# Debian installs nutcracker in /usr/sbin, which a non-root PATH may lack.
if ! command -v nutcracker >/dev/null && [ ! -x /usr/sbin/nutcracker ]; then
    log "installing nutcracker (twemproxy)"
    apt_install nutcracker
fi
if ! command -v ss >/dev/null; then
    log "installing iproute2 (ss reads the listen backlog in tests/tests/cli.rs)"
    apt_install iproute2
fi
if ! command -v openssl >/dev/null; then
    log "installing openssl (tests/tests/tls.rs makes its certificates with it)"
    apt_install openssl
fi
for tool in ss openssl memcached memccapable memccp memccat memcexist memctouch memcrm memcstat memcflush; do
    command -v "$tool" >/dev/null || { echo "missing $tool after installation" >&2; exit 1; }
done
command -v nutcracker >/dev/null || [ -x /usr/sbin/nutcracker ] || { echo "missing nutcracker after installation" >&2; exit 1; }

# ---- the suite -----------------------------------------------------------------------------
summary=()
record() { summary+=("$1"); }

log "cargo build --workspace --all-targets"
cargo build --workspace --all-targets
record "cargo build: ok"

log "cargo test --workspace"
cargo_log=$(mktemp)
trap 'rm -f "$cargo_log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$cargo_log"
status=${PIPESTATUS[0]}
set -e
count() { grep -E '^test result:' "$cargo_log" | sed -nE "s/.* ([0-9]+) $1.*/\1/p" | awk '{ s += $1 } END { print s + 0 }'; }
passed=$(count passed)
failed=$(count failed)
log "cargo test summary"
grep -E '^(test result:|     Running|   Doc-tests)' "$cargo_log" || true
if [ "$status" -ne 0 ]; then
    echo "cargo test --workspace FAILED (exit $status)" >&2
    exit "$status"
fi
record "cargo test: ok ($passed passed, $failed failed)"

log "cargo test -p keel-core --features shuttle --test shuttle (model checking the shared structures)"
cargo test -p keel-core --features shuttle --test shuttle 2>&1 | tee "$cargo_log"
grep -E '^test result:' "$cargo_log"
record "shuttle model checks: ok ($(count passed) passed)"

# The workers default to -t 4 everywhere above; the binary and text oracles, the real-client
# suites and the concurrency-free limits run again on a single worker (the plain cache).
log "cargo test -p keel-tests (oracles, clients, limits) with KEEL_TEST_THREADS=1"
KEEL_TEST_THREADS=1 cargo test -p keel-tests --test oracle --test text_oracle --test text_differential \
    --test third_party_tools --test limits --test limits_socket 2>&1 | tee "$cargo_log"
grep -E '^test result:' "$cargo_log"
record "cargo test -t 1 subset: ok ($(count passed) passed, $(count failed) failed)"

log "cargo doc --no-deps, rustdoc warnings as errors (not keel-server: its doc comments are its clap --help texts, which write [v6] for an IPv6 address and rustdoc reads that as a link); keel-core, the drivers and keel-transport deny missing docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --exclude keel-server
# The public surface without keel-core's unstable internals, as an embedder sees it, then with them.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p keel-core -p keel-driver-common -p keel-driver-mio \
    -p keel-driver-poll -p keel-driver-uring -p keel-transport
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p keel-core --features internals
record "cargo doc: ok"

log "cargo publish --dry-run -p keel-core (packages and builds the crate as crates.io would; reads the crates.io index)"
cargo publish --dry-run -p keel-core --allow-dirty
record "keel-core publish dry run: ok"

log "pytest tests/python"
python3 -m pytest tests/python -q -p no:cacheprovider
record "pytest: ok"

if [ -f fuzz/Cargo.toml ]; then
    log "cargo test --manifest-path fuzz/Cargo.toml (corpus replay on stable)"
    if ! cargo test --manifest-path fuzz/Cargo.toml 2>&1 | tail -n 30; then
        echo "fuzz corpus replay FAILED" >&2
        exit 1
    fi
    record "fuzz corpus replay: ok"
fi

# ---- the time-boxed fuzzing step (nightly, cargo-fuzz) ---------------------------------------
# It needs the nightly toolchain: installed here when missing, and a missing toolchain fails the
# suite (KEEL_FUZZ_REQUIRED) instead of skipping the step.
if ! cargo +nightly --version >/dev/null 2>&1; then
    log "installing the nightly toolchain (cargo fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
log "bash fuzz/run.sh 60"
KEEL_FUZZ_REQUIRED=1 bash fuzz/run.sh 60
record "fuzz run (60 s): ok"

log "summary"
printf '  %s\n' "${summary[@]}"
