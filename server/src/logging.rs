//! Diagnostics on stderr through `tracing`: info by default (startup, shutdown, warnings), debug
//! with `-v` (connection events), trace with `-vv`.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;

pub(crate) fn level(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    }
}

/// Installs the global subscriber; a second call (an embedding program's own) is left alone.
pub(crate) fn init(verbose: u8) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level(verbose))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
