//! keel-embed-tokio: keel-core embedded in a tokio program, as an example of putting the sans-I/O
//! core inside someone else's event loop.
//!
//! One task owns the `keel_core::Server` and decides everything (what to answer, when to close,
//! when to stop reading a connection, which deadlines to wake up for); the other tasks only move
//! bytes between tokio TCP streams and that task, over channels. See `driver.rs` for the loop and
//! `conn.rs` for the socket tasks.
//!
//! Run with `cargo run --release -p keel-embed-tokio -- -p 11211`; it prints
//! `keel-embed-tokio listening on 127.0.0.1:PORT` once it accepts connections, serves the binary,
//! text and meta protocols like `keel`, and shuts down gracefully on SIGINT (ctrl-c) or SIGTERM.

mod clock;
mod conn;
mod driver;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use keel_core::{Cache, CacheConfig, Config, Server};

use crate::clock::Clock;
use crate::driver::Driver;

/// memcached over tokio TCP streams, with keel-core deciding everything.
#[derive(Debug, Parser)]
#[command(name = "keel-embed-tokio")]
struct Args {
    /// TCP port to listen on (0 picks a free port; the ready line names it)
    #[arg(short = 'p', long, default_value_t = 11211)]
    port: u16,
    /// Address to listen on
    #[arg(short = 'l', long, default_value = "127.0.0.1")]
    listen: IpAddr,
    /// Item memory in megabytes
    #[arg(short = 'm', long, default_value_t = 64)]
    memory_limit: usize,
    /// Maximum simultaneous connections
    #[arg(short = 'c', long, default_value_t = 1024)]
    conn_limit: usize,
    /// Close connections idle this many seconds (0: never)
    #[arg(long, default_value_t = 300)]
    idle_timeout: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // One thread is enough: the core is one task anyway, and the socket tasks only copy bytes.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format_args!("starting the tokio runtime: {e}")),
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format_args!("{e}")),
    }
}

fn fail(message: std::fmt::Arguments<'_>) -> ExitCode {
    eprintln!("keel-embed-tokio: {message}");
    ExitCode::FAILURE
}

async fn serve(args: Args) -> std::io::Result<()> {
    let addr = SocketAddr::new(args.listen, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    let local = listener.local_addr()?;
    let clock = Clock::start();
    let config = Config {
        max_connections: args.conn_limit,
        idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        pid: std::process::id(),
        tcp_port: local.port(),
        listen: args.listen.to_string(),
        // memcached's -R default: a client pipelining without pause yields its turn after 20
        // requests, so it cannot starve the other connections of this one loop.
        reqs_per_event: Some(20),
        ..Config::default()
    };
    let cache = Cache::new(CacheConfig {
        memory_limit: args.memory_limit << 20,
        hash_seed: random_seed(),
        ..CacheConfig::default()
    });
    let server = Server::new(config, cache, clock.now());
    let driver = Driver::new(server, listener, clock)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "keel-embed-tokio listening on {local}")?;
    stdout.flush()?;
    drop(stdout);
    driver.run().await
}

/// A per-process random seed for the key hash, so keys cannot be chosen to collide: std's
/// `RandomState` is seeded from the OS.
fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x6b65_656c_u64)
}
