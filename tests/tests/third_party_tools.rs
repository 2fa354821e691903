//! Real third-party clients from libmemcached-tools against both keel drivers, binary protocol only:
//! `memccapable -b` must report every test passed, and a script of `memccp`, `memccat`,
//! `memcexist`, `memctouch`, `memcrm`, `memcstat` and `memcflush` runs must give the same exit codes
//! and outputs as the same script against memcached, run in the same test, with files of 0 B,
//! 1 KiB and 900 KiB round-tripping byte-exact.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use keel_tests::server::require_tool;
use keel_tests::text::run_bounded;
use keel_tests::{Client, Kind, Server, server_tests};

// ---------------------------------------------------------------------------------------------
// 1. memccapable -b

fn memccapable(kind: Kind) {
    require_tool("memccapable", "libmemcached-tools");
    let server = Server::start(kind);
    let port = server.port.to_string();
    let out = run_bounded(
        Command::new("memccapable").args(["-b", "-v", "-t", "5", "-h", "127.0.0.1", "-p", &port]),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!(
        "memccapable -b against {}:\n{stdout}\n{stderr}",
        kind.name()
    );
    let results: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("binary "))
        .collect();
    let passed = results
        .iter()
        .filter(|l| l.trim_end().ends_with("[pass]"))
        .count();
    assert!(
        !stdout.to_lowercase().contains("fail") && !stderr.to_lowercase().contains("fail"),
        "{report}"
    );
    assert_eq!(
        results.len(),
        27,
        "memccapable -b runs 27 binary tests\n{report}"
    );
    assert_eq!(passed, 27, "{report}");
    assert!(stdout.contains("All tests passed"), "{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
}
server_tests!(memccapable: mio, poll, uring, memcached);

// ---------------------------------------------------------------------------------------------
// 2. libmemcached tools: the same script against memcached and keel.

/// One tool invocation's observable result, with the port and pointers normalised away.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    step: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn normalise(text: &[u8], port: u16) -> String {
    let s = String::from_utf8_lossy(text).replace(&port.to_string(), "PORT");
    // "(0x7ffc84db4740)" → "(PTR)"
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("(0x") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        let hex_len = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        if tail[hex_len..].starts_with(')') {
            out.push_str("(PTR)");
            rest = &tail[hex_len + 1..];
        } else {
            out.push_str("(0x");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The comparable part of memcstat's output: the header line, whether every other line has the
/// `\tname: value` shape, and the counters that the script's operations determine. The full stat
/// list (92 names in memcached 1.6.18) and the process values (pid, uptime, rusage) are not compared.
fn memcstat_digest(stdout: &str) -> String {
    const COUNTERS: [&str; 11] = [
        "curr_items",
        "total_items",
        "cmd_get",
        "cmd_set",
        "get_hits",
        "get_misses",
        "delete_hits",
        "delete_misses",
        "cmd_touch",
        "touch_hits",
        "touch_misses",
    ];
    let mut lines = stdout.lines();
    let mut digest = format!("{}\n", lines.next().unwrap_or_default());
    let mut malformed = Vec::new();
    let mut found = std::collections::BTreeMap::new();
    for line in lines {
        match line.strip_prefix('\t').and_then(|l| l.split_once(": ")) {
            Some((name, value)) => {
                if COUNTERS.contains(&name) {
                    found.insert(name, value);
                }
            }
            None => malformed.push(line),
        }
    }
    for name in COUNTERS {
        digest.push_str(&format!(
            "\t{name}: {}\n",
            found.get(name).copied().unwrap_or("<missing>")
        ));
    }
    if !malformed.is_empty() {
        digest.push_str(&format!("malformed lines: {malformed:?}\n"));
    }
    digest
}

/// Runs the tool script against `server`, in `dir` (which holds the input files), writing memccat
/// outputs to `dir/out-<kind>/`. Returns the observations plus the memcstat output.
fn tool_script(server: &Server, dir: &Path) -> (Vec<Observed>, String) {
    let port = server.port;
    let servers = format!("--servers=127.0.0.1:{port}");
    let outdir = dir.join(format!("out-{}", server.kind.name()));
    std::fs::create_dir_all(&outdir).unwrap();
    let mut seen = Vec::new();
    let mut run = |step: &str, tool: &str, args: &[&str], cwd: &Path| -> Output {
        let out = run_bounded(
            Command::new(tool)
                .current_dir(cwd)
                .arg("--binary")
                .arg(&servers)
                .args(args),
            Duration::from_secs(30),
        );
        let mut stdout = normalise(&out.stdout, port);
        if tool == "memcstat" {
            stdout = memcstat_digest(&stdout);
        }
        seen.push(Observed {
            step: step.to_string(),
            code: out.status.code(),
            stdout,
            stderr: normalise(&out.stderr, port),
        });
        out
    };
    for f in ["f0", "f1k", "f900k"] {
        run(&format!("memccp {f}"), "memccp", &[f], dir);
    }
    for f in ["f0", "f1k", "f900k"] {
        let target = format!("--file={}", outdir.join(f).display());
        run(
            &format!("memccat --file {f}"),
            "memccat",
            &[&target, f],
            dir,
        );
    }
    run("memccat f1k to stdout", "memccat", &["f1k"], dir);
    run("memccat missing", "memccat", &["nope"], dir);
    run("memcexist f1k", "memcexist", &["f1k"], dir);
    run("memcexist missing", "memcexist", &["nope"], dir);
    run("memctouch f1k", "memctouch", &["--expire=100", "f1k"], dir);
    run(
        "memctouch missing",
        "memctouch",
        &["--expire=100", "nope"],
        dir,
    );
    run(
        "memccp with flags",
        "memccp",
        &["--flags=77", "--expire=600", "f1k"],
        dir,
    );
    run("memccat -v f1k", "memccat", &["-v", "f1k"], dir);
    run("memcrm f1k", "memcrm", &["f1k"], dir);
    run("memcrm f1k again", "memcrm", &["f1k"], dir);
    run("memcexist removed", "memcexist", &["f1k"], dir);
    run("memccp --add existing", "memccp", &["--add", "f0"], dir);
    run(
        "memccp --replace missing",
        "memccp",
        &["--replace", "f1k"],
        dir,
    );
    let stat = run("memcstat", "memcstat", &[], dir);
    run("memcflush", "memcflush", &[], dir);
    run("memcexist after flush", "memcexist", &["f0"], dir);
    run("memccat after flush", "memccat", &["f900k"], dir);
    (seen, String::from_utf8_lossy(&stat.stdout).into_owned())
}

fn libmemcached_tools(kind: Kind) {
    for tool in [
        "memccp",
        "memccat",
        "memcexist",
        "memctouch",
        "memcrm",
        "memcstat",
        "memcflush",
    ] {
        require_tool(tool, "libmemcached-tools");
    }
    let dir = std::env::temp_dir().join(format!(
        "keel-e2e-tools-{}-{}",
        std::process::id(),
        kind.name()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let f1k: Vec<u8> = (0..1024u32).map(|i| (i * 37 % 256) as u8).collect();
    let f900k: Vec<u8> = (0..900 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("f0"), b"").unwrap();
    std::fs::write(dir.join("f1k"), &f1k).unwrap();
    std::fs::write(dir.join("f900k"), &f900k).unwrap();

    let oracle = Server::start(Kind::Memcached);
    let (expected, _) = tool_script(&oracle, &dir);
    drop(oracle);
    let server = Server::start(kind);
    let (got, memcstat) = tool_script(&server, &dir);

    // Byte-exact round trips.
    let outdir = dir.join(format!("out-{}", kind.name()));
    for (name, content) in [("f0", &b""[..]), ("f1k", &f1k[..]), ("f900k", &f900k[..])] {
        let back = std::fs::read(outdir.join(name))
            .unwrap_or_else(|e| panic!("memccat wrote no {name}: {e}"));
        assert_eq!(back.len(), content.len(), "{name}: round-trip length");
        assert!(back == content, "{name}: round-trip bytes differ");
    }
    let stdout_cat = &got
        .iter()
        .find(|o| o.step == "memccat f1k to stdout")
        .unwrap()
        .stdout;
    assert_eq!(
        stdout_cat.len(),
        String::from_utf8_lossy(&f1k).len() + 1,
        "memccat prints the value and a newline"
    );

    // The same observable behaviour as memcached, step by step.
    let mut diffs = Vec::new();
    for (e, g) in expected.iter().zip(&got) {
        if e != g {
            diffs.push(format!(
                "step {:?}:\n  memcached: {:?}\n  {}: {:?}",
                e.step,
                e,
                kind.name(),
                g
            ));
        }
    }
    assert_eq!(expected.len(), got.len());
    assert!(
        diffs.is_empty(),
        "{} differs from memcached:\n{}",
        kind.name(),
        diffs.join("\n")
    );
    // Concrete expectations (these hold for memcached too, so they also check the oracle run).
    let code = |step: &str| got.iter().find(|o| o.step == step).unwrap().code;
    for (step, want) in [
        ("memccp f0", 0),
        ("memccp f900k", 0),
        ("memcexist f1k", 0),
        ("memcexist missing", 1),
        ("memctouch f1k", 0),
        ("memctouch missing", 1),
        ("memcrm f1k", 0),
        ("memcrm f1k again", 1),
        ("memcexist removed", 1),
        ("memcstat", 0),
        ("memcflush", 0),
        ("memcexist after flush", 1),
    ] {
        assert_eq!(code(step), Some(want), "exit code of {step}");
    }
    // memcstat: the server header line and the item count at that point (f0 and f900k remain).
    let first = memcstat.lines().next().unwrap_or_default();
    assert_eq!(first, format!("Server: 127.0.0.1 ({})", server.port));
    assert!(
        memcstat.lines().any(|l| l.trim() == "curr_items: 2"),
        "memcstat output:\n{memcstat}"
    );
    assert!(
        memcstat.lines().any(|l| l.trim().starts_with("pid: ")),
        "memcstat output:\n{memcstat}"
    );
    // The server is still healthy and the flush emptied it. (curr_items is not checked: memcached
    // unlinks only the items written in the flush's second at once and the rest lazily, so its count
    // depends on timing.)
    let mut c = Client::connect(server.port).unwrap();
    for key in [&b"f0"[..], b"f1k", b"f900k"] {
        assert_eq!(
            c.get(key),
            None,
            "{:?} survived memcflush",
            String::from_utf8_lossy(key)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
server_tests!(libmemcached_tools: mio, poll, uring);
