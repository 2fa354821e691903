//! The io_uring driver's own paths, each with operations in flight: a peer resetting while a send
//! is in flight, peers resetting behind data the server has not read yet, the core closing
//! connections whose receive is armed, shutdown with thousands of operations pending, 5,000
//! connections exhausting the receive-buffer ring at once, and the one-line refusal where
//! io_uring is forbidden (a seccomp filter, as Docker's default profile).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keel_tests::server::{keel_bin, raise_nofile, serial, user_args};
use keel_tests::text::TextConn;
use keel_tests::{Kind, Options, Server};

fn uring(extra: &[&str]) -> Server {
    Server::start_with(
        Kind::KeelUring,
        &Options {
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            ..Options::default()
        },
    )
}

/// Open descriptors of the server process.
fn fd_count(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .expect("the server's /proc/PID/fd")
        .count()
}

/// Polls until the server has `want` descriptors open.
fn wait_fds(server: &Server, want: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while fd_count(server) != want {
        assert!(
            Instant::now() < deadline,
            "{} descriptors open, want {want}",
            fd_count(server)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `stats` until `curr_connections` is `want` (the asking connection included).
fn wait_connections(server: &Server, want: usize, within: Duration) {
    let deadline = Instant::now() + within;
    let mut conn = TextConn::connect(server.port);
    loop {
        let got: usize = conn.stat("curr_connections").parse().unwrap();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "curr_connections {got}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SO_LINGER 0: dropping the socket sends a reset instead of a FIN.
fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on an open socket with a pointer to a local linger of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER");
}

fn store_big(port: u16, key: &str, len: usize) {
    let mut conn = TextConn::connect(port);
    let mut req = format!("set {key} 0 0 {len}\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'v', len));
    req.extend_from_slice(b"\r\n");
    conn.send(&req);
    assert_eq!(conn.read_until_suffix(b"\r\n").0, b"STORED\r\n");
}

/// Clients ask for megabytes they never read, so the server's send waits in the kernel, then
/// reset: the send completes with an error, the connection closes, and the server goes on.
#[test]
fn peer_resets_with_a_send_in_flight() {
    let server = uring(&["-t", "2"]);
    let fds_before = fd_count(&server);
    store_big(server.port, "big", 512 << 10);
    for _ in 0..8 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream.write_all(&b"get big\r\n".repeat(64)).unwrap();
        // Long enough for the socket buffers to fill and a send to wait in the kernel.
        std::thread::sleep(Duration::from_millis(100));
        set_linger_zero(&stream);
        drop(stream);
    }
    wait_connections(&server, 1, Duration::from_secs(5));
    let mut conn = TextConn::connect(server.port);
    conn.send(b"get big\r\n");
    let (reply, closed) = conn.read_until_suffix(b"END\r\n");
    assert!(!closed);
    assert_eq!(
        reply.len(),
        "VALUE big 0 524288\r\n".len() + (512 << 10) + 7
    );
    drop(conn);
    // Every reset socket was closed.
    wait_fds(&server, fds_before, Duration::from_secs(5));
}

/// Clients send most of a large value and reset while the server, short of receive buffers,
/// has left much of it unread: each reset arrives behind unread data (the soak's "oversized value
/// cut by a close" that a multishot receive once missed). The reset watch turns the connection's
/// receives into single ones, the reset is reported after the data, and every connection closes.
#[test]
fn resets_behind_unread_data_close_the_connection() {
    let server = uring(&["-t", "2", "--uring-buffers", "2"]);
    let fds_before = fd_count(&server);
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let port = server.port;
            std::thread::spawn(move || {
                for round in 0..4 {
                    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    let len = 900 << 10;
                    let mut req = format!("set r{i}-{round} 0 0 {len}\r\n").into_bytes();
                    req.extend(std::iter::repeat_n(b'v', 600 << 10));
                    stream.write_all(&req).unwrap();
                    set_linger_zero(&stream);
                    drop(stream);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    wait_connections(&server, 1, Duration::from_secs(10));
    // The server still answers, and every reset socket was closed.
    let mut conn = TextConn::connect(server.port);
    conn.send(b"version\r\n");
    assert_eq!(conn.read_until_suffix(b"\r\n").0, b"VERSION 1.6.18\r\n");
    drop(conn);
    wait_fds(&server, fds_before, Duration::from_secs(5));
}

/// The core closes connections whose multishot receive is armed (idle timeout, `quit`, a
/// protocol error): each receive is cancelled, then the socket closed, and nothing leaks.
#[test]
fn core_closes_while_a_receive_is_armed() {
    let server = uring(&["-t", "2", "--idle-timeout", "1"]);
    let fds_before = fd_count(&server);
    let idle: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let mut quitting: Vec<TextConn> = (0..10).map(|_| TextConn::connect(server.port)).collect();
    let mut garbage: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    for conn in &mut quitting {
        conn.send(b"version\r\nquit\r\n");
        let reply = conn.read_to_close();
        assert!(reply.starts_with(b"VERSION "), "{reply:?}");
    }
    for stream in &mut garbage {
        // A binary header with a body too large to buffer: closed by the core at once.
        let mut header = [0u8; 24];
        header[0] = 0x80;
        header[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        stream.write_all(&header).unwrap();
    }
    for mut stream in idle.into_iter().chain(garbage) {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 256];
        let ended = loop {
            match stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
                Err(e) => panic!("connection not closed: {e}"),
            }
        };
        assert!(ended);
    }
    wait_connections(&server, 1, Duration::from_secs(3));
    wait_fds(&server, fds_before, Duration::from_secs(3));
}

/// SIGTERM with 2,000 connections each holding an armed receive and some with sends waiting in
/// the kernel: exit 0 within 2 s, every client seeing its connection end.
#[test]
fn shutdown_with_thousands_of_operations_pending() {
    let _serial = serial();
    raise_nofile(8192);
    let mut server = uring(&["-c", "4096", "-b", "4096"]);
    store_big(server.port, "big", 256 << 10);
    let mut idle: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    for stream in idle.iter_mut().take(50) {
        stream.write_all(&b"get big\r\n".repeat(40)).unwrap();
    }
    wait_connections(&server, 2001, Duration::from_secs(10));
    let before = Instant::now();
    server.signal(libc::SIGTERM);
    let (status, took) = server
        .wait_exit(Duration::from_secs(5))
        .expect("still running 5 s after SIGTERM");
    assert_eq!(
        status.code(),
        Some(0),
        "{status}; after {:?}",
        before.elapsed()
    );
    assert!(took <= Duration::from_secs(2), "exit took {took:?}");
    for stream in idle.iter_mut().skip(50) {
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("an idle connection after shutdown: {other:?}"),
        }
    }
}

/// 5,000 connections each send a 10 KiB `set` at once (written while the server is stopped, so
/// all of it is waiting when it resumes) to rings of 16 buffers: far more receive completions
/// than the rings have buffers. (With the default 256 the kernel's batching of completions per
/// wait keeps this burst from draining them.) The receives that find a ring empty wait for
/// buffers and every request is answered.
#[test]
fn five_thousand_connections_exhaust_the_buffer_ring() {
    const CONNS: usize = 5000;
    let _serial = serial();
    raise_nofile(16384);
    let server = uring(&[
        "-c",
        "6000",
        "-b",
        "4096",
        "-m",
        "128",
        "--uring-buffers",
        "16",
        "-v",
    ]);
    let value = vec![b'x'; 10 << 10];
    let mut conns: Vec<TcpStream> = (0..CONNS)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    wait_connections(&server, CONNS + 1, Duration::from_secs(10));
    server.signal(libc::SIGSTOP);
    for (i, stream) in conns.iter_mut().enumerate() {
        let mut req = format!("set k{i} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        stream.write_all(&req).unwrap();
    }
    server.signal(libc::SIGCONT);
    for (i, stream) in conns.iter_mut().enumerate() {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut reply = [0u8; 8];
        stream
            .read_exact(&mut reply)
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        assert_eq!(&reply, b"STORED\r\n", "connection {i}");
    }
    let mut check = TextConn::connect(server.port);
    assert_eq!(check.stat("curr_items"), CONNS.to_string());
    assert_eq!(check.stat("curr_connections"), (CONNS + 1).to_string());
    let log = server.log();
    assert!(
        log.contains("receive buffers ran out"),
        "the buffer ring never ran dry; log tail:\n{}",
        server.log_tail()
    );
}

/// Where io_uring is forbidden (here a seccomp filter failing io_uring_setup with EPERM, as
/// Docker's default profile does), `--driver uring` stops at startup with one line naming the
/// cause and the fallback, and exit status 1.
#[test]
fn forbidden_io_uring_is_a_one_line_error() {
    let mut cmd = Command::new(keel_bin());
    cmd.args(["-p", "0", "-l", "127.0.0.1", "--driver", "uring"])
        .args(user_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec and only makes two prctl calls
    // with pointers to data that lives in this (copied) address space for the call.
    unsafe {
        cmd.pre_exec(deny_io_uring_setup);
    }
    let out = keel_tests::text::run_bounded(&mut cmd, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        stderr,
        "keel: io_uring is not permitted (EPERM): disabled by sysctl kernel.io_uring_disabled or \
         refused by a seccomp profile (as Docker's default one does); use --driver mio\n"
    );
}

/// Installs a seccomp filter failing `io_uring_setup` (syscall 425 on every Linux architecture
/// with the common table) with EPERM and allowing everything else.
fn deny_io_uring_setup() -> std::io::Result<()> {
    const IO_URING_SETUP: u32 = 425;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let filter = [
        // Load the syscall number (offset 0 of struct seccomp_data).
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: IO_URING_SETUP,
        },
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with integer arguments, then with a pointer to `program`, which points at
    // `filter`; both outlive the calls.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const libc::sock_fprog,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
