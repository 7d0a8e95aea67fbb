//! The history of a run and the checks made on it once the ensemble has settled.

use std::collections::{BTreeMap, HashMap};

use zooid_zab::Zxid;

/// A write's identity: client and its sequence number (the txn's bytes).
pub type Token = (u32, u32);

pub fn token_bytes(t: Token) -> bytes::Bytes {
    let mut b = Vec::with_capacity(8);
    b.extend_from_slice(&t.0.to_be_bytes());
    b.extend_from_slice(&t.1.to_be_bytes());
    b.into()
}

pub fn token_of(data: &[u8]) -> Option<Token> {
    let b: [u8; 8] = data.try_into().ok()?;
    Some((
        u32::from_be_bytes(b[..4].try_into().ok()?),
        u32::from_be_bytes(b[4..].try_into().ok()?),
    ))
}

/// The running hash of a state after one more txn.
pub fn chain(h: u64, zxid: Zxid, t: Token) -> u64 {
    let mut x = h ^ (zxid as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = x.wrapping_mul(0x100_0000_01B3) ^ ((t.0 as u64) << 32 | t.1 as u64);
    x.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Write(Token),
    Read,
    SyncRead,
}

/// One client operation.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: u32,
    pub kind: Kind,
    pub invoked: u64,
    /// When it completed, with the zxid it returned (a write's zxid, the last zxid a
    /// read saw) and, for reads, the hash of the state it read.
    pub done: Option<(u64, Zxid, u64)>,
    /// Completions in the order they happened (several can share a millisecond).
    pub done_seq: u64,
}

/// Checks a run's client history against the settled history `h` (zxid, token).
pub fn check_history(ops: &[Op], h: &[(Zxid, Token)]) -> Result<(), String> {
    let mut prefix_hash: HashMap<Zxid, u64> = HashMap::with_capacity(h.len() + 1);
    let mut where_is: HashMap<Token, Zxid> = HashMap::with_capacity(h.len());
    let mut acc = 0u64;
    prefix_hash.insert(0, 0);
    for (z, t) in h {
        acc = chain(acc, *z, *t);
        prefix_hash.insert(*z, acc);
        if where_is.insert(*t, *z).is_some() {
            return Err(format!("write {t:?} is in the history twice"));
        }
    }
    // Acknowledged writes are in the history, at the zxid they were acknowledged with.
    for op in ops {
        if let (Kind::Write(t), Some((_, z, _))) = (op.kind, op.done) {
            match where_is.get(&t) {
                Some(at) if *at == z => {}
                Some(at) => {
                    return Err(format!(
                        "write {t:?} acknowledged at {z:#x} is at {at:#x} in the history"
                    ))
                }
                None => return Err(format!("acknowledged write {t:?} ({z:#x}) was lost")),
            }
        }
    }
    // Real time: a write acknowledged before another began has the smaller zxid; a read
    // after sync sees every write acknowledged before the sync began.
    let mut acks: Vec<(u64, Zxid)> = ops
        .iter()
        .filter_map(|o| match (o.kind, o.done) {
            (Kind::Write(_), Some((t, z, _))) => Some((t, z)),
            _ => None,
        })
        .collect();
    acks.sort_unstable();
    let mut best_before = Vec::with_capacity(acks.len());
    let mut m = 0;
    for (_, z) in &acks {
        m = m.max(*z);
        best_before.push(m);
    }
    let max_acked_before = |t: u64| -> Zxid {
        let i = acks.partition_point(|(at, _)| *at < t);
        if i == 0 {
            0
        } else {
            best_before[i - 1]
        }
    };
    for op in ops {
        let Some((_, z, hash)) = op.done else {
            continue;
        };
        let floor = max_acked_before(op.invoked);
        match op.kind {
            Kind::Write(t) if z <= floor => {
                return Err(format!(
                    "write {t:?} got {z:#x}, not after {floor:#x} acknowledged before it began"
                ))
            }
            Kind::SyncRead if z < floor => {
                return Err(format!(
                    "client {} read {z:#x} after sync, older than {floor:#x} acknowledged before",
                    op.client
                ))
            }
            Kind::Read | Kind::SyncRead => match prefix_hash.get(&z) {
                Some(want) if *want == hash => {}
                Some(_) => {
                    return Err(format!(
                        "client {} read a state at {z:#x} that is not the history's",
                        op.client
                    ))
                }
                None => {
                    return Err(format!(
                        "client {} read at {z:#x}, which is not in the history",
                        op.client
                    ))
                }
            },
            _ => {}
        }
    }
    // Per session: acknowledged writes are in the history in the order the client
    // issued them (one whose outcome is unknown, after a connection loss, may land
    // anywhere, as ZooKeeper gives it no order), and what a client sees never goes back.
    let mut by_client: BTreeMap<u32, Vec<(u32, Zxid)>> = BTreeMap::new();
    for op in ops {
        if let (Kind::Write(t), Some((_, z, _))) = (op.kind, op.done) {
            by_client.entry(t.0).or_default().push((t.1, z));
        }
    }
    for (c, mut v) in by_client {
        v.sort_unstable();
        if let Some(w) = v.windows(2).find(|w| w[0].1 >= w[1].1) {
            return Err(format!(
                "client {c}: write #{} is at {:#x} but #{} at {:#x}",
                w[0].0, w[0].1, w[1].0, w[1].1
            ));
        }
    }
    let mut seen: BTreeMap<u32, Vec<(u64, Zxid)>> = BTreeMap::new();
    for op in ops {
        if let Some((_, z, _)) = op.done {
            seen.entry(op.client).or_default().push((op.done_seq, z));
        }
    }
    for (c, mut v) in seen {
        v.sort_by_key(|x| x.0);
        if let Some(w) = v.windows(2).find(|w| w[1].1 < w[0].1) {
            return Err(format!(
                "client {c} saw {:#x} (completion #{}), then {:#x} (#{})",
                w[0].1, w[0].0, w[1].1, w[1].0
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(client: u32, seq: u32, invoked: u64, done: Option<(u64, Zxid)>) -> Op {
        Op {
            client,
            kind: Kind::Write((client, seq)),
            invoked,
            done: done.map(|(t, z)| (t, z, 0)),
            done_seq: done.map_or(0, |(t, _)| t),
        }
    }

    #[test]
    fn a_good_history_passes_and_broken_ones_fail() {
        let h = vec![(1, (1, 0)), (2, (2, 0)), (3, (1, 1))];
        let ok = vec![
            w(1, 0, 0, Some((5, 1))),
            w(2, 0, 1, Some((6, 2))),
            w(1, 1, 7, Some((9, 3))),
        ];
        check_history(&ok, &h).unwrap();
        // Lost write.
        let lost = vec![w(3, 0, 0, Some((5, 4)))];
        assert!(check_history(&lost, &h).unwrap_err().contains("lost"));
        // Real-time order broken: (2,0) began after (1,1) was acked but got a lower zxid.
        let late = vec![w(1, 1, 0, Some((1, 3))), w(2, 0, 2, Some((3, 2)))];
        assert!(check_history(&late, &h).unwrap_err().contains("not after"));
        // A stale read after sync.
        let mut r = vec![w(1, 0, 0, Some((5, 1)))];
        r.push(Op {
            client: 9,
            kind: Kind::SyncRead,
            invoked: 6,
            done: Some((7, 0, 0)),
            done_seq: 7,
        });
        assert!(check_history(&r, &h).unwrap_err().contains("after sync"));
        // Session order broken among acknowledged writes.
        let h2 = vec![(1, (1, 1)), (2, (1, 0))];
        let fifo = vec![w(1, 0, 0, Some((5, 2))), w(1, 1, 1, Some((4, 1)))];
        assert!(check_history(&fifo, &h2).unwrap_err().contains("client 1"));
    }
}
