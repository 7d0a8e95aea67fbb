//! An ensemble member: the thread that drives the Zab state machine (`zooid-zab`) with
//! the quorum transport, the txn log, the epoch files and the core.
//!
//! - The core preps and proposes as leader through [`ZabSink`]; a txn reaches the log
//!   through Zab (`Action::Append`), and the core hears of it when the quorum commits it
//!   (`Durable::Committed`), leader and followers alike.
//! - A learner's core forwards writes and new sessions through [`ZabUpstream`] as
//!   `REQUEST` packets; the leader's core preps them (`CoreMsg::Forwarded`).
//! - Sessions alive on a learner travel in its PING answers; the leader touches them. A
//!   session reconnecting to a learner is checked by the leader (REVALIDATE).
//! - The leader's proposals carry the tree digest after their txn (`TxnDigest`, from
//!   prep), as ZooKeeper's do with `digest.enabled`; every member logs it with the txn.
//! - A learner answers its forwarded syncs in order when the leader's SYNC comes, and
//!   compares its tree digest with the leader's after every txn that carries one.
//! - TRUNC cuts the log and reloads the state from disk; SNAP installs the leader's.
//! - A leader builds a learner's SNAP off this thread, fuzzily, holding that learner's
//!   packets meanwhile (`snap_out`); a learner skips the digest checks while the tree it
//!   got by SNAP may still be fuzzy ([`Fuzzy`]).
//!
//! The peers may be Apache ZooKeeper 3.8 servers: `tests/interop/test_mixed_ensemble.py`
//! runs Zooid as a follower and as the leader of ZooKeeper members.
//!
//! Not done yet: local sessions, dynamic reconfig.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use zooid_proto::opcode::op;
use zooid_proto::quorum::packet::{
    decode_touches, encode_touches, kind, ForwardedRequest, RevalidateReply, RevalidateRequest,
    SessionTouch,
};
use zooid_proto::quorum::{QuorumConfig, QuorumPacket};
use zooid_proto::{Id, TxnDigest};
use zooid_storage::epoch::{write_epoch, ACCEPTED_EPOCH, CURRENT_EPOCH};
use zooid_storage::log::{decode_entry, encode_entry};
use zooid_tree::Txn;
use zooid_zab::{Action, Config as ZabConfig, Durable as ZabDurable, Entry, Role, Zab};

use crate::config::{Config, PeerType};
use crate::core::{CoreMsg, Durable, Mode, TxnSink, Upstream};
use crate::quorum::{Inbound, PeerAddrs, Transport, TransportConfig};
use crate::state::Shared;

mod snap_out;

/// What the driver thread is told.
pub enum DriverMsg {
    /// A txn the leader's core prepped, with the tree digest after it.
    Propose(Txn, Option<TxnDigest>),
    Log(Durable),
    Net(Inbound),
    Tick,
    Forward(ForwardedRequest, Vec<Id>),
    Touches(Vec<(i64, i32)>),
    Revalidate(i64, i32),
    RevalidateReply {
        to: i64,
        session: i64,
        valid: bool,
    },
    /// A learner's snapshot, built off this thread.
    SnapshotBuilt(Box<snap_out::Built>),
}

/// The leader core's sink: a txn is proposed, not written.
pub struct ZabSink(pub std_mpsc::Sender<DriverMsg>);

impl TxnSink for ZabSink {
    fn append(&mut self, txn: Txn, digest: Option<TxnDigest>) {
        let _ = self.0.send(DriverMsg::Propose(txn, digest));
    }
}

/// A learner core's way to the leader.
pub struct ZabUpstream(pub std_mpsc::Sender<DriverMsg>);

impl Upstream for ZabUpstream {
    fn forward(&mut self, req: ForwardedRequest, auth: &[Id]) {
        let _ = self.0.send(DriverMsg::Forward(req, auth.to_vec()));
    }

    fn touches(&mut self, sessions: Vec<(i64, i32)>) {
        let _ = self.0.send(DriverMsg::Touches(sessions));
    }

    fn revalidate(&mut self, session: i64, timeout: i32) {
        let _ = self.0.send(DriverMsg::Revalidate(session, timeout));
    }

    fn revalidated(&mut self, to: i64, session: i64, valid: bool) {
        let _ = self
            .0
            .send(DriverMsg::RevalidateReply { to, session, valid });
    }
}

/// The ensemble as Zab and the transport see it, from the configuration.
pub fn zab_config(config: &Config) -> Option<ZabConfig> {
    let me = config.server_id? as i64;
    let voters = config
        .servers
        .values()
        .filter(|s| s.role == PeerType::Participant)
        .map(|s| s.id as i64);
    let mut c = ZabConfig::new(me, voters);
    c.observers = config
        .servers
        .values()
        .filter(|s| s.role == PeerType::Observer)
        .map(|s| s.id as i64)
        .collect();
    c.tick_ms = config.tick_time_ms as u64;
    c.init_limit = config.init_limit.max(1) as u64;
    c.sync_limit = config.sync_limit.max(1) as u64;
    c.committed_log_len = config.commit_log_count.max(1) as usize;
    Some(c)
}

/// The `QuorumMaj` text of the static configuration (version 0).
pub fn quorum_text(config: &Config) -> String {
    use zooid_proto::quorum::config::{LearnerType, QuorumServer, ServerAddr};
    let servers = config
        .servers
        .values()
        .map(|s| QuorumServer {
            id: s.id as i64,
            addrs: s
                .addrs
                .iter()
                .map(|a| ServerAddr {
                    host: a.host.clone(),
                    quorum_port: a.quorum_port,
                    election_port: a.election_port,
                })
                .collect(),
            kind: match s.role {
                PeerType::Participant => LearnerType::Participant,
                PeerType::Observer => LearnerType::Observer,
            },
            client: s.client_addr.as_ref().map(|c| (c.host.clone(), c.port)),
        })
        .collect();
    QuorumConfig {
        servers,
        version: 0,
    }
    .to_text()
}

/// The transport's view of the ensemble.
pub fn transport_config(config: &Config) -> Option<TransportConfig> {
    let me = config.server_id? as i64;
    let peers: BTreeMap<i64, PeerAddrs> = config
        .servers
        .values()
        .map(|s| (s.id as i64, PeerAddrs::from_server(s)))
        .collect();
    let mut t = TransportConfig::new(me, peers, quorum_text(config));
    t.cnx_timeout = Duration::from_millis(config.cnx_timeout_ms.max(1) as u64);
    // Zab closes a learner's connection itself before it reconnects: it needs no news
    // of a close it asked for.
    t.down_on_disconnect = false;
    Some(t)
}

/// Everything the driver thread owns.
pub struct Driver {
    pub zab: Zab,
    pub transport: Transport,
    pub log: crate::persist::LogSink,
    pub core_events: mpsc::UnboundedSender<Durable>,
    pub core_tx: mpsc::Sender<CoreMsg>,
    pub shared: Arc<Shared>,
    pub epoch_dir: PathBuf,
    pub started: std::time::Instant,
    pub mode: Mode,
    /// Proposal sizes for mntr: last, min, max.
    pub proposal_size: (i64, i64, i64),
    /// When this server last became the active leader.
    pub leading_since: Option<std::time::Instant>,
    pub quorum_size: usize,
    /// Txns appended and not yet applied, decoded once (the leader's straight from prep),
    /// with the leader's tree digest after each when it has one.
    pub txns: std::collections::HashMap<i64, (Txn, Option<TxnDigest>)>,
    /// Syncs waiting for the quorum's confirmation: id -> (learner, its request).
    pub syncs: std::collections::HashMap<u64, (i64, ForwardedRequest)>,
    pub next_sync: u64,
    /// Learner: the syncs forwarded to the leader and not answered yet, oldest first.
    pub forwarded_syncs: std::collections::VecDeque<(i64, i32)>,
    /// Leader: the learners' snapshots being built, and the packets held for them.
    pub snap_out: snap_out::SnapOut,
    /// This thread's own queue, where the snapshot threads hand their results.
    pub to_self: std_mpsc::Sender<DriverMsg>,
    /// Learner: whether the tree may still be fuzzy after a SNAP.
    pub fuzzy: Fuzzy,
    /// Learner: the last txn handed to the core to apply.
    pub last_apply: i64,
}

/// A learner's tree after a SNAP. The leader's snapshot is fuzzy: it may hold changes
/// of txns after its zxid, up to a zxid the learner is not told, so the leader's digests
/// say nothing about our tree before we applied that far (ZooKeeper's
/// `DataTree.compareDigest` skips while a loaded snapshot's digest is pending). Every
/// txn the snapshot may hold is committed before UPTODATE comes: a leader sends a txn's
/// COMMIT before it applies the txn, it snapshots only what it applied, and UPTODATE
/// follows whatever it queued for the learner before the snapshot went out (ZooKeeper's
/// `startForwarding` and ours alike). So digests are checked again after the last txn
/// committed before UPTODATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fuzzy {
    /// The tree is exact: digests are checked.
    Exact,
    /// A SNAP was installed and UPTODATE has not come yet.
    UntilUpToDate,
    /// Exact after this zxid is applied.
    Until(i64),
}

impl Fuzzy {
    /// The leader's digest of `zxid` if ours can be compared with it after `zxid`.
    fn check(&mut self, zxid: i64, digest: Option<TxnDigest>) -> Option<TxnDigest> {
        match *self {
            Fuzzy::Exact => digest,
            Fuzzy::UntilUpToDate => None,
            Fuzzy::Until(last) if zxid <= last => None,
            Fuzzy::Until(_) => {
                *self = Fuzzy::Exact;
                digest
            }
        }
    }
}

impl Driver {
    /// Runs until every sender of `rx` is gone.
    pub fn run(mut self, rx: std_mpsc::Receiver<DriverMsg>) {
        self.execute();
        while let Ok(m) = rx.recv() {
            self.handle(m);
            self.execute();
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn handle(&mut self, m: DriverMsg) {
        match m {
            DriverMsg::Propose(txn, digest) => {
                let entry = entry_of(&txn, digest.as_ref());
                let size = entry.data.len() as i64;
                let (last, min, max) = &mut self.proposal_size;
                *last = size;
                *min = if *min < 0 { size } else { (*min).min(size) };
                *max = (*max).max(size);
                let zxid = txn.zxid();
                self.txns.insert(zxid, (txn, digest));
                if let Err(e) = self.zab.propose(entry) {
                    self.txns.remove(&zxid);
                    tracing::warn!("proposal {zxid:#x} refused: {e:?}");
                }
            }
            DriverMsg::Log(Durable::Upto(z)) => self.zab.persisted(z),
            DriverMsg::Log(Durable::Failed { reason, .. }) => {
                // The log lost txns Zab counts as appended: this server cannot go on
                // without breaking its promises; a restart recovers from what is on disk.
                tracing::error!("txn log write failed in an ensemble: {reason}; exiting");
                std::process::exit(2);
            }
            DriverMsg::Log(_) => {}
            DriverMsg::Net(Inbound::Msg { from, msg }) => {
                log_sync_kind(from, &msg);
                self.zab.step(from, msg)
            }
            DriverMsg::Net(Inbound::Down { peer }) => {
                self.snap_out.cancel(peer);
                self.zab.peer_down(peer)
            }
            DriverMsg::SnapshotBuilt(b) => self.snapshot_built(*b),
            DriverMsg::Net(Inbound::Host { from, packet }) => self.host_packet(from, packet),
            DriverMsg::Tick => {
                let now = self.now_ms();
                self.zab.tick(now);
                self.publish_stats();
            }
            DriverMsg::Forward(req, auth) => {
                let Some(leader) = self.leader() else {
                    return;
                };
                if req.op == op::SYNC {
                    self.forwarded_syncs.push_back((req.session_id, req.cxid));
                }
                let mut p = QuorumPacket::with_data(kind::REQUEST, -1, req.to_bytes());
                p.authinfo = Some(auth);
                self.transport.send_host(leader, p);
            }
            DriverMsg::Revalidate(session_id, timeout_ms) => {
                if let Some(leader) = self.leader() {
                    let data = RevalidateRequest {
                        session_id,
                        timeout_ms,
                    }
                    .to_bytes();
                    let p = QuorumPacket::with_data(kind::REVALIDATE, -1, data);
                    self.transport.send_host(leader, p);
                }
            }
            DriverMsg::RevalidateReply { to, session, valid } => {
                let data = RevalidateReply {
                    session_id: session,
                    valid,
                }
                .to_bytes();
                let p = QuorumPacket::with_data(kind::REVALIDATE, -1, data);
                self.send_host(to, p);
            }
            DriverMsg::Touches(list) => {
                let touches: Vec<SessionTouch> = list
                    .into_iter()
                    .map(|(session_id, timeout)| SessionTouch {
                        session_id,
                        timeout_ms: timeout,
                    })
                    .collect();
                self.zab.set_ping_data(encode_touches(&touches));
            }
        }
    }

    /// The leader a learner follows.
    fn leader(&self) -> Option<i64> {
        match self.zab.role() {
            Role::Following { leader, .. } | Role::Observing { leader, .. } => Some(leader),
            _ => None,
        }
    }

    /// A packet Zab does not handle: a learner's forwarded request or REVALIDATE, for
    /// the leader; the leader's answer to a sync or a REVALIDATE, for a learner.
    fn host_packet(&mut self, from: i64, p: QuorumPacket) {
        if p.kind == kind::REVALIDATE {
            match self.mode {
                Mode::Leader => {
                    if let Ok(r) = RevalidateRequest::decode(p.data_or_empty()) {
                        let msg = CoreMsg::Revalidate {
                            from,
                            session: r.session_id,
                            timeout: r.timeout_ms,
                        };
                        let _ = self.core_tx.blocking_send(msg);
                    }
                }
                _ => {
                    if let Ok(r) = RevalidateReply::decode(p.data_or_empty()) {
                        let _ = self.core_events.send(Durable::Revalidated {
                            session: r.session_id,
                            valid: r.valid,
                        });
                    }
                }
            }
            return;
        }
        if p.kind == kind::SYNC && self.mode == Mode::Follower {
            // The leader answers a learner's syncs in the order they came, and
            // ZooKeeper's answer carries nothing (`Leader.sendSync`: zxid 0, null data):
            // it is the answer to the oldest sync forwarded.
            if let Some((session, cxid)) = self.forwarded_syncs.pop_front() {
                let _ = self.core_events.send(Durable::SyncDone { session, cxid });
            }
            return;
        }
        if p.kind != kind::REQUEST || self.mode != Mode::Leader {
            tracing::debug!("ignoring packet type {} from {from}", p.kind);
            return;
        }
        let Ok(req) = ForwardedRequest::decode(p.data_or_empty()) else {
            tracing::warn!("malformed REQUEST from server {from}");
            return;
        };
        if req.op == op::SYNC {
            // Answered once a quorum confirms we still lead (see `Zab::sync`).
            self.next_sync += 1;
            let id = self.next_sync;
            if self.zab.sync(id).is_ok() {
                self.syncs.insert(id, (from, req));
            }
            return;
        }
        let msg = CoreMsg::Forwarded {
            from,
            session: req.session_id,
            cxid: req.cxid,
            op: req.op,
            data: req.request,
            auth: p.authinfo.unwrap_or_default(),
        };
        if self.core_tx.blocking_send(msg).is_err() {
            tracing::warn!("core gone");
        }
    }

    /// Carries out Zab's actions, in order.
    fn execute(&mut self) {
        loop {
            let actions = self.zab.take_actions();
            if actions.is_empty() {
                return;
            }
            for a in actions {
                self.act(a);
            }
        }
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::Send { to, msg } => self.send(to, snap_out::Held::Zab(msg)),
            Action::Disconnect { peer } => {
                self.snap_out.cancel(peer);
                self.transport.disconnect(peer)
            }
            Action::SaveAcceptedEpoch(e) => self.save_epoch(ACCEPTED_EPOCH, e),
            Action::SaveCurrentEpoch(e) => self.save_epoch(CURRENT_EPOCH, e),
            Action::Append(entry) => {
                // Decoded once: kept until Zab applies (or cuts) it, with the leader's
                // digest if it sent one; logged with that digest, as ZooKeeper does.
                let (txn, digest) = self
                    .txns
                    .entry(entry.zxid)
                    .or_insert_with(|| decode_txn(&entry))
                    .clone();
                self.log.append(txn, digest);
            }
            Action::Apply(entry) => {
                let (txn, digest) = self
                    .txns
                    .remove(&entry.zxid)
                    .unwrap_or_else(|| decode_txn(&entry));
                let digest = self.fuzzy.check(entry.zxid, digest);
                self.last_apply = entry.zxid;
                let _ = self
                    .core_events
                    .send(Durable::Committed(Box::new(txn), digest));
            }
            Action::Truncate { zxid } => {
                // The log holds txns the leader does not have: cut them and rebuild the
                // state from disk (ZooKeeper reloads its database the same way). Txns
                // kept for an Apply will not get one now (the reload applies them).
                self.txns.clear();
                if let Err(e) = self.log.truncate_after(zxid) {
                    tracing::error!("{e}; exiting");
                    std::process::exit(2);
                }
                self.reload(&format!("log truncated after {zxid:#x}"));
            }
            Action::InstallSnapshot { zxid, data } => {
                self.txns.clear();
                self.fuzzy = Fuzzy::UntilUpToDate;
                self.last_apply = zxid;
                self.install_snapshot(zxid, &data)
            }
            Action::SendSnapshot { to, zxid } => {
                let shared = self.shared.clone();
                self.snap_out.start(shared, to, zxid, self.to_self.clone());
            }
            Action::RoleChanged(role) => self.role_changed(role),
            Action::LearnerPing { data, .. } => {
                if let Ok(touches) = decode_touches(&data) {
                    if !touches.is_empty() {
                        let list = touches
                            .iter()
                            .map(|t| (t.session_id, t.timeout_ms))
                            .collect();
                        let _ = self.core_tx.try_send(CoreMsg::Touch(list));
                    }
                }
            }
            Action::SyncReady { id, zxid } => {
                if let Some((to, req)) = self.syncs.remove(&id) {
                    let p = QuorumPacket::with_data(kind::SYNC, zxid, req.to_bytes());
                    self.send_host(to, p);
                }
            }
        }
    }

    /// SNAP: the leader's state replaces ours. It is made durable first (the log cut
    /// after it, a snapshot file at its zxid), then handed to the core.
    fn install_snapshot(&mut self, zxid: i64, data: &[u8]) {
        let ext = self.shared.config.extended_types_enabled;
        let (tree, sessions) = match crate::persist::tree_from_sync_snapshot(data, ext, zxid) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("the leader's snapshot does not load: {e}; exiting");
                std::process::exit(2);
            }
        };
        if let Err(e) = self.log.truncate_after(zxid) {
            tracing::error!("{e}; exiting");
            std::process::exit(2);
        }
        let path = self
            .shared
            .config
            .snap_dir()
            .join(zooid_storage::files::snapshot_name(zxid));
        // The leader's snapshot may be fuzzy: the file claims no digest (see
        // `write_tree_snapshot`); recovery replays the log after `zxid` onto it.
        let digests = self.shared.config.digest_enabled;
        if let Err(e) = crate::persist::write_tree_snapshot(&tree, &sessions, &path, false, digests)
        {
            tracing::error!("cannot write the leader's snapshot: {e}; exiting");
            std::process::exit(2);
        }
        tracing::info!(
            "installed the leader's snapshot at {zxid:#x} ({} nodes)",
            tree.node_count()
        );
        let _ = self.core_events.send(Durable::Reload {
            tree: Box::new(tree),
            sessions,
        });
    }

    /// Sends a packet to `to`, or holds it while `to`'s snapshot is being built.
    fn send(&mut self, to: i64, p: snap_out::Held) {
        match self.snap_out.hold(to, p) {
            snap_out::Hold::Send(p) => self.send_now(to, p),
            snap_out::Hold::Held => {}
            snap_out::Hold::Overflow => self.drop_learner(to),
        }
    }

    fn send_host(&mut self, to: i64, p: QuorumPacket) {
        self.send(to, snap_out::Held::Host(p));
    }

    fn send_now(&self, to: i64, p: snap_out::Held) {
        match p {
            snap_out::Held::Zab(msg) => self.transport.send(to, msg),
            snap_out::Held::Host(p) => self.transport.send_host(to, p),
        }
    }

    /// A learner's snapshot is ready: the SNAP and what was held for it go out, in order.
    fn snapshot_built(&mut self, b: snap_out::Built) {
        let Some((to, packets)) = self.snap_out.finish(b) else {
            return; // given up meanwhile
        };
        match packets {
            Ok(packets) => {
                for p in packets {
                    self.send_now(to, p);
                }
            }
            Err(e) => {
                tracing::error!("no snapshot for server {to}: {e}");
                self.drop_learner(to);
            }
        }
    }

    /// Closes a learner's connection and tells Zab, which did not ask for it.
    fn drop_learner(&mut self, to: i64) {
        self.snap_out.cancel(to);
        self.transport.disconnect(to);
        self.zab.peer_down(to);
    }

    /// Rebuilds the state from the disk and hands it to the core.
    fn reload(&mut self, why: &str) {
        match crate::persist::recover(&self.shared.config) {
            Ok(r) => {
                tracing::warn!("{why}: state reloaded at {:#x}", r.tree.last_zxid());
                let _ = self.core_events.send(Durable::Reload {
                    tree: Box::new(r.tree),
                    sessions: r.sessions,
                });
            }
            Err(e) => {
                tracing::error!("{why}, and the data directory does not load: {e}; exiting");
                std::process::exit(2);
            }
        }
    }

    fn save_epoch(&self, name: &str, e: u32) {
        if let Err(err) = write_epoch(&self.epoch_dir, name, e as i64) {
            tracing::error!("cannot write {name}: {err}; exiting");
            std::process::exit(2);
        }
    }

    /// The mntr values of this member (`QuorumZooKeeperServer` and its leader).
    fn publish_stats(&mut self) {
        let leader = self.zab.leader_stats().map(|l| crate::state::LeaderGauges {
            learners: l.learners,
            synced_followers: l.synced_followers,
            synced_observers: l.synced_observers,
            pending_syncs: l.pending_syncs,
            uptime_ms: self
                .leading_since
                .map_or(0, |t| t.elapsed().as_millis() as i64),
            proposal_size: self.proposal_size,
        });
        // `QuorumPeer.leaderId`: set when a learner has found its leader, or when this
        // server leads; -1 while looking.
        let leader_id = match self.zab.role() {
            Role::Leading { .. } => self.shared.config.server_id.map_or(-1, |id| id as i64),
            _ => self.leader().unwrap_or(-1),
        };
        *self.shared.ensemble.lock() = Some(crate::state::EnsembleStats {
            leader_id,
            peer_state: self.zab.peer_state(),
            quorum_size: self.quorum_size,
            leader,
        });
    }

    fn role_changed(&mut self, role: Role) {
        tracing::info!("{role:?}");
        self.leading_since = match role {
            Role::Leading { .. } => self.leading_since.or(Some(std::time::Instant::now())),
            _ => None,
        };
        if !matches!(role, Role::Leading { .. }) {
            self.snap_out.cancel_all();
        }
        if self.fuzzy == Fuzzy::UntilUpToDate
            && matches!(
                role,
                Role::Following { synced: true, .. } | Role::Observing { synced: true, .. }
            )
        {
            self.fuzzy = Fuzzy::Until(self.last_apply);
        }
        self.publish_stats();
        let mode = match role {
            Role::Leading { active: true } => Mode::Leader,
            Role::Following { synced: true, .. } | Role::Observing { synced: true, .. } => {
                Mode::Follower
            }
            _ => Mode::Down,
        };
        if mode == self.mode {
            return;
        }
        self.mode = mode;
        // A new role: the core failed every request in flight, these syncs included.
        self.forwarded_syncs.clear();
        *self.shared.server_mode.lock() = match role {
            Role::Leading { active: true } => "leader",
            Role::Following { synced: true, .. } => "follower",
            Role::Observing { synced: true, .. } => "observer",
            _ => "",
        };
        let next_zxid = self.zab.next_zxid().unwrap_or(0);
        let _ = self.core_events.send(Durable::Mode { mode, next_zxid });
    }
}

/// How a learner is synced (`Learner.syncWithLeader` logs the same).
fn log_sync_kind(from: i64, msg: &zooid_zab::Message) {
    use zooid_zab::{Message, Packet};
    match msg {
        Message::Quorum(Packet::Diff { zxid }) => {
            tracing::info!("sync with the leader: DIFF from {from} up to {zxid:#x}")
        }
        Message::Quorum(Packet::Trunc { zxid }) => {
            tracing::info!("sync with the leader: TRUNC by {from} to {zxid:#x}")
        }
        Message::Quorum(Packet::Snap { zxid, data }) => tracing::info!(
            "sync with the leader: SNAP from {from} at {zxid:#x} ({} bytes)",
            data.len()
        ),
        _ => {}
    }
}

/// A txn as Zab carries it: its zxid and the bytes of its log record, the tree digest
/// after it included (the PROPOSAL data, `SerializeUtils.serializeRequest`).
fn entry_of(txn: &Txn, digest: Option<&TxnDigest>) -> Entry {
    let mut data = Vec::with_capacity(128);
    encode_entry(txn, digest, &mut data);
    Entry {
        zxid: txn.zxid(),
        data: data.into(),
    }
}

/// The txn an entry carries, and the tree digest after it if the leader sent one. Zab
/// only carries what this server logged or the leader sent, and the transport checked
/// its framing: a txn that does not decode means the state can no longer be trusted.
fn decode_txn(entry: &Entry) -> (Txn, Option<TxnDigest>) {
    match decode_entry(&entry.data) {
        Ok(e) => (e.txn, e.digest),
        Err(e) => {
            tracing::error!("txn {:#x} does not decode: {e}; exiting", entry.zxid);
            std::process::exit(2);
        }
    }
}

/// What Zab starts from: the epochs and the newest txns of the log, read from the
/// snapshot recovery loaded on (the txns before it are not needed: a learner that far
/// behind gets SNAP), at most `commitLogCount` of them.
pub fn durable_state(
    config: &Config,
    snapshot_zxid: i64,
    last_zxid: i64,
    epochs: &zooid_storage::epoch::Epochs,
) -> Result<ZabDurable, zooid_storage::StorageError> {
    let mut reader = zooid_storage::read_from(&config.txn_log_dir(), snapshot_zxid)?;
    let mut tail: std::collections::VecDeque<Entry> = std::collections::VecDeque::new();
    // Recovery checked that the log goes on right after the snapshot.
    let mut base = snapshot_zxid;
    for entry in reader.by_ref() {
        let entry = entry?;
        let z = entry.txn.zxid();
        if z > last_zxid {
            break;
        }
        tail.push_back(entry_of(&entry.txn, entry.digest.as_ref()));
        if tail.len() > config.commit_log_count.max(1) as usize {
            base = tail.pop_front().map_or(base, |e| e.zxid);
        }
    }
    if tail.is_empty() {
        base = last_zxid;
    }
    Ok(ZabDurable {
        accepted_epoch: epochs.accepted as u32,
        current_epoch: epochs.current as u32,
        log_base: base,
        log_tail: tail.into(),
    })
}

/// The op a learner forwards for a new session.
pub const CREATE_SESSION: i32 = op::CREATE_SESSION;

/// Binds the peer ports, trying again a second later up to `electionPortBindRetry`
/// times (0: for ever), as `QuorumCnxManager.Listener` does.
async fn start_transport(
    cfg: TransportConfig,
    retries: u32,
) -> std::io::Result<(Transport, mpsc::Receiver<Inbound>)> {
    let mut attempt = 0u32;
    loop {
        match Transport::start(cfg.clone()).await {
            Ok(t) => return Ok(t),
            Err(e) if retries == 0 || attempt < retries => {
                attempt += 1;
                tracing::warn!("cannot bind the peer ports ({e}); attempt {attempt}, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Starts an ensemble member: recovery, epochs, the transport, the log, the core and
/// the Zab thread. Clients are served once this server leads or is synced.
pub async fn bind(config: Config) -> Result<crate::server::Server, crate::server::StartError> {
    use crate::server::StartError;
    let io = |e: String| StartError::Io(std::io::Error::other(e));
    let recovered = {
        let c = config.clone();
        tokio::task::spawn_blocking(move || crate::persist::recover(&c))
            .await
            .map_err(|e| io(e.to_string()))??
    };
    let zcfg = zab_config(&config).ok_or_else(|| io("an ensemble member needs a myid".into()))?;
    let mut tcfg =
        transport_config(&config).ok_or_else(|| io("an ensemble member needs a myid".into()))?;
    tcfg.tls = crate::tls::QuorumTls::from_config(&config).map_err(|e| io(e.to_string()))?;
    let epoch_dir = config.snap_dir();
    let last = recovered.tree.last_zxid();
    let snapshot_zxid = recovered.snapshot_zxid;
    let (epochs, durable) = {
        let (c, d) = (config.clone(), epoch_dir.clone());
        tokio::task::spawn_blocking(move || {
            let epochs = zooid_storage::epoch::load_epochs(&d, last)?;
            let durable = durable_state(&c, snapshot_zxid, last, &epochs)?;
            Ok::<_, zooid_storage::StorageError>((epochs, durable))
        })
        .await
        .map_err(|e| io(e.to_string()))?
        .map_err(|e| io(e.to_string()))?
    };
    tracing::info!(
        "ensemble member {}: epochs {}/{}, last zxid {last:#x}, {} txns in memory",
        zcfg.id,
        epochs.accepted,
        epochs.current,
        durable.log_tail.len()
    );
    let ip = config
        .client_port_address
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let listener =
        tokio::net::TcpListener::bind(std::net::SocketAddr::new(ip, config.client_port)).await?;
    let local_addr = listener.local_addr()?;
    let core_tick_ms = (config.tick_time_ms / 2).max(10) as u64;
    let zab_tick_ms = (config.tick_time_ms as u64 / 4).clamp(5, 50);
    let cap = config.global_outstanding_limit.max(1) as usize;
    let pre_alloc = config.pre_alloc_size_kb * 1024;
    let writer =
        zooid_storage::TxnLogWriter::open(&config.txn_log_dir(), pre_alloc, config.force_sync)?;
    let my_id = zcfg.id;
    let quorum_size = zcfg.voters.len();
    let bind_retries = config.election_port_bind_retry;
    let mut shared = Shared::with_tree(config, recovered.tree);
    shared.replica = true;
    // Not serving until elected and synced: `srvr` says so, as ZooKeeper's does, rather
    // than "standalone".
    *shared.server_mode.lock() = "";
    let shared = Arc::new(shared);
    let (core_tx, core_rx) = mpsc::channel(cap);
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (dtx, drx) = std_mpsc::channel::<DriverMsg>();
    let to_self_tx = dtx.clone();
    // The log reports to the driver (Zab acks what is durable).
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    let log_sink = crate::persist::spawn_log_thread(shared.clone(), writer, log_tx)?;
    let to_driver = dtx.clone();
    tokio::spawn(async move {
        while let Some(d) = log_rx.recv().await {
            if to_driver.send(DriverMsg::Log(d)).is_err() {
                return;
            }
        }
    });
    let (transport, mut inbound) = start_transport(tcfg, bind_retries).await?;
    let to_driver = dtx.clone();
    tokio::spawn(async move {
        while let Some(m) = inbound.recv().await {
            if to_driver.send(DriverMsg::Net(m)).is_err() {
                return;
            }
        }
    });
    let to_driver = dtx.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_millis(zab_tick_ms));
        loop {
            iv.tick().await;
            if to_driver.send(DriverMsg::Tick).is_err() {
                return;
            }
        }
    });
    let mut core = crate::core::Core::new(shared.clone())
        .with_server_id(my_id)
        .with_sink(Box::new(ZabSink(dtx.clone())))
        .with_upstream(Box::new(ZabUpstream(dtx)));
    core.restore_sessions(recovered.sessions);
    tokio::spawn(core.run(core_rx, events_rx));
    let ticker = core_tx.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_millis(core_tick_ms));
        loop {
            iv.tick().await;
            if ticker.send(CoreMsg::Tick).await.is_err() {
                return;
            }
        }
    });
    let driver = Driver {
        zab: Zab::new(zcfg, durable, 0),
        transport,
        log: log_sink,
        core_events: events_tx,
        core_tx: core_tx.clone(),
        shared: shared.clone(),
        epoch_dir,
        started: std::time::Instant::now(),
        mode: Mode::Down,
        txns: Default::default(),
        syncs: Default::default(),
        next_sync: 0,
        forwarded_syncs: Default::default(),
        snap_out: Default::default(),
        to_self: to_self_tx,
        fuzzy: Fuzzy::Exact,
        last_apply: 0,
        proposal_size: (-1, -1, -1),
        leading_since: None,
        quorum_size,
    };
    // The transport spawns tasks as it sends: the thread works inside the runtime.
    let rt = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("zab".into())
        .spawn(move || {
            let _in_runtime = rt.enter();
            driver.run(drx)
        })?;
    // As QuorumPeer: an AdminServer that cannot start is a warning, not a failure.
    if let Err(e) = crate::admin::start(shared.clone(), None).await {
        tracing::warn!("Problem starting AdminServer: {e}");
    }
    // As QuorumPeerMain: a metrics provider that cannot start stops the server.
    crate::prometheus::start(shared.clone()).await?;
    Ok(crate::server::Server::from_parts(
        shared, local_addr, listener, core_tx,
    ))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zooid_proto::request::Request;
    use zooid_proto::{CreateRequest, SetDataTxn, TxnHeader};
    use zooid_tree::acl::AclPolicy;
    use zooid_tree::prep::{Prep, PrepCtx};
    use zooid_tree::tree::DIGEST_VERSION;
    use zooid_tree::{DataTree, TxnBody};

    use super::*;

    #[test]
    fn a_proposal_carries_the_digest_as_zookeepers_leader_writes_it() {
        let txn = Txn {
            hdr: TxnHeader {
                client_id: 0x1000001abcd,
                cxid: 19,
                zxid: zooid_proto::quorum::make_zxid(6, 3),
                time: 1_700_000_000_123,
                op: op::SET_DATA,
            },
            body: TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Bytes::from_static(b"there"),
                version: 4,
            }),
        };
        let digest = TxnDigest {
            version: 2,
            tree_digest: 0x1234_5678_90ab_cdef,
        };
        let entry = entry_of(&txn, Some(&digest));
        assert_eq!(entry.zxid, txn.zxid());
        assert_eq!(
            entry.data[..],
            crate::quorum::tests::golden("txn_setdata_digest")
        );
        assert_eq!(decode_txn(&entry), (txn.clone(), Some(digest)));
        // Without digests on, the proposal ends after the txn, as ZooKeeper's does.
        assert_eq!(decode_txn(&entry_of(&txn, None)), (txn, None));
    }

    #[test]
    fn a_follower_applying_the_proposal_reaches_the_digest_it_carries() {
        let policy = AclPolicy::default();
        let mut leader = DataTree::new(false);
        let mut follower = DataTree::new(false);
        let mut prep = Prep::new();
        let mut entries = Vec::new();
        for (zxid, path) in (1..).zip(["/a", "/a/b", "/c"]) {
            let ctx = PrepCtx {
                session_id: 5,
                cxid: zxid as i32,
                zxid,
                time: 1_700_000_000_000 + zxid,
                auth: &[],
                policy: &policy,
                extended_types: false,
                enforce_quota: false,
                digest: true,
            };
            let req = Request::Create {
                op: op::CREATE,
                req: CreateRequest {
                    path: path.into(),
                    data: Bytes::from_static(b"data"),
                    acl: zooid_proto::open_acl_unsafe(),
                    flags: 0,
                },
            };
            // Prepped ahead of the leader's apply, as the core's pipeline does.
            let txn = prep.prep(&leader, &ctx, &req);
            let digest = TxnDigest {
                version: DIGEST_VERSION,
                tree_digest: prep.digest(&leader),
            };
            entries.push(entry_of(&txn, Some(&digest)));
        }
        for entry in &entries {
            // The follower decodes the PROPOSAL data as SerializeUtils.deserializeTxn
            // does, applies it and compares (DataTree.compareDigest).
            let (txn, digest) = decode_txn(entry);
            let digest = digest.expect("the proposal carries a digest");
            assert_eq!(digest.version, DIGEST_VERSION);
            follower.apply(&txn, &mut Vec::new());
            assert_eq!(follower.digest(), digest.tree_digest, "{:#x}", entry.zxid);
            leader.apply(&txn, &mut Vec::new());
            prep.applied(txn.zxid());
        }
        assert_eq!(leader.digest(), follower.full_digest());
    }

    /// After a SNAP the leader's digests are not compared until UPTODATE has come and
    /// every txn committed before it is applied; then they are again.
    #[test]
    fn digests_wait_while_a_snapshot_may_be_fuzzy() {
        let d = Some(TxnDigest {
            version: DIGEST_VERSION,
            tree_digest: 7,
        });
        let mut f = Fuzzy::Exact;
        assert_eq!(f.check(5, d.clone()), d);
        f = Fuzzy::UntilUpToDate;
        assert_eq!(f.check(6, d.clone()), None);
        assert_eq!(f.check(1 << 40, d.clone()), None);
        f = Fuzzy::Until(9);
        assert_eq!(f.check(9, d.clone()), None);
        assert_eq!(f, Fuzzy::Until(9));
        assert_eq!(f.check(10, d.clone()), d);
        assert_eq!(f, Fuzzy::Exact);
    }
}
