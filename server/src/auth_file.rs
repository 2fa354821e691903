//! memcached's `-Y` file: `user:password` lines, read at startup into the `SharedCredentials`
//! every core `Server` checks text connections against, and read again on SIGHUP. A reload that
//! fails (unreadable, malformed, empty) keeps the users loaded before, as memcached does. Neither
//! path logs a password: errors name the file and a line number only.

use std::path::{Path, PathBuf};

use keel_core::{Credentials, SharedCredentials};

use crate::error::Error;

/// Reads and parses the file.
pub(crate) fn load(path: &Path) -> Result<Credentials, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::AuthFileRead {
        path: path.to_path_buf(),
        source,
    })?;
    Credentials::parse_pwdb(&text).map_err(|source| Error::AuthFileFormat {
        path: path.to_path_buf(),
        source,
    })
}

/// The file and the users loaded from it, for reloading.
#[derive(Debug)]
pub(crate) struct AuthFile {
    path: PathBuf,
    users: SharedCredentials,
}

impl AuthFile {
    pub(crate) fn new(path: PathBuf, users: SharedCredentials) -> AuthFile {
        AuthFile { path, users }
    }

    /// Rereads the file: new authentication attempts check the new users; on error the old ones
    /// stay. Connections already authenticated stay so.
    pub(crate) fn reload(&self) -> Result<usize, Error> {
        let users = load(&self.path)?;
        let n = users.len();
        self.users.replace(users);
        Ok(n)
    }

    /// `reload`, reporting the outcome in the log.
    pub(crate) fn reload_and_log(&self) {
        match self.reload() {
            Ok(n) => tracing::info!(path = %self.path.display(), users = n, "auth file reloaded"),
            Err(e) => tracing::warn!("{e}; keeping the users loaded before"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_swaps_users_and_keeps_them_on_error() {
        let dir = std::env::temp_dir().join(format!("keel-auth-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, "alice:one\n").unwrap();
        let users = SharedCredentials::new(load(&path).unwrap());
        let file = AuthFile::new(path.clone(), users.clone());
        std::fs::write(&path, "alice:two\nbob:three\n").unwrap();
        assert_eq!(file.reload().unwrap(), 2);
        assert!(users.verify(b"alice", b"two"));
        std::fs::write(&path, "no colon here\n").unwrap();
        let err = file.reload().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "auth file {}: line 1: expected user:password",
                path.display()
            )
        );
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(file.reload(), Err(Error::AuthFileRead { .. })));
        assert!(users.verify(b"bob", b"three"), "the old users stay");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
