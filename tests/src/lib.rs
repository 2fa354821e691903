//! keel-tests: end-to-end tests of the `keel` binary over loopback, run against every driver
//! (mio, poll and uring), with real third-party clients and memcached as the oracle.
//!
//! The library holds the shared helpers; the tests themselves are in `tests/`:
//! - [`client`]: an independent binary-protocol client (request builder, response reader);
//! - [`server`]: spawning keel or memcached, parsing the ready line, killing on drop;
//! - [`raw`]: raw sockets with bounded reads (what arrived and how the connection ended), the
//!   server's RSS from `/proc`, and a small PRNG;
//! - [`text`]: a text-protocol connection with bounded reads, a bounded tool runner, free ports;
//! - [`text_oracle`]: running a text stream on keel and memcached and normalising the replies;
//! - [`spawned`]: keel with a command line of the test's own (Unix sockets, several listeners,
//!   TLS), every endpoint of its ready line;
//! - [`tls`]: certificates made at test time with `openssl`, and a blocking rustls client;
//! - [`temp`]: scratch directories removed when a test ends.

pub mod client;
pub mod raw;
pub mod server;
pub mod spawned;
pub mod temp;
pub mod text;
pub mod text_oracle;
pub mod tls;

pub use client::{Client, End, Packet, Request, op, status};
pub use server::{Kind, Options, Server};

/// Declares one `#[test]` per server kind for a scenario `fn(Kind)`, in a module named after it.
///
/// `server_tests!(pipelining: mio, poll, memcached);` gives the tests `pipelining::mio`,
/// `pipelining::poll` and `pipelining::memcached`, each calling `pipelining(Kind::…)`.
#[macro_export]
macro_rules! server_tests {
    ($scenario:ident : $($kind:ident),+ $(,)?) => {
        mod $scenario {
            $( $crate::__server_test_one!($scenario, $kind); )+
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __server_test_one {
    ($scenario:ident, mio) => {
        #[test]
        fn mio() {
            super::$scenario($crate::Kind::KeelMio)
        }
    };
    ($scenario:ident, poll) => {
        #[test]
        fn poll() {
            super::$scenario($crate::Kind::KeelPoll)
        }
    };
    ($scenario:ident, uring) => {
        #[test]
        fn uring() {
            super::$scenario($crate::Kind::KeelUring)
        }
    };
    ($scenario:ident, memcached) => {
        #[test]
        fn memcached() {
            super::$scenario($crate::Kind::Memcached)
        }
    };
}

/// A value without trailing spaces. memcached rewrites a counter that lost digits in place, padded
/// with spaces, only when no other thread holds a reference to the item; otherwise it stores the
/// bare digits. Its own background threads make that a matter of timing, so the oracle tests
/// compare values up to that padding (keel always pads; `core/tests/opcodes.rs` and
/// `core/tests/text.rs` check its exact bytes).
pub fn trim_padding(value: &[u8]) -> &[u8] {
    let end = value.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &value[..end]
}
