//! The AdminServer: ZooKeeper's HTTP interface (`JettyAdminServer`). `GET <commandURL>`
//! lists the commands as links, `GET <commandURL>/<name>` runs one and answers with
//! Jackson-formatted JSON (see `json`), and `GET /ready` (Zooid's own, for readiness
//! probes) is 200 only while the server serves clients. With `admin.forceHttps` or
//! `admin.portUnification` the port speaks HTTPS (see `crate::tls::AdminTls`).

mod commands;
pub mod json;
mod transfer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::core::CoreMsg;
use crate::http::{percent_decode, Peer};
use crate::state::Shared;
use crate::tls::{AdminTls, X509Provider};
use json::Json;

/// Jetty's `SecureRequestCustomizer` as `JettyAdminServer` sets it (a day, and
/// subdomains): the header every HTTPS answer carries.
const STS: &str = "max-age=86400; includeSubDomains";

/// Admin connections served at once; past it, new ones wait in the accept backlog. The
/// interface is for operators and probes, a handful of clients.
const ADMIN_CONNECTIONS_MAX: usize = 64;

/// A response body: JSON or text in one piece, or a snapshot file streamed.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// What the handlers share.
pub(crate) struct AdminState {
    shared: Arc<Shared>,
    /// The core, for `restore` (a standalone server's only).
    core: Option<mpsc::Sender<CoreMsg>>,
    snapshot_limit: transfer::RateLimiter,
    restore_limit: transfer::RateLimiter,
    /// The `x509` scheme's provider; None on a plain HTTP port, where no request has a
    /// certificate.
    x509: Option<X509Provider>,
}

/// Binds `admin.serverAddress:admin.serverPort` and serves it on the runtime, when
/// `admin.enableServer` is on. Returns the bound address. `core` is given on a
/// standalone server, where `restore` can replace the state.
pub async fn start(
    shared: Arc<Shared>,
    core: Option<mpsc::Sender<CoreMsg>>,
) -> std::io::Result<Option<SocketAddr>> {
    let c = &shared.config;
    if !c.admin_enable_server {
        return Ok(None);
    }
    let tls = AdminTls::from_config(c).map_err(|e| {
        tracing::error!("Failed to load authentication certificates for admin server: {e}");
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("AdminServer: {e}"),
        )
    })?;
    let addr = SocketAddr::new(c.admin_server_address, c.admin_server_port);
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "Problem starting AdminServer on address {}, port {} and command URL {}: {e}",
                c.admin_server_address, c.admin_server_port, c.admin_command_url
            ),
        )
    })?;
    let local = listener.local_addr()?;
    tracing::info!(
        "Started AdminServer on address {local} and command URL {} ({})",
        c.admin_command_url,
        match &tls {
            None => "HTTP",
            Some(t) if t.unified => "HTTP and HTTPS",
            Some(_) => "HTTPS",
        }
    );
    // `admin.rateLimiterIntervalInMS`, which `SnapshotCommand` reads as microseconds
    // and `RestoreCommand` as milliseconds.
    let interval: u64 = c
        .other
        .get("zookeeper.admin.rateLimiterIntervalInMS")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(300_000)
        .max(0) as u64;
    let state = Arc::new(AdminState {
        core,
        snapshot_limit: transfer::RateLimiter::new(Duration::from_millis(interval / 1000)),
        restore_limit: transfer::RateLimiter::new(Duration::from_millis(interval)),
        x509: tls.as_ref().map(|_| X509Provider::from_config(c)),
        shared: shared.clone(),
    });
    tokio::spawn(accept_loop(listener, state, tls));
    Ok(Some(local))
}

async fn accept_loop(listener: TcpListener, state: Arc<AdminState>, tls: Option<AdminTls>) {
    let idle = Duration::from_millis(u64::from(state.shared.config.admin_idle_timeout_ms.max(1)));
    let https = tls.map(|tls| {
        let shared = state.shared.clone();
        let on_plain = move || shared.counters.metrics.insecure_admin.inc();
        crate::http::Https {
            tls,
            on_plain: Arc::new(on_plain),
        }
    });
    let handler = move |req, peer: Arc<Peer>| {
        let state = state.clone();
        async move {
            let mut resp = handle(&state, req, &peer).await;
            if peer.secure {
                let sts = hyper::header::HeaderValue::from_static(STS);
                let name = hyper::header::STRICT_TRANSPORT_SECURITY;
                resp.headers_mut().insert(name, sts);
            }
            resp
        }
    };
    let max = ADMIN_CONNECTIONS_MAX;
    crate::http::serve(listener, "admin", max, idle, https, handler).await;
}

async fn handle(state: &Arc<AdminState>, req: Request<Incoming>, peer: &Peer) -> Response<Body> {
    let remote = peer.remote;
    let shared = &state.shared;
    let path = req.uri().path().to_owned();
    if path == "/ready" {
        return ready(shared);
    }
    let base = shared.config.admin_command_url.trim_end_matches('/');
    let Some(rest) = path.strip_prefix(base) else {
        return plain(StatusCode::NOT_FOUND, String::new());
    };
    let name = match rest {
        "" | "/" => return plain(StatusCode::OK, links(base)),
        r if r.starts_with('/') => percent_decode(&r[1..]),
        _ => return plain(StatusCode::NOT_FOUND, String::new()),
    };
    let args = query_args(req.uri().query().unwrap_or(""));
    let get = req.method() == Method::GET;
    if !get && req.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, String::new());
    }
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    tracing::info!("admin command {name} from {remote}");
    let primary = match precheck(state, &name, auth.as_deref(), peer, get) {
        Ok(p) => p,
        Err((status, body)) => return json_reply(status, body),
    };
    match primary {
        "snapshot" => transfer::snapshot(state, &args).await,
        "restore" => transfer::restore(state, req.into_body()).await,
        _ => {
            let shared = shared.clone();
            let (status, body) = tokio::task::spawn_blocking(move || run(&shared, primary, &args))
                .await
                .unwrap_or((500, Json::Null));
            json_reply(status, body)
        }
    }
}

/// `Commands.runCommand` up to the command itself: unknown names, the serving check
/// and the auth check answer before it runs. Ok is the command's primary name.
fn precheck(
    state: &AdminState,
    name: &str,
    auth: Option<&str>,
    peer: &Peer,
    get: bool,
) -> Result<&'static str, (u16, Json)> {
    let shared = &state.shared;
    let reply = |error: &str, status: u16| (status, response(name, vec![], Some(error.into())));
    let Some(cmd) = commands::find(name) else {
        return Err(reply(&format!("Unknown command: {name}"), 200));
    };
    let primary = cmd.names[0];
    if cmd.server_required && !serving(shared) {
        let msg = "This ZooKeeper instance is not currently serving requests";
        return Err(reply(msg, 200));
    }
    if cmd.auth {
        let x509 = state.x509.as_ref();
        transfer::authorize(shared, auth, peer, x509).map_err(|(status, e)| reply(e, status))?;
    }
    // A GET of the POST-only `restore`, or a POST of a GET command, fails in ZooKeeper
    // with an unsupported-operation error.
    if get == (primary == "restore") {
        return Err((
            500,
            response(primary, vec![], Some("Unsupported operation".into())),
        ));
    }
    Ok(primary)
}

/// Runs a GET command other than `snapshot`; the reply is `CommandResponse.toMap`.
fn run(shared: &Shared, primary: &str, args: &BTreeMap<String, String>) -> (u16, Json) {
    let answer = commands::run(shared, primary, args);
    (answer.status, response(primary, answer.fields, None))
}

/// `CommandResponse.toMap`: the data first, then `command` and `error` (an `error` the
/// command put in its data keeps its place and value).
fn response(command: &str, mut fields: Vec<(String, Json)>, error: Option<String>) -> Json {
    if !fields.iter().any(|(k, _)| k == "command") {
        fields.push(("command".into(), Json::str(command)));
    }
    if !fields.iter().any(|(k, _)| k == "error") {
        fields.push(("error".into(), error.map_or(Json::Null, Json::Str)));
    }
    Json::Object(fields)
}

/// A JSON answer (`JsonOutputter`), Jackson-indented.
fn json_reply(status: u16, body: Json) -> Response<Body> {
    let mut resp = Response::new(full(body.pretty()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed()
}

/// `GET /ready`: 200 while clients are served (standalone once loaded; an ensemble
/// member while it leads or is a synced follower or observer), else 503.
fn ready(shared: &Shared) -> Response<Body> {
    let mode = *shared.server_mode.lock();
    let serving = serving(shared);
    let body = Json::Object(vec![
        (
            "status".into(),
            Json::str(if serving { "ok" } else { "fail" }),
        ),
        ("server_state".into(), Json::str(mode)),
    ]);
    json_reply(if serving { 200 } else { 503 }, body)
}

/// Whether clients are served (`ZooKeeperServer.isRunning`). An ensemble member starts
/// with the standalone mode of a fresh `Shared` until Zab gives it a role.
fn serving(shared: &Shared) -> bool {
    let mode = *shared.server_mode.lock();
    if shared.replica {
        matches!(mode, "leader" | "follower" | "observer")
    } else {
        !mode.is_empty()
    }
}

/// `JettyAdminServer.commandLinks`: the primary names, sorted, as links.
fn links(base: &str) -> String {
    let mut names: Vec<&str> = commands::COMMANDS.iter().map(|c| c.names[0]).collect();
    names.sort_unstable();
    names
        .iter()
        .map(|n| format!("<a href=\"{base}/{n}\">{n}</a>\n<br/>\n"))
        .collect()
}

/// A body without a content type, as Jetty sends the link list and its errors.
fn plain(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp
}

/// The query's parameters, each name with its first value (`getParameterMap()[0]`).
fn query_args(query: &str) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        args.entry(percent_decode(k))
            .or_insert_with(|| percent_decode(v));
    }
    args
}
