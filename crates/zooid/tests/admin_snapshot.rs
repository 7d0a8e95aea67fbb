//! The admin `snapshot` and `restore` commands against the real binary: ZooKeeper 3.9's
//! auth rules (401 without or with bad credentials, 403 without ALL on `/`), the
//! streamed file and its headers, the rate limiter, the feature flags, and a restore
//! that replaces the state, closes the old connections, survives a crash, and refuses
//! a damaged snapshot without touching anything.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{free_port, handshake, raw, runtime, HttpReply, ZooidProcess};
use serde_json::Value;
use zookeeper_client::{
    Acl, Acls, AuthId, CreateMode, CreateOptions, Error as ZkError, Permission,
};

const OPEN: &CreateOptions<'static> = &CreateMode::Persistent.with_acls(Acls::anyone_all());

trait Json {
    fn json(&self) -> serde_json::Map<String, Value>;
    fn error(&self) -> Value;
}

impl Json for HttpReply {
    fn json(&self) -> serde_json::Map<String, Value> {
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(m)) => m,
            other => panic!(
                "not a JSON object ({other:?}): {}",
                String::from_utf8_lossy(&self.body)
            ),
        }
    }

    fn error(&self) -> Value {
        self.json()["error"].clone()
    }
}

fn http(port: u16, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> HttpReply {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    common::http(port, method, path, &auth, body).expect("the admin server answers")
}

fn server(extra: &str) -> (ZooidProcess, u16) {
    let admin = free_port();
    let zk = ZooidProcess::start(&format!(
        "admin.serverPort={admin}\nadmin.serverAddress=127.0.0.1\n{extra}"
    ));
    (zk, admin)
}

const SNAPSHOT: &str = "/commands/snapshot";
const RESTORE: &str = "/commands/restore";
/// `super:admin`'s digest, for `superDigest`.
const SUPER: &str = "super:xQJmxLMiHGwaqBvst5y6rkB6HQs=";

#[test]
fn snapshot_auth_follows_zookeeper() {
    let (zk, port) = server(&format!(
        "zookeeper.admin.rateLimiterIntervalInMS=0\nDigestAuthenticationProvider.superDigest={SUPER}\n"
    ));
    let rt = runtime(1);
    rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        // Open: any identity the providers accept passes.
        for auth in ["digest someone:pw", "ip"] {
            let r = http(
                port,
                "GET",
                "/commands/snap?streaming=false",
                Some(auth),
                b"",
            );
            assert_eq!((r.status, r.error()), (200, Value::Null), "{auth}");
            assert_eq!(r.json()["command"], "snapshot");
        }
        // Refused before any identity is looked at.
        for (auth, status, error) in [
            (None, 401, "Auth info is missing for the command"),
            (Some("digest"), 401, "Not authenticated"),
            (Some("world anyone"), 401, "Not authenticated"),
            (Some("x509"), 401, "Not authenticated"),
            (Some("digest a:b c"), 401, "Not authenticated"),
        ] {
            let r = http(port, "GET", SNAPSHOT, auth, b"");
            assert_eq!(
                (r.status, r.error()),
                (status, Value::from(error)),
                "{auth:?}"
            );
        }
        // Root restricted to one digest user: others are authenticated, not authorized.
        c.auth("digest", b"admin:pw").await.unwrap();
        let only_admin = [Acl::new(Permission::ALL, AuthId::new("auth", ""))];
        c.set_acl("/", &only_admin, None).await.unwrap();
        for (auth, status) in [
            ("digest someone:pw", 403),
            ("ip", 403),
            ("digest admin:pw", 200),
            ("digest super:admin", 200),
        ] {
            let r = http(
                port,
                "GET",
                "/commands/snapshot?streaming=false",
                Some(auth),
                b"",
            );
            assert_eq!(r.status, status, "{auth}");
            if status == 403 {
                assert_eq!(r.error(), "Not authorized");
            }
        }
        // Four of the five bits are not enough: each is checked.
        let no_admin =
            Permission::READ | Permission::WRITE | Permission::CREATE | Permission::DELETE;
        c.set_acl("/", &[Acl::new(no_admin, AuthId::new("auth", ""))], None)
            .await
            .unwrap();
        let r = http(port, "GET", SNAPSHOT, Some("digest admin:pw"), b"");
        assert_eq!((r.status, r.error()), (403, Value::from("Not authorized")));
    });
}

#[test]
fn snapshot_streams_the_file_it_wrote() {
    let (zk, port) = server("zookeeper.admin.rateLimiterIntervalInMS=600000000\n");
    let rt = runtime(1);
    rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        for i in 0..50 {
            c.create(&format!("/n{i}"), &[i as u8; 100], OPEN)
                .await
                .unwrap();
        }
    });
    let r = http(port, "GET", SNAPSHOT, Some("digest u:p"), b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let size: usize = r.header("snapshot_size").unwrap().parse().unwrap();
    assert_eq!(r.body.len(), size);
    assert_eq!(&r.body[..4], b"ZKSN");
    let zxid = r.header("last_zxid").unwrap();
    assert!(zxid.starts_with("0x"), "{zxid}");
    let file = zk
        .dir
        .path()
        .join("data/version-2")
        .join(format!("snapshot.{}", &zxid[2..]));
    assert_eq!(std::fs::read(&file).expect("the snapshot file"), r.body);

    // The limiter allows one snapshot per interval (600 s here), then 429.
    let r = http(port, "GET", SNAPSHOT, Some("digest u:p"), b"");
    assert_eq!(r.status, 429);
    let mntr = common::four_letter(zk.port, "mntr").unwrap();
    assert!(mntr.contains("zk_snapshot_rate_limited_count\t1"), "{mntr}");
}

#[test]
fn disabled_commands_answer_503_and_get_of_restore_fails() {
    let (_zk, port) =
        server("zookeeper.admin.snapshot.enabled=false\nzookeeper.admin.restore.enabled=false\n");
    assert_eq!(http(port, "GET", SNAPSHOT, Some("ip"), b"").status, 503);
    assert_eq!(http(port, "POST", RESTORE, Some("ip"), b"x").status, 503);
    let r = http(port, "GET", RESTORE, Some("ip"), b"");
    assert_eq!(r.status, 500);
    let r = http(port, "POST", RESTORE, None, b"x");
    assert_eq!(
        (r.status, r.error()),
        (401, Value::from("Auth info is missing for the command"))
    );
}

async fn data(c: &zookeeper_client::Client, path: &str) -> Option<Vec<u8>> {
    match c.get_data(path).await {
        Ok((d, _)) => Some(d),
        Err(ZkError::NoNode) => None,
        Err(e) => panic!("get {path}: {e}"),
    }
}

#[test]
fn restore_replaces_the_state_durably() {
    let (zk, port) = server("zookeeper.admin.rateLimiterIntervalInMS=0\n");
    let rt = runtime(1);
    let (snap, before) = rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        c.create("/a", b"1", OPEN).await.unwrap();
        c.create("/b", b"", OPEN).await.unwrap();
        for i in 0..2000 {
            c.create(&format!("/b/{i}"), &[7; 64], OPEN).await.unwrap();
        }
        let r = http(port, "GET", SNAPSHOT, Some("ip"), b"");
        assert_eq!(r.status, 200);
        c.set_data("/a", b"2", None).await.unwrap();
        let (stat, _) = c.create("/c", b"", OPEN).await.unwrap();
        (r.body, stat.czxid)
    });

    // A client of the old state: it is disconnected by the restore.
    let mut old = raw(&zk);
    handshake(&mut old);

    // Damage is refused and nothing changes.
    let mut bad = snap.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    for body in [&bad[..], &snap[..snap.len() - 10], b""] {
        let r = http(port, "POST", RESTORE, Some("ip"), body);
        assert_eq!(r.status, 500);
        let e = r.error();
        assert!(
            e.as_str()
                .is_some_and(|e| e.contains("not a valid snapshot")),
            "{e}"
        );
    }

    let mntr = common::four_letter(zk.port, "mntr").unwrap();
    assert!(mntr.contains("zk_restore_error_count\t3"), "{mntr}");

    let r = http(port, "POST", RESTORE, Some("ip"), &snap);
    assert_eq!((r.status, r.error()), (200, Value::Null));
    assert_eq!(r.json()["command"], "restore");
    let restored_at = r.json()["last_zxid"].as_i64().expect("last_zxid");
    old.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(common::closed(&mut old), "the old connection is closed");

    rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        assert_eq!(data(&c, "/a").await.as_deref(), Some(&b"1"[..]));
        assert_eq!(data(&c, "/c").await, None);
        assert_eq!(c.list_children("/b").await.unwrap().len(), 2000);
        // zxids go on from the restore, which is numbered after every zxid given out
        // before it (the session's createSession came first).
        assert!(restored_at > before, "{restored_at:#x} after {before:#x}");
        let (stat, _) = c.create("/d", b"after", OPEN).await.unwrap();
        assert_eq!(stat.czxid, restored_at + 2);
    });

    // What the restore put in place, and what came after it, survive a crash.
    let zk = zk.crash_and_restart();
    rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        assert_eq!(data(&c, "/a").await.as_deref(), Some(&b"1"[..]));
        assert_eq!(data(&c, "/c").await, None);
        assert_eq!(data(&c, "/d").await.as_deref(), Some(&b"after"[..]));
        assert_eq!(c.list_children("/b").await.unwrap().len(), 2000);
    });
}

#[test]
fn restore_under_write_load_leaves_a_consistent_log() {
    let (zk, port) = server("zookeeper.admin.rateLimiterIntervalInMS=0\n");
    let rt = runtime(2);
    let snap = rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        c.create("/w", b"", OPEN).await.unwrap();
        http(port, "GET", SNAPSHOT, Some("ip"), b"").body
    });
    // Writers pipeline creates until the restore cuts their connections.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (addr, stop) = (zk.addr(), stop.clone());
            rt.spawn(async move {
                let c = common::connect(&addr).await;
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let paths: Vec<String> = (0..16).map(|k| format!("/w/{w}-{i}-{k}")).collect();
                    let batch: Vec<_> = paths.iter().map(|p| c.create(p, b"x", OPEN)).collect();
                    for f in batch {
                        if f.await.is_err() {
                            return i;
                        }
                    }
                    i += 1;
                }
                i
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let r = http(port, "POST", RESTORE, Some("ip"), &snap);
    assert_eq!((r.status, r.error()), (200, Value::Null));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds: Vec<u64> = rt.block_on(async {
        let mut v = Vec::new();
        for w in writers {
            v.push(w.await.unwrap());
        }
        v
    });
    assert!(
        rounds.iter().any(|&n| n > 0),
        "the writers wrote: {rounds:?}"
    );
    let after = rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        let (stat, _) = c.create("/after", b"", OPEN).await.unwrap();
        let mut kids = c.list_children("/w").await.unwrap();
        kids.sort();
        (stat.czxid, kids)
    });
    let zk = zk.crash_and_restart();
    rt.block_on(async {
        let c = common::connect(&zk.addr()).await;
        let mut kids = c.list_children("/w").await.unwrap();
        kids.sort();
        assert_eq!(kids, after.1, "the children of /w after the restart");
        let (_, stat) = c.get_data("/after").await.unwrap();
        assert_eq!(stat.czxid, after.0);
    });
}
