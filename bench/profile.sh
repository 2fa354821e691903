#!/usr/bin/env bash
# Where a server's CPU goes under load: user vs kernel time, syscalls per request, and a sampled
# profile (perf, software clock) split by binary and by syscall. One command:
#
#   bash bench/profile.sh [CONNS] [SERVER]     # SERVER: mio (default), poll, uring or memcached
#
# Loads the server with keel-loadgen (closed loop, depth 1, 32-byte values, 9:1 get:set) for 8 s and
# samples the server for the middle 4 s. Needs `perf` (Debian: linux-perf) and root or a low
# kernel.perf_event_paranoid.
set -euo pipefail
cd "$(dirname "$0")/.."
conns="${1:-50}"
driver="${2:-mio}"
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p keel-server -p keel-bench
bin="$CARGO_TARGET_DIR/release"
out="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
if [ "$driver" = memcached ]; then
  memcached -u root -l 127.0.0.1 -p "$port" -U 0 -t 1 -c $((conns + 100)) >/dev/null 2>&1 &
  name=memcached
else
  "$bin/keel" -u root -l 127.0.0.1 -p "$port" --driver "$driver" -c $((conns + 100)) >/dev/null 2>&1 &
  name="keel-$driver"
fi
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 1 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
"$bin/keel-loadgen" -s "127.0.0.1:$port" -c "$conns" -t 8 -w 0 --json >"$out/load.json" &
load=$!
sleep 2
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
perf stat -x, -e 'syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_io_uring_enter' \
  -p "$pid" -o "$out/stat.csv" -- sleep 2
perf record -q -e cpu-clock -F 2000 -g -p "$pid" -o "$out/perf.data" -- sleep 2 2>/dev/null
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
wait "$load"
echo "# $name, $conns connections: $(python3 -c "import json; d=json.load(open('$out/load.json')); print(f\"{d['throughput']:,.0f} req/s\")")"
echo "server CPU over 4 s: user $((u1 - u0)) ticks, system $((s1 - s0)) ticks"
awk -F, '/syscalls/ { sub("syscalls:sys_enter_", "", $3); n[$3] = $1 } END {
  reads = n["read"] + n["recvfrom"]; sends = n["sendto"] + n["sendmsg"]
  if (reads == 0) { printf "syscalls in 2 s: %d io_uring_enter, no reads or sends\n", n["io_uring_enter"]; exit }
  printf "syscalls in 2 s: %d reads, %.3f sends and %.3f epoll_wait per read\n",
    reads, sends / reads, n["epoll_wait"] / reads }' "$out/stat.csv"
echo "samples by binary:"
perf report -i "$out/perf.data" --no-children --sort dso -g none 2>/dev/null | grep -E '^ +[0-9]' | head -4
echo "samples under each syscall (inclusive):"
perf report -i "$out/perf.data" --children --sort sym -g none 2>/dev/null |
  grep -E '\[k\] (__x64_sys_(read|recvfrom|sendto|sendmsg|epoll_wait)|__do_sys_io_uring_enter)$' | awk '{print "  " $1, $NF}'
echo "top symbols:"
perf report -i "$out/perf.data" --no-children --sort sym -g none 2>/dev/null | grep -E '^ +[0-9]' | head -12
