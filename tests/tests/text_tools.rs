//! libmemcached's `memccapable` against both keel drivers over the text protocol: `memccapable -a`
//! (ASCII tests only) and plain `memccapable` (ASCII and binary tests, on separate connections to
//! the same port, so protocol detection must pick each) must exit 0 with every test `[pass]`.
//! memcached itself runs the same command in the same test, so the expected test count is the
//! installed tool's, not a number written here.

use std::process::Command;
use std::time::Duration;

use keel_tests::server::require_tool;
use keel_tests::text::run_bounded;
use keel_tests::{Kind, Server, server_tests};

/// Runs memccapable with `mode_args` against a fresh server of `kind`; returns the names of the
/// tests it ran, asserting each passed and the tool exited 0.
fn memccapable(kind: Kind, mode_args: &[&str]) -> Vec<String> {
    require_tool("memccapable", "libmemcached-tools");
    let server = Server::start(kind);
    let port = server.port.to_string();
    let mut args = mode_args.to_vec();
    args.extend(["-t", "5", "-h", "127.0.0.1", "-p", &port]);
    let out = run_bounded(
        Command::new("memccapable").args(&args),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "memccapable {args:?} against {}:\n{stdout}\n{stderr}",
        kind.name()
    );
    assert!(out.status.success(), "exit {:?}\n{report}", out.status);
    let results: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("ascii ") || l.starts_with("binary "))
        .collect();
    assert!(!results.is_empty(), "no test results\n{report}");
    for line in &results {
        assert!(
            line.trim_end().ends_with("[pass]"),
            "{line:?} did not pass\n{report}"
        );
    }
    assert!(
        stdout.contains("All tests passed"),
        "no `All tests passed` line\n{report}"
    );
    assert!(!stderr.to_lowercase().contains("fail"), "{report}");
    results
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn ascii_only(kind: Kind) {
    let ran = memccapable(kind, &["-a"]);
    assert!(ran.iter().all(|t| t.starts_with("ascii ")), "{ran:?}");
    for name in [
        "ascii get",
        "ascii gets",
        "ascii cas",
        "ascii incr",
        "ascii stat",
        "ascii quit",
    ] {
        assert!(
            ran.iter().any(|t| t.starts_with(&format!("{name} "))),
            "{name} not run: {ran:?}"
        );
    }
    // The same tests as against memcached.
    assert_eq!(
        ran,
        memccapable(Kind::Memcached, &["-a"]),
        "test list differs from memcached's"
    );
}

fn both_protocols(kind: Kind) {
    let ran = memccapable(kind, &[]);
    let ascii = ran.iter().filter(|t| t.starts_with("ascii ")).count();
    let binary = ran.iter().filter(|t| t.starts_with("binary ")).count();
    assert!(
        ascii >= 20 && binary >= 20,
        "ascii {ascii}, binary {binary}: {ran:?}"
    );
    assert_eq!(
        ran,
        memccapable(Kind::Memcached, &[]),
        "test list differs from memcached's"
    );
}

server_tests!(ascii_only: mio, poll, uring);
server_tests!(both_protocols: mio, poll, uring);
