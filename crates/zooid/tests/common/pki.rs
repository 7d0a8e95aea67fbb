//! Test certificates: a CA made with rcgen and the leaves it signs, as PEM.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

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
