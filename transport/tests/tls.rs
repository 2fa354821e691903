//! keel-transport's TLS session against a real rustls client, entirely in memory: the handshake,
//! data both ways (more than the session buffers at once), close_notify both ways, memcached's
//! defaults (TLS 1.2 minimum: a TLS 1.1 hello refused, TLS 1.2 accepted, `ssl_min_version=3`
//! refusing 1.2), mutual TLS (verify mode 2 accepts a client certificate from the CA and refuses
//! none or another CA's; mode 1 accepts a client without one), `ssl_ciphers`, certificate reloads
//! (new sessions only; a bad file is a typed error and the old certificate stays), and plaintext,
//! garbage and truncated records giving errors, never panics.

mod support;

use keel_transport::{
    CertError, CertStore, MinVersion, ProtocolVersion, TlsError, TlsSettings, VerifyMode,
};
use proptest::prelude::*;
use rustls::version::{TLS12, TLS13};
use support::*;

fn store(dir: &Dir, ca: &Ca, server: &Issued, tweak: impl FnOnce(&mut TlsSettings)) -> CertStore {
    let mut settings = dir.settings(ca, server);
    tweak(&mut settings);
    CertStore::load(settings).unwrap()
}

#[test]
fn handshake_and_data_both_ways() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let server = ca.server();
    let store = store(&dir, &ca, &server, |_| {});
    let mut pair = Pair::new(default_client(&ca), &store);
    assert!(pair.server.is_handshaking());
    pair.handshake();
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(pair.server_cert(), server.der());
    assert_eq!(pair.client_sends(b"get foo\r\n"), b"get foo\r\n");
    assert_eq!(pair.server_sends(b"END\r\n"), b"END\r\n");
    // More than rustls buffers at once (64 KiB): encrypt takes part, the rest waits its turn.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let taken = pair.server.encrypt(&big).unwrap();
    assert!(taken < big.len(), "took {taken} of {}", big.len());
    pair.pump().unwrap();
    assert_eq!(pair.server_sends(&big[taken..]), big);
    assert_eq!(pair.client_sends(&big), big);
    assert_eq!(pair.server.peer_certificates(), None);
}

#[test]
fn plaintext_sent_during_the_handshake_goes_out_after_it() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let store = store(&dir, &ca, &ca.server(), |_| {});
    let mut pair = Pair::new(default_client(&ca), &store);
    assert_eq!(pair.server.encrypt(b"early\r\n").unwrap(), 7);
    pair.handshake();
    assert_eq!(pair.at_client, b"early\r\n");
}

#[test]
fn close_notify_both_ways() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let store = store(&dir, &ca, &ca.server(), |_| {});
    let mut pair = Pair::new(default_client(&ca), &store);
    pair.handshake();
    pair.client.send_close_notify();
    pair.pump().unwrap();
    assert!(pair.server.peer_closed());
    let mut after = Vec::new();
    pair.server
        .feed(b"ignored after close_notify", &mut after)
        .unwrap();
    assert!(after.is_empty());

    let mut pair = Pair::new(default_client(&ca), &store);
    pair.handshake();
    pair.server.close();
    assert!(pair.server.wants_write());
    pair.pump().unwrap();
    assert!(pair.client_saw_close);
}

#[test]
fn tls12_is_the_default_minimum() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let store = store(&dir, &ca, &ca.server(), |_| {});
    assert_eq!(store.settings().min_version, MinVersion::Tls1_2);
    let mut pair = Pair::new(client(&ca, &[&TLS12], None), &store);
    pair.handshake();
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert_eq!(pair.client_sends(b"version\r\n"), b"version\r\n");

    // A TLS 1.1 ClientHello (no supported_versions extension): refused with an alert.
    let mut session = store.new_session().unwrap();
    let mut plain = Vec::new();
    let err = session.feed(&tls11_client_hello(), &mut plain).unwrap_err();
    assert!(
        matches!(err, TlsError::Protocol(rustls::Error::PeerIncompatible(_))),
        "{err:?}"
    );
    let mut alert = Vec::new();
    assert!(session.take_ciphertext(&mut alert) > 0);
    assert_eq!(alert[0], 0x15, "an alert record");
    assert!(plain.is_empty());
}

#[test]
fn min_version_3_refuses_tls12() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let store = store(&dir, &ca, &ca.server(), |s| {
        s.min_version = MinVersion::Tls1_3
    });
    let mut pair = Pair::new(client(&ca, &[&TLS12], None), &store);
    assert!(matches!(
        pair.pump(),
        Err(Failure::Server(TlsError::Protocol(
            rustls::Error::PeerIncompatible(_)
        )))
    ));
    let mut pair = Pair::new(client(&ca, &[&TLS13], None), &store);
    pair.handshake();
    // memcached's 0 and 1 (TLS 1.0, 1.1) still mean TLS 1.2 and up: rustls has nothing older.
    let store = self::store(&dir, &ca, &ca.server(), |s| {
        s.min_version = MinVersion::Tls1_0
    });
    let mut session = store.new_session().unwrap();
    assert!(
        session
            .feed(&tls11_client_hello(), &mut Vec::new())
            .is_err()
    );
}

#[test]
fn mutual_tls_accepts_the_ca_client_and_refuses_others() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let store = store(&dir, &ca, &ca.server(), |s| {
        s.verify_mode = VerifyMode::Require
    });
    let alice = ca.client("alice");
    let mut pair = Pair::new(client(&ca, rustls::DEFAULT_VERSIONS, Some(&alice)), &store);
    pair.handshake();
    assert_eq!(pair.server.peer_certificates().unwrap()[0], alice.der());
    assert_eq!(pair.client_sends(b"stats\r\n"), b"stats\r\n");

    // No client certificate: the server refuses.
    let mut pair = Pair::new(default_client(&ca), &store);
    let err = pair.pump().unwrap_err();
    assert!(
        matches!(
            err,
            Failure::Server(TlsError::Protocol(rustls::Error::NoCertificatesPresented))
        ),
        "{err:?}"
    );
    assert!(pair.at_server.is_empty());

    // A certificate from another CA: refused too.
    let other = Ca::new("someone else");
    let mallory = other.client("mallory");
    let mut pair = Pair::new(
        client(&ca, rustls::DEFAULT_VERSIONS, Some(&mallory)),
        &store,
    );
    let err = pair.pump().unwrap_err();
    assert!(
        matches!(
            err,
            Failure::Server(TlsError::Protocol(rustls::Error::InvalidCertificate(_)))
        ),
        "{err:?}"
    );

    // Mode 1 asks for a certificate but accepts a client without one.
    let store = self::store(&dir, &ca, &ca.server(), |s| {
        s.verify_mode = VerifyMode::Request
    });
    let mut pair = Pair::new(default_client(&ca), &store);
    pair.handshake();
    assert_eq!(pair.server.peer_certificates(), None);
}

#[test]
fn ciphers_restrict_tls12_suites() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    // rcgen's default keys are ECDSA: an RSA-only TLS 1.2 list leaves no usable suite.
    let store = store(&dir, &ca, &ca.server(), |s| {
        s.ciphers = Some("ECDHE-RSA-AES128-GCM-SHA256".into())
    });
    let mut pair = Pair::new(client(&ca, &[&TLS12], None), &store);
    assert!(pair.pump().is_err());
    let mut pair = Pair::new(default_client(&ca), &store);
    pair.handshake();
    assert_eq!(
        pair.server.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    let store = self::store(&dir, &ca, &ca.server(), |s| {
        s.ciphers = Some("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".into())
    });
    let mut pair = Pair::new(client(&ca, &[&TLS12], None), &store);
    pair.handshake();
    assert_eq!(
        pair.client.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    );
}

#[test]
fn refresh_switches_certificates_for_new_sessions_only() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let (first, second) = (ca.server(), ca.server());
    let store = store(&dir, &ca, &first, |_| {});
    let mut open = Pair::new(default_client(&ca), &store);
    open.handshake();
    assert_eq!(open.server_cert(), first.der());

    dir.write("chain.pem", &second.cert.pem());
    dir.write("key.pem", &second.key.serialize_pem());
    store.refresh().unwrap();
    assert_eq!(store.refreshes(), 1);
    let mut fresh = Pair::new(default_client(&ca), &store);
    fresh.handshake();
    assert_eq!(fresh.server_cert(), second.der());
    // The open session keeps its certificate and keeps working.
    assert_eq!(open.client_sends(b"get k\r\n"), b"get k\r\n");
    assert_eq!(open.server_sends(b"END\r\n"), b"END\r\n");
    assert_eq!(open.server_cert(), first.der());

    // Bad files: typed errors, and the second certificate stays.
    dir.write("chain.pem", "not a certificate\n");
    assert!(matches!(
        store.refresh(),
        Err(CertError::NoCertificate { .. })
    ));
    dir.write("chain.pem", "-----BEGIN CERTIFICATE-----\n!!!!\n");
    assert!(matches!(store.refresh(), Err(CertError::Pem { .. })));
    dir.write("chain.pem", &second.cert.pem());
    dir.write("key.pem", &first.key.serialize_pem());
    let err = store.refresh().unwrap_err();
    assert!(
        matches!(err, CertError::Rustls(rustls::Error::InconsistentKeys(_))),
        "{err}"
    );
    dir.write("key.pem", "");
    assert!(matches!(
        store.refresh(),
        Err(CertError::NoPrivateKey { .. })
    ));
    std::fs::remove_file(dir.0.join("key.pem")).unwrap();
    let err = store.refresh().unwrap_err();
    assert!(matches!(err, CertError::Read { .. }), "{err}");
    assert!(err.to_string().contains("key.pem"), "{err}");
    assert_eq!(store.refreshes(), 1);
    let mut after = Pair::new(default_client(&ca), &store);
    after.handshake();
    assert_eq!(after.server_cert(), second.der());
}

#[test]
fn settings_errors_are_typed() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let mut settings = dir.settings(&ca, &ca.server());
    settings.key = None;
    assert!(matches!(
        CertStore::load(settings),
        Err(CertError::Settings(_))
    ));
    let mut settings = dir.settings(&ca, &ca.server());
    settings.ca_cert = None;
    settings.verify_mode = VerifyMode::Require;
    assert!(matches!(
        CertStore::load(settings),
        Err(CertError::Settings(_))
    ));
}

#[test]
fn a_plaintext_client_is_an_error() {
    let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
    let store = store(&dir, &ca, &ca.server(), |_| {});
    for plaintext in [
        &b"get foo\r\n"[..],
        b"\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ] {
        let mut session = store.new_session().unwrap();
        let mut plain = Vec::new();
        let err = session.feed(plaintext, &mut plain).unwrap_err();
        assert!(matches!(err, TlsError::Protocol(_)), "{err:?}");
        assert!(plain.is_empty());
    }
}

/// A TLS 1.1 ClientHello: legacy version 3.2, two suites, no extensions.
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x2f, 0xc0, 0x13]);
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut hs = vec![0x01, 0x00, 0x00, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, hs.len() as u8];
    record.extend_from_slice(&hs);
    record
}

/// The client's first flight, to truncate and corrupt.
fn client_hello(ca: &Ca) -> Vec<u8> {
    let mut client = default_client(ca);
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn garbage_and_truncated_records_never_panic(
        cut in 0usize..600,
        flips in proptest::collection::vec((0usize..600, any::<u8>()), 0..4),
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        chunk in 1usize..100,
        from_garbage in any::<bool>(),
    ) {
        static FIXTURE: std::sync::OnceLock<(Dir, Ca, CertStore, Vec<u8>)> = std::sync::OnceLock::new();
        let (_, _, store, hello) = FIXTURE.get_or_init(|| {
            let (dir, ca) = (Dir::new(), Ca::new("keel test CA"));
            let store = store(&dir, &ca, &ca.server(), |_| {});
            let hello = client_hello(&ca);
            (dir, ca, store, hello)
        });
        let mut input = if from_garbage { garbage.clone() } else {
            let mut bytes = hello[..cut.min(hello.len())].to_vec();
            for (at, value) in &flips {
                if let Some(b) = bytes.get_mut(*at) {
                    *b ^= value;
                }
            }
            bytes.extend_from_slice(&garbage);
            bytes
        };
        input.truncate(4096);
        let mut session = store.new_session().unwrap();
        let mut plain = Vec::new();
        for piece in input.chunks(chunk) {
            if session.feed(piece, &mut plain).is_err() {
                break;
            }
        }
        let mut out = Vec::new();
        session.take_ciphertext(&mut out);
        prop_assert!(plain.is_empty(), "no plaintext before a handshake");
    }
}
