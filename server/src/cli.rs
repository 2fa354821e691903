//! The command line: memcached 1.6's flags and keel's own, parsed by clap into `Options`.
//! clap fits memcached's getopt forms (`-vvv`, `-p11211`, `-dM`, `--port=11211`, unique long
//! prefixes); the values with their own syntax (`-o a=b,c`, `-l a,b`, `-I 1m`) and memcached's
//! messages for bad ones are parsed by `flag_values`, `extended` and `listen`.

use std::fmt;
use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};

use crate::extended::{self, Extended};
use crate::flag_values;

/// The parsed command line: memcached 1.6's flags (short and long names as memcached spells
/// them) and keel's own. `Options::default()` is what `keel` with no flags runs.
#[derive(Clone, Debug, PartialEq, Parser)]
#[command(
    name = "keel",
    version,
    about = "A memcached-compatible cache server",
    infer_long_args = true,
    args_override_self = true
)]
pub struct Options {
    /// TCP port to listen on (0 picks a free port; the ready line names it)
    #[arg(short = 'p', long, default_value_t = 11211, value_parser = flag_values::port)]
    pub port: u16,
    /// UDP port: 0 (off) only, keel serves TCP
    #[arg(short = 'U', long, default_value_t = 0, value_parser = flag_values::port)]
    pub udp_port: u16,
    /// UNIX socket to listen on instead of TCP (a stale socket file is replaced)
    #[arg(short = 's', long, value_name = "FILE")]
    pub unix_socket: Option<PathBuf>,
    /// Permission bits for the UNIX socket, in octal
    #[arg(short = 'a', long, value_name = "MASK", default_value = "0700", value_parser = flag_values::unix_mask)]
    pub unix_mask: u32,
    /// Enable the text "shutdown" command
    #[arg(short = 'A', long)]
    pub enable_shutdown: bool,
    /// Interfaces to listen on: a comma list of host, host:port, [v6] or [v6]:port, each may be
    /// prefixed notls: (plaintext with -Z) or mtls: (client certificate required)
    #[arg(short = 'l', long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub listen: Vec<String>,
    /// Run as a daemon: fork, detach from the terminal, log to stderr as given
    #[arg(short = 'd', long)]
    pub daemon: bool,
    /// Maximize the core file limit
    #[arg(short = 'r', long)]
    pub enable_coredumps: bool,
    /// Assume the identity of this user (only when started as root, which requires it)
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,
    /// Item memory in megabytes
    #[arg(short = 'm', long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=1 << 20))]
    pub memory_limit: u64,
    /// Answer "out of memory" instead of evicting when memory is full
    #[arg(short = 'M', long)]
    pub disable_evictions: bool,
    /// Maximum simultaneous connections
    #[arg(short = 'c', long, default_value_t = 1024, value_parser = flag_values::conn_limit, allow_negative_numbers = true)]
    pub conn_limit: u32,
    /// Lock all paged memory (mlockall); a failure is a warning
    #[arg(short = 'k', long)]
    pub lock_memory: bool,
    /// More logging: -v connection events, -vv everything
    #[arg(short = 'v', long, action = ArgAction::Count)]
    pub verbose: u8,
    /// Print keel's license and exit
    #[arg(short = 'i', long)]
    pub license: bool,
    /// Save the process id in this file
    #[arg(short = 'P', long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
    /// Slab chunk size growth factor (accepted; keel's size classes are fixed)
    #[arg(short = 'f', long, value_name = "FACTOR", value_parser = flag_values::growth_factor)]
    pub slab_growth_factor: Option<f64>,
    /// Minimum space for key+value+flags (accepted; keel's size classes are fixed)
    #[arg(short = 'n', long, value_name = "BYTES", value_parser = flag_values::chunk_size)]
    pub slab_min_size: Option<u32>,
    /// Try to use large memory pages (accepted; keel does not)
    #[arg(short = 'L', long)]
    pub enable_largepages: bool,
    /// Key prefix delimiter for per-prefix stats (accepted; keel has no per-prefix stats)
    #[arg(short = 'D', value_name = "CHAR")]
    pub prefix_delimiter: Option<String>,
    /// Worker threads
    #[arg(short = 't', long, default_value_t = 4, value_parser = flag_values::threads, allow_negative_numbers = true)]
    pub threads: usize,
    /// Requests one connection may run per event before others get a turn
    #[arg(short = 'R', long = "max-reqs-per-event", default_value_t = 20, value_parser = flag_values::reqs_per_event, allow_negative_numbers = true)]
    pub reqs_per_event: usize,
    /// Disable CAS (every CAS is 0)
    #[arg(short = 'C', long)]
    pub disable_cas: bool,
    /// Listen backlog
    #[arg(short = 'b', long, default_value_t = 1024, value_parser = flag_values::backlog, allow_negative_numbers = true)]
    pub listen_backlog: i32,
    /// Protocols a connection may speak: auto (first byte 0x80 means binary), binary or ascii
    #[arg(short = 'B', long, value_enum, default_value_t = ProtocolKind::Auto)]
    pub protocol: ProtocolKind,
    /// Largest item: bytes, or with a k/m suffix (1k to 1g)
    #[arg(short = 'I', long, default_value = "1m", value_parser = flag_values::item_size)]
    pub max_item_size: usize,
    /// Require SASL PLAIN authentication (binary protocol only, as in memcached)
    #[arg(short = 'S', long)]
    pub enable_sasl: bool,
    /// Refuse flush_all / FLUSH
    #[arg(
        short = 'F',
        long = "disable-flush-all",
        visible_alias = "disable-flush"
    )]
    pub disable_flush: bool,
    /// Disable stats cachedump and lru_crawler metadump
    #[arg(short = 'X', long)]
    pub disable_dumping: bool,
    /// Disable watch commands (accepted; keel has no watch command)
    #[arg(short = 'W', long)]
    pub disable_watch: bool,
    /// Text-protocol authentication file (not supported yet: refused at startup)
    #[arg(short = 'Y', long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Restartable cache: item memory in this file (use tmpfs, e.g. /dev/shm), survives restarts
    #[arg(short = 'e', long, value_name = "FILE")]
    pub memory_file: Option<PathBuf>,
    /// Enable TLS on every TCP listener without a notls: prefix (-o ssl_chain_cert=,ssl_key=)
    #[arg(short = 'Z', long)]
    pub enable_ssl: bool,
    /// Extended options, comma separated: idle_timeout=SECS, modern, and memcached's others
    #[arg(short = 'o', long, value_name = "OPTS", value_parser = extended::parse)]
    pub extended: Vec<Vec<Extended>>,
    /// Number of NAPI ids (accepted; keel does not place connections by NAPI id)
    #[arg(short = 'N', long, value_name = "N", value_parser = flag_values::napi_ids)]
    pub napi_ids: Option<u32>,

    // keel's own flags.
    /// Event loop driver
    #[arg(long, value_enum, default_value_t = DriverKind::Mio)]
    pub driver: DriverKind,
    /// Close connections idle this many seconds (0: never); also -o idle_timeout=SECS
    #[arg(long, default_value_t = 300)]
    pub idle_timeout: u64,
    /// Longest single wait for socket readiness, in milliseconds (0: only the core's deadlines)
    #[arg(long, default_value_t = 1000)]
    pub poll_timeout_ms: u64,
    /// Close a connection holding part of a request for this many seconds (0: never)
    #[arg(long, default_value_t = 30)]
    pub read_timeout: u64,
    /// Receive buffers (8 KiB each) per worker with --driver uring: a power of two up to 32768
    #[arg(long, default_value_t = 256, value_parser = flag_values::uring_buffers)]
    pub uring_buffers: u16,
    /// SASL password file, lines of user:password (default: $MEMCACHED_SASL_PWDB)
    #[arg(long, value_name = "FILE", env = "MEMCACHED_SASL_PWDB")]
    pub sasl_pwdb: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Options {
        Options::parse_from(["keel"])
    }
}

/// memcached's `-B`: which protocols connections may speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolKind {
    /// binary when the first byte is 0x80, text otherwise
    Auto,
    /// binary only
    Binary,
    /// text (classic and meta) only
    Ascii,
}

/// Which event loop serves the connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// mio: epoll/kqueue, edge-triggered
    Mio,
    /// libc::poll over every connection each turn
    Poll,
    /// io_uring (Linux): completions, multishot receives into a buffer ring
    Uring,
}

impl fmt::Display for DriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DriverKind::Mio => "mio",
            DriverKind::Poll => "poll",
            DriverKind::Uring => "uring",
        })
    }
}
