//! Allocation audit: a counting global allocator shows that, once warm, a GET hit, a GET miss and a
//! same-size-class SET of an existing key, each run through `Server::handle_input`, draining
//! `poll_output` and `consume_outbound`, allocate nothing at all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use keel_core::{Cache, CacheConfig, Config, ConnId, Output, Server, Timestamp};

/// Wraps the system allocator and counts allocations made by the current thread, so tests running
/// in parallel do not disturb each other's counts.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with` so an allocation during thread teardown is not a panic.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// One request's wire form, built before counting starts.
fn request(opcode: u8, extras: &[u8], key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = (extras.len() + key.len() + value.len()) as u32;
    let mut b = vec![0x80, opcode];
    b.extend_from_slice(&(key.len() as u16).to_be_bytes());
    b.push(extras.len() as u8);
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&body.to_be_bytes());
    b.extend_from_slice(&[0; 12]);
    b.extend_from_slice(extras);
    b.extend_from_slice(key);
    b.extend_from_slice(value);
    b
}

/// What a driver does for one read: feed, then drain and write everything. Returns bytes written.
fn turn(server: &mut Server<Cache>, id: ConnId, now: Timestamp, bytes: &[u8]) -> usize {
    server.handle_input(id, now, bytes);
    let mut written = 0;
    while let Some(out) = server.poll_output() {
        match out {
            Output::Transmit(t) => {
                let n = server.outbound(t).len();
                written += n;
                server.consume_outbound(t, n, now);
            }
            Output::Close(..) => panic!("unexpected close"),
        }
    }
    written
}

/// Allocations made by `rounds` repetitions of one turn, after `warm` unmeasured ones.
fn measure(
    server: &mut Server<Cache>,
    id: ConnId,
    now: Timestamp,
    bytes: &[u8],
    expect_written: usize,
) -> u64 {
    for _ in 0..10 {
        assert_eq!(turn(server, id, now, bytes), expect_written);
    }
    let before = allocations();
    for _ in 0..100 {
        let written = turn(server, id, now, bytes);
        assert_eq!(written, expect_written);
    }
    allocations() - before
}

fn server() -> (Server<Cache>, ConnId, Timestamp) {
    let now = Timestamp::from_secs(1_700_000_000);
    let mut server = Server::new(Config::default(), Cache::new(CacheConfig::default()), now);
    let id = server.accept(now).unwrap();
    (server, id, now)
}

const SET: u8 = 0x01;
const GET: u8 = 0x00;

#[test]
fn warm_get_hit_allocates_nothing() {
    let (mut server, id, now) = server();
    let set = request(SET, &[0, 0, 0, 7, 0, 0, 0, 0], b"hot-key", &[b'v'; 100]);
    assert_eq!(turn(&mut server, id, now, &set), 24);
    let get = request(GET, &[], b"hot-key", &[]);
    assert_eq!(measure(&mut server, id, now, &get, 24 + 4 + 100), 0);
}

#[test]
fn warm_get_miss_allocates_nothing() {
    let (mut server, id, now) = server();
    let get = request(GET, &[], b"no-such-key", &[]);
    assert_eq!(measure(&mut server, id, now, &get, 24 + 9), 0);
}

#[test]
fn set_of_existing_key_same_size_class_allocates_nothing() {
    let (mut server, id, now) = server();
    let set = request(SET, &[0, 0, 0, 0, 0, 0, 0, 0], b"key", &[b'a'; 500]);
    assert_eq!(measure(&mut server, id, now, &set, 24), 0);
    // A slightly different size in the same class reuses the chunk too.
    let set2 = request(SET, &[0, 0, 0, 0, 0, 0, 0, 0], b"key", &[b'b'; 499]);
    assert_eq!(measure(&mut server, id, now, &set2, 24), 0);
}

#[test]
fn pipelined_burst_allocates_nothing_once_warm() {
    let (mut server, id, now) = server();
    let mut burst = request(SET, &[0; 8], b"k1", b"value-1");
    for _ in 0..20 {
        burst.extend(request(GET, &[], b"k1", &[]));
        burst.extend(request(GET, &[], b"missing", &[]));
    }
    burst.extend(request(0x0a, &[], &[], &[]));
    let expected = 24 + 20 * ((24 + 4 + 7) + (24 + 9)) + 24;
    assert_eq!(measure(&mut server, id, now, &burst, expected), 0);
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
    assert_eq!(allocations() - before, 1);
    drop(v);
}
