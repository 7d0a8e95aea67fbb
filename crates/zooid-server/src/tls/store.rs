//! Key and trust stores (`ssl.keyStore.*`, `ssl.trustStore.*`), typed as ZooKeeper's
//! `KeyStoreFileType` does: PEM files as `PEMFileLoader` reads them (a key store holds
//! the private key and its certificate chain; a trust store holds CA certificates), JKS
//! and PKCS12 stores through [`super::keystore`]. BCFKS is refused with the key to change.

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use super::{eckey, err, keystore, setting, TlsConfigError};
use crate::config::Config;

/// `KeyStoreFileType`: the explicit type, else the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreType {
    Jks,
    Pem,
    Pkcs12,
    Bcfks,
}

fn store_type(cfg: &Config, store: &str, location: &str) -> Result<StoreType, TlsConfigError> {
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
                        "cannot tell the type of {location:?} from its name (.pem, .jks, .p12): \
                         set {type_key} to PEM, JKS or PKCS12"
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
    if t == StoreType::Bcfks {
        let reason = format!(
            "{location}: BCFKS stores are not supported by Zooid; use PKCS12, JKS or PEM \
             (`keytool -importkeystore -srcstoretype BCFKS -deststoretype PKCS12`)"
        );
        return Err(err(key, reason));
    }
    Ok(t)
}

/// The location of a store, if configured.
fn location<'a>(cfg: &'a Config, store: &str) -> Option<&'a str> {
    setting(cfg, &format!("{store}.location")).filter(|l| !l.is_empty())
}

/// `getPasswordFromConfigPropertyOrFile`: the `passwordPath` file wins over `password`.
fn password(cfg: &Config, store: &str) -> Result<String, TlsConfigError> {
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
pub(super) fn key_store(
    cfg: &Config,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    const KEY: &str = "ssl.keyStore.location";
    let path = location(cfg, "keyStore").ok_or_else(|| {
        err(
            KEY,
            "the secure client port needs a key store (the server's key and certificate)",
        )
    })?;
    let kind = store_type(cfg, "keyStore", path)?;
    let bytes = read(KEY, path)?;
    let password = password(cfg, "keyStore")?;
    if kind != StoreType::Pem {
        return keystore::key_store(&bytes, &password)
            .map_err(|e| err(KEY, format!("{path}: {e}")));
    }
    pem_key_store(path, &bytes, &password)
}

/// A PEM key store: the (unencrypted) private key and the chain, leaf first.
fn pem_key_store(
    path: &str,
    bytes: &[u8],
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    const KEY: &str = "ssl.keyStore.location";
    let mut chain = Vec::new();
    let mut key = None;
    for item in pem::PemObject::pem_slice_iter(bytes) {
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
    if key.is_none() && contains(bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
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
    // A PKCS#8 EC key exported from Java lacks the public key ring needs.
    let key = match key {
        PrivateKeyDer::Pkcs8(der) => {
            match eckey::with_public_key(der.secret_pkcs8_der(), &chain[0]) {
                Some(fixed) => PrivateKeyDer::Pkcs8(fixed.into()),
                None => PrivateKeyDer::Pkcs8(der),
            }
        }
        other => other,
    };
    Ok((chain, key))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The CAs client certificates are verified against (`ssl.trustStore.*`).
pub(super) fn trust_store(cfg: &Config) -> Result<RootCertStore, TlsConfigError> {
    const KEY: &str = "ssl.trustStore.location";
    let path = location(cfg, "trustStore").ok_or_else(|| {
        err(
            KEY,
            "ssl.clientAuth is want or need but no trust store is set (Zooid has no default \
             CA list); set one, or ssl.clientAuth=none",
        )
    })?;
    let kind = store_type(cfg, "trustStore", path)?;
    let bytes = read(KEY, path)?;
    let certs = if kind == StoreType::Pem {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(KEY, format!("{path}: {e}")))?
    } else {
        let password = password(cfg, "trustStore")?;
        keystore::trust_store(&bytes, &password).map_err(|e| err(KEY, format!("{path}: {e}")))?
    };
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| err(KEY, format!("{path}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err(KEY, format!("{path}: no certificate in the file")));
    }
    Ok(roots)
}
