//! Durability, host side: recovery at start (newest valid snapshot + the logs after it),
//! the log thread (group commit: one write and one fdatasync per batch, then the core is
//! told what is durable), and fuzzy snapshots taken on their own thread in short
//! read-locked steps while requests keep flowing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use zooid_proto::opcode::op;
use zooid_proto::TxnDigest;
use zooid_storage::snap::{self, DigestSection, SnapNode, ZxidDigest};
use zooid_storage::{files, StorageError, TxnLogWriter};
use zooid_tree::tree::DIGEST_VERSION;
use zooid_tree::{DataTree, Node, Txn, TxnBody};

use crate::config::Config;
use crate::core::{Durable, TxnSink};
use crate::state::Shared;

/// Txns the log thread writes with one fdatasync at most (ZooKeeper's `maxBatchSize`).
const BATCH_TXNS_MAX: usize = 1000;
/// Nodes a snapshot step serializes under one read lock: short enough that a waiting
/// write is delayed by well under a millisecond on this hardware.
const SNAPSHOT_STEP_NODES: usize = 2048;

/// What recovery found.
pub struct Recovered {
    pub tree: DataTree,
    /// Live sessions (id, timeout ms) after replay.
    pub sessions: Vec<(i64, i32)>,
    pub snapshot_zxid: i64,
    pub replayed: u64,
    pub timings: RecoveryTimings,
}

/// How long recovery's steps took, for mntr (`dbinittime`, `startup_*`, `snapshottime`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecoveryTimings {
    /// Loading the snapshot and replaying the log after it (`ZKDatabase.loadDataBase`).
    pub db_init_ms: i64,
    /// Reading the newest snapshot, or finding there is none.
    pub snap_load_ms: i64,
    /// Replaying the log (`fastForwardFromEdits`).
    pub replay_ms: i64,
    /// Writing the first snapshot of a new data directory.
    pub first_snapshot_ms: Option<i64>,
}

/// Why the server cannot start on its data directory.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot create {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("snapshot {path} does not rebuild a tree: {reason}")]
    BadSnapshot { path: PathBuf, reason: String },
    #[error("txn log goes backwards: zxid {got:#x} after {last:#x}")]
    OutOfOrder { last: i64, got: i64 },
    #[error(
        "txns are missing: the snapshot ends at zxid {after:#x} but the logs resume at {first:#x}"
    )]
    Gap { after: i64, first: i64 },
    #[error("{0} thread panicked")]
    Panicked(&'static str),
    #[error("the leader's snapshot does not rebuild a tree: {0}")]
    BadSyncSnapshot(String),
}

/// Loads the newest valid snapshot, replays the logs after it, cuts a torn tail, drops
/// the ephemerals of sessions that no longer exist, and writes a first snapshot into an
/// empty data directory (Apache ZooKeeper refuses logs without one).
pub fn recover(config: &Config) -> Result<Recovered, RecoveryError> {
    let snap_dir = config.snap_dir();
    let log_dir = config.txn_log_dir();
    for d in [&snap_dir, &log_dir] {
        std::fs::create_dir_all(d).map_err(|source| RecoveryError::Dir {
            path: d.clone(),
            source,
        })?;
    }
    let ext = config.extended_types_enabled;
    let started = Instant::now();
    let candidates = snap::find_valid_snapshots(&snap_dir, 100)?;
    // The log after the newest snapshot is read and decoded on its own thread while the
    // snapshot loads; should that snapshot not load, it is read again after the one
    // that does.
    let guess = candidates.first().map_or(0, |(z, _)| *z);
    let mut log = LogPrefetch::start(log_dir.clone(), guess);
    let (mut tree, mut sessions, snapshot_zxid, had_snapshot) =
        match load_snapshot(&candidates, &log_dir, ext)? {
            Some((tree, sessions, zxid)) => (tree, sessions, zxid, true),
            None => (DataTree::new(ext), BTreeMap::new(), 0, false),
        };
    let snap_load_ms = started.elapsed().as_millis() as i64;
    tracing::info!("tree rebuilt at {} ms", started.elapsed().as_millis());
    if snapshot_zxid != guess {
        log = LogPrefetch::start(log_dir.clone(), snapshot_zxid);
    }
    let replayed = replay(&mut tree, &mut sessions, log, snapshot_zxid)?;
    tracing::info!("log replayed at {} ms", started.elapsed().as_millis());
    let db_init_ms = started.elapsed().as_millis() as i64;
    let last = tree.last_zxid();
    let orphans = tree.kill_orphan_ephemerals(&|s| sessions.contains_key(&s), last);
    if orphans > 0 {
        tracing::info!("removed {orphans} ephemerals of sessions that no longer exist");
    }
    let mut first_snapshot_ms = None;
    if !had_snapshot {
        let snapshot_started = Instant::now();
        let path = snap_dir.join(files::snapshot_name(last));
        let sess: Vec<(i64, i32)> = sessions.iter().map(|(k, v)| (*k, *v)).collect();
        write_tree_snapshot(&tree, &sess, &path, true, config.digest_enabled)?;
        first_snapshot_ms = Some(snapshot_started.elapsed().as_millis() as i64);
    }
    tracing::info!("recovered to zxid {last:#x}: snapshot {snapshot_zxid:#x} + {replayed} txns");
    Ok(Recovered {
        tree,
        sessions: sessions.into_iter().collect(),
        snapshot_zxid,
        replayed,
        timings: RecoveryTimings {
            db_init_ms,
            snap_load_ms,
            replay_ms: db_init_ms - snap_load_ms,
            first_snapshot_ms,
        },
    })
}

/// Of the newest 100 snapshots that look valid, loads the newest that reads whole
/// (`FileSnap.deserialize`); an error when there are snapshots but none reads.
fn load_snapshot(
    candidates: &[(i64, PathBuf)],
    log_dir: &Path,
    ext: bool,
) -> Result<Option<LoadedTree>, RecoveryError> {
    let mut last_err = None;
    for (zxid, path) in candidates {
        tracing::info!("loading snapshot {}", path.display());
        match load_one(path, log_dir, ext, *zxid) {
            Ok(loaded) => return Ok(Some(loaded)),
            Err(e) => {
                tracing::warn!("skipping snapshot {}: {e}", path.display());
                last_err = Some(e);
            }
        }
    }
    match last_err {
        None => Ok(None),
        Some(e) => Err(e),
    }
}

/// Txns the log prefetcher hands over at a time, and batches it may have waiting: a
/// bound on what it reads ahead of the replay.
const PREFETCH_BATCH: usize = 1024;
const PREFETCH_BATCHES: usize = 64;

/// The txns logged after a zxid, read and decoded on a thread of their own.
struct LogPrefetch {
    rx: std_mpsc::Receiver<Vec<Txn>>,
    reader: std::thread::JoinHandle<Result<zooid_storage::TxnLogReader, StorageError>>,
}

impl LogPrefetch {
    fn start(log_dir: PathBuf, after: i64) -> LogPrefetch {
        let (tx, rx) = std_mpsc::sync_channel(PREFETCH_BATCHES);
        let reader = std::thread::spawn(move || {
            let mut reader = zooid_storage::read_from(&log_dir, after)?;
            let mut batch = Vec::with_capacity(PREFETCH_BATCH);
            for entry in reader.by_ref() {
                batch.push(entry?.txn);
                if batch.len() == PREFETCH_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(PREFETCH_BATCH));
                    if tx.send(full).is_err() {
                        break; // the replay gave up or wants another start
                    }
                }
            }
            let _ = tx.send(batch);
            Ok(reader)
        });
        LogPrefetch { rx, reader }
    }

    /// Every txn, then the reader (for its torn tail) or the error that stopped it.
    fn txns(&self) -> impl Iterator<Item = Txn> + '_ {
        self.rx.iter().flatten()
    }

    fn finish(self) -> Result<zooid_storage::TxnLogReader, RecoveryError> {
        drop(self.rx);
        match self.reader.join() {
            Ok(r) => Ok(r?),
            Err(_) => Err(RecoveryError::Panicked("the log reader")),
        }
    }
}

type LoadedTree = (DataTree, BTreeMap<i64, i32>, i64);

/// Nodes the snapshot reader hands to the tree builder at a time.
const SNAPSHOT_LOAD_BATCH: usize = 4096;

/// Reads a snapshot on one thread while building the tree on this one: decoding and
/// checksumming overlap with hashing nodes into the tree.
fn load_one(
    path: &Path,
    log_dir: &Path,
    ext: bool,
    zxid: i64,
) -> Result<LoadedTree, RecoveryError> {
    // Room for the snapshot's nodes (some 200 bytes each) and what the log may add, so
    // the table is not regrown in the middle of the replay.
    let in_log = zooid_storage::estimate_txns_after(log_dir, zxid).unwrap_or(0);
    let (tree, snapshot) = build_tree(path, ext, in_log as usize, zxid)?;
    Ok((tree, snapshot.sessions.into_iter().collect(), zxid))
}

/// The tree a snapshot file holds, with `zxid` as its last zxid, and the file's other
/// sections (sessions, trailer); `extra` is room for nodes to come.
fn build_tree(
    path: &Path,
    ext: bool,
    extra: usize,
    zxid: i64,
) -> Result<(DataTree, snap::Snapshot), RecoveryError> {
    let size_hint = std::fs::metadata(path).map_or(0, |m| m.len() / 200) as usize + extra;
    let (tx, rx) = std_mpsc::sync_channel::<Vec<SnapNode>>(16);
    let bad = |reason: String| RecoveryError::BadSnapshot {
        path: path.to_path_buf(),
        reason,
    };
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(SNAPSHOT_LOAD_BATCH);
            let r = snap::read_snapshot_streaming(path, &mut |n| {
                batch.push(n);
                if batch.len() == SNAPSHOT_LOAD_BATCH {
                    let full =
                        std::mem::replace(&mut batch, Vec::with_capacity(SNAPSHOT_LOAD_BATCH));
                    let _ = tx.send(full);
                }
            });
            let _ = tx.send(batch);
            r
        });
        let mut builder = zooid_tree::TreeBuilder::new(ext, size_hint);
        let mut built: Result<(), String> = Ok(());
        for batch in rx {
            if built.is_err() {
                continue; // drain so the reader can finish
            }
            for n in batch {
                if let Err(e) = builder.add(n.path, node_of(n.data, n.acl, n.stat)) {
                    built = Err(e);
                    break;
                }
            }
        }
        let mut snapshot = reader
            .join()
            .map_err(|_| bad("the reader thread panicked".into()))??;
        built.map_err(bad)?;
        let acls = std::mem::take(&mut snapshot.acls);
        let tree = builder.finish(acls, zxid).map_err(bad)?;
        Ok((tree, snapshot))
    })
}

/// A snapshot an operator sent to the admin `restore` command, read whole.
pub struct RestoredSnapshot {
    pub tree: DataTree,
    /// Its sessions, sorted by id.
    pub sessions: Vec<(i64, i32)>,
    /// The zxid the snapshot is exact at, as far as the file tells: its
    /// lastProcessedZxid (3.9), else its digest's zxid (3.6+), else 0.
    pub zxid: i64,
}

/// `ZKDatabase.deserializeSnapshot` for `restore`: an uncompressed snapshot stream in
/// `path`, every checksum verified. The tree's last zxid is the file's [`RestoredSnapshot::zxid`].
pub fn load_restore(path: &Path, ext: bool) -> Result<RestoredSnapshot, RecoveryError> {
    let (mut tree, snapshot) = build_tree(path, ext, 0, 0)?;
    let zxid = snapshot
        .last_processed_zxid
        .or(snapshot.digest.map(|d| d.zxid))
        .unwrap_or(0);
    tree.set_last_zxid(zxid);
    let sessions: BTreeMap<i64, i32> = snapshot.sessions.into_iter().collect();
    Ok(RestoredSnapshot {
        tree,
        sessions: sessions.into_iter().collect(),
        zxid,
    })
}

fn node_of(data: bytes::Bytes, acl: i64, stat: zooid_proto::StatPersisted) -> Node {
    Node {
        data,
        acl,
        stat,
        children: Default::default(),
    }
}

/// A learner's side of the SNAP stream (`Learner.syncWithLeader`; the leader's is
/// `ensemble::snap_out`): the
/// tree as of `zxid` (the SNAP packet's) and the sessions, sorted by id, a repeated id
/// keeping its last timeout as the learner's session map does. The bytes come from the
/// network: damage is an error, never a panic.
pub fn tree_from_sync_snapshot(
    bytes: &[u8],
    extended_types: bool,
    zxid: i64,
) -> Result<(DataTree, Vec<(i64, i32)>), RecoveryError> {
    // A node takes 76 bytes at least: this hint never reserves more than the bytes hold.
    let mut builder = zooid_tree::TreeBuilder::new(extended_types, bytes.len() / 100);
    let mut built: Result<(), String> = Ok(());
    let head = snap::read_sync_snapshot(bytes, &mut |n| {
        if built.is_ok() {
            built = builder.add(n.path, node_of(n.data, n.acl, n.stat));
        }
    })?;
    built.map_err(RecoveryError::BadSyncSnapshot)?;
    let tree = builder
        .finish(head.acls, zxid)
        .map_err(RecoveryError::BadSyncSnapshot)?;
    let sessions: BTreeMap<i64, i32> = head.sessions.into_iter().collect();
    Ok((tree, sessions.into_iter().collect()))
}

/// True when `next` can be the txn right after `zxid`: the next counter of its epoch, or
/// the first txn of a later epoch (a snapshot a learner got from its leader can end
/// just before a new epoch begins).
fn follows(zxid: i64, next: i64) -> bool {
    next == zxid + 1 || (next >> 32 > zxid >> 32 && next as u32 == 1)
}

/// Applies every logged txn after `after`, tracking sessions as
/// `FileTxnSnapLog.processTransaction` does; NodeExists/NoNode from a fuzzy snapshot
/// are expected and ignored.
fn replay(
    tree: &mut DataTree,
    sessions: &mut BTreeMap<i64, i32>,
    log: LogPrefetch,
    after: i64,
) -> Result<u64, RecoveryError> {
    let mut n = 0u64;
    let mut last = after;
    let mut first = true;
    for txn in log.txns() {
        // The log must go on right after the snapshot: a gap means lost txns (deleted
        // log files), which neither ZooKeeper nor we could otherwise notice.
        if first && after > 0 && !follows(after, txn.zxid()) {
            return Err(RecoveryError::Gap {
                after,
                first: txn.zxid(),
            });
        }
        first = false;
        if txn.zxid() <= last {
            return Err(RecoveryError::OutOfOrder {
                last,
                got: txn.zxid(),
            });
        }
        last = txn.zxid();
        match (&txn.body, txn.hdr.op) {
            (TxnBody::CreateSession(c), _) => {
                sessions.insert(txn.hdr.client_id, c.time_out);
            }
            (_, op::CLOSE_SESSION) => {
                sessions.remove(&txn.hdr.client_id);
            }
            _ => {}
        }
        tree.apply_replay(&txn);
        n += 1;
    }
    let reader = log.finish()?;
    for t in reader.torn_earlier() {
        tracing::warn!(
            "{}: torn at offset {} ({}); later files were used",
            t.file.display(),
            t.offset,
            t.reason
        );
    }
    if let Some(tail) = reader.tail().cloned() {
        tracing::warn!(
            "{}: cutting a torn tail at offset {} ({}): a write a crash interrupted",
            tail.file.display(),
            tail.offset,
            tail.reason
        );
        zooid_storage::truncate_tail(&tail)?;
    }
    Ok(n)
}

/// Writes a snapshot of a tree nobody else is using (recovery, a learner's SNAP).
/// `exact`: the tree is the state at its last zxid, and the file records its digest
/// there. A tree built from a leader's fuzzy SNAP may hold changes of later txns: its
/// file records ZooKeeper's empty digest (zxid 0), which a reader does not compare
/// (`DataTree.deserializeZxidDigest`) — a digest claiming to be the last zxid's would
/// make ZooKeeper report "Digests are not matching" when it loads the file. Without
/// `digests` (`digest.enabled=false`) the file has no digest section, as ZooKeeper's.
pub(crate) fn write_tree_snapshot(
    tree: &DataTree,
    sessions: &[(i64, i32)],
    path: &Path,
    exact: bool,
    digests: bool,
) -> Result<(), StorageError> {
    let acls: Vec<(i64, Vec<zooid_proto::Acl>)> =
        tree.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
    let mut nodes = Vec::with_capacity(tree.node_count());
    tree.walk(|p, n| nodes.push(snap_node(p, n)));
    let digest = match (digests, exact) {
        (false, _) => DigestSection::Off,
        (true, false) => DigestSection::Empty,
        (true, true) => DigestSection::Digest(ZxidDigest {
            zxid: tree.last_zxid(),
            version: DIGEST_VERSION,
            digest: tree.digest(),
        }),
    };
    snap::write_snapshot(path, sessions, &acls, nodes, digest, tree.last_zxid())
}

fn snap_node(path: &str, n: &Node) -> SnapNode {
    SnapNode {
        path: path.to_owned(),
        data: n.data.clone(),
        acl: n.acl,
        stat: n.stat.clone(),
    }
}

/// The core's handle on the log thread.
pub struct LogSink {
    tx: std_mpsc::Sender<LogCmd>,
}

/// What the log thread is asked to do, in order.
enum LogCmd {
    /// A txn and the tree digest after it, if known.
    Append(Txn, Option<TxnDigest>),
    /// Cut every txn after the zxid (and every snapshot newer than it), then go on in a
    /// new file; the answer comes once that is done.
    TruncateAfter(i64, std_mpsc::Sender<Result<(), String>>),
    /// The core has put a restored tree in place, exact at the zxid: snapshot it before
    /// any later txn is logged, and answer with that zxid once the snapshot is on disk.
    /// The caller holds the snapshot gate.
    Restore(i64, oneshot::Sender<Result<i64, String>>),
}

impl TxnSink for LogSink {
    fn append(&mut self, txn: Txn, digest: Option<TxnDigest>) {
        // The thread only goes away when the process does.
        let _ = self.tx.send(LogCmd::Append(txn, digest));
    }

    fn restore(&mut self, zxid: i64, done: oneshot::Sender<Result<i64, String>>) {
        if let Err(std_mpsc::SendError(LogCmd::Restore(_, done))) =
            self.tx.send(LogCmd::Restore(zxid, done))
        {
            let _ = done.send(Err("the log thread is gone".into()));
        }
    }
}

impl LogSink {
    /// An ensemble learner told to TRUNC: every txn after `zxid` leaves the disk
    /// (after the txns queued before this call are written). Blocks until done.
    pub fn truncate_after(&self, zxid: i64) -> Result<(), String> {
        let (tx, rx) = std_mpsc::channel();
        self.tx
            .send(LogCmd::TruncateAfter(zxid, tx))
            .map_err(|_| "the log thread is gone".to_owned())?;
        rx.recv().map_err(|_| "the log thread is gone".to_owned())?
    }
}

/// When to take the next snapshot: after a random count in (snapCount/2, snapCount] of
/// txns, as `SyncRequestProcessor.shouldSnapshot` randomizes it so that the members of
/// an ensemble do not all snapshot at once.
struct SnapPolicy {
    every: u64,
    next_at: u64,
    since: u64,
    rng: u64,
}

impl SnapPolicy {
    fn new(snap_count: u32) -> SnapPolicy {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        let mut p = SnapPolicy {
            every: snap_count.max(2) as u64,
            next_at: 0,
            since: 0,
            rng: seed | 1,
        };
        p.roll_dice();
        p
    }

    fn roll_dice(&mut self) {
        // xorshift64: good enough to spread snapshot points.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.next_at = self.every / 2 + 1 + self.rng % (self.every / 2);
        self.since = 0;
    }
}

/// Starts the log thread. It owns `writer`; the core sends it txns through the returned
/// sink and hears back through `durable`.
pub fn spawn_log_thread(
    shared: Arc<Shared>,
    writer: TxnLogWriter,
    durable: mpsc::UnboundedSender<Durable>,
) -> std::io::Result<LogSink> {
    let (tx, rx) = std_mpsc::channel::<LogCmd>();
    let snap_count = shared.config.snap_count;
    std::thread::Builder::new()
        .name("zooid-log".into())
        .spawn(move || {
            LogThread {
                shared,
                writer: Some(writer),
                durable,
                snap: SnapPolicy::new(snap_count),
                broken: false,
            }
            .run(rx)
        })?;
    Ok(LogSink { tx })
}

struct LogThread {
    shared: Arc<Shared>,
    /// None once the log could not be repaired after a failure.
    writer: Option<TxnLogWriter>,
    durable: mpsc::UnboundedSender<Durable>,
    snap: SnapPolicy,
    /// Set when a restore could not be snapshotted: the log then refuses every write,
    /// since txns after the restore must never follow the state before it on disk.
    broken: bool,
}

impl LogThread {
    fn run(mut self, rx: std_mpsc::Receiver<LogCmd>) {
        let mut batch: Vec<(Txn, Option<TxnDigest>)> = Vec::with_capacity(BATCH_TXNS_MAX);
        let mut durable_zxid = self.shared.tree.read().last_zxid();
        // After a failed batch the core fails every write it has sent and numbers its
        // next txn durable_zxid + 1. Txns it sent before it heard of the failure are
        // still queued here: they must never reach the log (their clients got
        // SystemError and their zxids are given out again), so they are dropped until
        // the txn with that zxid arrives.
        let mut resume_at: Option<i64> = None;
        let mut next: Option<LogCmd> = None;
        loop {
            let cmd = match next.take() {
                Some(c) => c,
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => return,
                },
            };
            let first = match cmd {
                LogCmd::Append(t, d) => (t, d),
                LogCmd::TruncateAfter(zxid, done) => {
                    let r = self.truncate(zxid);
                    if r.is_ok() {
                        durable_zxid = zxid;
                        resume_at = None;
                    }
                    let _ = done.send(r);
                    continue;
                }
                LogCmd::Restore(zxid, done) => {
                    // The core sends it with nothing in flight: after a failed batch
                    // it has heard of the failure, and its next txn is zxid + 1.
                    let r = self.restore(zxid);
                    if r.is_ok() {
                        durable_zxid = zxid;
                        resume_at = None;
                    }
                    let _ = done.send(r);
                    continue;
                }
            };
            if !keep(&mut resume_at, &first.0) {
                continue;
            }
            batch.clear();
            batch.push(first);
            while batch.len() < BATCH_TXNS_MAX {
                match rx.try_recv() {
                    Ok(LogCmd::Append(t, d)) if keep(&mut resume_at, &t) => batch.push((t, d)),
                    Ok(LogCmd::Append(..)) => {}
                    Ok(c @ (LogCmd::TruncateAfter(..) | LogCmd::Restore(..))) => {
                        next = Some(c);
                        break;
                    }
                    Err(_) => break,
                }
            }
            match self.write(&batch) {
                Ok(()) => {
                    durable_zxid = batch.last().map(|t| t.0.zxid()).unwrap_or(durable_zxid);
                    let _ = self.durable.send(Durable::Upto(durable_zxid));
                    self.maybe_snapshot(batch.len() as u64);
                }
                Err(e) => {
                    resume_at = Some(durable_zxid + 1);
                    let recovered = !self.broken && self.repair(durable_zxid);
                    let _ = self.durable.send(Durable::Failed {
                        reason: e.to_string(),
                        recovered,
                    });
                }
            }
        }
    }

    /// TRUNC: cuts the log after `zxid`, removes snapshots newer than it (they hold
    /// txns the ensemble does not have), and opens a new file.
    fn truncate(&mut self, zxid: i64) -> Result<(), String> {
        let shared = self.shared.clone();
        let _gate = shared.snapshot_gate.blocking_lock();
        self.writer = None;
        let snap_dir = self.shared.config.snap_dir();
        for (z, path) in snap::find_valid_snapshots(&snap_dir, usize::MAX).unwrap_or_default() {
            if z > zxid {
                tracing::warn!(
                    "removing {} (newer than the truncation point)",
                    path.display()
                );
                std::fs::remove_file(&path).map_err(|e| e.to_string())?;
            }
        }
        if self.repair(zxid) {
            Ok(())
        } else {
            Err(format!("cannot truncate the txn log after {zxid:#x}"))
        }
    }

    fn write(&mut self, batch: &[(Txn, Option<TxnDigest>)]) -> std::io::Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Err(std::io::Error::other("the txn log is out of service"));
        };
        let started = Instant::now();
        for (t, d) in batch {
            w.append_with_digest(t, d.as_ref())?;
        }
        w.commit()?;
        let ms = started.elapsed().as_millis();
        let metrics = &self.shared.counters.metrics;
        if self.shared.config.force_sync {
            metrics.fsync_time.add(ms as i64);
        }
        metrics.sync_batch_size.add(batch.len() as i64);
        if ms as u64 > self.shared.config.fsync_warning_threshold_ms {
            tracing::warn!("fsync-ing the write ahead log took {ms}ms which will adversely effect operation latency");
        }
        Ok(())
    }

    /// After a failed batch: cut everything past the last durable txn and start a new
    /// file. True when the log can take writes again.
    fn repair(&mut self, durable_zxid: i64) -> bool {
        self.writer = None;
        let dir = self.shared.config.txn_log_dir();
        let cfg = &self.shared.config;
        let result = zooid_storage::log::truncate_after(&dir, durable_zxid)
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|_| TxnLogWriter::open(&dir, cfg.pre_alloc_size_kb * 1024, cfg.force_sync));
        match result {
            Ok(w) => {
                self.writer = Some(w);
                true
            }
            Err(e) => {
                tracing::error!("cannot repair the txn log in {}: {e}", dir.display());
                false
            }
        }
    }

    fn maybe_snapshot(&mut self, n: u64) {
        self.snap.since += n;
        if self.snap.since < self.snap.next_at || self.shared.snapshot_gate.try_lock().is_err() {
            return;
        }
        self.snap.roll_dice();
        if let Some(w) = self.writer.as_mut() {
            w.roll();
        }
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("zooid-snapshot".into())
            .spawn(move || {
                // Someone else took the gate since the check: their snapshot will do.
                let Ok(_gate) = shared.snapshot_gate.try_lock() else {
                    return;
                };
                if let Err(e) = take_snapshot(&shared, true) {
                    tracing::error!("snapshot failed: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the snapshot thread: {e}");
        }
    }

    /// `LogCmd::Restore`: a new log file for the txns after `zxid`, and a snapshot of
    /// the restored tree (exact: nothing is applied until this answers). On failure the
    /// log goes out of service for good.
    fn restore(&mut self, zxid: i64) -> Result<i64, String> {
        if let Some(w) = self.writer.as_mut() {
            w.roll();
        }
        // Nothing is applied until this answers: no client waits on the tree's lock.
        let taken = take_snapshot(&self.shared, false).map_err(|e| e.to_string());
        let result = match taken {
            Ok(path) if snap::snapshot_zxid(&path) == Some(zxid) => Ok(zxid),
            Ok(path) => Err(format!(
                "the restore snapshot {} is not at zxid {zxid:#x}",
                path.display()
            )),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::error!("cannot snapshot the restored state, refusing writes: {e}");
            self.writer = None;
            self.broken = true;
        }
        result
    }
}

/// False for a txn sent before the core heard of a failed batch (see `LogThread::run`):
/// while `resume_at` is set, only the txn with that zxid passes, and then all do.
fn keep(resume_at: &mut Option<i64>, t: &Txn) -> bool {
    match *resume_at {
        Some(z) if t.zxid() != z => false,
        _ => {
            *resume_at = None;
            true
        }
    }
}

/// Walks the live tree in short read-locked steps for the snapshot writer (and for the
/// snapshot a leader sends a learner).
pub(crate) struct FuzzyNodes<'a> {
    shared: &'a Shared,
    /// Rest between steps (not when nothing else can use the tree).
    paced: bool,
    cursor: zooid_tree::WalkCursor,
    buf: std::collections::VecDeque<SnapNode>,
}

impl<'a> FuzzyNodes<'a> {
    /// A walk from the root of `shared`'s tree; `paced`: rest between steps.
    pub(crate) fn new(shared: &'a Shared, paced: bool) -> FuzzyNodes<'a> {
        FuzzyNodes {
            shared,
            paced,
            cursor: zooid_tree::WalkCursor::from_root(),
            buf: Default::default(),
        }
    }
}

impl Iterator for FuzzyNodes<'_> {
    type Item = SnapNode;

    fn next(&mut self) -> Option<SnapNode> {
        if self.buf.is_empty() && !self.cursor.is_done() {
            let started = Instant::now();
            let tree = self.shared.tree.read();
            let buf = &mut self.buf;
            tree.walk_step(&mut self.cursor, SNAPSHOT_STEP_NODES, |p, n| {
                buf.push_back(snap_node(p, n))
            });
            drop(tree);
            // Pace the walk: rest half as long as the step took, so a snapshot takes at
            // most two thirds of a core from the threads answering clients.
            if self.paced {
                std::thread::sleep(started.elapsed() / 2);
            }
        }
        self.buf.pop_front()
    }
}

/// What a fuzzy snapshot takes before its walk: the last zxid applied, the ACL table
/// (`DataTree.serialize` writes it first) and the session table as the core has it.
pub(crate) struct FuzzyStart {
    pub zxid: i64,
    pub acls: Vec<(i64, Vec<zooid_proto::Acl>)>,
    pub sessions: Vec<(i64, i32)>,
}

impl FuzzyStart {
    pub fn now(shared: &Shared) -> FuzzyStart {
        let (zxid, acls) = {
            let tree = shared.tree.read();
            let acls = tree.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
            (tree.last_zxid(), acls)
        };
        let sessions = shared
            .sessions
            .lock()
            .values()
            .map(|s| (s.id, s.timeout_ms))
            .collect();
        FuzzyStart {
            zxid,
            acls,
            sessions,
        }
    }
}

/// A fuzzy snapshot of the live tree, named after the last zxid applied when it began
/// (`ZooKeeperServer.takeSnapshot`): replaying the log from there makes it exact.
/// `paced`: the walk rests between steps, leaving the threads that answer clients
/// most of the CPU.
pub fn take_snapshot(shared: &Shared, paced: bool) -> Result<PathBuf, StorageError> {
    let started = Instant::now();
    let FuzzyStart {
        zxid,
        acls,
        sessions,
    } = FuzzyStart::now(shared);
    let path = shared.config.snap_dir().join(files::snapshot_name(zxid));
    let nodes = FuzzyNodes::new(shared, paced);
    // The digest is the tree's after the walk, as ZooKeeper's `serializeZxidDigest`
    // writes it after the nodes: a reader compares it once its replay reaches that
    // zxid, where the fuzzy tree has become exact. With the digest of the start (the
    // snapshot's own zxid) ZooKeeper compares at once, against a tree that may already
    // hold later changes: "Digests are not matching".
    let digest = || {
        if !shared.config.digest_enabled {
            return DigestSection::Off;
        }
        let tree = shared.tree.read();
        DigestSection::Digest(ZxidDigest {
            zxid: tree.last_zxid(),
            version: DIGEST_VERSION,
            digest: tree.digest(),
        })
    };
    snap::write_fuzzy_snapshot(&path, &sessions, &acls, nodes, digest, zxid)?;
    let ms = started.elapsed().as_millis() as i64;
    shared.counters.metrics.snapshot_time.add(ms);
    tracing::info!(
        "snapshot {} written in {} ms",
        path.display(),
        started.elapsed().as_millis()
    );
    Ok(path)
}

/// What `zooid log repair` did.
#[derive(Debug)]
pub struct Repair {
    /// The file and offset of the first damage, if any was found.
    pub cut: Option<(PathBuf, u64)>,
    /// Later log files removed with it.
    pub removed: Vec<PathBuf>,
    /// The last zxid kept.
    pub last_zxid: i64,
}

/// Cuts the txn log at its first damaged record and removes every later file, so the
/// server can start again with everything before the damage. The txns after it are lost
/// (on an ensemble, a peer restores them); the caller reports how many files went.
pub fn repair_log(dir: &Path) -> Result<Repair, StorageError> {
    let files = zooid_storage::log::log_files(dir)?;
    let mut last_zxid = 0;
    for (i, path) in files.iter().enumerate() {
        let mut f = zooid_storage::log::LogFile::open(path)?;
        let damage = loop {
            match f.next_record() {
                Ok(Some(rec)) => last_zxid = rec.entry.txn.zxid(),
                Ok(None) => break None,
                Err(StorageError::Corrupt { file, offset, .. }) => break Some((file, offset)),
                Err(e) => return Err(e),
            }
        };
        let Some((file, offset)) = damage else {
            continue;
        };
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|h| {
                h.set_len(offset)?;
                h.sync_all()
            });
        cut.map_err(|source| StorageError::Io {
            path: file.clone(),
            source,
        })?;
        let mut removed = Vec::new();
        for later in &files[i + 1..] {
            std::fs::remove_file(later).map_err(|source| StorageError::Io {
                path: later.clone(),
                source,
            })?;
            removed.push(later.clone());
        }
        return Ok(Repair {
            cut: Some((file, offset)),
            removed,
            last_zxid,
        });
    }
    Ok(Repair {
        cut: None,
        removed: Vec::new(),
        last_zxid,
    })
}

#[cfg(test)]
mod sync_snapshot_tests {
    use super::*;

    /// The stream ZooKeeper 3.8 wrote for a known tree (see zooid-storage's
    /// `testdata/zk38-sync`), and the zxid of its last change.
    fn golden() -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../zooid-storage/testdata/zk38-sync/sync-snapshot.bin");
        std::fs::read(path).unwrap()
    }
    const GOLDEN_ZXID: i64 = 0x10000000e;

    /// Every node with its resolved ACL, sorted by path.
    fn contents(t: &DataTree) -> Vec<String> {
        let mut v = Vec::new();
        t.walk(|p, n| {
            let acl: Vec<String> = t
                .acl_of(n)
                .iter()
                .map(|a| format!("{} {}:{}", a.perms, a.id.scheme, a.id.id))
                .collect();
            v.push(format!("{p:?} {:?} {acl:?} {:?}", n.data, n.stat));
        });
        v.sort();
        v
    }

    #[test]
    fn zookeepers_stream_builds_its_tree_and_our_bytes_build_it_again() {
        let (tree, sessions) = tree_from_sync_snapshot(&golden(), true, GOLDEN_ZXID).unwrap();
        assert_eq!(
            sessions,
            [
                (0x100001b4bc20000, 30000),
                (0x100001b4bc20001, 4000),
                (0x200007f00000005, 40000)
            ]
        );
        // ZooKeeper's count: 15 nodes, the root counted twice.
        assert_eq!(tree.node_count(), 16);
        assert_eq!(tree.last_zxid(), GOLDEN_ZXID);
        assert_eq!(tree.digest(), tree.full_digest());
        assert_eq!(tree.get("/app").unwrap().data.as_ref(), b"world");
        let eph: Vec<&String> = tree.ephemerals_of(0x100001b4bc20001).collect();
        assert_eq!(eph, ["/app/seq-0000000001", "/locks/lock-0000000007"]);
        assert!(tree.containers().contains("/container"));
        assert!(tree.ttls().contains("/ttl"));
        let acl = tree.acl_of(tree.get("/app/child2").unwrap());
        assert_eq!(acl[0].id.id, "user:smGaoVKd/cQkjm7b88GyorAUz20=");
        assert_eq!(
            tree.children("/app").unwrap().len(),
            5,
            "child1 child2 eph seq-0 seq-1"
        );

        // Encoded as a leader encodes a learner's SNAP (`ensemble::snap_out`).
        let acls: Vec<(i64, Vec<zooid_proto::Acl>)> =
            tree.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
        let shared = Shared::with_tree(Config::defaults(), tree);
        let mut ours = Vec::new();
        snap::encode_sync_snapshot(&sessions, &acls, FuzzyNodes::new(&shared, false), &mut ours)
            .unwrap();
        let tree = shared.tree.read();
        let (again, sessions_again) = tree_from_sync_snapshot(&ours, true, GOLDEN_ZXID).unwrap();
        assert_eq!(sessions_again, sessions);
        assert_eq!(contents(&again), contents(&tree));
        assert_eq!(again.digest(), tree.digest());
        // Same content, so the same length: only the child order may differ from Java's
        // (and `/locks`'s null data, written as empty, is as long).
        assert_eq!(ours.len(), golden().len());
    }

    #[test]
    fn damaged_streams_are_errors() {
        let bytes = golden();
        for len in [0, 3, 40, bytes.len() / 2, bytes.len() - 1] {
            assert!(tree_from_sync_snapshot(&bytes[..len], false, 1).is_err());
        }
        // `/locks` renamed `/lockz` by hand: `/locks/lock-0000000007` comes without its
        // parent, which only the tree builder notices.
        let mut key = 6i32.to_be_bytes().to_vec();
        key.extend_from_slice(b"/locks");
        let at = bytes
            .windows(key.len())
            .position(|w| w == key.as_slice())
            .unwrap();
        let mut bad = bytes.clone();
        bad[at + key.len() - 1] = b'z';
        match tree_from_sync_snapshot(&bad, false, 1) {
            Err(RecoveryError::BadSyncSnapshot(reason)) => {
                assert!(reason.contains("unable to find parent"), "{reason}")
            }
            other => panic!("expected BadSyncSnapshot, got {:?}", other.map(|_| ())),
        }
    }
}

#[cfg(test)]
mod gap_tests {
    use super::*;
    use zooid_proto::{Acl, CreateTxn, TxnHeader};

    fn create(zxid: i64, path: &str) -> Txn {
        Txn {
            hdr: TxnHeader {
                client_id: 0,
                cxid: 0,
                zxid,
                time: 5,
                op: op::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: path.into(),
                data: bytes::Bytes::new(),
                acl: vec![Acl::new(31, "world", "anyone")],
                ephemeral: false,
                parent_c_version: -1,
            }),
        }
    }

    /// A data directory whose snapshot ends at 1:3 and whose log starts with `first`.
    fn recover_with_log_from(first: i64) -> Result<Recovered, RecoveryError> {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("dataDir={}\n", dir.path().display());
        let (config, _) = Config::parse(&text, dir.path()).unwrap();
        std::fs::create_dir_all(config.snap_dir()).unwrap();
        let mut tree = DataTree::new(false);
        for (z, p) in [(1, "/a"), (2, "/b"), (3, "/c")] {
            tree.apply(&create((1 << 32) | z, p), &mut Vec::new());
        }
        let snap = config
            .snap_dir()
            .join(files::snapshot_name(tree.last_zxid()));
        write_tree_snapshot(&tree, &[], &snap, true, true).unwrap();
        let mut w = TxnLogWriter::open(&config.txn_log_dir(), 0, false).unwrap();
        w.append(&create(first, "/d")).unwrap();
        w.commit().unwrap();
        let r = recover(&config);
        drop(dir);
        r
    }

    #[test]
    fn a_log_may_resume_in_the_next_epoch_but_not_after_a_hole() {
        let r = recover_with_log_from(2 << 32 | 1).expect("a new epoch follows a snapshot");
        assert!(r.tree.get("/d").is_some());
        assert_eq!(r.replayed, 1);
        assert!(recover_with_log_from(1 << 32 | 4).is_ok());
        for hole in [1 << 32 | 5, 2 << 32 | 2] {
            assert!(
                matches!(recover_with_log_from(hole), Err(RecoveryError::Gap { .. })),
                "{hole:#x}"
            );
        }
    }
}
