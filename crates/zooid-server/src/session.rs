//! Sessions: ids and passwords generated as ZooKeeper generates them, and the tracker
//! that expires sessions whose clients went quiet.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// `ZooKeeperServer.superSecret`, mixed into the password seed.
const SUPER_SECRET: i64 = 0xB3415C00;

/// `java.util.Random`, enough of it to reproduce `nextBytes`.
struct JavaRandom {
    seed: i64,
}

impl JavaRandom {
    const MULTIPLIER: i64 = 0x5DEECE66D;
    const MASK: i64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: (seed ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next_int(&mut self) -> i32 {
        self.seed = (self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB)) & Self::MASK;
        (self.seed >> 16) as i32
    }

    fn next_bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(4) {
            let mut rnd = self.next_int();
            for b in chunk {
                *b = rnd as u8;
                rnd >>= 8;
            }
        }
    }
}

/// The 16-byte password of a session: any server derives the same one from the id.
pub fn session_password(session_id: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    JavaRandom::new(session_id ^ SUPER_SECRET).next_bytes(&mut out);
    out
}

/// `SessionTrackerImpl.initializeNextSessionId`: time in the middle bits, server id on top.
pub fn initial_session_id(now_ms: i64, server_id: i64) -> i64 {
    let mut sid = (((now_ms << 24) as u64) >> 8) as i64;
    sid |= server_id << 56;
    if sid == i64::MIN {
        sid += 1;
    }
    sid
}

/// A live session, shared between the tracker and its connection.
#[derive(Debug)]
pub struct SessionState {
    pub id: i64,
    pub timeout_ms: i32,
    /// Milliseconds (host clock) of the last packet seen; the connection bumps it.
    pub last_seen_ms: AtomicI64,
}

impl SessionState {
    pub fn touch(&self, now_ms: i64) {
        self.last_seen_ms.store(now_ms, Ordering::Relaxed);
    }
}

/// A read-only copy of the tracker's sessions for the four letter words (`dump`), kept
/// in step by the tracker. Only the tracker writes it.
pub type SessionView = Arc<Mutex<BTreeMap<i64, Arc<SessionState>>>>;

/// Which sessions exist and when they expire. Owned by the core (single writer).
#[derive(Debug, Default)]
pub struct SessionTracker {
    sessions: HashMap<i64, Arc<SessionState>>,
    next_id: i64,
    view: SessionView,
}

impl SessionTracker {
    pub fn new(now_ms: i64, server_id: i64) -> Self {
        SessionTracker {
            sessions: HashMap::new(),
            next_id: initial_session_id(now_ms, server_id),
            view: SessionView::default(),
        }
    }

    /// Publishes the sessions to `view` (which must start empty) from now on.
    pub fn with_view(mut self, view: SessionView) -> Self {
        assert!(
            self.sessions.is_empty(),
            "view attached after sessions exist"
        );
        assert!(view.lock().is_empty(), "view already holds sessions");
        self.view = view;
        self
    }

    /// Allocates the next id (the session is added once its txn is applied).
    pub fn next_session_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        if self.next_id == i64::MIN {
            self.next_id += 1;
        }
        id
    }

    pub fn add(&mut self, id: i64, timeout_ms: i32, now_ms: i64) -> Arc<SessionState> {
        let s = Arc::new(SessionState {
            id,
            timeout_ms,
            last_seen_ms: AtomicI64::new(now_ms),
        });
        self.sessions.insert(id, s.clone());
        self.view.lock().insert(id, s.clone());
        s
    }

    pub fn get(&self, id: i64) -> Option<&Arc<SessionState>> {
        self.sessions.get(&id)
    }

    pub fn remove(&mut self, id: i64) -> Option<Arc<SessionState>> {
        self.view.lock().remove(&id);
        self.sessions.remove(&id)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Sessions not heard from within their timeout.
    pub fn expired(&self, now_ms: i64) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .sessions
            .values()
            .filter(|s| now_ms - s.last_seen_ms.load(Ordering::Relaxed) > s.timeout_ms as i64)
            .map(|s| s.id)
            .collect();
        v.sort_unstable();
        v
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<SessionState>> {
        self.sessions.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_java() {
        // new java.util.Random(42).nextInt() == -1170105035
        assert_eq!(JavaRandom::new(42).next_int(), -1170105035);
        // new Random(0).nextBytes(b[4]) -> {96, -76, 32, -69}
        let mut b = [0u8; 4];
        JavaRandom::new(0).next_bytes(&mut b);
        assert_eq!(b.map(|x| x as i8), [96, -76, 32, -69]);
    }

    #[test]
    fn session_ids_carry_the_server_id() {
        let id = initial_session_id(0x0123_4567_89ab, 1);
        assert_eq!(id >> 56, 1);
        assert_eq!(id & 0xffff, 0);
    }
}
