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
    // 3.9.5 lists set's options under its usage; 3.8 printed "set [-s] [-v version] path data".
    fails(
        &z,
        &["set", "/a"],
        1,
        "set path data [-s] [-v version] [-b]\n \
         -b         Supply data in base64 format\n \
         -s         Print znode stats additionally\n \
         -v <arg>   Set with an expected version\n\n",
    );
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
        // The Java client refuses an empty ACL list itself, with no path.
        "world:anyone does not have the form scheme:id:perm\nAcl is not valid : null\n",
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

/// A run of `zooid shell` with the given words, nothing added.
fn shell_raw(words: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_zooid"))
        .arg("shell")
        .args(words)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run zooid shell");
    Run {
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Without a server a command still runs and its requests fail with ConnectionLoss on
/// its path (zkCli queues them while connecting); commands needing no server succeed.
/// An interactive shell started before its server: CONNECTING until a command finds the
/// server up (addauth waits for the session), then watches from ls -R -w, quota commands,
/// close and connect with their events, and an uncaught exception ending the shell.
#[test]
fn interactive_connecting_close_and_uncaught_exception() {
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zooid"));
    cmd.args(["shell", "-timeout", "5000", "-server", &addr]);
    let mut p = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(20)));
    let prompt = |state: &str, n: usize| format!("[zk: {addr}({state}) {n}] ");
    p.expect(prompt("CONNECTING", 0).as_str()).unwrap();
    p.send_line("ls /").unwrap();
    p.expect("KeeperErrorCode = ConnectionLoss for /").unwrap();
    p.expect(prompt("CONNECTING", 1).as_str()).unwrap();
    p.send_line("addauth digest zoo:keeper").unwrap();
    p.expect(prompt("CONNECTING", 2).as_str()).unwrap();
    let _z = ZooidProcess::start_in(
        std::sync::Arc::new(tempfile::tempdir().expect("tempdir")),
        port,
        "",
    );
    p.send_line("whoami").unwrap();
    p.expect("WatchedEvent state:SyncConnected type:None path:null zxid: -1")
        .unwrap();
    p.expect("digest: zoo").unwrap();
    p.expect(prompt("CONNECTED", 3).as_str()).unwrap();
    p.send_line("create /w x").unwrap();
    p.expect(prompt("CONNECTED", 4).as_str()).unwrap();
    p.send_line("ls -R -w /w").unwrap();
    p.expect(prompt("CONNECTED", 5).as_str()).unwrap();
    p.send_line("create /w/c").unwrap();
    p.expect("WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/w zxid: ")
        .unwrap();
    p.send_line("setquota -n 2 /w").unwrap();
    p.expect(prompt("CONNECTED", 7).as_str()).unwrap();
    p.send_line("listquota /w").unwrap();
    p.expect("Output quota for /w count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1")
        .unwrap();
    p.expect("Output stat for /w count=2,bytes=1").unwrap();
    p.send_line("close").unwrap();
    p.expect("WatchedEvent state:Closed type:None path:null zxid: -1")
        .unwrap();
    p.expect(prompt("CLOSED", 9).as_str()).unwrap();
    p.send_line("connect").unwrap();
    p.expect(prompt("CONNECTED", 10).as_str()).unwrap();
    p.send_line("version").unwrap();
    p.expect("ZooKeeper CLI version: 3.9.5-zooid-").unwrap();
    // Integer.decode's NumberFormatException escapes zkCli and ends the JVM.
    p.send_line("redo zz").unwrap();
    p.expect(
        "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"zz\"",
    )
    .unwrap();
    assert_eq!(wait_exit(&mut p), Some(1));
}

#[test]
fn one_shot_without_a_server_fails() {
    let server = format!("127.0.0.1:{}", dead_port());
    let run = |words: &[&str]| {
        let mut all = vec!["-timeout", "1000", "-server", &server];
        all.extend_from_slice(words);
        shell_raw(&all)
    };
    let r = run(&["ls", "/"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(r.out, format!("Connecting to {server}\n"));
    assert_eq!(r.err, "KeeperErrorCode = ConnectionLoss for /\n");
    let r = run(&["setquota", "-n", "1", "/a"]);
    assert_eq!(
        (r.code, r.err.as_str()),
        (1, "KeeperErrorCode = ConnectionLoss for /a\n")
    );
    let r = run(&["sync", "/a"]);
    assert_eq!(
        (r.code, r.out.lines().last()),
        (0, Some("Sync has failed. rc=-4"))
    );
    // The Java client's whoAmI ignores the failed request.
    let r = run(&["whoami"]);
    assert_eq!(
        (r.code, r.out.lines().last()),
        (0, Some("Auth scheme: User"))
    );
    let r = run(&["version"]);
    assert_eq!(r.code, 0, "{}", r.err);
    // close reports the Closed state of the client it closes.
    let r = run(&["close"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .ends_with("WatchedEvent state:Closed type:None path:null zxid: -1\n"),
        "{}",
        r.out
    );
}

/// zkCli's command-line options: what each does wrong prints as zkCli's does, with its
/// exit code.
#[test]
fn startup_options_like_zkcli() {
    let z = ZooidProcess::start("");
    let dead = format!("127.0.0.1:{}", dead_port());
    // -timeout is parsed when connecting: Java's NumberFormatException ends the JVM.
    let r = shell_raw(&["-timeout", "abc", "-server", &z.addr(), "ls", "/"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.out, format!("Connecting to {}\n", z.addr()));
    assert_eq!(
        r.err,
        "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"abc\"\n"
    );
    // -waitforconnection: no session within the timeout is fatal, after the Closed event.
    let r = shell_raw(&[
        "-timeout",
        "1000",
        "-waitforconnection",
        "-server",
        &dead,
        "ls",
        "/",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.out
            .ends_with("WatchedEvent state:Closed type:None path:null zxid: -1\n"),
        "{}",
        r.out
    );
    assert_eq!(
        r.err,
        "Exception in thread \"main\" java.io.IOException: \
         org.apache.zookeeper.KeeperException$ConnectionLossException: KeeperErrorCode = \
         ConnectionLoss\nCaused by: org.apache.zookeeper.KeeperException$ConnectionLossException: \
         KeeperErrorCode = ConnectionLoss\n"
    );
    let r = shell_raw(&["-waitforconnection", "-server", &z.addr(), "ls", "/"]);
    assert_eq!((r.code, body(&r)), (0, "[zookeeper]\n"));
    // -client-configuration: a file that is missing or not a properties text is exit 2.
    let missing = z.dir.path().join("missing.cfg");
    let missing = missing.to_string_lossy();
    let r = shell_raw(&[
        "-client-configuration",
        &missing,
        "-server",
        &z.addr(),
        "ls",
        "/",
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.err,
        format!(
            "org.apache.zookeeper.server.quorum.QuorumPeerConfig$ConfigException: Error while \
             processing {missing}\nCaused by: java.lang.IllegalArgumentException: {missing} file \
             is missing\n"
        )
    );
    let bad = z.dir.path().join("bad.cfg");
    std::fs::write(&bad, "zookeeper.x=\\u00zz\n").expect("write");
    let r = shell_raw(&[
        "-client-configuration",
        &bad.to_string_lossy(),
        "-server",
        &z.addr(),
        "ls",
        "/",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.err.ends_with(
            "Caused by: java.lang.IllegalArgumentException: Malformed \\uxxxx encoding.\n"
        ),
        "{}",
        r.err
    );
    let good = z.dir.path().join("client.cfg");
    std::fs::write(&good, "zookeeper.request.timeout=5000\n").expect("write");
    let r = shell_raw(&[
        "-client-configuration",
        &good.to_string_lossy(),
        "-server",
        &z.addr(),
        "ls",
        "/",
    ]);
    assert_eq!((r.code, body(&r)), (0, "[zookeeper]\n"), "{}", r.err);
    // -r asks for a read-only session; unknown options are ignored.
    let r = shell_raw(&["-r", "-foo", "-server", &z.addr(), "ls", "/"]);
    assert_eq!((r.code, body(&r)), (0, "[zookeeper]\n"), "{}", r.err);
    // An option without its value ends the options: zkCli goes on with the defaults and
    // no command, so it reads commands (none here, stdin is empty).
    let r = shell_raw(&["-timeout", "1000", "-server"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.err, "Error: no argument found for option -server\n");
    assert!(
        r.out.starts_with("Connecting to localhost:2181\n"),
        "{}",
        r.out
    );
}

/// stdout after the banner, and stderr, of a run that must exit with `code`.
#[track_caller]
fn outcome(z: &ZooidProcess, words: &[&str], code: i32) -> (String, String) {
    let r = shell(z, words);
    assert_eq!(r.code, code, "{words:?}: stdout {} stderr {}", r.out, r.err);
    (body(&r).to_owned(), r.err)
}

/// setquota/listquota/delquota write and read the quota nodes as zkCli does; the server
/// keeps the usage in zookeeper_stats.
#[test]
fn quota_set_list_delete() {
    let z = ZooidProcess::start("");
    ok(&z, &["create", "/q", "d"]);
    ok(&z, &["create", "/q/a", "x"]);
    assert_eq!(ok(&z, &["setquota", "-n", "5", "/q"]), "");
    let listed = |quota: &str, stat: &str| {
        (
            format!("Output quota for /q {quota}\nOutput stat for /q {stat}\n"),
            "absolute path is /zookeeper/quota/q/zookeeper_limits\n".to_owned(),
        )
    };
    assert_eq!(
        outcome(&z, &["listquota", "/q"], 0),
        listed(
            "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1",
            "count=2,bytes=2"
        )
    );
    assert_eq!(ok(&z, &["setquota", "-B", "100", "/q"]), "");
    ok(&z, &["create", "/q/b", "12345"]);
    assert_eq!(
        outcome(&z, &["listquota", "/q"], 0),
        listed(
            "count=5,bytes=-1=;byteHardLimit=100;countHardLimit=-1",
            "count=3,bytes=7"
        )
    );
    assert_eq!(
        ok(&z, &["get", "/zookeeper/quota/q/zookeeper_limits"]),
        "count=5,bytes=-1=;byteHardLimit=100;countHardLimit=-1\n"
    );
    assert_eq!(
        ok(&z, &["ls", "-R", "/zookeeper"]),
        "/zookeeper\n/zookeeper/config\n/zookeeper/quota\n/zookeeper/quota/q\n\
         /zookeeper/quota/q/zookeeper_limits\n/zookeeper/quota/q/zookeeper_stats\n"
    );
    // A limit below the usage is set, with a warning on stdout.
    assert_eq!(
        ok(&z, &["setquota", "-n", "2", "/q"]),
        "[Warning]: the count quota you create is less than the existing count:3\n"
    );
    fails(
        &z,
        &["setquota", "-n", "1", "/q/a"],
        1,
        "/q/a has a parent /q which has a quota\n",
    );
    ok(&z, &["create", "/p"]);
    ok(&z, &["create", "/p/c"]);
    assert_eq!(ok(&z, &["setquota", "-N", "2", "/p/c"]), "");
    fails(
        &z,
        &["setquota", "-b", "10", "/p"],
        1,
        "/p has a child /p/c which has a quota\n",
    );
    // delquota with an option unsets that limit; without, removes the quota.
    assert_eq!(ok(&z, &["delquota", "-n", "/q"]), "");
    assert_eq!(
        outcome(&z, &["listquota", "/q"], 0),
        listed(
            "count=-1,bytes=-1=;byteHardLimit=100;countHardLimit=-1",
            "count=3,bytes=7"
        )
    );
    assert_eq!(ok(&z, &["delquota", "/q"]), "");
    assert_eq!(
        outcome(&z, &["listquota", "/q"], 0),
        (
            String::new(),
            "absolute path is /zookeeper/quota/q/zookeeper_limits\nquota for /q does not exist.\n"
                .to_owned()
        )
    );
    assert_eq!(ok(&z, &["delquota", "/q"]), "Quota does not exist for /q\n");
    // Removing /p/c's quota also removes the quota directories it leaves empty.
    assert_eq!(
        ok(&z, &["ls", "-R", "/zookeeper/quota"]),
        "/zookeeper/quota\n/zookeeper/quota/p\n/zookeeper/quota/p/c\n\
         /zookeeper/quota/p/c/zookeeper_limits\n/zookeeper/quota/p/c/zookeeper_stats\n"
    );
    assert_eq!(ok(&z, &["delquota", "/p/c"]), "");
    assert_eq!(
        ok(&z, &["ls", "-R", "/zookeeper/quota"]),
        "/zookeeper/quota\n"
    );
}

#[test]
fn quota_errors_like_zkcli() {
    let z = ZooidProcess::start("");
    ok(&z, &["create", "/q"]);
    fails(
        &z,
        &["setquota", "/q"],
        1,
        "org.apache.commons.cli.MissingOptionException: Missing required option: [-n num soft \
         quota, -b bytes soft quota, -N num hard quota, -B bytes hard quota]\n",
    );
    fails(
        &z,
        &["setquota", "-n", "1", "-b", "2", "/q"],
        1,
        "org.apache.commons.cli.AlreadySelectedException: The option 'b' was specified but an \
         option from this group has already been selected: 'n'\n",
    );
    fails(
        &z,
        &["setquota", "-n", "1"],
        1,
        "setquota -n|-b|-N|-B val path\n",
    );
    fails(
        &z,
        &["setquota", "-n", "3", "/nope"],
        1,
        "/nope does not exist.\n",
    );
    fails(
        &z,
        &["setquota", "-n", "3", "/"],
        1,
        "Path must not end with / character\n",
    );
    fails(
        &z,
        &["setquota", "-n", "3", "q"],
        1,
        "Path must start with / character\n",
    );
    // Bad values and quota paths are reported, and the command still succeeds.
    fails(
        &z,
        &["setquota", "-n", "0", "/q"],
        0,
        "the num quota must be greater than zero\n",
    );
    fails(
        &z,
        &["setquota", "-B", "-1", "/q"],
        0,
        "the bytes quota must be greater than or equal to zero\n",
    );
    fails(
        &z,
        &["setquota", "-b", "x", "/q"],
        0,
        "NumberFormatException happens when parsing the option value\n",
    );
    fails(
        &z,
        &["setquota", "-n", "3", "/zookeeper/quota/x"],
        0,
        "cannot set a quota under the path: /zookeeper/quota\n",
    );
    fails(&z, &["listquota"], 1, "listquota path\n");
    fails(
        &z,
        &["listquota", "/"],
        1,
        "Invalid path string \"/zookeeper/quota//zookeeper_limits\" caused by empty node name \
         specified @17\n",
    );
    fails(&z, &["delquota"], 1, "delquota [-n|-b|-N|-B] path\n");
    fails(
        &z,
        &["delquota", "-n", "-N", "/q"],
        1,
        "org.apache.commons.cli.AlreadySelectedException: The option 'N' was specified but an \
         option from this group has already been selected: 'n'\n",
    );
    // zkCli does not catch a malformed StatsTrack pair.
    ok(&z, &["setquota", "-n", "3", "/q"]);
    ok(&z, &["set", "/zookeeper/quota/q/zookeeper_limits", "count"]);
    fails(
        &z,
        &["listquota", "/q"],
        1,
        "Exception in thread \"main\" java.lang.ArrayIndexOutOfBoundsException: Index 1 out of \
         bounds for length 1\n",
    );
    ok(
        &z,
        &["set", "/zookeeper/quota/q/zookeeper_limits", "count=x"],
    );
    fails(&z, &["listquota", "/q"], 1, "For input string: \"x\"\n");
}

/// The same quota commands through Debian's zkCli 3.8 against a second server give the
/// same output (the quota commands did not change between 3.8 and 3.9).
#[test]
fn quota_commands_match_zkcli() {
    let (ours, theirs) = (ZooidProcess::start(""), ZooidProcess::start(""));
    let script: &[&[&str]] = &[
        &["create", "/q", "data"],
        &["create", "/q/a", "x"],
        &["setquota", "-n", "5", "/q"],
        &["listquota", "/q"],
        &["setquota", "-b", "3", "/q"],
        &["setquota", "-N", "1", "/q/a"],
        &["listquota", "/q"],
        &["delquota", "-b", "/q"],
        &["listquota", "/q"],
        &["create", "/r"],
        &["create", "/r/s"],
        &["setquota", "-B", "9", "/r/s"],
        &["setquota", "-n", "2", "/r"],
        &["ls", "-R", "/zookeeper/quota"],
        &["delquota", "/q"],
        &["delquota", "/q"],
        &["listquota", "/q"],
        &["delquota", "/r/s"],
        &["ls", "-R", "/zookeeper"],
        &["setquota", "-n", "0", "/r"],
        &["setquota", "/r"],
    ];
    for words in script {
        compare_with_zkcli(&shell(&ours, words), &zkcli(&theirs, words), words);
    }
}

/// config reads /zookeeper/config; reconfig is refused by the server (Zooid does not
/// reconfigure) and the shell prints the refusal as zkCli does.
#[test]
fn config_reconfig_and_version() {
    let z = ZooidProcess::start("");
    // A standalone server's config node is empty; -c makes "<version> <clients>" of it.
    assert_eq!(ok(&z, &["config"]), "\n");
    assert_eq!(ok(&z, &["config", "-c"]), " \n");
    let with_stat = ok(&z, &["config", "-s"]);
    assert!(with_stat.starts_with("\ncZxid = 0x0\n"), "{with_stat}");
    assert!(
        with_stat.contains("\ndataLength = 0\nnumChildren = 0\n"),
        "{with_stat}"
    );
    fails(
        &z,
        &["config", "-x"],
        1,
        "org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: -x\n",
    );
    let disabled = "KeeperErrorCode = Reconfig is disabled\n";
    fails(
        &z,
        &["reconfig", "-add", "4=127.0.0.1:2890:3890;2184"],
        1,
        disabled,
    );
    fails(
        &z,
        &["reconfig", "-s", "-v", "1a", "-remove", "3"],
        1,
        disabled,
    );
    fails(
        &z,
        &["reconfig", "-members", "1=127.0.0.1:2888:3888;2181"],
        1,
        disabled,
    );
    let file = z.dir.path().join("dynamic.cfg");
    std::fs::write(
        &file,
        "server.1=127.0.0.1:2888:3888:participant;2181\nserver.2=127.0.0.1:2889:3889;2182\n",
    )
    .expect("write");
    fails(
        &z,
        &["reconfig", "-file", &file.to_string_lossy()],
        1,
        disabled,
    );
    let missing = "/nonexistent/dynamic.cfg";
    fails(
        &z,
        &["reconfig", "-file", missing],
        1,
        &format!("Error processing {missing}{missing} (No such file or directory)\n"),
    );
    fails(
        &z,
        &["reconfig"],
        1,
        "reconfig [-s] [-v version] [[-file path] | [-members \
         serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* \
         [-remove serverId[,...]*]\n",
    );
    fails(
        &z,
        &["reconfig", "-v", "zz", "-add", "x"],
        1,
        "-v must be followed by a long (configuration version)\n",
    );
    fails(
        &z,
        &["reconfig", "-add", "x", "-members", "y"],
        1,
        "Can't use -file or -members together with -add or -remove (mixing incremental and \
         non-incremental modes is not allowed)\n",
    );
    fails(
        &z,
        &["reconfig", "-file", "x", "-members", "y"],
        1,
        "Can't use -file and -members together (conflicting non-incremental modes)\n",
    );
    let v = ok(&z, &["version"]);
    assert!(v.starts_with("ZooKeeper CLI version: 3.9.5-zooid-"), "{v}");
    assert!(v.contains(", built on "), "{v}");
    fails(&z, &["version", "x"], 1, "version \n");
}

/// get -b/-x and set -b (3.9.5), the usage of get, the order of ls -R, deleteall's
/// batches, and the Java exceptions zkCli does not catch.
#[test]
fn data_formats_walks_and_uncaught_exceptions() {
    let z = ZooidProcess::start("");
    ok(&z, &["create", "/b", "hello\u{1}\u{7f} world"]);
    assert_eq!(
        ok(&z, &["get", "-b", "/b"]),
        "aGVsbG8Bfy B3b3JsZA==\n".replace(' ', "")
    );
    assert_eq!(
        ok(&z, &["get", "-x", "/b"]),
        "         +-------------------------------------------------+\n\
         \x20        |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |\n\
         +--------+-------------------------------------------------+----------------+\n\
         |00000000| 68 65 6c 6c 6f 01 7f 20 77 6f 72 6c 64          |hello.. world   |\n\
         +--------+-------------------------------------------------+----------------+\n"
    );
    assert_eq!(ok(&z, &["set", "-b", "/b", "aGk="]), "");
    assert_eq!(ok(&z, &["get", "/b"]), "hi\n");
    fails(
        &z,
        &["set", "-b", "/b", "a"],
        1,
        "Exception in thread \"main\" java.lang.IllegalArgumentException: Input byte[] should at \
         least have 2 bytes for base64 bytes\n",
    );
    fails(
        &z,
        &["set", "-v", "x", "/b", "d"],
        1,
        "Exception in thread \"main\" java.lang.NumberFormatException: For input string: \"x\"\n",
    );
    fails(
        &z,
        &["get"],
        1,
        "get [-s] [-w] [-b] [-x] path\n -b   Output data in base64 format\n \
         -s   Print znode stats additionally\n -w   Watch for changes on the znode\n \
         -x   Output data in hexdump format\n\n",
    );
    let r = shell(&z, &["help"]);
    assert_eq!(r.code, 127);
    assert!(
        r.err.contains("\n\tsetquota -n|-b|-N|-B val path\n"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .ends_with("Command not found: Command not found help\n"),
        "{}",
        r.err
    );
    fails(
        &z,
        &["create", "/e", "d", "world:anyone"],
        1,
        "world:anyone does not have the form scheme:id:perm\nKeeperErrorCode = InvalidACL\n\
         Acl is not valid : null\n",
    );
    // ls -R lists a node's children before going below the first of them.
    for p in ["/t", "/t/b", "/t/a", "/t/b/x", "/t/a/y"] {
        ok(&z, &["create", p]);
    }
    assert_eq!(
        ok(&z, &["ls", "-R", "/t"]),
        "/t\n/t/a\n/t/b\n/t/a/y\n/t/b/x\n"
    );
    // A batch that fails deletes nothing of itself and is reported.
    assert_eq!(ok(&z, &["setAcl", "-R", "/t", "world:anyone:ra"]), "");
    assert_eq!(
        ok(&z, &["deleteall", "/t"]),
        "Failed to delete some node(s) in the subtree!\n"
    );
    assert_eq!(
        ok(&z, &["ls", "-R", "/t"]),
        "/t\n/t/a\n/t/b\n/t/a/y\n/t/b/x\n"
    );
    // One delete at a time (-b 0), the first failure is the error.
    ok(&z, &["create", "/u"]);
    ok(&z, &["create", "/u/c"]);
    ok(&z, &["setAcl", "/u", "world:anyone:r"]);
    fails(
        &z,
        &["deleteall", "-b", "0", "/u"],
        1,
        "Insufficient permission : /u/c\n",
    );
    assert_eq!(ok(&z, &["setAcl", "-R", "/t", "world:anyone:cdrwa"]), "");
    assert_eq!(ok(&z, &["deleteall", "-b", "2", "/t"]), "");
    fails(
        &z,
        &["deleteall", "-b", "x", "/b"],
        1,
        "-b argument must be an int value\n",
    );
    assert_eq!(ok(&z, &["ls", "/"]), "[b, u, zookeeper]\n");
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
        &["config"],
        &["config", "-c"],
        &["config", "-s"],
        &["reconfig", "-add", "4=127.0.0.1:2890:3890;2184"],
        &["reconfig", "-members", "1=127.0.0.1:2888:3888;2181"],
        &["reconfig", "-v", "zz", "-remove", "1"],
        &["reconfig", "-add", "x", "-file", "y"],
        &["reconfig"],
        &["listquota", "/d"],
        &["delquota", "/d"],
        &["setquota", "/d"],
        &["setquota", "-n", "0", "/d"],
        &["setquota", "-n", "1", "/missing"],
        &["ls", "-?", "/d"],
        &["deleteall", "-b", "x", "/d"],
    ] {
        compare_with_zkcli(&shell(&z, words), &zkcli(&z, words), words);
    }
}

/// Asserts that two runs printed the same, but for zkCli's logging, the server address and
/// the watcher's connection event (3.9 prints a zxid there, 3.8 does not).
#[track_caller]
fn compare_with_zkcli(ours: &Run, theirs: &Run, words: &[&str]) {
    let strip = |s: &str| -> String {
        s.lines()
            .filter(|l| {
                !l.starts_with("[main")
                    && !l.starts_with("Connecting to ")
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
