//! SASL PLAIN over real sockets, both drivers: `keel -S --sasl-pwdb FILE` offers PLAIN, refuses
//! every command but SASL and VERSION before authentication (0x20, then close), keeps a connection
//! open after a wrong password, treats text as binary, never logs a password, and reads the
//! password file from $MEMCACHED_SASL_PWDB too. The startup errors (`-S` without a file, an
//! unreadable or malformed file, `-S -B ascii`) are one line on stderr, with memcached's exit status
//! where it refuses the same (64 for `-S -B ascii`), 1 otherwise.
//! python-binary-memcached's SASL support is exercised by tests/python/test_sasl.py.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use keel_tests::raw::Raw;
use keel_tests::server::{keel_bin, refused_start, user_args};
use keel_tests::temp::TempDir;
use keel_tests::{Client, End, Kind, Options, Packet, Request, Server, op, server_tests};

const AUTH_ERROR: u16 = 0x20;
const LIST_MECHS: u8 = 0x20;
const AUTH: u8 = 0x21;
const STEP: u8 = 0x22;
const USER: &str = "alice";
const PASSWORD: &str = "Tr0ub4dor&3:horse";

fn pwdb(dir: &TempDir) -> PathBuf {
    dir.file(
        "pwdb",
        &format!("# keel test users\n{USER}:{PASSWORD}\nbob:b0b\n"),
    )
}

fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

fn auth_request(user: &str, password: &str, opaque: u32) -> Request {
    Request::new(AUTH)
        .key("PLAIN")
        .value(plain(user, password))
        .opaque(opaque)
}

fn start_sasl(kind: Kind, file: &Path) -> Server {
    Server::start_with(
        kind,
        &Options {
            extra_args: vec![
                "-S".into(),
                "--sasl-pwdb".into(),
                file.display().to_string(),
                "-vv".into(),
            ],
            ..Options::default()
        },
    )
}

/// Authenticates `c` as alice.
fn login(c: &mut Client) {
    let p = c.call(&auth_request(USER, PASSWORD, 0xa1));
    assert_eq!(
        (p.opcode, p.status, p.opaque, p.value.as_slice()),
        (AUTH, 0, 0xa1, &b"Authenticated"[..]),
        "{p:?}"
    );
}

fn sasl_over_sockets(kind: Kind) {
    let dir = TempDir::new(&format!("sasl-{}", kind.name()));
    let server = start_sasl(kind, &pwdb(&dir));

    // A connection authenticated before everything else, to show the others do not disturb it.
    let mut bystander = Client::connect(server.port).unwrap();
    login(&mut bystander);
    bystander.set_ok(b"shared", b"before");

    // LIST_MECHS and VERSION work before authentication.
    let mut c = Client::connect(server.port).unwrap();
    let p = c.call(&Request::new(LIST_MECHS).opaque(1));
    assert_eq!((p.status, p.value.as_slice()), (0, &b"PLAIN"[..]), "{p:?}");
    let p = c.call(&Request::new(op::VERSION).opaque(2));
    assert_eq!((p.status, p.value.as_slice()), (0, &b"1.6.18"[..]));

    // A wrong password, a wrong user, STEP and an unoffered mechanism: 0x20, still open.
    for (i, req) in [
        auth_request(USER, "Tr0ub4dor&3:horsE", 3),
        auth_request("mallory", PASSWORD, 4),
        auth_request(USER, "b0b", 5),
        Request::new(STEP)
            .key("PLAIN")
            .value(plain(USER, PASSWORD))
            .opaque(6),
        Request::new(AUTH)
            .key("SCRAM-SHA-256")
            .value(plain(USER, PASSWORD))
            .opaque(7),
    ]
    .iter()
    .enumerate()
    {
        let p = c.call(req);
        assert_eq!(
            p,
            Packet::plain(req.opcode, AUTH_ERROR, req.opaque, b"Auth failure."),
            "attempt {i}"
        );
    }
    // A mechanism name over 32 bytes: 0x04, its data skipped, still open.
    let p = c.call(
        &Request::new(AUTH)
            .key([b'M'; 33])
            .value(b"\0x\0y")
            .opaque(8),
    );
    assert_eq!(p, Packet::plain(AUTH, 0x04, 8, b"Invalid arguments"));
    // Then the right password on the same connection.
    login(&mut c);
    assert_eq!(c.get(b"shared").as_deref(), Some(&b"before"[..]));
    c.set_ok(b"shared", b"after");

    // Unauthenticated GET (pipelined with a NOOP): 0x20, then the server closes.
    let mut anon = Client::connect(server.port).unwrap();
    anon.send_all(&[
        Request::get(op::GET, "shared").opaque(9),
        Request::new(op::NOOP).opaque(10),
    ])
    .unwrap();
    let (got, end) = anon.wait_end(Duration::from_secs(5));
    assert_eq!(
        got,
        vec![Packet::plain(op::GET, AUTH_ERROR, 9, b"Auth failure.")]
    );
    assert!(matches!(end, End::Eof | End::Reset), "{end:?}");

    // An unauthenticated SET is not stored.
    let mut anon = Client::connect(server.port).unwrap();
    let p = anon.call(&Request::set("stolen", "x").opaque(11));
    assert_eq!(p, Packet::plain(op::SET, AUTH_ERROR, 11, b"Auth failure."));
    assert_eq!(bystander.get(b"stolen"), None);

    // Text on a SASL server is binary: "stats\r\n" waits for a header; 24 bytes of text close
    // the connection without a reply (bad magic).
    let mut text = Raw::connect(server.port).unwrap();
    text.send(b"stats\r\n").unwrap();
    let (bytes, end) = text.collect(Duration::from_millis(300));
    assert!(bytes.is_empty() && end == End::Timeout, "{bytes:?} {end:?}");
    text.send(b"get shared\r\nflush_all\r\n").unwrap();
    let (bytes, end, _) = text.wait_close(Duration::from_secs(5));
    assert!(bytes.is_empty(), "text answered: {bytes:?}");
    assert!(matches!(end, End::Eof | End::Reset), "{end:?}");

    // The bystander is unaffected; the statistics count the AUTH/STEP attempts.
    assert_eq!(bystander.get(b"shared").as_deref(), Some(&b"after"[..]));
    let stats = bystander.stats("");
    // bystander 1 + c: 4 wrong AUTH + STEP + the right one (the 33-byte mechanism is refused
    // before it counts, as in memcached).
    assert_eq!(stats["auth_cmds"], "7", "{stats:?}");
    assert_eq!(stats["auth_errors"], "5", "{stats:?}");
    let settings = bystander.stats("settings");
    assert_eq!(settings["auth_enabled_sasl"], "yes");

    // At -vv the log mentions connections and commands but never a password.
    let log = server.log_tail();
    for secret in [PASSWORD, "Tr0ub4dor", "b0b"] {
        assert!(
            !log.contains(secret),
            "the log shows a password ({secret:?}):\n{log}"
        );
    }
}
server_tests!(sasl_over_sockets: mio, poll, uring);

/// Without `-S` the SASL opcodes are unknown commands, their bodies skipped: keel and memcached
/// answer the same bytes.
fn sasl_opcodes_without_sasl(kind: Kind) {
    let server = Server::start(kind);
    let mut c = Client::connect(server.port).unwrap();
    c.send_all(&[
        Request::new(LIST_MECHS).opaque(1),
        auth_request(USER, PASSWORD, 2),
        Request::new(STEP).key("PLAIN").value("data").opaque(3),
        // AUTH data that is itself a QUIT request: skipped, not run.
        Request::new(AUTH)
            .key("PLAIN")
            .value(Request::new(op::QUIT).encode())
            .opaque(4),
    ])
    .unwrap();
    let got = c.sync(5);
    assert_eq!(
        got,
        vec![
            Packet::plain(LIST_MECHS, 0x81, 1, b"Unknown command"),
            Packet::plain(AUTH, 0x81, 2, b"Unknown command"),
            Packet::plain(STEP, 0x81, 3, b"Unknown command"),
            Packet::plain(AUTH, 0x81, 4, b"Unknown command"),
            Packet::plain(op::NOOP, 0, 5, b""),
        ]
    );
    c.set_ok(b"k", b"v");
    assert_eq!(c.stat_u64("auth_cmds"), 0);
}
server_tests!(sasl_opcodes_without_sasl: mio, poll, uring, memcached);

/// `MEMCACHED_SASL_PWDB` names the file when `--sasl-pwdb` is not given.
#[test]
fn password_file_from_the_environment() {
    let dir = TempDir::new("sasl-env");
    let file = pwdb(&dir);
    let mut child = Command::new(keel_bin())
        .args(["-p", "0", "-l", "127.0.0.1", "-S"])
        .args(user_args())
        .env("MEMCACHED_SASL_PWDB", &file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let child = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no ready line within 10 s");
    let port: u16 = line
        .trim()
        .strip_prefix("keel listening on 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"));
    let mut c = Client::connect(port).unwrap();
    let p = c.call(&Request::get(op::GET, "k"));
    assert_eq!(p.status, AUTH_ERROR);
    let mut c = Client::connect(port).unwrap();
    login(&mut c);
    c.set_ok(b"k", b"v");
    drop(child);
}

#[test]
fn startup_errors_are_one_line_with_memcacheds_status() {
    let dir = TempDir::new("sasl-startup");
    let good = pwdb(&dir);
    let good = good.to_str().unwrap();
    let missing = dir.path().join("no-such-file");
    let missing = missing.to_str().unwrap();
    let directory = dir.path().to_str().unwrap();
    let malformed = dir.file("malformed", "alice:pw\nno colon here\n");
    let malformed = malformed.to_str().unwrap();
    let empty = dir.file("empty", "# nobody\n\n");
    let empty = empty.to_str().unwrap();
    let no_user = dir.file("no-user", ":password\n");
    let no_user = no_user.to_str().unwrap();

    let line = refused_start(1, &["-S"]);
    assert!(line.contains("-S needs a password file"), "{line}");
    let line = refused_start(1, &["--enable-sasl"]);
    assert!(line.contains("-S needs a password file"), "{line}");
    let line = refused_start(1, &["-S", "--sasl-pwdb", missing]);
    assert!(
        line.contains("cannot read SASL password file") && line.contains(missing),
        "{line}"
    );
    let line = refused_start(1, &["-S", "--sasl-pwdb", directory]);
    assert!(line.contains("cannot read SASL password file"), "{line}");
    let line = refused_start(1, &["-S", "--sasl-pwdb", malformed]);
    assert!(
        line.contains(malformed) && line.contains("line 2"),
        "{line}"
    );
    let line = refused_start(1, &["-S", "--sasl-pwdb", empty]);
    assert!(line.contains("no users"), "{line}");
    let line = refused_start(1, &["-S", "--sasl-pwdb", no_user]);
    assert!(line.contains("line 1"), "{line}");
    let line = refused_start(64, &["-S", "--sasl-pwdb", good, "-B", "ascii"]);
    assert!(line.contains("binary protocol only"), "{line}");
    // No password ever appears in an error.
    let with_secret = dir.file("secret", "alice:TopSecret\ngarbage\n");
    let line = refused_start(1, &["-S", "--sasl-pwdb", with_secret.to_str().unwrap()]);
    assert!(!line.contains("TopSecret"), "{line}");
}

/// An unauthenticated client cannot make the server read (or hold) a big body: the header alone is
/// answered with 0x20 and the connection closed.
fn unauthenticated_huge_body(kind: Kind) {
    let dir = TempDir::new(&format!("sasl-huge-{}", kind.name()));
    let server = start_sasl(kind, &pwdb(&dir));
    let mut raw = Raw::connect(server.port).unwrap();
    let mut set = Request::set("k", vec![b'x'; 8]);
    set.body_len = Some(512 << 20);
    let bytes = set.encode();
    raw.send(&bytes[..24 + 8 + 1]).unwrap();
    let (got, end, _) = raw.wait_close(Duration::from_secs(5));
    let (packets, rest) = Packet::parse_all(&got).unwrap();
    assert_eq!(rest, 0);
    assert_eq!(
        packets,
        vec![Packet::plain(op::SET, AUTH_ERROR, 0, b"Auth failure.")]
    );
    assert!(matches!(end, End::Eof | End::Reset));
}
server_tests!(unauthenticated_huge_body: mio, poll, uring);
