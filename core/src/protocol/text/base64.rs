//! Standard base64 (with padding) for meta-protocol binary keys (`b` flag).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes into `out` (cleared first); `false` on malformed input or an empty result.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if input.is_empty() || input.len() % 4 != 0 {
        return false;
    }
    for (i, quad) in input.chunks(4).enumerate() {
        let last = i == input.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return false;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            match value(c) {
                Some(v) => n = (n << 6) | v,
                None => return false,
            }
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    !out.is_empty()
}

/// Appends `input` encoded in standard base64, with padding, to `out`.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for input in [&b"f"[..], b"fo", b"foo", b"foob", b"\x00\xff\x10 key"] {
            let mut enc = Vec::new();
            encode(input, &mut enc);
            let mut dec = Vec::new();
            assert!(decode(&enc, &mut dec), "{enc:?}");
            assert_eq!(dec, input);
        }
        let mut enc = Vec::new();
        encode(b"foo", &mut enc);
        assert_eq!(enc, b"Zm9v");
        let mut out = Vec::new();
        assert!(!decode(b"Zm9", &mut out));
        assert!(!decode(b"Zm=v", &mut out));
        assert!(!decode(b"", &mut out));
    }
}
