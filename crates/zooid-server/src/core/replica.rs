//! The core as one server of an ensemble. A leader preps and proposes as a standalone
//! server does, its txns becoming "durable" when the quorum commits them. A follower
//! forwards writes and new sessions to the leader (`REQUEST`), applies every txn the
//! leader commits, and answers its own clients when their txns come back. A server
//! that is neither leading nor synced serves no one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;
use zooid_proto::opcode::op;
use zooid_proto::quorum::packet::ForwardedRequest;
use zooid_proto::request::Request;
use zooid_proto::{ConnectRequest, ErrorCode, Id, TxnDigest};
use zooid_tree::prep::Prep;
use zooid_tree::{Txn, TxnBody};

use super::{error_txn, make_ctx, ConnectOutcome, Core, CoreMsg, Pending};
use crate::state::ConnHandle;

/// A server's part, as the core needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not in an ensemble.
    Standalone,
    /// The active leader: preps and proposes.
    Leader,
    /// A synced follower or observer: forwards writes, applies commits.
    Follower,
    /// Looking for a leader, or not synced yet: serves no one.
    Down,
}

/// Where a learner's core sends what must reach the leader (and the leader's core its
/// answers to learners).
pub trait Upstream: Send {
    /// A client reconnected here with a session: is it alive? (REVALIDATE)
    fn revalidate(&mut self, session: i64, timeout: i32);
    /// Leader: the answer to a learner's REVALIDATE.
    fn revalidated(&mut self, to: i64, session: i64, valid: bool);
    /// A client request (or a new session) for the leader to prep.
    fn forward(&mut self, req: ForwardedRequest, auth: &[Id]);
    /// The sessions with a live connection here, for the leader's expiry clock.
    fn touches(&mut self, sessions: Vec<(i64, i32)>);
}

impl Core {
    /// Session ids carry this server's id in their top byte (`SessionTrackerImpl`).
    pub fn with_server_id(mut self, id: i64) -> Core {
        self.sessions = crate::session::SessionTracker::new(super::now_wall_ms(), id)
            .with_view(self.shared.sessions.clone());
        self.server_id = id;
        self
    }

    /// Leader: true when the session's connection is now on another server than `from`
    /// (its requests from `from` get SessionMoved, as `checkSession` gives).
    pub(super) fn moved_away(&self, session: i64, from: i64) -> bool {
        self.mode == Mode::Leader
            && self
                .session_server
                .get(&session)
                .is_some_and(|owner| *owner != from)
    }

    /// Leader: a learner's REVALIDATE. A live session is touched and now lives there.
    pub(super) fn revalidate(&mut self, from: i64, session: i64, _timeout: i32) {
        if self.mode != Mode::Leader {
            return;
        }
        let now = self.mono_ms();
        let valid = match self.sessions.get(session) {
            Some(s) if !self.closing.contains(&session) => {
                s.touch(now);
                true
            }
            _ => false,
        };
        if valid {
            self.session_server.insert(session, from);
            // Its connection here, if any, is stale now.
            if let Some(conn_id) = self.owners.remove(&session) {
                if let Some(c) = self.shared.conn(conn_id) {
                    c.kill();
                }
            }
        }
        if let Some(up) = self.upstream.as_mut() {
            up.revalidated(from, session, valid);
        }
    }

    /// Learner: the leader's answer for a session that reconnected here.
    pub(super) fn revalidated(&mut self, session: i64, valid: bool) {
        let Some((conn, reply, timeout)) = self.revalidating.remove(&session) else {
            return;
        };
        if !valid {
            let _ = reply.send(ConnectOutcome::expired());
            return;
        }
        // A session the leader knows and this server has not learnt yet (its
        // createSession is committed, not applied here yet) is valid too: it is
        // tracked from now on, and its createSession finds it known.
        let s = match self.sessions.get(session).cloned() {
            Some(s) => s,
            None => {
                let s = self.sessions.add(session, timeout, self.mono_ms());
                let n = self.sessions.len();
                self.shared.session_count.store(n, Ordering::Relaxed);
                s
            }
        };
        let out = self.attach(&conn, s);
        let _ = reply.send(out);
    }

    /// Makes this core one server of an ensemble; it serves once told its mode.
    pub fn with_upstream(mut self, up: Box<dyn Upstream>) -> Core {
        self.upstream = Some(up);
        self.mode = Mode::Down;
        self
    }

    /// A client request (`CoreMsg::Request`) to a server of an ensemble.
    pub(super) fn replica_request(&mut self, msg: CoreMsg) {
        let CoreMsg::Request {
            conn,
            xid,
            op,
            req,
            raw,
            auth,
            received,
        } = msg
        else {
            unreachable!("called with requests only")
        };
        let auth = &auth[..];
        let is_read = req
            .as_ref()
            .map(|r| !r.is_write())
            .unwrap_or(!zooid_proto::opcode::is_write_op(op));
        match self.mode {
            Mode::Standalone | Mode::Leader => self.request(conn, xid, op, req, auth, received),
            Mode::Follower if matches!(req, Ok(Request::Sync(_))) => {
                let session = conn.session();
                let Ok(r) = req else { unreachable!("matched") };
                self.pipeline.push_back(Pending::ForwardedSync {
                    conn,
                    xid,
                    op,
                    received,
                    session,
                    req: r,
                });
                self.forward(session, xid, op, raw.unwrap_or_default(), auth);
            }
            Mode::Follower if is_read => self.request(conn, xid, op, req, auth, received),
            Mode::Follower => {
                let session = conn.session();
                let request = raw.unwrap_or_default();
                self.pipeline.push_back(Pending::Forwarded {
                    conn,
                    xid,
                    op,
                    received,
                    session,
                });
                self.forward(session, xid, op, request, auth);
            }
            Mode::Down => {
                self.answered(&conn, op, xid, received);
                conn.kill();
            }
        }
    }

    /// Sends a request to the leader as a learner's `REQUEST`.
    fn forward(&mut self, session: i64, cxid: i32, op: i32, request: bytes::Bytes, auth: &[Id]) {
        if let Some(up) = self.upstream.as_mut() {
            let req = ForwardedRequest {
                session_id: session,
                cxid,
                op,
                request,
            };
            up.forward(req, auth);
        }
    }

    /// A follower's new session: its id is made here, the leader commits it.
    pub(super) fn replica_connect(
        &mut self,
        conn: Arc<ConnHandle>,
        req: &ConnectRequest,
        timeout: i32,
        reply: oneshot::Sender<ConnectOutcome>,
    ) -> Option<oneshot::Sender<ConnectOutcome>> {
        let refuse = self.mode == Mode::Down
            || (self.mode == Mode::Leader && !self.shared.config.leader_serves);
        match self.mode {
            // `leaderServes=no`: the leader leaves the clients to its followers.
            _ if refuse => {
                let _ = reply.send(ConnectOutcome::refused());
                None
            }
            Mode::Standalone | Mode::Leader => Some(reply),
            Mode::Down => {
                let _ = reply.send(ConnectOutcome::refused());
                None
            }
            Mode::Follower if req.session_id != 0 => {
                // As `ZooKeeperServer.reopenSession`: the password is checked here, the
                // session by the leader (this server may not have applied it yet).
                let pw_ok = req.passwd.as_ref() == crate::session::session_password(req.session_id);
                if !pw_ok {
                    return Some(reply); // answered as invalid by the common path
                }
                self.revalidating
                    .insert(req.session_id, (conn, reply, timeout));
                if let Some(up) = self.upstream.as_mut() {
                    up.revalidate(req.session_id, timeout);
                }
                None
            }
            Mode::Follower => {
                let session = self.sessions.next_session_id();
                self.pipeline.push_back(Pending::ForwardedConnect {
                    conn,
                    session,
                    reply,
                });
                let timeout = bytes::Bytes::copy_from_slice(&timeout.to_be_bytes());
                self.forward(session, 0, op::CREATE_SESSION, timeout, &[]);
                None
            }
        }
    }

    /// Leader: a request a learner forwarded, prepped as if its session were here.
    pub(super) fn forwarded(
        &mut self,
        from: i64,
        session: i64,
        cxid: i32,
        opcode: i32,
        data: &[u8],
        auth: &[Id],
    ) {
        if self.mode != Mode::Leader || self.log_broken {
            return;
        }
        let shared = self.shared.clone();
        let ctx = make_ctx(&shared, session, cxid, auth, self.next_zxid);
        let started = Instant::now();
        let mut expired_session = None;
        let txn = if opcode == op::CREATE_SESSION {
            let Some(timeout) = data
                .get(..4)
                .map(|b| i32::from_be_bytes(b.try_into().expect("4 bytes")))
            else {
                return;
            };
            let cfg = &shared.config;
            let timeout = timeout.clamp(
                cfg.min_session_timeout_ms as i32,
                cfg.max_session_timeout_ms as i32,
            );
            self.session_server.insert(session, from);
            Prep::create_session(&ctx, timeout)
        } else {
            match Request::decode(opcode, data) {
                Err(_) => error_txn(&ctx, ErrorCode::MarshallingError),
                Ok(_) if self.moved_away(session, from) => error_txn(&ctx, ErrorCode::SessionMoved),
                Ok(_)
                    if self.sessions.get(session).is_none() || self.closing.contains(&session) =>
                {
                    error_txn(&ctx, ErrorCode::SessionExpired)
                }
                Ok(r) => {
                    if matches!(r, Request::CloseSession) {
                        self.closing.insert(session);
                        expired_session = Some(session);
                    }
                    let tree = self.shared.tree.read();
                    let t = self.prep.prep(&tree, &ctx, &r);
                    drop(tree);
                    t
                }
            }
        };
        self.shared
            .counters
            .metrics
            .prepped(started, expired_session.is_some());
        self.submit(Pending::Internal {
            txn,
            expired_session,
        });
    }

    /// Leader: learners saw these sessions alive.
    pub(super) fn touch(&mut self, touches: &[(i64, i32)]) {
        let now = self.mono_ms();
        for (sid, _) in touches {
            if let Some(s) = self.sessions.get(*sid) {
                s.touch(now);
            }
        }
    }

    /// A txn the quorum committed. The leader finishes its own pending work; a
    /// follower applies it and answers the client it came from, if that is one of ours.
    pub(super) fn committed(&mut self, txn: Txn, digest: Option<TxnDigest>) {
        let zxid = txn.zxid();
        if self.mode == Mode::Leader && self.pipeline.iter().find_map(|p| p.zxid()) == Some(zxid) {
            // Every txn a leader commits was prepped here (for a client of ours or a
            // learner's): its work waits in the pipeline, in zxid order.
            self.drain(zxid);
            self.track_sessions(&txn);
            return;
        }
        let result = self.commit(&txn);
        if let Some(d) = digest {
            self.check_digest(zxid, &d);
        }
        // A closed session's connection is dropped only after its own close is
        // answered (below): the client waits for that reply.
        let closes = txn.hdr.op == op::CLOSE_SESSION;
        if !closes {
            self.track_sessions(&txn);
        }
        self.next_zxid = self.next_zxid.max(zxid + 1);
        let (sid, cxid) = (txn.hdr.client_id, txn.hdr.cxid);
        let matches = match self.pipeline.front() {
            Some(Pending::Forwarded { session, xid, .. }) => *session == sid && *xid == cxid,
            Some(Pending::ForwardedConnect { session, .. }) => {
                *session == sid && matches!(txn.body, TxnBody::CreateSession(_))
            }
            _ => false,
        };
        if matches {
            match self.pipeline.pop_front() {
                Some(Pending::Forwarded {
                    conn,
                    xid,
                    op,
                    received,
                    ..
                }) => {
                    self.reply_write(&conn, xid, &result);
                    self.answered(&conn, op, xid, received);
                    if op == op::CLOSE_SESSION && result.err == 0 {
                        conn.kill();
                    }
                }
                Some(Pending::ForwardedConnect {
                    conn,
                    session,
                    reply,
                }) => match self.sessions.get(session).cloned() {
                    Some(s) => {
                        let out = self.attach(&conn, s);
                        let _ = reply.send(out);
                    }
                    None => {
                        let _ = reply.send(ConnectOutcome::refused());
                    }
                },
                _ => unreachable!("matched above"),
            }
        }
        if closes {
            self.track_sessions(&txn);
        }
        // Reads and ready replies queued behind it run now, up to the next write.
        while matches!(
            self.pipeline.front(),
            Some(Pending::Read { .. } | Pending::Reply { .. })
        ) {
            let p = self.pipeline.pop_front().expect("front exists");
            self.finish(p);
        }
    }

    /// Compares our tree digest after `zxid` with the leader's (`DataTree.compareDigest`):
    /// replicas that applied the same txns agree, so a difference means this server's
    /// state diverged. Every mismatch counts (`digest_mismatches_count`); it is logged
    /// once, with the first zxid, until they agree again.
    fn check_digest(&mut self, zxid: i64, leader: &TxnDigest) {
        if !self.shared.config.digest_enabled || leader.version != zooid_tree::tree::DIGEST_VERSION
        {
            return; // off, or another digest function: nothing to compare
        }
        let ours = self.shared.tree.read().digest();
        if ours != leader.tree_digest {
            self.shared.counters.metrics.digest_mismatches.inc();
        }
        match (ours == leader.tree_digest, self.digest_diverged) {
            (false, None) => {
                tracing::error!(
                    "digest mismatch at zxid {zxid:#x}: ours {ours}, the leader's {}; \
                     this server's state differs from the leader's",
                    leader.tree_digest
                );
                self.digest_diverged = Some(zxid);
            }
            (true, Some(since)) => {
                tracing::warn!("digests agree again at {zxid:#x} (they differed since {since:#x})");
                self.digest_diverged = None;
            }
            _ => {}
        }
    }

    /// Every server learns sessions from the txns that make and end them; only the
    /// leader expires them. (The leader's own connect work adds its sessions itself.)
    fn track_sessions(&mut self, txn: &Txn) {
        match &txn.body {
            TxnBody::CreateSession(c) if self.sessions.get(txn.hdr.client_id).is_none() => {
                self.sessions
                    .add(txn.hdr.client_id, c.time_out, self.mono_ms());
            }
            TxnBody::CreateSession(_) => {}
            _ if txn.hdr.op == op::CLOSE_SESSION => {
                self.session_server.remove(&txn.hdr.client_id);
                self.closing.remove(&txn.hdr.client_id);
                self.end_session(txn.hdr.client_id);
            }
            _ => {}
        }
        self.shared
            .session_count
            .store(self.sessions.len(), Ordering::Relaxed);
    }

    /// The driver says what this server is now.
    pub(super) fn set_mode(&mut self, mode: Mode, next_zxid: i64) {
        let serving = |m: Mode| matches!(m, Mode::Leader | Mode::Follower);
        if self.mode != mode && serving(self.mode) {
            // Leaving a role: like ZooKeeper, every client is disconnected and retries.
            self.fail_pending();
            let conns: Vec<Arc<ConnHandle>> = self.shared.conns.lock().values().cloned().collect();
            for c in conns {
                c.kill();
            }
            self.owners.clear();
        }
        tracing::info!("serving as {mode:?} (next zxid {next_zxid:#x})");
        self.mode = mode;
        self.prep.reset();
        if mode == Mode::Leader {
            self.next_zxid = next_zxid;
            // Sessions learnt from txns get a full timeout under the new leader.
            let now = self.mono_ms();
            for s in self.sessions.iter() {
                s.touch(now);
            }
        }
    }

    /// The leader answered a sync: everything it had committed is applied here now.
    pub(super) fn sync_done(&mut self, session: i64, cxid: i32) {
        let matches = matches!(
            self.pipeline.front(),
            Some(Pending::ForwardedSync { session: s, xid, .. }) if *s == session && *xid == cxid
        );
        if !matches {
            return;
        }
        if let Some(Pending::ForwardedSync {
            conn,
            xid,
            op,
            received,
            req,
            ..
        }) = self.pipeline.pop_front()
        {
            crate::read::execute(&self.shared, &conn, xid, &req);
            self.answered(&conn, op, xid, received);
        }
        while matches!(
            self.pipeline.front(),
            Some(Pending::Read { .. } | Pending::Reply { .. })
        ) {
            let p = self.pipeline.pop_front().expect("front exists");
            self.finish(p);
        }
    }

    /// The driver rebuilt the state (TRUNC, SNAP): nothing of the old one remains.
    pub(super) fn reload(&mut self, tree: zooid_tree::DataTree, sessions: Vec<(i64, i32)>) {
        self.fail_pending();
        let last = tree.last_zxid();
        let replaced = std::mem::replace(&mut *self.shared.tree.write(), tree);
        crate::memory::release_tree(replaced);
        let old: Vec<i64> = self.sessions.iter().map(|s| s.id).collect();
        for id in old {
            self.sessions.remove(id);
        }
        let now = self.mono_ms();
        for (id, timeout) in sessions {
            self.sessions.add(id, timeout, now);
        }
        self.closing.clear();
        self.prep.reset();
        self.next_zxid = last + 1;
        self.shared
            .session_count
            .store(self.sessions.len(), Ordering::Relaxed);
        tracing::info!("state reloaded at {last:#x}");
    }

    /// A follower's tick: tell the leader which sessions are alive here.
    pub(super) fn replica_tick(&mut self) {
        if self.mode != Mode::Follower {
            return;
        }
        let touches: Vec<(i64, i32)> = self
            .owners
            .keys()
            .filter_map(|id| self.sessions.get(*id).map(|s| (*id, s.timeout_ms)))
            .collect();
        if let Some(up) = self.upstream.as_mut() {
            up.touches(touches);
        }
    }
}
