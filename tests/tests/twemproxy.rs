//! Scale-out behind an existing proxy: twemproxy (`nutcracker`) with ketama distribution in front
//! of three keel servers on loopback, for each driver. A client writes 10,000 keys through the
//! proxy (text protocol, pipelined batches), every key reads back through the proxy, each keel
//! server holds a share (curr_items > 0 on each, the sum is 10,000, and every key is on exactly
//! one server), and after one keel server is stopped the proxy ejects it and keeps serving every
//! key of the other two (one retry pass allowed for the requests that raced the ejection).
//!
//! The configuration written for nutcracker is [`CONFIG`] (the README's recipe).

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_tests::text::{TextConn, free_port};
use keel_tests::{Kind, Server, server_tests};

const KEYS: usize = 10_000;
const BATCH: usize = 500;

/// The pool's configuration; `{listen}` and `{servers}` are filled in.
const CONFIG: &str = "\
keel:
  listen: {listen}
  hash: fnv1a_64
  distribution: ketama
  timeout: 2000
  redis: false
  preconnect: true
  auto_eject_hosts: true
  server_failure_limit: 1
  server_retry_timeout: 600000
  servers:
{servers}";

/// nutcracker on PATH, else in /usr/sbin (where Debian puts it; a non-root PATH may lack it).
/// Missing: the test fails, it never skips.
fn nutcracker_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nutcracker"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/nutcracker")).filter(|p| p.is_file()))
        .expect("`nutcracker` is not installed (apt-get install -y nutcracker); scripts/test.sh installs it")
}

/// A running nutcracker; killed on drop, its log printed when the test fails.
struct Proxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Proxy {
    fn start(backends: &[u16]) -> Proxy {
        let bin = nutcracker_bin();
        let dir = std::env::temp_dir().join(format!(
            "keel-twemproxy-{}-{}",
            std::process::id(),
            backends[0]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for _attempt in 0..5 {
            let port = free_port();
            let stats_port = free_port();
            let servers: String = backends
                .iter()
                .enumerate()
                .map(|(i, p)| format!("   - 127.0.0.1:{p}:1 keel{i}\n"))
                .collect();
            let config = CONFIG
                .replace("{listen}", &format!("127.0.0.1:{port}"))
                .replace("{servers}", &servers);
            let conf = dir.join("nutcracker.yml");
            std::fs::write(&conf, config).unwrap();
            let log = dir.join("nutcracker.log");
            let child = Command::new(&bin)
                .arg("-c")
                .arg(&conf)
                .arg("-s")
                .arg(stats_port.to_string())
                .arg("-a")
                .arg("127.0.0.1")
                .arg("-o")
                .arg(&log)
                .arg("-p")
                .arg(dir.join("nutcracker.pid"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(dir.join("stderr")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawning nutcracker: {e}"));
            let mut proxy = Proxy {
                child,
                port,
                dir: dir.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = proxy.child.try_wait() {
                    break; // a port was taken meanwhile: retry with new ones
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return proxy;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("nutcracker did not start; log:\n{}", Proxy::read_log(&dir));
    }

    fn read_log(dir: &std::path::Path) -> String {
        let mut bytes = std::fs::read(dir.join("nutcracker.log")).unwrap_or_default();
        bytes.extend(std::fs::read(dir.join("stderr")).unwrap_or_default());
        let start = bytes.len().saturating_sub(4096);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- nutcracker log tail ----\n{}",
                Proxy::read_log(&self.dir)
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn key(i: usize) -> String {
    format!("tw:{i:05}")
}

fn value(i: usize) -> String {
    format!("value-{i}-{}", "x".repeat(i % 50))
}

/// One text reply to a single-key `get`.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Hit(String),
    Miss,
    /// `SERVER_ERROR …` / `CLIENT_ERROR …` / `ERROR`: the proxy could not reach the server.
    Error(String),
}

/// Parses `n` replies to single-key gets from `bytes`; returns them and the bytes used, or None
/// when more bytes are needed.
fn parse_gets(bytes: &[u8], n: usize) -> Option<Vec<Got>> {
    let mut out = Vec::with_capacity(n);
    let mut rest = bytes;
    while out.len() < n {
        let nl = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&rest[..nl]).expect("UTF-8 reply line");
        rest = &rest[nl + 2..];
        if line == "END" {
            out.push(Got::Miss);
        } else if let Some(header) = line.strip_prefix("VALUE ") {
            let len: usize = header.split(' ').nth(2).expect("length").parse().unwrap();
            if rest.len() < len + 2 + 5 {
                return None;
            }
            let data = String::from_utf8(rest[..len].to_vec()).unwrap();
            assert_eq!(&rest[len..len + 7], b"\r\nEND\r\n", "after VALUE {header}");
            rest = &rest[len + 7..];
            out.push(Got::Hit(data));
        } else if line.contains("ERROR") {
            out.push(Got::Error(line.to_string()));
        } else {
            panic!("unexpected reply line {line:?}");
        }
    }
    assert!(rest.is_empty(), "{} stray bytes", rest.len());
    Some(out)
}

/// Gets `keys` through `conn` in pipelined batches.
fn get_all(conn: &mut TextConn, keys: &[usize]) -> Vec<Got> {
    let mut results = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(BATCH) {
        let mut req = String::new();
        for &i in chunk {
            req.push_str(&format!("get {}\r\n", key(i)));
        }
        conn.send(req.as_bytes());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = Vec::new();
        loop {
            // Each reply ends in "\r\n": read line-terminated pieces until the batch parses.
            let (piece, closed) = conn.read_until_suffix(b"\r\n");
            buf.extend_from_slice(&piece);
            if let Some(got) = parse_gets(&buf, chunk.len()) {
                results.extend(got);
                break;
            }
            assert!(!closed, "connection closed mid-batch");
            assert!(Instant::now() < deadline, "batch not answered within 20 s");
        }
    }
    results
}

fn twemproxy(kind: Kind) {
    let started = Instant::now();
    let mut keels: Vec<Option<Server>> = (0..3).map(|_| Some(Server::start(kind))).collect();
    let ports: Vec<u16> = keels.iter().map(|s| s.as_ref().unwrap().port).collect();
    let proxy = Proxy::start(&ports);
    let mut conn = TextConn::connect(proxy.port);

    // Write 10,000 keys through the proxy.
    let all: Vec<usize> = (0..KEYS).collect();
    for chunk in all.chunks(BATCH) {
        let mut req = String::new();
        for &i in chunk {
            let v = value(i);
            req.push_str(&format!(
                "set {} {} 0 {}\r\n{v}\r\n",
                key(i),
                i % 7,
                v.len()
            ));
        }
        conn.send(req.as_bytes());
        let expected = "STORED\r\n".repeat(chunk.len());
        let (reply, closed) = conn.read_until_suffix(b"STORED\r\n");
        let mut reply = reply;
        while reply.len() < expected.len() && !closed {
            let (more, c) = conn.read_until_suffix(b"STORED\r\n");
            reply.extend(more);
            if c {
                break;
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&reply),
            expected,
            "batch at {}",
            chunk[0]
        );
    }

    // Every key reads back through the proxy.
    let got = get_all(&mut conn, &all);
    for (i, g) in got.iter().enumerate() {
        assert_eq!(*g, Got::Hit(value(i)), "key {}", key(i));
    }
    // A multi-get through the proxy (split across servers and merged) sees them too.
    let mut multi = String::from("get");
    for i in (0..KEYS).step_by(97) {
        multi.push_str(&format!(" {}", key(i)));
    }
    multi.push_str("\r\n");
    conn.send(multi.as_bytes());
    let (reply, _) = conn.read_until_suffix(b"END\r\n");
    let text = String::from_utf8(reply).unwrap();
    assert_eq!(
        text.matches("VALUE ").count(),
        KEYS.div_ceil(97),
        "multi-get through the proxy"
    );

    // Each server holds a share; every key lives on exactly one server.
    let mut owner: HashMap<usize, usize> = HashMap::new();
    let mut total = 0;
    for (s, &port) in ports.iter().enumerate() {
        let mut direct = TextConn::connect(port);
        let items: usize = direct.stat("curr_items").parse().unwrap();
        assert!(items > 0, "keel server {s} holds no keys");
        total += items;
        let found = get_all(&mut direct, &all);
        let mut here = 0;
        for (i, g) in found.into_iter().enumerate() {
            if g == Got::Hit(value(i)) {
                assert!(
                    owner.insert(i, s).is_none(),
                    "key {} on two servers",
                    key(i)
                );
                here += 1;
            } else {
                assert_eq!(g, Got::Miss);
            }
        }
        assert_eq!(here, items, "server {s}: curr_items vs keys found");
    }
    assert_eq!(total, KEYS, "curr_items summed over the servers");
    assert_eq!(owner.len(), KEYS);
    let shares: Vec<usize> = (0..3)
        .map(|s| owner.values().filter(|&&o| o == s).count())
        .collect();
    eprintln!("{}: shares per server {shares:?}", kind.name());

    // Stop one server: the proxy ejects it and keeps serving the other two.
    let stopped = 1;
    drop(keels[stopped].take());
    let survivors: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| owner[i] != stopped)
        .collect();
    let mut failures = Vec::new();
    for pass in 0..2 {
        let mut conn = TextConn::connect(proxy.port);
        let got = get_all(&mut conn, &all);
        failures.clear();
        for (i, g) in got.iter().enumerate() {
            match g {
                Got::Hit(v) => assert_eq!(*v, value(i), "key {}: wrong value", key(i)),
                Got::Miss | Got::Error(_) if owner[&i] == stopped => {}
                other => failures.push((i, format!("{other:?}"))),
            }
        }
        if failures.is_empty() {
            eprintln!(
                "{}: all {} surviving keys served on pass {pass}",
                kind.name(),
                survivors.len()
            );
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} keys of the surviving servers not served after ejection, e.g. {:?}",
        failures.len(),
        survivors.len(),
        &failures[..failures.len().min(5)]
    );
    // New writes go to the survivors only, and read back.
    let mut conn = TextConn::connect(proxy.port);
    conn.send(b"set after-eject 0 0 2\r\nok\r\nget after-eject\r\n");
    let (reply, _) = conn.read_until_suffix(b"END\r\n");
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "STORED\r\nVALUE after-eject 0 2\r\nok\r\nEND\r\n"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    drop(keels);
}

server_tests!(twemproxy: mio, poll, uring);
