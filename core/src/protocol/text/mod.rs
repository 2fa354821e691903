//! memcached's text protocol: classic commands and meta commands, parsed from a command line
//! as pure functions. Executing them is the dispatcher's job.

mod admin;
pub mod base64;
mod meta;
mod numbers;
mod request;
mod tokens;

pub use admin::{ALL_CLASSES, AdminRequest, ShutdownKind};
pub use meta::{MAX_OPAQUE_LEN, MetaFlags, parse_flags};
pub use numbers::{parse_i32, parse_u32, parse_u64};
pub use request::{BAD_FORMAT, MetaKind, TextRequest, parse_line, text_exptime};
pub use tokens::{Tokens, words};

/// A line without "\n" within this many bytes closes the connection, unless it is a multi-get.
pub const MAX_LINE_LEN: usize = 2048;
