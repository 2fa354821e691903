//! The poll loop's wake-up: a nonblocking socket pair. The `ShutdownHandle` writes one byte to
//! one end (async-signal-safe), which makes the other end readable and ends `poll()` at once.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use keel_driver_common::ShutdownHandle;

/// The end `poll()` watches.
#[derive(Debug)]
pub(crate) struct WakePipe {
    reader: UnixStream,
}

impl WakePipe {
    /// Opens the pair and gives the writing end to `handle`.
    pub(crate) fn open(handle: &ShutdownHandle) -> io::Result<WakePipe> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        handle.attach(Box::new(move || {
            // A full pipe already holds a wake-up, so a failed write loses nothing.
            let _ = (&writer).write(&[1]);
        }));
        Ok(WakePipe { reader })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.reader.as_raw_fd()
    }

    /// Empties the pipe so the next `poll()` blocks again.
    pub(crate) fn drain(&self) {
        let mut scratch = [0u8; 64];
        while matches!((&self.reader).read(&mut scratch), Ok(n) if n > 0) {}
    }
}
