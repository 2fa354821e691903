#!/usr/bin/env python3
"""Warm-restart time: load N items (16-byte keys, 32-byte values) into a server started with
`-e /dev/shm/keel-warm-bench`, stop it gracefully, start it again on the same file and time the
start until the first accepted connection; print how many items came back.

    python3 bench/warm_restore.py target/release/keel 1000000 1 1024   # BIN N THREADS MIB
    python3 bench/warm_restore.py memcached 1000000 1 1024              # memcached's own -e

With CALLGRIND=1 in the environment the restart runs under valgrind --tool=callgrind, and the
instructions from start to the first connection (the restore, deterministic) are printed too:

    CALLGRIND=1 python3 bench/warm_restore.py target/release/keel 1000000 1 1024

keel is stopped with SIGTERM; memcached with SIGUSR1 (the only stop it restores from), followed by
1.1 s of sleep, since memcached drops its cache when restarted within the second it stopped in.
"""
import os, re, socket, subprocess, sys, time

bin, n, threads, mib = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
memcached = os.path.basename(bin) == "memcached"
path, port = "/dev/shm/keel-warm-bench", 23600
callgrind = os.environ.get("CALLGRIND") == "1"


def start(grind=False):
    args = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/tmp/warm-restore.cg"] if grind else []
    args += [bin, "-u", "root", "-p", str(port), "-U", "0", "-m", mib, "-t", threads, "-e", path]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while True:
        try:
            return p, socket.create_connection(("127.0.0.1", port)), time.time() - t0
        except OSError:
            time.sleep(0.002)


def stats(s):
    f = s.makefile("rb")
    s.sendall(b"stats\r\n")
    out = b""
    while not out.endswith(b"END\r\n"):
        out += f.readline()
    return dict(re.findall(rb"STAT (\S+) (\S+)", out))


os.system(f"rm -f {path} {path}.meta")
p, s, _ = start()
f = s.makefile("rb")
B = 20000
for b in range(0, n, B):
    req = b"".join(b"set key:%011d 0 0 32 noreply\r\n%032x\r\n" % (i, i) for i in range(b, min(n, b + B)))
    s.sendall(req + b"mn\r\n")
    assert f.readline() == b"MN\r\n"
s.close()
p.send_signal(10 if memcached else 15)
p.wait()
if memcached:
    time.sleep(1.1)
p, s, ready = start(callgrind)
items = stats(s)[b"curr_items"].decode()
p.send_signal(15)
p.wait()
grind = ""
if callgrind:
    totals = re.search(r"(?m)^(?:summary|totals): (\d+)", open("/tmp/warm-restore.cg").read())
    grind = f", {int(totals.group(1)):,} instructions start to stop (callgrind)"
    os.remove("/tmp/warm-restore.cg")
print(f"{os.path.basename(bin)} -t {threads} -m {mib}: {n} items loaded, {items} back, start to ready {ready:.3f} s{grind}")
os.system(f"rm -f {path} {path}.meta")
