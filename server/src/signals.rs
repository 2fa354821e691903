//! SIGINT, SIGTERM and SIGUSR1 (memcached's signal for a graceful restart with `-e`) request a
//! graceful shutdown. The handler does only async-signal-safe work:
//! it loads the installed `ShutdownHandle` and triggers it (an atomic store and one write).
//!
//! SIGHUP reloads what can be reloaded (memcached: the `-Y` file) instead of killing the process.
//! Its handler writes one byte to a pipe; a thread reading that pipe runs every reload registered
//! with `on_hangup`, outside the handler, where reading files and taking locks is allowed. The
//! thread starts with the first registration only: while a process has a single thread, glibc
//! skips the cancellation bookkeeping around every read and write (~90 instructions a request at
//! `-t 1`), so without anything to reload SIGHUP is simply ignored.

use std::io::{self, Read};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use crate::runner::ShutdownHandle;

static HANDLE: OnceLock<ShutdownHandle> = OnceLock::new();

/// A reload run on SIGHUP, for as long as its owner holds the `Arc`.
pub(crate) type Reload = Arc<dyn Fn() + Send + Sync>;

static RELOADS: Mutex<Vec<Weak<dyn Fn() + Send + Sync>>> = Mutex::new(Vec::new());

/// The write end of the SIGHUP pipe, -1 until installed.
static HANGUP_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Runs `reload` on every SIGHUP until the last clone of it is dropped (a server that stopped).
pub(crate) fn on_hangup(reload: &Reload) {
    {
        let mut reloads = RELOADS.lock().unwrap_or_else(PoisonError::into_inner);
        reloads.retain(|r| r.strong_count() > 0);
        reloads.push(Arc::downgrade(reload));
    }
    if let Err(e) = install_hangup() {
        tracing::warn!("SIGHUP will not reload: {e}");
    }
}

fn run_reloads() {
    let live: Vec<Reload> = RELOADS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for reload in live {
        reload();
    }
}

/// Routes SIGINT, SIGTERM and SIGUSR1 (memcached's graceful stop for `-e`) to `handle`; SIGHUP is
/// ignored unless a reload is registered. Once per process: a later call keeps the first handle.
pub(crate) fn install(handle: ShutdownHandle) -> io::Result<()> {
    let _ = HANDLE.set(handle);
    // SAFETY: an all-zero sigaction is a valid value (no flags, empty mask) that is filled in below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset_t owned by this frame.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] {
        // SAFETY: `action` is fully initialised and its handler is async-signal-safe; the old
        // action is not asked for (null).
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    if HANGUP_PIPE.load(Ordering::Acquire) < 0 {
        // SAFETY: SIG_IGN is a valid disposition for SIGHUP; nothing runs in a handler.
        if unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Routes SIGHUP to the reload thread. Once per process.
fn install_hangup() -> io::Result<()> {
    if HANGUP_PIPE.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    for fd in fds {
        // SAFETY: fd was just returned by pipe() and is open.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // A full pipe already holds a pending reload: the handler's write must not block.
    // SAFETY: write_end was just returned by pipe() and is open.
    unsafe { libc::fcntl(write_end, libc::F_SETFL, libc::O_NONBLOCK) };
    // SAFETY: read_end is open and owned by nothing else; the File takes it over.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(read_end) };
    std::thread::Builder::new()
        .name("keel-sighup".to_owned())
        .spawn(move || {
            let mut buf = [0u8; 64];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => run_reloads(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        })?;
    HANGUP_PIPE.store(write_end, Ordering::Release);
    // SAFETY: as in `install`: an all-zero sigaction is valid and is filled in below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_hangup_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset_t owned by this frame.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised and its handler is async-signal-safe.
    if unsafe { libc::sigaction(libc::SIGHUP, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

extern "C" fn on_hangup_signal(_signal: libc::c_int) {
    let errno = Errno::save();
    let fd = HANGUP_PIPE.load(Ordering::Acquire);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; fd is the pipe's write end, open for the life of
        // the process; the buffer is one valid byte. A full pipe (EAGAIN) is fine to ignore.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
    errno.restore();
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
