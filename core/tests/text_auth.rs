//! Text-protocol authentication (memcached `-Y`) in the pure core, on a fake clock: every request
//! before authentication answered `CLIENT_ERROR unauthenticated`; `set <any> <flags> <exptime>
//! <bytes>\r\n<user> <password>\r\n` answered `STORED` without storing; memcached's lines for a bad
//! termination, a bad token and a wrong password; the 16 KiB bound on the token; `auth_cmds` and
//! `auth_errors`; a reload of the users seen by every server sharing them; and a property test
//! feeding garbage and truncated auth lines in random chunks: no panic, the same output however
//! the stream is split, and another connection on the same server unaffected.

mod support;

use keel_core::text_auth::MAX_TOKEN_LEN;
use keel_core::{CacheConfig, CloseReason, Config, Credentials, ProtocolMode, SharedCredentials};
use proptest::prelude::*;
use support::Harness;

const UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated\r\n";
const FAILURE: &[u8] = b"CLIENT_ERROR authentication failure\r\n";
const BAD_TERMINATION: &[u8] = b"CLIENT_ERROR bad command line termination\r\n";
const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad authentication token format\r\n";
const TOO_LONG: &[u8] = b"CLIENT_ERROR auth token too long\r\n";

fn users() -> Credentials {
    Credentials::parse_pwdb("alice:s3cret\nbob:pw two\ncarol:a:b\n").unwrap()
}

fn harness_with(shared: &SharedCredentials, protocol: ProtocolMode) -> Harness {
    let config = Config {
        idle_timeout: None,
        protocol,
        text_auth: Some(shared.clone()),
        ..Config::default()
    };
    Harness::with_config(config, CacheConfig::default())
}

fn harness() -> Harness {
    harness_with(&SharedCredentials::new(users()), ProtocolMode::Auto)
}

/// The authentication request for `token`.
fn auth(token: &str) -> Vec<u8> {
    format!("set auth 0 0 {}\r\n{token}\r\n", token.len()).into_bytes()
}

/// Sends `bytes` on `id` and returns what came back.
fn call(h: &mut Harness, id: keel_core::ConnId, bytes: &[u8]) -> Vec<u8> {
    h.send(id, bytes);
    h.take_output(id)
}

#[test]
fn every_command_is_refused_before_authentication() {
    let mut h = harness();
    let id = h.accept();
    for request in [
        &b"get a\r\n"[..],
        b"version\r\n",
        b"stats\r\n",
        b"quit\r\n",
        b"mn\r\n",
        b"flush_all\r\n",
        b"\r\n",
        b"\n",
        b"set x 0 0\r\n",
        b"SET x 0 0 12\r\n",
        b"set x 0 0 12x\r\n",
        b"set x 0 0 -1\r\n",
        b"set\tx 0 0 12\r\n",
    ] {
        assert_eq!(call(&mut h, id, request), UNAUTHENTICATED, "{request:?}");
    }
    // A binary request is text too: its header is one line up to its first "\n" byte.
    let mut noop = [0u8; 24];
    noop[0] = 0x80;
    noop[1] = 0x0a;
    assert_eq!(call(&mut h, id, &noop[..2]), UNAUTHENTICATED);
    assert_eq!(h.close_reason(id), None, "the connection stays open");
    assert_eq!(h.server.stats().auth_cmds, 0);
}

#[test]
fn a_good_token_is_stored_nowhere_and_opens_the_protocol() {
    let mut h = harness();
    let id = h.accept();
    assert_eq!(call(&mut h, id, &auth("alice s3cret")), b"STORED\r\n");
    assert_eq!(
        call(&mut h, id, b"get auth\r\n"),
        b"END\r\n",
        "nothing stored"
    );
    assert_eq!(
        call(
            &mut h,
            id,
            b"set auth 0 0 12\r\nalice s3cret\r\nget auth\r\n"
        ),
        b"STORED\r\nVALUE auth 0 12\r\nalice s3cret\r\nEND\r\n",
        "once authenticated, set is a set"
    );
    assert_eq!(h.server.stats().auth_cmds, 1);
    assert_eq!(h.server.stats().auth_errors, 0);
    // Another connection is not authenticated by this one.
    let other = h.accept();
    assert_eq!(call(&mut h, other, b"get auth\r\n"), UNAUTHENTICATED);
}

#[test]
fn the_set_line_is_read_as_memcached_reads_it() {
    for request in [
        &b"set x 0 0 12 noreply\r\nalice s3cret\r\n"[..],
        b" set  k y z +12\r\nalice s3cret\r\n",
        b"set x 0 0 12\nalice s3cret\r\n",
        b"set x 0 0 10\r\nbob pw two\r\n",
    ] {
        let mut h = harness();
        let id = h.accept();
        assert_eq!(call(&mut h, id, request), b"STORED\r\n", "{request:?}");
    }
}

#[test]
fn passwords_are_everything_after_the_first_space() {
    let mut h = harness();
    let id = h.accept();
    assert_eq!(call(&mut h, id, &auth("bob pw")), FAILURE);
    assert_eq!(call(&mut h, id, &auth("alice s3cret junk")), FAILURE);
    assert_eq!(call(&mut h, id, &auth("alice  s3cret")), FAILURE);
    assert_eq!(call(&mut h, id, &auth("alice ")), FAILURE);
    assert_eq!(call(&mut h, id, &auth(" alice s3cret")), FAILURE);
    assert_eq!(call(&mut h, id, &auth("carol a:b")), b"STORED\r\n");
    let id = h.accept();
    assert_eq!(call(&mut h, id, &auth("bob pw two")), b"STORED\r\n");
}

#[test]
fn memcached_error_lines_and_counts() {
    let mut h = harness();
    let id = h.accept();
    assert_eq!(call(&mut h, id, &auth("alice s3cre!")), FAILURE);
    assert_eq!(call(&mut h, id, &auth("ALICE s3cret")), FAILURE);
    assert_eq!(call(&mut h, id, &auth("alice")), BAD_FORMAT);
    assert_eq!(call(&mut h, id, &auth("")), BAD_FORMAT);
    assert_eq!(call(&mut h, id, b"set x 0 0 1\r\na\r\n"), BAD_FORMAT);
    assert_eq!(
        call(&mut h, id, b"set x 0 0 12\r\nalice s3cretXX"),
        BAD_TERMINATION
    );
    assert_eq!(
        call(&mut h, id, b"set x 0 0 12\r\nalice s3cret\n\n"),
        BAD_TERMINATION
    );
    assert_eq!(call(&mut h, id, b"version\r\n"), UNAUTHENTICATED);
    // Checked tokens count; malformed ones do not (memcached's counting).
    assert_eq!(h.server.stats().auth_cmds, 2);
    assert_eq!(h.server.stats().auth_errors, 2);
    assert_eq!(call(&mut h, id, &auth("alice s3cret")), b"STORED\r\n");
    assert_eq!(h.server.stats().auth_cmds, 3);
    assert_eq!(h.server.stats().auth_errors, 2);
    let stats = String::from_utf8(call(&mut h, id, b"stats\r\n")).unwrap();
    assert!(stats.contains("STAT auth_cmds 3\r\n"), "{stats}");
    assert!(stats.contains("STAT auth_errors 2\r\n"), "{stats}");
}

#[test]
fn pipelined_requests_each_get_their_reply() {
    let mut h = harness();
    let id = h.accept();
    let mut stream = b"get a\r\nget b\r\n".to_vec();
    stream.extend_from_slice(&auth("alice nope"));
    stream.extend_from_slice(&auth("alice s3cret"));
    stream.extend_from_slice(b"version\r\n");
    let mut expected = [UNAUTHENTICATED, UNAUTHENTICATED, FAILURE, b"STORED\r\n"].concat();
    expected.extend_from_slice(b"VERSION 1.6.18\r\n");
    assert_eq!(call(&mut h, id, &stream), expected);
}

#[test]
fn the_token_waits_for_its_bytes_and_may_arrive_in_pieces() {
    let mut h = harness();
    let id = h.accept();
    assert_eq!(call(&mut h, id, b"set x 0 0 12\r\n"), b"");
    assert_eq!(call(&mut h, id, b"alice s3"), b"");
    assert_eq!(call(&mut h, id, b"cret\r"), b"");
    assert_eq!(
        call(&mut h, id, b"\nversion\r\n"),
        b"STORED\r\nVERSION 1.6.18\r\n"
    );
}

#[test]
fn the_token_is_bounded() {
    let mut h = harness();
    let id = h.accept();
    let exact = format!("alice {}", "x".repeat(MAX_TOKEN_LEN - 6));
    assert_eq!(
        call(&mut h, id, &auth(&exact)),
        FAILURE,
        "16 KiB is allowed"
    );
    let line = format!("set x 0 0 {}\r\n", MAX_TOKEN_LEN + 1);
    assert_eq!(call(&mut h, id, line.as_bytes()), TOO_LONG);
    assert_eq!(h.close_reason(id), Some(CloseReason::Unauthenticated));
    let id = h.accept();
    assert_eq!(call(&mut h, id, b"set x 0 0 4294967295\r\n"), TOO_LONG);
    assert_eq!(h.close_reason(id), Some(CloseReason::Unauthenticated));
}

#[test]
fn a_long_line_without_newline_closes_silently() {
    let mut h = harness();
    let id = h.accept();
    assert_eq!(
        call(&mut h, id, &[b'x'; 2048]),
        b"",
        "2048 bytes may still be a line"
    );
    assert_eq!(h.close_reason(id), None);
    assert_eq!(call(&mut h, id, b"x"), b"");
    assert_eq!(h.close_reason(id), Some(CloseReason::LineTooLong));
}

#[test]
fn auth_makes_every_connection_text() {
    for protocol in [
        ProtocolMode::Auto,
        ProtocolMode::Binary,
        ProtocolMode::Ascii,
    ] {
        let mut h = harness_with(&SharedCredentials::new(users()), protocol);
        let id = h.accept();
        assert_eq!(call(&mut h, id, &auth("alice s3cret")), b"STORED\r\n");
        assert_eq!(call(&mut h, id, b"version\r\n"), b"VERSION 1.6.18\r\n");
    }
}

#[test]
fn a_reload_reaches_every_server_sharing_the_users() {
    let shared = SharedCredentials::new(users());
    let mut one = harness_with(&shared, ProtocolMode::Auto);
    let mut two = harness_with(&shared, ProtocolMode::Auto);
    let before = one.accept();
    assert_eq!(call(&mut one, before, &auth("alice s3cret")), b"STORED\r\n");
    shared.replace(Credentials::parse_pwdb("alice:new\n").unwrap());
    for h in [&mut one, &mut two] {
        let id = h.accept();
        assert_eq!(call(h, id, &auth("alice s3cret")), FAILURE);
        assert_eq!(call(h, id, &auth("alice new")), b"STORED\r\n");
    }
    // An authenticated connection stays so.
    assert_eq!(
        call(&mut one, before, b"version\r\n"),
        b"VERSION 1.6.18\r\n"
    );
}

/// Pieces of auth traffic, well-formed and not.
fn auth_piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(auth("alice s3cret")),
        Just(auth("alice wrong")),
        Just(auth("alice")),
        Just(b"set x 0 0 12\r\nalice s3cretXX".to_vec()),
        Just(b"get a\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        (0u32..40_000).prop_map(|n| format!("set k 0 0 {n}\r\n").into_bytes()),
        (0u32..64).prop_map(|n| format!("set k 0 0 {n}").into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\r'), Just(b'\n')], 0..8),
        Just(vec![b'y'; 2100]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn garbage_and_truncated_auth_is_harmless(
        pieces in proptest::collection::vec(auth_piece(), 0..12),
        chunk in 1usize..64,
        eof in any::<bool>(),
    ) {
        let stream = pieces.concat();
        let mut whole = harness();
        let mut split = harness();
        let bystander = split.accept();
        assert_eq!(call(&mut split, bystander, &auth("bob pw two")), b"STORED\r\n");
        let (a, b) = (whole.accept(), split.accept());
        whole.send(a, &stream);
        for piece in stream.chunks(chunk) {
            split.send(b, piece);
        }
        if eof {
            whole.eof(a);
            split.eof(b);
        }
        prop_assert_eq!(whole.take_output(a), split.take_output(b));
        prop_assert_eq!(whole.close_reason(a), split.close_reason(b));
        prop_assert_eq!(whole.server.stats().auth_cmds, split.server.stats().auth_cmds - 1);
        // The other connection is untouched.
        prop_assert_eq!(
            call(&mut split, bystander, b"set k 0 0 1\r\nv\r\nget k\r\n"),
            b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n".to_vec()
        );
    }
}
