//! Snapshot round trips, optional sections, compression and damage.

use std::fs;
use std::io::Write;

use zooid_proto::JuteWrite;

use super::*;

fn stat(z: i64) -> StatPersisted {
    StatPersisted {
        czxid: z,
        mzxid: z + 1,
        ctime: 1_700_000_000_000 + z,
        mtime: 1_700_000_000_500 + z,
        version: (z % 4) as i32,
        cversion: (z % 3) as i32,
        aversion: (z % 2) as i32,
        ephemeral_owner: if z % 5 == 0 { 0x1000_0000_0001 } else { 0 },
        pzxid: z + 2,
    }
}

fn node(path: &str, z: i64, acl: i64) -> SnapNode {
    SnapNode {
        path: path.to_owned(),
        data: Bytes::from(format!("data of {path}").into_bytes()),
        acl,
        stat: stat(z),
    }
}

pub(crate) fn sample() -> Snapshot {
    let mut nodes = vec![node("", 0, -1)];
    for (i, p) in [
        "/a",
        "/a/b",
        "/a/b/c",
        "/a/d",
        "/zookeeper",
        "/zookeeper/quota",
        "/ünï",
        "/e",
    ]
    .iter()
    .enumerate()
    {
        nodes.push(node(p, i as i64 + 1, (i % 3) as i64 - 1));
    }
    nodes[2].data = Bytes::new();
    nodes[3].data = Bytes::from((0..=255u8).cycle().take(3000).collect::<Vec<_>>());
    Snapshot {
        sessions: vec![(0x1000_0000_0001, 30000), (0x1000_0000_0002, 4000)],
        acls: vec![
            (0, vec![Acl::new(31, "world", "anyone")]),
            (
                1,
                vec![
                    Acl::new(1, "digest", "user:smGaoVKd/cQkjm7b88GyorAUz20="),
                    Acl::new(31, "ip", "127.0.0.1"),
                ],
            ),
        ],
        nodes,
        digest: Some(ZxidDigest {
            zxid: 0x1f,
            version: 2,
            digest: 36_686_043_691,
        }),
        last_processed_zxid: Some(0x1f),
    }
}

fn write(dir: &Path, s: &Snapshot) -> PathBuf {
    let p = dir.join(files::snapshot_name(0x1f));
    write_snapshot(
        &p,
        &s.sessions,
        &s.acls,
        s.nodes.iter().cloned(),
        s.digest,
        s.last_processed_zxid.unwrap(),
    )
    .unwrap();
    p
}

/// Byte offsets where the tree's seal, the digest's seal and the last seal end.
fn seal_ends(bytes: &[u8]) -> [usize; 3] {
    let n = bytes.len();
    [n - 21 - 33, n - 21, n]
}

#[test]
fn round_trip() {
    let d = tempfile::tempdir().unwrap();
    let s = sample();
    let p = write(d.path(), &s);
    assert_eq!(read_snapshot(&p).unwrap(), s);
    assert!(looks_valid(&p));
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
}

#[test]
fn without_digest_an_empty_one_is_written() {
    let d = tempfile::tempdir().unwrap();
    let mut s = sample();
    s.digest = None;
    let p = write(d.path(), &s);
    let got = read_snapshot(&p).unwrap();
    assert_eq!(
        got.digest,
        Some(ZxidDigest {
            zxid: 0,
            version: DIGEST_VERSION,
            digest: 0
        })
    );
}

#[test]
fn digests_off_leave_no_digest_section() {
    // ZooKeeper 3.9 with digest.enabled=false: the tree's seal, then lastProcessedZxid
    // and its seal (21 bytes), and nothing between.
    let d = tempfile::tempdir().unwrap();
    let s = sample();
    let p = d.path().join(files::snapshot_name(0x1f));
    let nodes = s.nodes.iter().cloned();
    write_snapshot(&p, &s.sessions, &s.acls, nodes, DigestSection::Off, 0x1f).unwrap();
    let other = d.path().join("with");
    fs::create_dir(&other).unwrap();
    let with = write(&other, &s);
    let (off, on) = (fs::read(&p).unwrap(), fs::read(&with).unwrap());
    assert_eq!(on.len() - off.len(), 33, "one digest section less");
    assert_eq!(off[..seal_ends(&on)[0]], on[..seal_ends(&on)[0]]);
    let got = read_snapshot(&p).unwrap();
    assert_eq!(got.digest, None);
    assert_eq!(got.last_processed_zxid, Some(0x1f));
    assert_eq!(got.nodes, s.nodes);
}

#[test]
fn optional_sections_as_older_writers_leave_them() {
    let d = tempfile::tempdir().unwrap();
    let s = sample();
    let p = write(d.path(), &s);
    let full = fs::read(&p).unwrap();
    let [tree_end, digest_end, _] = seal_ends(&full);
    // ZooKeeper before 3.6: no digest, no lastProcessedZxid.
    fs::write(&p, &full[..tree_end]).unwrap();
    let got = read_snapshot(&p).unwrap();
    assert_eq!((got.digest, got.last_processed_zxid), (None, None));
    assert_eq!(got.nodes, s.nodes);
    // ZooKeeper 3.6 to 3.8: a digest, no lastProcessedZxid.
    fs::write(&p, &full[..digest_end]).unwrap();
    let got = read_snapshot(&p).unwrap();
    assert_eq!((got.digest, got.last_processed_zxid), (s.digest, None));
    // ZooKeeper 3.9 with digests off: lastProcessedZxid right after the tree.
    let mut b = full[..tree_end].to_vec();
    b.write_i64(0x77);
    let sum = adler2::adler32_slice(&b);
    b.write_i64(i64::from(sum));
    b.write_string("/");
    fs::write(&p, &b).unwrap();
    let got = read_snapshot(&p).unwrap();
    assert_eq!((got.digest, got.last_processed_zxid), (None, Some(0x77)));
    // An old hex-string digest (digest version 1).
    let mut b = full[..tree_end].to_vec();
    b.write_i64(0x1f);
    b.write_i32(1);
    b.write_string("8a1b");
    let sum = adler2::adler32_slice(&b);
    b.write_i64(i64::from(sum));
    b.write_string("/");
    fs::write(&p, &b).unwrap();
    let got = read_snapshot(&p).unwrap();
    assert_eq!(
        got.digest,
        Some(ZxidDigest {
            zxid: 0x1f,
            version: 1,
            digest: 0x8a1b
        })
    );
}

#[test]
fn every_truncation_fails_or_keeps_the_whole_tree() {
    let d = tempfile::tempdir().unwrap();
    let s = sample();
    let p = write(d.path(), &s);
    let full = fs::read(&p).unwrap();
    let [tree_end, _, _] = seal_ends(&full);
    for cut in 0..full.len() {
        fs::write(&p, &full[..cut]).unwrap();
        match read_snapshot(&p) {
            Ok(got) => {
                assert!(cut >= tree_end, "cut at {cut} read as valid");
                assert_eq!(
                    (got.sessions, got.acls, got.nodes),
                    (s.sessions.clone(), s.acls.clone(), s.nodes.clone())
                );
            }
            Err(StorageError::Corrupt { .. }) => {}
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
}

#[test]
fn every_flipped_byte_in_the_tree_is_detected() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), &sample());
    let full = fs::read(&p).unwrap();
    let [tree_end, ..] = seal_ends(&full);
    // The seal's "/" is read and ignored, as ZooKeeper does: skip its last byte.
    for at in 0..tree_end - 1 {
        let mut b = full.clone();
        b[at] ^= 0x21;
        fs::write(&p, &b).unwrap();
        match read_snapshot(&p) {
            Err(StorageError::Corrupt { .. } | StorageError::BadMagic { .. }) => {}
            other => panic!("flip at {at}: {other:?}"),
        }
    }
    // In the optional sections too, but for the seals' ignored "/".
    for at in tree_end..full.len() {
        let mut b = full.clone();
        b[at] ^= 0x21;
        fs::write(&p, &b).unwrap();
        let r = read_snapshot(&p);
        assert!(r.is_err() || full[at] == b'/', "flip at {at}");
    }
}

#[test]
fn compressed_snapshots_read_by_suffix() {
    let d = tempfile::tempdir().unwrap();
    let s = sample();
    let plain = fs::read(write(d.path(), &s)).unwrap();
    let gz = d.path().join("snapshot.20.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&plain).unwrap();
    fs::write(&gz, e.finish().unwrap()).unwrap();
    assert!(looks_valid(&gz));
    assert_eq!(read_snapshot(&gz).unwrap(), s);
    let sn = d.path().join("snapshot.21.snappy");
    let mut b = stream::SNAPPY_MAGIC.to_vec();
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
    for chunk in plain.chunks(1000) {
        let c = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
        b.write_i32(c.len() as i32);
        b.extend_from_slice(&c);
    }
    fs::write(&sn, &b).unwrap();
    assert!(looks_valid(&sn));
    assert_eq!(read_snapshot(&sn).unwrap(), s);
    // A damaged compressed stream is an error, not a panic.
    let mut bad = b.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    fs::write(&sn, &bad).unwrap();
    assert!(read_snapshot(&sn).is_err());
    fs::write(&gz, &plain[..40]).unwrap();
    assert!(read_snapshot(&gz).is_err());
}

#[test]
fn nodes_must_come_depth_first_from_the_root() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("snapshot.1");
    let w = |nodes: Vec<SnapNode>| write_snapshot(&p, &[], &[], nodes, None, 1);
    assert!(w(vec![node("/a", 1, -1)]).is_err(), "no root first");
    assert!(
        w(vec![node("", 0, -1), node("/a/b", 1, -1)]).is_err(),
        "orphan"
    );
    assert!(
        w(vec![node("", 0, -1), node("/a/", 1, -1)]).is_err(),
        "bad path"
    );
    assert!(w(vec![]).is_err(), "no root");
    assert!(!p.exists());
    w(vec![
        node("", 0, -1),
        node("/a", 1, -1),
        node("/a/b", 2, -1),
        node("/c", 3, -1),
        node("/c/d", 4, -1),
        node("/a2", 4, -1),
    ])
    .unwrap();
    assert_eq!(read_snapshot(&p).unwrap().nodes.len(), 6);
}

#[test]
fn reader_refuses_a_child_before_its_parent() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("snapshot.1");
    let mut b = Vec::new();
    FileHeader {
        magic: SNAP_MAGIC,
        version: 2,
        dbid: -1,
    }
    .encode(&mut b);
    b.write_i32(0);
    b.write_i32(0);
    for path in ["", "/x/y", "/x"] {
        b.write_string(path);
        b.write_buffer(b"");
        b.write_i64(-1);
        stat(1).encode(&mut b);
    }
    b.write_string("/");
    let sum = adler2::adler32_slice(&b);
    b.write_i64(i64::from(sum));
    b.write_string("/");
    fs::write(&p, &b).unwrap();
    let e = read_snapshot(&p).unwrap_err();
    assert!(
        e.to_string()
            .contains("\"/x/y\": its parent is not before it"),
        "{e}"
    );
}

#[test]
fn lying_counts_do_not_allocate() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("snapshot.1");
    for (sessions, acls, data_len) in [(i32::MAX, 0, 0), (0, i32::MAX, 0), (0, 0, i32::MAX)] {
        let mut b = Vec::new();
        FileHeader {
            magic: SNAP_MAGIC,
            version: 2,
            dbid: -1,
        }
        .encode(&mut b);
        b.write_i32(sessions);
        b.write_i32(acls);
        b.write_string("");
        b.write_i32(data_len);
        b.extend_from_slice(&[0; 40]);
        fs::write(&p, &b).unwrap();
        assert!(matches!(
            read_snapshot(&p),
            Err(StorageError::Corrupt { .. })
        ));
    }
}

#[test]
fn newest_readable_snapshot_wins() {
    let d = tempfile::tempdir().unwrap();
    let s = sample();
    let good = fs::read(write(d.path(), &s)).unwrap();
    fs::rename(d.path().join("snapshot.1f"), d.path().join("snapshot.10")).unwrap();
    // Looks valid (ends with a seal) but its tree is damaged.
    let mut damaged = good.clone();
    damaged[100] ^= 1;
    fs::write(d.path().join("snapshot.30"), &damaged).unwrap();
    // Does not even look valid: never tried.
    fs::write(d.path().join("snapshot.40"), &good[..good.len() - 3]).unwrap();
    fs::write(d.path().join("snapshot.x"), &good).unwrap();
    let valid = find_valid_snapshots(d.path(), 10).unwrap();
    let zs: Vec<i64> = valid.iter().map(|(z, _)| *z).collect();
    assert_eq!(zs, vec![0x30, 0x10]);
    let l = load_newest(d.path()).unwrap().unwrap();
    assert_eq!((l.zxid, l.snapshot), (0x10, s));
    assert_eq!(l.skipped.len(), 1);
    fs::remove_file(d.path().join("snapshot.10")).unwrap();
    assert!(load_newest(d.path()).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(load_newest(empty.path()).unwrap().is_none());
}
