//! The `ssl.*` settings: what is refused, and with which key.

use super::*;

fn with(entries: &[(&str, &str)]) -> Config {
    let mut cfg = Config::defaults();
    for (k, v) in entries {
        cfg.other.insert(format!("zookeeper.{k}"), (*v).to_owned());
    }
    cfg
}

fn refused(entries: &[(&str, &str)]) -> String {
    match TlsServer::from_config(&with(entries)) {
        Ok(_) => panic!("accepted {entries:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn refusals_name_the_key() {
    // JKS and PKCS12 stores are read (keystore_tests.rs); BCFKS is refused.
    let jks = refused(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", "/k.jks"),
    ]);
    assert!(
        jks.starts_with("ssl.keyStore.location: /k.jks: No such file"),
        "{jks}"
    );
    let bcfks = refused(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", "/k.pem"),
        ("ssl.keyStore.type", "bcfks"),
    ]);
    assert!(
        bcfks.starts_with("ssl.keyStore.type: /k.pem: BCFKS stores are not supported"),
        "{bcfks}"
    );
    let other = refused(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", "/k.pem"),
        ("ssl.keyStore.type", "JCEKS"),
    ]);
    assert!(
        other.starts_with("ssl.keyStore.type: unknown store type \"JCEKS\""),
        "{other}"
    );
    let unknown = refused(&[("ssl.clientAuth", "none"), ("ssl.keyStore.location", "/k")]);
    assert!(
        unknown.starts_with("ssl.keyStore.type: cannot tell"),
        "{unknown}"
    );
    let need = refused(&[("ssl.keyStore.location", "/k.pem")]);
    assert!(
        need.starts_with("ssl.trustStore.location: ssl.clientAuth is want"),
        "{need}"
    );
    assert!(refused(&[("ssl.clientAuth", "maybe")]).starts_with("ssl.clientAuth: "));
    assert!(refused(&[("ssl.protocol", "TLSv1.1")]).starts_with("ssl.protocol: "));
    let protocols = refused(&[("ssl.enabledProtocols", "TLSv1,TLSv1.1")]);
    assert!(
        protocols.starts_with("ssl.enabledProtocols: "),
        "{protocols}"
    );
    let suites = refused(&[("ssl.ciphersuites", "TLS_RSA_WITH_AES_128_CBC_SHA")]);
    assert!(
        suites.starts_with("ssl.ciphersuites: no supported suite"),
        "{suites}"
    );
    assert!(refused(&[("ssl.crl", "true")]).starts_with("ssl.crl / ssl.ocsp: "));
    let host = refused(&[("ssl.clientHostnameVerification", "true")]);
    assert!(
        host.starts_with("ssl.clientHostnameVerification: "),
        "{host}"
    );
    let missing = refused(&[("ssl.clientAuth", "NONE")]);
    assert!(missing.starts_with("ssl.keyStore.location: "), "{missing}");
    let gone = refused(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", "/no/such.pem"),
    ]);
    assert!(
        gone.starts_with("ssl.keyStore.location: /no/such.pem: "),
        "{gone}"
    );
}

#[test]
fn protocols_and_suites_map_to_rustls() {
    let v = protocol_versions(&with(&[("ssl.protocol", "TLSv1.2")])).unwrap();
    assert_eq!(v, vec![&rustls::version::TLS12]);
    let v = protocol_versions(&with(&[("ssl.enabledProtocols", "TLSv1.1,TLSv1.3")])).unwrap();
    assert_eq!(v, vec![&rustls::version::TLS13]);
    let names: Vec<String> = cipher_suites(&Config::defaults())
        .unwrap()
        .iter()
        .filter_map(java_name)
        .collect();
    assert_eq!(
        names.join(","),
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,\
         TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,\
         TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256,TLS_CHACHA20_POLY1305_SHA256"
    );
}

fn testdata(name: &str) -> String {
    format!("{}/src/tls/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn jks_and_pkcs12_stores_make_a_server() {
    let ok = |entries: &[(&str, &str)]| {
        if let Err(e) = TlsServer::from_config(&with(entries)) {
            panic!("{entries:?}: {e}");
        }
    };
    let server_jks = testdata("server.jks");
    let trust_p12 = testdata("trust.p12");
    ok(&[
        ("ssl.keyStore.location", &server_jks),
        ("ssl.keyStore.password", "serverpass"),
        ("ssl.trustStore.location", &trust_p12),
        ("ssl.trustStore.password", "trustpass"),
    ]);
    // The reverse, a PKCS12 store named .jks typed by its name, and a PEM trust store.
    let server_p12 = testdata("server-ec.p12");
    let p12_named_jks = testdata("server-p12.jks");
    let trust_jks = testdata("trust.jks");
    let ca_pem = testdata("ca.pem");
    for (key_store, trust_store, trust_password) in [
        (&server_p12, &trust_jks, "trustpass"),
        (&p12_named_jks, &ca_pem, ""),
    ] {
        ok(&[
            ("ssl.keyStore.location", key_store),
            ("ssl.keyStore.password", "serverpass"),
            ("ssl.trustStore.location", trust_store),
            ("ssl.trustStore.password", trust_password),
        ]);
    }
    // An explicit type wins over the name; the content decides between JKS and PKCS12.
    ok(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", &server_jks),
        ("ssl.keyStore.type", "PKCS12"),
        ("ssl.keyStore.password", "serverpass"),
    ]);
    let wrong = refused(&[
        ("ssl.keyStore.location", &server_jks),
        ("ssl.keyStore.password", "nope"),
        ("ssl.trustStore.location", &trust_p12),
        ("ssl.trustStore.password", "trustpass"),
    ]);
    assert!(
        wrong.starts_with(&format!(
            "ssl.keyStore.location: {server_jks}: the store's password is wrong"
        )),
        "{wrong}"
    );
    let no_password = refused(&[
        ("ssl.keyStore.location", &server_jks),
        ("ssl.keyStore.password", "serverpass"),
        ("ssl.trustStore.location", &trust_p12),
    ]);
    assert!(
        no_password.starts_with(&format!(
            "ssl.trustStore.location: {trust_p12}: the store's password is wrong"
        )),
        "{no_password}"
    );
    // A PEM key store with an EC key as Java exports it (no public key in the PKCS#8).
    ok(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", &testdata("server-ec.pem")),
    ]);
    // ssl.keyStore.passwordPath wins over ssl.keyStore.password.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "serverpass\n").unwrap();
    ok(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", &server_jks),
        ("ssl.keyStore.password", "nope"),
        ("ssl.keyStore.passwordPath", file.to_str().unwrap()),
    ]);
}

fn admin_refused(entries: &[(&str, &str)]) -> String {
    match AdminTls::from_config(&with(entries)) {
        Ok(_) => panic!("accepted {entries:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn admin_https_reads_the_quorum_stores() {
    // Plain HTTP unless one of the two flags is on; the stores are then not looked at.
    let plain = with(&[
        ("admin.needClientAuth", "true"),
        ("ssl.keyStore.location", "/k.jks"),
    ]);
    assert!(AdminTls::from_config(&plain).unwrap().is_none());
    for flag in ["admin.forceHttps", "admin.portUnification"] {
        let missing = admin_refused(&[(flag, "true"), ("ssl.keyStore.location", "/k.pem")]);
        assert!(
            missing.starts_with("ssl.quorum.keyStore.location: the AdminServer's HTTPS"),
            "{missing}"
        );
    }
    let jks = admin_refused(&[
        ("admin.forceHttps", "true"),
        ("ssl.quorum.keyStore.location", "/k.jks"),
    ]);
    assert!(
        jks.starts_with("ssl.quorum.keyStore.location: /k.jks: No such file"),
        "{jks}"
    );
    let p12 = admin_refused(&[
        ("admin.portUnification", "TRUE"),
        ("ssl.quorum.keyStore.location", "/k.pem"),
        ("ssl.quorum.keyStore.type", "PKCS12"),
    ]);
    assert!(
        p12.starts_with("ssl.quorum.keyStore.location: /k.pem: No such file"),
        "{p12}"
    );
    let gone = admin_refused(&[
        ("admin.forceHttps", "true"),
        ("ssl.quorum.keyStore.location", "/no/such.pem"),
    ]);
    assert!(
        gone.starts_with("ssl.quorum.keyStore.location: /no/such.pem: "),
        "{gone}"
    );
}
