//! `cargo fuzz run connection`: see `keel_fuzz::connection` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::connection(data));
