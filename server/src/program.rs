//! `main`, the whole `keel` program, in memcached's order: parse and check every flag, raise
//! limits, become the `-u` user, detach (`-d`), lock memory (`-k`), bind, write the pid file
//! (`-P`), print the ready line, serve until SIGINT/SIGTERM. Any failure is one line on stderr
//! and a nonzero exit status: memcached's for the checks it makes too, 1 otherwise.

use std::error::Error as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::Options;
use crate::error::Error;
use crate::{daemon, identity, limits, run, signals};

/// The `keel` program. Exit status 0 after a graceful shutdown; on an error, one line on stderr and
/// memcached's status for the same refusal (64 for a bad value, 67 for an unknown user, 71 when a
/// listener cannot be opened), 1 for keel's own.
pub fn main() -> ExitCode {
    let mut options = match Options::try_parse() {
        Ok(options) => options,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            fail(&clap_message(&e));
            return ExitCode::from(clap_status(&e));
        }
    };
    if options.license {
        println!(
            "keel {} is licensed under {}.",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_LICENSE")
        );
        return ExitCode::SUCCESS;
    }
    crate::logging::init(options.verbose);
    match start(&mut options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fail(&e.to_string());
            ExitCode::from(e.exit_status())
        }
    }
}

/// memcached's exit status for a command line it refuses: EX_USAGE (64) for the values it checks
/// once every option is read (`-p`, `-I`, `-B`), 1 for what its option loop refuses.
fn clap_status(e: &clap::Error) -> u8 {
    use clap::error::{ContextKind, ContextValue};
    const CHECKED_AFTER: [&str; 3] = ["--port", "--max-item-size", "--protocol"];
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.as_str(),
        _ => "",
    };
    let value_error = matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    );
    if value_error && CHECKED_AFTER.iter().any(|flag| arg.starts_with(flag)) {
        crate::error::EX_USAGE
    } else {
        1
    }
}

/// One line on stderr; a closed stderr (a daemon's) must not turn an error into a panic.
fn fail(message: &str) {
    let _ = writeln!(io::stderr(), "keel: {message}");
}

/// A value parser's own message alone (memcached's words for a bad `-c`, `-t`, `-I`, `-o` ...);
/// otherwise clap's first line.
fn clap_message(e: &clap::Error) -> String {
    if e.kind() == ErrorKind::ValueValidation {
        if let Some(source) = e.source() {
            return source.to_string();
        }
    }
    let rendered = e.render().to_string();
    rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_owned()
}

fn start(options: &mut Options) -> Result<(), Error> {
    let ignored = options.check()?;
    if !ignored.is_empty() {
        tracing::info!(
            "memcached options with no meaning for keel, ignored: {}",
            ignored.join(" ")
        );
    }
    if options.enable_coredumps {
        limits::enable_core_dumps()?;
    }
    identity::assume_user(options.user.as_deref())?;
    if options.daemon {
        // The daemon works from `/`: paths given relative to where it was started are fixed
        // now.
        absolute(&mut options.pidfile)?;
        absolute(&mut options.sasl_pwdb)?;
        daemon::detach()?;
    }
    if options.lock_memory {
        limits::lock_memory();
    }
    let result = run(options, |bound, handle| {
        if let Err(e) = signals::install(handle) {
            tracing::warn!("cannot install signal handlers: {e}");
        }
        if let Some(path) = &options.pidfile {
            daemon::write_pidfile(path);
        }
        let mut stdout = io::stdout().lock();
        let _ = writeln!(
            stdout,
            "keel listening on {bound} (driver {})",
            options.driver
        );
        let _ = stdout.flush();
    });
    if let (true, Some(path)) = (options.daemon, &options.pidfile) {
        daemon::remove_pidfile(path);
    }
    result
}

fn absolute(path: &mut Option<PathBuf>) -> Result<(), Error> {
    if let Some(p) = path {
        *p = std::path::absolute(&*p).map_err(Error::Daemonize)?;
    }
    Ok(())
}
