//! Raw-socket helpers for tests that send malformed bytes or must see exactly what the server
//! wrote and how the connection ended, plus the server's resident memory from `/proc`.
//!
//! [`Raw`] is a blocking `TcpStream` whose every read is bounded by a deadline; [`Raw::collect`]
//! gathers bytes until the server closes or the deadline passes and reports which happened.
//! [`rss_kib`] reads `VmRSS` from `/proc/PID/status` (Linux).

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::client::{End, read_some};

/// A raw connection to 127.0.0.1:port.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    /// Connects with TCP_NODELAY (5 s connect bound).
    pub fn connect(port: u16) -> io::Result<Raw> {
        let stream =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        Ok(Raw { stream })
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Half-closes the write side (the server sees EOF).
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads until the server closes the connection or `within` passes; returns the bytes and
    /// how it ended (`End::Timeout`: the connection is still open).
    pub fn collect(&mut self, within: Duration) -> (Vec<u8>, End) {
        self.collect_until(within, |_| false)
    }

    /// Like [`Raw::collect`], but also stops (with `End::Timeout`) as soon as `done(bytes)` holds.
    pub fn collect_until(
        &mut self,
        within: Duration,
        mut done: impl FnMut(&[u8]) -> bool,
    ) -> (Vec<u8>, End) {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        loop {
            if done(&out) {
                return (out, End::Timeout);
            }
            if let Err(end) = read_some(&mut self.stream, deadline, &mut out) {
                return (out, end);
            }
        }
    }

    /// Waits up to `within` for the server to close; returns what arrived, how it ended and when.
    pub fn wait_close(&mut self, within: Duration) -> (Vec<u8>, End, Duration) {
        let start = Instant::now();
        let (bytes, end) = self.collect(within);
        (bytes, end, start.elapsed())
    }
}

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/PID/status`); panics when it
/// cannot be read, so a test that depends on it fails rather than passes vacuously.
pub fn rss_kib(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    text.lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {path}"))
}

/// A dependency-free PRNG (splitmix64) for reproducible randomised tests.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// In `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// `len` pseudo-random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}
