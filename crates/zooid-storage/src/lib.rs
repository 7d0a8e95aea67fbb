//! zooid-storage: durability in Apache ZooKeeper's own on-disk formats, so a data
//! directory moves between ZooKeeper and Zooid in both directions.
//!
//! - [`log`]: the txn log (`version-2/log.<zxid>`): group-commit writer, reader that
//!   finds the end of the valid data and tells a torn tail from corruption, truncation.
//! - [`snap`]: snapshots (`version-2/snapshot.<zxid>[.gz|.snappy]`): atomic writer,
//!   checksum-validating reader, the choice of the newest valid ones.
//!   The same body without header and checksums is the snapshot a leader sends a
//!   learner after SNAP ([`snap::sync`]).
//! - [`purge`]: `PurgeTxnLog`: keep the newest N snapshots and the logs they need.
//! - [`epoch`]: `currentEpoch` / `acceptedEpoch`, written atomically and durably.
//! - [`dump`]: human-readable and JSON dumps of a log file or a snapshot.
//!
//! Everything here is blocking `std::fs` IO: the server calls it from a dedicated thread.
//! Bytes read from disk never panic and never make us allocate more than the file backs.
#![deny(clippy::disallowed_methods)]

pub mod dump;
pub mod epoch;
mod error;
pub mod files;
pub mod log;
pub mod purge;
pub mod snap;

pub use epoch::{load_epochs, read_epoch, write_epoch, Epochs, ACCEPTED_EPOCH, CURRENT_EPOCH};
pub use error::StorageError;
pub use files::version_dir;
pub use log::{
    estimate_txns_after, read_from, truncate_tail, LogEntry, Tail, TxnLogReader, TxnLogWriter,
};
pub use snap::{
    decode_sync_snapshot, encode_sync_snapshot, find_valid_snapshots, read_snapshot,
    read_sync_snapshot, write_snapshot, SnapNode, Snapshot, SyncSnapshot, ZxidDigest,
};
