//! The leader's SNAP for a learner, built off the driver thread while the ensemble goes
//! on (`LearnerHandler.syncFollower`: `startForwarding`, then the snapshot is serialized
//! without stopping writes).
//!
//! When Zab asks for a snapshot (`Action::SendSnapshot`), a thread of its own waits for
//! the core to apply up to the SNAP's zxid and walks the live tree in short read-locked
//! steps (`persist::FuzzyNodes`, as the periodic snapshots do), so writes are delayed by
//! one step at most. Meanwhile the driver serves everybody else; every packet it sends
//! to that learner is held here and follows the SNAP, in order, once the bytes are
//! built. The snapshot is fuzzy: it may hold changes of txns after its zxid, up to the
//! last zxid applied when the walk ended (`last`); the learner applies every txn after
//! the zxid on top of it, and a txn whose effect is already there changes nothing more
//! (`DataTree::apply` reports NodeExists/NoNode and goes on, as ZooKeeper's does).
//!
//! The held proposals of txns up to `last` go without the leader's tree digest: a
//! learner's tree is only exact again once it applied `last`, and an Apache ZooKeeper
//! follower compares the digest of every txn committed after NEWLEADER
//! (`DataTree.compareDigest` has no fuzzy state after a SNAP), so it would report
//! mismatches that are none. ZooKeeper learners skip a txn without a digest.
//!
//! A learner that disconnects, or is dropped, before its snapshot is ready loses the
//! held packets and the snapshot; its walk stops at the next node.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zooid_proto::quorum::QuorumPacket;
use zooid_storage::snap;
use zooid_zab::{Message, Packet, Sid, Zxid};

use super::DriverMsg;
use crate::state::Shared;

/// Packets held for one learner while its snapshot is built. They enter the transport's
/// queue for that learner at once after the SNAP, and that queue closes the connection
/// past `TransportConfig::quorum_queue_max` (100,000): past this bound the learner is
/// disconnected instead (it is falling behind faster than a snapshot can catch it up).
const HELD_PACKETS_MAX: usize = 90_000;

/// How long the snapshot thread waits for the core to apply up to the SNAP's zxid (the
/// txns Zab committed before it asked; the core is behind by a queue at most).
const APPLY_WAIT_MAX: Duration = Duration::from_secs(10);

/// A packet for a learner whose snapshot is being built.
pub enum Held {
    Zab(Message),
    Host(QuorumPacket),
}

/// A snapshot built for a learner, back to the driver.
pub struct Built {
    to: Sid,
    generation: u64,
    zxid: Zxid,
    result: Result<FuzzySync, String>,
}

/// A learner's fuzzy snapshot: the SNAP body, and the zxids applied when the walk
/// began and ended.
struct FuzzySync {
    data: Vec<u8>,
    first: Zxid,
    last: Zxid,
}

/// One learner's snapshot in the making.
struct Job {
    generation: u64,
    held: Vec<Held>,
    stop: Arc<AtomicBool>,
}

/// What [`SnapOut::hold`] did with a packet.
pub enum Hold {
    /// No snapshot is being built for that learner: send it now.
    Send(Held),
    Held,
    /// Too many packets wait: the learner's snapshot was given up; disconnect it.
    Overflow,
}

/// The snapshots being built, one per learner at most.
#[derive(Default)]
pub struct SnapOut {
    jobs: HashMap<Sid, Job>,
    generations: u64,
}

impl SnapOut {
    /// Starts building `to`'s snapshot at `zxid` on a thread of its own; its result
    /// comes back as [`DriverMsg::SnapshotBuilt`] on `tx`. A snapshot still being built
    /// for `to` is given up.
    pub fn start(
        &mut self,
        shared: Arc<Shared>,
        to: Sid,
        zxid: Zxid,
        tx: std_mpsc::Sender<DriverMsg>,
    ) {
        self.cancel(to);
        self.generations += 1;
        let generation = self.generations;
        let stop = Arc::new(AtomicBool::new(false));
        self.jobs.insert(
            to,
            Job {
                generation,
                held: Vec::new(),
                stop: stop.clone(),
            },
        );
        let spawned = std::thread::Builder::new()
            .name("snap-out".into())
            .spawn(move || {
                let result = build(&shared, zxid, &stop);
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let built = Built {
                    to,
                    generation,
                    zxid,
                    result,
                };
                let _ = tx.send(DriverMsg::SnapshotBuilt(Box::new(built)));
            });
        if let Err(e) = spawned {
            // The learner waits for a SNAP that will not come: it times out and retries.
            tracing::error!("cannot start a thread for server {to}'s snapshot: {e}");
            self.cancel(to);
        }
    }

    /// Holds a packet for `to` if its snapshot is being built.
    pub fn hold(&mut self, to: Sid, p: Held) -> Hold {
        let Some(job) = self.jobs.get_mut(&to) else {
            return Hold::Send(p);
        };
        if job.held.len() >= HELD_PACKETS_MAX {
            tracing::warn!(
                "{} packets wait for server {to}'s snapshot; giving it up",
                job.held.len()
            );
            self.cancel(to);
            return Hold::Overflow;
        }
        job.held.push(p);
        Hold::Held
    }

    /// Gives up `peer`'s snapshot, if one is being built, and the packets held for it.
    pub fn cancel(&mut self, peer: Sid) {
        if let Some(job) = self.jobs.remove(&peer) {
            job.stop.store(true, Ordering::Relaxed);
            tracing::info!(
                "server {peer}'s snapshot given up; {} held packets dropped",
                job.held.len()
            );
        }
    }

    /// Gives up every snapshot (this server no longer leads: a learner it was for may
    /// be the next leader, whose packets must not wait for it).
    pub fn cancel_all(&mut self) {
        let peers: Vec<Sid> = self.jobs.keys().copied().collect();
        for p in peers {
            self.cancel(p);
        }
    }

    /// A snapshot came back: the packets to send to its learner, the SNAP first, or
    /// nothing if the snapshot was given up meanwhile. `Err` when it could not be
    /// built: the learner must be disconnected.
    pub fn finish(&mut self, b: Built) -> Option<(Sid, Result<Vec<Held>, String>)> {
        let current = self.jobs.get(&b.to).map(|j| j.generation);
        if current != Some(b.generation) {
            return None; // given up, or replaced by a newer one
        }
        let job = self.jobs.remove(&b.to).expect("looked up above");
        let snap = match b.result {
            Ok(s) => s,
            Err(e) => return Some((b.to, Err(e))),
        };
        let applied = match snap.last >> 32 == snap.first >> 32 {
            true => format!("{}", snap.last - snap.first),
            false => "some".into(),
        };
        tracing::info!(
            "sending server {} a snapshot at {:#x} ({} bytes); {applied} txns were applied \
             during the walk ({:#x} to {:#x}), {} packets held",
            b.to,
            b.zxid,
            snap.data.len(),
            snap.first,
            snap.last,
            job.held.len()
        );
        let mut out = Vec::with_capacity(job.held.len() + 1);
        out.push(Held::Zab(Message::Quorum(Packet::Snap {
            zxid: b.zxid,
            data: snap.data.into(),
        })));
        out.extend(job.held.into_iter().map(|h| strip_digest(h, snap.last)));
        Some((b.to, Ok(out)))
    }
}

/// A held proposal of a txn the snapshot may already hold, without its digest (see the
/// module doc); anything else as it was.
fn strip_digest(h: Held, last: Zxid) -> Held {
    match h {
        Held::Zab(Message::Quorum(Packet::Proposal(e))) if e.zxid <= last => {
            let e = match super::decode_txn(&e) {
                (txn, Some(_)) => super::entry_of(&txn, None),
                (_, None) => e,
            };
            Held::Zab(Message::Quorum(Packet::Proposal(e)))
        }
        h => h,
    }
}

/// Waits for the core to apply up to `zxid`, then walks the tree.
fn build(shared: &Shared, zxid: Zxid, stop: &AtomicBool) -> Result<FuzzySync, String> {
    let deadline = Instant::now() + APPLY_WAIT_MAX;
    while shared.tree.read().last_zxid() < zxid {
        if stop.load(Ordering::Relaxed) {
            return Err("given up".into());
        }
        if Instant::now() > deadline {
            return Err(format!("the core did not reach {zxid:#x}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // The session table as the core has it now (`ZKDatabase.serializeSnapshot` writes
    // the leader's sessions when it serializes).
    let crate::persist::FuzzyStart {
        zxid: first,
        acls,
        sessions,
    } = crate::persist::FuzzyStart::now(shared);
    // Unpaced: the learner waits for these bytes within initLimit, and each step holds
    // the read lock for one short step only.
    let nodes = crate::persist::FuzzyNodes::new(shared, false)
        .take_while(|_| !stop.load(Ordering::Relaxed));
    let mut data = Vec::new();
    snap::encode_sync_snapshot(&sessions, &acls, nodes, &mut data)
        .map_err(|e| format!("the walk is not depth-first: {e}"))?;
    if stop.load(Ordering::Relaxed) {
        return Err("given up".into());
    }
    // Every change the walk saw was applied by now: the snapshot holds nothing after it.
    let last = shared.tree.read().last_zxid();
    Ok(FuzzySync { data, first, last })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use zooid_proto::opcode::op;
    use zooid_proto::{SetDataTxn, TxnDigest, TxnHeader};
    use zooid_tree::{Txn, TxnBody};

    use super::*;

    fn proposal(zxid: Zxid) -> Held {
        let txn = Txn {
            hdr: TxnHeader {
                client_id: 1,
                cxid: 1,
                zxid,
                time: 5,
                op: op::SET_DATA,
            },
            body: TxnBody::SetData(SetDataTxn {
                path: "/a".into(),
                data: Bytes::from_static(b"x"),
                version: 1,
            }),
        };
        let digest = TxnDigest {
            version: 2,
            tree_digest: zxid,
        };
        Held::Zab(Message::Quorum(Packet::Proposal(super::super::entry_of(
            &txn,
            Some(&digest),
        ))))
    }

    /// `out`'s zxid for each packet, and whether a proposal still has its digest.
    fn show(out: &[Held]) -> Vec<String> {
        out.iter()
            .map(|h| match h {
                Held::Zab(Message::Quorum(Packet::Snap { zxid, .. })) => format!("snap {zxid}"),
                Held::Zab(Message::Quorum(Packet::Proposal(e))) => {
                    let digest = super::super::decode_txn(e).1.is_some();
                    format!("proposal {} digest {digest}", e.zxid)
                }
                Held::Zab(Message::Quorum(Packet::Commit { zxid })) => format!("commit {zxid}"),
                Held::Zab(_) => "other".into(),
                Held::Host(p) => format!("host {}", p.kind),
            })
            .collect()
    }

    fn job(out: &mut SnapOut, to: Sid) -> u64 {
        out.generations += 1;
        let generation = out.generations;
        let stop = Arc::new(AtomicBool::new(false));
        out.jobs.insert(
            to,
            Job {
                generation,
                held: Vec::new(),
                stop,
            },
        );
        generation
    }

    fn built(to: Sid, generation: u64) -> Built {
        Built {
            to,
            generation,
            zxid: 10,
            result: Ok(FuzzySync {
                data: vec![1, 2, 3],
                first: 10,
                last: 12,
            }),
        }
    }

    #[test]
    fn held_packets_follow_the_snap_in_order_without_digests_up_to_the_walks_end() {
        let mut out = SnapOut::default();
        assert!(matches!(out.hold(2, proposal(11)), Hold::Send(_)));
        let generation = job(&mut out, 2);
        for h in [
            proposal(11),
            Held::Zab(Message::Quorum(Packet::Commit { zxid: 11 })),
            proposal(12),
            proposal(13),
        ] {
            assert!(matches!(out.hold(2, h), Hold::Held));
        }
        // Another learner's packets pass.
        assert!(matches!(out.hold(3, proposal(13)), Hold::Send(_)));
        // A result of an older attempt is dropped.
        assert!(out.finish(built(2, generation - 1)).is_none());
        let (to, sent) = out.finish(built(2, generation)).expect("current");
        assert_eq!(to, 2);
        assert_eq!(
            show(&sent.unwrap()),
            [
                "snap 10",
                "proposal 11 digest false",
                "commit 11",
                "proposal 12 digest false",
                "proposal 13 digest true",
            ]
        );
        assert!(matches!(out.hold(2, proposal(14)), Hold::Send(_)));
    }

    #[test]
    fn a_learner_gone_meanwhile_loses_its_snapshot_and_held_packets() {
        let mut out = SnapOut::default();
        let generation = job(&mut out, 2);
        assert!(matches!(out.hold(2, proposal(11)), Hold::Held));
        let stop = out.jobs[&2].stop.clone();
        out.cancel(2);
        assert!(stop.load(Ordering::Relaxed));
        assert!(out.finish(built(2, generation)).is_none());
        assert!(matches!(out.hold(2, proposal(12)), Hold::Send(_)));
        job(&mut out, 2);
        for _ in 0..HELD_PACKETS_MAX {
            assert!(matches!(out.hold(2, proposal(12)), Hold::Held));
        }
        assert!(matches!(out.hold(2, proposal(12)), Hold::Overflow));
        assert!(out.jobs.is_empty());
    }
}
