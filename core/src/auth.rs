//! Authentication against a list of users: SASL PLAIN (memcached's `-S` with a password database)
//! and the text protocol's tokens (memcached's `-Y`), which read the same `user:password` format:
//! parsing the database text and checking credentials in constant time. Reading the file is the
//! server's job; the core only sees its contents.

use std::fmt;

/// The only mechanism offered, as LIST_MECHS reports it.
pub const MECHANISMS: &str = "PLAIN";
/// memcached's MAX_SASL_MECH_LEN.
pub const MAX_MECHANISM_LEN: usize = 32;

/// Users and passwords allowed to authenticate. `Debug` never shows a password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    users: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Why a password database was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PwdbError {
    /// A line that is not `user:password` (1-based line number).
    #[error("line {0}: expected user:password")]
    Malformed(usize),
    /// The database names no user.
    #[error("no users")]
    Empty,
}

impl Credentials {
    /// Credentials for these `(user, password)` pairs.
    pub fn new(users: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Credentials {
        Credentials {
            users: users.into_iter().collect(),
        }
    }

    /// Parses memcached's MEMCACHED_SASL_PWDB format: one `user:password` per line; blank lines and
    /// lines starting with `#` are skipped; the password is everything after the first colon.
    pub fn parse_pwdb(text: &str) -> Result<Credentials, PwdbError> {
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    users.push((user.as_bytes().to_vec(), password.as_bytes().to_vec()));
                }
                _ => return Err(PwdbError::Malformed(n + 1)),
            }
        }
        if users.is_empty() {
            return Err(PwdbError::Empty);
        }
        Ok(Credentials { users })
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks a PLAIN message (`authzid \0 authcid \0 password`). Every user's password is compared
    /// in full whatever matches, so the time taken says nothing about which byte differed.
    pub fn verify_plain(&self, message: &[u8]) -> bool {
        let mut parts = message.splitn(3, |&b| b == 0);
        let (Some(authzid), Some(user), Some(password)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        if !authzid.is_empty() && authzid != user {
            return false;
        }
        self.verify(user, password)
    }

    /// Checks a user and password. Every user's password is compared in full whatever matches,
    /// so the time taken says nothing about which byte differed; the number of users is not
    /// bounded (memcached's `-Y` file stops at 8).
    pub fn verify(&self, user: &[u8], password: &[u8]) -> bool {
        let mut ok = false;
        for (u, p) in &self.users {
            ok |= u.as_slice() == user && constant_time_eq(p, password);
        }
        ok
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({} users)", self.users.len())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pwdb() {
        let c = Credentials::parse_pwdb("# users\nalice:s3cret\n\nbob:with:colon\r\n").unwrap();
        assert_eq!(c.len(), 2);
        assert!(c.verify_plain(b"\0alice\0s3cret"));
        assert!(c.verify_plain(b"bob\0bob\0with:colon"));
        assert!(!c.verify_plain(b"\0alice\0s3cre"));
        assert!(!c.verify_plain(b"\0alice\0s3cret!"));
        assert!(!c.verify_plain(b"\0carol\0s3cret"));
        assert!(!c.verify_plain(b"other\0alice\0s3cret"));
        assert!(!c.verify_plain(b"alice"));
        assert_eq!(
            Credentials::parse_pwdb("nocolon\n"),
            Err(PwdbError::Malformed(1))
        );
        assert_eq!(
            Credentials::parse_pwdb(":x\n"),
            Err(PwdbError::Malformed(1))
        );
        assert_eq!(
            Credentials::parse_pwdb("\n# only comments\n"),
            Err(PwdbError::Empty)
        );
        assert_eq!(format!("{c:?}"), "Credentials(2 users)");
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab\xff", b"ab"));
    }
}
