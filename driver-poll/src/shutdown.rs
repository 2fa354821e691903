//! `ShutdownHandle`: asks a running driver to shut down, from any thread or a signal handler.
//!
//! A flag plus a self-pipe (a nonblocking socket pair): `trigger` sets the flag and writes one byte,
//! which wakes the driver's `poll()` at once. Both steps are async-signal-safe.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Cheap to clone and `Send`; `trigger` may be called from a signal handler.
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    requested: AtomicBool,
    /// The wake-up pipe: (poll end, trigger end); opened by `bind`, closed with the last handle.
    pipe: OnceLock<(UnixStream, UnixStream)>,
}

impl ShutdownHandle {
    /// Requests shutdown and wakes the driver. Async-signal-safe: an atomic store and one `write`.
    pub fn trigger(&self) {
        self.shared.requested.store(true, Ordering::SeqCst);
        if let Some((_, writer)) = self.shared.pipe.get() {
            // A full pipe already holds a wake-up, so a failed write loses nothing.
            let _ = (&*writer).write(&[1]);
        }
    }

    /// Wakes the driver without asking it to stop (a connection is waiting in its inbox).
    pub(crate) fn wake(&self) {
        if let Some((_, writer)) = self.shared.pipe.get() {
            let _ = (&*writer).write(&[1]);
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.shared.requested.load(Ordering::SeqCst)
    }

    /// Opens the wake-up pipe (once).
    pub(crate) fn open(&self) -> io::Result<()> {
        if self.shared.pipe.get().is_none() {
            let (reader, writer) = UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            writer.set_nonblocking(true)?;
            let _ = self.shared.pipe.set((reader, writer));
        }
        Ok(())
    }

    /// The descriptor to poll for readability, once `open` succeeded.
    pub(crate) fn wake_fd(&self) -> Option<RawFd> {
        self.shared.pipe.get().map(|(reader, _)| reader.as_raw_fd())
    }

    /// Empties the pipe so the next `poll()` blocks again.
    pub(crate) fn drain(&self) {
        let Some((reader, _)) = self.shared.pipe.get() else {
            return;
        };
        let mut scratch = [0u8; 64];
        while matches!((&*reader).read(&mut scratch), Ok(n) if n > 0) {}
    }
}
