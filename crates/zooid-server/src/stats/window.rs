//! The sliding time window of a summary's observations that the Prometheus `/metrics`
//! quantiles are read from: simpleclient 0.9.0's `TimeWindowQuantiles` as ZooKeeper's
//! `PrometheusMetricsProvider` builds it, with a histogram in place of CKMS.
//!
//! simpleclient keeps [`AGE_BUCKETS`] estimators in a ring, inserts every observation
//! into all of them and answers from the current one; every [`ROTATE_MS`] (counted from
//! the summary's creation, strictly after each period's end, whenever it is next
//! touched) the current one is emptied and the next becomes current. So a reading sees
//! the observations since the start of the period four rotations back: between eight
//! and ten minutes of them with the defaults ZooKeeper keeps (`maxAgeSeconds` 600,
//! `ageBuckets` 5; the provider sets only the quantiles). Here each ring slot holds the
//! observations of one period only, and a reading merges the current period's slot
//! with the four before it — the same set of observations, but an observation touches
//! one slot instead of five.
//!
//! A slot is a log-linear histogram: values below [`EXACT`] have a bin each, and every
//! power of two above is split into 32 equal bins. Ranks are exact; a value is reported
//! as the middle of its bin, which is exact below [`EXACT`] and otherwise off by at
//! most 1/64 (1.6%) of the true value. simpleclient's CKMS instead returns a value
//! observed at a rank within the tolerated error (5% for the median, 1% for the 0.9
//! quantile, 0.1% for the 0.99 one). Both target the value at rank `⌊q·n⌋` (1-based,
//! at least the first) of the `n` observations in the window, and NaN when it has none.
//!
//! Time is an input: callers pass milliseconds on a monotonic clock of their choice
//! (the host's is `stats::monotonic_ms`), so tests can rotate a window at will.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// `Summary.Builder`'s default `maxAgeSeconds`, in ms: how long an observation counts.
pub const MAX_AGE_MS: u64 = 10 * 60 * 1000;

/// `Summary.Builder`'s default `ageBuckets`: the ring's slots.
pub const AGE_BUCKETS: usize = 5;

/// How long one slot's period lasts (`durationBetweenRotatesMillis`).
pub const ROTATE_MS: u64 = MAX_AGE_MS / AGE_BUCKETS as u64;

/// Bins per power of two is `1 << SUB_BITS`; it sets the relative bin width (1/32).
const SUB_BITS: u32 = 5;

/// Bins in a group: a group is allocated on the first observation that falls in it.
const GROUP: usize = 1 << SUB_BITS;

/// Values below this have a bin of their own: the first two groups.
pub const EXACT: u64 = 2 * GROUP as u64;

/// Two groups of exact values, then one per power of two from 2^6 to 2^63.
const GROUPS: usize = 2 + (u64::BITS - SUB_BITS - 1) as usize;

/// Bins in a slot's histogram.
pub const BINS: usize = GROUPS * GROUP;

const _: () = assert!(ROTATE_MS * AGE_BUCKETS as u64 == MAX_AGE_MS);
const _: () = assert!(bin_of(EXACT - 1) == EXACT as usize - 1);
const _: () = assert!(bin_of(EXACT) == EXACT as usize);
const _: () = assert!(bin_of(u64::MAX) == BINS - 1);

/// `origin_ms` of a window that has not started: it keeps nothing.
const OFF: u64 = u64::MAX;

/// The bin of a (non-negative) observation.
const fn bin_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    // v is in [2^e, 2^(e+1)) with e >= SUB_BITS + 1; its top SUB_BITS + 1 bits pick
    // one of the 32 bins of that power of two.
    let e = u64::BITS - 1 - v.leading_zeros();
    let shift = e - SUB_BITS;
    ((shift as usize) << SUB_BITS) + (v >> shift) as usize
}

/// The smallest and largest value of bin `i` (inverse of [`bin_of`]).
fn bin_bounds(i: usize) -> (u64, u64) {
    if i < EXACT as usize {
        return (i as u64, i as u64);
    }
    let shift = (i >> SUB_BITS) as u32 - 1;
    let top = (GROUP + i % GROUP) as u64;
    let lo = top << shift;
    (lo, lo + ((1u64 << shift) - 1))
}

/// What a reading reports for bin `i`: its middle (rounded down), an integer like the
/// observations themselves.
fn bin_value(i: usize) -> u64 {
    let (lo, hi) = bin_bounds(i);
    lo + (hi - lo) / 2
}

type Group = [AtomicU32; GROUP];

/// One period's observations.
#[derive(Default)]
struct Slot {
    /// 1 + the period whose observations the slot holds; 0 before its first.
    tag: AtomicU64,
    /// Bin counts, each group allocated on its first observation and kept (zeroed) when
    /// the slot moves on to a later period. A count would wrap only after 2^32
    /// observations of one bin in one period, 36 million a second.
    groups: OnceLock<Box<[OnceLock<Box<Group>>]>>,
}

impl Slot {
    fn count(&self, bin: usize) {
        let groups = self
            .groups
            .get_or_init(|| (0..GROUPS).map(|_| OnceLock::new()).collect());
        let group = groups[bin / GROUP]
            .get_or_init(|| Box::new(std::array::from_fn(|_| AtomicU32::new(0))));
        group[bin % GROUP].fetch_add(1, Ordering::Relaxed);
    }

    fn clear(&self) {
        let allocated = self.groups.get().into_iter().flatten();
        for group in allocated.filter_map(OnceLock::get) {
            group.iter().for_each(|c| c.store(0, Ordering::Relaxed));
        }
    }

    /// Adds the slot's counts to `counts` (of length [`BINS`]).
    fn add_to(&self, counts: &mut [u64]) {
        let Some(groups) = self.groups.get() else {
            return;
        };
        for (g, group) in groups.iter().enumerate() {
            let Some(group) = group.get() else { continue };
            for (i, c) in group.iter().enumerate() {
                counts[g * GROUP + i] += u64::from(c.load(Ordering::Relaxed));
            }
        }
    }
}

/// A summary's last ten minutes of observations (see the module doc). Off, keeping
/// nothing and allocating nothing, until [`TimeWindow::start`]. Memory: ~200 bytes, plus
/// per slot in use 960 bytes and 128 bytes per power of two its values reach; at most
/// 43 KiB.
pub struct TimeWindow {
    /// When the window started (the summary's creation for simpleclient), [`OFF`]
    /// before.
    origin_ms: AtomicU64,
    slots: [Slot; AGE_BUCKETS],
    /// Held while a slot is emptied for a new period: once per [`ROTATE_MS`].
    rotating: Mutex<()>,
}

impl Default for TimeWindow {
    fn default() -> Self {
        TimeWindow {
            origin_ms: AtomicU64::new(OFF),
            slots: Default::default(),
            rotating: Mutex::new(()),
        }
    }
}

impl std::fmt::Debug for TimeWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origin = self.origin_ms.load(Ordering::Relaxed);
        f.debug_struct("TimeWindow")
            .field("origin_ms", &(origin != OFF).then_some(origin))
            .finish_non_exhaustive()
    }
}

impl TimeWindow {
    /// Starts keeping observations, with periods counted from `now_ms`. Starting a
    /// started window changes nothing.
    pub fn start(&self, now_ms: u64) {
        let origin = now_ms.min(OFF - 1);
        let _ = self
            .origin_ms
            .compare_exchange(OFF, origin, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn is_started(&self) -> bool {
        self.origin_ms.load(Ordering::Relaxed) != OFF
    }

    /// The period `now_ms` falls in: 0 up to and including [`ROTATE_MS`] after the
    /// origin, as simpleclient rotates only once strictly more than that has passed.
    fn period_at(origin_ms: u64, now_ms: u64) -> u64 {
        now_ms.saturating_sub(origin_ms).saturating_sub(1) / ROTATE_MS
    }

    /// Records `value` observed at `now_ms`; a negative value counts as 0 (Zooid's
    /// summaries observe durations, sizes and counts). Nothing on a window not started.
    pub fn observe(&self, value: i64, now_ms: u64) {
        let origin = self.origin_ms.load(Ordering::Relaxed);
        if origin == OFF {
            return;
        }
        let tag = Self::period_at(origin, now_ms) + 1;
        let slot = &self.slots[(tag % AGE_BUCKETS as u64) as usize];
        if slot.tag.load(Ordering::Acquire) != tag && !self.open(slot, tag) {
            return;
        }
        slot.count(bin_of(value.max(0) as u64));
    }

    /// Makes `slot` hold the period tagged `tag`, emptying what an earlier period left
    /// in it; false when it holds a later period already (the observation is older than
    /// the window, from a thread that read its clock minutes ago). A thread stalled
    /// between its tag check and its count can still land one observation in the
    /// period after; that is the only inexactness concurrency adds.
    fn open(&self, slot: &Slot, tag: u64) -> bool {
        let _rotating = self.rotating.lock();
        let held = slot.tag.load(Ordering::Acquire);
        if held > tag {
            return false;
        }
        if held < tag {
            slot.clear();
            slot.tag.store(tag, Ordering::Release);
        }
        true
    }

    /// The observations in the window at `now_ms`: those of its period and the
    /// [`AGE_BUCKETS`]` - 1` before it.
    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        let origin = self.origin_ms.load(Ordering::Relaxed);
        let mut counts = Vec::new();
        if origin != OFF {
            let current = Self::period_at(origin, now_ms) + 1;
            let oldest = current.saturating_sub(AGE_BUCKETS as u64 - 1).max(1);
            for slot in &self.slots {
                // A slot of a later period than `current` is one a writer with a
                // fresher clock opened: its observations are in the window too.
                if slot.tag.load(Ordering::Acquire) >= oldest {
                    counts.resize(BINS, 0);
                    slot.add_to(&mut counts);
                }
            }
        }
        let total = counts.iter().sum();
        Snapshot { counts, total }
    }
}

/// The bin counts of a window at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Empty, or one count per bin.
    counts: Vec<u64>,
    total: u64,
}

impl Snapshot {
    /// How many observations the window holds.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at rank `⌊q·n⌋` (1-based, clamped to `1..=n`) of the `n` observations,
    /// as the middle of its bin (see the module doc for the error); NaN for none.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return f64::NAN;
        }
        // As CKMSQuantiles.get: `desired = (int) (q * count)`.
        let rank = ((q * self.total as f64) as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bin_value(i) as f64;
            }
        }
        // Unreachable: the counts sum to `total` >= rank.
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_000_000;

    fn window() -> TimeWindow {
        let w = TimeWindow::default();
        w.start(T0);
        w
    }

    fn quantiles(w: &TimeWindow, now_ms: u64) -> Vec<f64> {
        let s = w.snapshot(now_ms);
        [0.5, 0.9, 0.99].map(|q| s.quantile(q)).to_vec()
    }

    #[test]
    fn bins_tile_the_values() {
        let mut next = 0u64;
        for i in 0..BINS {
            let (lo, hi) = bin_bounds(i);
            assert_eq!(lo, next, "bin {i} starts where {} ended", i.wrapping_sub(1));
            assert_eq!((bin_of(lo), bin_of(hi)), (i, i));
            assert!(lo <= hi);
            // Relative width at most 1/32, so the middle is within 1/64 of any value.
            assert!((hi - lo) <= lo / 32, "bin {i}: {lo}..={hi}");
            let mid = bin_value(i);
            assert!(lo <= mid && mid <= hi);
            assert!((hi - mid).max(mid - lo) <= lo / 64);
            next = hi.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bin ends at u64::MAX");
        for v in 0..EXACT {
            assert_eq!(bin_value(bin_of(v)), v, "exact below {EXACT}");
        }
    }

    #[test]
    fn quantiles_of_known_data() {
        let w = window();
        assert!(quantiles(&w, T0).iter().all(|q| q.is_nan()), "empty: NaN");
        w.observe(7, T0);
        assert_eq!(quantiles(&w, T0), [7.0, 7.0, 7.0]);

        // The rank CKMS aims at is floor(q * n): of 3, 5, 40 the median is 3 and the
        // 0.9 and 0.99 quantiles are 5, as simpleclient reports them.
        let w = window();
        for v in [40, 3, 5] {
            w.observe(v, T0 + 1);
        }
        assert_eq!(quantiles(&w, T0 + 2), [3.0, 5.0, 5.0]);

        let w = window();
        for v in (1..=60).rev() {
            w.observe(v, T0 + 10);
        }
        assert_eq!(quantiles(&w, T0 + 10), [30.0, 54.0, 59.0]);
        assert_eq!(w.snapshot(T0 + 10).quantile(0.0), 1.0);
        assert_eq!(w.snapshot(T0 + 10).quantile(1.0), 60.0);

        // Past EXACT the answer is the middle of the bin: within 1/64.
        let w = window();
        let values: Vec<i64> = (1..=10_000).map(|i| i * 37).collect();
        values.iter().for_each(|&v| w.observe(v, T0));
        let s = w.snapshot(T0);
        assert_eq!(s.count(), 10_000);
        for q in [0.5, 0.9, 0.99] {
            let exact = values[(q * 10_000.0) as usize - 1] as f64;
            let got = s.quantile(q);
            assert!(
                (got - exact).abs() <= exact / 64.0,
                "q {q}: {got} vs {exact}"
            );
        }

        let w = window();
        w.observe(-5, T0);
        w.observe(i64::MAX, T0);
        let s = w.snapshot(T0);
        assert_eq!(s.quantile(0.5), 0.0, "negative counts as 0");
        let top = s.quantile(1.0);
        assert!(top <= i64::MAX as f64 && top >= i64::MAX as f64 * (1.0 - 1.0 / 64.0));
    }

    #[test]
    fn rotation_follows_simpleclient() {
        let w = window();
        // Period 0 lasts up to and including ROTATE_MS after the start.
        w.observe(1, T0);
        w.observe(2, T0 + ROTATE_MS);
        w.observe(3, T0 + ROTATE_MS + 1);
        let count = |now| w.snapshot(now).count();
        assert_eq!(count(T0 + ROTATE_MS + 1), 3);
        // Period 0 leaves once period 5 begins: ten minutes after the start, eight
        // after its last observation.
        assert_eq!(count(T0 + MAX_AGE_MS), 3);
        assert_eq!(count(T0 + MAX_AGE_MS + 1), 1);
        assert_eq!(w.snapshot(T0 + MAX_AGE_MS + 1).quantile(0.5), 3.0);
        assert_eq!(count(T0 + MAX_AGE_MS + ROTATE_MS), 1);
        assert_eq!(count(T0 + MAX_AGE_MS + ROTATE_MS + 1), 0);
        assert!(w.snapshot(T0 + 3 * MAX_AGE_MS).quantile(0.5).is_nan());

        // A slot is reused after a long silence: what it held is gone.
        let later = T0 + 7 * MAX_AGE_MS + 5;
        w.observe(9, later);
        assert_eq!(quantiles(&w, later), [9.0, 9.0, 9.0]);
        assert_eq!(w.snapshot(later).count(), 1);
        // An observation read off a clock from before the slot's period is dropped.
        w.observe(4, later - MAX_AGE_MS);
        assert_eq!(w.snapshot(later).count(), 1);
    }

    #[test]
    fn a_window_not_started_keeps_nothing() {
        let w = TimeWindow::default();
        w.observe(3, T0);
        assert!(!w.is_started());
        assert_eq!(w.snapshot(T0).count(), 0);
        assert!(w.snapshot(T0).quantile(0.5).is_nan());
        w.start(T0);
        w.start(T0 + MAX_AGE_MS);
        // Period 4 from the first start (gone ten minutes later), period 0 from the
        // second (still there then).
        w.observe(3, T0 + MAX_AGE_MS);
        assert_eq!(w.snapshot(T0 + MAX_AGE_MS).count(), 1);
        assert_eq!(
            w.snapshot(T0 + 2 * MAX_AGE_MS).count(),
            0,
            "the first start counts"
        );
    }

    #[test]
    fn concurrent_observers_all_count() {
        let w = window();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let w = &w;
                s.spawn(move || {
                    for i in 0..10_000u64 {
                        // Across a rotation, to race the slot opening too.
                        w.observe((i % 100) as i64, T0 + ROTATE_MS - 50 + t * 25 + i / 100);
                    }
                });
            }
        });
        assert_eq!(w.snapshot(T0 + ROTATE_MS + 200).count(), 40_000);
    }
}
