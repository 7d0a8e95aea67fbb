//! Quota bookkeeping and enforcement through prep and apply.

use bytes::Bytes;
use zooid_proto::opcode::op;
use zooid_proto::request::Request;
use zooid_proto::{CreateRequest, DeleteRequest, ErrorCode, SetDataRequest};
use zooid_tree::acl::AclPolicy;
use zooid_tree::prep::{Prep, PrepCtx};
use zooid_tree::DataTree;

struct Db {
    tree: DataTree,
    prep: Prep,
    zxid: i64,
    policy: AclPolicy,
}

impl Db {
    fn run(&mut self, req: Request) -> i32 {
        self.zxid += 1;
        let ctx = PrepCtx {
            session_id: 1,
            cxid: 0,
            zxid: self.zxid,
            time: 0,
            auth: &[],
            policy: &self.policy,
            extended_types: false,
            enforce_quota: true,
            digest: true,
        };
        let txn = self.prep.prep(&self.tree, &ctx, &req);
        let r = self.tree.apply(&txn, &mut Vec::new());
        self.prep.applied(self.zxid);
        r.err
    }

    fn create(&mut self, path: &str, data: &str) -> i32 {
        self.run(Request::Create {
            op: op::CREATE,
            req: CreateRequest {
                path: path.into(),
                data: Bytes::copy_from_slice(data.as_bytes()),
                acl: zooid_proto::open_acl_unsafe(),
                flags: 0,
            },
        })
    }

    fn stats(&self) -> String {
        String::from_utf8(
            self.tree
                .get("/zookeeper/quota/app/zookeeper_stats")
                .unwrap()
                .data
                .to_vec(),
        )
        .unwrap()
    }
}

#[test]
fn usage_is_tracked_and_hard_limits_refuse() {
    let mut db = Db {
        tree: DataTree::new(false),
        prep: Prep::new(),
        zxid: 0,
        policy: AclPolicy::default(),
    };
    assert_eq!(db.create("/app", "12345"), 0);
    assert_eq!(db.create("/app/a", "xy"), 0);
    assert_eq!(db.create("/zookeeper/quota/app", ""), 0);
    assert_eq!(
        db.create(
            "/zookeeper/quota/app/zookeeper_limits",
            "count=-1,bytes=-1=;byteHardLimit=20;countHardLimit=3"
        ),
        0
    );
    assert_eq!(
        db.create("/zookeeper/quota/app/zookeeper_stats", "count=0,bytes=0"),
        0
    );
    assert_eq!(db.stats(), "count=2,bytes=7");
    assert_eq!(db.create("/app/b", "abc"), 0);
    assert_eq!(db.stats(), "count=3,bytes=10");
    assert_eq!(db.create("/app/c", ""), ErrorCode::QuotaExceeded.code());
    let set = |data: &str| {
        Request::SetData(SetDataRequest {
            path: "/app/b".into(),
            data: Bytes::copy_from_slice(data.as_bytes()),
            version: -1,
        })
    };
    assert_eq!(
        db.run(set("0123456789abcdef")),
        ErrorCode::QuotaExceeded.code()
    );
    assert_eq!(db.run(set("0123456789")), 0);
    assert_eq!(db.stats(), "count=3,bytes=17");
    assert_eq!(
        db.run(Request::Delete(DeleteRequest {
            path: "/app/b".into(),
            version: -1
        })),
        0
    );
    assert_eq!(db.stats(), "count=2,bytes=7");
    // Deleting the limits node lifts the quota.
    let del = DeleteRequest {
        path: "/zookeeper/quota/app/zookeeper_limits".into(),
        version: -1,
    };
    assert_eq!(db.run(Request::Delete(del)), 0);
    assert_eq!(db.create("/app/c", ""), 0);
    assert_eq!(db.create("/app/d", ""), 0);
}
