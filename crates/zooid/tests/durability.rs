//! Durability of a real `zooid` process: data survives SIGKILL at random instants, every
//! acknowledged write is there after a restart and no multi is half applied; a torn log
//! tail is cut; corruption before the tail stops the server with the file and offset.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{connect, free_port, runtime, ZooidProcess};
use zookeeper_client as zk;

const OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
const SEQ: &zk::CreateOptions<'static> =
    &zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());

#[test]
fn tree_and_stats_survive_a_crash() {
    let rt = runtime(2);
    let server = ZooidProcess::start("");
    let before = rt.block_on(async {
        let c = connect(&server.addr()).await;
        c.create("/app", b"config", OPEN).await.unwrap();
        c.create("/app/seq-", b"1", SEQ).await.unwrap();
        c.create("/app/seq-", b"2", SEQ).await.unwrap();
        c.set_data("/app", b"config-v2", None).await.unwrap();
        c.delete("/app/seq-0000000000", None).await.unwrap();
        let mut w = c.new_multi_writer();
        w.add_create("/m1", b"a", OPEN).unwrap();
        w.add_create("/m2", b"b", OPEN).unwrap();
        w.commit().await.unwrap();
        let mut out = Vec::new();
        for p in ["/app", "/app/seq-0000000001", "/m1", "/m2"] {
            out.push((p, c.get_data(p).await.unwrap()));
        }
        out
    });
    let server = server.crash_and_restart();
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        for (p, want) in &before {
            assert_eq!(&c.get_data(p).await.unwrap(), want, "{p}");
        }
        assert_eq!(c.check_stat("/app/seq-0000000000").await.unwrap(), None);
        // New writes continue after the recovered zxid.
        let (stat, _) = c.create("/after", b"", OPEN).await.unwrap();
        assert!(stat.czxid > before[3].1 .1.czxid);
    });
}

/// A seed printed first, so a failing run can be repeated (ZOOID_TEST_SEED).
fn seed() -> u64 {
    let s = std::env::var("ZOOID_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed: {s} (ZOOID_TEST_SEED={s} repeats this run)");
    s
}

fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// Writers that record what the server acknowledged: single creates and two-node multis.
async fn write_until_killed(addr: String, writer: u32, acked: Arc<Mutex<BTreeSet<String>>>) {
    let Ok(Ok(c)) = tokio::time::timeout(Duration::from_secs(5), zk::Client::connect(&addr)).await
    else {
        return;
    };
    for i in 0u32.. {
        let name = format!("w{writer}-{i}");
        if i % 4 == 0 {
            let mut m = c.new_multi_writer();
            let (a, b) = (format!("/crash/{name}a"), format!("/crash/{name}b"));
            m.add_create(&a, b"", OPEN).unwrap();
            m.add_create(&b, b"", OPEN).unwrap();
            match m.commit().await {
                Ok(_) => {
                    acked.lock().unwrap().insert(format!("{name}a"));
                    acked.lock().unwrap().insert(format!("{name}b"));
                }
                Err(_) => return,
            }
        } else {
            match c.create(&format!("/crash/{name}"), b"", OPEN).await {
                Ok(_) => {
                    acked.lock().unwrap().insert(name);
                }
                Err(_) => return,
            }
        }
    }
}

#[test]
fn acknowledged_writes_survive_twenty_sigkills() {
    let mut rng = seed() | 1;
    let rt = runtime(2);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let port = free_port();
    // Small snapshots so that kills also land during and after snapshots.
    let extra = "snapCount=200\npreAllocSize=64";
    let mut server = ZooidProcess::start_in(dir.clone(), port, extra);
    rt.block_on(async {
        connect(&server.addr())
            .await
            .create("/crash", b"", OPEN)
            .await
            .unwrap()
    });
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    for round in 0..20 {
        let handles: Vec<_> = (0..3)
            .map(|w| {
                rt.spawn(write_until_killed(
                    server.addr(),
                    round * 10 + w,
                    acked.clone(),
                ))
            })
            .collect();
        let delay = 30 + next(&mut rng) % 250;
        std::thread::sleep(Duration::from_millis(delay));
        server.kill();
        rt.block_on(async {
            for h in handles {
                let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
            }
        });
        server = ZooidProcess::start_in(dir.clone(), port, extra);
        let present: BTreeSet<String> = rt.block_on(async {
            let c = connect(&server.addr()).await;
            c.list_children("/crash")
                .await
                .unwrap()
                .into_iter()
                .collect()
        });
        let acked = acked.lock().unwrap();
        let lost: Vec<&String> = acked.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but lost: {lost:?}\n{}",
            server.server_log()
        );
        for p in present.iter().filter(|p| p.ends_with('a')) {
            let twin = format!("{}b", &p[..p.len() - 1]);
            assert!(
                present.contains(&twin),
                "round {round}: half a multi: {p} without {twin}"
            );
        }
    }
    assert!(
        acked.lock().unwrap().len() > 20,
        "the writers got too little through to mean anything"
    );
    let snapshots = std::fs::read_dir(dir.path().join("data/version-2"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with("snapshot.")
        })
        .count();
    assert!(
        snapshots > 1,
        "snapCount=200 should have made snapshots beyond snapshot.0"
    );
}

fn log_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("data/version-2"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log."))
        .collect();
    v.sort();
    v
}

#[test]
fn torn_tail_is_cut_and_corruption_stops_the_server() {
    let rt = runtime(2);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let port = free_port();
    let mut server = ZooidProcess::start_in(dir.clone(), port, "preAllocSize=64");
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        for i in 0..50 {
            c.create(&format!("/n{i}"), &[7u8; 100], OPEN)
                .await
                .unwrap();
        }
    });
    server.kill();
    // A crash in the middle of a write: half a record after the last good one.
    let log = log_files(dir.path()).pop().expect("a log file");
    let good_len = {
        let bytes = std::fs::read(&log).unwrap();
        // The data ends where the zero padding starts.
        bytes.iter().rposition(|b| *b != 0).map(|i| i + 1).unwrap()
    };
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
        f.seek(SeekFrom::Start(good_len as u64)).unwrap();
        f.write_all(&[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0x40, 1, 2, 3])
            .unwrap();
    }
    let mut server = ZooidProcess::start_in(dir.clone(), port, "preAllocSize=64");
    assert!(
        server.server_log().contains("torn tail"),
        "{}",
        server.server_log()
    );
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        assert_eq!(c.list_children("/").await.unwrap().len(), 51);
    });
    server.kill();
    // A flipped bit in the middle of the log, with good records after it.
    {
        let mut bytes = std::fs::read(&log).unwrap();
        let mid = 16 + (good_len - 16) / 2;
        bytes[mid] ^= 0x10;
        std::fs::write(&log, bytes).unwrap();
    }
    let mut broken = ZooidProcess::spawn(dir.clone(), port, "preAllocSize=64");
    let status = broken
        .wait_exit(20)
        .expect("a server on a corrupt log exits");
    assert!(!status.success());
    let text = broken.server_log();
    let name = log.file_name().unwrap().to_str().unwrap();
    assert!(
        text.contains(name) && text.contains("corrupt at offset"),
        "{text}"
    );
    drop(broken);
    // The documented repair cuts the log at the damage; the server then starts with
    // everything before it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zooid"))
        .args(["log", "repair"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cut "));
    let server = ZooidProcess::start_in(dir.clone(), port, "preAllocSize=64");
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        let n = c.list_children("/").await.unwrap().len();
        assert!((2..51).contains(&n), "kept {n} nodes");
    });
}

#[test]
fn log_and_snapshot_dumps() {
    let rt = runtime(2);
    let mut server = ZooidProcess::start("");
    rt.block_on(async {
        connect(&server.addr())
            .await
            .create("/dumped", b"hello", OPEN)
            .await
            .unwrap();
    });
    server.kill();
    let run = |args: &[&str], file: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zooid"))
            .args(args)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let log = log_files(server.dir.path()).pop().unwrap();
    assert!(run(&["log", "dump"], &log).contains("/dumped"));
    let json = run(&["log", "dump", "--json"], &log);
    assert!(json.contains("/dumped"), "{json}");
    let snap = server.dir.path().join("data/version-2/snapshot.0");
    assert!(run(&["snapshot", "dump"], &snap).contains("/zookeeper"));
}

/// The txns a server logs carry the tree digest after them (`TxnDigest`), as ZooKeeper's
/// do: replaying the log from the empty tree reaches each one; with `digest.enabled=false`
/// they carry none.
#[test]
fn logged_txns_carry_the_tree_digest_unless_digests_are_off() {
    let rt = runtime(2);
    for (cfg, digests) in [("", true), ("digest.enabled=false", false)] {
        let mut server = ZooidProcess::start(cfg);
        rt.block_on(async {
            let c = connect(&server.addr()).await;
            c.create("/app", b"config", OPEN).await.unwrap();
            c.create("/app/seq-", b"1", SEQ).await.unwrap();
            c.set_data("/app", b"config-v2", None).await.unwrap();
            let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
            c.create("/app/e", b"", &eph).await.unwrap();
            let mut w = c.new_multi_writer();
            w.add_create("/m1", b"a", OPEN).unwrap();
            w.add_delete("/app/seq-0000000000", None).unwrap();
            w.commit().await.unwrap();
            let mut w = c.new_multi_writer();
            w.add_create("/m2", b"", OPEN).unwrap();
            w.add_check_version("/app", 7).unwrap();
            w.commit().await.unwrap_err();
            c.delete("/m1", None).await.unwrap();
        });
        server.kill();
        let dir = server.dir.path().join("data/version-2");
        let mut tree = zooid_tree::DataTree::new(false);
        let mut n = 0;
        for entry in zooid_storage::read_from(&dir, 0).unwrap() {
            let entry = entry.unwrap();
            tree.apply_replay(&entry.txn);
            let zxid = entry.txn.zxid();
            match (&entry.digest, digests) {
                (Some(d), true) => {
                    assert_eq!(d.version, 2, "{zxid:#x}");
                    assert_eq!(d.tree_digest, tree.digest(), "{zxid:#x}");
                }
                (None, false) => {}
                (d, _) => panic!("{cfg:?}: txn {zxid:#x} logged with digest {d:?}"),
            }
            n += 1;
        }
        assert!(n >= 8, "{cfg:?}: {n} txns");
    }
}
