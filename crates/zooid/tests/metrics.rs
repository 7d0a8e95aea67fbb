//! The Prometheus endpoint (`metricsProvider.className=...PrometheusMetricsProvider`)
//! against the real binary: every line of `GET /metrics` well-formed text format 0.0.4,
//! the families exactly ZooKeeper 3.9.5's for a standalone server
//! (`data/prometheus-names.txt`, which says how it was generated from ZooKeeper's
//! source), and values that agree with mntr and move with the requests made.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{four_letter, free_port, handshake, raw, read_frame, send_frame, ZooidProcess};
use zooid_proto::{CreateRequest, GetDataRequest, Record, RequestHeader};

const PROVIDER: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// (status, content type, body) of one HTTP/1.1 request.
fn http(port: u16, method: &str, path: &str) -> (u16, Option<String>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).expect("utf-8 reply");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned());
    (status, content_type, body.to_owned())
}

/// One sample: name, labels in order, value.
type Sample = (String, Vec<(String, String)>, f64);

/// A parsed exposition: family name → type, and every sample.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the unlabelled sample `name`.
    fn value(&self, name: &str) -> f64 {
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| n == name && l.is_empty())
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "one unlabelled {name} sample");
        found[0]
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses text format 0.0.4 as simpleclient writes it, failing on any line that is not:
/// HELP and TYPE before a family's samples, help text equal to the name, each sample
/// named after the family it follows (`_count`/`_sum` for summaries, a `quantile`
/// label only there), labels with simpleclient's trailing comma, Go-style values.
fn parse(body: &str) -> Exposition {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let mut family: Option<(String, String)> = None;
    let mut help: Option<String> = None;
    assert!(body.ends_with('\n'), "ends with a newline");
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name), "{line}");
            assert_eq!(name, text, "the provider's help is the name: {line}");
            help = Some(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').expect("TYPE name type");
            assert_eq!(
                help.as_deref(),
                Some(name),
                "HELP right before TYPE: {line}"
            );
            assert!(["counter", "gauge", "summary"].contains(&ty), "{line}");
            let prev = types.insert(name.to_owned(), ty.to_owned());
            assert!(prev.is_none(), "family {name} twice");
            family = Some((name.to_owned(), ty.to_owned()));
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (fam, ty) = family.as_ref().expect("a sample after a TYPE line");
        let (head, value) = line.rsplit_once(' ').expect("name and value");
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => {
                // Java's Double.toString: digits with a point, maybe an exponent.
                assert!(v.contains('.'), "a Java double: {line}");
                v.parse::<f64>()
                    .unwrap_or_else(|_| panic!("a number: {line}"))
            }
        };
        let (name, labels) = match head.split_once('{') {
            None => (head, vec![]),
            Some((name, rest)) => {
                let inner = rest.strip_suffix(",}").expect("labels end with ,}");
                let labels = inner
                    .split("\",")
                    .map(|kv| {
                        let kv = kv.strip_suffix('"').unwrap_or(kv);
                        let (k, v) = kv.split_once("=\"").expect("key=\"value\"");
                        assert!(is_name(k), "label name: {line}");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                (name, labels)
            }
        };
        let allowed: Vec<String> = match ty.as_str() {
            "summary" => ["", "_count", "_sum"]
                .iter()
                .map(|s| format!("{fam}{s}"))
                .collect(),
            _ => vec![fam.clone()],
        };
        assert!(allowed.iter().any(|a| a == name), "{name} in family {fam}");
        let quantile = labels.iter().any(|(k, _)| k == "quantile");
        assert_eq!(
            quantile,
            ty == "summary" && name == fam,
            "quantile labels on summary samples only: {line}"
        );
        samples.push((name.to_owned(), labels, value));
    }
    Exposition { types, samples }
}

fn scrape(port: u16) -> Exposition {
    let (status, ty, body) = http(port, "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ty.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&body)
}

/// mntr's numeric values by key (without `zk_`).
fn mntr(zk: &ZooidProcess) -> BTreeMap<String, f64> {
    let text = four_letter(zk.port, "mntr").expect("mntr");
    text.lines()
        .filter_map(|l| l.strip_prefix("zk_")?.split_once('\t'))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect()
}

/// A sample as mntr keys it: its name, then its labels in braces.
fn sample_key((name, labels, _): &Sample) -> String {
    if labels.is_empty() {
        return name.clone();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn request(s: &mut TcpStream, xid: i32, op: i32, body: Vec<u8>) {
    let mut req = RequestHeader { xid, op }.to_vec();
    req.extend(body);
    send_frame(s, &req);
    read_frame(s).expect("a reply");
}

/// Creates each path, in order, with some data.
fn create(s: &mut TcpStream, paths: &[String]) {
    for (i, path) in paths.iter().enumerate() {
        let body = CreateRequest {
            path: path.clone(),
            data: b"data".to_vec().into(),
            acl: zooid_proto::open_acl_unsafe(),
            flags: 0,
        }
        .to_vec();
        request(s, 100 + i as i32, 1, body);
    }
}

fn metrics_server() -> (ZooidProcess, u16) {
    let port = free_port();
    let zk = ZooidProcess::start(&format!(
        "metricsProvider.className={PROVIDER}\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={port}\n"
    ));
    (zk, port)
}

#[test]
fn families_are_zookeepers() {
    let (zk, port) = metrics_server();
    let mut s = raw(&zk);
    handshake(&mut s);
    create(&mut s, &["/app".into(), "/app/a".into()]);
    let got: BTreeSet<String> = scrape(port)
        .types
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect();
    let list = include_str!("data/prometheus-names.txt");
    let want: BTreeSet<String> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(want.len(), 150, "the list ZooKeeper 3.9.5 gives");
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
}

#[test]
fn values_agree_with_mntr_and_follow_requests() {
    let (zk, port) = metrics_server();
    let mut s = raw(&zk);
    handshake(&mut s);
    create(&mut s, &["/app".into(), "/app/a".into()]);
    let before = scrape(port);
    // No client request between the scrape and mntr: they agree, but for the mntr
    // request itself, which counts as a received packet before it reports.
    let m = mntr(&zk);
    // Under the Prometheus provider mntr dumps the provider's samples, keyed as the
    // scrape names them (PrometheusMetricsProvider.dump), after version and
    // server_state.
    let text = four_letter(zk.port, "mntr").unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("zk_")?.split_once('\t'))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys[..2], ["version", "server_state"]);
    let scraped: BTreeSet<String> = before.samples.iter().map(sample_key).collect();
    let dumped: BTreeSet<String> = keys[2..].iter().map(|k| k.to_string()).collect();
    assert_eq!(scraped, dumped);
    assert!(
        text.contains("zk_readlatency{quantile=\"0.5\"}\t"),
        "{text}"
    );
    assert!(
        text.contains("zk_write_per_namespace_count{key=\"app\"}\t"),
        "{text}"
    );
    for name in [
        "znode_count",
        "ephemerals_count",
        "connection_request_count",
        "readlatency_count",
        "updatelatency_count",
        "updatelatency_sum",
    ] {
        assert_eq!(before.value(name), m[name], "{name} in /metrics and mntr");
    }
    // Values are Java doubles, counts included.
    assert!(
        text.contains(&format!("zk_znode_count\t{:?}\n", m["znode_count"])),
        "{text}"
    );
    assert_eq!(
        before.value("packets_received") + 1.0,
        m["packets_received"]
    );
    assert_eq!(
        before.value("bytes_received_count") + "mntr".len() as f64,
        m["bytes_received_count"]
    );

    let paths: Vec<String> = (0..3).map(|i| format!("/app/b{i}")).collect();
    create(&mut s, &paths);
    for xid in 0..4 {
        let body = GetDataRequest {
            path: "/app/a".into(),
            watch: false,
        }
        .to_vec();
        request(&mut s, 200 + xid, 4, body);
    }
    let after = scrape(port);
    assert_eq!(
        after.value("znode_count"),
        before.value("znode_count") + 3.0
    );
    assert!(after.value("packets_received") >= before.value("packets_received") + 7.0);
    assert_eq!(
        after.value("readlatency_count"),
        before.value("readlatency_count") + 4.0
    );
    assert_eq!(
        after.value("updatelatency_count"),
        before.value("updatelatency_count") + 3.0
    );
    // An ADVANCED summary with observations has its three quantiles as numbers.
    let quantiles: Vec<(String, f64)> = after
        .samples
        .iter()
        .filter(|(n, _, _)| n == "readlatency")
        .map(|(_, l, v)| (l[0].1.clone(), *v))
        .collect();
    let labels: Vec<&str> = quantiles.iter().map(|(q, _)| q.as_str()).collect();
    assert_eq!(labels, ["0.5", "0.9", "0.99"]);
    assert!(quantiles.iter().all(|(_, v)| v.is_finite() && *v >= 0.0));
    assert!(
        quantiles.windows(2).all(|w| w[0].1 <= w[1].1),
        "{quantiles:?}"
    );
    // So has a BASIC one its median: the writes were fsynced and prepped within the
    // last ten minutes, and recovery (timed after the windows start, as ZooKeeper's
    // provider starts before the database loads) took a first snapshot. One never
    // observed is NaN, as ZooKeeper's empty windows.
    let median = |name: &str| {
        let found: Vec<f64> = after
            .samples
            .iter()
            .filter(|(n, l, _)| n == name && l == &[("quantile".into(), "0.5".into())])
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(found.len(), 1, "one {name} median");
        found[0]
    };
    for name in [
        "fsynctime",
        "prep_process_time",
        "sync_processor_batch_size",
        "dbinittime",
        "snapshottime",
    ] {
        assert!(median(name) >= 0.0, "{name}'s median is a number");
    }
    assert!(median("restore_time").is_nan());
    // The per-namespace summary set carries the namespace under the label "key",
    // before the quantile's.
    let app = |name: &str, quantile: bool| {
        let mut labels = vec![("key".to_owned(), "app".to_owned())];
        if quantile {
            labels.push(("quantile".to_owned(), "0.5".to_owned()));
        }
        let found = after
            .samples
            .iter()
            .find(|(n, l, _)| n == name && l == &labels);
        found.unwrap_or_else(|| panic!("{name}{labels:?}")).2
    };
    assert!(
        app("write_per_namespace_count", false) >= 5.0,
        "five writes under /app"
    );
    assert!(
        app("write_per_namespace", true) > 0.0,
        "each wrote its path at least"
    );
}

#[test]
fn srst_leaves_the_providers_values() {
    let (zk, port) = metrics_server();
    let mut s = raw(&zk);
    handshake(&mut s);
    create(&mut s, &["/a".into(), "/b".into()]);
    let before = scrape(port);
    assert!(before.value("updatelatency_count") >= 2.0);
    assert_eq!(
        four_letter(zk.port, "srst").as_deref(),
        Some("Server stats reset.\n")
    );
    // PrometheusMetricsProvider.resetAllValues does nothing: ServerMetrics keep their
    // values; ServerStats' own (latency, packets) restart.
    let after = scrape(port);
    for name in ["updatelatency_count", "updatelatency_sum"] {
        assert_eq!(after.value(name), before.value(name), "{name}");
    }
    assert_eq!(after.value("max_latency"), 0.0);
    assert_eq!(
        mntr(&zk)["updatelatency_count"],
        before.value("updatelatency_count")
    );
}

#[test]
fn only_metrics_path_and_name_filter() {
    let (_zk, port) = metrics_server();
    assert_eq!(http(port, "GET", "/").0, 404);
    assert_eq!(http(port, "GET", "/commands").0, 404);
    assert_eq!(http(port, "DELETE", "/metrics").0, 405);
    let (status, _, body) = http(port, "POST", "/metrics");
    assert_eq!(status, 200);
    assert!(parse(&body).types.len() > 100);
    let (status, _, body) = http(
        port,
        "GET",
        "/metrics?name[]=znode_count&name[]=fsynctime_count",
    );
    assert_eq!(status, 200);
    let e = parse(&body);
    let names: Vec<&String> = e.types.keys().collect();
    assert_eq!(names, ["fsynctime", "znode_count"]);
}

#[test]
fn a_taken_port_stops_the_server() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut zk = ZooidProcess::spawn(
        dir,
        free_port(),
        &format!(
            "metricsProvider.className={PROVIDER}\nmetricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort={port}\n"
        ),
    );
    let status = zk.wait_exit(20).expect("zooid exits");
    assert!(!status.success());
    assert!(
        zk.server_log().contains("Cannot boot MetricsProvider"),
        "{}",
        zk.server_log()
    );
}
