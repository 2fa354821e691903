//! Helpers for the text-protocol end-to-end tests: a blocking text connection with bounded reads
//! ([`TextConn`]), a bounded runner for external tools ([`run_bounded`]) and a free-port picker.
//!
//! Like [`crate::client`], nothing here shares code with `keel-core`: replies are read as raw bytes
//! and compared as bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A text-protocol connection; every read is bounded by `timeout`.
pub struct TextConn {
    stream: TcpStream,
    timeout: Duration,
    /// Bytes read past the last reply taken.
    pending: Vec<u8>,
}

impl TextConn {
    /// Connects to 127.0.0.1:`port` with a 10 s bound on every reply.
    pub fn connect(port: u16) -> TextConn {
        TextConn::connect_with(port, Duration::from_secs(10))
    }

    pub fn connect_with(port: u16, timeout: Duration) -> TextConn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        stream.set_write_timeout(Some(timeout)).unwrap();
        TextConn {
            stream,
            timeout,
            pending: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// Reads until the bytes received end with `suffix` (and returns all of them), or the peer
    /// closes (returns what came, `closed` true). Panics when the bound passes first.
    pub fn read_until_suffix(&mut self, suffix: &[u8]) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 65536];
        loop {
            if self.pending.ends_with(suffix) {
                return (std::mem::take(&mut self.pending), false);
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return (std::mem::take(&mut self.pending), true),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return (std::mem::take(&mut self.pending), true);
                }
                Err(e) => panic!("read: {e}"),
            }
            if Instant::now() > deadline {
                panic!(
                    "no reply ending in {:?} within {:?}; got {:?}",
                    String::from_utf8_lossy(suffix),
                    self.timeout,
                    String::from_utf8_lossy(&self.pending)
                );
            }
        }
    }

    /// Reads until the peer closes; panics when the bound passes first.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 65536];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return std::mem::take(&mut self.pending),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return std::mem::take(&mut self.pending);
                }
                Err(e) => panic!("read: {e}"),
            }
            if Instant::now() > deadline {
                panic!(
                    "connection not closed within {:?}; got {:?}",
                    self.timeout,
                    String::from_utf8_lossy(&self.pending)
                );
            }
        }
    }

    /// Sends `bytes` followed by `mn\r\n` and returns everything before the `MN\r\n` answer.
    pub fn call(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut req = bytes.to_vec();
        req.extend_from_slice(b"mn\r\n");
        self.send(&req);
        let (mut reply, closed) = self.read_until_suffix(b"MN\r\n");
        assert!(
            !closed,
            "connection closed; got {:?}",
            String::from_utf8_lossy(&reply)
        );
        reply.truncate(reply.len() - 4);
        reply
    }

    /// The value of a general statistic (`stats`).
    pub fn stat(&mut self, name: &str) -> String {
        self.send(b"stats\r\n");
        let (reply, closed) = self.read_until_suffix(b"END\r\n");
        assert!(!closed);
        let text = String::from_utf8_lossy(&reply).into_owned();
        let prefix = format!("STAT {name} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no STAT {name} in {text:?}"))
            .to_string()
    }
}

/// Runs a command with a hard time bound; the child is killed (and the test fails) if it overruns.
pub fn run_bounded(cmd: &mut Command, within: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let start = Instant::now();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).ok();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).ok();
        v
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// A currently free loopback port (for servers that cannot report an ephemeral one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
