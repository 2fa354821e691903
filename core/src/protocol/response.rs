//! Response encoding: appends complete response packets to an output buffer.

use super::header::{HEADER_LEN, Header, RESPONSE_MAGIC};
use super::status::Status;

/// Writes responses to one request: every packet carries the request's opcode byte (so quiet
/// opcodes stay quiet) and its opaque, as memcached's `add_bin_header` does.
pub struct ResponseWriter<'a> {
    out: &'a mut Vec<u8>,
    opcode: u8,
    opaque: u32,
}

impl<'a> ResponseWriter<'a> {
    /// Appends responses to `out` for a request with this opcode byte and opaque.
    pub fn new(out: &'a mut Vec<u8>, opcode: u8, opaque: u32) -> ResponseWriter<'a> {
        ResponseWriter {
            out,
            opcode,
            opaque,
        }
    }

    /// One packet. Data type is always 0, as memcached sends it. `flags` are the extras of a
    /// GET-family hit, the only extras a response carries.
    pub fn packet(
        &mut self,
        status: Status,
        cas: u64,
        flags: Option<u32>,
        key: &[u8],
        value: &[u8],
    ) {
        let extras_len = if flags.is_some() { 4 } else { 0 };
        let header = Header {
            magic: RESPONSE_MAGIC,
            opcode: self.opcode,
            key_len: key.len() as u16,
            extras_len: extras_len as u8,
            data_type: 0,
            vbucket_or_status: status.code(),
            body_len: (extras_len + key.len() + value.len()) as u32,
            opaque: self.opaque,
            cas,
        };
        self.out.reserve(HEADER_LEN + header.body_len as usize);
        // Fixed-size parts compile to plain moves; only a key and a value need memcpy.
        self.out.extend_from_slice(&header.to_bytes());
        if let Some(flags) = flags {
            self.out.extend_from_slice(&flags.to_be_bytes());
        }
        if !key.is_empty() {
            self.out.extend_from_slice(key);
        }
        self.out.extend_from_slice(value);
    }

    /// An error packet: no extras, no key, cas 0, memcached's text as the value.
    pub fn error(&mut self, status: Status) {
        self.packet(status, 0, None, &[], status.text().as_bytes());
    }

    /// A success packet with an empty body.
    pub fn ok(&mut self, cas: u64) {
        self.packet(Status::Success, cas, None, &[], &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_packet_bytes() {
        let mut out = Vec::new();
        ResponseWriter::new(&mut out, 0x12, 0xaabbccdd).error(Status::KeyExists);
        let mut expected = vec![
            0x81, 0x12, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 20, 0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 0, 0, 0,
            0, 0,
        ];
        expected.extend_from_slice(b"Data exists for key.");
        assert_eq!(out, expected);
    }

    #[test]
    fn packet_with_all_parts() {
        let mut out = Vec::new();
        ResponseWriter::new(&mut out, 0x0c, 1).packet(Status::Success, 9, Some(5), b"k", b"vv");
        assert_eq!(
            &out[..24],
            &[
                0x81, 0x0c, 0, 1, 4, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9
            ]
        );
        assert_eq!(&out[24..], &[0, 0, 0, 5, b'k', b'v', b'v']);
    }
}
