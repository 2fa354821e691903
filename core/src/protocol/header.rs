//! The fixed 24-byte header shared by requests and responses.

/// Length of every binary protocol header.
pub const HEADER_LEN: usize = 24;
/// First byte of every request.
pub const REQUEST_MAGIC: u8 = 0x80;
/// First byte of every response.
pub const RESPONSE_MAGIC: u8 = 0x81;

/// A decoded header. In a request `vbucket_or_status` is the (ignored) vbucket id; in a response it
/// is the status code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `REQUEST_MAGIC` or `RESPONSE_MAGIC`.
    pub magic: u8,
    /// The opcode byte (see `Opcode`).
    pub opcode: u8,
    /// Key length in bytes.
    pub key_len: u16,
    /// Extras length in bytes.
    pub extras_len: u8,
    /// Data type; always 0 (raw bytes).
    pub data_type: u8,
    /// A request's vbucket id, a response's status code.
    pub vbucket_or_status: u16,
    /// Bytes after the header: extras, key and value together.
    pub body_len: u32,
    /// Copied from request to response unchanged, for the client to match them.
    pub opaque: u32,
    /// The item's CAS (0: none).
    pub cas: u64,
}

impl Header {
    /// Reads a header from the first 24 bytes of `buf`; `None` when fewer are there.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            magic: b[0],
            opcode: b[1],
            key_len: u16::from_be_bytes([b[2], b[3]]),
            extras_len: b[4],
            data_type: b[5],
            vbucket_or_status: u16::from_be_bytes([b[6], b[7]]),
            body_len: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            opaque: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
            cas: u64::from_be_bytes([b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23]]),
        })
    }

    /// The header's 24 bytes on the wire (big-endian fields).
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.magic;
        b[1] = self.opcode;
        b[2..4].copy_from_slice(&self.key_len.to_be_bytes());
        b[4] = self.extras_len;
        b[5] = self.data_type;
        b[6..8].copy_from_slice(&self.vbucket_or_status.to_be_bytes());
        b[8..12].copy_from_slice(&self.body_len.to_be_bytes());
        b[12..16].copy_from_slice(&self.opaque.to_be_bytes());
        b[16..24].copy_from_slice(&self.cas.to_be_bytes());
        b
    }

    /// Bytes of the body that are neither extras nor key. Saturates on inconsistent headers, which
    /// `classify` rejects before anyone relies on this.
    pub fn value_len(&self) -> u32 {
        self.body_len
            .saturating_sub(u32::from(self.extras_len) + u32::from(self.key_len))
    }

    /// Extras plus key: the part of the body that precedes the value.
    pub fn prefix_len(&self) -> usize {
        usize::from(self.extras_len) + usize::from(self.key_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field_big_endian() {
        let h = Header {
            magic: REQUEST_MAGIC,
            opcode: 0x01,
            key_len: 0x0102,
            extras_len: 8,
            data_type: 0,
            vbucket_or_status: 0xbeef,
            body_len: 0x0a0b0c0d,
            opaque: 0xdeadbeef,
            cas: 0x0102030405060708,
        };
        let bytes = h.to_bytes();
        assert_eq!(
            bytes,
            [
                0x80, 0x01, 0x01, 0x02, 8, 0, 0xbe, 0xef, 0x0a, 0x0b, 0x0c, 0x0d, 0xde, 0xad, 0xbe,
                0xef, 1, 2, 3, 4, 5, 6, 7, 8
            ]
        );
        assert_eq!(Header::parse(&bytes), Some(h));
        assert_eq!(Header::parse(&bytes[..23]), None);
    }

    #[test]
    fn value_len_saturates() {
        let h = Header {
            key_len: 10,
            extras_len: 8,
            body_len: 5,
            ..Header::default()
        };
        assert_eq!(h.value_len(), 0);
        assert_eq!(h.prefix_len(), 18);
    }
}
