//! The core: the one task that changes the tree. It owns sessions and prep, turns each
//! write into a txn, applies it, fires its watches and replies, in arrival order. Reads
//! of a session with writes in flight come here too, so replies keep request order.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use zooid_proto::opcode::{event_type, op};
use zooid_proto::request::{encode_multi_response, MultiResult, Request};
use zooid_proto::{
    ConnectRequest, ConnectResponse, Create2Response, CreateResponse, ErrorCode, Id, ReplyHeader,
    SetAclResponse, SetDataResponse,
};
use zooid_tree::acl::check_acl;
use zooid_tree::prep::{Prep, PrepCtx};
use zooid_tree::tree::NodeKind;
use zooid_tree::watch::Fired;
use zooid_tree::{Trigger, Txn, TxnResult};

use crate::read;
use crate::session::{session_password, SessionState, SessionTracker};
use crate::state::{frame, frame_header, frame_record, ConnHandle, Shared};

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
        auth: Arc<Vec<Id>>,
        received: Instant,
    },
    ConnClosed {
        conn_id: u64,
        session: i64,
    },
    Tick,
}

/// What the connection does after the handshake.
pub struct ConnectOutcome {
    /// None: refuse silently (client is ahead of us); the connection is closed.
    pub resp: Option<ConnectResponse>,
    pub session: Option<Arc<SessionState>>,
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
}

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
        }
    }

    pub fn mono_ms(&self) -> i64 {
        self.shared.started.elapsed().as_millis() as i64
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<CoreMsg>) {
        while let Some(msg) = rx.recv().await {
            self.handle(msg);
        }
    }

    fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Connect { conn, req, reply } => {
                let outcome = self.connect(&conn, &req);
                let _ = reply.send(outcome);
            }
            CoreMsg::Request {
                conn,
                xid,
                op,
                req,
                auth,
                received,
            } => {
                self.request(&conn, xid, op, req, &auth);
                conn.responded(op, xid, received);
                conn.in_core.fetch_sub(1, Ordering::AcqRel);
                self.shared
                    .counters
                    .outstanding
                    .fetch_sub(1, Ordering::Relaxed);
            }
            CoreMsg::ConnClosed { conn_id, session } => {
                self.shared.watches.lock().remove_watcher(conn_id);
                self.shared.conns.lock().remove(&conn_id);
                if self.owners.get(&session) == Some(&conn_id) {
                    self.owners.remove(&session);
                }
            }
            CoreMsg::Tick => self.tick(),
        }
    }

    fn connect(&mut self, conn: &Arc<ConnHandle>, req: &ConnectRequest) -> ConnectOutcome {
        let last = self.shared.tree.read().last_zxid();
        if req.last_zxid_seen > last {
            tracing::info!(
                "refusing session request for client {} as it has seen zxid 0x{:x} our last zxid is 0x{:x} client must try another server",
                conn.remote,
                req.last_zxid_seen,
                last
            );
            return ConnectOutcome {
                resp: None,
                session: None,
            };
        }
        let cfg = &self.shared.config;
        let timeout = req.time_out.clamp(
            cfg.min_session_timeout_ms as i32,
            cfg.max_session_timeout_ms as i32,
        );
        let now = self.mono_ms();
        let session = if req.session_id == 0 {
            let sid = self.sessions.next_session_id();
            let shared = self.shared.clone();
            let ctx = make_ctx(&shared, sid, 0, &[]);
            let txn = Prep::create_session(&ctx, timeout);
            self.commit(&txn);
            self.shared
                .session_count
                .store(self.sessions.len() + 1, Ordering::Relaxed);
            Some(self.sessions.add(sid, timeout, now))
        } else {
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
            match self.sessions.get(req.session_id) {
                Some(s) if pw_ok => {
                    s.touch(now);
                    Some(s.clone())
                }
                _ => None,
            }
        };
        let Some(s) = session else {
            let resp = ConnectResponse {
                passwd: vec![0u8; 16].into(),
                ..ConnectResponse::default()
            };
            return ConnectOutcome {
                resp: Some(resp),
                session: None,
            };
        };
        if let Some(old) = self.owners.insert(s.id, conn.id) {
            if old != conn.id {
                if let Some(c) = self.shared.conn(old) {
                    tracing::info!("closing old connection of session 0x{:x}", s.id);
                    c.kill();
                }
            }
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
        conn: &Arc<ConnHandle>,
        xid: i32,
        opcode: i32,
        req: Decoded,
        auth: &[Id],
    ) {
        let sid = conn.session();
        let req = match req {
            Ok(r) if !r.is_write() => return read::execute(&self.shared, conn, xid, &r),
            Ok(r) => r,
            Err(e) if !zooid_proto::opcode::is_write_op(opcode) => {
                tracing::warn!("malformed request from 0x{sid:x} (op {opcode}): {e}");
                return self.reply_error(conn, xid, ErrorCode::MarshallingError);
            }
            Err(e) => {
                tracing::warn!("malformed request from 0x{sid:x} (op {opcode}): {e}");
                let shared = self.shared.clone();
                let ctx = make_ctx(&shared, sid, xid, auth);
                let txn = Txn {
                    hdr: zooid_proto::TxnHeader {
                        client_id: sid,
                        cxid: xid,
                        zxid: ctx.zxid,
                        time: ctx.time,
                        op: op::ERROR,
                    },
                    body: zooid_tree::TxnBody::Error(zooid_proto::ErrorTxn {
                        err: ErrorCode::MarshallingError.code(),
                    }),
                };
                self.commit(&txn);
                return self.reply_error(conn, xid, ErrorCode::MarshallingError);
            }
        };
        let shared = self.shared.clone();
        let ctx = make_ctx(&shared, sid, xid, auth);
        let txn = if self.sessions.get(sid).is_none() {
            Txn {
                hdr: zooid_proto::TxnHeader {
                    client_id: sid,
                    cxid: xid,
                    zxid: ctx.zxid,
                    time: ctx.time,
                    op: op::ERROR,
                },
                body: zooid_tree::TxnBody::Error(zooid_proto::ErrorTxn {
                    err: ErrorCode::SessionExpired.code(),
                }),
            }
        } else {
            let tree = self.shared.tree.read();
            let t = self.prep.prep(&tree, &ctx, &req);
            drop(tree);
            t
        };
        let result = self.commit(&txn);
        self.reply_write(conn, xid, &result);
        if matches!(req, Request::CloseSession) && result.err == 0 {
            // After the reply: ending the session closes its connection.
            self.end_session(sid);
            conn.kill();
        }
    }

    fn reply_error(&self, conn: &ConnHandle, xid: i32, err: ErrorCode) {
        let zxid = self.shared.tree.read().last_zxid();
        conn.reply(frame_header(&ReplyHeader {
            xid,
            zxid,
            err: err.code(),
        }));
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
        self.shared
            .session_count
            .store(self.sessions.len(), Ordering::Relaxed);
        if let Some(conn_id) = self.owners.remove(&sid) {
            if let Some(c) = self.shared.conn(conn_id) {
                c.kill();
            }
        }
    }

    fn tick(&mut self) {
        let now = self.mono_ms();
        for sid in self.sessions.expired(now) {
            tracing::info!("expiring session 0x{sid:x}");
            let shared = self.shared.clone();
            let ctx = make_ctx(&shared, sid, 0, &[]);
            let tree = self.shared.tree.read();
            let txn = self.prep.close_session(&tree, &ctx);
            drop(tree);
            self.commit(&txn);
            self.end_session(sid);
        }
        let interval = self.shared.config.container_check_interval_ms as u128;
        if self.last_reap.elapsed().as_millis() >= interval {
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
            let ctx = make_ctx(&shared, 0, 0, &[]);
            let tree = self.shared.tree.read();
            let txn = self.prep.delete_container(&tree, &ctx, &path);
            drop(tree);
            self.commit(&txn);
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

/// The prep inputs for the next txn: zxid after the last applied one, wall-clock time.
fn make_ctx<'a>(shared: &'a Shared, session_id: i64, cxid: i32, auth: &'a [Id]) -> PrepCtx<'a> {
    PrepCtx {
        session_id,
        cxid,
        zxid: shared.tree.read().last_zxid() + 1,
        time: now_wall_ms(),
        auth,
        policy: &shared.policy,
        extended_types: shared.config.extended_types_enabled,
        enforce_quota: shared.config.enforce_quota,
    }
}
