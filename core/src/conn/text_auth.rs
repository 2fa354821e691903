//! The text protocol before authentication (memcached `-Y`, `proto_text.c
//! try_read_command_asciiauth`): a connection may only send
//! `set <any> <flags> <exptime> <bytes>\r\n<user> <password>\r\n`; every other line is answered
//! `CLIENT_ERROR unauthenticated` and dropped. Key, flags and exptime are ignored and nothing is
//! stored. Unlike memcached 1.6.18, the token is bounded (as 1.6.42 bounds it), and each request
//! gets its own reply even when pipelined (1.6.18 overwrites a pending error line with the next).

use super::Connection;
use super::process::Step;
use crate::dispatch::Dispatch;
use crate::output::CloseReason;
use crate::protocol::text::{MAX_LINE_LEN, Tokens, parse_u32};
use crate::service::Service;
use crate::text_auth::MAX_TOKEN_LEN;

/// What an unauthenticated connection's command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthLine {
    /// A `set` announcing a token of this many bytes.
    Token(usize),
    /// A `set` announcing more than `MAX_TOKEN_LEN` bytes.
    TooLong,
    /// Anything else.
    Refused,
}

/// memcached's test: at least five tokens, the first exactly `set`, the fifth a 32-bit count.
fn parse_line(line: &[u8]) -> AuthLine {
    let tokens = Tokens::split(line);
    if tokens.len() < 5 || tokens.at(0) != b"set" {
        return AuthLine::Refused;
    }
    match parse_u32(tokens.at(4)) {
        None => AuthLine::Refused,
        Some(n) if n as usize > MAX_TOKEN_LEN => AuthLine::TooLong,
        Some(n) => AuthLine::Token(n as usize),
    }
}

pub(crate) fn step<S: Service>(conn: &mut Connection, buf: &[u8], d: &mut Dispatch<'_, S>) -> Step {
    let nl = buf.iter().position(|&b| b == b'\n');
    // memcached closes a peer sending this much without a newline, silently. The limit applies
    // to the line before its "\n", however the bytes were split into reads.
    if nl.unwrap_or(buf.len()) > MAX_LINE_LEN {
        conn.closing = Some(CloseReason::LineTooLong);
        return Step::Used(buf.len());
    }
    let Some(nl) = nl else {
        return Step::NeedMore;
    };
    let end = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let line_len = nl + 1;
    let len = match parse_line(&buf[..end]) {
        AuthLine::Token(len) => len,
        AuthLine::Refused => {
            d.text_unauthenticated(&mut conn.output);
            return Step::Used(line_len);
        }
        AuthLine::TooLong => {
            // memcached 1.6.42 answers this and then parses the token as commands; the token is
            // the peer's data, so keel stops reading instead.
            d.text_auth_too_long(&mut conn.output);
            conn.closing = Some(CloseReason::Unauthenticated);
            return Step::Used(buf.len());
        }
    };
    let total = line_len + len + 2;
    if buf.len() < total {
        return Step::NeedMore;
    }
    let token = &buf[line_len..total];
    if d.text_authenticate(token, &mut conn.output) {
        conn.authenticated = true;
    }
    Step::Used(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_lines_as_memcached_reads_them() {
        assert_eq!(parse_line(b"set x 0 0 12"), AuthLine::Token(12));
        assert_eq!(parse_line(b" set  a b c +12 noreply"), AuthLine::Token(12));
        assert_eq!(parse_line(b"set x y z 0"), AuthLine::Token(0));
        assert_eq!(parse_line(b"set x 0 0 16384"), AuthLine::Token(16384));
        assert_eq!(parse_line(b"set x 0 0 16385"), AuthLine::TooLong);
        assert_eq!(parse_line(b"set x 0 0 4294967295"), AuthLine::TooLong);
        for refused in [
            &b"set x 0 0"[..],
            b"SET x 0 0 12",
            b"sets x 0 0 12",
            b"set x 0 0 12x",
            b"set x 0 0 -1",
            b"set x 0 0 4294967296",
            b"set\tx 0 0 12",
            b"get x",
            b"",
        ] {
            assert_eq!(parse_line(refused), AuthLine::Refused, "{refused:?}");
        }
    }
}
