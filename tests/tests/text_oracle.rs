//! memcached as the oracle for the text protocol: one scripted, deterministic stream of a few
//! hundred classic and meta commands (hits, misses, noreply, pipelined batches, incr/decr edge
//! cases, cas, append/prepend, touch/gat, flush, error lines, bad data chunks, too-large values,
//! base64 keys, the stale/recache flow, and commands that close the connection) is sent to
//! memcached 1.6.18 and to keel, and the reply bytes of every step must be identical.
//!
//! Allowed differences, all normalised before comparing:
//! - CAS values are mapped one to one, per server, in order of appearance (`VALUE … <cas>`,
//!   meta `c<cas>`, `me`'s `cas=`); a request that needs a CAS gets the one this server holds for
//!   the key, read with `me` on a side connection (which changes nothing);
//! - `VERSION` text is not compared, `stats` is compared by shape (STAT lines, then END);
//! - `me`'s `exp=`, `la=`, `cls=` and `size=` are masked;
//! - time-dependent meta flags are only used where they are deterministic (`t` on items without
//!   expiry, `T`/`N`/`R` outcomes that do not depend on the clock); `l` is not used.
//!
//! Left out on purpose (differences listed in the README or reported as keel bugs): meta `E`,
//! lines over 2048 bytes, flags over 2^32-1 (memcached truncates them), lowercase meta modes,
//! `mg <key> k` for an item stored under a base64 key, `ma … N … q` on a miss, and `stats`
//! sub-groups whose contents are memcached internals (slabs, items, conns).

use keel_tests::text::TextConn;
use keel_tests::text_oracle::{Compare, Script, Side, shorten, stat_shape};
use keel_tests::{Kind, Server, server_tests};

fn value_of(len: usize, seed: u8) -> String {
    (0..len)
        .map(|i| (b'a' + ((i as u8).wrapping_mul(7).wrapping_add(seed)) % 26) as char)
        .collect()
}

/// The whole script. Deterministic: no randomness, no clock-dependent outcome.
fn script() -> Script {
    let mut s = Script::default();
    s.step("flush at start", "flush_all\r\n");

    // ---- classic retrieval and storage
    s.step(
        "misses",
        "get a\r\nget a b c\r\ngets a\r\ngat 0 a\r\ngats 0 a b\r\n",
    );
    s.step(
        "set and every get form",
        "set a 5 0 2\r\nva\r\nset b 4294967295 0 3\r\nvbb\r\nget a\r\nget a b missing a\r\n\
         gets a b\r\ngat 0 b a\r\ngats 0 a\r\n",
    );
    s.step(
        "add / replace",
        "add a 1 0 1\r\nx\r\nadd c 3 0 2\r\nvc\r\nreplace d 0 0 1\r\nx\r\nreplace a 6 0 3\r\nva2\r\n\
         get a c d\r\n",
    );
    s.step(
        "append / prepend",
        "append a 9 0 2\r\n>>\r\nprepend a 9 0 2\r\n<<\r\nappend nope 0 0 1\r\nx\r\n\
         prepend nope 0 0 1\r\nx\r\ngets a\r\n",
    );
    s.step(
        "empty values",
        "set e 0 0 0\r\n\r\nget e\r\nappend e 0 0 0\r\n\r\ngets e\r\n",
    );
    s.step(
        "binary-safe data",
        "set bin 0 0 8\r\n\r\n\x01\x00\x7f\r\nx\r\nget bin\r\n",
    );
    s.step(
        "cas",
        "cas a 0 0 1 {cas:a}\r\nA\r\ncas a 0 0 1 {cas:a}\r\nB\r\ngets a\r\ncas a 0 0 1 0\r\nC\r\n\
         cas nope 0 0 1 1\r\nx\r\ncas nope 0 0 1 0\r\nx\r\ncas a 0 0 1 999999999\r\nx\r\n",
    );
    s.step(
        "cas after cas",
        "gets a\r\ncas a 7 0 2 {cas:a}\r\nAA\r\ngets a\r\ncas a 8 0 2 {cas:a} noreply\r\nBB\r\ngets a\r\n",
    );
    s.step(
        "delete",
        "delete a\r\ndelete a\r\nset a 0 0 1\r\nx\r\ndelete a 0\r\ndelete a 0\r\nset a 0 0 1\r\nx\r\n\
         delete a 1\r\ndelete a noreply\r\nget a\r\ndelete\r\n",
    );
    s.step(
        "incr / decr",
        "incr n 1\r\ndecr n 1\r\nset n 3 0 2\r\n10\r\nincr n 5\r\ndecr n 3\r\ndecr n 100\r\n\
         incr n 18446744073709551615\r\nincr n 2\r\nget n\r\nset m 0 0 3\r\n100\r\ndecr m 1\r\n\
         get m\r\nincr m 1\r\nget m\r\nincr n abc\r\nincr n -1\r\nincr n 18446744073709551616\r\n\
         set s 0 0 1\r\nx\r\nincr s 1\r\ndecr s 1\r\nset s 0 0 2\r\n 7\r\nincr s 1\r\nincr\r\n\
         incr n\r\nincr n 1 2 3\r\ngets n\r\n",
    );
    s.step(
        "touch",
        "touch nope 10\r\nset t 0 0 1\r\nx\r\ntouch t 1000\r\ntouch t 0\r\ntouch t\r\ntouch t abc\r\n\
         get t\r\n",
    );
    s.step(
        "expiry: negative and absolute past",
        "set x 0 -1 1\r\nx\r\nget x\r\nset x 0 1000000000 1\r\nx\r\nget x\r\nset x 0 0 1\r\nx\r\n\
         touch x -1\r\nget x\r\nset x 0 0 1\r\nx\r\ngat -1 x\r\nget x\r\n",
    );
    s.step(
        "noreply on everything",
        "set q 0 0 1 noreply\r\nx\r\nadd q 0 0 1 noreply\r\ny\r\nreplace q 0 0 1 noreply\r\nz\r\n\
         append q 0 0 1 noreply\r\n1\r\nprepend q 0 0 1 noreply\r\n0\r\nget q\r\n\
         cas q 0 0 1 1 noreply\r\nc\r\nset qn 0 0 1 noreply\r\n5\r\nincr qn 3 noreply\r\n\
         decr qn 1 noreply\r\nincr q 1 noreply\r\nincr qn abc noreply\r\nget qn\r\n\
         touch q 100 noreply\r\ndelete q noreply\r\ndelete q noreply\r\nget q\r\n\
         verbosity 1 noreply\r\n",
    );
    s.step(
        "long keys",
        &format!(
            "set {k250} 0 0 1\r\nx\r\nget {k250}\r\nget {k251}\r\nset {k251} 0 0 1\r\nx\r\n\
             mg {k251} v\r\nmd {k251}\r\nma {k251}\r\ndelete {k250}\r\n",
            k250 = "k".repeat(250),
            k251 = "k".repeat(251)
        ),
    );

    // ---- errors
    s.step(
        "unknown and malformed lines",
        "foo\r\n\r\nGET a\r\nget\r\nget  \r\n\x00\r\nget\ta\r\nmn \r\nset\r\nset a 0 0\r\n\
         cas a 0 0 1\r\nverbosity\r\nverbosity a\r\nverbosity 1 2 3\r\n",
    );
    s.step(
        "bad command line format",
        "set a b c d\r\nset a abc 0 1\r\nx\r\nset a 0 0 -1\r\nset a 0 abc 1\r\nx\r\n\
         set a abc 0 1 noreply\r\nx\r\n",
    );
    s.step(
        "bad data chunk",
        "set a 0 0 1\r\nxy\r\nset a 0 0 1\r\nxyz\r\nset a 0 0 1 noreply\r\nxy\r\nget a\r\n\
         set a 0 0 1\nx\nget a\n",
    );
    s.step(
        "flush_all forms",
        "set f 0 0 1\r\nx\r\nflush_all 100\r\nget f\r\nflush_all 0\r\nget f\r\nset f 0 0 1\r\nx\r\n\
         flush_all noreply\r\nget f\r\nflush_all -1\r\nflush_all 0 0\r\nflush_all abc\r\n\
         flush_all abc noreply\r\n",
    );
    s.step(
        "version / verbosity",
        "verbosity 1\r\nverbosity 0\r\nverbosity 1 noreply\r\nverbosity 0 noreply\r\n",
    );
    s.stats("stats", "stats\r\n");
    s.stats("stats settings", "stats settings\r\n");
    s.step(
        "stats sub-commands",
        "stats reset\r\nstats reset x\r\nstats foo\r\nstats detail\r\nstats sizes\r\n",
    );

    // ---- too-large values: refused, the data swallowed
    let big = value_of(2_000_000, 3);
    s.bytes(
        "too large",
        format!("set big 0 0 {}\r\n{big}\r\nget big\r\n", big.len()).into_bytes(),
    );
    s.bytes(
        "too large noreply",
        format!("set big 0 0 {} noreply\r\n{big}\r\nget big\r\n", big.len()).into_bytes(),
    );
    s.bytes(
        "too large meta",
        format!("ms big {} T0\r\n{big}\r\nmg big v\r\n", big.len()).into_bytes(),
    );
    let max = value_of(1_048_516, 5);
    s.bytes(
        "largest storable value",
        format!(
            "set max 0 0 {}\r\n{max}\r\nset max1 0 0 {}\r\n{max}x\r\nmg max s\r\nget max1\r\n",
            max.len(),
            max.len() + 1
        )
        .into_bytes(),
    );
    let mid = value_of(100_000, 9);
    s.bytes(
        "100 KB round trip",
        format!(
            "set mid 11 0 {}\r\n{mid}\r\nget mid\r\nmg mid v f s\r\ndelete max\r\n",
            mid.len()
        )
        .into_bytes(),
    );

    // ---- meta commands
    s.step(
        "mn / me",
        "mn\r\nmn x\r\nme nope\r\nme\r\nset me 0 0 2\r\nhi\r\nme me\r\nget me\r\nme me\r\n",
    );
    s.step(
        "mg misses",
        "mg miss\r\nmg miss v\r\nmg miss k O123 v\r\nmg miss v q\r\nmg miss k q\r\nmg miss s f c t h\r\n",
    );
    s.step(
        "ms and mg flags",
        "ms a 3 F5\r\nabc\r\nmg a\r\nmg a q\r\nmg a v\r\nmg a s v c f t k O9 q\r\nmg a k f s\r\n\
         mg a h\r\nmg a h\r\nmg a c v\r\nms a 3 c\r\nxyz\r\nmg a c s\r\n",
    );
    s.step(
        "ms modes",
        "ms mm 2 MA\r\nhi\r\nms mm 2 MP\r\nhi\r\nms mm 2 MR\r\nhi\r\nms mm 2 ME\r\nhi\r\n\
         ms mm 2 ME\r\nho\r\nms mm 2 MR F3\r\nyo\r\nms mm 1 MA\r\n!\r\nms mm 1 MP\r\n<\r\n\
         mg mm v f\r\nms mm 1 MS\r\nz\r\nmg mm v\r\nms mm 1 MX\r\nz\r\nms mm 1 M\r\nz\r\n",
    );
    s.step(
        "ms with CAS and q",
        "ms mc 2\r\nhi\r\nms mc 2 C999999999\r\nno\r\nms mc 2 C999999999 q\r\nno\r\n\
         ms nocas 2 C99\r\nno\r\nms mc 2 C{cas:mc} q\r\nok\r\nms mc 2 MA q\r\nhi\r\n\
         ms mc2 2 ME q\r\nhi\r\nms mc2 1 ME q\r\nh\r\nmg mc v\r\nmg mc2 v\r\n",
    );
    s.step(
        "ms other flags",
        "ms a 1 Oabc k\r\nx\r\nms a 1 T-1\r\nx\r\nmg a v\r\nms a 0\r\n\r\nmg a v s\r\n\
         ms a 1 I\r\ny\r\nmg a v\r\nms a 1 F-1\r\nx\r\nms a 1 Fabc\r\nx\r\nms\r\nms a\r\nms a xx\r\n\
         ms a S2\r\nhi\r\nms a 2 v v\r\nhi\r\n",
    );
    s.step(
        "base64 keys",
        "ms YQ== 2 b\r\nhi\r\nmg a v\r\nmg YQ== b v k\r\nms !!!! 2 b\r\nhi\r\nmg !!!! b v\r\n\
         md YQ== b q\r\nmg a v\r\n",
    );
    s.step(
        "mg errors",
        &format!(
            "mg a v v\r\nmg a zz\r\nmg\r\nmg a O{o31} v\r\nmg a O{o32} v\r\n",
            o31 = "o".repeat(31),
            o32 = "o".repeat(32)
        ),
    );
    s.step(
        "md",
        "md d\r\nmd d q\r\nms d 1\r\nx\r\nmd d q\r\nmd d\r\nms d 1\r\nx\r\nmd d O1 k\r\n\
         md d O1 k q\r\nms d 1\r\nx\r\nmd d C1\r\nmd d C1 q\r\nmd d C{cas:d}\r\nmg d v\r\n\
         md d zz\r\nmd d x\r\n",
    );
    s.step(
        "ma",
        "ma c1\r\nma c1 q\r\nma c1 N0 J13 v t\r\nma c1\r\nma c1 v\r\nma c1 MD D20 v\r\n\
         ma c1 M- D2 v\r\nma c1 MI D5 v\r\nma c1 M+ D5 v\r\nma c1 MI D18446744073709551615 v\r\n\
         ma c1 c v\r\nma c1 C1\r\nma c1 C1 q\r\nma c1 C{cas:c1} v\r\nma c1 q\r\nma c1 k O5 v\r\n\
         ma c2 N0 v t\r\nms s 1\r\nx\r\nma s\r\nma c1 MX\r\nma c1 zz\r\nma c1 Dabc\r\nget c1 c2\r\n",
    );
    s.step(
        "classic and meta share items",
        "set sh 42 0 5\r\nhello\r\nmg sh v f s\r\nms sh2 3 F7\r\nbye\r\nget sh2\r\n\
         ma sh3 N0 J1\r\nincr sh3 1\r\ngets sh sh2 sh3\r\nmg sh c\r\n",
    );
    s.step(
        "stale and recache",
        "ms st 1 T0\r\nx\r\nmd st I\r\nmg st v c\r\nmg st v c\r\nmg st\r\nms st 1 I C999999\r\ny\r\n\
         ms st 1 I\r\ny\r\nmg st v\r\nmd st I\r\nmg st v\r\nms st 1 C12345 I\r\nz\r\nmg st v\r\n\
         ms st 1\r\nq\r\nmg st v c\r\n",
    );
    s.step(
        "vivify",
        "mg vv N30 v s\r\nmg vv v\r\nms vv 1\r\nq\r\nmg vv v\r\nms rr 1 T100\r\nx\r\n\
         mg rr R30 v\r\nmg rr R200 v\r\nmg rr v\r\n",
    );

    // ---- volume: many keys, pipelined in one write
    let mut batch = String::new();
    for i in 0..40 {
        batch.push_str(&format!(
            "set key{i} {i} 0 {}\r\n{}\r\n",
            i + 1,
            value_of(i + 1, i as u8)
        ));
    }
    for i in 0..40 {
        match i % 5 {
            0 => batch.push_str(&format!("get key{i} key{} nokey{i}\r\n", i + 1)),
            1 => batch.push_str(&format!("gets key{i}\r\n")),
            2 => batch.push_str(&format!("mg key{i} v f s c k\r\n")),
            3 => batch.push_str(&format!("delete key{i}\r\nget key{i}\r\n")),
            _ => batch.push_str(&format!(
                "append key{i} 0 0 1\r\n+\r\nmd key{i} q\r\nmg key{i} v\r\n"
            )),
        }
    }
    s.step("pipelined batch", &batch);
    let mut counters = String::new();
    for i in 0..20 {
        counters.push_str(&format!(
            "incr ctr {i}\r\nma ctr N0 J{i} v\r\ndecr ctr 1\r\n"
        ));
    }
    counters.push_str("gets ctr\r\n");
    s.step("counter batch", &counters);

    // ---- closing
    s.closing("quit", "mn\r\nquit\r\nget a\r\n");
    s.closing("quit with argument", "quit now\r\n");
    s.step("after reconnect", "get sh key1 key2\r\n");
    s
}

fn text_oracle(kind: Kind) {
    let script = script();
    let commands = script.command_count();
    assert!(commands >= 300, "the script sends only {commands} commands");
    let oracle = Server::start(Kind::Memcached);
    let keel = Server::start(kind);
    let mut mc = Side::new(&oracle);
    let mut kl = Side::new(&keel);
    let mut mismatches = Vec::new();
    for (i, step) in script.steps.iter().enumerate() {
        let want = mc.run(i, step);
        let got = kl.run(i, step);
        match step.compare {
            Compare::Exact => {
                let (want_n, got_n) = (mc.normalise(&want), kl.normalise(&got));
                if want_n != got_n {
                    mismatches.push(format!(
                        "step {i} {:?}:\n  memcached: {}\n  {}: {}",
                        step.name,
                        shorten(&want_n),
                        kind.name(),
                        shorten(&got_n)
                    ));
                }
            }
            Compare::StatShape => {
                let w =
                    stat_shape(&want).unwrap_or_else(|e| panic!("memcached {}: {e}", step.name));
                let g = stat_shape(&got)
                    .unwrap_or_else(|e| panic!("{} {}: {e}", kind.name(), step.name));
                assert!(w > 0 && g > 0);
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} steps ({commands} commands) differ from memcached:\n{}",
        mismatches.len(),
        script.steps.len(),
        mismatches.join("\n")
    );
    // Both servers really did the work: the CAS tables saw the same number of values.
    assert_eq!(mc.cas_map.len(), kl.cas_map.len());
    assert!(
        mc.cas_map.len() > 20,
        "only {} CAS values seen",
        mc.cas_map.len()
    );
}

server_tests!(text_oracle: mio, poll, uring);

/// Steps keel once answered differently from memcached (base64-keyed items, lowercase meta modes,
/// counting an invalid flush_all), against the live oracle.
fn former_differences(kind: Kind) {
    let oracle = Server::start(Kind::Memcached);
    let keel = Server::start(kind);
    let mut mc = Side::new(&oracle);
    let mut kl = Side::new(&keel);
    let mut s = Script::default();
    s.step(
        "base64 key remembered",
        "ms Zm9v 2 b\r\nhi\r\nmg foo v k\r\n",
    );
    s.step("lowercase modes", "ma n Mi\r\nms n 1 Ms\r\n1\r\n");
    s.step(
        "cmd_flush counts invalid flush_all",
        "stats reset\r\nflush_all abc\r\nflush_all abc noreply\r\nflush_all\r\n",
    );
    for (i, step) in s.steps.iter().enumerate() {
        let (want, got) = (mc.run(i, step), kl.run(i, step));
        assert_eq!(
            String::from_utf8_lossy(&mc.normalise(&want)),
            String::from_utf8_lossy(&kl.normalise(&got)),
            "step {:?}",
            step.name
        );
    }
    let mut mcc = TextConn::connect(oracle.port);
    let mut klc = TextConn::connect(keel.port);
    assert_eq!(mcc.stat("cmd_flush"), klc.stat("cmd_flush"), "cmd_flush");
}

server_tests!(former_differences: mio, poll, uring);
