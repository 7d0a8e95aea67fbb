//! Snapshots, in ZooKeeper's `FileSnap` format.
//!
//! Files live in `<dataDir>/version-2/` and are named `snapshot.<zxid hex>` after the
//! last zxid applied when the snapshot started, with `.gz` or `.snappy` appended when
//! compressed (`zookeeper.snapshot.compression.method`). The grammar is of the
//! (decompressed) stream; `checksum` is the Adler32 of every stream byte before it:
//!
//! ```text
//! snapshot  = FileHeader sessions tree seal digest? lastZxid?
//! FileHeader= int magic ("ZKSN" = 0x5a4b534e) int version (2) long dbid (-1)
//! sessions  = int count (long sessionId int timeoutMs){count}
//! tree      = acls node* string "/"            ; DataTree.serialize
//! acls      = int count (long index vector<ACL>){count}  ; ReferenceCountedACLCache
//! node      = string path DataNode             ; depth-first from the root, whose path
//!                                              ; is ""; a parent before its children
//! DataNode  = buffer data long aclIndex StatPersisted
//! seal      = long checksum string "/"         ; SnapStream.sealStream
//! digest    = long zxid int version (long digest | string hexDigest if version < 2)
//!             seal                             ; DataTree.serializeZxidDigest (3.6+)
//! lastZxid  = long zxid seal                   ; serializeLastProcessedZxid (3.9+)
//! ```
//!
//! `sessions tree` is the body a leader also sends a learner after SNAP, without the
//! header and seals ([`sync`]); `body.rs` reads and writes it for both.
//!
//! Sources: `FileSnap.serialize`/`deserialize`, `SnapStream`, `SerializeUtils.
//! serializeSnapshot`, `DataTree.serialize`/`serializeNode`/`serializeZxidDigest`,
//! `ReferenceCountedACLCache.serialize`, `DataNode.serialize`.
//!
//! Reading the optional sections follows ZooKeeper: a stream that ends before the
//! digest (or before lastZxid) simply has none; a section that is there must carry its
//! seal. A writer with digests off but lastZxid on (ZooKeeper 3.9 with
//! `zookeeper.digest.enabled=false`) leaves exactly 21 bytes after the first seal; we
//! recognise that by size, where ZooKeeper would misread it as a digest.

mod body;
mod stream;
pub mod sync;

pub use stream::Compression;
pub use sync::{decode_sync_snapshot, encode_sync_snapshot, read_sync_snapshot, SyncSnapshot};

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use zooid_proto::{Acl, FileHeader, JuteWrite, Reader, Record, StatPersisted};

use crate::files::{self, SNAPSHOT_PREFIX};
use crate::StorageError;
use body::{BodyReader, Origin};
use stream::{Checked, CheckedWriter, SNAPPY_MAGIC};

/// `FileSnap.SNAP_MAGIC`.
pub const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");
/// `FileSnap.VERSION`.
pub const SNAP_VERSION: i32 = 2;
/// `FileSnap.dbId`.
pub const SNAP_DBID: i64 = -1;
/// The digest version ZooKeeper 3.6+ writes (`DigestCalculator.DIGEST_VERSION`).
pub const DIGEST_VERSION: i32 = 2;
/// At most this much after the tree's seal is read (a digest and a lastZxid section
/// take 54 bytes); ZooKeeper ignores whatever follows the sections it knows.
const TRAILER_MAX: u64 = 4096;

/// One znode as a snapshot stores it. The root's path is `""`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapNode {
    pub path: String,
    pub data: Bytes,
    /// Index into the snapshot's ACL table (-1 = `OPEN_ACL_UNSAFE` without an entry).
    pub acl: i64,
    pub stat: StatPersisted,
}

/// `DataTree.ZxidDigest`: the tree digest after `zxid`. A zxid of 0 means "no digest"
/// (ZooKeeper writes that when it has none yet, and ignores it when reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub version: i32,
    pub digest: i64,
}

/// A whole snapshot, tree-agnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// (session id, timeout ms), in file order.
    pub sessions: Vec<(i64, i32)>,
    /// (ACL index, list), in file order.
    pub acls: Vec<(i64, Vec<Acl>)>,
    /// Depth-first, parents before children, the root first.
    pub nodes: Vec<SnapNode>,
    pub digest: Option<ZxidDigest>,
    pub last_processed_zxid: Option<i64>,
}

/// The zxid in a snapshot file's name.
pub fn snapshot_zxid(path: &Path) -> Option<i64> {
    files::zxid_from_name(path.file_name()?.to_str()?, SNAPSHOT_PREFIX)
}

// ---------------------------------------------------------------------------- writing

/// What a writer puts after the tree's seal (`DataTree.serializeZxidDigest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestSection {
    /// `zookeeper.digest.enabled=false`: no section at all.
    Off,
    /// ZooKeeper's empty digest (zxid 0): a reader compares nothing.
    Empty,
    /// The tree digest after a zxid.
    Digest(ZxidDigest),
}

impl From<Option<ZxidDigest>> for DigestSection {
    /// A digest, or the empty one.
    fn from(d: Option<ZxidDigest>) -> DigestSection {
        d.map_or(DigestSection::Empty, DigestSection::Digest)
    }
}

/// Writes an uncompressed snapshot to `path` (normally `dir/`[`files::snapshot_name`]).
/// The file is written under a temporary name that is not a snapshot name, synced, and
/// renamed: `path` never names half a snapshot. `nodes` must come depth-first from the
/// root (`""`), as `DataTree::walk` yields them; anything else is refused, since no
/// reader could rebuild the tree from it. The digest section (an empty one when
/// `digest` is `None`, none with [`DigestSection::Off`], as ZooKeeper writes them) and
/// the lastProcessedZxid section are written: ZooKeeper 3.8 reads the first and ignores
/// the second, 3.9 reads both.
pub fn write_snapshot(
    path: &Path,
    sessions: &[(i64, i32)],
    acls: &[(i64, Vec<Acl>)],
    nodes: impl IntoIterator<Item = SnapNode>,
    digest: impl Into<DigestSection>,
    last_processed_zxid: i64,
) -> Result<(), StorageError> {
    let digest = digest.into();
    write_snapshot_file(
        path,
        sessions,
        acls,
        nodes,
        move || digest,
        last_processed_zxid,
        true,
    )
}

/// A fuzzy snapshot of a live tree. `digest` is asked for once every node is written, so
/// it can be the tree's digest after the walk (ZooKeeper's `serializeZxidDigest` runs
/// after the nodes too; a reader compares it when its replay reaches that zxid, where
/// the fuzzy tree has become exact).
///
/// It is not fsynced, as ZooKeeper's periodic snapshots are not
/// (`takeSnapshot(syncSnap = false)`): the page cache writes it back in its own time
/// instead of in one burst that the txn log's fdatasync would queue behind. Losing it in
/// a crash loses nothing: the logs it would replace stay until newer snapshots exist
/// (purge keeps at least three), and a torn one fails its checksum, so recovery takes
/// the one before.
pub fn write_fuzzy_snapshot<D: Into<DigestSection>>(
    path: &Path,
    sessions: &[(i64, i32)],
    acls: &[(i64, Vec<Acl>)],
    nodes: impl IntoIterator<Item = SnapNode>,
    digest: impl FnOnce() -> D,
    last_processed_zxid: i64,
) -> Result<(), StorageError> {
    write_snapshot_file(
        path,
        sessions,
        acls,
        nodes,
        || digest().into(),
        last_processed_zxid,
        false,
    )
}

#[allow(clippy::too_many_arguments)]
fn write_snapshot_file(
    path: &Path,
    sessions: &[(i64, i32)],
    acls: &[(i64, Vec<Acl>)],
    nodes: impl IntoIterator<Item = SnapNode>,
    digest: impl FnOnce() -> DigestSection,
    last_processed_zxid: i64,
    sync: bool,
) -> Result<(), StorageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| StorageError::Invalid(format!("bad snapshot path {}", path.display())))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = write_file(
        &tmp,
        sessions,
        acls,
        nodes,
        digest,
        last_processed_zxid,
        sync,
    )
    .and_then(|()| fs::rename(&tmp, path).map_err(StorageError::io(path)))
    .and_then(|()| if sync { files::sync_dir(dir) } else { Ok(()) });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_file(
    tmp: &Path,
    sessions: &[(i64, i32)],
    acls: &[(i64, Vec<Acl>)],
    nodes: impl IntoIterator<Item = SnapNode>,
    digest: impl FnOnce() -> DigestSection,
    last_processed_zxid: i64,
    sync: bool,
) -> Result<(), StorageError> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(StorageError::io(tmp))?;
    let mut w = CheckedWriter::new(BufWriter::with_capacity(256 * 1024, f));
    let mut buf = Vec::with_capacity(64 * 1024);
    FileHeader {
        magic: SNAP_MAGIC,
        version: SNAP_VERSION,
        dbid: SNAP_DBID,
    }
    .encode(&mut buf);
    let mut drain = |buf: &mut Vec<u8>| {
        w.write_all(buf).map_err(StorageError::io(tmp))?;
        buf.clear();
        Ok(())
    };
    body::write_body(&mut buf, sessions, acls, nodes, &mut drain)?;
    w.write_all(&buf).map_err(StorageError::io(tmp))?;
    seal(&mut w).map_err(StorageError::io(tmp))?;
    let d = match digest() {
        DigestSection::Off => None,
        DigestSection::Empty => Some(ZxidDigest {
            zxid: 0,
            version: DIGEST_VERSION,
            digest: 0,
        }),
        DigestSection::Digest(d) => Some(d),
    };
    if let Some(d) = d {
        let mut buf = Vec::with_capacity(32);
        buf.write_i64(d.zxid);
        buf.write_i32(d.version);
        if d.version < 2 {
            buf.write_string(&format!("{:x}", d.digest as u64));
        } else {
            buf.write_i64(d.digest);
        }
        w.write_all(&buf).map_err(StorageError::io(tmp))?;
        seal(&mut w).map_err(StorageError::io(tmp))?;
    }
    w.write_all(&last_processed_zxid.to_be_bytes())
        .map_err(StorageError::io(tmp))?;
    seal(&mut w).map_err(StorageError::io(tmp))?;
    let f = w
        .into_inner()
        .into_inner()
        .map_err(|e| StorageError::io(tmp)(e.into_error()))?;
    if sync {
        f.sync_all().map_err(StorageError::io(tmp))?;
    }
    Ok(())
}

/// `SnapStream.sealStream`: the checksum so far, then the string "/".
fn seal<W: Write>(w: &mut CheckedWriter<W>) -> io::Result<()> {
    let mut b = Vec::with_capacity(13);
    b.write_i64(w.checksum());
    b.write_string("/");
    w.write_all(&b)
}

// ---------------------------------------------------------------------------- reading

/// Reads and validates a whole snapshot: magic, the tree's checksum, the optional
/// sections' checksums, and that every node's parent came before it. Decompresses by
/// file suffix. Lengths inside the file are never trusted for allocation: buffers grow
/// as bytes actually arrive.
pub fn read_snapshot(path: &Path) -> Result<Snapshot, StorageError> {
    let mut nodes = Vec::new();
    let mut snap = read_snapshot_streaming(path, &mut |n| nodes.push(n))?;
    body::check_parents(Origin::File(path), &nodes)?;
    snap.nodes = nodes;
    Ok(snap)
}

/// Reads a snapshot handing each node to `node` as it is decoded, so a caller can build
/// its tree while the file is still being read; the returned `Snapshot` has no nodes.
/// The checksum is only known at the end: a caller must drop what it built when this
/// returns an error. Parent order is not checked here (the caller's builder does).
pub fn read_snapshot_streaming(
    path: &Path,
    node: &mut dyn FnMut(SnapNode),
) -> Result<Snapshot, StorageError> {
    let raw = stream::open(path).map_err(StorageError::io(path))?;
    let mut r = SnapReader {
        path,
        b: BodyReader::new(Origin::File(path), Checked::new(raw), None),
    };
    r.read(node)
}

struct SnapReader<'p> {
    path: &'p Path,
    b: BodyReader<'p, Box<dyn Read>>,
}

impl SnapReader<'_> {
    fn read(&mut self, node: &mut dyn FnMut(SnapNode)) -> Result<Snapshot, StorageError> {
        let magic = self.b.i32()?;
        let _version = self.b.i32()?;
        let _dbid = self.b.i64()?;
        if magic != SNAP_MAGIC {
            return Err(StorageError::BadMagic {
                file: self.path.to_path_buf(),
                found: magic,
                expected: SNAP_MAGIC,
            });
        }
        let (sessions, acls) = self.b.read_body(node)?;
        self.check_seal("the tree")?;
        let (digest, last_processed_zxid) = self.trailer()?;
        Ok(Snapshot {
            sessions,
            acls,
            nodes: Vec::new(),
            digest,
            last_processed_zxid,
        })
    }

    /// `SnapStream.checkSealIntegrity`.
    fn check_seal(&mut self, what: &str) -> Result<(), StorageError> {
        let expected = self.b.r.checksum();
        let at = self.b.r.pos();
        let found = self.b.i64()?;
        let _slash = self.b.string()?;
        if found != expected {
            return Err(StorageError::corrupt(
                self.path,
                at,
                format!("checksum of {what} is {expected:#x}, the file says {found:#x}"),
            ));
        }
        Ok(())
    }

    /// The optional digest and lastProcessedZxid sections (see the module doc).
    fn trailer(&mut self) -> Result<(Option<ZxidDigest>, Option<i64>), StorageError> {
        let base = self.b.r.pos();
        let mut sum = self.b.r.hasher();
        let mut rest = Vec::new();
        (&mut self.b.r)
            .take(TRAILER_MAX)
            .read_to_end(&mut rest)
            .map_err(StorageError::io(self.path))?;
        let t = Trailer {
            path: self.path,
            base,
            rest: &rest,
        };
        if rest.len() == 21 {
            let mut probe = sum;
            if let Ok(Some(z)) = t.last_zxid(&mut probe, 0) {
                return Ok((None, Some(z.0)));
            }
        }
        let Some((digest, at)) = t.digest(&mut sum)? else {
            return Ok((None, None));
        };
        Ok((Some(digest), t.last_zxid(&mut sum, at)?.map(|(z, _)| z)))
    }
}

/// The bytes after the tree's seal, parsed with ZooKeeper's EOF rules.
struct Trailer<'a> {
    path: &'a Path,
    base: u64,
    rest: &'a [u8],
}

impl Trailer<'_> {
    /// A digest section at the start; `None` if the bytes end inside it.
    fn digest(
        &self,
        sum: &mut adler2::Adler32,
    ) -> Result<Option<(ZxidDigest, usize)>, StorageError> {
        let mut r = Reader::new(self.rest);
        let parsed = (|| {
            let zxid = r.read_i64()?;
            let version = r.read_i32()?;
            let digest = if version < 2 {
                Err(r.read_string()?)
            } else {
                Ok(r.read_i64()?)
            };
            Ok::<_, zooid_proto::DecodeError>((zxid, version, digest))
        })();
        let Ok((zxid, version, digest)) = parsed else {
            return Ok(None);
        };
        let digest = match digest {
            Ok(d) => d,
            // Older digests are hex strings (`Long.parseLong(d, 16)`).
            Err(hex) => i64::from_str_radix(&hex, 16).map_err(|_| {
                StorageError::corrupt(self.path, self.base, format!("bad hex digest {hex:?}"))
            })?,
        };
        let end = r.position();
        let at = self.seal(sum, 0, end)?;
        Ok(Some((
            ZxidDigest {
                zxid,
                version,
                digest,
            },
            at,
        )))
    }

    /// A lastProcessedZxid section at `at`; `None` if fewer than 8 bytes remain.
    fn last_zxid(
        &self,
        sum: &mut adler2::Adler32,
        at: usize,
    ) -> Result<Option<(i64, usize)>, StorageError> {
        let Some(b) = self.rest.get(at..at + 8) else {
            return Ok(None);
        };
        let zxid = i64::from_be_bytes(b.try_into().expect("8 bytes"));
        let end = self.seal(sum, at, at + 8)?;
        Ok(Some((zxid, end)))
    }

    /// Checks the seal after the section `rest[from..to]`; returns where the seal ends.
    fn seal(
        &self,
        sum: &mut adler2::Adler32,
        from: usize,
        to: usize,
    ) -> Result<usize, StorageError> {
        sum.write_slice(&self.rest[from..to]);
        let expected = i64::from(sum.checksum());
        let mut r = Reader::new(&self.rest[to..]);
        let offset = self.base + to as u64;
        let found = r.read_i64().and_then(|v| r.read_buffer_slice().map(|_| v));
        let found = found.map_err(|_| {
            StorageError::corrupt(self.path, offset, "a snapshot section without its checksum")
        })?;
        if found != expected {
            return Err(StorageError::corrupt(
                self.path,
                offset,
                format!("section checksum is {expected:#x}, the file says {found:#x}"),
            ));
        }
        sum.write_slice(&self.rest[to..to + r.position()]);
        Ok(to + r.position())
    }
}

// ------------------------------------------------------------------------- choosing

/// `SnapStream.isValidSnapshot`: a quick look that does not read the whole file. An
/// uncompressed snapshot must end with a seal's `int 1, '/'`; a gzip one must start with
/// the gzip magic, a snappy one with snappy-java's.
pub fn looks_valid(path: &Path) -> bool {
    if snapshot_zxid(path).is_none() {
        return false;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let check = || -> io::Result<bool> {
        let mut f = File::open(path)?;
        Ok(match Compression::of_name(name) {
            Compression::Gzip => {
                let mut b = [0u8; 2];
                f.read_exact(&mut b)?;
                b == [0x1f, 0x8b]
            }
            Compression::Snappy => {
                let mut b = [0u8; 8];
                f.read_exact(&mut b)?;
                b == SNAPPY_MAGIC
            }
            Compression::None => {
                let len = f.metadata()?.len();
                if len < 10 {
                    return Ok(false);
                }
                let mut b = [0u8; 5];
                std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, len - 5)?;
                b == [0, 0, 0, 1, b'/']
            }
        })
    };
    check().unwrap_or(false)
}

/// `FileSnap.findNValidSnapshots`: up to `n` snapshots that look valid, newest first.
pub fn find_valid_snapshots(dir: &Path, n: usize) -> Result<Vec<(i64, PathBuf)>, StorageError> {
    let mut all = files::list(dir, SNAPSHOT_PREFIX)?;
    all.reverse();
    Ok(all
        .into_iter()
        .filter(|(_, p)| looks_valid(p))
        .take(n)
        .collect())
}

/// A snapshot chosen for recovery.
#[derive(Debug)]
pub struct Loaded {
    pub zxid: i64,
    pub path: PathBuf,
    pub snapshot: Snapshot,
    /// Newer snapshots that looked valid but failed to read, with why.
    pub skipped: Vec<(PathBuf, StorageError)>,
}

/// `FileSnap.deserialize`: of the newest 100 snapshots that look valid, the newest that
/// reads without error. `Ok(None)` when there is no snapshot at all; an error when there
/// are some but none reads (ZooKeeper: "Not able to find valid snapshots").
pub fn load_newest(dir: &Path) -> Result<Option<Loaded>, StorageError> {
    let candidates = find_valid_snapshots(dir, 100)?;
    if candidates.is_empty() {
        return Ok(None);
    }
    let mut skipped = Vec::new();
    for (zxid, path) in candidates {
        match read_snapshot(&path) {
            Ok(snapshot) => {
                return Ok(Some(Loaded {
                    zxid,
                    path,
                    snapshot,
                    skipped,
                }))
            }
            Err(e) => skipped.push((path, e)),
        }
    }
    let (path, last) = skipped.pop().expect("at least one candidate");
    Err(StorageError::Invalid(format!(
        "no valid snapshot in {}: the oldest candidate {} failed with: {last}",
        dir.display(),
        path.display()
    )))
}

#[cfg(test)]
mod tests;
