//! Test certificates: a CA made with rcgen and the leaves it signs, as PEM.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A certificate and its private key, PEM.
pub type Identity = (String, String);

/// A self-signed CA.
pub struct Ca {
    pub params: CertificateParams,
    pub key: KeyPair,
    /// The CA certificate, PEM.
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let pem = params.clone().self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A certificate for `params`, signed by this CA.
    pub fn sign(&self, params: CertificateParams) -> Identity {
        let issuer = self.params.clone().self_signed(&self.key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A server (and peer) certificate for `localhost` and `127.0.0.1`.
    pub fn loopback_server(&self) -> Identity {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        self.sign(CertificateParams::new(names).unwrap())
    }
}

/// ZooKeeper's PEM key store: the private key and the chain in one file.
pub fn key_store_pem((cert, key): &Identity) -> String {
    format!("{key}{cert}")
}

/// A TLS client stream to `127.0.0.1:port`, not yet shaken hands: it trusts `ca_pem`,
/// expects the server to be `localhost`, presents `identity` if given, and waits at
/// most `read_timeout` for a read.
pub type TlsClient = StreamOwned<ClientConnection, TcpStream>;

pub fn tls_client(
    port: u16,
    ca_pem: &str,
    identity: Option<&Identity>,
    read_timeout: Duration,
) -> TlsClient {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in pem_certs(ca_pem) {
        roots.add(c).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            builder.with_client_auth_cert(pem_certs(cert), key).unwrap()
        }
    };
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(read_timeout)).unwrap();
    StreamOwned::new(conn, sock)
}

/// The certificates of a PEM text.
pub fn pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}
