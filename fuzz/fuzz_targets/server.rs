//! `cargo fuzz run server`: see `keel_fuzz::server` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::server(data));
