//! The binary protocol's side of dispatch: server-level commands and memcached's per-opcode
//! response rules (quiet commands, GETK keys, TOUCH extras, STAT packet streams).

use std::fmt::{Display, Write as _};

use super::{Dispatch, Flow};
use crate::auth;
use crate::group::Counter;
use crate::output::CloseReason;
use crate::protocol::{Command, Header, ResponseWriter, Status, StoreMode};
use crate::service::{ItemView, Outcome, Service, StatGroup, StatSink};

impl<S: Service> Dispatch<'_, S> {
    pub(crate) fn reject_too_large(
        &mut self,
        header: &Header,
        mode: StoreMode,
        key: &[u8],
        out: &mut Vec<u8>,
    ) -> Flow {
        let outcome = self.service.reject_too_large(mode, key, self.now);
        let command = Command::Store {
            mode,
            key,
            flags: 0,
            exptime: 0,
            cas: 0,
            value: &[],
            quiet: false,
        };
        encode(header, &command, outcome, out);
        Flow::Continue
    }

    pub(crate) fn run_binary(
        &mut self,
        header: &Header,
        command: &Command<'_>,
        out: &mut Vec<u8>,
    ) -> Flow {
        let mut w = ResponseWriter::new(out, header.opcode, header.opaque);
        match *command {
            Command::Noop => w.ok(0),
            Command::Version => w.packet(
                Status::Success,
                0,
                None,
                &[],
                self.config.version.as_bytes(),
            ),
            Command::Quit { quiet } => {
                if !quiet {
                    w.ok(0);
                }
                return Flow::Close(CloseReason::Quit);
            }
            Command::Verbosity { level } => {
                self.config.verbosity = level;
                w.ok(0);
            }
            Command::Stat { group } => self.stat(group, w),
            Command::SaslListMechs => match self.config.sasl {
                Some(_) => w.packet(Status::Success, 0, None, &[], auth::MECHANISMS.as_bytes()),
                None => w.error(Status::UnknownCommand),
            },
            Command::SaslAuth {
                mechanism,
                data,
                step,
            } => return self.sasl_auth(mechanism, data, step, w),
            _ => {
                let outcome = self.service.execute(command, self.now);
                encode(header, command, outcome, out);
            }
        }
        Flow::Continue
    }

    /// Answers a SASL AUTH before its data is read when it cannot go further: SASL off (Unknown
    /// command, as memcached answers), a mechanism name over 32 bytes, or data too large to hold.
    /// `true` means answered; the data is then skipped.
    pub(crate) fn refuse_sasl(
        &mut self,
        header: &Header,
        mechanism: &[u8],
        data_len: u64,
        out: &mut Vec<u8>,
    ) -> bool {
        let status = if self.config.sasl.is_none() {
            Status::UnknownCommand
        } else if mechanism.len() > auth::MAX_MECHANISM_LEN {
            Status::InvalidArguments
        } else if !self.admits(mechanism.len(), data_len as usize, 0) {
            Status::OutOfMemory
        } else {
            return false;
        };
        ResponseWriter::new(out, header.opcode, header.opaque).error(status);
        true
    }

    /// SASL AUTH/STEP with PLAIN, the one mechanism offered: a single step, so STEP always fails.
    fn sasl_auth(
        &mut self,
        mechanism: &[u8],
        data: &[u8],
        step: bool,
        mut w: ResponseWriter<'_>,
    ) -> Flow {
        let Some(credentials) = &self.config.sasl else {
            w.error(Status::UnknownCommand);
            return Flow::Continue;
        };
        self.count(Counter::AuthCmds);
        if !step && mechanism == auth::MECHANISMS.as_bytes() && credentials.verify_plain(data) {
            w.packet(Status::Success, 0, None, &[], b"Authenticated");
            return Flow::Authenticated;
        }
        self.count(Counter::AuthErrors);
        w.error(Status::AuthError);
        Flow::Continue
    }

    /// memcached's `process_bin_stat`: groups are matched as prefixes (strncmp), unknown ones get a
    /// single Not found packet with no terminator.
    fn stat(&mut self, group: &[u8], mut w: ResponseWriter<'_>) {
        let named = if group.is_empty() {
            Some(StatGroup::General)
        } else if group.starts_with(b"reset") {
            self.reset_stats();
            None
        } else if group.starts_with(b"settings") {
            Some(StatGroup::Settings)
        } else if let Some(detail) = group.strip_prefix(b"detail") {
            if detail.starts_with(b" dump") {
                w.packet(Status::Success, 0, None, b"detailed", b"END\r\n");
            } else if !(detail.starts_with(b" on") || detail.starts_with(b" off")) {
                w.error(Status::KeyNotFound);
                return;
            }
            None
        } else if group == b"items" {
            Some(StatGroup::Items)
        } else if group == b"slabs" {
            Some(StatGroup::Slabs)
        } else if group == b"sizes" {
            Some(StatGroup::Sizes)
        } else {
            w.error(Status::KeyNotFound);
            return;
        };
        if let Some(group) = named {
            let mut scratch = std::mem::take(self.scratch);
            let mut sink = StatWriter {
                w: &mut w,
                scratch: &mut scratch,
            };
            self.write_stats(group, &mut sink);
            *self.scratch = scratch;
        }
        w.ok(0);
    }
}

/// Writes each statistic as one STAT packet: key = name, value = the text value.
struct StatWriter<'w, 'o> {
    w: &'w mut ResponseWriter<'o>,
    scratch: &'w mut String,
}

impl StatSink for StatWriter<'_, '_> {
    fn stat(&mut self, name: &str, value: &dyn Display) {
        self.scratch.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.scratch, "{value}");
        self.w.packet(
            Status::Success,
            0,
            None,
            name.as_bytes(),
            self.scratch.as_bytes(),
        );
    }
}

/// The binary response to a data command's outcome (PROTOCOL.md §3, §4, §8).
fn encode(header: &Header, command: &Command<'_>, outcome: Outcome<'_>, out: &mut Vec<u8>) {
    let mut w = ResponseWriter::new(out, header.opcode, header.opaque);
    let (quiet, key) = match *command {
        Command::Get {
            quiet,
            with_key,
            key,
        }
        | Command::GetAndTouch {
            quiet,
            with_key,
            key,
            ..
        } => (quiet, if with_key { key } else { &[][..] }),
        Command::Store { quiet, .. }
        | Command::Delete { quiet, .. }
        | Command::Counter { quiet, .. }
        | Command::Flush { quiet, .. } => (quiet, &[][..]),
        _ => (false, &[][..]),
    };
    match outcome {
        Outcome::Value { flags, cas, value }
        | Outcome::Item(ItemView {
            flags, cas, value, ..
        }) => {
            w.packet(Status::Success, cas, Some(flags), key, value);
        }
        Outcome::Touched { flags, cas } => w.packet(Status::Success, cas, Some(flags), &[], &[]),
        Outcome::Counter { value, cas } => {
            if !quiet {
                w.packet(Status::Success, cas, None, &[], &value.to_be_bytes());
            }
        }
        Outcome::Done { cas } => {
            if !quiet {
                w.ok(cas);
            }
        }
        Outcome::Failed(Status::KeyNotFound)
            if matches!(command, Command::Get { .. } | Command::GetAndTouch { .. }) =>
        {
            // A quiet get misses silently; GETK/GATK echo the key with no text.
            if quiet {
            } else if !key.is_empty() {
                w.packet(Status::KeyNotFound, 0, None, key, &[]);
            } else {
                w.error(Status::KeyNotFound);
            }
        }
        Outcome::Failed(status) => w.error(status),
    }
}
