//! The DIGEST-MD5 SASL server (RFC 2831) as the JDK's `DigestMD5Server` behaves when
//! ZooKeeper creates it: `Sasl.createSaslServer("DIGEST-MD5", "zookeeper", "zk-sasl-md5",
//! null, handler)`. No properties, so: the realm is `zk-sasl-md5`, the only quality of
//! protection is `auth` (no integrity or privacy layer), the charset is UTF-8, and only
//! initial authentication exists (the nonce count is always 1).
//!
//! The exchange, one `evaluate` per client token:
//!
//! 1. any token (a client sends an empty one) → the challenge
//!    `realm="zk-sasl-md5",nonce="<40 base64 chars>",charset=utf-8,algorithm=md5-sess`;
//! 2. the client's digest-response → checked, then `rspauth=<32 hex>`; complete;
//! 3. anything more → an error, as the JDK's "Server at illegal state".
//!
//! Pure: the nonce's random bytes and the credentials come from the caller.

use md5::{Digest, Md5};

/// The realm and server name ZooKeeper passes (`ZooKeeperSaslServer`).
pub const REALM: &str = "zk-sasl-md5";
/// `protocol + "/" + serverName`.
pub const DIGEST_URI: &str = "zookeeper/zk-sasl-md5";
/// `DigestMD5Base.MAX_RESPONSE_LENGTH`: longer client tokens are refused unread.
pub const RESPONSE_BYTES_MAX: usize = 4096;
/// `DigestMD5Base.RAW_NONCE_SIZE`: random bytes in a nonce (base64: 40 characters).
pub const NONCE_RANDOM_BYTES: usize = 30;

/// `DigestMD5Server.DIRECTIVE_KEY`, in its order. `nc` is not among them: the JDK reads
/// only `nonce-count`, so the usual `nc=00000001` is ignored and the count taken as 1.
const DIRECTIVES: [&str; 13] = [
    "username",
    "realm",
    "nonce",
    "cnonce",
    "nonce-count",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
    "auth-param",
];
const USERNAME: usize = 0;
const REALM_IX: usize = 1;
const NONCE: usize = 2;
const CNONCE: usize = 3;
const NONCE_COUNT: usize = 4;
const QOP: usize = 5;
const DIGEST_URI_IX: usize = 6;
const RESPONSE: usize = 7;
const MAXBUF: usize = 8;
const CHARSET: usize = 9;
const AUTHZID: usize = 11;

/// A failed exchange; the text follows the JDK's `SaslException` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SaslError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, SaslError> {
    Err(SaslError(msg.into()))
}

fn violation<T>(what: impl std::fmt::Display) -> Result<T, SaslError> {
    fail(format!(
        "DIGEST-MD5: digest response format violation. {what}"
    ))
}

/// What the server asks of the account database (the JAAS callback handler).
pub trait Accounts {
    /// The password of `username`, or None when there is no such user.
    fn password(&self, username: &str) -> Option<String>;
    /// The authorization id for a user who proved `username` and asked to act as
    /// `requested` (the authzid, or the username), or an error to refuse.
    fn authorize(&self, username: &str, requested: &str) -> Result<String, SaslError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Waiting for the first token.
    Start,
    /// The challenge is out; waiting for the digest-response.
    Challenged,
    /// Done, successfully or not: nothing more is accepted.
    Over,
}

/// One connection's DIGEST-MD5 exchange.
#[derive(Debug, Clone)]
pub struct DigestMd5Server {
    step: Step,
    nonce: String,
    authorization_id: Option<String>,
}

impl DigestMd5Server {
    /// A server whose nonce is `random` in base64 (`DigestMD5Base.generateNonce`).
    pub fn new(random: [u8; NONCE_RANDOM_BYTES]) -> DigestMd5Server {
        use base64::Engine;
        let nonce = base64::engine::general_purpose::STANDARD.encode(random);
        assert_eq!(nonce.len(), NONCE_RANDOM_BYTES * 4 / 3);
        DigestMd5Server {
            step: Step::Start,
            nonce,
            authorization_id: None,
        }
    }

    /// The authorization id once the exchange has succeeded.
    pub fn authorization_id(&self) -> Option<&str> {
        self.authorization_id.as_deref()
    }

    pub fn is_complete(&self) -> bool {
        self.authorization_id.is_some()
    }

    /// `SaslServer.evaluateResponse`: the next token to send, or why the exchange failed.
    pub fn evaluate(
        &mut self,
        token: &[u8],
        accounts: &dyn Accounts,
    ) -> Result<Vec<u8>, SaslError> {
        if token.len() > RESPONSE_BYTES_MAX {
            return fail(format!(
                "DIGEST-MD5: Invalid digest response length. Got:  {} Expected < {RESPONSE_BYTES_MAX}",
                token.len()
            ));
        }
        match self.step {
            Step::Start => {
                // A non-empty first token asks for subsequent authentication, which the
                // JDK does not support; it answers with a challenge all the same.
                self.step = Step::Challenged;
                Ok(self.challenge().into_bytes())
            }
            Step::Challenged => {
                self.step = Step::Over;
                let values = parse_directives(token)?;
                let (rspauth, id) = self.validate(&values, accounts)?;
                self.authorization_id = Some(id);
                Ok(rspauth.into_bytes())
            }
            Step::Over => fail("DIGEST-MD5: Server at illegal state"),
        }
    }

    /// `DigestMD5Server.generateChallenge` with one realm, no qop list (null props), the
    /// default maxbuf and no ciphers.
    fn challenge(&self) -> String {
        format!(
            "realm=\"{REALM}\",nonce=\"{}\",charset=utf-8,algorithm=md5-sess",
            self.nonce
        )
    }

    /// `DigestMD5Server.validateClientResponse`: the rspauth token and the authorization
    /// id. The checks run in the JDK's order, so the first failure is the JDK's.
    fn validate(
        &self,
        v: &[Option<Vec<u8>>; 13],
        accounts: &dyn Accounts,
    ) -> Result<(String, String), SaslError> {
        let r = self.directives(v)?;
        let Some(password) = accounts.password(&r.username) else {
            return fail(format!(
                "DIGEST-MD5: cannot acquire password for {} in realm : {}",
                r.username, r.realm
            ));
        };
        let input = ResponseInput {
            digest_uri: &r.digest_uri,
            username: &r.username,
            realm: &r.realm,
            password: &password,
            nonce: self.nonce.as_bytes(),
            cnonce: r.cnonce,
            authzid: r.authzid,
        };
        if response_value("AUTHENTICATE", &input).as_bytes() != r.response {
            return violation("Mismatched response.");
        }
        let requested = match r.authzid {
            Some(z) => String::from_utf8_lossy(z).into_owned(),
            None => r.username.clone(),
        };
        let id = accounts.authorize(&r.username, &requested)?;
        Ok((format!("rspauth={}", response_value("", &input)), id))
    }

    /// The directives of a digest-response, checked against the challenge (everything
    /// but the password).
    fn directives<'a>(&self, v: &'a [Option<Vec<u8>>; 13]) -> Result<Response<'a>, SaslError> {
        let text = |i: usize| {
            v[i].as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        if let Some(charset) = text(CHARSET) {
            if charset != "utf-8" {
                return violation(format!("Incompatible charset value: {charset}"));
            }
        }
        if let Some(maxbuf) = text(MAXBUF) {
            maxbuf
                .parse::<i32>()
                .map_err(|_| SaslError(format!("DIGEST-MD5: bad maxbuf {maxbuf:?}")))?;
        }
        let Some(username) = text(USERNAME) else {
            return violation("Missing username.");
        };
        let realm = text(REALM_IX).unwrap_or_default();
        if realm != REALM {
            return violation(format!("Nonexistent realm: {realm}"));
        }
        match v[NONCE].as_deref() {
            None => return violation("Missing nonce."),
            Some(n) if n != self.nonce.as_bytes() => return violation("Mismatched nonce."),
            Some(_) => {}
        }
        let Some(cnonce) = v[CNONCE].as_deref() else {
            return violation("Missing cnonce.");
        };
        if let Some(nc) = text(NONCE_COUNT) {
            if i32::from_str_radix(&nc, 16) != Ok(1) {
                return violation(format!("Nonce count does not match: {nc}"));
            }
        }
        let qop = text(QOP).unwrap_or_else(|| "auth".to_owned());
        match qop.as_str() {
            "auth" => {}
            "auth-int" | "auth-conf" => {
                return fail(format!("DIGEST-MD5: server does not support  qop: {qop}"))
            }
            _ => return violation(format!("Invalid QOP: {qop}")),
        }
        let uri = text(DIGEST_URI_IX);
        let Some(digest_uri) = uri.clone().filter(|u| u.eq_ignore_ascii_case(DIGEST_URI)) else {
            let got = uri.unwrap_or_else(|| "null".to_owned());
            return violation(format!("Mismatched URI: {got}; expecting: {DIGEST_URI}"));
        };
        let Some(response) = v[RESPONSE].as_deref() else {
            return fail("DIGEST-MD5: digest response format  violation. Missing response.");
        };
        Ok(Response {
            username,
            realm,
            cnonce,
            digest_uri,
            response,
            authzid: v[AUTHZID].as_deref(),
        })
    }
}

/// A digest-response whose directives passed the checks.
struct Response<'a> {
    username: String,
    realm: String,
    cnonce: &'a [u8],
    /// As the client wrote it (the JDK takes the client's case for the digest).
    digest_uri: String,
    response: &'a [u8],
    authzid: Option<&'a [u8]>,
}

/// What a response value is computed from (qop is always `auth`, the count always 1).
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    pub digest_uri: &'a str,
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub nonce: &'a [u8],
    pub cnonce: &'a [u8],
    pub authzid: Option<&'a [u8]>,
}

/// `DigestMD5Base.generateResponseValue` for qop `auth` and nonce count 1: the client's
/// `response` with `method` "AUTHENTICATE", the server's `rspauth` with "".
pub fn response_value(method: &str, i: &ResponseInput) -> String {
    let a2 = format!("{method}:{}", i.digest_uri);
    let hex_a2 = hex(&Md5::digest(a2.as_bytes()));
    let mut begin = latin1_or_utf8(i.username);
    begin.push(b':');
    begin.extend(latin1_or_utf8(i.realm));
    begin.push(b':');
    begin.extend(latin1_or_utf8(i.password));
    let mut a1 = Md5::digest(&begin).to_vec();
    a1.push(b':');
    a1.extend_from_slice(i.nonce);
    a1.push(b':');
    a1.extend_from_slice(i.cnonce);
    if let Some(z) = i.authzid {
        a1.push(b':');
        a1.extend_from_slice(z);
    }
    let mut kd = hex(&Md5::digest(&a1)).into_bytes();
    kd.push(b':');
    kd.extend_from_slice(i.nonce);
    kd.extend_from_slice(b":00000001:");
    kd.extend_from_slice(i.cnonce);
    kd.extend_from_slice(b":auth:");
    kd.extend_from_slice(hex_a2.as_bytes());
    hex(&Md5::digest(&kd))
}

/// `DigestMD5Base.stringToByte_8859_1` with UTF-8 on: ISO-8859-1 when every character
/// fits in it, else UTF-8 (RFC 2831 section 2.1.2.1).
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) <= 0xff) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `DigestMD5Base.parseDirectives` for the server: `key=value` pairs separated by commas
/// and linear white space, values plain or quoted (with `\` escapes). Keys are matched
/// without regard to case; unknown keys are ignored; a repeated known key is an error.
fn parse_directives(buf: &[u8]) -> Result<[Option<Vec<u8>>; 13], SaslError> {
    let mut table: [Option<Vec<u8>>; 13] = Default::default();
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let (mut getting_key, mut quoted, mut expect_sep) = (true, false, false);
    let mut i = skip_lws(buf, 0);
    while i < buf.len() {
        let b = buf[i];
        if getting_key {
            match key_step(buf, i, &mut key)? {
                KeyStep::Next(n) => i = n,
                KeyStep::Value { at, quoted: q } => {
                    getting_key = false;
                    quoted = q;
                    i = at;
                }
            }
        } else if quoted {
            if b == b'\\' {
                i += 1;
                let Some(&e) = buf.get(i) else {
                    return fail(unmatched(&key, &value));
                };
                value.push(e);
                i += 1;
            } else if b == b'"' {
                i += 1;
                quoted = false;
                expect_sep = true;
            } else {
                value.push(b);
                i += 1;
            }
        } else if is_lws(b) || b == b',' {
            extract(&mut table, &key, std::mem::take(&mut value))?;
            key.clear();
            getting_key = true;
            quoted = false;
            expect_sep = false;
            i = skip_lws(buf, i + 1);
        } else if expect_sep {
            return fail(format!(
                "Expecting comma or linear whitespace after quoted string: \"{}\"",
                String::from_utf8_lossy(&value)
            ));
        } else {
            value.push(b);
            i += 1;
        }
    }
    if quoted {
        return fail(unmatched(&key, &value));
    }
    if !key.is_empty() {
        extract(&mut table, &key, value)?;
    }
    Ok(table)
}

/// Linear white space (`isLws`: CR, LF, space, tab, byte by byte).
fn is_lws(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b' ' | b'\t')
}

fn skip_lws(buf: &[u8], from: usize) -> usize {
    (from..buf.len())
        .find(|&j| !is_lws(buf[j]))
        .unwrap_or(buf.len())
}

/// Where reading a directive's key goes after the byte at `i`.
enum KeyStep {
    /// Still in the key (or between directives): continue at this index.
    Next(usize),
    /// The key ended with `=`: its value starts at `at`, after an opening quote if any.
    Value { at: usize, quoted: bool },
}

fn key_step(buf: &[u8], i: usize, key: &mut Vec<u8>) -> Result<KeyStep, SaslError> {
    let shown = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
    match buf[i] {
        b',' if !key.is_empty() => fail(format!("Directive key contains a ',':{}", shown(key))),
        // An empty element.
        b',' => Ok(KeyStep::Next(skip_lws(buf, i + 1))),
        b'=' if key.is_empty() => fail("Empty directive key"),
        b'=' => {
            let at = skip_lws(buf, i + 1);
            match buf.get(at) {
                None => fail(format!("Valueless directive found: {}", shown(key))),
                Some(b'"') => Ok(KeyStep::Value {
                    at: at + 1,
                    quoted: true,
                }),
                Some(_) => Ok(KeyStep::Value { at, quoted: false }),
            }
        }
        b if is_lws(b) => {
            let at = skip_lws(buf, i + 1);
            if buf.get(at) != Some(&b'=') {
                return fail(format!("'=' expected after key: {}", shown(key)));
            }
            Ok(KeyStep::Next(at))
        }
        b => {
            key.push(b);
            Ok(KeyStep::Next(i + 1))
        }
    }
}

fn unmatched(key: &[u8], value: &[u8]) -> String {
    format!(
        "Unmatched quote found for directive: {} with value: {}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(value)
    )
}

fn extract(table: &mut [Option<Vec<u8>>; 13], key: &[u8], value: Vec<u8>) -> Result<(), SaslError> {
    let Some(ix) = DIRECTIVES
        .iter()
        .position(|d| d.as_bytes().eq_ignore_ascii_case(key))
    else {
        return Ok(());
    };
    if table[ix].is_some() {
        return fail(format!(
            "DIGEST-MD5: peer sent more than one {} directive: {}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(&value)
        ));
    }
    table[ix] = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests;
