//! The AdminServer: ZooKeeper's HTTP interface (`JettyAdminServer`). `GET <commandURL>`
//! lists the commands as links, `GET <commandURL>/<name>` runs one and answers with
//! Jackson-formatted JSON (see `json`), and `GET /ready` (Zooid's own, for readiness
//! probes) is 200 only while the server serves clients.

mod commands;
pub mod json;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::state::Shared;
use json::Json;

/// Admin connections served at once; past it, new ones wait in the accept backlog. The
/// interface is for operators and probes, a handful of clients.
const ADMIN_CONNECTIONS_MAX: usize = 64;

/// Binds `admin.serverAddress:admin.serverPort` and serves it on the runtime, when
/// `admin.enableServer` is on. Returns the bound address.
pub async fn start(shared: Arc<Shared>) -> std::io::Result<Option<SocketAddr>> {
    let c = &shared.config;
    if !c.admin_enable_server {
        return Ok(None);
    }
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
        "Started AdminServer on address {local} and command URL {}",
        c.admin_command_url
    );
    tokio::spawn(accept_loop(listener, shared));
    Ok(Some(local))
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let idle = Duration::from_millis(u64::from(shared.config.admin_idle_timeout_ms.max(1)));
    let handler = move |req, remote| {
        let shared = shared.clone();
        async move { handle(&shared, req, remote).await }
    };
    crate::http::serve(listener, "admin", ADMIN_CONNECTIONS_MAX, idle, handler).await;
}

async fn handle(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
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
    let auth = req.headers().contains_key(hyper::header::AUTHORIZATION);
    tracing::info!("admin command {name} from {remote}");
    let shared = shared.clone();
    let (status, body) = tokio::task::spawn_blocking(move || run(&shared, &name, &args, auth, get))
        .await
        .unwrap_or((500, Json::Null));
    let mut resp = Response::new(Full::new(Bytes::from(body.pretty())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// `Commands.runCommand`: unknown names, the serving check and the auth check answer
/// before the command runs; the reply is `CommandResponse.toMap`.
fn run(
    shared: &Shared,
    name: &str,
    args: &BTreeMap<String, String>,
    auth: bool,
    get: bool,
) -> (u16, Json) {
    let reply = |command: &str, error: Option<&str>, status: u16| {
        (status, response(command, vec![], error.map(str::to_owned)))
    };
    let Some(cmd) = commands::find(name) else {
        return reply(name, Some(&format!("Unknown command: {name}")), 200);
    };
    let primary = cmd.names[0];
    if cmd.server_required && !serving(shared) {
        let msg = "This ZooKeeper instance is not currently serving requests";
        return reply(name, Some(msg), 200);
    }
    if cmd.auth && !auth {
        return reply(name, Some("Auth info is missing for the command"), 401);
    }
    // A GET of the POST-only `restore`, or a POST of a GET command, fails in ZooKeeper
    // with an unsupported-operation error.
    if get == (primary == "restore") {
        return reply(primary, Some("Unsupported operation"), 500);
    }
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

/// `GET /ready`: 200 while clients are served (standalone once loaded; an ensemble
/// member while it leads or is a synced follower or observer), else 503.
fn ready(shared: &Shared) -> Response<Full<Bytes>> {
    let mode = *shared.server_mode.lock();
    let serving = serving(shared);
    let body = Json::Object(vec![
        (
            "status".into(),
            Json::str(if serving { "ok" } else { "fail" }),
        ),
        ("server_state".into(), Json::str(mode)),
    ]);
    let status = if serving {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut resp = Response::new(Full::new(Bytes::from(body.pretty())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
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
fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
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

/// `%XX` escapes and `+` for space, as a servlet decodes a query; bad escapes stay.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
