//! `cargo fuzz run frame`: see `keel_fuzz::frame` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::frame(data));
