//! The cache's hash seed, from the OS, so clients cannot choose keys that collide.

use std::fs::File;
use std::io::{self, Read};

pub(crate) fn hash_seed() -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(u64::from_ne_bytes(bytes))
}
