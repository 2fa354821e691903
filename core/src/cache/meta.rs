//! The meta protocol's commands on the cache: lookups that report an item's whole state, create
//! on miss, hand out recache tokens, and invalidate instead of deleting.

use super::{Cache, CounterArgs, absolute_exptime};
use crate::protocol::Status;
use crate::service::{ItemView, Outcome};
use crate::store::{ItemId, Store};

impl Cache {
    /// The item as the meta protocol reports it; `before` holds the state read before this
    /// request touched it (fetched, last access, token).
    fn view(&self, id: ItemId, before: Before, won: bool, now_secs: u32) -> ItemView<'_> {
        let item = self.store.item(id);
        ItemView {
            value: item.value,
            flags: item.flags,
            cas: self.shown_cas(item.cas),
            exptime: item.exptime,
            idle_secs: now_secs.saturating_sub(before.last_access),
            fetched: before.fetched,
            stale: item.stale,
            token_sent: before.token_sent,
            won,
            binary_key: item.binary_key,
            size: Store::item_size(item.key.len(), item.value.len(), item.flags),
        }
    }

    fn before(&self, id: ItemId) -> Before {
        let item = self.store.item(id);
        Before {
            fetched: item.fetched,
            last_access: item.last_access,
            token_sent: item.token_sent,
        }
    }

    pub(super) fn meta_get(
        &mut self,
        key: &[u8],
        ttl: Option<u32>,
        vivify: Option<u32>,
        recache: Option<u32>,
        no_update: bool,
        now_secs: u32,
    ) -> Outcome<'_> {
        if ttl.is_some() {
            self.stats.cmd_touch += 1;
        } else {
            self.stats.cmd_get += 1;
        }
        let found = self.store.peek(key, now_secs);
        // memcached counts a miss that creates the item (vivify) as a hit.
        let hit = found.is_ok() || vivify.is_some();
        match (ttl.is_some(), hit) {
            (true, true) => self.stats.touch_hits += 1,
            (true, false) => self.stats.touch_misses += 1,
            (false, true) => self.stats.get_hits += 1,
            (false, false) => self.stats.get_misses += 1,
        }
        let (id, before, mut won) = match found {
            Ok(id) => {
                let class = self.item_cmds(id);
                if ttl.is_some() {
                    class.touch_hits += 1;
                } else {
                    class.get_hits += 1;
                }
                (id, self.before(id), false)
            }
            Err(_) => {
                let Some(vivify) = vivify else {
                    return Outcome::Failed(Status::KeyNotFound);
                };
                // Create an empty placeholder and hand its creator the recache token.
                let meta = self.new_meta(0, absolute_exptime(vivify, now_secs), None);
                match self.insert(key, meta, Some(&[]), now_secs) {
                    Ok(id) => (id, self.before(id), true),
                    Err(status) => return Outcome::Failed(status),
                }
            }
        };
        if let Some(ttl) = ttl {
            self.store.set_exptime(id, absolute_exptime(ttl, now_secs));
        }
        let item = self.store.item(id);
        if let Some(recache) = recache {
            let below = item.exptime != 0 && item.exptime < absolute_exptime(recache, now_secs);
            won |= !before.token_sent && below;
        }
        won |= item.stale && !before.token_sent;
        if won {
            self.store.set_token_sent(id, true);
        }
        if !no_update {
            self.store.record_read(id, now_secs);
        }
        Outcome::Item(self.view(id, before, won, now_secs))
    }

    /// `me`: the item as it is; nothing about it changes and nothing is counted.
    pub(super) fn meta_debug(&mut self, key: &[u8], now_secs: u32) -> Outcome<'_> {
        match self.store.peek(key, now_secs) {
            Ok(id) => {
                let before = self.before(id);
                Outcome::Item(self.view(id, before, false, now_secs))
            }
            Err(_) => Outcome::Failed(Status::KeyNotFound),
        }
    }

    pub(super) fn meta_delete(
        &mut self,
        key: &[u8],
        compare_cas: Option<u64>,
        invalidate: bool,
        ttl: Option<u32>,
        now_secs: u32,
    ) -> Outcome<'_> {
        let Ok(id) = self.store.peek(key, now_secs) else {
            self.stats.delete_misses += 1;
            return Outcome::Failed(Status::KeyNotFound);
        };
        if compare_cas.is_some_and(|cas| cas != self.shown_cas(self.store.item(id).cas)) {
            self.stats.delete_misses += 1;
            return Outcome::Failed(Status::KeyExists);
        }
        if invalidate {
            // Served on as stale under a new CAS, so the next client can win the recache token.
            if let Some(ttl) = ttl {
                self.store.set_exptime(id, absolute_exptime(ttl, now_secs));
            }
            self.store.set_stale(id, true);
            self.store.set_token_sent(id, false);
            let cas = self.take_cas();
            self.store.set_cas(id, cas);
        } else {
            self.stats.delete_hits += 1;
            self.item_cmds(id).delete_hits += 1;
            self.store.remove(id);
        }
        Outcome::Done { cas: 0 }
    }

    pub(super) fn meta_arithmetic(
        &mut self,
        key: &[u8],
        args: CounterArgs,
        ttl: Option<u32>,
        now_secs: u32,
    ) -> Outcome<'_> {
        let id = match self.counter(key, args, now_secs) {
            Ok((_, id)) => id,
            Err(status) => return Outcome::Failed(status),
        };
        if let Some(ttl) = ttl {
            self.store.set_exptime(id, absolute_exptime(ttl, now_secs));
        }
        let before = self.before(id);
        Outcome::Item(self.view(id, before, false, now_secs))
    }
}

/// An item's state before a request changed it.
#[derive(Clone, Copy, Debug)]
struct Before {
    fetched: bool,
    last_access: u32,
    token_sent: bool,
}
