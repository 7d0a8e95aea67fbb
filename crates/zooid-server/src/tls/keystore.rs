//! JKS and PKCS12 stores as ZooKeeper's `JKSFileLoader` / `PKCS12FileLoader` load them on
//! Java 9+: `KeyStore.getInstance("JKS")` and `("PKCS12")` are dual-format
//! (`keystore.type.compat`), so the file's content, not its type setting, says which
//! reader runs (JKS magic 0xFEEDFEED, else a DER SEQUENCE for PKCS12).
//!
//! - A key store yields one private key (PKCS#8 DER, recovered with the store's password,
//!   as `KeyManagerFactory.init(ks, storePassword)` does) and its chain, leaf first.
//! - A trust store yields its trusted certificate entries only, as
//!   `PKIXBuilderParameters(KeyStore, ..)` takes them: JKS tag-2 entries, PKCS12
//!   certificates carrying Oracle's trusted-key-usage attribute (keytool writes it,
//!   openssl only with `-jdktrust anyExtendedKeyUsage`). Certificates of key entries are
//!   not trust anchors.

use p12_keystore::Pkcs12Archive;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::eckey;
use super::jks::{self, JksError};

/// Why a store cannot be used; printed after the store's path.
#[derive(Debug, thiserror::Error)]
pub(super) enum StoreError {
    #[error("{0}")]
    Jks(#[from] JksError),
    #[error("a JCEKS store, which ZooKeeper's JKS and PKCS12 loaders do not read either; convert it with `keytool -importkeystore -srcstoretype JCEKS -deststoretype PKCS12`")]
    Jceks,
    #[error("neither a JKS nor a PKCS12 store (a PEM file needs the store type PEM)")]
    Unknown,
    #[error(
        "the store's password is wrong, or the file was changed (its PKCS12 MAC does not match)"
    )]
    Pkcs12Mac,
    #[error("cannot decrypt the PKCS12 store: the password is wrong, or the file is corrupt (the store has no MAC to tell which)")]
    Pkcs12Decrypt,
    #[error("cannot read the PKCS12 store: {0} (a corrupt file, or a wrong password for a store without MAC)")]
    Pkcs12(String),
    #[error("no private key entry")]
    NoKey,
    #[error("the private key entry {0:?} has no certificate")]
    NoChain(String),
    #[error("the private key entry {alias:?} holds {what}, which rustls cannot use (RSA, EC P-256 / P-384 and Ed25519 keys work)")]
    KeyAlgorithm { alias: String, what: String },
    #[error("no trusted certificate entry (Java needs at least one trust anchor; certificates of private key entries and PKCS12 certificates without Java's trusted-key-usage attribute are none)")]
    NoTrusted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jks,
    Pkcs12,
}

fn format(bytes: &[u8]) -> Result<Format, StoreError> {
    if bytes.starts_with(&jks::MAGIC) {
        Ok(Format::Jks)
    } else if bytes.starts_with(&jks::JCEKS_MAGIC) {
        Err(StoreError::Jceks)
    } else if bytes.first() == Some(&0x30) {
        Ok(Format::Pkcs12)
    } else {
        Err(StoreError::Unknown)
    }
}

/// A private key entry as the store holds it.
struct KeyEntry {
    alias: String,
    key: Key,
    chain: Vec<Vec<u8>>,
}

enum Key {
    /// JKS: still protected; only a key we may use is recovered (see [`jks::recover_key`]).
    Jks(Vec<u8>),
    /// PKCS12: the archive decrypts its keys while reading (PKCS#8 DER).
    Pkcs8(Vec<u8>),
}

/// The server's key and chain. With several usable private keys, Java's
/// `X509KeyManagerImpl` picks per handshake: it walks the client's signature algorithms
/// in the client's order and takes the first alias whose key fits. OpenSSL, Java and
/// rustls clients all list ECDSA before EdDSA before RSA, so that order is used here
/// (file order within a kind) and the keys not taken are named in a warning. Java also
/// passes over expired certificates; Zooid does not look at validity dates.
pub(super) fn key_store(
    bytes: &[u8],
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), StoreError> {
    let entries = key_entries(bytes, password)?;
    let mut first_error = None;
    let mut usable_keys = Vec::new();
    for entry in &entries {
        match usable(entry, password) {
            Ok(key) => usable_keys.push((preference(key.secret_der()), entry, key)),
            Err(e) => {
                tracing::warn!("key store entry {:?} is not usable: {e}", entry.alias);
                first_error.get_or_insert(e);
            }
        }
    }
    // A stable sort keeps file order among keys of one kind.
    usable_keys.sort_by_key(|(rank, _, _)| *rank);
    let mut usable_keys = usable_keys.into_iter();
    let Some((_, entry, key)) = usable_keys.next() else {
        return Err(first_error.unwrap_or(StoreError::NoKey));
    };
    let others: Vec<&str> = usable_keys.map(|(_, e, _)| e.alias.as_str()).collect();
    if !others.is_empty() {
        tracing::warn!(
            "the key store holds several private keys: serving {:?}, ignoring {others:?}",
            entry.alias
        );
    }
    let chain = entry
        .chain
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    Ok((chain, key))
}

/// How early clients' signature algorithm lists name this kind of key (lower first).
fn preference(pkcs8: &[u8]) -> u8 {
    let oid = p12_keystore::PrivateKey::from_der(pkcs8).map(|k| k.oid().to_string());
    match oid.as_deref() {
        Ok("1.2.840.10045.2.1") => 0,
        Ok("1.3.101.112") => 1,
        _ => 2,
    }
}

/// The entry's key as rustls takes it, if rustls (with ring) can sign with it.
fn usable(entry: &KeyEntry, password: &str) -> Result<PrivateKeyDer<'static>, StoreError> {
    if entry.chain.is_empty() {
        return Err(StoreError::NoChain(entry.alias.clone()));
    }
    let pkcs8 = match &entry.key {
        Key::Jks(protected) => jks::recover_key(&entry.alias, protected, password)?,
        Key::Pkcs8(der) => der.clone(),
    };
    let pkcs8 = eckey::with_public_key(&pkcs8, &entry.chain[0]).unwrap_or(pkcs8);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8));
    match rustls::crypto::ring::sign::any_supported_type(&key) {
        Ok(_) => Ok(key),
        Err(_) => Err(StoreError::KeyAlgorithm {
            alias: entry.alias.clone(),
            what: key_algorithm(key.secret_der()),
        }),
    }
}

/// What a PKCS#8 key is, for the error message.
fn key_algorithm(pkcs8: &[u8]) -> String {
    let Ok(key) = p12_keystore::PrivateKey::from_der(pkcs8) else {
        return "a key that is not valid PKCS#8".to_owned();
    };
    let oid = key.oid().to_string();
    let name = match oid.as_str() {
        "1.2.840.113549.1.1.1" => "an RSA key rustls rejects (too small or malformed)",
        "1.2.840.113549.1.1.10" => "an RSASSA-PSS key",
        "1.2.840.10045.2.1" => "an EC key on a curve other than P-256 and P-384",
        "1.2.840.10040.4.1" => "a DSA key",
        "1.3.101.112" => "an Ed25519 key rustls rejects",
        "1.3.101.113" => "an Ed448 key",
        "1.3.101.110" | "1.3.101.111" => "an X25519 / X448 key (key agreement only)",
        _ => return format!("a key of algorithm {oid}"),
    };
    name.to_owned()
}

/// The trust anchors of a trust store.
pub(super) fn trust_store(
    bytes: &[u8],
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let certs: Vec<CertificateDer<'static>> = match format(bytes)? {
        Format::Jks => jks::parse(bytes, password)?
            .into_iter()
            .filter_map(|e| match e {
                jks::Entry::Trusted { alias, cert } => {
                    tracing::debug!("trust store entry {alias:?}");
                    Some(CertificateDer::from(cert))
                }
                jks::Entry::PrivateKey { .. } => None,
            })
            .collect(),
        Format::Pkcs12 => pkcs12(bytes, password)?
            .certs
            .into_iter()
            .filter(|c| c.trusted)
            .map(|c| CertificateDer::from(c.cert.as_der().to_vec()))
            .collect(),
    };
    if certs.is_empty() {
        return Err(StoreError::NoTrusted);
    }
    Ok(certs)
}

fn key_entries(bytes: &[u8], password: &str) -> Result<Vec<KeyEntry>, StoreError> {
    let entries = match format(bytes)? {
        Format::Jks => jks::parse(bytes, password)?
            .into_iter()
            .filter_map(|e| match e {
                jks::Entry::PrivateKey {
                    alias,
                    protected,
                    chain,
                } => Some(KeyEntry {
                    alias,
                    key: Key::Jks(protected),
                    chain,
                }),
                jks::Entry::Trusted { .. } => None,
            })
            .collect(),
        Format::Pkcs12 => pkcs12_keys(pkcs12(bytes, password)?),
    };
    Ok(entries)
}

fn pkcs12(bytes: &[u8], password: &str) -> Result<Pkcs12Archive, StoreError> {
    Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => StoreError::Pkcs12Mac,
        p12_keystore::error::Error::UnpadError => StoreError::Pkcs12Decrypt,
        other => StoreError::Pkcs12(other.to_string()),
    })
}

/// Links PKCS12 keys to their chains as `PKCS12KeyStore.engineLoad` does: the leaf is the
/// certificate with the key's localKeyId (a lone key without one takes the first
/// certificate without one), then each issuer by subject name up to a self-signed one.
fn pkcs12_keys(archive: Pkcs12Archive) -> Vec<KeyEntry> {
    let lone = archive.keys.len() == 1;
    let mut out = Vec::with_capacity(archive.keys.len());
    for (i, bag) in archive.keys.iter().enumerate() {
        let id = bag.local_key_id.as_ref().map(|id| id.as_ref());
        let leaf = archive.certs.iter().find(|c| match id {
            Some(id) => c.local_key_id.as_deref() == Some(id),
            None => lone && c.local_key_id.is_none(),
        });
        let mut chain: Vec<&p12_keystore::Certificate> = Vec::new();
        let mut next = leaf.map(|c| &c.cert);
        while let Some(cert) = next {
            if chain.iter().any(|c| c.as_der() == cert.as_der()) {
                break;
            }
            chain.push(cert);
            if cert.subject() == cert.issuer() {
                break;
            }
            next = archive
                .certs
                .iter()
                .map(|c| &c.cert)
                .find(|c| c.subject() == cert.issuer());
        }
        let alias = bag
            .friendly_name
            .clone()
            .or_else(|| leaf.and_then(|c| c.friendly_name.clone()))
            .unwrap_or_else(|| format!("key #{}", i + 1));
        out.push(KeyEntry {
            alias,
            key: Key::Pkcs8(bag.key.as_der().to_vec()),
            chain: chain.iter().map(|c| c.as_der().to_vec()).collect(),
        });
    }
    out
}

#[cfg(test)]
#[path = "keystore_tests.rs"]
mod tests;
