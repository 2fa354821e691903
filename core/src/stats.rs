//! The server's own statistics (connections, traffic) and the general/settings STAT lines it owns.

use crate::config::Config;
use crate::service::StatSink;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub curr_connections: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub auth_cmds: u64,
    pub auth_errors: u64,
}

impl ServerStats {
    /// STAT reset zeroes the counters; gauges such as curr_connections stay.
    pub(crate) fn reset(&mut self) {
        *self = ServerStats {
            curr_connections: self.curr_connections,
            ..ServerStats::default()
        };
    }

    pub(crate) fn write_general(
        &self,
        config: &Config,
        started: Timestamp,
        now: Timestamp,
        sink: &mut dyn StatSink,
    ) {
        sink.stat("pid", &config.pid);
        sink.stat("uptime", &(now.as_secs().saturating_sub(started.as_secs())));
        sink.stat("time", &now.as_secs());
        sink.stat("version", &config.version);
        sink.stat("keel_version", &env!("CARGO_PKG_VERSION"));
        sink.stat("pointer_size", &(usize::BITS));
        sink.stat("max_connections", &config.max_connections);
        sink.stat("curr_connections", &self.curr_connections);
        sink.stat("total_connections", &self.total_connections);
        sink.stat("rejected_connections", &self.rejected_connections);
        sink.stat("bytes_read", &self.bytes_read);
        sink.stat("bytes_written", &self.bytes_written);
        sink.stat("auth_cmds", &self.auth_cmds);
        sink.stat("auth_errors", &self.auth_errors);
        sink.stat("threads", &1);
    }

    pub(crate) fn write_settings(config: &Config, sink: &mut dyn StatSink) {
        sink.stat("maxconns", &config.max_connections);
        sink.stat("verbosity", &config.verbosity);
        sink.stat(
            "idle_timeout",
            &config.idle_timeout.map_or(0, |t| t.as_secs()),
        );
        sink.stat("domain_socket", &"NULL");
        sink.stat("sasl", &if config.sasl.is_some() { "yes" } else { "no" });
        sink.stat(
            "read_timeout",
            &config.read_timeout.map_or(0, |t| t.as_secs()),
        );
        sink.stat(
            "binding_protocol",
            &match config.protocol {
                crate::config::ProtocolMode::Auto => "auto-negotiate",
                crate::config::ProtocolMode::Binary => "binary",
                crate::config::ProtocolMode::Ascii => "ascii",
            },
        );
    }
}
