//! keel-storebench: the shared cache without sockets (as Segcache's store benchmarks do): N threads,
//! each with its own `SharedCache` handle, run GET/SET on 16-byte keys and 32-byte values for a
//! fixed time, uniform or Zipf(0.99) over the key space, 90:10 or 50:50. Every configuration runs
//! with 1 and with N threads over the same shard count, alternating, for a few rounds; the table
//! gives the medians and the N-thread / 1-thread ratio. A plain single-threaded `Cache` (no locks)
//! runs too, as the reference for what the shard mutexes cost one thread.
//!
//! `cargo run --release -p keel-bench --bin keel-storebench -- --threads 2`

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use clap::Parser;
use keel_core::protocol::Command;
use keel_core::{Cache, CacheConfig, Service, SharedCache, Timestamp};

#[derive(Parser)]
#[command(about = "Shared-cache throughput without sockets: 1 vs N threads")]
struct Args {
    /// Threads of the scaled run
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Measured seconds per run
    #[arg(long, default_value_t = 2.0)]
    secs: f64,
    /// Rounds (each runs every configuration once, in alternation)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Distinct keys
    #[arg(long, default_value_t = 100_000)]
    keys: usize,
}

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const VALUE: [u8; 32] = [b'v'; 32];

/// xorshift64*: cheap, good enough to pick keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Dist {
    Uniform,
    Zipf,
}

/// Picks key indices; Zipf ranks are scrambled over the key space (as YCSB's scrambled Zipfian),
/// so the hot keys land on different shards.
struct Picker {
    dist: Dist,
    keys: usize,
    cdf: Vec<f64>,
}

impl Picker {
    fn new(dist: Dist, keys: usize) -> Picker {
        let cdf = if dist == Dist::Zipf {
            let weights: Vec<f64> = (1..=keys).map(|r| 1.0 / (r as f64).powf(0.99)).collect();
            let total: f64 = weights.iter().sum();
            let mut acc = 0.0;
            weights
                .iter()
                .map(|w| {
                    acc += w / total;
                    acc
                })
                .collect()
        } else {
            Vec::new()
        };
        Picker { dist, keys, cdf }
    }

    fn pick(&self, rng: &mut Rng) -> usize {
        match self.dist {
            Dist::Uniform => (rng.next() % self.keys as u64) as usize,
            Dist::Zipf => {
                let rank = self
                    .cdf
                    .partition_point(|&c| c < rng.unit())
                    .min(self.keys - 1);
                (rank.wrapping_mul(0x9e37_79b9) ^ (rank >> 7)) % self.keys
            }
        }
    }
}

fn key(i: usize) -> [u8; 16] {
    let mut k = *b"key:000000000000";
    let digits = format!("{i:012}");
    k[4..].copy_from_slice(digits.as_bytes());
    k
}

fn config() -> CacheConfig {
    CacheConfig {
        memory_limit: 256 << 20,
        ..CacheConfig::default()
    }
}

/// Operations per second of `threads` threads, each with its own handle from `make`.
fn run<S: Service + Send>(
    mut make: impl FnMut() -> S,
    threads: usize,
    keys: &[[u8; 16]],
    picker: &Picker,
    set_percent: u64,
    secs: f64,
) -> f64 {
    let barrier = Barrier::new(threads);
    let handles: Vec<S> = (0..threads).map(|_| make()).collect();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = handles
            .into_iter()
            .enumerate()
            .map(|(t, mut cache)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
                    barrier.wait();
                    let start = Instant::now();
                    let until = Duration::from_secs_f64(secs);
                    let mut ops = 0u64;
                    loop {
                        for _ in 0..1024 {
                            let k = &keys[picker.pick(&mut rng)];
                            let command = if rng.next() % 100 < set_percent {
                                Command::set(k, &VALUE)
                            } else {
                                Command::get(k)
                            };
                            black_box(cache.execute(&command, NOW));
                        }
                        ops += 1024;
                        if start.elapsed() >= until {
                            return ops as f64 / start.elapsed().as_secs_f64();
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("bench thread panicked") as u64)
            .sum()
    });
    total as f64
}

fn fill<S: Service>(cache: &mut S, keys: usize) {
    for i in 0..keys {
        cache.execute(&Command::set(&key(i), &VALUE), NOW);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    // Made up front, so the timed loop measures the cache, not key formatting.
    let keys: Vec<[u8; 16]> = (0..args.keys).map(key).collect();
    let shards = SharedCache::shards_for(args.threads, config().memory_limit);
    println!(
        "# keel-storebench: {} keys, 16 B keys, 32 B values, {} s x {} rounds, {shards} shards, \
         {} CPUs",
        args.keys,
        args.secs,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "\n| keys | get:set | plain Cache, 1 thread (Mops/s) | shared, 1 thread | shared, {n} threads | {n} / 1 |",
        n = args.threads
    );
    println!("|---|---|---:|---:|---:|---:|");
    for dist in [Dist::Uniform, Dist::Zipf] {
        let picker = Picker::new(dist, args.keys);
        for set_percent in [10u64, 50] {
            let mut plain = SharedOrPlain::default();
            for _ in 0..args.rounds {
                let mut cache = Cache::new(config());
                fill(&mut cache, args.keys);
                let mut once = Some(cache);
                plain.plain.push(run(
                    || once.take().expect("one plain cache for one thread"),
                    1,
                    &keys,
                    &picker,
                    set_percent,
                    args.secs,
                ));
                for (threads, out) in [(1, &mut plain.one), (args.threads, &mut plain.many)] {
                    let mut shared = SharedCache::new(config(), shards);
                    fill(&mut shared, args.keys);
                    out.push(run(
                        || shared.clone(),
                        threads,
                        &keys,
                        &picker,
                        set_percent,
                        args.secs,
                    ));
                }
            }
            let (p, one, many) = (
                median(&mut plain.plain),
                median(&mut plain.one),
                median(&mut plain.many),
            );
            println!(
                "| {} | {}:{} | {:.2} | {:.2} | {:.2} | {:.2}x |",
                if dist == Dist::Uniform {
                    "uniform"
                } else {
                    "Zipf 0.99"
                },
                100 - set_percent,
                set_percent,
                p / 1e6,
                one / 1e6,
                many / 1e6,
                many / one
            );
        }
    }
}

/// The per-round results of one configuration.
#[derive(Default)]
struct SharedOrPlain {
    plain: Vec<f64>,
    one: Vec<f64>,
    many: Vec<f64>,
}
