//! Handing accepted connections from the loop that owns the listener to the other worker loops.
//!
//! The listening loop asks its `Spreader` where each new socket goes: round robin over all
//! workers, itself included, so connections opened one after another spread evenly (with `n`
//! workers, each holds within one of `1/n` of them). A socket for another worker is pushed on
//! that worker's `Inbox`, which wakes the worker's loop; the worker registers it as if it had
//! accepted it, and the connection stays on that worker for life.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::listener::Security;
use crate::shutdown::Wake;
use crate::stream::Stream;

/// A connection accepted by the listening worker: its socket (TCP or Unix, nonblocking) and what
/// its listener's connections speak.
#[derive(Debug)]
pub struct Accepted {
    /// The socket.
    pub stream: Stream,
    /// Whether it speaks plain memcached or TLS.
    pub security: Security,
}

/// New connections waiting for one worker.
#[derive(Default)]
pub struct Inbox {
    queue: Mutex<Vec<Accepted>>,
    /// Something was pushed since the last `take`: lets the worker skip the lock on other wake-ups.
    pending: AtomicBool,
    /// Installed by the worker's driver when it binds.
    wake: OnceLock<Wake>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// An empty inbox, shared by the worker that owns it and the one handing sockets to it.
    pub fn new() -> Arc<Inbox> {
        Arc::new(Inbox::default())
    }

    /// How the owning worker's loop is woken; the first call wins (a driver binds once).
    pub fn set_wake(&self, wake: Wake) {
        let _ = self.wake.set(wake);
    }

    /// Queues a connection for the worker and wakes it.
    pub fn push(&self, accepted: Accepted) {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(accepted);
        self.pending.store(true, Ordering::Release);
        if let Some(wake) = self.wake.get() {
            wake();
        }
    }

    /// Moves every queued connection into `into` (cheap when none is queued).
    pub fn take(&self, into: &mut Vec<Accepted>) {
        if !self.pending.swap(false, Ordering::Acquire) {
            return;
        }
        // A poisoned queue still holds whole sockets: a panic elsewhere cannot tear a push.
        into.append(&mut self.queue.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Where the listening worker sends each new connection.
#[derive(Debug)]
pub struct Spreader {
    inboxes: Vec<Arc<Inbox>>,
    /// The listening worker's own index: its turns keep the connection.
    own: usize,
    next: usize,
}

impl Spreader {
    /// Round robin over `inboxes` (one per worker); `own` is the listening worker's index.
    pub fn new(inboxes: Vec<Arc<Inbox>>, own: usize) -> Spreader {
        assert!(own < inboxes.len(), "worker {own} of {}", inboxes.len());
        Spreader {
            inboxes,
            own,
            next: own,
        }
    }

    /// The connection back when it is the listening worker's own turn; otherwise it has gone to
    /// another worker's inbox.
    pub fn route(&mut self, accepted: Accepted) -> Option<Accepted> {
        let target = self.next;
        self.next = (self.next + 1) % self.inboxes.len();
        if target == self.own {
            return Some(accepted);
        }
        self.inboxes[target].push(accepted);
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::net::TcpStream;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn accepted(listener: &TcpListener) -> Accepted {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(client);
        Accepted {
            stream: Stream::Tcp(server),
            security: Security::Plain,
        }
    }

    #[test]
    fn spreads_round_robin_and_wakes_each_target() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let inboxes: Vec<_> = (0..4).map(|_| Inbox::new()).collect();
        let wakes: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
        for (i, inbox) in inboxes.iter().enumerate() {
            let wakes = Arc::clone(&wakes);
            inbox.set_wake(Box::new(move || {
                wakes[i].fetch_add(1, Ordering::Relaxed);
            }));
        }
        let mut spreader = Spreader::new(inboxes.clone(), 1);
        let mut kept = 0;
        for _ in 0..10 {
            if spreader.route(accepted(&listener)).is_some() {
                kept += 1;
            }
        }
        // Turns start with the listening worker: 1, 2, 3, 0, 1, 2, 3, 0, 1, 2.
        assert_eq!(kept, 3);
        let mut counts = Vec::new();
        for inbox in &inboxes {
            let mut got = Vec::new();
            inbox.take(&mut got);
            counts.push(got.len());
        }
        assert_eq!(counts, [2, 0, 3, 2]);
        let woken: Vec<_> = wakes.iter().map(|w| w.load(Ordering::Relaxed)).collect();
        assert_eq!(woken, [2, 0, 3, 2]);
    }

    #[test]
    fn take_without_push_leaves_nothing() {
        let inbox = Inbox::new();
        let mut got = Vec::new();
        inbox.take(&mut got);
        assert!(got.is_empty());
    }
}
