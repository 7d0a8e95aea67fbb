//! The subject of an X.509 certificate as Java's `X500Principal.getName()` prints it
//! (RFC 2253): the `x509` identity ZooKeeper's X509AuthenticationProvider gives a client.
//!
//! Grammar read (DER, X.509 §4.1):
//! ```text
//! Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
//! TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER,
//!                               signature AlgorithmIdentifier, issuer Name,
//!                               validity SEQUENCE, subject Name, ... }
//! Name ::= SEQUENCE OF RelativeDistinguishedName
//! RelativeDistinguishedName ::= SET OF AttributeTypeAndValue
//! AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
//! ```
//! Printing follows `sun.security.x509.AVA.toRFC2253String`: RDNs last to first, joined
//! by `,`; the AVAs of one RDN joined by `+`; only RFC 2253's keywords by name, other
//! types as dotted OIDs with the value as `#` and the hex of its DER; string values with
//! `,=+<>#;"\` escaped by a backslash, leading and trailing spaces escaped.

/// Why a certificate's subject could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed certificate: {0}")]
pub struct DnError(&'static str);

const TAG_INTEGER: u8 = 0x02;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_VERSION: u8 = 0xa0;
const TAG_UTF8: u8 = 0x0c;
const TAG_PRINTABLE: u8 = 0x13;
const TAG_T61: u8 = 0x14;
const TAG_IA5: u8 = 0x16;
const TAG_GENERAL: u8 = 0x1b;
const TAG_UNIVERSAL: u8 = 0x1c;
const TAG_BMP: u8 = 0x1e;

/// The attribute types `X500Principal.getName()` names in RFC 2253 form (the
/// `rfc2253Compliant` entries of Java's `AVAKeyword` table).
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// One DER element: its tag, its contents and the whole encoding.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
    whole: &'a [u8],
}

/// Splits the first element off `input`; lengths are checked against what is left.
fn next(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DnError> {
    let (&tag, rest) = input.split_first().ok_or(DnError("truncated"))?;
    let (&first, rest) = rest.split_first().ok_or(DnError("truncated"))?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DnError("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(DnError("truncated"));
    }
    let header = input.len() - rest.len();
    let tlv = Tlv {
        tag,
        body: &rest[..len],
        whole: &input[..header + len],
    };
    Ok((tlv, &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Result<(Tlv<'_>, &[u8]), DnError> {
    let (tlv, rest) = next(input)?;
    if tlv.tag != tag {
        return Err(DnError("unexpected element"));
    }
    Ok((tlv, rest))
}

/// The subject of a DER certificate, as `X500Principal.getName()`.
pub fn subject_rfc2253(cert_der: &[u8]) -> Result<String, DnError> {
    let (cert, _) = expect(cert_der, TAG_SEQUENCE)?;
    let (tbs, _) = expect(cert.body, TAG_SEQUENCE)?;
    let mut rest = tbs.body;
    let (first, after) = next(rest)?;
    if first.tag == TAG_VERSION {
        rest = after;
    }
    let (_, rest) = expect(rest, TAG_INTEGER)?; // serialNumber
    let (_, rest) = expect(rest, TAG_SEQUENCE)?; // signature
    let (_, rest) = expect(rest, TAG_SEQUENCE)?; // issuer
    let (_, rest) = expect(rest, TAG_SEQUENCE)?; // validity
    let (subject, _) = expect(rest, TAG_SEQUENCE)?;
    name_rfc2253(subject.body)
}

/// The contents of a `Name` (the SEQUENCE OF RDN), printed.
fn name_rfc2253(mut rdns: &[u8]) -> Result<String, DnError> {
    let mut printed = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = expect(rdns, TAG_SET)?;
        rdns = rest;
        let mut avas = Vec::new();
        let mut body = set.body;
        while !body.is_empty() {
            let (ava, rest) = expect(body, TAG_SEQUENCE)?;
            body = rest;
            let (oid, value) = expect(ava.body, TAG_OID)?;
            let (value, _) = next(value)?;
            avas.push(ava_rfc2253(&oid_text(oid.body)?, &value));
        }
        printed.push(avas.join("+"));
    }
    printed.reverse();
    Ok(printed.join(","))
}

/// Dotted decimal of an OBJECT IDENTIFIER's contents.
fn oid_text(body: &[u8]) -> Result<String, DnError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in body {
        if acc > u64::MAX >> 8 {
            return Err(DnError("oid arc too large"));
        }
        acc = (acc << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    if arcs.is_empty() || body.last().is_some_and(|b| b & 0x80 != 0) {
        return Err(DnError("bad oid"));
    }
    let text: Vec<String> = arcs.iter().map(u64::to_string).collect();
    Ok(text.join("."))
}

fn ava_rfc2253(oid: &str, value: &Tlv<'_>) -> String {
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    let text = match (keyword, string_value(value)) {
        (Some(k), Some(s)) => return format!("{k}={}", escape(&s)),
        (Some(k), None) => k.to_owned(),
        (None, _) => oid.to_owned(),
    };
    let hex: String = value.whole.iter().map(|b| format!("{b:02x}")).collect();
    format!("{text}=#{hex}")
}

/// The text of a directory string (`AVA.isDerString(value, false)`), else `None`.
fn string_value(value: &Tlv<'_>) -> Option<String> {
    let b = value.body;
    match value.tag {
        TAG_UTF8 | TAG_PRINTABLE | TAG_IA5 | TAG_GENERAL => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        TAG_T61 => Some(b.iter().map(|&c| c as char).collect()),
        TAG_BMP => {
            let units = b.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            Some(
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or('\u{fffd}'))
                    .collect(),
            )
        }
        TAG_UNIVERSAL => Some(
            b.chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .map(|u| char::from_u32(u).unwrap_or('\u{fffd}'))
                .collect(),
        ),
        _ => None,
    }
}

/// `AVA.toRFC2253String`'s escaping of a string value.
fn escape(value: &str) -> String {
    const ESCAPEES: &str = ",=+<>#;\"\\";
    let chars: Vec<char> = value.chars().collect();
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail = chars.len() - chars.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(value.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if ESCAPEES.contains(c) || i < lead || i >= trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 0x80);
        let mut v = vec![tag, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn ava(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let mut body = tlv(TAG_OID, oid);
        body.extend(tlv(tag, value));
        tlv(TAG_SEQUENCE, &body)
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const EMAIL: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];

    #[test]
    fn names_print_as_java_does() {
        let mut name = tlv(TAG_SET, &ava(O, TAG_PRINTABLE, b"Acme, Inc."));
        name.extend(tlv(TAG_SET, &ava(CN, TAG_UTF8, b" client#1 ")));
        let mut multi = ava(CN, TAG_UTF8, b"a");
        multi.extend(ava(EMAIL, TAG_IA5, b"a@b"));
        name.extend(tlv(TAG_SET, &multi));
        assert_eq!(
            name_rfc2253(&name).unwrap(),
            "CN=a+1.2.840.113549.1.9.1=#1603614062,CN=\\ client\\#1\\ ,O=Acme\\, Inc."
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0x05, 1],
        ] {
            assert!(subject_rfc2253(bytes).is_err());
        }
        assert!(oid_text(&[0x81]).is_err());
    }
}
