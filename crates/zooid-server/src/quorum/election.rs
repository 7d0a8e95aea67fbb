//! Election connections, as `QuorumCnxManager` keeps them: one per peer, owned by the
//! higher sid, a one-message send slot per peer, and a resend of the last vote on a new
//! connection. Each peer has one task (its "actor") that owns the connection's write
//! half, dials, and waits; a reader task per connection delivers the votes.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use zooid_proto::quorum::election::{
    decode_election_frame, decode_handshake, encode_election_frame, ElectionAddr, HandshakeError,
    InitialMessage, HANDSHAKE_LEN_MAX, PROTOCOL_VERSION_V1,
};
use zooid_zab::{Message, Notification, Sid};

use super::convert::{vote_from_wire, vote_to_wire};
use super::{Inbound, Inner};
use crate::tls::{MaybeTls, MaybeTlsRead, MaybeTlsWrite};

/// How long one frame's write may stall before the connection counts as dead. Java's
/// SendWorker blocks without limit; a peer that stops reading must not stop us from
/// taking its next connection.
const WRITE_STALL_MAX: Duration = Duration::from_secs(30);

/// The election side of the transport.
pub(super) struct Election {
    /// What our handshake says (`InitialMessage` with our election address).
    handshake: Bytes,
    peers: Mutex<HashMap<Sid, Arc<Peer>>>,
}

struct Peer {
    state: Mutex<PeerState>,
    kick: Notify,
}

#[derive(Default)]
struct PeerState {
    /// `SEND_CAPACITY` = 1: the newest vote not yet written; a newer one replaces it.
    slot: Option<Bytes>,
    /// `lastMessageSent`: written again first thing on a new connection when the slot
    /// is empty, in case the old connection lost it.
    last_sent: Option<Bytes>,
    /// A lower sid dialed us: dial back (`connectOne`) even with nothing to send.
    dial_now: bool,
    /// A connection a higher sid opened, with the bytes read after its handshake.
    handed: Option<(MaybeTls, BytesMut)>,
}

impl Election {
    pub(super) fn new(host: &str, port: u16, my_id: Sid) -> Election {
        let m = InitialMessage {
            protocol_version: PROTOCOL_VERSION_V1,
            sid: my_id,
            addrs: vec![ElectionAddr::new(host, port)],
        };
        Election {
            handshake: m.to_vec().into(),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// The peer's state, starting its actor on first use.
    fn peer(&self, inner: &Arc<Inner>, sid: Sid) -> Arc<Peer> {
        let mut peers = self.peers.lock();
        if let Some(p) = peers.get(&sid) {
            return p.clone();
        }
        let p = Arc::new(Peer {
            state: Mutex::new(PeerState::default()),
            kick: Notify::new(),
        });
        peers.insert(sid, p.clone());
        tokio::spawn(run_peer(inner.clone(), sid, p.clone()));
        p
    }
}

/// `QuorumCnxManager.toSend`: to ourselves straight to the inbox, else into the slot.
pub(super) fn send(inner: &Arc<Inner>, to: Sid, n: &Notification) {
    if to == inner.my_id {
        let msg = Message::Vote(n.clone());
        if inner
            .inbound
            .try_send(Inbound::Msg { from: to, msg })
            .is_err()
        {
            tracing::debug!("election: inbox full, own vote dropped");
        }
        return;
    }
    if !inner.is_peer(to) {
        tracing::debug!("election: vote to unknown server {to} dropped");
        return;
    }
    let frame = vote_to_wire(n, &inner.config_text);
    let p = inner.election.peer(inner, to);
    p.state.lock().slot = Some(frame.into());
    p.kick.notify_one();
}

/// Takes a connection on our election port: reads the handshake, then keeps it (a higher
/// sid), or hangs up and dials back (a lower sid).
pub(super) async fn accepted(inner: Arc<Inner>, mut stream: MaybeTls, addr: SocketAddr) {
    let read = tokio::time::timeout(inner.cnx_timeout, read_handshake(&mut stream));
    let (sid, rest) = match read.await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            tracing::warn!("election: bad handshake from {addr}: {e}; closing");
            return;
        }
        Err(_) => {
            tracing::warn!("election: no handshake from {addr} in time; closing");
            return;
        }
    };
    if !inner.is_peer(sid) {
        tracing::warn!("election: connection from {addr} claims unknown sid {sid}; closing");
        return;
    }
    let p = inner.election.peer(&inner, sid);
    {
        let mut s = p.state.lock();
        if sid < inner.my_id {
            // "Create new connection to server": the higher sid keeps the connection.
            s.dial_now = true;
        } else {
            s.handed = Some((stream, rest));
        }
    }
    p.kick.notify_one();
}

#[derive(Debug, thiserror::Error)]
enum ReadHandshakeError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Bad(#[from] HandshakeError),
    #[error("connection closed during the handshake")]
    Eof,
}

/// Reads an `InitialMessage` (or a pre-3.5 sid), returning the sid and what came after.
async fn read_handshake(stream: &mut MaybeTls) -> Result<(Sid, BytesMut), ReadHandshakeError> {
    let mut buf = BytesMut::with_capacity(256);
    loop {
        match decode_handshake(&buf) {
            Ok((h, n)) => return Ok((h.sid(), buf.split_off(n))),
            Err(HandshakeError::Incomplete { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // decode_handshake never needs more than HANDSHAKE_LEN_MAX bytes.
        debug_assert!(buf.len() < HANDSHAKE_LEN_MAX);
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(ReadHandshakeError::Eof);
        }
    }
}

/// One live election connection: our write half and the task reading votes.
struct Conn {
    write: MaybeTlsWrite,
    reader: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn start_conn(inner: &Arc<Inner>, sid: Sid, stream: MaybeTls, rest: BytesMut) -> Conn {
    let (read, write) = stream.into_split();
    let reader = tokio::spawn(read_votes(inner.clone(), sid, read, rest));
    Conn { write, reader }
}

/// The peer's actor: hands the slot to the connection, dials when needed (with backoff),
/// adopts connections the higher sid opened.
async fn run_peer(inner: Arc<Inner>, sid: Sid, p: Arc<Peer>) {
    let (min, max) = inner.backoff;
    let mut conn: Option<Conn> = None;
    let mut backoff = min;
    let mut retry_at: Option<Instant> = None;
    let mut fresh = false;
    loop {
        let handed = p.state.lock().handed.take();
        if let Some((stream, rest)) = handed {
            conn = Some(start_conn(&inner, sid, stream, rest));
            (backoff, retry_at, fresh) = (min, None, true);
        }
        if let Some(c) = conn.as_mut() {
            let next = {
                let mut s = p.state.lock();
                let next = s
                    .slot
                    .take()
                    .or_else(|| s.last_sent.clone().filter(|_| fresh));
                if next.is_some() {
                    s.last_sent = next.clone();
                }
                next
            };
            fresh = false;
            if let Some(frame) = next {
                if let Err(e) = write_frame(&mut c.write, &frame).await {
                    tracing::info!("election: write to {sid} failed: {e}");
                    conn = None;
                }
                continue;
            }
        }
        let (wants, asked) = {
            let s = p.state.lock();
            (s.slot.is_some() || s.dial_now, s.dial_now)
        };
        // A lower sid that just dialed us waits for our dial-back now, whatever our
        // backoff says (`receiveConnection` calls `connectOne` at once): an election
        // between the others would otherwise settle without our vote.
        let due = asked || retry_at.is_none_or(|t| Instant::now() >= t);
        if conn.is_none() && wants && due {
            p.state.lock().dial_now = false;
            match dial_peer(&inner, sid).await {
                Ok(Some(stream)) => {
                    conn = Some(start_conn(&inner, sid, stream, BytesMut::new()));
                    (backoff, retry_at, fresh) = (min, None, true);
                    continue;
                }
                // A lower sid waits for the dial-back, and dials again if none comes.
                Ok(None) => {}
                Err(e) => tracing::debug!("election: cannot reach {sid}: {e}"),
            }
            retry_at = Some(Instant::now() + backoff);
            backoff = (backoff * 2).min(max);
        }
        let idle = conn.is_none();
        let retry = async {
            match (retry_at, idle) {
                (Some(t), true) => tokio::time::sleep_until(t).await,
                _ => std::future::pending().await,
            }
        };
        let broke = async {
            match conn.as_mut() {
                Some(c) => {
                    let _ = (&mut c.reader).await;
                }
                None => std::future::pending().await,
            }
        };
        let lost = tokio::select! {
            _ = p.kick.notified() => false,
            _ = retry => false,
            _ = broke => true,
            _ = inner.stopped() => return,
        };
        if lost {
            conn = None;
        }
    }
}

async fn write_frame(w: &mut MaybeTlsWrite, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4 + payload.len());
    encode_election_frame(payload, &mut buf);
    match tokio::time::timeout(WRITE_STALL_MAX, w.write_all(&buf)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write stalled")),
    }
}

/// `initiateConnection`: dial, send our handshake; keep the connection only when our
/// sid is the higher one ("Have smaller server identifier, so dropping the connection").
async fn dial_peer(inner: &Arc<Inner>, sid: Sid) -> io::Result<Option<MaybeTls>> {
    let Some(addrs) = inner.peer_addrs(sid) else {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address"));
    };
    let mut s = super::stream::dial_peer(inner, &addrs, true).await?;
    let hs = inner.election.handshake.clone();
    tokio::time::timeout(inner.cnx_timeout, s.write_all(&hs))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake write timed out"))??;
    if sid > inner.my_id {
        let _ = s.shutdown().await;
        return Ok(None);
    }
    Ok(Some(s))
}

/// `RecvWorker`: length-prefixed frames, each a notification, to the inbox in order.
async fn read_votes(inner: Arc<Inner>, sid: Sid, mut read: MaybeTlsRead, mut buf: BytesMut) {
    loop {
        match decode_election_frame(&buf) {
            Ok(Some((payload, n))) => {
                match vote_from_wire(payload) {
                    Ok(v) => {
                        let msg = Message::Vote(v);
                        if inner
                            .inbound
                            .send(Inbound::Msg { from: sid, msg })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // WorkerReceiver skips a notification it cannot read.
                    Err(e) => tracing::warn!("election: from {sid}: {e}; skipped"),
                }
                buf.advance(n);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("election: from {sid}: {e}; closing");
                return;
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!("election: read from {sid}: {e}");
                return;
            }
        }
    }
}
