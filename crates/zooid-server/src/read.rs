//! Reads: executed against the tree under its read lock, on the connection's own task
//! (or on the core when the session has writes in flight), as ZooKeeper's
//! `FinalRequestProcessor` answers them. The reply is queued before the lock is
//! released, so no reply can overtake the watch event of a write it reflects.

use bytes::{Bytes, BytesMut};
use zooid_proto::opcode::{add_watch_mode, event_type, keeper_state, xid};
use zooid_proto::request::{encode_multi_response, MultiOp, MultiResult, Request};
use zooid_proto::{
    perms, Acl, ClientInfo, ErrorCode, ErrorResponse, ExistsResponse, GetAclResponse,
    GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse, GetDataResponse,
    GetEphemeralsResponse, Record, ReplyHeader, SetWatches2, Stat, SyncResponse, WatcherEvent,
    WhoAmIResponse,
};
use zooid_tree::acl::check_acl;
use zooid_tree::watch::{WatcherType, Which};
use zooid_tree::DataTree;

use crate::state::{frame_header, frame_record, ConnHandle, Shared};

/// Checks a permission against the caller's identities.
type AclCheck<'a> = &'a dyn Fn(&[Acl], i32) -> Result<(), ErrorCode>;

/// The outcome of one read: a body to encode, or an error code.
type ReadResult = Result<Option<Box<dyn FnOnce(&mut BytesMut)>>, ErrorCode>;

fn body<R: Record + 'static>(r: R) -> ReadResult {
    Ok(Some(Box::new(move |b: &mut BytesMut| r.encode(b))))
}

/// Executes a read request and queues its reply on `conn`.
pub fn execute(shared: &Shared, conn: &ConnHandle, xid: i32, req: &Request) {
    let tree = shared.tree.read();
    if let Request::MultiRead(ops) = req {
        if ops.iter().any(|o| !o.is_read()) {
            // FinalRequestProcessor fails on the first non-read op with an IOException:
            // MarshallingError, with the (empty) MultiResponse it had started.
            let zxid = tree.last_zxid();
            let hdr = ReplyHeader {
                xid,
                zxid,
                err: ErrorCode::MarshallingError.code(),
            };
            conn.reply(encode_with(
                &hdr,
                Box::new(|b: &mut BytesMut| encode_multi_response(&[], b)),
            ));
            return;
        }
    }
    let result = read(shared, &tree, conn, req);
    let zxid = tree.last_zxid();
    let err = match &result {
        Ok(_) => 0,
        Err(e) => e.code(),
    };
    // Pings are answered with the ping xid whatever the client sent.
    let xid = if matches!(req, Request::Ping) {
        zooid_proto::opcode::xid::PING
    } else {
        xid
    };
    let hdr = ReplyHeader { xid, zxid, err };
    let f = match result {
        Ok(Some(enc)) => encode_with(&hdr, enc),
        _ => frame_header(&hdr),
    };
    conn.stats
        .last_zxid
        .store(zxid, std::sync::atomic::Ordering::Relaxed);
    conn.reply(f);
    drop(tree);
}

fn encode_with(hdr: &ReplyHeader, enc: Box<dyn FnOnce(&mut BytesMut)>) -> Bytes {
    use bytes::BufMut;
    let mut b = BytesMut::with_capacity(128);
    b.put_i32(0);
    hdr.encode(&mut b);
    enc(&mut b);
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

fn read(shared: &Shared, tree: &DataTree, conn: &ConnHandle, req: &Request) -> ReadResult {
    let auth = conn.auth();
    let can = |acl: &[Acl], perm: i32| check_acl(&shared.policy, acl, perm, &auth);
    match req {
        Request::Exists(r) => {
            if r.path.contains('\0') {
                return Err(ErrorCode::BadArguments);
            }
            let node = tree.get(&r.path);
            if let Some(n) = node {
                can(&tree.acl_of(n), perms::READ)?;
            }
            if r.watch {
                shared.watches.lock().add(Which::Data, &r.path, conn.id);
            }
            match node {
                Some(n) => {
                    shared.counters.metrics.read_stat(&r.path, 0);
                    body(ExistsResponse {
                        stat: n.stat(tree.extended_types()),
                    })
                }
                None => Err(ErrorCode::NoNode),
            }
        }
        Request::GetData(r) => {
            let (data, stat) = get_data(shared, tree, conn, &r.path, r.watch, &can)?;
            body(GetDataResponse { data, stat })
        }
        Request::GetChildren { with_stat, req: r } => {
            let (children, stat) = get_children(shared, tree, conn, &r.path, r.watch, &can)?;
            if *with_stat {
                body(GetChildren2Response { children, stat })
            } else {
                body(GetChildrenResponse { children })
            }
        }
        Request::GetAcl(r) => {
            let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
            let acl = tree.acl_of(n);
            can(&acl, perms::READ | perms::ADMIN)?;
            let mut acl: Vec<Acl> = acl.to_vec();
            if can(&tree.acl_of(n), perms::ADMIN).is_err() {
                for a in acl.iter_mut().filter(|a| a.id.scheme == "digest") {
                    let user = a.id.id.split(':').next().unwrap_or("").to_owned();
                    a.id.id = format!("{user}:x");
                }
            }
            body(GetAclResponse {
                acl,
                stat: n.stat(tree.extended_types()),
            })
        }
        Request::GetAllChildrenNumber(r) => {
            let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
            can(&tree.acl_of(n), perms::READ)?;
            body(GetAllChildrenNumberResponse {
                total_number: tree.all_children_number(&r.path) as i32,
            })
        }
        Request::GetEphemerals(r) => {
            let prefix = r.prefix_path.trim();
            let all = prefix.is_empty() || prefix == "/";
            let ephemerals = tree
                .ephemerals_of(conn.session())
                .filter(|p| all || p.starts_with(r.prefix_path.as_str()))
                .cloned()
                .collect();
            body(GetEphemeralsResponse { ephemerals })
        }
        Request::Sync(r) => body(SyncResponse {
            path: r.path.clone(),
        }),
        Request::Ping => Ok(None),
        Request::SetWatches(w) => {
            set_watches(shared, tree, conn, w);
            Ok(None)
        }
        Request::AddWatch(r) => {
            let recursive = match r.mode {
                add_watch_mode::PERSISTENT => false,
                add_watch_mode::PERSISTENT_RECURSIVE => true,
                _ => return Err(ErrorCode::MarshallingError),
            };
            shared
                .watches
                .lock()
                .add_persistent(&r.path, conn.id, recursive);
            body(ErrorResponse { err: 0 })
        }
        Request::CheckWatches(r) => {
            WatcherType::from_i32(r.kind).ok_or(ErrorCode::MarshallingError)?;
            if shared.watches.lock().contains(&r.path, conn.id, r.kind) {
                Ok(None)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        Request::RemoveWatches(r) => {
            WatcherType::from_i32(r.kind).ok_or(ErrorCode::MarshallingError)?;
            if shared.watches.lock().remove(&r.path, conn.id, r.kind) {
                Ok(None)
            } else {
                Err(ErrorCode::NoWatcher)
            }
        }
        Request::WhoAmI => {
            let client_info = auth
                .iter()
                .map(|id| ClientInfo {
                    auth_scheme: id.scheme.clone(),
                    // AuthUtil.getUser: the registered provider's getUserName (digest
                    // ids show the user only); "" for a scheme without a provider
                    // (`super`, or sasl without SASLAuthenticationProvider).
                    user: match id.scheme.as_str() {
                        _ if !zooid_tree::acl::known_scheme(&shared.policy, &id.scheme) => {
                            String::new()
                        }
                        "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
                        _ => id.id.clone(),
                    },
                })
                .collect();
            body(WhoAmIResponse { client_info })
        }
        Request::MultiRead(ops) => {
            let results = ops
                .iter()
                .map(|o| multi_read_op(shared, tree, conn, o, &can))
                .collect::<Vec<_>>();
            Ok(Some(Box::new(move |b: &mut BytesMut| {
                encode_multi_response(&results, b)
            })))
        }
        _ => Err(ErrorCode::MarshallingError),
    }
}

fn multi_read_op(
    shared: &Shared,
    tree: &DataTree,
    conn: &ConnHandle,
    o: &MultiOp,
    can: AclCheck<'_>,
) -> MultiResult {
    let r = match o {
        // multiRead never sets watches: ZooKeeper builds its ops without the flag.
        MultiOp::GetChildren(r) => get_children(shared, tree, conn, &r.path, false, can)
            .map(|(children, _)| MultiResult::GetChildren(GetChildrenResponse { children })),
        MultiOp::GetData(r) => get_data(shared, tree, conn, &r.path, false, can)
            .map(|(data, stat)| MultiResult::GetData(GetDataResponse { data, stat })),
        _ => Err(ErrorCode::MarshallingError),
    };
    r.unwrap_or_else(|e| MultiResult::Error(e.code()))
}

fn get_data(
    shared: &Shared,
    tree: &DataTree,
    conn: &ConnHandle,
    path: &str,
    watch: bool,
    can: AclCheck<'_>,
) -> Result<(Bytes, Stat), ErrorCode> {
    let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
    can(&tree.acl_of(n), perms::READ)?;
    if watch {
        shared.watches.lock().add(Which::Data, path, conn.id);
    }
    shared.counters.metrics.read_stat(path, n.data.len() as i64);
    Ok((n.data.clone(), n.stat(tree.extended_types())))
}

fn get_children(
    shared: &Shared,
    tree: &DataTree,
    conn: &ConnHandle,
    path: &str,
    watch: bool,
    can: AclCheck<'_>,
) -> Result<(Vec<String>, Stat), ErrorCode> {
    let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
    can(&tree.acl_of(n), perms::READ)?;
    if watch {
        shared.watches.lock().add(Which::Child, path, conn.id);
    }
    let children = n.children.java_order();
    let bytes = children.iter().map(|c| crate::stats::java_len(c)).sum();
    shared.counters.metrics.read_stat(path, bytes);
    Ok((children, n.stat(tree.extended_types())))
}

/// `DataTree.setWatches`: re-registers a reconnecting client's watches and fires, right
/// away, the events it missed since `relativeZxid`.
fn set_watches(shared: &Shared, tree: &DataTree, conn: &ConnHandle, w: &SetWatches2) {
    let rel = w.relative_zxid;
    let mut reg = shared.watches.lock();
    let fire = |kind: i32, path: &str| notify(conn, kind, path, -1);
    for p in &w.data_watches {
        match tree.get(p) {
            None => fire(event_type::NODE_DELETED, p),
            Some(n) if n.stat.mzxid > rel => fire(event_type::NODE_DATA_CHANGED, p),
            Some(_) => reg.add(Which::Data, p, conn.id),
        }
    }
    for p in &w.exist_watches {
        match tree.get(p) {
            Some(_) => fire(event_type::NODE_CREATED, p),
            None => reg.add(Which::Data, p, conn.id),
        }
    }
    for p in &w.child_watches {
        match tree.get(p) {
            None => fire(event_type::NODE_DELETED, p),
            Some(n) if n.stat.pzxid > rel => fire(event_type::NODE_CHILDREN_CHANGED, p),
            Some(_) => reg.add(Which::Child, p, conn.id),
        }
    }
    for p in &w.persistent_watches {
        reg.add_persistent(p, conn.id, false);
    }
    for p in &w.persistent_recursive_watches {
        reg.add_persistent(p, conn.id, true);
    }
}

/// Queues a watch notification (xid -1) on a connection.
pub fn notify(conn: &ConnHandle, kind: i32, path: &str, zxid: i64) {
    let hdr = ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    };
    let ev = WatcherEvent {
        kind,
        state: keeper_state::SYNC_CONNECTED,
        path: path.to_owned(),
    };
    conn.notify(frame_record(&hdr, &ev));
}
