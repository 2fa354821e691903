#!/usr/bin/env bash
# Syscalls per request of a keel driver under closed-loop load, counted two ways over a window in
# the middle of the run:
#   - every syscall the server makes (`perf stat -e raw_syscalls:sys_enter`, in-kernel counting:
#     the server runs at full speed), per request served in the window (the server's own
#     cmd_get + cmd_set before and after);
#   - `strace -c -f` over the same length of window, for the breakdown by syscall (ptrace slows
#     the server, which changes how much each turn batches: its per-request figure is the slowed
#     server's).
#
#   bash bench/syscalls.sh [DRIVER] [CONNS] [DEPTH] [THREADS]    # defaults: uring 50 1 4
set -euo pipefail
cd "$(dirname "$0")/.."
driver="${1:-uring}"
conns="${2:-50}"
depth="${3:-1}"
threads="${4:-4}"
for tool in perf strace python3; do
  command -v "$tool" >/dev/null || { echo "syscalls.sh: $tool not found" >&2; exit 1; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p keel-server -p keel-bench
bin="$CARGO_TARGET_DIR/release"
out="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
"$bin/keel" -u root -l 127.0.0.1 -p "$port" --driver "$driver" -t "$threads" \
  -c $((conns + 100)) --idle-timeout 0 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
served() {
  python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"stats\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    buf += s.recv(65536)
stats = dict(l.split()[1:3] for l in buf.decode().splitlines() if l.startswith("STAT "))
print(int(stats["cmd_get"]) + int(stats["cmd_set"]))
PY
}
"$bin/keel-loadgen" -s "127.0.0.1:$port" -c "$conns" -d "$depth" -t 12 -w 0 --json >"$out/load.json" &
load=$!
sleep 3
r0=$(served)
perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$out/perf.csv" -- sleep 3
r1=$(served)
strace -c -f -p "$pid" -o "$out/strace.txt" &
st=$!
s0=$(served)
sleep 3
s1=$(served)
kill -INT $st; wait $st 2>/dev/null || true
wait "$load"
calls=$(awk -F, '/raw_syscalls/ {print $1}' "$out/perf.csv")
echo "# keel-$driver, $conns connections, depth $depth, -t $threads"
python3 -c "r=$r1-$r0; c=$calls; print(f'perf (full speed): {c:,} syscalls / {r:,} requests in 3 s = {c/r:.4f} per request ({r/3:,.0f} req/s)')"
total=$(awk '$NF == "total" {print $4}' "$out/strace.txt")
python3 -c "r=$s1-$s0; c=$total; print(f'strace -c -f (slowed): {c:,} syscalls / {r:,} requests in 3 s = {c/r:.4f} per request ({r/3:,.0f} req/s)')"
head -n 12 "$out/strace.txt"
