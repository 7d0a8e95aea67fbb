//! The admin `snapshot` and `restore` commands (ZooKeeper 3.9's `SnapshotCommand` and
//! `RestoreCommand`), their rate limiter, and the auth check they need
//! (`Commands.handleAuthentication` / `handleAuthorization`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::Response;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use zooid_proto::Id;

use super::json::Json;
use super::{json_reply, response, AdminState, Body};
use crate::core::CoreMsg;
use crate::http::Peer;
use crate::persist;
use crate::state::Shared;
use crate::tls::X509Provider;

/// `ZooDefs.Perms.ALL`: what both commands need on `/`.
const PERMS_ALL: i32 = 31;
/// Bytes of the snapshot file sent at a time.
const CHUNK: usize = 64 * 1024;
/// Bytes of a restore's body gathered per write to its file.
const WRITE_CHUNK: usize = 1024 * 1024;

/// `util.RateLimiter` with a rate of 1: one call per interval, counted from the
/// previous reset (the first call is always allowed).
pub struct RateLimiter {
    interval: Duration,
    state: Mutex<(Instant, bool)>,
}

impl RateLimiter {
    pub fn new(interval: Duration) -> RateLimiter {
        RateLimiter {
            interval,
            state: Mutex::new((Instant::now(), true)),
        }
    }

    pub fn allow(&self) -> bool {
        let mut s = self.state.lock();
        let now = Instant::now();
        if now > s.0 + self.interval {
            *s = (now, true);
        }
        std::mem::replace(&mut s.1, false)
    }
}

/// `Commands.handleAuthentication` + `handleAuthorization` for a command that needs
/// `ALL` on `/`: the `Authorization` header is `<scheme>[ <auth>]`. Err is the status
/// and error text to answer with. `x509` is the provider on an HTTPS port.
pub(crate) fn authorize(
    shared: &Shared,
    header: Option<&str>,
    peer: &Peer,
    x509: Option<&X509Provider>,
) -> Result<(), (u16, &'static str)> {
    let header = header.ok_or((401, "Auth info is missing for the command"))?;
    let ids = authenticate(shared, header, peer, x509).ok_or((401, "Not authenticated"))?;
    let tree = shared.tree.read();
    let root = tree.get("/").ok_or((500, "Error occurred during auth"))?;
    let acl = tree.acl_of(root);
    // Each bit on its own, as `handleAuthorization` checks them.
    for bit in (0..5).map(|b| 1 << b).filter(|b| PERMS_ALL & b != 0) {
        zooid_tree::acl::check_acl(&shared.policy, &acl, bit, &ids)
            .map_err(|_| (403, "Not authorized"))?;
    }
    Ok(())
}

/// The identities a header proves, or None (`AuthFailedException`). The digest, ip and
/// x509 providers answer; x509 only when registered, for a request over HTTPS with a
/// client certificate its trust store accepts (the auth text after `x509` is ignored,
/// as in ZooKeeper).
fn authenticate(
    shared: &Shared,
    header: &str,
    peer: &Peer,
    x509: Option<&X509Provider>,
) -> Option<Vec<Id>> {
    // Java's `split(" ")`: trailing empty strings go, others stay.
    let mut parts: Vec<&str> = header.split(' ').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() > 2 {
        return None;
    }
    let ids = match (parts[0], parts.get(1)) {
        ("digest", Some(auth)) => {
            zooid_tree::acl::authenticate(&shared.policy, "digest", auth.as_bytes()).ok()?
        }
        ("ip", _) => vec![Id::new(
            "ip",
            &crate::conn::java_host_address(peer.remote.ip()),
        )],
        // `ProviderRegistry` has no x509 provider unless a secure client port or an
        // `authProvider.*` key registers it.
        ("x509", _) if shared.policy.x509 => x509?.identities(peer.certs.as_deref()),
        _ => return None,
    };
    (!ids.is_empty()).then_some(ids)
}

/// The checks both commands make first: the `zookeeper.admin.<name>.enabled` feature
/// flag (on unless set to false: 503) and the rate limiter (429, counted). Some answer
/// when the command must not run.
fn refused(
    shared: &Shared,
    name: &'static str,
    limit: &RateLimiter,
    limited: &crate::stats::Counter,
) -> Option<Response<Body>> {
    let plain = |status| Some(json_reply(status, response(name, vec![], None)));
    let flag = format!("zookeeper.admin.{name}.enabled");
    if shared.config.other.get(&flag).is_some_and(|v| v != "true") {
        tracing::warn!("{name} command is disabled");
        return plain(503);
    }
    if !limit.allow() {
        limited.inc();
        tracing::warn!("{name} request was rate limited");
        return plain(429);
    }
    None
}

/// `SnapshotCommand`: takes a snapshot now and streams the file (unless
/// `streaming=false`), with its zxid and size in the `last_zxid` and `snapshot_size`
/// headers.
pub async fn snapshot(state: &AdminState, args: &BTreeMap<String, String>) -> Response<Body> {
    let shared = &state.shared;
    let metrics = &shared.counters.metrics;
    let limited = &metrics.snapshot_rate_limited_count;
    if let Some(r) = refused(shared, "snapshot", &state.snapshot_limit, limited) {
        return r;
    }
    let plain = |status| json_reply(status, response("snapshot", vec![], None));
    let streaming = args
        .get("streaming")
        .is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let s = shared.clone();
    let taken = tokio::task::spawn_blocking(move || {
        let _gate = s.snapshot_gate.blocking_lock();
        let path = persist::take_snapshot(&s, true).map_err(|e| e.to_string())?;
        let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        Ok::<_, String>((path, file, size))
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let (path, file, size) = match taken {
        Ok(t) => t,
        Err(e) => {
            shared.counters.metrics.snapshot_error_count.inc();
            tracing::warn!(
                "Exception occurred when taking the snapshot via the snapshot admin command: {e}"
            );
            return plain(500);
        }
    };
    let zxid = zooid_storage::snap::snapshot_zxid(&path).unwrap_or(0);
    let mut resp = if size == 0 {
        shared.counters.metrics.snapshot_error_count.inc();
        tracing::warn!("Snapshot file {} is empty", path.display());
        plain(500)
    } else if streaming {
        let mut r = Response::new(file_body(file));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    } else {
        plain(200)
    };
    for (name, value) in [
        ("last_zxid", format!("0x{zxid:x}")),
        ("snapshot_size", size.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    resp
}

/// A file's bytes as a response body, read on a blocking thread a chunk at a time.
fn file_body(mut file: std::fs::File) -> Body {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || loop {
        let mut buf = vec![0u8; CHUNK];
        let chunk = match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                Ok(Bytes::from(buf))
            }
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return; // the client went away, or the error ends the body
        }
    });
    ChannelBody(rx).boxed()
}

/// A body fed through a channel.
struct ChannelBody(mpsc::Receiver<std::io::Result<Bytes>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// `RestoreCommand`: the request's body is a snapshot (an uncompressed snapshot file);
/// it replaces the server's state. Answers with the zxid the restored state is at.
pub async fn restore(state: &AdminState, body: Incoming) -> Response<Body> {
    let shared = &state.shared;
    let limited = &shared.counters.metrics.restore_rate_limited_count;
    if let Some(r) = refused(shared, "restore", &state.restore_limit, limited) {
        return r;
    }
    let started = Instant::now();
    match restore_from(state, body).await {
        Ok(zxid) => {
            let ms = started.elapsed().as_millis() as i64;
            shared.counters.metrics.restore_time.add(ms);
            tracing::info!("Restore taken in {ms} ms");
            let fields = vec![("last_zxid".to_owned(), Json::Int(zxid))];
            json_reply(200, response("restore", fields, None))
        }
        Err(e) => {
            shared.counters.metrics.restore_error_count.inc();
            tracing::warn!("Exception occurred when restore snapshot via the restore command: {e}");
            json_reply(500, response("restore", vec![], Some(e)))
        }
    }
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn restore_from(state: &AdminState, mut body: Incoming) -> Result<i64, String> {
    let shared = &state.shared;
    let Some(core) = state.core.clone() else {
        return Err("restore is only supported on a standalone server".into());
    };
    // The body goes to a file beside the snapshots first: it may be larger than memory
    // should hold twice, and the reader checks it whole before anything changes.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = TempFile(
        shared
            .config
            .snap_dir()
            .join(format!("restore.{}.{n}.tmp", std::process::id())),
    );
    let io = |e: std::io::Error| format!("cannot store the snapshot sent: {e}");
    let started = Instant::now();
    let mut f = tokio::fs::File::create(&tmp.0).await.map_err(io)?;
    // Frames are small: they are gathered so that each write to the file is large.
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK);
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("cannot read the request body: {e}"))?;
        if let Ok(data) = frame.into_data() {
            received += data.len();
            buf.extend_from_slice(&data);
            if buf.len() >= WRITE_CHUNK {
                f.write_all(&buf).await.map_err(io)?;
                buf.clear();
            }
        }
    }
    f.write_all(&buf).await.map_err(io)?;
    f.flush().await.map_err(io)?;
    drop(f);
    tracing::info!(
        "restore: received {received} bytes in {} ms",
        started.elapsed().as_millis()
    );
    let path = tmp.0.clone();
    let ext = shared.config.extended_types_enabled;
    let snapshot = tokio::task::spawn_blocking(move || persist::load_restore(&path, ext))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("not a valid snapshot: {e}"))?;
    drop(tmp);
    let _gate = shared.snapshot_gate.lock().await;
    let (reply, answer) = oneshot::channel();
    let msg = CoreMsg::Restore {
        snapshot: Box::new(snapshot),
        reply,
    };
    let gone = || "the server is shutting down".to_owned();
    core.send(msg).await.map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}
