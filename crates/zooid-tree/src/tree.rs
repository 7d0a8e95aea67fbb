//! The DataTree: every znode with its data, Stat and ACL, the ephemeral, container and
//! TTL indexes, and `apply`, the only way the tree changes.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use zooid_proto::opcode::{ephemeral, op};
use zooid_proto::path::{basename, join, parent};
use zooid_proto::{Acl, ErrorCode, Stat, StatPersisted, TxnHeader};

use crate::acl::{AclCache, AclList};
use crate::children::Children;
use crate::quota::{self, StatsTrack};
use crate::txn::{Txn, TxnBody};

/// One znode.
#[derive(Debug, Clone)]
pub struct Node {
    pub data: Bytes,
    /// Index into the tree's [`AclCache`].
    pub acl: i64,
    pub stat: StatPersisted,
    pub children: Children,
}

impl Node {
    /// The Stat a client sees (`DataNode.copyStat`): adds dataLength and numChildren,
    /// reports cversion as ZooKeeper 3 counts it (every create has a delete except for
    /// the children still present: `2 * creates - numChildren`), and hides the owner of
    /// container and TTL nodes.
    pub fn stat(&self, extended_types: bool) -> Stat {
        let mut s = Stat::from(&self.stat);
        let n = self.children.len() as i32;
        s.data_length = self.data.len() as i32;
        s.num_children = n;
        s.cversion = self.stat.cversion.wrapping_mul(2).wrapping_sub(n);
        if !matches!(
            node_kind(self.stat.ephemeral_owner, extended_types),
            NodeKind::Ephemeral(_)
        ) {
            s.ephemeral_owner = 0;
        }
        s
    }
}

/// What kind of node an `ephemeralOwner` denotes (`EphemeralType.get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

/// Decodes `ephemeralOwner`. TTL encodings only count when extended types are on, as in
/// ZooKeeper; otherwise every non-zero owner is a session.
pub fn node_kind(owner: i64, extended_types: bool) -> NodeKind {
    if owner == 0 {
        NodeKind::Persistent
    } else if owner == ephemeral::CONTAINER_OWNER {
        NodeKind::Container
    } else if extended_types
        && owner & ephemeral::TTL_MASK == ephemeral::TTL_MASK
        && owner & ephemeral::RESERVED_BITS_MASK == 0
    {
        NodeKind::Ttl(owner & ephemeral::MAX_TTL)
    } else {
        NodeKind::Ephemeral(owner)
    }
}

/// A change to the tree that watches may care about, with the ACLs that decide who may
/// see it (`WatchManager.triggerWatch` filters by READ on the node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Created {
        path: String,
        acl: AclList,
        parent_acl: AclList,
    },
    Deleted {
        path: String,
        acl: AclList,
        parent_acl: AclList,
    },
    DataChanged {
        path: String,
        acl: AclList,
    },
}

/// `DataTree.ProcessTxnResult`: what a txn did, for the reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnResult {
    pub op: i32,
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi: Vec<TxnResult>,
}

/// The paths ZooKeeper creates in every tree.
pub const ZOOKEEPER_PATH: &str = "/zookeeper";
pub const QUOTA_PATH: &str = "/zookeeper/quota";
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// The tree. Reads take `&self`; only [`DataTree::apply`] takes `&mut self`.
#[derive(Debug, Clone)]
pub struct DataTree {
    nodes: crate::nodemap::NodeMap,
    pub acls: AclCache,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    extended_types: bool,
    last_zxid: i64,
    data_size: u64,
    /// Paths that have a quota (a `zookeeper_limits` node), ZooKeeper's `pTrie`.
    quota_roots: BTreeSet<String>,
    /// ZooKeeper's tree digest: the wrapping sum of every node's [`node_digest`].
    digest: u64,
    /// Set while recovery replays the log: no watcher can exist, so no triggers are made.
    replaying: bool,
}

/// `DigestCalculator.calculateDigest`, digest version 2: CRC32 of the path ("" for the
/// root), the data and the persisted stat; nodes under `/zookeeper/` do not count.
pub fn node_digest(path: &str, data: &[u8], stat: &StatPersisted) -> u64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut b = [0u8; 60];
    let longs = [stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime];
    for (i, v) in longs.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    b[40..44].copy_from_slice(&stat.version.to_be_bytes());
    b[44..48].copy_from_slice(&stat.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&stat.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&stat.ephemeral_owner.to_be_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(path.as_bytes());
    h.update(data);
    h.update(&b);
    h.finalize() as u64
}

/// The digest version ZooKeeper 3.6+ writes next to its digests.
pub const DIGEST_VERSION: i32 = 2;

impl DataTree {
    /// A new tree with `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`
    /// (the latter readable by anyone, as ZooKeeper's `READ_ACL_UNSAFE`).
    pub fn new(extended_types: bool) -> Self {
        let mut t = DataTree {
            nodes: Default::default(),
            acls: AclCache::default(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            extended_types,
            last_zxid: 0,
            data_size: 0,
            quota_roots: BTreeSet::new(),
            digest: 0,
            replaying: false,
        };
        t.insert_system_node("/", zooid_proto::open_acl_unsafe());
        t.insert_system_node(ZOOKEEPER_PATH, zooid_proto::open_acl_unsafe());
        t.insert_system_node(QUOTA_PATH, zooid_proto::open_acl_unsafe());
        t.insert_system_node(CONFIG_PATH, zooid_proto::read_acl_unsafe());
        // ZooKeeper sets the config node's ACL with setACL(..., -1), leaving aversion -1.
        t.nodes
            .get_mut(CONFIG_PATH)
            .expect("just added")
            .stat
            .aversion = -1;
        t
    }

    fn insert_system_node(&mut self, path: &str, acl: Vec<Acl>) {
        let node = Node {
            data: Bytes::new(),
            acl: self.acls.intern(&acl),
            stat: StatPersisted::default(),
            children: Children::default(),
        };
        if let Some(p) = parent(path) {
            self.nodes
                .get_mut(p)
                .expect("system parents first")
                .children
                .insert(basename(path));
        }
        self.data_size += path.len() as u64;
        self.nodes.insert(path.to_owned(), node);
        self.digest_add(path);
    }

    /// The node at `path`. ZooKeeper's map also holds the root under "", so "" finds it.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(if path.is_empty() { "/" } else { path })
    }

    pub fn acl_of(&self, node: &Node) -> AclList {
        self.acls.get(node.acl)
    }

    /// ZooKeeper's node count (`DataTree.getNodeCount`): its map holds the root twice,
    /// under "" and "/", so it counts one more than there are nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Declares the tree exact at `zxid` (a restored snapshot taking the place of the
    /// state at that zxid).
    pub fn set_last_zxid(&mut self, zxid: i64) {
        self.last_zxid = zxid;
    }

    /// Sum of path lengths and data sizes, as `DataTree.approximateDataSize`.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    pub fn extended_types(&self) -> bool {
        self.extended_types
    }

    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &String> {
        self.ephemerals.get(&session).into_iter().flatten()
    }

    pub fn ephemeral_sessions(&self) -> impl Iterator<Item = (&i64, &BTreeSet<String>)> {
        self.ephemerals.iter()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    pub fn ttls(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// Number of nodes below `path` (not counting it), as `getAllChildrenNumber`.
    pub fn all_children_number(&self, path: &str) -> usize {
        if path == "/" {
            // Every node but the root itself, /zookeeper included.
            return self.nodes.len().saturating_sub(1);
        }
        let prefix = format!("{path}/");
        self.nodes.keys().filter(|k| k.starts_with(&prefix)).count()
    }

    /// Applies a txn during recovery, when nobody can be watching: like [`DataTree::apply`]
    /// without building the watch triggers.
    pub fn apply_replay(&mut self, txn: &Txn) -> TxnResult {
        self.replaying = true;
        let r = self.apply(txn, &mut Vec::new());
        self.replaying = false;
        r
    }

    /// Applies one txn. Never fails for a txn prep produced; a txn that does not fit the
    /// tree (replayed twice, say) reports the error in the result, as ZooKeeper does.
    pub fn apply(&mut self, txn: &Txn, triggers: &mut Vec<Trigger>) -> TxnResult {
        let mut r = self.apply_body(&txn.hdr, txn.hdr.op, &txn.body, triggers);
        // A fuzzy snapshot may already hold a node whose create is replayed; ZooKeeper
        // then still moves the parent's cversion and pzxid forward (setCversionPzxid).
        if let (op::CREATE, TxnBody::Create(c)) = (txn.hdr.op, &txn.body) {
            if r.err == ErrorCode::NodeExists.code() {
                if let Err(e) = self.set_cversion_pzxid(&c.path, c.parent_c_version, txn.hdr.zxid) {
                    r.err = e;
                }
            }
        }
        if txn.hdr.zxid > self.last_zxid {
            self.last_zxid = txn.hdr.zxid;
        }
        r
    }

    fn apply_body(
        &mut self,
        hdr: &TxnHeader,
        op: i32,
        body: &TxnBody,
        trig: &mut Vec<Trigger>,
    ) -> TxnResult {
        let mut r = TxnResult {
            op,
            ..TxnResult::default()
        };
        let outcome = match body {
            TxnBody::Create(_) | TxnBody::CreateTtl(_) | TxnBody::CreateContainer(_) => {
                let n = NewNode::of(body, hdr.client_id).expect("a create body");
                r.path = n.path.to_owned();
                self.create_node(&n, hdr, trig)
            }
            TxnBody::Delete(t) => {
                r.path = t.path.clone();
                self.delete_node(&t.path, hdr.zxid, trig).map(|_| None)
            }
            TxnBody::SetData(t) => {
                r.path = t.path.clone();
                self.set_data(&t.path, &t.data, t.version, hdr, trig)
                    .map(Some)
            }
            TxnBody::SetAcl(t) => {
                r.path = t.path.clone();
                self.set_acl(&t.path, &t.acl, t.version).map(Some)
            }
            TxnBody::Check(t) => {
                r.path = t.path.clone();
                Ok(None)
            }
            TxnBody::CreateSession(_) => Ok(None),
            TxnBody::CloseSession(t) => {
                self.kill_session(hdr.client_id, &t.paths_to_delete, hdr.zxid, trig);
                Ok(None)
            }
            TxnBody::Error(e) => Err(e.err),
            TxnBody::Multi(subs) => {
                r.multi = self.apply_multi(hdr, subs, trig);
                r.err = r.multi.iter().map(|m| m.err).find(|e| *e != 0).unwrap_or(0);
                Ok(None)
            }
        };
        match outcome {
            Ok(stat) => r.stat = stat,
            Err(e) => r.err = e,
        }
        r
    }

    fn apply_multi(
        &mut self,
        hdr: &TxnHeader,
        subs: &[(i32, TxnBody)],
        trig: &mut Vec<Trigger>,
    ) -> Vec<TxnResult> {
        // A multi with an error sub-txn applies nothing: ops before the error report OK,
        // ops after it RuntimeInconsistency (DataTree.processTxn).
        let failed = subs.iter().any(|(op, _)| *op == op::ERROR);
        let mut post_failed = false;
        let mut out = Vec::with_capacity(subs.len());
        for (sub_op, body) in subs {
            if failed {
                let err = match body {
                    TxnBody::Error(e) => {
                        post_failed = true;
                        e.err
                    }
                    _ if post_failed => ErrorCode::RuntimeInconsistency.code(),
                    _ => 0,
                };
                out.push(TxnResult {
                    op: op::ERROR,
                    err,
                    ..TxnResult::default()
                });
            } else {
                let sub_hdr = TxnHeader {
                    op: *sub_op,
                    ..hdr.clone()
                };
                out.push(self.apply_body(&sub_hdr, *sub_op, body, trig));
            }
        }
        out
    }

    fn create_node(
        &mut self,
        n: &NewNode<'_>,
        hdr: &TxnHeader,
        trig: &mut Vec<Trigger>,
    ) -> Result<Option<Stat>, i32> {
        let NewNode {
            path,
            data,
            acl,
            owner,
            parent_cversion,
        } = *n;
        let parent_path = parent(path).ok_or(ErrorCode::NoNode.code())?;
        if !self.nodes.contains_key(parent_path) {
            return Err(ErrorCode::NoNode.code());
        }
        if self.nodes.contains_key(path) {
            // ZooKeeper points the existing node at the txn's ACL before failing: on
            // replay over a fuzzy snapshot that repairs an ACL index the snapshot's ACL
            // table did not have yet.
            let index = self.acls.intern(acl);
            self.digest_remove(path);
            let n = self.nodes.get_mut(path).expect("checked above");
            let old = std::mem::replace(&mut n.acl, index);
            self.acls.release(old);
            self.digest_add(path);
            return Err(ErrorCode::NodeExists.code());
        }
        let stat = StatPersisted {
            czxid: hdr.zxid,
            mzxid: hdr.zxid,
            ctime: hdr.time,
            mtime: hdr.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner,
            pzxid: hdr.zxid,
        };
        let acl_index = self.acls.intern(acl);
        // One lookup of the parent: its digest term is swapped around the change.
        let p = self.nodes.get_mut(parent_path).expect("checked above");
        let parent_before = node_digest(parent_path, &p.data, &p.stat);
        let pcv = if parent_cversion == -1 {
            p.stat.cversion.wrapping_add(1)
        } else {
            parent_cversion
        };
        if pcv > p.stat.cversion {
            p.stat.cversion = pcv;
            p.stat.pzxid = hdr.zxid;
        }
        p.children.insert(basename(path));
        let parent_acl = p.acl;
        let parent_after = node_digest(parent_path, &p.data, &p.stat);
        let node = Node {
            data: data.clone(),
            acl: acl_index,
            stat,
            children: Children::default(),
        };
        let out = node.stat(self.extended_types);
        self.digest = self
            .digest
            .wrapping_sub(parent_before)
            .wrapping_add(parent_after)
            .wrapping_add(node_digest(path, data, &node.stat));
        self.data_size += (path.len() + data.len()) as u64;
        self.nodes.insert(path.to_owned(), node);
        self.index_node(path, owner);
        self.quota_after_create(path, parent_path, data.len() as i64);
        if !self.replaying {
            trig.push(Trigger::Created {
                path: path.to_owned(),
                acl: self.acls.get(acl_index),
                parent_acl: self.acls.get(parent_acl),
            });
        }
        Ok(Some(out))
    }

    fn delete_node(&mut self, path: &str, zxid: i64, trig: &mut Vec<Trigger>) -> Result<(), i32> {
        let parent_path = parent(path).ok_or(ErrorCode::NoNode.code())?;
        let Some(p) = self.nodes.get(parent_path) else {
            return Err(ErrorCode::NoNode.code());
        };
        if !self.nodes.contains_key(path) {
            // A fuzzy snapshot may lack a node whose delete is replayed, while its parent
            // was walked before the delete: the parent's pzxid still moves forward, as
            // `DataTree.deleteNode` does before it throws NoNode.
            if zxid > p.stat.pzxid {
                self.digest_remove(parent_path);
                let p = self.nodes.get_mut(parent_path).expect("checked above");
                p.stat.pzxid = zxid;
                self.digest_add(parent_path);
            }
            return Err(ErrorCode::NoNode.code());
        }
        self.digest_remove(path);
        self.digest_remove(parent_path);
        let node = self.nodes.remove(path).expect("checked above");
        let p = self.nodes.get_mut(parent_path).expect("checked above");
        p.children.remove(basename(path));
        if zxid > p.stat.pzxid {
            p.stat.pzxid = zxid;
        }
        let parent_acl = p.acl;
        self.digest_add(parent_path);
        self.data_size = self
            .data_size
            .saturating_sub((path.len() + node.data.len()) as u64);
        let acl = self.acls.get(node.acl);
        self.acls.release(node.acl);
        match node_kind(node.stat.ephemeral_owner, self.extended_types) {
            NodeKind::Container => {
                self.containers.remove(path);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(path);
            }
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(path);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Persistent => {}
        }
        self.quota_after_delete(path, parent_path, node.data.len() as i64);
        if !self.replaying {
            trig.push(Trigger::Deleted {
                path: path.to_owned(),
                acl,
                parent_acl: self.acls.get(parent_acl),
            });
        }
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: &Bytes,
        version: i32,
        hdr: &TxnHeader,
        trig: &mut Vec<Trigger>,
    ) -> Result<Stat, i32> {
        self.digest_remove(path);
        let Some(n) = self.nodes.get_mut(path) else {
            return Err(ErrorCode::NoNode.code());
        };
        self.data_size = self.data_size.saturating_sub(n.data.len() as u64) + data.len() as u64;
        let bytes_diff = data.len() as i64 - n.data.len() as i64;
        n.data = data.clone();
        n.stat.mtime = hdr.time;
        n.stat.mzxid = hdr.zxid;
        n.stat.version = version;
        let stat = n.stat(self.extended_types);
        let acl = self.acls.get(n.acl);
        self.digest_add(path);
        if let Some(root) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&root, bytes_diff, 0);
        }
        if !self.replaying {
            trig.push(Trigger::DataChanged {
                path: path.to_owned(),
                acl,
            });
        }
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, i32> {
        let new_index = self.acls.intern(acl);
        self.digest_remove(path);
        let Some(n) = self.nodes.get_mut(path) else {
            self.acls.release(new_index);
            return Err(ErrorCode::NoNode.code());
        };
        let old = std::mem::replace(&mut n.acl, new_index);
        n.stat.aversion = version;
        let stat = n.stat(self.extended_types);
        self.acls.release(old);
        self.digest_add(path);
        Ok(stat)
    }

    /// `DataTree.setCversionPzxid` on the parent of `path`.
    fn set_cversion_pzxid(&mut self, path: &str, cversion: i32, zxid: i64) -> Result<(), i32> {
        let parent_path = parent(path).ok_or(ErrorCode::NoNode.code())?;
        if !self.nodes.contains_key(parent_path) {
            return Err(ErrorCode::NoNode.code());
        }
        self.digest_remove(parent_path);
        let p = self.nodes.get_mut(parent_path).expect("checked above");
        let cv = if cversion == -1 {
            p.stat.cversion.wrapping_add(1)
        } else {
            cversion
        };
        if cv > p.stat.cversion {
            p.stat.cversion = cv;
            p.stat.pzxid = zxid;
        }
        self.digest_add(parent_path);
        Ok(())
    }

    /// Deletes the ephemerals of sessions that no longer exist, without a txn, as
    /// `ZooKeeperServer.loadData` does after recovery (`killSession` of dead sessions).
    pub fn kill_orphan_ephemerals(&mut self, live: &dyn Fn(i64) -> bool, zxid: i64) -> usize {
        let dead: Vec<i64> = self
            .ephemerals
            .keys()
            .copied()
            .filter(|s| !live(*s))
            .collect();
        let mut n = 0;
        for sid in dead {
            let paths: Vec<String> = self
                .ephemerals
                .remove(&sid)
                .unwrap_or_default()
                .into_iter()
                .collect();
            for p in paths {
                if self.delete_node(&p, zxid, &mut Vec::new()).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Deletes a closed session's ephemerals: the ones the txn lists plus any the tree
    /// still holds for it (`DataTree.killSession`).
    fn kill_session(
        &mut self,
        session: i64,
        listed: &[String],
        zxid: i64,
        trig: &mut Vec<Trigger>,
    ) {
        let mut paths: BTreeSet<String> = self.ephemerals.remove(&session).unwrap_or_default();
        paths.extend(listed.iter().cloned());
        for p in paths {
            // A path may already be gone (deleted earlier in the same batch): skip it.
            let owned = self
                .nodes
                .get(&p)
                .is_some_and(|n| n.stat.ephemeral_owner == session);
            if owned {
                let _ = self.delete_node(&p, zxid, trig);
            }
        }
    }

    /// The deepest quota root at or above `path`, never "/" (`getMaxPrefixWithQuota`).
    pub fn max_prefix_with_quota(&self, path: &str) -> Option<String> {
        if self.quota_roots.is_empty() {
            return None;
        }
        let ends = path
            .match_indices('/')
            .map(|(i, _)| i)
            .filter(|&i| i > 0)
            .chain([path.len()]);
        let best = ends
            .rev()
            .map(|i| &path[..i])
            .find(|p| self.quota_roots.contains(*p));
        best.filter(|p| *p != "/").map(str::to_owned)
    }

    /// Refuses a write that breaks a hard quota (`enforceQuota`).
    pub fn check_quota(
        &self,
        path: &str,
        bytes_diff: i64,
        count_diff: i64,
    ) -> Result<(), ErrorCode> {
        let Some(root) = self.max_prefix_with_quota(path) else {
            return Ok(());
        };
        let Some(limits) = self.nodes.get(&quota::limit_path(&root)) else {
            return Ok(());
        };
        let current = self
            .nodes
            .get(&quota::stat_path(&root))
            .map(|n| StatsTrack::parse(&n.data))
            .unwrap_or_default();
        if quota::exceeds(
            &StatsTrack::parse(&limits.data),
            &current,
            bytes_diff,
            count_diff,
        ) {
            return Err(ErrorCode::QuotaExceeded);
        }
        Ok(())
    }

    fn quota_after_create(&mut self, path: &str, parent_path: &str, bytes: i64) {
        if let Some(root) = parent_path.strip_prefix(quota::QUOTA_ROOT) {
            match basename(path) {
                quota::LIMIT_NODE => {
                    self.quota_roots.insert(root.to_owned());
                }
                quota::STAT_NODE => self.recount_quota(root),
                _ => {}
            }
        }
        if let Some(root) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&root, bytes, 1);
        }
    }

    fn quota_after_delete(&mut self, path: &str, parent_path: &str, bytes: i64) {
        if parent_path.starts_with(ZOOKEEPER_PATH) && basename(path) == quota::LIMIT_NODE {
            if let Some(root) = parent_path.strip_prefix(quota::QUOTA_ROOT) {
                self.quota_roots.remove(root);
            }
        }
        if let Some(root) = self.max_prefix_with_quota(path) {
            self.update_quota_stat(&root, -bytes, -1);
        }
    }

    fn update_quota_stat(&mut self, root: &str, bytes_diff: i64, count_diff: i64) {
        let Some(n) = self.nodes.get_mut(&quota::stat_path(root)) else {
            return;
        };
        let mut t = StatsTrack::parse(&n.data);
        t.set_count(t.count() + count_diff);
        t.set_bytes(t.bytes() + bytes_diff);
        let text = t.to_text();
        self.data_size = self.data_size.saturating_sub(n.data.len() as u64) + text.len() as u64;
        n.data = Bytes::from(text);
    }

    /// `updateQuotaForPath`: counts the subtree at `root` into its stat node.
    fn recount_quota(&mut self, root: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        let mut stack = vec![root.to_owned()];
        while let Some(p) = stack.pop() {
            let Some(n) = self.nodes.get(&p) else {
                continue;
            };
            count += 1;
            bytes += n.data.len() as i64;
            stack.extend(n.children.iter().map(|c| join(&p, c)));
        }
        let mut t = StatsTrack::default();
        t.set_bytes(bytes);
        t.set_count(count);
        if let Some(n) = self.nodes.get_mut(&quota::stat_path(root)) {
            let text = t.to_text();
            self.data_size = self.data_size.saturating_sub(n.data.len() as u64) + text.len() as u64;
            n.data = Bytes::from(text);
        }
    }

    /// ZooKeeper's tree digest (`DataTree.getTreeDigest`).
    pub fn digest(&self) -> i64 {
        self.digest as i64
    }

    fn digest_add(&mut self, path: &str) {
        if let Some(n) = self.nodes.get(path) {
            self.digest = self
                .digest
                .wrapping_add(node_digest(path, &n.data, &n.stat));
        }
    }

    fn digest_remove(&mut self, path: &str) {
        if let Some(n) = self.nodes.get(path) {
            self.digest = self
                .digest
                .wrapping_sub(node_digest(path, &n.data, &n.stat));
        }
    }

    /// Recomputes the digest from every node (for checks; apply keeps it incrementally).
    pub fn full_digest(&self) -> i64 {
        let sum = self.nodes.iter().fold(0u64, |acc, (p, n)| {
            acc.wrapping_add(node_digest(p, &n.data, &n.stat))
        });
        sum as i64
    }

    /// Every node depth-first from the root, parents before children, as a snapshot
    /// stores them. The root is named "" as in ZooKeeper's snapshots.
    pub fn walk(&self, mut visit: impl FnMut(&str, &Node)) {
        let mut stack: Vec<String> = vec!["/".to_owned()];
        while let Some(path) = stack.pop() {
            let Some(n) = self.nodes.get(&path) else {
                continue;
            };
            visit(if path == "/" { "" } else { &path }, n);
            for c in n.children.iter() {
                stack.push(join(&path, c));
            }
        }
    }

    /// One step of a walk that can pause: does about `max` units of work (a node
    /// visited, or a child name taken) from the frames on `cursor` and leaves the rest
    /// there. The tree may change between steps: a path gone by then is skipped, children
    /// are resumed by name, so parents always come before children and no step grows with
    /// the size of one node's child list. This is how a fuzzy snapshot walks a live tree
    /// in short read-locked steps.
    pub fn walk_step(
        &self,
        cursor: &mut WalkCursor,
        max: usize,
        mut visit: impl FnMut(&str, &Node),
    ) {
        let mut budget = max;
        while budget > 0 {
            match cursor.0.pop() {
                None => return,
                Some(Frame::Visit(path)) => {
                    budget -= 1;
                    let Some(n) = self.nodes.get(&path) else {
                        continue;
                    };
                    visit(if path == "/" { "" } else { &path }, n);
                    if !n.children.is_empty() {
                        cursor.0.push(Frame::Children {
                            parent: path,
                            after: None,
                        });
                    }
                }
                Some(Frame::Children { parent, after }) => {
                    let Some(n) = self.nodes.get(&parent) else {
                        continue;
                    };
                    let names = n.children.names_after(after.as_deref(), budget.max(1));
                    budget = budget.saturating_sub(names.len().max(1));
                    let Some(last) = names.last().cloned() else {
                        continue;
                    };
                    let kids: Vec<Frame> = names
                        .iter()
                        .rev()
                        .map(|c| Frame::Visit(join(&parent, c)))
                        .collect();
                    cursor.0.push(Frame::Children {
                        parent,
                        after: Some(last),
                    });
                    cursor.0.extend(kids);
                }
            }
        }
    }

    /// Rebuilds a tree from a snapshot's ACL table and nodes (`DataTree.deserialize`):
    /// parents must come before children; indexes (ephemerals, containers, TTLs, quota
    /// roots and usage) are derived from the nodes. `last_zxid` is the snapshot's zxid.
    pub fn from_snapshot(
        extended_types: bool,
        acls: impl IntoIterator<Item = (i64, Vec<Acl>)>,
        nodes: impl IntoIterator<Item = (String, Node)>,
        last_zxid: i64,
    ) -> Result<DataTree, String> {
        let nodes = nodes.into_iter();
        let mut b = TreeBuilder::new(extended_types, nodes.size_hint().0);
        for (path, node) in nodes {
            b.add(path, node)?;
        }
        b.finish(acls, last_zxid)
    }

    fn index_node(&mut self, path: &str, owner: i64) {
        match node_kind(owner, self.extended_types) {
            NodeKind::Container => {
                self.containers.insert(path.to_owned());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(path.to_owned());
            }
            NodeKind::Ephemeral(s) => {
                self.ephemerals
                    .entry(s)
                    .or_default()
                    .insert(path.to_owned());
            }
            NodeKind::Persistent => {}
        }
    }

    /// `setupQuota`: every `zookeeper_limits` leaf under the quota root makes its path a
    /// quota root, and its usage is recounted.
    /// `DataTree.setupQuota`: walks the tree under the quota root (not the whole table)
    /// and takes every leaf named `zookeeper_limits` as the limits of the path it stands
    /// for (up to the first `/zookeeper_limits`, as `traverseNode` cuts it).
    fn setup_quota(&mut self) {
        let suffix = format!("/{}", quota::LIMIT_NODE);
        let mut limits = Vec::new();
        let mut stack = vec![quota::QUOTA_ROOT.to_owned()];
        while let Some(path) = stack.pop() {
            let Some(node) = self.nodes.get(&path) else {
                continue;
            };
            if node.children.is_empty() {
                if path.ends_with(&suffix) {
                    let end = path.find(&suffix).unwrap_or(path.len());
                    if let Some(real) = path.get(quota::QUOTA_ROOT.len()..end) {
                        limits.push(real.to_owned());
                    }
                }
                continue;
            }
            stack.extend(node.children.iter().map(|c| Self::child_path(&path, c)));
        }
        for root in limits {
            self.recount_quota(&root);
            self.quota_roots.insert(root);
        }
    }

    /// Every path in the tree, sorted (for dumps and tests).
    pub fn paths(&self) -> Vec<&String> {
        let mut v: Vec<&String> = self.nodes.keys().collect();
        v.sort();
        v
    }

    /// Children of `path` in ZooKeeper's order.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes.get(path).map(|n| n.children.java_order())
    }

    /// Full path of a child.
    pub fn child_path(path: &str, child: &str) -> String {
        join(path, child)
    }
}

/// What a create txn (`CreateTxn`, `CreateTTLTxn`, `CreateContainerTxn`) makes: the
/// three differ only in how the node's ephemeralOwner is encoded.
#[derive(Clone, Copy)]
struct NewNode<'a> {
    path: &'a str,
    data: &'a Bytes,
    acl: &'a [Acl],
    owner: i64,
    parent_cversion: i32,
}

impl<'a> NewNode<'a> {
    fn of(body: &'a TxnBody, session: i64) -> Option<NewNode<'a>> {
        Some(match body {
            TxnBody::Create(t) => NewNode {
                path: &t.path,
                data: &t.data,
                acl: &t.acl,
                owner: if t.ephemeral { session } else { 0 },
                parent_cversion: t.parent_c_version,
            },
            TxnBody::CreateTtl(t) => NewNode {
                path: &t.path,
                data: &t.data,
                acl: &t.acl,
                owner: ephemeral::TTL_MASK | t.ttl,
                parent_cversion: t.parent_c_version,
            },
            TxnBody::CreateContainer(t) => NewNode {
                path: &t.path,
                data: &t.data,
                acl: &t.acl,
                owner: ephemeral::CONTAINER_OWNER,
                parent_cversion: t.parent_c_version,
            },
            _ => return None,
        })
    }
}

/// Where a pausable walk ([`DataTree::walk_step`]) stands.
#[derive(Debug, Clone)]
pub struct WalkCursor(Vec<Frame>);

#[derive(Debug, Clone)]
enum Frame {
    Visit(String),
    /// The children of `parent` after the name `after`.
    Children {
        parent: String,
        after: Option<compact_str::CompactString>,
    },
}

impl WalkCursor {
    /// A walk of the whole tree, from the root.
    pub fn from_root() -> WalkCursor {
        WalkCursor(vec![Frame::Visit("/".to_owned())])
    }

    pub fn is_done(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds a tree node by node as a snapshot is read (see [`DataTree::from_snapshot`]).
/// The ACL table may arrive last: usage is counted as nodes come and settled at the end.
pub struct TreeBuilder {
    t: DataTree,
    acl_usage: HashMap<i64, u64, crate::children::ProcessSeed>,
    /// The parent of the last node added, and the names added under it since: siblings
    /// come in runs, so their parent is looked up once per run and its children are
    /// built in one pass.
    run_parent: String,
    run: Vec<compact_str::CompactString>,
}

impl TreeBuilder {
    /// A builder for about `nodes` nodes.
    pub fn new(extended_types: bool, nodes: usize) -> Self {
        let mut t = DataTree::new(extended_types);
        t.nodes.clear();
        t.nodes.reserve(nodes);
        t.data_size = 0;
        t.digest = 0;
        TreeBuilder {
            t,
            acl_usage: HashMap::default(),
            run_parent: String::new(),
            run: Vec::new(),
        }
    }

    /// Adds the next node; its parent must already be there (the root is "" or "/").
    pub fn add(&mut self, path: String, mut node: Node) -> Result<(), String> {
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        *self.acl_usage.entry(node.acl).or_default() += 1;
        node.children.clear();
        if path != "/" {
            let parent_path = parent(&path).ok_or_else(|| format!("invalid path {path:?}"))?;
            if self.run.is_empty() || parent_path != self.run_parent {
                self.end_run();
                if !self.t.nodes.contains_key(parent_path) {
                    return Err(format!(
                        "Invalid Datatree, unable to find parent {parent_path} of path {path}"
                    ));
                }
                self.run_parent.clear();
                self.run_parent.push_str(parent_path);
            }
            self.run
                .push(compact_str::CompactString::new(basename(&path)));
            self.t.index_node(&path, node.stat.ephemeral_owner);
        } else {
            // A second root would replace the node the open run belongs to.
            self.end_run();
        }
        let t = &mut self.t;
        t.data_size += (path.len() + node.data.len()) as u64;
        t.digest = t
            .digest
            .wrapping_add(node_digest(&path, &node.data, &node.stat));
        let is_run_parent = path == self.run_parent;
        if t.nodes.insert(path, node).is_some() && is_run_parent {
            // A node seen twice replaces the first, children and all, as
            // `DataTree.deserialize` does: the names gathered for the first go with it.
            self.run.clear();
        }
        Ok(())
    }

    /// Hands the names of the current run to their parent.
    fn end_run(&mut self) {
        if self.run.is_empty() {
            return;
        }
        let names = std::mem::take(&mut self.run);
        if let Some(p) = self.t.nodes.get_mut(&self.run_parent) {
            p.children.extend(names);
        }
    }

    /// The tree, with the snapshot's ACL table, as of its `last_zxid`.
    pub fn finish(
        self,
        acls: impl IntoIterator<Item = (i64, Vec<Acl>)>,
        last_zxid: i64,
    ) -> Result<DataTree, String> {
        let mut this = self;
        this.end_run();
        let mut t = this.t;
        if !t.nodes.contains_key("/") {
            return Err("snapshot has no root node".into());
        }
        t.acls = AclCache::from_entries(acls);
        // An index the table lacks comes from a fuzzy snapshot; replaying the log
        // repairs it. Until then `AclCache::get` fails closed for it.
        for (index, n) in this.acl_usage {
            t.acls.add_usages(index, n);
        }
        t.last_zxid = last_zxid;
        t.acls.purge_unused();
        t.setup_quota();
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::TxnBody;
    use zooid_proto::opcode::op;
    use zooid_proto::{CreateTxn, TxnHeader};

    fn create(t: &mut DataTree, zxid: i64, path: &str, owner_session: i64) {
        let hdr = TxnHeader {
            client_id: owner_session,
            cxid: 0,
            zxid,
            time: 5,
            op: op::CREATE,
        };
        let body = TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Bytes::from_static(b"d"),
            acl: vec![Acl::new(1, "digest", "u:x")],
            ephemeral: owner_session != 0,
            parent_c_version: -1,
        });
        let r = t.apply(&Txn { hdr, body }, &mut Vec::new());
        assert_eq!(r.err, 0, "{path}");
    }

    #[test]
    fn walk_then_rebuild_gives_the_same_tree() {
        let mut t = DataTree::new(false);
        create(&mut t, 1, "/a", 0);
        create(&mut t, 2, "/a/b", 0);
        create(&mut t, 3, "/a/e", 77);
        create(&mut t, 4, "/c", 0);
        let mut nodes = Vec::new();
        t.walk(|p, n| nodes.push((p.to_owned(), n.clone())));
        assert_eq!(nodes[0].0, "");
        let acls: Vec<(i64, Vec<Acl>)> = t.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
        let back = DataTree::from_snapshot(false, acls, nodes, t.last_zxid()).unwrap();
        assert_eq!(back.paths(), t.paths());
        for p in t.paths() {
            let (a, b) = (t.get(p).unwrap(), back.get(p).unwrap());
            assert_eq!(
                (a.stat(false), &a.data, a.acl),
                (b.stat(false), &b.data, b.acl),
                "{p}"
            );
        }
        assert_eq!(back.ephemerals_of(77).collect::<Vec<_>>(), vec!["/a/e"]);
        assert_eq!(back.approximate_data_size(), t.approximate_data_size());
        assert_eq!(back.acls.len(), t.acls.len());
    }

    #[test]
    fn replaying_over_a_fuzzy_snapshot_converges() {
        let mut live = DataTree::new(false);
        let mk = |zxid: i64, path: &str| Txn {
            hdr: TxnHeader {
                client_id: 0,
                cxid: 0,
                zxid,
                time: 5,
                op: op::CREATE,
            },
            body: TxnBody::Create(CreateTxn {
                path: path.into(),
                data: Bytes::from_static(b"d"),
                acl: vec![Acl::new(1, "digest", "u:x")],
                ephemeral: false,
                parent_c_version: 1,
            }),
        };
        let (t1, t2) = (mk(1, "/p"), mk(2, "/p/c"));
        live.apply(&t1, &mut Vec::new());
        // The snapshot starts at zxid 1, then txn 2 applies before the walk reaches /p:
        // the snapshot holds /p/c although its zxid says 1.
        let mut nodes = Vec::new();
        let mut cursor = WalkCursor::from_root();
        live.walk_step(&mut cursor, 1, |p, n| nodes.push((p.to_owned(), n.clone())));
        live.apply(&t2, &mut Vec::new());
        while !cursor.is_done() {
            live.walk_step(&mut cursor, 2, |p, n| nodes.push((p.to_owned(), n.clone())));
        }
        assert!(nodes.iter().any(|(p, _)| p == "/p/c"));
        let acls: Vec<(i64, Vec<Acl>)> =
            live.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
        let mut back = DataTree::from_snapshot(false, acls, nodes, 1).unwrap();
        let r = back.apply(&t2, &mut Vec::new());
        assert_eq!(r.err, ErrorCode::NodeExists.code());
        for p in live.paths() {
            let (a, b) = (live.get(p).unwrap(), back.get(p).unwrap());
            assert_eq!(a.stat, b.stat, "{p}");
        }
        assert_eq!(back.digest(), live.digest());
    }

    #[test]
    fn replaying_a_delete_the_fuzzy_snapshot_already_lacks_moves_the_parents_pzxid() {
        let mut live = DataTree::new(false);
        create(&mut live, 1, "/p", 0);
        create(&mut live, 2, "/p/c", 0);
        let del = Txn {
            hdr: TxnHeader {
                client_id: 0,
                cxid: 0,
                zxid: 3,
                time: 6,
                op: op::DELETE,
            },
            body: TxnBody::Delete(zooid_proto::DeleteTxn {
                path: "/p/c".into(),
            }),
        };
        // The snapshot starts at zxid 2 and walks /p; the delete applies before the walk
        // reaches /p/c: the snapshot has /p with its old pzxid and no /p/c.
        let mut nodes = Vec::new();
        let mut cursor = WalkCursor::from_root();
        live.walk_step(&mut cursor, 3, |p, n| nodes.push((p.to_owned(), n.clone())));
        assert_eq!(live.apply(&del, &mut Vec::new()).err, 0);
        while !cursor.is_done() {
            live.walk_step(&mut cursor, 2, |p, n| nodes.push((p.to_owned(), n.clone())));
        }
        assert!(nodes.iter().all(|(p, _)| p != "/p/c"));
        let acls: Vec<(i64, Vec<Acl>)> =
            live.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
        let mut back = DataTree::from_snapshot(false, acls, nodes, 2).unwrap();
        assert_eq!(back.apply_replay(&del).err, ErrorCode::NoNode.code());
        assert_eq!(back.paths(), live.paths());
        for p in live.paths() {
            let (a, b) = (live.get(p).unwrap(), back.get(p).unwrap());
            assert_eq!(a.stat, b.stat, "{p}");
        }
        assert_eq!(back.digest(), live.digest());
        assert_eq!(back.digest(), back.full_digest());
    }

    #[test]
    fn rebuilt_tree_finds_its_quotas_and_recounts_them() {
        let mut t = DataTree::new(false);
        for (z, p) in [
            "/a",
            "/a/b",
            "/a/b/c",
            "/x",
            "/zookeeper/quota/a",
            "/zookeeper/quota/a/zookeeper_limits",
            "/zookeeper/quota/a/zookeeper_stats",
            // Not a limit: it has a child.
            "/zookeeper/quota/x",
            "/zookeeper/quota/x/zookeeper_limits",
            "/zookeeper/quota/x/zookeeper_limits/y",
        ]
        .into_iter()
        .enumerate()
        {
            create(&mut t, z as i64 + 1, p, 0);
        }
        let mut nodes = Vec::new();
        t.walk(|p, n| nodes.push((p.to_owned(), n.clone())));
        let acls: Vec<(i64, Vec<Acl>)> = t.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
        let back = DataTree::from_snapshot(false, acls, nodes, t.last_zxid()).unwrap();
        assert_eq!(back.max_prefix_with_quota("/a/b/c").as_deref(), Some("/a"));
        assert_eq!(back.max_prefix_with_quota("/x"), None);
        let stats = &back.get("/zookeeper/quota/a/zookeeper_stats").unwrap().data;
        assert_eq!(StatsTrack::parse(stats).count(), 3);
        assert_eq!(StatsTrack::parse(stats).bytes(), 3);
    }

    #[test]
    fn paused_walk_steps_stay_small_and_cover_everything() {
        let mut t = DataTree::new(false);
        create(&mut t, 1, "/wide", 0);
        for i in 0..500 {
            create(&mut t, 2 + i, &format!("/wide/c{i}"), 0);
        }
        let mut cursor = WalkCursor::from_root();
        let mut seen = Vec::new();
        let mut steps = 0;
        while !cursor.is_done() {
            let before = seen.len();
            t.walk_step(&mut cursor, 10, |p, _| seen.push(p.to_owned()));
            assert!(
                seen.len() - before <= 10,
                "a step visited {}",
                seen.len() - before
            );
            steps += 1;
            if steps == 20 {
                // Changes between steps: a child is deleted, another appears.
                let del = Txn {
                    hdr: TxnHeader {
                        client_id: 0,
                        cxid: 0,
                        zxid: 900,
                        time: 5,
                        op: op::DELETE,
                    },
                    body: TxnBody::Delete(zooid_proto::DeleteTxn {
                        path: "/wide/c499".into(),
                    }),
                };
                assert_eq!(t.apply(&del, &mut Vec::new()).err, 0);
            }
        }
        let unique: std::collections::BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no node twice");
        assert!(
            seen.len() >= t.node_count() - 1,
            "{} of {}",
            seen.len(),
            t.node_count() - 1
        );
        let pos = |p: &str| seen.iter().position(|x| x == p).unwrap();
        assert!(pos("/wide") < pos("/wide/c7"));
    }

    #[test]
    fn rebuild_refuses_orphans() {
        let t = DataTree::new(false);
        let mut nodes = Vec::new();
        t.walk(|p, n| nodes.push((p.to_owned(), n.clone())));
        let orphan = nodes[1].1.clone();
        nodes.push(("/x/y".into(), orphan));
        let acls: Vec<(i64, Vec<Acl>)> = t.acls.entries().map(|(i, l)| (i, l.to_vec())).collect();
        let err = DataTree::from_snapshot(false, acls, nodes, 0).unwrap_err();
        assert!(err.contains("unable to find parent /x"), "{err}");
    }
}
