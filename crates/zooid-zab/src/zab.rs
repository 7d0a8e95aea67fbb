//! The server: state shared by every role (epochs, the log window, what is durable and
//! applied), the inputs, and the moves between roles.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::election::Election;
use crate::leader::Leader;
use crate::learner::Learner;
use crate::{
    Action, Config, Durable, Entry, Message, Packet, ProposeError, Role, ServerState, Sid, Zxid,
};

/// The vote this server settled on (`QuorumPeer.getCurrentVote`), told to peers that
/// are still looking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vote {
    pub leader: Sid,
    pub zxid: Zxid,
    pub election_epoch: i64,
    pub peer_epoch: i64,
}

pub(crate) enum State {
    Looking(Election),
    Leading(Leader),
    Learning(Learner),
}

/// One server of the ensemble (see the crate doc).
pub struct Zab {
    pub(crate) cfg: Config,
    pub(crate) now: u64,
    pub(crate) accepted_epoch: u32,
    pub(crate) current_epoch: u32,
    /// The newest txns of the log, consecutive after `base`: every txn not yet applied,
    /// and up to `committed_log_len` applied ones (the DIFF window).
    pub(crate) log: VecDeque<Entry>,
    pub(crate) base: Zxid,
    pub(crate) last_logged: Zxid,
    pub(crate) durable: Zxid,
    pub(crate) applied: Zxid,
    pub(crate) logical_clock: i64,
    pub(crate) vote: Vote,
    pub(crate) state: State,
    pub(crate) actions: Vec<Action>,
    pub(crate) ping_data: Bytes,
    /// Why the last role ended (for logs and tests).
    pub(crate) last_error: Option<String>,
}

impl Zab {
    /// A server that has just loaded `disk` (everything in it applied) at time `now`
    /// (milliseconds, any origin); it starts looking for a leader.
    pub fn new(cfg: Config, disk: Durable, now: u64) -> Zab {
        let last = disk.log_tail.last().map_or(disk.log_base, |e| e.zxid);
        debug_assert!(
            disk.log_tail.windows(2).all(|w| w[0].zxid < w[1].zxid),
            "log tail out of order"
        );
        let mut z = Zab {
            vote: Vote {
                leader: cfg.id,
                zxid: last,
                election_epoch: 0,
                peer_epoch: disk.current_epoch as i64,
            },
            cfg,
            now,
            accepted_epoch: disk.accepted_epoch,
            current_epoch: disk.current_epoch,
            log: disk.log_tail.into(),
            base: disk.log_base,
            last_logged: last,
            durable: last,
            applied: last,
            logical_clock: 0,
            state: State::Looking(Election::idle()),
            actions: Vec::new(),
            ping_data: Bytes::new(),
            last_error: None,
        };
        z.trim_log();
        z.start_looking();
        z
    }

    // ------------------------------------------------------------------ inputs

    /// Time passed: timeouts, retransmissions, pings.
    pub fn tick(&mut self, now: u64) {
        self.now = self.now.max(now);
        match &self.state {
            State::Looking(_) => self.election_tick(),
            State::Leading(_) => self.leader_tick(),
            State::Learning(_) => self.learner_tick(),
        }
    }

    /// A message from `from` arrived.
    pub fn step(&mut self, from: Sid, msg: Message) {
        if from == self.cfg.id {
            return;
        }
        match msg {
            Message::Vote(n) => self.on_notification(from, n),
            Message::Quorum(p) => match &self.state {
                State::Leading(_) => self.leader_step(from, p),
                State::Learning(l) if l.leader == from => self.learner_step(p),
                // A packet from a server that is not our leader (a leader we left, or
                // a learner that thinks we lead before we do): its connection is
                // refused; a learner tries again.
                _ => self.actions.push(Action::Disconnect { peer: from }),
            },
        }
    }

    /// The connection to `peer` broke; whatever was in flight on it is lost.
    pub fn peer_down(&mut self, peer: Sid) {
        match &self.state {
            State::Leading(_) => self.leader_peer_down(peer),
            State::Learning(l) if l.leader == peer => self.learner_peer_down(),
            _ => {}
        }
    }

    /// The log is durable up to `zxid` (and everything appended before it).
    pub fn persisted(&mut self, zxid: Zxid) {
        let z = zxid.min(self.last_logged);
        if z <= self.durable {
            return;
        }
        self.durable = z;
        match &self.state {
            State::Leading(_) => self.leader_persisted(),
            State::Learning(_) => self.learner_persisted(),
            State::Looking(_) => {}
        }
    }

    /// The leader's next txn; `entry.zxid` must be [`Zab::next_zxid`].
    pub fn propose(&mut self, entry: Entry) -> Result<(), ProposeError> {
        self.leader_propose(entry)
    }

    /// A `sync` reaching the leader: answered with [`Action::SyncReady`] once a quorum
    /// has answered a PING sent after this call, so a deposed leader that has not
    /// noticed yet cannot answer with a stale zxid (stronger than ZooKeeper, whose
    /// leader answers at once; the messages on the wire are the same).
    pub fn sync(&mut self, id: u64) -> Result<(), crate::NotLeader> {
        self.leader_sync(id)
    }

    /// The zxid the next proposal must carry; `None` unless this is an active leader.
    pub fn next_zxid(&self) -> Option<Zxid> {
        match &self.state {
            State::Leading(l) if l.is_active() => Some(self.next_leader_zxid()),
            _ => None,
        }
    }

    /// What a learner sends in reply to the leader's PING (its session data).
    pub fn set_ping_data(&mut self, data: Bytes) {
        self.ping_data = data;
    }

    /// What the host must do now, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    // ------------------------------------------------------------------ queries

    pub fn id(&self) -> Sid {
        self.cfg.id
    }

    pub fn role(&self) -> Role {
        match &self.state {
            State::Looking(_) => Role::Looking,
            State::Leading(l) => Role::Leading {
                active: l.is_active(),
            },
            State::Learning(l) if l.observer => Role::Observing {
                leader: l.leader,
                synced: l.is_synced(),
            },
            State::Learning(l) => Role::Following {
                leader: l.leader,
                synced: l.is_synced(),
            },
        }
    }

    pub fn server_state(&self) -> ServerState {
        match self.role() {
            Role::Looking => ServerState::Looking,
            Role::Leading { .. } => ServerState::Leading,
            Role::Following { .. } => ServerState::Following,
            Role::Observing { .. } => ServerState::Observing,
        }
    }

    /// The leader's learner counts; `None` unless leading.
    pub fn leader_stats(&self) -> Option<crate::LeaderStats> {
        match &self.state {
            State::Leading(l) => Some(l.stats()),
            _ => None,
        }
    }

    /// ZooKeeper's `getDetailedPeerState`: state and Zab phase, as mntr's `peer_state`.
    pub fn peer_state(&self) -> &'static str {
        match self.role() {
            Role::Looking => "looking - election",
            Role::Leading { active: true } => "leading - broadcast",
            Role::Leading { active: false } => "leading - synchronization",
            Role::Following { synced: true, .. } => "following - broadcast",
            Role::Following { synced: false, .. } => "following - synchronization",
            Role::Observing { synced: true, .. } => "observing - broadcast",
            Role::Observing { synced: false, .. } => "observing - synchronization",
        }
    }

    pub fn last_logged_zxid(&self) -> Zxid {
        self.last_logged
    }

    pub fn last_applied_zxid(&self) -> Zxid {
        self.applied
    }

    pub fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }

    /// The election round (`logicalclock`).
    pub fn election_epoch(&self) -> i64 {
        self.logical_clock
    }

    /// Why the last role ended, if it ended on an error or a timeout.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    // ------------------------------------------------------------------ helpers

    pub(crate) fn send(&mut self, to: Sid, msg: Message) {
        self.actions.push(Action::Send { to, msg });
    }

    pub(crate) fn send_packet(&mut self, to: Sid, p: Packet) {
        self.send(to, Message::Quorum(p));
    }

    pub(crate) fn role_changed(&mut self) {
        let r = self.role();
        self.actions.push(Action::RoleChanged(r));
    }

    /// Appends a txn to the log (the host writes it, then reports it durable).
    pub(crate) fn append(&mut self, e: Entry) {
        assert!(
            e.zxid > self.last_logged,
            "log order: {:#x} after {:#x}",
            e.zxid,
            self.last_logged
        );
        self.last_logged = e.zxid;
        self.log.push_back(e.clone());
        self.actions.push(Action::Append(e));
    }

    /// Applies every logged txn up to `zxid`, in order.
    pub(crate) fn apply_up_to(&mut self, zxid: Zxid) {
        let zxid = zxid.min(self.last_logged);
        if zxid <= self.applied {
            return;
        }
        let from = self.log.partition_point(|e| e.zxid <= self.applied);
        let to = self.log.partition_point(|e| e.zxid <= zxid);
        for i in from..to {
            let e = self.log[i].clone();
            self.actions.push(Action::Apply(e));
        }
        self.applied = zxid;
        self.trim_log();
    }

    /// Keeps every unapplied txn and the newest `committed_log_len` applied ones.
    pub(crate) fn trim_log(&mut self) {
        let applied_count = self.log.partition_point(|e| e.zxid <= self.applied);
        let drop = applied_count.saturating_sub(self.cfg.committed_log_len);
        if drop > 0 {
            self.base = self.log[drop - 1].zxid;
            self.log.drain(..drop);
        }
    }

    /// Cuts the log after `zxid` (TRUNC): the host reloads its state to it.
    pub(crate) fn truncate(&mut self, zxid: Zxid) {
        let keep = self.log.partition_point(|e| e.zxid <= zxid);
        self.log.truncate(keep);
        if zxid < self.base {
            // Below the window: the host's log still has it; the window restarts there.
            self.base = zxid;
        }
        self.last_logged = self.log.back().map_or(self.base, |e| e.zxid);
        self.durable = self.durable.min(self.last_logged);
        self.applied = self.last_logged;
        self.actions.push(Action::Truncate { zxid });
    }

    /// Replaces everything with a snapshot at `zxid` (SNAP).
    pub(crate) fn install_snapshot(&mut self, zxid: Zxid, data: Bytes) {
        self.log.clear();
        self.base = zxid;
        self.last_logged = zxid;
        self.durable = zxid;
        self.applied = zxid;
        self.actions.push(Action::InstallSnapshot { zxid, data });
    }

    /// The txns of the window after `zxid`, in order.
    pub(crate) fn entries_from(&self, zxid: Zxid) -> Vec<Entry> {
        let i = self.log.partition_point(|e| e.zxid <= zxid);
        self.log.iter().skip(i).cloned().collect()
    }

    pub(crate) fn save_accepted_epoch(&mut self, epoch: u32) {
        assert!(epoch >= self.accepted_epoch, "acceptedEpoch goes back");
        self.accepted_epoch = epoch;
        self.actions.push(Action::SaveAcceptedEpoch(epoch));
    }

    pub(crate) fn save_current_epoch(&mut self, epoch: u32) {
        assert!(epoch >= self.current_epoch, "currentEpoch goes back");
        assert!(
            epoch <= self.accepted_epoch,
            "currentEpoch {epoch} beyond acceptedEpoch {}",
            self.accepted_epoch
        );
        self.current_epoch = epoch;
        self.actions.push(Action::SaveCurrentEpoch(epoch));
    }

    /// Ends the current role on an error or timeout and looks for a leader again.
    pub(crate) fn fail(&mut self, why: String) {
        self.last_error = Some(why);
        self.start_looking();
    }

    /// Leaves whatever role this was (dropping its connections) and starts an election.
    pub(crate) fn start_looking(&mut self) {
        match std::mem::replace(&mut self.state, State::Looking(Election::idle())) {
            State::Leading(l) => {
                for sid in l.learner_ids() {
                    self.actions.push(Action::Disconnect { peer: sid });
                }
            }
            State::Learning(l) => self.actions.push(Action::Disconnect { peer: l.leader }),
            State::Looking(_) => {}
        }
        self.role_changed();
        self.begin_election();
    }

    /// The election settled on `vote`: take up the role it gives this server.
    pub(crate) fn decided(&mut self, vote: Vote) {
        self.vote = vote;
        // Like ZooKeeper reloading its database: a role starts with the whole log applied.
        let last = self.last_logged;
        self.apply_up_to(last);
        if vote.leader == self.cfg.id {
            self.state = State::Leading(Leader::new(self.now, &self.cfg));
            self.role_changed();
            self.leader_start();
        } else {
            let observer = !self.cfg.is_voter(self.cfg.id);
            let l = Learner::new(vote.leader, observer, self.now, &self.cfg);
            self.state = State::Learning(l);
            self.role_changed();
            self.learner_start();
        }
    }
}
