//! The Prometheus text exposition (format 0.0.4) of what mntr reports, as ZooKeeper
//! 3.9's `PrometheusMetricsProvider` lays it out through the Prometheus Java client
//! (`simpleclient` 0.9.0, `TextFormat.write004`).
//!
//! Grammar of the output, one family per metric ZooKeeper registers:
//!
//! ```text
//! family  = "# HELP " name " " name "\n" "# TYPE " name " " type "\n" sample*
//! type    = "counter" | "gauge" | "summary"
//! sample  = name suffix [ "{" (label "=\"" escaped "\",")+ "}" ] " " value "\n"
//! suffix  = "" | "_count" | "_sum"            (the last two for summaries only)
//! label   = "key" | "quantile"                ("key" for the per-namespace sets)
//! value   = Java's Double.toString, or "NaN", "+Inf", "-Inf"
//! ```
//!
//! The provider maps ZooKeeper's metric kinds so:
//! - a counter (`getCounter`) is a `counter` with one unlabelled sample, no `_total`
//!   (simpleclient 0.9 predates OpenMetrics' suffix);
//! - a counter set (`getCounterSet`) is a `counter` with a sample per key, label `key`;
//! - a gauge (`registerGauge`) is a `gauge`; a gauge set (the quota gauges) a `gauge`
//!   with a sample per key, label `key`;
//! - a summary is a `summary`: quantile samples, then `_count` and `_sum`. A BASIC one
//!   has quantile 0.5 only, an ADVANCED one 0.5, 0.9 and 0.99; a summary set adds the
//!   `key` label before `quantile`.
//!
//! Values come from the same places mntr's do: the gauges are mntr's own lines
//! ([`fourlw::mntr_lines`]), the rest is [`metrics::SERVER_METRICS`] read through the
//! same readers, `_count` and `_sum` included. The quantiles are not mntr's: as
//! simpleclient's, they are those of each summary's (and each key's) last ten minutes
//! of observations, rotated in five steps, `NaN` while that holds none
//! ([`crate::stats::window`], which also says how close to the exact value they are).
//! mntr's `p50`..`p999` stay those of `AvgMinMaxPercentileCounter`'s whole-run
//! reservoir. Unlike ZooKeeper's, `_count` and `_sum` (and the counters) restart at
//! `srst`, which the Prometheus provider ignores; the windows, like ZooKeeper's, do not.
//!
//! Families come in ServerMetrics' order, then the gauges; ZooKeeper's order is that
//! of a `HashMap` keyed by object identity, i.e. none. There are no JVM families
//! (`jvm_*`, `process_*`), which `exportJvmInfo` adds in ZooKeeper: there is no JVM.

use std::collections::BTreeSet;

use crate::fourlw::metrics::{self, Kind, Reading, Source, SERVER_METRICS};
use crate::fourlw::{self, java_double, Monitor};
use crate::stats::window::TimeWindow;
use crate::stats::{Counter, Metrics, Summary, SummaryTotals};

/// The label the provider gives a set's key (`PrometheusMetricsProvider.LABEL`).
const KEY_LABEL: &str = "key";

/// The quantiles of a BASIC summary, then of an ADVANCED one.
const BASIC_QUANTILES: [f64; 1] = [0.5];
const ADVANCED_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The quota gauge sets `ZooKeeperServer.registerMetrics` registers.
const QUOTA_GAUGE_SETS: [&str; 4] = [
    "quota_count_limit_per_namespace",
    "quota_bytes_limit_per_namespace",
    "quota_count_usage_per_namespace",
    "quota_bytes_usage_per_namespace",
];

/// mntr lines that are `dumpMonitorValues`' own, not registered gauges.
const MONITOR_ONLY: [&str; 3] = ["version", "server_state", "peer_state"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
    Summary,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Summary => "summary",
        }
    }
}

/// One metric family: a registered ZooKeeper metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: Type,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Appended to the family name: `""`, `"_count"` or `"_sum"`.
    pub suffix: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Family {
    fn new(name: &str, kind: Type) -> Family {
        Family {
            name: name.to_owned(),
            kind,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, suffix: &'static str, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(Sample {
            suffix,
            labels,
            value,
        });
    }
}

/// Every family: ServerMetrics from `metrics` (quantiles of the windows as they are at
/// `now_ms`, on `stats::monotonic_ms`' clock), then the gauges and gauge sets of `m`.
pub fn families(m: &Monitor, metrics: &Metrics, now_ms: u64) -> Vec<Family> {
    let mut out: Vec<Family> = SERVER_METRICS
        .iter()
        .map(|d| server_metric(d, metrics, now_ms))
        .collect();
    out.extend(gauges(m));
    out
}

/// One `ServerMetrics` metric; an idle or unmeasured one reads as never having happened.
fn server_metric(d: &metrics::Def, m: &Metrics, now_ms: u64) -> Family {
    let reading = match d.source {
        Source::Zooid(read) => Some(read(m)),
        Source::Idle | Source::Unmeasured => None,
    };
    let kind = match d.kind {
        Kind::Counter | Kind::CounterSet => Type::Counter,
        _ => Type::Summary,
    };
    let mut f = Family::new(d.name, kind);
    match (d.kind, reading) {
        (_, Some(Reading::Counter(c))) => f.push("", vec![], c.get() as f64),
        (_, Some(Reading::CounterSet(set))) => {
            for (key, n) in set.read(Counter::get) {
                f.push("", vec![(KEY_LABEL, key)], n as f64);
            }
        }
        (_, Some(Reading::Summary(s))) => {
            let values = window_quantiles(s.window(), &BASIC_QUANTILES, now_ms);
            summary(&mut f, vec![], s.totals(), &BASIC_QUANTILES, &values)
        }
        (_, Some(Reading::Percentiles(p))) => {
            let values = window_quantiles(p.window(), &ADVANCED_QUANTILES, now_ms);
            summary(&mut f, vec![], p.totals(), &ADVANCED_QUANTILES, &values)
        }
        (_, Some(Reading::SummarySet(set))) => {
            let read = |s: &Summary| {
                let values = window_quantiles(s.window(), &BASIC_QUANTILES, now_ms);
                (s.totals(), values)
            };
            for (key, (t, values)) in set.read(read) {
                let labels = vec![(KEY_LABEL, key)];
                summary(&mut f, labels, t, &BASIC_QUANTILES, &values);
            }
        }
        (Kind::Counter, None) => f.push("", vec![], 0.0),
        (Kind::Summary, None) => {
            let t = SummaryTotals::default();
            summary(&mut f, vec![], t, &BASIC_QUANTILES, &[f64::NAN]);
        }
        (Kind::Percentiles, None) => {
            let (t, nan) = (SummaryTotals::default(), [f64::NAN; 3]);
            summary(&mut f, vec![], t, &ADVANCED_QUANTILES, &nan);
        }
        // A set nothing was ever recorded in has no samples, only its HELP and TYPE.
        (Kind::CounterSet | Kind::SummarySet | Kind::PercentileSet, None) => {}
    }
    f
}

/// The window's values at `quantiles` at `now_ms`, NaN while it is empty.
fn window_quantiles<const N: usize>(w: &TimeWindow, quantiles: &[f64; N], now_ms: u64) -> [f64; N] {
    let snapshot = w.snapshot(now_ms);
    quantiles.map(|q| snapshot.quantile(q))
}

/// A summary's samples: each quantile with its value, then `_count` and `_sum`.
fn summary(
    f: &mut Family,
    labels: Vec<(&'static str, String)>,
    t: SummaryTotals,
    quantiles: &[f64],
    values: &[f64],
) {
    for (&q, &value) in quantiles.iter().zip(values) {
        let mut l = labels.clone();
        l.push(("quantile", go_double(q)));
        f.push("", l, value);
    }
    f.push("_count", labels.clone(), t.count as f64);
    f.push("_sum", labels, t.total as f64);
}

/// The registered gauges, with mntr's values, then the quota gauge sets.
fn gauges(m: &Monitor) -> Vec<Family> {
    let lines = fourlw::mntr_lines(m);
    // mntr_lines ends with the ServerMetrics lines; the gauges come before them.
    let before_metrics = lines.len() - m.metrics.len();
    let mut out: Vec<Family> = lines[..before_metrics]
        .iter()
        .filter(|(k, _)| !MONITOR_ONLY.contains(&k.as_str()))
        .filter(|(k, _)| !QUOTA_GAUGE_SETS.iter().any(|s| k.ends_with(s)))
        .map(|(k, v)| {
            let mut f = Family::new(k, Type::Gauge);
            f.push("", vec![], v.parse().unwrap_or(f64::NAN));
            f
        })
        .collect();
    let q = &m.quotas;
    let sets = [
        &q.count_limit,
        &q.bytes_limit,
        &q.count_usage,
        &q.bytes_usage,
    ];
    for (name, set) in QUOTA_GAUGE_SETS.iter().zip(sets) {
        let mut f = Family::new(name, Type::Gauge);
        for (ns, v) in set {
            f.push("", vec![(KEY_LABEL, ns.clone())], *v as f64);
        }
        out.push(f);
    }
    out
}

/// mntr under the Prometheus provider: `ZooKeeperServer.dumpMonitorValues` (`version`,
/// `server_state`, and an ensemble member's `peer_state`), then
/// `PrometheusMetricsProvider.dump`: every sample of every family, keyed by its name
/// and its labels in braces (`buildKeyForDump`, unescaped), its value a Java double
/// (`MonitorCommand.print`).
pub fn mntr_lines(m: &Monitor, metrics: &Metrics, now_ms: u64) -> Vec<(String, String)> {
    let lines = fourlw::mntr_lines(m);
    let mut out: Vec<(String, String)> = MONITOR_ONLY
        .iter()
        .filter_map(|name| lines.iter().find(|(k, _)| k == name).cloned())
        .collect();
    for f in families(m, metrics, now_ms) {
        for s in &f.samples {
            let mut key = format!("{}{}", f.name, s.suffix);
            if !s.labels.is_empty() {
                let labels: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect();
                key = format!("{key}{{{}}}", labels.join(","));
            }
            out.push((key, java_double(s.value)));
        }
    }
    out
}

/// `TextFormat.write004` of the families; with `only`, just the families one of whose
/// sample names is in it (`MetricsServlet`'s `name[]` parameters).
pub fn render(families: &[Family], only: Option<&BTreeSet<String>>) -> String {
    let mut out = String::new();
    for f in families {
        if let Some(names) = only {
            let sample_names = ["", "_count", "_sum"].map(|s| format!("{}{s}", f.name));
            if !sample_names.iter().any(|n| names.contains(n)) {
                continue;
            }
        }
        let name = &f.name;
        // The provider registers every metric with its name as its help text.
        out.push_str(&format!("# HELP {name} {}\n", escape_help(name)));
        out.push_str(&format!("# TYPE {name} {}\n", f.kind.as_str()));
        for s in &f.samples {
            out.push_str(name);
            out.push_str(s.suffix);
            if !s.labels.is_empty() {
                out.push('{');
                for (k, v) in &s.labels {
                    out.push_str(&format!("{k}=\"{}\",", escape_label(v)));
                }
                out.push('}');
            }
            out.push(' ');
            out.push_str(&go_double(s.value));
            out.push('\n');
        }
    }
    out
}

/// `Collector.doubleToGoString`.
fn go_double(x: f64) -> String {
    match x {
        f64::INFINITY => "+Inf".to_owned(),
        f64::NEG_INFINITY => "-Inf".to_owned(),
        _ => java_double(x),
    }
}

/// `TextFormat.writeEscapedHelp`: backslash and newline.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `TextFormat.writeEscapedLabelValue`: backslash, double quote and newline.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::monotonic_ms;

    fn check(families: &[Family], expect: &str) {
        assert_eq!(render(families, None), expect);
    }

    fn find(m: &Metrics, name: &str, now_ms: u64) -> Family {
        let d = SERVER_METRICS.iter().find(|d| d.name == name).unwrap();
        server_metric(d, m, now_ms)
    }

    #[test]
    fn counters_gauges_and_summaries_as_simpleclient_writes_them() {
        let m = Metrics::default();
        m.read_per_namespace.with("early", |s| s.add(1));
        m.start_windows(monotonic_ms());
        m.read_latency.add(3);
        m.read_latency.add(5);
        m.read_latency.add(40);
        m.fsync_time.add(7);
        m.read_per_namespace.with("app", |s| s.add(90));
        m.read_per_namespace.with("early", |s| s.add(2));
        let now = monotonic_ms();
        let find = |name: &str| find(&m, name, now);
        let mut quota = Family::new("quota_count_limit_per_namespace", Type::Gauge);
        quota.push("", vec![(KEY_LABEL, "a\"b".to_owned())], 12_000_000.0);
        check(
            &[
                find("readlatency"),
                find("fsynctime"),
                find("snapshottime"),
                find("election_time"),
                find("looking_count"),
                find("read_per_namespace"),
                find("write_per_namespace"),
                quota,
            ],
            // simpleclient's median of 3, 5, 40 is 3: the value at rank floor(q n).
            "# HELP readlatency readlatency\n\
             # TYPE readlatency summary\n\
             readlatency{quantile=\"0.5\",} 3.0\n\
             readlatency{quantile=\"0.9\",} 5.0\n\
             readlatency{quantile=\"0.99\",} 5.0\n\
             readlatency_count 3.0\n\
             readlatency_sum 48.0\n\
             # HELP fsynctime fsynctime\n\
             # TYPE fsynctime summary\n\
             fsynctime{quantile=\"0.5\",} 7.0\n\
             fsynctime_count 1.0\n\
             fsynctime_sum 7.0\n\
             # HELP snapshottime snapshottime\n\
             # TYPE snapshottime summary\n\
             snapshottime{quantile=\"0.5\",} NaN\n\
             snapshottime_count 0.0\n\
             snapshottime_sum 0.0\n\
             # HELP election_time election_time\n\
             # TYPE election_time summary\n\
             election_time{quantile=\"0.5\",} NaN\n\
             election_time_count 0.0\n\
             election_time_sum 0.0\n\
             # HELP looking_count looking_count\n\
             # TYPE looking_count counter\n\
             looking_count 0.0\n\
             # HELP read_per_namespace read_per_namespace\n\
             # TYPE read_per_namespace summary\n\
             read_per_namespace{key=\"early\",quantile=\"0.5\",} 2.0\n\
             read_per_namespace_count{key=\"early\",} 2.0\n\
             read_per_namespace_sum{key=\"early\",} 3.0\n\
             read_per_namespace{key=\"app\",quantile=\"0.5\",} 90.0\n\
             read_per_namespace_count{key=\"app\",} 1.0\n\
             read_per_namespace_sum{key=\"app\",} 90.0\n\
             # HELP write_per_namespace write_per_namespace\n\
             # TYPE write_per_namespace summary\n\
             # HELP quota_count_limit_per_namespace quota_count_limit_per_namespace\n\
             # TYPE quota_count_limit_per_namespace gauge\n\
             quota_count_limit_per_namespace{key=\"a\\\"b\",} 1.2E7\n",
        );
    }

    #[test]
    fn quantiles_are_of_the_last_ten_minutes_and_outlive_srst() {
        let m = Metrics::default();
        m.update_latency.add(4);
        m.fsync_time.add(4);
        let quantiles = |now_ms| {
            let f = find(&m, "updatelatency", now_ms);
            let g = find(&m, "fsynctime", now_ms);
            f.samples
                .iter()
                .chain(&g.samples)
                .filter(|s| s.suffix.is_empty())
                .map(|s| go_double(s.value))
                .collect::<Vec<_>>()
                .join(" ")
        };
        // Without the Prometheus provider the windows keep nothing.
        assert_eq!(quantiles(monotonic_ms()), "NaN NaN NaN NaN");
        m.start_windows(monotonic_ms());
        m.update_latency.add(1);
        m.update_latency.add(6);
        m.update_latency.add(6);
        m.fsync_time.add(12);
        let now = monotonic_ms();
        assert_eq!(quantiles(now), "1.0 6.0 6.0 12.0");
        // Ten minutes on (and a millisecond: the first period includes its start),
        // the window has let them go; _count and _sum stay.
        let later = now + crate::stats::window::MAX_AGE_MS + 1;
        assert_eq!(quantiles(later), "NaN NaN NaN NaN");
        let f = find(&m, "fsynctime", later);
        assert_eq!((f.samples[1].value, f.samples[2].value), (2.0, 16.0));
        // srst resets mntr's values only (the provider's resetAllValues is a no-op).
        m.reset();
        assert_eq!(quantiles(now), "1.0 6.0 6.0 12.0");
        assert_eq!(find(&m, "fsynctime", now).samples[1].value, 0.0);
    }

    #[test]
    fn name_filter_matches_any_sample_name() {
        let m = Metrics::default();
        let fams: Vec<Family> = SERVER_METRICS
            .iter()
            .map(|d| server_metric(d, &m, monotonic_ms()))
            .collect();
        let only: BTreeSet<String> = ["readlatency_count".to_owned(), "diff_count".to_owned()]
            .into_iter()
            .collect();
        let text = render(&fams, Some(&only));
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        assert_eq!(
            types,
            ["# TYPE readlatency summary", "# TYPE diff_count counter"]
        );
    }
}
