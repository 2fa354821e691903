//! Replays every checked-in fuzz input on stable Rust: each file in `corpus/<target>/` and
//! `regressions/<target>/` goes through the same function as the `cargo fuzz` binary, so the
//! corpus and every crash once found stay regression tests.
//!
//! Also checks that the seed files are what `keel_fuzz::seeds` generates (run the ignored
//! `write_seed_corpus` to regenerate them) and that structured seeds parse back to the values
//! they were written from.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use keel_fuzz::connection::ConnectionInput;
use keel_fuzz::server::ServerInput;
use keel_fuzz::{TARGETS, seeds};

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target)
}

fn files(path: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(path) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs every file of `kind/<target>/` for every target and names the ones that panic.
fn replay(kind: &str) -> usize {
    let mut failures = Vec::new();
    let mut count = 0;
    for (target, f) in TARGETS {
        for path in files(&dir(kind, target)) {
            let data = fs::read(&path).expect("readable input");
            count += 1;
            if panic::catch_unwind(|| f(&data)).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "inputs that fail:\n  {}",
        failures.join("\n  ")
    );
    count
}

#[test]
fn corpus_replays() {
    let n = replay("corpus");
    assert!(n >= TARGETS.len(), "the seed corpus is missing ({n} files)");
}

#[test]
fn regressions_replay() {
    replay("regressions");
}

#[test]
fn seed_files_are_current() {
    for (target, _) in TARGETS {
        for (name, bytes) in seeds::seeds(target) {
            let path = dir("corpus", target).join(format!("seed-{name}"));
            let on_disk = fs::read(&path)
                .unwrap_or_else(|_| panic!("{} is missing: run write_seed_corpus", path.display()));
            assert!(
                on_disk == bytes,
                "{} is stale: run write_seed_corpus",
                path.display()
            );
            assert!(
                bytes.len() < 4096,
                "{} is {} bytes",
                path.display(),
                bytes.len()
            );
        }
    }
}

#[test]
fn structured_seeds_parse_back() {
    for (name, input) in seeds::connection_inputs() {
        let bytes = seeds::seeds("connection")
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1;
        let parsed = ConnectionInput::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert_eq!(parsed, input, "connection seed {name}");
    }
    for (name, input) in seeds::server_inputs() {
        let bytes = seeds::seeds("server")
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1;
        let parsed = ServerInput::arbitrary_take_rest(Unstructured::new(&bytes)).unwrap();
        assert_eq!(parsed, input, "server seed {name}");
    }
}

/// Writes `corpus/<target>/seed-<name>` for every seed; other corpus files are left alone.
#[test]
#[ignore = "writes the seed corpus into the source tree"]
fn write_seed_corpus() {
    for (target, _) in TARGETS {
        let d = dir("corpus", target);
        fs::create_dir_all(&d).unwrap();
        for (name, bytes) in seeds::seeds(target) {
            fs::write(d.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}
