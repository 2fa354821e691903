//! `ShutdownHandle`: a flag and a `mio::Waker`, so a signal handler or another thread can end the
//! driver's `Poll::poll` wait at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use mio::Waker;

/// Clone it freely; `trigger` is async-signal-safe (an atomic store plus one eventfd/pipe write).
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requested: AtomicBool,
    /// Registered with the driver's `Poll` by `bind`; a trigger before that only sets the flag.
    waker: OnceLock<Waker>,
}

impl ShutdownHandle {
    /// Requests shutdown and wakes the driver.
    pub fn trigger(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        if let Some(waker) = self.inner.waker.get() {
            // Failure means the wake-up counter is already set: the driver wakes anyway.
            let _ = waker.wake();
        }
    }

    /// Wakes the driver without asking it to stop (a connection is waiting in its inbox).
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.inner.waker.get() {
            let _ = waker.wake();
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// Installs the waker (the first one wins; a driver binds once).
    pub(crate) fn attach(&self, waker: Waker) {
        let _ = self.inner.waker.set(waker);
    }
}
