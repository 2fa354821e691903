//! Accept failures every driver treats alike.

use std::io;

/// New connections given to the core per loop turn at most: a connect storm (or a burst a busy
/// loop finds queued, many already closed by their peers) is admitted between turns that serve
/// the established connections and close the dead ones, so it cannot starve the clients already
/// served nor fill the connection limit with connections that are gone.
pub const ACCEPT_BATCH: usize = 256;

/// How long accepting pauses when descriptors run out (unless a connection closes sooner).
pub const ACCEPT_BACKOFF_MS: u64 = 100;

/// EMFILE/ENFILE (and kernel memory shortage): accepting again at once would fail the same way,
/// and a level-triggered listener would spin.
pub fn out_of_descriptors(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
