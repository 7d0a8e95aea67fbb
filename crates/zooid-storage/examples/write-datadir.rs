//! Writes a Zooid-made data directory for the interop test that starts Apache ZooKeeper
//! on it (`tests/interop/test_storage_interop.py`):
//!
//! `cargo run -p zooid-storage --example write-datadir -- DIR`
//!
//! Builds txns the way prep would (sessions, creates of every kind, sets, ACLs, a multi,
//! deletes, an error), applies them to a `zooid_tree::DataTree`, logs them with the tree
//! digest after each, takes a snapshot in the middle (rolling the log, as the server
//! does), and writes `DIR/expected.json`: the final tree as a client must see it (data,
//! Stat, ACL, children) and the last zxid.

use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use zooid_proto::opcode::{ephemeral, op};
use zooid_proto::{
    Acl, CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTtlTxn,
    CreateTxn, DeleteTxn, ErrorTxn, SetAclTxn, SetDataTxn, TxnDigest, TxnHeader,
};
use zooid_storage::{files, version_dir, write_snapshot, SnapNode, TxnLogWriter, ZxidDigest};
use zooid_tree::{acl::generate_digest, DataTree, Txn, TxnBody};

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;
const TIMEOUT_MS: i32 = 60_000;

struct Script {
    tree: DataTree,
    log: TxnLogWriter,
    zxid: i64,
    sessions: Vec<(i64, i32)>,
}

impl Script {
    fn txn(&mut self, session: i64, op: i32, body: TxnBody) {
        self.zxid += 1;
        let txn = Txn {
            hdr: TxnHeader {
                client_id: session,
                cxid: self.zxid as i32,
                zxid: self.zxid,
                time: 1_700_000_000_000 + self.zxid * 1000,
                op,
            },
            body,
        };
        self.tree.apply(&txn, &mut Vec::new());
        // ZooKeeper logs no digest for error txns; for the rest it compares ours on load.
        let digest = (op != op::ERROR).then(|| TxnDigest {
            version: 2,
            tree_digest: self.tree.digest(),
        });
        self.log.append_with_digest(&txn, digest.as_ref()).unwrap();
        match &txn.body {
            TxnBody::CreateSession(c) => self.sessions.push((session, c.time_out)),
            TxnBody::CloseSession(_) => self.sessions.retain(|(s, _)| *s != session),
            _ => {}
        }
    }

    fn create(&mut self, session: i64, path: &str, data: &[u8], acl: Vec<Acl>, eph: bool) {
        let parent_c_version = self.parent_cversion(path);
        let body = TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Bytes::copy_from_slice(data),
            acl,
            ephemeral: eph,
            parent_c_version,
        });
        self.txn(session, op::CREATE, body);
    }

    /// The parent's cversion after this create, as prep computes it.
    fn parent_cversion(&self, path: &str) -> i32 {
        let parent = match path.rfind('/') {
            Some(0) => "/",
            Some(i) => &path[..i],
            None => "/",
        };
        self.tree.get(parent).map_or(0, |n| n.stat.cversion) + 1
    }

    fn snapshot(&mut self, dir: &Path) {
        let mut nodes = Vec::new();
        self.tree.walk(|p, n| {
            nodes.push(SnapNode {
                path: p.to_owned(),
                data: n.data.clone(),
                acl: n.acl,
                stat: n.stat.clone(),
            })
        });
        let acls: Vec<(i64, Vec<Acl>)> = self
            .tree
            .acls
            .entries()
            .map(|(i, l)| (i, l.to_vec()))
            .collect();
        let digest = ZxidDigest {
            zxid: self.zxid,
            version: 2,
            digest: self.tree.digest(),
        };
        let path = dir.join(files::snapshot_name(self.zxid));
        write_snapshot(&path, &self.sessions, &acls, nodes, Some(digest), self.zxid).unwrap();
        self.log.roll();
    }
}

fn world() -> Vec<Acl> {
    vec![Acl::new(31, "world", "anyone")]
}

fn main() {
    let base = std::env::args().nth(1).expect("usage: write-datadir DIR");
    let dir = version_dir(Path::new(&base));
    let log = TxnLogWriter::open(&dir, 64 * 1024, true).unwrap();
    let mut s = Script {
        tree: DataTree::new(true),
        log,
        zxid: 0,
        sessions: Vec::new(),
    };
    // ZooKeeper writes snapshot.0 of the empty tree before anything else: so do we.
    s.snapshot(&dir);
    let secret = vec![Acl::new(31, "digest", &generate_digest("user:pass"))];
    let session = |t| TxnBody::CreateSession(CreateSessionTxn { time_out: t });
    s.txn(S1, op::CREATE_SESSION, session(TIMEOUT_MS));
    s.create(S1, "/app", b"hello", world(), false);
    s.create(S1, "/app/child", b"c", world(), false);
    s.txn(
        S1,
        op::SET_DATA,
        TxnBody::SetData(SetDataTxn {
            path: "/app".into(),
            data: Bytes::from_static(b"world"),
            version: 1,
        }),
    );
    s.create(S1, "/secure", b"top secret", secret.clone(), false);
    s.create(S1, "/app/seq-0000000002", b"s", world(), false);
    s.txn(S1, op::ERROR, TxnBody::Error(ErrorTxn { err: -110 }));
    s.log.commit().unwrap();
    s.snapshot(&dir);

    s.txn(S2, op::CREATE_SESSION, session(TIMEOUT_MS));
    s.create(S2, "/app/eph", b"ephemeral", world(), true);
    let acl = vec![
        Acl::new(3, "digest", &generate_digest("user:pass")),
        Acl::new(1, "world", "anyone"),
    ];
    s.txn(
        S1,
        op::SET_ACL,
        TxnBody::SetAcl(SetAclTxn {
            path: "/app".into(),
            acl,
            version: 1,
        }),
    );
    let pcv = s.parent_cversion("/multi");
    s.txn(
        S1,
        op::MULTI,
        TxnBody::Multi(vec![
            (
                op::CREATE,
                TxnBody::Create(CreateTxn {
                    path: "/multi".into(),
                    data: Bytes::from_static(b"m"),
                    acl: world(),
                    ephemeral: false,
                    parent_c_version: pcv,
                }),
            ),
            (
                op::CHECK,
                TxnBody::Check(CheckVersionTxn {
                    path: "/app".into(),
                    version: 1,
                }),
            ),
            (
                op::SET_DATA,
                TxnBody::SetData(SetDataTxn {
                    path: "/multi".into(),
                    data: Bytes::from_static(b"m2"),
                    version: 1,
                }),
            ),
        ]),
    );
    let pcv = s.parent_cversion("/cont");
    s.txn(
        S1,
        op::CREATE_CONTAINER,
        TxnBody::CreateContainer(CreateContainerTxn {
            path: "/cont".into(),
            data: Bytes::from_static(b"container"),
            acl: world(),
            parent_c_version: pcv,
        }),
    );
    s.create(S1, "/cont/c", b"in container", world(), false);
    let pcv = s.parent_cversion("/ttl");
    s.txn(
        S1,
        op::CREATE_TTL,
        TxnBody::CreateTtl(CreateTtlTxn {
            path: "/ttl".into(),
            data: Bytes::from_static(b"ttl"),
            acl: world(),
            parent_c_version: pcv,
            ttl: 3_600_000,
        }),
    );
    let big: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    s.create(S1, "/big", &big, world(), false);
    s.create(S1, "/ünïcödé", "ünïcödé".as_bytes(), world(), false);
    s.txn(
        S1,
        op::DELETE,
        TxnBody::Delete(DeleteTxn {
            path: "/app/child".into(),
        }),
    );
    s.log.commit().unwrap();
    s.snapshot(&dir);
    // A session that closes, taking its ephemeral with it, after the last snapshot.
    s.txn(
        0x0100_0000_0000_0003,
        op::CREATE_SESSION,
        session(TIMEOUT_MS),
    );
    s.create(0x0100_0000_0000_0003, "/gone", b"", world(), true);
    s.txn(
        0x0100_0000_0000_0003,
        op::CLOSE_SESSION,
        TxnBody::CloseSession(CloseSessionTxn {
            paths_to_delete: vec!["/gone".into()],
        }),
    );
    s.txn(
        S1,
        op::SET_DATA,
        TxnBody::SetData(SetDataTxn {
            path: "/app/seq-0000000002".into(),
            data: Bytes::from_static(b"last"),
            version: 1,
        }),
    );
    s.log.commit().unwrap();
    let last_file = s.log.current_file().unwrap().to_path_buf();
    tear_and_recover(&dir, &last_file, s.zxid);
    assert!(s.tree.get("/gone").is_none());
    assert_eq!(s.tree.get("/app/eph").unwrap().stat.ephemeral_owner, S2);
    assert_eq!(
        s.tree.get("/ttl").unwrap().stat.ephemeral_owner,
        ephemeral::TTL_MASK | 3_600_000
    );
    write_expected(&s, Path::new(&base));
}

/// A crash in the middle of the next write: half a record lands after the last one.
/// Recovery finds the torn tail and cuts it, as the server does before it appends again.
fn tear_and_recover(dir: &Path, last_file: &Path, last_zxid: i64) {
    use std::os::unix::fs::FileExt;
    let mut lf = zooid_storage::log::LogFile::open(last_file).unwrap();
    while lf.next_record().unwrap().is_some() {}
    let end = lf.end().unwrap().offset();
    let mut rec = Vec::new();
    zooid_storage::log::encode_entry(
        &Txn {
            hdr: TxnHeader {
                client_id: S1,
                cxid: 99,
                zxid: last_zxid + 1,
                time: 0,
                op: op::DELETE,
            },
            body: TxnBody::Delete(DeleteTxn {
                path: "/app".into(),
            }),
        },
        None,
        &mut rec,
    );
    let mut framed = (i64::from(adler2::adler32_slice(&rec)))
        .to_be_bytes()
        .to_vec();
    framed.extend_from_slice(&(rec.len() as i32).to_be_bytes());
    framed.extend_from_slice(&rec[..rec.len() / 2]);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(last_file)
        .unwrap();
    f.write_all_at(&framed, end).unwrap();
    let mut r = zooid_storage::read_from(dir, 0).unwrap();
    assert_eq!(
        r.by_ref().map(|e| e.unwrap()).last().unwrap().txn.zxid(),
        last_zxid
    );
    let tail = r.tail().expect("a torn tail").clone();
    assert_eq!((tail.file.as_path(), tail.offset), (last_file, end));
    zooid_storage::truncate_tail(&tail).unwrap();
    let mut r = zooid_storage::read_from(dir, 0).unwrap();
    assert_eq!(r.by_ref().count() as i64, last_zxid);
    assert!(r.tail().is_none());
}

fn write_expected(s: &Script, base: &Path) {
    let mut nodes = Vec::new();
    s.tree.walk(|p, n| {
        let path = if p.is_empty() { "/" } else { p };
        let st = n.stat(true);
        let acl: Vec<Value> = s
            .tree
            .acl_of(n)
            .iter()
            .map(|a| json!({"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id}))
            .collect();
        nodes.push(json!({
            "path": path,
            "data": base64::engine::general_purpose::STANDARD.encode(&n.data),
            "acl": acl,
            "children": n.children.iter().collect::<Vec<_>>(),
            "stat": {
                "czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid,
                "ctime": st.ctime, "mtime": st.mtime, "version": st.version,
                "cversion": st.cversion, "aversion": st.aversion,
                "ephemeralOwner": st.ephemeral_owner, "dataLength": st.data_length,
                "numChildren": st.num_children,
            },
        }));
    });
    let doc = json!({
        "last_zxid": s.zxid,
        "sessions": s.sessions.iter().map(|(id, t)| json!([id, t])).collect::<Vec<_>>(),
        "auth": ["digest", "user:pass"],
        "nodes": nodes,
    });
    std::fs::write(
        base.join("expected.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
    println!("wrote {} (last zxid {:#x})", base.display(), s.zxid);
}
