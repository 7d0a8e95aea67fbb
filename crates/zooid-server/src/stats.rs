//! Server-wide and per-connection counters, read by the four-letter words.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

/// `ZooTrace`'s default text trace mask: client requests, server packets, sessions and
/// warnings (`0b1_0011_0010`).
pub const TRACE_MASK_DEFAULT: i64 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 8);

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
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
            latency: Latency::default(),
            response_size: BufferStats::default(),
            trace_mask: AtomicI64::new(TRACE_MASK_DEFAULT),
        }
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

    /// `srst`: `ServerStats.reset` (latency, packet counts, response sizes).
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
        self.response_size.reset();
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
