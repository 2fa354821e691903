//! Building and running a server: the hash seed, the clock, the cache, one worker per `-t` (each
//! a driver loop around its own `keel_core::Server`, on its own thread), the listener on the first
//! worker spreading connections over all of them; `run` on the caller's thread, `spawn` on a
//! thread of its own for in-process tests.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use keel_core::{
    Cache, Config, Server, Service, SharedCache, SharedCredentials, Timestamp, WorkerGroup,
};
use keel_driver_common::{DriverOptions, Endpoint, Inbox, ListenSpec, Spreader};

use crate::auth_file::AuthFile;
use crate::cli::Options;
use crate::clock::WallClock;
use crate::entropy::hash_seed;
use crate::error::Error;
use crate::worker::Worker;
use crate::{limits, memory_file, signals};
use keel_core::cache::{ShardJob, SharedRestore, WarmStart};
use keel_core::store::Layout;

/// How long shutdown keeps flushing pending output before dropping what is left.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Stops a running server gracefully: every worker. `trigger` is async-signal-safe (a store and a
/// write per worker; the list is fixed before any signal handler can see it).
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    workers: Arc<[keel_driver_common::ShutdownHandle]>,
}

impl ShutdownHandle {
    pub fn trigger(&self) {
        for worker in self.workers.iter() {
            worker.trigger();
        }
    }
}

/// What a server listens on once bound: every endpoint (a TCP port 0 replaced by the port the
/// kernel chose), in the order given. It prints as the endpoints joined by ", ".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound(pub Vec<Endpoint>);

impl Bound {
    /// The first TCP address, if any (none with `-s`).
    pub fn tcp(&self) -> Option<SocketAddr> {
        self.0.iter().find_map(|e| match e {
            Endpoint::Tcp(addr) => Some(*addr),
            Endpoint::Unix { .. } => None,
        })
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, endpoint) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            endpoint.fmt(f)?;
        }
        Ok(())
    }
}

/// Serves on the calling thread (worker 0; the others get threads of their own) until a shutdown
/// is triggered and every worker has finished. Once the listeners are bound, `ready` is called
/// with what they are bound to and a handle that stops the server.
pub fn run(options: &Options, ready: impl FnOnce(&Bound, ShutdownHandle)) -> Result<(), Error> {
    run_group(options, |bound, handle, _| ready(bound, handle))
}

/// `run`, whose `ready` also gets the workers' group (their statistics).
fn run_group(
    options: &Options,
    ready: impl FnOnce(&Bound, ShutdownHandle, Arc<WorkerGroup>),
) -> Result<(), Error> {
    options.check()?;
    let listeners = options.listeners()?;
    let mut config = options.core_config();
    config.sasl = options.sasl_credentials()?;
    let text_users = options.text_auth_credentials()?.map(SharedCredentials::new);
    config.text_auth = text_users.clone();
    // Held until the server stops: SIGHUP rereads the -Y file while it runs.
    let _reload_auth_file = text_users
        .zip(options.auth_file.clone())
        .map(|(users, path)| {
            let file = AuthFile::new(path, users);
            let reload: signals::Reload = Arc::new(move || file.reload_and_log());
            signals::on_hangup(&reload);
            reload
        });
    config.process_usage = Some(keel_core::ProcessUsage(crate::usage::process_cpu));
    let seed = hash_seed().map_err(Error::Entropy)?;
    limits::ensure_nofile(u64::from(options.conn_limit) + limits::HEADROOM);
    let cache = options.cache_config(seed);
    let threads = options.threads;
    let shards = if threads == 1 {
        1
    } else {
        SharedCache::shards_for(threads, cache.memory_limit)
    };
    // Held (and the file locked) until the server stops.
    let mut _memory_file = None;
    let region = match &options.memory_file {
        Some(path) => {
            config.memory_file = Some(path.display().to_string());
            let layout = Layout::new(cache.memory_limit, cache.item_size_max, shards);
            let (region, file) = memory_file::open(path, layout, seed)?;
            _memory_file = Some(file);
            Some(region)
        }
        None => None,
    };
    let now = WallClock::start().now();
    if threads == 1 {
        // One loop alone: the plain cache, with no locking at all.
        let cache = match region {
            Some(region) => Cache::from_region(cache, region, now),
            None => Cache::new(cache),
        };
        log_restored(cache.warm_start());
        return serve(options, &listeners, config, vec![cache], ready);
    }
    let shared = match region {
        Some(region) => restore_shared(SharedRestore::new(cache, region, now), threads),
        None => SharedCache::new(cache, shards),
    };
    log_restored(shared.warm_start());
    tracing::debug!(threads, shards, "shared cache");
    let services = (0..threads).map(|_| shared.clone()).collect();
    serve(options, &listeners, config, services, ready)
}

/// Restores the shards of a shared cache on up to `threads` threads at once (no more than the
/// machine has cores): each shard's rebuild is independent, and the core runs none itself.
fn restore_shared(mut restore: SharedRestore, threads: usize) -> SharedCache {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jobs = std::sync::Mutex::new(restore.jobs());
    let next = || jobs.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let run = || {
        std::iter::from_fn(next)
            .map(ShardJob::run)
            .collect::<Vec<_>>()
    };
    let shards = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(cores)).map(|_| scope.spawn(run)).collect();
        let mut shards = run();
        for helper in helpers {
            // A restore panics only on a broken invariant of the core's: pass it on.
            shards.extend(
                helper
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            );
        }
        shards
    });
    restore.finish(shards)
}

/// One log line with what a cache over a memory file restored.
fn log_restored(warm: Option<WarmStart>) {
    if let Some(warm) = warm.filter(|w| w.warm) {
        tracing::info!("memory file: {} items restored", warm.restored_items);
    }
}

/// Runs one worker per service, the first owning every listener; returns once all have stopped,
/// with the first error any of them met (which also stops the others).
fn serve<S: Service + Send + 'static>(
    options: &Options,
    listeners: &[ListenSpec],
    config: Config,
    services: Vec<S>,
    ready: impl FnOnce(&Bound, ShutdownHandle, Arc<WorkerGroup>),
) -> Result<(), Error> {
    crate::worker::check_available(options.driver)?;
    let clock = WallClock::start();
    // Held until the server stops: SIGHUP reloads the certificates while it runs.
    let (tls, _reload_certs) = match crate::tls::load(options, listeners, clock)? {
        Some((context, reload)) => (Some(context), Some(reload)),
        None => (None, None),
    };
    let mut config = config;
    config.tls = tls.as_ref().map(crate::tls::hook);
    let group = WorkerGroup::new(services.len());
    // Filled once every worker exists: a client's `shutdown` on one worker stops them all.
    let stop_all: Arc<OnceLock<ShutdownHandle>> = Arc::new(OnceLock::new());
    let mut workers: Vec<Worker<S>> = services
        .into_iter()
        .enumerate()
        .map(|(i, service)| {
            let server = Server::in_group(config.clone(), service, clock.now(), group.clone(), i);
            let driver_options = DriverOptions {
                poll_timeout: options.poll_timeout(),
                shutdown_grace: SHUTDOWN_GRACE,
                clock: Box::new(move || -> Timestamp { clock.now() }),
                backlog: options.listen_backlog,
                on_shutdown_command: Some(Box::new({
                    let stop_all = Arc::clone(&stop_all);
                    move || {
                        if let Some(handle) = stop_all.get() {
                            handle.trigger();
                        }
                    }
                })),
                tls: tls.clone(),
            };
            Worker::new(
                options.driver,
                server,
                driver_options,
                options.uring_buffers,
            )
        })
        .collect();
    let bound = Bound(
        workers[0]
            .bind(listeners)
            .map_err(|(endpoint, source)| Error::Bind {
                endpoint: endpoint.to_string(),
                source,
            })?,
    );
    if workers.len() > 1 {
        let inboxes: Vec<Arc<Inbox>> = workers.iter().map(|_| Inbox::new()).collect();
        for (worker, inbox) in workers.iter_mut().zip(&inboxes).skip(1) {
            worker
                .bind_worker(Arc::clone(inbox))
                .map_err(Error::Worker)?;
        }
        workers[0].spread_to(Spreader::new(inboxes, 0));
    }
    let handle = ShutdownHandle {
        workers: workers.iter().map(Worker::handle).collect(),
    };
    let _ = stop_all.set(handle.clone());
    tracing::debug!(%bound, driver = %options.driver, workers = workers.len(), "listening");
    let mut rest = workers.split_off(1);
    let mut first = workers.pop().ok_or(Error::Panicked)?;
    let mut threads = Vec::with_capacity(rest.len());
    for (i, mut worker) in rest.drain(..).enumerate() {
        let stop = handle.clone();
        let spawned = thread::Builder::new()
            .name(format!("keel-worker-{}", i + 1))
            .spawn(move || {
                let result = worker.run();
                if result.is_err() {
                    stop.trigger();
                }
                result
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                handle.trigger();
                // The failed spawn is the error to report; the started workers only stop.
                let _ = join_all(threads);
                return Err(Error::Thread(e));
            }
        }
    }
    ready(&bound, handle.clone(), group);
    let result = first.run().map_err(Error::Driver);
    if result.is_err() {
        handle.trigger();
    }
    let others = join_all(threads);
    result.and(others)
}

/// Waits for every worker thread; the first failure, if any.
fn join_all(threads: Vec<JoinHandle<std::io::Result<()>>>) -> Result<(), Error> {
    let mut outcome = Ok(());
    for thread in threads {
        let result = match thread.join() {
            Ok(result) => result.map_err(Error::Driver),
            Err(_) => Err(Error::Panicked),
        };
        if outcome.is_ok() {
            outcome = result;
        }
    }
    outcome
}

/// A server on its own thread, from `spawn`.
#[derive(Debug)]
pub struct Running {
    bound: Bound,
    handle: ShutdownHandle,
    group: Arc<WorkerGroup>,
    thread: JoinHandle<Result<(), Error>>,
}

/// Starts a server on a new thread and returns once it listens (or failed to start).
pub fn spawn(options: Options) -> Result<Running, Error> {
    let (tx, rx) = mpsc::sync_channel(1);
    let thread = thread::Builder::new()
        .name("keel".to_owned())
        .spawn(move || {
            run_group(&options, |bound, handle, group| {
                drop(tx.send((bound.clone(), handle, group)))
            })
        })
        .map_err(Error::Thread)?;
    match rx.recv() {
        Ok((bound, handle, group)) => Ok(Running {
            bound,
            handle,
            group,
            thread,
        }),
        Err(_) => Err(thread
            .join()
            .map_err(|_| Error::Panicked)?
            .err()
            .unwrap_or(Error::Panicked)),
    }
}

impl Running {
    /// The first TCP address listened on (none with `-s`).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.bound.tcp()
    }

    /// Every endpoint listened on.
    pub fn bound(&self) -> &Bound {
        &self.bound
    }

    /// The connections each worker holds now.
    pub fn worker_connections(&self) -> Vec<u64> {
        (0..self.group.workers())
            .map(|w| self.group.worker_stats(w).curr_connections)
            .collect()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Triggers a graceful shutdown and waits for the server thread to finish.
    pub fn stop(self) -> Result<(), Error> {
        self.handle.trigger();
        self.thread.join().map_err(|_| Error::Panicked)?
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;
    use crate::DriverKind;

    #[test]
    fn spawned_servers_answer_and_stop() {
        for driver in [DriverKind::Mio, DriverKind::Poll, DriverKind::Uring] {
            let options = Options {
                port: 0,
                driver,
                ..Options::default()
            };
            let running = spawn(options).unwrap();
            let mut client = TcpStream::connect(running.addr().unwrap()).unwrap();
            let mut noop = [0u8; 24];
            noop[0] = 0x80;
            noop[1] = 0x0a;
            client.write_all(&noop).unwrap();
            let mut reply = [0u8; 24];
            client.read_exact(&mut reply).unwrap();
            assert_eq!((reply[0], reply[1]), (0x81, 0x0a), "{driver}");
            running.stop().unwrap();
            assert_eq!(
                client.read(&mut reply).unwrap(),
                0,
                "{driver}: closed on shutdown"
            );
        }
    }

    /// Reads until the reply ends with `suffix`.
    fn read_reply(client: &mut TcpStream, suffix: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(suffix) {
            let n = client.read(&mut buf).unwrap();
            assert!(n > 0, "closed before {suffix:?}");
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[test]
    fn workers_spread_connections_evenly_over_one_cache() {
        for driver in [DriverKind::Mio, DriverKind::Poll, DriverKind::Uring] {
            let running = spawn(Options {
                port: 0,
                driver,
                threads: 4,
                ..Options::default()
            })
            .unwrap();
            let mut clients: Vec<TcpStream> = (0..100)
                .map(|_| TcpStream::connect(running.addr().unwrap()).unwrap())
                .collect();
            // A round trip on each: every connection has reached its worker, and stays there.
            for client in &mut clients {
                client.write_all(b"mn\r\n").unwrap();
                assert_eq!(read_reply(client, b"MN\r\n"), b"MN\r\n");
            }
            assert_eq!(running.worker_connections(), [25, 25, 25, 25], "{driver}");
            // One cache behind all of them: a value set through one worker reads back everywhere.
            clients[0].write_all(b"set k 0 0 2\r\nhi\r\n").unwrap();
            assert_eq!(read_reply(&mut clients[0], b"\r\n"), b"STORED\r\n");
            for client in &mut clients[1..8] {
                client.write_all(b"get k\r\n").unwrap();
                let got = read_reply(client, b"END\r\n");
                assert_eq!(got, b"VALUE k 0 2\r\nhi\r\nEND\r\n", "{driver}");
            }
            clients[0].write_all(b"stats\r\n").unwrap();
            let text = String::from_utf8(read_reply(&mut clients[0], b"END\r\n")).unwrap();
            for line in [
                "threads 4",
                "curr_connections 100",
                "cmd_get 7",
                "cmd_set 1",
            ] {
                assert!(
                    text.contains(&format!("STAT {line}\r\n")),
                    "{driver}: {text}"
                );
            }
            running.stop().unwrap();
        }
    }

    #[test]
    fn a_taken_port_is_a_bind_error() {
        let first = spawn(Options {
            port: 0,
            ..Options::default()
        })
        .unwrap();
        let again = Options {
            port: first.addr().unwrap().port(),
            ..Options::default()
        };
        assert!(matches!(spawn(again), Err(Error::Bind { .. })));
        first.stop().unwrap();
    }
}
