//! Server-process helper: start `keel` (any driver) or a real memcached on a loopback port,
//! learn its port, and make sure it dies with the test.
//!
//! keel is started as `keel -p 0 -l 127.0.0.1 --driver D …` (plus `-u root` when the tests run as
//! root: keel, like memcached, refuses to run as root without `-u`) and must print exactly one
//! ready line,
//! `keel listening on 127.0.0.1:PORT (driver D)`, which gives the port. memcached (the oracle) has no
//! such line, so it gets a free port picked here and is polled until it accepts. A [`Server`] is killed
//! (SIGKILL) when dropped, so a failing test never leaves a process behind; its stderr goes to a log
//! file whose tail is printed when the test panics.
//!
//! The keel binary is `$KEEL_BIN` if set, else `<target>/<profile>/keel` next to the running test
//! executable; if it is missing it is built once (`cargo build -p keel-server --bin keel`).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// keel with `--driver mio`.
    KeelMio,
    /// keel with `--driver poll`.
    KeelPoll,
    /// keel with `--driver uring`.
    KeelUring,
    /// Real memcached, the oracle.
    Memcached,
}

impl Kind {
    /// Every keel driver.
    pub const KEEL: [Kind; 3] = [Kind::KeelMio, Kind::KeelPoll, Kind::KeelUring];

    pub fn name(self) -> &'static str {
        match self {
            Kind::KeelMio => "keel-mio",
            Kind::KeelPoll => "keel-poll",
            Kind::KeelUring => "keel-uring",
            Kind::Memcached => "memcached",
        }
    }

    /// keel's `--driver` value; `None` for memcached.
    pub fn driver(self) -> Option<&'static str> {
        match self {
            Kind::KeelMio => Some("mio"),
            Kind::KeelPoll => Some("poll"),
            Kind::KeelUring => Some("uring"),
            Kind::Memcached => None,
        }
    }

    pub fn is_keel(self) -> bool {
        self != Kind::Memcached
    }
}

/// Options shared by keel and memcached (each translated to the server's own flags).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-c N`
    pub conn_limit: Option<u32>,
    /// `-m MiB`
    pub memory_mib: Option<u32>,
    /// `-I SIZE` (e.g. "1m")
    pub max_item_size: Option<String>,
    /// `--idle-timeout SECS` (memcached: `-o idle_timeout=SECS`)
    pub idle_timeout: Option<u32>,
    /// `--poll-timeout-ms MS` (keel only)
    pub poll_timeout_ms: Option<u32>,
    /// `-F`: flush disabled
    pub flush_disabled: bool,
    /// Further arguments appended verbatim to the server's command line (each server kind has
    /// its own flags: e.g. `--read-timeout 1` for keel, `-o slab_chunk_max=2048` for memcached).
    pub extra_args: Vec<String>,
    /// keel only: the open-file limit (soft and hard) the server starts with.
    pub nofile: Option<u64>,
}

impl Options {
    /// The flags keel and memcached spell the same way: `-c`, `-m`, `-I`, `-F`.
    fn common_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(c) = self.conn_limit {
            args.extend(["-c".into(), c.to_string()]);
        }
        if let Some(m) = self.memory_mib {
            args.extend(["-m".into(), m.to_string()]);
        }
        if let Some(i) = &self.max_item_size {
            args.extend(["-I".into(), i.clone()]);
        }
        if self.flush_disabled {
            args.push("-F".into());
        }
        args
    }
}

/// A running server process; SIGKILLed on drop.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn log_path(kind: Kind) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "keel-e2e-{}-{}-{n}.log",
        std::process::id(),
        kind.name()
    ))
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Path of the keel binary, building it once if needed. Panics (the test fails) if it cannot.
pub fn keel_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(locate_or_build)
        .clone()
        .unwrap_or_else(|e| panic!("keel binary unavailable: {e}"))
}

fn locate_or_build() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("KEEL_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("KEEL_BIN={} does not exist", bin.display()))
        };
    }
    // The test executable lives in <target>/<profile>/deps/; keel is <target>/<profile>/keel.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target dir")?
        .to_path_buf();
    let bin = profile_dir.join("keel");
    if bin.is_file() {
        return Ok(bin);
    }
    let target_dir = profile_dir.parent().ok_or("cannot locate the target dir")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "-p", "keel-server", "--bin", "keel"])
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo build: {e}"))?;
    if !status.success() || !bin.is_file() {
        return Err(format!(
            "`cargo build -p keel-server --bin keel` failed ({status}); expected {}",
            bin.display()
        ));
    }
    Ok(bin)
}

/// Picks a currently free loopback port (for memcached, which cannot report an ephemeral port).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `-u root` when the tests run as root, else nothing: keel and memcached both refuse to run as
/// root without `-u`. Every command line that starts either server includes these.
pub fn user_args() -> Vec<String> {
    if is_root() {
        vec!["-u".into(), "root".into()]
    } else {
        Vec::new()
    }
}

/// `-t N` from `$KEEL_TEST_THREADS` when set: the test command runs chosen suites a second time
/// with `-t 1` this way (parametrised over thread counts, not copied). A test's own `-t` in
/// `extra_args` comes later on the command line and wins.
pub fn threads_args() -> Vec<String> {
    match std::env::var("KEEL_TEST_THREADS") {
        Ok(threads) if !threads.is_empty() => vec!["-t".into(), threads],
        _ => Vec::new(),
    }
}

impl Server {
    /// Starts a server of `kind` with default options.
    pub fn start(kind: Kind) -> Server {
        Server::start_with(kind, &Options::default())
    }

    /// Starts a server of `kind` with `opts`; panics (fails the test) if it does not come up in 10 s.
    pub fn start_with(kind: Kind, opts: &Options) -> Server {
        match kind {
            Kind::Memcached => Server::start_memcached(opts),
            Kind::KeelMio | Kind::KeelPoll | Kind::KeelUring => Server::start_keel(kind, opts),
        }
    }

    fn start_keel(kind: Kind, opts: &Options) -> Server {
        let bin = keel_bin();
        let driver = kind.driver().expect("a keel kind");
        let mut args: Vec<String> = vec![
            "-p".into(),
            "0".into(),
            "-l".into(),
            "127.0.0.1".into(),
            "--driver".into(),
            driver.into(),
        ];
        args.extend(user_args());
        args.extend(threads_args());
        args.extend(opts.common_args());
        if let Some(t) = opts.idle_timeout {
            args.extend(["--idle-timeout".into(), t.to_string()]);
        }
        if let Some(t) = opts.poll_timeout_ms {
            args.extend(["--poll-timeout-ms".into(), t.to_string()]);
        }
        args.extend(opts.extra_args.iter().cloned());
        let log = log_path(kind);
        let mut command = Command::new(&bin);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("create server log"));
        if let Some(nofile) = opts.nofile {
            let limit = libc::rlimit {
                rlim_cur: nofile as libc::rlim_t,
                rlim_max: nofile as libc::rlim_t,
            };
            // SAFETY: runs in the child between fork and exec and only calls setrlimit, which is
            // async-signal-safe, with a pointer to a copied local.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let rx = first_stdout_line(stdout);
        let mut server = Server {
            kind,
            port: 0,
            child: Some(child),
            log,
        };
        let line = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(_) => panic!(
                "{} printed no ready line within 10 s; log:\n{}",
                kind.name(),
                server.log_tail()
            ),
        };
        let expected_prefix = "keel listening on 127.0.0.1:";
        let expected_suffix = format!(" (driver {driver})");
        let line = line.trim_end_matches('\n');
        let port = line
            .strip_prefix(expected_prefix)
            .and_then(|rest| rest.strip_suffix(expected_suffix.as_str()))
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected ready line {line:?} from `keel {}`; log:\n{}",
                    args.join(" "),
                    server.log_tail()
                )
            });
        assert_ne!(port, 0, "ready line reports port 0");
        server.port = port;
        server
    }

    fn start_memcached(opts: &Options) -> Server {
        for _attempt in 0..5 {
            let port = free_port();
            let mut args: Vec<String> = vec![
                "-p".into(),
                port.to_string(),
                "-l".into(),
                "127.0.0.1".into(),
                "-U".into(),
                "0".into(),
                "-t".into(),
                "1".into(),
            ];
            args.extend(user_args());
            args.extend(opts.common_args());
            if let Some(t) = opts.idle_timeout {
                args.extend(["-o".into(), format!("idle_timeout={t}")]);
            }
            args.extend(opts.extra_args.iter().cloned());
            let log = log_path(Kind::Memcached);
            let child = Command::new("memcached")
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&log).expect("create server log"))
                .spawn()
                .unwrap_or_else(|e| panic!("spawning memcached (apt-get install memcached): {e}"));
            let mut server = Server {
                kind: Kind::Memcached,
                port,
                child: Some(child),
                log,
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.as_mut().unwrap().try_wait() {
                    break; // exited: most likely the port was taken meanwhile; retry
                }
                if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    // The port was free when picked, but another process (another test's server)
                    // may have taken it before memcached bound it: only accept our own memcached.
                    if reports_pid(stream, server.pid()) {
                        return server;
                    }
                    break; // someone else's server: retry on another port
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("memcached did not start");
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server already reaped").id()
    }

    /// Sends `signal` to the server process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with a pid we spawned and have not reaped yet.
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.pid());
    }

    /// Whether the process has exited (without reaping it for good: the status is kept).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `within` for the process to exit; returns its status and how long it took,
    /// or None if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<(ExitStatus, Duration)> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return Some((status, start.elapsed()));
            }
            if start.elapsed() >= within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// The last ~4 KiB of the server's stderr.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4096);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- {} (port {}) log tail ----\n{}",
                self.kind.name(),
                self.port,
                self.log_tail()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Whether the server behind `stream` reports process id `pid` (text `stats`), within 2 s.
fn reports_pid(mut stream: std::net::TcpStream, pid: u32) -> bool {
    use std::io::Write;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"stats\r\n").is_err() {
        return false;
    }
    let want = format!("STAT pid {pid}\r\n");
    // With -Y memcached answers nothing before authentication; a port taken from under us by
    // another test's server answers so only if that server also runs -Y, which is rare enough.
    const UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated\r\n";
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(b"END\r\n") && got != UNAUTHENTICATED {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    got == UNAUTHENTICATED || String::from_utf8_lossy(&got).contains(&want)
}

/// Raises this process's RLIMIT_NOFILE soft limit to at least `want` (up to the hard limit, which
/// root may raise as well);
/// returns the resulting soft limit.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            if lim.rlim_max < want && libc::geteuid() == 0 {
                lim.rlim_max = want as libc::rlim_t; // root may raise the hard limit too
            }
            lim.rlim_cur = (want as libc::rlim_t).min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    lim.rlim_cur
}

/// A process-wide lock for tests that must not overlap (load, timing).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Asserts that a command-line tool is installed; the test fails (never skips) when it is not.
pub fn require_tool(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed (apt-get install -y {package}); scripts/test.sh installs it"
    );
}

/// Runs keel with `args` (on 127.0.0.1, a port the kernel picks, as the tests' user) where it
/// must refuse to start: within 10 s, with exit status `status` (memcached's for the same refusal
/// where it has one), nothing on stdout and one line on stderr; returns that line.
pub fn refused_start(status: i32, args: &[&str]) -> String {
    let out = crate::text::run_bounded(
        Command::new(keel_bin())
            .args(["-p", "0", "-l", "127.0.0.1"])
            .args(user_args())
            .args(args)
            .env_remove("MEMCACHED_SASL_PWDB"),
        Duration::from_secs(10),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(status),
        "keel {args:?}: {}; stderr {stderr:?}",
        out.status
    );
    assert!(stdout.is_empty(), "keel {args:?} printed {stdout:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "keel {args:?}: stderr {stderr:?}");
    assert!(stderr.ends_with('\n'));
    assert!(lines[0].starts_with("keel: "), "{stderr:?}");
    lines[0].to_string()
}

/// The first line a spawned server prints on stdout (its ready line), on a channel; a thread
/// keeps draining the rest, so the server can never block on a full stdout pipe.
pub fn first_stdout_line(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    rx
}
