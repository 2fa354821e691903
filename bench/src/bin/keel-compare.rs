//! `keel-compare`: keel (mio, poll and uring drivers) against memcached `-t 1`, in one run.
//!
//! - `keel-compare run [--quick]`: the same closed-loop loads against each server in alternation
//!   (A B C A B C ...), medians of >= 3 rounds, a Markdown table with ratios to memcached, the
//!   issue-5 targets, an SVG plot against connection count, and a memcaslap cross-check.
//! - `keel-compare mem`: RSS per idle connection at 10,000 connections and per-item overhead
//!   after 1,000,000 items (16-byte keys, 32-byte values).
//! - `keel-compare instr`: instructions per request under `valgrind --tool=callgrind`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, Subcommand};
use keel_bench::loadgen::{self, LoadConfig};
use keel_bench::servers::{self, Server};
use keel_bench::{procfs, proto, svg};

#[derive(Parser)]
#[command(
    name = "keel-compare",
    about = "keel vs memcached: throughput, latency, CPU, memory, instructions"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Throughput / p99 / requests per server-CPU-second against connection count
    Run(RunArgs),
    /// Idle-connection RSS and per-item overhead
    Mem(MemArgs),
    /// Instructions per request under callgrind
    Instr(InstrArgs),
}

#[derive(Parser)]
struct RunArgs {
    /// Smoke run: two connection counts, short runs (a few seconds in all)
    #[arg(long)]
    quick: bool,
    /// Rounds (each runs every server at every point, in alternation)
    #[arg(long)]
    rounds: Option<usize>,
    /// Measured seconds per run
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds per run (load applied, not measured)
    #[arg(long)]
    warmup: Option<f64>,
    /// Connection counts, comma-separated
    #[arg(long, value_delimiter = ',')]
    conns: Option<Vec<usize>>,
    /// Pipeline depth
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Worker threads of every server (`-t`); above 1, keel-mio with `-t 1` runs alongside
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Value size
    #[arg(long, default_value_t = 32)]
    value_size: usize,
    /// Key space
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Output directory (default: bench/results, or a temporary directory with --quick)
    #[arg(long)]
    out: Option<PathBuf>,
    /// Skip the memcaslap cross-check
    #[arg(long)]
    no_memcaslap: bool,
}

#[derive(Parser)]
struct MemArgs {
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Parser)]
struct InstrArgs {
    /// Requests in the shorter run; the longer run does twice as many
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    #[arg(long)]
    out: Option<PathBuf>,
}

const SERVERS: [&str; 4] = ["keel-mio", "keel-poll", "keel-uring", "memcached"];
/// keel-uring's index in `SERVERS`.
const URING: usize = 2;
/// With `--threads` above 1, keel-mio on one worker runs alongside as the scaling reference.
const KEEL_T1: &str = "keel-mio-t1";
const COLORS: [&str; 5] = ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd"];

/// The servers a run compares, in column order (memcached fourth).
fn run_servers(threads: usize) -> Vec<&'static str> {
    let mut names = SERVERS.to_vec();
    if threads > 1 {
        names.push(KEEL_T1);
    }
    names
}

fn start(
    name: &str,
    threads: usize,
    conn_limit: u32,
    mem_mb: u32,
    valgrind: Option<&[String]>,
) -> Result<Server, String> {
    match name {
        "keel-mio" => servers::start_keel("mio", threads, conn_limit, mem_mb, valgrind),
        "keel-poll" => servers::start_keel("poll", threads, conn_limit, mem_mb, valgrind),
        "keel-uring" => servers::start_keel("uring", threads, conn_limit, mem_mb, valgrind),
        KEEL_T1 => {
            servers::start_keel("mio", 1, conn_limit, mem_mb, valgrind).map(|s| s.renamed(KEEL_T1))
        }
        "memcached" => servers::start_memcached(threads, conn_limit, mem_mb, valgrind),
        _ => Err(format!("unknown server {name}")),
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn machine() -> String {
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{n} CPUs ({model}), Linux {}", kernel.trim())
}

fn memcached_version() -> String {
    Command::new(servers::memcached_bin())
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "memcached (not found)".into())
}

fn out_dir(given: Option<PathBuf>, quick: bool) -> PathBuf {
    let d = given.unwrap_or_else(|| {
        if quick {
            std::env::temp_dir().join("keel-compare-quick")
        } else {
            PathBuf::from("bench/results")
        }
    });
    fs::create_dir_all(&d).expect("create output directory");
    d
}

// ---------------------------------------------------------------------------------------------
// run

struct Agg {
    thr: Vec<f64>,
    p99: Vec<f64>,
    cpu: Vec<f64>,
}

fn cmd_run(a: RunArgs) -> Result<bool, String> {
    let quick = a.quick;
    let rounds = a.rounds.unwrap_or(3).max(1);
    let duration = a.duration.unwrap_or(if quick { 0.3 } else { 3.0 });
    let warmup = a.warmup.unwrap_or(if quick { 0.1 } else { 0.5 });
    let points = a.conns.clone().unwrap_or(if quick {
        vec![10, 50]
    } else {
        vec![1, 10, 50, 100, 1000, 5000]
    });
    let out = out_dir(a.out, quick);
    let max_conns = *points.iter().max().unwrap_or(&1) as u32;
    procfs::raise_nofile(u64::from(max_conns) + 2048);
    let conn_limit = (max_conns + 1024).max(1024);

    println!("# keel-compare run: {}", machine());
    println!(
        "# {}; rounds {rounds}, {duration}s measured + {warmup}s warm-up per run, depth {}, {}B values, {} keys, 9:1 get:set",
        memcached_version(),
        a.depth,
        a.value_size,
        a.keys
    );
    let names = run_servers(a.threads);
    let mut srv: Vec<Server> = Vec::new();
    for &name in &names {
        let s = start(name, a.threads, conn_limit, 64, None)?;
        println!("# started {name} pid {} on {}", s.pid, s.addr);
        loadgen::populate(s.addr, a.keys, a.value_size, 256)
            .map_err(|e| format!("{name}: populate: {e}"))?;
        srv.push(s);
    }
    let mut jsonl = String::new();
    let mut agg: BTreeMap<(usize, usize), Agg> = BTreeMap::new();
    let mut paired: BTreeMap<(usize, usize), Vec<(f64, f64)>> = BTreeMap::new();
    let mut failures = 0u64;
    for round in 0..rounds {
        for &conns in &points {
            for (si, s) in srv.iter().enumerate() {
                let cfg = LoadConfig {
                    addr: s.addr,
                    conns,
                    depth: a.depth,
                    keys: a.keys,
                    value_size: a.value_size,
                    ratio: (9, 1),
                    duration: Duration::from_secs_f64(duration),
                    requests: None,
                    warmup: Duration::from_secs_f64(warmup),
                    populate: false,
                    verify_every: 100,
                    // As many load threads as server workers, so the client keeps up.
                    threads: a.threads,
                    server_pid: Some(s.pid),
                    seed: 0x5eed + round as u64,
                    tls_ca: None,
                };
                let r = loadgen::run(&cfg, &format!("{} round {round}", s.name))
                    .map_err(|e| format!("{} at {conns} conns: {e}", s.name))?;
                println!("{}", r.human());
                failures += r.errors + r.verify_failures + r.get_misses;
                let _ = writeln!(jsonl, "{}", r.json());
                let e = agg.entry((conns, si)).or_insert(Agg {
                    thr: vec![],
                    p99: vec![],
                    cpu: vec![],
                });
                e.thr.push(r.throughput);
                e.p99.push(r.p99_us);
                e.cpu.push(r.req_per_server_cpu_s.unwrap_or(f64::NAN));
                paired
                    .entry((conns, si))
                    .or_default()
                    .push((r.throughput, r.req_per_server_cpu_s.unwrap_or(f64::NAN)));
                // Let the sockets of a large point drain out of the kernel before the next run.
                if conns >= 1000 {
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        }
    }

    // memcaslap cross-check at 50 connections (or the largest point below it).
    let mut memcaslap_md = String::new();
    if !quick && !a.no_memcaslap {
        let cfg_path = out.join("memcaslap.cfg");
        fs::write(
            &cfg_path,
            format!(
                "key\n16 16 1\nvalue\n{v} {v} 1\ncmd\n0 0.1\n1 0.9\n",
                v = a.value_size
            ),
        )
        .map_err(|e| e.to_string())?;
        let _ = writeln!(
            memcaslap_md,
            "\nmemcaslap cross-check (`memcaslap -s ADDR -B -T 1 -c 50 -t 5s -F {}`; 16-byte keys, {}-byte values, 9:1 get:set):\n",
            cfg_path.display(),
            a.value_size
        );
        let _ = writeln!(
            memcaslap_md,
            "| server | memcaslap TPS | server CPU (s) | req/server-CPU-s |\n|---|---:|---:|---:|"
        );
        for s in &srv {
            let c0 = procfs::cpu_secs(s.pid).unwrap_or(0.0);
            let o = Command::new("memcaslap")
                .args([
                    "-s",
                    &s.addr.to_string(),
                    "-B",
                    "-T",
                    "1",
                    "-c",
                    "50",
                    "-t",
                    "5s",
                    "-F",
                ])
                .arg(&cfg_path)
                .output();
            let c1 = procfs::cpu_secs(s.pid).unwrap_or(0.0);
            match o {
                Ok(o) => {
                    let text = String::from_utf8_lossy(&o.stdout);
                    let tps = text
                        .lines()
                        .find(|l| l.starts_with("Run time:"))
                        .and_then(|l| l.split("TPS:").nth(1))
                        .and_then(|t| t.split_whitespace().next())
                        .and_then(|t| t.parse::<f64>().ok());
                    let ops = text
                        .lines()
                        .find(|l| l.starts_with("Run time:"))
                        .and_then(|l| l.split("Ops:").nth(1))
                        .and_then(|t| t.split_whitespace().next())
                        .and_then(|t| t.parse::<f64>().ok());
                    println!(
                        "# memcaslap {}: {}",
                        s.name,
                        text.lines()
                            .find(|l| l.starts_with("Run time:"))
                            .unwrap_or("no result")
                    );
                    let per_cpu = ops.map_or(f64::NAN, |o| o / (c1 - c0));
                    let _ = writeln!(
                        memcaslap_md,
                        "| {} | {:.0} | {:.2} | {:.0} |",
                        s.name,
                        tps.unwrap_or(f64::NAN),
                        c1 - c0,
                        per_cpu
                    );
                }
                Err(e) => {
                    let _ = writeln!(memcaslap_md, "| {} | memcaslap failed: {e} | | |", s.name);
                }
            }
        }
    }
    for s in srv {
        s.stop();
    }

    // Table of medians.
    let mc = 3usize;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Machine: {}. {}. Loads: closed loop, depth {}, {}-byte values, 16-byte keys over {} keys, 9:1 get:set, {rounds} rounds of {duration} s (+{warmup} s warm-up) per point, servers in alternation; medians.\n",
        machine(),
        memcached_version(),
        a.depth,
        a.value_size,
        a.keys
    );
    let _ = writeln!(
        md,
        "| conns | server | throughput (req/s) | vs memcached | p99 (µs) | vs memcached | req per server-CPU-s | vs memcached |"
    );
    let _ = writeln!(md, "|---:|---|---:|---:|---:|---:|---:|---:|");
    let mut med: BTreeMap<(usize, usize), (f64, f64, f64)> = BTreeMap::new();
    for (&k, v) in agg.iter_mut() {
        med.insert(
            k,
            (median(&mut v.thr), median(&mut v.p99), median(&mut v.cpu)),
        );
    }
    for &conns in &points {
        let m = med[&(conns, mc)];
        for (si, name) in names.iter().enumerate() {
            let x = med[&(conns, si)];
            let _ = writeln!(
                md,
                "| {conns} | {} | {:.0} | {:.2}× | {:.0} | {:.2}× | {:.0} | {:.2}× |",
                name,
                x.0,
                x.0 / m.0,
                x.1,
                x.1 / m.1,
                x.2,
                x.2 / m.2
            );
        }
    }
    md.push_str(&memcaslap_md);

    // Targets (issue 5), where the points were measured.
    let mut ok = true;
    let mut tg = format!(
        "\nTargets (keel-mio vs memcached, both -t {}; median ratios; paired = median of per-round ratios):\n\n",
        a.threads
    );
    let paired_ratio = |conns: usize, si: usize, which: usize| -> f64 {
        let a = &paired[&(conns, si)];
        let b = &paired[&(conns, mc)];
        let mut r: Vec<f64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| if which == 0 { x.0 / y.0 } else { x.1 / y.1 })
            .collect();
        median(&mut r)
    };
    if med.contains_key(&(50, 0)) {
        let k = med[&(50, 0)];
        let m = med[&(50, mc)];
        let checks = [
            (
                "raw throughput at 50 conns ≥ 1.2× memcached",
                k.0 / m.0,
                paired_ratio(50, 0, 0),
                k.0 / m.0 >= 1.2,
            ),
            (
                // Issue 5's target for one worker, issue 11's for several.
                if a.threads > 1 {
                    "requests per server-CPU-s at 50 conns ≥ 1.3× memcached"
                } else {
                    "requests per server-CPU-s at 50 conns ≥ 1.5× memcached"
                },
                k.2 / m.2,
                paired_ratio(50, 0, 1),
                k.2 / m.2 >= if a.threads > 1 { 1.3 } else { 1.5 },
            ),
            (
                "p99 at 50 conns ≤ memcached's (ratio ≤ 1)",
                k.1 / m.1,
                f64::NAN,
                k.1 <= m.1,
            ),
        ];
        for (what, r, p, pass) in checks {
            ok &= pass;
            let paired = if p.is_nan() {
                String::new()
            } else {
                format!(" (paired {p:.2}×)")
            };
            let _ = writeln!(
                tg,
                "- {what}: {r:.2}×{paired} — {}",
                if pass { "MET" } else { "MISSED" }
            );
        }
    }
    if med.contains_key(&(5000, 0)) && med.contains_key(&(50, 0)) {
        for si in [0usize, 1, URING] {
            let r = med[&(5000, si)].0 / med[&(50, si)].0;
            let pass = r >= 0.9;
            if si == 0 {
                ok &= pass;
            }
            let _ = writeln!(
                tg,
                "- {} throughput at 5,000 conns / at 50 conns ≥ 0.90: {r:.2} — {}{}",
                names[si],
                if pass { "MET" } else { "MISSED" },
                if si != 0 {
                    " (shown for comparison; the target is for mio)"
                } else {
                    ""
                }
            );
        }
    }
    // keel-uring against keel-mio (issue 15): requests per server-CPU-second, per point.
    let _ = writeln!(
        tg,
        "\nkeel-uring vs keel-mio, requests per server-CPU-s (target ≥ 1.15× at depth 1; median ratio, paired in brackets):\n"
    );
    for &conns in &points {
        let (u, m) = (med[&(conns, URING)], med[&(conns, 0)]);
        let mut per_round: Vec<f64> = paired[&(conns, URING)]
            .iter()
            .zip(&paired[&(conns, 0)])
            .map(|(x, y)| x.1 / y.1)
            .collect();
        let _ = writeln!(
            tg,
            "- {conns} conns: {:.2}× ({:.2}×); throughput {:.2}×",
            u.2 / m.2,
            median(&mut per_round),
            u.0 / m.0
        );
    }
    md.push_str(&tg);
    if failures > 0 {
        let _ = writeln!(
            md,
            "\nWARNING: {failures} errors / verification failures / misses during the runs."
        );
    }
    println!("\n{md}");

    // Plot.
    let xs: Vec<f64> = points.iter().map(|&c| c as f64).collect();
    let mk = |field: usize| -> Vec<svg::Series> {
        (0..names.len())
            .map(|si| svg::Series {
                name: names[si].to_string(),
                color: COLORS[si],
                points: points
                    .iter()
                    .map(|&c| {
                        let m = med[&(c, si)];
                        (c as f64, if field == 0 { m.0 } else { m.1 })
                    })
                    .collect(),
            })
            .collect()
    };
    let title = format!(
        "{} B values, 9:1 get:set, depth {}; {}",
        a.value_size,
        a.depth,
        machine()
    );
    let chart = svg::chart(&title, &mk(0), &mk(1), &xs);
    let svg_path = out.join("compare.svg");
    fs::write(&svg_path, chart).map_err(|e| e.to_string())?;
    fs::write(out.join("compare.md"), &md).map_err(|e| e.to_string())?;
    fs::write(out.join("compare.jsonl"), &jsonl).map_err(|e| e.to_string())?;
    println!(
        "wrote {}, {}, {}",
        svg_path.display(),
        out.join("compare.md").display(),
        out.join("compare.jsonl").display()
    );
    if failures > 0 {
        return Err(format!(
            "{failures} errors / verification failures / misses"
        ));
    }
    Ok(ok)
}

// ---------------------------------------------------------------------------------------------
// mem

fn noop_roundtrip(s: &mut TcpStream) -> std::io::Result<()> {
    let mut req = Vec::new();
    proto::encode_noop(&mut req, 7);
    s.write_all(&req)?;
    let mut resp = [0u8; proto::HEADER_LEN];
    s.read_exact(&mut resp)?;
    Ok(())
}

fn settle_rss(pid: u32) -> u64 {
    std::thread::sleep(Duration::from_millis(500));
    procfs::rss_bytes(pid).unwrap_or(0)
}

fn idle_conn_rss(name: &str, n: usize) -> Result<(f64, u64, u64), String> {
    let s = start(name, 1, (n + 1024) as u32, 64, None)?;
    let addr: SocketAddr = s.addr;
    // One connection first, so allocator and lazily built structures are warm.
    {
        let mut c = loadgen::connect(addr).map_err(|e| e.to_string())?;
        noop_roundtrip(&mut c).map_err(|e| e.to_string())?;
    }
    let rss0 = settle_rss(s.pid);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(loadgen::connect(addr).map_err(|e| format!("connect: {e}"))?);
    }
    let mut req = Vec::new();
    proto::encode_noop(&mut req, 7);
    for c in conns.iter_mut() {
        c.write_all(&req).map_err(|e| e.to_string())?;
    }
    for c in conns.iter_mut() {
        let mut resp = [0u8; proto::HEADER_LEN];
        c.read_exact(&mut resp).map_err(|e| e.to_string())?;
    }
    let rss1 = settle_rss(s.pid);
    drop(conns);
    s.stop();
    Ok(((rss1 as f64 - rss0 as f64) / n as f64, rss0, rss1))
}

fn item_overhead(name: &str, items: u64) -> Result<(f64, u64, u64), String> {
    let s = start(name, 1, 1024, 1024, None)?;
    {
        let mut c = loadgen::connect(s.addr).map_err(|e| e.to_string())?;
        noop_roundtrip(&mut c).map_err(|e| e.to_string())?;
    }
    let rss0 = settle_rss(s.pid);
    loadgen::populate(s.addr, items, 32, 1000).map_err(|e| e.to_string())?;
    let rss1 = settle_rss(s.pid);
    // Every item must still be there (nothing evicted): spot-check the last and first keys.
    let cfg = LoadConfig {
        addr: s.addr,
        conns: 1,
        depth: 16,
        keys: items,
        value_size: 32,
        ratio: (1, 0),
        requests: Some(20_000),
        warmup: Duration::ZERO,
        populate: false,
        verify_every: 1,
        ..LoadConfig::default()
    };
    let r = loadgen::run(&cfg, "check").map_err(|e| e.to_string())?;
    s.stop();
    if r.get_misses > 0 || r.verify_failures > 0 {
        return Err(format!(
            "{name}: {} misses, {} bad values after storing {items} items",
            r.get_misses, r.verify_failures
        ));
    }
    let payload = items as f64 * (proto::KEY_LEN as f64 + 32.0);
    Ok((
        (rss1 as f64 - rss0 as f64 - payload) / items as f64,
        rss0,
        rss1,
    ))
}

fn cmd_mem(a: MemArgs) -> Result<bool, String> {
    procfs::raise_nofile(a.conns as u64 + 2048);
    let out = out_dir(a.out, false);
    println!("# keel-compare mem: {}; {}", machine(), memcached_version());
    let mut idle: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 0..a.rounds {
        for name in SERVERS {
            let (per, r0, r1) = idle_conn_rss(name, a.conns)?;
            println!(
                "idle round {round} {name}: RSS {r0} -> {r1} bytes with {} connections: {per:.1} B/conn",
                a.conns
            );
            idle.entry(name).or_default().push(per);
        }
    }
    let mut items: BTreeMap<&str, f64> = BTreeMap::new();
    for name in SERVERS {
        let (per, r0, r1) = item_overhead(name, a.items)?;
        println!(
            "items {name}: RSS {r0} -> {r1} bytes after {} items (16 B keys, 32 B values): {per:.1} B/item overhead",
            a.items
        );
        items.insert(name, per);
    }
    let mut md = String::new();
    let _ = writeln!(md, "Machine: {}. {}.\n", machine(), memcached_version());
    let _ = writeln!(
        md,
        "| server | RSS per idle connection at {} (median of {}) | per-item overhead, {} items of 16 B key + 32 B value (`-m 1024`) |",
        a.conns, a.rounds, a.items
    );
    let _ = writeln!(md, "|---|---:|---:|");
    let mut med: BTreeMap<&str, f64> = BTreeMap::new();
    for name in SERVERS {
        let m = median(idle.get_mut(name).unwrap());
        med.insert(name, m);
        let _ = writeln!(md, "| {name} | {m:.0} B | {:.1} B |", items[name]);
    }
    let mut ok = true;
    let _ = writeln!(md, "\nTargets:\n");
    for k in ["keel-mio", "keel-poll", "keel-uring"] {
        let pass = med[k] <= 256.0;
        ok &= pass;
        let _ = writeln!(
            md,
            "- {k} idle connection ≤ 256 B: {:.0} B — {}",
            med[k],
            if pass { "MET" } else { "MISSED" }
        );
    }
    let r = items["keel-mio"] / items["memcached"];
    let pass = r <= 0.5;
    ok &= pass;
    let _ = writeln!(
        md,
        "- keel per-item overhead ≤ half of memcached's: {:.1} B vs {:.1} B = {r:.2}× — {}",
        items["keel-mio"],
        items["memcached"],
        if pass { "MET" } else { "MISSED" }
    );
    println!("\n{md}");
    fs::write(out.join("memory.md"), &md).map_err(|e| e.to_string())?;
    Ok(ok)
}

// ---------------------------------------------------------------------------------------------
// instr

struct CgRun {
    requests: u64,
    /// (thread file, total Ir, is the memcached worker thread)
    threads: Vec<(PathBuf, u64, bool)>,
}

fn cg_totals(path: &Path) -> (u64, bool) {
    let text = fs::read_to_string(path).unwrap_or_default();
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (total, text.contains("drive_machine"))
}

fn callgrind_run(name: &str, requests: u64, dir: &Path) -> Result<CgRun, String> {
    let prefix = dir.join(format!("{name}-{requests}"));
    // Clear old files of this run.
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().to_string();
            if f.starts_with(&format!("{name}-{requests}.")) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    let vg = vec![
        "--tool=callgrind".to_string(),
        "--separate-threads=yes".to_string(),
        format!("--callgrind-out-file={}.%p", prefix.display()),
    ];
    let s = start(name, 1, 1024, 64, Some(&vg))?;
    let pid = s.pid;
    let cfg = LoadConfig {
        addr: s.addr,
        conns: 1,
        depth: 1,
        keys: 1000,
        value_size: 32,
        ratio: (9, 1),
        requests: Some(requests - 1),
        warmup: Duration::ZERO,
        populate: true,
        verify_every: 1,
        ..LoadConfig::default()
    };
    let r = loadgen::run(&cfg, name).map_err(|e| e.to_string())?;
    s.stop();
    if r.errors + r.verify_failures + r.get_misses > 0 {
        return Err(format!("{name}: errors under callgrind: {}", r.human()));
    }
    let mut threads = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let f = e.file_name().to_string_lossy().to_string();
        if f.starts_with(&format!("{name}-{requests}.{pid}")) {
            let (t, w) = cg_totals(&e.path());
            threads.push((e.path(), t, w));
        }
    }
    threads.sort();
    Ok(CgRun {
        requests: r.requests,
        threads,
    })
}

fn cmd_instr(a: InstrArgs) -> Result<bool, String> {
    let out = out_dir(a.out, false);
    let dir = out.join("callgrind");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    println!(
        "# keel-compare instr: {}; {}",
        machine(),
        memcached_version()
    );
    println!(
        "# workload: 1 connection, no pipelining, 1,000 keys populated by SET, then N requests 9:1 GET:SET with 32-byte values; N = {} and {}; per request = difference / difference in N",
        a.requests,
        2 * a.requests
    );
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| server | Ir/request, whole process | Ir/request, busiest thread (memcached: worker thread) | Ir total at N={} |",
        a.requests
    );
    let _ = writeln!(md, "|---|---:|---:|---:|");
    let mut per: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let mut keel_profile: Option<PathBuf> = None;
    for name in SERVERS {
        let r1 = callgrind_run(name, a.requests, &dir)?;
        let r2 = callgrind_run(name, 2 * a.requests, &dir)?;
        let total = |r: &CgRun| r.threads.iter().map(|t| t.1).sum::<u64>();
        // memcached's binary has no symbol for drive_machine; with -t 1 its worker thread is
        // the busiest one (the others: listener, hash/LRU maintenance, logger).
        let worker = |r: &CgRun| -> u64 { r.threads.iter().map(|t| t.1).max().unwrap_or(0) };
        let dn = (r2.requests - r1.requests) as f64;
        let p_total = (total(&r2) as f64 - total(&r1) as f64) / dn;
        let p_worker = (worker(&r2) as f64 - worker(&r1) as f64) / dn;
        for (r, label) in [(&r1, "N"), (&r2, "2N")] {
            for t in &r.threads {
                println!(
                    "{name} {label} ({} req): {} Ir={}{}",
                    r.requests,
                    t.0.display(),
                    t.1,
                    if t.2 { " [worker]" } else { "" }
                );
            }
        }
        println!(
            "{name}: {p_total:.0} Ir/request (process), {p_worker:.0} Ir/request (busiest/worker thread)"
        );
        let _ = writeln!(
            md,
            "| {name} | {p_total:.0} | {p_worker:.0} | {} |",
            total(&r1)
        );
        per.insert(name, (p_total, p_worker));
        if name == "keel-mio" {
            keel_profile = r2.threads.iter().max_by_key(|t| t.1).map(|t| t.0.clone());
        }
    }
    let r = per["keel-mio"].0 / per["memcached"].1;
    let pass = r <= 0.6;
    let _ = writeln!(
        md,
        "\nTarget: keel-mio (whole process) ≤ 0.6× memcached's worker thread: {:.0} / {:.0} = {r:.2}× — {}",
        per["keel-mio"].0,
        per["memcached"].1,
        if pass { "MET" } else { "MISSED" }
    );
    let _ = writeln!(
        md,
        "(keel-mio whole process vs memcached whole process: {:.2}×)",
        per["keel-mio"].0 / per["memcached"].0
    );
    if let Some(p) = keel_profile {
        let o = Command::new("callgrind_annotate")
            .args(["--inclusive=no", "--threshold=100"])
            .arg(&p)
            .output()
            .map_err(|e| format!("callgrind_annotate: {e}"))?;
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        fs::write(out.join("callgrind-keel-mio.txt"), &text).map_err(|e| e.to_string())?;
        let o2 = Command::new("callgrind_annotate")
            .args(["--inclusive=yes", "--threshold=100"])
            .arg(&p)
            .output()
            .map_err(|e| format!("callgrind_annotate: {e}"))?;
        fs::write(out.join("callgrind-keel-mio-inclusive.txt"), &o2.stdout)
            .map_err(|e| e.to_string())?;
        let _ = writeln!(
            md,
            "\nkeel-mio top 15 functions by self cost (`callgrind_annotate --inclusive=no {}`, N={}):\n\n```",
            p.display(),
            2 * a.requests
        );
        let mut started = false;
        let mut n = 0;
        for l in text.lines() {
            if l.contains("file:function") {
                started = true;
                let _ = writeln!(md, "{l}");
                continue;
            }
            if started && !l.trim().is_empty() && !l.starts_with("-") {
                let _ = writeln!(md, "{l}");
                n += 1;
                if n == 15 {
                    break;
                }
            }
        }
        let _ = writeln!(md, "```");
    }
    println!("\n{md}");
    fs::write(out.join("instructions.md"), &md).map_err(|e| e.to_string())?;
    Ok(pass)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Run(a) => cmd_run(a),
        Cmd::Mem(a) => cmd_mem(a),
        Cmd::Instr(a) => cmd_instr(a),
    };
    match r {
        // Missed targets are reported, not an error: the tool worked.
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-compare: {e}");
            ExitCode::from(1)
        }
    }
}
