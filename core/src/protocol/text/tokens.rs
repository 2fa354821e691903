//! Splitting a text command line into tokens the way memcached's `tokenize_command` does: on
//! single spaces only, at most 23 tokens, anything beyond left as an unsplit remainder.

/// memcached's MAX_TOKENS counts the terminal token too.
pub const MAX_TOKENS: usize = 24;

/// Up to 23 tokens of a line plus whatever was not split. No allocation.
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    items: [&'a [u8]; MAX_TOKENS - 1],
    len: usize,
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    /// Splits `line` (without its "\r\n") on single spaces, as memcached does.
    pub fn split(line: &'a [u8]) -> Tokens<'a> {
        let mut items = [&line[..0]; MAX_TOKENS - 1];
        let mut len = 0;
        let mut i = 0;
        while i < line.len() {
            if line[i] == b' ' {
                i += 1;
                continue;
            }
            if len == MAX_TOKENS - 1 {
                return Tokens {
                    items,
                    len,
                    rest: &line[i..],
                };
            }
            let end = line[i..]
                .iter()
                .position(|&b| b == b' ')
                .map_or(line.len(), |p| i + p);
            items[len] = &line[i..end];
            len += 1;
            i = end;
        }
        Tokens {
            items,
            len,
            rest: &line[line.len()..],
        }
    }

    /// memcached's `ntokens`: the tokens plus the terminal one.
    pub fn ntokens(&self) -> usize {
        self.len + 1
    }

    /// How many tokens (at most 23).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the line had no tokens.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The i-th token, if there is one.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        (i < self.len).then(|| self.items[i])
    }

    /// The i-th token, or empty past the end (memcached reads the terminal token's empty value).
    pub fn at(&self, i: usize) -> &'a [u8] {
        self.get(i).unwrap_or(&[])
    }

    /// The tokens as a slice.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        &self.items[..self.len]
    }

    /// The unsplit remainder beyond the 23rd token (long multi-gets), empty otherwise.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

/// Iterates the space-separated words of `s`.
pub fn words(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_spaces_only() {
        let t = Tokens::split(b"  set  k\t1 0 5 ");
        assert_eq!(t.as_slice(), &[&b"set"[..], b"k\t1", b"0", b"5"]);
        assert_eq!(t.ntokens(), 5);
        assert_eq!(t.at(9), b"");
        assert!(Tokens::split(b"").is_empty());
    }

    #[test]
    fn keeps_remainder_past_23_tokens() {
        let line: Vec<u8> = (0..30)
            .map(|i| format!("k{i} "))
            .collect::<String>()
            .into_bytes();
        let t = Tokens::split(&line);
        assert_eq!(t.len(), 23);
        assert_eq!(t.at(22), b"k22");
        assert_eq!(t.rest(), b"k23 k24 k25 k26 k27 k28 k29 ");
        assert_eq!(words(t.rest()).count(), 7);
    }
}
