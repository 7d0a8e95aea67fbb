//! Java writes EC private keys as PKCS#8 without the optional public key inside the
//! `ECPrivateKey`; ring (under rustls) requires it. The public key is in the leaf
//! certificate, so the key is rewritten with it (ring then checks that they match).
//!
//! ```text
//! PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm SEQUENCE, privateKey OCTET STRING
//!                               (ECPrivateKey), attributes [0] OPTIONAL }
//! ECPrivateKey   ::= SEQUENCE { version INTEGER (1), privateKey OCTET STRING,
//!                               parameters [0] OPTIONAL, publicKey [1] BIT STRING OPTIONAL }
//! Certificate    ::= SEQUENCE { tbsCertificate SEQUENCE { version [0] OPTIONAL, serial,
//!                               signature, issuer, validity, subject,
//!                               subjectPublicKeyInfo SEQUENCE { algorithm, BIT STRING }, .. }, .. }
//! ```

use super::der::{self, BIT_STRING, CONTEXT_0, CONTEXT_1, INTEGER, OCTET_STRING, SEQUENCE};

/// DER of OID 1.2.840.10045.2.1, id-ecPublicKey.
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// `pkcs8` with the public key of `cert` added, if it is an EC key without one; `None`
/// when there is nothing to add or the DER is not what the grammar says.
pub(super) fn with_public_key(pkcs8: &[u8], cert: &[u8]) -> Option<Vec<u8>> {
    let (info, _) = der::expect(pkcs8, SEQUENCE)?;
    let (version, rest) = der::expect(info.value, INTEGER)?;
    let (algorithm, rest) = der::expect(rest, SEQUENCE)?;
    if !algorithm.value.starts_with(EC_PUBLIC_KEY_OID) {
        return None;
    }
    let (private_key, attributes) = der::expect(rest, OCTET_STRING)?;
    let (ec, _) = der::expect(private_key.value, SEQUENCE)?;
    let (ec_version, rest) = der::expect(ec.value, INTEGER)?;
    let (secret, mut rest) = der::expect(rest, OCTET_STRING)?;
    let mut params: &[u8] = &[];
    if let Some((p, after)) = der::expect(rest, CONTEXT_0) {
        params = p.raw;
        rest = after;
    }
    if der::expect(rest, CONTEXT_1).is_some() {
        return None;
    }
    let public_key = spki_bit_string(cert)?;
    let ec = [
        ec_version.raw,
        secret.raw,
        params,
        &der::write(CONTEXT_1, public_key),
    ]
    .concat();
    let private_key = der::write(OCTET_STRING, &der::write(SEQUENCE, &ec));
    let info = [version.raw, algorithm.raw, &private_key, attributes].concat();
    Some(der::write(SEQUENCE, &info))
}

/// The subject public key BIT STRING element of an X.509 certificate.
fn spki_bit_string(cert: &[u8]) -> Option<&[u8]> {
    let (cert, _) = der::expect(cert, SEQUENCE)?;
    let (tbs, _) = der::expect(cert.value, SEQUENCE)?;
    let mut rest = tbs.value;
    if let Some((_, after)) = der::expect(rest, CONTEXT_0) {
        rest = after;
    }
    let (_serial, rest) = der::expect(rest, INTEGER)?;
    let mut rest = rest;
    // signature, issuer, validity, subject.
    for _ in 0..4 {
        rest = der::expect(rest, SEQUENCE)?.1;
    }
    let (spki, _) = der::expect(rest, SEQUENCE)?;
    let (_algorithm, rest) = der::expect(spki.value, SEQUENCE)?;
    let (bits, _) = der::expect(rest, BIT_STRING)?;
    Some(bits.raw)
}
