//! Accept failures every driver treats alike.

use std::io;

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
