//! Outside Linux there is no io_uring: the same shape as the Linux driver, whose `probe` and
//! `bind` fail with the cause and the fallback.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use keel_core::Server;
use keel_driver_common::{DriverOptions, Endpoint, Inbox, ListenSpec, ShutdownHandle, Spreader};

use crate::error::Unavailable;

/// io_uring is Linux's.
pub fn probe() -> Result<(), Unavailable> {
    Err(Unavailable::NoKernelSupport)
}

pub struct UringDriver<S> {
    server: Server<S>,
    _options: PhantomData<DriverOptions>,
}

impl<S> UringDriver<S> {
    pub fn new(server: Server<S>, _options: DriverOptions) -> UringDriver<S> {
        UringDriver {
            server,
            _options: PhantomData,
        }
    }

    pub fn set_receive_buffers(&mut self, _count: u16) {}

    pub fn server(&self) -> &Server<S> {
        &self.server
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle::default()
    }

    pub fn bind(&mut self, specs: &[ListenSpec]) -> Result<Vec<Endpoint>, (Endpoint, io::Error)> {
        let endpoint = specs.first().map_or_else(
            || Endpoint::Tcp(([0, 0, 0, 0], 0).into()),
            |spec| spec.endpoint.clone(),
        );
        Err((endpoint, Unavailable::NoKernelSupport.into()))
    }

    pub fn spread_to(&mut self, _spreader: Spreader) {}

    pub fn bind_worker(&mut self, _inbox: Arc<Inbox>) -> io::Result<()> {
        Err(Unavailable::NoKernelSupport.into())
    }

    pub fn run(&mut self) -> io::Result<()> {
        Err(Unavailable::NoKernelSupport.into())
    }
}
