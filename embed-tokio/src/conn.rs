//! The two tasks behind each connection: a reader that reads the socket only when the core lets it,
//! and a writer that writes what the core hands it. Neither decides anything: they report every
//! result to the core's task as an `Event`.
//!
//! Flow control: the reader waits for a permit after each read it reports, and the core's task
//! grants the next one only while `Server::interest(id).read` holds. So at most one read per
//! connection is in flight, a client the core has stopped reading (backpressure, a `-R` yield,
//! closing) is not read at all, and the unbounded event channel stays bounded by the number of
//! connections.

use std::io::ErrorKind;
use std::sync::Arc;

use keel_core::ConnId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;

const READ_BUFFER: usize = 64 << 10;

/// What a socket task reports to the core's task.
#[derive(Debug)]
pub enum Event {
    /// Bytes read; the reader then waits for its next permit.
    Input(ConnId, Vec<u8>),
    /// The peer closed its sending side; the reader has stopped.
    Eof(ConnId),
    /// A read or write failed; that task has stopped.
    IoError(ConnId),
    /// The writer handed this many bytes of the connection's output to the kernel.
    Written(ConnId, usize),
}

/// The core task's end of one connection. Dropping it stops both tasks, which closes the socket.
pub struct ConnHandle {
    to_writer: mpsc::UnboundedSender<Vec<u8>>,
    read_permit: Arc<Notify>,
    reader: AbortHandle,
    writer: AbortHandle,
    /// Bytes at the front of `Server::outbound(id)` already handed to the writer and not yet
    /// reported `Written`: the writer holds them in flight, so they are not handed over twice.
    in_flight: usize,
    /// The reader has reported a read and waits for a permit to read again.
    awaiting_permit: bool,
}

impl ConnHandle {
    /// Starts the reader and the writer of `stream`, which report to `events`.
    pub fn spawn(
        id: ConnId,
        stream: TcpStream,
        events: mpsc::UnboundedSender<Event>,
    ) -> ConnHandle {
        let (read_half, write_half) = stream.into_split();
        let read_permit = Arc::new(Notify::new());
        let (to_writer, from_core) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(
            id,
            read_half,
            read_permit.clone(),
            events.clone(),
        ));
        let writer = tokio::spawn(write_loop(id, write_half, from_core, events));
        ConnHandle {
            to_writer,
            read_permit,
            reader: reader.abort_handle(),
            writer: writer.abort_handle(),
            in_flight: 0,
            awaiting_permit: false,
        }
    }

    /// The reader reported a read: it waits for a permit now.
    pub fn read_reported(&mut self) {
        self.awaiting_permit = true;
    }

    /// Lets a waiting reader read again.
    pub fn grant_read(&mut self) {
        if std::mem::take(&mut self.awaiting_permit) {
            self.read_permit.notify_one();
        }
    }

    /// Hands the writer the part of `outbound` (the core's whole unsent output) it does not hold
    /// yet.
    pub fn transmit(&mut self, outbound: &[u8]) {
        if outbound.len() > self.in_flight {
            // A writer that stopped has reported its error; the core closes the connection then.
            let _ = self.to_writer.send(outbound[self.in_flight..].to_vec());
            self.in_flight = outbound.len();
        }
    }

    /// The writer wrote `n` bytes of what it holds.
    pub fn written(&mut self, n: usize) {
        self.in_flight = self.in_flight.saturating_sub(n);
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

async fn read_loop(
    id: ConnId,
    mut socket: OwnedReadHalf,
    permit: Arc<Notify>,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut buf = vec![0; READ_BUFFER];
    loop {
        let event = match socket.read(&mut buf).await {
            Ok(0) => Event::Eof(id),
            Ok(n) => Event::Input(id, buf[..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => Event::IoError(id),
        };
        let more = matches!(event, Event::Input(..));
        if events.send(event).is_err() || !more {
            return;
        }
        permit.notified().await;
    }
}

async fn write_loop(
    id: ConnId,
    mut socket: OwnedWriteHalf,
    mut from_core: mpsc::UnboundedReceiver<Vec<u8>>,
    events: mpsc::UnboundedSender<Event>,
) {
    while let Some(bytes) = from_core.recv().await {
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let event = match socket.write(rest).await {
                Ok(0) => Event::IoError(id),
                Ok(n) => {
                    rest = &rest[n..];
                    Event::Written(id, n)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => Event::IoError(id),
            };
            let failed = matches!(event, Event::IoError(_));
            if events.send(event).is_err() || failed {
                return;
            }
        }
    }
}
