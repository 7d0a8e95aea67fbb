//! The snapshot stream a leader sends right after a SNAP packet, found in the byte stream
//! by walking its structure (it has no length prefix).
//!
//! Grammar (`LearnerHandler.syncFollower`: `ZKDatabase.serializeSnapshot`, which is
//! `SerializeUtils.serializeSnapshot`, then `writeString("BenWasHere")`; jute binary,
//! big-endian):
//! ```text
//! stream   = sessions acls nodes signature
//! sessions = int count, count × (long id, int timeout)        (count ≤ 0: none)
//! acls     = int count, count × (long index, vector<ACL>)      (count ≤ 0: none)
//! ACL      = int perms, ustring scheme, ustring id
//! nodes    = (ustring path ≠ "/", node)*, ustring "/"           (the root's path is "")
//! node     = buffer data, long acl, StatPersisted (60 bytes)
//! signature = ustring "BenWasHere"
//! ```
//! Unlike a snapshot file, the stream carries no digest and no checksum: 3.8's
//! `ZKDatabase.serializeSnapshot` writes only the above, and `Learner.syncWithLeader`
//! reads only that. `Packet::Snap::data` is everything before the signature.
//!
//! Lengths follow `BinaryInputArchive`: -1 is null (refused for a path, which Java cannot
//! store), a vector of -1 is refused (`DataTree` throws "missing acls"), any other negative
//! count is empty, and strings and buffers are capped like `jute.maxbuffer`.

/// `LearnerHandler`'s end-of-snapshot marker.
pub const SIGNATURE: &str = "BenWasHere";

/// `StatPersisted`: czxid, mzxid, ctime, mtime (longs), version, cversion, aversion
/// (ints), ephemeralOwner, pzxid (longs).
const STAT_PERSISTED_LEN: usize = 4 * 8 + 3 * 4 + 2 * 8;

/// Why a snapshot stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapError {
    #[error("unreasonable length {len} at offset {offset}")]
    Length { offset: usize, len: i32 },
    #[error("null {what} at offset {offset}")]
    Null { what: &'static str, offset: usize },
    #[error("snapshot stream longer than {max} bytes")]
    TooLarge { max: usize },
    #[error("missing signature: got {0:?}")]
    Signature(String),
}

/// How far [`SnapScanner::advance`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Read more bytes and call again with the grown buffer.
    NeedMore,
    /// The snapshot is `buf[..data_len]`; the signature ends at `total_len`.
    Done { data_len: usize, total_len: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SessionCount,
    Sessions { left: u32 },
    AclCount,
    AclIndex { maps_left: u32 },
    Acls { maps_left: u32, acls_left: u32 },
    Path,
    Node,
    Signature,
}

/// Walks a snapshot stream that grows at the end, remembering where it got to, so each
/// byte is looked at once however the stream arrives.
#[derive(Debug, Clone)]
pub struct SnapScanner {
    pos: usize,
    state: State,
    /// The longest string or buffer (`jute.maxbuffer` plus its extra size).
    field_len_max: usize,
    /// The longest stream accepted: the whole snapshot is held in memory.
    stream_len_max: usize,
}

impl SnapScanner {
    pub fn new(field_len_max: usize, stream_len_max: usize) -> SnapScanner {
        SnapScanner {
            pos: 0,
            state: State::SessionCount,
            field_len_max,
            stream_len_max,
        }
    }

    /// Walks `buf` (the stream from its first byte, possibly more after it) as far as
    /// it is complete.
    pub fn advance(&mut self, buf: &[u8]) -> Result<Scan, SnapError> {
        loop {
            let step = self.step(buf)?;
            match step {
                Step::More(need) => {
                    if self.pos.saturating_add(need) > self.stream_len_max {
                        return Err(SnapError::TooLarge {
                            max: self.stream_len_max,
                        });
                    }
                    return Ok(Scan::NeedMore);
                }
                Step::Next(state, len) => {
                    self.pos += len;
                    self.state = state;
                }
                Step::Done(len) => {
                    return Ok(Scan::Done {
                        data_len: self.pos,
                        total_len: self.pos + len,
                    })
                }
            }
        }
    }

    /// Reads one item at `pos`, without moving.
    fn step(&self, buf: &[u8]) -> Result<Step, SnapError> {
        let at = Cursor {
            buf,
            pos: self.pos,
            field_len_max: self.field_len_max,
        };
        Ok(match self.state {
            State::SessionCount => match at.int(0) {
                None => Step::More(4),
                Some(n) => Step::Next(Self::sessions(n.max(0) as u32), 4),
            },
            State::Sessions { left } => match at.get(12) {
                None => Step::More(12),
                Some(_) => Step::Next(Self::sessions(left - 1), 12),
            },
            State::AclCount => match at.int(0) {
                None => Step::More(4),
                Some(n) => Step::Next(Self::acl_maps(n.max(0) as u32), 4),
            },
            State::AclIndex { maps_left } => match at.int(8) {
                None => Step::More(12),
                Some(-1) => {
                    return Err(SnapError::Null {
                        what: "ACL vector",
                        offset: self.pos + 8,
                    })
                }
                Some(n) => Step::Next(Self::acls(maps_left, n.max(0) as u32), 12),
            },
            State::Acls {
                maps_left,
                acls_left,
            } => {
                // perms, then the Id's two strings (null allowed: Java stores them).
                let Some(scheme) = at.string(4, true)? else {
                    return Ok(Step::More(8));
                };
                match at.string(4 + scheme, true)? {
                    None => Step::More(4 + scheme + 4),
                    Some(id) => Step::Next(Self::acls(maps_left, acls_left - 1), 4 + scheme + id),
                }
            }
            State::Path => match at.string(0, false)? {
                None => Step::More(4),
                Some(5) if at.get(5) == Some(b"\0\0\0\x01/") => Step::Next(State::Signature, 5),
                Some(len) => Step::Next(State::Node, len),
            },
            State::Node => match at.string(0, true)? {
                None => Step::More(4),
                Some(data) => match at.get(data + 8 + STAT_PERSISTED_LEN) {
                    None => Step::More(data + 8 + STAT_PERSISTED_LEN),
                    Some(_) => Step::Next(State::Path, data + 8 + STAT_PERSISTED_LEN),
                },
            },
            State::Signature => match at.string(0, true)? {
                None => Step::More(4),
                Some(len) => {
                    let text = at.get(len).map(|b| &b[4..]).unwrap_or_default();
                    if text != SIGNATURE.as_bytes() {
                        let got = String::from_utf8_lossy(text).into_owned();
                        return Err(SnapError::Signature(got));
                    }
                    Step::Done(len)
                }
            },
        })
    }

    fn sessions(left: u32) -> State {
        match left {
            0 => State::AclCount,
            left => State::Sessions { left },
        }
    }

    fn acl_maps(maps_left: u32) -> State {
        match maps_left {
            0 => State::Path,
            maps_left => State::AclIndex { maps_left },
        }
    }

    fn acls(maps_left: u32, acls_left: u32) -> State {
        match acls_left {
            0 => Self::acl_maps(maps_left - 1),
            acls_left => State::Acls {
                maps_left,
                acls_left,
            },
        }
    }
}

enum Step {
    /// At least this many bytes from `pos` are needed.
    More(usize),
    /// Move on to the state, past this many bytes.
    Next(State, usize),
    /// The signature, this long, ends the stream.
    Done(usize),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    field_len_max: usize,
}

impl Cursor<'_> {
    fn get(&self, len: usize) -> Option<&[u8]> {
        self.buf.get(self.pos..self.pos.checked_add(len)?)
    }

    fn int(&self, off: usize) -> Option<i32> {
        let b = self.get(off + 4)?;
        Some(i32::from_be_bytes(b[off..].try_into().ok()?))
    }

    /// The length, prefix included, of the string or buffer at `off` once all of it is
    /// in the buffer (`None` until then).
    fn string(&self, off: usize, null_ok: bool) -> Result<Option<usize>, SnapError> {
        let Some(len) = self.int(off) else {
            return Ok(None);
        };
        let offset = self.pos + off;
        if len == -1 {
            if null_ok {
                return Ok(Some(4));
            }
            return Err(SnapError::Null {
                what: "path",
                offset,
            });
        }
        if len < 0 || len as usize > self.field_len_max {
            return Err(SnapError::Length { offset, len });
        }
        let total = 4 + len as usize;
        Ok(self.get(off + total).map(|_| total))
    }
}
