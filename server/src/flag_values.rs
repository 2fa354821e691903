//! memcached's flag values and its startup messages for bad ones. clap calls these parsers; `main`
//! prints a failing parser's message alone, so `keel -c 0` says what `memcached -c 0` says.
//! memcached reads numbers with `atoi` (text becomes 0); keel refuses text with the message
//! memcached gives for the 0 it would have read.

const MIN_ITEM_SIZE: u64 = 1 << 10;
const MAX_ITEM_SIZE: u64 = 1 << 30;
/// keel's ceiling for `-t` (memcached has none, and fails later for lack of descriptors).
pub(crate) const MAX_THREADS: usize = 256;

/// A number memcached would read with `atoi`; `None` for text or a value out of `i64`.
fn number(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// memcached's `-I`: plain bytes or a `k`/`m` suffix (binary units), between 1k and 1g.
pub(crate) fn item_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1u64 << 10),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1u64 << 20),
        _ => (text, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size (bytes, or a number with k or m)"))?;
    let bytes = n.saturating_mul(unit);
    if bytes < MIN_ITEM_SIZE {
        return Err("Item max size cannot be less than 1024 bytes.".to_owned());
    }
    if bytes > MAX_ITEM_SIZE {
        return Err("Cannot set item size limit higher than a gigabyte.".to_owned());
    }
    usize::try_from(bytes).map_err(|_| format!("item size {text} does not fit this platform"))
}

/// keel's `--uring-buffers`: the size of a buffer ring, a power of two the kernel accepts.
pub(crate) fn uring_buffers(text: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(n) if n.is_power_of_two() && n <= 1 << 15 => Ok(n),
        _ => Err(format!(
            "--uring-buffers {text}: a power of two from 1 to 32768"
        )),
    }
}

/// memcached's `-c`.
pub(crate) fn conn_limit(text: &str) -> Result<u32, String> {
    match number(text) {
        Some(n) if n > 0 => {
            u32::try_from(n).map_err(|_| format!("Maximum connections {n} is too large"))
        }
        _ => Err("Maximum connections must be greater than 0".to_owned()),
    }
}

/// memcached's `-t`, capped at `MAX_THREADS`.
pub(crate) fn threads(text: &str) -> Result<usize, String> {
    match number(text) {
        Some(n) if n > 0 => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_THREADS)
            .ok_or_else(|| format!("Number of threads must be at most {MAX_THREADS}")),
        _ => Err("Number of threads must be greater than 0".to_owned()),
    }
}

/// memcached's `-R`.
pub(crate) fn reqs_per_event(text: &str) -> Result<usize, String> {
    match number(text) {
        Some(n) if n > 0 => {
            usize::try_from(n).map_err(|_| format!("Number of requests per event {n} is too large"))
        }
        _ => Err("Number of requests per event must be greater than 0".to_owned()),
    }
}

/// memcached's `-p` and `-U`.
pub(crate) fn port(text: &str) -> Result<u16, String> {
    match number(text) {
        Some(n) => u16::try_from(n).map_err(|_| format!("ERROR: Invalid port number {n}.")),
        None => Err(format!("ERROR: Invalid port number {text}.")),
    }
}

/// memcached's `-b`: any int, as `listen(2)` takes it (the kernel caps it at `somaxconn`).
pub(crate) fn backlog(text: &str) -> Result<i32, String> {
    number(text)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| format!("Invalid listen backlog {text}"))
}

/// memcached's `-a`: the Unix socket's permission bits in octal. memcached reads them with
/// `strtol(.., 8)`, so `999` silently becomes 0; keel refuses what is not octal up to 0777.
pub(crate) fn unix_mask(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|mask| *mask <= 0o777)
        .ok_or_else(|| format!("-a {text}: the access mask must be octal, 0 to 0777"))
}

/// memcached's `-f`: a growth factor above 1 (accepted; keel's size classes are fixed).
pub(crate) fn growth_factor(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(f) if f > 1.0 => Ok(f),
        _ => Err("Factor must be greater than 1".to_owned()),
    }
}

/// memcached's `-n`: a minimum chunk size above 0 (accepted; keel's size classes are fixed).
pub(crate) fn chunk_size(text: &str) -> Result<u32, String> {
    match number(text) {
        Some(n) if n > 0 => u32::try_from(n).map_err(|_| format!("Chunk size {n} is too large")),
        _ => Err("Chunk size must be greater than 0".to_owned()),
    }
}

/// memcached's `-N`: a NAPI id count above 0 (accepted; keel assigns no connections by NAPI id).
pub(crate) fn napi_ids(text: &str) -> Result<u32, String> {
    match number(text) {
        Some(n) if n > 0 => u32::try_from(n).map_err(|_| format!("NAPI ids {n} is too many")),
        _ => Err("Maximum number of NAPI IDs must be greater than 0".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uring_buffers_are_powers_of_two_up_to_32768() {
        assert_eq!(uring_buffers("1"), Ok(1));
        assert_eq!(uring_buffers("256"), Ok(256));
        assert_eq!(uring_buffers("32768"), Ok(32768));
        for bad in ["0", "3", "65536", "x", "-2"] {
            assert_eq!(
                uring_buffers(bad),
                Err(format!(
                    "--uring-buffers {bad}: a power of two from 1 to 32768"
                )),
            );
        }
    }

    #[test]
    fn item_sizes_take_bytes_and_suffixes() {
        assert_eq!(item_size("1m"), Ok(1 << 20));
        assert_eq!(item_size("512K"), Ok(512 << 10));
        assert_eq!(item_size("2097152"), Ok(2 << 20));
        assert_eq!(item_size("1k"), Ok(1024));
        assert_eq!(item_size("1024m"), Ok(1 << 30));
    }

    #[test]
    fn item_sizes_out_of_range_get_memcacheds_messages() {
        for small in ["1023", "0"] {
            assert_eq!(
                item_size(small),
                Err("Item max size cannot be less than 1024 bytes.".to_owned())
            );
        }
        for big in ["1025m", "9999999k"] {
            assert_eq!(
                item_size(big),
                Err("Cannot set item size limit higher than a gigabyte.".to_owned()),
                "{big}"
            );
        }
        for bad in ["", "m", "1g", "12x", "-1k", "99999999999999999999"] {
            assert!(item_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn counts_refuse_zero_and_text_as_memcached_does() {
        assert_eq!(conn_limit("4096"), Ok(4096));
        for bad in ["0", "-1", "abc", ""] {
            assert_eq!(
                conn_limit(bad),
                Err("Maximum connections must be greater than 0".to_owned())
            );
            assert_eq!(
                threads(bad),
                Err("Number of threads must be greater than 0".to_owned())
            );
            assert_eq!(
                reqs_per_event(bad),
                Err("Number of requests per event must be greater than 0".to_owned())
            );
        }
        assert_eq!(threads("256"), Ok(256));
        assert_eq!(
            threads("257"),
            Err("Number of threads must be at most 256".to_owned())
        );
        assert_eq!(reqs_per_event("20"), Ok(20));
    }

    #[test]
    fn ports_backlogs_and_slab_numbers() {
        assert_eq!(port("0"), Ok(0));
        assert_eq!(port("65535"), Ok(65535));
        assert_eq!(
            port("70000"),
            Err("ERROR: Invalid port number 70000.".to_owned())
        );
        assert!(port("x").is_err());
        assert_eq!(backlog("-1"), Ok(-1));
        assert_eq!(backlog("4096"), Ok(4096));
        assert!(backlog("many").is_err());
        assert_eq!(growth_factor("1.25"), Ok(1.25));
        assert_eq!(
            growth_factor("1"),
            Err("Factor must be greater than 1".to_owned())
        );
        assert_eq!(chunk_size("48"), Ok(48));
        assert!(chunk_size("0").is_err());
        assert_eq!(unix_mask("0700"), Ok(0o700));
        assert_eq!(unix_mask("755"), Ok(0o755));
        assert!(unix_mask("999").is_err());
        assert!(unix_mask("1777").is_err());
        assert_eq!(napi_ids("2"), Ok(2));
        assert!(napi_ids("0").is_err());
    }
}
