//! The memcached binary protocol: header layout, opcodes, status codes, request decoding and
//! response encoding. Everything here is a pure function of bytes.

mod command;
mod frame;
mod header;
mod opcode;
mod response;
mod status;
pub mod text;

pub use command::{Command, CounterMode, StoreMode};
pub use frame::{Decoded, Frame, FrameError, RequestShape, classify, decode, encode_request};
pub use header::{HEADER_LEN, Header, REQUEST_MAGIC, RESPONSE_MAGIC};
pub use opcode::Opcode;
pub use response::ResponseWriter;
pub use status::Status;

/// memcached's KEY_MAX_LENGTH.
pub const MAX_KEY_LEN: usize = 250;

/// The largest body a request may announce; larger ones are refused before any of it is read
/// (memcached 1.6.42 and later do the same).
pub const MAX_BODY_LEN: u32 = 1 << 30;
