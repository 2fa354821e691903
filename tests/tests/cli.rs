//! memcached's command line against keel and memcached 1.6.18 side by side: the same command lines
//! start both or are refused by both with the same message; `-d -P` leaves a live, detached
//! process behind a pid file in both; `stats settings` uses memcached's names, order and line shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use keel_tests::server::{keel_bin, require_tool, user_args};
use keel_tests::text::{TextConn, free_port, run_bounded};
use keel_tests::{Kind, Options, Server};

/// The settings keel prints that memcached has no key for: documented in the README.
const KEEL_OWN_SETTINGS: &[&str] = &["read_timeout"];

/// Runs a server that must refuse to start; returns its exit status code and every non-empty line
/// it printed (memcached prints some refusals on stdout, keel all of them on stderr).
fn refusal(program: &Path, args: &[String]) -> (i32, Vec<String>, String) {
    let out = run_bounded(Command::new(program).args(args), Duration::from_secs(10));
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{program:?} {args:?} killed: {}", out.status));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (code, lines, stdout)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `stats settings` as (key, value) pairs in order; every line must be `STAT key value`.
fn settings(port: u16) -> Vec<(String, String)> {
    let mut conn = TextConn::connect(port);
    conn.send(b"stats settings\r\n");
    let (reply, closed) = conn.read_until_suffix(b"END\r\n");
    assert!(!closed, "closed during stats settings");
    let text = String::from_utf8(reply).expect("stats settings is ASCII");
    text.strip_suffix("END\r\n")
        .expect("ends with END")
        .split_terminator("\r\n")
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            assert!(
                parts.len() == 3 && parts[0] == "STAT" && !parts[2].is_empty(),
                "not `STAT key value`: {line:?}"
            );
            (parts[1].to_owned(), parts[2].to_owned())
        })
        .collect()
}

/// The distribution's own command line for memcached starts keel too, and both report what it
/// set. (The harness adds `-p`, `-l 127.0.0.1` and `-u root`; the later `-u memcache` wins.)
fn memcacheds_command_line(kind: Kind) {
    require_tool("memcached", "memcached");
    let line = "-u memcache -m 1024 -U 0 -t 4 -c 4096 -o modern";
    let server = Server::start_with(
        kind,
        &Options {
            extra_args: strings(&line.split(' ').collect::<Vec<_>>()),
            ..Options::default()
        },
    );
    let settings: HashMap<String, String> = settings(server.port).into_iter().collect();
    for (key, want) in [
        ("maxbytes", "1073741824"),
        ("maxconns", "4096"),
        ("num_threads", "4"),
        ("udpport", "0"),
        ("inter", "127.0.0.1"),
    ] {
        assert_eq!(settings[key], want, "{}: {key}", kind.name());
    }
    // Running as root, both became the `memcache` user.
    if user_args().is_empty() {
        return;
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let memcache_uid = passwd_uid("memcache");
    assert!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|uid| uid == memcache_uid),
        "{}: {uid_line}",
        kind.name()
    );
}
keel_tests::server_tests!(memcacheds_command_line: mio, poll, uring, memcached);

fn passwd_uid(user: &str) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split(':').collect();
            (fields[0] == user).then(|| fields[2].to_owned())
        })
        .unwrap_or_else(|| panic!("no user {user} (the memcached package creates it)"))
}

/// memcached's startup checks: the same command line is refused by both, with memcached's message
/// as keel's one line, and memcached's exit status (64, EX_USAGE, for the values it checks after
/// reading every option; 1 for what its option loop refuses).
#[test]
fn startup_checks_match_memcached() {
    require_tool("memcached", "memcached");
    let cases: &[&[&str]] = &[
        &["-m", "1", "-I", "1m"],
        &["-m", "2", "-I", "2m"],
        &["-c", "0"],
        &["-c", "-5"],
        &["-t", "0"],
        &["-t", "abc"],
        &["-R", "0"],
        &["-f", "1"],
        &["-o", "bogus"],
        &["-o", "modern,lru_crawler,no_such_option"],
        &["-o", "idle_timeout"],
        &["-I", "512"],
        &["-p", "70000"],
    ];
    for args in cases {
        let port = free_port().to_string();
        let mut common = strings(&["-p", &port, "-l", "127.0.0.1"]);
        common.extend(user_args());
        common.extend(strings(args));
        let (mc_code, mc_lines, _) = refusal(Path::new("memcached"), &common);
        let (keel_code, keel_lines, keel_stdout) = refusal(&keel_bin(), &common);
        assert_ne!(mc_code, 0, "memcached {args:?} started");
        assert_eq!(keel_code, mc_code, "keel {args:?}: {keel_lines:?}");
        assert!(
            keel_stdout.is_empty(),
            "keel {args:?} printed {keel_stdout:?}"
        );
        assert_eq!(mc_lines.len(), 1, "memcached {args:?}: {mc_lines:?}");
        assert_eq!(
            keel_lines,
            [format!("keel: {}", mc_lines[0])],
            "keel {args:?} vs memcached"
        );
    }
}

/// keel's own refusals are one line naming what is refused: UDP, a second listen address, the
/// features not served yet, root without `-u`.
#[test]
fn keel_refusals_are_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["-U", "1"], "UDP is not supported: -U 1"),
        (
            &["-Z"],
            "TLS needs a certificate and a key: -o ssl_chain_cert=PATH,ssl_key=PATH",
        ),
        (
            &[
                "-Z",
                "-o",
                "ssl_chain_cert=/nonexistent/c.pem,ssl_key=/nonexistent/k.pem",
            ],
            "TLS: cannot read /nonexistent/c.pem",
        ),
        (
            &["-o", "ssl_verify_mode=9"],
            "ssl_verify_mode expects 0, 1, 2 or 3",
        ),
        (
            &["-l", "mtls:127.0.0.1"],
            "-l mtls:127.0.0.1:0 needs -Z (TLS)",
        ),
        (
            &["-a", "999", "-s", "/tmp/k.sock"],
            "-a 999: the access mask must be octal",
        ),
        (
            &["-Y", "/nonexistent/keel-auth"],
            "cannot read auth file /nonexistent/keel-auth",
        ),
        (
            &["-e", "/nonexistent/keel.mem"],
            "memory file /nonexistent/keel.mem: No such file or directory",
        ),
        (
            &["-l", "proto[ascii]:127.0.0.1"],
            "per-listener options are not supported",
        ),
    ];
    for (args, want) in cases {
        let mut all = strings(&["-p", "0", "-l", "127.0.0.1"]);
        all.extend(user_args());
        all.extend(strings(args));
        let (code, lines, _) = refusal(&keel_bin(), &all);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(
            lines[0].starts_with("keel: ") && lines[0].contains(want),
            "{args:?}: {lines:?}"
        );
    }
    if !user_args().is_empty() {
        // memcached's status for it: EX_USAGE.
        let (code, lines, _) = refusal(&keel_bin(), &strings(&["-p", "0"]));
        assert_eq!(
            (code, lines),
            (
                64,
                vec!["keel: can't run as root without the -u switch".to_owned()]
            )
        );
        let memcached = refusal(Path::new("memcached"), &strings(&["-p", "0"]));
        assert_eq!(memcached.1, ["can't run as root without the -u switch"]);
    }
}

/// Options memcached has and keel gives no meaning are accepted and named once in the log.
#[test]
fn options_without_meaning_are_logged_once() {
    let server = Server::start_with(
        Kind::KeelMio,
        &Options {
            extra_args: strings(&[
                "-o",
                "slab_chunk_max=524288,no_modern",
                "-L",
                "-o",
                "modern,hash_algorithm=xxh3",
            ]),
            ..Options::default()
        },
    );
    let log = server.log_tail();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("no meaning")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0]
            .ends_with("ignored: -L -o slab_chunk_max=524288 -o no_modern -o hash_algorithm=xxh3"),
        "{log}"
    );
}

/// `-d -P FILE`: the command returns at once, and a process detached in its own session serves
/// on the port with its id in the pid file; SIGTERM stops it and removes the file.
fn daemon_with_pidfile(kind: Kind) {
    require_tool("memcached", "memcached");
    let dir = std::env::temp_dir();
    let tag = format!("{}-{}", std::process::id(), kind.name());
    let pidfile = dir.join(format!("keel-cli-{tag}.pid"));
    let log = dir.join(format!("keel-cli-{tag}.log"));
    let port = free_port();
    let mut args = strings(&["-d", "-P"]);
    args.push(pidfile.display().to_string());
    args.extend(strings(&[
        "-p",
        &port.to_string(),
        "-l",
        "127.0.0.1",
        "-U",
        "0",
    ]));
    args.extend(user_args());
    let program: PathBuf = match kind {
        Kind::Memcached => "memcached".into(),
        Kind::KeelMio | Kind::KeelPoll | Kind::KeelUring => {
            args.extend(strings(&["--driver", kind.driver().expect("a keel kind")]));
            keel_bin()
        }
    };
    let started = Instant::now();
    let log_file = std::fs::File::create(&log).unwrap();
    let status = Command::new(&program)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .status()
        .unwrap();
    assert!(status.success(), "{}: {status}", kind.name());
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid = wait_for(|| {
        let text = std::fs::read_to_string(&pidfile).ok()?;
        text.strip_suffix('\n')?.parse::<i32>().ok()
    })
    .unwrap_or_else(|| panic!("{}: no pid file {pidfile:?}", kind.name()));
    let daemon = Daemon(pid);
    assert!(alive(pid), "{}: pid {pid} is not running", kind.name());
    // SAFETY: getsid only reads the session id of a process.
    assert_eq!(
        unsafe { libc::getsid(pid) },
        pid,
        "{}: not a session leader",
        kind.name()
    );
    assert_ne!(parent_of(pid), std::process::id() as i32);
    let mut conn = wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .map(|_| TextConn::connect(port))
        .unwrap_or_else(|| panic!("{}: nothing listens on {port}", kind.name()));
    assert_eq!(conn.stat("pid"), pid.to_string(), "{}", kind.name());
    drop(conn);
    if kind.is_keel() {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains(&format!("keel listening on 127.0.0.1:{port}")),
            "the ready line goes to the log: {text:?}"
        );
    }
    // SAFETY: kill sends SIGTERM to the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert!(
        wait_for(|| (!alive(pid)).then_some(())).is_some(),
        "{}: still running after SIGTERM",
        kind.name()
    );
    std::mem::forget(daemon);
    assert!(
        wait_for(|| (!pidfile.exists()).then_some(())).is_some(),
        "{}: the pid file outlived the daemon",
        kind.name()
    );
    let _ = std::fs::remove_file(&log);
}
keel_tests::server_tests!(daemon_with_pidfile: mio, poll, uring, memcached);

/// Kills a daemon when a test fails before stopping it.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill sends SIGKILL to the daemon this test started.
        unsafe { libc::kill(self.0, libc::SIGKILL) };
    }
}

/// Polls `f` every 10 ms for up to 5 s.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `/proc/PID/stat` without the command name (which may hold spaces): state, ppid, ...
fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Running: present and not a zombie (a daemon's parent may never reap it here).
fn alive(pid: i32) -> bool {
    proc_stat(pid).is_some_and(|fields| fields[0] != "Z")
}

fn parent_of(pid: i32) -> i32 {
    proc_stat(pid).and_then(|f| f[1].parse().ok()).unwrap_or(0)
}

/// `stats settings`: every key keel prints is memcached's (or documented as keel's own), in
/// memcached's order, and the values they share agree for the same command line.
fn settings_names_match_memcached(kind: Kind) {
    require_tool("memcached", "memcached");
    let line = strings(&[
        "-m",
        "128",
        "-c",
        "500",
        "-t",
        "2",
        "-R",
        "7",
        "-b",
        "256",
        "-A",
        "-I",
        "2m",
        "-F",
        "-o",
        "idle_timeout=0",
    ]);
    let opts = Options {
        extra_args: line,
        ..Options::default()
    };
    let memcached = Server::start_with(Kind::Memcached, &opts);
    let keel = Server::start_with(kind, &opts);
    let theirs = settings(memcached.port);
    let ours = settings(keel.port);
    let rank: HashMap<&str, usize> = theirs
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.as_str(), i))
        .collect();
    let theirs: HashMap<&str, &str> = theirs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut last = 0;
    for (key, value) in &ours {
        if KEEL_OWN_SETTINGS.contains(&key.as_str()) {
            continue;
        }
        let at = *rank
            .get(key.as_str())
            .unwrap_or_else(|| panic!("{}: `{key}` is not memcached's", kind.name()));
        assert!(
            at >= last,
            "{}: `{key}` out of memcached's order",
            kind.name()
        );
        last = at;
        if key != "tcpport" {
            assert_eq!(
                (key.as_str(), value.as_str()),
                (key.as_str(), theirs[key.as_str()]),
                "{}",
                kind.name()
            );
        }
    }
    for key in [
        "maxbytes",
        "maxconns",
        "tcpport",
        "udpport",
        "inter",
        "verbosity",
        "evictions",
        "domain_socket",
        "umask",
        "shutdown_command",
        "num_threads",
        "reqs_per_event",
        "cas_enabled",
        "tcp_backlog",
        "binding_protocol",
        "auth_enabled_sasl",
        "auth_enabled_ascii",
        "item_size_max",
        "flush_enabled",
        "idle_timeout",
    ] {
        assert!(
            ours.iter().any(|(k, _)| k == key),
            "{}: keel has no `{key}`",
            kind.name()
        );
    }
}
keel_tests::server_tests!(settings_names_match_memcached: mio, poll, uring);

/// `-b` is the listener's backlog, as `ss` reports it for keel and memcached alike.
fn listen_backlog(kind: Kind) {
    require_tool("ss", "iproute2");
    let server = Server::start_with(
        kind,
        &Options {
            extra_args: strings(&["-b", "77"]),
            ..Options::default()
        },
    );
    let out = run_bounded(
        Command::new("ss").args(["-ltnH", &format!("sport = :{}", server.port)]),
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let fields: Vec<&str> = text.split_whitespace().collect();
    // State, Recv-Q, Send-Q (the backlog of a listening socket), local address ...
    assert_eq!(fields.get(2), Some(&"77"), "{}: {text:?}", kind.name());
}
keel_tests::server_tests!(listen_backlog: mio, poll, uring, memcached);
