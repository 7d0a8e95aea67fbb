//! The secure client port: ZooKeeper's client TLS settings (`ClientX509Util`, keys
//! `ssl.*` = `zookeeper.ssl.*`) turned into a rustls server, the TLS accept, and the
//! `x509` identities (`X509AuthenticationProvider`) of a client's certificate. The
//! AdminServer's HTTPS, from the `ssl.quorum.*` stores, is in `admin`.
//!
//! What maps and what does not:
//! - key and trust stores: PEM, JKS and PKCS12 (`ssl.*Store.type`, else the file name's
//!   extension as `KeyStoreFileType.fromFilename` detects it); BCFKS stores and encrypted
//!   PEM private keys are refused at start with the key to change.
//! - `ssl.clientAuth`: none / want / need (default need, as `X509Util.ClientAuth`).
//! - `ssl.protocol` / `ssl.enabledProtocols`: TLSv1.2 and TLSv1.3 (rustls has no older
//!   protocol); `ssl.ciphersuites`: the IANA (= Java) names rustls implements.
//! - `ssl.crl`, `ssl.ocsp`, client hostname verification, `ssl.context.supplier.class`
//!   and an `ssl.authProvider` other than x509: refused (Zooid cannot do what they ask).

mod admin;
mod der;
pub mod dn;
mod eckey;
mod jks;
mod keystore;
mod quorum;
mod store;
mod stream;

pub use admin::{AdminTls, X509Provider};
pub use quorum::{Accepted as QuorumAccepted, PeerNames, QuorumTls};
pub use stream::{MaybeTls, MaybeTlsRead, MaybeTlsWrite};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::{ring, CryptoProvider};
use rustls::server::WantsServerCert;
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ConfigBuilder, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion, WantsVerifier,
};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use zooid_proto::Id;

use crate::config::Config;

/// How long a client may take to finish the TLS handshake (Netty's `SslHandler`
/// default, which ZooKeeper keeps): a silent socket must not hold a task forever.
const HANDSHAKE_MS_MAX: u64 = 10_000;

/// Why the TLS settings cannot be used (the server does not start).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct TlsConfigError {
    /// The zoo.cfg key (without `zookeeper.`) to change.
    pub key: String,
    pub reason: String,
}

fn err(key: &str, reason: impl Into<String>) -> TlsConfigError {
    TlsConfigError {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// `ssl.clientAuth` (`X509Util.ClientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Want,
    Need,
}

/// The TLS side of the secure client port.
pub struct TlsServer {
    acceptor: TlsAcceptor,
    client_auth: ClientAuth,
    /// `zookeeper.X509AuthenticationProvider.superUser`: this subject DN is also `super`.
    super_user: Option<String>,
}

/// The client port's stores (`ClientX509Util`).
const CLIENT: store::Family = store::Family {
    prefix: "ssl",
    user: "the secure client port",
};

/// Where the `zookeeper.ssl.*` settings come from: zoo.cfg on the server, a client
/// configuration file (`ZKClientConfig`) in Zooid's client tools. Both share the keys
/// (`X509Util`), so both share the readers of this module.
pub trait SslSettings {
    /// The value of `zookeeper.ssl.<name>`, trimmed, if set (`ssl.quorum.*` keys are
    /// `quorum.<name>` here).
    fn ssl(&self, name: &str) -> Option<&str>;
}

impl SslSettings for Config {
    fn ssl(&self, name: &str) -> Option<&str> {
        self.other
            .get(&format!("zookeeper.ssl.{name}"))
            .map(|s| s.trim())
    }
}

/// A `zookeeper.ssl.<name>` setting.
fn setting<'a>(cfg: &'a dyn SslSettings, name: &str) -> Option<&'a str> {
    cfg.ssl(name)
}

/// The key store of the `zookeeper.ssl.keyStore.*` keys: a server's, or a client
/// tool's certificate chain and key.
pub fn key_store(
    cfg: &dyn SslSettings,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    store::key_store(cfg, CLIENT)
}

/// The CAs of the `zookeeper.ssl.trustStore.*` keys; `missing` says why one is needed
/// when none is set.
pub fn trust_store(cfg: &dyn SslSettings, missing: &str) -> Result<RootCertStore, TlsConfigError> {
    store::trust_store(cfg, CLIENT, missing)
}

/// The certificates of the `zookeeper.ssl.trustStore.*` store (for a client library that
/// takes them as PEM).
pub fn trust_certs(
    cfg: &dyn SslSettings,
    missing: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    store::trust_certs(cfg, CLIENT, missing)
}

/// `Boolean.parseBoolean` of a setting, `default` when unset (`ZKConfig.getBoolean`).
pub fn flag(cfg: &dyn SslSettings, name: &str, default: bool) -> bool {
    setting(cfg, name).map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

/// `clientAuth` of a family's settings (`X509Util.getClientAuth`): need when unset.
/// `prefix` (`ssl`, `ssl.quorum`) names the key in errors.
fn client_auth(cfg: &dyn SslSettings, prefix: &str) -> Result<ClientAuth, TlsConfigError> {
    match setting(cfg, "clientAuth").unwrap_or("") {
        "" => Ok(ClientAuth::Need),
        v if v.eq_ignore_ascii_case("need") => Ok(ClientAuth::Need),
        v if v.eq_ignore_ascii_case("want") => Ok(ClientAuth::Want),
        v if v.eq_ignore_ascii_case("none") => Ok(ClientAuth::None),
        v => {
            let reason = format!("{v:?} is not one of none, want, need");
            Err(err(&format!("{prefix}.clientAuth"), reason))
        }
    }
}

/// `builder` with the client-certificate check `auth` asks for: none, or one against
/// the CAs `roots` gives (asked for only then) that `want` lets clients without a
/// certificate through. `trust_key` names the trust store in errors.
fn with_client_auth(
    builder: ConfigBuilder<ServerConfig, WantsVerifier>,
    auth: ClientAuth,
    roots: impl FnOnce() -> Result<Arc<RootCertStore>, TlsConfigError>,
    provider: Arc<CryptoProvider>,
    trust_key: &str,
) -> Result<ConfigBuilder<ServerConfig, WantsServerCert>, TlsConfigError> {
    if auth == ClientAuth::None {
        return Ok(builder.with_no_client_auth());
    }
    let v = WebPkiClientVerifier::builder_with_provider(roots()?, provider);
    let v = if auth == ClientAuth::Want {
        v.allow_unauthenticated()
    } else {
        v
    };
    let v = v.build().map_err(|e| err(trust_key, e.to_string()))?;
    Ok(builder.with_client_cert_verifier(v))
}

/// A server handshake on `stream` within `limit`; the error says how it failed.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
) -> Result<TlsStream<TcpStream>, String> {
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(format!("unsuccessful TLS handshake: {e}")),
        Err(_) => Err(format!("TLS handshake not done in {limit:?}")),
    }
}

/// The first byte of a TLS record carrying a handshake message (a ClientHello first).
/// SSLv2's hello is not recognized, as in ZooKeeper.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Whether the connection's first byte, waited for at most `limit`, starts a TLS
/// handshake (it is left unread): how a unified port tells TLS from plain. A connection
/// closed before sending anything counts as plain, as in `UnifiedConnectionFactory`.
pub(crate) async fn starts_with_tls(stream: &TcpStream, limit: Duration) -> Result<bool, String> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(limit, stream.peek(&mut first)).await {
        Ok(Ok(0)) => Ok(false),
        Ok(Ok(_)) => Ok(first[0] == TLS_HANDSHAKE_RECORD),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("nothing received in {limit:?}")),
    }
}

impl TlsServer {
    /// Builds the server from zoo.cfg's `ssl.*` settings; warnings are logged.
    pub fn from_config(cfg: &Config) -> Result<TlsServer, TlsConfigError> {
        refuse_unsupported(cfg)?;
        let client_auth = client_auth(cfg, "ssl")?;
        let provider = Arc::new(CryptoProvider {
            cipher_suites: cipher_suites(cfg)?,
            ..ring::default_provider()
        });
        let versions = protocol_versions(cfg)?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| err("ssl.ciphersuites", e.to_string()))?;
        let roots = || {
            let missing = "ssl.clientAuth is want or need but no trust store is set \
                           (Zooid has no default CA list); set one, or ssl.clientAuth=none";
            Ok(Arc::new(store::trust_store(cfg, CLIENT, missing)?))
        };
        let trust_key = "ssl.trustStore.location";
        let builder = with_client_auth(builder, client_auth, roots, provider, trust_key)?;
        let (chain, key) = store::key_store(cfg, CLIENT)?;
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| err("ssl.keyStore.location", e.to_string()))?;
        let super_user = super_user(cfg);
        Ok(TlsServer {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            client_auth,
            super_user,
        })
    }

    /// Runs the handshake; returns the stream and the ids the client's certificate
    /// proves (none without one). Errors are for the log and the counters: the caller
    /// closes.
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> Result<(TlsStream<TcpStream>, Vec<Id>), AcceptError> {
        let limit = Duration::from_millis(HANDSHAKE_MS_MAX);
        let tls = handshake(&self.acceptor, stream, limit)
            .await
            .map_err(AcceptError::Handshake)?;
        // As NettyServerCnxnFactory: certificates are looked at only when asked for.
        if self.client_auth == ClientAuth::None {
            return Ok((tls, Vec::new()));
        }
        let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) else {
            return Ok((tls, Vec::new()));
        };
        let subject = dn::subject_rfc2253(cert).map_err(|e| AcceptError::Auth(e.to_string()))?;
        Ok((tls, x509_identities(self.super_user.as_deref(), &subject)))
    }
}

/// `zookeeper.X509AuthenticationProvider.superUser`.
fn super_user(cfg: &Config) -> Option<String> {
    cfg.other
        .get("zookeeper.X509AuthenticationProvider.superUser")
        .cloned()
}

/// `X509AuthenticationProvider.handleAuthentication` for a verified chain whose first
/// certificate has `subject`: the x509 id, after `super` when it is the super user.
fn x509_identities(super_user: Option<&str>, subject: &str) -> Vec<Id> {
    let mut ids = Vec::with_capacity(2);
    if super_user == Some(subject) {
        tracing::info!("Authenticated Id '{subject}' as super user");
        ids.push(Id::new("super", subject));
    }
    ids.push(Id::new("x509", subject));
    tracing::info!("Authenticated Id '{subject}' for scheme 'x509'");
    ids
}

/// Why a TLS connection was closed before serving it.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The handshake failed or took too long (ZooKeeper: "Unsuccessful handshake").
    #[error("{0}")]
    Handshake(String),
    /// The handshake succeeded but the certificate gave no identity ("Authentication
    /// failed").
    #[error("{0}")]
    Auth(String),
}

/// Settings that ask for checks Zooid cannot make: refusing is safer than ignoring.
fn refuse_unsupported(cfg: &Config) -> Result<(), TlsConfigError> {
    refuse_checks_we_lack(cfg, "ssl", true)?;
    // `X509Util.isClientHostnameVerificationEnabled`: off by default on the client port.
    if flag(cfg, "hostnameVerification", true) && flag(cfg, "clientHostnameVerification", false) {
        return Err(err(
            "ssl.clientHostnameVerification",
            "verifying client certificates against the client's host name is not supported",
        ));
    }
    if setting(cfg, "authProvider").is_some_and(|v| v != "x509") {
        return Err(err("ssl.authProvider", "only the x509 provider exists"));
    }
    if setting(cfg, "sslProvider").is_some_and(|v| !v.eq_ignore_ascii_case("JDK")) {
        tracing::warn!("ssl.sslProvider is ignored: Zooid's TLS is rustls");
    }
    Ok(())
}

/// Settings of a family (`prefix`: `ssl`, `ssl.quorum`, `zookeeper.ssl`, as its errors
/// name the keys) that ask for what Zooid cannot do, refused rather than ignored:
/// revocation checks (`crl`, `ocsp`), and a Java `context.supplier.class` when
/// `suppliers`.
pub fn refuse_checks_we_lack(
    cfg: &dyn SslSettings,
    prefix: &str,
    suppliers: bool,
) -> Result<(), TlsConfigError> {
    if flag(cfg, "crl", false) || flag(cfg, "ocsp", false) {
        return Err(err(
            &format!("{prefix}.crl / {prefix}.ocsp"),
            "certificate revocation checks are not supported by Zooid",
        ));
    }
    if suppliers && setting(cfg, "context.supplier.class").is_some_and(|v| !v.is_empty()) {
        return Err(err(
            &format!("{prefix}.context.supplier.class"),
            format!(
                "Java SSLContext suppliers cannot be loaded; use the {prefix}.keyStore/trustStore \
                 keys"
            ),
        ));
    }
    Ok(())
}

/// `ssl.protocol` and `ssl.enabledProtocols` (`SSLContextAndOptions.getEnabledProtocols`:
/// without a list, the JDK's defaults for the protocol: TLSv1.3 enables 1.3 and 1.2).
pub fn protocol_versions(
    cfg: &dyn SslSettings,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsConfigError> {
    let version = |name: &str| match name.trim() {
        "TLSv1.3" => Some(&rustls::version::TLS13),
        "TLSv1.2" => Some(&rustls::version::TLS12),
        _ => None,
    };
    if let Some(list) = setting(cfg, "enabledProtocols") {
        let mut out = Vec::new();
        for name in list.split(',') {
            match version(name) {
                Some(v) => out.push(v),
                None => tracing::warn!(
                    "ssl.enabledProtocols: {:?} is not supported (rustls has TLSv1.2 and TLSv1.3); ignored",
                    name.trim()
                ),
            }
        }
        if out.is_empty() {
            return Err(err(
                "ssl.enabledProtocols",
                "names neither TLSv1.2 nor TLSv1.3",
            ));
        }
        return Ok(out);
    }
    match setting(cfg, "protocol").unwrap_or("TLSv1.3") {
        "TLSv1.3" | "TLS" => Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]),
        "TLSv1.2" => Ok(vec![&rustls::version::TLS12]),
        other => Err(err(
            "ssl.protocol",
            format!("{other:?} is not supported: use TLSv1.2 or TLSv1.3"),
        )),
    }
}

/// `ssl.ciphersuites` by their IANA names (Java's), else ZooKeeper's default list
/// (`X509Util.getDefaultCipherSuites` on Java 9+, less the CBC suites rustls lacks).
pub fn cipher_suites(cfg: &dyn SslSettings) -> Result<Vec<SupportedCipherSuite>, TlsConfigError> {
    const DEFAULT: &[&str] = &[
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ];
    let available = ring::default_provider().cipher_suites;
    let find = |name: &str| {
        available
            .iter()
            .find(|s| java_name(s).as_deref() == Some(name))
            .copied()
    };
    let Some(list) = setting(cfg, "ciphersuites") else {
        return Ok(DEFAULT.iter().filter_map(|n| find(n)).collect());
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim) {
        match find(name) {
            Some(s) => out.push(s),
            None => tracing::warn!("ssl.ciphersuites: {name:?} is not supported; ignored"),
        }
    }
    if out.is_empty() {
        let names: Vec<String> = available.iter().filter_map(java_name).collect();
        let reason = format!("no supported suite; supported: {}", names.join(","));
        return Err(err("ssl.ciphersuites", reason));
    }
    Ok(out)
}

/// A suite's IANA name, which Java uses too (rustls spells TLS 1.3 suites `TLS13_`).
fn java_name(s: &SupportedCipherSuite) -> Option<String> {
    let name = s.suite().as_str()?;
    Some(match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_owned(),
    })
}

#[cfg(test)]
mod tests;
