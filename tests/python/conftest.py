"""Fixtures for the Python-client end-to-end tests.

`server` starts a fresh server per test, parametrized over keel's three drivers (`keel-mio`,
`keel-poll`, `keel-uring`) plus real memcached as the oracle, and kills it when the test ends, pass or fail.
The keel binary is $KEEL_BIN if set, else <target>/debug/keel (honouring $CARGO_TARGET_DIR),
built once with `cargo build -p keel-server --bin keel` if missing. A missing tool fails the test.
"""

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_build_lock = threading.Lock()
_build_error = []


def keel_bin() -> Path:
    if os.environ.get("KEEL_BIN"):
        path = Path(os.environ["KEEL_BIN"])
        assert path.is_file(), f"KEEL_BIN={path} does not exist"
        return path
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    path = target / "debug" / "keel"
    with _build_lock:
        assert not _build_error, _build_error[0]
        if not path.is_file():
            done = subprocess.run(["cargo", "build", "-p", "keel-server", "--bin", "keel"], cwd=ROOT, timeout=900)
            if done.returncode != 0:
                _build_error.append(f"`cargo build -p keel-server --bin keel` failed ({done.returncode})")
                raise AssertionError(_build_error[0])
    assert path.is_file(), f"{path} missing after cargo build"
    return path


def user_args():
    """`-u root` when running as root: keel, like memcached, refuses to run as root without -u."""
    return ["-u", "root"] if os.geteuid() == 0 else []


class Server:
    """A running server process on 127.0.0.1; `address` is "127.0.0.1:PORT"."""

    def __init__(self, kind: str, extra_args=()):
        self.kind = kind
        if kind == "memcached":
            self._start_memcached(extra_args)
        else:
            self._start_keel(kind.split("-", 1)[1], extra_args)
        self.address = f"127.0.0.1:{self.port}"

    def _start_keel(self, driver, extra_args):
        cmd = [str(keel_bin()), "-p", "0", "-l", "127.0.0.1", "--driver", driver, *user_args(), *extra_args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        line = _readline_with_timeout(self.proc, 10.0)
        prefix, suffix = "keel listening on 127.0.0.1:", f" (driver {driver})"
        assert line.startswith(prefix) and line.endswith(suffix), f"unexpected ready line {line!r}"
        self.port = int(line[len(prefix) : -len(suffix)])
        # Keep draining stdout so the server can never block on it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def _start_memcached(self, extra_args):
        assert shutil.which("memcached"), "memcached is not installed (apt-get install -y memcached)"
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            cmd = ["memcached", "-p", str(self.port), "-l", "127.0.0.1", "-U", "0", "-t", "1", *user_args(), *extra_args]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.01)
            self.stop()
        raise AssertionError("memcached did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def _readline_with_timeout(proc, timeout):
    result = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not result:
        proc.kill()
        raise AssertionError(f"no ready line within {timeout}s")
    return result[0].decode(errors="replace").rstrip("\n")


@pytest.fixture(params=["keel-mio", "keel-poll", "keel-uring", "memcached"])
def server(request):
    srv = Server(request.param)
    try:
        yield srv
    finally:
        srv.stop()
