//! The AdminServer's TLS, as ZooKeeper 3.9's `JettyAdminServer` sets it up when
//! `admin.forceHttps` (HTTPS only) or `admin.portUnification` (HTTP and HTTPS on one
//! port) is on, and the `x509` scheme of `Authorization` headers.
//!
//! What Jetty is given, and so what Zooid reads:
//! - the server's key and the CAs it trusts: the `ssl.quorum.keyStore.*` and
//!   `ssl.quorum.trustStore.*` stores (`QuorumX509Util`'s property names); both must load
//!   or the AdminServer does not start. PEM, JKS or PKCS12, as on the client port.
//! - `admin.needClientAuth` (default false): Jetty's `setNeedClientAuth`. Off, no client
//!   certificate is asked for at all (Jetty's `wantClientAuth` stays false); on, a client
//!   without a certificate the trust store accepts fails the handshake.
//! - nothing else: `ssl.quorum.protocol`, `ciphersuites`, `clientAuth`, `crl`, ... are not
//!   passed to Jetty, so they do not apply here. The port speaks TLSv1.2 and TLSv1.3 with
//!   rustls's suites (Jetty's defaults exclude the weak suites rustls does not have).
//!
//! `Authorization: x509` (`X509AuthenticationProvider.handleAuthentication` of the
//! request): the client's chain is checked again against the provider's own trust store,
//! the client port's `ssl.trustStore.*`; without that store, or without a certificate,
//! no identity is proven and the command answers 401.

use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use zooid_proto::Id;

use super::store::{self, Family};
use super::{
    dn, err, super_user, with_client_auth, x509_identities, ClientAuth, TlsConfigError, CLIENT,
};
use crate::config::Config;

/// The AdminServer's stores (`QuorumX509Util`).
const QUORUM: Family = Family {
    prefix: "ssl.quorum",
    user: "the AdminServer's HTTPS (admin.forceHttps / admin.portUnification)",
};

/// `Boolean.getBoolean("zookeeper.admin.<name>")`.
fn admin_flag(cfg: &Config, name: &str) -> bool {
    cfg.flag(&format!("zookeeper.admin.{name}"))
}

/// How the admin port treats its connections.
#[derive(Clone)]
pub struct AdminTls {
    /// The TLS side, built from the `ssl.quorum.*` stores.
    pub acceptor: TlsAcceptor,
    /// `admin.portUnification` without `admin.forceHttps`: a connection whose first byte
    /// is not a TLS handshake record is served as plain HTTP.
    pub unified: bool,
}

impl AdminTls {
    /// None when the port is plain HTTP (neither flag set); Err when the stores do not
    /// load (Jetty's constructor throws and the AdminServer does not start).
    pub fn from_config(cfg: &Config) -> Result<Option<AdminTls>, TlsConfigError> {
        let force = admin_flag(cfg, "forceHttps");
        let unified = admin_flag(cfg, "portUnification");
        if !force && !unified {
            return Ok(None);
        }
        let (chain, key) = store::key_store(cfg, QUORUM)?;
        let missing = "the AdminServer's HTTPS needs a trust store, as ZooKeeper's does";
        let roots = store::trust_store(cfg, QUORUM, missing)?;
        let provider = Arc::new(ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| err("ssl.quorum.keyStore.location", e.to_string()))?;
        let auth = if admin_flag(cfg, "needClientAuth") {
            ClientAuth::Need
        } else {
            ClientAuth::None
        };
        let trust_key = "ssl.quorum.trustStore.location";
        let builder = with_client_auth(builder, auth, || Ok(Arc::new(roots)), provider, trust_key)?;
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| err("ssl.quorum.keyStore.location", e.to_string()))?;
        Ok(Some(AdminTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            unified: unified && !force,
        }))
    }
}

/// `X509AuthenticationProvider` as the admin commands use it: its trust manager (from
/// the client port's `ssl.trustStore.*`, None when unset or unreadable) and the super
/// user.
pub struct X509Provider {
    verifier: Option<Arc<dyn ClientCertVerifier>>,
    super_user: Option<String>,
}

impl X509Provider {
    /// As the provider's constructor: a trust store that cannot be loaded is logged and
    /// leaves the provider without a trust manager (every x509 auth then fails).
    pub fn from_config(cfg: &Config) -> X509Provider {
        let missing = "not set";
        let verifier = match store::trust_store(cfg, CLIENT, missing) {
            Ok(roots) => {
                let provider = Arc::new(ring::default_provider());
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| tracing::error!("x509 auth: no trust manager: {e}"))
                    .ok()
            }
            Err(e) => {
                tracing::warn!("x509 auth: Truststore not specified or unusable: {e}");
                None
            }
        };
        X509Provider {
            verifier,
            super_user: super_user(cfg),
        }
    }

    /// `handleAuthentication(certChain)`: the ids the chain proves, empty when there is
    /// no chain, no trust manager, or the chain is not trusted.
    pub fn identities(&self, chain: Option<&[CertificateDer<'static>]>) -> Vec<Id> {
        let Some((first, intermediates)) = chain.and_then(|c| c.split_first()) else {
            tracing::warn!("No certificate chain available to authenticate");
            return Vec::new();
        };
        let Some(verifier) = &self.verifier else {
            tracing::error!("No trust manager available to authenticate");
            return Vec::new();
        };
        if let Err(e) = verifier.verify_client_cert(first, intermediates, UnixTime::now()) {
            tracing::error!("Failed to trust certificate: {e}");
            return Vec::new();
        }
        match dn::subject_rfc2253(first) {
            Ok(subject) => x509_identities(self.super_user.as_deref(), &subject),
            Err(e) => {
                tracing::error!("x509 auth: cannot read the certificate's subject: {e}");
                Vec::new()
            }
        }
    }
}
