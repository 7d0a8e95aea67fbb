//! A client configuration file (`ZKClientConfig`: a Java properties file, as zkCli's
//! `-client-configuration` reads it) and the TLS client it asks for. `zooid shell` and
//! `zooid bench` share both, and the `zookeeper.ssl.*` readers with the server's secure
//! port (`zooid_server::tls`), so a store the server refuses the tools refuse alike.
//!
//! The keys that matter (`ZKClientConfig`, `ClientX509Util`, `X509Util`):
//! - `zookeeper.client.secure=true`: connect with TLS. zkCli also needs
//!   `zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty`, or its NIO
//!   socket ignores the key; Zooid's tools have one socket and need only this key.
//! - `zookeeper.ssl.trustStore.*`: the CAs the server's certificate must chain to. PEM,
//!   JKS or PKCS12; required, as Zooid has no default CA list (Java falls back to the
//!   JDK's).
//! - `zookeeper.ssl.keyStore.*`: the client's key and certificate chain, for servers with
//!   `ssl.clientAuth=need` (or `want`); PEM (unencrypted keys only), JKS or PKCS12.
//! - `zookeeper.ssl.hostnameVerification` (default true): the server's certificate must
//!   name the host of the connect string (an IP address or a DNS name).
//! - `zookeeper.ssl.protocol` / `enabledProtocols` / `ciphersuites`: as on the server.
//! - `zookeeper.ssl.crl` / `ocsp` / `context.supplier.class`: refused.
//! - Everything else (`zookeeper.sasl.client`, `zookeeper.request.timeout`, ...): ignored.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{RootCertStore, SupportedCipherSuite, SupportedProtocolVersion};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use zooid_server::tls::{self, SslSettings, TlsConfigError};

use crate::shell::java;

/// The settings of one client configuration file.
pub struct ClientConfig {
    props: Vec<(String, String)>,
}

impl SslSettings for ClientConfig {
    fn ssl(&self, name: &str) -> Option<&str> {
        self.get(&format!("zookeeper.ssl.{name}"))
    }
}

impl ClientConfig {
    /// A properties text's settings; the error is the `IllegalArgumentException` message
    /// of a malformed `\uXXXX` escape.
    pub fn parse(text: &str) -> Result<ClientConfig, String> {
        let props = java::load_properties(text)?
            .into_iter()
            .map(|(k, v)| (java::trim(&k).to_owned(), java::trim(&v).to_owned()))
            .collect();
        Ok(ClientConfig { props })
    }

    /// `new ZKClientConfig(file)`: the file must be there and be a properties text, or
    /// the error is what zkCli prints (its ConfigException without the stack frames).
    pub fn load(file: &str) -> Result<ClientConfig, String> {
        let absolute = match std::env::current_dir() {
            Ok(cwd) if !file.starts_with('/') => format!("{}/{file}", cwd.display()),
            _ => file.to_owned(),
        };
        let cause = if !std::path::Path::new(file).exists() {
            format!("java.lang.IllegalArgumentException: {file} file is missing")
        } else {
            match std::fs::read(file) {
                Err(e) => {
                    let text = e.to_string();
                    let reason = text.split(" (os error").next().unwrap_or(&text);
                    format!("java.io.FileNotFoundException: {file} ({reason})")
                }
                Ok(bytes) => {
                    // FileInputStream into Properties.load reads ISO-8859-1.
                    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
                    match ClientConfig::parse(&text) {
                        Ok(cfg) => return Ok(cfg),
                        Err(m) => format!("java.lang.IllegalArgumentException: {m}"),
                    }
                }
            }
        };
        Err(format!(
            "org.apache.zookeeper.server.quorum.QuorumPeerConfig$ConfigException: Error while \
             processing {absolute}\nCaused by: {cause}"
        ))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `zookeeper.client.secure` (`Boolean.parseBoolean`, default false).
    pub fn secure(&self) -> bool {
        self.get("zookeeper.client.secure")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// A TLS client's key material and options, with the PEM texts they came from (the
/// shell's client library takes PEM).
pub struct TlsClient {
    pub trust_pem: String,
    roots: RootCertStore,
    pub identity: Option<Identity>,
    pub hostname_verification: bool,
    versions: Vec<&'static SupportedProtocolVersion>,
    suites: Vec<SupportedCipherSuite>,
}

/// The client's certificate chain and private key.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A TLS setting that cannot be used; `key` is the full name of the key (or option) to
/// change.
#[derive(Debug)]
pub struct TlsSetupError {
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl From<TlsConfigError> for TlsSetupError {
    fn from(e: TlsConfigError) -> TlsSetupError {
        TlsSetupError {
            key: format!("zookeeper.{}", e.key),
            reason: e.reason,
        }
    }
}

fn setup_err(key: &str, reason: impl Into<String>) -> TlsSetupError {
    TlsSetupError {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// One PEM section around `der`.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // Base64 is ASCII, so 64-byte chunks are 64-character lines.
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn read_text(key: &str, path: &str) -> Result<String, TlsSetupError> {
    let bytes = std::fs::read(path).map_err(|e| setup_err(key, format!("{path}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| setup_err(key, format!("{path}: not a PEM text")))
}

impl TlsClient {
    /// The TLS client a configuration file asks for, or None when it does not ask for
    /// TLS (`zookeeper.client.secure` is not true).
    pub fn from_config(cfg: &ClientConfig) -> Result<Option<TlsClient>, TlsSetupError> {
        if !cfg.secure() {
            return Ok(None);
        }
        refuse_unsupported(cfg)?;
        const TRUST: &str = "zookeeper.ssl.trustStore.location";
        if cfg
            .ssl("trustStore.location")
            .filter(|l| !l.is_empty())
            .is_none()
        {
            return Err(setup_err(
                TRUST,
                "zookeeper.client.secure is true but no trust store is set (Zooid has no \
                 default CA list); set it to a PEM file of the CA certificates the server's \
                 certificate chains to",
            ));
        };
        let missing = "zookeeper.client.secure is true but no trust store is set";
        let roots = tls::trust_store(cfg, missing)?;
        // The stores may be JKS or PKCS12: the client library is given them as PEM.
        let trust_pem = tls::trust_certs(cfg, missing)?
            .iter()
            .map(|c| pem("CERTIFICATE", c))
            .collect();
        let identity = match cfg.ssl("keyStore.location").filter(|l| !l.is_empty()) {
            None => None,
            Some(_) => {
                let (chain, key) = tls::key_store(cfg)?;
                let label = match &key {
                    PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
                    PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
                    _ => "PRIVATE KEY",
                };
                Some(Identity {
                    cert_pem: chain.iter().map(|c| pem("CERTIFICATE", c)).collect(),
                    key_pem: pem(label, key.secret_der()),
                    chain,
                    key,
                })
            }
        };
        Ok(Some(TlsClient {
            trust_pem,
            roots,
            identity,
            hostname_verification: tls::flag(cfg, "hostnameVerification", true),
            versions: tls::protocol_versions(cfg)?,
            suites: tls::cipher_suites(cfg)?,
        }))
    }

    /// A TLS client from PEM files named on the command line: the CA certificates, and
    /// optionally the client's certificate chain and its private key (which may share one
    /// file, as in a ZooKeeper PEM key store).
    pub fn from_files(
        ca: &str,
        cert: Option<&str>,
        key: Option<&str>,
    ) -> Result<TlsClient, TlsSetupError> {
        let trust_pem = read_text("--tls-ca", ca)?;
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(trust_pem.as_bytes()) {
            let c = c.map_err(|e| setup_err("--tls-ca", format!("{ca}: {e}")))?;
            roots
                .add(c)
                .map_err(|e| setup_err("--tls-ca", format!("{ca}: {e}")))?;
        }
        if roots.is_empty() {
            return Err(setup_err("--tls-ca", format!("{ca}: no certificate")));
        }
        let identity = match (cert, key) {
            (None, None) => None,
            (Some(cert), key) => Some(identity_files(cert, key.unwrap_or(cert))?),
            (None, Some(_)) => return Err(setup_err("--tls-key", "needs --tls-cert")),
        };
        let defaults = ClientConfig { props: Vec::new() };
        Ok(TlsClient {
            trust_pem,
            roots,
            identity,
            hostname_verification: true,
            versions: tls::protocol_versions(&defaults)?,
            suites: tls::cipher_suites(&defaults)?,
        })
    }

    /// ring (as the server uses) with the configured cipher suites.
    pub fn crypto_provider(&self) -> CryptoProvider {
        CryptoProvider {
            cipher_suites: self.suites.clone(),
            ..ring::default_provider()
        }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
        let provider = Arc::new(self.crypto_provider());
        let trust = "zookeeper.ssl.trustStore.location";
        let webpki = WebPkiServerVerifier::builder_with_provider(
            Arc::new(self.roots.clone()),
            provider.clone(),
        )
        .build()
        .map_err(|e| setup_err(trust, e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = if self.hostname_verification {
            webpki
        } else {
            Arc::new(tls::PeerNames::new(webpki, Vec::new(), false))
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions)
            .map_err(|e| setup_err("zookeeper.ssl.ciphersuites", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| setup_err("zookeeper.ssl.keyStore.location", e.to_string()))?,
        };
        Ok(Arc::new(config))
    }
}

fn identity_files(cert: &str, key: &str) -> Result<Identity, TlsSetupError> {
    let cert_pem = read_text("--tls-cert", cert)?;
    let key_pem = read_text("--tls-key", key)?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| setup_err("--tls-cert", format!("{cert}: {e}")))?;
    if chain.is_empty() {
        return Err(setup_err("--tls-cert", format!("{cert}: no certificate")));
    }
    let key_der = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
        setup_err(
            "--tls-key",
            format!("{key}: {e} (an unencrypted PKCS#8, PKCS#1 or SEC1 PEM key is needed)"),
        )
    })?;
    Ok(Identity {
        cert_pem,
        key_pem,
        chain,
        key: key_der,
    })
}

/// `zookeeper.ssl.*` settings asking for what Zooid's clients cannot do: refusing is
/// safer than connecting with less checking than asked for.
fn refuse_unsupported(cfg: &ClientConfig) -> Result<(), TlsSetupError> {
    // The keys are named in full already: no `zookeeper.` to add (`From`).
    tls::refuse_checks_we_lack(cfg, "zookeeper.ssl", true).map_err(|e| setup_err(&e.key, e.reason))
}

/// Splits `host:port` (`[v6]:port` too; 2181 without a port) into the host to dial and
/// to check the certificate against, and the port.
pub fn host_port(addr: &str) -> (&str, u16) {
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, p.parse().unwrap_or(2181)),
        _ => (addr, 2181),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (host, port)
}

/// Opens a TCP connection to `addr` and runs the TLS handshake over it.
pub async fn connect(
    connector: &TlsConnector,
    addr: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let (host, port) = host_port(addr);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::other(format!("{host}: {e}")))?;
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    connector.connect(name, tcp).await
}

/// Why a TLS connection to `addr` does not work, if it is TLS's fault: a failed
/// handshake, or a server that hangs up right after it (TLS 1.3 servers refuse a
/// missing or untrusted client certificate only then). None when TLS works.
pub async fn diagnose(connector: &TlsConnector, addr: &str) -> Option<String> {
    use tokio::io::AsyncReadExt;
    /// Long enough for a refusing server's alert to arrive; a server that accepted
    /// waits for the session request we never send.
    const ALERT_WAIT_MS: u64 = 1_000;
    let mut s = match connect(connector, addr).await {
        Ok(s) => s,
        Err(e) => return Some(format!("TLS connection to {addr} failed: {e}")),
    };
    let mut byte = [0u8; 1];
    let wait = std::time::Duration::from_millis(ALERT_WAIT_MS);
    match tokio::time::timeout(wait, s.read(&mut byte)).await {
        Ok(Err(e)) => Some(format!(
            "TLS connection to {addr} refused by the server: {e}"
        )),
        Ok(Ok(0)) => Some(format!(
            "TLS connection to {addr} closed by the server right after the handshake \
             (does it need a client certificate?)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(host_port("127.0.0.1:2281"), ("127.0.0.1", 2281));
        assert_eq!(host_port("localhost"), ("localhost", 2181));
        assert_eq!(host_port("[::1]:3000"), ("::1", 3000));
        assert_eq!(host_port("[::1]"), ("::1", 2181));
    }

    #[test]
    fn secure_and_refusals() {
        let cfg = ClientConfig::parse("zookeeper.client.secure = TRUE \n").unwrap();
        assert!(cfg.secure());
        let e = TlsClient::from_config(&cfg).err().unwrap();
        assert_eq!(e.key, "zookeeper.ssl.trustStore.location");
        let plain = ClientConfig::parse("zookeeper.sasl.client=false\n").unwrap();
        assert!(TlsClient::from_config(&plain).unwrap().is_none());
        let jks = ClientConfig::parse(
            "zookeeper.client.secure=true\nzookeeper.ssl.trustStore.location=/x/trust.jks\n",
        )
        .unwrap();
        let e = TlsClient::from_config(&jks).err().unwrap();
        assert_eq!(e.key, "zookeeper.ssl.trustStore.location");
        assert!(e.reason.starts_with("/x/trust.jks: "), "{e}");
        let bcfks = ClientConfig::parse(
            "zookeeper.client.secure=true\nzookeeper.ssl.trustStore.location=/x/trust.bcfks\n",
        )
        .unwrap();
        let e = TlsClient::from_config(&bcfks).err().unwrap();
        assert_eq!(e.key, "zookeeper.ssl.trustStore.type");
        assert!(e.reason.contains("BCFKS stores are not supported"), "{e}");
        let crl =
            ClientConfig::parse("zookeeper.client.secure=true\nzookeeper.ssl.crl=true\n").unwrap();
        assert!(TlsClient::from_config(&crl)
            .err()
            .unwrap()
            .key
            .contains("crl"));
    }
}
