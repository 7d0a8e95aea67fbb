//! Key and trust stores (`ssl.keyStore.*`, `ssl.trustStore.*`): PEM files as ZooKeeper's
//! `PEMFileLoader` reads them (a key store holds the private key and its certificate
//! chain; a trust store holds CA certificates). Other store types are refused with the
//! key to change.

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use super::{err, setting, SslSettings, TlsConfigError};

/// `KeyStoreFileType`: the explicit type, else the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreType {
    Jks,
    Pem,
    Pkcs12,
    Bcfks,
}

fn store_type(
    cfg: &dyn SslSettings,
    store: &str,
    location: &str,
) -> Result<StoreType, TlsConfigError> {
    let type_key = format!("ssl.{store}.type");
    let explicit = setting(cfg, &format!("{store}.type")).filter(|t| !t.is_empty());
    let (key, name) = match explicit {
        Some(t) => (type_key.as_str(), t.to_ascii_uppercase()),
        None => {
            let ext = Path::new(location).extension().and_then(|e| e.to_str());
            let name = match ext {
                Some("jks") => "JKS",
                Some("pem") => "PEM",
                Some("p12") => "PKCS12",
                Some("bcfks") => "BCFKS",
                _ => {
                    let reason = format!(
                        "cannot tell the type of {location:?} from its name: set {type_key}=PEM"
                    );
                    return Err(err(&type_key, reason));
                }
            };
            (type_key.as_str(), name.to_owned())
        }
    };
    let t = match name.as_str() {
        "PEM" => StoreType::Pem,
        "JKS" => StoreType::Jks,
        "PKCS12" => StoreType::Pkcs12,
        "BCFKS" => StoreType::Bcfks,
        other => return Err(err(key, format!("unknown store type {other:?}"))),
    };
    if t != StoreType::Pem {
        let reason = format!(
            "{location}: {name} stores are not supported by Zooid; use PEM files \
             (for example `openssl pkcs12 -in store.p12 -nodes -out store.pem`, or \
             `keytool -importkeystore -deststoretype PKCS12` first for JKS)"
        );
        return Err(err(key, reason));
    }
    Ok(t)
}

/// The location of a store, if configured.
fn location<'a>(cfg: &'a dyn SslSettings, store: &str) -> Option<&'a str> {
    setting(cfg, &format!("{store}.location")).filter(|l| !l.is_empty())
}

/// `getPasswordFromConfigPropertyOrFile`: the `passwordPath` file wins over `password`.
fn password(cfg: &dyn SslSettings, store: &str) -> Result<String, TlsConfigError> {
    if let Some(path) = setting(cfg, &format!("{store}.passwordPath")).filter(|p| !p.is_empty()) {
        let key = format!("ssl.{store}.passwordPath");
        let text = std::fs::read_to_string(path).map_err(|e| err(&key, format!("{path}: {e}")))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(setting(cfg, &format!("{store}.password"))
        .unwrap_or("")
        .to_owned())
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| err(key, format!("{path}: {e}")))
}

/// The server's certificate chain and private key (`ssl.keyStore.*`).
pub fn key_store(
    cfg: &dyn SslSettings,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    const KEY: &str = "ssl.keyStore.location";
    let path = location(cfg, "keyStore").ok_or_else(|| {
        err(
            KEY,
            "the secure client port needs a key store (the server's key and certificate)",
        )
    })?;
    store_type(cfg, "keyStore", path)?;
    let bytes = read(KEY, path)?;
    let password = password(cfg, "keyStore")?;
    let mut chain = Vec::new();
    let mut key = None;
    for item in pem::PemObject::pem_slice_iter(&bytes) {
        let (kind, der): (SectionKind, Vec<u8>) =
            item.map_err(|e| err(KEY, format!("{path}: {e}")))?;
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            SectionKind::PrivateKey => key = Some(PrivateKeyDer::Pkcs8(der.into())),
            SectionKind::RsaPrivateKey => key = Some(PrivateKeyDer::Pkcs1(der.into())),
            SectionKind::EcPrivateKey => key = Some(PrivateKeyDer::Sec1(der.into())),
            _ => {}
        }
    }
    if key.is_none() && contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let why = if password.is_empty() {
            "and no password is set"
        } else {
            ""
        };
        let reason = format!(
            "{path}: the private key is encrypted {why}; Zooid reads unencrypted keys only \
             (`openssl pkcs8 -in key.pem -out plain.pem` decrypts one)"
        );
        return Err(err(KEY, reason));
    }
    let key = key.ok_or_else(|| err(KEY, format!("{path}: no private key in the file")))?;
    if chain.is_empty() {
        return Err(err(KEY, format!("{path}: no certificate in the file")));
    }
    Ok((chain, key))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The CAs client certificates are verified against (`ssl.trustStore.*`).
pub fn trust_store(cfg: &dyn SslSettings) -> Result<RootCertStore, TlsConfigError> {
    const KEY: &str = "ssl.trustStore.location";
    let path = location(cfg, "trustStore").ok_or_else(|| {
        err(
            KEY,
            "ssl.clientAuth is want or need but no trust store is set (Zooid has no default \
             CA list); set one, or ssl.clientAuth=none",
        )
    })?;
    store_type(cfg, "trustStore", path)?;
    let bytes = read(KEY, path)?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| err(KEY, format!("{path}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| err(KEY, format!("{path}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err(KEY, format!("{path}: no certificate in the file")));
    }
    Ok(roots)
}
