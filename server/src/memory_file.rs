//! `-e FILE` (memcached's `--memory-file`): the cache's slab pages live in FILE, mapped shared, so
//! that the next keel started with the same `-e` and the same layout (`-m`, `-I`, `-t`'s shard
//! count) finds every item again, after a graceful stop or a `kill -9` alike. Meant for tmpfs
//! (`/dev/shm`), as memcached says: on a disk file the kernel writes pages back at its leisure.
//!
//! This module is the only one that touches the file: it opens and sizes it, locks it against a
//! second keel, and maps it. What the bytes mean (header, page tags, items) and how a restart
//! rebuilds the cache from them is `keel_core::store::Region`'s.
//!
//! A file of the wrong size, a foreign or damaged header, or one made with other settings starts
//! the cache empty with one log line saying why (a warning when the file looks damaged).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use keel_core::store::{ColdStart, Layout, Region};

use crate::error::Error;

/// The open, locked file behind a region. The lock (flock, released when the file closes) is
/// held as long as this lives; the mapping
/// lives as long as the process (see `map`).
#[derive(Debug)]
pub(crate) struct MemoryFile {
    _file: File,
}

/// Opens (or creates) `path` for `layout`: the region to build the cache over, whether it was
/// reattached, and the guard holding the lock.
pub(crate) fn open(path: &Path, layout: Layout, seed: u64) -> Result<(Region, MemoryFile), Error> {
    let fail = |source: io::Error| Error::MemoryFile {
        path: path.to_owned(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    // SAFETY: flock(2) on a descriptor this function owns and keeps open; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Error::MemoryFileInUse(path.to_owned()),
            _ => fail(e),
        });
    }
    let expected = layout.region_len();
    let found = file.metadata().map_err(fail)?.len();
    if found != expected as u64 {
        let why = wrong_size(&file, found, expected, &layout);
        log_cold(path, &why);
        // Emptied first, so that every byte of the new size reads as zero: a new region.
        file.set_len(0).map_err(fail)?;
        file.set_len(expected as u64).map_err(fail)?;
    }
    let memory = map(&file, expected).map_err(fail)?;
    let (region, verdict) = Region::open(memory, layout, seed)
        .map_err(|e| fail(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    match verdict {
        Ok(()) => tracing::info!(
            "memory file {}: reattached, {} pages to restore",
            path.display(),
            region.restorable_pages()
        ),
        // A file just emptied above says so already.
        Err(ColdStart::New) if found != expected as u64 => {}
        Err(why) => log_cold(path, &Cold::Header(why)),
    }
    Ok((region, MemoryFile { _file: file }))
}

/// Why a file starts cold.
enum Cold {
    Header(ColdStart),
    Size { found: u64, expected: usize },
}

/// A file of the wrong size: its header tells a changed setting (expected) from damage.
fn wrong_size(file: &File, found: u64, expected: usize, layout: &Layout) -> Cold {
    if found == 0 {
        return Cold::Header(ColdStart::New);
    }
    let mut header = vec![0u8; Region::HEADER_LEN];
    let read = file.read_exact_at(&mut header, 0);
    match read.map(|()| Region::inspect(&header, layout)) {
        Ok(Err(changed @ ColdStart::Changed { .. })) => Cold::Header(changed),
        _ => Cold::Size { found, expected },
    }
}

fn log_cold(path: &Path, why: &Cold) {
    let path = path.display();
    match why {
        Cold::Header(ColdStart::New) => {
            tracing::info!("memory file {path}: new, the cache starts empty");
        }
        Cold::Header(why) if why.is_damage() => {
            tracing::warn!("memory file {path}: {why}; the cache starts empty");
        }
        Cold::Header(why) => tracing::info!("memory file {path}: {why}; the cache starts empty"),
        Cold::Size { found, expected } => tracing::warn!(
            "memory file {path} is {found} bytes, {expected} expected (truncated or damaged); \
             the cache starts empty"
        ),
    }
}

/// Maps `len` bytes of `file` shared, for the rest of the process.
fn map(file: &File, len: usize) -> io::Result<&'static mut [u8]> {
    // SAFETY: a fresh mapping at an address the kernel picks (null hint), of a file descriptor
    // that is open; the result is checked against MAP_FAILED before use.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // The mapping is never unmapped (closing the file does not unmap it), so the slice may live
    // for 'static. Other processes are kept off the file by the lock `open` takes; one that
    // ignores the lock and shrinks the file would make accesses fault (SIGBUS), as with any
    // shared mapping, memcached's included.
    // SAFETY: `len` readable, writable, page-aligned bytes at `ptr`, new and handed out once here.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) })
}
