//! Scripted regression scenarios for the ZooKeeper Zab bugs DESIGN.md lists
//! (ZOOKEEPER-3911, -4643, -4646, -4685, -4785, -4925): each replays the JIRA's message,
//! fsync and crash interleaving against our [`zooid_zab::Zab`] and checks the property
//! that ZooKeeper broke. The servers are 1..=n; with equal logs the highest id wins an
//! election, so server 3 (or 5) leads first.

mod harness;

use harness::*;
use zooid_zab::{make_zxid, Message, Packet, Role, Sid, Zxid};

/// True once `leader` has sent NEWLEADER to `learner` since `learner` last started, and
/// everything it sent has arrived.
fn got_newleader(c: &Cluster, learner: Sid, leader: Sid) -> bool {
    let started = c
        .trace
        .iter()
        .rposition(|e| *e == Event::Restarted(learner))
        .unwrap_or(0);
    let sent = c.trace[started..].iter().any(|e| {
        matches!(e, Event::Sent { from, to, msg: Message::Quorum(Packet::NewLeader { .. }), .. }
            if *from == leader && *to == learner)
    });
    let in_flight = c
        .net
        .iter()
        .any(|m| m.from == leader && m.to == learner && m.packet().is_some());
    sent && !in_flight
}

fn is_active(c: &Cluster, sid: Sid) -> bool {
    c.node(sid).role() == Some(Role::Leading { active: true })
}

/// Every NEWLEADER ack any learner sent, with the appends it had not synced then.
fn newleader_acks(c: &Cluster) -> Vec<(Sid, Zxid, Vec<Zxid>)> {
    c.trace
        .iter()
        .filter_map(|e| match e {
            Event::Sent {
                from,
                msg: Message::Quorum(Packet::Ack { zxid }),
                unsynced,
                ..
            } if is_newleader_zxid(*zxid) => Some((*from, *zxid, unsynced.clone())),
            _ => None,
        })
        .collect()
}

/// The rule of ZOOKEEPER-3911/-4646: a learner acks NEWLEADER only with nothing unsynced.
fn assert_newleader_acks_durable(c: &Cluster) {
    for (sid, zxid, unsynced) in newleader_acks(c) {
        assert!(
            unsynced.is_empty(),
            "server {sid} acked NEWLEADER {zxid:#x} with {} not durable",
            fmt_zxids(&unsynced)
        );
    }
}

/// The rule of ZOOKEEPER-4643/-4785: currentEpoch is saved only with the log durable.
fn assert_current_epoch_after_log(c: &Cluster) {
    for e in &c.trace {
        if let Event::SavedCurrentEpoch {
            sid,
            epoch,
            unsynced,
        } = e
        {
            assert!(
                unsynced.is_empty(),
                "server {sid} saved currentEpoch {epoch} with {} not durable",
                fmt_zxids(unsynced)
            );
        }
    }
}

/// The shared opening of the DIFF scenarios (the one of ZooKeeper's `DIFFSyncTest`):
/// `a` is committed everywhere; server 1 goes down and `b` is committed by 3 and 2; 2
/// goes down and 1 restarts with a disk that syncs only when the scenario says. Server 3
/// leads epoch 2 and sends 1 DIFF, `b` (PROPOSAL, COMMIT) and NEWLEADER, all delivered.
fn stale_follower_syncs() -> (Cluster, Zxid, Zxid) {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    let a = c.write("a");
    c.settle();
    c.crash(1);
    let b = c.write("b");
    c.deliver_all();
    c.crash(2);
    c.set_auto_fsync(1, false);
    c.restart(1);
    c.run_until("1 to get NEWLEADER from 3", |c| got_newleader(c, 1, 3));
    assert_eq!(c.node(1).zab().last_logged_zxid(), b);
    assert_eq!(c.node(1).disk.durable_zxids(), vec![a]);
    (c, a, b)
}

/// ZOOKEEPER-3911: a DIFF carried a proposal the old epoch never committed, the follower
/// acked NEWLEADER before logging it, the leader served it, and a crash of the leader
/// and that follower lost it. Here 3 logs `p` alone and loses both followers; 3 and the
/// stale 1 form epoch 2 (so `p` becomes committed) and then both crash: `p` must survive
/// on 1's disk when 1 and 2 elect the next leader.
#[test]
fn zookeeper_3911_diff_of_uncommitted_proposal_is_durable_before_newleader_ack() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    let a = c.write("a");
    c.settle();
    c.crash(1);
    c.crash(2);
    // Proposed before the leader notices it is alone: only its own log has it.
    let p = c.propose("p");
    c.set_auto_fsync(1, false);
    c.restart(1);
    c.run_until("1 to get NEWLEADER from 3", |c| got_newleader(c, 1, 3));
    assert_eq!(c.node(1).zab().last_logged_zxid(), p);
    // The disk syncs only if the protocol waits for it.
    if c.acks(1, 3).is_empty() {
        c.fsync(1);
    }
    c.run_until("3 to serve epoch 2", |c| is_active(c, 3));
    assert!(c.committed.contains_key(&p), "epoch 2 commits p");
    // Both members of the NEWLEADER quorum crash (ZooKeeper: at UPTODATE).
    c.crash(3);
    c.crash(1);
    c.restart(2);
    c.set_auto_fsync(1, true);
    c.restart(1);
    c.settle();
    c.check_converged();
    c.restart(3);
    c.settle();
    c.check_converged();
    assert!(c.node(2).applied_zxids().starts_with(&[a, p]));
    assert_newleader_acks_durable(&c);
}

/// ZOOKEEPER-4643: the follower saved the new currentEpoch on NEWLEADER before the DIFF
/// txns were on disk and crashed; restarted with the higher epoch and without them, it
/// won the election and truncated a committed txn away. Here 1 crashes after NEWLEADER
/// with `b` unsynced, the leader crashes too, and 1 and 2 elect: `b` must survive.
#[test]
fn zookeeper_4643_current_epoch_is_saved_only_after_the_synced_txns() {
    let (mut c, _a, b) = stale_follower_syncs();
    c.crash(1);
    c.crash(3);
    assert_eq!(c.node(1).disk.current_epoch, 1, "1 saved epoch 2 without b");
    c.restart(2);
    c.set_auto_fsync(1, true);
    c.restart(1);
    assert_eq!(c.settle(), 2, "2 has b, the longest history of epoch 1");
    c.check_converged();
    assert!(c.committed.contains_key(&b));
    c.restart(3);
    c.settle();
    c.check_converged();
    assert_current_epoch_after_log(&c);
}

/// ZOOKEEPER-4646: the follower acked NEWLEADER while the DIFF txns were still queued for
/// its log; the leader served, the follower crashed before writing them and came back
/// with the new epoch and without them, and the next leader truncated them. Here 1 gets
/// `b` by DIFF; the moment its NEWLEADER ack reaches 3 (which starts serving), 1 and 3
/// crash; `b` must survive when 1 and 2 elect.
#[test]
fn zookeeper_4646_newleader_ack_waits_for_the_synced_txns() {
    let (mut c, _a, b) = stale_follower_syncs();
    // The disk syncs only if the protocol waits for it.
    if c.acks(1, 3).is_empty() {
        c.fsync(1);
    }
    c.run_until("3 to serve epoch 2", |c| is_active(c, 3));
    c.crash(1);
    c.crash(3);
    c.restart(2);
    c.set_auto_fsync(1, true);
    c.restart(1);
    c.settle();
    c.check_converged();
    assert!(c.node(2).applied_zxids().contains(&b));
    c.restart(3);
    c.settle();
    c.check_converged();
    assert_newleader_acks_durable(&c);
}

/// ZOOKEEPER-4685: the follower's log thread acked the DIFF proposals before the
/// NEWLEADER ack; the leader took that ACK for a bad NEWLEADER ack, missed its quorum
/// and gave up the epoch. Here 1 syncs `b` to disk before NEWLEADER arrives: its first
/// ACK must still be NEWLEADER's, and epoch 2 must go on without another election.
#[test]
fn zookeeper_4685_learner_acks_newleader_before_any_proposal() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    c.write("a");
    c.settle();
    c.crash(1);
    let b = c.write("b");
    c.deliver_all();
    c.crash(2);
    c.set_auto_fsync(1, false);
    let nl = c
        .hold(|m| m.from == 3 && m.to == 1 && matches!(m.packet(), Some(Packet::NewLeader { .. })));
    c.restart(1);
    c.run_until("1 to log b", |c| {
        c.node(1).up() && c.node(1).zab().last_logged_zxid() == b
    });
    c.deliver_all();
    c.fsync(1);
    c.release(nl);
    c.set_auto_fsync(1, true);
    c.run_until("3 to serve epoch 2", |c| c.settled() == Some(3));
    let acks = c.acks(1, 3);
    assert!(
        acks.first().is_some_and(|z| is_newleader_zxid(*z)),
        "1's first ACK is not NEWLEADER's: {}",
        fmt_zxids(&acks)
    );
    let d = c.write("d");
    c.settle();
    c.deliver_all();
    for sid in [1, 3] {
        let z = c.node(sid).zab();
        assert_eq!(
            (z.accepted_epoch(), z.current_epoch()),
            (2, 2),
            "server {sid}"
        );
        assert_eq!(z.last_logged_zxid(), make_zxid(2, 1), "server {sid}");
    }
    assert_eq!(d, make_zxid(2, 1));
    c.check_converged();
}

/// ZOOKEEPER-4685, the leader's side: a follower (an older ZooKeeper) sends a proposal's
/// ACK before its NEWLEADER ack, and ZooKeeper's leader gave up waiting for NEWLEADER
/// acks. Here 1 "acks" `b` while its NEWLEADER ack waits for its disk: the leader must
/// ignore it, keep 1, and start serving epoch 2 on the real NEWLEADER ack.
#[test]
fn zookeeper_4685_leader_keeps_a_learner_whose_proposal_ack_comes_first() {
    let (mut c, _a, b) = stale_follower_syncs();
    assert!(c.acks(1, 3).is_empty());
    c.inject(1, 3, Packet::Ack { zxid: b });
    c.deliver_all();
    c.fsync(1);
    c.set_auto_fsync(1, true);
    c.run_until("3 to serve epoch 2", |c| c.settled() == Some(3));
    let started = c
        .trace
        .iter()
        .rposition(|e| *e == Event::Restarted(1))
        .expect("1 restarted");
    let roles: Vec<Role> = c.trace[started..]
        .iter()
        .filter_map(|e| match e {
            Event::Role { sid: 1, role } => Some(*role),
            _ => None,
        })
        .collect();
    assert_eq!(
        roles.iter().filter(|r| **r == Role::Looking).count(),
        1,
        "1 was dropped and looked for a leader again: {roles:?}"
    );
    assert_eq!(c.node(3).zab().current_epoch(), 2, "no extra election");
    c.write("c");
    c.settle();
    c.check_converged();
}

/// ZOOKEEPER-4785 (and the leader's side of -4646): an ACK may count towards a commit
/// only from a learner that acked NEWLEADER, whose currentEpoch is the leader's. Here 1
/// (currentEpoch 1) joins leader 3 of epoch 2 while `q` is outstanding and 2 has not got
/// it; an early ACK of `q` from 1 must not commit it, or when 3 crashes, 2 (epoch 2,
/// without `q`) beats 1 and truncates a committed txn.
#[test]
fn zookeeper_4785_acks_count_only_after_newleader() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    c.write("a");
    c.settle();
    c.crash(1);
    c.crash(3);
    c.restart(3);
    assert_eq!(c.settle(), 3);
    assert_eq!(c.node(3).zab().current_epoch(), 2);
    let to2 =
        c.hold(|m| m.from == 3 && m.to == 2 && matches!(m.packet(), Some(Packet::Proposal(_))));
    let q = c.propose("q");
    let nl = c
        .hold(|m| m.from == 3 && m.to == 1 && matches!(m.packet(), Some(Packet::NewLeader { .. })));
    c.restart(1);
    c.run_until("1 to log q", |c| {
        c.node(1).up() && c.node(1).zab().durable_zxid() == q
    });
    assert_eq!(c.node(1).zab().current_epoch(), 1);
    c.inject(1, 3, Packet::Ack { zxid: q });
    c.deliver_all();
    let committed_early = c.committed.contains_key(&q);
    c.crash(3);
    c.release(to2);
    c.release(nl);
    c.settle();
    c.check_converged();
    assert!(
        !committed_early,
        "3 committed q on the ACK of a learner of epoch 1"
    );
    c.restart(3);
    c.settle();
    c.check_converged();
}

/// ZOOKEEPER-4785: in DIFF sync the follower saved currentEpoch and acked NEWLEADER
/// while its log thread had not written the txns; when the leader went away it reloaded
/// its (shorter) log, won the election on its epoch and truncated a committed txn. Here
/// 1's disk stalls after NEWLEADER; the leader dies and 1 restarts from disk; then 2
/// starts, the new leader writes `c`, 3 comes back: `a`, `b`, `c` must be everywhere.
#[test]
fn zookeeper_4785_stalled_follower_log_does_not_lose_committed_txns() {
    let (mut c, a, b) = stale_follower_syncs();
    c.advance(1000);
    c.deliver_all();
    c.crash(3);
    c.crash(1);
    c.set_auto_fsync(1, true);
    c.restart(1);
    c.restart(2);
    c.settle();
    c.check_converged();
    let d = c.write("c");
    c.settle();
    c.restart(3);
    c.settle();
    c.deliver_all();
    c.check_converged();
    for sid in 1..=3 {
        assert_eq!(c.node(sid).applied_zxids(), vec![a, b, d], "server {sid}");
    }
    assert_current_epoch_after_log(&c);
    assert_newleader_acks_durable(&c);
}

/// ZOOKEEPER-4925: txns a stale follower got by DIFF were applied but left out of its
/// in-memory committed log; as the next leader it sent another stale server a DIFF from
/// that log with a hole in it. Five servers (ZooKeeper's `QuorumSyncTest`): 3 misses
/// foo*, 4 misses bar* and rejoins by DIFF; 5 dies, 3 returns, and 4 leads and syncs 3.
#[test]
fn zookeeper_4925_stale_follower_turned_leader_diffs_without_a_hole() {
    let mut c = Cluster::new(5);
    assert_eq!(c.settle(), 5);
    c.crash(3);
    for i in 0..10 {
        c.write(&format!("foo{i}"));
    }
    c.settle();
    c.crash(4);
    for i in 0..10 {
        c.write(&format!("bar{i}"));
    }
    c.settle();
    c.restart(4);
    c.settle();
    c.deliver_all();
    c.check_converged();
    c.crash(5);
    c.restart(3);
    assert_eq!(c.settle(), 4);
    c.deliver_all();
    c.check_converged();
    assert_eq!(c.node(3).state.len(), 20, "3 has every foo and bar");
    c.restart(5);
    c.settle();
    c.deliver_all();
    c.check_converged();
}

/// ZOOKEEPER-4925's guard (`enforceContinuousProposal`), with TRUNC: a server holding a
/// txn no quorum took is cut back by TRUNC, gets the new epoch's txns, and crashes before
/// they are synced. Its disk must hold a prefix of the ensemble's history — no foreign
/// txn, no hole — and after restarting it must converge.
#[test]
fn zookeeper_4925_trunc_then_crash_leaves_no_hole() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    let a = c.write("a");
    c.settle();
    let no_acks = c.hold(|m| m.to == 3 && matches!(m.packet(), Some(Packet::Ack { .. })));
    let p = c.propose("p");
    c.crash(3);
    c.release(no_acks);
    assert_eq!(c.settle(), 2);
    let w1 = c.write("c");
    let w2 = c.write("d");
    c.settle();
    c.set_auto_fsync(3, false);
    c.restart(3);
    c.run_until("3 to log d", |c| {
        c.node(3).up() && c.node(3).zab().last_logged_zxid() == w2
    });
    let durable = c.node(3).disk.durable_zxids();
    assert!(!durable.contains(&p), "3 kept p: {}", fmt_zxids(&durable));
    c.crash(3);
    let durable = c.node(3).disk.durable_zxids();
    assert!(
        [a, w1, w2].starts_with(&durable),
        "3's disk after the crash: {}",
        fmt_zxids(&durable)
    );
    c.set_auto_fsync(3, true);
    c.restart(3);
    c.settle();
    c.deliver_all();
    c.check_converged();
    assert_eq!(c.node(3).applied_zxids(), vec![a, w1, w2]);
}

/// The leader's side of ZOOKEEPER-4643, a bug these scenarios found in zooid-zab (now
/// fixed). A server elected with a log tail it has written but not synced must not save
/// the new currentEpoch before that tail is durable. Here `p` is committed by 3 and 1
/// while 2's disk has not synced it; 3 crashes and 2 is elected with `p`. Had 2 saved
/// epoch 2 and crashed before syncing, it would restart with the higher epoch and
/// without `p`, win the election and truncate the committed `p` away from 1.
#[test]
fn leader_saves_current_epoch_only_after_its_log_is_durable() {
    let mut c = Cluster::new(3);
    assert_eq!(c.settle(), 3);
    let a = c.write("a");
    c.settle();
    c.set_auto_fsync(2, false);
    let p = c.write("p");
    c.deliver_all();
    assert_eq!(c.node(2).disk.durable_zxids(), vec![a]);
    c.crash(3);
    c.run_until("2 to lead", |c| {
        matches!(c.node(2).role(), Some(Role::Leading { .. }))
    });
    // Crash 2 the moment its epoch file says 2 (before DIFF and NEWLEADER reach 1), or
    // once nothing more happens without its disk.
    c.deliver_until(|c| c.node(2).disk.current_epoch == 2);
    c.crash(2);
    c.set_auto_fsync(2, true);
    c.restart(2);
    let leader = c.settle();
    let _ = leader;
    assert!(c.committed.contains_key(&p), "p was committed in epoch 1");
    c.check_converged();
    assert_current_epoch_after_log(&c);
}
