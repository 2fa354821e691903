//! `ShutdownHandle`: asks a running driver loop to stop, from any thread or a signal handler. One
//! type for every driver: a flag the loop reads each turn, and the loop's own way to end its wait
//! at once (mio's `Waker`, the poll driver's socket pair, io_uring's eventfd), which the driver
//! installs as a `Wake` when it binds.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Ends a driver's wait, from another thread (an `Inbox` push) or a signal handler: it must be
/// async-signal-safe (one `write`, no lock, no allocation) and never block.
pub type Wake = Box<dyn Fn() + Send + Sync>;

/// Clone it freely; `trigger` is async-signal-safe (an atomic store plus the driver's `Wake`).
#[derive(Clone, Default)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    requested: AtomicBool,
    /// Installed by the driver's `bind`; a trigger before that only sets the flag, which the
    /// loop reads before its first wait.
    wake: OnceLock<Wake>,
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("requested", &self.is_requested())
            .field("attached", &self.inner.wake.get().is_some())
            .finish()
    }
}

impl ShutdownHandle {
    /// Requests shutdown and wakes the driver.
    pub fn trigger(&self) {
        self.inner.requested.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the driver without asking it to stop (a connection is waiting in its inbox).
    pub fn wake(&self) {
        if let Some(wake) = self.inner.wake.get() {
            wake();
        }
    }

    /// Whether shutdown was requested; the driver loop checks it once a turn.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::SeqCst)
    }

    /// A wake-up for others to call (an `Inbox` pushing a connection): wakes this handle's
    /// driver without asking it to stop.
    pub fn waker(&self) -> Wake {
        let handle = self.clone();
        Box::new(move || handle.wake())
    }

    /// Installs the driver's wake-up; the first one wins (a driver binds once).
    pub fn attach(&self, wake: Wake) {
        let _ = self.inner.wake.set(wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn trigger_sets_the_flag_and_wakes_once_attached() {
        let handle = ShutdownHandle::default();
        let clone = handle.clone();
        // Before the driver binds: only the flag.
        let woken = Arc::new(AtomicUsize::new(0));
        handle.wake();
        assert!(!clone.is_requested());
        let counter = Arc::clone(&woken);
        handle.attach(Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        // A second wake-up is ignored: the first one stays.
        handle.attach(Box::new(|| panic!("replaced the first wake-up")));
        clone.wake();
        assert!(!handle.is_requested());
        clone.trigger();
        assert!(handle.is_requested());
        assert_eq!(woken.load(Ordering::SeqCst), 2);
    }
}
