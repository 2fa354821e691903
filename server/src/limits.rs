//! Process resource limits: the open-file limit (raise the soft RLIMIT_NOFILE toward the hard
//! limit when the connection limit needs more descriptors than the soft limit allows), core dumps
//! (memcached's `-r`) and locked memory (memcached's `-k`).

use tracing::warn;

use crate::error::Error;

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

/// `-r`: core files as large as allowed: unlimited, else the hard limit; an error (memcached's)
/// when the soft limit ends up 0, since then no core file is written at all.
pub(crate) fn enable_core_dumps() -> Result<(), Error> {
    let mut limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is a valid rlimit, read by setrlimit and written by getrlimit.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_CORE, &limit) != 0
            && libc::getrlimit(libc::RLIMIT_CORE, &mut limit) == 0
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
        }
        if libc::getrlimit(libc::RLIMIT_CORE, &mut limit) != 0 || limit.rlim_cur == 0 {
            return Err(Error::CoreDumps);
        }
    }
    Ok(())
}

/// `-k`: keep every page of the process in RAM; a failure is a warning, as in memcached.
pub(crate) fn lock_memory() {
    // SAFETY: mlockall takes flags only; failure is reported through the result.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        warn!(
            "-k invalid, mlockall() failed: {}; proceeding without locked memory",
            std::io::Error::last_os_error()
        );
    }
}
