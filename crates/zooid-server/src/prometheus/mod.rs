//! The Prometheus endpoint: ZooKeeper's `PrometheusMetricsProvider` HTTP server.
//! `GET /metrics` (or POST, as `MetricsServlet`) answers the text exposition of every
//! metric mntr reports (see `text`), at `metricsProvider.httpHost:httpPort`.
//!
//! As in ZooKeeper it runs only when `metricsProvider.className` names
//! `org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider`; the default
//! provider has no HTTP side. `exportJvmInfo`, `numWorkerThreads`, `maxQueueSize` and
//! `workerShutdownTimeoutMs` tune the Java client's JVM collectors and its summary
//! workers, which Zooid does not have: they are accepted and not acted on.

pub mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::http::percent_decode;
use crate::state::Shared;

/// The class name that turns the endpoint on.
pub const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// `TextFormat.CONTENT_TYPE_004`.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Scrape connections served at once; past it, new ones wait in the accept backlog.
/// A Prometheus server or two scrape an instance, each over one connection.
const CONNECTIONS_MAX: usize = 16;

/// How long a connection may take to send its request head: scrapers send at once.
const HEADER_READ_TIMEOUT_MS: u64 = 30_000;

/// Where the endpoint listens: `metricsProvider.httpHost` and `httpPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// Whether zoo.cfg names the Prometheus provider (`metricsProvider.className`): then
/// mntr dumps its samples and `srst` leaves `ServerMetrics` alone, as its
/// `resetAllValues` does nothing.
pub fn configured(other: &BTreeMap<String, String>) -> bool {
    other.get("metricsProvider.className").map(String::as_str) == Some(PROMETHEUS_PROVIDER)
}

/// The endpoint the config asks for, `None` when the Prometheus provider is not the
/// configured one. A port that is no port is an error, as `Integer.parseInt` and
/// `InetSocketAddress` make it in `PrometheusMetricsProvider.configure`/`start`.
pub fn endpoint(other: &BTreeMap<String, String>) -> Result<Option<Endpoint>, String> {
    if !configured(other) {
        return Ok(None);
    }
    let host = other
        .get("metricsProvider.httpHost")
        .cloned()
        .unwrap_or_else(|| "0.0.0.0".to_owned());
    let port = match other.get("metricsProvider.httpPort") {
        None => 7000,
        Some(p) => p
            .parse::<u16>()
            .map_err(|e| format!("metricsProvider.httpPort {p:?}: {e}"))?,
    };
    Ok(Some(Endpoint { host, port }))
}

/// Binds and serves the endpoint on the runtime when the config enables it; returns the
/// bound address. ZooKeeper fails to start when its metrics provider cannot.
pub async fn start(shared: Arc<Shared>) -> std::io::Result<Option<SocketAddr>> {
    let boot_error = |e: String| {
        std::io::Error::other(format!(
            "Cannot boot MetricsProvider {PROMETHEUS_PROVIDER}: {e}"
        ))
    };
    let Some(ep) = endpoint(&shared.config.other).map_err(boot_error)? else {
        return Ok(None);
    };
    tracing::info!(
        "Starting /metrics HTTP endpoint at host: {}, port: {}",
        ep.host,
        ep.port
    );
    let listener = TcpListener::bind((ep.host.as_str(), ep.port))
        .await
        .map_err(|e| boot_error(format!("cannot bind {}:{}: {e}", ep.host, ep.port)))?;
    let local = listener.local_addr()?;
    tokio::spawn(accept_loop(listener, shared));
    Ok(Some(local))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let timeout = Duration::from_millis(HEADER_READ_TIMEOUT_MS);
    let handler = move |req, _peer| handle(shared.clone(), req);
    crate::http::serve(listener, "metrics", CONNECTIONS_MAX, timeout, None, handler).await;
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return status(StatusCode::NOT_FOUND);
    }
    match *req.method() {
        Method::GET | Method::POST | Method::HEAD => {}
        // The provider puts an authentication constraint on TRACE that nobody meets.
        Method::TRACE => return status(StatusCode::FORBIDDEN),
        _ => return status(StatusCode::METHOD_NOT_ALLOWED),
    }
    let only = name_filter(req.uri().query().unwrap_or(""));
    // Gathering walks the tree and the quota nodes under their locks.
    let body = tokio::task::spawn_blocking(move || {
        let monitor = crate::fourlw::gather_monitor(&shared);
        let now_ms = crate::stats::monotonic_ms();
        let families = text::families(&monitor, &shared.counters.metrics, now_ms);
        text::render(&families, only.as_ref())
    })
    .await;
    let Ok(body) = body else {
        return status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(CONTENT_TYPE),
    );
    resp
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}

/// `MetricsServlet`'s `name[]` parameters; `None` without any (every family).
fn name_filter(query: &str) -> Option<BTreeSet<String>> {
    let names: BTreeSet<String> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| percent_decode(k) == "name[]")
        .map(|(_, v)| percent_decode(v))
        .collect();
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn endpoint_only_for_the_prometheus_provider() {
        assert_eq!(endpoint(&cfg(&[])), Ok(None));
        let default = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider";
        let port = ("metricsProvider.httpPort", "7001");
        assert_eq!(
            endpoint(&cfg(&[("metricsProvider.className", default), port])),
            Ok(None)
        );
        let on = ("metricsProvider.className", PROMETHEUS_PROVIDER);
        assert_eq!(
            endpoint(&cfg(&[on])),
            Ok(Some(Endpoint {
                host: "0.0.0.0".into(),
                port: 7000
            }))
        );
        let host = ("metricsProvider.httpHost", "127.0.0.1");
        assert_eq!(
            endpoint(&cfg(&[on, host, port])),
            Ok(Some(Endpoint {
                host: "127.0.0.1".into(),
                port: 7001
            }))
        );
        let bad = ("metricsProvider.httpPort", "70000");
        assert!(endpoint(&cfg(&[on, bad])).is_err());
    }

    #[test]
    fn name_filter_reads_name_brackets() {
        assert_eq!(name_filter(""), None);
        assert_eq!(name_filter("x=1"), None);
        let got = name_filter("name%5B%5D=znode_count&name[]=readlatency_sum&y=2").unwrap();
        let want: BTreeSet<String> = ["znode_count", "readlatency_sum"].map(String::from).into();
        assert_eq!(got, want);
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
