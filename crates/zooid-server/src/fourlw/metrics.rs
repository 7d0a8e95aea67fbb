//! The part of mntr after the gauges: `ServerMetrics`, dumped by ZooKeeper's default
//! metrics provider. It prints every metric it registered, whether anything ever
//! happened to it or not, so mntr has the same ~400 keys on every standalone server.
//!
//! [`SERVER_METRICS`] lists them all, in registration order, with where Zooid's value
//! comes from. A metric is one of:
//! - measured (`zooid`): Zooid counts or times the same event (see `stats::Metrics`);
//! - idle (`idle`): it belongs to machinery a standalone Zooid does not have (peers,
//!   a JVM, Netty, the commit processor, ...). The event never happens, so Zooid prints
//!   what ZooKeeper prints while it has not happened: 0, 0.0 and a count of 0.
//! - unmeasured (`unmeasured`): Zooid has the step but does not count or time it yet;
//!   printed like an idle one, and listed so that the gap is visible.
//!
//! The output order is ZooKeeper's: counters, counter sets, basic summaries, summaries
//! with percentiles, basic summary sets, summary sets with percentiles, each group in
//! the iteration order of the `ConcurrentHashMap` that holds it (see `java_map`), and
//! each metric's values as its `values()` lays them out.

use std::sync::OnceLock;

use crate::stats::{Counter, MetricSet, Metrics, PercentileSummary, Summary, SummaryTotals};

use super::java_map;
use super::{java_avg, java_double};

/// How ZooKeeper registered a metric (`MetricsContext.getCounter`, `getSummary` with a
/// detail level, ...): which map holds it and how it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `SimpleCounter`: `name`.
    Counter,
    /// `AvgMinMaxCounter` (`DetailLevel.BASIC`): `avg_`, `min_`, `max_`, `cnt_`, `sum_`.
    Summary,
    /// `AvgMinMaxPercentileCounter` (`ADVANCED`): the five, then `p50_` .. `p999_`.
    Percentiles,
    /// `AvgMinMaxCounterSet`: a `Summary` per key, named `<key>_<name>`.
    SummarySet,
    /// `AvgMinMaxPercentileCounterSet`: a `Percentiles` per key.
    PercentileSet,
    /// `SimpleCounterSet`: a `Counter` per key.
    CounterSet,
}

/// Zooid's storage for a measured metric.
#[derive(Clone, Copy)]
pub enum Reading<'a> {
    Counter(&'a Counter),
    Summary(&'a Summary),
    Percentiles(&'a PercentileSummary),
    SummarySet(&'a MetricSet<Summary>),
    CounterSet(&'a MetricSet<Counter>),
}

impl Reading<'_> {
    #[cfg(test)]
    pub fn kind(&self) -> Kind {
        match self {
            Reading::Counter(_) => Kind::Counter,
            Reading::Summary(_) => Kind::Summary,
            Reading::Percentiles(_) => Kind::Percentiles,
            Reading::SummarySet(_) => Kind::SummarySet,
            Reading::CounterSet(_) => Kind::CounterSet,
        }
    }
}

/// Where a metric's value comes from.
#[derive(Clone, Copy)]
pub enum Source {
    /// Zooid measures it.
    Zooid(fn(&Metrics) -> Reading<'_>),
    /// Machinery a standalone Zooid does not have: the event never happens.
    Idle,
    /// Zooid has the step but does not count or time it.
    Unmeasured,
}

/// One metric of `ServerMetrics`.
#[derive(Clone, Copy)]
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
    pub source: Source,
}

const fn zooid(kind: Kind, name: &'static str, read: fn(&Metrics) -> Reading<'_>) -> Def {
    Def {
        name,
        kind,
        source: Source::Zooid(read),
    }
}

const fn idle(kind: Kind, name: &'static str) -> Def {
    Def {
        name,
        kind,
        source: Source::Idle,
    }
}

const fn unmeasured(kind: Kind, name: &'static str) -> Def {
    Def {
        name,
        kind,
        source: Source::Unmeasured,
    }
}

use Kind::{Counter as C, CounterSet as CS, PercentileSet as PS, Percentiles as P};
use Kind::{Summary as S, SummarySet as SS};

/// Every metric ZooKeeper 3.9.5's `ServerMetrics` constructor registers, in its order
/// (which decides where each lands in the provider's maps, hence in mntr).
#[rustfmt::skip]
pub const SERVER_METRICS: [Def; 122] = [
    // Txn log and snapshots. fsynctime: one batch's write and fsync, with forceSync
    // (FileTxnLog.commit); snapshottime: one snapshot, the first one of a new data dir
    // included (takeSnapshot); dbinittime: loading snapshot and log at start.
    zooid(S, "fsynctime", |m| Reading::Summary(&m.fsync_time)),
    zooid(S, "snapshottime", |m| Reading::Summary(&m.snapshot_time)),
    // The admin server's snapshot and restore commands.
    zooid(C, "snapshot_error_count", |m| Reading::Counter(&m.snapshot_error_count)),
    zooid(C, "snapshot_rate_limited_count", |m| Reading::Counter(&m.snapshot_rate_limited_count)),
    zooid(S, "restore_time", |m| Reading::Summary(&m.restore_time)),
    zooid(C, "restore_error_count", |m| Reading::Counter(&m.restore_error_count)),
    zooid(C, "restore_rate_limited_count", |m| Reading::Counter(&m.restore_rate_limited_count)),
    zooid(S, "dbinittime", |m| Reading::Summary(&m.db_init_time)),
    // Request latency: arrival to answer, split by whether the request made a txn;
    // propagation: from the txn's header time to its apply.
    zooid(P, "readlatency", |m| Reading::Percentiles(&m.read_latency)),
    zooid(P, "updatelatency", |m| Reading::Percentiles(&m.update_latency)),
    zooid(P, "propagation_latency", |m| Reading::Percentiles(&m.propagation_latency)),
    // Leader election and learner sync: a standalone server has no peers.
    idle(S, "follower_sync_time"),
    idle(S, "observer_sync_time"),
    idle(S, "election_time"),
    idle(C, "looking_count"),
    idle(C, "diff_count"),
    idle(C, "snap_count"),
    idle(C, "commit_count"),
    // Connections: ConnectRequests handled, and ones refused (maxClientCnxns).
    zooid(C, "connection_request_count", |m| Reading::Counter(&m.connection_requests)),
    // The connection throttle (BlueThrottle): Zooid has none.
    idle(S, "connection_token_deficit"),
    zooid(C, "connection_rejected", |m| Reading::Counter(&m.connections_rejected)),
    // Learner sync again.
    idle(S, "inflight_snap_count"),
    idle(S, "inflight_diff_count"),
    // Bytes read and written per top-level namespace (DataTree.update*Stat).
    zooid(SS, "write_per_namespace", |m| Reading::SummarySet(&m.write_per_namespace)),
    zooid(SS, "read_per_namespace", |m| Reading::SummarySet(&m.read_per_namespace)),
    // Every packet read from clients, with its length prefix.
    zooid(C, "bytes_received_count", |m| Reading::Counter(&m.bytes_received)),
    // A ZooKeeperCriticalThread died: Zooid has no such threads.
    idle(C, "unrecoverable_error_count"),
    // Watchers one trigger notified, per event type (WatchManager.triggerWatch).
    zooid(S, "node_created_watch_count", |m| Reading::Summary(&m.node_created_watchers)),
    zooid(S, "node_deleted_watch_count", |m| Reading::Summary(&m.node_deleted_watchers)),
    zooid(S, "node_changed_watch_count", |m| Reading::Summary(&m.node_changed_watchers)),
    zooid(S, "node_children_watch_count", |m| Reading::Summary(&m.node_children_watchers)),
    // WatcherCleaner, used only by WatchManagerOptimized: Zooid, like the default
    // manager, drops a closed connection's watches at once.
    idle(C, "add_dead_watcher_stall_time"),
    idle(C, "dead_watchers_queued"),
    idle(C, "dead_watchers_cleared"),
    idle(P, "dead_watchers_cleaner_latency"),
    // The serialized-response cache: Zooid encodes every response afresh.
    idle(C, "response_packet_cache_hits"),
    idle(C, "response_packet_cache_misses"),
    idle(C, "response_packet_get_children_cache_hits"),
    idle(C, "response_packet_get_children_cache_misses"),
    // EnsembleAuthenticationProvider: not in Zooid.
    idle(C, "ensemble_auth_success"),
    idle(C, "ensemble_auth_fail"),
    idle(C, "ensemble_auth_skip"),
    // The prep queue is the core's inbox: requests it took (reads run on their
    // connection unless their session has writes in flight), their time in it, and
    // how many still waited when it took one.
    zooid(P, "prep_processor_queue_time_ms", |m| Reading::Percentiles(&m.prep_processor_queue_time)),
    zooid(S, "prep_processor_queue_size", |m| Reading::Summary(&m.prep_processor_queue_size)),
    zooid(C, "prep_processor_request_queued", |m| Reading::Counter(&m.prep_processor_queued)),
    // Zooid's prep keeps its pending change per path but does not count them.
    unmeasured(C, "outstanding_changes_queued"),
    unmeasured(C, "outstanding_changes_removed"),
    // Turning a request into its txn (writes, session creation and closing, container
    // deletes); close_session_prep_time also for expired sessions.
    zooid(S, "prep_process_time", |m| Reading::Summary(&m.prep_process_time)),
    // Handing the txn to the log: Zooid does not time it.
    unmeasured(S, "proposal_process_time"),
    zooid(P, "close_session_prep_time", |m| Reading::Percentiles(&m.close_session_prep_time)),
    // Learner revalidation.
    idle(C, "revalidate_count"),
    // A client closed its socket; a ConnectRequest resumed a session.
    zooid(C, "connection_drop_count", |m| Reading::Counter(&m.connections_dropped)),
    zooid(C, "connection_revalidate_count", |m| Reading::Counter(&m.connection_revalidates)),
    // Zooid does not time out connections that never send a ConnectRequest.
    idle(C, "sessionless_connections_expired"),
    zooid(C, "stale_sessions_expired", |m| Reading::Counter(&m.stale_sessions_expired)),
    // Quorum availability.
    idle(S, "unavailable_time"),
    idle(S, "leader_unavailable_time"),
    // CommitProcessor: a standalone server has none (prep hands txns straight on).
    idle(S, "requests_in_session_queue"),
    idle(S, "pending_session_queue_size"),
    idle(S, "reads_after_write_in_session_queue"),
    idle(S, "reads_issued_from_session_queue"),
    idle(S, "session_queues_drained"),
    idle(S, "time_waiting_empty_pool_in_commit_processor_read_ms"),
    idle(S, "write_batch_time_in_commit_processor"),
    idle(S, "concurrent_request_processing_in_commit_processor"),
    idle(S, "read_commit_proc_req_queued"),
    idle(S, "write_commit_proc_req_queued"),
    idle(S, "commit_commit_proc_req_queued"),
    idle(C, "request_commit_queued"),
    idle(S, "read_commit_proc_issued"),
    idle(S, "write_commit_proc_issued"),
    // RequestThrottler: Zooid has none (a full core inbox makes connections wait).
    idle(C, "throttled_ops"),
    // CommitProcessor again, and the observer master.
    idle(P, "read_commitproc_time_ms"),
    idle(P, "write_commitproc_time_ms"),
    idle(P, "local_write_committed_time_ms"),
    idle(P, "server_write_committed_time_ms"),
    idle(S, "commit_process_time"),
    idle(P, "om_proposal_process_time_ms"),
    idle(P, "om_commit_process_time_ms"),
    idle(P, "read_final_proc_time_ms"),
    idle(P, "write_final_proc_time_ms"),
    // Proposals between peers.
    idle(P, "proposal_latency"),
    idle(P, "proposal_ack_creation_latency"),
    idle(P, "commit_propagation_latency"),
    idle(C, "learner_proposal_received_count"),
    idle(C, "learner_commit_received_count"),
    idle(SS, "learner_handler_qp_size"),
    idle(PS, "learner_handler_qp_time_ms"),
    // Recovery at start: txns replayed from the log (only when it had any), the time
    // that took, and the time to load the snapshot.
    zooid(S, "startup_txns_loaded", |m| Reading::Summary(&m.startup_txns_loaded)),
    zooid(S, "startup_txns_load_time", |m| Reading::Summary(&m.startup_txns_load_time)),
    zooid(S, "startup_snap_load_time", |m| Reading::Summary(&m.startup_snap_load_time)),
    // The log thread plays SyncRequestProcessor; it counts its batches, not its queue.
    unmeasured(P, "sync_processor_queue_and_flush_time_ms"),
    unmeasured(S, "sync_processor_queue_size"),
    unmeasured(C, "sync_processor_request_queued"),
    unmeasured(P, "sync_processor_queue_time_ms"),
    unmeasured(P, "sync_processor_queue_flush_time_ms"),
    unmeasured(S, "sync_process_time"),
    zooid(S, "sync_processor_batch_size", |m| Reading::Summary(&m.sync_batch_size)),
    // The leader's quorum.
    idle(P, "quorum_ack_latency"),
    idle(PS, "ack_latency"),
    idle(C, "proposal_count"),
    idle(C, "quit_leading_due_to_disloyal_voter"),
    // RequestThrottler's stale-request drops.
    idle(C, "stale_requests"),
    idle(C, "stale_requests_dropped"),
    // Answers to requests whose connection had closed meanwhile.
    zooid(C, "stale_replies", |m| Reading::Counter(&m.stale_replies)),
    // RequestThrottler again; the large-request limit (off by default) Zooid lacks.
    idle(P, "request_throttle_queue_time_ms"),
    idle(C, "request_throttle_wait_count"),
    idle(C, "large_requests_rejected"),
    // Netty's outbound buffers: Zooid serves as the NIO factory does.
    idle(S, "netty_queued_buffer_capacity"),
    // Learners.
    zooid(C, "digest_mismatches_count", |m| Reading::Counter(&m.digest_mismatches)),
    idle(S, "learner_request_processor_queue_size"),
    // TLS on the secure client port; plain HTTP connections to a unified admin port;
    // Netty's throttles Zooid lacks.
    zooid(C, "unsuccessful_handshake", |m| Reading::Counter(&m.unsuccessful_handshake)),
    zooid(C, "insecure_admin_count", |m| Reading::Counter(&m.insecure_admin)),
    idle(C, "tls_handshake_exceeded"),
    idle(C, "cnxn_closed_without_zk_server_running"),
    // Learners.
    idle(C, "skip_learner_request_to_next_processor_count"),
    idle(S, "socket_closing_time"),
    idle(C, "requests_not_forwarded_to_commit_processor"),
    // Bytes of request answers and of watch notifications sent (without the length).
    zooid(C, "response_bytes", |m| Reading::Counter(&m.response_bytes)),
    zooid(C, "watch_bytes", |m| Reading::Counter(&m.watch_bytes)),
    // JvmPauseMonitor: there is no JVM.
    idle(P, "jvm_pause_time_ms"),
    // Writes refused by enforceQuota, per namespace.
    zooid(CS, "quota_exceeded_error_per_namespace", |m| Reading::CounterSet(&m.quota_exceeded_per_namespace)),
];

/// The provider's maps in the order `DefaultMetricsContext.dump` walks them.
const DUMP_ORDER: [Kind; 6] = [C, CS, S, P, SS, PS];

/// [`SERVER_METRICS`] in dump order.
fn dump_order() -> &'static [Def] {
    static ORDER: OnceLock<Vec<Def>> = OnceLock::new();
    ORDER.get_or_init(|| {
        let mut out = Vec::with_capacity(SERVER_METRICS.len());
        for kind in DUMP_ORDER {
            let group: Vec<&Def> = SERVER_METRICS.iter().filter(|d| d.kind == kind).collect();
            for name in java_map::iteration_order(group.iter().map(|d| d.name)) {
                out.extend(group.iter().find(|d| d.name == name).map(|d| **d));
            }
        }
        out
    })
}

/// `p50`, `p95`, `p99`, `p999` of a percentile summary.
const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999)];

/// The mntr lines (without `zk_`) of every `ServerMetrics` metric, in ZooKeeper's order.
pub fn lines(m: &Metrics) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in dump_order() {
        let reading = match d.source {
            Source::Zooid(read) => Some(read(m)),
            Source::Idle | Source::Unmeasured => None,
        };
        match (d.kind, reading) {
            (Kind::Counter, Some(Reading::Counter(c))) => {
                out.push((d.name.to_owned(), c.get().to_string()))
            }
            (Kind::Counter, _) => out.push((d.name.to_owned(), "0".to_owned())),
            (Kind::Summary, Some(Reading::Summary(s))) => summary(&mut out, d.name, s.totals()),
            (Kind::Percentiles, Some(Reading::Percentiles(s))) => {
                summary(&mut out, d.name, s.totals());
                percentiles(&mut out, d.name, &s.sample());
            }
            (Kind::Summary, _) => summary(&mut out, d.name, SummaryTotals::default()),
            (Kind::Percentiles, _) => {
                summary(&mut out, d.name, SummaryTotals::default());
                percentiles(&mut out, d.name, &[]);
            }
            (Kind::SummarySet, Some(Reading::SummarySet(set))) => {
                for (key, t) in in_java_order(set.read(Summary::totals)) {
                    summary(&mut out, &format!("{key}_{}", d.name), t);
                }
            }
            (Kind::CounterSet, Some(Reading::CounterSet(set))) => {
                for (key, n) in in_java_order(set.read(Counter::get)) {
                    out.push((format!("{key}_{}", d.name), n.to_string()));
                }
            }
            // An empty set prints nothing.
            (Kind::SummarySet | Kind::PercentileSet | Kind::CounterSet, _) => {}
        }
    }
    out
}

/// A set's `(key, value)`s, from first-use order to its map's iteration order.
fn in_java_order<T>(by_first_use: Vec<(String, T)>) -> Vec<(String, T)> {
    let order: Vec<String> =
        java_map::iteration_order(by_first_use.iter().map(|(k, _)| k.as_str()))
            .into_iter()
            .map(str::to_owned)
            .collect();
    let mut rest: Vec<Option<(String, T)>> = by_first_use.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|k| {
            rest.iter_mut()
                .find(|e| e.as_ref().is_some_and(|(key, _)| key == k))
                .and_then(Option::take)
        })
        .collect()
}

/// `AvgMinMaxCounter.values`.
fn summary(out: &mut Vec<(String, String)>, name: &str, t: SummaryTotals) {
    out.push((
        format!("avg_{name}"),
        java_double(java_avg(t.total, t.count)),
    ));
    out.push((format!("min_{name}"), t.min.to_string()));
    out.push((format!("max_{name}"), t.max.to_string()));
    out.push((format!("cnt_{name}"), t.count.to_string()));
    out.push((format!("sum_{name}"), t.total.to_string()));
}

/// `AvgMinMaxPercentileCounter.values`' percentile lines, `Math.round` of Dropwizard's
/// `UniformSnapshot` quantiles of the sorted sample.
fn percentiles(out: &mut Vec<(String, String)>, name: &str, sorted: &[i64]) {
    for (p, q) in QUANTILES {
        out.push((
            format!("{p}_{name}"),
            java_round(quantile(sorted, q)).to_string(),
        ));
    }
}

/// `UniformSnapshot.getValue`: linear interpolation between the closest ranks, 0.0 for
/// an empty sample.
pub fn quantile(sorted: &[i64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() + 1) as f64;
    let index = pos as usize;
    if index < 1 {
        return sorted[0] as f64;
    }
    if index >= sorted.len() {
        return sorted[sorted.len() - 1] as f64;
    }
    let lower = sorted[index - 1] as f64;
    let upper = sorted[index] as f64;
    lower + (pos - pos.floor()) * (upper - lower)
}

/// `Math.round(double)`: the closest long, ties toward positive infinity.
pub fn java_round(x: f64) -> i64 {
    let f = x.floor();
    // x - floor(x) is exact, so no tie is lost to rounding as in floor(x + 0.5).
    if x - f >= 0.5 {
        f as i64 + 1
    } else {
        f as i64
    }
}
