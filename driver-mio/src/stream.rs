//! The mio sockets of one listener kind: a TCP or Unix domain listener and the streams it accepts,
//! as one type each, so the loop treats both the same way.

use std::io::{self, IoSlice, Read, Write};

use keel_driver_common::{AcceptedSocket, Listener, Stream};
use mio::event::Source;
use mio::{Interest, Registry, Token};

#[derive(Debug)]
pub(crate) enum MioListener {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

impl MioListener {
    /// Wraps a bound, nonblocking listener from `keel_driver_common`.
    pub(crate) fn from_common(listener: Listener) -> MioListener {
        match listener {
            Listener::Tcp(l) => MioListener::Tcp(mio::net::TcpListener::from_std(l)),
            Listener::Unix(l) => MioListener::Unix(mio::net::UnixListener::from_std(l)),
        }
    }

    /// One nonblocking accept (accept4 with SOCK_NONBLOCK: no extra system call).
    pub(crate) fn accept(&self) -> io::Result<MioStream> {
        Ok(match self {
            MioListener::Tcp(l) => MioStream::Tcp(l.accept()?.0),
            MioListener::Unix(l) => MioStream::Unix(l.accept()?.0),
        })
    }
}

impl Source for MioListener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            MioListener::Tcp(l) => l.register(r, t, i),
            MioListener::Unix(l) => l.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            MioListener::Tcp(l) => l.reregister(r, t, i),
            MioListener::Unix(l) => l.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            MioListener::Tcp(l) => l.deregister(r),
            MioListener::Unix(l) => l.deregister(r),
        }
    }
}

#[derive(Debug)]
pub(crate) enum MioStream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

impl MioStream {
    /// The std socket, to hand to another worker.
    pub(crate) fn into_common(self) -> Stream {
        match self {
            MioStream::Tcp(s) => Stream::Tcp(s.into()),
            MioStream::Unix(s) => Stream::Unix(s.into()),
        }
    }

    /// A socket handed over by another worker (already nonblocking).
    pub(crate) fn from_common(stream: Stream) -> MioStream {
        match stream {
            Stream::Tcp(s) => MioStream::Tcp(mio::net::TcpStream::from_std(s)),
            Stream::Unix(s) => MioStream::Unix(mio::net::UnixStream::from_std(s)),
        }
    }
}

impl AcceptedSocket for MioStream {
    fn prepare(&self) -> io::Result<()> {
        match self {
            MioStream::Tcp(s) => s.set_nodelay(true),
            MioStream::Unix(_) => Ok(()),
        }
    }

    fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            MioStream::Tcp(s) => s.peer_addr().ok(),
            MioStream::Unix(_) => None,
        }
    }

    fn peer(&self) -> String {
        match self {
            MioStream::Tcp(s) => s
                .peer_addr()
                .map_or_else(|e| format!("? ({e})"), |a| a.to_string()),
            MioStream::Unix(_) => "unix".to_owned(),
        }
    }
}

impl Read for MioStream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MioStream::Tcp(s) => s.read(buf),
            MioStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for MioStream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MioStream::Tcp(s) => s.write(buf),
            MioStream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MioStream::Tcp(s) => s.write_vectored(bufs),
            MioStream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for MioStream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            MioStream::Tcp(s) => s.register(r, t, i),
            MioStream::Unix(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            MioStream::Tcp(s) => s.reregister(r, t, i),
            MioStream::Unix(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            MioStream::Tcp(s) => s.deregister(r),
            MioStream::Unix(s) => s.deregister(r),
        }
    }
}
