//! The byte streams under a snapshot: plain, gzip or snappy-java framed (chosen by file
//! suffix, `SnapStream.getStreamMode`), and the Adler32-checked reader and writer that
//! ZooKeeper's `CheckedInputStream`/`CheckedOutputStream` are.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

/// `SnapStream.StreamMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
}

impl Compression {
    /// The mode of a file name: its last dot-separated part, compared without case
    /// (`StreamMode.fromString`); anything unknown is uncompressed.
    pub fn of_name(name: &str) -> Compression {
        match name.rsplit('.').next() {
            Some(ext) if name.contains('.') && ext.eq_ignore_ascii_case("gz") => Compression::Gzip,
            Some(ext) if name.contains('.') && ext.eq_ignore_ascii_case("snappy") => {
                Compression::Snappy
            }
            _ => Compression::None,
        }
    }
}

/// snappy-java's stream header (`SnappyCodec`): magic, version 1, compatible version 1.
pub const SNAPPY_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const SNAPPY_HEADER_LEN: usize = 16;

/// Opens the decompressed byte stream of a snapshot file.
pub fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let f = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    Ok(match Compression::of_name(name) {
        Compression::None => Box::new(f),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Compression::Snappy => Box::new(SnappyJavaReader::new(f)),
    })
}

/// Reads snappy-java's `SnappyOutputStream` format: a 16-byte header, then blocks of
/// `int compressedLength` + raw snappy data. A repeated header (concatenated streams)
/// is skipped, as `SnappyInputStream` does.
struct SnappyJavaReader<R> {
    inner: R,
    started: bool,
    block: Vec<u8>,
    at: usize,
    dec: snap::raw::Decoder,
}

impl<R: Read> SnappyJavaReader<R> {
    fn new(inner: R) -> Self {
        SnappyJavaReader {
            inner,
            started: false,
            block: Vec::new(),
            at: 0,
            dec: snap::raw::Decoder::new(),
        }
    }

    /// Loads the next block; false at a clean end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        if !self.started {
            let mut hdr = [0u8; SNAPPY_HEADER_LEN];
            self.inner.read_exact(&mut hdr)?;
            if hdr[..8] != SNAPPY_MAGIC {
                return Err(invalid("not a snappy-java stream (bad magic header)"));
            }
            self.started = true;
        }
        loop {
            let mut len = [0u8; 4];
            if !read_full_or_eof(&mut self.inner, &mut len)? {
                return Ok(false);
            }
            if len == SNAPPY_MAGIC[..4] {
                let mut rest = [0u8; SNAPPY_HEADER_LEN - 4];
                self.inner.read_exact(&mut rest)?;
                if rest[..4] != SNAPPY_MAGIC[4..] {
                    return Err(invalid("damaged snappy-java stream header"));
                }
                continue;
            }
            let len = i32::from_be_bytes(len);
            if len < 0 {
                return Err(invalid("negative snappy block length"));
            }
            // Read through `take` so a lying length cannot make us allocate more than the
            // file holds.
            let mut comp = Vec::new();
            (&mut self.inner).take(len as u64).read_to_end(&mut comp)?;
            if comp.len() != len as usize {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // Raw snappy expands at most ~21x (a 3-byte copy of 64 bytes): a larger
            // announced length is a lie, refused before allocating it.
            let n = snap::raw::decompress_len(&comp).map_err(|e| invalid(&e.to_string()))?;
            if n > comp.len().saturating_mul(32) + 1024 {
                return Err(invalid("snappy block announces an impossible length"));
            }
            self.block.resize(n, 0);
            let got = self
                .dec
                .decompress(&comp, &mut self.block)
                .map_err(|e| invalid(&e.to_string()))?;
            self.block.truncate(got);
            self.at = 0;
            if got > 0 {
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for SnappyJavaReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.block.len() && !self.fill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Fills `buf`; false when the stream ended before its first byte.
fn read_full_or_eof(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A buffered reader that keeps the Adler32 of, and the count of, the bytes it returned
/// (`CheckedInputStream` under a `BufferedInputStream`, turned inside out so the sum
/// covers what was consumed, not what was read ahead). The sum is brought up to date a
/// whole buffer at a time, not per field.
pub struct Checked<R> {
    inner: R,
    buf: Box<[u8]>,
    /// The next byte to hand out.
    start: usize,
    /// The end of what `inner` gave.
    end: usize,
    /// `buf[..summed]` is already in `sum`; `summed <= start`.
    summed: usize,
    sum: adler2::Adler32,
    pos: u64,
}

impl<R: Read> Checked<R> {
    pub fn new(inner: R) -> Self {
        Self::with_capacity(1 << 20, inner)
    }

    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        Checked {
            inner,
            buf: vec![0u8; capacity.max(64)].into_boxed_slice(),
            start: 0,
            end: 0,
            summed: 0,
            sum: adler2::Adler32::new(),
            pos: 0,
        }
    }

    /// Bytes read so far: the offset in the (decompressed) stream.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The Adler32 of everything read so far, as ZooKeeper stores it (a long).
    pub fn checksum(&self) -> i64 {
        i64::from(self.hasher().checksum())
    }

    pub fn hasher(&self) -> adler2::Adler32 {
        let mut sum = self.sum;
        sum.write_slice(&self.buf[self.summed..self.start]);
        sum
    }

    fn sync_sum(&mut self) {
        self.sum.write_slice(&self.buf[self.summed..self.start]);
        self.summed = self.start;
    }

    /// Refills an empty buffer; 0 at the end of the stream.
    fn refill(&mut self) -> io::Result<usize> {
        self.sync_sum();
        self.start = 0;
        self.end = 0;
        self.summed = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Exactly `n` bytes into a new vector, which grows with what the stream really
    /// holds (a lying length cannot make it allocate more); `UnexpectedEof` if short.
    pub fn read_vec(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if self.end - self.start >= n {
            let v = self.buf[self.start..self.start + n].to_vec();
            self.start += n;
            self.pos += n as u64;
            return Ok(v);
        }
        let mut v = Vec::with_capacity(n.min(self.buf.len()));
        while v.len() < n {
            if self.start == self.end && self.refill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let k = (n - v.len()).min(self.end - self.start);
            v.extend_from_slice(&self.buf[self.start..self.start + k]);
            self.start += k;
            self.pos += k as u64;
        }
        Ok(v)
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end && self.refill()? == 0 {
            return Ok(0);
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.pos += n as u64;
        Ok(n)
    }

    fn read_exact(&mut self, out: &mut [u8]) -> io::Result<()> {
        if self.end - self.start >= out.len() {
            out.copy_from_slice(&self.buf[self.start..self.start + out.len()]);
            self.start += out.len();
            self.pos += out.len() as u64;
            return Ok(());
        }
        let mut got = 0;
        while got < out.len() {
            match self.read(&mut out[got..])? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => got += n,
            }
        }
        Ok(())
    }
}

/// A writer that keeps the Adler32 of everything written (`CheckedOutputStream`).
pub struct CheckedWriter<W> {
    inner: W,
    sum: adler2::Adler32,
}

impl<W: Write> CheckedWriter<W> {
    pub fn new(inner: W) -> Self {
        CheckedWriter {
            inner,
            sum: adler2::Adler32::new(),
        }
    }

    pub fn checksum(&self) -> i64 {
        i64::from(self.sum.checksum())
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CheckedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sum.write_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_follows_the_last_suffix() {
        assert_eq!(Compression::of_name("snapshot.1f"), Compression::None);
        assert_eq!(Compression::of_name("snapshot.1f.gz"), Compression::Gzip);
        assert_eq!(Compression::of_name("snapshot.1f.GZ"), Compression::Gzip);
        assert_eq!(
            Compression::of_name("snapshot.a.snappy"),
            Compression::Snappy
        );
        assert_eq!(Compression::of_name("snapshot.a.zst"), Compression::None);
        assert_eq!(Compression::of_name("gz"), Compression::None);
    }

    #[test]
    fn snappy_java_blocks_decode() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = SNAPPY_MAGIC.to_vec();
        s.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for chunk in data.chunks(32 * 1024) {
            let c = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            s.extend_from_slice(&(c.len() as i32).to_be_bytes());
            s.extend_from_slice(&c);
        }
        let mut out = Vec::new();
        SnappyJavaReader::new(&s[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        // A block cut short is an error, not a short read.
        let mut out = Vec::new();
        assert!(SnappyJavaReader::new(&s[..s.len() - 3])
            .read_to_end(&mut out)
            .is_err());
    }
}
