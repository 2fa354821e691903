//! The command line: memcached-style flags parsed by clap into `Options`, and `main`, the whole
//! `keel` program: parse, set up logging, run, print the ready line, map failures to exit 1.

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::{ArgAction, Parser, ValueEnum};

use crate::settings::parse_item_size;
use crate::{run, signals};

/// The parsed command line. `Options::default()` is what `keel` with no flags runs.
#[derive(Clone, Debug, PartialEq, Eq, Parser)]
#[command(name = "keel", version, about = "A memcached-compatible cache server")]
pub struct Options {
    /// TCP port to listen on (0 picks a free port; the ready line names it)
    #[arg(short = 'p', long, default_value_t = 11211)]
    pub port: u16,
    /// Interface address (or host name) to listen on
    #[arg(short = 'l', long, default_value = "127.0.0.1")]
    pub listen: String,
    /// Maximum simultaneous connections
    #[arg(short = 'c', long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub conn_limit: u32,
    /// Item memory in megabytes
    #[arg(short = 'm', long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub memory_limit: u64,
    /// Largest item: bytes, or with a k/m suffix (1k to 1g)
    #[arg(short = 'I', long, default_value = "1m", value_parser = parse_item_size)]
    pub max_item_size: usize,
    /// Protocols a connection may speak: auto (first byte 0x80 means binary), binary or ascii
    #[arg(short = 'B', long, value_enum, default_value_t = ProtocolKind::Auto)]
    pub protocol: ProtocolKind,
    /// Event loop driver
    #[arg(long, value_enum, default_value_t = DriverKind::Mio)]
    pub driver: DriverKind,
    /// Close connections idle this many seconds (0: never)
    #[arg(long, default_value_t = 300)]
    pub idle_timeout: u64,
    /// Longest single wait for socket readiness, in milliseconds (0: only the core's deadlines)
    #[arg(long, default_value_t = 1000)]
    pub poll_timeout_ms: u64,
    /// Close a connection holding part of a request for this many seconds (0: never)
    #[arg(long, default_value_t = 30)]
    pub read_timeout: u64,
    /// Require SASL PLAIN authentication (binary protocol only, as in memcached)
    #[arg(short = 'S', long)]
    pub enable_sasl: bool,
    /// SASL password file, lines of user:password (default: $MEMCACHED_SASL_PWDB)
    #[arg(long, value_name = "FILE", env = "MEMCACHED_SASL_PWDB")]
    pub sasl_pwdb: Option<std::path::PathBuf>,
    /// Refuse FLUSH commands
    #[arg(short = 'F', long)]
    pub disable_flush: bool,
    /// Allow the text `shutdown` command
    #[arg(short = 'A', long)]
    pub enable_shutdown: bool,
    /// More logging: -v connection events, -vv everything
    #[arg(short = 'v', long, action = ArgAction::Count)]
    pub verbose: u8,
}

impl Default for Options {
    fn default() -> Options {
        Options::parse_from(["keel"])
    }
}

/// memcached's `-B`: which protocols connections may speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolKind {
    /// binary when the first byte is 0x80, text otherwise
    Auto,
    /// binary only
    Binary,
    /// text (classic and meta) only
    Ascii,
}

/// Which event loop serves the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// mio: epoll/kqueue, edge-triggered
    Mio,
    /// libc::poll over every connection each turn
    Poll,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Mio => "mio",
            DriverKind::Poll => "poll",
        })
    }
}

/// The `keel` program. Exit status 0 after a graceful shutdown, 1 on any error (one line on stderr).
pub fn main() -> ExitCode {
    let options = match Options::try_parse() {
        Ok(options) => options,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            eprintln!(
                "keel: {}",
                rendered
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ")
            );
            return ExitCode::FAILURE;
        }
    };
    crate::logging::init(options.verbose);
    let result = run(&options, |addr, handle| {
        if let Err(e) = signals::install(handle) {
            tracing::warn!("cannot install signal handlers: {e}");
        }
        let mut stdout = io::stdout().lock();
        let _ = writeln!(
            stdout,
            "keel listening on {addr} (driver {})",
            options.driver
        );
        let _ = stdout.flush();
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel: {e}");
            ExitCode::FAILURE
        }
    }
}
