//! Response status codes and the error texts memcached sends with them.

/// A response status. Only the codes keel sends are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Status {
    /// The request succeeded.
    Success = 0x00,
    /// No live item has the key.
    KeyNotFound = 0x01,
    /// The item exists (add) or its CAS differs.
    KeyExists = 0x02,
    /// The value exceeds the item size limit.
    TooLarge = 0x03,
    /// The request's extras, key or value are malformed for its opcode.
    InvalidArguments = 0x04,
    /// The item was not stored (replace/append/prepend of a missing item).
    NotStored = 0x05,
    /// INCR/DECR of a value that is not a decimal number.
    DeltaBadValue = 0x06,
    /// SASL authentication failed, or a command came before it.
    AuthError = 0x20,
    /// SASL wants another step.
    AuthContinue = 0x21,
    /// The opcode is not one keel serves.
    UnknownCommand = 0x81,
    /// No memory could be freed for the item.
    OutOfMemory = 0x82,
}

impl Status {
    /// The status's code on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The body text memcached's `write_bin_error` sends. Never empty for errors: some clients
    /// (memcached's t/binary.t) treat an empty body as success before looking at the status.
    pub fn text(self) -> &'static str {
        match self {
            Status::Success => "",
            Status::KeyNotFound => "Not found",
            Status::KeyExists => "Data exists for key.",
            Status::TooLarge => "Too large.",
            Status::InvalidArguments => "Invalid arguments",
            Status::NotStored => "Not stored.",
            Status::DeltaBadValue => "Non-numeric server-side value for incr or decr",
            Status::AuthError => "Auth failure.",
            Status::AuthContinue => "",
            Status::UnknownCommand => "Unknown command",
            Status::OutOfMemory => "Out of memory",
        }
    }

    /// The status with this wire code; `None` for codes keel does not send.
    pub fn from_code(code: u16) -> Option<Status> {
        Some(match code {
            0x00 => Status::Success,
            0x01 => Status::KeyNotFound,
            0x02 => Status::KeyExists,
            0x03 => Status::TooLarge,
            0x04 => Status::InvalidArguments,
            0x05 => Status::NotStored,
            0x06 => Status::DeltaBadValue,
            0x20 => Status::AuthError,
            0x21 => Status::AuthContinue,
            0x81 => Status::UnknownCommand,
            0x82 => Status::OutOfMemory,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_errors_have_text() {
        for code in 0..=0xffu16 {
            if let Some(status) = Status::from_code(code) {
                assert_eq!(status.code(), code);
                let silent = matches!(status, Status::Success | Status::AuthContinue);
                assert_eq!(status.text().is_empty(), silent, "{status:?}");
            }
        }
        assert_eq!(Status::TooLarge.text(), "Too large.");
    }
}
