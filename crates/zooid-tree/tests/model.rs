//! Prep + apply against a dumb model: a BTreeMap of path -> (data, version, cversion).
//! Every random op must give the same error code and leave the same tree.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use zooid_proto::opcode::op;
use zooid_proto::request::{MultiOp, Request};
use zooid_proto::{CreateRequest, DeleteRequest, ErrorCode, Id, SetDataRequest};
use zooid_tree::acl::AclPolicy;
use zooid_tree::prep::{Prep, PrepCtx};
use zooid_tree::DataTree;

#[derive(Debug, Clone)]
enum Op {
    Create {
        parent: usize,
        name: u8,
        seq: bool,
        data: u8,
    },
    Delete {
        node: usize,
        version: Option<i32>,
    },
    Set {
        node: usize,
        version: Option<i32>,
        data: u8,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct M {
    data: Vec<u8>,
    version: i32,
    cversion: i32,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..8usize, 0..4u8, any::<bool>(), any::<u8>()).prop_map(|(parent, name, seq, data)| {
            Op::Create {
                parent,
                name,
                seq,
                data,
            }
        }),
        (0..8usize, prop::option::of(0..3i32))
            .prop_map(|(node, version)| Op::Delete { node, version }),
        (0..8usize, prop::option::of(0..3i32), any::<u8>()).prop_map(|(node, version, data)| {
            Op::Set {
                node,
                version,
                data,
            }
        }),
    ]
}

fn pick(model: &BTreeMap<String, M>, i: usize) -> String {
    let user: Vec<&String> = model
        .keys()
        .filter(|p| !p.starts_with("/zookeeper"))
        .collect();
    user[i % user.len()].clone()
}

fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The model's answer, and its effect.
fn model_apply(model: &mut BTreeMap<String, M>, req: &Request) -> Result<(), ErrorCode> {
    match req {
        Request::Create { req, .. } => {
            let parent = zooid_proto::path::parent(&req.path)
                .unwrap_or("/")
                .to_owned();
            let p = model.get(&parent).ok_or(ErrorCode::NoNode)?.clone();
            let path = if req.flags == 2 {
                format!("{}{:010}", req.path, p.cversion)
            } else {
                req.path.clone()
            };
            if model.contains_key(&path) {
                return Err(ErrorCode::NodeExists);
            }
            model.get_mut(&parent).unwrap().cversion += 1;
            model.insert(
                path,
                M {
                    data: req.data.to_vec(),
                    version: 0,
                    cversion: 0,
                },
            );
            Ok(())
        }
        Request::Delete(r) => {
            if r.path == "/" {
                return Err(ErrorCode::BadArguments);
            }
            let n = model.get(&r.path).ok_or(ErrorCode::NoNode)?;
            if r.version != -1 && r.version != n.version {
                return Err(ErrorCode::BadVersion);
            }
            let prefix = format!("{}/", r.path);
            if model.keys().any(|k| k.starts_with(&prefix)) {
                return Err(ErrorCode::NotEmpty);
            }
            model.remove(&r.path);
            Ok(())
        }
        Request::SetData(r) => {
            let n = model.get_mut(&r.path).ok_or(ErrorCode::NoNode)?;
            if r.version != -1 && r.version != n.version {
                return Err(ErrorCode::BadVersion);
            }
            n.version += 1;
            n.data = r.data.to_vec();
            Ok(())
        }
        _ => unreachable!(),
    }
}

fn to_request(model: &BTreeMap<String, M>, o: &Op) -> Request {
    match o {
        Op::Create {
            parent,
            name,
            seq,
            data,
        } => Request::Create {
            op: op::CREATE,
            req: CreateRequest {
                path: join(&pick(model, *parent), &format!("n{name}")),
                data: Bytes::from(vec![*data]),
                acl: zooid_proto::open_acl_unsafe(),
                flags: if *seq { 2 } else { 0 },
            },
        },
        Op::Delete { node, version } => Request::Delete(DeleteRequest {
            path: pick(model, *node),
            version: version.unwrap_or(-1),
        }),
        Op::Set {
            node,
            version,
            data,
        } => Request::SetData(SetDataRequest {
            path: pick(model, *node),
            data: Bytes::from(vec![*data]),
            version: version.unwrap_or(-1),
        }),
    }
}

fn ctx<'a>(zxid: i64, policy: &'a AclPolicy, auth: &'a [Id]) -> PrepCtx<'a> {
    PrepCtx {
        session_id: 1,
        cxid: 0,
        zxid,
        time: zxid * 10,
        auth,
        policy,
        extended_types: false,
        enforce_quota: false,
        digest: true,
    }
}

proptest! {
    #[test]
    fn tree_agrees_with_model(ops in prop::collection::vec(op_strategy(), 1..60), as_multi in any::<bool>()) {
        let policy = AclPolicy::default();
        let mut tree = DataTree::new(false);
        let mut prep = Prep::new();
        let mut model: BTreeMap<String, M> = BTreeMap::new();
        model.insert("/".into(), M { data: vec![], version: 0, cversion: 0 });
        let mut zxid = 0;
        for o in &ops {
            let req = to_request(&model, o);
            zxid += 1;
            let req = if as_multi { single_multi(req) } else { req };
            let txn = prep.prep(&tree, &ctx(zxid, &policy, &[]), &req);
            let mut triggers = Vec::new();
            let result = tree.apply(&txn, &mut triggers);
            prep.applied(zxid);
            let inner = match &req { Request::Multi(ops) => from_multi(&ops[0]), r => r.clone() };
            let want = model_apply(&mut model, &inner);
            let got = if as_multi { result.multi[0].err } else { result.err };
            prop_assert_eq!(got, want.err().map(|e| e.code()).unwrap_or(0), "op {:?}", o);
            prop_assert_eq!(tree.digest(), tree.full_digest(), "incremental digest after {:?}", o);
        }
        for (path, m) in &model {
            let n = tree.get(path).expect("model path in tree");
            prop_assert_eq!(&n.data[..], &m.data[..]);
            prop_assert_eq!(n.stat.version, m.version);
            prop_assert_eq!(n.stat.cversion, m.cversion);
        }
        let user_nodes = tree.paths().into_iter().filter(|p| !p.starts_with("/zookeeper")).count();
        prop_assert_eq!(user_nodes, model.len());
        prop_assert_eq!(prep.pending_len(), 0);
    }
}

fn single_multi(req: Request) -> Request {
    let o = match req {
        Request::Create { op, req } => MultiOp::Create { op, req },
        Request::Delete(r) => MultiOp::Delete(r),
        Request::SetData(r) => MultiOp::SetData(r),
        _ => unreachable!(),
    };
    Request::Multi(vec![o])
}

fn from_multi(o: &MultiOp) -> Request {
    match o.clone() {
        MultiOp::Create { op, req } => Request::Create { op, req },
        MultiOp::Delete(r) => Request::Delete(r),
        MultiOp::SetData(r) => Request::SetData(r),
        _ => unreachable!(),
    }
}
