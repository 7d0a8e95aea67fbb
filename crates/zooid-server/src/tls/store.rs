//! Key and trust stores (`ssl.keyStore.*`, `ssl.trustStore.*`, and the same under
//! `ssl.quorum.` for the AdminServer): PEM files as ZooKeeper's `PEMFileLoader` reads
//! them (a key store holds the private key and its certificate chain; a trust store
//! holds CA certificates), JKS and PKCS12 stores through [`super::keystore`], typed as
//! `KeyStoreFileType` does. BCFKS is refused with the key to change.

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

use super::{eckey, err, keystore, SslSettings, TlsConfigError};

/// `KeyStoreFileType`: the explicit type, else the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreType {
    Jks,
    Pem,
    Pkcs12,
    Bcfks,
}

/// The keys of one family of stores: `ssl` (the client port, `ClientX509Util`) or
/// `ssl.quorum` (`QuorumX509Util`, which the AdminServer reads).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family {
    /// `ssl` or `ssl.quorum`, without `zookeeper.`.
    pub prefix: &'static str,
    /// What the stores are for, in error messages.
    pub user: &'static str,
}

impl Family {
    fn get<'a>(&self, cfg: &'a dyn SslSettings, name: &str) -> Option<&'a str> {
        // `zookeeper.ssl.quorum.<name>` is `quorum.<name>` of the `zookeeper.ssl` keys.
        match self.prefix.strip_prefix("ssl.") {
            Some(sub) => cfg.ssl(&format!("{sub}.{name}")),
            None => cfg.ssl(name),
        }
    }

    /// The zoo.cfg key of a setting, for error messages.
    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }
}

fn store_type(
    cfg: &dyn SslSettings,
    f: Family,
    store: &str,
    location: &str,
) -> Result<StoreType, TlsConfigError> {
    let type_key = f.key(&format!("{store}.type"));
    let explicit = f
        .get(cfg, &format!("{store}.type"))
        .filter(|t| !t.is_empty());
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
fn location<'a>(cfg: &'a dyn SslSettings, f: Family, store: &str) -> Option<&'a str> {
    f.get(cfg, &format!("{store}.location"))
        .filter(|l| !l.is_empty())
}

/// `getPasswordFromConfigPropertyOrFile`: the `passwordPath` file wins over `password`.
fn password(cfg: &dyn SslSettings, f: Family, store: &str) -> Result<String, TlsConfigError> {
    if let Some(path) = f
        .get(cfg, &format!("{store}.passwordPath"))
        .filter(|p| !p.is_empty())
    {
        let key = f.key(&format!("{store}.passwordPath"));
        let text = std::fs::read_to_string(path).map_err(|e| err(&key, format!("{path}: {e}")))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    Ok(f.get(cfg, &format!("{store}.password"))
        .unwrap_or("")
        .to_owned())
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| err(key, format!("{path}: {e}")))
}

/// The server's certificate chain and private key (`ssl.keyStore.*`).
pub(crate) fn key_store(
    cfg: &dyn SslSettings,
    f: Family,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    let setting = f.key("keyStore.location");
    let setting = setting.as_str();
    let path = location(cfg, f, "keyStore").ok_or_else(|| {
        let reason = format!(
            "{} needs a key store (the server's key and certificate)",
            f.user
        );
        err(setting, reason)
    })?;
    let kind = store_type(cfg, f, "keyStore", path)?;
    let bytes = read(setting, path)?;
    let password = password(cfg, f, "keyStore")?;
    if kind != StoreType::Pem {
        return keystore::key_store(&bytes, &password)
            .map_err(|e| err(setting, format!("{path}: {e}")));
    }
    pem_key_store(setting, path, &bytes, &password)
}

/// A PEM key store: the (unencrypted) private key and the chain, leaf first.
fn pem_key_store(
    setting: &str,
    path: &str,
    bytes: &[u8],
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    let mut chain = Vec::new();
    let mut key = None;
    for item in pem::PemObject::pem_slice_iter(bytes) {
        let (kind, der): (SectionKind, Vec<u8>) =
            item.map_err(|e| err(setting, format!("{path}: {e}")))?;
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
        return Err(err(setting, reason));
    }
    let key = key.ok_or_else(|| err(setting, format!("{path}: no private key in the file")))?;
    if chain.is_empty() {
        return Err(err(setting, format!("{path}: no certificate in the file")));
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
/// `missing` says why one is needed when none is set.
pub(crate) fn trust_store(
    cfg: &dyn SslSettings,
    f: Family,
    missing: &str,
) -> Result<RootCertStore, TlsConfigError> {
    let certs = trust_certs(cfg, f, missing)?;
    let key_name = f.key("trustStore.location");
    let key = key_name.as_str();
    let path = location(cfg, f, "trustStore").unwrap_or_default();
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| err(key, format!("{path}: {e}")))?;
    }
    Ok(roots)
}

/// The certificates of a trust store (`ssl.trustStore.*`), at least one.
pub(crate) fn trust_certs(
    cfg: &dyn SslSettings,
    f: Family,
    missing: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let key_name = f.key("trustStore.location");
    let key = key_name.as_str();
    let path = location(cfg, f, "trustStore").ok_or_else(|| err(key, missing))?;
    let kind = store_type(cfg, f, "trustStore", path)?;
    let bytes = read(key, path)?;
    let certs = if kind == StoreType::Pem {
        CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(key, format!("{path}: {e}")))?
    } else {
        let password = password(cfg, f, "trustStore")?;
        keystore::trust_store(&bytes, &password).map_err(|e| err(key, format!("{path}: {e}")))?
    };
    if certs.is_empty() {
        return Err(err(key, format!("{path}: no certificate in the file")));
    }
    Ok(certs)
}
