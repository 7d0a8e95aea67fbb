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

/// Per-connection counters for `cons`.
#[derive(Debug, Default)]
pub struct ConnStats {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    pub last_cxid: AtomicI64,
    pub last_zxid: AtomicI64,
    pub last_op: Mutex<&'static str>,
    pub last_latency_ms: AtomicI64,
    pub min_latency_ms: AtomicI64,
    pub max_latency_ms: AtomicI64,
    pub total_latency_ms: AtomicI64,
    pub count: AtomicU64,
    pub established_ms: AtomicI64,
    pub last_response_ms: AtomicI64,
}

/// One client connection as the rest of the server sees it.
#[derive(Debug)]
pub struct ConnHandle {
    pub id: u64,
    pub remote: SocketAddr,
    pub out: Outbox,
    /// Identities: `ip:<addr>` from the start, plus what `addauth` added.
    pub auth: RwLock<Arc<Vec<Id>>>,
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

    /// Sends a reply frame and counts it.
    pub fn reply(&self, frame: Bytes) {
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        if !self.out.send(frame) {
            self.kill();
        }
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
    pub tree: RwLock<DataTree>,
    pub watches: Mutex<WatchRegistry>,
    pub conns: Mutex<HashMap<u64, Arc<ConnHandle>>>,
    pub counters: Counters,
    pub started: Instant,
    pub next_conn_id: AtomicU64,
    /// Live sessions and their timeouts, for `cons`/`dump`/mntr (the core owns the truth).
    pub session_count: AtomicUsize,
}

impl Shared {
    pub fn new(config: Config) -> Shared {
        let policy = AclPolicy {
            skip_acl: config.skip_acl,
            super_digest: config.super_digest.clone(),
        };
        let tree = DataTree::new(config.extended_types_enabled);
        Shared {
            config,
            policy,
            tree: RwLock::new(tree),
            watches: Mutex::new(WatchRegistry::new()),
            conns: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            started: Instant::now(),
            next_conn_id: AtomicU64::new(1),
            session_count: AtomicUsize::new(0),
        }
    }

    pub fn conn(&self, id: u64) -> Option<Arc<ConnHandle>> {
        self.conns.lock().get(&id).cloned()
    }
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
