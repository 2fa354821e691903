//! Outside Linux there is no io_uring: the same shape as the Linux driver, whose `probe` and
//! `bind` fail with the cause and the fallback.

use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use keel_core::Server;
use keel_driver_common::{DriverOptions, Inbox, Spreader};

use crate::error::Unavailable;

/// io_uring is Linux's.
pub fn probe() -> Result<(), Unavailable> {
    Err(Unavailable::NoKernelSupport)
}

#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle;

impl ShutdownHandle {
    pub fn trigger(&self) {}

    pub fn is_requested(&self) -> bool {
        false
    }
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
        ShutdownHandle
    }

    pub fn bind(&mut self, _addr: SocketAddr) -> io::Result<SocketAddr> {
        Err(Unavailable::NoKernelSupport.into())
    }

    pub fn spread_to(&mut self, _spreader: Spreader) {}

    pub fn bind_worker(&mut self, _inbox: Arc<Inbox>) -> io::Result<()> {
        Err(Unavailable::NoKernelSupport.into())
    }

    pub fn run(&mut self) -> io::Result<()> {
        Err(Unavailable::NoKernelSupport.into())
    }
}
