//! `keel-loadgen`: closed-loop load against any memcached binary-protocol server.
//!
//! Example: `keel-loadgen -s 127.0.0.1:11211 -c 50 -d 1 -k 10000 -V 32 -r 9:1 -t 5`

use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use keel_bench::loadgen::{LoadConfig, run};

#[derive(Parser, Debug)]
#[command(
    name = "keel-loadgen",
    about = "Closed-loop memcached binary-protocol load generator"
)]
struct Args {
    /// Server address
    #[arg(short = 's', long, default_value = "127.0.0.1:11211")]
    server: String,
    /// Connections
    #[arg(short = 'c', long, default_value_t = 50)]
    conns: usize,
    /// Pipeline depth: requests in flight per connection
    #[arg(short = 'd', long, default_value_t = 1)]
    depth: usize,
    /// Key space (keys 0..K, 16 bytes each)
    #[arg(short = 'k', long, default_value_t = 10_000)]
    keys: u64,
    /// Value size in bytes
    #[arg(short = 'V', long, default_value_t = 32)]
    value_size: usize,
    /// get:set ratio
    #[arg(short = 'r', long, default_value = "9:1")]
    ratio: String,
    /// Measured duration in seconds (fractions allowed)
    #[arg(short = 't', long, default_value_t = 5.0)]
    duration: f64,
    /// Measured request count instead of a duration
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Unmeasured load before measuring, in seconds
    #[arg(short = 'w', long, default_value_t = 0.5)]
    warmup: f64,
    /// Do not SET every key before the run
    #[arg(long)]
    no_populate: bool,
    /// Compare the full value of every Nth GET hit (0: never)
    #[arg(long, default_value_t = 100)]
    verify_every: u64,
    /// Load generator threads (each runs its own mio loop)
    #[arg(short = 'T', long, default_value_t = 1)]
    threads: usize,
    /// Server PID: report its utime+stime over the run and requests per server-CPU-second
    #[arg(long)]
    server_pid: Option<u32>,
    /// Label carried into the output
    #[arg(long, default_value = "")]
    label: String,
    /// Print only the JSON line
    #[arg(long)]
    json: bool,
    /// Speak TLS, trusting the CA certificate(s) in this PEM file (server name `localhost`)
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<std::path::PathBuf>,
}

fn parse_ratio(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

fn main() -> ExitCode {
    let a = Args::parse();
    let Some(addr) = a.server.to_socket_addrs().ok().and_then(|mut i| i.next()) else {
        eprintln!("keel-loadgen: cannot resolve {}", a.server);
        return ExitCode::from(2);
    };
    let Some(ratio) = parse_ratio(&a.ratio).filter(|r| r.0 + r.1 > 0) else {
        eprintln!("keel-loadgen: --ratio must look like 9:1");
        return ExitCode::from(2);
    };
    if a.conns == 0 || a.depth == 0 || a.keys == 0 {
        eprintln!("keel-loadgen: --conns, --depth and --keys must be at least 1");
        return ExitCode::from(2);
    }
    let cfg = LoadConfig {
        addr,
        conns: a.conns,
        depth: a.depth,
        keys: a.keys,
        value_size: a.value_size,
        ratio,
        duration: Duration::from_secs_f64(a.duration),
        requests: a.requests,
        warmup: Duration::from_secs_f64(a.warmup),
        populate: !a.no_populate,
        verify_every: a.verify_every,
        threads: a.threads,
        server_pid: a.server_pid,
        seed: 0x5eed,
        tls_ca: a.tls_ca,
    };
    match run(&cfg, &a.label) {
        Ok(r) => {
            if !a.json {
                println!("{}", r.human());
            }
            println!("{}", r.json());
            if r.verify_failures > 0 || r.errors > 0 {
                eprintln!(
                    "keel-loadgen: {} errors, {} verification failures",
                    r.errors, r.verify_failures
                );
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keel-loadgen: {e}");
            ExitCode::from(1)
        }
    }
}
