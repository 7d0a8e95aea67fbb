//! `zooid bench` end to end: every workload runs briefly with `--json` against a real
//! `zooid server` (and get/create against Apache ZooKeeper); the JSON must be well formed,
//! its counts must add up, and the server's tree must show the work the counts claim.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ZooidProcess;
use serde_json::Value;

/// Keys the bench creates under its root for get/exists/set/mixed/multi/watch.
const KEYS: u64 = 1000;

/// Runs `zooid bench --json` for one second with 4 sessions (unless `args` says otherwise)
/// and returns its JSON, within 90 s.
fn bench(addr: &str, args: &[&str]) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zooid"));
    cmd.args(["bench", "--server", addr, "--json"]).args(args);
    if !args.contains(&"--seconds") {
        cmd.args(["--seconds", "1"]);
    }
    if !args.contains(&"--sessions") {
        cmd.args(["--sessions", "4"]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zooid bench");
    let status = wait_bounded(&mut child, Duration::from_secs(90), "zooid bench");
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "zooid bench {args:?} failed: {err}");
    assert_eq!(out.lines().count(), 1, "one JSON line: {out}");
    let v: Value = serde_json::from_str(out.trim()).expect("bench JSON");
    check_counts(&v);
    v
}

fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The fields every run reports, and the arithmetic between them.
fn check_counts(v: &Value) {
    let ops = v["ops"].as_u64().expect("ops");
    let secs = v["seconds"].as_f64().expect("seconds");
    let rate = v["ops_per_sec"].as_f64().expect("ops_per_sec");
    assert!(ops > 0, "{v}");
    assert_eq!(v["errors"].as_u64(), Some(0), "{v}");
    assert!(secs > 0.0, "{v}");
    assert!((ops as f64 / secs - rate).abs() <= 1e-6 * rate, "{v}");
    for k in ["workload", "sessions", "inflight", "rate", "writes", "root"] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
    let lat = &v["latency_ms"];
    let p: Vec<f64> = ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|k| {
            lat[k]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} missing: {v}"))
        })
        .collect();
    assert!(p[0] > 0.0, "{v}");
    assert!(
        p.windows(2).all(|w| w[0] <= w[1]),
        "percentiles in order: {v}"
    );
}

fn num(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"))
}

/// Reads the tree through a `zookeeper-client` session.
struct Tree {
    rt: tokio::runtime::Runtime,
    zk: zookeeper_client::Client,
}

impl Tree {
    fn new(addr: &str) -> Tree {
        let rt = common::runtime(1);
        let zk = rt.block_on(common::connect(addr));
        Tree { rt, zk }
    }

    fn children(&self, path: &str) -> u64 {
        let (_, stat) = self.rt.block_on(self.zk.get_data(path)).expect(path);
        stat.num_children as u64
    }

    /// Sum of the data versions of `{root}/k0..k999`: the setData count they received.
    fn versions(&self, root: &str) -> u64 {
        self.rt.block_on(async {
            let mut sum = 0;
            for k in 0..KEYS {
                let (_, stat) = self.zk.get_data(&format!("{root}/k{k}")).await.unwrap();
                sum += stat.version as u64;
            }
            sum
        })
    }

    fn exists(&self, path: &str) -> bool {
        self.rt
            .block_on(self.zk.check_stat(path))
            .expect("exists")
            .is_some()
    }
}

#[test]
fn read_workloads_answer_and_clean_up() {
    let server = ZooidProcess::start("");
    let tree = Tree::new(&server.addr());
    for (w, extra) in [
        ("get", &[][..]),
        ("exists", &[]),
        ("children", &["--children", "50"]),
    ] {
        let mut args = vec!["--workload", w];
        args.extend_from_slice(extra);
        let v = bench(&server.addr(), &args);
        assert_eq!(v["workload"], w);
        assert_eq!(num(&v, "sessions"), 4);
        assert_eq!(num(&v, "writes"), 0, "{v}");
        assert!(v["rate"].is_null());
        let root = v["root"].as_str().unwrap();
        assert!(!tree.exists(root), "{w}: {root} left behind");
    }
}

#[test]
fn write_workloads_leave_what_they_count() {
    let server = ZooidProcess::start("");
    let tree = Tree::new(&server.addr());
    let keep = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--keep");
        bench(&server.addr(), &a)
    };

    let v = keep(&["--workload", "set"]);
    let root = v["root"].as_str().unwrap();
    assert_eq!(num(&v, "writes"), num(&v, "ops"));
    assert_eq!(tree.versions(root), num(&v, "ops"), "{v}");
    assert_eq!(tree.children(root), KEYS);

    for w in ["create", "create-sequential"] {
        let v = keep(&["--workload", w]);
        assert_eq!(v["workload"], w);
        let root = v["root"].as_str().unwrap();
        assert_eq!(tree.children(root), KEYS + num(&v, "ops"), "{v}");
    }

    let v = keep(&["--workload", "mixed", "--read-ratio", "0.5"]);
    let (ops, writes) = (num(&v, "ops"), num(&v, "writes"));
    let share = writes as f64 / ops as f64;
    assert!((0.4..0.6).contains(&share), "write share {share}: {v}");
    assert_eq!(tree.versions(v["root"].as_str().unwrap()), writes, "{v}");

    let v = keep(&["--workload", "mixed", "--read-ratio", "1"]);
    assert_eq!(num(&v, "writes"), 0, "{v}");

    // Four ops per multi: two setData and two creates.
    let v = keep(&["--workload", "multi", "--ops-per-multi", "4"]);
    let root = v["root"].as_str().unwrap();
    let ops = num(&v, "ops");
    assert_eq!(tree.children(root), KEYS + 2 * ops, "{v}");
    assert_eq!(tree.versions(root), 2 * ops, "{v}");
}

#[test]
fn populate_creates_count_znodes() {
    let server = ZooidProcess::start("");
    let v = bench(
        &server.addr(),
        &["--workload", "populate", "--count", "500"],
    );
    assert_eq!(num(&v, "ops"), 500);
    assert_eq!(num(&v, "writes"), 500);
    let tree = Tree::new(&server.addr());
    assert_eq!(tree.children("/zooid-populate"), 500);
    assert!(tree.exists("/zooid-populate/n000000499"));
}

#[test]
fn open_loop_sends_on_schedule() {
    let server = ZooidProcess::start("");
    let v = bench(&server.addr(), &["--workload", "get", "--rate", "500"]);
    // One second at 500/s is exactly 500 scheduled requests, however fast the replies.
    assert_eq!(num(&v, "ops"), 500, "{v}");
    assert_eq!(v["rate"].as_f64(), Some(500.0));

    let v = bench(
        &server.addr(),
        &["--workload", "set", "--rate", "300", "--keep"],
    );
    assert_eq!(num(&v, "ops"), 300, "{v}");
    let tree = Tree::new(&server.addr());
    assert_eq!(tree.versions(v["root"].as_str().unwrap()), 300);
}

#[test]
fn watch_fan_out_notifies_every_watcher_of_every_write() {
    let server = ZooidProcess::start("");
    let v = bench(
        &server.addr(),
        &["--workload", "watch", "--watchers", "5", "--keep"],
    );
    let writes = num(&v, "writes");
    assert!(writes > 0, "{v}");
    assert_eq!(num(&v, "ops"), 5 * writes, "{v}");
    assert_eq!(num(&v, "watchers"), 5);
    assert_eq!(num(&v, "sessions"), 6);
    let tree = Tree::new(&server.addr());
    let root = v["root"].as_str().unwrap();
    let (_, stat) = tree
        .rt
        .block_on(tree.zk.get_data(&format!("{root}/k0")))
        .unwrap();
    assert_eq!(stat.version as u64, writes);
}

/// Apache ZooKeeper (Debian's package) on a free port, stopped by PID on drop.
struct ZooKeeperProcess {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ZooKeeperProcess {
    fn start() -> ZooKeeperProcess {
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=*\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("zk.log")).unwrap();
        let cp = "/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:\
                  /usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar";
        let child = Command::new("java")
            .args(["-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("java must be installed (scripts/test-deps.sh) to run Apache ZooKeeper");
        let mut zk = ZooKeeperProcess {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while common::four_letter(port, "ruok").as_deref() != Some("imok") {
            if let Some(st) = zk.child.try_wait().unwrap() {
                panic!("ZooKeeper exited ({st}): {}", zk.log());
            }
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not serve within 60 s: {}",
                zk.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        zk
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("zk.log")).unwrap_or_default()
    }
}

impl Drop for ZooKeeperProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn runs_against_apache_zookeeper() {
    let zk = ZooKeeperProcess::start();
    let addr = format!("127.0.0.1:{}", zk.port);
    let tree = Tree::new(&addr);

    let v = bench(&addr, &["--workload", "get"]);
    assert_eq!(v["workload"], "get");
    assert!(!tree.exists(v["root"].as_str().unwrap()));

    let v = bench(&addr, &["--workload", "create", "--keep"]);
    let root = v["root"].as_str().unwrap();
    assert_eq!(tree.children(root), KEYS + num(&v, "ops"), "{v}");
}
