//! The driver's one module with `unsafe`: the io_uring instance and every piece of memory the
//! kernel reads or writes behind the compiler's back, plus the few raw descriptor calls.
//!
//! The rest of the driver sees a safe interface. What makes it safe is owned here:
//! - **Receive buffers** live in one allocation registered as a provided-buffer ring. A buffer
//!   is the kernel's while it sits in the ring; a completion lends it to the driver (`lent`),
//!   which reads it with `received` and gives it back with `recycle`, once.
//! - **Send buffers** are one per connection slot. `send` copies the bytes in and submits; the
//!   buffer is not touched again (not written, not freed, not grown) until `reap` has seen the
//!   send's completion.
//! - **The wake-up read** lands in 8 bytes owned here.
//! - **Teardown** (`quiesce`, `Drop`): the memory above outlives every operation the kernel
//!   still holds. Everything in flight is cancelled and waited for; memory whose operation never
//!   completes within the bound is leaked rather than freed.
//!
//! Every operation carries a `Token` (operation, slot, slot generation) as its `user_data`.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};

use crate::error::Unavailable;

/// Submission queue entries: one turn's submissions; a fuller turn submits early.
const SQ_ENTRIES: u32 = 2048;
/// Completion queue entries; the kernel keeps overflow beyond them (IORING_FEAT_NODROP).
const CQ_ENTRIES: u32 = 16384;
/// The provided-buffer group's id (one group per ring).
const BUFFER_GROUP: u16 = 0;
/// A send buffer larger than this is freed once its bytes are sent, so a connection that once
/// sent a large response does not keep its memory.
const SEND_RETAIN: usize = 64 << 10;
/// The slot in the tokens of operations that belong to no connection (the wake-up, teardown's
/// cancel); an accept's token carries its listener's index there instead.
pub(crate) const NO_SLOT: u32 = u32::MAX;
/// How long teardown waits for cancelled operations before leaking their memory.
const QUIESCE_BOUND: Duration = Duration::from_secs(1);

/// Which operation a completion answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Accept = 1,
    Wake = 2,
    Recv = 3,
    Send = 4,
    Cancel = 5,
    Hangup = 6,
}

/// What an operation's `user_data` says: the operation, the connection slot, and the slot's
/// generation (24 bits), so that a completion for a slot's previous occupant is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) op: Op,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl Token {
    pub(crate) fn new(op: Op, slot: u32, generation: u32) -> Token {
        Token {
            op,
            slot,
            generation: generation & 0xff_ffff,
        }
    }

    fn encode(self) -> u64 {
        self.op as u64 | u64::from(self.slot) << 8 | u64::from(self.generation) << 40
    }

    fn decode(data: u64) -> Option<Token> {
        let op = match data & 0xff {
            1 => Op::Accept,
            2 => Op::Wake,
            3 => Op::Recv,
            4 => Op::Send,
            5 => Op::Cancel,
            6 => Op::Hangup,
            _ => return None,
        };
        Some(Token {
            op,
            slot: (data >> 8) as u32,
            generation: (data >> 40) as u32,
        })
    }
}

/// One completion, decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Completion {
    pub(crate) token: Token,
    /// The operation's result: bytes, a descriptor, or `-errno`.
    pub(crate) result: i32,
    /// More completions follow for this (multishot) operation.
    pub(crate) more: bool,
    /// A provided buffer lent with a receive: give it back with `recycle`.
    pub(crate) buffer: Option<u16>,
}

/// Memory the kernel reads or writes behind the compiler's back: a raw, zeroed allocation that
/// is never behind a Rust reference as a whole (only the parts the driver owns at the moment are
/// borrowed), freed on drop unless leaked.
struct KernelMemory {
    ptr: NonNull<u8>,
    layout: Layout,
    /// The kernel may still use it: never free it.
    leaked: bool,
}

// SAFETY: the allocation is owned by this value alone (like a `Box`); moving the owner to another
// thread moves the only access to it. The kernel's access is tied to the ring, which moves with it.
unsafe impl Send for KernelMemory {}

impl KernelMemory {
    fn new(size: usize, align: usize) -> io::Result<KernelMemory> {
        let layout = Layout::from_size_align(size.max(1), align)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size and a valid power-of-two alignment.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or(io::ErrorKind::OutOfMemory)?;
        Ok(KernelMemory {
            ptr,
            layout,
            leaked: false,
        })
    }

    fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for KernelMemory {
    fn drop(&mut self) {
        if !self.leaked {
            // SAFETY: allocated in `new` with this layout; `Ring::drop` marks the memory leaked
            // unless no operation can use it any more.
            unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
        }
    }
}

/// How many receive buffers, and how large.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufferSpec {
    /// A power of two, at most 32768.
    pub(crate) count: u16,
    pub(crate) size: usize,
}

/// The provided-buffer ring: `count` entries (16 bytes each, page aligned; the tail lives in the
/// first entry's reserved field) over one allocation of `count * size` bytes.
struct BufRing {
    entries: KernelMemory,
    memory: KernelMemory,
    spec: BufferSpec,
    /// Entries published so far (wrapping), the value in the shared tail.
    tail: u16,
    /// Buffers lent to the driver by a completion and not yet recycled.
    lent: Vec<bool>,
}

impl BufRing {
    fn new(spec: BufferSpec) -> io::Result<BufRing> {
        let count = usize::from(spec.count);
        assert!(count.is_power_of_two() && count <= 32768, "{count} buffers");
        let mut ring = BufRing {
            entries: KernelMemory::new(count * 16, 4096)?,
            // An alignment the allocator's calloc path serves: untouched buffers stay unmapped
            // zero pages instead of counting in RSS.
            memory: KernelMemory::new(count * spec.size, 16)?,
            spec,
            tail: 0,
            lent: vec![true; count],
        };
        for bid in 0..spec.count {
            ring.recycle(bid);
        }
        Ok(ring)
    }

    fn entries(&self) -> *mut io_uring::types::BufRingEntry {
        self.entries.ptr().cast()
    }

    /// Puts buffer `bid` back at the tail and publishes it to the kernel.
    fn recycle(&mut self, bid: u16) {
        let lent = &mut self.lent[usize::from(bid)];
        assert!(*lent, "buffer {bid} recycled twice");
        *lent = false;
        let mask = self.spec.count - 1;
        let index = usize::from(self.tail & mask);
        let addr = self.memory.ptr() as u64 + (usize::from(bid) * self.spec.size) as u64;
        // The entry at the tail is not one the kernel may read: the kernel reads entries only
        // between its head and the published tail, and at most `count` buffers are ever published,
        // all distinct (each lent one comes back once). The setters write addr, len and bid only,
        // never the reserved field that is the tail in entry 0.
        // SAFETY: `index` < count, inside the entries allocation, at an entry only we touch (above).
        unsafe {
            let entry = &mut *self.entries().add(index);
            entry.set_addr(addr);
            entry.set_len(self.spec.size as u32);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field is inside the first entry of the live allocation, 2-aligned;
        // the kernel only reads it, so an atomic release store (which orders the entry writes
        // above before it) is the protocol the ABI defines.
        unsafe {
            let tail = io_uring::types::BufRingEntry::tail(self.entries()) as *mut u16;
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    fn received(&self, bid: u16, len: usize) -> &[u8] {
        assert!(self.lent[usize::from(bid)], "buffer {bid} is the kernel's");
        let start = usize::from(bid) * self.spec.size;
        // SAFETY: the range is buffer `bid`, inside the allocation; a lent buffer is out of the
        // ring, so the kernel does not write it until `recycle`, which takes `&mut self` and so
        // cannot run while the returned borrow lives. Only this range is borrowed: the kernel may
        // write the other buffers meanwhile.
        unsafe { std::slice::from_raw_parts(self.memory.ptr().add(start), len.min(self.spec.size)) }
    }

    /// The kernel may still use the ring: its memory is never freed.
    fn leak(&mut self) {
        self.entries.leaked = true;
        self.memory.leaked = true;
    }
}

/// A connection slot's send buffer: bytes copied from the core, `sent` of them completed.
#[derive(Default)]
struct SendBuf {
    data: Vec<u8>,
    sent: usize,
    in_flight: bool,
}

/// The io_uring instance with the memory its operations use.
pub(crate) struct Ring {
    uring: IoUring,
    bufs: BufRing,
    sends: Vec<SendBuf>,
    /// The wake-up read's 8 bytes.
    wake: KernelMemory,
    wake_in_flight: bool,
    /// Operations submitted (or queued) whose last completion has not been reaped.
    in_flight: usize,
    enabled: bool,
}

impl Ring {
    /// Creates the ring (disabled until `enable`, so the thread that runs it becomes its only
    /// submitter) and registers the receive buffers.
    pub(crate) fn new(spec: BufferSpec) -> Result<Ring, Unavailable> {
        let uring = build(true).or_else(|e| match e.raw_os_error() {
            // Before 6.1: no deferred task running; a plain ring works the same, only slower.
            Some(libc::EINVAL) => build(false),
            _ => Err(e),
        });
        let uring = uring.map_err(Unavailable::setup)?;
        if !uring.params().is_feature_ext_arg() {
            return Err(Unavailable::Missing {
                feature: "waiting with a timeout (IORING_FEAT_EXT_ARG)",
                since: "5.11",
            });
        }
        let bufs = BufRing::new(spec).map_err(Unavailable::Setup)?;
        // SAFETY: the entries allocation is page aligned, `count` entries long, and lives as long
        // as the ring: `Ring` owns both and drops the buffer ring after the io_uring (field
        // order), or leaks it.
        let registered = unsafe {
            uring.submitter().register_buf_ring_with_flags(
                bufs.entries() as u64,
                spec.count,
                BUFFER_GROUP,
                0,
            )
        };
        registered.map_err(|e| match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOSYS) => Unavailable::Missing {
                feature: "provided buffer rings",
                since: "5.19",
            },
            _ => Unavailable::Setup(e),
        })?;
        Ok(Ring {
            uring,
            bufs,
            sends: Vec::new(),
            wake: KernelMemory::new(8, 8).map_err(Unavailable::Setup)?,
            wake_in_flight: false,
            in_flight: 0,
            enabled: false,
        })
    }

    /// Makes the calling thread the ring's submitter; call from the thread that runs the loop.
    pub(crate) fn enable(&mut self) -> io::Result<()> {
        if !self.enabled {
            self.uring.submitter().register_enable_rings()?;
            self.enabled = true;
        }
        Ok(())
    }

    /// Queues an entry, submitting early when the submission queue is full.
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: every entry built in this module points only at memory this `Ring` owns and
        // keeps in place until the entry's completion is reaped (see the module doc), or at none.
        if unsafe { self.uring.submission().push(&entry) }.is_err() {
            self.uring.submit()?;
            // SAFETY: the same entry, under the same invariant as the push above.
            unsafe { self.uring.submission().push(&entry) }
                .map_err(|_| io::Error::other("submission queue full after submit"))?;
        }
        self.in_flight += 1;
        Ok(())
    }

    /// A multishot accept on a listening socket; `token` names the listener.
    pub(crate) fn accept(&mut self, token: Token, listener: RawFd) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(token.encode());
        self.push(entry)
    }

    /// Reads the wake-up eventfd's counter (completes when someone writes it).
    pub(crate) fn read_wake(&mut self, eventfd: RawFd) -> io::Result<()> {
        if self.wake_in_flight {
            return Ok(());
        }
        let entry = opcode::Read::new(Fd(eventfd), self.wake.ptr(), 8)
            .build()
            .user_data(Token::new(Op::Wake, NO_SLOT, 0).encode());
        self.push(entry)?;
        self.wake_in_flight = true;
        Ok(())
    }

    /// A receive into the provided buffers: multishot, or one completion only.
    pub(crate) fn recv(&mut self, token: Token, fd: RawFd, multishot: bool) -> io::Result<()> {
        let entry = if multishot {
            opcode::RecvMulti::new(Fd(fd), BUFFER_GROUP).build()
        } else {
            opcode::Recv::new(Fd(fd), std::ptr::null_mut(), self.bufs.spec.size as u32)
                .buf_group(BUFFER_GROUP)
                .build()
                .flags(squeue::Flags::BUFFER_SELECT)
        };
        self.push(entry.user_data(token.encode()))
    }

    /// Waits (once) for an error or a hang-up on `fd`: a peer's reset.
    pub(crate) fn poll_hangup(&mut self, token: Token, fd: RawFd) -> io::Result<()> {
        let mask = (libc::POLLERR | libc::POLLHUP) as u32;
        let entry = opcode::PollAdd::new(Fd(fd), mask)
            .build()
            .user_data(token.encode());
        self.push(entry)
    }

    /// Whether slot `slot` has a send the kernel still holds.
    pub(crate) fn sending(&self, slot: u32) -> bool {
        self.sends.get(slot as usize).is_some_and(|s| s.in_flight)
    }

    /// Bytes of slot `slot`'s send buffer not yet sent.
    pub(crate) fn unsent(&self, slot: u32) -> usize {
        self.sends
            .get(slot as usize)
            .map_or(0, |s| s.data.len() - s.sent)
    }

    /// Copies `bytes` into the slot's send buffer and submits them; the slot must have nothing
    /// unsent (`unsent == 0`) and no send in flight.
    pub(crate) fn send(&mut self, token: Token, fd: RawFd, bytes: &[u8]) -> io::Result<()> {
        self.send_with(token, fd, |data| data.extend_from_slice(bytes))
    }

    /// Lets `fill` write into the slot's (emptied) send buffer and submits what it wrote, if
    /// anything; the same conditions as `send`. The buffer is the driver's to write only here,
    /// before the submission.
    pub(crate) fn send_with(
        &mut self,
        token: Token,
        fd: RawFd,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> io::Result<()> {
        let slot = token.slot as usize;
        if self.sends.len() <= slot {
            self.sends.resize_with(slot + 1, SendBuf::default);
        }
        let buf = &mut self.sends[slot];
        assert!(
            !buf.in_flight && buf.sent == buf.data.len(),
            "slot {slot} busy"
        );
        buf.data.clear();
        buf.sent = 0;
        fill(&mut buf.data);
        self.send_rest(token, fd)
    }

    /// Submits what is left of the slot's send buffer (after a short send).
    pub(crate) fn send_rest(&mut self, token: Token, fd: RawFd) -> io::Result<()> {
        let slot = token.slot as usize;
        let Some(buf) = self.sends.get(slot) else {
            return Ok(());
        };
        assert!(!buf.in_flight, "slot {slot} already sending");
        let rest = &buf.data[buf.sent..];
        if rest.is_empty() {
            return Ok(());
        }
        let len = rest.len().min(u32::MAX as usize) as u32;
        let entry = opcode::Send::new(Fd(fd), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(token.encode());
        self.push(entry)?;
        self.sends[slot].in_flight = true;
        Ok(())
    }

    /// Forgets the slot's unsent bytes (its connection is gone); no send may be in flight.
    pub(crate) fn discard_send(&mut self, slot: u32) {
        if let Some(buf) = self.sends.get_mut(slot as usize) {
            assert!(!buf.in_flight, "slot {slot} still sending");
            buf.data = Vec::new();
            buf.sent = 0;
        }
    }

    /// Cancels the one operation `target` names.
    pub(crate) fn cancel(&mut self, target: Token) -> io::Result<()> {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::user_data(target.encode()))
            .build()
            .user_data(Token::new(Op::Cancel, target.slot, target.generation).encode());
        self.push(entry)
    }

    /// Cancels every operation on `fd` (a closing connection's receive and send).
    pub(crate) fn cancel_fd(&mut self, token: Token, fd: RawFd) -> io::Result<()> {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::fd(Fd(fd)).all())
            .build()
            .user_data(token.encode());
        self.push(entry)
    }

    /// Submits what is queued and waits for a completion at most `timeout` (`None`: until one
    /// arrives). One `io_uring_enter`; a timeout or a signal is not an error.
    pub(crate) fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let submitter = self.uring.submitter();
        let result = match timeout {
            Some(wait) => {
                let ts = Timespec::from(wait);
                submitter.submit_with_args(1, &SubmitArgs::new().timespec(&ts))
            }
            None => submitter.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every available completion into `into`, settling this module's bookkeeping: a
    /// finished send frees its buffer for the next, a receive's buffer becomes lent.
    pub(crate) fn reap(&mut self, into: &mut Vec<Completion>) {
        for cqe in self.uring.completion() {
            let Some(token) = Token::decode(cqe.user_data()) else {
                continue;
            };
            let more = cqueue::more(cqe.flags());
            if !more {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            let buffer = cqueue::buffer_select(cqe.flags());
            if let Some(bid) = buffer {
                if let Some(lent) = self.bufs.lent.get_mut(usize::from(bid)) {
                    *lent = true;
                }
            }
            match token.op {
                Op::Send => {
                    if let Some(buf) = self.sends.get_mut(token.slot as usize) {
                        buf.in_flight = false;
                        if cqe.result() > 0 {
                            buf.sent = (buf.sent + cqe.result() as usize).min(buf.data.len());
                        }
                        if buf.sent == buf.data.len() && buf.data.capacity() > SEND_RETAIN {
                            buf.data = Vec::new();
                            buf.sent = 0;
                        }
                    }
                }
                Op::Wake => self.wake_in_flight = false,
                _ => {}
            }
            into.push(Completion {
                token,
                result: cqe.result(),
                more,
                buffer,
            });
        }
    }

    /// The bytes a receive completion put in buffer `bid`.
    pub(crate) fn received(&self, bid: u16, len: usize) -> &[u8] {
        self.bufs.received(bid, len)
    }

    /// Gives a lent receive buffer back to the kernel.
    pub(crate) fn recycle(&mut self, bid: u16) {
        self.bufs.recycle(bid);
    }

    /// Cancels everything in flight and waits (bounded) for the completions; true when nothing
    /// is left in flight. Completions reaped here are dropped, buffers recycled.
    pub(crate) fn quiesce(&mut self) -> bool {
        if !self.enabled || self.in_flight == 0 {
            return true;
        }
        let any = opcode::AsyncCancel2::new(CancelBuilder::any())
            .build()
            .user_data(Token::new(Op::Cancel, NO_SLOT, 0).encode());
        if self.push(any).is_err() {
            return false;
        }
        let deadline = Instant::now() + QUIESCE_BOUND;
        let mut done = Vec::new();
        while self.in_flight > 0 {
            let now = Instant::now();
            if now >= deadline || self.submit_and_wait(Some(deadline - now)).is_err() {
                break;
            }
            done.clear();
            self.reap(&mut done);
            for c in &done {
                if let Some(bid) = c.buffer {
                    self.recycle(bid);
                }
            }
        }
        self.in_flight == 0
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if !self.quiesce() {
            tracing::warn!(
                operations = self.in_flight,
                "io_uring operations outlived shutdown; their buffers are leaked"
            );
            // The kernel may still read or write these: never free them.
            std::mem::forget(std::mem::take(&mut self.sends));
            self.wake.leaked = true;
            self.bufs.leak();
        }
    }
}

fn build(defer_taskrun: bool) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder.setup_cqsize(CQ_ENTRIES).setup_r_disabled();
    if defer_taskrun {
        // Completions are processed only inside this thread's own `io_uring_enter` (6.1+).
        builder.setup_single_issuer().setup_defer_taskrun();
    } else {
        builder.setup_coop_taskrun();
    }
    builder.build(SQ_ENTRIES)
}

/// Whether io_uring can be set up here at all (a small ring, created and dropped).
pub(crate) fn probe() -> Result<(), Unavailable> {
    Ring::new(BufferSpec { count: 1, size: 64 }).map(drop)
}

/// The descriptor an accept completion returned, owned from here on.
pub(crate) fn accepted(fd: i32) -> OwnedFd {
    // SAFETY: a successful accept completion's result is a new descriptor the kernel created
    // for this process and nothing else refers to; it is owned from here on.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A blocking eventfd (io_uring waits on it with a read; a nonblocking one would fail the read).
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_user_data() {
        for token in [
            Token::new(Op::Accept, NO_SLOT, 0),
            Token::new(Op::Recv, 0, 1),
            Token::new(Op::Send, 12345, 0xff_ffff),
            Token::new(Op::Cancel, u32::MAX - 1, 0x1_000_001),
            Token::new(Op::Hangup, 7, 3),
        ] {
            assert_eq!(Token::decode(token.encode()), Some(token));
        }
        // The generation keeps 24 bits.
        assert_eq!(Token::new(Op::Wake, 1, 0x1_000_001).generation, 1);
        assert_eq!(Token::decode(0), None);
    }

    #[test]
    fn received_buffers_go_back_once() {
        let mut ring = BufRing::new(BufferSpec { count: 4, size: 16 }).unwrap();
        assert!(ring.lent.iter().all(|&l| !l));
        ring.lent[2] = true;
        assert_eq!(ring.received(2, 100).len(), 16);
        ring.recycle(2);
        assert!(
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ring.recycle(2))).is_err()
        );
    }
}
