//! The errors that stop a server from starting or running.

use std::io;
use std::path::PathBuf;

use keel_core::auth::PwdbError;

/// sysexits.h, as memcached exits: a bad command line, an unknown user, an operating-system failure.
pub(crate) const EX_USAGE: u8 = 64;
const EX_NOUSER: u8 = 67;
const EX_OSERR: u8 = 71;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot resolve listen address {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("cannot listen on {endpoint}: {source}")]
    Bind { endpoint: String, source: io::Error },
    #[error("cannot seed the key hash from the OS: {0}")]
    Entropy(#[source] io::Error),
    #[error("event loop failed: {0}")]
    Driver(#[source] io::Error),
    #[error("cannot start a worker's event loop: {0}")]
    Worker(#[source] io::Error),
    #[error("{0}")]
    DriverUnavailable(#[from] keel_driver_uring::Unavailable),
    #[error("cannot start the server thread: {0}")]
    Thread(#[source] io::Error),
    #[error("the server thread panicked")]
    Panicked,
    #[error("-S needs a password file: --sasl-pwdb FILE or MEMCACHED_SASL_PWDB")]
    SaslWithoutPwdb,
    #[error("SASL works with the binary protocol only; drop -B ascii")]
    SaslNeedsBinary,
    #[error("cannot read SASL password file {path}: {source}")]
    SaslPwdbRead { path: PathBuf, source: io::Error },
    #[error("SASL password file {path}: {source}")]
    SaslPwdbFormat { path: PathBuf, source: PwdbError },
    // memcached's startup checks, in its words.
    #[error("Cannot set item size limit higher than 1/2 of memory max.")]
    ItemSizeOverHalfMemory,
    #[error("Number of napi_ids({napi}) cannot be greater than number of threads({threads})")]
    NapiIds { napi: u32, threads: usize },
    #[error("can't run as root without the -u switch")]
    RootWithoutUser,
    #[error("can't find the user {0} to switch to")]
    UnknownUser(String),
    #[error("failed to assume identity of user {user}: {source}")]
    AssumeIdentity { user: String, source: io::Error },
    #[error("failed to ensure corefile creation")]
    CoreDumps,
    // keel's own refusals.
    #[error("UDP is not supported: -U {0} (keel serves TCP only; -U 0 is the default)")]
    Udp(u16),
    #[error("{0}")]
    Listen(String),
    #[error("{0}")]
    TlsOption(#[source] keel_transport::SettingsError),
    #[error("TLS: {0}")]
    Tls(#[source] keel_transport::CertError),
    #[error("-l mtls:{0} needs -Z (TLS)")]
    MutualTlsWithoutTls(String),
    #[error("failed to daemonize: {0}")]
    Daemonize(#[source] io::Error),
    #[error("-Y (text-protocol authentication) works with the text protocol only; drop -B binary")]
    AuthFileNeedsText,
    #[error("-Y and -S cannot be used together: -Y authenticates text, -S binary connections")]
    AuthFileWithSasl,
    #[error("cannot read auth file {path}: {source}")]
    AuthFileRead { path: PathBuf, source: io::Error },
    #[error("auth file {path}: {source}")]
    AuthFileFormat { path: PathBuf, source: PwdbError },
    #[error("memory file {path}: {source}")]
    MemoryFile { path: PathBuf, source: io::Error },
    #[error("memory file {0} is in use by another keel")]
    MemoryFileInUse(PathBuf),
}

impl Error {
    /// The exit status: memcached's (sysexits) for the checks it makes too, so that scripts and
    /// service managers that read it see what they saw; 1 for keel's own failures.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::ItemSizeOverHalfMemory
            | Error::NapiIds { .. }
            | Error::RootWithoutUser
            | Error::SaslNeedsBinary
            | Error::AuthFileNeedsText => EX_USAGE,
            Error::UnknownUser(_) => EX_NOUSER,
            Error::AssumeIdentity { .. }
            | Error::CoreDumps
            | Error::Resolve { .. }
            | Error::Bind { .. } => EX_OSERR,
            _ => 1,
        }
    }
}
