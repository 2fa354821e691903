//! memcached as the oracle for random text streams: for each of `SEEDS` seeds a stream of
//! `COMMANDS` classic and meta commands over a handful of keys (plain and base64), values, flags
//! and CAS values is sent, one command per round trip, to memcached 1.6.18 and to keel, and the
//! normalised replies must be identical (see `keel_tests::text_oracle`: CAS values mapped one to
//! one, `me`'s clock and slab fields masked, counter padding trimmed). A seed stops at its first
//! difference, which is reported with the commands that led to it.
//!
//! Expiry times are 0 (never) or negative (dead at once), so no outcome depends on the clock;
//! `l` (seconds since last access) is not used. One command per round trip also keeps memcached
//! deterministic: a pipelined `mg … v` holds a reference to the item until its reply is written,
//! and memcached's `ma` then makes a new item instead of rewriting the number in place.
//!
//! Left out by name (each a deliberate difference in the README's compatibility table):
//! - [`Excluded::MetaE`]: meta `E` (later memcached releases only);
//! - [`Excluded::WideNumbers`]: numbers that do not fit their 32-bit field (memcached truncates);
//! - [`Excluded::Base64EchoOnFreshItem`]: `k` on `mg`/`me` with `b` for an item memcached does
//!   not remember as base64-keyed (it echoes the decoded bytes raw; keel echoes base64);
//! - [`Excluded::MaVivifyQuiet`]: `ma` with `N` and `q` (memcached answers `HD` when it creates);
//! - [`Excluded::CounterInPlaceRace`]: what shows whether a counter was rewritten in place (its
//!   space padding through `s`, `append` or `prepend`; its fetched, stale, token and base64-key
//!   marks through `h`, `k`, `me` and a counter on an invalidated item). memcached rewrites in place only when no
//!   other thread holds the item, and its LRU maintainer holds recently fetched items for a while,
//!   so its answer depends on timing; keel always rewrites in place when the number fits. The
//!   generator tracks which keys a counter touched and which may be stale, and avoids those.

use keel_tests::raw::Rng;
use keel_tests::text_oracle::{Compare, Ending, Part, Side, Step};
use keel_tests::{Kind, Server, server_tests};

const SEEDS: u64 = 20;
const COMMANDS: usize = 300;

/// The differences the generator never produces, by name (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Excluded {
    MetaE,
    WideNumbers,
    Base64EchoOnFreshItem,
    MaVivifyQuiet,
    CounterInPlaceRace,
}

/// Every exclusion, so the module doc, the README and this list stay one set.
const EXCLUDED: [Excluded; 5] = [
    Excluded::MetaE,
    Excluded::WideNumbers,
    Excluded::Base64EchoOnFreshItem,
    Excluded::MaVivifyQuiet,
    Excluded::CounterInPlaceRace,
];

/// Plain keys and their base64 forms ("k0" is "azA=").
const KEYS: [(&str, &str); 4] = [
    ("k0", "azA="),
    ("k1", "azE="),
    ("k2", "azI="),
    ("k3", "azM="),
];
const VALUES: [&str; 9] = [
    "0",
    "9",
    "10",
    "99",
    "18446744073709551615",
    "abc",
    "",
    "1 ",
    "x y",
];
/// Within 32 bits: wider flags are [`Excluded::WideNumbers`].
const FLAGS: [&str; 3] = ["0", "1", "4294967295"];
const EXPTIMES: [&str; 2] = ["0", "-1"];
const DELTAS: [&str; 4] = ["0", "1", "5", "18446744073709551615"];

/// What the generator knows of a key, for [`Excluded::CounterInPlaceRace`].
#[derive(Clone, Copy, Debug, Default)]
struct KeyState {
    /// A counter command ran on it since it was last replaced whole or deleted.
    counted: bool,
    /// An `I` (invalidate) may have marked it stale since then.
    maybe_stale: bool,
}

struct Gen {
    rng: Rng,
    keys: [KeyState; KEYS.len()],
}

impl Gen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.below(items.len() as u64) as usize]
    }

    fn key_index(&mut self) -> usize {
        self.rng.below(KEYS.len() as u64) as usize
    }

    fn key(&mut self) -> &'static str {
        KEYS[self.key_index()].0
    }

    /// A meta key token for key `i`: plain, or base64 with the `b` flag added to `flags`.
    fn meta_key(&mut self, i: usize, flags: &mut Vec<String>) -> (&'static str, bool) {
        let (plain, b64) = KEYS[i];
        if self.rng.chance(30) {
            flags.push("b".into());
            (b64, true)
        } else {
            (plain, false)
        }
    }

    /// The key was replaced whole or deleted: nothing of a counter or an invalidation remains.
    fn fresh(&mut self, i: usize) {
        self.keys[i] = KeyState::default();
    }

    /// A CAS argument: the key's current CAS, an older one than any live item's, or one no item has.
    fn cas(&mut self, key: &str) -> Vec<Part> {
        match self.rng.below(3) {
            0 => vec![Part::CasOf(key.to_string())],
            // CAS 1 went to the warm-up item, so it is older than every item in the stream.
            1 => vec![Part::Bytes(b"1".to_vec())],
            _ => vec![Part::Bytes(b"18446744073709551615".to_vec())],
        }
    }

    fn noreply(&mut self) -> &'static str {
        if self.rng.chance(15) { " noreply" } else { "" }
    }

    /// Optional flags, each with the given chance, in random order.
    fn some(&mut self, choices: &[&str], percent: u64) -> Vec<String> {
        let mut out: Vec<String> = choices
            .iter()
            .filter(|_| self.rng.chance(percent))
            .map(|s| s.to_string())
            .collect();
        for i in (1..out.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            out.swap(i, j);
        }
        out
    }

    fn command(&mut self) -> Vec<Part> {
        let text = |s: String| vec![Part::Bytes(s.into_bytes())];
        match self.rng.below(17) {
            0 => {
                let cmd = self.pick(&["get", "gets"]);
                let keys: Vec<&str> = (0..1 + self.rng.below(3)).map(|_| self.key()).collect();
                text(format!("{cmd} {}\r\n", keys.join(" ")))
            }
            1 => {
                let cmd = self.pick(&["gat", "gats"]);
                let exptime = self.pick(&EXPTIMES);
                text(format!("{cmd} {exptime} {}\r\n", self.key()))
            }
            2 | 3 => {
                let i = self.key_index();
                let mut cmd = self.pick(&["set", "add", "replace", "append", "prepend"]);
                if self.keys[i].counted && matches!(cmd, "append" | "prepend") {
                    cmd = "set";
                }
                if cmd == "set" {
                    self.fresh(i);
                }
                let (key, flags, exptime) = (KEYS[i].0, self.pick(&FLAGS), self.pick(&EXPTIMES));
                let value = self.pick(&VALUES);
                let noreply = self.noreply();
                text(format!(
                    "{cmd} {key} {flags} {exptime} {}{noreply}\r\n{value}\r\n",
                    value.len()
                ))
            }
            4 => {
                let (key, flags, value) = (self.key(), self.pick(&FLAGS), self.pick(&VALUES));
                let mut parts = text(format!("cas {key} {flags} 0 {} ", value.len()));
                parts.extend(self.cas(key));
                let noreply = self.noreply();
                parts.extend(text(format!("{noreply}\r\n{value}\r\n")));
                parts
            }
            5 => {
                let i = self.key_index();
                self.fresh(i);
                let noreply = self.noreply();
                text(format!("delete {}{noreply}\r\n", KEYS[i].0))
            }
            6 => {
                let i = self.key_index();
                if self.keys[i].maybe_stale {
                    return text(format!("get {}\r\n", KEYS[i].0));
                }
                self.keys[i].counted = true;
                let cmd = self.pick(&["incr", "decr"]);
                let (key, delta, noreply) = (KEYS[i].0, self.pick(&DELTAS), self.noreply());
                text(format!("{cmd} {key} {delta}{noreply}\r\n"))
            }
            7 => {
                let (key, exptime) = (self.key(), self.pick(&EXPTIMES));
                text(format!("touch {key} {exptime}{}\r\n", self.noreply()))
            }
            8 | 9 => self.meta_get(),
            10 | 11 => self.meta_set(),
            12 => self.meta_delete(),
            13 | 14 => self.meta_arithmetic(),
            15 => {
                let line = self.pick(&[
                    "flush_all\r\n",
                    "flush_all 0 noreply\r\n",
                    "flush_all -1\r\n",
                    "verbosity 1\r\n",
                    "mn\r\n",
                ]);
                if line.starts_with("flush_all") {
                    self.keys = Default::default();
                }
                text(line.to_string())
            }
            _ => {
                // me with b would be Excluded::Base64EchoOnFreshItem.
                let i = self.key_index();
                if self.keys[i].counted {
                    return text(format!("mg {} v\r\n", KEYS[i].0));
                }
                text(format!("me {}\r\n", KEYS[i].0))
            }
        }
    }

    fn meta_get(&mut self) -> Vec<Part> {
        let i = self.key_index();
        let mut flags = Vec::new();
        let (key, b64) = self.meta_key(i, &mut flags);
        let mut optional = vec!["v", "c", "f", "t", "q", "O77", "u", "N0", "T0", "R0"];
        // `k` with `b` is Excluded::Base64EchoOnFreshItem; the others are CounterInPlaceRace.
        if !self.keys[i].counted {
            optional.extend(["s", "h"]);
            if !b64 {
                optional.push("k");
            }
        }
        flags.extend(self.some(&optional, 25));
        vec![Part::Bytes(
            format!("mg {key} {}\r\n", flags.join(" ")).into_bytes(),
        )]
    }

    fn meta_set(&mut self) -> Vec<Part> {
        let i = self.key_index();
        let value = self.pick(&VALUES);
        let mut flags = Vec::new();
        let (key, _) = self.meta_key(i, &mut flags);
        let flag_value = format!("F{}", self.pick(&FLAGS));
        let mut mode = self.pick(&["S", "E", "A", "P", "R"]);
        if self.keys[i].counted && matches!(mode, "A" | "P") {
            mode = "S";
        }
        let optional = ["c", "k", "q", "I", "T0", "T-1", "O5"];
        let chosen = self.some(&optional, 20);
        let invalidate = chosen.iter().any(|f| f == "I");
        flags.extend(chosen);
        if self.rng.chance(30) {
            flags.push(flag_value);
        }
        let explicit_mode = self.rng.chance(40);
        if explicit_mode {
            flags.push(format!("M{mode}"));
        }
        let mut parts = vec![Part::Bytes(
            format!("ms {key} {} {}", value.len(), flags.join(" ")).into_bytes(),
        )];
        let with_cas = self.rng.chance(35);
        if with_cas {
            parts.push(Part::Bytes(b" C".to_vec()));
            parts.extend(self.cas(KEYS[i].0));
        }
        if invalidate {
            self.keys[i].maybe_stale = true;
        } else if !with_cas && (!explicit_mode || mode == "S") {
            self.fresh(i);
        }
        parts.push(Part::Bytes(format!("\r\n{value}\r\n").into_bytes()));
        parts
    }

    fn meta_delete(&mut self) -> Vec<Part> {
        let i = self.key_index();
        let mut flags = Vec::new();
        let (key, _) = self.meta_key(i, &mut flags);
        let chosen = self.some(&["q", "k", "O9", "I", "T0"], 25);
        let invalidate = chosen.iter().any(|f| f == "I");
        flags.extend(chosen);
        let mut parts = vec![Part::Bytes(
            format!("md {key} {}", flags.join(" ")).into_bytes(),
        )];
        let with_cas = self.rng.chance(30);
        if with_cas {
            parts.push(Part::Bytes(b" C".to_vec()));
            parts.extend(self.cas(KEYS[i].0));
        }
        if invalidate {
            self.keys[i].maybe_stale = true;
        } else if !with_cas {
            self.fresh(i);
        }
        parts.push(Part::Bytes(b"\r\n".to_vec()));
        parts
    }

    fn meta_arithmetic(&mut self) -> Vec<Part> {
        let i = self.key_index();
        if self.keys[i].maybe_stale {
            return self.meta_get();
        }
        self.keys[i].counted = true;
        let mut flags = Vec::new();
        let (key, _) = self.meta_key(i, &mut flags);
        let delta = format!("D{}", self.pick(&DELTAS));
        let initial = format!("J{}", self.pick(&["0", "7", "18446744073709551615"]));
        let optional = ["v", "c", "t", "k", "O3", "N0", "T0", "MI", "MD"];
        let mut chosen = self.some(&optional, 25);
        if chosen.iter().any(|f| f == "MI") && chosen.iter().any(|f| f == "MD") {
            chosen.retain(|f| f != "MD");
        }
        // q with N is Excluded::MaVivifyQuiet.
        if !chosen.iter().any(|f| f == "N0") && self.rng.chance(15) {
            chosen.push("q".into());
        }
        flags.extend(chosen);
        if self.rng.chance(50) {
            flags.push(delta);
        }
        if self.rng.chance(30) {
            flags.push(initial);
        }
        let mut parts = vec![Part::Bytes(
            format!("ma {key} {}", flags.join(" ")).into_bytes(),
        )];
        if self.rng.chance(25) {
            parts.push(Part::Bytes(b" C".to_vec()));
            parts.extend(self.cas(KEYS[i].0));
        }
        parts.push(Part::Bytes(b"\r\n".to_vec()));
        parts
    }
}

/// The text of a step as sent, CAS placeholders shown by name.
fn shown(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Part::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Part::CasOf(key) => format!("{{cas:{key}}}"),
        })
        .collect()
}

fn step(name: String, parts: Vec<Part>) -> Step {
    Step {
        name,
        parts,
        ending: Ending::Sync,
        compare: Compare::Exact,
    }
}

fn text_differential(kind: Kind) {
    assert_eq!(EXCLUDED.len(), 5, "the README lists every exclusion");
    let oracle = Server::start(Kind::Memcached);
    let keel = Server::start(kind);
    let mut mc = Side::new(&oracle);
    let mut kl = Side::new(&keel);
    let mut index = 0;
    let mut differences = Vec::new();
    let mut compared = 0;
    for seed in 0..SEEDS {
        let mut generator = Gen {
            rng: Rng::new(0x6b65_656c ^ seed),
            keys: Default::default(),
        };
        // A clean slate whose first item takes CAS 1 on both servers ("older than any item").
        let warm_up = "flush_all\r\nset warm 0 0 1\r\nw\r\n";
        let mut history = vec![warm_up.to_string()];
        let mut steps = vec![step("warm-up".into(), vec![Part::Bytes(warm_up.into())])];
        steps.extend((0..COMMANDS).map(|i| {
            let parts = generator.command();
            step(format!("seed {seed} command {i}"), parts)
        }));
        for s in &steps {
            index += 1;
            let want = mc.run(index, s);
            let got = kl.run(index, s);
            let (want, got) = (mc.normalise(&want), kl.normalise(&got));
            compared += 1;
            if s.name != "warm-up" {
                history.push(shown(&s.parts));
            }
            if want != got {
                let start = history.len().saturating_sub(60);
                differences.push(format!(
                    "{}:\n  after: {:?}\n  memcached: {:?}\n  {}: {:?}",
                    s.name,
                    &history[start..],
                    String::from_utf8_lossy(&want),
                    kind.name(),
                    String::from_utf8_lossy(&got)
                ));
                break;
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {SEEDS} seeds differ from memcached:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert_eq!(compared as u64, SEEDS * (COMMANDS as u64 + 1));
    assert_eq!(mc.cas_map.len(), kl.cas_map.len());
    assert!(
        mc.cas_map.len() > 100,
        "only {} CAS values seen",
        mc.cas_map.len()
    );
}

server_tests!(text_differential: mio, poll, uring);
