//! The connection table: a slab of slots with generations, so ids are small dense indices that
//! never alias a later connection in the same slot.

use crate::conn::Connection;
use crate::id::ConnId;

#[derive(Debug)]
struct Slot {
    generation: u32,
    conn: Option<Connection>,
}

#[derive(Debug, Default)]
pub(crate) struct ConnSlab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

impl ConnSlab {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated so far, used or free: memcached's `connection_structures`.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnId, &Connection)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let generation = s.generation;
            s.conn
                .as_ref()
                .map(|c| (ConnId::new(i as u32, generation), c))
        })
    }

    pub(crate) fn insert(&mut self, conn: Connection) -> ConnId {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            slot.conn = Some(conn);
            return ConnId::new(index, slot.generation);
        }
        let index = self.slots.len() as u32;
        self.slots.push(Slot {
            generation: 0,
            conn: Some(conn),
        });
        ConnId::new(index, 0)
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Connection> {
        self.slots
            .get(id.index())
            .filter(|s| s.generation == id.generation())
            .and_then(|s| s.conn.as_ref())
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.slots
            .get_mut(id.index())
            .filter(|s| s.generation == id.generation())
            .and_then(|s| s.conn.as_mut())
    }

    /// Frees the slot; its next occupant gets a new generation.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Connection> {
        let slot = self
            .slots
            .get_mut(id.index())
            .filter(|s| s.generation == id.generation())?;
        let conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index() as u32);
        self.len -= 1;
        Some(conn)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (ConnId, &mut Connection)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| {
            let generation = s.generation;
            s.conn
                .as_mut()
                .map(|c| (ConnId::new(i as u32, generation), c))
        })
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(i, s)| ConnId::new(i as u32, s.generation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    #[test]
    fn stale_ids_do_not_reach_new_occupants() {
        let mut slab = ConnSlab::default();
        let a = slab.insert(Connection::new(Timestamp::ZERO, true));
        let b = slab.insert(Connection::new(Timestamp::ZERO, true));
        assert_eq!((a.index(), b.index()), (0, 1));
        assert!(slab.remove(a).is_some());
        assert!(slab.remove(a).is_none());
        let c = slab.insert(Connection::new(Timestamp::ZERO, true));
        assert_eq!((c.index(), c.generation()), (0, 1));
        assert!(slab.get(a).is_none());
        assert!(slab.get(c).is_some());
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.ids().collect::<Vec<_>>(), vec![c, b]);
    }
}
