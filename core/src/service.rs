//! The boundary between connection handling and the data behind it: the `Service` trait, the typed
//! `Outcome` of a command, and the `StatSink` that statistics are written to.
//!
//! Keeping this boundary narrow is what lets another store (a sharded one shared by several event
//! loops, a proxy, a test double) sit behind the same connection code.

use std::fmt::Display;

use crate::protocol::{Command, Status, StoreMode};
use crate::time::Timestamp;

/// What a data command did. Borrowed values point into the service's storage and are copied into
/// the connection's output before the service is touched again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'s> {
    /// Stored, deleted or flushed; `cas` is the item's new CAS (0 where memcached sends 0).
    Done {
        /// The item's new CAS (0 where memcached sends 0).
        cas: u64,
    },
    /// A GET/GAT hit.
    Value {
        /// The item's client flags.
        flags: u32,
        /// The item's CAS.
        cas: u64,
        /// The item's value.
        value: &'s [u8],
    },
    /// A TOUCH hit.
    Touched {
        /// The item's client flags.
        flags: u32,
        /// The item's CAS.
        cas: u64,
    },
    /// The new value of an INCR/DECR.
    Counter {
        /// The counter after the change.
        value: u64,
        /// The item's new CAS.
        cas: u64,
    },
    /// A meta-protocol hit: the item with everything `mg`/`ma` can report about it.
    Item(ItemView<'s>),
    /// The command failed with this status.
    Failed(Status),
}

/// What the meta protocol can learn about an item, as it was before the request touched it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemView<'s> {
    /// The item's value.
    pub value: &'s [u8],
    /// The item's client flags.
    pub flags: u32,
    /// The item's CAS (0 with CAS disabled).
    pub cas: u64,
    /// Absolute expiry in Unix seconds, 0 = never (after any TTL change by this request).
    pub exptime: u32,
    /// Seconds since the item was last accessed.
    pub idle_secs: u32,
    /// Whether it had been fetched before.
    pub fetched: bool,
    /// Marked stale by an invalidation (`md`/`ms` with `I`).
    pub stale: bool,
    /// A recache token had already been handed out for it.
    pub token_sent: bool,
    /// Stored under a binary (base64) meta key: replies show the key in base64.
    pub binary_key: bool,
    /// This request won the recache token (created it, found it stale, or its TTL under `R`).
    pub won: bool,
    /// memcached's accounting size of the item.
    pub size: usize,
}

/// One stored item as the key-listing commands (`lru_crawler metadump`, `stats cachedump`) show
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEntry<'s> {
    /// The key.
    pub key: &'s [u8],
    /// Absolute expiry in Unix seconds, 0 = never.
    pub exptime: u32,
    /// Unix seconds of the last access.
    pub last_access: u32,
    /// The item's CAS.
    pub cas: u64,
    /// Whether a client has read it.
    pub fetched: bool,
    /// memcached-style class id, 1..=63.
    pub class_id: u32,
    /// memcached's accounting size of the item.
    pub size: usize,
    /// Length of the value in bytes.
    pub value_len: usize,
}

/// Which statistics a STAT request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatGroup {
    /// `stats`: the general counters.
    General,
    /// `stats settings`.
    Settings,
    /// `stats items`: per-class item counts.
    Items,
    /// `stats slabs`: per-class memory.
    Slabs,
    /// `stats sizes`: items by size.
    Sizes,
}

/// Receives `name value` statistics lines, in order.
pub trait StatSink {
    /// One line: `value` is written with `Display`, as memcached prints it.
    fn stat(&mut self, name: &str, value: &dyn Display);
}

/// A cache behind the connections. All calls are synchronous and take the caller's time.
pub trait Service {
    /// Runs a data command (GET*, GAT*, TOUCH, stores, DELETE, INCR/DECR, FLUSH). Protocol-level
    /// commands (NOOP, VERSION, QUIT, STAT, VERBOSITY) are the server's and never arrive here.
    fn execute(&mut self, command: &Command<'_>, now: Timestamp) -> Outcome<'_>;

    /// Whether an item of these sizes may be stored at all. Asked before the value is buffered,
    /// so a value that can never fit is discarded as it streams in instead of being held.
    fn admits(&self, key_len: usize, value_len: usize, flags: u32) -> bool;

    /// A storage command whose value `admits` refused: answer it (memcached also drops the old
    /// item under the key for SET, so stale data cannot outlive a failed overwrite).
    fn reject_too_large(&mut self, mode: StoreMode, key: &[u8], now: Timestamp) -> Outcome<'_>;

    /// Writes the service's statistics of a group.
    fn stats(&self, group: StatGroup, now: Timestamp, sink: &mut dyn StatSink);

    /// STAT reset: zero the resettable counters.
    fn reset_stats(&mut self);

    /// Lists stored keys, resumably, for `lru_crawler metadump` and `stats cachedump`: visits
    /// live items whose class id has its bit set in `classes`, from `cursor` (0 to start), at
    /// most `max` of them, and returns the cursor to go on from, or `None` once every item has
    /// been visited. The cursor is the service's own business (an opaque position); nothing is
    /// held between calls, so a listing may miss or repeat items that change meanwhile. A
    /// service that cannot list keys lists none.
    fn walk_keys(
        &self,
        classes: u64,
        cursor: u64,
        max: usize,
        now: Timestamp,
        visit: &mut dyn FnMut(&KeyEntry<'_>),
    ) -> Option<u64> {
        let _ = (classes, cursor, max, now, visit);
        None
    }

    /// `cache_memlimit`: changes the memory limit at run time, evicting at once when it shrinks
    /// below what is in use. False when the service cannot change it.
    fn set_memory_limit(&mut self, bytes: usize, now: Timestamp) -> bool {
        let _ = (bytes, now);
        false
    }
}
