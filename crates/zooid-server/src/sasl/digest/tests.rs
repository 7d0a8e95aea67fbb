use super::*;

/// A user database of one: bob / bobsecret; the authorization id is the username.
struct Bob;

impl Accounts for Bob {
    fn password(&self, username: &str) -> Option<String> {
        (username == "bob").then(|| "bobsecret".to_owned())
    }
    fn authorize(&self, username: &str, _requested: &str) -> Result<String, SaslError> {
        Ok(username.to_owned())
    }
}

#[test]
fn rfc_2831_example() {
    // RFC 2831 section 4, the IMAP example (password "secret").
    let i = ResponseInput {
        digest_uri: "imap/elwood.innosoft.com",
        username: "chris",
        realm: "elwood.innosoft.com",
        password: "secret",
        nonce: b"OA6MG9tEQGm2hh",
        cnonce: b"OA6MHXh6VqTrRk",
        authzid: None,
    };
    assert_eq!(
        response_value("AUTHENTICATE", &i),
        "d388dad90d4bbd760a152321f2143af7"
    );
    assert_eq!(response_value("", &i), "ea40f60335c427b5527b84dbabcdfffd");
}

fn md5_hex(b: &[u8]) -> String {
    hex(&Md5::digest(b))
}

/// A client computing RFC 2831's formulas on its own, as pure-sasl does.
fn client_response(
    challenge: &str,
    user: &str,
    password: &str,
    authzid: Option<&str>,
) -> (String, String) {
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let cnonce = "c2xvdyBhbmQgc3RlYWR5";
    let uri = "zookeeper/zk-sasl-md5";
    let mut a1 = Md5::digest(format!("{user}:zk-sasl-md5:{password}").as_bytes()).to_vec();
    a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
    if let Some(z) = authzid {
        a1.extend_from_slice(format!(":{z}").as_bytes());
    }
    let ha1 = md5_hex(&a1);
    let kd = |a2: &str| {
        md5_hex(
            format!(
                "{ha1}:{nonce}:00000001:{cnonce}:auth:{}",
                md5_hex(a2.as_bytes())
            )
            .as_bytes(),
        )
    };
    let mut resp = format!(
        "username=\"{user}\",realm=\"zk-sasl-md5\",nonce=\"{nonce}\",cnonce=\"{cnonce}\",\
         nc=00000001,qop=auth,digest-uri=\"{uri}\",response={},charset=utf-8",
        kd(&format!("AUTHENTICATE:{uri}"))
    );
    if let Some(z) = authzid {
        resp.push_str(&format!(",authzid=\"{z}\""));
    }
    (resp, format!("rspauth={}", kd(&format!(":{uri}"))))
}

#[test]
fn full_exchange() {
    let mut s = DigestMd5Server::new([7; NONCE_RANDOM_BYTES]);
    let challenge = String::from_utf8(s.evaluate(b"", &Bob).unwrap()).unwrap();
    assert_eq!(
        challenge,
        "realm=\"zk-sasl-md5\",nonce=\"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\",\
         charset=utf-8,algorithm=md5-sess"
    );
    assert!(!s.is_complete());
    let (resp, rspauth) = client_response(&challenge, "bob", "bobsecret", None);
    let got = s.evaluate(resp.as_bytes(), &Bob).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), rspauth);
    assert_eq!(s.authorization_id(), Some("bob"));
    assert_eq!(
        s.evaluate(b"", &Bob),
        Err(SaslError("DIGEST-MD5: Server at illegal state".into()))
    );
}

#[test]
fn authzid_enters_the_digest() {
    let mut s = DigestMd5Server::new([1; NONCE_RANDOM_BYTES]);
    let challenge = String::from_utf8(s.evaluate(b"", &Bob).unwrap()).unwrap();
    let (resp, rspauth) = client_response(&challenge, "bob", "bobsecret", Some("alice"));
    let got = s.evaluate(resp.as_bytes(), &Bob).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), rspauth);
    // Bob's authorize gives the username, as ZooKeeper's handler does for simple names.
    assert_eq!(s.authorization_id(), Some("bob"));
}

/// Runs the exchange with `edit` applied to a correct response; returns the error.
fn refused(edit: impl Fn(String) -> String) -> String {
    let mut s = DigestMd5Server::new([9; NONCE_RANDOM_BYTES]);
    let challenge = String::from_utf8(s.evaluate(b"", &Bob).unwrap()).unwrap();
    let (resp, _) = client_response(&challenge, "bob", "bobsecret", None);
    let err = s.evaluate(edit(resp).as_bytes(), &Bob).unwrap_err().0;
    assert!(!s.is_complete());
    err
}

/// A change to a correct client response.
type Edit = Box<dyn Fn(String) -> String>;

#[test]
fn bad_responses_are_refused_with_the_jdks_reasons() {
    let v = "DIGEST-MD5: digest response format violation. ";
    let cases: Vec<(Edit, String)> = vec![
        (
            Box::new(|r| r.replace("response=", "response=0")),
            format!("{v}Mismatched response."),
        ),
        (
            Box::new(|r| r.replace("username=\"bob\"", "username=\"eve\"")),
            "DIGEST-MD5: cannot acquire password for eve in realm : zk-sasl-md5".into(),
        ),
        (
            Box::new(|r| r.replace("realm=\"zk-sasl-md5\",", "")),
            format!("{v}Nonexistent realm: "),
        ),
        (
            Box::new(|r| r.replace("nonce=\"CQ", "nonce=\"DQ")),
            format!("{v}Mismatched nonce."),
        ),
        (
            Box::new(|r| r.replace("qop=auth", "qop=auth-conf")),
            "DIGEST-MD5: server does not support  qop: auth-conf".into(),
        ),
        (
            Box::new(|r| r.replace("zookeeper/zk-sasl-md5", "imap/zk-sasl-md5")),
            format!("{v}Mismatched URI: imap/zk-sasl-md5; expecting: zookeeper/zk-sasl-md5"),
        ),
        (
            Box::new(|r| r.replace("charset=utf-8", "charset=UTF-8")),
            format!("{v}Incompatible charset value: UTF-8"),
        ),
        (
            Box::new(|r| format!("{r},username=\"bob\"")),
            "DIGEST-MD5: peer sent more than one username directive: bob".into(),
        ),
        (
            Box::new(|r| format!("{r},cnonce=\"x")),
            "Unmatched quote found for directive: cnonce with value: x".into(),
        ),
        (Box::new(|_| "=x".into()), "Empty directive key".into()),
        (Box::new(|_| String::new()), format!("{v}Missing username.")),
    ];
    for (edit, want) in cases {
        assert_eq!(refused(edit), want);
    }
}

#[test]
fn wrong_password_is_a_mismatched_response() {
    let mut s = DigestMd5Server::new([3; NONCE_RANDOM_BYTES]);
    let challenge = String::from_utf8(s.evaluate(b"", &Bob).unwrap()).unwrap();
    let (resp, _) = client_response(&challenge, "bob", "wrong", None);
    assert_eq!(
        s.evaluate(resp.as_bytes(), &Bob).unwrap_err().0,
        "DIGEST-MD5: digest response format violation. Mismatched response."
    );
    assert_eq!(
        s.evaluate(resp.as_bytes(), &Bob).unwrap_err().0,
        "DIGEST-MD5: Server at illegal state"
    );
}

#[test]
fn oversized_and_garbage_tokens_never_panic() {
    let mut s = DigestMd5Server::new([0; NONCE_RANDOM_BYTES]);
    assert!(s.evaluate(&[b'a'; RESPONSE_BYTES_MAX + 1], &Bob).is_err());
    let junk: [&[u8]; 8] = [
        b"\xff\xfe=\"\\",
        b",,,,",
        b"a=\"b\"c",
        b"a =b",
        b"a",
        b"a=",
        b"nonce-count=zz,username=bob",
        b"maxbuf=99999999999999",
    ];
    for j in junk {
        let mut s = DigestMd5Server::new([0; NONCE_RANDOM_BYTES]);
        s.evaluate(b"", &Bob).unwrap();
        assert!(s.evaluate(j, &Bob).is_err(), "{j:?}");
    }
}

#[test]
fn random_tokens_never_panic() {
    // Fixed seed: fragments of real directives glued at random, plus random bytes.
    let mut x: u64 = 0x5eed_5a51;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let parts: [&[u8]; 14] = [
        b"username=",
        b"\"bob\"",
        b",",
        b" ",
        b"=",
        b"\"",
        b"\\",
        b"realm=\"zk-sasl-md5\"",
        b"nonce-count=",
        b"maxbuf=",
        b"qop=auth",
        b"digest-uri=",
        b"response=",
        b"\xff",
    ];
    for _ in 0..20_000 {
        let mut token = Vec::new();
        for _ in 0..next() % 12 {
            if next() % 4 == 0 {
                token.push(next() as u8);
            } else {
                token.extend_from_slice(parts[(next() % parts.len() as u64) as usize]);
            }
        }
        let mut s = DigestMd5Server::new([0; NONCE_RANDOM_BYTES]);
        s.evaluate(b"", &Bob).unwrap();
        let _ = s.evaluate(&token, &Bob);
        assert!(!s.is_complete());
    }
}
