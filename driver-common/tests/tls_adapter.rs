//! The TLS adapter between socket bytes and a real `keel_core::Server`, without sockets: garbage
//! and truncated TLS records never panic and never reach the core as requests; a connection fed
//! garbage is closed (and counted as a handshake error) while a plaintext connection of the same
//! server goes on unharmed; a connection stalled mid-handshake is closed by the read timeout; a
//! capped sink (a completion driver's send buffer) gets whole records in pieces; a session
//! error's alert leaves through `close`.

use std::sync::{Arc, OnceLock};

use keel_core::{
    Cache, CacheConfig, CloseReason, Config, ConnId, Output, Server, StatSink, Timestamp,
    TlsControl,
};
use keel_driver_common::{Security, TlsConn, TlsContext};
use keel_transport::TlsSettings;
use proptest::prelude::*;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

/// One context for every case: a self-signed certificate made now, in a temporary directory.
fn context() -> Arc<TlsContext> {
    static CONTEXT: OnceLock<Arc<TlsContext>> = OnceLock::new();
    Arc::clone(CONTEXT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("keel-tls-adapter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), made.key_pair.serialize_pem()).unwrap();
        let settings = TlsSettings {
            chain_cert: Some(dir.join("cert.pem")),
            key: Some(dir.join("key.pem")),
            ..TlsSettings::default()
        };
        Arc::new(TlsContext::load(settings, false, T0).unwrap())
    }))
}

/// A real client's first flight: a ClientHello.
fn client_hello() -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    hello
}

struct Setup {
    server: Server<Cache>,
    plain: ConnId,
    tls_id: ConnId,
    tls: TlsConn,
}

fn setup() -> Setup {
    let config = Config {
        read_timeout: Some(std::time::Duration::from_secs(30)),
        ..Config::default()
    };
    let mut server = Server::new(config, Cache::new(CacheConfig::default()), T0);
    let plain = server.accept(T0).unwrap();
    let tls_id = server.accept(T0).unwrap();
    let tls = TlsConn::start(&context(), Security::Tls, &mut server, tls_id, T0).unwrap();
    Setup {
        server,
        plain,
        tls_id,
        tls,
    }
}

/// Every output of the server: the close reason of `id`, if it was closed.
fn closed(server: &mut Server<Cache>, id: ConnId) -> Option<CloseReason> {
    let mut reason = None;
    while let Some(output) = server.poll_output() {
        if let Output::Close(closed, why) = output {
            if closed == id {
                reason = Some(why);
            }
        }
    }
    reason
}

fn handshake_errors() -> u64 {
    struct Find(Option<u64>);
    impl StatSink for Find {
        fn stat(&mut self, name: &str, value: &dyn std::fmt::Display) {
            if name == "ssl_handshake_errors" {
                self.0 = value.to_string().parse().ok();
            }
        }
    }
    let mut find = Find(None);
    context().write_stats(T0, &mut find);
    find.0.unwrap()
}

/// The plaintext connection of the same server still answers.
fn plaintext_answers(server: &mut Server<Cache>, plain: ConnId) {
    server.handle_input(plain, T0, b"version\r\n");
    assert_eq!(server.outbound(plain), b"VERSION 1.6.18\r\n");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Bytes that cannot start a TLS record (content types 20 to 24, heartbeat included, which a
    /// TLS reader takes as a record type until the header is whole) close the connection at once.
    #[test]
    fn garbage_closes_only_its_connection(
        first in any::<u8>().prop_filter("not a record type", |b| !(0x14..=0x18).contains(b)),
        rest in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..6),
    ) {
        let mut s = setup();
        let before = handshake_errors();
        let (mut plain, mut wire) = (Vec::new(), Vec::new());
        s.tls.receive(&mut s.server, s.tls_id, T0, &[first], &mut plain);
        for chunk in &rest {
            s.tls.receive(&mut s.server, s.tls_id, T0, chunk, &mut plain);
            s.tls.transmit(&mut s.server, s.tls_id, T0, &mut wire);
        }
        prop_assert!(plain.is_empty());
        prop_assert_eq!(closed(&mut s.server, s.tls_id), Some(CloseReason::IoError));
        prop_assert!(handshake_errors() > before);
        plaintext_answers(&mut s.server, s.plain);
    }

    /// A real ClientHello cut anywhere, or followed by garbage: no panic, no plaintext reaches the
    /// core, and a connection left mid-handshake is closed by the read timeout.
    #[test]
    fn truncated_and_corrupted_hellos_are_harmless(
        cut in 0usize..2000,
        tail in proptest::collection::vec(any::<u8>(), 0..64),
        split in 1usize..50,
    ) {
        let hello = client_hello();
        let mut bytes = hello[..cut.min(hello.len() - 1)].to_vec();
        bytes.extend_from_slice(&tail);
        let mut s = setup();
        let (mut plain, mut wire) = (Vec::new(), Vec::new());
        for chunk in bytes.chunks(split) {
            s.tls.receive(&mut s.server, s.tls_id, T0, chunk, &mut plain);
            prop_assert!(plain.is_empty());
            s.tls.transmit(&mut s.server, s.tls_id, T0, &mut wire);
        }
        let reason = closed(&mut s.server, s.tls_id).or_else(|| {
            s.server.handle_timeout(T0.saturating_add_secs(30));
            closed(&mut s.server, s.tls_id)
        });
        prop_assert!(
            matches!(reason, Some(CloseReason::IoError | CloseReason::ReadTimeout)),
            "{:?}", reason
        );
        plaintext_answers(&mut s.server, s.plain);
    }
}

/// A whole ClientHello gets the server's flight back and leaves the connection open until the
/// read timeout (the client never finishes).
#[test]
fn a_whole_hello_is_answered_then_timed_out() {
    let mut s = setup();
    let (mut plain, mut wire) = (Vec::new(), Vec::new());
    s.tls
        .receive(&mut s.server, s.tls_id, T0, &client_hello(), &mut plain);
    let sent = s.tls.transmit(&mut s.server, s.tls_id, T0, &mut wire);
    assert!(sent.wrote && !sent.blocked);
    assert_eq!(wire[0], 0x16, "a handshake record");
    assert_eq!(closed(&mut s.server, s.tls_id), None);
    s.server.handle_timeout(T0.saturating_add_secs(29));
    assert_eq!(closed(&mut s.server, s.tls_id), None);
    s.server.handle_timeout(T0.saturating_add_secs(30));
    assert_eq!(
        closed(&mut s.server, s.tls_id),
        Some(CloseReason::ReadTimeout)
    );
}

/// A sink that takes at most `room` bytes, then reports `WouldBlock`: a completion driver's send
/// buffer, which is handed to the kernel before it takes more.
struct Capped<'a> {
    out: &'a mut Vec<u8>,
    room: usize,
}

impl std::io::Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.room == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.room);
        self.out.extend_from_slice(&buf[..n]);
        self.room -= n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The server's flight through a sink that takes 100 bytes per send: each `transmit` fills it
/// and says blocked until the rest fits, and the pieces make whole TLS records, none lost.
#[test]
fn a_capped_sink_gets_the_flight_in_pieces() {
    let mut s = setup();
    let mut plain = Vec::new();
    s.tls
        .receive(&mut s.server, s.tls_id, T0, &client_hello(), &mut plain);
    let mut pieces = Vec::new();
    let mut sends = 0;
    loop {
        let mut send = Vec::new();
        let done = s.tls.transmit(
            &mut s.server,
            s.tls_id,
            T0,
            &mut Capped {
                out: &mut send,
                room: 100,
            },
        );
        pieces.extend_from_slice(&send);
        sends += 1;
        if !done.blocked {
            break;
        }
        assert_eq!(send.len(), 100, "blocked only when full");
        assert!(s.tls.wants_write());
    }
    assert!(pieces.len() > 300, "a flight of {} bytes", pieces.len());
    assert_eq!(sends, pieces.len().div_ceil(100));
    assert!(!s.tls.wants_write());
    // Record headers (type, version, 2-byte length) chain exactly to the end.
    let mut at = 0;
    while at < pieces.len() {
        assert!(matches!(pieces[at], 0x14..=0x17), "record type at {at}");
        at += 5 + usize::from(u16::from_be_bytes([pieces[at + 3], pieces[at + 4]]));
    }
    assert_eq!(at, pieces.len());
}

/// A plaintext request on a TLS connection is a session error: the connection closes, and the
/// alert the session queued leaves through `close` (a driver calls it on the core's `Close`).
#[test]
fn a_session_errors_alert_leaves_through_close() {
    let mut s = setup();
    let mut plain = Vec::new();
    s.tls
        .receive(&mut s.server, s.tls_id, T0, b"get k\r\n", &mut plain);
    assert!(plain.is_empty());
    assert_eq!(closed(&mut s.server, s.tls_id), Some(CloseReason::IoError));
    let mut wire = Vec::new();
    s.tls.close(&mut wire);
    assert_eq!(wire.first(), Some(&0x15), "an alert record: {wire:?}");
    plaintext_answers(&mut s.server, s.plain);
}
