//! The cache's command counters, named as memcached names them, overall and per class.

use crate::service::StatSink;
use crate::store::{MAX_CLASS_IDS, Miss};

/// The cache's command counters since start (or the last `stats reset`), named and counted as
/// memcached's `stats` names and counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Retrieval requests, one per key (`cmd_get`).
    pub cmd_get: u64,
    /// Storage requests (`cmd_set`).
    pub cmd_set: u64,
    /// `flush_all` requests (`cmd_flush`).
    pub cmd_flush: u64,
    /// Touch requests, `gat` included (`cmd_touch`).
    pub cmd_touch: u64,
    /// Keys found (`get_hits`).
    pub get_hits: u64,
    /// Keys not found, expired and flushed ones included (`get_misses`).
    pub get_misses: u64,
    /// Misses because the item had expired (`get_expired`).
    pub get_expired: u64,
    /// Misses because a flush had invalidated the item (`get_flushed`).
    pub get_flushed: u64,
    /// Deletes of a missing key (`delete_misses`).
    pub delete_misses: u64,
    /// Deletes that removed an item (`delete_hits`).
    pub delete_hits: u64,
    /// Increments of a missing key (`incr_misses`).
    pub incr_misses: u64,
    /// Increments that changed a counter (`incr_hits`).
    pub incr_hits: u64,
    /// Decrements of a missing key (`decr_misses`).
    pub decr_misses: u64,
    /// Decrements that changed a counter (`decr_hits`).
    pub decr_hits: u64,
    /// CAS stores over a missing key (`cas_misses`).
    pub cas_misses: u64,
    /// CAS stores that matched (`cas_hits`).
    pub cas_hits: u64,
    /// CAS stores refused for a different CAS (`cas_badval`).
    pub cas_badval: u64,
    /// Touches that found the key (`touch_hits`).
    pub touch_hits: u64,
    /// Touches of a missing key (`touch_misses`).
    pub touch_misses: u64,
    /// Stores refused as over the item size limit (`store_too_large`).
    pub store_too_large: u64,
    /// Stores refused for want of memory (`store_no_memory`).
    pub store_no_memory: u64,
}

impl std::ops::AddAssign for CacheStats {
    /// Sums the counters of the shards of one cache.
    fn add_assign(&mut self, other: CacheStats) {
        let CacheStats {
            cmd_get,
            cmd_set,
            cmd_flush,
            cmd_touch,
            get_hits,
            get_misses,
            get_expired,
            get_flushed,
            delete_misses,
            delete_hits,
            incr_misses,
            incr_hits,
            decr_misses,
            decr_hits,
            cas_misses,
            cas_hits,
            cas_badval,
            touch_hits,
            touch_misses,
            store_too_large,
            store_no_memory,
        } = other;
        self.cmd_get += cmd_get;
        self.cmd_set += cmd_set;
        self.cmd_flush += cmd_flush;
        self.cmd_touch += cmd_touch;
        self.get_hits += get_hits;
        self.get_misses += get_misses;
        self.get_expired += get_expired;
        self.get_flushed += get_flushed;
        self.delete_misses += delete_misses;
        self.delete_hits += delete_hits;
        self.incr_misses += incr_misses;
        self.incr_hits += incr_hits;
        self.decr_misses += decr_misses;
        self.decr_hits += decr_hits;
        self.cas_misses += cas_misses;
        self.cas_hits += cas_hits;
        self.cas_badval += cas_badval;
        self.touch_hits += touch_hits;
        self.touch_misses += touch_misses;
        self.store_too_large += store_too_large;
        self.store_no_memory += store_no_memory;
    }
}

impl CacheStats {
    /// A GET that found nothing live, and why.
    pub(crate) fn count_get_miss(&mut self, miss: Miss) {
        self.get_misses += 1;
        match miss {
            Miss::Expired => self.get_expired += 1,
            Miss::Flushed => self.get_flushed += 1,
            Miss::Absent => {}
        }
    }

    /// Writes the counters as `stats` lines, in memcached's order.
    pub fn write(&self, sink: &mut dyn StatSink) {
        let fields: [(&str, u64); 21] = [
            ("cmd_get", self.cmd_get),
            ("cmd_set", self.cmd_set),
            ("cmd_flush", self.cmd_flush),
            ("cmd_touch", self.cmd_touch),
            ("get_hits", self.get_hits),
            ("get_misses", self.get_misses),
            ("get_expired", self.get_expired),
            ("get_flushed", self.get_flushed),
            ("delete_misses", self.delete_misses),
            ("delete_hits", self.delete_hits),
            ("incr_misses", self.incr_misses),
            ("incr_hits", self.incr_hits),
            ("decr_misses", self.decr_misses),
            ("decr_hits", self.decr_hits),
            ("cas_misses", self.cas_misses),
            ("cas_hits", self.cas_hits),
            ("cas_badval", self.cas_badval),
            ("touch_hits", self.touch_hits),
            ("touch_misses", self.touch_misses),
            ("store_too_large", self.store_too_large),
            ("store_no_memory", self.store_no_memory),
        ];
        for (name, value) in fields {
            sink.stat(name, &value);
        }
    }
}

/// The commands `stats slabs` breaks down by class, counted against the class of the item they
/// found (`cmd_set`: the class the request's item goes to), as memcached's `slab_stats` are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCommands {
    pub get_hits: u64,
    pub cmd_set: u64,
    pub delete_hits: u64,
    pub incr_hits: u64,
    pub decr_hits: u64,
    pub cas_hits: u64,
    pub cas_badval: u64,
    pub touch_hits: u64,
}

impl std::ops::AddAssign<&ClassCommands> for ClassCommands {
    /// Sums one class's commands over the shards of a shared cache.
    fn add_assign(&mut self, other: &ClassCommands) {
        self.get_hits += other.get_hits;
        self.cmd_set += other.cmd_set;
        self.delete_hits += other.delete_hits;
        self.incr_hits += other.incr_hits;
        self.decr_hits += other.decr_hits;
        self.cas_hits += other.cas_hits;
        self.cas_badval += other.cas_badval;
        self.touch_hits += other.touch_hits;
    }
}

impl ClassCommands {
    /// The per-class lines memcached prints after a class's chunk counts.
    pub fn write(&self, id: u32, sink: &mut dyn StatSink) {
        let fields: [(&str, u64); 8] = [
            ("get_hits", self.get_hits),
            ("cmd_set", self.cmd_set),
            ("delete_hits", self.delete_hits),
            ("incr_hits", self.incr_hits),
            ("decr_hits", self.decr_hits),
            ("cas_hits", self.cas_hits),
            ("cas_badval", self.cas_badval),
            ("touch_hits", self.touch_hits),
        ];
        for (name, value) in fields {
            sink.stat(&format!("{id}:{name}"), &value);
        }
    }
}

/// `ClassCommands` for every class id (index 0 unused, as memcached's class 0 is).
pub(crate) type ClassCommandTable = [ClassCommands; MAX_CLASS_IDS as usize];
