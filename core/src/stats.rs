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
    /// Times a connection gave up its turn after `reqs_per_event` requests (memcached's name).
    pub conn_yields: u64,
}

impl ServerStats {
    /// The field-by-field sum (several workers' counters).
    pub(crate) fn plus(&self, other: &ServerStats) -> ServerStats {
        ServerStats {
            curr_connections: self.curr_connections.wrapping_add(other.curr_connections),
            total_connections: self.total_connections + other.total_connections,
            rejected_connections: self.rejected_connections + other.rejected_connections,
            bytes_read: self.bytes_read + other.bytes_read,
            bytes_written: self.bytes_written + other.bytes_written,
            auth_cmds: self.auth_cmds + other.auth_cmds,
            auth_errors: self.auth_errors + other.auth_errors,
            conn_yields: self.conn_yields + other.conn_yields,
        }
    }

    /// The counters since `base` was taken (a STAT reset); gauges such as curr_connections stay.
    pub(crate) fn since(&self, base: &ServerStats) -> ServerStats {
        ServerStats {
            curr_connections: self.curr_connections,
            total_connections: self
                .total_connections
                .saturating_sub(base.total_connections),
            rejected_connections: self
                .rejected_connections
                .saturating_sub(base.rejected_connections),
            bytes_read: self.bytes_read.saturating_sub(base.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(base.bytes_written),
            auth_cmds: self.auth_cmds.saturating_sub(base.auth_cmds),
            auth_errors: self.auth_errors.saturating_sub(base.auth_errors),
            conn_yields: self.conn_yields.saturating_sub(base.conn_yields),
        }
    }

    pub(crate) fn write_general(
        &self,
        threads: usize,
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
        sink.stat("threads", &threads);
        sink.stat("conn_yields", &self.conn_yields);
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
