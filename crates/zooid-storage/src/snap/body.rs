//! The part of a snapshot that a snapshot file and the stream a leader sends a learner
//! after SNAP have in common (`SerializeUtils.serializeSnapshot`): sessions, the ACL
//! table, every node, the end marker. One reader and one writer serve both.
//!
//! ```text
//! body      = sessions tree
//! sessions  = int count (long sessionId int timeoutMs){count}
//! tree      = acls node* string "/"            ; DataTree.serialize
//! acls      = int count (long index vector<ACL>){count}  ; ReferenceCountedACLCache
//! node      = string path DataNode             ; depth-first from the root, whose path
//!                                              ; is ""; a parent before its children
//! DataNode  = buffer data long aclIndex StatPersisted
//! ```
//!
//! Counts and lengths of -1 (jute's null) read as 0; other negative ones are corruption.

use std::io::{self, Read};
use std::path::Path;

use bytes::Bytes;
use zooid_proto::{Acl, JuteWrite, Record, StatPersisted};

use super::stream::Checked;
use super::SnapNode;
use crate::StorageError;

/// Bytes of a `StatPersisted`.
const STAT_LEN: usize = 60;
/// Bytes of one session entry (`long id`, `int timeout`).
const SESSION_LEN: u64 = 12;
/// The fewest bytes an ACL table entry takes (`long index`, an empty vector).
const ACL_ENTRY_LEN_MIN: u64 = 12;
/// The fewest bytes one ACL takes (`int perms`, two empty strings).
const ACL_LEN_MIN: u64 = 12;
/// Entries reserved ahead at most, however many a count announces: a lying count of a
/// stream whose length is unknown (a compressed file) costs no more than this.
const RESERVE_MAX: usize = 4096;

/// Whence the body comes, for errors.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin<'a> {
    File(&'a Path),
    /// A byte stream that is no file, named for the operator.
    Stream(&'static str),
}

impl Origin<'_> {
    pub(super) fn corrupt(self, offset: u64, reason: impl Into<String>) -> StorageError {
        match self {
            Origin::File(path) => StorageError::corrupt(path, offset, reason),
            Origin::Stream(stream) => StorageError::CorruptStream {
                stream,
                offset,
                reason: reason.into(),
            },
        }
    }

    pub(super) fn io(self, offset: u64, e: io::Error) -> StorageError {
        match self {
            Origin::File(path) => StorageError::io(path)(e),
            Origin::Stream(_) => self.corrupt(offset, e.to_string()),
        }
    }
}

/// Sessions and ACL table of a body; its nodes went to the caller one by one.
pub(super) type BodyHead = (Vec<(i64, i32)>, Vec<(i64, Vec<Acl>)>);

// ---------------------------------------------------------------------------- writing

/// Appends `sessions`, `acls`, every node and the end marker to `buf`, calling `drain`
/// whenever `buf` holds 64 KiB or more (a file writer empties it there; a caller
/// building the whole body in memory passes a `drain` that does nothing). `nodes` must
/// come depth-first from the root (`""`), as `DataTree::walk` yields them; anything else
/// is refused, since no reader could rebuild the tree from it.
pub(super) fn write_body(
    buf: &mut Vec<u8>,
    sessions: &[(i64, i32)],
    acls: &[(i64, Vec<Acl>)],
    nodes: impl IntoIterator<Item = SnapNode>,
    drain: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    buf.write_i32(sessions.len() as i32);
    for (id, timeout) in sessions {
        buf.write_i64(*id);
        buf.write_i32(*timeout);
    }
    buf.write_i32(acls.len() as i32);
    for (index, list) in acls {
        buf.write_i64(*index);
        buf.write_vec(list, |w, a| a.encode(w));
    }
    let mut order = DepthFirst::default();
    for n in nodes {
        order.check(&n.path)?;
        buf.write_string(&n.path);
        buf.write_buffer(&n.data);
        buf.write_i64(n.acl);
        n.stat.encode(buf);
        if buf.len() >= 64 * 1024 {
            drain(buf)?;
        }
    }
    if !order.saw_root {
        return Err(StorageError::Invalid(
            "a snapshot needs the root node".into(),
        ));
    }
    buf.write_string("/");
    Ok(())
}

/// Checks that paths come depth-first from the root with O(depth) memory: each node's
/// parent must be on the stack of the current node's ancestors.
#[derive(Default)]
struct DepthFirst {
    stack: Vec<String>,
    saw_root: bool,
}

impl DepthFirst {
    fn check(&mut self, path: &str) -> Result<(), StorageError> {
        if !self.saw_root {
            if !path.is_empty() {
                return Err(StorageError::Invalid(format!(
                    "the first snapshot node must be the root \"\", not {path:?}"
                )));
            }
            self.saw_root = true;
            self.stack.push(String::new());
            return Ok(());
        }
        let parent = match path.rfind('/') {
            Some(i) if path.len() > 1 && !path.ends_with('/') => &path[..i],
            _ => return Err(StorageError::Invalid(format!("bad snapshot path {path:?}"))),
        };
        while self.stack.last().is_some_and(|top| top != parent) {
            self.stack.pop();
        }
        if self.stack.is_empty() {
            return Err(StorageError::Invalid(format!(
                "snapshot node {path:?} does not follow its parent depth-first"
            )));
        }
        self.stack.push(path.to_owned());
        Ok(())
    }
}

// ---------------------------------------------------------------------------- reading

/// Reads a body from a checked byte stream. Lengths inside it are never trusted for
/// allocation: buffers grow as bytes actually arrive, and reservations are capped by
/// what could still follow.
pub(super) struct BodyReader<'a, R> {
    pub(super) origin: Origin<'a>,
    pub(super) r: Checked<R>,
    /// The length of the whole stream when it is known (`u64::MAX` when not).
    len: u64,
}

impl<'a, R: Read> BodyReader<'a, R> {
    pub(super) fn new(origin: Origin<'a>, r: Checked<R>, len: Option<u64>) -> Self {
        BodyReader {
            origin,
            r,
            len: len.unwrap_or(u64::MAX),
        }
    }

    /// Reads sessions, ACL table and nodes up to and including the end marker, handing
    /// each node to `node` as it is decoded. Parent order is not checked here.
    pub(super) fn read_body(
        &mut self,
        node: &mut dyn FnMut(SnapNode),
    ) -> Result<BodyHead, StorageError> {
        let count = self.count("session count")?;
        let mut sessions = Vec::with_capacity(self.reserve(count, SESSION_LEN));
        for _ in 0..count {
            sessions.push((self.i64()?, self.i32()?));
        }
        let count = self.count("ACL table size")?;
        let mut acls = Vec::with_capacity(self.reserve(count, ACL_ENTRY_LEN_MIN));
        for _ in 0..count {
            let index = self.i64()?;
            let n = self.count("ACL list length")?;
            let mut list = Vec::with_capacity(self.reserve(n, ACL_LEN_MIN).min(64));
            for _ in 0..n {
                let perms = self.i32()?;
                let scheme = self.string()?;
                let id = self.string()?;
                list.push(Acl::new(perms, &scheme, &id));
            }
            acls.push((index, list));
        }
        loop {
            let path = self.string()?;
            if path == "/" {
                break;
            }
            let data = Bytes::from(self.buffer()?);
            let acl = self.i64()?;
            let mut stat = [0u8; STAT_LEN];
            self.exact(&mut stat)?;
            let stat = StatPersisted::from_bytes(&stat).expect("60 bytes hold a StatPersisted");
            node(SnapNode {
                path,
                data,
                acl,
                stat,
            });
        }
        Ok((sessions, acls))
    }

    /// How many of `count` items of at least `item_len` bytes to reserve room for.
    fn reserve(&self, count: usize, item_len: u64) -> usize {
        let left = self.len.saturating_sub(self.r.pos()) / item_len;
        count
            .min(RESERVE_MAX)
            .min(usize::try_from(left).unwrap_or(usize::MAX))
    }

    pub(super) fn corrupt(&self, reason: impl Into<String>) -> StorageError {
        self.origin.corrupt(self.r.pos(), reason)
    }

    fn read_error(&self, at: u64, e: io::Error) -> StorageError {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => self.origin.corrupt(at, "the snapshot ends early"),
            io::ErrorKind::InvalidData => self.origin.corrupt(at, e.to_string()),
            _ => self.origin.io(at, e),
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), StorageError> {
        let at = self.r.pos();
        self.r.read_exact(buf).map_err(|e| self.read_error(at, e))
    }

    pub(super) fn i32(&mut self) -> Result<i32, StorageError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(i32::from_be_bytes(b))
    }

    pub(super) fn i64(&mut self) -> Result<i64, StorageError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(i64::from_be_bytes(b))
    }

    /// A count or length: -1 (null) is 0, other negatives are corruption.
    fn count(&mut self, what: &str) -> Result<usize, StorageError> {
        match self.i32()? {
            -1 => Ok(0),
            n if n < 0 => Err(self.corrupt(format!("negative {what} {n}"))),
            n => Ok(n as usize),
        }
    }

    fn buffer(&mut self) -> Result<Vec<u8>, StorageError> {
        let n = self.count("buffer length")?;
        let at = self.r.pos();
        self.r.read_vec(n).map_err(|e| match e.kind() {
            // Where the bytes ran out, after what of the buffer there was.
            io::ErrorKind::UnexpectedEof => self.corrupt("the snapshot ends early"),
            _ => self.read_error(at, e),
        })
    }

    /// Java's `new String(bytes, UTF_8)`: malformed UTF-8 becomes U+FFFD.
    pub(super) fn string(&mut self) -> Result<String, StorageError> {
        let v = self.buffer()?;
        Ok(match String::from_utf8(v) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

/// `DataTree.deserialize`'s rule: every node but the root has its parent before it.
pub(super) fn check_parents(origin: Origin<'_>, nodes: &[SnapNode]) -> Result<(), StorageError> {
    let mut seen = std::collections::HashSet::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        let ok = match n.path.rfind('/') {
            None => n.path.is_empty(),
            Some(slash) => seen.contains(&n.path[..slash]),
        };
        if !ok {
            return Err(origin.corrupt(
                0,
                format!("node #{i} {:?}: its parent is not before it", n.path),
            ));
        }
        seen.insert(n.path.as_str());
    }
    if !seen.contains("") {
        return Err(origin.corrupt(0, "the snapshot has no root node"));
    }
    Ok(())
}
