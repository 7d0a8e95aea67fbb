//! Reading logs: one file record by record ([`LogFile`]), a directory from a zxid on
//! ([`TxnLogReader`]), and cutting a log back to a zxid ([`truncate_after`]).

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use zooid_proto::{FileHeader, Reader, Record, TxnHeader};

use super::{cut, decode_entry, LogEntry, Tail, EOR, HEADER_LEN, RECORD_PREFIX, TXNLOG_MAGIC};
use crate::files::{self, LOG_PREFIX};
use crate::StorageError;

/// A record and where it starts in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub offset: u64,
    pub entry: LogEntry,
}

/// How the valid data of a log file ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileEnd {
    /// End of file, or only zeros (preallocation) from `offset` on.
    Clean { offset: u64 },
    /// A record a crash cut short starts at `offset`; no valid record follows it.
    Torn { offset: u64, reason: String },
}

impl FileEnd {
    pub fn offset(&self) -> u64 {
        match self {
            FileEnd::Clean { offset } | FileEnd::Torn { offset, .. } => *offset,
        }
    }
}

/// One log file, read front to back. Allocates at most what the file holds: a record's
/// length is checked against the bytes that remain before its buffer is made.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: BufReader<File>,
    len: u64,
    pos: u64,
    header: Option<FileHeader>,
    end: Option<FileEnd>,
}

impl LogFile {
    /// Opens a log file and reads its header. A file too short for a header, or whose
    /// header is all zeros (created, then a crash before the header reached the disk),
    /// has no records and ends torn at offset 0; any other wrong magic is `BadMagic`.
    pub fn open(path: &Path) -> Result<LogFile, StorageError> {
        let f = File::open(path).map_err(StorageError::io(path))?;
        let len = f.metadata().map_err(StorageError::io(path))?.len();
        let mut lf = LogFile {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(64 * 1024, f),
            len,
            pos: 0,
            header: None,
            end: None,
        };
        let mut buf = [0u8; HEADER_LEN as usize];
        let has_header = if len < HEADER_LEN {
            false
        } else {
            lf.read_exact(&mut buf)?;
            buf.iter().any(|b| *b != 0)
        };
        if !has_header {
            lf.end = Some(FileEnd::Torn {
                offset: 0,
                reason: format!("no file header ({len} bytes)"),
            });
            return Ok(lf);
        }
        let hdr = FileHeader::from_bytes(&buf)
            .map_err(|e| StorageError::corrupt(path, 0, e.to_string()))?;
        if hdr.magic != TXNLOG_MAGIC {
            return Err(StorageError::BadMagic {
                file: path.to_path_buf(),
                found: hdr.magic,
                expected: TXNLOG_MAGIC,
            });
        }
        lf.header = Some(hdr);
        Ok(lf)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file header, unless the file has none (see [`LogFile::open`]).
    pub fn header(&self) -> Option<&FileHeader> {
        self.header.as_ref()
    }

    /// How the valid data ended, once [`LogFile::next_record`] returned `None`.
    pub fn end(&self) -> Option<&FileEnd> {
        self.end.as_ref()
    }

    /// The next record, `None` at the end of the valid data (see [`LogFile::end`]).
    /// Errors: IO, and [`StorageError::Corrupt`] for damage followed by a valid record
    /// or for a record whose checksum holds but whose contents do not decode.
    pub fn next_record(&mut self) -> Result<Option<LogRecord>, StorageError> {
        if self.end.is_some() {
            return Ok(None);
        }
        match self.read_raw()? {
            Ok((offset, bytes)) => {
                let entry = decode_entry(&bytes)
                    .map_err(|reason| StorageError::corrupt(&self.path, offset, reason))?;
                Ok(Some(LogRecord { offset, entry }))
            }
            Err((offset, reason)) => {
                self.end = Some(self.classify(offset, reason)?);
                Ok(None)
            }
        }
    }

    /// Reads the next framed entry. The inner `Err` is damage at an offset, to classify.
    #[allow(clippy::type_complexity)]
    fn read_raw(&mut self) -> Result<Result<(u64, Vec<u8>), (u64, String)>, StorageError> {
        let offset = self.pos;
        let left = self.len - offset;
        if left < RECORD_PREFIX {
            return Ok(Err((
                offset,
                format!("{left} bytes left, too few for a record"),
            )));
        }
        let mut prefix = [0u8; RECORD_PREFIX as usize];
        self.read_exact(&mut prefix)?;
        let mut r = Reader::new(&prefix);
        let (Ok(crc), Ok(len)) = (r.read_i64(), r.read_i32()) else {
            unreachable!("12 bytes hold a long and an int")
        };
        if crc == 0 && len == 0 {
            return Ok(Err((offset, "zero record".into())));
        }
        if len <= 0 {
            return Ok(Err((offset, format!("record length {len}"))));
        }
        let len = len as u64;
        if len + 1 > left - RECORD_PREFIX {
            return Ok(Err((
                offset,
                format!("record of {len} bytes runs past the end of the file"),
            )));
        }
        let mut bytes = vec![0u8; len as usize + 1];
        self.read_exact(&mut bytes)?;
        if bytes.pop() != Some(EOR) {
            return Ok(Err((offset, "no end-of-record marker".into())));
        }
        let sum = i64::from(adler2::adler32_slice(&bytes));
        if sum != crc {
            return Ok(Err((
                offset,
                format!("checksum {crc:#x} does not match the entry's {sum:#x}"),
            )));
        }
        Ok(Ok((offset, bytes)))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), StorageError> {
        self.file
            .read_exact(buf)
            .map_err(StorageError::io(&self.path))?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// Damage at `offset`: only zeros after it is a clean end; a valid record after it
    /// is corruption; anything else is a torn tail.
    fn classify(&mut self, offset: u64, reason: String) -> Result<FileEnd, StorageError> {
        let f = self.file.get_ref();
        let Some(last) = last_nonzero(f, offset, self.len).map_err(StorageError::io(&self.path))?
        else {
            return Ok(FileEnd::Clean { offset });
        };
        // The region is backed by the file: reading it allocates no more than it holds.
        let mut region = vec![0u8; (last + 1 - offset) as usize];
        f.read_exact_at(&mut region, offset)
            .map_err(StorageError::io(&self.path))?;
        if let Some(at) = find_valid_record(&region) {
            return Err(StorageError::corrupt(
                &self.path,
                offset,
                format!(
                    "{reason}; a valid record follows at offset {}",
                    offset + at as u64
                ),
            ));
        }
        Ok(FileEnd::Torn { offset, reason })
    }
}

/// The offset of the last non-zero byte in `[from, len)`, scanning backwards so that
/// preallocated zeros cost one pass at most.
/// About how many txns the logs hold after `zxid`, without decoding them (for sizing
/// tables before a replay): a file followed by one of the same epoch holds the zxids
/// up to the next one's name; otherwise its data bytes are counted at
/// [`ESTIMATE_RECORD_BYTES`] a record.
pub fn estimate_txns_after(dir: &Path, zxid: i64) -> Result<u64, StorageError> {
    let files = files::log_files_from(dir, zxid.saturating_add(1))?;
    let mut n = 0u64;
    for (i, (start, path)) in files.iter().enumerate() {
        let from = (*start).max(zxid.saturating_add(1));
        match files.get(i + 1) {
            Some((next, _)) if next >> 32 == from >> 32 && *next >= from => {
                n += (next - from) as u64;
            }
            _ => {
                let f = File::open(path).map_err(StorageError::io(path))?;
                let len = f.metadata().map_err(StorageError::io(path))?.len();
                let end = last_nonzero(&f, HEADER_LEN.min(len), len)
                    .map_err(StorageError::io(path))?
                    .map_or(0, |e| e + 1);
                n += end.saturating_sub(HEADER_LEN) / ESTIMATE_RECORD_BYTES;
            }
        }
    }
    Ok(n)
}

/// A typical record: a create or setData of some 100 bytes of data.
const ESTIMATE_RECORD_BYTES: u64 = 128;

fn last_nonzero(f: &File, from: u64, len: u64) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 64 * 1024;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut end = len;
    while end > from {
        let start = end.saturating_sub(CHUNK).max(from);
        let chunk = &mut buf[..(end - start) as usize];
        f.read_exact_at(chunk, start)?;
        // An OR over the chunk vectorizes; the byte-wise search only runs on the one
        // chunk that holds data (preallocation can leave 64 MiB of zeros to get through).
        if chunk.iter().fold(0u8, |a, b| a | b) == 0 {
            end = start;
            continue;
        }
        if let Some(i) = chunk.iter().rposition(|b| *b != 0) {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// The first offset after 0 in `region` where a complete record with a matching
/// checksum and a decodable `TxnHeader` starts.
fn find_valid_record(region: &[u8]) -> Option<usize> {
    let n = region.len();
    let prefix = RECORD_PREFIX as usize;
    (1..n.saturating_sub(prefix)).find(|&i| {
        let crc = u64::from_be_bytes(region[i..i + 8].try_into().unwrap());
        if crc > u64::from(u32::MAX) {
            return false;
        }
        let len = i32::from_be_bytes(region[i + 8..i + 12].try_into().unwrap());
        if len <= 0 {
            return false;
        }
        let end = i + prefix + len as usize;
        if end >= n || region[end] != EOR {
            return false;
        }
        let entry = &region[i + prefix..end];
        u64::from(adler2::adler32_slice(entry)) == crc
            && TxnHeader::decode(&mut Reader::new(entry)).is_ok()
    })
}

/// Reads every txn with a zxid greater than a given one across a directory's log files,
/// in order. Items are `Err` only for IO errors and corruption, after which the
/// iteration stops. When it ends, [`TxnLogReader::tail`] says whether the last file
/// ended torn.
#[derive(Debug)]
pub struct TxnLogReader {
    after: i64,
    files: VecDeque<PathBuf>,
    current: Option<LogFile>,
    tail: Option<Tail>,
    torn: Vec<Tail>,
    failed: bool,
}

/// Opens a reader over `dir` (a `version-2` directory) for the txns after `zxid`. The
/// files are chosen as `FileTxnLog.getLogFiles` chooses them: the one that starts at or
/// before `zxid + 1` and every later one.
pub fn read_from(dir: &Path, zxid: i64) -> Result<TxnLogReader, StorageError> {
    let files = files::log_files_from(dir, zxid.saturating_add(1))?;
    Ok(TxnLogReader {
        after: zxid,
        files: files.into_iter().map(|(_, p)| p).collect(),
        current: None,
        tail: None,
        torn: Vec::new(),
        failed: false,
    })
}

impl TxnLogReader {
    /// The torn end of the last file, once the iteration has ended. Cut it with
    /// [`super::truncate_tail`] before writing again.
    pub fn tail(&self) -> Option<&Tail> {
        self.tail.as_ref()
    }

    /// Torn ends of files before the last one. ZooKeeper leaves these behind when it
    /// crashes mid-write and then starts a new file; like it, the reader goes on with the
    /// next file. Worth a warning in the server's log.
    pub fn torn_earlier(&self) -> &[Tail] {
        &self.torn
    }

    fn next_entry(&mut self) -> Result<Option<LogEntry>, StorageError> {
        loop {
            let cur = match &mut self.current {
                Some(c) => c,
                None => match self.files.pop_front() {
                    Some(p) => self.current.insert(LogFile::open(&p)?),
                    None => return Ok(None),
                },
            };
            if let Some(rec) = cur.next_record()? {
                if rec.entry.txn.zxid() > self.after {
                    return Ok(Some(rec.entry));
                }
                continue;
            }
            if let Some(FileEnd::Torn { offset, reason }) = cur.end() {
                let t = Tail {
                    file: cur.path().to_path_buf(),
                    offset: *offset,
                    reason: reason.clone(),
                };
                if self.files.is_empty() {
                    self.tail = Some(t);
                } else {
                    self.torn.push(t);
                }
            }
            self.current = None;
        }
    }
}

impl Iterator for TxnLogReader {
    type Item = Result<LogEntry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.next_entry();
        self.failed = r.is_err();
        r.transpose()
    }
}

/// `FileTxnLog.truncate`: removes every txn with a zxid greater than `zxid` (Zab's
/// TRUNC). The file holding the first such txn is cut before it, later files are
/// removed. Returns the files changed or removed.
pub fn truncate_after(dir: &Path, zxid: i64) -> Result<Vec<PathBuf>, StorageError> {
    let mut changed = Vec::new();
    let mut cutting = false;
    for (_, path) in files::log_files_from(dir, zxid)? {
        if cutting {
            fs::remove_file(&path).map_err(StorageError::io(&path))?;
            changed.push(path);
            continue;
        }
        let mut lf = LogFile::open(&path)?;
        let cut_at = loop {
            match lf.next_record()? {
                Some(rec) if rec.entry.txn.zxid() > zxid => break Some(rec.offset),
                Some(_) => continue,
                None => match lf.end() {
                    Some(FileEnd::Torn { offset, .. }) => break Some(*offset),
                    _ => break None,
                },
            }
        };
        if let Some(offset) = cut_at {
            drop(lf);
            cut(&path, offset)?;
            changed.push(path);
            cutting = true;
        }
    }
    if !changed.is_empty() {
        files::sync_dir(dir)?;
    }
    Ok(changed)
}

/// The names of the log files in `dir`, ascending by zxid (for tools).
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>, StorageError> {
    Ok(files::list(dir, LOG_PREFIX)?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}
