//! memcached's `-Y`: the users text-protocol connections authenticate against. One
//! `SharedCredentials` is cloned into the `Config` of every `Server` that serves them (one per
//! worker thread); the server crate keeps another clone and swaps the users whole when the file
//! is reloaded (SIGHUP), so every connection, on every worker, checks against the new list from
//! its next attempt on. Reading the file is the server's job; the core only holds the result.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::auth::Credentials;

/// The longest `user password` token a connection may announce (memcached 1.6.42's
/// MAX_AUTH_REQ_LEN); a longer one is refused before any of it is read.
pub const MAX_TOKEN_LEN: usize = 16 << 10;

/// A handle on the current users, shared by its clones. `PartialEq` is identity: two handles are
/// equal when they share the same users.
#[derive(Clone)]
pub struct SharedCredentials {
    current: Arc<RwLock<Arc<Credentials>>>,
}

impl SharedCredentials {
    /// A handle on `credentials`.
    pub fn new(credentials: Credentials) -> SharedCredentials {
        SharedCredentials {
            current: Arc::new(RwLock::new(Arc::new(credentials))),
        }
    }

    /// Swaps in a new list of users for every clone of this handle. Checks already running keep
    /// the list they started with.
    pub fn replace(&self, credentials: Credentials) {
        let new = Arc::new(credentials);
        // The lock guards a plain pointer swap that cannot panic half-way, so a poisoned lock
        // still holds a valid value.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = new;
    }

    /// The users as of now.
    pub fn current(&self) -> Arc<Credentials> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Checks a user and password against the current users, in constant time per user.
    pub fn verify(&self, user: &[u8], password: &[u8]) -> bool {
        self.current().verify(user, password)
    }
}

impl PartialEq for SharedCredentials {
    fn eq(&self, other: &SharedCredentials) -> bool {
        Arc::ptr_eq(&self.current, &other.current)
    }
}

impl Eq for SharedCredentials {}

impl fmt::Debug for SharedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedCredentials({:?})", self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(list: &[(&str, &str)]) -> Credentials {
        Credentials::new(
            list.iter()
                .map(|(u, p)| (u.as_bytes().to_vec(), p.as_bytes().to_vec())),
        )
    }

    #[test]
    fn clones_see_a_replacement() {
        let shared = SharedCredentials::new(users(&[("alice", "one")]));
        let worker = shared.clone();
        assert!(worker.verify(b"alice", b"one"));
        shared.replace(users(&[("alice", "two"), ("bob", "pw two")]));
        assert!(!worker.verify(b"alice", b"one"));
        assert!(worker.verify(b"alice", b"two"));
        assert!(worker.verify(b"bob", b"pw two"));
        assert_eq!(worker, shared);
        assert_ne!(worker, SharedCredentials::new(users(&[])));
        assert_eq!(
            format!("{worker:?}"),
            "SharedCredentials(Credentials(2 users))"
        );
    }

    #[test]
    fn no_limit_on_users() {
        let many: Vec<(Vec<u8>, Vec<u8>)> = (0..100)
            .map(|i| (format!("u{i}").into_bytes(), format!("p{i}").into_bytes()))
            .collect();
        let shared = SharedCredentials::new(Credentials::new(many));
        assert!(shared.verify(b"u99", b"p99"));
        assert!(!shared.verify(b"u99", b"p98"));
    }
}
