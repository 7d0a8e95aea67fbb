//! [`TxnLogWriter`]: appends txns to the current log file and makes them durable in
//! groups (`FileTxnLog.append` / `commit` / `rollLog`).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use zooid_proto::{FileHeader, Record, TxnDigest};
use zooid_tree::Txn;

use super::{encode_entry, frame_record, HEADER_LEN, TXNLOG_DBID, TXNLOG_MAGIC, TXNLOG_VERSION};
use crate::files;

/// Within this many bytes of the preallocated end, the file grows by another block
/// (`FilePadding.calculateFileSizeWithPadding`'s 4 KiB).
const PAD_MARGIN: u64 = 4096;

/// The file being appended to.
#[derive(Debug)]
struct OpenLog {
    path: PathBuf,
    file: File,
    /// Where the next buffered byte goes.
    pos: u64,
    /// The file's length as preallocated so far.
    size: u64,
    /// Bytes appended but not yet written (the group being formed).
    buf: Vec<u8>,
}

/// Appends txns to `log.<zxid>` files. `append` only buffers; `commit` writes the
/// buffered group with one write and, with `force_sync`, one `fdatasync` — a txn is
/// durable only after the `commit` that follows its `append` returned `Ok`.
///
/// After any IO error the writer refuses further work (what reached the disk is
/// unknown; the server must stop and recover from the files, as ZooKeeper exits).
#[derive(Debug)]
pub struct TxnLogWriter {
    dir: PathBuf,
    pre_alloc: u64,
    force_sync: bool,
    current: Option<OpenLog>,
    /// Files left by `roll` whose last group still needs its write and sync.
    retired: Vec<OpenLog>,
    /// A file was created since the last commit: its directory entry needs a sync.
    dir_dirty: bool,
    last_zxid: Option<i64>,
    failed: bool,
    scratch: Vec<u8>,
}

impl TxnLogWriter {
    /// A writer for `dir` (a `version-2` directory, created if missing). The first
    /// append starts a new file: like ZooKeeper after a restart, the writer never
    /// appends to an existing file. `pre_alloc_bytes` is `preAllocSize` (0 = none,
    /// [`super::DEFAULT_PRE_ALLOC`] is ZooKeeper's default); `force_sync` is
    /// `zookeeper.forceSync`.
    pub fn open(dir: &Path, pre_alloc_bytes: u64, force_sync: bool) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(TxnLogWriter {
            dir: dir.to_path_buf(),
            pre_alloc: pre_alloc_bytes,
            force_sync,
            current: None,
            retired: Vec::new(),
            dir_dirty: false,
            last_zxid: None,
            failed: false,
            scratch: Vec::new(),
        })
    }

    /// The zxid of the last txn appended (durable or not).
    pub fn last_zxid(&self) -> Option<i64> {
        self.last_zxid
    }

    /// The file the next append goes to, if one is open.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// Bytes appended since the last commit.
    pub fn pending_bytes(&self) -> usize {
        self.current.as_ref().map_or(0, |c| c.buf.len())
            + self.retired.iter().map(|c| c.buf.len()).sum::<usize>()
    }

    /// Buffers `txn` (without a digest) for the next commit.
    pub fn append(&mut self, txn: &Txn) -> io::Result<()> {
        self.append_with_digest(txn, None)
    }

    /// Buffers `txn` followed by the tree digest after it. Zxids must increase; a new
    /// file named after this zxid is started when none is open.
    pub fn append_with_digest(&mut self, txn: &Txn, digest: Option<&TxnDigest>) -> io::Result<()> {
        self.check_usable()?;
        let zxid = txn.zxid();
        if let Some(last) = self.last_zxid.filter(|last| zxid <= *last) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("zxid {zxid:#x} does not follow the last appended zxid {last:#x}"),
            ));
        }
        if self.current.is_none() {
            let r = self.create_file(zxid);
            self.current = Some(self.poison_on_err(r)?);
        }
        self.scratch.clear();
        encode_entry(txn, digest, &mut self.scratch);
        let cur = self.current.as_mut().expect("opened above");
        frame_record(&self.scratch, &mut cur.buf);
        self.last_zxid = Some(zxid);
        Ok(())
    }

    /// Writes everything appended and, with `force_sync`, waits until it is on disk:
    /// the group-commit point. Also syncs files that `roll` left behind and the
    /// directory when a file was created.
    pub fn commit(&mut self) -> io::Result<()> {
        self.check_usable()?;
        let r = self.commit_inner();
        self.poison_on_err(r)
    }

    fn commit_inner(&mut self) -> io::Result<()> {
        let pre_alloc = self.pre_alloc;
        for log in self.retired.iter_mut().chain(self.current.as_mut()) {
            let had_data = !log.buf.is_empty();
            flush_group(log, pre_alloc)?;
            if self.force_sync && had_data {
                log.file.sync_data()?;
            }
        }
        self.retired.clear();
        // A new file's directory entry must be durable too (ZooKeeper never syncs it).
        if self.dir_dirty && self.force_sync {
            File::open(&self.dir)?.sync_all()?;
        }
        self.dir_dirty = false;
        Ok(())
    }

    /// Ends the current file: the next append starts a new one (after a snapshot, as
    /// `rollLog`). What was appended to the old file is still committed by the next
    /// `commit`.
    pub fn roll(&mut self) {
        if let Some(cur) = self.current.take() {
            self.retired.push(cur);
        }
    }

    fn create_file(&mut self, zxid: i64) -> io::Result<OpenLog> {
        let path = self.dir.join(files::log_name(zxid));
        // A file of this name can only exist if recovery left it without any record
        // (a header at most): overwriting it loses nothing. Anything bigger is a bug or
        // someone else's data, never overwritten.
        if let Ok(md) = fs::metadata(&path) {
            if md.len() > HEADER_LEN {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and holds records", path.display()),
                ));
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        self.dir_dirty = true;
        let mut buf = Vec::with_capacity(4096);
        FileHeader {
            magic: TXNLOG_MAGIC,
            version: TXNLOG_VERSION,
            dbid: TXNLOG_DBID,
        }
        .encode(&mut buf);
        Ok(OpenLog {
            path,
            file,
            pos: 0,
            size: 0,
            buf,
        })
    }

    fn check_usable(&self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "the txn log writer failed earlier; recover from the files",
            ));
        }
        Ok(())
    }

    fn poison_on_err<T>(&mut self, r: io::Result<T>) -> io::Result<T> {
        self.failed |= r.is_err();
        r
    }
}

/// Writes a file's buffered group at its position, growing the file first when the
/// group would come near the preallocated end.
fn flush_group(log: &mut OpenLog, pre_alloc: u64) -> io::Result<()> {
    if log.buf.is_empty() {
        return Ok(());
    }
    let end = log.pos + log.buf.len() as u64;
    let size = padded_size(end, log.size, pre_alloc);
    if size != log.size {
        // Extending with set_len leaves zeros (sparse), as FilePadding's one-byte write
        // at the new end does; fdatasync makes the new length durable with the data.
        log.file.set_len(size)?;
        log.size = size;
    }
    log.file.write_all_at(&log.buf, log.pos)?;
    log.pos = end;
    log.size = log.size.max(end);
    log.buf.clear();
    Ok(())
}

/// `FilePadding.calculateFileSizeWithPadding`, applied to the end of the data about to
/// be written (ZooKeeper passes the start; using the end keeps a large group from
/// running past the preallocated space).
pub(crate) fn padded_size(position: u64, file_size: u64, pre_alloc: u64) -> u64 {
    if pre_alloc > 0 && position + PAD_MARGIN >= file_size {
        if position > file_size {
            let s = position + pre_alloc;
            s - s % pre_alloc
        } else {
            file_size + pre_alloc
        }
    } else {
        file_size
    }
}
