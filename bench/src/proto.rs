//! Just enough of the memcached binary protocol for a load generator: request encoding and
//! response framing. Independent of keel-core on purpose, so the generator measures any server.

pub const HEADER_LEN: usize = 24;
pub const REQ_MAGIC: u8 = 0x80;
pub const RES_MAGIC: u8 = 0x81;
pub const OP_GET: u8 = 0x00;
pub const OP_SET: u8 = 0x01;
pub const OP_SETQ: u8 = 0x11;
pub const OP_NOOP: u8 = 0x0a;
pub const STATUS_OK: u16 = 0;
pub const STATUS_NOT_FOUND: u16 = 1;

/// Keys are exactly 16 bytes: `key:` and 12 digits.
pub const KEY_LEN: usize = 16;

pub fn write_key(out: &mut Vec<u8>, i: u64) {
    out.extend_from_slice(b"key:");
    let mut digits = [b'0'; 12];
    let mut n = i;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits);
}

/// The value stored under key `i`: deterministic, so any GET hit can be checked.
#[inline]
pub fn value_byte(key: u64, j: usize) -> u8 {
    b'a' + ((key.wrapping_mul(7).wrapping_add(j as u64)) % 26) as u8
}

pub fn value_matches(key: u64, value: &[u8], expected_len: usize) -> bool {
    value.len() == expected_len
        && value
            .iter()
            .enumerate()
            .all(|(j, &b)| b == value_byte(key, j))
}

fn header(out: &mut Vec<u8>, opcode: u8, key_len: u16, extras_len: u8, body_len: u32, opaque: u32) {
    out.push(REQ_MAGIC);
    out.push(opcode);
    out.extend_from_slice(&key_len.to_be_bytes());
    out.push(extras_len);
    out.push(0); // data type
    out.extend_from_slice(&0u16.to_be_bytes()); // vbucket
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&opaque.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes()); // cas
}

pub fn encode_get(out: &mut Vec<u8>, key: u64, opaque: u32) {
    header(out, OP_GET, KEY_LEN as u16, 0, KEY_LEN as u32, opaque);
    write_key(out, key);
}

pub fn encode_set(out: &mut Vec<u8>, opcode: u8, key: u64, value_len: usize, opaque: u32) {
    header(
        out,
        opcode,
        KEY_LEN as u16,
        8,
        (8 + KEY_LEN + value_len) as u32,
        opaque,
    );
    out.extend_from_slice(&[0; 8]); // flags, exptime
    write_key(out, key);
    out.extend((0..value_len).map(|j| value_byte(key, j)));
}

pub fn encode_noop(out: &mut Vec<u8>, opaque: u32) {
    header(out, OP_NOOP, 0, 0, 0, opaque);
}

/// One response framed from the front of a buffer.
#[derive(Clone, Copy, Debug)]
pub struct Response<'a> {
    pub opcode: u8,
    pub status: u16,
    pub opaque: u32,
    pub value: &'a [u8],
    pub len: usize,
}

/// `Ok(None)`: incomplete. `Err`: not a binary-protocol response.
pub fn parse_response(buf: &[u8]) -> Result<Option<Response<'_>>, String> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[0] != RES_MAGIC {
        return Err(format!("bad response magic {:#x}", buf[0]));
    }
    let key_len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    let extras_len = buf[4] as usize;
    let status = u16::from_be_bytes([buf[6], buf[7]]);
    let body_len = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    let opaque = u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]);
    let total = HEADER_LEN + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    let start = HEADER_LEN + extras_len + key_len;
    if start > total {
        return Err("response body shorter than extras+key".into());
    }
    Ok(Some(Response {
        opcode: buf[1],
        status,
        opaque,
        value: &buf[start..total],
        len: total,
    }))
}
