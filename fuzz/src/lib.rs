//! Fuzz targets for keel-core, as plain functions of the fuzzer's input bytes.
//!
//! The `cargo fuzz` binaries in `fuzz_targets/` are one-line wrappers around these functions, and
//! `tests/replay.rs` runs every file of `corpus/<target>/` and `regressions/<target>/` through the
//! same functions on stable Rust, so the corpus and every crash found are regression tests.
//!
//! - [`frame`]: arbitrary bytes into `protocol::decode`;
//! - [`connection`]: one connection fed a request stream in arbitrary chunks and clock steps,
//!   compared with a server fed the same bytes in one piece;
//! - [`server`]: an arbitrary sequence of driver events across many connections with small limits;
//! - [`text`]: arbitrary bytes into the text protocol's `parse_line`, and into a text-only server
//!   fed in one piece and byte by byte.
//!
//! The stateful targets generate binary requests (`request`) and text commands (`text_request`).
//!
//! A target panics when an invariant fails; the fuzzer reports the panic as a crash.

pub mod connection;
pub mod frame;
pub mod request;
pub mod seeds;
pub mod server;
pub mod text;
pub mod text_request;
pub mod wire;

pub use connection::connection;
pub use frame::frame;
pub use server::server;
pub use text::text;

/// Whether `KEEL_FUZZ_TRACE` is set: the targets then print what they do to stderr, for
/// diagnosing a crash input (`KEEL_FUZZ_TRACE=1 cargo test --test replay`).
pub fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("KEEL_FUZZ_TRACE").is_some())
}

/// A target: a function of the fuzzer's input that panics when an invariant fails.
pub type Target = fn(&[u8]);

/// The targets, by the names of their `cargo fuzz` binaries and corpus directories.
pub const TARGETS: [(&str, Target); 4] = [
    ("frame", frame),
    ("connection", connection),
    ("server", server),
    ("text", text),
];

/// Runs the named target on one input.
pub fn run(target: &str, data: &[u8]) {
    let (_, f) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("unknown fuzz target {target}"));
    f(data);
}
