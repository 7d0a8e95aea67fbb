//! The little DER the store readers need: split one tag-length-value off a byte slice,
//! and write one. Lengths are checked against the input; nothing here panics.

/// One DER element.
pub(super) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    /// The whole element: tag, length and value.
    pub raw: &'a [u8],
}

/// The first element of `der` and the bytes after it; `None` if `der` does not start
/// with a well-formed element (single-byte tags only, as X.509 and PKCS#8 use).
pub(super) fn read(der: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, after_tag) = der.split_first()?;
    let (&first, mut rest) = after_tag.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        // Long form: up to 4 length bytes is more than any key store holds.
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, after) = rest.split_at(n);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let header = der.len() - rest.len();
    let (value, after) = rest.split_at(len);
    let raw = &der[..header + len];
    Some((Tlv { tag, value, raw }, after))
}

/// The first element of `der` if its tag is `tag`.
pub(super) fn expect(der: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    read(der).filter(|(t, _)| t.tag == tag)
}

/// One element with tag `tag` around `value`.
pub(super) fn write(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

pub(super) const SEQUENCE: u8 = 0x30;
pub(super) const INTEGER: u8 = 0x02;
pub(super) const OCTET_STRING: u8 = 0x04;
pub(super) const BIT_STRING: u8 = 0x03;
/// `[0]` and `[1]`, constructed.
pub(super) const CONTEXT_0: u8 = 0xA0;
pub(super) const CONTEXT_1: u8 = 0xA1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read() {
        for len in [0, 1, 0x7f, 0x80, 0xff, 0x100, 70_000] {
            let value = vec![7u8; len];
            let der = write(SEQUENCE, &value);
            let (tlv, rest) = read(&der).unwrap();
            assert_eq!(
                (tlv.tag, tlv.value.len(), tlv.raw.len()),
                (SEQUENCE, len, der.len())
            );
            assert!(rest.is_empty());
            assert!(read(&der[..der.len() - 1]).is_none() || len == 0);
        }
    }
}
