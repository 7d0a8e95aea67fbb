//! The AdminServer over HTTP against the real binary: every command's status, content
//! type and JSON keys (ZooKeeper 3.9's `Commands` names), the link list, unknown
//! commands, `/ready`, and an ensemble member's `/ready` while it cannot elect.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{free_port, handshake, raw, read_frame, send_frame, ZooidProcess};
use serde_json::Value;
use zooid_proto::{CreateRequest, ExistsRequest, Record, RequestHeader};

/// One HTTP/1.1 exchange: (status, content type, body).
struct Reply {
    status: u16,
    content_type: Option<String>,
    body: String,
}

fn http(port: u16, method: &str, path: &str, headers: &str) -> Option<Reply> {
    let r = common::http(port, method, path, headers, b"")?;
    Some(Reply {
        status: r.status,
        content_type: r.header("content-type").map(str::to_owned),
        body: r.text(),
    })
}

fn get(port: u16, path: &str) -> Reply {
    http(port, "GET", path, "").expect("admin server answers")
}

/// GETs a command and checks the envelope: 200, JSON, keys in this order (the data
/// fields, then `command` and `error`).
fn command(port: u16, name: &str, keys: &[&str]) -> serde_json::Map<String, Value> {
    let r = get(port, &format!("/commands/{name}"));
    assert_eq!(r.status, 200, "{name}: {}", r.body);
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/json"),
        "{name}"
    );
    let got = keys_in_order(&r.body);
    assert_eq!(got, keys, "{name}: {}", r.body);
    match serde_json::from_str::<Value>(&r.body).expect("json") {
        Value::Object(m) => m,
        other => panic!("{name}: not an object: {other}"),
    }
}

/// The top-level keys of a Jackson-indented object, in order (serde_json's map sorts).
fn keys_in_order(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .map(|l| l[3..].split_once("\" : ").expect("a field").0.to_owned())
        .collect()
}

fn admin_server() -> (ZooidProcess, u16) {
    let admin = free_port();
    let zk = ZooidProcess::start(&format!(
        "admin.serverPort={admin}\nadmin.serverAddress=127.0.0.1\n"
    ));
    (zk, admin)
}

/// A client with a session, an ephemeral node and a watch.
fn client_with_watch(zk: &ZooidProcess) -> (TcpStream, i64) {
    let mut s = raw(zk);
    let sid = handshake(&mut s).session_id;
    let mut req = RequestHeader { xid: 1, op: 1 }.to_vec();
    req.extend(
        CreateRequest {
            path: "/eph".into(),
            data: b"x".to_vec().into(),
            acl: zooid_proto::open_acl_unsafe(),
            flags: 1,
        }
        .to_vec(),
    );
    send_frame(&mut s, &req);
    read_frame(&mut s).expect("create reply");
    let mut req = RequestHeader { xid: 2, op: 3 }.to_vec();
    req.extend(
        ExistsRequest {
            path: "/watched".into(),
            watch: true,
        }
        .to_vec(),
    );
    send_frame(&mut s, &req);
    read_frame(&mut s).expect("exists reply");
    (s, sid)
}

#[test]
fn every_command_answers_with_zookeepers_fields() {
    let (zk, port) = admin_server();
    let (_client, sid) = client_with_watch(&zk);

    let links = get(port, "/commands");
    assert_eq!(links.status, 200);
    assert_eq!(links.content_type, None);
    assert!(links
        .body
        .starts_with("<a href=\"/commands/configuration\">configuration</a>\n<br/>\n"));
    assert_eq!(links.body.matches("<br/>").count(), 28, "{}", links.body);
    assert_eq!(get(port, "/commands/").body, links.body);

    let ruok = get(port, "/commands/ruok");
    assert_eq!(
        ruok.body,
        "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}"
    );

    let unknown = command(port, "nosuch", &["command", "error"]);
    assert_eq!(unknown["error"], "Unknown command: nosuch");
    assert_eq!(get(port, "/elsewhere").status, 404);

    let conf = command(
        port,
        "conf",
        &[
            "client_port",
            "data_dir",
            "data_log_dir",
            "tick_time",
            "max_client_cnxns",
            "min_session_timeout",
            "max_session_timeout",
            "server_id",
            "client_port_listen_backlog",
            "command",
            "error",
        ],
    );
    assert_eq!(conf["command"], "configuration");
    assert_eq!(conf["client_port"], zk.port);
    assert_eq!(conf["tick_time"], 2000);
    assert!(conf["data_dir"]
        .as_str()
        .unwrap()
        .ends_with("data/version-2"));

    let conn_keys = [
        "remote_socket_address",
        "interest_ops",
        "outstanding_requests",
        "packets_received",
        "packets_sent",
        "session_id",
        "last_operation",
        "established",
        "session_timeout",
        "last_cxid",
        "last_zxid",
        "last_response_time",
        "last_latency",
        "min_latency",
        "avg_latency",
        "max_latency",
    ];
    let cons = command(
        port,
        "cons",
        &["connections", "secure_connections", "command", "error"],
    );
    let conns = cons["connections"].as_array().unwrap();
    assert_eq!(conns.len(), 1, "{cons:?}");
    let c = conns[0].as_object().unwrap();
    assert_eq!(c.len(), conn_keys.len());
    for k in conn_keys {
        assert!(c.contains_key(k), "{k} in {c:?}");
    }
    assert_eq!(c["session_id"], sid);
    assert_eq!(c["last_operation"], "EXIS");
    assert_eq!(c["last_cxid"], 2);
    assert!(c["remote_socket_address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));

    let stat_keys = [
        "version",
        "read_only",
        "server_stats",
        "client_response",
        "node_count",
    ];
    let srvr = command(
        port,
        "srvr",
        &[&stat_keys[..], &["command", "error"]].concat(),
    );
    assert_eq!(srvr["command"], "server_stats");
    let nodes = srvr["node_count"].as_i64().unwrap();
    assert!(nodes >= 4, "/, /zookeeper, /zookeeper/quota, /eph: {nodes}");
    let ss = srvr["server_stats"].as_object().unwrap();
    for k in [
        "packets_sent",
        "packets_received",
        "fsync_threshold_exceed_count",
        "client_response_stats",
        "data_dir_size",
        "log_dir_size",
        "provider_null",
        "server_state",
        "last_processed_zxid",
        "outstanding_requests",
        "avg_latency",
        "max_latency",
        "min_latency",
        "num_alive_client_connections",
        "uptime",
        "auth_failed_count",
        "non_mtlsremote_conn_count",
        "non_mtlslocal_conn_count",
    ] {
        assert!(ss.contains_key(k), "{k} in {ss:?}");
    }
    assert_eq!(ss.len(), 18);
    assert_eq!(ss["server_state"], "standalone");
    assert_eq!(ss["num_alive_client_connections"], 1);
    assert!(ss["avg_latency"].is_f64());
    assert_eq!(
        srvr["client_response"]["max_buffer_size"]
            .as_i64()
            .map(|v| v > 0),
        Some(true)
    );

    let stat = command(
        port,
        "stats",
        &[
            &stat_keys[..],
            &["connections", "secure_connections", "command", "error"],
        ]
        .concat(),
    );
    let brief = stat["connections"][0].as_object().unwrap();
    assert_eq!(brief.len(), 5, "brief connection info: {brief:?}");

    let dump = command(
        port,
        "dump",
        &[
            "expiry_time_to_session_ids",
            "session_id_to_ephemeral_paths",
            "command",
            "error",
        ],
    );
    let expiring: Vec<&Value> = dump["expiry_time_to_session_ids"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|v| v.as_array().unwrap())
        .collect();
    assert_eq!(expiring, [&Value::from(sid)]);
    assert_eq!(
        dump["session_id_to_ephemeral_paths"][sid.to_string()],
        serde_json::json!(["/eph"])
    );

    let wchc = command(
        port,
        "wchc",
        &["session_id_to_watched_paths", "command", "error"],
    );
    assert_eq!(
        wchc["session_id_to_watched_paths"][sid.to_string()],
        serde_json::json!(["/watched"])
    );
    let wchp = command(port, "wchp", &["path_to_session_ids", "command", "error"]);
    assert_eq!(
        wchp["path_to_session_ids"]["/watched"],
        serde_json::json!([sid])
    );
    let wchs = command(
        port,
        "wchs",
        &[
            "num_connections",
            "num_paths",
            "num_total_watches",
            "command",
            "error",
        ],
    );
    assert_eq!(wchs["num_total_watches"], 1);

    let mntr = command_any(port, "mntr");
    assert_eq!(mntr["command"], "monitor");
    assert_eq!(mntr["server_state"], "standalone");
    assert_eq!(mntr["znode_count"], nodes);
    assert_eq!(mntr["ephemerals_count"], 1);
    assert_eq!(mntr["watch_count"], 1);
    assert_eq!(mntr["num_alive_connections"], 1);
    assert!(mntr["avg_latency"].is_f64());
    assert!(mntr["version"].as_str().unwrap().starts_with("3.9.5-"));

    let envi = command_any(port, "envi");
    assert_eq!(envi["command"], "environment");
    assert!(envi["zookeeper.version"]
        .as_str()
        .unwrap()
        .starts_with("3.9.5-"));
    assert!(envi.contains_key("os.name"));

    command(
        port,
        "dirs",
        &["datadir_size", "logdir_size", "command", "error"],
    );
    command(port, "hash", &["digests", "command", "error"]);
    let isro = command(port, "isro", &["read_only", "command", "error"]);
    assert_eq!(isro["read_only"], false);
    let lsnp = command(port, "lsnp", &["zxid", "timestamp", "command", "error"]);
    assert_eq!(
        lsnp["zxid"], "0",
        "the snapshot written into the empty data dir"
    );
    let lead = command(port, "lead", &["error", "command"]);
    assert_eq!(lead["error"], "server is not initialized");
    command(
        port,
        "obsr",
        &["synced_observers", "observers", "command", "error"],
    );
    let vv = command(port, "voting_view", &["current_config", "command", "error"]);
    assert_eq!(vv["current_config"], serde_json::json!({}));
    let zab = command(
        port,
        "zabstate",
        &["voting", "zabstate", "command", "error"],
    );
    assert_eq!(zab["zabstate"], "");
    command(port, "sysp", &["command", "error"]);
    for reset in ["crst", "srst", "orst"] {
        command(port, reset, &["command", "error"]);
    }

    let gtmk = command(port, "gtmk", &["tracemask", "command", "error"]);
    assert_eq!(gtmk["tracemask"], 306);
    // The zoo.cfg the server was started with, as its text.
    let icfg = command(port, "icfg", &["initial_configuration", "command", "error"]);
    let text = std::fs::read_to_string(zk.dir.path().join("zoo.cfg")).unwrap();
    assert_eq!(icfg["initial_configuration"], text.as_str());
    let no_arg = command(port, "stmk", &["error", "command"]);
    assert_eq!(
        no_arg["error"],
        "setTraceMask requires long traceMask argument"
    );
    let bad = command(port, "stmk?traceMask=x1", &["error", "command"]);
    assert_eq!(
        bad["error"],
        "setTraceMask requires long traceMask argument, got x1"
    );
    let set = command(port, "stmk?traceMask=2", &["tracemask", "command", "error"]);
    assert_eq!(set["tracemask"], 2);
    assert_eq!(
        command(port, "gtmk", &["tracemask", "command", "error"])["tracemask"],
        2
    );

    // srst cleared the packet counts; the srvr after it counts from zero.
    let after = command_any(port, "srvr");
    assert!(after["server_stats"]["packets_received"].as_i64().unwrap() < 3);

    // snapshot needs auth (admin_snapshot.rs tests it and restore in depth).
    let snap = get(port, "/commands/snapshot");
    assert_eq!(snap.status, 401);
    assert!(snap
        .body
        .contains("\"error\" : \"Auth info is missing for the command\""));
    let snap = http(
        port,
        "GET",
        "/commands/snap?streaming=false",
        "Authorization: digest u:p\r\n",
    )
    .unwrap();
    assert_eq!(snap.status, 200, "{}", snap.body);
    assert_eq!(keys_in_order(&snap.body), ["command", "error"]);

    let ready = get(port, "/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.content_type.as_deref(), Some("application/json"));
    drop(zk);
}

fn command_any(port: u16, name: &str) -> serde_json::Map<String, Value> {
    let r = get(port, &format!("/commands/{name}"));
    assert_eq!(r.status, 200, "{name}");
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    let keys = keys_in_order(&r.body);
    assert_eq!(keys[keys.len() - 2..], ["command", "error"], "{name}");
    match serde_json::from_str::<Value>(&r.body).expect("json") {
        Value::Object(m) => m,
        other => panic!("{other}"),
    }
}

#[test]
fn ensemble_member_without_a_quorum_is_not_ready() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/myid"), "1\n").unwrap();
    let (client, admin) = (free_port(), free_port());
    let peers: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let extra = format!(
        "initLimit=5\nsyncLimit=2\nadmin.serverPort={admin}\nadmin.serverAddress=127.0.0.1\n\
         server.1=127.0.0.1:{}:{}\nserver.2=127.0.0.1:{}:{}\nserver.3=127.0.0.1:{}:{}\n",
        peers[0], peers[1], peers[2], peers[3], peers[4], peers[5]
    );
    let _zk = ZooidProcess::spawn(dir, client, &extra);
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        if let Some(r) = http(admin, "GET", "/ready", "") {
            break r;
        }
        assert!(Instant::now() < deadline, "admin server never answered");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(ready.status, 503, "{}", ready.body);
    // Commands that need a serving server say so, with 200 as ZooKeeper does.
    let r = get(admin, "/commands/stat");
    assert_eq!(r.status, 200);
    assert!(r
        .body
        .contains("\"error\" : \"This ZooKeeper instance is not currently serving requests\""));
    let zab = command(
        admin,
        "zabstate",
        &[
            "myid",
            "is_leader",
            "voting",
            "last_zxid",
            "zab_epoch",
            "zab_counter",
            "zabstate",
            "command",
            "error",
        ],
    );
    assert_eq!(zab["zabstate"], "election");
    assert_eq!(zab["myid"], 1);
}
