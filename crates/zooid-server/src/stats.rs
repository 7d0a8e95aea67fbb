//! Server-wide and per-connection counters, read by the four-letter words.

pub mod window;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use zooid_proto::request::{MultiOp, Request};
use zooid_tree::{Trigger, Txn, TxnBody};

/// `ZooTrace`'s default text trace mask: client requests, server packets, sessions and
/// warnings (`0b1_0011_0010`).
pub const TRACE_MASK_DEFAULT: i64 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 8);

/// `NIOServerCnxnFactory`'s default `sessionlessCnxnTimeout`: how long a connection
/// without a session may stay idle, and the granularity of connection expiry.
pub const SESSIONLESS_CNXN_TIMEOUT_MS: i64 = 10_000;

/// Latency and packet counters (`ServerStats`).
#[derive(Debug)]
pub struct Counters {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub outstanding: AtomicI64,
    latency: Latency,
    response_size: BufferStats,
    /// The mask `stmk` sets and `gtmk` prints. Zooid has no trace log for it to filter,
    /// so it is only kept, as ZooKeeper keeps it; `srst` leaves it alone.
    pub trace_mask: AtomicI64,
    /// What `ServerMetrics` counts (mntr's long tail).
    pub metrics: Metrics,
    /// The connections' idle deadlines, as `dump` lists them.
    pub cnxn_expiry: CnxnExpiry,
    /// `ServerStats.authFailedCntr`: TLS connections closed for a failed handshake or
    /// certificate (`srst` leaves it, as ZooKeeper's reset does).
    pub auth_failed: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new(SESSIONLESS_CNXN_TIMEOUT_MS)
    }
}

/// min/avg/max request latency in milliseconds, like ZooKeeper's `ServerStats`.
#[derive(Debug)]
pub struct Latency {
    min_ms: AtomicI64,
    max_ms: AtomicI64,
    total_ms: AtomicI64,
    count: AtomicU64,
}

/// One reading of a [`Latency`], as `AvgMinMaxCounter` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyTotals {
    /// 0 before the first sample, as ZooKeeper prints it.
    pub min_ms: i64,
    pub max_ms: i64,
    pub total_ms: i64,
    pub count: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            min_ms: AtomicI64::new(i64::MAX),
            max_ms: AtomicI64::new(0),
            total_ms: AtomicI64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Latency {
    pub fn record(&self, ms: i64) {
        self.min_ms.fetch_min(ms, Ordering::Relaxed);
        self.max_ms.fetch_max(ms, Ordering::Relaxed);
        self.total_ms.fetch_add(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (min, avg, max, count); min is 0 before the first sample, as ZooKeeper prints it.
    pub fn snapshot(&self) -> (i64, f64, i64, u64) {
        let t = self.totals();
        let avg = if t.count == 0 {
            0.0
        } else {
            t.total_ms as f64 / t.count as f64
        };
        (t.min_ms, avg, t.max_ms, t.count)
    }

    pub fn totals(&self) -> LatencyTotals {
        let count = self.count.load(Ordering::Relaxed);
        let min = self.min_ms.load(Ordering::Relaxed);
        LatencyTotals {
            min_ms: if count == 0 || min == i64::MAX {
                0
            } else {
                min
            },
            max_ms: self.max_ms.load(Ordering::Relaxed),
            total_ms: self.total_ms.load(Ordering::Relaxed),
            count,
        }
    }

    pub fn reset(&self) {
        self.min_ms.store(i64::MAX, Ordering::Relaxed);
        self.max_ms.store(0, Ordering::Relaxed);
        self.total_ms.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
    }
}

/// Last/min/max size of the responses sent to clients (`BufferStats`): header and body,
/// without the length prefix; -1 until the first response.
#[derive(Debug)]
pub struct BufferStats {
    /// (last, min, max); one lock so the three always describe the same responses.
    sizes: Mutex<(i64, i64, i64)>,
}

impl Default for BufferStats {
    fn default() -> Self {
        BufferStats {
            sizes: Mutex::new((-1, -1, -1)),
        }
    }
}

impl BufferStats {
    pub fn record(&self, size: i64) {
        let mut s = self.sizes.lock();
        s.0 = size;
        if s.1 == -1 || size < s.1 {
            s.1 = size;
        }
        if size > s.2 {
            s.2 = size;
        }
    }

    /// (last, min, max).
    pub fn get(&self) -> (i64, i64, i64) {
        *self.sizes.lock()
    }

    pub fn reset(&self) {
        *self.sizes.lock() = (-1, -1, -1);
    }
}

impl Counters {
    /// Counters for a server whose connections without a session time out after
    /// `sessionless_timeout_ms` (`zookeeper.nio.sessionlessCnxnTimeout`).
    pub fn new(sessionless_timeout_ms: i64) -> Counters {
        Counters {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
            latency: Latency::default(),
            response_size: BufferStats::default(),
            trace_mask: AtomicI64::new(TRACE_MASK_DEFAULT),
            metrics: Metrics::default(),
            cnxn_expiry: CnxnExpiry::new(sessionless_timeout_ms),
            auth_failed: AtomicU64::new(0),
        }
    }

    pub fn latency(&self) -> &Latency {
        &self.latency
    }

    pub fn response_size(&self) -> &BufferStats {
        &self.response_size
    }

    pub fn received(&self) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sent(&self) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// `srst`: `ServerStats.reset` (latency, packet counts, response sizes, and every
    /// `ServerMetrics` value unless `keep_metrics`: the Prometheus provider's
    /// `resetAllValues` does nothing).
    pub fn reset(&self, keep_metrics: bool) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
        self.response_size.reset();
        if !keep_metrics {
            self.metrics.reset();
        }
    }
}

/// The `lop` that `cons` prints for a request: `FinalRequestProcessor`'s name for the
/// operation, "NA" for the ones it does not name.
pub fn last_op_name(op: i32) -> &'static str {
    use zooid_proto::opcode::op;
    match op {
        op::PING => "PING",
        op::CREATE_SESSION => "SESS",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::CREATE | op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => "CREA",
        op::DELETE | op::DELETE_CONTAINER => "DELE",
        op::SET_DATA => "SETD",
        op::RECONFIG => "RECO",
        op::SET_ACL => "SETA",
        op::CLOSE_SESSION => "CLOS",
        op::SYNC => "SYNC",
        op::CHECK => "CHEC",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_WATCHES => "SETW",
        op::SET_WATCHES2 => "STW2",
        op::ADD_WATCH => "ADDW",
        op::GET_ACL => "GETA",
        op::GET_CHILDREN | op::GET_CHILDREN2 => "GETC",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        op::WHO_AM_I => "HOMI",
        op::GET_EPHEMERALS => "GETE",
        _ => "NA",
    }
}

// ---------------------------------------------------------------------------------------
// ServerMetrics: the counters and summaries mntr prints after its gauges. Which of
// ZooKeeper's metrics Zooid measures, and where, is the table in `fourlw/metrics.rs`;
// this is only their storage and the hooks that feed them.

/// `SimpleCounter`.
#[derive(Debug, Default)]
pub struct Counter(AtomicI64);

impl Counter {
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// Milliseconds on the host's monotonic clock since its first reading in this process:
/// the clock the summaries' Prometheus windows rotate on. The windows themselves take
/// the time as an argument, so their tests choose it.
pub fn monotonic_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// `AvgMinMaxCounter`: how many samples, their sum, the smallest and the largest; and,
/// once started, the sliding window the Prometheus endpoint reads quantiles from (the
/// `Summary` ZooKeeper's `PrometheusMetricsProvider` keeps in its place).
#[derive(Debug)]
pub struct Summary {
    count: AtomicI64,
    total: AtomicI64,
    min: AtomicI64,
    max: AtomicI64,
    window: window::TimeWindow,
}

/// One reading of a [`Summary`]; min and max are 0 before the first sample, as
/// `AvgMinMaxCounter` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SummaryTotals {
    pub count: i64,
    pub total: i64,
    pub min: i64,
    pub max: i64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            count: AtomicI64::new(0),
            total: AtomicI64::new(0),
            min: AtomicI64::new(i64::MAX),
            max: AtomicI64::new(i64::MIN),
            window: window::TimeWindow::default(),
        }
    }
}

impl Summary {
    pub fn add(&self, v: i64) {
        self.total.fetch_add(v, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.min.fetch_min(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
        if self.window.is_started() {
            self.window.observe(v, monotonic_ms());
        }
    }

    /// The Prometheus window: empty unless started.
    pub fn window(&self) -> &window::TimeWindow {
        &self.window
    }

    pub fn totals(&self) -> SummaryTotals {
        let min = self.min.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        SummaryTotals {
            count: self.count.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            min: if min == i64::MAX { 0 } else { min },
            max: if max == i64::MIN { 0 } else { max },
        }
    }

    /// Resets what mntr reads. The window stays: the Prometheus provider's
    /// `resetAllValues` does nothing, so `srst` leaves ZooKeeper's `/metrics` alone.
    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total.store(0, Ordering::Relaxed);
        self.min.store(i64::MAX, Ordering::Relaxed);
        self.max.store(i64::MIN, Ordering::Relaxed);
    }
}

/// Samples `AvgMinMaxPercentileCounter`'s reservoir keeps
/// (`ResettableUniformReservoir.DEFAULT_SIZE`).
pub const RESERVOIR_SIZE: usize = 4096;

/// `AvgMinMaxPercentileCounter`: a [`Summary`] and a uniform sample of at most
/// [`RESERVOIR_SIZE`] values (Vitter's algorithm R, as `ResettableUniformReservoir`)
/// for the p50/p95/p99/p999 lines.
#[derive(Debug)]
pub struct PercentileSummary {
    summary: Summary,
    seen: AtomicU64,
    values: Box<[AtomicI64]>,
    rng: AtomicU64,
}

impl Default for PercentileSummary {
    fn default() -> Self {
        PercentileSummary {
            summary: Summary::default(),
            seen: AtomicU64::new(0),
            values: (0..RESERVOIR_SIZE).map(|_| AtomicI64::new(0)).collect(),
            rng: AtomicU64::new(0x853c_49e6_748f_ea9b),
        }
    }
}

impl PercentileSummary {
    pub fn add(&self, v: i64) {
        self.summary.add(v);
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = if n <= RESERVOIR_SIZE as u64 {
            n - 1
        } else {
            // SplitMix64 over a shared counter: lock-free and uniform enough.
            let mut z = self
                .rng
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
                .wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        };
        if let Some(cell) = self.values.get(slot as usize) {
            cell.store(v, Ordering::Relaxed);
        }
    }

    pub fn totals(&self) -> SummaryTotals {
        self.summary.totals()
    }

    /// The Prometheus window (the reservoir is mntr's only).
    pub fn window(&self) -> &window::TimeWindow {
        self.summary.window()
    }

    /// The reservoir's samples, sorted (`UniformSnapshot`).
    pub fn sample(&self) -> Vec<i64> {
        let n = (self.seen.load(Ordering::Relaxed) as usize).min(RESERVOIR_SIZE);
        let mut v: Vec<i64> = self.values[..n]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        v.sort_unstable();
        v
    }

    pub fn reset(&self) {
        self.summary.reset();
        self.seen.store(0, Ordering::Relaxed);
    }
}

/// A metric a [`MetricSet`] holds: a counter, or a summary with a Prometheus window.
pub trait SetMember: Default {
    /// Starts the metric's Prometheus window, if it has one, at `now_ms`.
    fn start_window(&self, _now_ms: u64) {}
}

impl SetMember for Counter {}

impl SetMember for Summary {
    fn start_window(&self, now_ms: u64) {
        self.window.start(now_ms);
    }
}

impl SetMember for PercentileSummary {
    fn start_window(&self, now_ms: u64) {
        self.summary.start_window(now_ms);
    }
}

/// Keys in the order they were first used, and a value per key: the state of a
/// `ConcurrentHashMap` that is only ever added to, as the metric sets are.
#[derive(Debug)]
struct Keyed<T> {
    by_key: HashMap<String, T>,
    order: Vec<String>,
}

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Keyed {
            by_key: HashMap::new(),
            order: Vec::new(),
        }
    }
}

/// `AvgMinMaxCounterSet` / `SimpleCounterSet`: one metric per key (a namespace here).
#[derive(Debug)]
pub struct MetricSet<T> {
    inner: RwLock<Keyed<T>>,
    /// Whether a key's metric starts its window when the key is first used, as
    /// simpleclient creates a labelled child's window with the child.
    windows: AtomicBool,
}

impl<T> Default for MetricSet<T> {
    fn default() -> Self {
        MetricSet {
            inner: RwLock::new(Keyed::default()),
            windows: AtomicBool::new(false),
        }
    }
}

impl<T: SetMember> MetricSet<T> {
    /// Runs `f` on `key`'s metric, creating it on first use.
    pub fn with(&self, key: &str, f: impl FnOnce(&T)) {
        if let Some(m) = self.inner.read().by_key.get(key) {
            return f(m);
        }
        let mut w = self.inner.write();
        let Keyed { by_key, order } = &mut *w;
        let m = by_key.entry(key.to_owned()).or_insert_with(|| {
            order.push(key.to_owned());
            let m = T::default();
            if self.windows.load(Ordering::Relaxed) {
                m.start_window(monotonic_ms());
            }
            m
        });
        f(m)
    }

    /// Starts the windows of the metrics there are, and of those of later keys.
    pub fn start_windows(&self, now_ms: u64) {
        // Set before reading: a key made after the read lock is taken sees the flag.
        self.windows.store(true, Ordering::Relaxed);
        let r = self.inner.read();
        r.by_key.values().for_each(|m| m.start_window(now_ms));
    }

    /// Every key in first-use order, with `f` of its metric.
    pub fn read<R>(&self, mut f: impl FnMut(&T) -> R) -> Vec<(String, R)> {
        let r = self.inner.read();
        r.order
            .iter()
            .map(|k| (k.clone(), f(&r.by_key[k])))
            .collect()
    }

    /// Resets every metric; the keys stay, as in ZooKeeper.
    pub fn reset(&self, reset: impl Fn(&T)) {
        self.inner.read().by_key.values().for_each(reset);
    }
}

/// The metrics Zooid measures, named after `ServerMetrics`' fields.
#[derive(Debug, Default)]
pub struct Metrics {
    /// READ_LATENCY / UPDATE_LATENCY: ms from a request's arrival to its answer, split by
    /// whether it made a txn (`request.getHdr() != null`).
    pub read_latency: PercentileSummary,
    pub update_latency: PercentileSummary,
    /// PROPAGATION_LATENCY: wall-clock ms from a txn's header time to its apply.
    pub propagation_latency: PercentileSummary,
    /// PREP_PROCESSOR_QUEUED / _QUEUE_TIME / _QUEUE_SIZE: requests the core took from
    /// its inbox, their ms in it, and how many still waited there.
    pub prep_processor_queued: Counter,
    pub prep_processor_queue_time: PercentileSummary,
    pub prep_processor_queue_size: Summary,
    /// PREP_PROCESS_TIME / CLOSE_SESSION_PREP_TIME: ms turning a request into its txn.
    pub prep_process_time: Summary,
    pub close_session_prep_time: PercentileSummary,
    /// FSYNC_TIME / SNAPSHOT_TIME / BATCH_SIZE: the txn log and snapshot writers.
    pub fsync_time: Summary,
    pub snapshot_time: Summary,
    pub sync_batch_size: Summary,
    /// SNAPSHOT_ERROR_COUNT / _RATE_LIMITED_COUNT, RESTORE_TIME / _ERROR_COUNT /
    /// _RATE_LIMITED_COUNT: the admin `snapshot` and `restore` commands.
    pub snapshot_error_count: Counter,
    pub snapshot_rate_limited_count: Counter,
    pub restore_time: Summary,
    pub restore_error_count: Counter,
    pub restore_rate_limited_count: Counter,
    /// INSECURE_ADMIN: plain HTTP connections to an admin port that also speaks HTTPS
    /// (`admin.portUnification`).
    pub insecure_admin: Counter,
    /// DB_INIT_TIME / STARTUP_*: recovery at start.
    pub db_init_time: Summary,
    pub startup_snap_load_time: Summary,
    pub startup_txns_loaded: Summary,
    pub startup_txns_load_time: Summary,
    pub bytes_received: Counter,
    pub response_bytes: Counter,
    pub watch_bytes: Counter,
    pub connection_requests: Counter,
    pub connection_revalidates: Counter,
    pub connections_rejected: Counter,
    pub connections_dropped: Counter,
    pub stale_replies: Counter,
    pub stale_sessions_expired: Counter,
    /// DIGEST_MISMATCHES_COUNT: committed txns after which a learner's tree digest
    /// differed from the leader's.
    pub digest_mismatches: Counter,
    /// UNSUCCESSFUL_HANDSHAKE: TLS handshakes on the secure client port that failed.
    pub unsuccessful_handshake: Counter,
    /// NODE_*_WATCHER: watchers one trigger found, by event type.
    pub node_created_watchers: Summary,
    pub node_deleted_watchers: Summary,
    pub node_changed_watchers: Summary,
    pub node_children_watchers: Summary,
    /// READ_PER_NAMESPACE / WRITE_PER_NAMESPACE: bytes per read and write, by the
    /// path's top-level namespace.
    pub read_per_namespace: MetricSet<Summary>,
    pub write_per_namespace: MetricSet<Summary>,
    pub quota_exceeded_per_namespace: MetricSet<Counter>,
}

/// `DataTree.STAT_OVERHEAD_BYTES`: what a read counts for the Stat it returns.
pub const STAT_OVERHEAD_BYTES: i64 = 6 * 8 + 5 * 4;

/// `PathUtils.getTopNamespace`: the first component of `path`, None for `/`.
pub fn top_namespace(path: &str) -> Option<&str> {
    let mut parts = path.split('/');
    parts.next();
    let second = parts.next()?;
    // Java's split drops trailing empty strings: "/" has no second part.
    (!second.is_empty() || parts.any(|p| !p.is_empty())).then_some(second)
}

/// `String.length()`: UTF-16 code units.
pub fn java_len(s: &str) -> i64 {
    s.encode_utf16().count() as i64
}

impl Metrics {
    /// `ServerStats.updateLatency`'s split: a request with a txn is an update.
    pub fn request_done(&self, opcode: i32, ms: i64) {
        if zooid_proto::opcode::is_write_op(opcode) {
            self.update_latency.add(ms);
        } else {
            self.read_latency.add(ms);
        }
    }

    /// The core took a request that arrived at `received` from its inbox, leaving
    /// `waiting` behind (`PrepRequestProcessor.run`).
    pub fn prep_queued(&self, received: Instant, waiting: usize) {
        self.prep_processor_queued.inc();
        let ms = received.elapsed().as_millis() as i64;
        self.prep_processor_queue_time.add(ms);
        self.prep_processor_queue_size.add(waiting as i64);
    }

    /// A request's prep that began at `started` is done (`pRequest`); a closeSession's
    /// also counts as `CLOSE_SESSION_PREP_TIME`.
    pub fn prepped(&self, started: Instant, close_session: bool) {
        let ms = started.elapsed().as_millis() as i64;
        self.prep_process_time.add(ms);
        if close_session {
            self.close_session_prep_time.add(ms);
        }
    }

    /// A txn was applied, firing `triggers`, at `now_wall_ms`: its writes per namespace
    /// and how long after its header time (`FinalRequestProcessor.applyRequest`).
    pub fn applied(&self, txn: &Txn, triggers: &[Trigger], now_wall_ms: i64) {
        self.write_stats(&txn.body, triggers);
        let latency = now_wall_ms - txn.hdr.time;
        if latency >= 0 {
            self.propagation_latency.add(latency);
        }
    }

    /// Recovery at start: `ZKDatabase.loadDataBase` and `FileTxnSnapLog.restore` time
    /// every start, the replay only when the log had txns past the snapshot; the first
    /// snapshot of a new data directory is a snapshot like the later ones.
    pub fn recovered(&self, t: &crate::persist::RecoveryTimings, replayed: u64) {
        self.db_init_time.add(t.db_init_ms);
        self.startup_snap_load_time.add(t.snap_load_ms);
        if replayed > 0 {
            self.startup_txns_loaded.add(replayed as i64);
            self.startup_txns_load_time.add(t.replay_ms);
        }
        if let Some(ms) = t.first_snapshot_ms {
            self.snapshot_time.add(ms);
        }
    }

    /// `DataTree.updateReadStat`: a successful getData (`bytes` of data), exists (0) or
    /// getChildren (the children's names).
    pub fn read_stat(&self, path: &str, bytes: i64) {
        if let Some(ns) = top_namespace(path) {
            let total = java_len(path) + bytes + STAT_OVERHEAD_BYTES;
            self.read_per_namespace.with(ns, |s| s.add(total));
        }
    }

    /// `DataTree.updateWriteStat`, for each node a txn created (its data), changed (the
    /// new data) or deleted (0).
    pub fn write_stats(&self, body: &TxnBody, triggers: &[Trigger]) {
        let mut data = Vec::new();
        data_written(body, &mut data);
        let mut data = data.into_iter();
        for t in triggers {
            let (path, bytes) = match t {
                Trigger::Created { path, .. } | Trigger::DataChanged { path, .. } => {
                    (path, data.next().unwrap_or(0))
                }
                Trigger::Deleted { path, .. } => (path, 0),
            };
            if let Some(ns) = top_namespace(path) {
                let total = java_len(path) + bytes;
                self.write_per_namespace.with(ns, |s| s.add(total));
            }
        }
    }

    /// `ZooKeeperServer.updateQuotaExceededMetrics`: a write refused by `enforceQuota`
    /// counts against the namespace of the op that went over.
    pub fn quota_check(&self, req: &Request, txn: &Txn) {
        let quota = zooid_proto::ErrorCode::QuotaExceeded.code();
        let path = match (&txn.body, req) {
            (TxnBody::Error(e), Request::Create { req, .. }) if e.err == quota => &req.path,
            (TxnBody::Error(e), Request::CreateTtl(r)) if e.err == quota => &r.path,
            (TxnBody::Error(e), Request::SetData(r)) if e.err == quota => &r.path,
            (TxnBody::Multi(subs), Request::Multi(ops)) => {
                let failed = subs
                    .iter()
                    .position(|(_, b)| matches!(b, TxnBody::Error(_)));
                match failed.map(|i| (&subs[i].1, ops.get(i))) {
                    Some((TxnBody::Error(e), Some(MultiOp::Create { req, .. })))
                        if e.err == quota =>
                    {
                        &req.path
                    }
                    Some((TxnBody::Error(e), Some(MultiOp::CreateTtl(r)))) if e.err == quota => {
                        &r.path
                    }
                    Some((TxnBody::Error(e), Some(MultiOp::SetData(r)))) if e.err == quota => {
                        &r.path
                    }
                    _ => return,
                }
            }
            _ => return,
        };
        if let Some(ns) = top_namespace(path) {
            self.quota_exceeded_per_namespace.with(ns, Counter::inc);
        }
    }

    /// `WatchManager.triggerWatch`: one sample per trigger that found watchers.
    pub fn watchers_triggered(&self, counts: &[(i32, usize)]) {
        use zooid_proto::opcode::event_type as ev;
        for &(kind, n) in counts {
            let s = match kind {
                ev::NODE_CREATED => &self.node_created_watchers,
                ev::NODE_DELETED => &self.node_deleted_watchers,
                ev::NODE_DATA_CHANGED => &self.node_changed_watchers,
                ev::NODE_CHILDREN_CHANGED => &self.node_children_watchers,
                _ => continue,
            };
            s.add(n as i64);
        }
    }

    /// The summaries with percentiles (`DetailLevel.ADVANCED`).
    fn percentile_summaries(&self) -> [&PercentileSummary; 5] {
        [
            &self.read_latency,
            &self.update_latency,
            &self.propagation_latency,
            &self.prep_processor_queue_time,
            &self.close_session_prep_time,
        ]
    }

    /// The basic summaries (`DetailLevel.BASIC`), sets aside.
    fn basic_summaries(&self) -> [&Summary; 14] {
        [
            &self.prep_processor_queue_size,
            &self.prep_process_time,
            &self.fsync_time,
            &self.snapshot_time,
            &self.sync_batch_size,
            &self.restore_time,
            &self.db_init_time,
            &self.startup_snap_load_time,
            &self.startup_txns_loaded,
            &self.startup_txns_load_time,
            &self.node_created_watchers,
            &self.node_deleted_watchers,
            &self.node_changed_watchers,
            &self.node_children_watchers,
        ]
    }

    /// Starts every summary's Prometheus window at `now_ms`, as registering the
    /// Prometheus provider's summaries does: only that provider keeps them, so a server
    /// without it spends neither time nor memory on them.
    pub fn start_windows(&self, now_ms: u64) {
        for s in self.percentile_summaries() {
            s.start_window(now_ms);
        }
        for s in self.basic_summaries() {
            s.start_window(now_ms);
        }
        self.read_per_namespace.start_windows(now_ms);
        self.write_per_namespace.start_windows(now_ms);
    }

    /// `MetricsProvider.resetAllValues` (what `srst` does to them).
    pub fn reset(&self) {
        for s in self.percentile_summaries() {
            s.reset();
        }
        for s in self.basic_summaries() {
            s.reset();
        }
        for c in [
            &self.snapshot_error_count,
            &self.snapshot_rate_limited_count,
            &self.restore_error_count,
            &self.restore_rate_limited_count,
            &self.insecure_admin,
            &self.prep_processor_queued,
            &self.bytes_received,
            &self.response_bytes,
            &self.watch_bytes,
            &self.connection_requests,
            &self.connection_revalidates,
            &self.connections_rejected,
            &self.connections_dropped,
            &self.stale_replies,
            &self.stale_sessions_expired,
            &self.digest_mismatches,
            &self.unsuccessful_handshake,
        ] {
            c.reset();
        }
        self.read_per_namespace.reset(Summary::reset);
        self.write_per_namespace.reset(Summary::reset);
        self.quota_exceeded_per_namespace.reset(Counter::reset);
    }
}

/// The data of each create and setData in `body`, in order: what their `Created` and
/// `DataChanged` triggers wrote.
fn data_written(body: &TxnBody, out: &mut Vec<i64>) {
    match body {
        TxnBody::Create(t) => out.push(t.data.len() as i64),
        TxnBody::CreateTtl(t) => out.push(t.data.len() as i64),
        TxnBody::CreateContainer(t) => out.push(t.data.len() as i64),
        TxnBody::SetData(t) => out.push(t.data.len() as i64),
        TxnBody::Multi(subs) => subs.iter().for_each(|(_, b)| data_written(b, out)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// Connection expiry, as `dump` shows it

/// NIO's `cnxnExpiryQueue`: every connection belongs to the expiry bucket of its last
/// I/O plus its timeout, rounded up to the next multiple of the interval
/// (`ExpiryQueue.roundToNextInterval`); the interval is the sessionless timeout. A
/// bucket stays listed, empty if need be, until its time passes, as ZooKeeper removes
/// buckets only when its expirer thread polls them.
#[derive(Debug)]
pub struct CnxnExpiry {
    origin: Instant,
    interval_ms: i64,
    sessionless_timeout_ms: i64,
    /// Buckets some connection was put in that have not passed yet.
    buckets: Mutex<BTreeSet<i64>>,
}

impl CnxnExpiry {
    pub fn new(sessionless_timeout_ms: i64) -> CnxnExpiry {
        CnxnExpiry {
            origin: Instant::now(),
            interval_ms: sessionless_timeout_ms.max(1),
            sessionless_timeout_ms,
            buckets: Mutex::new(BTreeSet::new()),
        }
    }

    /// Milliseconds on the queue's clock (ZooKeeper's `Time.currentElapsedTime`).
    pub fn now_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }

    /// A connection's timeout: its session's, or the sessionless one before it has one.
    pub fn timeout_of(&self, session_timeout_ms: i64) -> i64 {
        if session_timeout_ms > 0 {
            session_timeout_ms
        } else {
            self.sessionless_timeout_ms
        }
    }

    /// The bucket of a connection touched at `now_ms`.
    pub fn bucket(&self, now_ms: i64, timeout_ms: i64) -> i64 {
        ((now_ms + timeout_ms) / self.interval_ms + 1) * self.interval_ms
    }

    /// `ExpiryQueue.update`: moves the connection whose bucket is in `current` (0 for
    /// none yet) to the bucket of now; returns that bucket.
    pub fn touch(&self, current: &AtomicI64, timeout_ms: i64) -> i64 {
        let now = self.now_ms();
        let b = self.bucket(now, timeout_ms);
        if current.swap(b, Ordering::Relaxed) != b {
            let mut set = self.buckets.lock();
            set.insert(b);
            while set.first().is_some_and(|&first| first <= now) {
                set.pop_first();
            }
        }
        b
    }

    /// The buckets that have not passed at `now_ms`.
    pub fn pending(&self, now_ms: i64) -> Vec<i64> {
        self.buckets.lock().range(now_ms + 1..).copied().collect()
    }
}
