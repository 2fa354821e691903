//! The per-class lines of `stats slabs` and `stats items`, in memcached 1.6's shape:
//! `N:chunk_size`, `N:used_chunks`, ... and `items:N:number`, `items:N:evicted`, ..., for every
//! class holding memory (memcached lists only those too).

use super::stats::{ClassCommandTable, ClassCommands};
use crate::service::StatSink;
use crate::store::ClassReport;

/// `stats slabs` per class: page and chunk counts, then the commands that touched the class.
pub(super) fn write_slabs(
    classes: &[ClassReport],
    commands: &ClassCommandTable,
    sink: &mut dyn StatSink,
) {
    for class in classes {
        let id = class.id;
        let shape: [(&str, usize); 7] = [
            ("chunk_size", class.chunk_size),
            ("chunks_per_page", class.chunks_per_page),
            ("total_pages", class.total_pages),
            ("total_chunks", class.total_chunks()),
            ("used_chunks", class.used_chunks()),
            ("free_chunks", class.free_chunks),
            ("free_chunks_end", class.free_chunks_end),
        ];
        for (name, value) in shape {
            sink.stat(&format!("{id}:{name}"), &value);
        }
        commands
            .get(id as usize)
            .copied()
            .unwrap_or_else(ClassCommands::default)
            .write(id, sink);
    }
}

/// `stats items` per class: the item counts and the eviction and reclaim counters keel keeps.
/// memcached's segmented-LRU lines (`number_hot`, `moves_to_cold`, ...) have no meaning for
/// keel's CLOCK and are left out.
pub(super) fn write_items(classes: &[ClassReport], sink: &mut dyn StatSink) {
    for class in classes {
        let id = class.id;
        let items = &class.items;
        let fields: [(&str, u64); 11] = [
            ("number", items.number),
            ("age", u64::from(class.age)),
            ("mem_requested", items.mem_requested),
            ("evicted", items.evicted),
            ("evicted_nonzero", items.evicted_nonzero),
            ("evicted_time", u64::from(items.evicted_time)),
            ("outofmemory", items.outofmemory),
            ("reclaimed", items.reclaimed),
            ("expired_unfetched", items.expired_unfetched),
            ("evicted_unfetched", items.evicted_unfetched),
            ("evicted_active", items.evicted_active),
        ];
        for (name, value) in fields {
            sink.stat(&format!("items:{id}:{name}"), &value);
        }
    }
}
