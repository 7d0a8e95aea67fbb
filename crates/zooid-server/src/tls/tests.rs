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
    let jks = refused(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", "/k.jks"),
    ]);
    assert!(
        jks.starts_with("ssl.keyStore.type: /k.jks: JKS stores are not supported"),
        "{jks}"
    );
    let p12 = refused(&[
        ("ssl.clientAuth", "none"),
        ("ssl.keyStore.location", "/k.pem"),
        ("ssl.keyStore.type", "pkcs12"),
    ]);
    assert!(p12.contains("PKCS12 stores are not supported"), "{p12}");
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
        jks.starts_with("ssl.quorum.keyStore.type: /k.jks: JKS stores are not supported"),
        "{jks}"
    );
    let p12 = admin_refused(&[
        ("admin.portUnification", "TRUE"),
        ("ssl.quorum.keyStore.location", "/k.pem"),
        ("ssl.quorum.keyStore.type", "PKCS12"),
    ]);
    assert!(p12.starts_with("ssl.quorum.keyStore.type: "), "{p12}");
    let gone = admin_refused(&[
        ("admin.forceHttps", "true"),
        ("ssl.quorum.keyStore.location", "/no/such.pem"),
    ]);
    assert!(
        gone.starts_with("ssl.quorum.keyStore.location: /no/such.pem: "),
        "{gone}"
    );
}
