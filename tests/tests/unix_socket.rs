//! `-s PATH -a MASK` on every driver over real Unix domain sockets: the socket gets the mode bits
//! `-a` names; text (pymemcache, libmemcached's `memcstat`) and binary requests work over it with
//! several workers; `stats settings` shows `domain_socket` and `umask` as memcached 1.6.18 does
//! for the same flags; a stale socket file from a dead server is replaced; a regular file at the
//! path is refused with one line and left alone; `-s` turns TCP off.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use keel_tests::server::{keel_bin, require_tool, user_args};
use keel_tests::spawned::Keel;
use keel_tests::text::run_bounded;

/// A fresh directory for one test's sockets.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-unix-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Sends `request` on a new connection to `path` and reads until `suffix`.
fn call(path: &Path, request: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut conn = UnixStream::connect(path).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(request).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(suffix) {
        let n = conn.read(&mut chunk).unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

fn stat_lines(path: &Path, group: &str, names: &[&str]) -> Vec<String> {
    let reply = call(path, format!("stats {group}\r\n").as_bytes(), b"END\r\n");
    let text = String::from_utf8(reply).unwrap();
    text.lines()
        .filter(|l| names.iter().any(|n| l.starts_with(&format!("STAT {n} "))))
        .map(str::to_owned)
        .collect()
}

fn mode_of(path: &Path) -> u32 {
    let meta = std::fs::symlink_metadata(path).unwrap();
    assert!(meta.file_type().is_socket(), "{path:?} is not a socket");
    meta.permissions().mode() & 0o777
}

fn serves_clients_over_the_socket(driver: &str) {
    require_tool("memcstat", "libmemcached-tools");
    let dir = scratch(&format!("serve-{driver}"));
    let sock = dir.join("keel.sock");
    let path = sock.to_str().unwrap();
    let keel = Keel::start(driver, &args(&["-s", path, "-a", "0750", "-t", "3"]));
    assert_eq!(keel.endpoints, [path]);
    assert_eq!(mode_of(&sock), 0o750);
    // pymemcache over the socket path, several connections (spread over the workers).
    let script = format!(
        "from pymemcache.client.base import Client\n\
         c = Client({path:?})\n\
         c.set('k', b'over unix', noreply=False)\n\
         print([Client({path:?}).get('k').decode() for _ in range(5)])\n"
    );
    let out = run_bounded(
        Command::new("python3").args(["-c", &script]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "['over unix', 'over unix', 'over unix', 'over unix', 'over unix']"
    );
    // libmemcached's memcstat takes a socket path as the server.
    let out = run_bounded(
        Command::new("memcstat").arg(format!("--servers={path}")),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("Server: {path} (0)")), "{stdout}");
    assert!(stdout.contains(&format!("pid: {}", keel.pid())), "{stdout}");
    // The binary protocol over the same socket: NOOP.
    let mut noop = [0u8; 24];
    noop[0] = 0x80;
    noop[1] = 0x0a;
    let mut conn = UnixStream::connect(&sock).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    conn.write_all(&noop).unwrap();
    let mut reply = [0u8; 24];
    conn.read_exact(&mut reply).unwrap();
    assert_eq!((reply[0], reply[1], reply[7]), (0x81, 0x0a, 0));
    assert_eq!(
        stat_lines(&sock, "settings", &["domain_socket", "umask"]),
        [
            format!("STAT domain_socket {path}"),
            "STAT umask 750".to_owned()
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serves_clients_over_the_socket_mio() {
    serves_clients_over_the_socket("mio");
}

#[test]
fn serves_clients_over_the_socket_poll() {
    serves_clients_over_the_socket("poll");
}

#[test]
fn serves_clients_over_the_socket_uring() {
    serves_clients_over_the_socket("uring");
}

/// memcached with the same flags reports the same `domain_socket` and `umask` lines.
#[test]
fn settings_match_memcached() {
    require_tool("memcached", "memcached");
    let dir = scratch("oracle");
    // memcached drops to the -u user before binding: the directory must be open to it.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let sock = dir.join("memcached.sock");
    let mut memcached = Command::new("memcached")
        .args(
            user_args()
                .iter()
                .map(|a| if a == "root" { "nobody" } else { a }),
        )
        .args(["-s", sock.to_str().unwrap(), "-a", "0640"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "memcached did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let names = ["domain_socket", "umask"];
    let theirs = stat_lines(&sock, "settings", &names);
    let their_mode = mode_of(&sock);
    let _ = memcached.kill();
    let _ = memcached.wait();
    std::fs::remove_file(&sock).unwrap();
    for driver in ["mio", "poll", "uring"] {
        let _keel = Keel::start(driver, &args(&["-s", sock.to_str().unwrap(), "-a", "0640"]));
        assert_eq!(stat_lines(&sock, "settings", &names), theirs, "{driver}");
        assert_eq!(mode_of(&sock), their_mode, "{driver}");
    }
    assert_eq!(their_mode, 0o640);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A socket file nobody listens on (a dead server's) is replaced; one a live keel listens on is
/// not taken over.
#[test]
fn a_stale_socket_is_replaced_and_a_live_one_kept() {
    let dir = scratch("stale");
    let sock = dir.join("stale.sock");
    drop(UnixListener::bind(&sock).unwrap());
    assert!(UnixStream::connect(&sock).is_err(), "the socket is stale");
    for driver in ["mio", "poll", "uring"] {
        let keel = Keel::start(driver, &args(&["-s", sock.to_str().unwrap()]));
        assert_eq!(mode_of(&sock), 0o700, "memcached's default -a");
        assert_eq!(call(&sock, b"version\r\n", b"\r\n"), b"VERSION 1.6.18\r\n");
        let out = run_bounded(
            Command::new(keel_bin())
                .args(user_args())
                .args(["-s", sock.to_str().unwrap()]),
            Duration::from_secs(10),
        );
        assert_eq!(
            out.status.code(),
            Some(71),
            "{driver}: memcached's EX_OSERR"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("keel: cannot listen on {}: ", sock.display()))
                && stderr.lines().count() == 1,
            "{driver}: {stderr}"
        );
        // The first server still answers on its socket.
        assert_eq!(call(&sock, b"version\r\n", b"\r\n"), b"VERSION 1.6.18\r\n");
        drop(keel);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A regular file at the path is refused with one line on stderr, and left as it was.
#[test]
fn a_regular_file_is_refused() {
    let dir = scratch("regular");
    let file = dir.join("data");
    std::fs::write(&file, b"precious").unwrap();
    for driver in ["mio", "poll", "uring"] {
        let out = run_bounded(
            Command::new(keel_bin()).args(user_args()).args([
                "--driver",
                driver,
                "-s",
                file.to_str().unwrap(),
            ]),
            Duration::from_secs(10),
        );
        assert_eq!(
            out.status.code(),
            Some(71),
            "{driver}: memcached's EX_OSERR"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr,
            format!(
                "keel: cannot listen on {}: the path exists and is not a socket\n",
                file.display()
            ),
            "{driver}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-s` turns TCP off, as in memcached: the `-p` port is not listened on.
#[test]
fn unix_socket_turns_tcp_off() {
    let dir = scratch("notcp");
    let sock = dir.join("k.sock");
    let port = keel_tests::text::free_port();
    let keel = Keel::start(
        "mio",
        &args(&["-s", sock.to_str().unwrap(), "-p", &port.to_string()]),
    );
    assert_eq!(keel.endpoints, [sock.to_str().unwrap()]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
