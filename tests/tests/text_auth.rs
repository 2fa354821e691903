//! Text-protocol authentication (`-Y FILE`) over real sockets, both drivers, side by side with
//! memcached 1.6.18 run with the same `-Y` file: the same streams, sent one request at a time,
//! get the same replies (`CLIENT_ERROR unauthenticated` before authentication, `STORED` for a
//! good token with nothing stored, memcached's lines for a bad termination, a bad token format
//! and a wrong password), the same `auth_cmds`/`auth_errors`, and SIGHUP rereads the file. Then
//! keel's deliberate differences (a password may hold spaces, every pipelined request gets its
//! reply, a token over 16 KiB is refused and the connection closed), the startup errors, no
//! password in the log, and garbage on many connections leaving an authenticated one unharmed.

use std::time::{Duration, Instant};

use keel_tests::raw::{Raw, Rng};
use keel_tests::server::refused_start;
use keel_tests::temp::TempDir;
use keel_tests::{End, Kind, Options, Server, server_tests};

const UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated\r\n";
const FAILURE: &[u8] = b"CLIENT_ERROR authentication failure\r\n";
const WAIT: Duration = Duration::from_secs(5);

fn start(kind: Kind, file: &std::path::Path, extra: &[&str]) -> Server {
    let mut extra_args = vec!["-Y".to_string(), file.display().to_string()];
    extra_args.extend(extra.iter().map(|s| s.to_string()));
    Server::start_with(
        kind,
        &Options {
            extra_args,
            ..Options::default()
        },
    )
}

/// The authentication request for `token`.
fn auth(token: &str) -> Vec<u8> {
    format!("set auth 0 0 {}\r\n{token}\r\n", token.len()).into_bytes()
}

/// Whether `reply` is a whole reply: one line, or lines up to END for gets and stats.
fn complete(reply: &[u8]) -> bool {
    reply.ends_with(b"\r\n")
        && (!(reply.starts_with(b"VALUE ") || reply.starts_with(b"STAT "))
            || reply.ends_with(b"END\r\n"))
}

/// Sends `request` and reads its whole reply.
fn call(c: &mut Raw, request: &[u8]) -> Vec<u8> {
    c.send(request).unwrap();
    let (reply, end) = c.collect_until(WAIT, complete);
    assert_eq!(end, End::Timeout, "closed after {request:?}: {reply:?}");
    reply
}

/// One value of `stats`, on an authenticated connection.
fn stat(c: &mut Raw, name: &str) -> String {
    stat_of(c, b"stats\r\n", name)
}

/// A `stats settings` line's value.
fn setting(c: &mut Raw, name: &str) -> String {
    stat_of(c, b"stats settings\r\n", name)
}

fn stat_of(c: &mut Raw, request: &[u8], name: &str) -> String {
    let stats = String::from_utf8(call(c, request)).unwrap();
    let prefix = format!("STAT {name} ");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
        .to_string()
}

const USERS: &str = "alice:s3cret\nbob:b0b\n";

/// Requests whose replies keel and memcached 1.6.18 must agree on, each sent after the previous
/// reply arrived (memcached 1.6.18 loses pending error lines when requests are pipelined).
const STEPS: &[&[u8]] = &[
    b"get a\r\n",
    b"version\r\n",
    b"stats\r\n",
    b"\r\n",
    b"set x 0 0\r\n",
    b"SET x 0 0 12\r\n",
    b"set x 0 0 12x\r\n",
    b"set x 0 0 -1\r\n",
    b"set x 0 0 12\r\nalice s3cre!\r\n",
    b"set x 0 0 12\r\nALICE s3cret\r\n",
    b"set x 0 0 7\r\nbob b0B\r\n",
    b"set x 0 0 5\r\nalice\r\n",
    b"set x 0 0 0\r\n\r\n",
    b"set x 0 0 12\r\nalice s3cretXX",
    b"set x 0 0 12\r\nalice s3cret\n\n",
    b"\x80\x0b\x00\x00\x00\x00\x00\x00\r\n",
    b"get auth\r\n",
];

/// The replies to `STEPS`, then authentication and a little traffic, and the counters.
fn transcript(port: u16) -> Vec<Vec<u8>> {
    let mut c = Raw::connect(port).unwrap();
    let mut replies: Vec<Vec<u8>> = STEPS.iter().map(|r| call(&mut c, r)).collect();
    for request in [
        &auth("alice s3cret")[..],
        b"get auth\r\n",
        b"set auth 0 0 2\r\nhi\r\n",
        b"get auth\r\n",
    ] {
        replies.push(call(&mut c, request));
    }
    // noreply, odd spacing, a bare "\n" and a "+": memcached reads the set line loosely.
    for request in [
        &b"set x 0 0 7 noreply\r\nbob b0b\r\n"[..],
        b"  set  k  1  2  +7\nbob b0b\r\n",
    ] {
        let mut other = Raw::connect(port).unwrap();
        replies.push(call(&mut other, request));
        replies.push(call(&mut other, b"get auth\r\n"));
    }
    for name in ["auth_cmds", "auth_errors"] {
        replies.push(stat(&mut c, name).into_bytes());
    }
    replies.push(setting(&mut c, "auth_enabled_ascii").into_bytes());
    replies
}

#[test]
fn same_replies_as_memcached() {
    let dir = TempDir::new("text-auth-oracle");
    let file = dir.file("users", USERS);
    let memcached = start(Kind::Memcached, &file, &[]);
    let expected = transcript(memcached.port);
    assert_eq!(expected[0], UNAUTHENTICATED);
    assert_eq!(expected[8], FAILURE);
    assert_eq!(expected[STEPS.len()], b"STORED\r\n");
    // memcached reports the -Y file's path as `auth_enabled_ascii`.
    assert_eq!(
        expected.last().map(Vec::as_slice),
        Some(file.display().to_string().as_bytes())
    );
    for kind in Kind::KEEL {
        let keel = start(kind, &file, &[]);
        let got = transcript(keel.port);
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(e),
                "{}: reply {i} to {:?}",
                kind.name(),
                STEPS.get(i)
            );
        }
        assert_eq!(got.len(), expected.len());
    }
}

/// A long line without a newline closes the connection without a reply; 2048 bytes do not.
fn junk_without_newline_closes(kind: Kind) {
    let dir = TempDir::new("text-auth-junk");
    let server = start(kind, &dir.file("users", USERS), &[]);
    let mut c = Raw::connect(server.port).unwrap();
    c.send(&[b'x'; 2048]).unwrap();
    let (reply, end) = c.collect(Duration::from_millis(300));
    assert_eq!((reply.as_slice(), end), (&b""[..], End::Timeout));
    c.send(&[b'x'; 1000]).unwrap();
    let (reply, end, _) = c.wait_close(WAIT);
    assert_eq!(reply, b"");
    assert_ne!(end, End::Timeout, "{}: still open", kind.name());
}

server_tests!(junk_without_newline_closes: mio, poll, uring, memcached);

/// SIGHUP rereads the file: the old password stops working, the new one works, an authenticated
/// connection stays authenticated; a malformed file keeps the users loaded before.
fn sighup_reloads_the_file(kind: Kind) {
    let dir = TempDir::new("text-auth-hup");
    let file = dir.file("users", USERS);
    let server = start(kind, &file, &[]);
    let mut old = Raw::connect(server.port).unwrap();
    assert_eq!(call(&mut old, &auth("alice s3cret")), b"STORED\r\n");
    std::fs::write(&file, "alice:n3w\n").unwrap();
    server.signal(libc::SIGHUP);
    // memcached rereads the file on its next clock tick (once a second).
    let deadline = Instant::now() + WAIT;
    let mut c = Raw::connect(server.port).unwrap();
    loop {
        let reply = call(&mut c, &auth("alice n3w"));
        if reply == b"STORED\r\n" {
            break;
        }
        assert_eq!(reply, FAILURE);
        assert!(Instant::now() < deadline, "{}: not reloaded", kind.name());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = Raw::connect(server.port).unwrap();
    assert_eq!(call(&mut c, &auth("alice s3cret")), FAILURE);
    assert_eq!(call(&mut old, b"version\r\n"), b"VERSION 1.6.18\r\n");
    if kind.is_keel() {
        // memcached 1.6.18 also keeps the old users, but prints nothing a test can wait for.
        std::fs::write(&file, "no colon\n").unwrap();
        server.signal(libc::SIGHUP);
        let deadline = Instant::now() + WAIT;
        while !server
            .log_tail()
            .contains("keeping the users loaded before")
        {
            assert!(
                Instant::now() < deadline,
                "no warning: {}",
                server.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut c = Raw::connect(server.port).unwrap();
        assert_eq!(call(&mut c, &auth("alice n3w")), b"STORED\r\n");
    }
}

server_tests!(sighup_reloads_the_file: mio, poll, uring, memcached);

/// Where keel deliberately differs from memcached 1.6.18 (README): the password is everything
/// after the first space (as in memcached 1.6.42), each pipelined request gets its own reply,
/// and a token announced over 16 KiB is refused at once and the connection closed.
fn deliberate_differences(kind: Kind) {
    let dir = TempDir::new("text-auth-diff");
    let server = start(
        kind,
        &dir.file("users", "carol:pass word\nalice:s3cret\n"),
        &[],
    );
    let mut c = Raw::connect(server.port).unwrap();
    assert_eq!(call(&mut c, &auth("carol pass")), FAILURE);
    assert_eq!(call(&mut c, &auth("alice s3cret extra")), FAILURE);
    assert_eq!(call(&mut c, &auth("carol pass word")), b"STORED\r\n");

    let mut c = Raw::connect(server.port).unwrap();
    let mut stream = b"get a\r\nversion\r\n".to_vec();
    stream.extend_from_slice(&auth("alice wrong"));
    stream.extend_from_slice(&auth("alice s3cret"));
    stream.extend_from_slice(b"version\r\n");
    c.send(&stream).unwrap();
    let expected = [
        UNAUTHENTICATED,
        UNAUTHENTICATED,
        FAILURE,
        b"STORED\r\n",
        b"VERSION 1.6.18\r\n",
    ]
    .concat();
    let (reply, _) = c.collect_until(WAIT, |r| r.len() >= expected.len());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        String::from_utf8_lossy(&expected)
    );

    let mut c = Raw::connect(server.port).unwrap();
    c.send(b"set x 0 0 16385\r\n").unwrap();
    let (reply, end, _) = c.wait_close(WAIT);
    assert_eq!(reply, b"CLIENT_ERROR auth token too long\r\n");
    assert_ne!(end, End::Timeout);
    let mut c = Raw::connect(server.port).unwrap();
    let big = format!("alice {}", "x".repeat(16384 - 6));
    assert_eq!(call(&mut c, &auth(&big)), FAILURE, "16 KiB is allowed");
}

server_tests!(deliberate_differences: mio, poll, uring);

/// Garbage and truncated auth requests on many connections at once: every connection gets
/// replies or is closed, the server stays up, and an authenticated connection is unaffected.
fn garbage_is_harmless(kind: Kind) {
    let dir = TempDir::new("text-auth-garbage");
    let server = start(kind, &dir.file("users", USERS), &["-vv"]);
    let mut bystander = Raw::connect(server.port).unwrap();
    assert_eq!(call(&mut bystander, &auth("bob b0b")), b"STORED\r\n");
    assert_eq!(call(&mut bystander, b"set k 0 0 1\r\nv\r\n"), b"STORED\r\n");
    let mut rng = Rng::new(0x5eed_7e47);
    let pieces: [&[u8]; 8] = [
        b"set x 0 0 12\r\nalice s3c",
        b"set x 0 0 99999\r\n",
        b"set x 0 0 ",
        b"set x 0 0 4\r\n\r\n\r\n",
        b"\r\n\n\r",
        b"get a b c\r\n",
        b"set x 0 0 12\r\nalice s3cret\r\n",
        b"set x 0 0 3\r\n\x00\xff \r\n",
    ];
    let mut conns = Vec::new();
    for _ in 0..20 {
        let mut c = Raw::connect(server.port).unwrap();
        let mut stream = Vec::new();
        for _ in 0..rng.below(8) {
            if rng.chance(30) {
                let len = rng.below(300) as usize;
                stream.extend_from_slice(&rng.bytes(len));
            } else {
                stream.extend_from_slice(pieces[rng.below(8) as usize]);
            }
        }
        let _ = c.send(&stream);
        if rng.chance(50) {
            c.shutdown_write();
        }
        conns.push(c);
    }
    for mut c in conns {
        let _ = c.collect(Duration::from_millis(50));
    }
    assert_eq!(
        call(&mut bystander, b"get k\r\n"),
        b"VALUE k 0 1\r\nv\r\nEND\r\n"
    );
    let mut c = Raw::connect(server.port).unwrap();
    assert_eq!(call(&mut c, &auth("alice s3cret")), b"STORED\r\n");
    let log = server.log_tail();
    assert!(!log.contains("s3cret") && !log.contains("b0b"), "{log}");
}

server_tests!(garbage_is_harmless: mio, poll, uring);

#[test]
fn startup_errors_are_one_line_with_memcacheds_status() {
    let dir = TempDir::new("text-auth-startup");
    let good = dir.file("users", USERS);
    let good = good.to_str().unwrap();
    let line = refused_start(64, &["-Y", good, "-B", "binary"]);
    assert!(line.contains("text protocol only"), "{line}");
    let line = refused_start(1, &["--auth-file", good, "-S", "--sasl-pwdb", good]);
    assert!(line.contains("-Y and -S"), "{line}");
    let missing = dir.path().join("missing");
    let line = refused_start(1, &["-Y", missing.to_str().unwrap()]);
    assert!(line.contains("cannot read auth file"), "{line}");
    let secret = dir.file("secret", "alice:TopSecret\ngarbage\n");
    let line = refused_start(1, &["-Y", secret.to_str().unwrap()]);
    assert!(
        line.contains("line 2") && !line.contains("TopSecret"),
        "{line}"
    );
}
