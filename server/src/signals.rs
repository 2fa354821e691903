//! SIGINT and SIGTERM request a graceful shutdown. The handler does only async-signal-safe work:
//! it loads the installed `ShutdownHandle` and triggers it (an atomic store and one write).

use std::io;
use std::sync::OnceLock;

use crate::runner::ShutdownHandle;

static HANDLE: OnceLock<ShutdownHandle> = OnceLock::new();

/// Routes SIGINT and SIGTERM to `handle`. Once per process: a later call keeps the first handle.
pub(crate) fn install(handle: ShutdownHandle) -> io::Result<()> {
    let _ = HANDLE.set(handle);
    // SAFETY: an all-zero sigaction is a valid value (no flags, empty mask) that is filled in below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset_t owned by this frame.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `action` is fully initialised and its handler is async-signal-safe; the old
        // action is not asked for (null).
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

extern "C" fn on_signal(_signal: libc::c_int) {
    let errno = Errno::save();
    if let Some(handle) = HANDLE.get() {
        handle.trigger();
    }
    errno.restore();
}

/// The interrupted code's errno, which the handler's write may overwrite.
struct Errno(libc::c_int);

impl Errno {
    fn save() -> Errno {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    fn restore(self) {
        #[cfg(target_os = "linux")]
        // SAFETY: __errno_location returns this thread's errno slot, always valid to write.
        unsafe {
            *libc::__errno_location() = self.0
        };
        #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
        // SAFETY: __error returns this thread's errno slot, always valid to write.
        unsafe {
            *libc::__error() = self.0
        };
    }
}
