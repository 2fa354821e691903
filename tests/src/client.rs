//! A small, independent memcached binary-protocol client for the end-to-end tests.
//!
//! It deliberately shares no code with `keel-core`: requests are encoded and responses decoded here
//! from the protocol text (PROTOCOL.md), so a codec bug in the core cannot hide itself in the tests.
//! [`Request`] builds one request packet, [`Packet`] is one decoded response, and [`Client`] wraps a
//! blocking `TcpStream` with bounded reads (every read has a timeout; nothing here can hang a test).

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Opcodes of the memcached binary protocol (request byte values).
pub mod op {
    pub const GET: u8 = 0x00;
    pub const SET: u8 = 0x01;
    pub const ADD: u8 = 0x02;
    pub const REPLACE: u8 = 0x03;
    pub const DELETE: u8 = 0x04;
    pub const INCREMENT: u8 = 0x05;
    pub const DECREMENT: u8 = 0x06;
    pub const QUIT: u8 = 0x07;
    pub const FLUSH: u8 = 0x08;
    pub const GETQ: u8 = 0x09;
    pub const NOOP: u8 = 0x0A;
    pub const VERSION: u8 = 0x0B;
    pub const GETK: u8 = 0x0C;
    pub const GETKQ: u8 = 0x0D;
    pub const APPEND: u8 = 0x0E;
    pub const PREPEND: u8 = 0x0F;
    pub const STAT: u8 = 0x10;
    pub const SETQ: u8 = 0x11;
    pub const ADDQ: u8 = 0x12;
    pub const REPLACEQ: u8 = 0x13;
    pub const DELETEQ: u8 = 0x14;
    pub const INCREMENTQ: u8 = 0x15;
    pub const DECREMENTQ: u8 = 0x16;
    pub const QUITQ: u8 = 0x17;
    pub const FLUSHQ: u8 = 0x18;
    pub const APPENDQ: u8 = 0x19;
    pub const PREPENDQ: u8 = 0x1A;
    pub const VERBOSITY: u8 = 0x1B;
    pub const TOUCH: u8 = 0x1C;
    pub const GAT: u8 = 0x1D;
    pub const GATQ: u8 = 0x1E;
    pub const GATK: u8 = 0x23;
    pub const GATKQ: u8 = 0x24;
}

/// Response status codes.
pub mod status {
    pub const SUCCESS: u16 = 0x00;
    pub const KEY_ENOENT: u16 = 0x01;
    pub const KEY_EEXISTS: u16 = 0x02;
    pub const E2BIG: u16 = 0x03;
    pub const EINVAL: u16 = 0x04;
    pub const NOT_STORED: u16 = 0x05;
    pub const DELTA_BADVAL: u16 = 0x06;
    pub const UNKNOWN_COMMAND: u16 = 0x81;
}

/// Length of every request and response header.
pub const HEADER_LEN: usize = 24;

/// One request packet, built field by field; [`Request::encode`] writes it in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub magic: u8,
    pub opcode: u8,
    pub data_type: u8,
    pub vbucket: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Overrides the header's total body length (to build malformed requests); the body bytes
    /// written are still extras + key + value.
    pub body_len: Option<u32>,
}

impl Request {
    /// A request with magic 0x80, no body, opaque 0 and cas 0.
    pub fn new(opcode: u8) -> Request {
        Request {
            magic: 0x80,
            opcode,
            data_type: 0,
            vbucket: 0,
            opaque: 0,
            cas: 0,
            extras: Vec::new(),
            key: Vec::new(),
            value: Vec::new(),
            body_len: None,
        }
    }
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Request {
        self.key = key.as_ref().to_vec();
        self
    }
    pub fn value(mut self, value: impl AsRef<[u8]>) -> Request {
        self.value = value.as_ref().to_vec();
        self
    }
    pub fn extras(mut self, extras: impl AsRef<[u8]>) -> Request {
        self.extras = extras.as_ref().to_vec();
        self
    }
    pub fn opaque(mut self, opaque: u32) -> Request {
        self.opaque = opaque;
        self
    }
    pub fn cas(mut self, cas: u64) -> Request {
        self.cas = cas;
        self
    }

    /// GET-family request (GET, GETQ, GETK, GETKQ) for `key`.
    pub fn get(opcode: u8, key: impl AsRef<[u8]>) -> Request {
        Request::new(opcode).key(key)
    }
    /// SET/ADD/REPLACE family request with flags and exptime extras.
    pub fn store(
        opcode: u8,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        flags: u32,
        exptime: u32,
    ) -> Request {
        let mut extras = flags.to_be_bytes().to_vec();
        extras.extend_from_slice(&exptime.to_be_bytes());
        Request::new(opcode).key(key).value(value).extras(extras)
    }
    /// SET with flags 0 and no expiry.
    pub fn set(key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Request {
        Request::store(op::SET, key, value, 0, 0)
    }
    /// INCR/DECR family request.
    pub fn counter(
        opcode: u8,
        key: impl AsRef<[u8]>,
        delta: u64,
        initial: u64,
        exptime: u32,
    ) -> Request {
        let mut extras = delta.to_be_bytes().to_vec();
        extras.extend_from_slice(&initial.to_be_bytes());
        extras.extend_from_slice(&exptime.to_be_bytes());
        Request::new(opcode).key(key).extras(extras)
    }
    /// TOUCH/GAT family request with a 4-byte exptime extra.
    pub fn touch(opcode: u8, key: impl AsRef<[u8]>, exptime: u32) -> Request {
        Request::new(opcode).key(key).extras(exptime.to_be_bytes())
    }
    /// STAT request, optionally for a group.
    pub fn stat(group: &str) -> Request {
        Request::new(op::STAT).key(group.as_bytes())
    }

    /// Appends the wire form of this request to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let body = self.extras.len() + self.key.len() + self.value.len();
        out.push(self.magic);
        out.push(self.opcode);
        out.extend_from_slice(&(self.key.len() as u16).to_be_bytes());
        out.push(self.extras.len() as u8);
        out.push(self.data_type);
        out.extend_from_slice(&self.vbucket.to_be_bytes());
        out.extend_from_slice(&self.body_len.unwrap_or(body as u32).to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
        out.extend_from_slice(&self.extras);
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.value);
    }
    /// The wire form of this request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// One response packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub magic: u8,
    pub opcode: u8,
    pub data_type: u8,
    pub status: u16,
    pub opaque: u32,
    pub cas: u64,
    pub extras: Vec<u8>,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl Packet {
    /// A response with no extras, key or cas: an error with its text, or an empty success.
    pub fn plain(opcode: u8, status: u16, opaque: u32, value: &[u8]) -> Packet {
        Packet {
            magic: 0x81,
            opcode,
            data_type: 0,
            status,
            opaque,
            cas: 0,
            extras: vec![],
            key: vec![],
            value: value.to_vec(),
        }
    }
}

/// Result of trying to decode one packet from a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// A whole packet and the number of bytes it used.
    Packet(Packet, usize),
    /// More bytes are needed.
    Incomplete,
    /// The header is inconsistent (bad magic or lengths): the stream cannot be framed.
    Invalid(String),
}

impl Packet {
    /// Decodes one response packet from the front of `buf`.
    pub fn parse(buf: &[u8]) -> Parse {
        if buf.len() < HEADER_LEN {
            return Parse::Incomplete;
        }
        let magic = buf[0];
        let key_len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        let extras_len = buf[4] as usize;
        let body_len = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
        if magic != 0x81 {
            return Parse::Invalid(format!(
                "bad response magic {magic:#04x} in header {:02x?}",
                &buf[..HEADER_LEN]
            ));
        }
        if key_len + extras_len > body_len {
            return Parse::Invalid(format!(
                "keylen {key_len} + extlen {extras_len} > bodylen {body_len}"
            ));
        }
        if buf.len() < HEADER_LEN + body_len {
            return Parse::Incomplete;
        }
        let body = &buf[HEADER_LEN..HEADER_LEN + body_len];
        let packet = Packet {
            magic,
            opcode: buf[1],
            data_type: buf[5],
            status: u16::from_be_bytes([buf[6], buf[7]]),
            opaque: u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]),
            cas: u64::from_be_bytes(buf[16..24].try_into().unwrap()),
            extras: body[..extras_len].to_vec(),
            key: body[extras_len..extras_len + key_len].to_vec(),
            value: body[extras_len + key_len..].to_vec(),
        };
        Parse::Packet(packet, HEADER_LEN + body_len)
    }

    /// Decodes a buffer that must hold whole packets only; returns them and the trailing bytes
    /// (an incomplete packet) that were left over.
    pub fn parse_all(mut buf: &[u8]) -> Result<(Vec<Packet>, usize), String> {
        let mut packets = Vec::new();
        loop {
            match Packet::parse(buf) {
                Parse::Packet(p, used) => {
                    packets.push(p);
                    buf = &buf[used..];
                }
                Parse::Incomplete => return Ok((packets, buf.len())),
                Parse::Invalid(e) => return Err(e),
            }
        }
    }

    /// The re-encoded wire form (for byte-exact reporting).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.magic, self.opcode];
        out.extend_from_slice(&(self.key.len() as u16).to_be_bytes());
        out.push(self.extras.len() as u8);
        out.push(self.data_type);
        out.extend_from_slice(&self.status.to_be_bytes());
        let body = self.extras.len() + self.key.len() + self.value.len();
        out.extend_from_slice(&(body as u32).to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
        out.extend_from_slice(&self.extras);
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.value);
        out
    }

    /// The 4-byte flags extra of a GET/TOUCH hit.
    pub fn flags(&self) -> Option<u32> {
        (self.extras.len() == 4).then(|| u32::from_be_bytes(self.extras[..4].try_into().unwrap()))
    }
    /// The u64 value of an INCR/DECR success.
    pub fn counter(&self) -> Option<u64> {
        (self.value.len() == 8).then(|| u64::from_be_bytes(self.value[..8].try_into().unwrap()))
    }
}

/// How a read of the next packet ended when no packet came.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum End {
    /// The server closed the connection (read returned 0).
    Eof,
    /// The connection was reset (ECONNRESET / EPIPE).
    Reset,
    /// Nothing arrived before the deadline.
    Timeout,
}

/// One read into `out`, waiting no later than `deadline`: `Ok` after bytes arrived, a timed-out
/// or interrupted read; `Err` when the stream ended or the deadline has passed. Panics on any
/// other error (the test must fail loudly).
pub(crate) fn read_some(
    stream: &mut TcpStream,
    deadline: Instant,
    out: &mut Vec<u8>,
) -> Result<(), End> {
    let now = Instant::now();
    if now >= deadline {
        return Err(End::Timeout);
    }
    stream
        .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
        .expect("set_read_timeout");
    let mut chunk = [0u8; 65536];
    match stream.read(&mut chunk) {
        Ok(0) => Err(End::Eof),
        Ok(n) => {
            out.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
            ) =>
        {
            Err(End::Reset)
        }
        Err(e) => panic!("read failed: {e}"),
    }
}

/// A blocking client connection with a bounded read deadline for every call.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// How long a single `read_packet` may wait in total.
    pub timeout: Duration,
}

/// The default per-call read bound.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl Client {
    /// Connects to 127.0.0.1:`port` with TCP_NODELAY.
    pub fn connect(port: u16) -> io::Result<Client> {
        let stream =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }
    /// Writes one request.
    pub fn send(&mut self, req: &Request) -> io::Result<()> {
        self.stream.write_all(&req.encode())
    }
    /// Writes several requests in a single write.
    pub fn send_all(&mut self, reqs: &[Request]) -> io::Result<()> {
        let mut out = Vec::new();
        for r in reqs {
            r.encode_into(&mut out);
        }
        self.stream.write_all(&out)
    }

    /// Bytes received but not yet returned as a packet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Reads the next packet, or tells how the stream ended (EOF, reset, or `self.timeout` passed).
    /// Panics on a malformed response header (the test must fail loudly).
    pub fn read_packet_or_end(&mut self) -> Result<Packet, End> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match Packet::parse(&self.buf) {
                Parse::Packet(p, used) => {
                    self.buf.drain(..used);
                    return Ok(p);
                }
                Parse::Invalid(e) => panic!("malformed response: {e}"),
                Parse::Incomplete => {}
            }
            read_some(&mut self.stream, deadline, &mut self.buf)?;
        }
    }

    /// Reads the next packet; panics if the connection ends or times out first.
    pub fn read_packet(&mut self) -> Packet {
        match self.read_packet_or_end() {
            Ok(p) => p,
            Err(end) => panic!(
                "expected a response packet, got {end:?} (pending bytes {:02x?})",
                self.buf
            ),
        }
    }

    /// Sends one request and reads one response packet.
    pub fn call(&mut self, req: &Request) -> Packet {
        self.send(req).expect("write request");
        self.read_packet()
    }

    /// Waits up to `within` for the server to close the connection; returns how it ended.
    /// Any packet received meanwhile is returned in the vector.
    pub fn wait_end(&mut self, within: Duration) -> (Vec<Packet>, End) {
        let saved = self.timeout;
        self.timeout = within;
        let mut got = Vec::new();
        let end = loop {
            match self.read_packet_or_end() {
                Ok(p) => got.push(p),
                Err(end) => break end,
            }
        };
        self.timeout = saved;
        (got, end)
    }

    /// Sends NOOP with `opaque` and collects every packet up to and including its response.
    pub fn sync(&mut self, opaque: u32) -> Vec<Packet> {
        self.send(&Request::new(op::NOOP).opaque(opaque))
            .expect("write NOOP");
        let mut got = Vec::new();
        loop {
            let p = self.read_packet();
            let done = p.opcode == op::NOOP && p.opaque == opaque;
            got.push(p);
            if done {
                return got;
            }
        }
    }

    /// SET and assert success.
    pub fn set_ok(&mut self, key: &[u8], value: &[u8]) -> u64 {
        let p = self.call(&Request::set(key, value));
        assert_eq!(
            p.status,
            status::SUCCESS,
            "SET {:?} failed: {:?}",
            String::from_utf8_lossy(key),
            p
        );
        assert_ne!(p.cas, 0, "SET success must carry a cas");
        p.cas
    }

    /// GET; `Some(value)` on a hit, `None` on a miss, panic on anything else.
    pub fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let p = self.call(&Request::get(op::GET, key));
        match p.status {
            status::SUCCESS => Some(p.value),
            status::KEY_ENOENT => None,
            s => panic!("GET returned status {s:#06x}: {p:?}"),
        }
    }

    /// General (or group) STAT as a name → value map; asserts the stream shape.
    pub fn stats(&mut self, group: &str) -> BTreeMap<String, String> {
        self.send(&Request::stat(group).opaque(0x5747))
            .expect("write STAT");
        let mut map = BTreeMap::new();
        for _ in 0..100_000 {
            let p = self.read_packet();
            assert_eq!(p.opcode, op::STAT, "STAT stream packet opcode: {p:?}");
            assert_eq!(
                p.status,
                status::SUCCESS,
                "STAT stream packet status: {p:?}"
            );
            assert_eq!(p.opaque, 0x5747, "STAT opaque echo");
            if p.key.is_empty() {
                assert!(
                    p.value.is_empty() && p.extras.is_empty(),
                    "STAT terminator must be empty: {p:?}"
                );
                return map;
            }
            map.insert(
                String::from_utf8_lossy(&p.key).into_owned(),
                String::from_utf8_lossy(&p.value).into_owned(),
            );
        }
        panic!("STAT stream did not terminate");
    }

    /// One general stat parsed as u64.
    pub fn stat_u64(&mut self, name: &str) -> u64 {
        let stats = self.stats("");
        let v = stats
            .get(name)
            .unwrap_or_else(|| panic!("STAT has no {name:?}; got {:?}", stats.keys()));
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("STAT {name} = {v:?} is not a number"))
    }

    /// Half-closes the write side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Polls `f` every 20 ms until it returns `Some`, for at most `within`.
pub fn wait_for<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Renders bytes as a hex string for reports (the first 96 bytes, then the total length).
pub fn hex(bytes: &[u8]) -> String {
    let shown = bytes
        .iter()
        .take(96)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    if bytes.len() > 96 {
        format!("{shown} … ({} bytes)", bytes.len())
    } else {
        shown
    }
}
