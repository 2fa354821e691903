//! `WorkerGroup`: what the workers of one server share besides the cache: the connection limit
//! (`-c` counts every worker's connections) and each worker's statistics.
//!
//! Each worker writes only its own slot, on cache lines of its own, with plain relaxed loads and
//! stores (one writer, so no read-modify-write is needed); `stats` on any worker sums the slots.
//! `stats reset` on any worker cannot write the other workers' slots without racing their writes,
//! so it records the sums at the reset as a baseline that later sums subtract. The only counter all
//! workers write is the count of open connections, once per accept and close, never per request.

pub(crate) use crate::stats::Counter;
use crate::stats::ServerStats;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};

/// The workers serving one cache. A lone `Server` has a group of its own with one worker.
#[derive(Debug)]
pub struct WorkerGroup {
    /// Each worker's `Server` holds its own slot too, reaching it without an index.
    slots: Box<[Arc<StatCells>]>,
    /// Connections open on all workers together.
    open: AtomicUsize,
    /// The sums at the last `stats reset`.
    baseline: Mutex<ServerStats>,
}

/// One worker's counters, indexed by `Counter`; only that worker writes them.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct StatCells {
    cells: [AtomicU64; Counter::ALL.len()],
}

impl Default for StatCells {
    fn default() -> StatCells {
        StatCells {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl StatCells {
    #[inline]
    fn cell(&self, counter: Counter) -> &AtomicU64 {
        &self.cells[counter as usize]
    }

    /// Sets a gauge; only the owning worker calls it.
    #[inline]
    pub(crate) fn set(&self, counter: Counter, value: u64) {
        self.cell(counter).store(value, Ordering::Relaxed);
    }

    /// Adds `n` (wrapping, so a gauge can go down by adding its negation). Only the owning worker
    /// calls it, so a load and a store cannot lose a concurrent update.
    #[inline]
    pub(crate) fn add(&self, counter: Counter, n: u64) {
        let cell = self.cell(counter);
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn snapshot(&self) -> ServerStats {
        ServerStats::from_fn(|c| self.cell(c).load(Ordering::Relaxed))
    }
}

impl WorkerGroup {
    /// A group of `workers` workers (at least one).
    pub fn new(workers: usize) -> Arc<WorkerGroup> {
        Arc::new(WorkerGroup {
            slots: (0..workers.max(1))
                .map(|_| Arc::new(StatCells::default()))
                .collect(),
            open: AtomicUsize::new(0),
            baseline: Mutex::new(ServerStats::default()),
        })
    }

    /// How many workers the group has.
    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    /// Connections open on all workers.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Every worker's counters summed, less what `stats reset` zeroed.
    pub fn totals(&self) -> ServerStats {
        let sum = self.raw_sum();
        let base = *self.baseline.lock().unwrap_or_else(|p| p.into_inner());
        sum.since(&base)
    }

    /// One worker's own counters (not reset by `stats reset`).
    pub fn worker_stats(&self, worker: usize) -> ServerStats {
        self.slots[worker].snapshot()
    }

    fn raw_sum(&self) -> ServerStats {
        self.slots.iter().fold(ServerStats::default(), |sum, slot| {
            sum.plus(&slot.snapshot())
        })
    }

    /// `stats reset`: the counters read zero from now on; gauges stay.
    pub(crate) fn reset(&self) {
        let sum = self.raw_sum();
        *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) = sum;
    }

    /// Worker `worker`'s slot, for its `Server` to keep.
    pub(crate) fn cells(&self, worker: usize) -> Arc<StatCells> {
        Arc::clone(&self.slots[worker])
    }

    /// Counts a new connection unless `max` are open already.
    pub(crate) fn try_open(&self, max: usize) -> bool {
        self.open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
                (open < max).then_some(open + 1)
            })
            .is_ok()
    }

    pub(crate) fn close(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}
