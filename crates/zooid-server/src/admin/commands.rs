//! The AdminServer's commands (ZooKeeper 3.9's `admin.Commands`): names and aliases,
//! which need a serving server, and the JSON fields each answers with. The data comes
//! from the same `gather_*` functions as the four-letter words.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::json::Json;
use crate::fourlw::{self, ConnInfo};
use crate::state::Shared;

/// One command: its names (the first is the primary one, which answers name it) and
/// whether it needs a serving server (`CommandBase.serverRequired`).
pub struct Command {
    pub names: &'static [&'static str],
    pub server_required: bool,
    /// `snapshot` and `restore` need an `Authorization` header (`AuthRequest`).
    pub auth: bool,
}

const fn cmd(names: &'static [&'static str], server_required: bool) -> Command {
    Command {
        names,
        server_required,
        auth: false,
    }
}

/// Every command ZooKeeper 3.9 registers, in `Commands`' registration order.
pub const COMMANDS: &[Command] = &[
    cmd(&["connection_stat_reset", "crst"], true),
    cmd(&["configuration", "conf", "config"], true),
    cmd(&["connections", "cons"], true),
    cmd(&["hash"], true),
    cmd(&["dirs"], true),
    cmd(&["dump"], true),
    cmd(&["environment", "env", "envi"], false),
    cmd(&["get_trace_mask", "gtmk"], false),
    cmd(&["initial_configuration", "icfg"], true),
    cmd(&["is_read_only", "isro"], true),
    cmd(&["last_snapshot", "lsnp"], true),
    cmd(&["leader", "lead"], true),
    cmd(&["monitor", "mntr"], false),
    cmd(&["observer_connection_stat_reset", "orst"], true),
    Command {
        names: &["restore", "rest"],
        server_required: true,
        auth: true,
    },
    cmd(&["ruok"], true),
    cmd(&["set_trace_mask", "stmk"], false),
    Command {
        names: &["snapshot", "snap"],
        server_required: true,
        auth: true,
    },
    cmd(&["server_stats", "srvr"], true),
    cmd(&["stats", "stat"], true),
    cmd(&["stat_reset", "srst"], true),
    cmd(&["observers", "obsr"], true),
    cmd(&["system_properties", "sysp"], false),
    cmd(&["voting_view"], true),
    cmd(&["watches", "wchc"], true),
    cmd(&["watches_by_path", "wchp"], true),
    cmd(&["watch_summary", "wchs"], true),
    cmd(&["zabstate"], false),
];

pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.names.contains(&name))
}

/// What a command answers: its data fields (before `command` and `error`), an error of
/// its own, and the HTTP status.
pub struct Answer {
    pub fields: Vec<(String, Json)>,
    pub status: u16,
}

impl Answer {
    fn ok(fields: Vec<(&str, Json)>) -> Answer {
        Answer {
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            status: 200,
        }
    }

    fn status(status: u16) -> Answer {
        Answer {
            fields: Vec::new(),
            status,
        }
    }
}

/// Runs a GET command found by [`find`] other than `snapshot`; `args` are the query
/// parameters.
pub fn run(shared: &Shared, primary: &str, args: &BTreeMap<String, String>) -> Answer {
    match primary {
        "connection_stat_reset" => {
            // `zkServer.getServerCnxnFactory().resetAllConnectionStats()`: the plain
            // port's only.
            for c in fourlw::port_connections(shared, false) {
                c.stats.reset();
            }
            Answer::ok(vec![])
        }
        "configuration" => Answer::ok(configuration(shared)),
        "connections" => Answer::ok(vec![
            ("connections", connections(shared, false, false)),
            ("secure_connections", connections(shared, true, false)),
        ]),
        // Zooid keeps no tree digest log (`digest.enabled` has no effect yet).
        "hash" => Answer::ok(vec![("digests", Json::Array(vec![]))]),
        "dirs" => Answer::ok(vec![
            ("datadir_size", size(&shared.config.snap_dir())),
            ("logdir_size", size(&shared.config.txn_log_dir())),
        ]),
        "dump" => Answer::ok(dump(shared)),
        "environment" => Answer::ok(
            fourlw::host::environment(&fourlw::full_version())
                .into_iter()
                .map(|(k, v)| (k, Json::Str(v)))
                .collect(),
        ),
        "get_trace_mask" => Answer::ok(vec![(
            "tracemask",
            Json::Int(shared.counters.trace_mask.load(Ordering::Relaxed)),
        )]),
        "initial_configuration" => Answer::ok(vec![(
            "initial_configuration",
            shared
                .config
                .initial_config
                .as_deref()
                .map_or(Json::Null, Json::str),
        )]),
        "is_read_only" => Answer::ok(vec![("read_only", Json::Bool(false))]),
        "last_snapshot" => Answer::ok(last_snapshot(shared)),
        "leader" => Answer::ok(leader(shared)),
        "monitor" => Answer {
            fields: monitor(shared),
            status: 200,
        },
        // Zooid has no observer connections to reset.
        "observer_connection_stat_reset" | "ruok" => Answer::ok(vec![]),
        "set_trace_mask" => Answer::ok(set_trace_mask(shared, args)),
        "server_stats" => Answer::ok(server_stats(shared)),
        "stats" => {
            let mut fields = server_stats(shared);
            fields.push(("connections", connections(shared, false, true)));
            fields.push(("secure_connections", connections(shared, true, true)));
            Answer::ok(fields)
        }
        "stat_reset" => {
            shared.reset_stats();
            Answer::ok(vec![])
        }
        "observers" => Answer::ok(vec![
            ("synced_observers", Json::Int(synced_observers(shared))),
            ("observers", Json::Array(vec![])),
        ]),
        // Zooid runs in no JVM: its system properties are the `zookeeper.*` properties
        // of the configuration (zoo.cfg keys ZooKeeper turns into system properties).
        "system_properties" => Answer::ok(
            shared
                .config
                .other
                .iter()
                .map(|(k, v)| (k.as_str(), Json::str(v)))
                .collect(),
        ),
        "voting_view" => Answer::ok(vec![("current_config", voting_view(shared))]),
        "watches" => Answer::ok(vec![(
            "session_id_to_watched_paths",
            Json::Object(
                fourlw::gather_watches_by_session(shared)
                    .into_iter()
                    .map(|(sid, paths)| (sid.to_string(), strings(paths)))
                    .collect(),
            ),
        )]),
        "watches_by_path" => Answer::ok(vec![(
            "path_to_session_ids",
            Json::Object(
                fourlw::gather_watches_by_path(shared)
                    .into_iter()
                    .map(|(path, sids)| (path, ints(sids)))
                    .collect(),
            ),
        )]),
        "watch_summary" => {
            let s = shared.watches.lock().summary();
            Answer::ok(vec![
                ("num_connections", Json::Int(s.num_connections as i64)),
                ("num_paths", Json::Int(s.num_paths as i64)),
                ("num_total_watches", Json::Int(s.total_watches as i64)),
            ])
        }
        "zabstate" => Answer::ok(zabstate(shared)),
        // `snapshot` and `restore` are served by `transfer`, never from here.
        _ => Answer::status(500),
    }
}

fn strings(v: impl IntoIterator<Item = String>) -> Json {
    Json::Array(v.into_iter().map(Json::Str).collect())
}

fn ints(v: impl IntoIterator<Item = i64>) -> Json {
    Json::Array(v.into_iter().map(Json::Int).collect())
}

fn size(path: &std::path::Path) -> Json {
    Json::Int(fourlw::dir_size(path) as i64)
}

fn configuration(shared: &Shared) -> Vec<(&'static str, Json)> {
    let c = &shared.config;
    let abs = |p: std::path::PathBuf| {
        let p = std::path::absolute(&p).unwrap_or(p);
        Json::Str(p.display().to_string())
    };
    vec![
        ("client_port", Json::Int(i64::from(c.client_port))),
        ("data_dir", abs(c.snap_dir())),
        ("data_log_dir", abs(c.txn_log_dir())),
        ("tick_time", Json::Int(i64::from(c.tick_time_ms))),
        ("max_client_cnxns", Json::Int(i64::from(c.max_client_cnxns))),
        (
            "min_session_timeout",
            Json::Int(i64::from(c.min_session_timeout_ms)),
        ),
        (
            "max_session_timeout",
            Json::Int(i64::from(c.max_session_timeout_ms)),
        ),
        ("server_id", Json::Int(c.server_id.unwrap_or(0) as i64)),
        (
            "client_port_listen_backlog",
            Json::Int(c.client_port_listen_backlog.map_or(-1, i64::from)),
        ),
    ]
}

/// `ServerCnxn.getConnectionInfo(brief)` of every client connection.
/// The connections of the plain or the secure client port.
fn connections(shared: &Shared, secure: bool, brief: bool) -> Json {
    let infos: Vec<ConnInfo> = fourlw::port_connections(shared, secure)
        .iter()
        .map(|c| fourlw::conn_info(c))
        .collect();
    Json::Array(infos.iter().map(|c| connection(c, brief)).collect())
}

fn connection(c: &ConnInfo, brief: bool) -> Json {
    let mut f: Vec<(String, Json)> = vec![
        (
            "remote_socket_address".into(),
            Json::Str(fourlw::java_socket_addr(c.remote)[1..].to_owned()),
        ),
        ("interest_ops".into(), Json::Int(i64::from(c.interest_ops))),
        ("outstanding_requests".into(), Json::Int(c.queued as i64)),
        ("packets_received".into(), Json::Int(c.received as i64)),
        ("packets_sent".into(), Json::Int(c.sent as i64)),
    ];
    if !brief {
        // A connection before its handshake has ZooKeeper's initial values.
        let s = c.session.clone().unwrap_or(fourlw::ConnSession {
            id: 0,
            last_op: "NA",
            established_ms: 0,
            timeout_ms: 0,
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            min_latency_ms: 0,
            avg_latency_ms: 0,
            max_latency_ms: 0,
        });
        let fields = [
            ("session_id", Json::Int(s.id)),
            ("last_operation", Json::str(s.last_op)),
            ("established", Json::Int(s.established_ms)),
            ("session_timeout", Json::Int(s.timeout_ms)),
            ("last_cxid", Json::Int(s.last_cxid)),
            ("last_zxid", Json::Int(s.last_zxid)),
            ("last_response_time", Json::Int(s.last_response_ms)),
            ("last_latency", Json::Int(s.last_latency_ms)),
            ("min_latency", Json::Int(s.min_latency_ms)),
            ("avg_latency", Json::Int(s.avg_latency_ms)),
            ("max_latency", Json::Int(s.max_latency_ms)),
        ];
        f.extend(fields.into_iter().map(|(k, v)| (k.to_owned(), v)));
    }
    Json::Object(f)
}

/// `DumpCommand`: sessions by expiry time (the reaper's clock, as ZooKeeper's
/// `getSessionExpiryMap` gives its `ExpiryQueue` times) and ephemerals by session.
fn dump(shared: &Shared) -> Vec<(&'static str, Json)> {
    let (by_tick, _) = fourlw::sessions_by_expiry_tick(shared);
    let ephemerals = fourlw::ephemerals_by_session(shared);
    vec![
        (
            "expiry_time_to_session_ids",
            Json::Object(
                by_tick
                    .into_iter()
                    .map(|(t, sids)| (t.to_string(), ints(sids)))
                    .collect(),
            ),
        ),
        (
            "session_id_to_ephemeral_paths",
            Json::Object(
                ephemerals
                    .into_iter()
                    .map(|(sid, paths)| (sid.to_string(), strings(paths)))
                    .collect(),
            ),
        ),
    ]
}

/// `LastSnapshotCommand`: the newest snapshot file, its zxid in hex and its
/// modification time in seconds; `ffffffffffffffff` and -1 without one.
fn last_snapshot(shared: &Shared) -> Vec<(&'static str, Json)> {
    let newest = zooid_storage::files::list(&shared.config.snap_dir(), "snapshot")
        .ok()
        .and_then(|v| v.into_iter().max_by_key(|(z, _)| *z));
    let (zxid, secs) = match newest {
        Some((zxid, path)) => {
            let secs = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(-1, |d| d.as_secs() as i64);
            (zxid, secs)
        }
        None => (-1, -1),
    };
    vec![
        ("zxid", Json::Str(format!("{zxid:x}"))),
        ("timestamp", Json::Int(secs)),
    ]
}

/// `LeaderCommand`. Zooid does not publish whom a follower follows, so only a leader
/// can name the leader; a follower answers -1 and "".
fn leader(shared: &Shared) -> Vec<(&'static str, Json)> {
    if !shared.replica {
        return vec![("error", Json::str("server is not initialized"))];
    }
    let is_leader = *shared.server_mode.lock() == "leader";
    let id = shared.ensemble.lock().as_ref().map_or(-1, |e| e.leader_id);
    // `QuorumPeer.leaderAddress`: the leader's quorum host strings joined by "|".
    let ip = u64::try_from(id)
        .ok()
        .and_then(|id| shared.config.servers.get(&id))
        .map_or(String::new(), |s| {
            s.addrs
                .iter()
                .map(|a| a.host.as_str())
                .collect::<Vec<_>>()
                .join("|")
        });
    vec![
        ("is_leader", Json::Bool(is_leader)),
        ("leader_id", Json::Int(id)),
        ("leader_ip", Json::Str(ip)),
    ]
}

/// `MonitorCommand`: mntr's keys and values, numbers as numbers.
fn monitor(shared: &Shared) -> Vec<(String, Json)> {
    let mut m = fourlw::gather_monitor(shared);
    // mntr counts its own connection; the admin request is no client connection.
    m.summary.connections = m.summary.connections.saturating_sub(1);
    fourlw::monitor_lines(shared, &m)
        .into_iter()
        .map(|(k, v)| {
            let number = v.parse::<i64>().is_ok()
                || (v.parse::<f64>().is_ok_and(f64::is_finite)
                    && v.bytes().all(|b| b.is_ascii_digit() || b".-E".contains(&b)));
            (
                k,
                if number {
                    Json::Number(v)
                } else {
                    Json::Str(v)
                },
            )
        })
        .collect()
}

fn set_trace_mask(shared: &Shared, args: &BTreeMap<String, String>) -> Vec<(&'static str, Json)> {
    let Some(raw) = args.get("traceMask") else {
        return vec![(
            "error",
            Json::str("setTraceMask requires long traceMask argument"),
        )];
    };
    match java_parse_long(raw) {
        Some(mask) => {
            shared.counters.trace_mask.store(mask, Ordering::Relaxed);
            vec![("tracemask", Json::Int(mask))]
        }
        None => vec![(
            "error",
            Json::Str(format!(
                "setTraceMask requires long traceMask argument, got {raw}"
            )),
        )],
    }
}

/// `Long.parseLong`: an optional sign and decimal digits.
fn java_parse_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `SrvrCommand`: version, read-only flag, `ServerStats` (as Jackson writes the bean),
/// response sizes and node count.
fn server_stats(shared: &Shared) -> Vec<(&'static str, Json)> {
    let s = fourlw::gather_summary(shared);
    let (last, min, max) = shared.counters.response_size().get();
    let buffer = || {
        Json::Object(vec![
            ("last_buffer_size".into(), Json::Int(last)),
            ("min_buffer_size".into(), Json::Int(min)),
            ("max_buffer_size".into(), Json::Int(max)),
        ])
    };
    let int = |v: i64| Json::Int(v);
    let stats: Vec<(&str, Json)> = vec![
        ("packets_sent", int(s.sent as i64)),
        ("packets_received", int(s.received as i64)),
        // Zooid does not count slow fsyncs (it logs them).
        ("fsync_threshold_exceed_count", int(0)),
        ("client_response_stats", buffer()),
        ("data_dir_size", size(&shared.config.snap_dir())),
        ("log_dir_size", size(&shared.config.txn_log_dir())),
        ("provider_null", Json::Bool(false)),
        ("server_state", Json::str(s.mode)),
        ("last_processed_zxid", int(s.zxid)),
        ("outstanding_requests", int(s.outstanding)),
        ("avg_latency", Json::double(fourlw::avg_latency(&s.latency))),
        ("max_latency", int(s.latency.max_ms)),
        ("min_latency", int(s.latency.min_ms)),
        // `gather_summary` counts a four-letter word's own connection.
        (
            "num_alive_client_connections",
            int(s.connections.saturating_sub(1) as i64),
        ),
        ("uptime", int(shared.started.elapsed().as_millis() as i64)),
        // Only TLS fails authentication; non-mTLS counts are Netty's plain port's.
        (
            "auth_failed_count",
            int(shared.counters.auth_failed.load(Ordering::Relaxed) as i64),
        ),
        ("non_mtlsremote_conn_count", int(0)),
        ("non_mtlslocal_conn_count", int(0)),
    ];
    vec![
        ("version", Json::Str(s.version)),
        ("read_only", Json::Bool(false)),
        (
            "server_stats",
            Json::Object(stats.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        ),
        ("client_response", buffer()),
        ("node_count", int(s.node_count as i64)),
    ]
}

fn synced_observers(shared: &Shared) -> i64 {
    let e = shared.ensemble.lock();
    let leader = e.as_ref().and_then(|e| e.leader.as_ref());
    leader.map_or(0, |l| l.synced_observers as i64)
}

/// `VotingViewCommand`: the voting members of `server.N` lines.
fn voting_view(shared: &Shared) -> Json {
    if !shared.replica {
        return Json::Object(vec![]);
    }
    let addr = |host: &str, port: u16| {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    };
    let voters = shared
        .config
        .servers
        .values()
        .filter(|s| s.role == crate::config::PeerType::Participant);
    Json::Object(
        voters
            .map(|s| {
                let view = vec![
                    (
                        "server_addresses".to_owned(),
                        strings(s.addrs.iter().map(|a| addr(&a.host, a.quorum_port))),
                    ),
                    (
                        "election_addresses".to_owned(),
                        strings(s.addrs.iter().map(|a| addr(&a.host, a.election_port))),
                    ),
                    (
                        "client_address".to_owned(),
                        Json::Str(
                            s.client_addr
                                .as_ref()
                                .map_or(String::new(), |c| addr(&c.host, c.port)),
                        ),
                    ),
                    ("learner_type".to_owned(), Json::str("participant")),
                ];
                (s.id.to_string(), Json::Object(view))
            })
            .collect(),
    )
}

/// `ZabStateCommand`, without the address fields of an ensemble member (ZooKeeper
/// writes its `MultipleAddresses` beans there; Zooid leaves them out).
fn zabstate(shared: &Shared) -> Vec<(&'static str, Json)> {
    let state = shared.ensemble.lock().as_ref().map(|e| e.peer_state);
    let (true, Some(peer_state)) = (shared.replica, state) else {
        return vec![("voting", Json::Bool(false)), ("zabstate", Json::str(""))];
    };
    let zxid = shared.tree.read().last_zxid();
    let me = shared.config.server_id.unwrap_or(0);
    let voting = shared
        .config
        .servers
        .get(&me)
        .is_some_and(|s| s.role == crate::config::PeerType::Participant);
    // "following - broadcast" → "broadcast", "looking - election" → "election".
    let phase = peer_state.rsplit(" - ").next().unwrap_or("");
    vec![
        ("myid", Json::Int(me as i64)),
        (
            "is_leader",
            Json::Bool(*shared.server_mode.lock() == "leader"),
        ),
        ("voting", Json::Bool(voting)),
        ("last_zxid", Json::Str(format!("0x{zxid:x}"))),
        ("zab_epoch", Json::Int(zxid >> 32)),
        ("zab_counter", Json::Int(zxid & 0xffff_ffff)),
        ("zabstate", Json::str(phase)),
    ]
}
