//! Server-wide and per-connection counters, read by the four-letter words.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Latency and packet counters (`ServerStats`).
#[derive(Debug, Default)]
pub struct Counters {
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub outstanding: AtomicI64,
    latency: Latency,
}

/// min/avg/max request latency in milliseconds, like ZooKeeper's `ServerStats`.
#[derive(Debug)]
pub struct Latency {
    min_ms: AtomicI64,
    max_ms: AtomicI64,
    total_ms: AtomicI64,
    count: AtomicU64,
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
        let count = self.count.load(Ordering::Relaxed);
        let min = self.min_ms.load(Ordering::Relaxed);
        let total = self.total_ms.load(Ordering::Relaxed);
        let avg = if count == 0 {
            0.0
        } else {
            total as f64 / count as f64
        };
        (
            if count == 0 { 0 } else { min },
            avg,
            self.max_ms.load(Ordering::Relaxed),
            count,
        )
    }

    pub fn reset(&self) {
        self.min_ms.store(i64::MAX, Ordering::Relaxed);
        self.max_ms.store(0, Ordering::Relaxed);
        self.total_ms.store(0, Ordering::Relaxed);
        self.count.store(0, Ordering::Relaxed);
    }
}

impl Counters {
    pub fn latency(&self) -> &Latency {
        &self.latency
    }

    pub fn received(&self) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn sent(&self) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
    }
}
