//! One worker: a driver of the chosen kind around its own `keel_core::Server`, and the handle that
//! stops it. The drivers have the same shape; this is the one place that tells them apart.

use std::io;
use std::sync::Arc;

use keel_core::{Server, Service};
use keel_driver_common::{DriverOptions, Endpoint, Inbox, ListenSpec, ShutdownHandle, Spreader};
use keel_driver_mio::MioDriver;
use keel_driver_poll::PollDriver;
use keel_driver_uring::UringDriver;

use crate::cli::DriverKind;

pub(crate) enum Worker<S> {
    Mio(MioDriver<S>),
    Poll(PollDriver<S>),
    Uring(UringDriver<S>),
}

/// Whether a driver of `kind` can run here: io_uring may be missing or forbidden (the error
/// names the cause and the fallback); the readiness drivers always can.
pub(crate) fn check_available(kind: DriverKind) -> Result<(), keel_driver_uring::Unavailable> {
    match kind {
        DriverKind::Mio | DriverKind::Poll => Ok(()),
        DriverKind::Uring => keel_driver_uring::probe(),
    }
}

impl<S: Service> Worker<S> {
    /// A driver of `kind`; `uring_buffers` sizes the io_uring driver's receive-buffer ring.
    pub(crate) fn new(
        kind: DriverKind,
        server: Server<S>,
        options: DriverOptions,
        uring_buffers: u16,
    ) -> Worker<S> {
        match kind {
            DriverKind::Mio => Worker::Mio(MioDriver::new(server, options)),
            DriverKind::Poll => Worker::Poll(PollDriver::new(server, options)),
            DriverKind::Uring => {
                let mut driver = UringDriver::new(server, options);
                driver.set_receive_buffers(uring_buffers);
                Worker::Uring(driver)
            }
        }
    }

    /// Opens the listeners; the endpoints bound, or the one that failed and why.
    pub(crate) fn bind(
        &mut self,
        specs: &[ListenSpec],
    ) -> Result<Vec<Endpoint>, (Endpoint, io::Error)> {
        match self {
            Worker::Mio(d) => d.bind(specs),
            Worker::Poll(d) => d.bind(specs),
            Worker::Uring(d) => d.bind(specs),
        }
    }

    pub(crate) fn spread_to(&mut self, spreader: Spreader) {
        match self {
            Worker::Mio(d) => d.spread_to(spreader),
            Worker::Poll(d) => d.spread_to(spreader),
            Worker::Uring(d) => d.spread_to(spreader),
        }
    }

    pub(crate) fn bind_worker(&mut self, inbox: Arc<Inbox>) -> io::Result<()> {
        match self {
            Worker::Mio(d) => d.bind_worker(inbox),
            Worker::Poll(d) => d.bind_worker(inbox),
            Worker::Uring(d) => d.bind_worker(inbox),
        }
    }

    /// Stops this worker; `trigger` is async-signal-safe.
    pub(crate) fn handle(&self) -> ShutdownHandle {
        match self {
            Worker::Mio(d) => d.shutdown_handle(),
            Worker::Poll(d) => d.shutdown_handle(),
            Worker::Uring(d) => d.shutdown_handle(),
        }
    }

    pub(crate) fn run(&mut self) -> io::Result<()> {
        match self {
            Worker::Mio(d) => d.run(),
            Worker::Poll(d) => d.run(),
            Worker::Uring(d) => d.run(),
        }
    }
}
