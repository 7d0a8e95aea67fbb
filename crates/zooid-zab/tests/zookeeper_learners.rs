//! What a leader owes a learner that may be Apache ZooKeeper's: the rules of
//! `LearnerHandler` that ZooKeeper's `Learner` depends on (it exits on anything else),
//! found by running Zooid inside ZooKeeper ensembles (`tests/interop/
//! test_mixed_ensemble.py`). Servers are 1..=3; with equal logs the highest id leads.

mod harness;

use harness::*;
use zooid_zab::{Message, Packet, Sid};

/// The packets `from` sent `to` since `to` last restarted.
fn since_restart(c: &Cluster, from: Sid, to: Sid) -> Vec<Packet> {
    let started = c
        .trace
        .iter()
        .rposition(|e| *e == Event::Restarted(to))
        .expect("restarted");
    c.trace[started..]
        .iter()
        .filter_map(|e| match e {
            Event::Sent {
                from: f,
                to: t,
                msg: Message::Quorum(p),
                ..
            } if *f == from && *t == to => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn name(p: &Packet) -> &'static str {
    match p {
        Packet::LeaderInfo { .. } => "LEADERINFO",
        Packet::Diff { .. } => "DIFF",
        Packet::Trunc { .. } => "TRUNC",
        Packet::Snap { .. } => "SNAP",
        Packet::Proposal(_) => "PROPOSAL",
        Packet::Commit { .. } => "COMMIT",
        Packet::NewLeader { .. } => "NEWLEADER",
        Packet::UpToDate => "UPTODATE",
        Packet::Ping { .. } => "PING",
        _ => "other",
    }
}

/// `Learner.syncWithLeader` reads DIFF, TRUNC or SNAP right after ACKEPOCH and exits on
/// anything else: a serving leader must not PING a learner before its sync is sent
/// (`LearnerHandler.ping` waits for `sendingThreadStarted`).
#[test]
fn a_joining_learner_gets_no_ping_before_its_sync() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    c.crash(1);
    c.write("a");
    // 1 comes back while 3 serves; its ACKEPOCH is late, and 3 pings meanwhile.
    let late =
        c.hold(|m| m.from == 1 && m.to == 3 && matches!(m.packet(), Some(Packet::AckEpoch { .. })));
    c.restart(1);
    c.run_until("1 to send ACKEPOCH", |c| {
        c.net
            .iter()
            .any(|m| m.from == 1 && matches!(m.packet(), Some(Packet::AckEpoch { .. })))
    });
    c.advance(5_000);
    c.release(late);
    c.settle();
    c.advance(1_000); // pings of the synced learner, for the order below
    c.deliver_all();
    let sent: Vec<&str> = since_restart(&c, 3, 1).iter().map(name).collect();
    let sync = sent
        .iter()
        .position(|p| matches!(*p, "DIFF" | "TRUNC" | "SNAP"));
    let first_ping = sent.iter().position(|p| *p == "PING");
    assert!(sync.is_some() && first_ping.is_some(), "{sent:?}");
    assert!(first_ping > sync, "PING before the sync: {sent:?}");
    c.check_converged();
}

/// The old leader logged `p` alone and comes back. Before the new epoch has a txn, the
/// new leader cuts `p` with TRUNC (ZooKeeper: "peer has txns we have not seen").
#[test]
fn an_old_leader_is_truncated_within_its_epoch() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    let a = c.write("a");
    c.crash(1);
    c.crash(2);
    c.propose("p");
    c.crash(3);
    c.restart(1);
    c.restart(2);
    assert_eq!(c.settle(), 2);
    c.restart(3);
    c.settle();
    let sent = since_restart(&c, 2, 3);
    assert!(
        sent.iter().any(|p| *p == Packet::Trunc { zxid: a }),
        "{:?}",
        sent.iter().map(name).collect::<Vec<_>>()
    );
    c.check_converged();
}

/// Once the new epoch has a txn, the first txn after the old leader's `p` is of another
/// epoch: ZooKeeper never sends TRUNC across an epoch ("Cannot send TRUNC to peer ...
/// peer zxid is from different epoch"; a learner whose log lacks the zxid exits), it
/// sends SNAP.
#[test]
fn an_old_leader_gets_a_snapshot_when_truncating_would_cross_an_epoch() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    c.write("a");
    c.crash(1);
    c.crash(2);
    c.propose("p");
    c.crash(3);
    c.restart(1);
    c.restart(2);
    assert_eq!(c.settle(), 2);
    c.write("b");
    c.restart(3);
    c.settle();
    let sent: Vec<&str> = since_restart(&c, 2, 3).iter().map(name).collect();
    assert!(
        sent.contains(&"SNAP") && !sent.contains(&"TRUNC"),
        "{sent:?}"
    );
    c.check_converged();
}
