//! The closed-loop load generator: `threads` mio event loops share `conns` nonblocking
//! connections; each connection keeps exactly `depth` requests in flight and sends a new one as
//! soon as a response arrives. One read buffer per thread (not per connection) keeps 5,000
//! connections cheap; a connection only owns bytes when a response straddles two reads.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

use crate::procfs;
use crate::proto::{self, OP_GET, OP_SET, STATUS_NOT_FOUND, STATUS_OK};
use crate::tls::{self, Blocking};

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub conns: usize,
    pub depth: usize,
    pub keys: u64,
    pub value_size: usize,
    /// gets : sets, e.g. (9, 1).
    pub ratio: (u32, u32),
    /// Measured duration (ignored when `requests` is set).
    pub duration: Duration,
    /// Measured request count instead of a duration.
    pub requests: Option<u64>,
    /// Load applied before measuring starts (connections already open).
    pub warmup: Duration,
    /// SET every key once before the run.
    pub populate: bool,
    /// Compare the full value of every Nth GET hit (0: never); every hit's length is checked.
    pub verify_every: u64,
    pub threads: usize,
    /// Server process whose utime+stime is sampled over the measured window.
    pub server_pid: Option<u32>,
    pub seed: u64,
    /// Speak TLS, trusting the CA certificate(s) in this PEM file (server name `localhost`).
    pub tls_ca: Option<PathBuf>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            addr: "127.0.0.1:11211".parse().unwrap(),
            conns: 50,
            depth: 1,
            keys: 10_000,
            value_size: 32,
            ratio: (9, 1),
            duration: Duration::from_secs(5),
            requests: None,
            warmup: Duration::from_millis(500),
            populate: true,
            verify_every: 100,
            threads: 1,
            server_pid: None,
            seed: 0x5eed,
            tls_ca: None,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub label: String,
    pub conns: usize,
    pub depth: usize,
    pub value_size: usize,
    pub keys: u64,
    pub ratio: (u32, u32),
    pub requests: u64,
    pub gets: u64,
    pub sets: u64,
    pub get_hits: u64,
    pub get_misses: u64,
    pub errors: u64,
    pub verified: u64,
    pub verify_failures: u64,
    pub elapsed_s: f64,
    pub throughput: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
    pub server_cpu_s: Option<f64>,
    pub req_per_server_cpu_s: Option<f64>,
    pub client_cpu_s: f64,
}

impl Report {
    pub fn human(&self) -> String {
        let cpu = match (self.server_cpu_s, self.req_per_server_cpu_s) {
            (Some(c), Some(r)) => format!(", server cpu {c:.2}s = {r:.0} req/cpu-s"),
            _ => String::new(),
        };
        format!(
            "{label}conns={} depth={} value={}B keys={} get:set={}:{}: {} req in {:.2}s = {:.0} req/s; \
             latency p50 {:.1}us p99 {:.1}us p99.9 {:.1}us max {:.1}us; hits {} misses {} errors {} \
             verified {} (failures {}){cpu}, client cpu {:.2}s",
            self.conns,
            self.depth,
            self.value_size,
            self.keys,
            self.ratio.0,
            self.ratio.1,
            self.requests,
            self.elapsed_s,
            self.throughput,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.get_hits,
            self.get_misses,
            self.errors,
            self.verified,
            self.verify_failures,
            self.client_cpu_s,
            label = if self.label.is_empty() {
                String::new()
            } else {
                format!("[{}] ", self.label)
            },
        )
    }

    pub fn json(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("null".to_string(), |x| format!("{x:.4}"));
        format!(
            concat!(
                "{{\"label\":\"{}\",\"conns\":{},\"depth\":{},\"value_size\":{},\"keys\":{},",
                "\"gets_per_set\":\"{}:{}\",\"requests\":{},\"gets\":{},\"sets\":{},",
                "\"get_hits\":{},\"get_misses\":{},\"errors\":{},\"verified\":{},",
                "\"verify_failures\":{},\"elapsed_s\":{:.4},\"throughput\":{:.1},",
                "\"p50_us\":{:.2},\"p99_us\":{:.2},\"p999_us\":{:.2},\"max_us\":{:.2},",
                "\"mean_us\":{:.2},\"server_cpu_s\":{},\"req_per_server_cpu_s\":{},",
                "\"client_cpu_s\":{:.4}}}"
            ),
            self.label,
            self.conns,
            self.depth,
            self.value_size,
            self.keys,
            self.ratio.0,
            self.ratio.1,
            self.requests,
            self.gets,
            self.sets,
            self.get_hits,
            self.get_misses,
            self.errors,
            self.verified,
            self.verify_failures,
            self.elapsed_s,
            self.throughput,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.max_us,
            self.mean_us,
            opt(self.server_cpu_s),
            opt(self.req_per_server_cpu_s),
            self.client_cpu_s,
        )
    }
}

/// Opens a blocking connection, then prepares it for the event loop: no Nagle, and
/// `SO_LINGER {on, 0}` so closing sends RST and leaves no TIME_WAIT behind (thousands of
/// connections per run would otherwise exhaust loopback ports).
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut last = None;
    for _ in 0..50 {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_nodelay(true)?;
                set_linger_zero(&s);
                return Ok(s);
            }
            Err(e) => {
                last = Some(e);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    Err(last.unwrap())
}

pub fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on an open socket with a properly sized option value.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// SETs keys `0..keys` over one blocking connection, `batch` per round trip.
pub fn populate(addr: SocketAddr, keys: u64, value_size: usize, batch: u64) -> io::Result<()> {
    populate_over(Blocking::Plain(connect(addr)?), keys, value_size, batch)
}

/// `populate` over a connection already open (plaintext or TLS).
pub fn populate_over(mut s: Blocking, keys: u64, value_size: usize, batch: u64) -> io::Result<()> {
    let mut out = Vec::new();
    let mut inbuf = vec![0u8; 1 << 16];
    let mut have = 0usize;
    let mut next = 0u64;
    while next < keys {
        let n = batch.min(keys - next);
        out.clear();
        for k in next..next + n {
            proto::encode_set(&mut out, OP_SET, k, value_size, k as u32);
        }
        s.write_all(&out)?;
        let mut got = 0;
        while got < n {
            let mut off = 0;
            while let Some(r) = proto::parse_response(&inbuf[off..have])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                if r.status != STATUS_OK {
                    return Err(io::Error::other(format!(
                        "populate SET status {}",
                        r.status
                    )));
                }
                off += r.len;
                got += 1;
            }
            inbuf.copy_within(off..have, 0);
            have -= off;
            if got < n {
                let r = s.read(&mut inbuf[have..])?;
                if r == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                have += r;
            }
        }
        next += n;
    }
    Ok(())
}

struct Pending {
    sent: Instant,
    key: u64,
    op: u8,
}

struct Conn {
    sock: MioStream,
    /// The TLS session, with `--tls-ca`: requests go through it, responses come out of it.
    tls: Option<rustls::ClientConnection>,
    wbuf: Vec<u8>,
    wpos: usize,
    leftover: Vec<u8>,
    inflight: VecDeque<Pending>,
    next_opaque: u32,
    rng: u64,
    dead: bool,
}

#[derive(Default)]
struct Counts {
    requests: u64,
    gets: u64,
    sets: u64,
    hits: u64,
    misses: u64,
    errors: u64,
    verified: u64,
    verify_failures: u64,
}

struct Shared<'a> {
    cfg: &'a LoadConfig,
    measure_from: Instant,
    stop_at: Option<Instant>,
}

fn xorshift(s: &mut u64) -> u64 {
    let mut x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    x
}

impl Conn {
    fn issue(&mut self, cfg: &LoadConfig, now: Instant) {
        let r = xorshift(&mut self.rng);
        let key = (r >> 16) % cfg.keys;
        let total = u64::from(cfg.ratio.0 + cfg.ratio.1).max(1);
        let op = if (r & 0xffff) % total < u64::from(cfg.ratio.0) {
            OP_GET
        } else {
            OP_SET
        };
        let opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        if op == OP_GET {
            proto::encode_get(&mut self.wbuf, key, opaque);
        } else {
            proto::encode_set(&mut self.wbuf, OP_SET, key, cfg.value_size, opaque);
        }
        self.inflight.push_back(Pending { sent: now, key, op });
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            if self.wpos < self.wbuf.len() {
                // The session has no buffer limit: it takes the whole batch.
                tls.writer().write_all(&self.wbuf[self.wpos..])?;
                self.wbuf.clear();
                self.wpos = 0;
            }
            while tls.wants_write() {
                match tls.write_tls(&mut self.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        while self.wpos < self.wbuf.len() {
            match self.sock.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }
}

struct ThreadResult {
    hist: Histogram<u64>,
    counts: Counts,
    last_done: Option<Instant>,
}

/// Processes every complete response in `buf`; returns bytes consumed.
#[allow(clippy::too_many_arguments)]
fn consume(
    c: &mut Conn,
    buf: &[u8],
    sh: &Shared<'_>,
    now: Instant,
    hist: &mut Histogram<u64>,
    counts: &mut Counts,
    quota: &mut u64,
    last_done: &mut Option<Instant>,
) -> usize {
    let cfg = sh.cfg;
    let mut off = 0;
    loop {
        let r = match proto::parse_response(&buf[off..]) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(_) => {
                counts.errors += 1;
                c.dead = true;
                return buf.len();
            }
        };
        off += r.len;
        let Some(p) = c.inflight.pop_front() else {
            counts.errors += 1;
            continue;
        };
        let measured = p.sent >= sh.measure_from && sh.stop_at.is_none_or(|s| now <= s);
        if measured {
            counts.requests += 1;
            let ns = now.duration_since(p.sent).as_nanos() as u64;
            let _ = hist.record(ns.max(1));
            *last_done = Some(now);
            if r.opcode != p.op {
                counts.errors += 1;
            }
            if p.op == OP_GET {
                counts.gets += 1;
                match r.status {
                    STATUS_OK => {
                        counts.hits += 1;
                        let check_full =
                            cfg.verify_every > 0 && counts.hits % cfg.verify_every == 0;
                        if check_full {
                            counts.verified += 1;
                            if !proto::value_matches(p.key, r.value, cfg.value_size) {
                                counts.verify_failures += 1;
                            }
                        } else if r.value.len() != cfg.value_size {
                            counts.verify_failures += 1;
                        }
                    }
                    STATUS_NOT_FOUND => counts.misses += 1,
                    _ => counts.errors += 1,
                }
            } else {
                counts.sets += 1;
                if r.status != STATUS_OK {
                    counts.errors += 1;
                }
            }
        }
        // Closed loop: one response in, one request out, until the stop time or quota.
        let may_issue = match sh.stop_at {
            Some(s) => now < s,
            None => {
                if now < sh.measure_from {
                    true
                } else if *quota > 0 {
                    *quota -= 1;
                    true
                } else {
                    false
                }
            }
        };
        if may_issue {
            c.issue(cfg, now);
        }
    }
    off
}

/// Hands `data` (response bytes, after any TLS) to `consume`, keeping an unfinished response.
#[allow(clippy::too_many_arguments)]
fn deliver(
    c: &mut Conn,
    data: &[u8],
    sh: &Shared<'_>,
    now: Instant,
    hist: &mut Histogram<u64>,
    counts: &mut Counts,
    quota: &mut u64,
    last_done: &mut Option<Instant>,
) {
    if c.leftover.is_empty() {
        let used = consume(c, data, sh, now, hist, counts, quota, last_done);
        if used < data.len() {
            c.leftover.extend_from_slice(&data[used..]);
        }
    } else {
        let mut buf = std::mem::take(&mut c.leftover);
        buf.extend_from_slice(data);
        let used = consume(c, &buf, sh, now, hist, counts, quota, last_done);
        buf.drain(..used);
        c.leftover = buf;
    }
}

/// Decrypts `ciphertext` into `plain` (cleared first).
fn decrypt(
    tls: &mut rustls::ClientConnection,
    mut ciphertext: &[u8],
    plain: &mut Vec<u8>,
) -> io::Result<()> {
    plain.clear();
    while !ciphertext.is_empty() {
        tls.read_tls(&mut ciphertext)?;
        tls.process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        loop {
            let at = plain.len();
            plain.resize(at + 16384, 0);
            match tls.reader().read(&mut plain[at..]) {
                Ok(n) => {
                    plain.truncate(at + n);
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    plain.truncate(at);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn run_thread(
    sh: &Shared<'_>,
    socks: Vec<(TcpStream, Option<rustls::ClientConnection>)>,
    mut quota: u64,
    thread_ix: usize,
) -> io::Result<ThreadResult> {
    let cfg = sh.cfg;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Conn> = Vec::with_capacity(socks.len());
    let mut plain = Vec::new();
    for (i, (s, tls)) in socks.into_iter().enumerate() {
        s.set_nonblocking(true)?;
        let mut sock = MioStream::from_std(s);
        poll.registry()
            .register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)?;
        let seed = cfg.seed ^ ((thread_ix as u64) << 40) ^ ((i as u64 + 1) * 0x9E37_79B9_7F4A_7C15);
        conns.push(Conn {
            sock,
            tls,
            wbuf: Vec::with_capacity(cfg.depth * (40 + cfg.value_size)),
            wpos: 0,
            leftover: Vec::new(),
            inflight: VecDeque::with_capacity(cfg.depth),
            next_opaque: 0,
            rng: seed | 1,
            dead: false,
        });
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut counts = Counts::default();
    let mut last_done = None;
    let mut rbuf = vec![0u8; 256 * 1024];

    // Prime every connection with `depth` requests.
    let now = Instant::now();
    for c in conns.iter_mut() {
        for _ in 0..cfg.depth {
            c.issue(cfg, now);
        }
        c.flush()?;
    }
    let drain_deadline = |now: Instant| -> bool {
        match sh.stop_at {
            Some(s) => now > s + Duration::from_secs(5),
            None => false,
        }
    };
    loop {
        let outstanding = conns.iter().any(|c| !c.dead && !c.inflight.is_empty());
        if !outstanding {
            break;
        }
        let now = Instant::now();
        if drain_deadline(now) {
            counts.errors += conns.iter().map(|c| c.inflight.len() as u64).sum::<u64>();
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.dead {
                continue;
            }
            if ev.is_readable() {
                loop {
                    match c.sock.read(&mut rbuf) {
                        Ok(0) => {
                            c.dead = true;
                            counts.errors += c.inflight.len() as u64;
                            break;
                        }
                        Ok(n) => {
                            let now = Instant::now();
                            let data = match &mut c.tls {
                                None => &rbuf[..n],
                                Some(tls) => {
                                    if decrypt(tls, &rbuf[..n], &mut plain).is_err() {
                                        c.dead = true;
                                        counts.errors += c.inflight.len() as u64;
                                        break;
                                    }
                                    &plain[..]
                                }
                            };
                            deliver(
                                c,
                                data,
                                sh,
                                now,
                                &mut hist,
                                &mut counts,
                                &mut quota,
                                &mut last_done,
                            );
                            if n < rbuf.len() {
                                // Short read: the socket is (almost certainly) drained; the
                                // next edge will tell if more arrived.
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            c.dead = true;
                            counts.errors += c.inflight.len() as u64;
                            break;
                        }
                    }
                }
            }
            if !c.dead && c.flush().is_err() {
                c.dead = true;
            }
        }
    }
    Ok(ThreadResult {
        hist,
        counts,
        last_done,
    })
}

/// Opens the connections, optionally populates, runs the closed loop and reports.
pub fn run(cfg: &LoadConfig, label: &str) -> io::Result<Report> {
    procfs::raise_nofile(cfg.conns as u64 + 1024);
    let tls_config = cfg.tls_ca.as_deref().map(tls::client_config).transpose()?;
    let open = || -> io::Result<(TcpStream, Option<rustls::ClientConnection>)> {
        let mut sock = connect(cfg.addr)?;
        let session = match &tls_config {
            Some(config) => Some(tls::handshake(&mut sock, config)?),
            None => None,
        };
        Ok((sock, session))
    };
    if cfg.populate {
        let blocking = match open()? {
            (sock, None) => Blocking::Plain(sock),
            (sock, Some(session)) => {
                Blocking::Tls(Box::new(rustls::StreamOwned::new(session, sock)))
            }
        };
        // 256 pipelined SETs over the blocking TLS stream stalled against memcached -Z (not
        // diagnosed further); 16 at a time does not.
        let batch = if tls_config.is_some() { 16 } else { 256 };
        populate_over(blocking, cfg.keys, cfg.value_size, batch)?;
    }
    let threads = cfg.threads.max(1).min(cfg.conns.max(1));
    let mut per_thread: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..cfg.conns {
        per_thread[i % threads].push(open()?);
    }
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let stop_at = if cfg.requests.is_some() {
        None
    } else {
        Some(measure_from + cfg.duration)
    };
    let sh = Shared {
        cfg,
        measure_from,
        stop_at,
    };
    let total_quota = cfg.requests.unwrap_or(0);
    let (results, cpu0, cpu1, client0, client1, t0, t1) = std::thread::scope(|scope| {
        let sh = &sh;
        let handles: Vec<_> = per_thread
            .into_iter()
            .enumerate()
            .map(|(ix, socks)| {
                // Each thread's share of a request quota.
                let q = total_quota / threads as u64
                    + u64::from((ix as u64) < total_quota % threads as u64);
                scope.spawn(move || run_thread(sh, socks, q, ix))
            })
            .collect();
        // Sample server CPU and our own CPU over the measured window.
        let sleep_until = |t: Instant| {
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
        };
        sleep_until(measure_from);
        let cpu0 = cfg.server_pid.and_then(procfs::cpu_secs);
        let client0 = procfs::self_cpu();
        let t0 = Instant::now();
        let (cpu1, client1, t1) = if let Some(stop) = stop_at {
            sleep_until(stop);
            (
                cfg.server_pid.and_then(procfs::cpu_secs),
                procfs::self_cpu(),
                Instant::now(),
            )
        } else {
            (None, Duration::ZERO, t0)
        };
        let results: Vec<io::Result<ThreadResult>> = handles
            .into_iter()
            .map(|h| h.join().expect("load thread panicked"))
            .collect();
        (results, cpu0, cpu1, client0, client1, t0, t1)
    });
    let (cpu1, client1, t1) = if stop_at.is_some() {
        (cpu1, client1, t1)
    } else {
        (
            cfg.server_pid.and_then(procfs::cpu_secs),
            procfs::self_cpu(),
            Instant::now(),
        )
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    let mut r = Report {
        label: label.to_string(),
        conns: cfg.conns,
        depth: cfg.depth,
        value_size: cfg.value_size,
        keys: cfg.keys,
        ratio: cfg.ratio,
        ..Report::default()
    };
    let mut last_done: Option<Instant> = None;
    for res in results {
        let tr = res?;
        hist.add(&tr.hist).ok();
        let c = tr.counts;
        r.requests += c.requests;
        r.gets += c.gets;
        r.sets += c.sets;
        r.get_hits += c.hits;
        r.get_misses += c.misses;
        r.errors += c.errors;
        r.verified += c.verified;
        r.verify_failures += c.verify_failures;
        last_done = last_done.max(tr.last_done);
    }
    let elapsed = match stop_at {
        Some(_) => t1.duration_since(t0),
        None => last_done.map_or(Duration::ZERO, |l| l.duration_since(measure_from)),
    };
    r.elapsed_s = elapsed.as_secs_f64();
    r.throughput = if r.elapsed_s > 0.0 {
        r.requests as f64 / r.elapsed_s
    } else {
        0.0
    };
    let us = |ns: u64| ns as f64 / 1000.0;
    r.p50_us = us(hist.value_at_quantile(0.50));
    r.p99_us = us(hist.value_at_quantile(0.99));
    r.p999_us = us(hist.value_at_quantile(0.999));
    r.max_us = us(hist.max());
    r.mean_us = hist.mean() / 1000.0;
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        r.server_cpu_s = Some(b - a);
        if b > a {
            r.req_per_server_cpu_s = Some(r.requests as f64 / (b - a));
        }
    }
    r.client_cpu_s = client1.saturating_sub(client0).as_secs_f64();
    Ok(r)
}
