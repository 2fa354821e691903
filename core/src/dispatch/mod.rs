//! Runs decoded commands: the server-level ones (NOOP, VERSION, QUIT, STAT, VERBOSITY) here, data
//! commands through the `Service`, and encodes responses in the connection's protocol.

mod admin;
mod binary;
mod meta;
mod text;
mod text_auth;

pub(crate) use text::MultiGet;

use crate::config::Config;
use crate::group::{Counter, StatCells, WorkerGroup};
use crate::output::{CloseReason, ShutdownMode};
use crate::service::{Service, StatGroup, StatSink};
use crate::stat_order::{GENERAL, Ordered, SETTINGS};
use crate::stats::{GeneralContext, ServerStats};
use crate::time::Timestamp;

/// What the connection does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close(CloseReason),
    /// SASL authentication succeeded.
    Authenticated,
    /// The request is not finished (a multi-get at the backpressure bound): run it again, from
    /// where it stopped, once the output has drained.
    Paused,
}

/// Everything a command may touch besides its connection.
pub(crate) struct Dispatch<'a, S> {
    pub(crate) service: &'a mut S,
    pub(crate) group: &'a WorkerGroup,
    /// This worker's slot in `group`.
    pub(crate) cells: &'a StatCells,
    pub(crate) config: &'a mut Config,
    pub(crate) scratch: &'a mut String,
    /// Reused for decoded (base64) meta keys.
    pub(crate) bytes: &'a mut Vec<u8>,
    pub(crate) started: Timestamp,
    pub(crate) now: Timestamp,
    /// What commands read of the server as a whole, and ask of it.
    pub(crate) side: &'a mut ServerSide,
}

/// The server as a whole, as commands see it: a few gauges the server keeps current (so that a
/// request pays nothing to pass them), and requests it carries out once the connection's input
/// is processed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerSide {
    /// New connections are being accepted (STAT `accepting_conns`).
    pub(crate) accepting: bool,
    /// `shutdown` (with `-A`): the driver is told to stop.
    pub(crate) shutdown: Option<ShutdownMode>,
    /// `stats conns`: the connection's processing stops after the command so the server, which
    /// holds every connection, can write the report before the next request's answer.
    pub(crate) conns_report: bool,
}

impl Default for ServerSide {
    fn default() -> ServerSide {
        ServerSide {
            accepting: true,
            shutdown: None,
            conns_report: false,
        }
    }
}

impl<S: Service> Dispatch<'_, S> {
    pub(crate) fn output_limit(&self) -> usize {
        self.config.output_limit
    }

    pub(crate) fn admits(&self, key_len: usize, value_len: usize, flags: u32) -> bool {
        self.service.admits(key_len, value_len, flags)
    }

    /// Writes a stat group's lines: the server's own first, then the service's; `settings` is
    /// merged into memcached's order.
    fn write_stats(&mut self, group: StatGroup, sink: &mut dyn StatSink) {
        match group {
            StatGroup::General => {
                let cx = GeneralContext {
                    config: self.config,
                    started: self.started,
                    now: self.now,
                    accepting: self.side.accepting,
                    threads: self.group.workers(),
                };
                let mut ordered = Ordered::new(GENERAL);
                self.group.totals().write_general(&cx, &mut ordered);
                self.service.stats(group, self.now, &mut ordered);
                return ordered.finish(sink);
            }
            StatGroup::Settings => {
                let mut ordered = Ordered::new(SETTINGS);
                ServerStats::write_settings(self.group.workers(), self.config, &mut ordered);
                self.service.stats(group, self.now, &mut ordered);
                return ordered.finish(sink);
            }
            StatGroup::Items | StatGroup::Slabs | StatGroup::Sizes => {}
        }
        self.service.stats(group, self.now, sink);
    }

    /// Adds to one of this worker's counters.
    pub(crate) fn count(&self, counter: Counter) {
        self.cells.add(counter, 1);
    }

    fn reset_stats(&mut self) {
        self.group.reset();
        self.service.reset_stats();
        if let Some(tls) = &self.config.tls {
            tls.0.reset_stats();
        }
    }
}
