//! The snapshot a leader sends a learner after a SNAP packet.
//!
//! `LearnerHandler.syncFollower` calls `ZKDatabase.serializeSnapshot`, which is
//! `SerializeUtils.serializeSnapshot`: the session table, then `DataTree.serialize`. Then
//! it writes the string "BenWasHere", which the quorum transport checks and strips
//! (`Packet::Snap::data` is everything before it). ZooKeeper 3.8 and 3.9 send no file
//! header, no checksums and no digest here; the learner takes the zxid from the SNAP
//! packet (`Learner.syncWithLeader`). So the stream is exactly a snapshot file's body:
//!
//! ```text
//! sync      = sessions tree                    ; nothing may follow
//! sessions  = int count (long sessionId int timeoutMs){count}
//! tree      = acls node* string "/"
//! acls      = int count (long index vector<ACL>){count}
//! node      = string path buffer data long aclIndex StatPersisted
//! ```
//!
//! and is read and written by the same code as the file's (`body.rs`). The bytes come
//! from the network: they never make us panic, and never make us allocate more than
//! they hold.

use zooid_proto::Acl;

use super::body::{self, BodyReader, Origin};
use super::stream::Checked;
use super::SnapNode;
use crate::StorageError;

/// How errors name the stream.
const ORIGIN: Origin<'static> = Origin::Stream("snapshot from the leader");
/// The reader's buffer at most: a copy of the input, so no larger than the input either.
const READ_BUFFER_MAX: usize = 64 * 1024;

/// A decoded sync snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSnapshot {
    /// (session id, timeout ms), in stream order (the leader's `HashMap` order).
    pub sessions: Vec<(i64, i32)>,
    /// (ACL index, list), in stream order.
    pub acls: Vec<(i64, Vec<Acl>)>,
    /// Depth-first, parents before children, the root (`""`) first.
    pub nodes: Vec<SnapNode>,
}

/// Appends the sync snapshot of `sessions`, `acls` and `nodes` to `out`. `nodes` must
/// come depth-first from the root (`""`), as `DataTree::walk` yields them; anything
/// else is refused and `out` is left as it was.
pub fn encode_sync_snapshot(
    sessions: &[(i64, i32)],
    acls: &[(i64, Vec<Acl>)],
    nodes: impl IntoIterator<Item = SnapNode>,
    out: &mut Vec<u8>,
) -> Result<(), StorageError> {
    let start = out.len();
    let r = body::write_body(out, sessions, acls, nodes, &mut |_| Ok(()));
    if r.is_err() {
        out.truncate(start);
    }
    r
}

/// Decodes a whole sync snapshot and checks that every node's parent came before it.
pub fn decode_sync_snapshot(bytes: &[u8]) -> Result<SyncSnapshot, StorageError> {
    let mut nodes = Vec::new();
    let mut snap = read_sync_snapshot(bytes, &mut |n| nodes.push(n))?;
    body::check_parents(ORIGIN, &nodes)?;
    snap.nodes = nodes;
    Ok(snap)
}

/// Decodes a sync snapshot handing each node to `node` as it is decoded, so a caller can
/// build its tree without holding every node twice; the returned `SyncSnapshot` has no
/// nodes. Parent order is not checked here (the caller's builder does). On an error the
/// caller must drop what it built.
pub fn read_sync_snapshot(
    bytes: &[u8],
    node: &mut dyn FnMut(SnapNode),
) -> Result<SyncSnapshot, StorageError> {
    let len = bytes.len();
    let r = Checked::with_capacity(len.min(READ_BUFFER_MAX), bytes);
    let mut r = BodyReader::new(ORIGIN, r, Some(len as u64));
    let (sessions, acls) = r.read_body(node)?;
    // The reader consumed exactly `pos` bytes of the slice.
    let end = r.r.pos();
    if end != len as u64 {
        return Err(r.corrupt(format!(
            "{} bytes follow the end of the tree",
            len as u64 - end
        )));
    }
    Ok(SyncSnapshot {
        sessions,
        acls,
        nodes: Vec::new(),
    })
}
