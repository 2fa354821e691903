//! `-t 4` under real concurrency, both drivers: client threads on their own connections (spread
//! over the four workers) hammer shared keys, and the results must be exactly what one cache
//! would give: INCR and CAS increments add up to the exact total, a recorded history of
//! set/get/delete/cas on a few keys is linearizable per key (a Wing–Gong search), and `stats` sums
//! the workers' counters to the clients' own counts. The tests in this file take the process-wide
//! lock so that they do not compete with each other for the 2 cores.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

use keel_tests::raw::Rng;
use keel_tests::server::serial;
use keel_tests::text::TextConn;
use keel_tests::{Kind, Options, Server, server_tests};

fn start(kind: Kind) -> Server {
    Server::start_with(
        kind,
        &Options {
            extra_args: vec!["-t".into(), "4".into()],
            ..Options::default()
        },
    )
}

/// Runs `clients` threads, each with its own connection, released together.
fn on_clients<T: Send + 'static>(
    port: u16,
    clients: usize,
    work: impl Fn(usize, &mut TextConn) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|client| {
            let (work, barrier) = (work.clone(), barrier.clone());
            thread::spawn(move || {
                let mut conn = TextConn::connect(port);
                barrier.wait();
                work(client, &mut conn)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread panicked"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// INCR on one key: 8 clients x 10,000, pipelined in batches of 50 (past `-R 20`, so yields too).

fn incr_one_key(kind: Kind) {
    let _serial = serial();
    let server = start(kind);
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 10_000;
    const BATCH: usize = 50;
    TextConn::connect(server.port).call(b"set counter 0 0 1\r\n0\r\n");
    let replies = on_clients(server.port, CLIENTS, |_, conn| {
        let batch = b"incr counter 1\r\n".repeat(BATCH);
        let mut seen = Vec::with_capacity(PER_CLIENT);
        for _ in 0..PER_CLIENT / BATCH {
            let reply = conn.call(&batch);
            let text = String::from_utf8(reply).expect("text replies");
            seen.extend(text.lines().map(|l| l.parse::<u64>().expect("a number")));
        }
        seen
    });
    let mut all: Vec<u64> = replies.into_iter().flatten().collect();
    assert_eq!(all.len(), CLIENTS * PER_CLIENT);
    // Every increment returned a distinct value: 1..=80,000, each exactly once.
    all.sort_unstable();
    assert!(
        all.iter().copied().eq(1..=(CLIENTS * PER_CLIENT) as u64),
        "INCR results are not exactly 1..=80000"
    );
    let mut conn = TextConn::connect(server.port);
    assert_eq!(
        conn.call(b"get counter\r\n"),
        b"VALUE counter 0 5\r\n80000\r\nEND\r\n"
    );
    // The workers' counters, summed: the clients' own count of what they sent.
    assert_eq!(conn.stat("incr_hits"), "80000");
    assert_eq!(conn.stat("incr_misses"), "0");
    assert_eq!(conn.stat("cmd_set"), "1");
    assert_eq!(conn.stat("threads"), "4");
    assert_eq!(conn.stat("total_connections"), (CLIENTS + 2).to_string());
    assert_eq!(conn.stat("curr_connections"), "1");
}
server_tests!(incr_one_key: mio, poll, uring);

// ---------------------------------------------------------------------------------------------
// CAS increments: 8 clients each add 1, 300 times, with gets/cas retry loops.

fn cas_increment_loops(kind: Kind) {
    let _serial = serial();
    let server = start(kind);
    const CLIENTS: usize = 8;
    const PER_CLIENT: u64 = 300;
    TextConn::connect(server.port).call(b"set total 0 0 1\r\n0\r\n");
    let attempts = on_clients(server.port, CLIENTS, |_, conn| {
        let mut attempts = 0u64;
        for _ in 0..PER_CLIENT {
            loop {
                attempts += 1;
                let reply = String::from_utf8(conn.call(b"gets total\r\n")).expect("text");
                let mut lines = reply.lines();
                let header: Vec<&str> = lines.next().expect("VALUE line").split(' ').collect();
                let (cas, value): (u64, u64) = (
                    header[4].parse().expect("cas"),
                    lines.next().expect("value").parse().expect("number"),
                );
                let next = (value + 1).to_string();
                let store = format!("cas total 0 0 {} {cas}\r\n{next}\r\n", next.len());
                match conn.call(store.as_bytes()).as_slice() {
                    b"STORED\r\n" => break,
                    b"EXISTS\r\n" => continue,
                    other => panic!("cas: {:?}", String::from_utf8_lossy(other)),
                }
            }
        }
        attempts
    });
    let total_attempts: u64 = attempts.iter().sum();
    let mut conn = TextConn::connect(server.port);
    let want = (CLIENTS as u64 * PER_CLIENT).to_string();
    assert_eq!(
        conn.call(b"get total\r\n"),
        format!("VALUE total 0 {}\r\n{want}\r\nEND\r\n", want.len()).into_bytes()
    );
    assert_eq!(conn.stat("cas_hits"), want);
    assert_eq!(
        conn.stat("cas_badval"),
        (total_attempts - CLIENTS as u64 * PER_CLIENT).to_string()
    );
}
server_tests!(cas_increment_loops: mio, poll, uring);

// ---------------------------------------------------------------------------------------------
// Linearizability: 16 clients, random set/get/delete/cas on 3 keys, checked per key.

#[derive(Clone, Debug)]
enum Call {
    Set(u64),
    Get,
    Delete,
    /// A CAS store of the new value with the token a `gets` showed with `seen` as the value.
    Cas {
        new: u64,
        seen: u64,
        token: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ret {
    Stored,
    Value(Option<u64>),
    Deleted(bool),
    /// STORED, EXISTS or NOT_FOUND.
    Cas(&'static str),
}

#[derive(Clone, Debug)]
struct Event {
    key: usize,
    call: Call,
    ret: Ret,
    start: Instant,
    end: Instant,
}

const LIN_KEYS: usize = 3;

fn record_history(port: u16) -> Vec<Event> {
    let histories = on_clients(port, 16, |client, conn| {
        let mut rng = Rng::new(0x5eed + client as u64);
        let mut events = Vec::new();
        // The last (value, cas) this client saw per key, for its CAS stores.
        let mut seen: HashMap<usize, (u64, u64)> = HashMap::new();
        for i in 0..60u64 {
            let key = rng.below(LIN_KEYS as u64) as usize;
            // Every value written anywhere is unique: client, step.
            let value = (client as u64 + 1) * 1_000_000 + i;
            let call = match rng.below(10) {
                0..=2 => Call::Set(value),
                3..=5 => Call::Get,
                6 => Call::Delete,
                _ => match seen.get(&key) {
                    Some(&(seen, token)) => Call::Cas {
                        new: value,
                        seen,
                        token,
                    },
                    None => Call::Get,
                },
            };
            let request = match &call {
                Call::Set(v) => format!("set k{key} 0 0 {}\r\n{v}\r\n", v.to_string().len()),
                Call::Get => format!("gets k{key}\r\n"),
                Call::Delete => format!("delete k{key}\r\n"),
                Call::Cas { new, token, .. } => {
                    format!(
                        "cas k{key} 0 0 {} {token}\r\n{new}\r\n",
                        new.to_string().len()
                    )
                }
            };
            let start = Instant::now();
            let reply = String::from_utf8(conn.call(request.as_bytes())).expect("text");
            let end = Instant::now();
            let ret = match &call {
                Call::Set(_) => {
                    assert_eq!(reply, "STORED\r\n");
                    Ret::Stored
                }
                Call::Get => {
                    let mut lines = reply.lines();
                    match lines.next() {
                        Some("END") => Ret::Value(None),
                        Some(header) => {
                            let parts: Vec<&str> = header.split(' ').collect();
                            let token: u64 = parts[4].parse().expect("cas");
                            let v: u64 = lines.next().expect("value").parse().expect("number");
                            seen.insert(key, (v, token));
                            Ret::Value(Some(v))
                        }
                        None => panic!("empty gets reply"),
                    }
                }
                Call::Delete => Ret::Deleted(reply == "DELETED\r\n"),
                Call::Cas { .. } => Ret::Cas(match reply.as_str() {
                    "STORED\r\n" => "STORED",
                    "EXISTS\r\n" => "EXISTS",
                    "NOT_FOUND\r\n" => "NOT_FOUND",
                    other => panic!("cas reply {other:?}"),
                }),
            };
            events.push(Event {
                key,
                call,
                ret,
                start,
                end,
            });
        }
        events
    });
    histories.into_iter().flatten().collect()
}

/// The register model: the key's current value (values are unique, so a CAS token is known by the
/// value it was shown with).
fn apply(state: Option<u64>, call: &Call) -> (Option<u64>, Ret) {
    match call {
        Call::Set(v) => (Some(*v), Ret::Stored),
        Call::Get => (state, Ret::Value(state)),
        Call::Delete => (None, Ret::Deleted(state.is_some())),
        Call::Cas { new, seen, .. } => match state {
            None => (None, Ret::Cas("NOT_FOUND")),
            Some(current) if current == *seen => (Some(*new), Ret::Cas("STORED")),
            Some(current) => (Some(current), Ret::Cas("EXISTS")),
        },
    }
}

/// Wing & Gong's search with memoisation: some order of the events that respects real time
/// (an event that ended before another began comes first) replays on the model with every
/// result as observed.
fn linearizable(events: &[Event]) -> bool {
    let n = events.len();
    // before[j]: the events that ended before j began; j may go only after all of them.
    let before: Vec<Vec<usize>> = (0..n)
        .map(|j| {
            (0..n)
                .filter(|&i| events[i].end < events[j].start)
                .collect()
        })
        .collect();
    let mut done = vec![false; n];
    let mut failed: HashSet<(Vec<bool>, Option<u64>)> = HashSet::new();
    fn search(
        events: &[Event],
        before: &[Vec<usize>],
        done: &mut Vec<bool>,
        left: usize,
        state: Option<u64>,
        failed: &mut HashSet<(Vec<bool>, Option<u64>)>,
    ) -> bool {
        if left == 0 {
            return true;
        }
        if failed.contains(&(done.clone(), state)) {
            return false;
        }
        for j in 0..events.len() {
            if done[j] || before[j].iter().any(|&i| !done[i]) {
                continue;
            }
            let (next, ret) = apply(state, &events[j].call);
            if ret != events[j].ret {
                continue;
            }
            done[j] = true;
            if search(events, before, done, left - 1, next, failed) {
                return true;
            }
            done[j] = false;
        }
        failed.insert((done.clone(), state));
        false
    }
    search(events, &before, &mut done, n, None, &mut failed)
}

fn linearizable_history(kind: Kind) {
    let _serial = serial();
    let server = start(kind);
    let history = record_history(server.port);
    assert_eq!(history.len(), 16 * 60);
    for key in 0..LIN_KEYS {
        let events: Vec<Event> = history.iter().filter(|e| e.key == key).cloned().collect();
        assert!(
            linearizable(&events),
            "key k{key}: no linearization of its {} operations",
            events.len()
        );
    }
    // The checker itself: a read of a value never written is caught.
    let mut bogus: Vec<Event> = history.iter().filter(|e| e.key == 0).cloned().collect();
    let now = Instant::now();
    bogus.push(Event {
        key: 0,
        call: Call::Get,
        ret: Ret::Value(Some(42)),
        start: now,
        end: now,
    });
    assert!(
        !linearizable(&bogus),
        "the checker accepted an impossible read"
    );
}
server_tests!(linearizable_history: mio, poll, uring);
