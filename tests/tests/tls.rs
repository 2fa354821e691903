//! TLS (`-Z`) on every driver over real sockets, with certificates made at test time: pymemcache
//! and python-binary-memcached over TLS beside a `notls:` plaintext listener of the same server;
//! `openssl s_client`; a plaintext client, garbage and stalled handshakes closed without harm to
//! an open TLS connection (stalls by the read timeout); mutual TLS (`mtls:`) accepting the CA's
//! client certificate and refusing a client without one; TLS 1.1 refused at memcached's default
//! minimum; `refresh_certs` and SIGHUP switching certificates under open connections (a bad file
//! is one error line, the old certificate stays); memcached 1.6.18 `-Z` as the oracle for the same
//! text and binary streams.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keel_tests::server::{require_tool, user_args};
use keel_tests::spawned::Keel;
use keel_tests::text::{free_port, run_bounded};
use keel_tests::tls::{Certs, TlsClient};

/// keel with `-Z`, listening on `listen` (`-p 0`), the live certificate pair, and `extra` `-o`
/// TLS items.
fn keel(driver: &str, certs: &Certs, listen: &str, extra: &str, args: &[&str]) -> Keel {
    let mut line: Vec<String> = ["-p", "0", "-l", listen, "-Z", "-t", "2", "-o"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    line.push(certs.options(extra));
    line.extend(args.iter().map(|s| s.to_string()));
    Keel::start(driver, &line)
}

/// The value of `STAT name` in `stats [group]` over `client`.
fn stat(client: &mut TlsClient, group: &str, name: &str) -> String {
    let request = if group.is_empty() {
        "stats\r\n".to_owned()
    } else {
        format!("stats {group}\r\n")
    };
    let reply = client.call(request.as_bytes(), b"END\r\n").unwrap();
    let text = String::from_utf8(reply).unwrap();
    let prefix = format!("STAT {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_owned()
}

fn python(script: &str) -> String {
    let out = run_bounded(
        Command::new("python3").args(["-c", script]),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `printf input | openssl s_client -quiet ...args -connect 127.0.0.1:port`: exit success and
/// stdout.
fn s_client(port: u16, args: &[&str], input: &[u8]) -> (bool, String) {
    require_tool("openssl", "openssl");
    let mut child = Command::new("openssl")
        .arg("s_client")
        .args(args)
        .args(["-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "s_client hangs");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.success(), out)
}

/// pymemcache and python-binary-memcached over TLS, and plaintext on the `notls:` port of the
/// same server, seeing the same items.
fn clients_over_tls_beside_plaintext(driver: &str) {
    let certs = Certs::new(&format!("clients-{driver}"));
    certs.install("server");
    let keel = keel(driver, &certs, "notls:127.0.0.1:0,127.0.0.1:0", "", &[]);
    let (plain, tls) = (keel.port(0), keel.port(1));
    let ca = certs.path("ca.pem");
    let got = python(&format!(
        "import ssl, bmemcached\n\
         from pymemcache.client.base import Client\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         c = Client(('127.0.0.1', {tls}), tls_context=ctx)\n\
         c.set('big', b'v' * 300000, noreply=False)\n\
         b = bmemcached.Client(['127.0.0.1:{tls}'], tls_context=ctx)\n\
         b.set('bin', 'binary over tls')\n\
         p = Client(('127.0.0.1', {plain}))\n\
         print(len(p.get('big')), b.get('bin'), c.get('bin'), len(b.get('big')))\n"
    ));
    assert_eq!(got, "300000 binary over tls b'binary over tls' 300000");
    let (ok, out) = s_client(tls, &["-quiet", "-CAfile", &ca], b"version\r\nquit\r\n");
    assert!(ok, "{out}");
    assert_eq!(out, "VERSION 1.6.18\r\n");
    let mut client = TlsClient::connect(tls, certs.client_config(false)).unwrap();
    assert_eq!(client.server_cert(), certs.der("server"));
    for (name, want) in [
        ("ssl_enabled", "yes".to_owned()),
        ("ssl_chain_cert", certs.path("live.pem")),
        ("ssl_key", certs.path("live.key")),
        ("ssl_verify_mode", "0".to_owned()),
        ("ssl_ca_cert", "NULL".to_owned()),
        ("ssl_min_version", "tlsv1.2".to_owned()),
    ] {
        assert_eq!(stat(&mut client, "settings", name), want, "{name}");
    }
    assert_eq!(stat(&mut client, "", "ssl_handshake_errors"), "0");
    // The notls: port of the same server speaks plaintext.
    let mut raw = TcpStream::connect(("127.0.0.1", plain)).unwrap();
    raw.write_all(b"version\r\n").unwrap();
    let mut reply = [0u8; 64];
    let n = raw.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"VERSION 1.6.18\r\n");
}

#[test]
fn clients_over_tls_beside_plaintext_mio() {
    clients_over_tls_beside_plaintext("mio");
}

#[test]
fn clients_over_tls_beside_plaintext_poll() {
    clients_over_tls_beside_plaintext("poll");
}

#[test]
fn clients_over_tls_beside_plaintext_uring() {
    clients_over_tls_beside_plaintext("uring");
}

/// Waits for the server to close `stream` (EOF or a reset); how long it took.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Duration {
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return start.elapsed(),
        }
        assert!(start.elapsed() < within, "not closed within {within:?}");
    }
}

/// A plaintext client, garbage and truncated records are closed at once; a stalled handshake
/// (silent, or half a ClientHello) by the read timeout; an open TLS connection is unaffected.
fn bad_clients_are_closed_alone(driver: &str) {
    let certs = Certs::new(&format!("bad-{driver}"));
    certs.install("server");
    let keel = keel(
        driver,
        &certs,
        "127.0.0.1:0",
        "",
        &["--read-timeout", "1", "-t", "1"],
    );
    let port = keel.port(0);
    let mut good = TlsClient::connect(port, certs.client_config(false)).unwrap();
    assert_eq!(
        good.call(b"set k 0 0 2\r\nok\r\n", b"\r\n").unwrap(),
        b"STORED\r\n"
    );
    let mut plaintext = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plaintext.write_all(b"get k\r\n").unwrap();
    closed_within(&mut plaintext, Duration::from_millis(900));
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0xff, 0xff])
        .unwrap();
    closed_within(&mut garbage, Duration::from_millis(900));
    let connected = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut half_hello = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A record header announcing 512 bytes of handshake, then nothing more.
    half_hello
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    for (name, stalled) in [("silent", &mut silent), ("half hello", &mut half_hello)] {
        closed_within(stalled, Duration::from_secs(5));
        let took = connected.elapsed();
        assert!(
            took >= Duration::from_millis(900),
            "{name}: closed after {took:?}"
        );
    }
    assert_eq!(
        good.call(b"get k\r\n", b"END\r\n").unwrap(),
        b"VALUE k 0 2\r\nok\r\nEND\r\n"
    );
    assert_eq!(stat(&mut good, "", "ssl_handshake_errors"), "2");
    assert_eq!(stat(&mut good, "", "curr_connections"), "1");
    // memcached's stats reset zeroes the TLS counters with the others.
    assert_eq!(
        good.call(b"stats reset\r\n", b"\r\n").unwrap(),
        b"RESET\r\n"
    );
    assert_eq!(stat(&mut good, "", "ssl_handshake_errors"), "0");
}

#[test]
fn bad_clients_are_closed_alone_mio() {
    bad_clients_are_closed_alone("mio");
}

#[test]
fn bad_clients_are_closed_alone_poll() {
    bad_clients_are_closed_alone("poll");
}

#[test]
fn bad_clients_are_closed_alone_uring() {
    bad_clients_are_closed_alone("uring");
}

/// `mtls:` requires a client certificate from `ssl_ca_cert`; the `-Z` listener beside it (verify
/// mode 0) does not ask for one.
fn mutual_tls(driver: &str) {
    let certs = Certs::new(&format!("mtls-{driver}"));
    certs.install("server");
    let ca = format!("ssl_ca_cert={}", certs.path("ca.pem"));
    let keel = keel(driver, &certs, "mtls:127.0.0.1:0,127.0.0.1:0", &ca, &[]);
    let (mutual, tls) = (keel.port(0), keel.port(1));
    let mut with_cert = TlsClient::connect(mutual, certs.client_config(true)).unwrap();
    assert_eq!(
        with_cert.call(b"version\r\n", b"\r\n").unwrap(),
        b"VERSION 1.6.18\r\n"
    );
    let refused = TlsClient::connect(mutual, certs.client_config(false))
        .and_then(|mut c| c.call(b"version\r\n", b"\r\n"));
    assert!(refused.is_err(), "{refused:?}");
    let mut anonymous = TlsClient::connect(tls, certs.client_config(false)).unwrap();
    assert_eq!(
        anonymous.call(b"version\r\n", b"\r\n").unwrap(),
        b"VERSION 1.6.18\r\n"
    );
    assert_eq!(stat(&mut anonymous, "", "ssl_handshake_errors"), "1");
}

#[test]
fn mutual_tls_mio() {
    mutual_tls("mio");
}

#[test]
fn mutual_tls_poll() {
    mutual_tls("poll");
}

#[test]
fn mutual_tls_uring() {
    mutual_tls("uring");
}

/// memcached's default minimum is TLS 1.2: a TLS 1.1 client is refused, TLS 1.2 and 1.3 served.
fn tls_1_1_refused(driver: &str) {
    let certs = Certs::new(&format!("v11-{driver}"));
    certs.install("server");
    let keel = keel(driver, &certs, "127.0.0.1:0", "", &[]);
    let port = keel.port(0);
    let ca = certs.path("ca.pem");
    let old = [
        "-quiet",
        "-CAfile",
        &ca,
        "-tls1_1",
        "-cipher",
        "DEFAULT@SECLEVEL=0",
    ];
    let (ok, out) = s_client(port, &old, b"version\r\n");
    assert!(!ok && out.is_empty(), "TLS 1.1 served: {out}");
    for version in ["-tls1_2", "-tls1_3"] {
        let (ok, out) = s_client(
            port,
            &["-quiet", "-CAfile", &ca, version],
            b"version\r\nquit\r\n",
        );
        assert!(ok && out == "VERSION 1.6.18\r\n", "{version}: {out}");
    }
    let mut client = TlsClient::connect(port, certs.client_config(false)).unwrap();
    assert_eq!(stat(&mut client, "", "ssl_handshake_errors"), "1");
}

#[test]
fn tls_1_1_refused_mio() {
    tls_1_1_refused("mio");
}

#[test]
fn tls_1_1_refused_poll() {
    tls_1_1_refused("poll");
}

#[test]
fn tls_1_1_refused_uring() {
    tls_1_1_refused("uring");
}

/// `refresh_certs` and SIGHUP reload the pair from the same paths: new connections get the new
/// certificate, open ones keep theirs and keep working; a bad file is one error line and the
/// certificate in use stays.
fn refresh_certs_switches_certificates(driver: &str) {
    let certs = Certs::new(&format!("refresh-{driver}"));
    certs.install("server");
    let keel = keel(driver, &certs, "127.0.0.1:0", "", &[]);
    let port = keel.port(0);
    let config = certs.client_config(false);
    let mut first = TlsClient::connect(port, config.clone()).unwrap();
    assert_eq!(first.server_cert(), certs.der("server"));
    certs.install("other");
    assert_eq!(
        first.call(b"refresh_certs\r\n", b"\r\n").unwrap(),
        b"OK\r\n"
    );
    let mut second = TlsClient::connect(port, config.clone()).unwrap();
    assert_eq!(second.server_cert(), certs.der("other"));
    assert_eq!(
        first.call(b"set a 0 0 1\r\n1\r\n", b"\r\n").unwrap(),
        b"STORED\r\n"
    );
    assert_eq!(
        second.call(b"get a\r\n", b"END\r\n").unwrap(),
        b"VALUE a 0 1\r\n1\r\nEND\r\n"
    );
    // A broken certificate file: one error line, the current certificate stays.
    std::fs::write(certs.dir.join("live.pem"), b"not a certificate\n").unwrap();
    let reply = String::from_utf8(second.call(b"refresh_certs\r\n", b"\r\n").unwrap()).unwrap();
    assert!(
        reply.starts_with("Error loading the certificate chain: ")
            && reply.contains("live.pem")
            && reply.matches("\r\n").count() == 1,
        "{reply:?}"
    );
    let third = TlsClient::connect(port, config.clone()).unwrap();
    assert_eq!(third.server_cert(), certs.der("other"));
    // SIGHUP rereads the files as refresh_certs does.
    certs.install("server");
    keel.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let probe = TlsClient::connect(port, config.clone()).unwrap();
        if probe.server_cert() == certs.der("server") {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        first.call(b"get a\r\n", b"END\r\n").unwrap(),
        b"VALUE a 0 1\r\n1\r\nEND\r\n"
    );
    assert_eq!(stat(&mut second, "", "time_since_server_cert_refresh"), "0");
}

#[test]
fn refresh_certs_switches_certificates_mio() {
    refresh_certs_switches_certificates("mio");
}

#[test]
fn refresh_certs_switches_certificates_poll() {
    refresh_certs_switches_certificates("poll");
}

#[test]
fn refresh_certs_switches_certificates_uring() {
    refresh_certs_switches_certificates("uring");
}

/// memcached 1.6.18 `-Z` with the same certificate, and `refresh_certs`, answers the same TLS
/// text stream byte for byte, and python-binary-memcached over TLS gets the same results.
#[test]
fn memcached_is_the_oracle_over_tls() {
    require_tool("memcached", "memcached");
    let certs = Certs::new("oracle");
    certs.install("server");
    let port = free_port();
    let user: Vec<String> = user_args()
        .into_iter()
        .map(|a| if a == "root" { "nobody".to_owned() } else { a })
        .collect();
    let mut memcached = Command::new("memcached")
        .args(&user)
        .args([
            "-U",
            "0",
            "-l",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-Z",
            "-o",
        ])
        .arg(certs.options(""))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "memcached did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stream: &[(&[u8], &[u8])] = &[
        (b"set a 5 0 3\r\nabc\r\n", b"\r\n"),
        (b"append a 0 0 2\r\nde\r\n", b"\r\n"),
        (b"get a b\r\n", b"END\r\n"),
        (b"set n 0 0 2\r\n10\r\n", b"\r\n"),
        (b"incr n 5\r\n", b"\r\n"),
        (b"decr n 100\r\n", b"\r\n"),
        (b"delete a\r\n", b"\r\n"),
        (b"delete a\r\n", b"\r\n"),
        (b"refresh_certs\r\n", b"\r\n"),
        (b"mn\r\n", b"\r\n"),
        (b"bogus\r\n", b"\r\n"),
    ];
    let settings = [
        "ssl_enabled",
        "ssl_chain_cert",
        "ssl_key",
        "ssl_verify_mode",
        "ssl_keyformat",
        "ssl_ciphers",
        "ssl_ca_cert",
        "ssl_wbuf_size",
        "ssl_session_cache",
        "ssl_kernel_tls",
        "ssl_min_version",
    ];
    let run = |port: u16| -> (Vec<Vec<u8>>, Vec<String>, String) {
        let mut client = TlsClient::connect(port, certs.client_config(false)).unwrap();
        let replies = stream
            .iter()
            .map(|(request, end)| client.call(request, end).unwrap())
            .collect();
        let lines = settings
            .iter()
            .map(|name| format!("{name} {}", stat(&mut client, "settings", name)))
            .collect();
        let binary = python(&format!(
            "import ssl, bmemcached\n\
             ctx = ssl.create_default_context(cafile={:?})\n\
             b = bmemcached.Client(['127.0.0.1:{port}'], tls_context=ctx)\n\
             print(b.set('x', 'y'), b.get('x'), b.incr('c', 1) if b.set('c', 1) else None,\n\
                   b.delete('x'), b.get('x'), b.add('c', 2))\n",
            certs.path("ca.pem")
        ));
        (replies, lines, binary)
    };
    let theirs = run(port);
    let _ = memcached.kill();
    let _ = memcached.wait();
    assert_eq!(theirs.1[0], "ssl_enabled yes");
    for driver in ["mio", "poll", "uring"] {
        let keel = keel(driver, &certs, "127.0.0.1:0", "", &[]);
        let ours = run(keel.port(0));
        for (i, (want, got)) in theirs.0.iter().zip(&ours.0).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(want),
                "{driver}: request {i}"
            );
        }
        assert_eq!(ours.1, theirs.1, "{driver}");
        assert_eq!(ours.2, theirs.2, "{driver}");
    }
}
