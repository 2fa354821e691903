//! A pool of byte buffers shared by all connections (the seed's per-subsystem arena): a connection
//! holds a buffer only while it has a partial request or unsent output, so idle connections cost no
//! buffer memory and busy ones reuse warm allocations.

/// Buffers that grew past this are freed instead of pooled, so one huge response cannot pin memory.
const MAX_POOLED_CAPACITY: usize = 64 << 10;
/// Initial capacity: enough for a typical request or a pipelined burst of small responses.
const INITIAL_CAPACITY: usize = 16 << 10;

#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
    max_pooled: usize,
}

impl BufferPool {
    pub(crate) fn new(max_pooled: usize) -> BufferPool {
        BufferPool {
            free: Vec::new(),
            max_pooled,
        }
    }

    /// An empty buffer with capacity.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(INITIAL_CAPACITY))
    }

    /// Returns a buffer; a capacity-less one (never taken) is ignored.
    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0
            || buf.capacity() > MAX_POOLED_CAPACITY
            || self.free.len() >= self.max_pooled
        {
            return;
        }
        buf.clear();
        self.free.push(buf);
    }

    #[cfg(test)]
    pub(crate) fn pooled(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_bounds() {
        let mut pool = BufferPool::new(1);
        let mut a = pool.take();
        a.extend_from_slice(b"abc");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert_eq!((b.as_ptr(), b.len()), (ptr, 0));
        pool.give(b);
        pool.give(Vec::with_capacity(8));
        assert_eq!(pool.pooled(), 1);
        pool.give(Vec::new());
        let mut pool = BufferPool::new(4);
        pool.give(Vec::with_capacity(MAX_POOLED_CAPACITY + 1));
        assert_eq!(pool.pooled(), 0);
    }
}
