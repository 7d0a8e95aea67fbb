//! The jute binary encoding that ZooKeeper uses for every record.
//!
//! Grammar (all integers big-endian):
//! - `int` = 4 bytes, `long` = 8 bytes, `boolean` = 1 byte (0 or 1),
//! - `buffer` = `int len` + `len` bytes (`len == -1` is null, decoded as empty),
//! - `ustring` = `int len` + `len` UTF-8 bytes (`len == -1` is null, decoded as empty),
//! - `vector<T>` = `int count` + `count` elements (`count == -1` is null, decoded as empty),
//! - a record = its fields in declaration order, no tags, no padding.
//!
//! Decoding never panics and never allocates more than the input it was given: every
//! length is checked against the bytes that remain before anything is reserved.

use bytes::{BufMut, Bytes};

/// Why bytes could not be decoded into a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("input ended: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("negative length {len} at offset {offset}")]
    NegativeLength { offset: usize, len: i32 },
    #[error("{count} trailing bytes after the record")]
    TrailingBytes { count: usize },
}

/// A cursor over untrusted bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        // Java's DataInputStream.readBoolean treats any non-zero byte as true.
        Ok(self.take(1)?[0] != 0)
    }

    /// Reads a length prefix; `-1` (null) is `None`, other negatives are an error.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        match len {
            -1 => Ok(None),
            l if l < 0 => Err(DecodeError::NegativeLength { offset, len }),
            l => Ok(Some(l as usize)),
        }
    }

    pub fn read_buffer_slice(&mut self) -> Result<&'a [u8], DecodeError> {
        match self.read_len()? {
            None => Ok(&[]),
            Some(n) => self.take(n),
        }
    }

    /// Reads a `buffer`; a null one (`-1`) becomes [`null_buffer`], so it is written
    /// back as null: ZooKeeper keeps "no data" apart from "empty data" and a Java client
    /// gets `null` back for the former.
    pub fn read_buffer(&mut self) -> Result<Bytes, DecodeError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        if len == -1 {
            return Ok(null_buffer());
        }
        self.pos = offset;
        Ok(Bytes::copy_from_slice(self.read_buffer_slice()?))
    }

    /// Reads a `ustring`. Malformed UTF-8 becomes U+FFFD, as Java's
    /// `new String(bytes, UTF_8)` does on the ZooKeeper side, so a bad path then fails
    /// path validation (BadArguments) or lookup (NoNode) exactly as it does there.
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        let bytes = self.read_buffer_slice()?;
        Ok(java_utf8_lossy(bytes))
    }

    /// Reads a vector; the count is checked against the remaining input assuming every
    /// element takes at least `min_elem_size` bytes, so a lying count cannot make us
    /// reserve memory the input does not back.
    pub fn read_vec<T>(
        &mut self,
        min_elem_size: usize,
        mut elem: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let offset = self.pos;
        let Some(n) = self.read_len()? else {
            return Ok(Vec::new());
        };
        let min = n.saturating_mul(min_elem_size.max(1));
        if min > self.remaining() {
            return Err(DecodeError::Truncated {
                offset,
                needed: min - self.remaining(),
            });
        }
        // Decoded elements can be larger than their encoding (a String is 24 bytes, its
        // encoding 4 at the least): reserve no more memory than the input backs.
        let mut out = Vec::with_capacity(n.min(self.remaining() / std::mem::size_of::<T>().max(1)));
        for _ in 0..n {
            out.push(elem(self)?);
        }
        Ok(out)
    }
}

/// The one address a null buffer points at; `static`s have unique addresses.
static NULL_BUFFER: [u8; 1] = [0];

/// A zero-length buffer that encodes as jute's null (`-1`) instead of an empty buffer.
/// It compares equal to any empty `Bytes`; [`is_null_buffer`] tells them apart by
/// address, which clones and zero-length slices of it keep.
pub fn null_buffer() -> Bytes {
    Bytes::from_static(&NULL_BUFFER[..0])
}

/// Whether `b` is (a clone of) [`null_buffer`].
pub fn is_null_buffer(b: &[u8]) -> bool {
    b.is_empty() && std::ptr::eq(b.as_ptr(), NULL_BUFFER.as_ptr())
}

/// Decodes UTF-8 as Java's `new String(bytes, UTF_8)` does: each malformed sequence
/// becomes one U+FFFD. It agrees with `String::from_utf8_lossy` except for a
/// three-byte encoding of a surrogate (ED A0..BF xx), which Java replaces as one unit.
pub fn java_utf8_lossy(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, bad) = bytes.split_at(e.valid_up_to());
                // `good` is valid: from_utf8 checked it up to `valid_up_to`.
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                out.push('\u{fffd}');
                let surrogate = bad.len() >= 3
                    && bad[0] == 0xed
                    && (0xa0..=0xbf).contains(&bad[1])
                    && bad[2] & 0xc0 == 0x80;
                let skip = if surrogate {
                    3
                } else {
                    e.error_len().unwrap_or(bad.len())
                };
                bytes = &bad[skip..];
            }
        }
    }
}

/// Appends jute-encoded values to a byte buffer.
pub trait JuteWrite: BufMut {
    fn write_i32(&mut self, v: i32) {
        self.put_i32(v);
    }
    fn write_i64(&mut self, v: i64) {
        self.put_i64(v);
    }
    fn write_bool(&mut self, v: bool) {
        self.put_u8(v as u8);
    }
    fn write_buffer(&mut self, v: &[u8]) {
        if is_null_buffer(v) {
            self.put_i32(-1);
            return;
        }
        self.put_i32(v.len() as i32);
        self.put_slice(v);
    }
    fn write_string(&mut self, v: &str) {
        self.write_buffer(v.as_bytes());
    }
    fn write_vec<T>(&mut self, v: &[T], mut elem: impl FnMut(&mut Self, &T)) {
        self.put_i32(v.len() as i32);
        for e in v {
            elem(self, e);
        }
    }
}

impl<B: BufMut> JuteWrite for B {}

/// A jute record: one encoding, one decoding.
pub trait Record: Sized {
    fn encode<W: JuteWrite>(&self, w: &mut W);
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer, rejecting trailing bytes.
    fn from_bytes(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// A field type that can appear inside a record.
pub trait Field: Sized {
    /// The fewest bytes one encoded value takes (bounds vector preallocation).
    const MIN_SIZE: usize;
    fn put<W: JuteWrite>(&self, w: &mut W);
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Field for i32 {
    const MIN_SIZE: usize = 4;
    fn put<W: JuteWrite>(&self, w: &mut W) {
        w.write_i32(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i32()
    }
}

impl Field for i64 {
    const MIN_SIZE: usize = 8;
    fn put<W: JuteWrite>(&self, w: &mut W) {
        w.write_i64(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_i64()
    }
}

impl Field for bool {
    const MIN_SIZE: usize = 1;
    fn put<W: JuteWrite>(&self, w: &mut W) {
        w.write_bool(*self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
}

impl Field for String {
    const MIN_SIZE: usize = 4;
    fn put<W: JuteWrite>(&self, w: &mut W) {
        w.write_string(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_string()
    }
}

impl Field for Bytes {
    const MIN_SIZE: usize = 4;
    fn put<W: JuteWrite>(&self, w: &mut W) {
        w.write_buffer(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_buffer()
    }
}

impl<T: Field> Field for Vec<T> {
    const MIN_SIZE: usize = 4;
    fn put<W: JuteWrite>(&self, w: &mut W) {
        w.write_vec(self, |w, e| e.put(w))
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_vec(T::MIN_SIZE, T::get)
    }
}

/// Defines a jute record struct with its encoding, decoding and `Field` impl.
#[macro_export]
macro_rules! record {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }

        impl $crate::jute::Field for $name {
            const MIN_SIZE: usize = 0 $(+ <$ty as $crate::jute::Field>::MIN_SIZE)*;
            #[allow(unused_variables)]
            fn put<W: $crate::jute::JuteWrite>(&self, w: &mut W) {
                $($crate::jute::Field::put(&self.$field, w);)*
            }
            #[allow(unused_variables)]
            fn get(r: &mut $crate::jute::Reader<'_>) -> Result<Self, $crate::jute::DecodeError> {
                Ok($name { $($field: $crate::jute::Field::get(r)?),* })
            }
        }

        impl $crate::jute::Record for $name {
            fn encode<W: $crate::jute::JuteWrite>(&self, w: &mut W) {
                $crate::jute::Field::put(self, w)
            }
            fn decode(r: &mut $crate::jute::Reader<'_>) -> Result<Self, $crate::jute::DecodeError> {
                $crate::jute::Field::get(r)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_lengths_decode_as_empty() {
        let bytes = [0xff, 0xff, 0xff, 0xff];
        assert_eq!(Reader::new(&bytes).read_string().unwrap(), "");
        assert!(Reader::new(&bytes).read_buffer().unwrap().is_empty());
    }

    #[test]
    fn null_buffers_survive_a_round_trip() {
        let null = [0xff, 0xff, 0xff, 0xff];
        let b = Reader::new(&null).read_buffer().unwrap();
        assert!(is_null_buffer(&b) && is_null_buffer(&b.clone()));
        let mut out = Vec::new();
        out.write_buffer(&b);
        assert_eq!(out, null);
        let empty = [0, 0, 0, 0];
        let e = Reader::new(&empty).read_buffer().unwrap();
        assert!(!is_null_buffer(&e));
        assert!(!is_null_buffer(&Bytes::new()));
        let mut out = Vec::new();
        out.write_buffer(&e);
        assert_eq!(out, empty);
    }

    #[test]
    fn lying_vector_count_is_rejected_without_allocating() {
        let bytes = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let err = Reader::new(&bytes)
            .read_vec(4, |r| r.read_i32())
            .unwrap_err();
        assert!(matches!(err, DecodeError::Truncated { offset: 0, .. }));
    }

    #[test]
    fn negative_length_is_an_error() {
        let bytes = [0xff, 0xff, 0xff, 0xfe];
        assert_eq!(
            Reader::new(&bytes).read_buffer().unwrap_err(),
            DecodeError::NegativeLength { offset: 0, len: -2 }
        );
    }

    #[test]
    fn java_decoding_of_malformed_sequences() {
        let cases: [(&[u8], &str); 6] = [
            (b"a\xff", "a\u{fffd}"),
            (b"a\xed\xa0\x80", "a\u{fffd}"),
            (b"a\xc0\x80", "a\u{fffd}\u{fffd}"),
            (b"a\xe2\x82", "a\u{fffd}"),
            (b"\xe0\x80\x80", "\u{fffd}\u{fffd}\u{fffd}"),
            ("ok\u{e9}".as_bytes(), "ok\u{e9}"),
        ];
        for (b, want) in cases {
            assert_eq!(java_utf8_lossy(b), want, "{b:?}");
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_like_java() {
        let bytes = [0, 0, 0, 2, 0xc3, 0x28];
        assert_eq!(Reader::new(&bytes).read_string().unwrap(), "\u{fffd}(");
    }
}
