//! The four letter words against a running server: the counters they print follow the
//! traffic, and the reset and trace-mask commands act.
// The tests poll the server with a wall-clock deadline.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{four_letter, handshake, raw, read_frame, send_frame, ZooidProcess};
use zooid_proto::{ExistsRequest, Record, RequestHeader};

fn cmd(server: &ZooidProcess, word: &str) -> String {
    four_letter(server.port, word).expect("a reply")
}

/// The value of `key: value` in a `srvr` text.
fn field(text: &str, key: &str) -> String {
    let prefix = format!("{key}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .to_owned()
}

/// Sends `exists /zookeeper` with a watch and reads the reply.
fn exists_with_watch(s: &mut TcpStream, xid: i32) {
    let mut req = RequestHeader { xid, op: 3 }.to_vec();
    req.extend(
        ExistsRequest {
            path: "/zookeeper".into(),
            watch: true,
        }
        .to_vec(),
    );
    send_frame(s, &req);
    read_frame(s).expect("exists reply");
}

#[test]
fn srvr_and_mntr_have_zookeepers_lines() {
    let server = ZooidProcess::start("");
    let srvr = cmd(&server, "srvr");
    let keys: Vec<&str> = srvr
        .lines()
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "Zookeeper version",
            "Latency min/avg/max",
            "Received",
            "Sent",
            "Connections",
            "Outstanding",
            "Zxid",
            "Mode",
            "Node count"
        ]
    );
    assert!(field(&srvr, "Zookeeper version").starts_with("3.9.5-zooid-"));
    assert_eq!(field(&srvr, "Mode"), "standalone");
    assert_eq!(field(&srvr, "Zxid"), "0x0");
    // Only the command's own connection.
    assert_eq!(field(&srvr, "Connections"), "1");
    let mntr = cmd(&server, "mntr");
    // The monitor values and gauges (26), then every ServerMetrics metric: 51 counters,
    // 42 summaries of 5 lines and 23 of 9 (with percentiles); no namespace read yet.
    assert_eq!(mntr.lines().count(), 26 + 51 + 42 * 5 + 23 * 9, "{mntr}");
    // Nothing but command words, of 4 bytes each, came in.
    let value = |k: &str| -> i64 {
        let line = mntr.lines().find(|l| l.starts_with(&format!("{k}\t")));
        line.and_then(|l| l.split('\t').nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {mntr}"))
    };
    assert_eq!(
        value("zk_bytes_received_count"),
        4 * value("zk_packets_received")
    );
    assert!(
        mntr.ends_with("zk_p999_write_commitproc_time_ms\t0\n"),
        "{mntr}"
    );
    for line in mntr.lines() {
        let (k, v) = line.split_once('\t').expect("tab separated");
        assert!(k.starts_with("zk_") && !v.is_empty(), "{line}");
    }
    assert!(mntr.contains("zk_server_state\tstandalone\n"));
    assert!(mntr.contains("zk_num_alive_connections\t1\n"));
}

#[test]
fn cons_stat_and_watches_follow_a_session() {
    let server = ZooidProcess::start("");
    let mut s = raw(&server);
    let sid = handshake(&mut s).session_id;
    exists_with_watch(&mut s, 1);
    // A ping answers with a special xid, which `lcxid` ignores.
    send_frame(&mut s, &RequestHeader { xid: -2, op: 11 }.to_vec());
    read_frame(&mut s).expect("ping reply");

    let cons = cmd(&server, "cons");
    let lines: Vec<&str> = cons.lines().collect();
    assert_eq!(lines.len(), 3, "{cons}");
    let mine = lines[0];
    assert!(
        mine.contains(&format!(
            "(queued=0,recved=3,sent=3,sid=0x{sid:x},lop=PING,"
        )),
        "{mine}"
    );
    assert!(mine.contains(",to=30000,lcxid=0x1,lzxid=0x1,"), "{mine}");
    assert!(
        lines[1].ends_with("[0](queued=0,recved=1,sent=0)"),
        "{cons}"
    );
    assert_eq!(lines[2], "");

    let stat = cmd(&server, "stat");
    assert!(stat.contains("Clients:\n /127.0.0.1:"), "{stat}");
    assert!(stat.contains("(queued=0,recved=3,sent=3)\n"), "{stat}");
    assert_eq!(field(&stat, "Connections"), "2");

    assert_eq!(
        cmd(&server, "wchs"),
        "1 connections watching 1 paths\nTotal watches:1\n"
    );
    assert_eq!(cmd(&server, "wchc"), format!("0x{sid:x}\n\t/zookeeper\n\n"));
    assert_eq!(cmd(&server, "wchp"), format!("/zookeeper\n\t0x{sid:x}\n\n"));
    let dump = cmd(&server, "dump");
    assert!(
        dump.contains("Session Sets (1)/(1):\n1 expire at "),
        "{dump}"
    );
    assert!(dump.contains(&format!(":\n\t0x{sid:x}\n")), "{dump}");

    assert_eq!(cmd(&server, "crst"), "Connection stats reset.\n");
    let cons = cmd(&server, "cons");
    assert!(
        cons.contains(",recved=0,sent=0,") && cons.contains(",lop=NA,"),
        "{cons}"
    );
    assert!(
        cons.contains(",lzxid=0xffffffffffffffff,lresp=0,"),
        "{cons}"
    );
    assert!(!cons.contains("lcxid"), "{cons}");
}

#[test]
fn srst_resets_and_each_command_counts_as_a_packet() {
    let server = ZooidProcess::start("");
    let mut s = raw(&server);
    handshake(&mut s);
    exists_with_watch(&mut s, 1);
    assert_eq!(cmd(&server, "srst"), "Server stats reset.\n");
    // This srvr is the one packet received since the reset; srst's answer the one sent.
    let srvr = cmd(&server, "srvr");
    assert_eq!(
        (field(&srvr, "Received"), field(&srvr, "Sent")),
        ("1".to_owned(), "1".to_owned())
    );
    assert_eq!(field(&srvr, "Latency min/avg/max"), "0/0.0/0");
}

#[test]
fn stmk_sets_what_gtmk_prints() {
    let server = ZooidProcess::start("");
    assert_eq!(cmd(&server, "gtmk"), "306");
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = b"stmk".to_vec();
    req.extend_from_slice(&255i64.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out, "255");
    assert_eq!(cmd(&server, "gtmk"), "255");
}

#[test]
fn only_srvr_without_a_whitelist() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = dir.path().join("zoo.cfg");
    let text = format!(
        "tickTime=2000\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n",
        dir.path().join("data").display()
    );
    std::fs::write(&cfg, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zooid"))
        .arg("server")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let srvr = loop {
        if let Some(t) = four_letter(port, "srvr").filter(|t| !t.is_empty()) {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "no srvr answer");
        std::thread::sleep(Duration::from_millis(20));
    };
    let ruok = four_letter(port, "ruok");
    let _ = child.kill();
    let _ = child.wait();
    assert!(srvr.starts_with("Zookeeper version: "));
    assert_eq!(
        ruok.as_deref(),
        Some("ruok is not executed because it is not in the whitelist.\n")
    );
}
