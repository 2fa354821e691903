//! The open-file limit: raise the soft RLIMIT_NOFILE toward the hard limit when the connection
//! limit needs more descriptors than the soft limit allows.

use tracing::warn;

/// Descriptors beyond the connections: listener, poll/wake-up descriptors, stdio, logs.
pub(crate) const HEADROOM: u64 = 32;

pub(crate) fn ensure_nofile(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        warn!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    let soft: u64 = limit.rlim_cur;
    if soft >= needed {
        return;
    }
    let target = needed.min(limit.rlim_max);
    if target > soft {
        limit.rlim_cur = target;
        // SAFETY: `limit` is a valid rlimit whose soft value does not exceed its hard value.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            warn!(
                "cannot raise the open-file limit to {target}: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
    }
    if target < needed {
        warn!(
            "open-file limit is {target} (hard limit), below the {needed} the connection limit needs"
        );
    }
}
