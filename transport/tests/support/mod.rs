//! Test PKI and an in-memory TLS pair: a CA, server and client certificates generated with rcgen
//! at test time (no key is ever committed), written to a temporary directory for `CertStore` to
//! load, and a rustls client wired to a `TlsSession` by moving bytes between them, no sockets.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use keel_transport::{CertStore, TlsError, TlsSession, TlsSettings};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, SupportedProtocolVersion};

/// A certificate and its key.
pub struct Issued {
    pub cert: Certificate,
    pub key: KeyPair,
}

impl Issued {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::try_from(self.key.serialize_der()).unwrap()
    }
}

/// A CA able to issue server and client certificates.
pub struct Ca {
    pub root: Issued,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            root: Issued { cert, key },
        }
    }

    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &self.root.cert, &self.root.key)
            .unwrap();
        Issued { cert, key }
    }

    pub fn server(&self) -> Issued {
        self.issue("localhost", ExtendedKeyUsagePurpose::ServerAuth)
    }

    pub fn client(&self, name: &str) -> Issued {
        self.issue(name, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A temporary directory for PEM files, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new() -> Dir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "keel-transport-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes the server's certificate and key (and the CA) and returns settings naming them.
    pub fn settings(&self, ca: &Ca, server: &Issued) -> TlsSettings {
        TlsSettings {
            chain_cert: Some(self.write("chain.pem", &server.cert.pem())),
            key: Some(self.write("key.pem", &server.key.serialize_pem())),
            ca_cert: Some(self.write("ca.pem", &ca.root.cert.pem())),
            ..TlsSettings::default()
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A rustls client trusting `ca`, offering `versions`, presenting `identity` if given.
pub fn client(
    ca: &Ca,
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<&Issued>,
) -> ClientConnection {
    let mut roots = RootCertStore::empty();
    roots.add(ca.root.der()).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.der()], id.key_der())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("localhost").unwrap();
    ClientConnection::new(Arc::new(config), name).unwrap()
}

pub fn default_client(ca: &Ca) -> ClientConnection {
    client(ca, rustls::DEFAULT_VERSIONS, None)
}

/// Which side gave up.
#[derive(Debug)]
pub enum Failure {
    Server(TlsError),
    Client(rustls::Error),
}

/// A client and a server session joined in memory.
pub struct Pair {
    pub client: ClientConnection,
    pub server: TlsSession,
    /// Plaintext the server session produced (for the core).
    pub at_server: Vec<u8>,
    /// Plaintext the client received.
    pub at_client: Vec<u8>,
    /// Whether the client saw the server's close_notify.
    pub client_saw_close: bool,
}

impl Pair {
    pub fn new(client: ClientConnection, store: &CertStore) -> Pair {
        Pair {
            client,
            server: store.new_session().unwrap(),
            at_server: Vec::new(),
            at_client: Vec::new(),
            client_saw_close: false,
        }
    }

    /// Moves bytes both ways until neither side has anything to send.
    pub fn pump(&mut self) -> Result<(), Failure> {
        for _ in 0..100 {
            let mut c2s = Vec::new();
            while self.client.wants_write() {
                self.client.write_tls(&mut c2s).unwrap();
            }
            let server_result = self.server.feed(&c2s, &mut self.at_server);
            let mut s2c = Vec::new();
            self.server.take_ciphertext(&mut s2c);
            let client_result = self.deliver(&s2c);
            // The side that failed first: a server error makes the client fail on its alert.
            server_result.map_err(Failure::Server)?;
            client_result.map_err(Failure::Client)?;
            if c2s.is_empty() && s2c.is_empty() {
                return Ok(());
            }
        }
        panic!("pump did not settle");
    }

    fn deliver(&mut self, mut ciphertext: &[u8]) -> Result<(), rustls::Error> {
        while !ciphertext.is_empty() {
            self.client.read_tls(&mut ciphertext).unwrap();
            self.client.process_new_packets()?;
            self.drain_client();
        }
        Ok(())
    }

    fn drain_client(&mut self) {
        use std::io::Read;
        let mut chunk = [0u8; 4096];
        loop {
            match self.client.reader().read(&mut chunk) {
                Ok(0) => {
                    self.client_saw_close = true;
                    return;
                }
                Ok(n) => self.at_client.extend_from_slice(&chunk[..n]),
                Err(_) => return,
            }
        }
    }

    /// The handshake, which must succeed.
    pub fn handshake(&mut self) {
        self.pump().unwrap();
        assert!(!self.server.is_handshaking());
        assert!(!self.client.is_handshaking());
    }

    /// Sends `bytes` from the client; returns what the server session decrypted.
    pub fn client_sends(&mut self, mut bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        while !bytes.is_empty() {
            let n = self.client.writer().write(bytes).unwrap();
            bytes = &bytes[n..];
            self.pump().unwrap();
        }
        std::mem::take(&mut self.at_server)
    }

    /// Sends `bytes` from the server session as a driver would (taking what `encrypt` accepts,
    /// pumping, again); returns what the client received.
    pub fn server_sends(&mut self, mut bytes: &[u8]) -> Vec<u8> {
        while !bytes.is_empty() {
            let n = self.server.encrypt(bytes).unwrap();
            bytes = &bytes[n..];
            self.pump().unwrap();
        }
        std::mem::take(&mut self.at_client)
    }

    /// The certificate the client saw from the server.
    pub fn server_cert(&self) -> CertificateDer<'static> {
        self.client.peer_certificates().unwrap()[0].clone()
    }
}
