//! Starting and stopping the servers under test: keel (either driver) and memcached, on free
//! loopback ports, optionally under valgrind.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub name: String,
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    _stdout: Option<BufReader<ChildStdout>>,
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// The `keel` binary next to this executable (same target directory), unless `KEEL_BIN` says.
pub fn keel_bin() -> PathBuf {
    if let Ok(p) = std::env::var("KEEL_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().unwrap().join("keel")
}

pub fn memcached_bin() -> PathBuf {
    PathBuf::from(std::env::var("MEMCACHED_BIN").unwrap_or_else(|_| "memcached".into()))
}

fn wrap(valgrind: Option<&[String]>, bin: &Path) -> Command {
    match valgrind {
        Some(args) => {
            let mut c = Command::new("valgrind");
            c.args(args).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

fn wait_connectable(addr: SocketAddr, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!("server exited early: {st}"));
        }
        if t0.elapsed() > timeout {
            return Err(format!("server not listening on {addr} after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// keel `-u root` with `--driver driver`, `-t threads`, `-c conn_limit`, `-m mem_mb`, idle
/// timeout off.
pub fn start_keel(
    driver: &str,
    threads: usize,
    conn_limit: u32,
    mem_mb: u32,
    valgrind: Option<&[String]>,
) -> Result<Server, String> {
    let bin = keel_bin();
    let port = free_port();
    let mut cmd = wrap(valgrind, &bin);
    // keel, like memcached, refuses to run as root without -u (ignored when not root).
    cmd.args([
        "-u",
        "root",
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--driver",
        driver,
        "-t",
        &threads.to_string(),
        "-c",
        &conn_limit.to_string(),
        "-m",
        &mem_mb.to_string(),
        "--idle-timeout",
        "0",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).map_err(|e| e.to_string())?;
    if !line.contains("listening on") {
        let _ = child.kill();
        return Err(format!("keel did not start: {line:?}"));
    }
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_connectable(addr, &mut child, Duration::from_secs(30))?;
    Ok(Server {
        name: format!("keel-{driver}"),
        pid: child.id(),
        child,
        addr,
        _stdout: Some(out),
    })
}

/// memcached `-t threads -U 0 -u root` plus `-c conn_limit -m mem_mb`.
pub fn start_memcached(
    threads: usize,
    conn_limit: u32,
    mem_mb: u32,
    valgrind: Option<&[String]>,
) -> Result<Server, String> {
    let bin = memcached_bin();
    let port = free_port();
    let mut cmd = wrap(valgrind, &bin);
    if valgrind.is_some() {
        // memcached 1.6 sets RLIMIT_NOFILE to exactly {-c, -c}; valgrind only allows a hard
        // limit equal to its own, which is the limit at start minus 12 reserved fds, so set both.
        use std::os::unix::process::CommandExt;
        let soft = u64::from(conn_limit) + 12;
        // SAFETY: only async-signal-safe calls (getrlimit/setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let mut rl: libc::rlimit = std::mem::zeroed();
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
                rl.rlim_cur = soft as libc::rlim_t;
                rl.rlim_max = soft as libc::rlim_t;
                libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
                Ok(())
            });
        }
    }
    cmd.args([
        "-t",
        &threads.to_string(),
        "-U",
        "0",
        "-u",
        "root",
        "-l",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-c",
        &conn_limit.to_string(),
        "-m",
        &mem_mb.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_connectable(addr, &mut child, Duration::from_secs(30))?;
    Ok(Server {
        name: "memcached".into(),
        pid: child.id(),
        child,
        addr,
        _stdout: None,
    })
}

impl Server {
    /// The same server under another name in the results.
    pub fn renamed(mut self, name: &str) -> Server {
        self.name = name.to_owned();
        self
    }

    /// SIGTERM, then wait (both servers exit cleanly on it, so callgrind writes its profile).
    pub fn stop(mut self) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if t0.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}
