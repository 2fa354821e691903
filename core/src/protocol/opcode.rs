//! Opcodes: any byte may arrive on the wire, so an opcode is a byte with named constants rather
//! than a closed enum; unknown ones must still be echoed back in the error response.

use std::fmt;

/// A binary protocol opcode byte: the constants below name the ones memcached 1.6 defines.
/// Any other byte is still an `Opcode` (it is answered with `UnknownCommand`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    /// `GET`.
    pub const GET: Opcode = Opcode(0x00);
    /// `SET`.
    pub const SET: Opcode = Opcode(0x01);
    /// `ADD`.
    pub const ADD: Opcode = Opcode(0x02);
    /// `REPLACE`.
    pub const REPLACE: Opcode = Opcode(0x03);
    /// `DELETE`.
    pub const DELETE: Opcode = Opcode(0x04);
    /// `INCREMENT`.
    pub const INCREMENT: Opcode = Opcode(0x05);
    /// `DECREMENT`.
    pub const DECREMENT: Opcode = Opcode(0x06);
    /// `QUIT`.
    pub const QUIT: Opcode = Opcode(0x07);
    /// `FLUSH`.
    pub const FLUSH: Opcode = Opcode(0x08);
    /// `GETQ`: GET, a miss unanswered.
    pub const GETQ: Opcode = Opcode(0x09);
    /// `NOOP`.
    pub const NOOP: Opcode = Opcode(0x0a);
    /// `VERSION`.
    pub const VERSION: Opcode = Opcode(0x0b);
    /// `GETK`: GET echoing the key.
    pub const GETK: Opcode = Opcode(0x0c);
    /// `GETKQ`: GETK, a miss unanswered.
    pub const GETKQ: Opcode = Opcode(0x0d);
    /// `APPEND`.
    pub const APPEND: Opcode = Opcode(0x0e);
    /// `PREPEND`.
    pub const PREPEND: Opcode = Opcode(0x0f);
    /// `STAT`.
    pub const STAT: Opcode = Opcode(0x10);
    /// `SETQ`: quiet SET.
    pub const SETQ: Opcode = Opcode(0x11);
    /// `ADDQ`: quiet ADD.
    pub const ADDQ: Opcode = Opcode(0x12);
    /// `REPLACEQ`: quiet REPLACE.
    pub const REPLACEQ: Opcode = Opcode(0x13);
    /// `DELETEQ`: quiet DELETE.
    pub const DELETEQ: Opcode = Opcode(0x14);
    /// `INCREMENTQ`: quiet INCREMENT.
    pub const INCREMENTQ: Opcode = Opcode(0x15);
    /// `DECREMENTQ`: quiet DECREMENT.
    pub const DECREMENTQ: Opcode = Opcode(0x16);
    /// `QUITQ`: QUIT without an answer.
    pub const QUITQ: Opcode = Opcode(0x17);
    /// `FLUSHQ`: quiet FLUSH.
    pub const FLUSHQ: Opcode = Opcode(0x18);
    /// `APPENDQ`: quiet APPEND.
    pub const APPENDQ: Opcode = Opcode(0x19);
    /// `PREPENDQ`: quiet PREPEND.
    pub const PREPENDQ: Opcode = Opcode(0x1a);
    /// `VERBOSITY`.
    pub const VERBOSITY: Opcode = Opcode(0x1b);
    /// `TOUCH`.
    pub const TOUCH: Opcode = Opcode(0x1c);
    /// `GAT`: get and touch.
    pub const GAT: Opcode = Opcode(0x1d);
    /// `GATQ`: GAT, a miss unanswered.
    pub const GATQ: Opcode = Opcode(0x1e);
    /// `SASL_LIST_MECHS`.
    pub const SASL_LIST_MECHS: Opcode = Opcode(0x20);
    /// `SASL_AUTH`.
    pub const SASL_AUTH: Opcode = Opcode(0x21);
    /// `SASL_STEP`.
    pub const SASL_STEP: Opcode = Opcode(0x22);
    /// `GATK`: GAT echoing the key.
    pub const GATK: Opcode = Opcode(0x23);
    /// `GATKQ`: GATK, a miss unanswered.
    pub const GATKQ: Opcode = Opcode(0x24);

    /// Whether a connection may send it before SASL authentication (memcached's `authenticated()`).
    pub fn allowed_before_auth(self) -> bool {
        matches!(
            self,
            Opcode::SASL_LIST_MECHS | Opcode::SASL_AUTH | Opcode::SASL_STEP | Opcode::VERSION
        )
    }

    /// memcached's name for the opcode, for logs and debugging.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 0x25] = [
            "GET",
            "SET",
            "ADD",
            "REPLACE",
            "DELETE",
            "INCREMENT",
            "DECREMENT",
            "QUIT",
            "FLUSH",
            "GETQ",
            "NOOP",
            "VERSION",
            "GETK",
            "GETKQ",
            "APPEND",
            "PREPEND",
            "STAT",
            "SETQ",
            "ADDQ",
            "REPLACEQ",
            "DELETEQ",
            "INCREMENTQ",
            "DECREMENTQ",
            "QUITQ",
            "FLUSHQ",
            "APPENDQ",
            "PREPENDQ",
            "VERBOSITY",
            "TOUCH",
            "GAT",
            "GATQ",
            "",
            "SASL_LIST_MECHS",
            "SASL_AUTH",
            "SASL_STEP",
            "GATK",
            "GATKQ",
        ];
        NAMES
            .get(usize::from(self.0))
            .copied()
            .filter(|n| !n.is_empty())
    }
}

impl fmt::Debug for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "Opcode({:#04x})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_constants() {
        assert_eq!(Opcode::GATKQ.name(), Some("GATKQ"));
        assert_eq!(Opcode::SETQ.name(), Some("SETQ"));
        assert_eq!(Opcode(0x1f).name(), None);
        assert_eq!(format!("{:?}", Opcode(0x99)), "Opcode(0x99)");
        assert_eq!(format!("{:?}", Opcode::TOUCH), "TOUCH");
    }
}
