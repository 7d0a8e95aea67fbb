//! Operating the `zooid` binary: graceful stop on SIGTERM/SIGINT, log formats and levels,
//! and `zooid ensemble` (a local ensemble as child processes, stopped on SIGINT).
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{connect, four_letter, free_port, runtime, ZooidProcess};
use zookeeper_client as zk;

const OPEN: &zk::CreateOptions<'static> =
    &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

const WRITES: usize = 20;

#[test]
fn sigterm_and_sigint_stop_the_server_cleanly_and_keep_its_writes() {
    let mut server = ZooidProcess::start("");
    let rt = runtime(1);
    rt.block_on(async {
        let c = connect(&server.addr()).await;
        for i in 0..WRITES {
            c.create(&format!("/ops-{i}"), format!("v{i}").as_bytes(), OPEN)
                .await
                .expect("create");
        }
    });
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(10)
        .expect("zooid exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        server.server_log().contains("shutting down"),
        "{}",
        server.server_log()
    );

    let (dir, port) = (server.dir.clone(), server.port);
    drop(server);
    let mut restarted = ZooidProcess::start_in(dir, port, "");
    rt.block_on(async {
        let c = connect(&restarted.addr()).await;
        for i in 0..WRITES {
            let (data, _) = c.get_data(&format!("/ops-{i}")).await.expect("get");
            assert_eq!(data, format!("v{i}").as_bytes());
        }
    });
    restarted.signal(libc::SIGINT);
    let status = restarted
        .wait_exit(10)
        .expect("zooid exits within 10 s of SIGINT");
    assert!(status.success(), "exit status after SIGINT: {status}");
}

/// Runs `zooid server` with `args` and `env` until it answers `ruok`, SIGTERMs it and
/// returns its stderr.
fn server_stderr(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=ruok\nadmin.enableServer=false\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zooid"));
    cmd.arg("server")
        .arg(&cfg)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("ZOOID_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = KillOnDrop(cmd.spawn().expect("spawn zooid"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while four_letter(port, "ruok").as_deref() != Some("imok") {
        assert!(
            Instant::now() < deadline,
            "no ruok within 20 s: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    common::signal_pid(child.0.id(), libc::SIGTERM);
    let status = wait_child(&mut child.0, Duration::from_secs(10)).expect("exit after SIGTERM");
    assert!(status.success(), "{status}");
    std::fs::read_to_string(&log_path).unwrap()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect()
}

fn message(line: &serde_json::Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

#[test]
fn log_format_json_writes_one_object_per_line_and_rust_log_sets_levels() {
    // Default level (info), JSON from the flag.
    let lines = json_lines(&server_stderr(&["--log-format", "json"], &[]));
    let serving = lines
        .iter()
        .find(|l| message(l).starts_with("zooid serving clients on 127.0.0.1:"))
        .expect("the serving line");
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["target"], "zooid");
    assert!(serving["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(lines.iter().any(|l| message(l) == "shutting down"));
    let server_info = |lines: &[serde_json::Value]| {
        lines.iter().any(|l| {
            l["level"] == "INFO"
                && l["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("zooid_server"))
        })
    };
    assert!(server_info(&lines), "zooid_server logs at info by default");

    // JSON from the environment; RUST_LOG silences zooid_server below warn.
    let env = [
        ("ZOOID_LOG_FORMAT", "json"),
        ("RUST_LOG", "zooid=info,zooid_server=warn"),
    ];
    let lines = json_lines(&server_stderr(&[], &env));
    assert!(lines
        .iter()
        .any(|l| message(l).starts_with("zooid serving clients")));
    assert!(
        !server_info(&lines),
        "RUST_LOG=zooid_server=warn: {lines:?}"
    );

    // Text stays the default.
    let text = server_stderr(&[], &[]);
    assert!(text.contains("zooid serving clients"), "{text}");
    assert!(serde_json::from_str::<serde_json::Value>(text.lines().next().unwrap()).is_err());

    let bad = Command::new(env!("CARGO_BIN_EXE_zooid"))
        .args(["log", "dump", "/nonexistent"])
        .env("ZOOID_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ZOOID_LOG_FORMAT"));
}

#[test]
fn ensemble_command_serves_a_quorum_and_stops_every_child_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ens");
    let mut ensemble = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_zooid"))
            .args([
                "ensemble",
                "--nodes",
                "3",
                "--free-ports",
                "--tick-time",
                "200",
            ])
            .arg("--dir")
            .arg(&root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn zooid ensemble"),
    );
    let _children = ChildrenOf(root.clone());
    let stdout = ensemble.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut printed = Vec::new();
    let connect_string = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => match line.strip_prefix("connect string: ") {
                Some(s) => break s.to_owned(),
                None => printed.push(line),
            },
            Err(e) => panic!(
                "no connect string within 60 s ({e}); printed {printed:?}; logs:\n{}",
                node_logs(&root)
            ),
        }
    };
    let addrs: Vec<&str> = connect_string.split(',').collect();
    assert_eq!(addrs.len(), 3, "{connect_string}");
    let modes: Vec<&str> = printed
        .iter()
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert_eq!(
        modes.iter().filter(|m| **m == "leader").count(),
        1,
        "{printed:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| **m == "follower").count(),
        2,
        "{printed:?}"
    );
    for id in 1..=3 {
        let myid = root.join(format!("node{id}/data/myid"));
        assert_eq!(
            std::fs::read_to_string(myid).unwrap().trim(),
            id.to_string()
        );
    }

    let rt = runtime(1);
    rt.block_on(async {
        let writer = connect(addrs[0]).await;
        writer
            .create("/ops-ensemble", b"replicated", OPEN)
            .await
            .expect("create through node 1");
        let reader = connect(addrs[1]).await;
        reader.sync("/ops-ensemble").await.expect("sync");
        let (data, _) = reader
            .get_data("/ops-ensemble")
            .await
            .expect("read through node 2");
        assert_eq!(data, b"replicated");
    });
    drop(rt);

    let marker = root.to_string_lossy().into_owned();
    let ensemble_pid = ensemble.0.id();
    let servers: Vec<u32> = processes_mentioning(&marker)
        .into_iter()
        .filter(|p| *p != ensemble_pid)
        .collect();
    assert_eq!(servers.len(), 3, "three servers run: {servers:?}");
    common::signal_pid(ensemble_pid, libc::SIGINT);
    let status = wait_child(&mut ensemble.0, Duration::from_secs(20))
        .expect("zooid ensemble exits within 20 s of SIGINT");
    assert!(status.success(), "{status}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "children left running: {:?}",
            processes_mentioning(&marker)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn node_logs(root: &Path) -> String {
    (1..=3)
        .map(|i| {
            std::fs::read_to_string(root.join(format!("node{i}/server.log"))).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\n-----\n")
}

/// PIDs of live processes whose command line contains `needle` (Linux /proc).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        // A zombie has an empty command line; it is no longer running.
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

fn wait_child(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// SIGKILLs the process on drop (a no-op once it has been reaped).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// On drop (a failed test), SIGKILLs by PID every server started under the directory.
struct ChildrenOf(std::path::PathBuf);

impl Drop for ChildrenOf {
    fn drop(&mut self) {
        for pid in processes_mentioning(&self.0.to_string_lossy()) {
            // SAFETY: kill(2) takes two integers and touches no memory of ours.
            let _ = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}
