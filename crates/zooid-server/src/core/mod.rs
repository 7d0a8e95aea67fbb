//! The core: the one task that changes the tree. It owns sessions and prep, turns each
//! write into a txn and hands it to the log; once the log says the txn is durable, it
//! applies it, fires its watches and replies. Work waits in one FIFO pipeline, so a
//! read queued behind its session's writes runs after they are applied, and replies
//! keep request order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use zooid_proto::opcode::{event_type, op};
use zooid_proto::request::{encode_multi_response, MultiResult, Request};
use zooid_proto::{
    ConnectRequest, ConnectResponse, Create2Response, CreateResponse, ErrorCode, Id, ReplyHeader,
    SetAclResponse, SetDataResponse, TxnDigest,
};
use zooid_tree::acl::check_acl;
use zooid_tree::prep::{Prep, PrepCtx};
use zooid_tree::tree::NodeKind;
use zooid_tree::watch::Fired;
use zooid_tree::{Trigger, Txn, TxnResult};

use crate::read;
use crate::session::{session_password, SessionState, SessionTracker};

mod replica;
use crate::state::{frame, frame_header, frame_record, ConnHandle, Shared};
pub use replica::{Mode, Upstream};

/// The server id standalone ZooKeeper puts in its session ids.
const STANDALONE_SERVER_ID: i64 = 1;

/// A request that could not be decoded still gets an answer (MarshallingError).
pub type Decoded = Result<Request, String>;

pub enum CoreMsg {
    Connect {
        conn: Arc<ConnHandle>,
        req: ConnectRequest,
        reply: oneshot::Sender<ConnectOutcome>,
    },
    Request {
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        req: Decoded,
        /// The request's bytes, kept by an ensemble member to forward them.
        raw: Option<bytes::Bytes>,
        auth: Arc<Vec<Id>>,
        received: Instant,
    },
    /// Ensemble leader: a learner asks whether a session that reconnected to it is
    /// alive (REVALIDATE); it owns the session from now on.
    Revalidate {
        from: i64,
        session: i64,
        timeout: i32,
    },
    /// Ensemble leader: a request a learner forwarded (REQUEST).
    Forwarded {
        from: i64,
        session: i64,
        cxid: i32,
        op: i32,
        data: bytes::Bytes,
        auth: Vec<Id>,
    },
    /// Ensemble leader: sessions the learners saw activity on, with their timeouts.
    Touch(Vec<(i64, i32)>),
    ConnClosed {
        conn_id: u64,
        session: i64,
    },
    Tick,
    /// The admin `restore`: replace the whole state with a snapshot's. Answers with the
    /// zxid the restored state is durable at. The sender holds the snapshot gate.
    Restore {
        snapshot: Box<crate::persist::RestoredSnapshot>,
        reply: oneshot::Sender<Result<i64, String>>,
    },
}

/// What the log reports back: everything up to a zxid is durable, or a batch failed.
#[derive(Debug)]
pub enum Durable {
    Upto(i64),
    /// The batch holding these zxids was not made durable; the log truncated it away
    /// and can take writes again (`recovered`) or cannot be trusted any more.
    Failed {
        reason: String,
        recovered: bool,
    },
    /// Ensemble: a txn the quorum committed, in zxid order, with the leader's tree
    /// digest after it when the leader sent one (ZooKeeper's `TxnDigest`).
    Committed(Box<Txn>, Option<TxnDigest>),
    /// Ensemble: this server's part changed; a leader's next txn gets `next_zxid`.
    Mode {
        mode: Mode,
        next_zxid: i64,
    },
    /// Ensemble: the state was rebuilt (after TRUNC or SNAP): a new tree and sessions.
    Reload {
        tree: Box<zooid_tree::DataTree>,
        sessions: Vec<(i64, i32)>,
    },
    /// Ensemble learner: the leader answered a forwarded sync (every commit it covers
    /// came before this).
    SyncDone {
        session: i64,
        cxid: i32,
    },
    /// Ensemble learner: the leader's answer to a REVALIDATE.
    Revalidated {
        session: i64,
        valid: bool,
    },
}

/// Where txns go to become durable.
pub trait TxnSink: Send {
    /// Queues a txn, with the tree digest after it when digests are on (logged after the
    /// txn, and a leader's proposals carry it); the sink reports through the `Durable`
    /// channel it was built with.
    fn append(&mut self, txn: Txn, digest: Option<TxnDigest>);

    /// Makes the restored tree now in `Shared` durable as the state at `zxid`, before
    /// any txn appended after this call; answers on `done` once it is.
    fn restore(&mut self, zxid: i64, done: oneshot::Sender<Result<i64, String>>) {
        let _ = (
            zxid,
            done.send(Err("this server cannot restore a snapshot".into())),
        );
    }
}

/// Work waiting for its txn to be durable, in arrival order.
enum Pending {
    /// A client write: reply once applied.
    Write {
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        received: Instant,
        txn: Txn,
        close_session: bool,
    },
    /// A read queued behind a write of the same session.
    Read {
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        received: Instant,
        req: Request,
    },
    /// A new session: the handshake is answered once its createSession txn is durable.
    Connect {
        conn: Arc<ConnHandle>,
        txn: Txn,
        reply: oneshot::Sender<ConnectOutcome>,
    },
    /// Server-made txns: expiry (closeSession) and the container reaper.
    Internal {
        txn: Txn,
        expired_session: Option<i64>,
    },
    /// Ensemble learner: a write sent to the leader, answered when its txn commits.
    Forwarded {
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        received: Instant,
        session: i64,
    },
    /// Ensemble learner: a sync sent to the leader, answered once the leader's commit
    /// point at that time is applied here.
    ForwardedSync {
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        received: Instant,
        session: i64,
        req: Request,
    },
    /// Ensemble learner: a new session waiting for its createSession txn to commit.
    ForwardedConnect {
        conn: Arc<ConnHandle>,
        session: i64,
        reply: oneshot::Sender<ConnectOutcome>,
    },
    /// A reply decided without a txn that must still wait its turn.
    Reply {
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        received: Instant,
        frame: bytes::Bytes,
    },
}

impl Pending {
    fn zxid(&self) -> Option<i64> {
        match self {
            Pending::Write { txn, .. }
            | Pending::Connect { txn, .. }
            | Pending::Internal { txn, .. } => Some(txn.zxid()),
            Pending::Read { .. }
            | Pending::Reply { .. }
            | Pending::Forwarded { .. }
            | Pending::ForwardedSync { .. }
            | Pending::ForwardedConnect { .. } => None,
        }
    }
}

/// What the connection does after the handshake.
pub struct ConnectOutcome {
    /// None: refuse silently (client is ahead of us); the connection is closed.
    pub resp: Option<ConnectResponse>,
    pub session: Option<Arc<SessionState>>,
}

impl ConnectOutcome {
    /// No answer: the connection is closed and the client tries another server.
    pub fn refused() -> ConnectOutcome {
        ConnectOutcome {
            resp: None,
            session: None,
        }
    }

    /// The session is gone (or the password is wrong): timeout 0 and a zero password,
    /// as `finishSessionInit` answers an invalid session.
    pub fn expired() -> ConnectOutcome {
        let resp = ConnectResponse {
            passwd: vec![0u8; 16].into(),
            ..ConnectResponse::default()
        };
        ConnectOutcome {
            resp: Some(resp),
            session: None,
        }
    }
}

pub struct Core {
    shared: Arc<Shared>,
    prep: Prep,
    sessions: SessionTracker,
    /// Which connection each session is attached to.
    owners: HashMap<i64, u64>,
    last_reap: Instant,
    fired: Vec<Fired>,
    triggers: Vec<Trigger>,
    /// Work in arrival order; the writes in it are not yet durable.
    pipeline: VecDeque<Pending>,
    /// The zxid the next txn gets (the tree lags behind by the pipeline's writes).
    next_zxid: i64,
    /// None: no log, a txn is durable once prepped (in-memory server).
    sink: Option<Box<dyn TxnSink>>,
    /// Set when the log can no longer be trusted: writes are refused, reads go on.
    log_broken: bool,
    /// When a log failure was last logged, and how many were not logged since.
    failures_logged: Option<(Instant, u64)>,
    /// Sessions whose closeSession txn is in flight (ZooKeeper's `setSessionClosing`).
    closing: std::collections::HashSet<i64>,
    /// Standalone, or this server's part in an ensemble.
    mode: Mode,
    /// Ensemble: where forwarded requests and session touches go.
    upstream: Option<Box<dyn Upstream>>,
    /// Ensemble: this server's id, and (on the leader) which server each session's
    /// connection is on (`SessionTrackerImpl`'s owner; SessionMoved otherwise).
    server_id: i64,
    session_server: HashMap<i64, i64>,
    /// Learner: reconnects waiting for the leader's REVALIDATE answer, by session:
    /// the connection, its reply, and the negotiated timeout.
    revalidating: HashMap<i64, (Arc<ConnHandle>, oneshot::Sender<ConnectOutcome>, i32)>,
    /// Learner: the first zxid after which our tree digest differed from the leader's,
    /// while it still differs (logged once).
    digest_diverged: Option<i64>,
    /// An admin restore waiting for the pipeline to empty; the inbox is not read
    /// meanwhile.
    restoring: Option<PendingRestore>,
}

type PendingRestore = (
    crate::persist::RestoredSnapshot,
    oneshot::Sender<Result<i64, String>>,
);

pub fn now_wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Core {
    pub fn new(shared: Arc<Shared>) -> Core {
        Core {
            sessions: SessionTracker::new(now_wall_ms(), STANDALONE_SERVER_ID)
                .with_view(shared.sessions.clone()),
            shared,
            prep: Prep::new(),
            owners: HashMap::new(),
            last_reap: Instant::now(),
            fired: Vec::new(),
            triggers: Vec::new(),
            pipeline: VecDeque::new(),
            next_zxid: 0,
            sink: None,
            log_broken: false,
            closing: std::collections::HashSet::new(),
            failures_logged: None,
            mode: Mode::Standalone,
            upstream: None,
            server_id: STANDALONE_SERVER_ID,
            session_server: HashMap::new(),
            revalidating: HashMap::new(),
            digest_diverged: None,
            restoring: None,
        }
        .starting_after_tree()
    }

    fn starting_after_tree(mut self) -> Core {
        self.next_zxid = self.shared.tree.read().last_zxid() + 1;
        self
    }

    /// Sends txns to `sink` and applies them once it reports them durable.
    pub fn with_sink(mut self, sink: Box<dyn TxnSink>) -> Core {
        self.sink = Some(sink);
        self
    }

    /// Sessions restored from disk: they get a full timeout to reconnect.
    pub fn restore_sessions(&mut self, sessions: impl IntoIterator<Item = (i64, i32)>) {
        let now = self.mono_ms();
        for (id, timeout) in sessions {
            self.sessions.add(id, timeout, now);
        }
        self.shared
            .session_count
            .store(self.sessions.len(), Ordering::Relaxed);
    }

    pub fn mono_ms(&self) -> i64 {
        self.shared.started.elapsed().as_millis() as i64
    }

    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<CoreMsg>,
        mut durable: mpsc::UnboundedReceiver<Durable>,
    ) {
        loop {
            tokio::select! {
                biased;
                Some(d) = durable.recv() => {
                    self.on_durable(d);
                    if self.pipeline.is_empty() {
                        if let Some((snapshot, reply)) = self.restoring.take() {
                            self.restore_now(snapshot, reply);
                        }
                    }
                }
                msg = rx.recv(), if self.restoring.is_none() => match msg {
                    Some(m) => {
                        if let CoreMsg::Request { received, .. } = &m {
                            self.shared.counters.metrics.prep_queued(*received, rx.len());
                        }
                        self.handle(m)
                    }
                    None => return,
                },
            }
        }
    }

    fn handle(&mut self, msg: CoreMsg) {
        if self.mode != Mode::Standalone && matches!(msg, CoreMsg::Request { .. }) {
            return self.replica_request(msg);
        }
        match msg {
            CoreMsg::Connect { conn, req, reply } => self.connect(conn, &req, reply),
            CoreMsg::Request {
                conn,
                xid,
                op,
                req,
                auth,
                received,
                ..
            } => self.request(conn, xid, op, req, &auth, received),
            CoreMsg::Forwarded {
                from,
                session,
                cxid,
                op,
                data,
                auth,
            } => self.forwarded(from, session, cxid, op, &data, &auth),
            CoreMsg::Revalidate {
                from,
                session,
                timeout,
            } => self.revalidate(from, session, timeout),
            CoreMsg::Touch(touches) => self.touch(&touches),
            CoreMsg::ConnClosed { conn_id, session } => {
                self.shared.watches.lock().remove_watcher(conn_id);
                self.shared.conns.lock().remove(&conn_id);
                if self.owners.get(&session) == Some(&conn_id) {
                    self.owners.remove(&session);
                }
            }
            CoreMsg::Tick => self.tick(),
            CoreMsg::Restore { snapshot, reply } => self.restore(*snapshot, reply),
        }
    }

    fn connect(
        &mut self,
        conn: Arc<ConnHandle>,
        req: &ConnectRequest,
        reply: oneshot::Sender<ConnectOutcome>,
    ) {
        self.shared.counters.metrics.connection_requests.inc();
        let last = self.shared.tree.read().last_zxid();
        if req.last_zxid_seen > last {
            tracing::info!(
                "refusing session request for client {} as it has seen zxid 0x{:x} our last zxid is 0x{:x} client must try another server",
                conn.remote,
                req.last_zxid_seen,
                last
            );
            let _ = reply.send(ConnectOutcome::refused());
            return;
        }
        let cfg = &self.shared.config;
        let timeout = req.time_out.clamp(
            cfg.min_session_timeout_ms as i32,
            cfg.max_session_timeout_ms as i32,
        );
        let Some(reply) = self.replica_connect(conn.clone(), req, timeout, reply) else {
            return;
        };
        if req.session_id == 0 {
            if self.log_broken {
                let _ = reply.send(ConnectOutcome::refused());
                return;
            }
            let sid = self.sessions.next_session_id();
            let started = Instant::now();
            let txn = {
                let shared = self.shared.clone();
                let ctx = make_ctx(&shared, sid, 0, &[], self.next_zxid);
                Prep::create_session(&ctx, timeout)
            };
            self.shared.counters.metrics.prepped(started, false);
            self.submit(Pending::Connect { conn, txn, reply });
            return;
        }
        self.shared.counters.metrics.connection_revalidates.inc();
        // ZooKeeper closes the session's live connection before it even checks the
        // password (processConnectRequest: closeSession(..., CLIENT_RECONNECT)).
        if let Some(old) = self.owners.get(&req.session_id).copied() {
            if old != conn.id {
                if let Some(c) = self.shared.conn(old) {
                    c.kill();
                }
            }
        }
        let pw_ok = req.passwd.as_ref() == session_password(req.session_id);
        let now = self.mono_ms();
        let session = match self.sessions.get(req.session_id) {
            Some(s) if pw_ok && !self.closing.contains(&req.session_id) => {
                s.touch(now);
                s.clone()
            }
            _ => {
                let _ = reply.send(ConnectOutcome::expired());
                return;
            }
        };
        let _ = reply.send(self.attach(&conn, session));
    }

    /// Makes `conn` the session's connection and builds the handshake answer.
    fn attach(&mut self, conn: &Arc<ConnHandle>, s: Arc<SessionState>) -> ConnectOutcome {
        if let Some(old) = self.owners.insert(s.id, conn.id) {
            if old != conn.id {
                if let Some(c) = self.shared.conn(old) {
                    tracing::info!("closing old connection of session 0x{:x}", s.id);
                    c.kill();
                }
            }
        }
        if self.mode == Mode::Leader {
            self.session_server.insert(s.id, self.server_id);
        }
        conn.session_id.store(s.id, Ordering::Release);
        conn.timeout_ms
            .store(s.timeout_ms as i64, Ordering::Release);
        let resp = ConnectResponse {
            protocol_version: 0,
            time_out: s.timeout_ms,
            session_id: s.id,
            passwd: session_password(s.id).to_vec().into(),
            read_only: false,
        };
        ConnectOutcome {
            resp: Some(resp),
            session: Some(s),
        }
    }

    fn request(
        &mut self,
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        req: Decoded,
        auth: &[Id],
        received: Instant,
    ) {
        let sid = conn.session();
        let req = match req {
            Ok(r) if !r.is_write() => {
                if self.pipeline.is_empty() {
                    read::execute(&self.shared, &conn, xid, &r);
                    self.answered(&conn, op, xid, received);
                } else {
                    self.pipeline.push_back(Pending::Read {
                        conn,
                        xid,
                        op,
                        received,
                        req: r,
                    });
                }
                return;
            }
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("malformed request from 0x{sid:x} (op {op}): {e}");
                None
            }
        };
        if self.log_broken {
            // Nothing reaches the log any more: answer in order without a zxid.
            let f = self.error_frame(xid, ErrorCode::SystemError);
            return self.reply_in_order(conn, xid, op, received, f);
        }
        let shared = self.shared.clone();
        let ctx = make_ctx(&shared, sid, xid, auth, self.next_zxid);
        let started = Instant::now();
        let txn = match &req {
            None if !zooid_proto::opcode::is_write_op(op) => {
                let f = self.error_frame(xid, ErrorCode::MarshallingError);
                return self.reply_in_order(conn, xid, op, received, f);
            }
            None => error_txn(&ctx, ErrorCode::MarshallingError),
            Some(_) if self.sessions.get(sid).is_none() || self.closing.contains(&sid) => {
                error_txn(&ctx, ErrorCode::SessionExpired)
            }
            Some(_) if self.moved_away(sid, self.server_id) => {
                error_txn(&ctx, ErrorCode::SessionMoved)
            }
            Some(r) => {
                let tree = self.shared.tree.read();
                let t = self.prep.prep(&tree, &ctx, r);
                drop(tree);
                t
            }
        };
        let close_session = matches!(req, Some(Request::CloseSession));
        let metrics = &self.shared.counters.metrics;
        metrics.prepped(started, close_session);
        if let Some(r) = &req {
            metrics.quota_check(r, &txn);
        }
        self.submit(Pending::Write {
            conn,
            xid,
            op,
            received,
            txn,
            close_session,
        });
    }

    /// A reply carrying only an error, stamped with the last applied zxid.
    fn error_frame(&self, xid: i32, err: ErrorCode) -> bytes::Bytes {
        let zxid = self.shared.tree.read().last_zxid();
        frame_header(&ReplyHeader {
            xid,
            zxid,
            err: err.code(),
        })
    }

    /// Queues a ready reply behind the session's pending work (or sends it now).
    fn reply_in_order(
        &mut self,
        conn: Arc<ConnHandle>,
        xid: i32,
        op: i32,
        received: Instant,
        frame: bytes::Bytes,
    ) {
        if self.pipeline.is_empty() {
            conn.reply(frame);
            self.answered(&conn, op, xid, received);
        } else {
            self.pipeline.push_back(Pending::Reply {
                conn,
                xid,
                op,
                received,
                frame,
            });
        }
    }

    /// Books a finished request: stats, and the per-session in-flight count.
    fn answered(&self, conn: &ConnHandle, op: i32, xid: i32, received: Instant) {
        conn.responded(op, xid, received);
        conn.in_core.fetch_sub(1, Ordering::AcqRel);
        self.shared
            .counters
            .outstanding
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// Hands a txn to the log and queues its work; without a log it is durable at once.
    fn submit(&mut self, p: Pending) {
        let zxid = p.zxid().expect("submit takes txn work");
        assert_eq!(zxid, self.next_zxid, "txns are submitted in zxid order");
        self.next_zxid += 1;
        match &mut self.sink {
            Some(sink) => {
                let txn = match &p {
                    Pending::Write { txn, .. }
                    | Pending::Connect { txn, .. }
                    | Pending::Internal { txn, .. } => txn.clone(),
                    _ => unreachable!("checked by zxid()"),
                };
                // The tree as it will be after this txn: prep's pending changes include
                // it (PrepRequestProcessor's setTxnDigest).
                let digest = self.shared.config.digest_enabled.then(|| TxnDigest {
                    version: zooid_tree::tree::DIGEST_VERSION,
                    tree_digest: self.prep.digest(&self.shared.tree.read()),
                });
                sink.append(txn, digest);
                self.pipeline.push_back(p);
            }
            None => {
                self.pipeline.push_back(p);
                self.drain(zxid);
            }
        }
    }

    fn on_durable(&mut self, d: Durable) {
        match d {
            Durable::Upto(z) => self.drain(z),
            Durable::Committed(txn, digest) => self.committed(*txn, digest),
            Durable::Mode { mode, next_zxid } => self.set_mode(mode, next_zxid),
            Durable::Reload { tree, sessions } => self.reload(*tree, sessions),
            Durable::SyncDone { session, cxid } => self.sync_done(session, cxid),
            Durable::Revalidated { session, valid } => self.revalidated(session, valid),
            Durable::Failed { reason, recovered } => {
                // A full disk fails every retry: one line a second says it all.
                let now = Instant::now();
                if self
                    .failures_logged
                    .is_none_or(|(t, _)| now.duration_since(t).as_secs() >= 1)
                {
                    let suppressed = self.failures_logged.map_or(0, |(_, n)| n);
                    tracing::error!(
                        "txn log write failed: {reason} ({suppressed} more failures not logged)"
                    );
                    self.failures_logged = Some((now, 0));
                } else if let Some((_, n)) = self.failures_logged.as_mut() {
                    *n += 1;
                }
                if !recovered {
                    tracing::error!(
                        "the txn log cannot be trusted any more: refusing writes, serving reads"
                    );
                    self.log_broken = true;
                }
                self.fail_pending();
            }
        }
    }

    /// Finishes the pipeline's work whose txns are durable up to `upto`, in order.
    fn drain(&mut self, upto: i64) {
        while let Some(front) = self.pipeline.front() {
            if front.zxid().is_some_and(|z| z > upto) {
                break;
            }
            let p = self.pipeline.pop_front().expect("front exists");
            self.finish(p);
        }
    }

    fn finish(&mut self, p: Pending) {
        match p {
            Pending::Write {
                conn,
                xid,
                op,
                received,
                txn,
                close_session,
            } => {
                let sid = txn.hdr.client_id;
                let result = self.commit(&txn);
                self.reply_write(&conn, xid, &result);
                self.answered(&conn, op, xid, received);
                if close_session && result.err == 0 {
                    // After the reply: ending the session closes its connection.
                    self.end_session(sid);
                    conn.kill();
                }
            }
            Pending::Read {
                conn,
                xid,
                op,
                received,
                req,
            } => {
                read::execute(&self.shared, &conn, xid, &req);
                self.answered(&conn, op, xid, received);
            }
            Pending::Reply {
                conn,
                xid,
                op,
                received,
                frame,
            } => {
                conn.reply(frame);
                self.answered(&conn, op, xid, received);
            }
            Pending::Connect { conn, txn, reply } => {
                self.commit(&txn);
                let timeout = match &txn.body {
                    zooid_tree::TxnBody::CreateSession(t) => t.time_out,
                    _ => unreachable!("connect work carries a createSession txn"),
                };
                let s = self
                    .sessions
                    .add(txn.hdr.client_id, timeout, self.mono_ms());
                self.shared
                    .session_count
                    .store(self.sessions.len(), Ordering::Relaxed);
                let _ = reply.send(self.attach(&conn, s));
            }
            Pending::Internal {
                txn,
                expired_session,
            } => {
                self.commit(&txn);
                if let Some(sid) = expired_session {
                    self.end_session(sid);
                }
            }
            Pending::Forwarded { .. }
            | Pending::ForwardedSync { .. }
            | Pending::ForwardedConnect { .. } => {
                unreachable!("forwarded work finishes when its txn commits")
            }
        }
    }

    /// The log lost a batch: every write in the pipeline fails (its client gets
    /// SystemError), reads still run, and prep forgets what it assumed.
    fn fail_pending(&mut self) {
        let pending = std::mem::take(&mut self.pipeline);
        for p in pending {
            match p {
                Pending::Write {
                    conn,
                    xid,
                    op,
                    received,
                    ..
                } => {
                    conn.reply(self.error_frame(xid, ErrorCode::SystemError));
                    self.answered(&conn, op, xid, received);
                }
                Pending::Read { .. } | Pending::Reply { .. } => self.finish(p),
                Pending::Connect { reply, .. } | Pending::ForwardedConnect { reply, .. } => {
                    let _ = reply.send(ConnectOutcome::refused());
                }
                Pending::Internal {
                    expired_session, ..
                } => {
                    if let Some(sid) = expired_session {
                        self.closing.remove(&sid);
                    }
                }
                Pending::Forwarded {
                    conn,
                    xid,
                    op,
                    received,
                    ..
                }
                | Pending::ForwardedSync {
                    conn,
                    xid,
                    op,
                    received,
                    ..
                } => {
                    conn.reply(self.error_frame(xid, ErrorCode::ConnectionLoss));
                    self.answered(&conn, op, xid, received);
                    conn.kill();
                }
            }
        }
        self.prep.reset();
        self.next_zxid = self.shared.tree.read().last_zxid() + 1;
    }

    fn reply_write(&self, conn: &ConnHandle, xid: i32, r: &TxnResult) {
        let zxid = self.shared.tree.read().last_zxid();
        conn.stats.last_zxid.store(zxid, Ordering::Relaxed);
        let hdr = ReplyHeader {
            xid,
            zxid,
            err: if r.op == op::MULTI { 0 } else { r.err },
        };
        if hdr.err != 0 {
            return conn.reply(frame_header(&hdr));
        }
        let stat = r.stat.clone().unwrap_or_default();
        let f = match r.op {
            op::CREATE => frame_record(
                &hdr,
                &CreateResponse {
                    path: r.path.clone(),
                },
            ),
            op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => frame_record(
                &hdr,
                &Create2Response {
                    path: r.path.clone(),
                    stat,
                },
            ),
            op::SET_DATA => frame_record(&hdr, &SetDataResponse { stat }),
            op::SET_ACL => frame_record(&hdr, &SetAclResponse { stat }),
            op::MULTI => {
                let results: Vec<MultiResult> = r.multi.iter().map(multi_result).collect();
                frame(
                    &hdr,
                    Some(&|b: &mut bytes::BytesMut| encode_multi_response(&results, b)),
                )
            }
            _ => frame_header(&hdr),
        };
        conn.reply(f);
    }

    /// Applies a txn, fires its watches and forgets the pending changes it settles.
    fn commit(&mut self, txn: &Txn) -> TxnResult {
        let shared = self.shared.clone();
        let mut tree = shared.tree.write();
        self.triggers.clear();
        let result = tree.apply(txn, &mut self.triggers);
        self.shared
            .counters
            .metrics
            .applied(txn, &self.triggers, now_wall_ms());
        if !self.triggers.is_empty() {
            self.fire(txn.zxid());
        }
        drop(tree);
        self.prep.applied(txn.zxid());
        result
    }

    /// Delivers the events of the last apply; called with the tree write lock held, so
    /// every event is queued before any read can see the change.
    fn fire(&mut self, zxid: i64) {
        let mut reg = self.shared.watches.lock();
        if reg.is_empty() {
            return;
        }
        let conns = self.shared.conns.lock();
        for t in self.triggers.drain(..) {
            self.fired.clear();
            let (acl, parent_acl) = match &t {
                Trigger::Created {
                    path,
                    acl,
                    parent_acl,
                } => {
                    reg.node_created(path, parent_of(path), &mut self.fired);
                    (acl, Some(parent_acl))
                }
                Trigger::Deleted {
                    path,
                    acl,
                    parent_acl,
                } => {
                    reg.node_deleted(path, parent_of(path), &mut self.fired);
                    (acl, Some(parent_acl))
                }
                Trigger::DataChanged { path, acl } => {
                    reg.node_data_changed(path, &mut self.fired);
                    (acl, None)
                }
            };
            self.shared.counters.metrics.watchers_triggered(reg.found());
            for f in &self.fired {
                let Some(c) = conns.get(&f.watcher) else {
                    continue;
                };
                let acl = match (f.event_type, parent_acl) {
                    (event_type::NODE_CHILDREN_CHANGED, Some(p)) => p,
                    _ => acl,
                };
                if check_acl(
                    &self.shared.policy,
                    acl,
                    zooid_proto::perms::READ,
                    &c.auth(),
                )
                .is_ok()
                {
                    read::notify(c, f.event_type, &f.path, zxid);
                }
            }
        }
    }

    fn end_session(&mut self, sid: i64) {
        self.sessions.remove(sid);
        self.closing.remove(&sid);
        self.shared
            .session_count
            .store(self.sessions.len(), Ordering::Relaxed);
        if let Some(conn_id) = self.owners.remove(&sid) {
            if let Some(c) = self.shared.conn(conn_id) {
                c.kill();
            }
        }
    }

    /// The admin `restore` (`ZooKeeperServer.restoreFromSnapshot`): the snapshot's tree
    /// and sessions replace the state, as if the server had restarted on it. Writes in
    /// flight complete first (the inbox waits meanwhile; the requests after them are
    /// answered against the restored state), then every connection is closed: its
    /// client reconnects and finds its
    /// session if the snapshot has it (expired otherwise) and no watches. The restored
    /// state is numbered at the snapshot's zxid or the last one given out, whichever is
    /// later, so zxids never go back; the log snapshots it before any later txn.
    fn restore(
        &mut self,
        snapshot: crate::persist::RestoredSnapshot,
        reply: oneshot::Sender<Result<i64, String>>,
    ) {
        if self.mode != Mode::Standalone {
            let _ = reply.send(Err(
                "restore is only supported on a standalone server".into()
            ));
            return;
        }
        // Every txn in flight settles first (durable, or failed and given back), so the
        // log's idea of the next zxid and ours agree when the state is swapped.
        if self.pipeline.is_empty() {
            self.restore_now(snapshot, reply);
        } else {
            self.restoring = Some((snapshot, reply));
        }
    }

    fn restore_now(
        &mut self,
        snapshot: crate::persist::RestoredSnapshot,
        reply: oneshot::Sender<Result<i64, String>>,
    ) {
        let crate::persist::RestoredSnapshot {
            mut tree,
            sessions,
            zxid,
        } = snapshot;
        let at = zxid.max(self.next_zxid - 1);
        tree.set_last_zxid(at);
        let nodes = tree.node_count();
        self.reload(tree, sessions);
        self.owners.clear();
        for c in self.shared.conns.lock().values() {
            c.kill();
        }
        *self.shared.watches.lock() = zooid_tree::watch::WatchRegistry::new();
        tracing::info!("restored a snapshot of {nodes} nodes at zxid {at:#x}");
        match self.sink.as_mut() {
            Some(sink) => sink.restore(at, reply),
            None => {
                let _ = reply.send(Ok(at));
            }
        }
    }

    fn tick(&mut self) {
        if matches!(self.mode, Mode::Follower | Mode::Down) {
            return self.replica_tick();
        }
        let now = self.mono_ms();
        for sid in self.sessions.expired(now) {
            if self.log_broken || !self.closing.insert(sid) {
                continue;
            }
            tracing::info!("expiring session 0x{sid:x}");
            self.shared.counters.metrics.stale_sessions_expired.inc();
            let shared = self.shared.clone();
            let ctx = make_ctx(&shared, sid, 0, &[], self.next_zxid);
            let started = Instant::now();
            let tree = self.shared.tree.read();
            let txn = self.prep.close_session(&tree, &ctx);
            drop(tree);
            self.shared.counters.metrics.prepped(started, true);
            self.submit(Pending::Internal {
                txn,
                expired_session: Some(sid),
            });
        }
        let interval = self.shared.config.container_check_interval_ms as u128;
        if !self.log_broken && self.last_reap.elapsed().as_millis() >= interval {
            self.last_reap = Instant::now();
            self.reap_containers();
        }
    }

    /// `ContainerManager`: deletes empty containers that had children, and expired TTL
    /// nodes without children.
    fn reap_containers(&mut self) {
        let now = now_wall_ms();
        let cfg = &self.shared.config;
        let never_used = cfg.container_max_never_used_interval_ms as i64;
        let max = cfg.container_max_per_minute.max(1) as usize;
        let candidates: Vec<String> = {
            let tree = self.shared.tree.read();
            let containers = tree.containers().iter().filter(|p| {
                tree.get(p).is_some_and(|n| {
                    n.children.is_empty()
                        && (n.stat.cversion > 0
                            || (never_used != 0 && now - n.stat.mtime > never_used))
                })
            });
            let ttls = tree.ttls().iter().filter(|p| {
                tree.get(p).is_some_and(|n| {
                    let kind =
                        zooid_tree::tree::node_kind(n.stat.ephemeral_owner, tree.extended_types());
                    let NodeKind::Ttl(ttl) = kind else {
                        return false;
                    };
                    n.children.is_empty() && ttl != 0 && now - n.stat.mtime > ttl
                })
            });
            containers.chain(ttls).take(max).cloned().collect()
        };
        for path in candidates {
            let shared = self.shared.clone();
            let ctx = make_ctx(&shared, 0, 0, &[], self.next_zxid);
            let started = Instant::now();
            let tree = self.shared.tree.read();
            let txn = self.prep.delete_container(&tree, &ctx, &path);
            drop(tree);
            self.shared.counters.metrics.prepped(started, false);
            self.submit(Pending::Internal {
                txn,
                expired_session: None,
            });
        }
    }
}

fn multi_result(r: &TxnResult) -> MultiResult {
    let stat = r.stat.clone().unwrap_or_default();
    match r.op {
        op::CHECK => MultiResult::Check,
        op::CREATE => MultiResult::Create(CreateResponse {
            path: r.path.clone(),
        }),
        op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => {
            MultiResult::Create2(Create2Response {
                path: r.path.clone(),
                stat,
            })
        }
        op::DELETE | op::DELETE_CONTAINER => MultiResult::Delete,
        op::SET_DATA => MultiResult::SetData(SetDataResponse { stat }),
        _ => MultiResult::Error(r.err),
    }
}

fn parent_of(path: &str) -> &str {
    zooid_proto::path::parent(path).unwrap_or("/")
}

/// A txn that records a failed write (it still takes a zxid, as in ZooKeeper).
fn error_txn(ctx: &PrepCtx<'_>, err: ErrorCode) -> Txn {
    Txn {
        hdr: zooid_proto::TxnHeader {
            client_id: ctx.session_id,
            cxid: ctx.cxid,
            zxid: ctx.zxid,
            time: ctx.time,
            op: op::ERROR,
        },
        body: zooid_tree::TxnBody::Error(zooid_proto::ErrorTxn { err: err.code() }),
    }
}

/// The prep inputs for the txn that gets `zxid`: wall-clock time, the caller's ids.
fn make_ctx<'a>(
    shared: &'a Shared,
    session_id: i64,
    cxid: i32,
    auth: &'a [Id],
    zxid: i64,
) -> PrepCtx<'a> {
    PrepCtx {
        session_id,
        cxid,
        zxid,
        time: now_wall_ms(),
        auth,
        policy: &shared.policy,
        extended_types: shared.config.extended_types_enabled,
        enforce_quota: shared.config.enforce_quota,
        digest: shared.config.digest_enabled,
    }
}
