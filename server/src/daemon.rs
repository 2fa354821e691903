//! memcached's `-d` and `-P`: detach from the terminal, and record the process id in a file.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::Error;

/// Forks: the parent exits 0 at once (as memcached's does, before the listener is open), the
/// child goes on in a new session with `/` as its working directory and stdin on `/dev/null`.
/// stdout joins stderr, so the ready line lands where the log goes. (memcached also sends stderr
/// to `/dev/null` unless `-v`; keel keeps it, so a daemon's startup errors stay visible.)
///
/// Must be called while the process has one thread: a forked child has only the calling
/// thread, and locks held by others would stay held for ever.
pub(crate) fn detach() -> Result<(), Error> {
    // SAFETY: the process is single-threaded here (see above), so the child is a full copy.
    let pid = unsafe { libc::fork() };
    if pid == -1 {
        return Err(Error::Daemonize(io::Error::last_os_error()));
    }
    if pid > 0 {
        // SAFETY: _exit ends the parent without running destructors or flushing buffers the
        // child also holds (memcached's _exit(EXIT_SUCCESS)).
        unsafe { libc::_exit(0) }
    }
    // SAFETY: setsid has no preconditions; the child of a fork is never a group leader.
    if unsafe { libc::setsid() } == -1 {
        return Err(Error::Daemonize(io::Error::last_os_error()));
    }
    std::env::set_current_dir("/").map_err(Error::Daemonize)?;
    let null = File::open("/dev/null").map_err(Error::Daemonize)?;
    // SAFETY: dup2 onto the standard descriptors with descriptors this process holds open.
    let redirected = unsafe {
        libc::dup2(null.as_raw_fd(), libc::STDIN_FILENO) != -1
            && libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) != -1
    };
    if !redirected {
        return Err(Error::Daemonize(io::Error::last_os_error()));
    }
    Ok(())
}

/// Writes this process's id to `path`, as memcached does: to `path.tmp` first, then renamed, so
/// no reader sees an empty file. A failure is a warning, as in memcached.
pub(crate) fn write_pidfile(path: &Path) {
    if let Some(pid) = running_pid(path) {
        tracing::warn!(
            "the pid file {} contained the following (running) pid: {pid}",
            path.display()
        );
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let written = File::create(&tmp)
        .and_then(|mut file| writeln!(file, "{}", std::process::id()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::warn!("could not write the pid file {}: {e}", path.display());
    }
}

/// Removes the pid file when a daemon exits (memcached leaves it when not daemonized). A daemon
/// that failed before it listened never wrote one.
pub(crate) fn remove_pidfile(path: &Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            tracing::warn!("could not remove the pid file {}: {e}", path.display());
        }
        _ => {}
    }
}

/// The pid in an existing pid file, if that process is alive.
fn running_pid(path: &Path) -> Option<u32> {
    let pid: i32 = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
    // SAFETY: kill with signal 0 only checks that the process exists.
    (pid > 0 && unsafe { libc::kill(pid, 0) } == 0).then_some(pid as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfiles_hold_this_process_id_and_are_removed() {
        let path = std::env::temp_dir().join(format!("keel-pidfile-{}", std::process::id()));
        write_pidfile(&path);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(running_pid(&path), Some(std::process::id()));
        remove_pidfile(&path);
        assert!(!path.exists());
        assert_eq!(running_pid(&path), None);
    }
}
