//! State shared by the connection tasks and the core: the tree behind a read-write
//! lock (many readers, one writer), the watch registry, the live connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, Notify};
use zooid_proto::{Id, Record, ReplyHeader};
use zooid_tree::acl::AclPolicy;
use zooid_tree::watch::WatchRegistry;
use zooid_tree::DataTree;

use crate::config::Config;
use crate::session::SessionView;
use crate::stats::Counters;

/// What the writer task of a connection is asked to do.
#[derive(Debug)]
pub enum Out {
    Frame(Bytes),
    /// Flush what is queued, then close the socket.
    Close,
}

/// A connection's outbound queue. Unbounded as a channel but bounded in bytes: a client
/// that stops reading while events pile up is disconnected once `max_bytes` is queued.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Out>,
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl Outbox {
    pub fn new(max_bytes: usize) -> (Outbox, mpsc::UnboundedReceiver<Out>, Arc<AtomicUsize>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Outbox {
                tx,
                queued: queued.clone(),
                max_bytes,
            },
            rx,
            queued,
        )
    }

    /// Queues a frame; false when the connection is gone or over its byte budget (the
    /// caller then closes it).
    pub fn send(&self, frame: Bytes) -> bool {
        let n = frame.len();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before + n > self.max_bytes {
            let _ = self.tx.send(Out::Close);
            return false;
        }
        self.tx.send(Out::Frame(frame)).is_ok()
    }

    pub fn close(&self) {
        let _ = self.tx.send(Out::Close);
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// Per-connection counters for `cons` (`ServerCnxn`'s stats), rolled up into the
/// server's [`Counters`].
#[derive(Debug)]
pub struct ConnStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    /// The xid of the last answered request; -1 until then. Negative (special) xids
    /// never overwrite it.
    pub last_cxid: AtomicI64,
    pub last_zxid: AtomicI64,
    pub last_op: Mutex<&'static str>,
    pub last_latency_ms: AtomicI64,
    /// `i64::MAX` until the first response.
    pub min_latency_ms: AtomicI64,
    pub max_latency_ms: AtomicI64,
    pub total_latency_ms: AtomicI64,
    pub count: AtomicU64,
    /// Wall-clock milliseconds of the handshake.
    pub established_ms: AtomicI64,
    /// Wall-clock milliseconds of the last response; 0 until then.
    pub last_response_ms: AtomicI64,
    /// Bytes of the last answer (without its length prefix), for `response_bytes`.
    pub last_reply_bytes: AtomicI64,
    /// The connection's idle-expiry bucket (`dump`); 0 before its first I/O.
    pub expiry_bucket: AtomicI64,
    /// The server-wide counters this connection's packets also count in.
    pub server: Arc<Counters>,
}

impl ConnStats {
    /// Stats as `ServerCnxn.resetStats` leaves them.
    pub fn new(server: Arc<Counters>) -> ConnStats {
        ConnStats {
            received: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            last_cxid: AtomicI64::new(-1),
            last_zxid: AtomicI64::new(-1),
            last_op: Mutex::new("NA"),
            last_latency_ms: AtomicI64::new(0),
            min_latency_ms: AtomicI64::new(i64::MAX),
            max_latency_ms: AtomicI64::new(0),
            total_latency_ms: AtomicI64::new(0),
            count: AtomicU64::new(0),
            established_ms: AtomicI64::new(0),
            last_response_ms: AtomicI64::new(0),
            last_reply_bytes: AtomicI64::new(0),
            expiry_bucket: AtomicI64::new(0),
            server,
        }
    }

    /// `crst`: everything but the established time (`ServerCnxn.resetStats`).
    pub fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.sent.store(0, Ordering::Relaxed);
        self.last_cxid.store(-1, Ordering::Relaxed);
        self.last_zxid.store(-1, Ordering::Relaxed);
        *self.last_op.lock() = "NA";
        self.last_latency_ms.store(0, Ordering::Relaxed);
        self.min_latency_ms.store(i64::MAX, Ordering::Relaxed);
        self.max_latency_ms.store(0, Ordering::Relaxed);
        self.total_latency_ms.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
        self.last_response_ms.store(0, Ordering::Relaxed);
    }
}

/// One client connection as the rest of the server sees it.
#[derive(Debug)]
pub struct ConnHandle {
    pub id: u64,
    pub remote: SocketAddr,
    pub out: Outbox,
    /// Identities: `ip:<addr>` from the start, plus what `addauth` added.
    pub auth: RwLock<Arc<Vec<Id>>>,
    /// Accepted on the secure client port.
    pub secure: bool,
    pub session_id: AtomicI64,
    pub timeout_ms: AtomicI64,
    /// Requests handed to the core and not answered yet (per-session FIFO).
    pub in_core: AtomicUsize,
    pub closed: AtomicBool,
    pub close_notify: Notify,
    pub stats: ConnStats,
}

impl ConnHandle {
    pub fn auth(&self) -> Arc<Vec<Id>> {
        self.auth.read().clone()
    }

    pub fn session(&self) -> i64 {
        self.session_id.load(Ordering::Acquire)
    }

    /// Sends a reply frame and counts it (`ServerCnxn.packetSent` and, for the response
    /// size, `serialize`: the frame without its length prefix).
    pub fn reply(&self, frame: Bytes) {
        let size = self.send(frame);
        self.stats.last_reply_bytes.store(size, Ordering::Relaxed);
    }

    /// Sends a watch notification (`NIOServerCnxn.process`: its bytes count as
    /// `watch_bytes`).
    pub fn notify(&self, frame: Bytes) {
        let size = self.send(frame);
        self.stats.server.metrics.watch_bytes.add(size);
    }

    fn send(&self, frame: Bytes) -> i64 {
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        self.stats.server.sent();
        let size = frame.len().saturating_sub(4) as i64;
        self.stats.server.response_size().record(size);
        self.touch();
        if !self.out.send(frame) {
            self.kill();
        }
        size
    }

    /// Counts a packet of `bytes` (with its length prefix) read from the client
    /// (`ServerCnxn.packetReceived`).
    pub fn received(&self, bytes: usize) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        self.stats.server.received();
        self.stats.server.metrics.bytes_received.add(bytes as i64);
        self.touch();
    }

    /// I/O on the connection moves its idle deadline (`NIOServerCnxnFactory.touchCnxn`).
    fn touch(&self) {
        let expiry = &self.stats.server.cnxn_expiry;
        let timeout = expiry.timeout_of(self.timeout_ms.load(Ordering::Relaxed));
        expiry.touch(&self.stats.expiry_bucket, timeout);
    }

    /// Counts an answered request `op` with `xid` that arrived at `received`: the
    /// server's latency and this connection's `cons` stats
    /// (`FinalRequestProcessor.updateStats`), the answer's bytes, and whether it went to
    /// a connection that had closed meanwhile (`Request.isStale`). The caller keeps
    /// `last_zxid` up to date.
    pub fn responded(&self, op: i32, xid: i32, received: Instant) {
        let ms = received.elapsed().as_millis() as i64;
        self.stats.server.latency().record(ms);
        let metrics = &self.stats.server.metrics;
        metrics.request_done(op, ms);
        // The handshake's answer is no FinalRequestProcessor response.
        if op != zooid_proto::opcode::op::CREATE_SESSION {
            let bytes = self.stats.last_reply_bytes.load(Ordering::Relaxed);
            metrics.response_bytes.add(bytes);
        }
        if op != zooid_proto::opcode::op::CLOSE_SESSION && self.closed.load(Ordering::Acquire) {
            metrics.stale_replies.inc();
        }
        let s = &self.stats;
        if xid >= 0 {
            s.last_cxid.store(xid as i64, Ordering::Relaxed);
        }
        *s.last_op.lock() = crate::stats::last_op_name(op);
        s.last_response_ms
            .store(crate::core::now_wall_ms(), Ordering::Relaxed);
        s.last_latency_ms.store(ms, Ordering::Relaxed);
        s.min_latency_ms.fetch_min(ms, Ordering::Relaxed);
        s.max_latency_ms.fetch_max(ms, Ordering::Relaxed);
        s.total_latency_ms.fetch_add(ms, Ordering::Relaxed);
        s.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the connection after what is queued.
    pub fn kill(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.out.close();
            self.close_notify.notify_one();
        }
    }
}

/// Everything the tasks share.
pub struct Shared {
    pub config: Config,
    pub policy: AclPolicy,
    /// SASL and authentication-enforcement settings, with the JAAS accounts.
    pub sasl: crate::sasl::Settings,
    pub tree: RwLock<DataTree>,
    pub watches: Mutex<WatchRegistry>,
    pub conns: Mutex<HashMap<u64, Arc<ConnHandle>>>,
    pub counters: Arc<Counters>,
    pub started: Instant,
    pub next_conn_id: AtomicU64,
    /// Live sessions and their timeouts, for `cons`/`dump`/mntr (the core owns the truth).
    pub session_count: AtomicUsize,
    /// The sessions themselves, published by the core's tracker for `dump`.
    pub sessions: SessionView,
    /// One server of an ensemble (writes may be forwarded to a leader).
    pub replica: bool,
    /// What `srvr` says: standalone, leader, follower, observer, or "" while an
    /// ensemble member is not serving.
    pub server_mode: Mutex<&'static str>,
    /// An ensemble member's mntr values (`None` standalone).
    pub ensemble: Mutex<Option<EnsembleStats>>,
    /// Held by whoever writes a snapshot or replaces the state under one (the periodic
    /// snapshot, the admin `snapshot` and `restore`, a learner's TRUNC): one at a time,
    /// so no snapshot walks a tree that is being swapped out.
    pub snapshot_gate: tokio::sync::Mutex<()>,
}

/// What an ensemble member adds to mntr (`QuorumZooKeeperServer`,
/// `LeaderZooKeeperServer`, `FollowerZooKeeperServer`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnsembleStats {
    /// The leader's server id, this server's own while it leads; -1 while looking.
    pub leader_id: i64,
    /// `getDetailedPeerState`, e.g. `following - broadcast`.
    pub peer_state: &'static str,
    pub quorum_size: usize,
    pub leader: Option<LeaderGauges>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderGauges {
    pub learners: usize,
    pub synced_followers: usize,
    pub synced_observers: usize,
    pub pending_syncs: usize,
    pub uptime_ms: i64,
    /// Proposal sizes in bytes: last, min, max (-1 before the first).
    pub proposal_size: (i64, i64, i64),
}

impl Shared {
    /// `srst` / `stat_reset`: `ServerStats.reset` under the configured metrics provider.
    pub fn reset_stats(&self) {
        let prometheus = crate::prometheus::configured(&self.config.other);
        self.counters.reset(prometheus);
    }

    pub fn new(config: Config) -> Shared {
        let tree = DataTree::new(config.extended_types_enabled);
        Shared::with_tree(config, tree)
    }

    /// Shared state around a recovered tree.
    pub fn with_tree(config: Config, tree: DataTree) -> Shared {
        let counters = Arc::new(Counters::new(sessionless_cnxn_timeout_ms(&config)));
        // The Prometheus provider's summaries start their windows when registered,
        // before ZooKeeper loads its database: here, before recovery's timings land.
        if matches!(crate::prometheus::endpoint(&config.other), Ok(Some(_))) {
            counters.metrics.start_windows(crate::stats::monotonic_ms());
        }
        let policy = acl_policy(&config);
        // Server::bind refuses to start with bad SASL settings; a Shared built directly
        // (tests) with such settings fails every SASL exchange closed.
        let sasl = crate::sasl::Settings::load(&config).unwrap_or_else(|e| {
            tracing::error!("SASL: {e}");
            crate::sasl::Settings::failing()
        });
        Shared {
            config,
            policy,
            sasl,
            tree: RwLock::new(tree),
            watches: Mutex::new(WatchRegistry::new()),
            conns: Mutex::new(HashMap::new()),
            counters,
            started: Instant::now(),
            next_conn_id: AtomicU64::new(1),
            session_count: AtomicUsize::new(0),
            sessions: SessionView::default(),
            replica: false,
            server_mode: Mutex::new(crate::fourlw::MODE_STANDALONE),
            ensemble: Mutex::new(None),
            snapshot_gate: tokio::sync::Mutex::new(()),
        }
    }

    pub fn conn(&self, id: u64) -> Option<Arc<ConnHandle>> {
        self.conns.lock().get(&id).cloned()
    }
}

/// `zookeeper.nio.sessionlessCnxnTimeout`: the idle timeout of a connection without a
/// session, and the granularity of connection expiry.
fn sessionless_cnxn_timeout_ms(config: &Config) -> i64 {
    config
        .other
        .get("zookeeper.nio.sessionlessCnxnTimeout")
        .and_then(|v| v.parse().ok())
        .unwrap_or(crate::stats::SESSIONLESS_CNXN_TIMEOUT_MS)
}

/// Encodes `len | header | body` as one frame.
pub fn frame(hdr: &ReplyHeader, body: Option<&dyn Fn(&mut BytesMut)>) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i32(0);
    hdr.encode(&mut b);
    if let Some(f) = body {
        f(&mut b);
    }
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

/// A frame with a header and one record.
pub fn frame_record<R: Record>(hdr: &ReplyHeader, rec: &R) -> Bytes {
    frame(hdr, Some(&|b: &mut BytesMut| rec.encode(b)))
}

/// A frame with only a header (errors, void replies).
pub fn frame_header(hdr: &ReplyHeader) -> Bytes {
    frame(hdr, None)
}

/// A frame holding a bare record (the ConnectResponse has no ReplyHeader).
pub fn frame_bare<R: Record>(rec: &R) -> Bytes {
    let mut b = BytesMut::with_capacity(64);
    b.put_i32(0);
    rec.encode(&mut b);
    let len = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

/// What the ACL checks take from the configuration.
pub(crate) fn acl_policy(config: &Config) -> AclPolicy {
    AclPolicy {
        skip_acl: config.skip_acl,
        super_digest: config.super_digest.clone(),
        x509: x509_provider(config),
        sasl: provider_named(config, crate::sasl::SASL_PROVIDER_CLASS),
        sasl_any_user: config.other.get("zookeeper.letAnySaslUserDoX").cloned(),
    }
}

/// Whether an `authProvider.*` key names `class` (`ProviderRegistry.initialize`).
fn provider_named(config: &Config, class: &str) -> bool {
    config
        .other
        .iter()
        .any(|(k, v)| k.starts_with("zookeeper.authProvider.") && v.trim() == class)
}

/// Whether ZooKeeper would register the `x509` authentication provider: a secure client
/// port is configured (`QuorumPeerConfig.configureSSLAuth`), or an `authProvider.*` key
/// names `X509AuthenticationProvider` (`ProviderRegistry.initialize`).
fn x509_provider(config: &Config) -> bool {
    config.secure_client_port.is_some()
        || provider_named(
            config,
            "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
        )
}
