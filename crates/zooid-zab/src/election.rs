//! FastLeaderElection (`FastLeaderElection.lookForLeader` and its `WorkerReceiver`).

use std::collections::BTreeMap;

use crate::zab::{State, Vote, Zab};
use crate::{Message, Notification, ServerState, Sid, Zxid};

/// A notification as kept in the vote tables (`recvset`, `outofelection`).
#[derive(Debug, Clone, Copy)]
struct Ballot {
    leader: Sid,
    zxid: Zxid,
    election_epoch: i64,
    peer_epoch: i64,
    state: ServerState,
}

impl Ballot {
    /// `Vote.equals`: against a LOOKING vote everything counts; between settled votes
    /// only the leader and its epoch do.
    fn same(&self, other: &Ballot) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.leader == other.leader
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else {
            self.leader == other.leader && self.peer_epoch == other.peer_epoch
        }
    }
}

/// One round of looking.
pub(crate) struct Election {
    /// The vote this server proposes (`proposedLeader`, `proposedZxid`, `proposedEpoch`).
    leader: Sid,
    zxid: Zxid,
    peer_epoch: i64,
    recv: BTreeMap<Sid, Ballot>,
    out_of_election: BTreeMap<Sid, Ballot>,
    /// When to send the notifications again if nothing arrives (`notTimeout`).
    resend_at: u64,
    interval: u64,
    /// Set while waiting `finalizeWait` for a better vote before settling.
    finalize_at: Option<u64>,
}

impl Election {
    pub(crate) fn idle() -> Election {
        Election {
            leader: 0,
            zxid: 0,
            peer_epoch: 0,
            recv: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            resend_at: u64::MAX,
            interval: 0,
            finalize_at: None,
        }
    }
}

/// `totalOrderPredicate`: epoch first, then zxid, then server id.
fn better(new: (Sid, Zxid, i64), cur: (Sid, Zxid, i64)) -> bool {
    let (new_id, new_zxid, new_epoch) = new;
    let (cur_id, cur_zxid, cur_epoch) = cur;
    new_epoch > cur_epoch
        || (new_epoch == cur_epoch
            && (new_zxid > cur_zxid || (new_zxid == cur_zxid && new_id > cur_id)))
}

impl Zab {
    fn election(&mut self) -> &mut Election {
        match &mut self.state {
            State::Looking(e) => e,
            _ => unreachable!("not looking"),
        }
    }

    /// `getInitId` / `getInitLastLoggedZxid` / `getPeerEpoch`: a participant proposes
    /// itself; an observer has no candidate of its own.
    fn initial_vote(&self) -> (Sid, Zxid, i64) {
        if self.cfg.is_voter(self.cfg.id) {
            (self.cfg.id, self.last_logged, self.current_epoch as i64)
        } else {
            (i64::MIN, i64::MIN, i64::MIN)
        }
    }

    pub(crate) fn begin_election(&mut self) {
        self.logical_clock += 1;
        let (leader, zxid, peer_epoch) = self.initial_vote();
        let interval = self.cfg.finalize_wait_ms.max(1);
        let now = self.now;
        let e = self.election();
        e.leader = leader;
        e.zxid = zxid;
        e.peer_epoch = peer_epoch;
        e.recv.clear();
        e.out_of_election.clear();
        e.interval = interval;
        e.resend_at = now + interval;
        e.finalize_at = None;
        self.send_notifications();
    }

    fn proposal(&mut self) -> (Sid, Zxid, i64) {
        let e = self.election();
        (e.leader, e.zxid, e.peer_epoch)
    }

    fn my_notification(&mut self) -> Notification {
        let (leader, zxid, peer_epoch) = self.proposal();
        Notification {
            state: ServerState::Looking,
            leader,
            zxid,
            election_epoch: self.logical_clock,
            peer_epoch,
        }
    }

    /// `sendNotifications`: our proposal to every voter. The copy ZooKeeper sends to
    /// itself goes straight into our own table.
    fn send_notifications(&mut self) {
        let n = self.my_notification();
        let me = self.cfg.id;
        if self.cfg.is_voter(me) {
            let b = Ballot {
                leader: n.leader,
                zxid: n.zxid,
                election_epoch: n.election_epoch,
                peer_epoch: n.peer_epoch,
                state: ServerState::Looking,
            };
            self.election().recv.insert(me, b);
        }
        let voters: Vec<Sid> = self.cfg.voters.iter().copied().collect();
        for v in voters.into_iter().filter(|v| *v != me) {
            self.send(v, Message::Vote(n.clone()));
        }
    }

    pub(crate) fn election_tick(&mut self) {
        let now = self.now;
        let e = self.election();
        if e.finalize_at.is_some_and(|t| now >= t) {
            self.settle_on_proposal();
            return;
        }
        if now >= e.resend_at {
            let max = self.cfg.max_notification_interval_ms.max(1);
            let e = self.election();
            e.interval = (e.interval * 2).min(max);
            e.resend_at = now + e.interval;
            self.send_notifications();
        }
    }

    /// What `WorkerReceiver` and `lookForLeader` do with a notification.
    pub(crate) fn on_notification(&mut self, from: Sid, n: Notification) {
        let looking = matches!(self.state, State::Looking(_));
        if !looking {
            // Settled: tell a looking server what we settled on.
            if n.state == ServerState::Looking {
                let v = self.vote;
                let state = self.server_state();
                self.send(
                    from,
                    Message::Vote(Notification {
                        state,
                        leader: v.leader,
                        zxid: v.zxid,
                        election_epoch: v.election_epoch,
                        peer_epoch: v.peer_epoch,
                    }),
                );
            }
            return;
        }
        if !self.cfg.is_voter(from) {
            // A non-voter (an observer) gets our current proposal right away.
            if n.state == ServerState::Looking {
                let mine = self.my_notification();
                self.send(from, Message::Vote(mine));
            }
            return;
        }
        if n.state == ServerState::Looking && n.election_epoch < self.logical_clock {
            let mine = self.my_notification();
            self.send(from, Message::Vote(mine));
        }
        let now = self.now;
        let wait = self.cfg.finalize_wait_ms;
        let cur = self.proposal();
        let e = self.election();
        e.resend_at = now + e.interval;
        if e.finalize_at.is_some() {
            // Waiting to settle: only a better vote reopens the round; anything else
            // is dropped and the wait starts over (the `finalizeWait` poll loop).
            if better((n.leader, n.zxid, n.peer_epoch), cur) {
                self.election().finalize_at = None;
            } else {
                self.election().finalize_at = Some(now + wait);
                return;
            }
        }
        if !self.cfg.is_voter(n.leader) {
            return;
        }
        let ballot = Ballot {
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state: n.state,
        };
        match n.state {
            ServerState::Looking => self.on_looking_vote(from, ballot),
            ServerState::Following | ServerState::Leading => self.on_settled_vote(from, ballot),
            ServerState::Observing => {}
        }
    }

    fn on_looking_vote(&mut self, from: Sid, b: Ballot) {
        let new = (b.leader, b.zxid, b.peer_epoch);
        if b.election_epoch > self.logical_clock {
            self.logical_clock = b.election_epoch;
            let init = self.initial_vote();
            let pick = if better(new, init) { new } else { init };
            let e = self.election();
            e.recv.clear();
            (e.leader, e.zxid, e.peer_epoch) = pick;
            self.send_notifications();
        } else if b.election_epoch < self.logical_clock {
            return;
        } else if better(new, self.proposal()) {
            let e = self.election();
            (e.leader, e.zxid, e.peer_epoch) = new;
            self.send_notifications();
        }
        self.election().recv.insert(from, b);
        let (leader, zxid, peer_epoch) = self.proposal();
        let target = Ballot {
            leader,
            zxid,
            election_epoch: self.logical_clock,
            peer_epoch,
            state: ServerState::Looking,
        };
        let agree = self.agreeing(&self.election_ref().recv, &target);
        if self.cfg.is_quorum(&agree) {
            let at = self.now + self.cfg.finalize_wait_ms;
            self.election().finalize_at = Some(at);
        }
    }

    fn on_settled_vote(&mut self, from: Sid, b: Ballot) {
        if b.election_epoch == self.logical_clock {
            self.election().recv.insert(from, b);
            let agree = self.agreeing(&self.election_ref().recv, &b);
            if self.cfg.is_quorum(&agree)
                && self.check_leader(&self.election_ref().recv, b.leader, b.election_epoch)
            {
                self.settle(Vote {
                    leader: b.leader,
                    zxid: b.zxid,
                    election_epoch: b.election_epoch,
                    peer_epoch: b.peer_epoch,
                });
                return;
            }
        }
        // Servers that settled in an earlier round: follow them once a quorum of them
        // names the same leader and that leader says it leads.
        self.election().out_of_election.insert(from, b);
        let agree = self.agreeing(&self.election_ref().out_of_election, &b);
        if self.cfg.is_quorum(&agree)
            && self.check_leader(
                &self.election_ref().out_of_election,
                b.leader,
                b.election_epoch,
            )
        {
            self.logical_clock = b.election_epoch;
            self.settle(Vote {
                leader: b.leader,
                zxid: b.zxid,
                election_epoch: b.election_epoch,
                peer_epoch: b.peer_epoch,
            });
        }
    }

    fn election_ref(&self) -> &Election {
        match &self.state {
            State::Looking(e) => e,
            _ => unreachable!("not looking"),
        }
    }

    fn agreeing(&self, votes: &BTreeMap<Sid, Ballot>, target: &Ballot) -> Vec<Sid> {
        votes
            .iter()
            .filter(|(_, b)| b.same(target))
            .map(|(s, _)| *s)
            .collect()
    }

    /// `checkLeader`: another server must have told us it leads; we lead only if the
    /// round is ours.
    fn check_leader(&self, votes: &BTreeMap<Sid, Ballot>, leader: Sid, epoch: i64) -> bool {
        if leader != self.cfg.id {
            votes
                .get(&leader)
                .is_some_and(|b| b.state == ServerState::Leading)
        } else {
            self.logical_clock == epoch
        }
    }

    /// No better vote came within `finalizeWait`: the proposal wins.
    fn settle_on_proposal(&mut self) {
        let (leader, zxid, peer_epoch) = self.proposal();
        if leader == i64::MIN {
            // An observer with nothing but its own empty vote.
            self.election().finalize_at = None;
            return;
        }
        self.settle(Vote {
            leader,
            zxid,
            election_epoch: self.logical_clock,
            peer_epoch,
        });
    }

    fn settle(&mut self, vote: Vote) {
        self.decided(vote);
    }
}
