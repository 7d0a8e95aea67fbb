//! TLS between ensemble members, as ZooKeeper's `sslQuorum` and `portUnification` set
//! it up (`QuorumCnxManager` for the election port, `Learner`/`Leader` for the quorum
//! port), from the `ssl.quorum.*` keys (`QuorumX509Util`):
//!
//! - `sslQuorum=true`: dials are TLS; accepted connections must be TLS unless
//!   `portUnification=true`, which also takes plain ones (a first byte that is not a TLS
//!   handshake record), so an ensemble can be moved to TLS one member at a time.
//!   `portUnification=true` alone accepts both and dials plain.
//! - both sides present the `ssl.quorum.keyStore` certificate and check the peer's
//!   against `ssl.quorum.trustStore`; `ssl.quorum.clientAuth` (default need) says whether
//!   a dialing peer must present one.
//! - `ssl.quorum.hostnameVerification` (default true): the certificate of the peer we
//!   dial must be valid for the address we reached (or for the host name the `server.N`
//!   line gives), and, as `ZKTrustManager` also checks quorum clients, the certificate of
//!   a peer that dialed us must be valid for its address (or `localhost` for a loopback
//!   one: ZooKeeper's reverse lookup of it). Other reverse lookups are not made.
//! - `ssl.quorum.protocol`, `enabledProtocols` and `ciphersuites` as on the client port.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::store::{self, Family};
use super::{
    cipher_suites, client_auth, err, handshake, protocol_versions, refuse_checks_we_lack,
    starts_with_tls, with_client_auth, SslSettings, TlsConfigError,
};
use crate::config::Config;

/// The ensemble's stores (`QuorumX509Util`).
const QUORUM: Family = Family {
    prefix: "ssl.quorum",
    user: "TLS between ensemble members (sslQuorum / portUnification)",
};

/// The `ssl.quorum.*` keys seen as the `ssl.*` ones, for the shared readers.
struct QuorumKeys<'a>(&'a Config);

impl SslSettings for QuorumKeys<'_> {
    fn ssl(&self, name: &str) -> Option<&str> {
        self.0.ssl(&format!("quorum.{name}"))
    }
}

/// A connection [`QuorumTls::accept`] took.
pub enum Accepted {
    /// Plain, under port unification.
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// How the quorum transport secures its connections.
pub struct QuorumTls {
    acceptor: TlsAcceptor,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    chain: Vec<CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    /// `sslQuorum`: dial with TLS.
    pub dial_tls: bool,
    /// `portUnification`: accept plain connections beside TLS ones.
    pub accept_plain: bool,
    hostname_verification: bool,
}

impl QuorumTls {
    /// None when neither `sslQuorum` nor `portUnification` is on; Err when the stores
    /// or settings cannot be used (ZooKeeper does not start then either).
    pub fn from_config(cfg: &Config) -> Result<Option<Arc<QuorumTls>>, TlsConfigError> {
        let dial_tls = cfg.flag("sslQuorum");
        let unified = cfg.flag("portUnification");
        if !dial_tls && !unified {
            return Ok(None);
        }
        let keys = QuorumKeys(cfg);
        refuse_checks_we_lack(&keys, "ssl.quorum", false)?;
        let auth = client_auth(&keys, "ssl.quorum")?;
        let provider = Arc::new(CryptoProvider {
            cipher_suites: cipher_suites(&keys)?,
            ..ring::default_provider()
        });
        let versions = protocol_versions(&keys)?;
        let missing = "sslQuorum / portUnification need the CAs of the members' certificates";
        let roots = Arc::new(store::trust_store(cfg, QUORUM, missing)?);
        let (chain, key) = store::key_store(cfg, QUORUM)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| err("ssl.quorum.ciphersuites", e.to_string()))?;
        let trust_key = "ssl.quorum.trustStore.location";
        let builder = with_client_auth(
            builder,
            auth,
            || Ok(roots.clone()),
            provider.clone(),
            trust_key,
        )?;
        let server = builder
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| err("ssl.quorum.keyStore.location", e.to_string()))?;
        let hostname_verification = keys
            .ssl("hostnameVerification")
            .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
        Ok(Some(Arc::new(QuorumTls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            roots,
            provider,
            versions,
            chain,
            key,
            dial_tls,
            accept_plain: unified,
            hostname_verification,
        })))
    }

    /// An accepted connection's first byte says TLS (under port unification the
    /// caller serves it plain otherwise); then its handshake, within `limit`, and the
    /// host check of the peer that dialed from `ip`.
    pub async fn accept(
        &self,
        tcp: TcpStream,
        ip: IpAddr,
        limit: Duration,
    ) -> Result<Accepted, String> {
        if !starts_with_tls(&tcp, limit).await? {
            return if self.accept_plain {
                Ok(Accepted::Plain(tcp))
            } else {
                Err("not a TLS connection, and portUnification is off".into())
            };
        }
        let s = handshake(&self.acceptor, tcp, limit).await?;
        let cert = s.get_ref().1.peer_certificates().and_then(|c| c.first());
        self.check_dialer(ip, cert)?;
        Ok(Accepted::Tls(Box::new(s)))
    }

    /// A connector for one dial of `host` (the `server.N` host), reached at `ip`, and the
    /// name to hand it: the address, with `host` as a second acceptable name.
    pub fn connector(
        &self,
        host: &str,
        ip: IpAddr,
    ) -> Result<(TlsConnector, ServerName<'static>), String> {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()
                .map_err(|e| e.to_string())?;
        let mut names = Vec::new();
        if let Ok(n) = ServerName::try_from(host.to_owned()) {
            names.push(n);
        }
        if ip.is_loopback() {
            names.push(ServerName::try_from("localhost").map_err(|e| e.to_string())?);
        }
        let verifier = Arc::new(PeerNames::new(webpki, names, self.hostname_verification));
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| e.to_string())?;
        Ok((
            TlsConnector::from(Arc::new(config)),
            ServerName::IpAddress(ip.into()),
        ))
    }

    /// `ZKTrustManager.checkClientTrusted`'s host check of a peer that dialed us from
    /// `ip`: its certificate must be valid for that address (or `localhost` on loopback).
    /// Ok without a certificate (`clientAuth` want/none let it in) or verification off.
    fn check_dialer(&self, ip: IpAddr, cert: Option<&CertificateDer<'_>>) -> Result<(), String> {
        let Some(cert) = cert.filter(|_| self.hostname_verification) else {
            return Ok(());
        };
        let parsed = webpki::EndEntityCert::try_from(cert).map_err(|e| e.to_string())?;
        let mut names = vec![ServerName::IpAddress(ip.into())];
        if ip.is_loopback() {
            names.push(ServerName::try_from("localhost").map_err(|e| e.to_string())?);
        }
        if names
            .iter()
            .any(|n| parsed.verify_is_valid_for_subject_name(n).is_ok())
        {
            Ok(())
        } else {
            Err(format!("its certificate is not valid for {ip}"))
        }
    }
}

/// A server certificate check: the chain as WebPKI checks it, and the name as
/// `ZKTrustManager` does, against the name dialled or any other the server is known by;
/// with `hostnameVerification=false`, against none (the chain must still lead to a
/// trusted CA and be valid now).
#[derive(Debug)]
pub struct PeerNames {
    webpki: Arc<WebPkiServerVerifier>,
    names: Vec<ServerName<'static>>,
    verify_names: bool,
}

impl PeerNames {
    pub fn new(
        webpki: Arc<WebPkiServerVerifier>,
        names: Vec<ServerName<'static>>,
        verify_names: bool,
    ) -> PeerNames {
        PeerNames {
            webpki,
            names,
            verify_names,
        }
    }
}

fn wrong_name(r: &Result<ServerCertVerified, rustls::Error>) -> bool {
    matches!(
        r,
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        ))
    )
}

impl ServerCertVerifier for PeerNames {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let first =
            self.webpki
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        if !wrong_name(&first) {
            return first;
        }
        if !self.verify_names {
            return Ok(ServerCertVerified::assertion());
        }
        for name in &self.names {
            let r = self
                .webpki
                .verify_server_cert(end_entity, intermediates, name, ocsp, now);
            if !wrong_name(&r) {
                return r;
            }
        }
        first
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumTls")
            .field("dial_tls", &self.dial_tls)
            .field("accept_plain", &self.accept_plain)
            .field("hostname_verification", &self.hostname_verification)
            .finish_non_exhaustive()
    }
}
