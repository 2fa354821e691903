//! How much item memory a store may take: a limit of its own, or a share of one limit that several
//! stores draw from (the shards of a [`SharedCache`](crate::cache::SharedCache)).
//!
//! A store's own accounting (`Memory::used`) always says what it holds. A shared budget adds one
//! counter of what all its stores hold together, touched only when a store takes or gives back a
//! whole page or a large item's box, never per request, so the shards do not write one cache line
//! on their hot path.

use crate::sync::{Arc, AtomicUsize, Ordering};

/// One memory limit shared by several stores. Each byte a store holds was reserved here first, so
/// the stores together never hold more than the limit.
#[derive(Debug)]
pub struct SharedBudget {
    limit: AtomicUsize,
    used: AtomicUsize,
}

impl SharedBudget {
    /// A budget of `limit` bytes, none of them reserved.
    pub fn new(limit: usize) -> Arc<SharedBudget> {
        Arc::new(SharedBudget {
            limit: AtomicUsize::new(limit),
            used: AtomicUsize::new(0),
        })
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// A new limit (`cache_memlimit`); stores over it are shrunk by their owner.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Bytes held by all the stores together.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// What may still be reserved (0 while a lowered limit is above what is held).
    pub fn headroom(&self) -> usize {
        self.limit().saturating_sub(self.used())
    }

    /// Takes `bytes` if they fit under the limit. A compare-and-swap loop, so two stores racing for
    /// the last page cannot both get it.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .is_ok()
    }

    /// Gives back bytes reserved earlier.
    pub fn release(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(
            before >= bytes,
            "released {bytes} of {before} reserved bytes"
        );
    }
}

/// Where a store's memory limit comes from.
#[derive(Clone, Debug)]
pub(crate) enum Budget {
    /// The store alone; its own accounting is the whole truth.
    Own { limit: usize },
    /// A share of a limit other stores draw from too.
    Shared(Arc<SharedBudget>),
}

impl Budget {
    pub(crate) fn limit(&self) -> usize {
        match self {
            Budget::Own { limit } => *limit,
            Budget::Shared(shared) => shared.limit(),
        }
    }

    pub(crate) fn set_limit(&mut self, new: usize) {
        match self {
            Budget::Own { limit } => *limit = new,
            Budget::Shared(shared) => shared.set_limit(new),
        }
    }

    /// What may still be taken, given that this store holds `used` bytes.
    pub(crate) fn headroom(&self, used: usize) -> usize {
        match self {
            Budget::Own { limit } => limit.saturating_sub(used),
            Budget::Shared(shared) => shared.headroom(),
        }
    }

    /// Takes `bytes` for a store holding `used`; the store then counts them in its own accounting.
    #[inline]
    pub(crate) fn try_reserve(&self, bytes: usize, used: usize) -> bool {
        match self {
            Budget::Own { limit } => used.checked_add(bytes).is_some_and(|total| total <= *limit),
            Budget::Shared(shared) => shared.try_reserve(bytes),
        }
    }

    /// The store dropped `bytes` from its own accounting.
    #[inline]
    pub(crate) fn release(&self, bytes: usize) {
        if let Budget::Shared(shared) = self {
            shared.release(bytes);
        }
    }
}
