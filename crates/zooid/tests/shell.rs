//! `zooid shell` against a real `zooid server`: each command in the one-shot form (stdout,
//! stderr and exit code as zkCli gives them), the interactive form through a pseudo-terminal
//! (typing, TAB completion, quit), and a few outputs compared with Debian's zkCli.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::ZooidProcess;

/// What one `zooid shell -server ADDR <words>` run printed.
struct Run {
    out: String,
    err: String,
    code: i32,
}

fn shell(z: &ZooidProcess, words: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_zooid"))
        .args(["shell", "-server", &z.addr()])
        .args(words)
        .output()
        .expect("run zooid shell");
    Run {
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

const BANNER_END: &str = "WatchedEvent state:SyncConnected type:None path:null zxid: -1\n";

/// stdout after zkCli's "Connecting to" line and the connected event.
fn body(r: &Run) -> &str {
    r.out
        .split_once(BANNER_END)
        .map(|(_, b)| b)
        .unwrap_or(&r.out)
}

#[track_caller]
fn ok(z: &ZooidProcess, words: &[&str]) -> String {
    let r = shell(z, words);
    assert_eq!(r.code, 0, "{words:?}: stdout {} stderr {}", r.out, r.err);
    assert!(
        r.out
            .starts_with(&format!("Connecting to {}\n\nWATCHER::\n\n", z.addr())),
        "{}",
        r.out
    );
    body(&r).to_owned() + &r.err
}

#[track_caller]
fn fails(z: &ZooidProcess, words: &[&str], code: i32, stderr_tail: &str) {
    let r = shell(z, words);
    assert_eq!(r.code, code, "{words:?}: stdout {} stderr {}", r.out, r.err);
    assert!(
        r.err.ends_with(stderr_tail),
        "{words:?}: stderr {:?}",
        r.err
    );
}

fn stat_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(" = "))
        .map(|l| l.split(" = ").next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn one_shot_commands_print_like_zkcli() {
    let z = ZooidProcess::start("");
    assert_eq!(ok(&z, &["create", "/a", "hello"]), "Created /a\n");
    fails(&z, &["create", "/a", "x"], 1, "Node already exists: /a\n");
    fails(
        &z,
        &["create", "a"],
        1,
        "Path must start with / character\n",
    );
    fails(
        &z,
        &["create", "/a/"],
        1,
        "Path must not end with / character\n",
    );
    fails(&z, &["create", "/x/y"], 1, "Node does not exist: /x/y\n");
    fails(
        &z,
        &["create", "-c", "-e", "/c"],
        1,
        "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.\n",
    );
    assert_eq!(
        ok(&z, &["create", "-s", "/a/q", "d"]),
        "Created /a/q0000000000\n"
    );
    assert_eq!(ok(&z, &["get", "/a"]), "hello\n");
    let got = ok(&z, &["get", "-s", "/a"]);
    assert!(got.starts_with("hello\ncZxid = 0x"), "{got}");
    assert_eq!(
        stat_lines(&got),
        [
            "cZxid",
            "ctime",
            "mZxid",
            "mtime",
            "pZxid",
            "cversion",
            "dataVersion",
            "aclVersion",
            "ephemeralOwner",
            "dataLength",
            "numChildren"
        ]
    );
    assert!(got.contains("\ndataLength = 5\nnumChildren = 1\n"), "{got}");
    fails(&z, &["get", "/nope"], 1, "Node does not exist: /nope\n");
    assert_eq!(ok(&z, &["set", "/a", "world"]), "");
    let set = ok(&z, &["set", "-s", "/a", "again"]);
    assert!(set.contains("\ndataVersion = 2\n"), "{set}");
    fails(
        &z,
        &["set", "-v", "7", "/a", "x"],
        1,
        "version No is not valid : /a\n",
    );
    fails(&z, &["set", "/a"], 1, "set [-s] [-v version] path data\n");
    let st = ok(&z, &["stat", "/a"]);
    assert!(
        st.starts_with("cZxid = 0x") && st.contains("\ndataVersion = 2\n"),
        "{st}"
    );
    fails(&z, &["stat", "/nope"], 1, "Node does not exist: /nope\n");
    assert_eq!(ok(&z, &["ls", "/"]), "[a, zookeeper]\n");
    assert!(ok(&z, &["ls", "-s", "/a"]).starts_with("[q0000000000]\ncZxid = 0x"));
    assert_eq!(ok(&z, &["ls", "-R", "/a"]), "/a\n/a/q0000000000\n");
    fails(
        &z,
        &["ls", "-x", "/"],
        1,
        "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x\n",
    );
    assert_eq!(ok(&z, &["getAcl", "/a"]), "'world,'anyone\n: cdrwa\n");
    assert_eq!(
        ok(&z, &["create", "/r", "d", "world:anyone:ra"]),
        "Created /r\n"
    );
    assert_eq!(ok(&z, &["getAcl", "/r"]), "'world,'anyone\n: ra\n");
    fails(&z, &["set", "/r", "x"], 1, "Insufficient permission : /r\n");
    fails(
        &z,
        &["setAcl", "/r", "world:anyone"],
        1,
        "world:anyone does not have the form scheme:id:perm\nAcl is not valid : /r\n",
    );
    assert_eq!(ok(&z, &["setAcl", "/r", "world:anyone:cdrwa"]), "");
    assert!(ok(&z, &["getAcl", "-s", "/r"]).contains("\naclVersion = 1\n"));
    assert_eq!(ok(&z, &["getAllChildrenNumber", "/a"]), "1\n");
    assert_eq!(ok(&z, &["sync", "/a"]), "Sync is OK\n");
    assert_eq!(ok(&z, &["getEphemerals"]), "[]\n");
    assert_eq!(ok(&z, &["whoami"]), "Auth scheme: User\nip: 127.0.0.1\n");
    assert_eq!(ok(&z, &["addauth", "digest", "u:p"]), "");
    assert_eq!(ok(&z, &["addWatch", "/a"]), "");
    fails(
        &z,
        &["removewatches", "/a"],
        1,
        "KeeperErrorCode = No such watcher for /a\n",
    );
    fails(&z, &["delete", "/a"], 1, "Node not empty: /a\n");
    fails(
        &z,
        &["delete", "-v", "9", "/r"],
        1,
        "version No is not valid : /r\n",
    );
    assert_eq!(ok(&z, &["delete", "/r"]), "");
    assert_eq!(ok(&z, &["deleteall", "/a"]), "");
    assert_eq!(ok(&z, &["ls", "/"]), "[zookeeper]\n");
    let r = shell(&z, &["frob"]);
    assert_eq!(r.code, 127);
    assert!(
        r.err.starts_with("ZooKeeper -server host:port"),
        "{}",
        r.err
    );
    assert!(r
        .err
        .contains("\n\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n"));
    assert!(
        r.err
            .ends_with("Command not found: Command not found frob\n"),
        "{}",
        r.err
    );
}

/// Drives the interactive shell through a pseudo-terminal.
#[test]
fn interactive_session_with_completion() {
    let z = ZooidProcess::start("");
    assert_eq!(ok(&z, &["create", "/zebra", "stripes"]), "Created /zebra\n");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zooid"));
    cmd.args(["shell", "-server", &z.addr()]);
    let mut p = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(20)));
    let prompt = |n: usize| format!("[zk: {}(CONNECTED) {n}] ", z.addr());
    p.expect("Welcome to ZooKeeper!").unwrap();
    p.expect(prompt(0).as_str()).unwrap();
    p.send_line("create -e /eph e").unwrap();
    p.expect("Created /eph").unwrap();
    p.expect(prompt(1).as_str()).unwrap();
    // TAB completes the znode name under the typed parent.
    p.send("get /zeb").unwrap();
    p.send("\t").unwrap();
    p.expect("/zebra").unwrap();
    p.send("\r").unwrap();
    p.expect("stripes").unwrap();
    p.expect(prompt(2).as_str()).unwrap();
    // TAB completes command names too.
    p.send("getEph\t").unwrap();
    p.expect("getEphemerals").unwrap();
    p.send("\r").unwrap();
    p.expect("[/eph]").unwrap();
    p.expect(prompt(3).as_str()).unwrap();
    p.send_line("get -w /zebra").unwrap();
    p.expect(prompt(4).as_str()).unwrap();
    p.send_line("set /zebra spots").unwrap();
    p.expect("WatchedEvent state:SyncConnected type:NodeDataChanged path:/zebra zxid: ")
        .unwrap();
    p.send_line("history").unwrap();
    p.expect("1 - get /zebra\r\n2 - getEphemerals").unwrap();
    p.send_line("stat /nope").unwrap();
    p.expect("Node does not exist: /nope").unwrap();
    p.send_line("printwatches").unwrap();
    p.expect("printwatches is on").unwrap();
    // close ends the session; commands then say so until connect opens a new one.
    p.send_line("close").unwrap();
    p.expect(format!("[zk: {}(CLOSED) 9] ", z.addr()).as_str())
        .unwrap();
    p.send_line("ls /").unwrap();
    p.expect("Not connected").unwrap();
    p.send_line(format!("connect {}", z.addr())).unwrap();
    p.expect(prompt(11).as_str()).unwrap();
    p.send_line("ls /").unwrap();
    p.expect("[zebra, zookeeper]").unwrap();
    p.send_line("stat /nope").unwrap();
    p.expect("Node does not exist: /nope").unwrap();
    p.send_line("quit").unwrap();
    let status = wait_exit(&mut p);
    // zkCli exits with the code of the last command before quit.
    assert_eq!(status, Some(1));
    assert_eq!(ok(&z, &["get", "/zebra"]), "spots\n");
}

#[test]
fn one_shot_without_a_server_fails() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let o = Command::new(env!("CARGO_BIN_EXE_zooid"))
        .args([
            "shell",
            "-timeout",
            "1000",
            "-server",
            &format!("127.0.0.1:{port}"),
            "ls",
            "/",
        ])
        .output()
        .expect("run zooid shell");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("KeeperErrorCode = ConnectionLoss"), "{err}");
}

fn wait_exit(p: &mut expectrl::Session) -> Option<i32> {
    use expectrl::WaitStatus;
    match p.get_process().wait() {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        other => panic!("shell did not exit: {other:?}"),
    }
}

/// Debian's zkCli 3.8 against the same server: the command outputs agree (its connection
/// event has no zxid, the one difference 3.9 brought, so only the lines after it compare).
/// Only commands that change nothing, or fail, are run: both shells must see one state.
#[test]
fn same_output_as_zkcli() {
    let z = ZooidProcess::start("");
    ok(&z, &["create", "/d", "data"]);
    ok(&z, &["create", "/d/child"]);
    for words in [
        &["ls", "/"][..],
        &["ls", "/d"],
        &["get", "/d"],
        &["getAcl", "/d"],
        &["get", "/missing"],
        &["create", "/d", "again"],
        &["ls", "-R", "/d"],
        &["getAllChildrenNumber", "/"],
        &["set", "/d"],
        &["stat", "/missing"],
        &["create", "nope"],
        &["get", "-s", "/d"],
        &["stat", "/d"],
        &["ls", "-s", "/d"],
        &["getAcl", "-s", "/d"],
        &["delete", "/d"],
        &["set", "-v", "9", "/d", "x"],
        &["ls", "-x", "/"],
        &["get", "/d", "watch"],
        &["sync", "/d"],
        &["whoami"],
        &["getEphemerals", "/"],
    ] {
        let ours = shell(&z, words);
        let theirs = zkcli(&z, words);
        let strip = |s: &str| -> String {
            s.lines()
                .filter(|l| {
                    !l.starts_with("[main")
                        && !l.starts_with("WatchedEvent")
                        && !l.starts_with("WATCHER::")
                        && !l.is_empty()
                })
                .map(|l| format!("{l}\n"))
                .collect()
        };
        assert_eq!(strip(&ours.out), strip(&theirs.out), "stdout of {words:?}");
        assert_eq!(strip(&ours.err), strip(&theirs.err), "stderr of {words:?}");
        assert_eq!(ours.code, theirs.code, "exit code of {words:?}");
    }
}

fn zkcli(z: &ZooidProcess, words: &[&str]) -> Run {
    let cp = [
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/zookeeper-jute.jar",
        "/usr/share/java/slf4j-api.jar",
        "/usr/share/java/slf4j-simple.jar",
    ]
    .join(":");
    let o = Command::new("java")
        .args([
            "-cp",
            &cp,
            "org.apache.zookeeper.ZooKeeperMain",
            "-server",
            &z.addr(),
        ])
        .args(words)
        .output()
        .expect("run zkCli (java is installed by scripts/test-deps.sh)");
    Run {
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}
