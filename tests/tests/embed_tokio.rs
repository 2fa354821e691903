//! The tokio embedding example (`embed-tokio/`, package `keel-embed-tokio`) as a real server:
//! `memccapable -b` and `memccapable -a` pass against it with the same test lists as against
//! memcached, the text and binary protocols share its port, a pipelined burst bigger than the
//! output bound is answered in full, the core's idle deadline closes an idle connection on time,
//! and SIGINT shuts it down gracefully (exit 0, the open connection closed).
//!
//! The binary is `<target>/<profile>/keel-embed-tokio` next to the running test executable
//! (`cargo build --workspace` puts it there); if it is missing it is built once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use keel_tests::server::{require_tool, workspace_root};
use keel_tests::text::{TextConn, run_bounded};
use keel_tests::{Client, Kind, Request, Server, op, status};

const PACKAGE: &str = "keel-embed-tokio";

/// The example binary, building it once if needed.
fn embed_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(locate_or_build)
        .clone()
        .unwrap_or_else(|e| panic!("{PACKAGE} binary unavailable: {e}"))
}

fn locate_or_build() -> Result<PathBuf, String> {
    // The test executable lives in <target>/<profile>/deps/.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target dir")?
        .to_path_buf();
    let bin = profile_dir.join(PACKAGE);
    if bin.is_file() {
        return Ok(bin);
    }
    let target_dir = profile_dir.parent().ok_or("cannot locate the target dir")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", PACKAGE])
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo build: {e}"))?;
    if !status.success() || !bin.is_file() {
        return Err(format!(
            "`cargo build -p {PACKAGE}` failed ({status}); expected {}",
            bin.display()
        ));
    }
    Ok(bin)
}

/// A running `keel-embed-tokio -p 0`; SIGKILLed on drop.
struct Embedded {
    child: Child,
    port: u16,
}

impl Embedded {
    /// Starts it and reads the port from its ready line; fails the test if none comes in 10 s.
    fn start() -> Embedded {
        Embedded::start_with(&[])
    }

    /// `start` with further arguments.
    fn start_with(args: &[&str]) -> Embedded {
        let bin = embed_bin();
        let mut child = Command::new(&bin)
            .args(["-p", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        let Some(stdout) = child.stdout.take() else {
            unreachable!("stdout is piped above");
        };
        let rx = keel_tests::server::first_stdout_line(stdout);
        let mut server = Embedded { child, port: 0 };
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("keel-embed-tokio printed no ready line within 10 s");
        server.port = line
            .trim_end()
            .strip_prefix("keel-embed-tokio listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}"));
        assert_ne!(server.port, 0, "ready line reports port 0");
        server
    }

    /// Sends `signal` and waits up to `within` for the exit status.
    fn signal_and_wait(&mut self, signal: i32, within: Duration) -> std::process::ExitStatus {
        // SAFETY: kill(2) with the pid of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                return status;
            }
            assert!(
                start.elapsed() < within,
                "no exit within {within:?} of signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs memccapable with `mode_args` against 127.0.0.1:`port`; returns the tests it ran,
/// asserting each passed and the tool exited 0.
fn memccapable(port: u16, mode_args: &[&str]) -> Vec<String> {
    require_tool("memccapable", "libmemcached-tools");
    let port = port.to_string();
    let mut args = mode_args.to_vec();
    args.extend(["-t", "5", "-h", "127.0.0.1", "-p", &port]);
    let out = run_bounded(
        Command::new("memccapable").args(&args),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("memccapable {args:?}:\n{stdout}\n{stderr}");
    assert!(out.status.success(), "exit {:?}\n{report}", out.status);
    let results: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with("ascii ") || l.starts_with("binary "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for line in &results {
        assert!(line.ends_with("[pass]"), "{line:?} did not pass\n{report}");
    }
    assert!(stdout.contains("All tests passed"), "{report}");
    assert!(!stderr.to_lowercase().contains("fail"), "{report}");
    results
}

#[test]
fn memccapable_binary_passes() {
    let server = Embedded::start();
    let ran = memccapable(server.port, &["-b"]);
    assert_eq!(
        ran.len(),
        27,
        "memccapable -b runs 27 binary tests: {ran:?}"
    );
    assert!(ran.iter().all(|t| t.starts_with("binary ")), "{ran:?}");
}

#[test]
fn memccapable_ascii_passes_as_against_memcached() {
    let server = Embedded::start();
    let ran = memccapable(server.port, &["-a"]);
    assert!(ran.iter().all(|t| t.starts_with("ascii ")), "{ran:?}");
    let memcached = Server::start(Kind::Memcached);
    assert_eq!(
        ran,
        memccapable(memcached.port, &["-a"]),
        "test list differs from memcached's"
    );
}

/// Text and binary clients on one port, and a pipelined burst whose answers (about 4 MiB) pass
/// the core's 1 MiB output bound: the reader is held back, then resumed as the writer drains.
#[test]
fn both_protocols_and_backpressure() {
    let server = Embedded::start();
    let mut text = TextConn::connect(server.port);
    let value = vec![b'v'; 64 << 10];
    let mut set = format!("set big 7 0 {}\r\n", value.len()).into_bytes();
    set.extend_from_slice(&value);
    set.extend_from_slice(b"\r\n");
    assert_eq!(text.call(&set), b"STORED\r\n");

    let mut binary = Client::connect(server.port).expect("connect");
    let hit = binary.call(&Request::get(op::GET, "big"));
    assert_eq!(hit.status, status::SUCCESS);
    assert_eq!(hit.flags(), Some(7));
    assert_eq!(hit.value, value);

    let gets = 64;
    let burst = "get big\r\n".repeat(gets);
    text.send(burst.as_bytes());
    let mut one = format!("VALUE big 7 {}\r\n", value.len()).into_bytes();
    one.extend_from_slice(&value);
    one.extend_from_slice(b"\r\nEND\r\n");
    let reply = text.call(b"");
    assert_eq!(reply.len(), one.len() * gets);
    assert!(reply.chunks(one.len()).all(|chunk| chunk == one));
}

/// The core's idle deadline reaches tokio as a timer: an idle connection is closed after
/// `--idle-timeout`, one that keeps talking is not.
#[test]
fn idle_connections_are_closed_on_the_cores_deadline() {
    let server = Embedded::start_with(&["--idle-timeout", "1"]);
    let mut idle = TextConn::connect_with(server.port, Duration::from_secs(5));
    let mut busy = TextConn::connect(server.port);
    let start = Instant::now();
    assert_eq!(idle.call(b"set k 0 0 1\r\nx\r\n"), b"STORED\r\n");
    while start.elapsed() < Duration::from_millis(1500) {
        assert_eq!(busy.call(b"get k\r\n"), b"VALUE k 0 1\r\nx\r\nEND\r\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(idle.read_to_close(), b"");
    let closed_after = start.elapsed();
    assert!(
        closed_after >= Duration::from_secs(1) && closed_after < Duration::from_secs(4),
        "closed after {closed_after:?}"
    );
    assert_eq!(busy.call(b"get k\r\n"), b"VALUE k 0 1\r\nx\r\nEND\r\n");
}

#[test]
fn sigint_shuts_down_gracefully() {
    let mut server = Embedded::start();
    let mut text = TextConn::connect(server.port);
    assert_eq!(text.call(b"set k 0 0 2\r\nhi\r\n"), b"STORED\r\n");
    let status = server.signal_and_wait(libc::SIGINT, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status:?}");
    // The idle connection was closed by the shutdown, not left open.
    assert_eq!(text.read_to_close(), b"");
}
