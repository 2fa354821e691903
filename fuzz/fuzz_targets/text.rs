//! `cargo fuzz run text`: see `keel_fuzz::text` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel_fuzz::text(data));
