//! `ShutdownHandle`: a flag and an eventfd the ring keeps a read armed on, so a signal handler or
//! another thread ends the loop's `io_uring_enter` wait at once.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Clone it freely; `trigger` is async-signal-safe (an atomic store plus one `write`).
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    /// The wake-up eventfd, installed by `bind`; a trigger before that only sets the flag.
    eventfd: OnceLock<File>,
}

impl ShutdownHandle {
    /// Requests shutdown and wakes the driver.
    pub fn trigger(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the driver without asking it to stop (a connection is waiting in its inbox).
    pub(crate) fn wake(&self) {
        if let Some(eventfd) = self.inner.eventfd.get() {
            // Adding to the counter cannot block short of 2^64 - 2 pending wake-ups; a failure
            // means the driver is gone.
            let _ = (&*eventfd).write(&1u64.to_ne_bytes());
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// Installs the eventfd (the first one wins; a driver binds once); its descriptor.
    pub(crate) fn attach(&self, eventfd: File) -> i32 {
        let _ = self.inner.eventfd.set(eventfd);
        self.fd().unwrap_or(-1)
    }

    pub(crate) fn fd(&self) -> Option<i32> {
        self.inner.eventfd.get().map(AsRawFd::as_raw_fd)
    }
}
