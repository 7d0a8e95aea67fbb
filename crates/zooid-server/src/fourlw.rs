//! Four-letter words: a connection whose first four bytes spell a command gets that
//! command's text output and is closed, as ZooKeeper's `checkFourLetterWord` does.
//!
//! The output of every command has ZooKeeper 3.9's layout, byte for byte, so that the
//! tools that parse it (kazoo's `command`, zktop, the mntr exporters) read Zooid too.
//! Each layout is a pure `render_*` function over plain data, pinned by the tests below;
//! the `gather_*` functions read that data from [`Shared`] and from the host (`host`).
//!
//! Where ZooKeeper reports a JVM figure, Zooid reports the process's own (see `host`);
//! where it reports a subsystem Zooid does not have (TLS, connection throttling, local
//! sessions), the value is the true one for Zooid: zero. After its gauges, mntr prints
//! every `ServerMetrics` counter and summary, as ZooKeeper's default metrics provider
//! does; `metrics` lists which ones Zooid measures and which belong to machinery it
//! does not have (commit processor, learners, elections, ...), printed as ZooKeeper
//! prints them when their event never happened.

pub(crate) mod host;
mod java_map;
pub mod metrics;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use zooid_tree::quota::{StatsTrack, LIMIT_NODE, QUOTA_ROOT, STAT_NODE};
use zooid_tree::watch::WatchSummary;
use zooid_tree::DataTree;

use crate::config::{ConfFacts, FOUR_LETTER_WORDS};
use crate::core::now_wall_ms;
use crate::state::{ConnHandle, Shared};
use crate::stats::LatencyTotals;

/// The ZooKeeper release whose behaviour and output Zooid follows.
pub const ZOOKEEPER_VERSION: &str = "3.9.5";

/// How long `stmk` waits for the 8-byte mask after the command word. ZooKeeper reads
/// whatever already arrived and drops the connection if it is short; a second lets a
/// client that writes the two parts separately still be served.
const STMK_MASK_WAIT_MS: u64 = 1_000;

/// ZooKeeper writes a command's output through a `BufferedWriter` of this many chars;
/// each chunk it hands to the socket counts as one sent packet in `srvr`'s `Sent`.
const OUTPUT_CHUNK_CHARS: usize = 8192;

/// What `stat` and `srvr` print as the mode of a server that is not in an ensemble.
pub const MODE_STANDALONE: &str = "standalone";

/// The command named by a connection's first four bytes, if any.
pub fn command(first: [u8; 4]) -> Option<&'static str> {
    FOUR_LETTER_WORDS
        .iter()
        .copied()
        .find(|w| w.as_bytes() == first)
}

/// The connection a command arrived on: `stat` and `cons` list it, as ZooKeeper lists
/// the command's own connection, and `conf` takes the client port from it.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub remote: SocketAddr,
    pub local: Option<SocketAddr>,
    /// On the secure client port: `cons`, `stat` and `crst` act on the connections of
    /// the caller's own port (`AbstractFourLetterCommand.factory`).
    pub secure: bool,
}

/// Runs `cmd` and writes its output, then closes. `rd` is the rest of the connection,
/// from which `stmk` takes its mask.
pub async fn serve<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    cmd: &'static str,
    rd: &mut R,
    mut wr: W,
    caller: Caller,
) {
    // ZooKeeper counts the command word as a received packet, whitelisted or not, and
    // files the connection in its expiry queue like any other.
    shared.counters.received();
    shared.counters.metrics.bytes_received.add(4);
    let expiry = &shared.counters.cnxn_expiry;
    expiry.touch(&AtomicI64::new(0), expiry.timeout_of(0));
    let remote = caller.remote;
    let text = if !shared.config.four_letter_words.allows(cmd) {
        tracing::debug!("command {cmd} is not executed because it is not in the whitelist");
        format!("{cmd} is not executed because it is not in the whitelist.\n")
    } else if cmd == "stmk" {
        let mut mask = [0u8; 8];
        let wait = Duration::from_millis(STMK_MASK_WAIT_MS);
        match tokio::time::timeout(wait, rd.read_exact(&mut mask)).await {
            Ok(Ok(_)) => {
                let mask = i64::from_be_bytes(mask);
                tracing::info!("processing stmk command from {remote}");
                shared.counters.trace_mask.store(mask, Ordering::Relaxed);
                mask.to_string()
            }
            // ZooKeeper drops the connection without an answer when the mask is short.
            _ => return,
        }
    } else {
        tracing::info!("processing {cmd} command from {remote}");
        // Off the runtime's workers: `conf` and `dirs` walk directories, `envi` reads
        // `/proc`, and `dump` or `cons` can be long on a busy server.
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || execute(&shared, cmd, &caller))
            .await
            .unwrap_or_default()
    };
    if wr.write_all(text.as_bytes()).await.is_ok() {
        let chunks = sent_packets(&text);
        shared
            .counters
            .packets_sent
            .fetch_add(chunks, Ordering::Relaxed);
    }
    let _ = wr.shutdown().await;
}

/// How many packets ZooKeeper counts as sent for `text` (see [`OUTPUT_CHUNK_CHARS`]).
pub fn sent_packets(text: &str) -> u64 {
    text.encode_utf16().count().div_ceil(OUTPUT_CHUNK_CHARS) as u64
}

/// The output of a whitelisted command other than `stmk` (which needs its mask, see
/// [`serve`]); empty for `stmk` and for words ZooKeeper does not know.
pub fn execute(shared: &Shared, cmd: &str, caller: &Caller) -> String {
    match cmd {
        "ruok" => "imok".to_owned(),
        "isro" => "rw".to_owned(),
        "gtmk" => shared
            .counters
            .trace_mask
            .load(Ordering::Relaxed)
            .to_string(),
        "conf" => shared.config.render(&gather_conf(shared, caller)),
        "dirs" => {
            let facts = gather_conf(shared, caller);
            render_dirs(facts.data_dir_size, facts.data_log_size)
        }
        "envi" => render_envi(&host::environment(&full_version())),
        // An ensemble member between roles (`ZooKeeperServer.isRunning` false).
        "srvr" | "stat" | "mntr" | "cons" | "dump" | "wchs" | "wchc" | "wchp"
            if shared.server_mode.lock().is_empty() =>
        {
            "This ZooKeeper instance is not currently serving requests\n".to_owned()
        }
        "srvr" => render_stat(&gather_summary(shared), None),
        "stat" => {
            // Connections first: the summary's counts then include what is listed.
            let clients = gather_connections(shared, caller);
            render_stat(&gather_summary(shared), Some(&clients))
        }
        "cons" => render_cons(&gather_connections(shared, caller)),
        "crst" => {
            for c in port_connections(shared, caller.secure) {
                c.stats.reset();
            }
            "Connection stats reset.\n".to_owned()
        }
        "srst" => {
            shared.reset_stats();
            "Server stats reset.\n".to_owned()
        }
        "dump" => render_dump(&gather_dump(shared, caller)),
        "wchs" => render_wchs(shared.watches.lock().summary()),
        "wchc" => render_wchc(&gather_watches_by_session(shared)),
        "wchp" => render_wchp(&gather_watches_by_path(shared)),
        "mntr" => render_mntr(&monitor_lines(shared, &gather_monitor(shared))),
        // Zooid keeps no tree digest yet, so its digest log is empty, as ZooKeeper's is
        // with `digest.enabled=false`.
        "hash" => render_hash(&[]),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Version

/// `Version.getVersionRevision` in ZooKeeper's `MAJOR.MINOR.MICRO[-QUALIFIER]-REVISION`
/// shape, so the parsers that look for `3.9.5-` still find a 3.9.5: `3.9.5-zooid-0.1.0`.
pub fn version_revision() -> String {
    format!("{ZOOKEEPER_VERSION}-zooid-{}", env!("CARGO_PKG_VERSION"))
}

/// `Version.getFullVersion`: the version and when this binary was built (the time its
/// file was written), `2026-11-26 04:16 UTC` as ZooKeeper prints its build date.
pub fn full_version() -> String {
    static BUILT: OnceLock<String> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        host::executable_mtime_ms()
            .map(build_date)
            .unwrap_or_else(|| "unknown".to_owned())
    });
    format!("{}, built on {built}", version_revision())
}

// ---------------------------------------------------------------------------------------
// srvr, stat, cons, crst

/// What `srvr` prints (`ServerStats.toString` plus the node count).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSummary {
    pub version: String,
    pub latency: LatencyTotals,
    pub received: u64,
    pub sent: u64,
    pub connections: usize,
    pub outstanding: i64,
    pub zxid: i64,
    pub mode: &'static str,
    pub node_count: usize,
}

/// One connection as `cons` and `stat` print it (`ServerCnxn.dumpConnectionInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// `SelectionKey` interest bits: 1 while reading, 4 while replies wait to be written.
    pub interest_ops: u32,
    pub queued: usize,
    pub received: u64,
    pub sent: u64,
    /// None before the handshake gives the connection a session.
    pub session: Option<ConnSession>,
}

/// The part of `cons` that only connections with a session have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSession {
    pub id: i64,
    pub last_op: &'static str,
    pub established_ms: i64,
    pub timeout_ms: i64,
    /// -1 (not printed) until a request with a non-negative xid was answered.
    pub last_cxid: i64,
    pub last_zxid: i64,
    pub last_response_ms: i64,
    pub last_latency_ms: i64,
    pub min_latency_ms: i64,
    pub avg_latency_ms: i64,
    pub max_latency_ms: i64,
}

/// `srvr` (`clients` None) or `stat` (`StatCommand`).
pub fn render_stat(s: &ServerSummary, clients: Option<&[ConnInfo]>) -> String {
    let mut out = format!("Zookeeper version: {}\n", s.version);
    if let Some(clients) = clients {
        out.push_str("Clients:\n");
        for c in clients {
            out.push_str(&conn_line(c, true));
            out.push('\n');
        }
        out.push('\n');
    }
    let l = &s.latency;
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{}/{}",
        l.min_ms,
        java_double(avg_latency(l)),
        l.max_ms
    );
    let _ = writeln!(out, "Received: {}", s.received);
    let _ = writeln!(out, "Sent: {}", s.sent);
    let _ = writeln!(out, "Connections: {}", s.connections);
    let _ = writeln!(out, "Outstanding: {}", s.outstanding);
    let _ = writeln!(out, "Zxid: 0x{:x}", s.zxid);
    let _ = writeln!(out, "Mode: {}", s.mode);
    let _ = writeln!(out, "Node count: {}", s.node_count);
    out
}

/// `cons`: every connection in full, then an empty line.
pub fn render_cons(conns: &[ConnInfo]) -> String {
    let mut out = String::new();
    for c in conns {
        out.push_str(&conn_line(c, false));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `ServerCnxn.dumpConnectionInfo`: ` /127.0.0.1:5000[1](queued=0,recved=3,sent=3,...)`.
pub fn conn_line(c: &ConnInfo, brief: bool) -> String {
    let mut out = format!(
        " {}[{:x}](queued={},recved={},sent={}",
        java_socket_addr(c.remote),
        c.interest_ops,
        c.queued,
        c.received,
        c.sent
    );
    if let (false, Some(s)) = (brief, &c.session) {
        let _ = write!(
            out,
            ",sid=0x{:x},lop={},est={},to={}",
            s.id, s.last_op, s.established_ms, s.timeout_ms
        );
        if s.last_cxid >= 0 {
            let _ = write!(out, ",lcxid=0x{:x}", s.last_cxid);
        }
        let _ = write!(
            out,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            s.last_zxid,
            s.last_response_ms,
            s.last_latency_ms,
            s.min_latency_ms,
            s.avg_latency_ms,
            s.max_latency_ms
        );
    }
    out.push(')');
    out
}

pub(crate) fn live_connections(shared: &Shared) -> Vec<Arc<ConnHandle>> {
    let mut v: Vec<Arc<ConnHandle>> = shared
        .conns
        .lock()
        .values()
        .filter(|c| !c.closed.load(Ordering::Acquire))
        .cloned()
        .collect();
    v.sort_by_key(|c| c.id);
    v
}

/// The live connections of one client port, plain or secure, in the order they were
/// accepted (a `ServerCnxnFactory`'s connections).
pub(crate) fn port_connections(shared: &Shared, secure: bool) -> Vec<Arc<ConnHandle>> {
    let mut v = live_connections(shared);
    v.retain(|c| c.secure == secure);
    v
}

/// The server's counters. `Connections` counts the command's own connection, as
/// ZooKeeper's does.
pub(crate) fn gather_summary(shared: &Shared) -> ServerSummary {
    let (zxid, node_count) = {
        let tree = shared.tree.read();
        (tree.last_zxid(), tree.node_count())
    };
    let c = &shared.counters;
    ServerSummary {
        version: full_version(),
        latency: c.latency().totals(),
        received: c.packets_received.load(Ordering::Relaxed),
        sent: c.packets_sent.load(Ordering::Relaxed),
        connections: live_connections(shared).len() + 1,
        outstanding: c.outstanding.load(Ordering::Relaxed),
        zxid,
        mode: *shared.server_mode.lock(),
        node_count,
    }
}

/// Client connections in the order they were accepted, then the command's own, which
/// has received its command word and sent nothing yet.
fn gather_connections(shared: &Shared, caller: &Caller) -> Vec<ConnInfo> {
    let mut v: Vec<ConnInfo> = port_connections(shared, caller.secure)
        .iter()
        .map(|c| conn_info(c))
        .collect();
    v.push(ConnInfo {
        remote: caller.remote,
        interest_ops: 0,
        queued: 0,
        received: 1,
        sent: 0,
        session: None,
    });
    v
}

pub(crate) fn conn_info(c: &ConnHandle) -> ConnInfo {
    let s = &c.stats;
    let load = |a: &std::sync::atomic::AtomicI64| a.load(Ordering::Relaxed);
    let sid = c.session();
    let session = (sid != 0).then(|| {
        let count = s.count.load(Ordering::Relaxed) as i64;
        let min = load(&s.min_latency_ms);
        ConnSession {
            id: sid,
            last_op: *s.last_op.lock(),
            established_ms: load(&s.established_ms),
            timeout_ms: c.timeout_ms.load(Ordering::Relaxed),
            last_cxid: load(&s.last_cxid),
            last_zxid: load(&s.last_zxid),
            last_response_ms: load(&s.last_response_ms),
            last_latency_ms: load(&s.last_latency_ms),
            min_latency_ms: if min == i64::MAX { 0 } else { min },
            avg_latency_ms: if count == 0 {
                0
            } else {
                load(&s.total_latency_ms) / count
            },
            max_latency_ms: load(&s.max_latency_ms),
        }
    });
    let writing = if c.out.queued_bytes() > 0 { 4 } else { 0 };
    ConnInfo {
        remote: c.remote,
        interest_ops: 1 | writing,
        queued: c.in_core.load(Ordering::Relaxed),
        received: s.received.load(Ordering::Relaxed),
        sent: s.sent.load(Ordering::Relaxed),
        session,
    }
}

/// `AvgMinMaxCounter.getAvg`: the mean rounded half-up to 4 decimals, decided on the
/// exact value of the double as `BigDecimal` does.
pub fn avg_latency(l: &LatencyTotals) -> f64 {
    java_avg(l.total_ms, l.count as i64)
}

/// `AvgMinMaxCounter.getAvg` of `count` samples summing to `total`.
pub fn java_avg(total: i64, count: i64) -> f64 {
    if count <= 0 {
        return 0.0;
    }
    let avg = total as f64 / count as f64;
    // 50 digits hold the exact expansion far enough to decide the 5th for any mean.
    let exact = format!("{avg:.50}");
    let (int, frac) = exact.split_once('.').expect("fixed notation has a point");
    let kept: u128 = format!("{int}{}", &frac[..4]).parse().expect("digits");
    let up = frac.as_bytes()[4] >= b'5';
    let scaled = kept + u128::from(up);
    format!("{}.{:04}", scaled / 10_000, scaled % 10_000)
        .parse()
        .expect("a decimal")
}

// ---------------------------------------------------------------------------------------
// mntr

/// What mntr reports: `dumpMonitorValues` and the gauges `ZooKeeperServer.registerMetrics`
/// registers.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    pub summary: ServerSummary,
    pub uptime_ms: i64,
    pub watch_count: usize,
    pub ephemerals_count: usize,
    pub approximate_data_size: u64,
    pub global_sessions: usize,
    /// `ServerStats.getAuthFailedCount`.
    pub auth_failed: u64,
    /// `/proc/self/fd` entries; -1 where the host cannot say, as `OSMXBean` reports.
    pub open_fds: i64,
    /// The soft `RLIMIT_NOFILE`; -1 where unknown or unlimited.
    pub max_fds: i64,
    /// Response sizes: (last, min, max), -1 before the first.
    pub response_size: (i64, i64, i64),
    pub quotas: QuotaGauges,
    /// The `ServerMetrics` lines, in order (see [`metrics::lines`]).
    pub metrics: Vec<(String, String)>,
    /// An ensemble member's values.
    pub ensemble: Option<crate::state::EnsembleStats>,
}

/// The per-namespace quota gauge sets (`QuotaMetricsUtils`), by top-level namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaGauges {
    pub count_limit: BTreeMap<String, i64>,
    pub bytes_limit: BTreeMap<String, i64>,
    pub count_usage: BTreeMap<String, i64>,
    pub bytes_usage: BTreeMap<String, i64>,
}

/// The mntr lines without the `zk_` prefix, in ZooKeeper 3.9's order: the two monitor
/// values, then the gauges in the iteration order of the `ConcurrentHashMap` that holds
/// them (fixed by their names), then the quota gauge sets likewise, then the rest of
/// `ServerMetrics`.
pub fn mntr_lines(m: &Monitor) -> Vec<(String, String)> {
    let s = &m.summary;
    let (last_size, min_size, max_size) = m.response_size;
    let int = |v: i64| v.to_string();
    let auth_failed = m.auth_failed as i64;
    // `ZooKeeperServer.registerMetrics`, in registration order: the order they sit in
    // the gauge map depends on it.
    let mut gauges: Vec<(&str, Option<String>)> = vec![
        ("avg_latency", Some(java_double(avg_latency(&s.latency)))),
        ("max_latency", Some(int(s.latency.max_ms))),
        ("min_latency", Some(int(s.latency.min_ms))),
        ("packets_received", Some(s.received.to_string())),
        ("packets_sent", Some(s.sent.to_string())),
        ("num_alive_connections", Some(s.connections.to_string())),
        ("outstanding_requests", Some(int(s.outstanding))),
        ("uptime", Some(int(m.uptime_ms))),
        ("znode_count", Some(s.node_count.to_string())),
        ("watch_count", Some(m.watch_count.to_string())),
        ("ephemerals_count", Some(m.ephemerals_count.to_string())),
        (
            "approximate_data_size",
            Some(m.approximate_data_size.to_string()),
        ),
        ("global_sessions", Some(m.global_sessions.to_string())),
        // Zooid's sessions are all global.
        ("local_sessions", Some(int(0))),
        ("open_file_descriptor_count", Some(int(m.open_fds))),
        ("max_file_descriptor_count", Some(int(m.max_fds))),
        // Zooid has no connection throttle, so it never drops a connection at random.
        ("connection_drop_probability", Some(java_double(0.0))),
        ("last_client_response_size", Some(int(last_size))),
        ("max_client_response_size", Some(int(max_size))),
        ("min_client_response_size", Some(int(min_size))),
        // Handshakes are not throttled (Netty's outstandingHandshake.limit), so none
        // is counted outstanding; connections are counted non-mTLS only on Netty's
        // plain port, and Zooid's plain port is NIO's.
        ("outstanding_tls_handshake", Some(int(0))),
        ("auth_failed_count", Some(int(auth_failed))),
        ("non_mtls_remote_conn_count", Some(int(0))),
        ("non_mtls_local_conn_count", Some(int(0))),
    ];
    if let Some(e) = &m.ensemble {
        gauges.push(("quorum_size", Some(e.quorum_size.to_string())));
        match &e.leader {
            // `LeaderZooKeeperServer`: gauges that read the leader.
            Some(l) => gauges.extend([
                ("learners", Some(l.learners.to_string())),
                ("synced_followers", Some(l.synced_followers.to_string())),
                ("synced_non_voting_followers", Some(int(0))),
                ("synced_observers", Some(l.synced_observers.to_string())),
                ("pending_syncs", Some(l.pending_syncs.to_string())),
                ("leader_uptime", Some(int(l.uptime_ms))),
                ("last_proposal_size", Some(int(l.proposal_size.0))),
                ("max_proposal_size", Some(int(l.proposal_size.2))),
                ("min_proposal_size", Some(int(l.proposal_size.1))),
            ]),
            // `FollowerZooKeeperServer` registers `synced_observers`, which reads null
            // without an observer master port (Zooid has none): kept out of the output
            // but in the map, whose order it shapes.
            None if e.peer_state.starts_with("following") => {
                gauges.push(("synced_observers", None));
            }
            None => {}
        }
    }
    let order = java_map::iteration_order(gauges.iter().map(|(k, _)| *k));
    let gauges: Vec<(&str, String)> = order
        .into_iter()
        .filter_map(|k| {
            let v = gauges.iter().find(|(name, _)| *name == k)?.1.clone()?;
            Some((k, v))
        })
        .collect();
    let mut v = vec![
        ("version".to_owned(), s.version.clone()),
        ("server_state".to_owned(), s.mode.to_owned()),
    ];
    if let Some(e) = &m.ensemble {
        v.push(("peer_state".to_owned(), e.peer_state.to_owned()));
    }
    v.extend(gauges.into_iter().map(|(k, val)| (k.to_owned(), val)));
    let q = &m.quotas;
    let sets = [
        ("quota_bytes_limit_per_namespace", &q.bytes_limit),
        ("quota_count_usage_per_namespace", &q.count_usage),
        ("quota_count_limit_per_namespace", &q.count_limit),
        ("quota_bytes_usage_per_namespace", &q.bytes_usage),
    ];
    for (name, set) in sets {
        for (ns, val) in set {
            v.push((format!("{ns}_{name}"), val.to_string()));
        }
    }
    v.extend(m.metrics.iter().cloned());
    v
}

/// `MonitorCommand`: `zk_<key>\t<value>` lines.
/// mntr's lines as the configured metrics provider dumps them: ZooKeeper's default
/// provider's ([`mntr_lines`]), or the Prometheus provider's samples.
pub fn monitor_lines(shared: &Shared, m: &Monitor) -> Vec<(String, String)> {
    if crate::prometheus::configured(&shared.config.other) {
        let now_ms = crate::stats::monotonic_ms();
        crate::prometheus::text::mntr_lines(m, &shared.counters.metrics, now_ms)
    } else {
        mntr_lines(m)
    }
}

pub fn render_mntr(lines: &[(String, String)]) -> String {
    lines
        .iter()
        .map(|(k, v)| format!("zk_{k}\t{v}\n"))
        .collect()
}

pub(crate) fn gather_monitor(shared: &Shared) -> Monitor {
    let (ephemerals_count, approximate_data_size, quotas) = {
        let tree = shared.tree.read();
        (
            tree.ephemeral_count(),
            tree.approximate_data_size(),
            quota_gauges(&tree),
        )
    };
    let watch_count = shared.watches.lock().watch_count();
    Monitor {
        summary: gather_summary(shared),
        uptime_ms: shared.started.elapsed().as_millis() as i64,
        watch_count,
        ephemerals_count,
        approximate_data_size,
        global_sessions: shared.session_count.load(Ordering::Relaxed),
        auth_failed: shared.counters.auth_failed.load(Ordering::Relaxed),
        open_fds: host::open_fd_count().unwrap_or(-1),
        max_fds: host::max_fd_count().unwrap_or(-1),
        response_size: shared.counters.response_size().get(),
        quotas,
        metrics: metrics::lines(&shared.counters.metrics),
        ensemble: shared.ensemble.lock().clone(),
    }
}

/// Walks `/zookeeper/quota` as `QuotaMetricsUtils` does: every leaf named
/// `zookeeper_limits` gives limits (hard over soft), every leaf named `zookeeper_stats`
/// gives usage, summed per top-level namespace of the quota'd path.
pub fn quota_gauges(tree: &DataTree) -> QuotaGauges {
    let mut g = QuotaGauges::default();
    let mut stack = vec![QUOTA_ROOT.to_owned()];
    while let Some(path) = stack.pop() {
        let Some(node) = tree.get(&path) else {
            continue;
        };
        if !node.children.is_empty() {
            stack.extend(node.children.iter().map(|c| DataTree::child_path(&path, c)));
            continue;
        }
        // `PathUtils.getTopNamespace` of the path below the quota root.
        let Some(ns) = path[QUOTA_ROOT.len()..].split('/').nth(1) else {
            continue;
        };
        let limit = |hard: i64, soft: i64| if hard > -1 { hard } else { soft };
        let st = StatsTrack::parse(&node.data);
        let add = |set: &mut BTreeMap<String, i64>, v: i64| {
            *set.entry(ns.to_owned()).or_insert(0) += v;
        };
        if path.ends_with(&format!("/{LIMIT_NODE}")) {
            add(&mut g.count_limit, limit(st.count_hard_limit(), st.count()));
            add(&mut g.bytes_limit, limit(st.byte_hard_limit(), st.bytes()));
        } else if path.ends_with(&format!("/{STAT_NODE}")) {
            add(&mut g.count_usage, st.count());
            add(&mut g.bytes_usage, st.bytes());
        }
    }
    g
}

// ---------------------------------------------------------------------------------------
// wchs, wchc, wchp, hash

/// `wchs`: `WatchManager.toString` of the data watches, then an empty line.
pub fn render_wchs(s: WatchSummary) -> String {
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        s.num_connections, s.num_paths, s.total_watches
    )
}

/// `wchc`: each watching session with its paths, then an empty line.
pub fn render_wchc(by_session: &[(i64, Vec<String>)]) -> String {
    let mut out = String::new();
    for (sid, paths) in by_session {
        let _ = writeln!(out, "0x{sid:x}");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push('\n');
    out
}

/// `wchp`: each watched path with its sessions, then an empty line.
pub fn render_wchp(by_path: &[(String, Vec<i64>)]) -> String {
    let mut out = String::new();
    for (path, sids) in by_path {
        let _ = writeln!(out, "{path}");
        for sid in sids {
            let _ = writeln!(out, "\t0x{sid:x}");
        }
    }
    out.push('\n');
    out
}

/// `hash`: the digest log, `<zxid hex>: <digest>` per entry.
pub fn render_hash(log: &[(i64, i64)]) -> String {
    log.iter()
        .map(|(zxid, digest)| format!("{zxid:x}: {digest}\n"))
        .collect()
}

/// Session of each watcher; a connection that is already gone (its watches are being
/// removed) is left out.
fn sessions_of(shared: &Shared, ids: impl Iterator<Item = u64>) -> BTreeMap<u64, i64> {
    let conns = shared.conns.lock();
    ids.filter_map(|id| conns.get(&id).map(|c| (id, c.session())))
        .collect()
}

pub(crate) fn gather_watches_by_session(shared: &Shared) -> Vec<(i64, Vec<String>)> {
    let by_watcher = shared.watches.lock().by_watcher();
    let sids = sessions_of(shared, by_watcher.keys().copied());
    by_watcher
        .into_iter()
        .filter_map(|(w, paths)| Some((*sids.get(&w)?, paths.into_iter().collect())))
        .collect()
}

pub(crate) fn gather_watches_by_path(shared: &Shared) -> Vec<(String, Vec<i64>)> {
    let by_path = shared.watches.lock().by_path();
    let sids = sessions_of(shared, by_path.values().flatten().copied());
    let mut v = Vec::with_capacity(by_path.len());
    for (path, watchers) in by_path {
        let s: Vec<i64> = watchers
            .iter()
            .filter_map(|w| sids.get(w).copied())
            .collect();
        if !s.is_empty() {
            v.push((path, s));
        }
    }
    v
}

// ---------------------------------------------------------------------------------------
// dump

/// What `dump` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    /// Sessions by expiry time (wall-clock ms), earliest first.
    pub expiry: Vec<(i64, Vec<i64>)>,
    pub session_count: usize,
    /// Ephemeral paths by owning session.
    pub ephemerals: Vec<(i64, Vec<String>)>,
    /// Connections by idle-expiry time (wall-clock ms), earliest first; a time can
    /// have none left (see `stats::CnxnExpiry`).
    pub connections: Vec<(i64, Vec<CnxnId>)>,
}

/// A connection as NIO's expiry queue prints it (`NIOServerCnxn.toString`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnxnId {
    pub remote: SocketAddr,
    pub session: i64,
}

/// `DumpCommand` with ZooKeeper's default (NIO) connection factory: the sessions
/// (`ExpiryQueue.dump`), the ephemerals (`DataTree.dumpEphemerals`), then the
/// connections (`NIOServerCnxnFactory.dumpConnections`: "Connections " and its
/// `ExpiryQueue.dump`).
pub fn render_dump(d: &Dump) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    let _ = writeln!(
        out,
        "Session Sets ({})/({}):",
        d.expiry.len(),
        d.session_count
    );
    for (at, sids) in &d.expiry {
        let _ = writeln!(out, "{} expire at {}:", sids.len(), java_date(*at));
        for sid in sids {
            let _ = writeln!(out, "\t0x{sid:x}");
        }
    }
    out.push_str("ephemeral nodes dump:\n");
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", d.ephemerals.len());
    for (sid, paths) in &d.ephemerals {
        let _ = writeln!(out, "0x{sid:x}:");
        for p in paths {
            let _ = writeln!(out, "\t{p}");
        }
    }
    out.push_str("Connections dump:\n");
    let count: usize = d.connections.iter().map(|(_, c)| c.len()).sum();
    let _ = writeln!(out, "Connections Sets ({})/({count}):", d.connections.len());
    for (at, conns) in &d.connections {
        let _ = writeln!(out, "{} expire at {}:", conns.len(), java_date(*at));
        for c in conns {
            let _ = writeln!(
                out,
                "\tip: {} sessionId: 0x{:x}",
                java_socket_addr(c.remote),
                c.session
            );
        }
    }
    out
}

/// The reaper's period: the core's ticker runs every half tick (at least 10 ms, see
/// `Server::bind`), and a session expires at the first tick after its deadline.
pub(crate) fn reaper_interval_ms(tick_time_ms: u32) -> i64 {
    i64::from((tick_time_ms / 2).max(10))
}

/// The first reaper tick after `deadline_ms` (`ExpiryQueue.roundToNextInterval`).
pub fn expiry_tick(deadline_ms: i64, interval_ms: i64) -> i64 {
    (deadline_ms / interval_ms + 1) * interval_ms
}

fn gather_dump(shared: &Shared, caller: &Caller) -> Dump {
    let (by_tick, session_count) = sessions_by_expiry_tick(shared);
    // Ticks are on the server's monotonic clock; print them as wall-clock dates.
    let offset = now_wall_ms() - shared.started.elapsed().as_millis() as i64;
    Dump {
        expiry: by_tick.into_iter().map(|(t, s)| (t + offset, s)).collect(),
        session_count,
        ephemerals: ephemerals_by_session(shared),
        connections: gather_connection_expiry(shared, caller),
    }
}

/// Session ids by the reaper tick they expire at (ZooKeeper's `ExpiryQueue` times, on
/// the server's monotonic clock), and the number of sessions.
pub(crate) fn sessions_by_expiry_tick(shared: &Shared) -> (BTreeMap<i64, Vec<i64>>, usize) {
    let interval = reaper_interval_ms(shared.config.tick_time_ms);
    let mut by_tick: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let sessions = shared.sessions.lock();
    for s in sessions.values() {
        let seen = s.last_seen_ms.load(Ordering::Relaxed);
        let tick = expiry_tick(seen + i64::from(s.timeout_ms), interval);
        by_tick.entry(tick).or_default().push(s.id);
    }
    (by_tick, sessions.len())
}

/// Each session's ephemeral paths, by session id.
pub(crate) fn ephemerals_by_session(shared: &Shared) -> Vec<(i64, Vec<String>)> {
    let mut ephemerals: Vec<(i64, Vec<String>)> = shared
        .tree
        .read()
        .ephemeral_sessions()
        .map(|(sid, paths)| (*sid, paths.iter().cloned().collect()))
        .collect();
    ephemerals.sort();
    ephemerals
}

/// The client connections by expiry bucket, and the command's own connection, which
/// ZooKeeper lists too (sessionless, so in the bucket of now + the sessionless timeout).
fn gather_connection_expiry(shared: &Shared, caller: &Caller) -> Vec<(i64, Vec<CnxnId>)> {
    let expiry = &shared.counters.cnxn_expiry;
    let own = expiry.touch(&AtomicI64::new(0), expiry.timeout_of(0));
    let now = expiry.now_ms();
    let mut buckets: BTreeMap<i64, Vec<CnxnId>> = expiry
        .pending(now)
        .into_iter()
        .map(|b| (b, Vec::new()))
        .collect();
    for c in live_connections(shared) {
        let b = c.stats.expiry_bucket.load(Ordering::Relaxed);
        if b != 0 {
            buckets.entry(b).or_default().push(CnxnId {
                remote: c.remote,
                session: c.session(),
            });
        }
    }
    buckets.entry(own).or_default().push(CnxnId {
        remote: caller.remote,
        session: 0,
    });
    // `Time.elapsedTimeToDate`: the queue's clock to wall-clock time.
    let offset = now_wall_ms() - now;
    buckets.into_iter().map(|(b, c)| (b + offset, c)).collect()
}

// ---------------------------------------------------------------------------------------
// conf, dirs, envi

fn gather_conf(shared: &Shared, caller: &Caller) -> ConfFacts {
    let cfg = &shared.config;
    ConfFacts {
        client_port: caller.local.map(|a| a.port()),
        secure_client_port: cfg.secure_client_port,
        data_dir_size: dir_size(&cfg.snap_dir()),
        data_log_size: dir_size(&cfg.txn_log_dir()),
        server_id: 0,
    }
}

/// `ZooKeeperServer.getDirSize`: bytes of every file below `path` (0 if it is missing).
/// Symbolic links to directories are not followed, so a link cycle cannot hang us.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    }
    std::fs::read_dir(path)
        .map(|it| it.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// `dirs`.
pub fn render_dirs(data_dir_size: u64, log_dir_size: u64) -> String {
    format!("datadir_size: {data_dir_size}\nlogdir_size: {log_dir_size}\n")
}

/// `envi`: `Environment:` then `key=value` lines.
pub fn render_envi(env: &[(&str, String)]) -> String {
    let mut out = String::from("Environment:\n");
    for (k, v) in env {
        let _ = writeln!(out, "{k}={v}");
    }
    out
}

// ---------------------------------------------------------------------------------------
// Java's text forms

/// `Double.toString`: shortest digits that round-trip, plain between 10^-3 and 10^7 with
/// at least one decimal, otherwise `d.dddE±n`.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let a = x.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        // Rust's Debug is the shortest round-trip form and keeps a ".0" here.
        return format!("{x:?}");
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp has an exponent");
    let dot = if mantissa.contains('.') { "" } else { ".0" };
    format!("{mantissa}{dot}E{exp}")
}

/// `Date.toString` in UTC: `Thu Nov 26 04:16:08 UTC 2026` (shared with the dumps).
pub use zooid_storage::dump::java_date;

/// A build date as ZooKeeper's `Version` prints it: `2026-11-26 04:16 UTC`.
pub fn build_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = zooid_storage::dump::civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60
    )
}

/// `InetSocketAddress.toString` of an unresolved-name address: `/127.0.0.1:5000`,
/// `/[0:0:0:0:0:0:0:1]:5000`; an IPv4-mapped IPv6 address prints as IPv4, as Java
/// turns it into an `Inet4Address`.
pub fn java_socket_addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("/{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => {
            if let Some(v4) = v6.ip().to_ipv4_mapped() {
                return format!("/{v4}:{}", v6.port());
            }
            let groups: Vec<String> = v6
                .ip()
                .segments()
                .iter()
                .map(|g| format!("{g:x}"))
                .collect();
            let scope = match v6.scope_id() {
                0 => String::new(),
                s => format!("%{s}"),
            };
            format!("/[{}{scope}]:{}", groups.join(":"), v6.port())
        }
    }
}

#[cfg(test)]
mod tests;
