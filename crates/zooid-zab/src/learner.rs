//! A follower or observer: `Learner.registerWithLeader` (LEARNERINFO, LEADERINFO,
//! ACKEPOCH), `syncWithLeader` (DIFF / TRUNC / SNAP, the txns, NEWLEADER acked only once
//! they are durable and currentEpoch is saved, UPTODATE), then `Follower.processPacket`.

use std::collections::VecDeque;

use crate::zab::{State, Zab};
use crate::{epoch_of, Config, Entry, Packet, Sid, Zxid};

/// How long a learner waits before connecting again to a leader that refused it
/// (ZooKeeper's `leaderConnectDelayDuringRetryMs`).
const LEADER_CONNECT_RETRY_MS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    WaitLeaderInfo,
    /// ACKEPOCH sent; DIFF, TRUNC or SNAP comes next.
    WaitSync,
    /// Receiving the txns we lack.
    Syncing,
    /// NEWLEADER came (acked once our log is durable); UPTODATE comes next.
    WaitUpToDate,
    Synced,
}

pub(crate) struct Learner {
    pub(crate) leader: Sid,
    pub(crate) observer: bool,
    phase: Phase,
    epoch: u32,
    /// Logged proposals waiting for their COMMIT, in order.
    pending: VecDeque<Zxid>,
    /// Logged proposals to ack once durable.
    to_ack: VecDeque<Zxid>,
    newleader: Option<Zxid>,
    newleader_acked: bool,
    deadline: u64,
    /// When to connect again after the leader refused us (it was not leading yet).
    retry_at: Option<u64>,
}

impl Learner {
    pub(crate) fn new(leader: Sid, observer: bool, now: u64, cfg: &Config) -> Learner {
        Learner {
            leader,
            observer,
            phase: Phase::WaitLeaderInfo,
            epoch: 0,
            pending: VecDeque::new(),
            to_ack: VecDeque::new(),
            newleader: None,
            newleader_acked: false,
            deadline: now + cfg.init_limit * cfg.tick_ms,
            retry_at: None,
        }
    }

    pub(crate) fn is_synced(&self) -> bool {
        self.phase == Phase::Synced
    }
}

impl Zab {
    fn learner(&mut self) -> &mut Learner {
        match &mut self.state {
            State::Learning(l) => l,
            _ => unreachable!("not learning"),
        }
    }

    fn learner_ref(&self) -> &Learner {
        match &self.state {
            State::Learning(l) => l,
            _ => unreachable!("not learning"),
        }
    }

    /// Connects to the leader (a new connection: anything left of an old one is
    /// dropped) and registers.
    pub(crate) fn learner_start(&mut self) {
        let (leader, observer) = (self.learner_ref().leader, self.learner_ref().observer);
        let accepted_epoch = self.accepted_epoch;
        self.actions
            .push(crate::Action::Disconnect { peer: leader });
        self.send_packet(
            leader,
            Packet::LearnerInfo {
                accepted_epoch,
                observer,
            },
        );
    }

    pub(crate) fn learner_step(&mut self, p: Packet) {
        let now = self.now;
        let limit = if self.learner_ref().is_synced() {
            self.cfg.sync_limit
        } else {
            self.cfg.init_limit
        };
        let tick = self.cfg.tick_ms;
        self.learner().deadline = now + limit * tick;
        let phase = self.learner_ref().phase;
        let leader = self.learner_ref().leader;
        let in_sync = matches!(phase, Phase::Syncing | Phase::WaitUpToDate | Phase::Synced);
        match p {
            Packet::LeaderInfo { epoch } if phase == Phase::WaitLeaderInfo => {
                self.on_leader_info(epoch)
            }
            Packet::Diff { .. } if phase == Phase::WaitSync => {
                self.learner().phase = Phase::Syncing;
            }
            Packet::Trunc { zxid } if phase == Phase::WaitSync => {
                self.truncate(zxid);
                self.learner().phase = Phase::Syncing;
            }
            Packet::Snap { zxid, data } if phase == Phase::WaitSync => {
                self.install_snapshot(zxid, data);
                self.learner().phase = Phase::Syncing;
            }
            Packet::Proposal(e) if in_sync => self.on_proposal(e),
            Packet::Commit { zxid } if in_sync => self.on_commit(zxid),
            Packet::Inform(e) if in_sync && self.learner_ref().observer => self.on_inform(e),
            Packet::NewLeader { zxid } if phase == Phase::Syncing => {
                if epoch_of(zxid) != self.learner_ref().epoch {
                    self.fail(format!(
                        "NEWLEADER {zxid:#x} is not of epoch {}",
                        self.learner_ref().epoch
                    ));
                    return;
                }
                let l = self.learner();
                l.newleader = Some(zxid);
                l.phase = Phase::WaitUpToDate;
                self.maybe_newleader_ack();
            }
            Packet::UpToDate
                if phase == Phase::WaitUpToDate && self.learner_ref().newleader_acked =>
            {
                // Looking servers are told the new epoch (`updateElectionVote`).
                self.vote.peer_epoch = self.learner_ref().epoch as i64;
                self.learner().phase = Phase::Synced;
                self.role_changed();
            }
            Packet::Ping { .. } => {
                let data = self.ping_data.clone();
                self.send_packet(leader, Packet::Ping { data });
            }
            other => self.fail(format!("unexpected {} in {phase:?}", packet_name(&other))),
        }
    }

    fn on_leader_info(&mut self, epoch: u32) {
        let leader = self.learner_ref().leader;
        let last_zxid = self.last_logged;
        let current_epoch = if epoch > self.accepted_epoch {
            let ce = self.current_epoch as i64;
            self.save_accepted_epoch(epoch);
            ce
        } else if epoch == self.accepted_epoch {
            -1
        } else {
            self.fail(format!(
                "leader's epoch {epoch} is less than our accepted epoch {}",
                self.accepted_epoch
            ));
            return;
        };
        let l = self.learner();
        l.epoch = epoch;
        l.phase = Phase::WaitSync;
        self.send_packet(
            leader,
            Packet::AckEpoch {
                current_epoch,
                last_zxid,
            },
        );
    }

    fn on_proposal(&mut self, e: Entry) {
        if e.zxid <= self.last_logged {
            self.fail(format!(
                "proposal {:#x} is not after our last txn {:#x}",
                e.zxid, self.last_logged
            ));
            return;
        }
        let z = e.zxid;
        self.append(e);
        let l = self.learner();
        l.pending.push_back(z);
        if !l.observer {
            l.to_ack.push_back(z);
        }
        self.maybe_ack();
    }

    fn on_commit(&mut self, zxid: Zxid) {
        let l = self.learner();
        if l.pending.front() != Some(&zxid) {
            let next = l.pending.front().copied();
            self.fail(format!(
                "commit of {zxid:#x} but the next pending txn is {next:x?}"
            ));
            return;
        }
        l.pending.pop_front();
        self.apply_up_to(zxid);
    }

    fn on_inform(&mut self, e: Entry) {
        let z = e.zxid;
        if z > self.last_logged {
            self.append(e);
        } else if self.learner_ref().pending.front() != Some(&z) {
            self.fail(format!("inform of {z:#x} out of order"));
            return;
        }
        let l = self.learner();
        if l.pending.front() == Some(&z) {
            l.pending.pop_front();
        }
        self.apply_up_to(z);
    }

    /// Acks every logged proposal that is now durable, in order — but only after
    /// NEWLEADER is acked: an ack counts towards a commit, and it may only come from a
    /// server whose currentEpoch already says this epoch, or an election could prefer
    /// a server without the committed txn (ZOOKEEPER-4646, -4785).
    fn maybe_ack(&mut self) {
        if !self.learner_ref().newleader_acked {
            return;
        }
        let leader = self.learner_ref().leader;
        while let Some(&z) = self.learner_ref().to_ack.front() {
            if z > self.durable {
                break;
            }
            self.learner().to_ack.pop_front();
            self.send_packet(leader, Packet::Ack { zxid: z });
        }
    }

    /// NEWLEADER is acked only once every txn of the sync is durable, and after the new
    /// currentEpoch is saved (ZOOKEEPER-3911, -4643).
    fn maybe_newleader_ack(&mut self) {
        let l = self.learner_ref();
        let Some(z) = l.newleader else {
            return;
        };
        if l.newleader_acked || self.durable < self.last_logged {
            return;
        }
        let leader = l.leader;
        self.save_current_epoch(epoch_of(z));
        self.learner().newleader_acked = true;
        self.send_packet(leader, Packet::Ack { zxid: z });
        self.maybe_ack();
    }

    pub(crate) fn learner_persisted(&mut self) {
        self.maybe_newleader_ack();
        self.maybe_ack();
    }

    pub(crate) fn learner_tick(&mut self) {
        let now = self.now;
        if now >= self.learner_ref().deadline {
            let leader = self.learner_ref().leader;
            self.fail(format!("leader {leader} silent for too long"));
            return;
        }
        if self.learner_ref().retry_at.is_some_and(|t| now >= t) {
            self.learner().retry_at = None;
            self.learner_start();
        }
    }

    /// The connection to the leader broke. Before LEADERINFO that is the leader not
    /// leading yet (`connectToLeader` retries until initLimit runs out); later it ends
    /// the role.
    pub(crate) fn learner_peer_down(&mut self) {
        if self.learner_ref().phase == Phase::WaitLeaderInfo {
            // `leaderConnectDelayDuringRetryMs`: 100 ms.
            let at = self.now + (self.cfg.tick_ms / 2).clamp(1, LEADER_CONNECT_RETRY_MS);
            self.learner().retry_at = Some(at);
            return;
        }
        let leader = self.learner_ref().leader;
        self.fail(format!("lost the connection to leader {leader}"));
    }
}

fn packet_name(p: &Packet) -> &'static str {
    match p {
        Packet::LearnerInfo { .. } => "LEARNERINFO",
        Packet::LeaderInfo { .. } => "LEADERINFO",
        Packet::AckEpoch { .. } => "ACKEPOCH",
        Packet::Diff { .. } => "DIFF",
        Packet::Trunc { .. } => "TRUNC",
        Packet::Snap { .. } => "SNAP",
        Packet::Proposal(_) => "PROPOSAL",
        Packet::Commit { .. } => "COMMIT",
        Packet::Inform(_) => "INFORM",
        Packet::NewLeader { .. } => "NEWLEADER",
        Packet::Ack { .. } => "ACK",
        Packet::UpToDate => "UPTODATE",
        Packet::Ping { .. } => "PING",
    }
}
