//! Golden tests against files written by Apache ZooKeeper 3.8.0 (Debian's package),
//! made by `testdata/make-golden.sh`: logs and snapshots read exactly as ZooKeeper's
//! own tools print them, re-encode to the same bytes, and replay into the same tree.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use zooid_proto::opcode::op;
use zooid_proto::{Acl, CloseSessionTxn, CreateTxn, ErrorTxn, SetAclTxn, SetDataTxn, TxnDigest};
use zooid_storage::log::{encode_entry, LogFile, LogRecord};
use zooid_storage::snap::{self, ZxidDigest};
use zooid_storage::{dump, read_from, read_snapshot, write_snapshot, TxnLogWriter};
use zooid_tree::{DataTree, Node, TxnBody};

fn testdata(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(sub)
}

const SESSION_A: i64 = 0x100001b4bc20000;
const SESSION_B: i64 = 0x100001b4bc20001;
const DIGEST_USER: &str = "user:smGaoVKd/cQkjm7b88GyorAUz20=";

fn records(file: &Path) -> Vec<LogRecord> {
    let mut lf = LogFile::open(file).unwrap();
    let mut v = Vec::new();
    while let Some(r) = lf.next_record().unwrap() {
        v.push(r);
    }
    v
}

fn log_files() -> Vec<PathBuf> {
    zooid_storage::log::log_files(&testdata("zk38")).unwrap()
}

#[test]
fn every_txn_of_zookeepers_log_is_read_in_order() {
    let dir = testdata("zk38");
    let mut r = read_from(&dir, 0).unwrap();
    let zxids: Vec<i64> = r.by_ref().map(|e| e.unwrap().txn.zxid()).collect();
    assert_eq!(zxids, (1..=0x20).collect::<Vec<_>>());
    assert_eq!(r.tail(), None);
    assert!(r.torn_earlier().is_empty());
    let names: Vec<String> = log_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["log.1", "log.8", "log.10", "log.17", "log.1c"]);
    // From a snapshot's zxid on, as recovery reads.
    let after: Vec<i64> = read_from(&dir, 0x15)
        .unwrap()
        .map(|e| e.unwrap().txn.zxid())
        .collect();
    assert_eq!(after, (0x16..=0x20).collect::<Vec<_>>());
}

/// Every line `TxnLogToolkit` printed names the same session, cxid, zxid and type.
#[test]
fn headers_match_txn_log_toolkit() {
    for file in log_files() {
        let name = file.file_name().unwrap().to_str().unwrap();
        let tool =
            fs::read_to_string(testdata("zk38/tools").join(format!("{name}.TxnLogToolkit.txt")))
                .unwrap();
        let expected: Vec<String> = tool
            .lines()
            .filter_map(|l| l.split_once(" session ").map(|(_, rest)| rest))
            .map(|rest| {
                let w: Vec<&str> = rest.split(' ').take(6).collect();
                // ZooKeeper 3.8 spells createTTL "createTtl".
                let ty = if w[5] == "createTtl" {
                    "createTTL"
                } else {
                    w[5]
                };
                format!("{} cxid {} zxid {} {ty}", w[0], w[2], w[4])
            })
            .collect();
        let got: Vec<String> = records(&file)
            .iter()
            .map(|r| {
                let h = &r.entry.txn.hdr;
                format!(
                    "{:#x} cxid {:#x} zxid {:#x} {}",
                    h.client_id,
                    h.cxid,
                    h.zxid,
                    dump::op_name(h.op)
                )
            })
            .collect();
        assert_eq!(got, expected, "{name}");
        assert!(tool.ends_with(&format!("EOF reached after {} txns.\n", got.len())));
    }
}

#[test]
fn txn_contents_are_exact() {
    let all: BTreeMap<i64, _> = read_from(&testdata("zk38"), 0)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.txn.zxid(), e)
        })
        .collect();
    let world = || vec![Acl::new(31, "world", "anyone")];
    let body = |z: i64| &all[&z].txn.body;
    assert_eq!(all[&1].txn.hdr.op, op::CREATE_SESSION);
    assert_eq!(all[&1].txn.hdr.client_id, SESSION_A);
    assert_eq!(
        body(3),
        &TxnBody::Create(CreateTxn {
            path: "/app".into(),
            data: Bytes::from_static(b"hello"),
            acl: world(),
            ephemeral: false,
            parent_c_version: 1,
        })
    );
    assert_eq!(
        body(6),
        &TxnBody::SetData(SetDataTxn {
            path: "/app".into(),
            data: Bytes::from_static(b"world2"),
            version: 2,
        })
    );
    assert!(matches!(body(7), TxnBody::Delete(d) if d.path == "/app/child1"));
    assert!(matches!(body(8), TxnBody::Create(c) if c.ephemeral && c.path == "/app/eph"));
    assert_eq!(all[&8].txn.hdr.client_id, SESSION_B);
    assert!(matches!(body(0xb), TxnBody::Create(c) if c.path == "/app/seq-0000000004"));
    assert!(matches!(body(0xd), TxnBody::Create(c)
        if c.acl == vec![Acl::new(31, "digest", DIGEST_USER)] && &c.data[..] == b"top secret"));
    assert_eq!(
        body(0xe),
        &TxnBody::SetAcl(SetAclTxn {
            path: "/app".into(),
            acl: vec![
                Acl::new(3, "digest", DIGEST_USER),
                Acl::new(31, "world", "anyone")
            ],
            version: 1,
        })
    );
    // A failed create is logged as an error txn, without a digest.
    assert_eq!(body(0xf), &TxnBody::Error(ErrorTxn { err: -110 }));
    assert_eq!(all[&0xf].digest, None);
    // A failed multi keeps the sub-txns before the failure, then the error (NoAuth).
    let TxnBody::Multi(subs) = body(0x10) else {
        panic!("{:?}", body(0x10))
    };
    let types: Vec<i32> = subs.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, [op::CREATE, op::CREATE, op::ERROR]);
    assert_eq!(subs[2].1, TxnBody::Error(ErrorTxn { err: -102 }));
    let TxnBody::Multi(subs) = body(0x11) else {
        panic!()
    };
    let types: Vec<i32> = subs.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, [op::CREATE, op::CHECK, op::SET_DATA, op::CREATE]);
    assert_eq!(all[&0x13].txn.hdr.op, op::CREATE_CONTAINER);
    assert_eq!(all[&0x14].txn.hdr.op, op::CREATE2);
    assert!(matches!(body(0x15), TxnBody::CreateTtl(t) if t.ttl == 3_600_000 && t.path == "/ttl"));
    let big: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    assert!(matches!(body(0x16), TxnBody::Create(c) if c.data[..] == big[..]));
    assert!(matches!(body(0x1b), TxnBody::SetData(s) if s.data[..] == "ünïcödé".as_bytes()[..]));
    assert_eq!(
        body(0x1c),
        &TxnBody::CloseSession(CloseSessionTxn {
            paths_to_delete: vec!["/app/eseq-0000000005".into(), "/app/eph".into()],
        })
    );
    assert_eq!(
        body(0x20),
        &TxnBody::CloseSession(CloseSessionTxn::default())
    );
    // Every other txn carries ZooKeeper's tree digest (version 2).
    assert_eq!(
        all[&0x1f].digest,
        Some(TxnDigest {
            version: 2,
            tree_digest: 36_685_896_235
        })
    );
    assert_eq!(all.values().filter(|e| e.digest.is_none()).count(), 1);
}

/// Our encoder and writer produce ZooKeeper's bytes: the same entries, the same framing,
/// the same header (the committed files are cut after the data plus one zero record).
#[test]
fn logs_re_encode_to_zookeepers_bytes() {
    for file in log_files() {
        let zk = fs::read(&file).unwrap();
        let recs = records(&file);
        for r in &recs {
            let mut ours = Vec::new();
            encode_entry(&r.entry.txn, r.entry.digest.as_ref(), &mut ours);
            let start = r.offset as usize + 12;
            assert_eq!(
                ours[..],
                zk[start..start + ours.len()],
                "{file:?} @{}",
                r.offset
            );
        }
        let d = tempfile::tempdir().unwrap();
        let mut w = TxnLogWriter::open(d.path(), 0, false).unwrap();
        for r in &recs {
            w.append_with_digest(&r.entry.txn, r.entry.digest.as_ref())
                .unwrap();
        }
        w.commit().unwrap();
        let ours = fs::read(w.current_file().unwrap()).unwrap();
        assert_eq!(w.current_file().unwrap().file_name(), file.file_name());
        assert_eq!(ours[..], zk[..zk.len() - 12], "{file:?}");
    }
}

fn snapshot_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = snap::find_valid_snapshots(&testdata("zk38"), 100)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    v.push(testdata("zk38-gz/snapshot.9.gz"));
    v.push(testdata("zk38-snappy/snapshot.a.snappy"));
    v
}

/// `SnapshotFormatter -d` and our text dump agree (up to the order of children and
/// sessions, which ZooKeeper prints in hash order, and our two extra lines).
#[test]
fn snapshot_dumps_match_snapshot_formatter() {
    fn norm(text: &str) -> Vec<String> {
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("Target zxid digest") && !l.starts_with("Last processed"))
            .collect();
        let mut blocks: Vec<String> = kept
            .join("\n")
            .split("----\n")
            .map(|b| {
                let mut lines: Vec<&str> = b.trim().lines().collect();
                if b.starts_with("Session Details") {
                    lines.sort();
                }
                lines.join("\n")
            })
            .collect();
        blocks.sort();
        blocks
    }
    let files = snapshot_files();
    assert_eq!(files.len(), 8);
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let tool = f
            .parent()
            .unwrap()
            .join("tools")
            .join(format!("{name}.SnapshotFormatter.txt"));
        let expected = fs::read_to_string(tool).unwrap();
        let mut ours = Vec::new();
        dump::snapshot_text(&f, &mut ours).unwrap();
        let ours = String::from_utf8(ours).unwrap();
        assert_eq!(norm(&ours), norm(&expected), "{name}:\n{ours}");
    }
}

#[test]
fn snapshot_contents_are_exact() {
    let s = read_snapshot(&testdata("zk38/snapshot.1a")).unwrap();
    let mut sessions = s.sessions.clone();
    sessions.sort();
    assert_eq!(
        sessions,
        [
            (SESSION_A, 30000),
            (SESSION_B, 30000),
            (0x100001b4bc20002, 30000)
        ]
    );
    assert_eq!(
        s.digest,
        Some(ZxidDigest {
            zxid: 0x1b,
            version: 2,
            digest: 42_730_777_923
        })
    );
    assert_eq!(
        s.last_processed_zxid, None,
        "ZooKeeper 3.8 does not write it"
    );
    assert_eq!(s.nodes[0].path, "");
    let acls: BTreeMap<i64, Vec<Acl>> = s.acls.iter().cloned().collect();
    let node = |p: &str| s.nodes.iter().find(|n| n.path == p).unwrap();
    let secure = node("/secure");
    assert_eq!(&secure.data[..], b"top secret");
    assert_eq!(acls[&secure.acl], [Acl::new(31, "digest", DIGEST_USER)]);
    let app = node("/app");
    assert_eq!(
        acls[&app.acl],
        [
            Acl::new(3, "digest", DIGEST_USER),
            Acl::new(31, "world", "anyone")
        ]
    );
    assert_eq!((app.stat.version, app.stat.aversion), (2, 1));
    assert_eq!((app.stat.czxid, app.stat.mzxid), (3, 6));
    assert_eq!(node("/app/eph").stat.ephemeral_owner, SESSION_B);
    assert_eq!(
        node("/cont").stat.ephemeral_owner as u64,
        0x8000_0000_0000_0000
    );
    assert_eq!(
        node("/ttl").stat.ephemeral_owner as u64,
        0xff00_0000_0036_ee80
    );
    assert_eq!(node("/big").data.len(), 1024);
    assert_eq!(&node("/deep/a/b/c").data[..], "ünïcödé".as_bytes());
    // The root's ACL is OPEN_ACL_UNSAFE's -1, which has no table entry.
    assert_eq!(s.nodes[0].acl, -1);
}

/// Re-writing a ZooKeeper snapshot in its own node order gives its bytes back, plus our
/// lastProcessedZxid section (21 bytes) that 3.8 does not write.
#[test]
fn snapshots_re_encode_to_zookeepers_bytes() {
    for f in snap::find_valid_snapshots(&testdata("zk38"), 100).unwrap() {
        let (zxid, path) = f;
        let s = read_snapshot(&path).unwrap();
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join(path.file_name().unwrap());
        write_snapshot(&out, &s.sessions, &s.acls, s.nodes.clone(), s.digest, zxid).unwrap();
        let ours = fs::read(&out).unwrap();
        let zk = fs::read(&path).unwrap();
        assert_eq!(ours[..ours.len() - 21], zk[..], "{path:?}");
        assert_eq!(read_snapshot(&out).unwrap().last_processed_zxid, Some(zxid));
    }
}

/// Replaying ZooKeeper's log on zooid-tree from the first snapshot rebuilds the last
/// one, and the tree digest after every txn is the one ZooKeeper logged.
#[test]
fn replaying_the_log_rebuilds_zookeepers_tree() {
    let first = read_snapshot(&testdata("zk38/snapshot.0")).unwrap();
    let mut tree = DataTree::from_snapshot(
        true,
        first.acls.clone(),
        first.nodes.iter().map(|n| {
            let path = n.path.clone();
            let node = Node {
                data: n.data.clone(),
                acl: n.acl,
                stat: n.stat.clone(),
                children: Default::default(),
            };
            (path, node)
        }),
        0,
    )
    .unwrap();
    let mut digests_checked = 0;
    for e in read_from(&testdata("zk38"), 0).unwrap() {
        let e = e.unwrap();
        tree.apply(&e.txn, &mut Vec::new());
        if let Some(d) = e.digest {
            assert_eq!(
                tree.digest(),
                d.tree_digest,
                "digest after zxid {:#x}",
                e.txn.zxid()
            );
            digests_checked += 1;
        }
    }
    assert_eq!(digests_checked, 31);
    let last = read_snapshot(&testdata("zk38/snapshot.1f")).unwrap();
    let acls: BTreeMap<i64, Vec<Acl>> = last.acls.iter().cloned().collect();
    let mut expected: Vec<String> = last
        .nodes
        .iter()
        .map(|n| {
            let path = if n.path.is_empty() { "/" } else { &n.path };
            let acl = acls.get(&n.acl).cloned().unwrap_or_default();
            format!("{path} {:?} {:?} {acl:?}", n.data, n.stat)
        })
        .collect();
    expected.sort();
    let mut got = Vec::new();
    tree.walk(|p, n| {
        let path = if p.is_empty() { "/" } else { p };
        let acl = tree.acl_of(n).to_vec();
        let acl = if n.acl == -1 { Vec::new() } else { acl };
        got.push(format!("{path} {:?} {:?} {acl:?}", n.data, n.stat));
    });
    got.sort();
    assert_eq!(got, expected);
}
