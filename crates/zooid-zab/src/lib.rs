//! Zab, ZooKeeper's atomic broadcast, as a state machine without IO, clocks or
//! randomness of its own (the raft-rs shape; see DESIGN.md).
//!
//! One [`Zab`] is one server of an ensemble. The host feeds it what happened —
//! [`Zab::tick`] (time passed), [`Zab::step`] (a message arrived), [`Zab::peer_down`] (a
//! connection broke), [`Zab::persisted`] (the log is durable up to a zxid),
//! [`Zab::propose`] (the leader has a new txn) — and after each call drains
//! [`Zab::take_actions`], carrying the actions out **in order**:
//!
//! - [`Action::SaveAcceptedEpoch`], [`Action::SaveCurrentEpoch`], [`Action::Truncate`]
//!   and [`Action::InstallSnapshot`] are durable before the next action runs.
//! - [`Action::Append`] queues a txn for the log; the host reports with
//!   [`Zab::persisted`] once it (and everything before it) is durable. Acks wait for that.
//! - [`Action::Apply`] hands over committed txns in zxid order.
//! - [`Action::Send`] and [`Action::Disconnect`] go to the transport, which keeps each
//!   connection FIFO and reports a broken one with [`Zab::peer_down`].
//!
//! The phases follow ZooKeeper 3.8: FastLeaderElection, then discovery (FOLLOWERINFO,
//! LEADERINFO, ACKEPOCH), synchronisation (DIFF / TRUNC / SNAP, NEWLEADER, UPTODATE) and
//! broadcast (PROPOSAL, ACK, COMMIT, INFORM for observers, PING). The safety rules of
//! DESIGN.md are checked where they apply: nothing is acked before it is durable, the
//! epochs are saved before they are acted on, and a new leader commits nothing of its
//! epoch before a quorum has acked NEWLEADER.
//!
//! Like ZooKeeper, a server starting a role has applied everything in its log (ZooKeeper
//! reloads its database from disk): the history a new leader carries into its epoch is
//! the whole log of the member with the highest (epoch, zxid) in the electing quorum.

mod election;
mod leader;
mod learner;
mod zab;

pub use zab::Zab;

use bytes::Bytes;

/// A server id (`myid`; a Java long).
pub type Sid = i64;
/// A transaction id: epoch in the high 32 bits, counter in the low 32 (`ZxidUtils`).
pub type Zxid = i64;

/// `ZxidUtils.makeZxid`.
pub fn make_zxid(epoch: u32, counter: u32) -> Zxid {
    ((epoch as i64) << 32) | counter as i64
}

/// `ZxidUtils.getEpochFromZxid`.
pub fn epoch_of(zxid: Zxid) -> u32 {
    (zxid >> 32) as u32
}

/// `ZxidUtils.getCounterFromZxid`.
pub fn counter_of(zxid: Zxid) -> u32 {
    zxid as u32
}

/// A logged transaction: its zxid and its bytes (opaque here; the host's txn record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub zxid: Zxid,
    pub data: Bytes,
}

/// `QuorumPeer.ServerState`, numbered as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

/// A FastLeaderElection notification (the fields of `FastLeaderElection.buildMsg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub state: ServerState,
    /// The proposed leader (`Long.MIN_VALUE` from an observer that has no vote).
    pub leader: Sid,
    pub zxid: Zxid,
    pub election_epoch: i64,
    pub peer_epoch: i64,
}

/// A message between learner and leader (`QuorumPacket`, by type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// FOLLOWERINFO (11) or OBSERVERINFO (16): zxid = makeZxid(acceptedEpoch, 0).
    LearnerInfo {
        accepted_epoch: u32,
        observer: bool,
    },
    /// LEADERINFO (17): zxid = makeZxid(newEpoch, 0).
    LeaderInfo {
        epoch: u32,
    },
    /// ACKEPOCH (18): the learner's currentEpoch (-1 when it had already accepted the
    /// epoch) and its last logged zxid.
    AckEpoch {
        current_epoch: i64,
        last_zxid: Zxid,
    },
    /// DIFF (13): txns follow as PROPOSAL/COMMIT pairs.
    Diff {
        zxid: Zxid,
    },
    /// TRUNC (14): cut the log after `zxid`.
    Trunc {
        zxid: Zxid,
    },
    /// SNAP (15): the leader's state at `zxid`, in the snapshot format.
    Snap {
        zxid: Zxid,
        data: Bytes,
    },
    Proposal(Entry),
    Commit {
        zxid: Zxid,
    },
    /// INFORM (8): a committed txn, to an observer.
    Inform(Entry),
    /// NEWLEADER (10): zxid = makeZxid(newEpoch, 0).
    NewLeader {
        zxid: Zxid,
    },
    Ack {
        zxid: Zxid,
    },
    /// UPTODATE (12).
    UpToDate,
    /// PING (5): from the leader, empty; from a learner, its session data (host bytes).
    Ping {
        data: Bytes,
    },
}

/// What travels between two servers: election notifications on the election
/// connection, packets on the learner's connection to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Vote(Notification),
    Quorum(Packet),
}

/// A server's part and, for a leader, whether it serves (a quorum acked NEWLEADER) and,
/// for a learner, whether it is synced (UPTODATE came).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Looking,
    Leading { active: bool },
    Following { leader: Sid, synced: bool },
    Observing { leader: Sid, synced: bool },
}

/// What the host must do, in order (see the crate doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        to: Sid,
        msg: Message,
    },
    /// Drop the connection to this peer and whatever is queued on it.
    Disconnect {
        peer: Sid,
    },
    SaveAcceptedEpoch(u32),
    SaveCurrentEpoch(u32),
    /// Append to the log; report durability with [`Zab::persisted`].
    Append(Entry),
    /// Cut the log after `zxid` and reload the state to it (every txn up to it applied).
    Truncate {
        zxid: Zxid,
    },
    /// Replace the state with this snapshot and start the log after `zxid`.
    InstallSnapshot {
        zxid: Zxid,
        data: Bytes,
    },
    /// Send `Packet::Snap` of the applied state (at `zxid`, the last txn applied so far)
    /// to `to`, on its connection, between the sends before and after this action.
    SendSnapshot {
        to: Sid,
        zxid: Zxid,
    },
    /// A committed txn, to apply (in zxid order).
    Apply(Entry),
    RoleChanged(Role),
    /// A learner's PING data reached the leader (session liveness, for the host).
    LearnerPing {
        from: Sid,
        data: Bytes,
    },
    /// The leader answers [`Zab::sync`] `id`: a quorum still follows it, so everything
    /// committed before the sync began is at or below `zxid`.
    SyncReady {
        id: u64,
        zxid: Zxid,
    },
}

/// The ensemble as this server sees it, and ZooKeeper's timing settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: Sid,
    /// Participants (voting members), including this server unless it observes.
    pub voters: std::collections::BTreeSet<Sid>,
    pub observers: std::collections::BTreeSet<Sid>,
    pub tick_ms: u64,
    /// `initLimit`, in ticks: discovery and sync must finish within it.
    pub init_limit: u64,
    /// `syncLimit`, in ticks: a synced peer silent for longer is dropped.
    pub sync_limit: u64,
    /// `FastLeaderElection.finalizeWait`.
    pub finalize_wait_ms: u64,
    /// `FastLeaderElection.maxNotificationInterval`.
    pub max_notification_interval_ms: u64,
    /// Committed txns kept in memory for DIFF (`zookeeper.commitLogCount`).
    pub committed_log_len: usize,
}

impl Config {
    /// ZooKeeper's defaults around the given members (`tickTime` 2000 as in the sample
    /// zoo.cfg, `initLimit` 10, `syncLimit` 5).
    pub fn new(id: Sid, voters: impl IntoIterator<Item = Sid>) -> Config {
        Config {
            id,
            voters: voters.into_iter().collect(),
            observers: Default::default(),
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            finalize_wait_ms: 200,
            max_notification_interval_ms: 60_000,
            committed_log_len: 500,
        }
    }

    pub fn is_voter(&self, sid: Sid) -> bool {
        self.voters.contains(&sid)
    }

    /// `QuorumMaj.containsQuorum`: more than half of the voters.
    pub fn is_quorum<'a>(&self, set: impl IntoIterator<Item = &'a Sid>) -> bool {
        let n = set.into_iter().filter(|s| self.voters.contains(s)).count();
        n * 2 > self.voters.len()
    }
}

/// What the server has on disk when it starts: the epoch files, and the tail of its
/// log (the txns after `log_base`, all of them applied by the host at load).
#[derive(Debug, Clone, Default)]
pub struct Durable {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// The zxid before the first txn of `log_tail` (the last txn the host has that is
    /// not in `log_tail`, or 0).
    pub log_base: Zxid,
    /// The newest txns of the log, in order, consecutive after `log_base`.
    pub log_tail: Vec<Entry>,
}

/// What a leader reports about its learners (mntr's `learners`, `synced_followers`,
/// `synced_observers`, `pending_syncs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderStats {
    pub learners: usize,
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub pending_syncs: usize,
}

/// Why a sync was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLeader;

/// Why a proposal was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposeError {
    /// This server is not an active leader.
    NotLeader,
    /// The zxid is not the next one ([`Zab::next_zxid`]).
    WrongZxid { expected: Zxid, got: Zxid },
}

#[cfg(test)]
mod tests;
