//! Why io_uring cannot serve here: one line naming the cause and the fallback, never a silent
//! switch to another driver.

use std::io;

/// io_uring is missing, forbidden or too old on this system.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// The kernel has no io_uring (ENOSYS).
    #[error("io_uring is not available: this kernel does not have it (ENOSYS); use --driver mio")]
    NoKernelSupport,
    #[error(
        "io_uring is not permitted (EPERM): disabled by sysctl kernel.io_uring_disabled or \
         refused by a seccomp profile (as Docker's default one does); use --driver mio"
    )]
    /// io_uring is there but forbidden (EPERM).
    NotPermitted,
    /// The kernel's io_uring lacks something keel needs.
    #[error("io_uring on this kernel lacks {feature} (Linux {since} or later); use --driver mio")]
    Missing {
        /// What is missing.
        feature: &'static str,
        /// The first Linux release with it.
        since: &'static str,
    },
    /// Setting up the ring failed otherwise.
    #[error("io_uring setup failed: {0}; use --driver mio")]
    Setup(#[source] io::Error),
}

impl Unavailable {
    /// The error `io_uring_setup` returned, named by its cause.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn setup(err: io::Error) -> Unavailable {
        match err.raw_os_error() {
            Some(libc::ENOSYS) => Unavailable::NoKernelSupport,
            Some(libc::EPERM | libc::EACCES) => Unavailable::NotPermitted,
            _ => Unavailable::Setup(err),
        }
    }
}

impl From<Unavailable> for io::Error {
    fn from(err: Unavailable) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_named_with_the_fallback() {
        let eperm = Unavailable::setup(io::Error::from_raw_os_error(libc::EPERM)).to_string();
        assert_eq!(
            eperm,
            "io_uring is not permitted (EPERM): disabled by sysctl kernel.io_uring_disabled or \
             refused by a seccomp profile (as Docker's default one does); use --driver mio"
        );
        let enosys = Unavailable::setup(io::Error::from_raw_os_error(libc::ENOSYS)).to_string();
        assert_eq!(
            enosys,
            "io_uring is not available: this kernel does not have it (ENOSYS); use --driver mio"
        );
        let other = Unavailable::setup(io::Error::from_raw_os_error(libc::ENOMEM)).to_string();
        assert!(other.starts_with("io_uring setup failed: "), "{other}");
        assert!(other.ends_with("; use --driver mio"), "{other}");
        assert!(!other.contains('\n'));
    }
}
