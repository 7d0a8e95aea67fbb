use super::*;

fn config(pairs: &[(&str, &str)]) -> Config {
    let mut c = Config::defaults();
    for (k, v) in pairs {
        c.other.insert((*k).to_owned(), (*v).to_owned());
    }
    c
}

fn jaas_file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

const SERVER: &str = r#"Server {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_super="adminsecret"
  user_bob="bobsecret";
};"#;

#[test]
fn no_jaas_file_no_sasl_server() {
    let s = Settings::load(&config(&[])).unwrap();
    assert!(s.accounts.is_none());
    assert!(s.enforce_schemes.is_empty());
}

#[test]
fn reads_the_server_section() {
    let f = jaas_file(SERVER);
    let path = f.path().to_str().unwrap();
    let s = Settings::load(&config(&[
        (JAAS_FILE_KEY, path),
        ("zookeeper.superUser", "super"),
        (
            "zookeeper.SASLAuthenticationProvider.superPassword",
            "other",
        ),
    ]))
    .unwrap();
    let a = s.accounts.clone().unwrap();
    assert_eq!(a.password("bob").as_deref(), Some("bobsecret"));
    assert_eq!(a.password("super").as_deref(), Some("other"));
    assert_eq!(a.password("eve"), None);
    assert!(s.is_super_user("super"));
    assert!(!s.is_super_user("bob"));
}

#[test]
fn bad_jaas_settings_stop_the_start() {
    let f = jaas_file(SERVER);
    let path = f.path().to_str().unwrap().to_owned();
    let err = |pairs: &[(&str, &str)]| Settings::load(&config(pairs)).unwrap_err().0;
    assert_eq!(
        err(&[(JAAS_FILE_KEY, &path), (SECTION_KEY, "Other")]),
        format!("No JAAS configuration section named 'Other' was found in '{path}'.")
    );
    assert!(err(&[(SECTION_KEY, "Server")]).starts_with("No JAAS configuration section"));
    assert!(err(&[(JAAS_FILE_KEY, "/nonexistent/jaas.conf")])
        .starts_with("cannot read the JAAS file '/nonexistent/jaas.conf'"));
    let bad = jaas_file("Server {\n  M required a=\"b\";\n}");
    let bad_path = bad.path().to_str().unwrap();
    assert_eq!(
        err(&[(JAAS_FILE_KEY, bad_path)]),
        format!("the JAAS file '{bad_path}': line 3: expected ';', found the end of the file")
    );
    let krb = jaas_file(
        "Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };",
    );
    assert!(err(&[(JAAS_FILE_KEY, krb.path().to_str().unwrap())])
        .contains("Kerberos (com.sun.security.auth.module.Krb5LoginModule) is not supported"));
    let empty = jaas_file("Server { };");
    assert_eq!(
        err(&[(JAAS_FILE_KEY, empty.path().to_str().unwrap())]),
        "No LoginModules configured for Server"
    );
}

#[test]
fn enforcement_needs_known_schemes() {
    let s = Settings::load(&config(&[(
        "zookeeper.sessionRequireClientSASLAuth",
        "true",
    )]));
    assert_eq!(
        s.unwrap_err().0,
        "Authentication scheme sasl is not available."
    );
    let provider = (
        "zookeeper.authProvider.1",
        "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
    );
    let s = Settings::load(&config(&[
        ("zookeeper.sessionRequireClientSASLAuth", "true"),
        provider,
    ]))
    .unwrap();
    assert!(s.sasl_required());
    assert!(!s.authenticated(&[Id::new("ip", "127.0.0.1")]));
    assert!(s.authenticated(&[Id::new("sasl", "bob")]));
    let s = Settings::load(&config(&[("zookeeper.enforce.auth.enabled", "true")]));
    assert!(s.unwrap_err().0.contains("must be  configured"));
    let s = Settings::load(&config(&[
        ("zookeeper.enforce.auth.enabled", "true"),
        ("zookeeper.enforce.auth.schemes", "digest, ip"),
    ]))
    .unwrap();
    assert_eq!(s.enforce_schemes, ["digest", "ip"]);
    assert!(!s.sasl_required());
}

#[test]
fn authorization_ids_as_the_callback_handler_sets_them() {
    let id = |u: &str, r: &str| authorized_id(u, r, false, false).map_err(|e| e.0);
    assert_eq!(id("bob", "bob").as_deref(), Ok("bob"));
    // The authzid a client asks for does not matter for a simple name.
    assert_eq!(id("bob", "super").as_deref(), Ok("bob"));
    assert_eq!(id("bob/host", "bob/host").as_deref(), Ok("bob/host"));
    // A realm that is not the (empty) default realm: no short name, the requested id.
    assert_eq!(id("bob@EXAMPLE.COM", "x").as_deref(), Ok("x"));
    assert_eq!(id("bob/h@", "bob/h@").as_deref(), Ok("bob/h@"));
    assert_eq!(
        authorized_id("bob/h@", "", true, true).as_deref(),
        Ok("bob")
    );
    assert_eq!(
        id("a@b@c", "a@b@c"),
        Err("Malformed Kerberos name: a@b@c".to_owned())
    );
}

#[test]
fn jvm_flags_name_the_jaas_file_and_zoo_cfg_wins() {
    let (mut c, _) = Config::parse(
        "dataDir=/tmp/z\nclientPort=2181\nzookeeper.sasl.serverconfig=FromCfg\n",
        std::path::Path::new("."),
    )
    .unwrap();
    let warnings = c
        .apply_jvm_flags(
            "-Xmx1g -Djava.security.auth.login.config=/etc/zk/jaas.conf \
             -Dzookeeper.sasl.serverconfig=FromFlags -Dzookeeper.superUser=admin \
             -Dzookeeper.authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider \
             -Dzookeeper.allowSaslFailedClients=TRUE -Dlog4j.configuration=x \
             -Djava.security.auth.login.config=/etc/zk/later.conf",
        )
        .unwrap();
    assert_eq!(
        warnings,
        ["-Dlog4j.configuration ignored: not a setting Zooid takes from JVM flags"]
    );
    let get = |k: &str| c.other.get(k).map(String::as_str);
    assert_eq!(get(JAAS_FILE_KEY), Some("/etc/zk/later.conf"));
    assert_eq!(get(SECTION_KEY), Some("FromCfg"));
    assert_eq!(get("zookeeper.superUser"), Some("admin"));
    assert_eq!(get("zookeeper.allowSaslFailedClients"), Some("true"));
    assert!(crate::state::acl_policy(&c).sasl);
}

/// Runs a whole exchange through [`Settings::process`] with a client's `response`
/// function (challenge → digest-response).
fn exchange(s: &Settings, password: &str) -> Vec<SaslOutcome> {
    let mut state = None;
    let random = || Ok::<_, ()>([5; NONCE_RANDOM_BYTES]);
    let first = s.process(&mut state, Some(b""), random).unwrap();
    let SaslOutcome::Reply(Some(challenge)) = &first else {
        return vec![first];
    };
    let challenge = String::from_utf8(challenge.clone()).unwrap();
    let nonce = challenge.split('"').nth(3).unwrap().to_owned();
    let input = digest::ResponseInput {
        digest_uri: digest::DIGEST_URI,
        username: "bob",
        realm: digest::REALM,
        password,
        nonce: nonce.as_bytes(),
        cnonce: b"abc",
        authzid: None,
    };
    let resp = format!(
        "username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",cnonce=\"abc\",nc=00000001,\
         qop=auth,digest-uri=\"zookeeper/zk-sasl-md5\",response={}",
        digest::response_value("AUTHENTICATE", &input)
    );
    let second = s
        .process(&mut state, Some(resp.as_bytes()), random)
        .unwrap();
    vec![first, second]
}

#[test]
fn process_decides_as_process_sasl() {
    let f = jaas_file(SERVER);
    let path = f.path().to_str().unwrap();
    let provider = (
        "zookeeper.authProvider.1",
        "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
    );
    let load = |extra: &[(&str, &str)]| {
        let mut pairs = vec![
            (JAAS_FILE_KEY, path),
            ("zookeeper.superUser", "bob"),
            provider,
        ];
        pairs.extend_from_slice(extra);
        Settings::load(&config(&pairs)).unwrap()
    };
    let plain = load(&[]);
    let ok = exchange(&plain, "bobsecret");
    let SaslOutcome::Authenticated { ids, token } = &ok[1] else {
        panic!("{ok:?}");
    };
    assert_eq!(ids, &[Id::new("sasl", "bob"), Id::new("super", "")]);
    assert!(token.starts_with(b"rspauth="));
    assert_eq!(
        exchange(&plain, "nope")[1],
        SaslOutcome::Refused(ErrorCode::AuthFailed)
    );
    let lenient = load(&[("zookeeper.allowSaslFailedClients", "true")]);
    assert_eq!(exchange(&lenient, "nope")[1], SaslOutcome::Reply(None));
    let required = load(&[
        ("zookeeper.allowSaslFailedClients", "true"),
        ("zookeeper.sessionRequireClientSASLAuth", "true"),
    ]);
    assert_eq!(
        exchange(&required, "nope")[1],
        SaslOutcome::Refused(ErrorCode::SessionClosedRequireSaslAuth)
    );
    // No SASL server, or a null token: OK with a null token, no exchange started.
    let none = Settings::default();
    assert_eq!(exchange(&none, "x"), [SaslOutcome::Reply(None)]);
    let mut state = None;
    let random = || Ok::<_, ()>([0; NONCE_RANDOM_BYTES]);
    assert_eq!(
        plain.process(&mut state, None, random),
        Ok(SaslOutcome::Reply(None))
    );
    assert!(state.is_none());
}
