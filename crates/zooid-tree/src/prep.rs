//! Prep: validates a write against the tree plus the changes prepped but not yet
//! applied, and turns it into a complete txn, exactly where and how ZooKeeper's
//! `PrepRequestProcessor` does (same checks, same order, same error codes). A failed
//! write still becomes a txn: an `ErrorTxn` that consumes a zxid.
//!
//! With `digest.enabled`, prep also keeps the tree digest as it will be once every
//! prepped txn is applied, as ZooKeeper's `ChangeRecord`s carry their node's digest
//! (`precalculateDigest`): each recorded change swaps the node's old digest term for its
//! new one. The leader sends that digest with each proposal (`TxnDigest`) and learners
//! compare it with their own tree's after applying the txn.

use std::collections::{BTreeSet, HashMap, VecDeque};

use bytes::Bytes;
use zooid_proto::opcode::{create_mode, ephemeral, op};
use zooid_proto::path::validate_path;
use zooid_proto::request::{MultiOp, Request};
use zooid_proto::{
    perms, Acl, CheckVersionRequest, CheckVersionTxn, CloseSessionTxn, CreateContainerTxn,
    CreateRequest, CreateSessionTxn, CreateTtlRequest, CreateTtlTxn, CreateTxn, DeleteRequest,
    DeleteTxn, ErrorCode, ErrorTxn, Id, SetAclTxn, SetDataRequest, SetDataTxn, StatPersisted,
    TxnHeader,
};

use crate::acl::{check_acl, fixup_acl, AclList, AclPolicy};
use crate::tree::{
    node_digest, node_kind, DataTree, NodeKind, CONFIG_PATH, QUOTA_PATH, ZOOKEEPER_PATH,
};
use crate::txn::{Txn, TxnBody};

/// Everything about the caller and the moment that prep needs; all inputs.
#[derive(Debug, Clone, Copy)]
pub struct PrepCtx<'a> {
    pub session_id: i64,
    pub cxid: i32,
    /// The zxid this txn gets.
    pub zxid: i64,
    /// Wall-clock milliseconds for ctime/mtime, chosen by the host.
    pub time: i64,
    pub auth: &'a [Id],
    pub policy: &'a AclPolicy,
    /// `extendedTypesEnabled`: TTL nodes allowed.
    pub extended_types: bool,
    /// `enforceQuota`: hard quota limits refuse writes.
    pub enforce_quota: bool,
    /// `digest.enabled`: keep the tree digest of the pending changes ([`Prep::digest`]).
    pub digest: bool,
}

/// A node as prep sees it: the tree's version or a pending change's.
#[derive(Debug, Clone)]
struct View {
    stat: StatPersisted,
    child_count: i32,
    acl: AclList,
    data: Bytes,
    /// The node's term of the tree digest ([`node_digest`]) in this state; 0 when
    /// digests are off.
    digest: u64,
}

/// `ChangeRecord`s: the latest pending state of each path touched by a prepped, not yet
/// applied txn. `None` means deleted.
#[derive(Debug, Default)]
pub struct Prep {
    pending: HashMap<String, (i64, Option<View>)>,
    /// (zxid, path) of each change recorded, in zxid order: what [`Prep::applied`]
    /// looks at instead of the whole map. A path recorded again, or restored by a
    /// multi's rollback, leaves entries whose zxid is not the map's; they are dropped
    /// as they come up.
    order: VecDeque<(i64, String)>,
    /// The tree digest once every prepped txn is applied. Only meaningful while a change
    /// is pending: with none, the tree's own digest is the current one.
    digest: u64,
}

/// A write, whether alone or inside a multi.
enum Write<'a> {
    Create {
        op: i32,
        path: &'a str,
        data: &'a Bytes,
        acl: &'a [Acl],
        flags: i32,
        ttl: i64,
    },
    Delete {
        path: &'a str,
        version: i32,
    },
    SetData {
        path: &'a str,
        data: &'a Bytes,
        version: i32,
    },
    SetAcl {
        path: &'a str,
        acl: &'a [Acl],
        version: i32,
    },
    Check {
        path: &'a str,
        version: i32,
    },
    DeleteContainer {
        path: &'a str,
    },
}

impl<'a> Write<'a> {
    fn from_multi(o: &'a MultiOp) -> Option<Write<'a>> {
        Some(match o {
            MultiOp::Create { op, req } => Write::create(*op, req),
            MultiOp::CreateTtl(r) => Write::create_ttl(r),
            MultiOp::Delete(r) => Write::delete(r),
            MultiOp::SetData(r) => Write::set_data(r),
            MultiOp::Check(r) => Write::check(r),
            MultiOp::GetChildren(_) | MultiOp::GetData(_) => return None,
        })
    }

    fn create(op: i32, r: &'a CreateRequest) -> Write<'a> {
        Write::Create {
            op,
            path: &r.path,
            data: &r.data,
            acl: &r.acl,
            flags: r.flags,
            ttl: -1,
        }
    }

    fn create_ttl(r: &'a CreateTtlRequest) -> Write<'a> {
        Write::Create {
            op: op::CREATE_TTL,
            path: &r.path,
            data: &r.data,
            acl: &r.acl,
            flags: r.flags,
            ttl: r.ttl,
        }
    }

    fn delete(r: &'a DeleteRequest) -> Write<'a> {
        Write::Delete {
            path: &r.path,
            version: r.version,
        }
    }

    fn set_data(r: &'a SetDataRequest) -> Write<'a> {
        Write::SetData {
            path: &r.path,
            data: &r.data,
            version: r.version,
        }
    }

    fn check(r: &'a CheckVersionRequest) -> Write<'a> {
        Write::Check {
            path: &r.path,
            version: r.version,
        }
    }

    fn opcode(&self) -> i32 {
        match self {
            Write::Create { op, .. } => *op,
            Write::Delete { .. } => op::DELETE,
            Write::SetData { .. } => op::SET_DATA,
            Write::SetAcl { .. } => op::SET_ACL,
            Write::Check { .. } => op::CHECK,
            Write::DeleteContainer { .. } => op::DELETE_CONTAINER,
        }
    }
}

fn header(ctx: &PrepCtx<'_>, op: i32) -> TxnHeader {
    TxnHeader {
        client_id: ctx.session_id,
        cxid: ctx.cxid,
        zxid: ctx.zxid,
        time: ctx.time,
        op,
    }
}

fn error_txn(ctx: &PrepCtx<'_>, err: ErrorCode) -> Txn {
    Txn {
        hdr: header(ctx, op::ERROR),
        body: TxnBody::Error(ErrorTxn { err: err.code() }),
    }
}

/// ZooKeeper keeps the root under "" too: the parent of "/a" is "" which is "/".
fn parent_of(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    Some(if i == 0 { "/" } else { &path[..i] })
}

fn is_special(path: &str) -> bool {
    matches!(path, "/" | ZOOKEEPER_PATH | QUOTA_PATH | CONFIG_PATH)
}

fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

fn valid_path(path: &str) -> Result<(), ErrorCode> {
    validate_path(path).map_err(|_| ErrorCode::BadArguments)
}

impl Prep {
    pub fn new() -> Self {
        Prep::default()
    }

    /// Forgets pending changes that `apply` has caught up with.
    pub fn applied(&mut self, zxid: i64) {
        while let Some((z, _)) = self.order.front() {
            if *z > zxid {
                break;
            }
            let Some((_, path)) = self.order.pop_front() else {
                break;
            };
            if self.pending.get(&path).is_some_and(|(z, _)| *z <= zxid) {
                self.pending.remove(&path);
            }
        }
    }

    /// Forgets every pending change (the txns that made them were lost).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.order.clear();
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The tree digest after every txn prepped so far, ZooKeeper's `getCurrentTreeDigest`:
    /// the leader's `TxnDigest` for the txn prepped last (a txn that changes nothing, such
    /// as createSession or an error, gets the digest of the txns before it). `tree` is
    /// the tree prep validated against; only meaningful when the txns were prepped with
    /// [`PrepCtx::digest`].
    pub fn digest(&self, tree: &DataTree) -> i64 {
        if self.pending.is_empty() {
            // Every change prepped is applied: the tree is current.
            tree.digest()
        } else {
            self.digest as i64
        }
    }

    fn view(&self, tree: &DataTree, ctx: &PrepCtx<'_>, path: &str) -> Result<View, ErrorCode> {
        if let Some((_, v)) = self.pending.get(path) {
            return v.clone().ok_or(ErrorCode::NoNode);
        }
        let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
        Ok(View {
            stat: n.stat.clone(),
            child_count: n.children.len() as i32,
            acl: tree.acl_of(n),
            data: n.data.clone(),
            digest: if ctx.digest {
                node_digest(path, &n.data, &n.stat)
            } else {
                0
            },
        })
    }

    /// Whether `path` exists as the pending changes leave it.
    fn exists(&self, tree: &DataTree, path: &str) -> bool {
        match self.pending.get(path) {
            Some((_, v)) => v.is_some(),
            None => tree.get(path).is_some(),
        }
    }

    /// Records the new state of `path` (`None`: deleted), whose digest term was
    /// `before`, and moves the pending tree digest with it.
    fn record(
        &mut self,
        tree: &DataTree,
        ctx: &PrepCtx<'_>,
        path: &str,
        before: u64,
        mut v: Option<View>,
    ) {
        if ctx.digest {
            if self.pending.is_empty() {
                self.digest = tree.digest() as u64;
            }
            let after = match v.as_mut() {
                Some(v) => {
                    v.digest = node_digest(path, &v.data, &v.stat);
                    v.digest
                }
                None => 0,
            };
            self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        }
        self.pending.insert(path.to_owned(), (ctx.zxid, v));
        self.order.push_back((ctx.zxid, path.to_owned()));
    }

    /// Turns a write request into its txn. Reads must not be passed here.
    pub fn prep(&mut self, tree: &DataTree, ctx: &PrepCtx<'_>, req: &Request) -> Txn {
        let w = match req {
            Request::Create { op, req } => Write::create(*op, req),
            Request::CreateTtl(r) => Write::create_ttl(r),
            Request::Delete(r) => Write::delete(r),
            Request::SetData(r) => Write::set_data(r),
            Request::SetAcl(r) => Write::SetAcl {
                path: &r.path,
                acl: &r.acl,
                version: r.version,
            },
            Request::Check(r) => Write::check(r),
            Request::Multi(ops) => return self.prep_multi(tree, ctx, ops),
            Request::CloseSession => return self.close_session(tree, ctx),
            // Standalone: reconfig is disabled (ZooKeeper checks that first).
            Request::Reconfig(_) => return error_txn(ctx, ErrorCode::ReconfigDisabled),
            _ => return error_txn(ctx, ErrorCode::MarshallingError),
        };
        self.prep_one(tree, ctx, &w)
    }

    /// `deleteContainer` (op 20), submitted by the container/TTL reaper.
    pub fn delete_container(&mut self, tree: &DataTree, ctx: &PrepCtx<'_>, path: &str) -> Txn {
        self.prep_one(tree, ctx, &Write::DeleteContainer { path })
    }

    fn prep_one(&mut self, tree: &DataTree, ctx: &PrepCtx<'_>, w: &Write<'_>) -> Txn {
        match self.prep_write(tree, ctx, w) {
            Ok(body) => Txn {
                hdr: header(ctx, w.opcode()),
                body,
            },
            Err(e) => error_txn(ctx, e),
        }
    }

    fn prep_multi(&mut self, tree: &DataTree, ctx: &PrepCtx<'_>, ops: &[MultiOp]) -> Txn {
        let saved = (self.pending.clone(), self.digest);
        let mut failed = false;
        let mut subs = Vec::with_capacity(ops.len());
        for o in ops {
            if failed {
                let e = ErrorTxn {
                    err: ErrorCode::RuntimeInconsistency.code(),
                };
                subs.push((op::ERROR, TxnBody::Error(e)));
                continue;
            }
            // A read op inside a write multi makes ZooKeeper fail to serialize the txn.
            let Some(w) = Write::from_multi(o) else {
                (self.pending, self.digest) = saved;
                return error_txn(ctx, ErrorCode::MarshallingError);
            };
            match self.prep_write(tree, ctx, &w) {
                Ok(body) => subs.push((w.opcode(), body)),
                Err(e) => {
                    failed = true;
                    // Roll back what the earlier ops of this multi recorded.
                    (self.pending, self.digest) = saved.clone();
                    subs.push((op::ERROR, TxnBody::Error(ErrorTxn { err: e.code() })));
                }
            }
        }
        Txn {
            hdr: header(ctx, op::MULTI),
            body: TxnBody::Multi(subs),
        }
    }

    fn prep_write(
        &mut self,
        tree: &DataTree,
        ctx: &PrepCtx<'_>,
        w: &Write<'_>,
    ) -> Result<TxnBody, ErrorCode> {
        match *w {
            Write::Create {
                op,
                path,
                data,
                acl,
                flags,
                ttl,
            } => self.prep_create(tree, ctx, op, path, data, acl, flags, ttl),
            Write::Delete { path, version } => self.prep_delete(tree, ctx, path, Some(version)),
            Write::DeleteContainer { path } => self.prep_delete(tree, ctx, path, None),
            Write::SetData {
                path,
                data,
                version,
            } => {
                valid_path(path)?;
                let mut v = self.view(tree, ctx, path)?;
                check_acl(ctx.policy, &v.acl, perms::WRITE, ctx.auth)?;
                if ctx.enforce_quota {
                    tree.check_quota(path, data.len() as i64 - v.data.len() as i64, 0)?;
                }
                let new_version = check_version(v.stat.version, version)?;
                let before = v.digest;
                v.data = data.clone();
                v.stat.version = new_version;
                v.stat.mtime = ctx.time;
                v.stat.mzxid = ctx.zxid;
                self.record(tree, ctx, path, before, Some(v));
                Ok(TxnBody::SetData(SetDataTxn {
                    path: path.into(),
                    data: data.clone(),
                    version: new_version,
                }))
            }
            Write::SetAcl { path, acl, version } => {
                valid_path(path)?;
                let acl = fixup_acl(ctx.policy, acl, ctx.auth)?;
                let mut v = self.view(tree, ctx, path)?;
                check_acl(ctx.policy, &v.acl, perms::ADMIN, ctx.auth)?;
                let new_version = check_version(v.stat.aversion, version)?;
                let before = v.digest;
                v.stat.aversion = new_version;
                v.acl = acl.clone().into();
                self.record(tree, ctx, path, before, Some(v));
                Ok(TxnBody::SetAcl(SetAclTxn {
                    path: path.into(),
                    acl,
                    version: new_version,
                }))
            }
            Write::Check { path, version } => {
                valid_path(path)?;
                let v = self.view(tree, ctx, path)?;
                check_acl(ctx.policy, &v.acl, perms::READ, ctx.auth)?;
                let version = check_version(v.stat.version, version)?;
                Ok(TxnBody::Check(CheckVersionTxn {
                    path: path.into(),
                    version,
                }))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_create(
        &mut self,
        tree: &DataTree,
        ctx: &PrepCtx<'_>,
        op: i32,
        path: &str,
        data: &Bytes,
        acl: &[Acl],
        flags: i32,
        ttl: i64,
    ) -> Result<TxnBody, ErrorCode> {
        let mode = Mode::from_flags(flags)?;
        if mode.ttl && !ctx.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        let ttl_ok = if mode.ttl {
            ttl > 0 && ttl <= ephemeral::MAX_TTL
        } else {
            ttl < 0
        };
        if !ttl_ok {
            return Err(ErrorCode::BadArguments);
        }
        if path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = parent_of(path).ok_or(ErrorCode::BadArguments)?;
        let acl = fixup_acl(ctx.policy, acl, ctx.auth)?;
        let mut parent = self.view(tree, ctx, parent_path)?;
        check_acl(ctx.policy, &parent.acl, perms::CREATE, ctx.auth)?;
        let mut path = path.to_owned();
        if mode.sequential {
            path.push_str(&format!("{:010}", parent.stat.cversion));
        }
        valid_path(&path)?;
        if self.exists(tree, &path) {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(
            node_kind(parent.stat.ephemeral_owner, ctx.extended_types),
            NodeKind::Ephemeral(_)
        ) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        if ctx.enforce_quota {
            tree.check_quota(&path, data.len() as i64, 1)?;
        }
        let new_cversion = parent.stat.cversion.wrapping_add(1);
        let owner = if op == op::CREATE_CONTAINER {
            ephemeral::CONTAINER_OWNER
        } else if op == op::CREATE_TTL {
            ephemeral::TTL_MASK | ttl
        } else if mode.ephemeral {
            ctx.session_id
        } else {
            0
        };
        let parent_before = parent.digest;
        parent.child_count += 1;
        parent.stat.cversion = new_cversion;
        parent.stat.pzxid = ctx.zxid;
        self.record(tree, ctx, parent_path, parent_before, Some(parent));
        let stat = StatPersisted {
            czxid: ctx.zxid,
            mzxid: ctx.zxid,
            ctime: ctx.time,
            mtime: ctx.time,
            ephemeral_owner: owner,
            pzxid: ctx.zxid,
            ..StatPersisted::default()
        };
        let view = View {
            stat,
            child_count: 0,
            acl: acl.clone().into(),
            data: data.clone(),
            digest: 0,
        };
        self.record(tree, ctx, &path, 0, Some(view));
        let data = data.clone();
        Ok(match op {
            op::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn {
                path,
                data,
                acl,
                parent_c_version: new_cversion,
            }),
            op::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn {
                path,
                data,
                acl,
                parent_c_version: new_cversion,
                ttl,
            }),
            _ => TxnBody::Create(CreateTxn {
                path,
                data,
                acl,
                ephemeral: mode.ephemeral,
                parent_c_version: new_cversion,
            }),
        })
    }

    /// `delete` (with a version) or `deleteContainer` (without).
    fn prep_delete(
        &mut self,
        tree: &DataTree,
        ctx: &PrepCtx<'_>,
        path: &str,
        version: Option<i32>,
    ) -> Result<TxnBody, ErrorCode> {
        if path.contains('\0') || is_special(path) {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = parent_of(path).ok_or(ErrorCode::BadArguments)?;
        let node;
        let mut parent;
        if let Some(version) = version {
            parent = self.view(tree, ctx, parent_path)?;
            check_acl(ctx.policy, &parent.acl, perms::DELETE, ctx.auth)?;
            node = self.view(tree, ctx, path)?;
            check_version(node.stat.version, version)?;
            if node.child_count > 0 {
                return Err(ErrorCode::NotEmpty);
            }
        } else {
            node = self.view(tree, ctx, path)?;
            if node.child_count > 0 {
                return Err(ErrorCode::NotEmpty);
            }
            if matches!(
                node_kind(node.stat.ephemeral_owner, ctx.extended_types),
                NodeKind::Ephemeral(_)
            ) {
                return Err(ErrorCode::BadVersion);
            }
            parent = self.view(tree, ctx, parent_path)?;
        }
        let parent_before = parent.digest;
        parent.child_count -= 1;
        parent.stat.pzxid = ctx.zxid;
        self.record(tree, ctx, parent_path, parent_before, Some(parent));
        self.record(tree, ctx, path, node.digest, None);
        Ok(TxnBody::Delete(DeleteTxn { path: path.into() }))
    }

    /// `closeSession`: the txn lists the session's ephemerals, pending ones included.
    pub fn close_session(&mut self, tree: &DataTree, ctx: &PrepCtx<'_>) -> Txn {
        let sid = ctx.session_id;
        let mut paths: BTreeSet<String> = tree.ephemerals_of(sid).cloned().collect();
        // A pending change is the path's latest state: owned by the session or not
        // (deleted, or deleted and created again by another session).
        for (p, (_, v)) in &self.pending {
            match v {
                Some(v) if v.stat.ephemeral_owner == sid => {
                    paths.insert(p.clone());
                }
                _ => {
                    paths.remove(p);
                }
            }
        }
        for p in &paths {
            self.delete_ephemeral(tree, ctx, p);
        }
        let body = CloseSessionTxn {
            paths_to_delete: paths.into_iter().collect(),
        };
        Txn {
            hdr: header(ctx, op::CLOSE_SESSION),
            body: TxnBody::CloseSession(body),
        }
    }

    /// One ephemeral of a closing session goes; its parent gets the txn's zxid as pzxid
    /// (`DataTree.deleteNode`). Like ZooKeeper's prep, the parent's pending child count
    /// stays: a delete of the parent prepped before this close is applied still fails
    /// with NotEmpty, as on ZooKeeper's leader.
    fn delete_ephemeral(&mut self, tree: &DataTree, ctx: &PrepCtx<'_>, path: &str) {
        if let Some(parent_path) = parent_of(path) {
            if let Ok(mut parent) = self.view(tree, ctx, parent_path) {
                let before = parent.digest;
                parent.stat.pzxid = ctx.zxid;
                self.record(tree, ctx, parent_path, before, Some(parent));
            }
        }
        let before = self.view(tree, ctx, path).map_or(0, |v| v.digest);
        self.record(tree, ctx, path, before, None);
    }

    /// `createSession`.
    pub fn create_session(ctx: &PrepCtx<'_>, timeout_ms: i32) -> Txn {
        let body = TxnBody::CreateSession(CreateSessionTxn {
            time_out: timeout_ms,
        });
        Txn {
            hdr: header(ctx, op::CREATE_SESSION),
            body,
        }
    }
}

/// `CreateMode.fromFlag`: what the flags ask for.
struct Mode {
    ephemeral: bool,
    sequential: bool,
    ttl: bool,
}

impl Mode {
    fn from_flags(flags: i32) -> Result<Mode, ErrorCode> {
        let (ephemeral, sequential, ttl) = match flags {
            create_mode::PERSISTENT | create_mode::CONTAINER => (false, false, false),
            create_mode::EPHEMERAL => (true, false, false),
            create_mode::PERSISTENT_SEQUENTIAL => (false, true, false),
            create_mode::EPHEMERAL_SEQUENTIAL => (true, true, false),
            create_mode::PERSISTENT_WITH_TTL => (false, false, true),
            create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL => (false, true, true),
            _ => return Err(ErrorCode::BadArguments),
        };
        Ok(Mode {
            ephemeral,
            sequential,
            ttl,
        })
    }
}
