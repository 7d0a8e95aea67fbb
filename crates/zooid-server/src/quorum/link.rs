//! Quorum connections: the learner's TCP connection to the leader's quorum port, which
//! carries `QuorumPacket`s both ways (and the snapshot stream after a SNAP).
//!
//! Each peer has at most one current connection. Every connection has an id; the peer's
//! entry remembers the current one and how many `Down`s are owed for connections closed
//! by us (disconnect, replacement, a full queue). A task puts a message into the inbox
//! only while holding a channel permit and the entry's lock, and only if its connection
//! is still current, after paying any owed `Down` first. So per peer the host sees a
//! connection's messages, then its one `Down`, then the next connection's messages.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use zooid_proto::jute::{JuteWrite, Record};
use zooid_proto::quorum::packet::{decode_packet_prefix, kind, LearnerInfoData, PacketError};
use zooid_proto::quorum::QuorumPacket;
use zooid_zab::{Message, Packet, Sid};

use super::convert::{packet_from_wire, packet_to_wire, ConvertError, Received, Sender};
use super::snapshot::{Scan, SnapError, SnapScanner, SIGNATURE};
use super::{Inbound, Inner};
use crate::tls::{MaybeTls, MaybeTlsRead, MaybeTlsWrite};

/// How much room a read asks for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// What a quorum connection carries out.
#[derive(Debug)]
pub(super) enum Out {
    Zab(Packet),
    Host(QuorumPacket),
}

/// Every peer's current quorum connection.
#[derive(Default)]
pub(super) struct Links {
    peers: Mutex<HashMap<Sid, PeerLink>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct PeerLink {
    current: Option<Conn>,
    /// Connections closed by us whose `Down` is not in the inbox yet.
    downs_owed: u32,
}

/// Our handle on a connection's task. Dropping it ends the task.
struct Conn {
    id: u64,
    tx: mpsc::Sender<Out>,
    _alive: watch::Sender<()>,
}

impl PeerLink {
    /// Closes the current connection, if any: its task ends and its `Down` is owed.
    fn close(&mut self) {
        if self.current.take().is_some() {
            self.downs_owed += 1;
        }
    }
}

impl Links {
    pub(super) fn close_all(&self) {
        self.peers.lock().clear();
    }

    /// A new current connection for `peer` (closing the one before), with `first`
    /// queued on it.
    fn open(
        &self,
        peer: Sid,
        queue_max: usize,
        first: Option<Out>,
    ) -> (u64, mpsc::Receiver<Out>, Alive) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(queue_max);
        if let Some(out) = first {
            // The queue is new and has room for at least one.
            let _ = tx.try_send(out);
        }
        let (alive, alive_rx) = watch::channel(());
        let mut peers = self.peers.lock();
        let p = peers.entry(peer).or_default();
        p.close();
        p.current = Some(Conn {
            id,
            tx,
            _alive: alive,
        });
        (id, rx, alive_rx)
    }
}

type Alive = watch::Receiver<()>;

/// Queues `out` on the connection with `to`; a LearnerInfo with none dials one.
pub(super) fn send(inner: &Arc<Inner>, to: Sid, out: Out) {
    {
        let mut peers = inner.links.peers.lock();
        let p = peers.entry(to).or_default();
        if let Some(c) = &p.current {
            match c.tx.try_send(out) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::warn!("quorum: queue to {to} full; closing the connection");
                    p.close();
                }
                Err(TrySendError::Closed(out)) => {
                    tracing::debug!("quorum: connection to {to} closing; {out:?} dropped");
                }
            }
            return;
        }
    }
    if !matches!(out, Out::Zab(Packet::LearnerInfo { .. })) {
        tracing::debug!("quorum: no connection to {to}; {out:?} dropped");
        return;
    }
    if !inner.is_peer(to) {
        tracing::warn!("quorum: LearnerInfo to unknown server {to} dropped");
        return;
    }
    let (id, rx, alive) = inner.links.open(to, inner.quorum_queue_max, Some(out));
    tokio::spawn(dial_leader(inner.clone(), to, id, rx, alive));
}

pub(super) fn disconnect(inner: &Inner, peer: Sid) {
    if let Some(p) = inner.links.peers.lock().get_mut(&peer) {
        match inner.down_on_disconnect {
            true => p.close(),
            false => p.current = None,
        }
    }
}

/// One connection's task context.
struct Ctx {
    inner: Arc<Inner>,
    peer: Sid,
    id: u64,
    /// We accepted this connection: we are the leader on it.
    leader_side: bool,
    /// See [`Sender::ping_zxid`].
    ping_zxid: AtomicI64,
}

/// Why a connection ended (for the log line).
#[derive(Debug)]
enum End {
    Io(io::Error),
    Eof,
    Packet(PacketError),
    Convert(ConvertError),
    Snap(SnapError),
    /// Not current any more, or the host is gone.
    Closed,
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Io(e) => write!(f, "{e}"),
            End::Eof => write!(f, "closed by the peer"),
            End::Packet(e) => write!(f, "bad packet: {e}"),
            End::Convert(e) => write!(f, "{e}"),
            End::Snap(e) => write!(f, "bad snapshot stream: {e}"),
            End::Closed => write!(f, "closed"),
        }
    }
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Io(e)
    }
}

/// The learner side: dial the leader's quorum port, then run the connection.
async fn dial_leader(inner: Arc<Inner>, peer: Sid, id: u64, rx: mpsc::Receiver<Out>, alive: Alive) {
    let ctx = Ctx {
        inner,
        peer,
        id,
        leader_side: false,
        ping_zxid: AtomicI64::new(0),
    };
    let mut alive2 = alive.clone();
    let dialed = async {
        let addrs = ctx
            .inner
            .peer_addrs(peer)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        super::stream::dial_peer(&ctx.inner, &addrs, false).await
    };
    let stream = tokio::select! {
        s = dialed => s,
        _ = alive2.changed() => return finish(&ctx).await,
        _ = ctx.inner.stopped() => return,
    };
    match stream {
        Ok(s) => run(&ctx, s, BytesMut::new(), rx, alive).await,
        Err(e) => tracing::info!("quorum: cannot reach {peer}: {e}"),
    }
    finish(&ctx).await;
}

/// The leader side: the first packet must say who the learner is.
pub(super) async fn accepted(inner: Arc<Inner>, mut stream: MaybeTls, addr: SocketAddr) {
    let mut buf = BytesMut::new();
    let first = tokio::time::timeout(
        inner.cnx_timeout,
        read_packet(&mut stream, &mut buf, inner.buffer_len_max),
    );
    let first = match first.await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return tracing::warn!("quorum: from {addr}: {e}; closing"),
        Err(_) => return tracing::warn!("quorum: no first packet from {addr} in time; closing"),
    };
    if first.kind != kind::FOLLOWERINFO && first.kind != kind::OBSERVERINFO {
        let k = kind::name(first.kind).unwrap_or("unknown");
        return tracing::warn!("quorum: {addr} began with {k} ({}); closing", first.kind);
    }
    let Some(sid) = LearnerInfoData::parse(first.data.as_deref()).sid else {
        return tracing::warn!("quorum: {addr} sent no server id; closing");
    };
    if !inner.is_peer(sid) {
        return tracing::warn!("quorum: {addr} claims unknown server id {sid}; closing");
    }
    let (id, rx, alive) = inner.links.open(sid, inner.quorum_queue_max, None);
    let ctx = Ctx {
        inner,
        peer: sid,
        id,
        leader_side: true,
        ping_zxid: AtomicI64::new(0),
    };
    if let Ok(Received::Zab(p)) = packet_from_wire(first) {
        if deliver(&ctx, Message::Quorum(p)).await {
            run(&ctx, stream, buf, rx, alive).await;
        }
    }
    finish(&ctx).await;
}

/// Reads and writes until either side fails or we close the connection.
async fn run(ctx: &Ctx, stream: MaybeTls, buf: BytesMut, rx: mpsc::Receiver<Out>, alive: Alive) {
    let mut alive = alive;
    let (r, w) = stream.into_split();
    let peer = ctx.peer;
    tokio::select! {
        end = read_loop(ctx, r, buf) => match end {
            End::Closed | End::Eof => tracing::info!("quorum: connection with {peer} {end}"),
            End::Io(_) => tracing::info!("quorum: connection with {peer}: {end}"),
            _ => tracing::warn!("quorum: from {peer}: {end}; closing"),
        },
        end = write_loop(ctx, w, rx) => tracing::info!("quorum: writing to {peer}: {end}"),
        _ = alive.changed() => {}
        _ = ctx.inner.stopped() => {}
    }
}

/// Pays the `Down`s owed for this peer and, if our connection was still current (it
/// broke rather than being closed by us), ends it with its own `Down`.
async fn finish(ctx: &Ctx) {
    loop {
        let Ok(permit) = ctx.inner.inbound.reserve().await else {
            return;
        };
        let mut peers = ctx.inner.links.peers.lock();
        let Some(p) = peers.get_mut(&ctx.peer) else {
            return;
        };
        if p.downs_owed > 0 {
            p.downs_owed -= 1;
            permit.send(Inbound::Down { peer: ctx.peer });
            continue;
        }
        if p.current.as_ref().is_some_and(|c| c.id == ctx.id) {
            p.current = None;
            permit.send(Inbound::Down { peer: ctx.peer });
        }
        return;
    }
}

/// Puts an inbound item in the inbox if this connection is still current, after any
/// `Down` owed for this peer. False: the connection is closed (or the host is gone).
async fn deliver_item(ctx: &Ctx, item: Inbound) -> bool {
    loop {
        let Ok(permit) = ctx.inner.inbound.reserve().await else {
            return false;
        };
        let mut peers = ctx.inner.links.peers.lock();
        let Some(p) = peers.get_mut(&ctx.peer) else {
            return false;
        };
        if p.downs_owed > 0 {
            p.downs_owed -= 1;
            permit.send(Inbound::Down { peer: ctx.peer });
            continue;
        }
        if p.current.as_ref().is_none_or(|c| c.id != ctx.id) {
            return false;
        }
        permit.send(item);
        return true;
    }
}

async fn deliver(ctx: &Ctx, msg: Message) -> bool {
    deliver_item(
        ctx,
        Inbound::Msg {
            from: ctx.peer,
            msg,
        },
    )
    .await
}

async fn read_loop(ctx: &Ctx, mut r: MaybeTlsRead, mut buf: BytesMut) -> End {
    loop {
        let p = match read_packet(&mut r, &mut buf, ctx.inner.buffer_len_max).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        if p.kind == kind::PING && !ctx.leader_side {
            ctx.ping_zxid.store(p.zxid, Ordering::Relaxed);
        }
        let delivered = match packet_from_wire(p) {
            Ok(Received::Zab(p)) => deliver(ctx, Message::Quorum(p)).await,
            Ok(Received::Host(packet)) => {
                let from = ctx.peer;
                deliver_item(ctx, Inbound::Host { from, packet }).await
            }
            Ok(Received::SnapFollows { zxid }) => {
                let data = match read_snapshot(ctx, &mut r, &mut buf).await {
                    Ok(d) => d,
                    Err(e) => return e,
                };
                deliver(ctx, Message::Quorum(Packet::Snap { zxid, data })).await
            }
            Err(e) => return End::Convert(e),
        };
        if !delivered {
            return End::Closed;
        }
    }
}

/// Reads one packet, keeping what follows it in `buf`.
async fn read_packet<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    buffer_len_max: usize,
) -> Result<QuorumPacket, End> {
    loop {
        match decode_packet_prefix(buf, buffer_len_max) {
            Ok(Some((p, n))) => {
                buf.advance(n);
                return Ok(p);
            }
            Ok(None) => fill(r, buf).await?,
            Err(e) => return Err(End::Packet(e)),
        }
    }
}

async fn fill<R: AsyncRead + Unpin>(r: &mut R, buf: &mut BytesMut) -> Result<(), End> {
    buf.reserve(READ_CHUNK);
    match r.read_buf(buf).await? {
        0 => Err(End::Eof),
        _ => Ok(()),
    }
}

/// Reads the snapshot stream after SNAP (see `snapshot`): its bytes, signature checked
/// and dropped.
async fn read_snapshot(
    ctx: &Ctx,
    r: &mut MaybeTlsRead,
    buf: &mut BytesMut,
) -> Result<bytes::Bytes, End> {
    let mut scan = SnapScanner::new(ctx.inner.buffer_len_max, ctx.inner.snapshot_len_max);
    loop {
        match scan.advance(buf).map_err(End::Snap)? {
            Scan::NeedMore => fill(r, buf).await?,
            Scan::Done {
                data_len,
                total_len,
            } => {
                let data = buf.split_to(data_len).freeze();
                buf.advance(total_len - data_len);
                return Ok(data);
            }
        }
    }
}

async fn write_loop(ctx: &Ctx, w: MaybeTlsWrite, mut rx: mpsc::Receiver<Out>) -> End {
    let mut w = BufWriter::with_capacity(READ_CHUNK, w);
    loop {
        let Some(out) = rx.recv().await else {
            return End::Closed;
        };
        let mut next = Some(out);
        while let Some(out) = next {
            if let Err(e) = write_out(ctx, &mut w, out).await {
                return End::Io(e);
            }
            next = rx.try_recv().ok();
        }
        if let Err(e) = w.flush().await {
            return End::Io(e);
        }
    }
}

async fn write_out(ctx: &Ctx, w: &mut BufWriter<MaybeTlsWrite>, out: Out) -> io::Result<()> {
    let qp = match &out {
        Out::Host(p) => p.clone(),
        Out::Zab(p) => {
            if let (Packet::Proposal(e), true) = (p, ctx.leader_side) {
                ctx.ping_zxid.store(e.zxid, Ordering::Relaxed);
            }
            let s = Sender {
                my_id: ctx.inner.my_id,
                config_version: ctx.inner.config_version,
                config_text: &ctx.inner.config_text,
                leader_side: ctx.leader_side,
                ping_zxid: ctx.ping_zxid.load(Ordering::Relaxed),
            };
            packet_to_wire(p, &s)
        }
    };
    w.write_all(&qp.to_vec()).await?;
    if let Out::Zab(Packet::Snap { data, .. }) = &out {
        w.write_all(data).await?;
        let mut sig = Vec::with_capacity(4 + SIGNATURE.len());
        sig.write_string(SIGNATURE);
        w.write_all(&sig).await?;
    }
    Ok(())
}
