//! The snapshot a leader sends a learner after SNAP, against the bytes ZooKeeper 3.8's
//! `SerializeUtils.serializeSnapshot` wrote for a known tree
//! (`testdata/zk38-sync/make-golden.sh`), plus round trips and damaged input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use zooid_proto::{Acl, StatPersisted};
use zooid_storage::{
    decode_sync_snapshot, encode_sync_snapshot, read_sync_snapshot, write_snapshot, SnapNode,
    StorageError, SyncSnapshot,
};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/zk38-sync")
        .join(name)
}

fn golden_bytes() -> Vec<u8> {
    std::fs::read(testdata("sync-snapshot.bin")).unwrap()
}

/// What the Java program prints for its tree (`sync-snapshot.txt`), from a decoded
/// stream: sessions and nodes sorted, each node's ACL looked up in the table.
fn render(s: &SyncSnapshot) -> String {
    let mut out = String::new();
    let mut sessions = s.sessions.clone();
    sessions.sort();
    for (id, timeout) in sessions {
        out += &format!("session {id:#x} timeout {timeout}\n");
    }
    let mut nodes: Vec<&SnapNode> = s.nodes.iter().collect();
    nodes.sort_by(|a, b| a.path.cmp(&b.path));
    for n in nodes {
        let acl = if n.acl == -1 {
            // `ReferenceCountedACLCache.convertLong(-1)`: OPEN_ACL_UNSAFE.
            vec![Acl::new(31, "world", "anyone")]
        } else {
            let found = s.acls.iter().find(|(i, _)| *i == n.acl);
            found
                .map(|(_, l)| l.clone())
                .expect("the node's ACL index is in the table")
        };
        let acl: Vec<String> = acl
            .iter()
            .map(|a| format!("{} {}:{}", a.perms, a.id.scheme, a.id.id))
            .collect();
        let data = if n.data.is_empty() {
            "empty".to_owned()
        } else {
            n.data.iter().map(|b| format!("{b:02x}")).collect()
        };
        let st = &n.stat;
        let path = if n.path.is_empty() { "\"\"" } else { &n.path };
        out += &format!("node {path}\n  data {data}\n  acl [{}]\n", acl.join(","));
        out += &format!(
            "  czxid {:#x} mzxid {:#x} pzxid {:#x} ctime {} mtime {}\n",
            st.czxid, st.mzxid, st.pzxid, st.ctime, st.mtime
        );
        out += &format!(
            "  version {} cversion {} aversion {} ephemeralOwner {:#x}\n",
            st.version, st.cversion, st.aversion, st.ephemeral_owner
        );
    }
    out
}

#[test]
fn zookeepers_stream_decodes_to_the_tree_it_was_made_from() {
    let s = decode_sync_snapshot(&golden_bytes()).unwrap();
    // Our nodes hold bytes, not "bytes or null": the node Java created with null data
    // (`/locks`) decodes with empty data, as a snapshot file's does.
    let expected = std::fs::read_to_string(testdata("sync-snapshot.txt"))
        .unwrap()
        .replace("data null", "data empty");
    assert_eq!(render(&s), expected);
    // The leader's `HashMap` orders, kept as they came.
    assert_eq!(
        s.sessions,
        [
            (0x100001b4bc20001, 4000),
            (0x100001b4bc20000, 30000),
            (0x200007f00000005, 40000)
        ]
    );
    // The ip ACL first got index 4; setACL took its only user, the cache dropped it, and
    // `/locks` brought it back as 5.
    let indexes: Vec<i64> = s.acls.iter().map(|(i, _)| *i).collect();
    assert_eq!(indexes, [1, 2, 3, 5]);
    assert_eq!(s.nodes[0].path, "");
    assert_eq!(s.nodes.len(), 15);
}

/// Offsets of the length of `/locks`'s data in the golden stream: the only buffer Java
/// wrote as null (-1), which we write as empty (0).
fn null_data_at(bytes: &[u8]) -> usize {
    let mut key = 6i32.to_be_bytes().to_vec();
    key.extend_from_slice(b"/locks");
    let at = bytes
        .windows(key.len())
        .position(|w| w == key.as_slice())
        .expect("/locks is in the stream")
        + key.len();
    assert_eq!(bytes[at..at + 4], (-1i32).to_be_bytes());
    at
}

/// Re-encoding in the stream's own order gives ZooKeeper's bytes back, but for the one
/// null buffer (see `null_data_at`): a Java learner reads it as an empty array, whose
/// digest is the same as null's (`DigestCalculator` skips null data).
#[test]
fn decoded_stream_re_encodes_to_zookeepers_bytes() {
    let java = golden_bytes();
    let s = decode_sync_snapshot(&java).unwrap();
    let mut ours = Vec::new();
    encode_sync_snapshot(&s.sessions, &s.acls, s.nodes.clone(), &mut ours).unwrap();
    let mut expected = java.clone();
    let at = null_data_at(&expected);
    expected[at..at + 4].copy_from_slice(&0i32.to_be_bytes());
    assert_eq!(ours.len(), java.len());
    assert!(ours == expected, "re-encoded bytes differ from ZooKeeper's");
    assert_eq!(decode_sync_snapshot(&ours).unwrap(), s);
}

#[test]
fn the_stream_is_a_snapshot_files_body() {
    let s = decode_sync_snapshot(&golden_bytes()).unwrap();
    let mut stream = Vec::new();
    encode_sync_snapshot(&s.sessions, &s.acls, s.nodes.clone(), &mut stream).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snapshot.10000000e");
    write_snapshot(&file, &s.sessions, &s.acls, s.nodes.clone(), None, 7).unwrap();
    let file = std::fs::read(file).unwrap();
    // 16 bytes of FileHeader, then the body, then the first seal.
    assert_eq!(file[16..16 + stream.len()], stream[..]);
    assert_eq!(&file[16 + stream.len() + 8..][..5], b"\0\0\0\x01/");
}

// ------------------------------------------------------------------ round trips

/// splitmix64: a seeded generator, so a failure names the seed that made it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn name(&mut self) -> String {
        const PARTS: [&str; 6] = ["a", "node", "é", "0000000042", "x-y", "日本"];
        (0..1 + self.below(3))
            .map(|_| PARTS[self.below(PARTS.len() as u64) as usize])
            .collect()
    }
}

fn random_snapshot(rng: &mut Rng) -> SyncSnapshot {
    let sessions = (0..rng.below(5))
        .map(|_| (rng.next() as i64, rng.next() as i32))
        .collect();
    let acls: Vec<(i64, Vec<Acl>)> = (1..=rng.below(4) as i64)
        .map(|i| {
            let list = (0..rng.below(3))
                .map(|_| Acl::new(rng.below(32) as i32, "digest", &rng.name()))
                .collect();
            (i, list)
        })
        .collect();
    let mut nodes = Vec::new();
    let mut stack = vec![(String::new(), 0u32)];
    while let Some((path, depth)) = stack.pop() {
        let data: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
        let stat = StatPersisted {
            czxid: rng.next() as i64,
            mzxid: rng.next() as i64,
            ctime: rng.next() as i64,
            mtime: rng.next() as i64,
            version: rng.next() as i32,
            cversion: rng.next() as i32,
            aversion: rng.next() as i32,
            ephemeral_owner: rng.next() as i64,
            pzxid: rng.next() as i64,
        };
        let acl = rng.below(acls.len() as u64 + 1) as i64 - 1;
        nodes.push(SnapNode {
            path: path.clone(),
            data: Bytes::from(data),
            acl,
            stat,
        });
        if depth < 3 {
            let mut names: Vec<String> = (0..rng.below(4)).map(|_| rng.name()).collect();
            names.sort();
            names.dedup();
            stack.extend(
                names
                    .into_iter()
                    .map(|n| (format!("{path}/{n}"), depth + 1)),
            );
        }
    }
    SyncSnapshot {
        sessions,
        acls,
        nodes,
    }
}

#[test]
fn random_snapshots_round_trip() {
    for seed in 0..200u64 {
        let s = random_snapshot(&mut Rng(seed));
        let mut bytes = vec![0xaa; 3]; // appends after what `out` holds
        encode_sync_snapshot(&s.sessions, &s.acls, s.nodes.clone(), &mut bytes).unwrap();
        assert_eq!(bytes[..3], [0xaa; 3], "seed {seed}");
        let back = decode_sync_snapshot(&bytes[3..]).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(back, s, "seed {seed}");
        let mut streamed = Vec::new();
        let head = read_sync_snapshot(&bytes[3..], &mut |n| streamed.push(n)).unwrap();
        assert_eq!(streamed, s.nodes, "seed {seed}");
        assert!(head.nodes.is_empty());
        assert_eq!(
            (head.sessions, head.acls),
            (s.sessions, s.acls),
            "seed {seed}"
        );
    }
}

#[test]
fn encoding_refuses_nodes_out_of_order_and_leaves_out_alone() {
    let s = decode_sync_snapshot(&golden_bytes()).unwrap();
    let mut out = b"kept".to_vec();
    let mut swapped = s.nodes.clone();
    let last = swapped.len() - 1;
    swapped.swap(0, last);
    let e = encode_sync_snapshot(&s.sessions, &s.acls, swapped, &mut out).unwrap_err();
    assert!(matches!(e, StorageError::Invalid(_)), "{e}");
    assert_eq!(out, b"kept");
    // A child before its parent.
    let mut orphan = s.nodes.clone();
    let child = orphan
        .iter()
        .position(|n| n.path == "/locks/lock-0000000007")
        .unwrap();
    let parent = orphan.iter().position(|n| n.path == "/locks").unwrap();
    orphan.swap(child, parent);
    assert!(encode_sync_snapshot(&s.sessions, &s.acls, orphan, &mut out).is_err());
    assert!(encode_sync_snapshot(&[], &[], Vec::new(), &mut out).is_err());
    assert_eq!(out, b"kept");
}

// ------------------------------------------------------------------ damaged input

fn corrupt_reason(bytes: &[u8]) -> String {
    match decode_sync_snapshot(bytes) {
        Err(StorageError::CorruptStream { reason, .. }) => reason,
        other => panic!("expected CorruptStream, got {other:?}"),
    }
}

#[test]
fn every_truncation_and_any_trailing_byte_is_refused() {
    let bytes = golden_bytes();
    for len in 0..bytes.len() {
        assert!(
            decode_sync_snapshot(&bytes[..len]).is_err(),
            "a stream cut to {len} bytes decoded"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"BenWasHere");
    assert_eq!(
        corrupt_reason(&longer),
        "10 bytes follow the end of the tree"
    );
}

#[test]
fn streams_without_a_root_or_with_orphans_are_refused() {
    // No sessions, no ACLs, no nodes: just the end marker.
    let empty = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'/'];
    assert_eq!(corrupt_reason(&empty), "the snapshot has no root node");
    // `encode_sync_snapshot` refuses an orphan, so the stream is patched by hand: the
    // path `/locks` becomes `/lockz`, and `/locks/lock-0000000007` has no parent.
    let mut bytes = golden_bytes();
    let at = null_data_at(&bytes) - 1;
    bytes[at] = b'z';
    let reason = corrupt_reason(&bytes);
    assert!(reason.contains("its parent is not before it"), "{reason}");
}

#[test]
fn negative_and_null_counts() {
    // A null (-1) session count and ACL table read as empty, as jute's nulls do.
    let mut b = Vec::new();
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // the root's path ""
    b.extend_from_slice(&0i32.to_be_bytes()); // empty data
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&[0; 60]);
    b.extend_from_slice(&[0, 0, 0, 1, b'/']);
    let s = decode_sync_snapshot(&b).unwrap();
    assert!(s.sessions.is_empty() && s.acls.is_empty());
    assert_eq!(s.nodes.len(), 1);
    // Other negative counts are corruption.
    b[..4].copy_from_slice(&(-2i32).to_be_bytes());
    assert_eq!(corrupt_reason(&b), "negative session count -2");
}

#[test]
fn flipped_bytes_never_panic() {
    let bytes = golden_bytes();
    let mut rng = Rng(7);
    for i in 0..bytes.len() {
        for _ in 0..4 {
            let mut b = bytes.clone();
            b[i] ^= 1 << rng.below(8);
            let _ = decode_sync_snapshot(&b);
        }
    }
    for len in 0..300 {
        let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = decode_sync_snapshot(&b);
    }
}

// ------------------------------------------------------------------ allocation

/// Counts the bytes this thread has allocated and not freed, and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed on unchanged to the system allocator, which upholds
// GlobalAlloc's contract; the bookkeeping only touches thread-local counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| {
            l.set(l.get() + layout.size());
            let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
        });
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most this thread had allocated at once while decoding `bytes`.
fn peak_while_decoding(bytes: &[u8]) -> usize {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = decode_sync_snapshot(bytes);
    let peak = PEAK.with(|p| p.get()) - base;
    assert!(r.is_err());
    drop(r);
    peak
}

#[test]
fn lying_lengths_allocate_no_more_than_the_input_holds() {
    let int = |v: i32| v.to_be_bytes().to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("session count", int(i32::MAX)),
        ("ACL table size", [int(0), int(i32::MAX)].concat()),
        (
            "ACL list length",
            [int(0), int(1), 7i64.to_be_bytes().to_vec(), int(i32::MAX)].concat(),
        ),
        ("path length", [int(0), int(0), int(i32::MAX)].concat()),
        (
            "data length",
            [int(0), int(0), int(0), int(i32::MAX), vec![1; 20]].concat(),
        ),
    ];
    for (what, bytes) in cases {
        let peak = peak_while_decoding(&bytes);
        assert!(peak >= 64, "{what}: the counter saw no allocation at all");
        // The reader's buffer (64 bytes at least) and an error message; nothing that
        // grows with the lying length.
        assert!(
            peak <= 64 + 4 * bytes.len() + 1024,
            "{what}: {peak} bytes allocated for {} bytes of input",
            bytes.len()
        );
    }
}
