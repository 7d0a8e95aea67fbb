//! JKS and PKCS12 stores made by keytool and openssl (testdata/README.md), and corrupt
//! copies of them.

use super::*;
use rustls::pki_types::pem::PemObject;

fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/src/tls/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ca() -> Vec<u8> {
    CertificateDer::from_pem_slice(&data("ca.pem"))
        .unwrap()
        .to_vec()
}

/// The key's algorithm, the chain's length, and whether the chain ends at the CA.
fn key_summary(name: &str, password: &str) -> String {
    match key_store(&data(name), password) {
        Ok((chain, key)) => {
            let oid = p12_keystore::PrivateKey::from_der(key.secret_der())
                .unwrap()
                .oid()
                .to_string();
            let ends_at_ca = chain.last().map(|c| c.to_vec()) == Some(ca());
            format!(
                "key {oid}, chain of {}, ends at CA: {ends_at_ca}",
                chain.len()
            )
        }
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn key_stores_written_by_keytool_and_openssl_load() {
    const RSA: &str = "1.2.840.113549.1.1.1";
    const EC: &str = "1.2.840.10045.2.1";
    let cases = [
        ("server.jks", "serverpass", RSA),
        ("server-ec.p12", "serverpass", EC),
        ("server-p12.jks", "serverpass", EC),
        ("server-openssl.p12", "serverpass", EC),
        ("server-legacy.p12", "serverpass", EC),
        ("server-nomac.p12", "serverpass", EC),
        ("client.p12", "clientpass", EC),
    ];
    for (name, password, oid) in cases {
        assert_eq!(
            key_summary(name, password),
            format!("key {oid}, chain of 2, ends at CA: true"),
            "{name}"
        );
    }
    assert_eq!(
        key_summary("ed25519.p12", "storepass"),
        "key 1.3.101.112, chain of 1, ends at CA: false"
    );
}

/// With several keys an EC key serves before an RSA one, as Java's key manager picks for
/// clients that list ECDSA first; ZooKeeper 3.8 presents the same certificate
/// (tests/interop/test_tls.py).
#[test]
fn of_several_keys_an_ec_key_serves_first() {
    assert_eq!(
        key_summary("two-keys.jks", "serverpass"),
        "key 1.2.840.10045.2.1, chain of 1, ends at CA: false"
    );
}

#[test]
fn trust_stores_hold_their_trusted_entries_only() {
    for (name, password) in [
        ("trust.p12", "trustpass"),
        ("trust.jks", "trustpass"),
        // A key store's trusted entry counts; its key entry's chain does not.
        ("server.jks", "serverpass"),
        ("server-ec.p12", "serverpass"),
    ] {
        let certs = trust_store(&data(name), password).unwrap();
        let certs: Vec<Vec<u8>> = certs.iter().map(|c| c.to_vec()).collect();
        assert_eq!(certs, vec![ca()], "{name}");
    }
    let openssl = trust_store(&data("trust-openssl.p12"), "trustpass").unwrap_err();
    assert!(matches!(openssl, StoreError::NoTrusted), "{openssl}");
    let keys_only = trust_store(&data("server-openssl.p12"), "serverpass").unwrap_err();
    assert!(matches!(keys_only, StoreError::NoTrusted), "{keys_only}");
}

#[test]
fn refusals_say_why() {
    let cases = [
        ("server.jks", "wrong", "the store's password is wrong, or the file was changed (its SHA-1 digest does not match)"),
        ("server-ec.p12", "wrong", "the store's password is wrong, or the file was changed (its PKCS12 MAC does not match)"),
        ("server-legacy.p12", "", "the store's password is wrong, or the file was changed (its PKCS12 MAC does not match)"),
        ("keypass.jks", "storepass", "the private key of \"other\" cannot be recovered with the store's password (Java's KeyManagerFactory reads keys with the store's password only)"),
        ("dsa.jks", "storepass", "the private key entry \"dsa\" holds a DSA key, which rustls cannot use (RSA, EC P-256 / P-384 and Ed25519 keys work)"),
        ("store.jceks", "storepass", "a JCEKS store, which ZooKeeper's JKS and PKCS12 loaders do not read either; convert it with `keytool -importkeystore -srcstoretype JCEKS -deststoretype PKCS12`"),
        ("ca.pem", "", "neither a JKS nor a PKCS12 store (a PEM file needs the store type PEM)"),
        ("server-nomac.p12", "wrong", "cannot decrypt the PKCS12 store: the password is wrong, or the file is corrupt (the store has no MAC to tell which)"),
        ("trust.jks", "trustpass", "no private key entry"),
        ("trust.p12", "trustpass", "no private key entry"),
    ];
    for (name, password, want) in cases {
        assert_eq!(
            key_summary(name, password),
            format!("error: {want}"),
            "{name}"
        );
    }
}

#[test]
fn a_huge_entry_count_or_length_is_an_error_not_an_allocation() {
    let mut store = jks::MAGIC.to_vec();
    store.extend_from_slice(&2u32.to_be_bytes());
    store.extend_from_slice(&u32::MAX.to_be_bytes());
    let err = jks::parse(&store, "").unwrap_err();
    assert!(matches!(err, JksError::Corrupt(_)), "{err}");
    // One key entry claiming 4 GiB of key bytes.
    store.truncate(8);
    store.extend_from_slice(&1u32.to_be_bytes());
    store.extend_from_slice(&1u32.to_be_bytes());
    store.extend_from_slice(&[0, 1, b'a']);
    store.extend_from_slice(&[0; 8]);
    store.extend_from_slice(&u32::MAX.to_be_bytes());
    let err = jks::parse(&store, "").unwrap_err();
    assert!(matches!(err, JksError::Corrupt(_)), "{err}");
}

/// Every truncation and bit flips of every store give an error or (for a flip the
/// format does not cover, such as in trailing bytes) a result, never a panic.
#[test]
fn corrupt_stores_give_errors_not_panics() {
    let stores = [
        ("server.jks", "serverpass"),
        ("trust.jks", "trustpass"),
        ("two-keys.jks", "serverpass"),
        ("server-ec.p12", "serverpass"),
        ("server-legacy.p12", "serverpass"),
        ("trust.p12", "trustpass"),
        ("server-nomac.p12", "serverpass"),
    ];
    for (name, password) in stores {
        let bytes = data(name);
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            assert!(key_store(cut, password).is_err(), "{name} cut at {len}");
            assert!(trust_store(cut, password).is_err(), "{name} cut at {len}");
        }
        // PKCS12 checks cost key derivations: flip a spread of bits there, every
        // byte of the JKS files (one SHA-1 over the file each).
        let jks = name.ends_with(".jks");
        // Without a MAC the flips reach the decryption and the bags: every third byte.
        let step = match name {
            _ if jks => 1,
            "server-nomac.p12" => 3,
            _ => 31,
        };
        let mut flipped = 0;
        for pos in (0..bytes.len()).step_by(step) {
            let mut copy = bytes.clone();
            copy[pos] ^= 1 << (pos % 8);
            if key_store(&copy, password).is_err() {
                flipped += 1;
            }
            if jks {
                let _ = trust_store(&copy, password);
            }
        }
        assert!(flipped > 0, "{name}");
    }
}

/// The key protector behind the store's digest: cut and flipped protected keys are
/// errors (its check digest), never panics.
#[test]
fn corrupt_protected_keys_give_errors_not_panics() {
    let entries = jks::parse(&data("server.jks"), "serverpass").unwrap();
    let Some(jks::Entry::PrivateKey {
        alias, protected, ..
    }) = entries
        .into_iter()
        .find(|e| matches!(e, jks::Entry::PrivateKey { .. }))
    else {
        panic!("no key entry");
    };
    assert!(jks::recover_key(&alias, &protected, "serverpass").is_ok());
    for len in 0..protected.len() {
        assert!(jks::recover_key(&alias, &protected[..len], "serverpass").is_err());
    }
    // The first 20 bytes are the DER headers and the algorithm (OID, NULL): a flip in
    // the NULL parameters goes unnoticed, as it does not change the key.
    for pos in 0..protected.len() {
        let mut copy = protected.clone();
        copy[pos] ^= 0x10;
        let result = jks::recover_key(&alias, &copy, "serverpass");
        assert!(pos < 20 || result.is_err(), "{pos}");
    }
}
