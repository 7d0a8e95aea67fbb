//! Java's JKS key store (`sun.security.provider.JavaKeyStore`), read only: private key
//! entries (with their certificate chains) and trusted certificate entries.
//!
//! ```text
//! store    = magic:u32 (0xFEEDFEED) version:u32 (1 | 2) count:u32 entry{count} digest:[u8; 20]
//! entry    = tag:u32 alias:utf date:u64 (key | cert)     tag 1: key, tag 2: trusted cert
//! key      = len:u32 protected:[u8; len] chain_len:u32 cert{chain_len}
//! cert     = [type:utf, version 2 only] len:u32 der:[u8; len]
//! utf      = len:u16 bytes:[u8; len]                      Java's modified UTF-8
//! digest   = SHA-1(password as UTF-16BE || "Mighty Aphrodite" || every byte before it)
//! ```
//!
//! `protected` is a DER `EncryptedPrivateKeyInfo` whose algorithm is Sun's key protector
//! (OID 1.3.6.1.4.1.42.2.17.1.1) and whose data is `salt:[u8; 20] || encrypted ||
//! check:[u8; 20]`: the plain PKCS#8 key is `encrypted` XOR a keystream of
//! SHA-1(password || previous block) blocks starting from the salt, and `check` is
//! SHA-1(password || plain key) (`sun.security.provider.KeyProtector`).
//!
//! Every length is checked against the bytes left before anything is sliced or
//! allocated: a corrupt or truncated file is an error, never a panic.

use sha1::{Digest, Sha1};

use super::der;

pub(super) const MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];
/// `com.sun.crypto.provider.JceKeyStore`: JCEKS, which the JKS type does not read.
pub(super) const JCEKS_MAGIC: [u8; 4] = [0xCE, 0xCE, 0xCE, 0xCE];
const TAG_PRIVATE_KEY: u32 = 1;
const TAG_TRUSTED_CERT: u32 = 2;
const DIGEST_LEN: usize = 20;
/// DER of OID 1.3.6.1.4.1.42.2.17.1.1, Sun's JKS key protector.
const KEY_PROTECTOR_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01,
];

/// Why a JKS store cannot be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum JksError {
    #[error("not a JKS store (bad magic number or version)")]
    NotJks,
    #[error("the file is truncated or corrupt ({0})")]
    Corrupt(&'static str),
    #[error(
        "the store's password is wrong, or the file was changed (its SHA-1 digest does not match)"
    )]
    WrongPassword,
    #[error("the private key of {0:?} cannot be recovered with the store's password (Java's KeyManagerFactory reads keys with the store's password only)")]
    KeyPassword(String),
    #[error("the private key of {0:?} is not protected with Sun's JKS key protector")]
    KeyProtection(String),
    #[error("{0:?} holds a certificate of type {1:?}, not X.509")]
    CertType(String, String),
}

/// One entry of the store.
#[derive(Debug)]
pub(super) enum Entry {
    /// The key still protected (see [`recover_key`]) and its chain, leaf first.
    PrivateKey {
        alias: String,
        protected: Vec<u8>,
        chain: Vec<Vec<u8>>,
    },
    Trusted {
        alias: String,
        cert: Vec<u8>,
    },
}

/// Reads the entries of a JKS store and checks its digest with `password`, as
/// `JavaKeyStore.engineLoad` does with a non-null password.
pub(super) fn parse(bytes: &[u8], password: &str) -> Result<Vec<Entry>, JksError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.take(4).ok() != Some(&MAGIC[..]) {
        return Err(JksError::NotJks);
    }
    let version = r.u32().map_err(|_| JksError::NotJks)?;
    if version != 1 && version != 2 {
        return Err(JksError::NotJks);
    }
    let count = r.u32()?;
    // No capacity from `count`: the loop ends at the first entry the bytes cannot hold.
    let mut entries = Vec::new();
    for _ in 0..count {
        entries.push(entry(&mut r, version)?);
    }
    let signed = &bytes[..r.pos];
    let digest = r.take(DIGEST_LEN)?;
    let mut h = Sha1::new();
    h.update(utf16be(password));
    h.update(b"Mighty Aphrodite");
    h.update(signed);
    if h.finalize().as_slice() != digest {
        return Err(JksError::WrongPassword);
    }
    Ok(entries)
}

fn entry(r: &mut Reader<'_>, version: u32) -> Result<Entry, JksError> {
    let tag = r.u32()?;
    let alias = r.utf()?;
    let _date_ms = r.take(8)?;
    match tag {
        TAG_PRIVATE_KEY => {
            let len = r.u32()?;
            let protected = r.take(to_usize(len))?.to_vec();
            let chain_len = r.u32()?;
            let mut chain = Vec::new();
            for _ in 0..chain_len {
                chain.push(cert(r, version, &alias)?);
            }
            Ok(Entry::PrivateKey {
                alias,
                protected,
                chain,
            })
        }
        TAG_TRUSTED_CERT => {
            let cert = cert(r, version, &alias)?;
            Ok(Entry::Trusted { alias, cert })
        }
        _ => Err(JksError::Corrupt("unknown entry tag")),
    }
}

fn cert(r: &mut Reader<'_>, version: u32, alias: &str) -> Result<Vec<u8>, JksError> {
    if version == 2 {
        let kind = r.utf()?;
        if kind != "X.509" {
            return Err(JksError::CertType(alias.to_owned(), kind));
        }
    }
    let len = r.u32()?;
    Ok(r.take(to_usize(len))?.to_vec())
}

/// The PKCS#8 DER of a private key entry's key (`KeyProtector.recover`).
pub(super) fn recover_key(
    alias: &str,
    protected: &[u8],
    password: &str,
) -> Result<Vec<u8>, JksError> {
    let data =
        protected_data(protected).ok_or_else(|| JksError::KeyProtection(alias.to_owned()))?;
    if data.len() < 2 * DIGEST_LEN {
        return Err(JksError::KeyProtection(alias.to_owned()));
    }
    let (salt, rest) = data.split_at(DIGEST_LEN);
    let (encrypted, check) = rest.split_at(rest.len() - DIGEST_LEN);
    let password = utf16be(password);
    let mut plain = Vec::with_capacity(encrypted.len());
    let mut block = salt.to_vec();
    for chunk in encrypted.chunks(DIGEST_LEN) {
        let mut h = Sha1::new();
        h.update(&password);
        h.update(&block);
        block = h.finalize().to_vec();
        plain.extend(chunk.iter().zip(&block).map(|(c, k)| c ^ k));
    }
    let mut h = Sha1::new();
    h.update(&password);
    h.update(&plain);
    if h.finalize().as_slice() != check {
        return Err(JksError::KeyPassword(alias.to_owned()));
    }
    Ok(plain)
}

/// The encrypted data of `EncryptedPrivateKeyInfo ::= SEQUENCE { SEQUENCE { OID, params },
/// OCTET STRING }` if its algorithm is the key protector's.
fn protected_data(bytes: &[u8]) -> Option<&[u8]> {
    let (info, _) = der::expect(bytes, der::SEQUENCE)?;
    let (algorithm, rest) = der::expect(info.value, der::SEQUENCE)?;
    if !algorithm.value.starts_with(KEY_PROTECTOR_OID) {
        return None;
    }
    let (data, _) = der::expect(rest, der::OCTET_STRING)?;
    Some(data.value)
}

/// Java's `char[]` password as the bytes JKS hashes (each UTF-16 unit, big-endian).
fn utf16be(password: &str) -> Vec<u8> {
    password.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A cursor over the store's bytes; every read is bounded by what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], JksError> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(JksError::Corrupt("a length runs past the end of the file"));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, JksError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// `DataInput.readUTF`: modified UTF-8; aliases and type names are ASCII in practice,
    /// so a lossy decode only affects how an odd alias prints.
    fn utf(&mut self) -> Result<String, JksError> {
        let b = self.take(2)?;
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}
