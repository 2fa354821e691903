//! Building and running a server: the hash seed, the clock, the core, the chosen driver; `run` on
//! the caller's thread, `spawn` on a thread of its own for in-process tests.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use keel_core::{Cache, Server, Timestamp};
use keel_driver_mio::MioDriver;
use keel_driver_poll::PollDriver;

use crate::cli::{DriverKind, Options};
use crate::clock::WallClock;
use crate::entropy::hash_seed;
use crate::error::Error;
use crate::limits;

/// How long shutdown keeps flushing pending output before dropping what is left.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Stops a running server gracefully, whichever driver runs it. `trigger` is async-signal-safe.
#[derive(Clone, Debug)]
pub enum ShutdownHandle {
    Mio(keel_driver_mio::ShutdownHandle),
    Poll(keel_driver_poll::ShutdownHandle),
}

impl ShutdownHandle {
    pub fn trigger(&self) {
        match self {
            ShutdownHandle::Mio(handle) => handle.trigger(),
            ShutdownHandle::Poll(handle) => handle.trigger(),
        }
    }
}

/// Each driver has its own `DriverOptions` type; their fields are the same.
macro_rules! driver_options {
    ($krate:ident, $poll_timeout:expr, $clock:expr) => {
        $krate::DriverOptions {
            poll_timeout: $poll_timeout,
            shutdown_grace: SHUTDOWN_GRACE,
            clock: $clock,
        }
    };
}

enum Driver {
    Mio(MioDriver<Cache>),
    Poll(PollDriver<Cache>),
}

/// Serves on the calling thread until a shutdown is triggered and completes. Once the listener is
/// bound, `ready` is called with its address and a handle that stops the server.
pub fn run(options: &Options, ready: impl FnOnce(SocketAddr, ShutdownHandle)) -> Result<(), Error> {
    let addr = options.listen_addr()?;
    let mut config = options.core_config();
    config.sasl = options.sasl_credentials()?;
    config.process_usage = Some(keel_core::ProcessUsage(crate::usage::process_cpu));
    let seed = hash_seed().map_err(Error::Entropy)?;
    limits::ensure_nofile(u64::from(options.conn_limit) + limits::HEADROOM);
    let clock = WallClock::start();
    let server = Server::new(config, Cache::new(options.cache_config(seed)), clock.now());
    let poll_timeout = options.poll_timeout();
    let clock: Box<dyn FnMut() -> Timestamp + Send> = Box::new(move || clock.now());
    let mut driver = match options.driver {
        DriverKind::Mio => {
            let options = driver_options!(keel_driver_mio, poll_timeout, clock);
            Driver::Mio(MioDriver::new(server, options))
        }
        DriverKind::Poll => {
            let options = driver_options!(keel_driver_poll, poll_timeout, clock);
            Driver::Poll(PollDriver::new(server, options))
        }
    };
    let (bound, handle) = match &mut driver {
        Driver::Mio(d) => (d.bind(addr), ShutdownHandle::Mio(d.shutdown_handle())),
        Driver::Poll(d) => (d.bind(addr), ShutdownHandle::Poll(d.shutdown_handle())),
    };
    let bound = bound.map_err(|source| Error::Bind { addr, source })?;
    tracing::debug!(%bound, driver = %options.driver, "listening");
    ready(bound, handle);
    let result = match &mut driver {
        Driver::Mio(d) => d.run(),
        Driver::Poll(d) => d.run(),
    };
    result.map_err(Error::Driver)
}

/// A server on its own thread, from `spawn`.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    handle: ShutdownHandle,
    thread: JoinHandle<Result<(), Error>>,
}

/// Starts a server on a new thread and returns once it listens (or failed to start).
pub fn spawn(options: Options) -> Result<Running, Error> {
    let (tx, rx) = mpsc::sync_channel(1);
    let thread = thread::Builder::new()
        .name("keel".to_owned())
        .spawn(move || run(&options, |addr, handle| drop(tx.send((addr, handle)))))
        .map_err(Error::Thread)?;
    match rx.recv() {
        Ok((addr, handle)) => Ok(Running {
            addr,
            handle,
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
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

    #[test]
    fn spawned_servers_answer_and_stop() {
        for driver in [DriverKind::Mio, DriverKind::Poll] {
            let options = Options {
                port: 0,
                driver,
                ..Options::default()
            };
            let running = spawn(options).unwrap();
            let mut client = TcpStream::connect(running.addr()).unwrap();
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

    #[test]
    fn a_taken_port_is_a_bind_error() {
        let first = spawn(Options {
            port: 0,
            ..Options::default()
        })
        .unwrap();
        let again = Options {
            port: first.addr().port(),
            ..Options::default()
        };
        assert!(matches!(spawn(again), Err(Error::Bind { .. })));
        first.stop().unwrap();
    }
}
