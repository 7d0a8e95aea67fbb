//! The leader's `TxnDigest`: the tree digest prep predicts for each txn (from the tree
//! plus the pending changes) must be the digest the tree has once it applied that txn,
//! for every txn type, whether each txn is applied before the next is prepped or many
//! are prepped ahead of their apply (the leader's pipeline).

use bytes::Bytes;
use proptest::prelude::*;
use zooid_proto::opcode::{create_mode, op};
use zooid_proto::request::{MultiOp, Request};
use zooid_proto::{
    Acl, CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, Id, SetAclRequest,
    SetDataRequest,
};
use zooid_tree::acl::AclPolicy;
use zooid_tree::prep::{Prep, PrepCtx};
use zooid_tree::{DataTree, Txn, TxnBody};

fn ctx(policy: &AclPolicy, session: i64, zxid: i64) -> PrepCtx<'_> {
    PrepCtx {
        session_id: session,
        cxid: 0,
        zxid,
        time: 1_700_000_000_000 + zxid * 7,
        auth: &[],
        policy,
        extended_types: true,
        enforce_quota: false,
        digest: true,
    }
}

/// A tree, its prep, and the txns prepped but not applied yet with the digest prep
/// gave each.
struct Db {
    tree: DataTree,
    prep: Prep,
    policy: AclPolicy,
    zxid: i64,
    queued: Vec<(Txn, i64)>,
    /// Apply the queued txns once this many are queued (1: each as soon as it is
    /// prepped), and on `apply_all`.
    run_len: usize,
    /// Txns checked so far, and how many of them changed the digest.
    checked: usize,
    moved: usize,
    /// The txn applied last.
    last: Option<Txn>,
}

impl Db {
    fn new(run_len: usize) -> Db {
        Db {
            tree: DataTree::new(true),
            prep: Prep::new(),
            policy: AclPolicy::default(),
            zxid: 0,
            queued: Vec::new(),
            run_len,
            checked: 0,
            moved: 0,
            last: None,
        }
    }

    /// Preps a request of `session`; returns the txn's op.
    fn run(&mut self, session: i64, req: Request) -> i32 {
        self.zxid += 1;
        let ctx = ctx(&self.policy, session, self.zxid);
        let txn = self.prep.prep(&self.tree, &ctx, &req);
        self.queue(txn)
    }

    fn close_session(&mut self, session: i64) -> Vec<String> {
        self.zxid += 1;
        let ctx = ctx(&self.policy, session, self.zxid);
        let txn = self.prep.close_session(&self.tree, &ctx);
        let TxnBody::CloseSession(c) = &txn.body else {
            panic!("not a closeSession: {txn:?}")
        };
        let paths = c.paths_to_delete.clone();
        self.queue(txn);
        paths
    }

    fn create_session(&mut self, session: i64) {
        self.zxid += 1;
        let txn = Prep::create_session(&ctx(&self.policy, session, self.zxid), 30_000);
        self.queue(txn);
    }

    fn delete_container(&mut self, path: &str) -> i32 {
        self.zxid += 1;
        let ctx = ctx(&self.policy, 0, self.zxid);
        let txn = self.prep.delete_container(&self.tree, &ctx, path);
        self.queue(txn)
    }

    /// Takes the digest the leader would send with `txn` (the core asks right after
    /// prepping it), then applies it now or later.
    fn queue(&mut self, txn: Txn) -> i32 {
        let digest = self.prep.digest(&self.tree);
        let op = txn.hdr.op;
        self.queued.push((txn, digest));
        if self.queued.len() >= self.run_len {
            self.apply_all();
        }
        op
    }

    /// Applies every queued txn in order; after each, the tree's digest is the one prep
    /// predicted for it, and the tree's incremental digest is its full one.
    fn apply_all(&mut self) {
        self.apply_first(usize::MAX);
        assert_eq!(self.prep.pending_len(), 0);
    }

    /// Applies the `n` oldest queued txns (all there are, if fewer), checked as
    /// [`Db::apply_all`] checks them.
    fn apply_first(&mut self, n: usize) {
        let n = n.min(self.queued.len());
        for (txn, predicted) in self.queued.drain(..n).collect::<Vec<_>>() {
            let before = self.tree.digest();
            self.tree.apply(&txn, &mut Vec::new());
            self.prep.applied(txn.zxid());
            assert_eq!(
                self.tree.digest(),
                predicted,
                "txn {:#x} ({:?}): tree digest after apply != prep's",
                txn.zxid(),
                txn.body
            );
            assert_eq!(self.tree.digest(), self.tree.full_digest());
            self.checked += 1;
            self.moved += usize::from(before != self.tree.digest());
            self.last = Some(txn);
        }
    }
}

fn open() -> Vec<Acl> {
    zooid_proto::open_acl_unsafe()
}

fn create_req(path: &str, data: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Bytes::copy_from_slice(data.as_bytes()),
        acl: open(),
        flags,
    }
}

fn create(path: &str, data: &str, flags: i32) -> Request {
    Request::Create {
        op: op::CREATE,
        req: create_req(path, data, flags),
    }
}

fn create_op(opcode: i32, path: &str, data: &str, flags: i32) -> Request {
    Request::Create {
        op: opcode,
        req: create_req(path, data, flags),
    }
}

fn create_ttl(path: &str, flags: i32, ttl: i64) -> Request {
    Request::CreateTtl(CreateTtlRequest {
        path: path.into(),
        data: Bytes::from_static(b"ttl"),
        acl: open(),
        flags,
        ttl,
    })
}

fn set(path: &str, data: &str, version: i32) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Bytes::copy_from_slice(data.as_bytes()),
        version,
    })
}

fn delete(path: &str, version: i32) -> Request {
    Request::Delete(DeleteRequest {
        path: path.into(),
        version,
    })
}

fn set_acl(path: &str, version: i32) -> Request {
    Request::SetAcl(SetAclRequest {
        path: path.into(),
        acl: vec![Acl {
            perms: 0x1f,
            id: Id::new("world", "anyone"),
        }],
        version,
    })
}

fn m_create(path: &str, data: &str) -> MultiOp {
    MultiOp::Create {
        op: op::CREATE,
        req: create_req(path, data, 0),
    }
}

fn m_set(path: &str, data: &str) -> MultiOp {
    MultiOp::SetData(SetDataRequest {
        path: path.into(),
        data: Bytes::copy_from_slice(data.as_bytes()),
        version: -1,
    })
}

fn m_delete(path: &str) -> MultiOp {
    MultiOp::Delete(DeleteRequest {
        path: path.into(),
        version: -1,
    })
}

fn m_check(path: &str, version: i32) -> MultiOp {
    MultiOp::Check(CheckVersionRequest {
        path: path.into(),
        version,
    })
}

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;

/// Every txn type, each failure, sessions closing with ephemerals applied and pending.
fn script(db: &mut Db) {
    db.create_session(S1);
    db.create_session(S2);
    // Creates of every kind.
    assert_eq!(db.run(S1, create("/app", "root of the app", 0)), op::CREATE);
    assert_eq!(
        db.run(S1, create_op(op::CREATE2, "/app/a", "a", 0)),
        op::CREATE2
    );
    db.run(
        S1,
        create("/app/seq-", "s", create_mode::PERSISTENT_SEQUENTIAL),
    );
    db.run(
        S1,
        create("/app/seq-", "s", create_mode::PERSISTENT_SEQUENTIAL),
    );
    db.run(S1, create("/app/e1", "eph", create_mode::EPHEMERAL));
    db.run(
        S1,
        create("/app/a/e2", "", create_mode::EPHEMERAL_SEQUENTIAL),
    );
    db.run(
        S2,
        create("/app/e3", "other session", create_mode::EPHEMERAL),
    );
    assert_eq!(
        db.run(
            S1,
            create_op(op::CREATE_CONTAINER, "/box", "c", create_mode::CONTAINER)
        ),
        op::CREATE_CONTAINER
    );
    db.run(S1, create("/box/item", "i", 0));
    assert_eq!(
        db.run(
            S1,
            create_ttl("/ttl", create_mode::PERSISTENT_WITH_TTL, 5_000)
        ),
        op::CREATE_TTL
    );
    db.run(
        S1,
        create_ttl("/ttl-seq-", create_mode::PERSISTENT_SEQUENTIAL_WITH_TTL, 7),
    );
    // Under /zookeeper: the node itself counts, what is below it does not.
    db.run(S1, create("/zookeeper/mine", "x", 0));
    db.run(S1, create("/zookeeper/quota/app", "", 0));
    db.run(
        S1,
        create(
            "/zookeeper/quota/app/zookeeper_limits",
            "count=5,bytes=-1",
            0,
        ),
    );
    db.run(
        S1,
        create("/zookeeper/quota/app/zookeeper_stats", "count=0,bytes=0", 0),
    );
    db.run(S1, create("/app/counted", "under a quota", 0));
    // Failures are error txns: the digest does not move.
    assert_eq!(db.run(S1, create("/app", "again", 0)), op::ERROR);
    assert_eq!(db.run(S1, create("/nope/x", "", 0)), op::ERROR);
    assert_eq!(db.run(S1, create("/app/e1/child", "", 0)), op::ERROR);
    // setData and setACL, on nodes whose create may still be pending.
    assert_eq!(db.run(S1, set("/app/a", "a2", 0)), op::SET_DATA);
    db.run(S1, set("/app/a", "a longer value this time", -1));
    db.run(S1, set("/", "root data", -1));
    assert_eq!(db.run(S1, set("/app/a", "", 0)), op::ERROR);
    assert_eq!(db.run(S1, set_acl("/app/a", 0)), op::SET_ACL);
    db.run(S1, set_acl("/app/e1", -1));
    assert_eq!(db.run(S1, set_acl("/app/a", 0)), op::ERROR);
    // Deletes, plain and of containers; failures.
    db.run(S1, create("/app/gone", "", 0));
    assert_eq!(db.run(S1, delete("/app/gone", 0)), op::DELETE);
    assert_eq!(db.run(S1, delete("/app", -1)), op::ERROR); // not empty
    assert_eq!(db.run(S1, delete("/app/a", 7)), op::ERROR); // bad version
    db.run(S1, delete("/box/item", -1));
    assert_eq!(db.delete_container("/box"), op::DELETE_CONTAINER);
    assert_eq!(db.delete_container("/ttl"), op::DELETE_CONTAINER);
    // Multis: mixed ops that succeed, and ones that fail after changing things.
    let ok = Request::Multi(vec![
        m_create("/app/m", "1"),
        m_create("/app/m/n", "2"),
        m_set("/app/m", "3"),
        m_check("/app/m", 1),
        m_delete("/app/m/n"),
        m_set("/app/a", "from a multi"),
    ]);
    assert_eq!(db.run(S1, ok), op::MULTI);
    let failing = Request::Multi(vec![
        m_create("/app/never", "1"),
        m_set("/app/a", "never"),
        m_check("/app/a", 99),
        m_delete("/app/m"),
    ]);
    assert_eq!(db.run(S1, failing), op::MULTI);
    let failing_on_create = Request::Multi(vec![m_delete("/app/m"), m_create("/app/a", "")]);
    db.run(S1, failing_on_create);
    db.run(
        S2,
        Request::Multi(vec![
            MultiOp::Create {
                op: op::CREATE,
                req: create_req("/app/e4", "", create_mode::EPHEMERAL),
            },
            m_set("/app/e3", "changed by its owner"),
        ]),
    );
    // closeSession: the session's ephemerals, applied or pending, go, and their parents
    // change; another session's stay.
    db.run(S1, create("/app/a/e5", "", create_mode::EPHEMERAL));
    db.run(S1, delete("/app/e1", -1));
    db.run(S1, create("/app/e1", "again", create_mode::EPHEMERAL));
    let closed = db.close_session(S1);
    assert!(closed.contains(&"/app/e1".to_owned()), "{closed:?}");
    assert!(closed.contains(&"/app/a/e5".to_owned()), "{closed:?}");
    assert!(
        !closed.iter().any(|p| p.starts_with("/app/e3")),
        "{closed:?}"
    );
    // An ephemeral deleted and made again by another session is not the closer's.
    db.run(S2, delete("/app/e3", -1));
    db.run(S1, create("/app/e3", "", create_mode::EPHEMERAL));
    db.run(S1, delete("/app/e3", -1));
    db.run(S2, create("/app/e3", "", create_mode::EPHEMERAL));
    let closed = db.close_session(S1);
    assert!(!closed.contains(&"/app/e3".to_owned()), "{closed:?}");
    db.close_session(S2);
    db.close_session(S2); // nothing left: changes nothing
                          // Requests that are not writes prep is given become error txns.
    assert_eq!(db.run(S1, Request::Reconfig(Default::default())), op::ERROR);
    db.apply_all();
}

#[test]
fn prep_digest_is_the_tree_digest_after_each_txn_applied_at_once() {
    let mut db = Db::new(1);
    script(&mut db);
    assert_eq!((db.checked, db.moved), (51, 34));
}

#[test]
fn prep_digest_is_the_tree_digest_after_each_txn_pipelined() {
    // Runs of txns prepped ahead of their apply, as a busy leader's; the last one the
    // whole script before any apply.
    for run_len in [2, 3, 7, usize::MAX] {
        let mut db = Db::new(run_len);
        script(&mut db);
        assert_eq!((db.checked, db.moved), (51, 34), "runs of {run_len}");
    }
}

#[test]
fn with_digests_off_prep_predicts_nothing_but_preps_the_same() {
    let mut on = Db::new(1);
    let mut off = Db::new(1);
    let reqs = [
        create("/a", "1", 0),
        create("/a/b", "2", create_mode::EPHEMERAL),
        set("/a", "3", -1),
        delete("/a/b", -1),
    ];
    for r in reqs {
        on.run(S1, r.clone());
        off.zxid += 1;
        let ctx = PrepCtx {
            digest: false,
            ..ctx(&off.policy, S1, off.zxid)
        };
        let txn = off.prep.prep(&off.tree, &ctx, &r);
        assert_eq!(Some(&txn), on.last.as_ref());
        off.tree.apply(&txn, &mut Vec::new());
        off.prep.applied(off.zxid);
    }
    assert_eq!(off.tree.digest(), on.tree.digest());
}

// ---------------------------------------------------------------------------------------
// Random scripts: ops of a few sessions on a small set of paths (so that they collide),
// applied in random runs behind their prep.

/// Paths ops pick from: nested, under /zookeeper, and the root.
const PATHS: [&str; 10] = [
    "/",
    "/a",
    "/a/b",
    "/a/c",
    "/a/b/d",
    "/e",
    "/e/f",
    "/zookeeper",
    "/zookeeper/z",
    "/a/b/d/g",
];
const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

#[derive(Debug, Clone)]
enum Step {
    Create {
        parent: usize,
        name: usize,
        kind: u8,
        session: i64,
    },
    Set {
        node: usize,
        data: u8,
        version: Option<i32>,
    },
    SetAcl {
        node: usize,
    },
    Delete {
        node: usize,
        version: Option<i32>,
    },
    Reap {
        node: usize,
    },
    Multi(Vec<Step>),
    Close {
        session: i64,
    },
    /// Applies everything prepped so far.
    Apply,
    /// Applies the oldest few prepped txns (the pipeline half drained: later preps see
    /// some changes applied and others pending).
    ApplySome(usize),
}

fn simple_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..PATHS.len(), 0..NAMES.len(), 0..6u8, 1..=3i64).prop_map(
            |(parent, name, kind, session)| Step::Create { parent, name, kind, session }
        ),
        3 => (0..PATHS.len(), any::<u8>(), prop::option::of(0..3i32))
            .prop_map(|(node, data, version)| Step::Set { node, data, version }),
        1 => (0..PATHS.len()).prop_map(|node| Step::SetAcl { node }),
        3 => (0..PATHS.len(), prop::option::of(0..2i32))
            .prop_map(|(node, version)| Step::Delete { node, version }),
        1 => (0..PATHS.len()).prop_map(|node| Step::Reap { node }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => simple_step(),
        2 => prop::collection::vec(simple_step(), 1..5).prop_map(Step::Multi),
        1 => (1..=3i64).prop_map(|session| Step::Close { session }),
        2 => Just(Step::Apply),
        2 => (1..4usize).prop_map(Step::ApplySome),
    ]
}

fn child(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// A simple step as a multi op (None: not one a multi can hold) or as a request.
fn multi_op(s: &Step) -> Option<MultiOp> {
    Some(match request(s)? {
        Request::Create { op, req } => MultiOp::Create { op, req },
        Request::CreateTtl(r) => MultiOp::CreateTtl(r),
        Request::SetData(r) => MultiOp::SetData(r),
        Request::Delete(r) => MultiOp::Delete(r),
        _ => return None,
    })
}

fn request(s: &Step) -> Option<Request> {
    Some(match s {
        Step::Create {
            parent, name, kind, ..
        } => {
            let path = child(PATHS[*parent], NAMES[*name]);
            match kind {
                0 => create(&path, "p", 0),
                1 => create(&path, "e", create_mode::EPHEMERAL),
                2 => create(&path, "s", create_mode::PERSISTENT_SEQUENTIAL),
                3 => create(&path, "es", create_mode::EPHEMERAL_SEQUENTIAL),
                4 => create_op(op::CREATE_CONTAINER, &path, "c", create_mode::CONTAINER),
                _ => create_ttl(&path, create_mode::PERSISTENT_WITH_TTL, 100),
            }
        }
        Step::Set {
            node,
            data,
            version,
        } => set(
            PATHS[*node],
            &"x".repeat(*data as usize % 40),
            version.unwrap_or(-1),
        ),
        Step::SetAcl { node } => set_acl(PATHS[*node], -1),
        Step::Delete { node, version } => delete(PATHS[*node], version.unwrap_or(-1)),
        Step::Multi(steps) => Request::Multi(steps.iter().filter_map(multi_op).collect()),
        Step::Reap { .. } | Step::Close { .. } | Step::Apply | Step::ApplySome(_) => return None,
    })
}

proptest! {
    #[test]
    fn prep_digest_matches_the_tree_for_random_pipelines(
        steps in prop::collection::vec(step(), 1..80)
    ) {
        let mut db = Db::new(usize::MAX);
        for s in &steps {
            match s {
                Step::Apply => db.apply_all(),
                Step::ApplySome(n) => db.apply_first(*n),
                Step::Close { session } => {
                    db.close_session(*session);
                }
                Step::Reap { node } => {
                    db.delete_container(PATHS[*node]);
                }
                Step::Create { session, .. } => {
                    db.run(*session, request(s).expect("a request"));
                }
                _ => {
                    db.run(1, request(s).expect("a request"));
                }
            }
        }
        db.apply_all();
    }
}
