//! One client connection: the four-letter-word check on the first bytes, the session
//! handshake, then the request loop. Reads run here; writes (and reads queued behind a
//! write of the same session) go to the core. A writer task drains the outbox.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use parking_lot::RwLock;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use zooid_proto::opcode::op;
use zooid_proto::request::Request;
use zooid_proto::{
    AuthPacket, ConnectRequest, ErrorCode, Id, Reader, Record, ReplyHeader, RequestHeader,
};
use zooid_tree::acl::authenticate;

use crate::core::{ConnectOutcome, CoreMsg};
use crate::fourlw;
use crate::read;
use crate::sasl::digest::{DigestMd5Server, NONCE_RANDOM_BYTES};
use crate::sasl::SaslOutcome;
use crate::session::SessionState;
use crate::state::{frame, frame_bare, frame_header, ConnHandle, ConnStats, Out, Outbox, Shared};
use crate::tls::TlsServer;

/// Bytes a writer gathers from the outbox before one `write` call.
const WRITE_BATCH_BYTES_MAX: usize = 256 * 1024;

/// Why a connection ended (logged).
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("Len error {0}")]
    Len(i64),
    #[error("malformed packet: {0}")]
    Malformed(String),
    #[error("server is shutting down")]
    Shutdown,
}

/// Reads one length-prefixed frame, refusing lengths outside `0..=max`.
async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
    max: usize,
) -> Result<Vec<u8>, ConnError> {
    let len = rd.read_i32().await?;
    read_body(rd, len, max).await
}

async fn read_body<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
    len: i32,
    max: usize,
) -> Result<Vec<u8>, ConnError> {
    if len < 0 || len as usize > max {
        return Err(ConnError::Len(len as i64));
    }
    let mut buf = vec![0u8; len as usize];
    rd.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Out>,
    queued: Arc<AtomicUsize>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    'outer: while let Some(m) = rx.recv().await {
        let mut close = false;
        let push = |m: Out, buf: &mut Vec<u8>| match m {
            Out::Frame(b) => {
                queued.fetch_sub(b.len(), Ordering::AcqRel);
                buf.extend_from_slice(&b);
                false
            }
            Out::Close => true,
        };
        close |= push(m, &mut buf);
        while !close && buf.len() < WRITE_BATCH_BYTES_MAX {
            match rx.try_recv() {
                Ok(m) => close |= push(m, &mut buf),
                Err(_) => break,
            }
        }
        if wr.write_all(&buf).await.is_err() {
            break 'outer;
        }
        buf.clear();
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

/// Serves one accepted socket of the plain client port to its end.
pub async fn serve(
    shared: Arc<Shared>,
    core: mpsc::Sender<CoreMsg>,
    stream: TcpStream,
    remote: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let (rd, wr) = stream.into_split();
    let ends = Ends {
        remote,
        local,
        secure: false,
    };
    serve_stream(shared, core, rd, wr, ends, Vec::new()).await;
}

/// Serves one socket of the secure client port: the TLS handshake, then the same as
/// [`serve`], with the identities the client's certificate proved.
pub async fn serve_tls(
    shared: Arc<Shared>,
    core: mpsc::Sender<CoreMsg>,
    tls: Arc<TlsServer>,
    stream: TcpStream,
    remote: SocketAddr,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let (stream, ids) = match tls.accept(stream).await {
        Ok(x) => x,
        Err(e) => {
            // NettyServerCnxnFactory.CertificateVerifier: both count as failed
            // authentication; a failed handshake is also UNSUCCESSFUL_HANDSHAKE.
            let counters = &shared.counters;
            counters.auth_failed.fetch_add(1, Ordering::Relaxed);
            if matches!(e, crate::tls::AcceptError::Handshake(_)) {
                counters.metrics.unsuccessful_handshake.inc();
            }
            tracing::error!("closing connection from {remote}: {e}");
            return;
        }
    };
    let (rd, wr) = tokio::io::split(stream);
    let ends = Ends {
        remote,
        local,
        secure: true,
    };
    serve_stream(shared, core, rd, wr, ends, ids).await;
}

/// The addresses of a connection.
#[derive(Debug, Clone, Copy)]
struct Ends {
    remote: SocketAddr,
    local: Option<SocketAddr>,
    /// On the secure client port (ZooKeeper's `secureServerCnxnFactory`).
    secure: bool,
}

/// A connection's byte stream, plain or TLS, to its end; `ids` join its `ip` identity.
async fn serve_stream<R, W>(
    shared: Arc<Shared>,
    core: mpsc::Sender<CoreMsg>,
    rd: R,
    wr: W,
    ends: Ends,
    ids: Vec<Id>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let remote = ends.remote;
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut first = [0u8; 4];
    if let Err(e) = rd.read_exact(&mut first).await {
        count_drop(&shared, &e);
        return;
    }
    if let Some(cmd) = fourlw::command(first) {
        let caller = fourlw::Caller {
            remote,
            local: ends.local,
            secure: ends.secure,
        };
        return fourlw::serve(&shared, cmd, &mut rd, wr, caller).await;
    }
    let max = shared.config.jute_maxbuffer as usize;
    let connect = match read_body(&mut rd, i32::from_be_bytes(first), max).await {
        Ok(b) => b,
        Err(e) => {
            if let ConnError::Io(e) = &e {
                count_drop(&shared, e);
            }
            tracing::warn!("closing connection from {remote}: {e}");
            return;
        }
    };
    let req = match ConnectRequest::decode(&mut Reader::new(&connect)) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("closing connection from {remote}: malformed ConnectRequest: {e}");
            return;
        }
    };
    // An old client sends no readOnly byte and must get none back (ProtocolManager).
    let with_read_only = connect.len() > connect_len_without_read_only(&req);
    let out_max = (max * 4).max(OUTBOX_BYTES_MIN);
    let (outbox, rx, queued) = Outbox::new(out_max);
    let conn = Arc::new(ConnHandle {
        id: shared.next_conn_id.fetch_add(1, Ordering::Relaxed),
        remote,
        out: outbox,
        auth: RwLock::new(Arc::new(
            std::iter::once(Id::new("ip", &java_host_address(remote.ip())))
                .chain(ids)
                .collect(),
        )),
        secure: ends.secure,
        session_id: AtomicI64::new(0),
        timeout_ms: AtomicI64::new(0),
        in_core: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        close_notify: Notify::new(),
        stats: ConnStats::new(shared.counters.clone()),
    });
    conn.received(4 + connect.len()); // the ConnectRequest
    conn.stats
        .established_ms
        .store(crate::core::now_wall_ms(), Ordering::Relaxed);
    shared.conns.lock().insert(conn.id, conn.clone());
    let writer = tokio::spawn(write_loop(wr, rx, queued));
    let result = session_loop(&shared, &core, &conn, req, with_read_only, &mut rd).await;
    if let Err(e) = result {
        if let ConnError::Io(e) = &e {
            count_drop(&shared, e);
        }
        tracing::info!(
            "closing connection from {remote} (session 0x{:x}): {e}",
            conn.session()
        );
    }
    conn.kill();
    let _ = core
        .send(CoreMsg::ConnClosed {
            conn_id: conn.id,
            session: conn.session(),
        })
        .await;
    let _ = writer.await;
}

/// A client that closed its socket (`NIOServerCnxn.handleFailedRead`).
fn count_drop(shared: &Shared, e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        shared.counters.metrics.connections_dropped.inc();
    }
}

/// The smallest outbound budget, so small `jute.maxbuffer` settings still allow bursts of
/// watch events.
const OUTBOX_BYTES_MIN: usize = 16 * 1024 * 1024;

async fn session_loop<R: AsyncRead + Unpin>(
    shared: &Arc<Shared>,
    core: &mpsc::Sender<CoreMsg>,
    conn: &Arc<ConnHandle>,
    req: ConnectRequest,
    with_read_only: bool,
    rd: &mut BufReader<R>,
) -> Result<(), ConnError> {
    let (new_session, started) = (req.session_id == 0, Instant::now());
    let (tx, rx) = oneshot::channel();
    let msg = CoreMsg::Connect {
        conn: conn.clone(),
        req,
        reply: tx,
    };
    core.send(msg).await.map_err(|_| ConnError::Shutdown)?;
    let ConnectOutcome { resp, session } = rx.await.map_err(|_| ConnError::Shutdown)?;
    let Some(resp) = resp else {
        return Err(ConnError::Malformed("client has seen a newer zxid".into()));
    };
    let mut f = frame_bare(&resp).to_vec();
    if !with_read_only {
        f.pop();
        let len = (f.len() - 4) as i32;
        f[..4].copy_from_slice(&len.to_be_bytes());
    }
    conn.reply(f.into());
    let Some(session) = session else {
        return Err(ConnError::Malformed(
            "session expired or wrong password".into(),
        ));
    };
    if new_session {
        let zxid = shared.tree.read().last_zxid();
        conn.stats.last_zxid.store(zxid, Ordering::Relaxed);
        conn.responded(op::CREATE_SESSION, 0, started);
    }
    let max = shared.config.jute_maxbuffer as usize;
    // The connection's SASL exchange, created by its first SASL request.
    let mut sasl_state = None;
    loop {
        let buf = tokio::select! {
            r = read_frame(rd, max) => r?,
            _ = conn.close_notify.notified() => return Ok(()),
        };
        if conn.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        packet(shared, core, conn, &session, &buf, &mut sasl_state).await?;
    }
}

async fn packet(
    shared: &Arc<Shared>,
    core: &mpsc::Sender<CoreMsg>,
    conn: &Arc<ConnHandle>,
    session: &SessionState,
    buf: &[u8],
    sasl_state: &mut Option<DigestMd5Server>,
) -> Result<(), ConnError> {
    let received = Instant::now();
    conn.received(4 + buf.len());
    session.touch(shared.started.elapsed().as_millis() as i64);
    let mut r = Reader::new(buf);
    let hdr = RequestHeader::decode(&mut r).map_err(|e| ConnError::Malformed(e.to_string()))?;
    let body = r.rest();
    match hdr.op {
        op::AUTH => return auth(shared, conn, hdr.xid, body),
        op::SASL => return sasl(shared, conn, hdr.xid, body, sasl_state),
        _ => {}
    }
    // AuthenticationHelper.enforceAuthentication: every other request of a session
    // without an id of an enforced scheme closes it. (Without enforcement, nothing to
    // look up on each request.)
    let enforced = !shared.sasl.enforce_schemes.is_empty();
    if enforced && !shared.sasl.authenticated(&conn.auth()) {
        tracing::error!(
            "Client authentication scheme(s) {:?} does not match with any of the expected \
             authentication scheme {:?}, closing session.",
            conn.auth()
                .iter()
                .map(|i| i.scheme.as_str())
                .collect::<Vec<_>>(),
            shared.sasl.enforce_schemes
        );
        conn.reply(frame_header(&ReplyHeader {
            xid: hdr.xid,
            zxid: 0,
            err: ErrorCode::SessionClosedRequireSaslAuth.code(),
        }));
        conn.kill();
        return Ok(());
    }
    let req = Request::decode(hdr.op, body).map_err(|e| e.to_string());
    if let Ok(Request::Unknown(code)) = req {
        tracing::warn!(
            "received packet of unknown type {code} from 0x{:x}",
            conn.session()
        );
        // UnimplementedRequestProcessor answers with the request's zxid, never set: -1.
        conn.reply(frame_header(&ReplyHeader {
            xid: hdr.xid,
            zxid: -1,
            err: ErrorCode::Unimplemented.code(),
        }));
        conn.kill();
        return Ok(());
    }
    let is_read = req
        .as_ref()
        .map(|r| !r.is_write())
        .unwrap_or(!zooid_proto::opcode::is_write_op(hdr.op));
    if is_read && conn.in_core.load(Ordering::Acquire) == 0 {
        match &req {
            Ok(r) => read::execute(shared, conn, hdr.xid, r),
            Err(e) => {
                tracing::warn!(
                    "malformed request from 0x{:x} (op {}): {e}",
                    conn.session(),
                    hdr.op
                );
                let zxid = shared.tree.read().last_zxid();
                let err = ErrorCode::MarshallingError.code();
                conn.reply(frame_header(&ReplyHeader {
                    xid: hdr.xid,
                    zxid,
                    err,
                }));
            }
        }
        conn.responded(hdr.op, hdr.xid, received);
        return Ok(());
    }
    conn.in_core.fetch_add(1, Ordering::AcqRel);
    shared.counters.outstanding.fetch_add(1, Ordering::Relaxed);
    // An ensemble member may forward the request to its leader as it came.
    let raw = shared.replica.then(|| bytes::Bytes::copy_from_slice(body));
    let msg = CoreMsg::Request {
        conn: conn.clone(),
        xid: hdr.xid,
        op: hdr.op,
        req,
        raw,
        auth: conn.auth(),
        received,
    };
    core.send(msg).await.map_err(|_| ConnError::Shutdown)
}

/// A `SetSASLResponse` frame: `token` None is a null buffer.
fn sasl_reply(xid: i32, err: i32, token: Option<&[u8]>) -> bytes::Bytes {
    let body = |b: &mut BytesMut| match token {
        Some(t) => {
            b.put_i32(t.len() as i32);
            b.put_slice(t);
        }
        None => b.put_i32(-1),
    };
    frame(&ReplyHeader { xid, zxid: 0, err }, Some(&body))
}

/// `ZooKeeperServer.processSasl` for one SASL request; the decision is
/// [`Settings::process`](crate::sasl::Settings::process), the replies and closing here.
fn sasl(
    shared: &Shared,
    conn: &ConnHandle,
    xid: i32,
    body: &[u8],
    state: &mut Option<DigestMd5Server>,
) -> Result<(), ConnError> {
    let null = body.get(..4) == Some(&[0xff; 4][..]);
    let token = Reader::new(body)
        .read_buffer_slice()
        .map_err(|e| ConnError::Malformed(e.to_string()))?;
    let random = || {
        let mut r = [0u8; NONCE_RANDOM_BYTES];
        getrandom::fill(&mut r).map(|()| r)
    };
    let outcome = shared
        .sasl
        .process(state, (!null).then_some(token), random)
        .map_err(|e| ConnError::Io(std::io::Error::other(e.to_string())))?;
    match outcome {
        SaslOutcome::Reply(token) => conn.reply(sasl_reply(xid, 0, token.as_deref())),
        SaslOutcome::Authenticated { ids, token } => {
            let session = conn.session();
            for id in &ids {
                tracing::info!(
                    "Session 0x{session:x}: adding SASL authorization {}:{}",
                    id.scheme,
                    id.id
                );
            }
            add_ids(conn, ids);
            conn.reply(sasl_reply(xid, 0, Some(&token)));
        }
        SaslOutcome::Refused(err) => {
            tracing::warn!(
                "Closing client connection {} after SASL failure",
                conn.remote
            );
            conn.reply(sasl_reply(xid, err.code(), None));
            conn.kill();
        }
    }
    Ok(())
}

/// Adds identities to a connection's auth info, each once.
fn add_ids(conn: &ConnHandle, ids: Vec<Id>) {
    let mut a = conn.auth.write();
    let mut v: Vec<Id> = a.as_ref().clone();
    for id in ids {
        if !v.contains(&id) {
            v.push(id);
        }
    }
    *a = Arc::new(v);
}

/// `addauth`: handled at once, as ZooKeeper does; a failure closes the connection.
fn auth(shared: &Shared, conn: &ConnHandle, xid: i32, body: &[u8]) -> Result<(), ConnError> {
    let p = AuthPacket::from_bytes(body)
        .or_else(|_| AuthPacket::decode(&mut Reader::new(body)))
        .map_err(|e| ConnError::Malformed(e.to_string()))?;
    // The ip provider "authenticates" anyone as their own address.
    let result = match p.scheme.as_str() {
        "ip" => Ok(vec![Id::new("ip", &java_host_address(conn.remote.ip()))]),
        _ => authenticate(&shared.policy, &p.scheme, &p.auth),
    };
    match result {
        Ok(ids) => {
            add_ids(conn, ids);
            conn.reply(frame_header(&ReplyHeader {
                xid,
                zxid: 0,
                err: 0,
            }));
            Ok(())
        }
        Err(e) => {
            tracing::warn!(
                "authentication failed for scheme {} from {}",
                p.scheme,
                conn.remote
            );
            conn.reply(frame_header(&ReplyHeader {
                xid,
                zxid: 0,
                err: e.code(),
            }));
            conn.kill();
            Ok(())
        }
    }
}

/// `InetAddress.getHostAddress`: dotted IPv4, or all eight IPv6 groups in lower-case hex
/// without `::` compression, as the ip provider's ids are written.
pub fn java_host_address(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => {
            let groups: Vec<String> = a.segments().iter().map(|g| format!("{g:x}")).collect();
            groups.join(":")
        }
    }
}

/// The bytes of a ConnectRequest up to and including its password.
fn connect_len_without_read_only(req: &ConnectRequest) -> usize {
    4 + 8 + 4 + 8 + 4 + req.passwd.len()
}
