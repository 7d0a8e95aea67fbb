//! The leader: discovery (`Leader.getEpochToPropose`, `waitForEpochAck`), one learner
//! handler per connected learner (`LearnerHandler`, with `syncFollower`), NEWLEADER
//! (`waitForNewLeaderAck`) and broadcast (`propose`, `processAck`, `commit`, `inform`),
//! and the ping loop that steps down without a synced quorum.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::zab::{State, Zab};
use crate::{
    counter_of, epoch_of, make_zxid, Action, Config, Entry, Packet, ProposeError, Sid, Zxid,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a quorum of LEARNERINFO to pick the new epoch.
    Discovery,
    /// The epoch is picked; waiting for a quorum of ACKEPOCH.
    AckEpoch,
    /// Learners are being synced; waiting for a quorum of NEWLEADER acks.
    NewLeader,
    /// Serving: proposals flow.
    Broadcast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HPhase {
    /// LEARNERINFO came; LEADERINFO waits for the epoch.
    WaitEpoch,
    /// LEADERINFO sent.
    WaitAckEpoch,
    /// ACKEPOCH came; syncing waits for the epoch quorum.
    WaitSync,
    /// Synced up to NEWLEADER, which is not acked yet.
    Syncing,
    /// NEWLEADER acked; UPTODATE waits for the leader to be active.
    AckedNewLeader,
    /// UPTODATE sent.
    Active,
}

/// What `sync_plan` chose for a learner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncPlan {
    /// DIFF, then the txns after `after`.
    Diff { after: Zxid },
    /// TRUNC to `to`, then the txns after it.
    Trunc { to: Zxid },
    /// SNAP of what we applied, then our outstanding proposals.
    Snap,
}

#[derive(Debug, Clone)]
struct Handler {
    observer: bool,
    phase: HPhase,
    last_zxid: Zxid,
    deadline: u64,
    /// PINGs sent and answered: the connection is FIFO both ways and a learner
    /// answers each PING once, so answer n is the reply to ping n.
    pings_sent: u64,
    pings_answered: u64,
}

/// A sync waiting for a quorum to answer a PING sent after it.
struct PendingSync {
    id: u64,
    zxid: Zxid,
    /// For each voter: how many answers mean it answered our ping.
    need: BTreeMap<Sid, u64>,
}

impl Handler {
    /// Gets proposals and commits (or informs) as they happen.
    fn forwarding(&self) -> bool {
        matches!(
            self.phase,
            HPhase::Syncing | HPhase::AckedNewLeader | HPhase::Active
        )
    }
}

pub(crate) struct Leader {
    phase: Phase,
    epoch: u32,
    /// The highest acceptedEpoch among the learners that connected in discovery.
    max_accepted: u32,
    connecting: BTreeSet<Sid>,
    epoch_acked: BTreeSet<Sid>,
    newleader_acked: BTreeSet<Sid>,
    /// (currentEpoch, last zxid) when leading began (`leaderStateSummary`).
    summary: (u32, Zxid),
    learners: BTreeMap<Sid, Handler>,
    /// Proposals not yet committed, with the voters that acked them (the leader's own
    /// ack is its log being durable).
    outstanding: BTreeMap<Zxid, BTreeSet<Sid>>,
    /// The phase must end by then (initLimit) until broadcast begins.
    deadline: u64,
    next_ping: u64,
    syncs: Vec<PendingSync>,
}

impl Leader {
    pub(crate) fn new(now: u64, cfg: &Config) -> Leader {
        Leader {
            phase: Phase::Discovery,
            epoch: 0,
            max_accepted: 0,
            connecting: BTreeSet::new(),
            epoch_acked: BTreeSet::new(),
            newleader_acked: BTreeSet::new(),
            summary: (0, 0),
            learners: BTreeMap::new(),
            outstanding: BTreeMap::new(),
            deadline: now + cfg.init_limit * cfg.tick_ms,
            next_ping: now,
            syncs: Vec::new(),
        }
    }

    pub(crate) fn is_active(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    /// The counts ZooKeeper's leader reports in mntr.
    pub(crate) fn stats(&self) -> crate::LeaderStats {
        let forwarding = |observer: bool| {
            self.learners
                .values()
                .filter(|h| h.observer == observer && h.forwarding())
                .count()
        };
        crate::LeaderStats {
            learners: self.learners.len(),
            synced_followers: forwarding(false),
            synced_observers: forwarding(true),
            pending_syncs: self.syncs.len(),
        }
    }

    /// The learners whose handlers are in `phase`.
    fn learners_in(&self, phase: HPhase) -> Vec<Sid> {
        self.learners
            .iter()
            .filter(|(_, h)| h.phase == phase)
            .map(|(s, _)| *s)
            .collect()
    }

    pub(crate) fn learner_ids(&self) -> Vec<Sid> {
        self.learners.keys().copied().collect()
    }
}

impl Zab {
    fn leader(&mut self) -> &mut Leader {
        match &mut self.state {
            State::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    fn leader_ref(&self) -> &Leader {
        match &self.state {
            State::Leading(l) => l,
            _ => unreachable!("not leading"),
        }
    }

    fn newleader_zxid(&self) -> Zxid {
        make_zxid(self.leader_ref().epoch, 0)
    }

    pub(crate) fn leader_start(&mut self) {
        let me = self.cfg.id;
        let summary = (self.current_epoch, self.last_logged);
        let accepted = self.accepted_epoch;
        let l = self.leader();
        l.summary = summary;
        l.max_accepted = accepted;
        l.connecting.insert(me);
        self.try_pick_epoch();
    }

    /// `getEpochToPropose`: once a quorum (with us) has connected, the new epoch is one
    /// past every acceptedEpoch seen.
    fn try_pick_epoch(&mut self) {
        let l = self.leader_ref();
        if l.phase != Phase::Discovery || !self.cfg.is_quorum(&l.connecting) {
            return;
        }
        let epoch = l.max_accepted + 1;
        self.save_accepted_epoch(epoch);
        let me = self.cfg.id;
        let l = self.leader();
        l.epoch = epoch;
        l.phase = Phase::AckEpoch;
        l.epoch_acked.insert(me);
        let waiting = l.learners_in(HPhase::WaitEpoch);
        for sid in waiting {
            self.send_leader_info(sid);
        }
        self.try_finish_epoch();
    }

    fn send_leader_info(&mut self, sid: Sid) {
        let epoch = self.leader_ref().epoch;
        if let Some(h) = self.leader().learners.get_mut(&sid) {
            h.phase = HPhase::WaitAckEpoch;
        }
        self.send_packet(sid, Packet::LeaderInfo { epoch });
    }

    /// `waitForEpochAck`: a quorum (with us) acked the epoch; it becomes current and the
    /// learners that wait are synced.
    fn try_finish_epoch(&mut self) {
        let l = self.leader_ref();
        if l.phase != Phase::AckEpoch || !self.cfg.is_quorum(&l.epoch_acked) {
            return;
        }
        // Our own history must be durable before the new epoch is: a leader elected
        // with a tail it has written but not synced would otherwise restart with the
        // new epoch and without that tail, and win elections it must lose (the
        // leader's side of ZOOKEEPER-4643; found by the regression scenarios).
        if self.durable < self.last_logged {
            return;
        }
        let epoch = l.epoch;
        self.save_current_epoch(epoch);
        self.leader().phase = Phase::NewLeader;
        let waiting = self.leader_ref().learners_in(HPhase::WaitSync);
        for sid in waiting {
            self.sync_learner(sid);
        }
        self.maybe_self_newleader_ack();
    }

    /// The leader's own NEWLEADER ack: its whole history is durable.
    fn maybe_self_newleader_ack(&mut self) {
        if self.leader_ref().phase != Phase::NewLeader || self.durable < self.last_logged {
            return;
        }
        let me = self.cfg.id;
        self.leader().newleader_acked.insert(me);
        self.try_activate();
    }

    /// `waitForNewLeaderAck`: a quorum holds our history in this epoch; start serving.
    fn try_activate(&mut self) {
        let l = self.leader_ref();
        if l.phase != Phase::NewLeader || !self.cfg.is_quorum(&l.newleader_acked) {
            return;
        }
        let now = self.now;
        // What we tell servers that start looking carries the new epoch, so that the
        // ensemble answers them with one vote (`updateElectionVote`, ZOOKEEPER-1732).
        self.vote.peer_epoch = self.leader_ref().epoch as i64;
        let l = self.leader();
        l.phase = Phase::Broadcast;
        l.next_ping = now;
        let ready = l.learners_in(HPhase::AckedNewLeader);
        for sid in ready {
            self.send_up_to_date(sid);
        }
        self.role_changed();
    }

    fn send_up_to_date(&mut self, sid: Sid) {
        if let Some(h) = self.leader().learners.get_mut(&sid) {
            h.phase = HPhase::Active;
        }
        self.send_packet(sid, Packet::UpToDate);
    }

    /// `LearnerHandler.syncFollower`: DIFF, TRUNC or SNAP, the txns the learner lacks,
    /// then NEWLEADER; from here on it gets every proposal.
    fn sync_learner(&mut self, sid: Sid) {
        let Some((peer, observer)) = self
            .leader_ref()
            .learners
            .get(&sid)
            .map(|h| (h.last_zxid, h.observer))
        else {
            return;
        };
        // As ZooKeeper, the learner is brought to what we committed (maxCommittedLog);
        // our outstanding proposals follow as proposals, for it to log and ack anew.
        let committed = self.applied;
        let after = match self.sync_plan(peer) {
            SyncPlan::Diff { after } => {
                self.send_packet(sid, Packet::Diff { zxid: committed });
                after
            }
            SyncPlan::Trunc { to } => {
                self.send_packet(sid, Packet::Trunc { zxid: to });
                to
            }
            SyncPlan::Snap => {
                self.actions.push(Action::SendSnapshot {
                    to: sid,
                    zxid: committed,
                });
                committed
            }
        };
        for e in self.entries_from(after) {
            let z = e.zxid;
            if z > committed && observer {
                break; // observers hear of a txn once it commits (INFORM)
            }
            self.send_packet(sid, Packet::Proposal(e));
            if z <= committed {
                self.send_packet(sid, Packet::Commit { zxid: z });
            }
        }
        let nl = self.newleader_zxid();
        if let Some(h) = self.leader().learners.get_mut(&sid) {
            h.phase = HPhase::Syncing;
        }
        self.send_packet(sid, Packet::NewLeader { zxid: nl });
    }

    /// How a learner whose last txn is `peer` is brought to our committed point, by
    /// ZooKeeper's rules (`syncFollower` and `queueCommittedProposals`), which an Apache
    /// ZooKeeper learner relies on: TRUNC never crosses an epoch (a learner whose log
    /// does not hold the zxid it is cut to exits), SNAP is sent instead.
    fn sync_plan(&self, peer: Zxid) -> SyncPlan {
        let committed = self.applied;
        // The first zxid of an epoch names no txn: a learner reports it after a sync
        // that brought it nothing (`isPeerNewEpochZxid`); it cannot be cut back to.
        let epoch_start = counter_of(peer) == 0;
        if peer == committed {
            return SyncPlan::Diff { after: committed };
        }
        if peer > committed {
            // Txns we never committed (an old leader's, or our outstanding proposals).
            return match epoch_start {
                true => SyncPlan::Snap,
                false => SyncPlan::Trunc { to: committed },
            };
        }
        if peer < self.base {
            return SyncPlan::Snap; // older than the window (no DIFF from the disk log)
        }
        if peer == self.base {
            return SyncPlan::Diff { after: peer };
        }
        // Inside the window: the first txn at or after `peer` decides.
        let i = self.log.partition_point(|e| e.zxid < peer);
        let prev = match i {
            0 => self.base,
            i => self.log[i - 1].zxid,
        };
        let Some(first) = self.log.get(i).map(|e| e.zxid) else {
            return SyncPlan::Snap; // not reached: the window holds every committed txn
        };
        if first == peer || epoch_start {
            SyncPlan::Diff { after: peer }
        } else if epoch_of(first) != epoch_of(peer) {
            SyncPlan::Snap
        } else {
            // The learner has a txn we never had: cut it back to where our histories
            // last agree, then send what follows.
            SyncPlan::Trunc { to: prev }
        }
    }

    fn drop_learner(&mut self, sid: Sid) {
        self.leader().learners.remove(&sid);
        self.actions.push(Action::Disconnect { peer: sid });
    }

    pub(crate) fn leader_step(&mut self, from: Sid, p: Packet) {
        let now = self.now;
        let (init, sync) = (
            self.cfg.init_limit * self.cfg.tick_ms,
            self.cfg.sync_limit * self.cfg.tick_ms,
        );
        if let Packet::LearnerInfo {
            accepted_epoch,
            observer,
        } = p
        {
            self.on_learner_info(from, accepted_epoch, observer);
            return;
        }
        let Some(h) = self.leader().learners.get_mut(&from) else {
            self.actions.push(Action::Disconnect { peer: from });
            return;
        };
        h.deadline = now
            + if h.phase == HPhase::Active {
                sync
            } else {
                init + sync
            };
        let phase = h.phase;
        match p {
            Packet::AckEpoch {
                current_epoch,
                last_zxid,
            } if phase == HPhase::WaitAckEpoch => self.on_ack_epoch(from, current_epoch, last_zxid),
            Packet::Ack { zxid } => self.on_ack(from, zxid),
            Packet::Ping { data } => {
                if let Some(h) = self.leader().learners.get_mut(&from) {
                    h.pings_answered += 1;
                }
                self.actions.push(Action::LearnerPing { from, data });
                self.check_syncs();
            }
            _ => self.drop_learner(from),
        }
    }

    fn on_learner_info(&mut self, sid: Sid, accepted_epoch: u32, observer: bool) {
        let observer = observer || !self.cfg.is_voter(sid);
        let deadline = self.now + (self.cfg.init_limit + self.cfg.sync_limit) * self.cfg.tick_ms;
        let l = self.leader();
        // A new connection: what the learner acked before may be cut by the sync that
        // follows (TRUNC to what we committed), so it must ack again.
        for acks in l.outstanding.values_mut() {
            acks.remove(&sid);
        }
        l.newleader_acked.remove(&sid);
        l.learners.insert(
            sid,
            Handler {
                observer,
                phase: HPhase::WaitEpoch,
                last_zxid: 0,
                deadline,
                pings_sent: 0,
                pings_answered: 0,
            },
        );
        if l.phase == Phase::Discovery {
            l.max_accepted = l.max_accepted.max(accepted_epoch);
            if !observer {
                l.connecting.insert(sid);
            }
            self.try_pick_epoch();
        } else {
            self.send_leader_info(sid);
        }
    }

    fn on_ack_epoch(&mut self, sid: Sid, current_epoch: i64, last_zxid: Zxid) {
        let voter = self.cfg.is_voter(sid);
        let l = self.leader();
        if let Some(h) = l.learners.get_mut(&sid) {
            h.last_zxid = last_zxid;
            h.phase = HPhase::WaitSync;
        }
        if l.phase == Phase::AckEpoch {
            if current_epoch != -1 {
                let (ce, lz) = l.summary;
                if current_epoch > ce as i64 || (current_epoch == ce as i64 && last_zxid > lz) {
                    // "Follower is ahead of the leader": this learner's handler dies.
                    self.drop_learner(sid);
                    return;
                }
                if voter && last_zxid != -1 {
                    self.leader().epoch_acked.insert(sid);
                }
            }
            self.try_finish_epoch();
        } else {
            self.sync_learner(sid);
        }
    }

    fn on_ack(&mut self, sid: Sid, zxid: Zxid) {
        let nl = self.newleader_zxid();
        let voter = self.cfg.is_voter(sid);
        let l = self.leader();
        let Some(h) = l.learners.get_mut(&sid) else {
            return;
        };
        if zxid == nl && h.phase == HPhase::Syncing {
            h.phase = HPhase::AckedNewLeader;
            if l.phase == Phase::Broadcast {
                self.send_up_to_date(sid);
            } else {
                if voter && !h.observer {
                    l.newleader_acked.insert(sid);
                }
                self.try_activate();
            }
            return;
        }
        // A proposal ack: a learner acks a txn once it and all before it are durable.
        // Only a learner that acked NEWLEADER (its currentEpoch is ours) counts.
        if voter && !h.observer && matches!(h.phase, HPhase::AckedNewLeader | HPhase::Active) {
            if let Some(acks) = l.outstanding.get_mut(&zxid) {
                acks.insert(sid);
            }
            self.try_commit();
        }
    }

    pub(crate) fn leader_persisted(&mut self) {
        self.try_finish_epoch();
        self.maybe_self_newleader_ack();
        self.try_commit();
    }

    /// Commits, in zxid order, every proposal a quorum has acked.
    fn try_commit(&mut self) {
        let me = self.cfg.id;
        loop {
            let l = self.leader_ref();
            let Some((&z, acks)) = l.outstanding.first_key_value() else {
                return;
            };
            let mut votes = acks.clone();
            if self.durable >= z {
                votes.insert(me);
            }
            if !self.cfg.is_quorum(&votes) {
                return;
            }
            self.leader().outstanding.pop_first();
            let i = self.log.partition_point(|e| e.zxid < z);
            let entry = self
                .log
                .get(i)
                .filter(|e| e.zxid == z)
                .cloned()
                .expect("an outstanding proposal is in the log window");
            let targets: Vec<(Sid, bool)> = self
                .leader_ref()
                .learners
                .iter()
                .filter(|(_, h)| h.forwarding())
                .map(|(s, h)| (*s, h.observer))
                .collect();
            for (sid, observer) in targets {
                if observer {
                    self.send_packet(sid, Packet::Inform(entry.clone()));
                } else {
                    self.send_packet(sid, Packet::Commit { zxid: z });
                }
            }
            self.apply_up_to(z);
        }
    }

    pub(crate) fn leader_propose(&mut self, entry: Entry) -> Result<(), ProposeError> {
        let expected = match &self.state {
            State::Leading(l) if l.is_active() => self.next_leader_zxid(),
            _ => return Err(ProposeError::NotLeader),
        };
        if entry.zxid != expected {
            return Err(ProposeError::WrongZxid {
                expected,
                got: entry.zxid,
            });
        }
        let z = entry.zxid;
        self.append(entry.clone());
        self.leader().outstanding.insert(z, BTreeSet::new());
        let targets: Vec<Sid> = self
            .leader_ref()
            .learners
            .iter()
            .filter(|(_, h)| h.forwarding() && !h.observer)
            .map(|(s, _)| *s)
            .collect();
        for sid in targets {
            self.send_packet(sid, Packet::Proposal(entry.clone()));
        }
        if counter_of(z) == u32::MAX {
            // The counter is used up: a new epoch is needed (ZooKeeper's zxid rollover).
            self.fail("zxid counter exhausted; starting a new epoch".into());
        }
        Ok(())
    }

    /// The zxid the next proposal gets: the counter goes on within the epoch and starts
    /// at 1 in a new one.
    pub(crate) fn next_leader_zxid(&self) -> Zxid {
        let epoch = self.leader_ref().epoch;
        if epoch_of(self.last_logged) == epoch {
            self.last_logged + 1
        } else {
            make_zxid(epoch, 1)
        }
    }

    pub(crate) fn leader_tick(&mut self) {
        let now = self.now;
        let l = self.leader_ref();
        if l.phase != Phase::Broadcast {
            if now >= l.deadline {
                let phase = l.phase;
                self.fail(format!(
                    "no quorum of learners within initLimit ({phase:?})"
                ));
            }
            return;
        }
        if now < l.next_ping {
            return;
        }
        let half_tick = (self.cfg.tick_ms / 2).max(1);
        self.leader().next_ping = now + half_tick;
        let late: Vec<Sid> = self
            .leader_ref()
            .learners
            .iter()
            .filter(|(_, h)| h.deadline < now)
            .map(|(s, _)| *s)
            .collect();
        for sid in late {
            self.drop_learner(sid);
        }
        let ids = self.leader_ref().learner_ids();
        for sid in &ids {
            // Only a learner whose sync is under way (DIFF, TRUNC or SNAP sent) is
            // pinged: ZooKeeper's learner exits on a PING before that
            // (`LearnerHandler.ping` waits for `sendingThreadStarted`).
            if self.leader_ref().learners[sid].forwarding() {
                self.ping(*sid);
            }
        }
        let mut synced: BTreeSet<Sid> = ids
            .into_iter()
            .filter(|s| {
                self.leader_ref()
                    .learners
                    .get(s)
                    .is_some_and(|h| !h.observer)
            })
            .collect();
        synced.insert(self.cfg.id);
        if !self.cfg.is_quorum(&synced) {
            self.fail("not sufficient followers synced".into());
        }
    }

    fn ping(&mut self, sid: Sid) {
        if let Some(h) = self.leader().learners.get_mut(&sid) {
            h.pings_sent += 1;
            self.send_packet(sid, Packet::Ping { data: Bytes::new() });
        }
    }

    pub(crate) fn leader_sync(&mut self, id: u64) -> Result<(), crate::NotLeader> {
        match &self.state {
            State::Leading(l) if l.is_active() => {}
            _ => return Err(crate::NotLeader),
        }
        let active: Vec<Sid> = self
            .leader_ref()
            .learners
            .iter()
            .filter(|(s, h)| h.phase == HPhase::Active && !h.observer && self.cfg.is_voter(**s))
            .map(|(s, _)| *s)
            .collect();
        let mut need = BTreeMap::new();
        for sid in active {
            self.ping(sid);
            let h = &self.leader_ref().learners[&sid];
            need.insert(sid, h.pings_sent);
        }
        let zxid = self.applied;
        self.leader().syncs.push(PendingSync { id, zxid, need });
        self.check_syncs();
        Ok(())
    }

    /// Answers the syncs a quorum has confirmed.
    fn check_syncs(&mut self) {
        let me = self.cfg.id;
        let mut ready = Vec::new();
        let l = self.leader_ref();
        for (i, s) in l.syncs.iter().enumerate() {
            let mut yes: BTreeSet<Sid> = s
                .need
                .iter()
                .filter(|(sid, n)| l.learners.get(sid).is_some_and(|h| h.pings_answered >= **n))
                .map(|(sid, _)| *sid)
                .collect();
            yes.insert(me);
            if self.cfg.is_quorum(&yes) {
                ready.push(i);
            }
        }
        for i in ready.into_iter().rev() {
            let s = self.leader().syncs.remove(i);
            self.actions.push(Action::SyncReady {
                id: s.id,
                zxid: s.zxid,
            });
        }
    }

    pub(crate) fn leader_peer_down(&mut self, sid: Sid) {
        self.leader().learners.remove(&sid);
    }
}
