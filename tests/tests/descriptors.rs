//! Running out of descriptors (EMFILE) on every driver: the server stops accepting for a while
//! instead of spinning on a listener it cannot serve, keeps serving the connections it has, and
//! accepts the waiting ones once descriptors come free.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use keel_tests::server::serial;
use keel_tests::{Kind, Options, Server, server_tests};

/// The server's user + system CPU time, in clock ticks.
fn cpu_ticks(server: &Server) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid())).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Whether `version` is answered within `within`.
fn answers(stream: &mut TcpStream, within: Duration) -> bool {
    stream.write_all(b"version\r\n").unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"VERSION "),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("read: {e}"),
    }
}

fn out_of_descriptors(kind: Kind) {
    const LIMIT: u64 = 40;
    let _serial = serial();
    let server = Server::start_with(
        kind,
        &Options {
            nofile: Some(LIMIT),
            extra_args: vec!["-t".into(), "1".into()],
            ..Options::default()
        },
    );
    // Descriptor numbers below the limit still free (an inherited one above it takes no room).
    let below = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&fd| fd < LIMIT)
        .count() as u64;
    let room = (LIMIT - below) as usize;
    let mut conns: Vec<TcpStream> = (0..room + 10)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let served: Vec<bool> = conns
        .iter_mut()
        .map(|c| answers(c, Duration::from_millis(150)))
        .collect();
    let (mut waiting, mut answered) = (Vec::new(), Vec::new());
    for (conn, served) in conns.into_iter().zip(served) {
        if served {
            answered.push(conn);
        } else {
            waiting.push(conn);
        }
    }
    assert_eq!(
        answered.len(),
        room,
        "{} of {} answered",
        answered.len(),
        room + 10
    );
    // Out of descriptors with connections waiting: the server must not spin.
    let before = cpu_ticks(&server);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(&server) - before;
    assert!(
        spent < 30,
        "{spent} ticks of CPU in 1 s while out of descriptors"
    );
    assert!(answers(&mut answered[0], Duration::from_secs(2)));
    // Descriptors come free: the waiting connections are accepted and answered.
    answered.truncate(answered.len() - waiting.len());
    let deadline = Instant::now() + Duration::from_secs(5);
    for conn in &mut waiting {
        let mut buf = [0u8; 64];
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = conn.read(&mut buf).expect("the version asked before");
        assert!(buf[..n].starts_with(b"VERSION "), "{:?}", &buf[..n]);
    }
    assert!(Instant::now() < deadline);
}
server_tests!(out_of_descriptors: mio, poll, uring);
