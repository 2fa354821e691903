//! A keel process started with a whole command line of the test's choosing (`-s`, several `-l`
//! listeners, `-Z`): its ready line, `keel listening on E1, E2 (driver D)`, gives every endpoint
//! it bound, in order. Killed (SIGKILL) when dropped; its stderr is kept for the test to read.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::server::{keel_bin, user_args};

/// A running keel process.
pub struct Keel {
    child: Child,
    /// The endpoints of the ready line: `127.0.0.1:PORT` or a socket path.
    pub endpoints: Vec<String>,
    log: PathBuf,
}

impl Keel {
    /// Starts `keel --driver DRIVER ARGS…` (with `-u root` when root); panics (fails the test)
    /// without a ready line within 10 s.
    pub fn start(driver: &str, args: &[String]) -> Keel {
        let log = std::env::temp_dir().join(format!(
            "keel-spawned-{}-{}.log",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut child = Command::new(keel_bin())
            .args(["--driver", driver])
            .args(user_args())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("create log"))
            .spawn()
            .expect("spawn keel");
        let stdout = child.stdout.take().expect("piped stdout");
        let rx = crate::server::first_stdout_line(stdout);
        let mut keel = Keel {
            child,
            endpoints: Vec::new(),
            log,
        };
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let suffix = format!(" (driver {driver})");
        let Some(list) = line
            .trim_end()
            .strip_prefix("keel listening on ")
            .and_then(|rest| rest.strip_suffix(suffix.as_str()))
        else {
            panic!(
                "keel {args:?}: no ready line ({line:?}); log:\n{}",
                keel.log()
            );
        };
        keel.endpoints = list.split(", ").map(str::to_owned).collect();
        keel
    }

    /// The port of TCP endpoint `index`.
    pub fn port(&self, index: usize) -> u16 {
        let endpoint = &self.endpoints[index];
        endpoint
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("{endpoint} is not host:port"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of a child this value owns and has not reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Keel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- keel log ----\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
