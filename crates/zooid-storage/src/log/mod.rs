//! The txn log, in ZooKeeper's `FileTxnLog` format.
//!
//! Files live in `<dataLogDir>/version-2/` and are named `log.<zxid hex>` after the
//! first txn they hold. Grammar of one file (jute encoding, big-endian):
//!
//! ```text
//! file       = FileHeader record* padding
//! FileHeader = int magic    ; "ZKLG" read as an int, 0x5a4b4c47
//!              int version  ; 2
//!              long dbid    ; 0
//! record     = long checksum ; Adler32 of `entry`, an unsigned 32-bit value in a long
//!              int len       ; > 0, the length of `entry`
//!              byte[len] entry
//!              byte 0x42     ; 'B', end of record
//! entry      = TxnHeader     ; clientId, cxid, zxid, time, type
//!              txn?          ; the record chosen by TxnHeader.type; an old closeSession
//!                            ; (before CloseSessionTxn existed) has none
//!              TxnDigest?    ; int version, long treeDigest (ZooKeeper 3.6+, digest on)
//! padding    = zero bytes    ; preallocated in `preAllocSize` steps; a record with
//!                            ; checksum 0 and len 0 (or the end of the file) ends the log
//! ```
//!
//! Sources: `FileTxnLog.append`/`FileTxnIterator.next`, `Util.readTxnBytes`/
//! `writeTxnBytes`/`marshallTxnEntry`, `SerializeUtils.deserializeTxn`, `FilePadding`.
//!
//! Ending rules (ours; ZooKeeper treats every short or unterminated record as the end of
//! that file and every bad checksum as fatal): the valid data of a file ends at the first
//! record that is incomplete, unterminated or fails its checksum. If only zeros follow,
//! the file ended cleanly. Otherwise, if a valid record can still be found after it, the
//! damage is corruption ([`StorageError::Corrupt`]: a crash does not damage fsynced data
//! in the middle of a file); if none can, it is a torn tail (a write the crash cut
//! short), which [`TxnLogReader`] reports as a [`Tail`] for the last file and skips, as
//! ZooKeeper does, in earlier ones.

mod read;
mod write;

pub use read::{
    estimate_txns_after, log_files, read_from, truncate_after, FileEnd, LogFile, LogRecord,
    TxnLogReader,
};
pub use write::TxnLogWriter;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use zooid_proto::opcode::op;
use zooid_proto::{
    Acl, CloseSessionTxn, CreateTxn, DecodeError, JuteWrite, Reader, Record, TxnDigest, TxnHeader,
};
use zooid_tree::{Txn, TxnBody};

use crate::files;
use crate::StorageError;

/// `FileTxnLog.TXNLOG_MAGIC`.
pub const TXNLOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
/// `FileTxnLog.VERSION`.
pub const TXNLOG_VERSION: i32 = 2;
/// The dbid every ZooKeeper log file carries.
pub const TXNLOG_DBID: i64 = 0;
/// Bytes of the `FileHeader`.
pub const HEADER_LEN: u64 = 16;
/// `FilePadding`'s default `preAllocSize` (`zookeeper.preAllocSize` = 65536 KiB).
pub const DEFAULT_PRE_ALLOC: u64 = 64 * 1024 * 1024;
/// Checksum (8) + length (4) in front of an entry.
const RECORD_PREFIX: u64 = 12;
/// The end-of-record byte, `'B'`.
const EOR: u8 = 0x42;

/// One txn as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub txn: Txn,
    /// The tree digest after this txn, when the writer recorded one (ZooKeeper 3.6+ with
    /// `zookeeper.digest.enabled`, the default). Optional for ZooKeeper's reader too.
    pub digest: Option<TxnDigest>,
}

/// The torn end of the last log file: everything from `offset` on is a write that a
/// crash cut short. Truncate it with [`truncate_tail`] before appending again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub file: PathBuf,
    pub offset: u64,
    pub reason: String,
}

/// Removes a torn tail: the file is cut at `tail.offset` and synced. A file left with
/// no record (the offset is inside or right after the header) is removed instead, as
/// ZooKeeper removes an empty last log file: it holds nothing and a header-less file
/// would stop ZooKeeper from starting.
pub fn truncate_tail(tail: &Tail) -> Result<(), StorageError> {
    cut(&tail.file, tail.offset)
}

/// Cuts `file` at `offset` (removing it when no record would remain) and syncs.
pub(crate) fn cut(file: &Path, offset: u64) -> Result<(), StorageError> {
    if offset <= HEADER_LEN {
        fs::remove_file(file).map_err(StorageError::io(file))?;
        if let Some(dir) = file.parent() {
            files::sync_dir(dir)?;
        }
        return Ok(());
    }
    let f = OpenOptions::new()
        .write(true)
        .open(file)
        .map_err(StorageError::io(file))?;
    f.set_len(offset).map_err(StorageError::io(file))?;
    f.sync_all().map_err(StorageError::io(file))
}

/// The entry bytes of a record: header, txn record, optional digest
/// (`Util.marshallTxnEntry`).
pub fn encode_entry(txn: &Txn, digest: Option<&TxnDigest>, out: &mut Vec<u8>) {
    txn.encode(out);
    if let Some(d) = digest {
        d.encode(out);
    }
}

/// Appends a whole record (checksum, length, entry, `'B'`) for `entry` to `out`.
pub(crate) fn frame_record(entry: &[u8], out: &mut Vec<u8>) {
    out.write_i64(i64::from(adler2::adler32_slice(entry)));
    out.write_i32(entry.len() as i32);
    out.extend_from_slice(entry);
    out.push(EOR);
}

/// `SerializeUtils.deserializeTxn`: the txn types ZooKeeper accepts at the top level.
fn is_log_txn_type(t: i32) -> bool {
    matches!(
        t,
        op::CREATE_SESSION
            | op::CLOSE_SESSION
            | op::CREATE
            | op::CREATE2
            | op::CREATE_TTL
            | op::CREATE_CONTAINER
            | op::DELETE
            | op::DELETE_CONTAINER
            | op::RECONFIG
            | op::SET_DATA
            | op::SET_ACL
            | op::ERROR
            | op::MULTI
    )
}

/// Decodes an entry (`SerializeUtils.deserializeTxn`), with ZooKeeper's allowances:
/// - a closeSession with no body (logs older than CloseSessionTxn) becomes an empty
///   `CloseSessionTxn`: applying it kills the session's ephemerals from the tree's own
///   index, which is what ZooKeeper's `killSession(sessionId, zxid)` does for it;
/// - a create too short for `parentCVersion` is a `CreateTxnV0` and gets
///   `parent_c_version = -1`, as ZooKeeper sets it;
/// - a `TxnDigest` may follow; fewer bytes than one are ignored, as ZooKeeper's EOF
///   handling ignores them, and so is anything after it.
pub fn decode_entry(bytes: &[u8]) -> Result<LogEntry, String> {
    let mut r = Reader::new(bytes);
    let hdr = TxnHeader::decode(&mut r).map_err(|e| format!("txn header: {e}"))?;
    if !is_log_txn_type(hdr.op) {
        return Err(format!("unsupported txn type {}", hdr.op));
    }
    let body = decode_body(&hdr, &mut r)
        .map_err(|e| format!("txn type {} at zxid {:#x}: {e}", hdr.op, hdr.zxid))?;
    let digest = if r.remaining() >= 12 {
        Some(TxnDigest::decode(&mut r).map_err(|e| format!("txn digest: {e}"))?)
    } else {
        None
    };
    Ok(LogEntry {
        txn: Txn { hdr, body },
        digest,
    })
}

fn decode_body(hdr: &TxnHeader, r: &mut Reader<'_>) -> Result<TxnBody, DecodeError> {
    if hdr.op == op::CLOSE_SESSION && r.remaining() == 0 {
        return Ok(TxnBody::CloseSession(CloseSessionTxn::default()));
    }
    if hdr.op == op::CREATE {
        let mut probe = r.clone();
        return match CreateTxn::decode(&mut probe) {
            Ok(t) => {
                *r = probe;
                Ok(TxnBody::Create(t))
            }
            Err(DecodeError::Truncated { .. }) => decode_create_v0(r),
            Err(e) => Err(e),
        };
    }
    TxnBody::decode(hdr.op, r)
}

/// `CreateTxnV0`: path, data, acl, ephemeral; no parentCVersion.
fn decode_create_v0(r: &mut Reader<'_>) -> Result<TxnBody, DecodeError> {
    let path = r.read_string()?;
    let data = r.read_buffer()?;
    let acl = r.read_vec(12, Acl::decode)?;
    let ephemeral = r.read_bool()?;
    Ok(TxnBody::Create(CreateTxn {
        path,
        data,
        acl,
        ephemeral,
        parent_c_version: -1,
    }))
}

#[cfg(test)]
mod tests;
