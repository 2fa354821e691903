//! Listening sockets both drivers open the same way: TCP or a Unix domain socket (memcached's
//! `-s`, with `-a` as its permission bits), nonblocking, with the configured backlog, each with the
//! transport its connections speak (plain, TLS, or TLS with a client certificate required).
//!
//! A Unix socket path that already holds a socket nobody accepts on (a server that died) is
//! replaced; one a live server listens on is `AddrInUse`; anything else at the path (a regular
//! file, a directory) is refused, never removed. The socket gets its mode before it takes any
//! connection: it is bound under a private temporary name beside the path, given the mode, then
//! renamed onto the path.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::stream::Stream;

/// What connections accepted on a listener speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plaintext memcached protocol.
    Plain,
    /// TLS (memcached's `-Z`).
    Tls,
    /// TLS with a client certificate from the CA required (the `mtls:` prefix of `-l`).
    MutualTls,
}

/// Where to listen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP socket on this address.
    Tcp(SocketAddr),
    /// A Unix domain socket at `path` with permission bits `mode` (memcached's `-a`, 0o700).
    Unix {
        /// The socket's path.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => addr.fmt(f),
            Endpoint::Unix { path, .. } => path.display().fmt(f),
        }
    }
}

impl Endpoint {
    /// What a failure before any listener is open (the event loop's own setup) is reported
    /// against: the first endpoint asked for, or `0.0.0.0:0` when none was.
    pub fn first_of(specs: &[ListenSpec]) -> Endpoint {
        specs.first().map_or_else(
            || Endpoint::Tcp(([0, 0, 0, 0], 0).into()),
            |spec| spec.endpoint.clone(),
        )
    }
}

/// One listener to open: where, and what its connections speak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenSpec {
    /// Where.
    pub endpoint: Endpoint,
    /// What its connections speak.
    pub security: Security,
}

/// A bound, nonblocking listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix domain socket listener.
    Unix(UnixListener),
}

impl Listener {
    /// Binds `endpoint` and listens with `backlog`; returns the listener and the endpoint as
    /// bound (a TCP port 0 replaced by the port the kernel chose).
    pub fn bind(endpoint: &Endpoint, backlog: i32) -> io::Result<(Listener, Endpoint)> {
        let (listener, bound) = match endpoint {
            Endpoint::Tcp(addr) => {
                let listener = TcpListener::bind(addr)?;
                let local = listener.local_addr()?;
                (Listener::Tcp(listener), Endpoint::Tcp(local))
            }
            Endpoint::Unix { path, mode } => (
                Listener::Unix(bind_unix(path, *mode)?),
                Endpoint::Unix {
                    path: path.clone(),
                    mode: *mode,
                },
            ),
        };
        listener.set_nonblocking()?;
        // std listens with a fixed backlog (128), which a burst of connects overflows: listen
        // again with the configured one.
        // SAFETY: the descriptor is the listening socket `listener` owns, alive for the call;
        // listen() on a listening socket only changes its backlog.
        if unsafe { libc::listen(listener.as_raw_fd(), backlog) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((listener, bound))
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(true),
            Listener::Unix(l) => l.set_nonblocking(true),
        }
    }

    /// Accepts one connection, nonblocking (for the poll driver; mio accepts through its own
    /// wrappers of the same sockets).
    pub fn accept(&self) -> io::Result<Stream> {
        let stream = match self {
            Listener::Tcp(l) => Stream::Tcp(l.accept()?.0),
            Listener::Unix(l) => Stream::Unix(l.accept()?.0),
        };
        stream.set_nonblocking()?;
        Ok(stream)
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// memcached's `-s PATH -a MASK`: see the module doc for what an existing path means.
fn bind_unix(path: &Path, mode: u32) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    ErrorKind::AddrInUse,
                    "a server is listening on this socket",
                ));
            }
            // Nobody accepts on it: a dead server's socket, replaced by the rename below.
        }
        Ok(_) => {
            return Err(io::Error::new(
                ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".keel-{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    // Left behind by an earlier attempt of this same process id: ours to remove.
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary)?;
    let placed =
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode & 0o777))
            .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keel-listener-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn unix_socket_gets_its_mode_and_replaces_a_stale_one() {
        let dir = scratch("stale");
        let path = dir.join("m.sock");
        let endpoint = Endpoint::Unix {
            path: path.clone(),
            mode: 0o750,
        };
        let (first, _) = Listener::bind(&endpoint, 16).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o750);
        // A live listener keeps its path.
        let busy = Listener::bind(&endpoint, 16).unwrap_err();
        assert_eq!(busy.kind(), ErrorKind::AddrInUse);
        drop(first);
        // The file stays behind a dead listener: replaced.
        let (second, _) = Listener::bind(&endpoint, 16).unwrap();
        let _client = UnixStream::connect(&path).unwrap();
        assert!(matches!(second.accept(), Ok(Stream::Unix(_))));
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_regular_file_is_refused_and_kept() {
        let dir = scratch("regular");
        let path = dir.join("data");
        std::fs::write(&path, b"keep me").unwrap();
        let endpoint = Endpoint::Unix {
            path: path.clone(),
            mode: 0o700,
        };
        let err = Listener::bind(&endpoint, 16).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
