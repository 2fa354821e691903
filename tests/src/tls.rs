//! TLS test material made at test time with the `openssl` CLI (no key is ever committed): a CA,
//! server certificates for `localhost`/127.0.0.1 it signs, a client certificate it signs; and a
//! blocking rustls client that trusts the CA, optionally presents the client certificate, and
//! reports the certificate the server showed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::server::require_tool;

/// A directory of certificates; removed when dropped.
pub struct Certs {
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// A CA (`ca.pem`), server certificates `server.pem`/`server.key` and `other.pem`/`other.key`
    /// (CN `keel-a` and `keel-b`, both for localhost and 127.0.0.1), and a client certificate
    /// `client.pem`/`client.key`, all signed by the CA. Files are world-readable (memcached reads
    /// them as `-u nobody`).
    pub fn new(name: &str) -> Certs {
        require_tool("openssl", "openssl");
        let dir = std::env::temp_dir().join(format!("keel-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=keel test CA",
            ],
        );
        for (stem, cn, extfile) in [
            ("server", "keel-a", "server.ext"),
            ("other", "keel-b", "server.ext"),
            ("client", "keel client", "client.ext"),
        ] {
            let key = format!("{stem}.key");
            let csr = format!("{stem}.csr");
            let pem = format!("{stem}.pem");
            openssl(
                &dir,
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &format!("/CN={cn}"),
                ],
            );
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    extfile,
                ],
            );
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Certs { dir }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// `-o ssl_chain_cert=..,ssl_key=..` for the live pair `live.pem`/`live.key` (a copy of
    /// `server`, which `install` replaces), plus `extra` items.
    pub fn options(&self, extra: &str) -> String {
        let mut o = format!(
            "ssl_chain_cert={},ssl_key={}",
            self.path("live.pem"),
            self.path("live.key")
        );
        if !extra.is_empty() {
            o.push(',');
            o.push_str(extra);
        }
        o
    }

    /// Copies `stem.pem`/`stem.key` over the live pair the server reads.
    pub fn install(&self, stem: &str) {
        for ext in ["pem", "key"] {
            std::fs::copy(
                self.dir.join(format!("{stem}.{ext}")),
                self.dir.join(format!("live.{ext}")),
            )
            .unwrap();
        }
    }

    fn pem_certs(&self, file: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(self.dir.join(file))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The DER of `stem.pem`, to compare with what a server presented.
    pub fn der(&self, stem: &str) -> Vec<u8> {
        self.pem_certs(&format!("{stem}.pem"))[0].to_vec()
    }

    /// A client config trusting the CA, presenting the client certificate when `with_cert`.
    pub fn client_config(&self, with_cert: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        for ca in self.pem_certs("ca.pem") {
            roots.add(ca).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_cert {
            let key = PrivateKeyDer::from_pem_file(self.dir.join("client.key")).unwrap();
            builder
                .with_client_auth_cert(self.pem_certs("client.pem"), key)
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A blocking TLS connection to 127.0.0.1:`port` (read timeout 5 s).
pub struct TlsClient {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl TlsClient {
    /// Connects and completes the handshake; `Err` with rustls' or the socket's error.
    pub fn connect(port: u16, config: Arc<ClientConfig>) -> Result<TlsClient, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| e.to_string())?;
        }
        Ok(TlsClient { stream })
    }

    /// The certificate the server presented.
    pub fn server_cert(&self) -> Vec<u8> {
        self.stream.conn.peer_certificates().unwrap()[0].to_vec()
    }

    /// Sends `request` and reads until the reply ends with `suffix`; `Err` when the connection
    /// fails or closes first.
    pub fn call(&mut self, request: &[u8], suffix: &[u8]) -> Result<Vec<u8>, String> {
        self.stream.write_all(request).map_err(|e| e.to_string())?;
        self.stream.flush().map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        let mut chunk = [0u8; 16384];
        while !got.ends_with(suffix) {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&got))),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(got)
    }
}
