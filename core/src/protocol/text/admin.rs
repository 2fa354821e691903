//! The operator commands of the text protocol, parsed as memcached parses them: `shutdown`,
//! `cache_memlimit` and `lru_crawler metadump` (memcached's `proto_text.c`).

use super::numbers::parse_u32;
use super::tokens::Tokens;

/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES`: class ids are 1..64.
const CLASS_IDS: u32 = 64;

/// Every class id's bit, 1..=63.
pub const ALL_CLASSES: u64 = !1;

/// An operator command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminRequest {
    /// `shutdown [graceful]`; `None`: any other argument (`CLIENT_ERROR invalid shutdown mode`).
    Shutdown(Option<ShutdownKind>),
    /// `cache_memlimit <MB> [noreply]`; `megabytes` is `None` when it does not parse (`ERROR`).
    MemLimit {
        /// The new limit in megabytes.
        megabytes: Option<u32>,
        /// `noreply` was given.
        noreply: bool,
    },
    /// `lru_crawler metadump <all|hash|id[,id...]>`: one bit per class id; `None` for a bad
    /// class list (`BADCLASS invalid class id`).
    Metadump {
        /// One bit per class id to dump (`ALL_CLASSES` for `all` and `hash`).
        classes: Option<u64>,
    },
}

/// How `shutdown` stops the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownKind {
    /// `shutdown`: close everything now.
    Immediate,
    /// `shutdown graceful`: stop accepting and let connections finish.
    Graceful,
}

/// `shutdown`: no token count check, as in memcached.
pub fn shutdown(t: &Tokens<'_>) -> AdminRequest {
    AdminRequest::Shutdown(match (t.len(), t.get(1)) {
        (1, _) => Some(ShutdownKind::Immediate),
        (2, Some(b"graceful")) => Some(ShutdownKind::Graceful),
        _ => None,
    })
}

/// `cache_memlimit`: `None` when the token count is wrong (memcached answers `ERROR`).
pub fn memlimit(t: &Tokens<'_>, noreply: bool) -> Option<AdminRequest> {
    matches!(t.ntokens(), 3 | 4).then(|| AdminRequest::MemLimit {
        megabytes: parse_u32(t.at(1)),
        noreply,
    })
}

/// `lru_crawler`: only `metadump` with exactly one argument; `None` for anything else
/// (memcached answers `ERROR` to a wrong token count, and keel has no crawler to start).
pub fn lru_crawler(t: &Tokens<'_>) -> Option<AdminRequest> {
    if t.ntokens() != 4 || t.at(1) != b"metadump" {
        return None;
    }
    Some(AdminRequest::Metadump {
        classes: class_list(t.at(2)),
    })
}

/// memcached's `lru_crawler_crawl` class argument: `all`, `hash`, or ids joined by commas.
fn class_list(arg: &[u8]) -> Option<u64> {
    if arg == b"all" || arg == b"hash" {
        return Some(ALL_CLASSES);
    }
    arg.split(|&b| b == b',')
        .filter(|id| !id.is_empty())
        .try_fold(0u64, |mask, id| {
            let id = parse_u32(id).filter(|id| (1..CLASS_IDS).contains(id))?;
            Some(mask | 1 << id)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Option<AdminRequest> {
        let t = Tokens::split(line.as_bytes());
        match t.at(0) {
            b"shutdown" => Some(shutdown(&t)),
            b"cache_memlimit" => memlimit(&t, false),
            _ => lru_crawler(&t),
        }
    }

    #[test]
    fn memcached_token_rules() {
        use AdminRequest::*;
        assert_eq!(
            parse("shutdown"),
            Some(Shutdown(Some(ShutdownKind::Immediate)))
        );
        assert_eq!(
            parse("shutdown graceful"),
            Some(Shutdown(Some(ShutdownKind::Graceful)))
        );
        assert_eq!(parse("shutdown graceful x"), Some(Shutdown(None)));
        assert_eq!(parse("shutdown foo"), Some(Shutdown(None)));
        assert_eq!(parse("cache_memlimit"), None);
        assert_eq!(
            parse("cache_memlimit x"),
            Some(MemLimit {
                megabytes: None,
                noreply: false
            })
        );
        assert_eq!(
            parse("cache_memlimit 64"),
            Some(MemLimit {
                megabytes: Some(64),
                noreply: false
            })
        );
        assert_eq!(
            parse("lru_crawler metadump all"),
            Some(Metadump {
                classes: Some(ALL_CLASSES)
            })
        );
        assert_eq!(
            parse("lru_crawler metadump 1,3"),
            Some(Metadump {
                classes: Some(0b1010)
            })
        );
        for bad in ["0", "64", "-1", "x", "1,64"] {
            assert_eq!(
                parse(&format!("lru_crawler metadump {bad}")),
                Some(Metadump { classes: None }),
                "{bad}"
            );
        }
        assert_eq!(parse("lru_crawler metadump"), None);
        assert_eq!(parse("lru_crawler metadump 1 2"), None);
        assert_eq!(parse("lru_crawler crawl all"), None);
    }
}
