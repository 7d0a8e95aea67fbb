//! A full disk under a real `zooid` process: the data directory sits on a small tmpfs
//! (or, where mounting a tmpfs is refused, a loop-mounted ext4 image). Writes that the
//! log cannot take fail with SystemError (-1) and nothing else breaks: reads go on,
//! every acknowledged write stays readable, failed writes never show up, writes resume
//! once space is freed, and a SIGKILL + restart finds exactly the acknowledged writes.
//! Pipelined writers on a disk that gives back a little space now and then make failed
//! batches alternate with good ones: the log must not take the txns the core sent
//! before it heard of a failure (they were failed, and their zxids are given again).
//!
//! Needs root (mount); it fails, never skips, when no small filesystem can be mounted.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{connect, four_letter, free_port, runtime, ZooidProcess};
use zookeeper_client as zk;

const OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

/// Size of the small filesystem, of the filler file placed on it before the server
/// starts (deleted to free space), and of each znode's data. The filler is larger than
/// the tree can grow before the disk is full, so that once it is gone a snapshot of the
/// whole tree fits beside the writes that follow.
const FS_SIZE_MIB: u64 = 8;
const FILLER_BYTES: usize = 4 * 1024 * 1024;
const PAYLOAD: usize = 1024;
const CRUMBS: usize = 60;
const CRUMB_BYTES: usize = 8192;
/// Small preallocation, and snapshots while the disk fills (some fail for want of
/// space: that must not disturb the log).
const CFG: &str = "preAllocSize=16\nsnapCount=1000";

/// Unmounts the small filesystem when dropped (after the server, declared later, is
/// gone).
struct Mounted {
    path: PathBuf,
    how: String,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        for args in [vec!["umount"], vec!["umount", "-l"]] {
            let ok = Command::new(args[0])
                .args(&args[1..])
                .arg(&self.path)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("could not unmount {}", self.path.display());
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Mounts a FS_SIZE_MIB filesystem at `at`: a tmpfs, else a loop-mounted ext4 image
/// kept in `scratch`. Panics (the test fails) when neither can be mounted.
fn mount_small(at: &Path, scratch: &Path) -> Mounted {
    let size = format!("size={FS_SIZE_MIB}m");
    let tmpfs = run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", &size, "tmpfs"])
        .arg(at));
    let tmpfs_err = match tmpfs {
        Ok(()) => {
            return Mounted {
                path: at.to_owned(),
                how: format!("tmpfs {size}"),
            }
        }
        Err(e) => e,
    };
    let image = scratch.join("small.ext4");
    let ext4 = run(Command::new("truncate")
        .args(["-s", &format!("{FS_SIZE_MIB}M")])
        .arg(&image))
    .and_then(|()| {
        run(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&image))
    })
    .and_then(|()| {
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(at))
    });
    match ext4 {
        Ok(()) => Mounted {
            path: at.to_owned(),
            how: format!("ext4 image of {FS_SIZE_MIB} MiB on a loop device"),
        },
        Err(ext4_err) => panic!(
            "this test needs a small filesystem to fill and could mount none (it runs as \
             root with mount(8), tmpfs or loop devices and e2fsprogs):\n  tmpfs: \
             {tmpfs_err}\n  ext4 image: {ext4_err}"
        ),
    }
}

/// The data of znode `name`: recognisable; PAYLOAD bytes, or for the names of the
/// hammering writers ("h...") anything from 0 to 2 KiB, so that some fit into the
/// little space a failed write gives back.
fn payload(name: &str) -> Vec<u8> {
    let len = if name.starts_with('h') {
        name.bytes()
            .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % 2048
    } else {
        PAYLOAD
    };
    name.bytes().cycle().take(len).collect()
}

type Acked = Arc<Mutex<BTreeSet<String>>>;

/// Creates /fill/<writer>-<i> until a write fails (or `max` writes); returns the
/// error. Acknowledged names go into `acked`.
async fn write_until_error(
    c: zk::Client,
    writer: String,
    max: u32,
    acked: Acked,
) -> Option<zk::Error> {
    for i in 0..max {
        let name = format!("{writer}-{i}");
        match c
            .create(&format!("/fill/{name}"), &payload(&name), OPEN)
            .await
        {
            Ok(_) => {
                acked.lock().unwrap().insert(name);
            }
            Err(e) => return Some(e),
        }
    }
    None
}

/// Creates /fill/<writer>-<i> for `dur`, 16 at a time, going on after failed writes;
/// returns how many failed with SystemError. Any other error fails the test.
async fn hammer(c: zk::Client, writer: String, dur: Duration, acked: Acked) -> usize {
    let end = tokio::time::Instant::now() + dur;
    let mut failed = 0;
    let mut i = 0u32;
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.len() < 16 && tokio::time::Instant::now() < end {
            let name = format!("{writer}-{i}");
            i += 1;
            let (c, acked) = (c.clone(), acked.clone());
            in_flight.spawn(async move {
                match c
                    .create(&format!("/fill/{name}"), &payload(&name), OPEN)
                    .await
                {
                    Ok(_) => {
                        acked.lock().unwrap().insert(name);
                        false
                    }
                    Err(zk::Error::UnexpectedErrorCode(-1)) => true,
                    Err(e) => panic!("{name}: a write on a full disk failed with {e:?}"),
                }
            });
        }
        match in_flight.join_next().await {
            Some(r) => failed += usize::from(r.unwrap()),
            None => return failed,
        }
    }
}

/// Every acknowledged znode is there with its data, and nothing else is under /fill.
async fn check_tree(
    c: &zk::Client,
    acked: &BTreeSet<String>,
    when: &str,
    log: &dyn Fn() -> String,
) {
    let present: BTreeSet<String> = c
        .list_children("/fill")
        .await
        .unwrap_or_else(|e| panic!("{when}: list /fill: {e}\n{}", log()))
        .into_iter()
        .collect();
    let lost: Vec<&String> = acked.difference(&present).collect();
    assert!(
        lost.is_empty(),
        "{when}: {} acknowledged writes are missing: {:?}\n{}",
        lost.len(),
        &lost[..lost.len().min(20)],
        log()
    );
    let extra: Vec<&String> = present.difference(acked).collect();
    assert!(
        extra.is_empty(),
        "{when}: writes that failed (or were never made) are present: {:?}\n{}",
        &extra[..extra.len().min(20)],
        log()
    );
    for name in acked {
        let (data, _) = c
            .get_data(&format!("/fill/{name}"))
            .await
            .unwrap_or_else(|e| panic!("{when}: read /fill/{name}: {e}\n{}", log()));
        assert!(data == payload(name), "{when}: /fill/{name} has other data");
    }
}

fn fs_free_bytes(path: &Path) -> String {
    Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .last()
                .unwrap_or("?")
                .to_owned()
        })
        .unwrap_or_else(|_| "?".into())
}

#[test]
fn a_full_disk_fails_writes_keeps_reads_and_recovers() {
    let rt = runtime(4);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mount = mount_small(&data, dir.path());
    eprintln!("data dir on {}", mount.how);
    let filler = data.join("filler");
    std::fs::write(&filler, vec![0x5au8; FILLER_BYTES]).unwrap();
    // Crumbs: small files deleted one by one while the disk is full, each giving back a
    // little space at an instant the log does not choose.
    let crumbs: Vec<PathBuf> = (0..CRUMBS)
        .map(|i| {
            let p = data.join(format!("crumb-{i}"));
            std::fs::write(&p, vec![0xa5u8; CRUMB_BYTES]).unwrap();
            p
        })
        .collect();

    let port = free_port();
    let mut server = ZooidProcess::start_in(dir.clone(), port, CFG);
    let addr = server.addr();
    let log = {
        let dir = dir.clone();
        move || {
            let text = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!(
                "server log (last 40 lines):\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            )
        }
    };
    let acked: Acked = Arc::default();

    // 1. Fill the disk with four concurrent writers; each stops at its first error.
    let (clients, errors) = rt.block_on(async {
        let c = connect(&addr).await;
        c.create("/fill", b"", OPEN).await.unwrap();
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(connect(&addr).await);
        }
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(w, c)| {
                tokio::spawn(write_until_error(
                    c.clone(),
                    format!("a{w}"),
                    20_000,
                    acked.clone(),
                ))
            })
            .collect();
        let mut errors = Vec::new();
        for h in handles {
            let r = tokio::time::timeout(Duration::from_secs(40), h)
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "the writers neither filled the disk nor stopped within 40 s\n{}",
                        log()
                    )
                })
                .unwrap();
            errors.push(r);
        }
        clients.push(c);
        (clients, errors)
    });
    let before = acked.lock().unwrap().clone();
    eprintln!(
        "{} writes acknowledged before the disk filled ({} bytes free); the writers stopped on: {errors:?}",
        before.len(),
        fs_free_bytes(&data)
    );
    assert!(
        before.len() > 500,
        "too few writes before the disk filled: {}\n{}",
        before.len(),
        log()
    );
    for e in &errors {
        match e {
            Some(zk::Error::UnexpectedErrorCode(-1)) => {}
            other => panic!(
                "a write on a full disk must fail with SystemError (-1), got {other:?}\n{}",
                log()
            ),
        }
    }
    assert!(
        log().contains("txn log write failed"),
        "the server did not log the failed write\n{}",
        log()
    );

    // 2. The disk is still full: a failed snapshot or a cut log tail may give back a
    // little space, but writing on soon fails again with SystemError. The server keeps
    // serving reads, and every acknowledged write is readable.
    rt.block_on(async {
        let c = &clients[4];
        let mut went_through = 0;
        let mut failed = false;
        for i in 0..2000 {
            let name = format!("b-{i}");
            match c
                .create(&format!("/fill/{name}"), &payload(&name), OPEN)
                .await
            {
                Ok(_) => {
                    acked.lock().unwrap().insert(name);
                    went_through += 1;
                }
                Err(zk::Error::UnexpectedErrorCode(-1)) => {
                    failed = true;
                    break;
                }
                Err(e) => panic!("write on a full disk: {e:?}\n{}", log()),
            }
        }
        eprintln!("still full: {went_through} more writes went through before one failed");
        assert!(
            failed,
            "2000 more writes went through on a full disk?\n{}",
            log()
        );
        assert_eq!(four_letter(port, "ruok").as_deref(), Some("imok"));
        let now = acked.lock().unwrap().clone();
        check_tree(c, &now, "full disk", &log).await;
        // Reads on every session, and one that queues behind a failing write.
        for c in &clients {
            c.get_data("/fill").await.unwrap();
        }
        let (a, b) = tokio::join!(
            c.create("/fill/queued", &payload("queued"), OPEN),
            c.list_children("/fill")
        );
        assert!(b.is_ok(), "a read behind a failed write: {b:?}");
        match a {
            Ok(_) => {
                acked.lock().unwrap().insert("queued".into());
            }
            Err(zk::Error::UnexpectedErrorCode(-1)) => {}
            Err(e) => panic!("write on a full disk: {e:?}\n{}", log()),
        }
    });

    // 3. Writers that go on after their failures, 16 writes in flight each, while the
    // disk stays (nearly) full and the crumbs are deleted one every 25 ms: failed
    // batches alternate with good ones, and writes sent before the core heard of a
    // failure queue behind it. Each failed batch is cut from the log.
    let failures: usize = rt.block_on(async {
        let handles: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(w, c)| {
                tokio::spawn(hammer(
                    c.clone(),
                    format!("h{w}"),
                    Duration::from_millis(25 * CRUMBS as u64 + 100),
                    acked.clone(),
                ))
            })
            .collect();
        for crumb in &crumbs {
            tokio::time::sleep(Duration::from_millis(25)).await;
            std::fs::remove_file(crumb).unwrap();
        }
        let mut n = 0;
        for h in handles {
            n += h.await.unwrap_or_else(|e| panic!("{e}\n{}", log()));
        }
        n
    });
    eprintln!(
        "hammering a full disk: {failures} writes failed, {} acknowledged in all",
        acked.lock().unwrap().len()
    );
    assert!(
        failures > 0,
        "the hammering writers never hit the full disk"
    );
    rt.block_on(async {
        let now = acked.lock().unwrap().clone();
        check_tree(&clients[0], &now, "after hammering the full disk", &log).await;
    });

    // 4. Free space: writes succeed again, on old sessions and new ones.
    std::fs::remove_file(&filler).unwrap();
    eprintln!("filler removed: {} bytes free", fs_free_bytes(&data));
    rt.block_on(async {
        for (w, c) in clients.iter().enumerate() {
            for i in 0..50 {
                let name = format!("c{w}-{i}");
                c.create(&format!("/fill/{name}"), &payload(&name), OPEN)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("write /fill/{name} after space was freed: {e:?}\n{}", log())
                    });
                acked.lock().unwrap().insert(name);
            }
        }
        let fresh = connect(&addr).await;
        fresh
            .create("/fill/fresh", &payload("fresh"), OPEN)
            .await
            .unwrap();
        acked.lock().unwrap().insert("fresh".into());
        let acked = acked.lock().unwrap().clone();
        check_tree(&fresh, &acked, "after space was freed", &log).await;
    });
    drop(clients);

    // 5. SIGKILL and restart on the same directory: every acknowledged write is there.
    server.kill();
    let server = ZooidProcess::start_in(dir.clone(), port, CFG);
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        let acked = acked.lock().unwrap().clone();
        check_tree(&c, &acked, "after SIGKILL and restart", &log).await;
        c.create("/after-restart", b"", OPEN).await.unwrap();
    });
    let text = server.server_log();
    eprintln!(
        "server log: {} failed log writes, {} snapshots written, {} snapshots failed",
        text.matches("txn log write failed").count(),
        text.matches(" written in ").count(),
        text.matches("snapshot failed").count()
    );
    drop(server);
}
