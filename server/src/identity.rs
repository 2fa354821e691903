//! memcached's `-u`: a server started as root must be told whom to run as (memcached refuses
//! "can't run as root without the -u switch"), and becomes that user before it opens any socket
//! or file, as memcached does. Started as anyone else, `-u` changes nothing.

use std::ffi::CString;
use std::io;

use crate::error::Error;

/// getpwnam_r's buffer grows to this at most (an entry with huge group lists or gecos fields).
const MAX_PASSWD_BUFFER: usize = 1 << 20;

/// Becomes `user` when running as root; refuses to go on as root without one.
pub(crate) fn assume_user(user: Option<&str>) -> Result<(), Error> {
    // SAFETY: getuid and geteuid have no preconditions and cannot fail.
    let root = unsafe { libc::getuid() == 0 || libc::geteuid() == 0 };
    if !root {
        return Ok(());
    }
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or(Error::RootWithoutUser)?;
    let (uid, gid) = lookup(user)?.ok_or_else(|| Error::UnknownUser(user.to_owned()))?;
    let failed = |source| Error::AssumeIdentity {
        user: user.to_owned(),
        source,
    };
    // SAFETY: setgroups with a count of 0 reads no list; a null pointer is allowed then.
    if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
        let e = io::Error::last_os_error();
        // EPERM: already without the privilege to change groups, as memcached accepts.
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(failed(e));
        }
        tracing::warn!("failed to drop supplementary groups: {e}");
    }
    // The group first: once the user is not root, it may no longer change its group.
    // SAFETY: setgid and setuid take plain ids; failure is reported through the result.
    if unsafe { libc::setgid(gid) } != 0 || unsafe { libc::setuid(uid) } != 0 {
        return Err(failed(io::Error::last_os_error()));
    }
    Ok(())
}

/// The user's uid and primary gid, or `None` when there is no such user.
fn lookup(user: &str) -> Result<Option<(libc::uid_t, libc::gid_t)>, Error> {
    let name = CString::new(user).map_err(|_| Error::UnknownUser(user.to_owned()))?;
    let mut buffer: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // SAFETY: an all-zero passwd is a valid value for getpwnam_r to overwrite.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: the name is NUL-terminated, the entry and
        // result live in this frame, and the buffer's length is passed with it.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buffer.len() < MAX_PASSWD_BUFFER {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(Error::AssumeIdentity {
                user: user.to_owned(),
                source: io::Error::from_raw_os_error(rc),
            });
        }
        return Ok((!found.is_null()).then_some((entry.pw_uid, entry.pw_gid)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_missing_users_are_looked_up() {
        assert_eq!(lookup("root").unwrap(), Some((0, 0)));
        assert_eq!(lookup("no-such-user-keel").unwrap(), None);
        assert!(matches!(lookup("nul\0byte"), Err(Error::UnknownUser(_))));
    }
}
