//! The answers to text-protocol authentication (memcached `-Y`), with memcached's exact lines,
//! and its counting: every checked token is an `auth_cmds`, every refused one an `auth_errors`
//! too; malformed requests count as neither.

use super::Dispatch;
use crate::group::Counter;
use crate::service::Service;

fn line(out: &mut Vec<u8>, text: &[u8]) {
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

impl<S: Service> Dispatch<'_, S> {
    /// Any request but an authentication token.
    pub(crate) fn text_unauthenticated(&mut self, out: &mut Vec<u8>) {
        line(out, b"CLIENT_ERROR unauthenticated");
    }

    /// A token announced longer than `MAX_TOKEN_LEN` (memcached 1.6.42's line).
    pub(crate) fn text_auth_too_long(&mut self, out: &mut Vec<u8>) {
        line(out, b"CLIENT_ERROR auth token too long");
    }

    /// Checks `token`, the data block with its terminator: `user password\r\n`, the password
    /// being everything after the first space (as memcached 1.6.42 reads it, so a password may
    /// hold spaces). Returns whether the connection is now authenticated.
    pub(crate) fn text_authenticate(&mut self, token: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(token) = token.strip_suffix(b"\r\n") else {
            line(out, b"CLIENT_ERROR bad command line termination");
            return false;
        };
        let Some(space) = token.iter().position(|&b| b == b' ') else {
            line(out, b"CLIENT_ERROR bad authentication token format");
            return false;
        };
        let (user, password) = (&token[..space], &token[space + 1..]);
        self.count(Counter::AuthCmds);
        let ok = self
            .config
            .text_auth
            .as_ref()
            .is_some_and(|users| users.verify(user, password));
        if ok {
            line(out, b"STORED");
        } else {
            self.count(Counter::AuthErrors);
            line(out, b"CLIENT_ERROR authentication failure");
        }
        ok
    }
}
