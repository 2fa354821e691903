#!/usr/bin/env bash
# TLS side by side (run through `bash bench/compare.sh tls`): keel -Z and memcached -Z, one worker
# thread each, the same certificate (made here, in a temporary directory, never kept), then keel
# plaintext for reference; keel-loadgen's closed loop (binary protocol, 50 connections, depth 1,
# 9:1 gets:sets, 32-byte values) against each in turn, with the server's CPU time sampled over
# the measured window. Prints one line per server and writes bench/results/tls.txt.
#
#   bash bench/compare.sh tls [DURATION_SECS] [ROUNDS]
set -euo pipefail
bin="$1"; duration="${2:-5}"; rounds="${3:-3}"
conns=50
dir="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
# A CA and a server certificate it signs (rustls, in keel-loadgen, takes no self-signed leaf).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 1 \
  -subj "/CN=keel bench CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.csr" \
  -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dir/san.ext"
openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -out "$dir/cert.pem" -days 1 -extfile "$dir/san.ext" 2>/dev/null
chmod 755 "$dir"; chmod 644 "$dir"/*.pem
ssl="ssl_chain_cert=$dir/cert.pem,ssl_key=$dir/key.pem"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

# name, tls (yes/no), command...
run_one() {
  local name="$1" tls="$2"; shift 2
  local port; port="$(free_port)"
  "$@" -p "$port" >/dev/null 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_port "$port"
  local tls_args=()
  [ "$tls" = yes ] && tls_args=(--tls-ca "$dir/ca.pem")
  for round in $(seq "$rounds"); do
    "$bin/keel-loadgen" -s "127.0.0.1:$port" -c "$conns" -d 1 -t "$duration" -w 1 \
      --server-pid "$pid" --label "$name round $round" "${tls_args[@]}"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

user=(); [ "$(id -u)" = 0 ] && user=(-u root)
mkdir -p bench/results
{
  run_one "keel-mio -Z" yes "$bin/keel" "${user[@]}" -t 1 -l 127.0.0.1 --idle-timeout 0 -Z -o "$ssl"
  run_one "memcached -Z" yes memcached "${user[@]}" -t 1 -U 0 -l 127.0.0.1 -Z -o "$ssl"
  run_one "keel-mio plaintext" no "$bin/keel" "${user[@]}" -t 1 -l 127.0.0.1 --idle-timeout 0
  run_one "memcached plaintext" no memcached "${user[@]}" -t 1 -U 0 -l 127.0.0.1
} | tee bench/results/tls.txt
