//! A scripted Zab ensemble for regression scenarios: several [`Zab`] servers, an explicit
//! queue of messages in flight that a test delivers, holds or drops one by one, and a disk
//! per server that keeps written-but-unsynced appends apart from durable ones.
//!
//! Unlike `zooid-sim` nothing here is random: a scenario says which message arrives next,
//! when a disk syncs and when a server crashes, so a ZooKeeper bug's interleaving can be
//! replayed step by step. The host rules of the crate doc are kept: actions run in order,
//! epoch files, TRUNC and SNAP are durable at once, an append is durable only after
//! [`Cluster::fsync`] (or at once on a server with `auto_fsync`), and each connection is FIFO.

// Each scenario uses a different part of the harness.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use zooid_zab::{
    counter_of, Action, Config, Durable, Entry, Message, Packet, Role, Sid, Zab, Zxid,
};

/// Simulated time a scenario may spend waiting for one condition.
pub const WAIT_MS_MAX: u64 = 60_000;
/// How far time moves when nothing is left to deliver.
const STEP_MS: u64 = 10;
/// Deliveries without time passing before a scenario is considered stuck in a loop.
const DELIVERIES_MAX: usize = 100_000;

/// What one server has on disk.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// A snapshot (every txn up to its last), written by SNAP.
    pub snap: Vec<Entry>,
    /// The durable log after the snapshot.
    pub log: Vec<Entry>,
    /// Written, not yet synced: a crash loses these.
    pub unsynced: Vec<Entry>,
}

impl Disk {
    /// Every txn that survives a crash, in order.
    pub fn durable(&self) -> Vec<Entry> {
        self.snap.iter().chain(&self.log).cloned().collect()
    }

    pub fn durable_zxids(&self) -> Vec<Zxid> {
        self.durable().iter().map(|e| e.zxid).collect()
    }
}

pub struct Node {
    pub zab: Option<Zab>,
    pub disk: Disk,
    /// The txns applied to this server's state, in order.
    pub state: Vec<Entry>,
    /// Sync appends as soon as they are written (a fast disk); a scenario turns it off
    /// to decide itself when [`Cluster::fsync`] happens.
    pub auto_fsync: bool,
}

impl Node {
    pub fn up(&self) -> bool {
        self.zab.is_some()
    }

    pub fn zab(&self) -> &Zab {
        self.zab.as_ref().expect("server is down")
    }

    pub fn role(&self) -> Option<Role> {
        self.zab.as_ref().map(|z| z.role())
    }

    pub fn applied_zxids(&self) -> Vec<Zxid> {
        self.state.iter().map(|e| e.zxid).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    Msg(Message),
    /// The sender closed (or lost) the quorum connection.
    Down,
}

#[derive(Debug, Clone)]
pub struct InFlight {
    pub seq: u64,
    pub from: Sid,
    pub to: Sid,
    pub wire: Wire,
}

impl InFlight {
    fn quorum(&self) -> bool {
        !matches!(self.wire, Wire::Msg(Message::Vote(_)))
    }

    fn link(&self) -> (Sid, Sid, bool) {
        (self.from, self.to, self.quorum())
    }

    pub fn packet(&self) -> Option<&Packet> {
        match &self.wire {
            Wire::Msg(Message::Quorum(p)) => Some(p),
            _ => None,
        }
    }
}

/// What happened, in order, for assertions about ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `unsynced`: the sender's appends not yet durable when it sent this.
    Sent {
        from: Sid,
        to: Sid,
        msg: Message,
        unsynced: Vec<Zxid>,
    },
    SavedCurrentEpoch {
        sid: Sid,
        epoch: u32,
        unsynced: Vec<Zxid>,
    },
    Synced {
        sid: Sid,
        zxid: Zxid,
    },
    Applied {
        sid: Sid,
        zxid: Zxid,
    },
    Role {
        sid: Sid,
        role: Role,
    },
    Crashed(Sid),
    Restarted(Sid),
}

type HoldRule = Box<dyn Fn(&InFlight) -> bool>;

pub struct Cluster {
    pub nodes: BTreeMap<Sid, Node>,
    pub net: VecDeque<InFlight>,
    pub now: u64,
    pub trace: Vec<Event>,
    /// Txns a quorum agreed on: applied by an active leader, or in its history when it
    /// became active.
    pub committed: BTreeMap<Zxid, Bytes>,
    /// Every txn seen anywhere, to check that a zxid always names the same txn.
    seen: BTreeMap<Zxid, Bytes>,
    holds: BTreeMap<u64, HoldRule>,
    next_seq: u64,
    next_hold: u64,
    voters: Vec<Sid>,
}

pub fn cfg(id: Sid, voters: &[Sid]) -> Config {
    Config::new(id, voters.iter().copied())
}

impl Cluster {
    /// Servers `1..=n`, empty disks, fast fsync, all started.
    pub fn new(n: i64) -> Cluster {
        let voters: Vec<Sid> = (1..=n).collect();
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            net: VecDeque::new(),
            now: 0,
            trace: Vec::new(),
            committed: BTreeMap::new(),
            seen: BTreeMap::new(),
            holds: BTreeMap::new(),
            next_seq: 0,
            next_hold: 0,
            voters,
        };
        for sid in 1..=n {
            c.nodes.insert(
                sid,
                Node {
                    zab: None,
                    disk: Disk::default(),
                    state: Vec::new(),
                    auto_fsync: true,
                },
            );
            c.restart(sid);
        }
        c
    }

    pub fn node(&self, sid: Sid) -> &Node {
        &self.nodes[&sid]
    }

    fn node_mut(&mut self, sid: Sid) -> &mut Node {
        self.nodes.get_mut(&sid).expect("no such server")
    }

    pub fn set_auto_fsync(&mut self, sid: Sid, on: bool) {
        self.node_mut(sid).auto_fsync = on;
    }

    // ------------------------------------------------------------ servers

    /// The process dies: unsynced appends and its connections are lost; peers see their
    /// quorum connection to it break.
    pub fn crash(&mut self, sid: Sid) {
        let n = self.node_mut(sid);
        assert!(n.up(), "server {sid} is already down");
        n.zab = None;
        n.disk.unsynced.clear();
        n.state.clear();
        self.net.retain(|m| m.from != sid && m.to != sid);
        let peers: Vec<Sid> = self.nodes.keys().copied().filter(|p| *p != sid).collect();
        for p in peers {
            self.push(sid, p, Wire::Down);
        }
        self.trace.push(Event::Crashed(sid));
    }

    /// Starts the server from its disk, everything durable applied.
    pub fn restart(&mut self, sid: Sid) {
        let cfg = cfg(sid, &self.voters);
        let now = self.now;
        let n = self.node_mut(sid);
        assert!(!n.up(), "server {sid} is running");
        let history = n.disk.durable();
        n.state = history.clone();
        let durable = Durable {
            accepted_epoch: n.disk.accepted_epoch,
            current_epoch: n.disk.current_epoch,
            log_base: 0,
            log_tail: history,
        };
        n.zab = Some(Zab::new(cfg, durable, now));
        self.trace.push(Event::Restarted(sid));
        self.drive(sid);
    }

    /// The disk syncs everything written so far.
    pub fn fsync(&mut self, sid: Sid) {
        let n = self.node_mut(sid);
        if !n.up() || n.disk.unsynced.is_empty() {
            return;
        }
        let flushed: Vec<Entry> = n.disk.unsynced.drain(..).collect();
        let last = flushed.last().expect("not empty").zxid;
        n.disk.log.extend(flushed);
        n.zab.as_mut().expect("up").persisted(last);
        self.trace.push(Event::Synced { sid, zxid: last });
        self.drive(sid);
    }

    /// Carries out the server's actions in order until it has none left.
    fn drive(&mut self, sid: Sid) {
        loop {
            let Some(z) = self.node_mut(sid).zab.as_mut() else {
                return;
            };
            let actions = z.take_actions();
            if actions.is_empty() {
                let n = self.node(sid);
                if n.auto_fsync && !n.disk.unsynced.is_empty() {
                    self.fsync(sid);
                }
                return;
            }
            for a in actions {
                self.act(sid, a);
            }
        }
    }

    fn unsynced(&self, sid: Sid) -> Vec<Zxid> {
        self.node(sid)
            .disk
            .unsynced
            .iter()
            .map(|e| e.zxid)
            .collect()
    }

    fn note(&mut self, e: &Entry) {
        let prev = self.seen.entry(e.zxid).or_insert_with(|| e.data.clone());
        assert_eq!(*prev, e.data, "zxid {:#x} names two different txns", e.zxid);
    }

    fn act(&mut self, sid: Sid, a: Action) {
        match a {
            Action::Send { to, msg } => {
                let unsynced = self.unsynced(sid);
                self.trace.push(Event::Sent {
                    from: sid,
                    to,
                    msg: msg.clone(),
                    unsynced,
                });
                self.push(sid, to, Wire::Msg(msg));
            }
            Action::Disconnect { peer } => {
                // Our end closes: whatever is queued either way on it is gone, and the
                // peer notices.
                self.net.retain(|m| {
                    !(m.quorum()
                        && ((m.from == sid && m.to == peer) || (m.from == peer && m.to == sid)))
                });
                self.push(sid, peer, Wire::Down);
            }
            Action::SaveAcceptedEpoch(e) => self.node_mut(sid).disk.accepted_epoch = e,
            Action::SaveCurrentEpoch(e) => {
                let unsynced = self.unsynced(sid);
                let d = &mut self.node_mut(sid).disk;
                assert!(e <= d.accepted_epoch, "currentEpoch beyond acceptedEpoch");
                d.current_epoch = e;
                self.trace.push(Event::SavedCurrentEpoch {
                    sid,
                    epoch: e,
                    unsynced,
                });
            }
            Action::Append(e) => {
                self.note(&e);
                self.node_mut(sid).disk.unsynced.push(e);
            }
            Action::Truncate { zxid } => {
                let n = self.node_mut(sid);
                n.disk.snap.retain(|e| e.zxid <= zxid);
                n.disk.log.retain(|e| e.zxid <= zxid);
                n.disk.unsynced.retain(|e| e.zxid <= zxid);
                let mut all = n.disk.durable();
                all.extend(n.disk.unsynced.iter().cloned());
                n.state = all;
            }
            Action::InstallSnapshot { zxid, data } => {
                let entries = decode_state(data);
                assert_eq!(entries.last().map_or(0, |e| e.zxid), zxid);
                for e in &entries {
                    self.note(e);
                }
                let n = self.node_mut(sid);
                n.disk.snap = entries.clone();
                n.disk.log.clear();
                n.disk.unsynced.clear();
                n.state = entries;
            }
            Action::SendSnapshot { to, zxid } => {
                let n = self.node(sid);
                assert_eq!(n.state.last().map_or(0, |e| e.zxid), zxid);
                let data = encode_state(&n.state);
                let msg = Message::Quorum(Packet::Snap { zxid, data });
                self.act(sid, Action::Send { to, msg });
            }
            Action::Apply(e) => {
                self.note(&e);
                let active = self.node(sid).role() == Some(Role::Leading { active: true });
                let n = self.node_mut(sid);
                let last = n.state.last().map_or(0, |x| x.zxid);
                assert!(
                    e.zxid > last,
                    "server {sid} applies {:#x} after {last:#x}",
                    e.zxid
                );
                n.state.push(e.clone());
                if active {
                    self.committed.insert(e.zxid, e.data.clone());
                }
                self.trace.push(Event::Applied { sid, zxid: e.zxid });
            }
            Action::RoleChanged(role) => {
                if role == (Role::Leading { active: true }) {
                    // A quorum acked NEWLEADER: the leader's whole history is committed.
                    let state = self.node(sid).state.clone();
                    for e in state {
                        self.committed.insert(e.zxid, e.data);
                    }
                }
                self.trace.push(Event::Role { sid, role });
            }
            Action::LearnerPing { .. } | Action::SyncReady { .. } => {}
        }
    }

    // ------------------------------------------------------------ network

    fn push(&mut self, from: Sid, to: Sid, wire: Wire) {
        self.next_seq += 1;
        self.net.push_back(InFlight {
            seq: self.next_seq,
            from,
            to,
            wire,
        });
    }

    /// Holds back every message `rule` matches, and everything behind it on the same
    /// connection (they are FIFO), until [`Cluster::release`].
    pub fn hold(&mut self, rule: impl Fn(&InFlight) -> bool + 'static) -> u64 {
        self.next_hold += 1;
        self.holds.insert(self.next_hold, Box::new(rule));
        self.next_hold
    }

    pub fn release(&mut self, hold: u64) {
        assert!(self.holds.remove(&hold).is_some(), "no such hold");
    }

    /// The index of the next message that may arrive, if any.
    fn next_deliverable(&self) -> Option<usize> {
        let mut blocked: Vec<(Sid, Sid, bool)> = Vec::new();
        for (i, m) in self.net.iter().enumerate() {
            if blocked.contains(&m.link()) {
                continue;
            }
            if self.holds.values().any(|h| h(m)) {
                blocked.push(m.link());
                continue;
            }
            return Some(i);
        }
        None
    }

    /// Delivers the next message that may arrive; false when there is none.
    pub fn deliver_one(&mut self) -> bool {
        let Some(i) = self.next_deliverable() else {
            return false;
        };
        let m = self.net.remove(i).expect("index from next_deliverable");
        self.deliver(m);
        true
    }

    fn deliver(&mut self, m: InFlight) {
        let Some(z) = self.node_mut(m.to).zab.as_mut() else {
            return;
        };
        match m.wire {
            Wire::Msg(msg) => z.step(m.from, msg),
            Wire::Down => z.peer_down(m.from),
        }
        self.drive(m.to);
    }

    /// Delivers messages, without time passing, until none may arrive.
    pub fn deliver_all(&mut self) {
        let mut n = 0;
        while self.deliver_one() {
            n += 1;
            assert!(n < DELIVERIES_MAX, "messages never stop");
        }
    }

    /// Delivers messages one at a time, without time passing, until `cond` holds (true)
    /// or none may arrive (false).
    pub fn deliver_until(&mut self, cond: impl Fn(&Cluster) -> bool) -> bool {
        let mut n = 0;
        while !cond(self) {
            if !self.deliver_one() {
                return false;
            }
            n += 1;
            assert!(n < DELIVERIES_MAX, "messages never stop");
        }
        true
    }

    /// Removes (loses) every message in flight that `pred` matches.
    pub fn drop_where(&mut self, pred: impl Fn(&InFlight) -> bool) {
        self.net.retain(|m| !pred(m));
    }

    /// Sends a message as if `from` had (a scripted or older peer).
    pub fn inject(&mut self, from: Sid, to: Sid, p: Packet) {
        self.push(from, to, Wire::Msg(Message::Quorum(p)));
    }

    // ------------------------------------------------------------ time

    /// Time passes by `ms`; every running server ticks.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        let now = self.now;
        let ids: Vec<Sid> = self.nodes.keys().copied().collect();
        for sid in ids {
            if let Some(z) = self.node_mut(sid).zab.as_mut() {
                z.tick(now);
                self.drive(sid);
            }
        }
    }

    /// Delivers messages and lets time pass until `cond` holds; stops at the first
    /// delivery (or tick) after which it does.
    pub fn run_until(&mut self, what: &str, cond: impl Fn(&Cluster) -> bool) {
        let deadline = self.now + WAIT_MS_MAX;
        loop {
            if self.deliver_until(&cond) {
                return;
            }
            assert!(self.now < deadline, "timed out waiting for: {what}");
            self.advance(STEP_MS);
        }
    }

    // ------------------------------------------------------------ queries

    /// The serving leader, if exactly one server is an active leader.
    pub fn leader(&self) -> Option<Sid> {
        let active: Vec<Sid> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.role() == Some(Role::Leading { active: true }))
            .map(|(s, _)| *s)
            .collect();
        (active.len() == 1).then(|| active[0])
    }

    /// An active leader with every running voter synced to it.
    pub fn settled(&self) -> Option<Sid> {
        let l = self.leader()?;
        let all = self
            .nodes
            .iter()
            .filter(|(s, n)| **s != l && n.up())
            .all(|(_, n)| {
                n.role()
                    == Some(Role::Following {
                        leader: l,
                        synced: true,
                    })
            });
        all.then_some(l)
    }

    /// Runs until an active leader has every running server synced, then delivers what is
    /// left in flight; returns the leader.
    pub fn settle(&mut self) -> Sid {
        self.run_until("a leader with every running server synced", |c| {
            c.settled().is_some()
        });
        self.deliver_all();
        self.settled().expect("settled after delivering the rest")
    }

    /// The leader proposes `data`; returns its zxid. Nothing is delivered.
    pub fn propose(&mut self, data: &str) -> Zxid {
        let l = self.leader().expect("no active leader");
        let z = self.node_mut(l).zab.as_mut().expect("up");
        let zxid = z.next_zxid().expect("active leader");
        z.propose(Entry {
            zxid,
            data: Bytes::copy_from_slice(data.as_bytes()),
        })
        .expect("proposal accepted");
        self.drive(l);
        zxid
    }

    /// Proposes `data` and runs until the leader has committed it.
    pub fn write(&mut self, data: &str) -> Zxid {
        let zxid = self.propose(data);
        self.run_until("the write to commit", |c| c.committed.contains_key(&zxid));
        zxid
    }

    /// The messages `from` sent to `to` since it last started, in order, each with the
    /// appends it had not synced then.
    pub fn sent(&self, from: Sid, to: Sid) -> Vec<(Message, Vec<Zxid>)> {
        let started = self
            .trace
            .iter()
            .rposition(|e| *e == Event::Restarted(from))
            .unwrap_or(0);
        self.trace[started..]
            .iter()
            .filter_map(|e| match e {
                Event::Sent {
                    from: f,
                    to: t,
                    msg,
                    unsynced,
                } if *f == from && *t == to => Some((msg.clone(), unsynced.clone())),
                _ => None,
            })
            .collect()
    }

    /// The zxids of the ACKs `from` sent to `to` since it last started, in order.
    pub fn acks(&self, from: Sid, to: Sid) -> Vec<Zxid> {
        self.sent(from, to)
            .into_iter()
            .filter_map(|(m, _)| match m {
                Message::Quorum(Packet::Ack { zxid }) => Some(zxid),
                _ => None,
            })
            .collect()
    }

    /// Checks the properties every scenario ends with, once settled: every running
    /// server applied the same history, it holds every committed txn, and every durable
    /// log is that history's prefix (no hole, nothing foreign).
    pub fn check_converged(&self) {
        let l = self.settled().expect("not settled");
        let history = self.node(l).applied_zxids();
        for zxid in self.committed.keys() {
            assert!(
                history.contains(zxid),
                "committed txn {zxid:#x} lost: leader {l} has {}",
                fmt_zxids(&history)
            );
        }
        for (sid, n) in self.nodes.iter().filter(|(_, n)| n.up()) {
            assert_eq!(
                fmt_zxids(&n.applied_zxids()),
                fmt_zxids(&history),
                "server {sid} applied another history than leader {l}"
            );
            let durable = n.disk.durable_zxids();
            assert!(
                history.starts_with(&durable),
                "server {sid}'s durable log {} is not a prefix of {}",
                fmt_zxids(&durable),
                fmt_zxids(&history)
            );
        }
    }
}

pub fn fmt_zxids(z: &[Zxid]) -> String {
    let v: Vec<String> = z
        .iter()
        .map(|z| format!("{}:{}", zooid_zab::epoch_of(*z), counter_of(*z)))
        .collect();
    format!("[{}]", v.join(" "))
}

/// NEWLEADER's zxid is the new epoch with counter 0; no txn has counter 0.
pub fn is_newleader_zxid(z: Zxid) -> bool {
    counter_of(z) == 0
}

fn encode_state(entries: &[Entry]) -> Bytes {
    let mut b = BytesMut::new();
    for e in entries {
        b.put_i64(e.zxid);
        b.put_u32(e.data.len() as u32);
        b.put_slice(&e.data);
    }
    b.freeze()
}

fn decode_state(mut b: Bytes) -> Vec<Entry> {
    let mut out = Vec::new();
    while b.has_remaining() {
        let zxid = b.get_i64();
        let len = b.get_u32() as usize;
        out.push(Entry {
            zxid,
            data: b.split_to(len),
        });
    }
    out
}
