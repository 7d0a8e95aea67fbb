//! The quorum network transport: carries `zooid_zab` messages between servers over
//! ZooKeeper 3.8's own connections, so a Zooid server can talk to Apache ZooKeeper peers.
//!
//! Two kinds of connection, as in ZooKeeper:
//!
//! - **Election** (`election`): QuorumCnxManager's. One connection per pair of servers,
//!   kept by the higher sid: a lower sid that dials sends its handshake and hangs up, and
//!   the higher one dials back. Each peer has a send slot of one notification
//!   (`SEND_CAPACITY`): a newer vote replaces an unsent older one, and a fresh connection
//!   resends the last vote sent when nothing newer waits. Dialing is retried with backoff
//!   while something waits to be sent.
//! - **Quorum** (`link`): the learner's connection to the leader's quorum port. The
//!   learner dials when zab sends a peer its LearnerInfo and nothing is connected; the
//!   leader learns who dialed from that first packet (FOLLOWERINFO/OBSERVERINFO). Packets
//!   are `QuorumPacket`s back to back; a SNAP is followed by the snapshot stream
//!   (`snapshot`).
//!
//! What the host sees ([`Inbound`]), per peer and in order: the messages of one quorum
//! connection, then exactly one [`Inbound::Down`] when that connection breaks, is
//! replaced by a new one from the same peer, or is closed by [`Transport::disconnect`];
//! nothing of a connection is put into the channel after its `Down` (nor after
//! `disconnect` returned). Election messages carry no connection identity and are never
//! followed by `Down`: zab does not care which connection a vote came by.
//!
//! Bytes from the network never panic: a bad frame, packet or handshake closes its
//! connection with a log line.

mod convert;
mod election;
mod link;
mod snapshot;
mod stream;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use zooid_proto::quorum::packet::BUFFER_LEN_MAX_DEFAULT;
use zooid_proto::quorum::{QuorumConfig, QuorumPacket};
use zooid_zab::{Message, Sid};

pub use convert::{packet_from_wire, packet_to_wire, vote_from_wire, vote_to_wire};
pub use snapshot::{Scan, SnapError, SnapScanner, SIGNATURE};

/// Where a server listens for its peers: the quorum port (learners to the leader) and
/// the election port, as a `server.N` line names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddrs {
    /// A host name or IP literal, without brackets; resolved at each dial.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    /// The further addresses of a `server.N` line (`multiAddress.enabled`), in order:
    /// (host, quorum port, election port). Dials try the first address, then these;
    /// our own entry's are listened on too.
    pub more: Vec<(String, u16, u16)>,
}

impl PeerAddrs {
    pub fn new(host: impl Into<String>, quorum_port: u16, election_port: u16) -> PeerAddrs {
        PeerAddrs {
            host: host.into(),
            quorum_port,
            election_port,
            more: Vec::new(),
        }
    }

    /// The addresses of a `server.N` line.
    pub fn from_server(s: &crate::config::QuorumServer) -> PeerAddrs {
        let a = &s.addrs[0];
        let mut p = PeerAddrs::new(a.host.clone(), a.quorum_port, a.election_port);
        p.more = s.addrs[1..]
            .iter()
            .map(|a| (a.host.clone(), a.quorum_port, a.election_port))
            .collect();
        p
    }

    /// Every (host, port) of one kind, the first address first.
    fn all(&self, election: bool) -> Vec<(&str, u16)> {
        let pick = |q: u16, e: u16| if election { e } else { q };
        std::iter::once((
            self.host.as_str(),
            pick(self.quorum_port, self.election_port),
        ))
        .chain(self.more.iter().map(|(h, q, e)| (h.as_str(), pick(*q, *e))))
        .collect()
    }
}

/// What the transport needs to know.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    pub my_id: Sid,
    /// Every server of the ensemble, this one included (its entry says where to listen).
    pub peers: BTreeMap<Sid, PeerAddrs>,
    /// Our `QuorumMaj` text (`QuorumConfig::to_text`): sent in every notification and in
    /// NEWLEADER; its version goes into LearnerInfo.
    pub config_text: String,
    /// `zookeeper.cnxTimeout`: how long dialing a peer (and reading a handshake or a
    /// learner's first packet) may take.
    pub cnx_timeout: Duration,
    /// The first wait before dialing a peer's election port again.
    pub reconnect_backoff_min: Duration,
    /// The longest wait between election dials (the backoff doubles up to it).
    pub reconnect_backoff_max: Duration,
    /// Messages delivered but not yet taken by the host; past it the connections wait.
    pub inbound_capacity: usize,
    /// Packets queued on one quorum connection; past it the connection is closed (a peer
    /// that does not read must not hold the leader's memory).
    pub quorum_queue_max: usize,
    /// The longest jute buffer or string in a packet (`jute.maxbuffer` + extra size).
    pub buffer_len_max: usize,
    /// The longest snapshot stream a learner accepts after SNAP; it is held in memory.
    pub snapshot_len_max: usize,
    /// TLS between members (`sslQuorum`, `portUnification`), None for plain TCP.
    pub tls: Option<Arc<crate::tls::QuorumTls>>,
    /// Whether [`Transport::disconnect`] reports its own closing with an
    /// [`Inbound::Down`] (true by default). Zab's learner disconnects and then sends
    /// LearnerInfo in one batch (`learner_start`): a `Down` for the old connection then
    /// reaches it after it started the new attempt. A host that does not want that
    /// turns this off; connections that break or are replaced still report `Down`.
    pub down_on_disconnect: bool,
}

impl TransportConfig {
    /// ZooKeeper's defaults (`cnxTimeout` 5 s, `jute.maxbuffer`) around the given members.
    pub fn new(my_id: Sid, peers: BTreeMap<Sid, PeerAddrs>, config_text: String) -> Self {
        TransportConfig {
            my_id,
            peers,
            config_text,
            cnx_timeout: Duration::from_secs(5),
            reconnect_backoff_min: Duration::from_millis(100),
            reconnect_backoff_max: Duration::from_secs(5),
            inbound_capacity: 4096,
            quorum_queue_max: 100_000,
            buffer_len_max: BUFFER_LEN_MAX_DEFAULT,
            snapshot_len_max: 4 << 30,
            tls: None,
            down_on_disconnect: true,
        }
    }
}

/// What the transport hands the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A vote (election connection) or a zab packet (quorum connection).
    Msg { from: Sid, msg: Message },
    /// A quorum connection to `peer` is gone (broke, replaced, or closed by us).
    Down { peer: Sid },
    /// A packet for the host on a quorum connection (REQUEST, REVALIDATE, SYNC, ...).
    Host { from: Sid, packet: QuorumPacket },
}

/// The running transport. Dropping it stops its listeners and closes its connections.
pub struct Transport {
    inner: Arc<Inner>,
}

/// What every task of the transport shares.
struct Inner {
    my_id: Sid,
    config_text: String,
    config_version: i64,
    cnx_timeout: Duration,
    backoff: (Duration, Duration),
    quorum_queue_max: usize,
    buffer_len_max: usize,
    snapshot_len_max: usize,
    down_on_disconnect: bool,
    tls: Option<Arc<crate::tls::QuorumTls>>,
    peers: Mutex<BTreeMap<Sid, PeerAddrs>>,
    inbound: mpsc::Sender<Inbound>,
    election: election::Election,
    links: link::Links,
    local_election: SocketAddr,
    local_quorum: SocketAddr,
    /// Set once, when the transport is dropped.
    shutdown: watch::Sender<bool>,
}

impl Inner {
    fn peer_addrs(&self, sid: Sid) -> Option<PeerAddrs> {
        self.peers.lock().get(&sid).cloned()
    }

    fn is_peer(&self, sid: Sid) -> bool {
        sid != self.my_id && self.peers.lock().contains_key(&sid)
    }

    /// Resolves once the transport is dropped.
    async fn stopped(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

impl Transport {
    /// Binds the election and quorum listeners of `my_id`'s entry and starts serving.
    pub async fn start(cfg: TransportConfig) -> io::Result<(Transport, mpsc::Receiver<Inbound>)> {
        let me = cfg
            .peers
            .get(&cfg.my_id)
            .cloned()
            .ok_or_else(|| invalid(format!("server {} is not in the peer list", cfg.my_id)))?;
        let config_version = match cfg.config_text.trim() {
            "" => 0,
            text => {
                QuorumConfig::parse(text)
                    .map_err(|e| invalid(format!("quorum config text: {e}")))?
                    .version
            }
        };
        let election_listener = TcpListener::bind((me.host.as_str(), me.election_port)).await?;
        let quorum_listener = TcpListener::bind((me.host.as_str(), me.quorum_port)).await?;
        let local_election = election_listener.local_addr()?;
        let local_quorum = quorum_listener.local_addr()?;
        let (tx, rx) = mpsc::channel(cfg.inbound_capacity.max(1));
        let inner = Arc::new(Inner {
            my_id: cfg.my_id,
            config_version,
            cnx_timeout: cfg.cnx_timeout,
            backoff: (cfg.reconnect_backoff_min, cfg.reconnect_backoff_max),
            quorum_queue_max: cfg.quorum_queue_max.max(1),
            buffer_len_max: cfg.buffer_len_max,
            snapshot_len_max: cfg.snapshot_len_max,
            down_on_disconnect: cfg.down_on_disconnect,
            tls: cfg.tls,
            election: election::Election::new(&me.host, local_election.port(), cfg.my_id),
            config_text: cfg.config_text,
            peers: Mutex::new(cfg.peers),
            inbound: tx,
            links: link::Links::default(),
            local_election,
            local_quorum,
            shutdown: watch::channel(false).0,
        });
        // A multi-address entry: the further addresses are listened on as well
        // (QuorumCnxManager's ListenerHandler per address, the leader's acceptor).
        let mut more = Vec::new();
        for (host, quorum, election) in &me.more {
            more.push((TcpListener::bind((host.as_str(), *election)).await?, true));
            more.push((TcpListener::bind((host.as_str(), *quorum)).await?, false));
        }
        tokio::spawn(accept_loop(
            inner.clone(),
            election_listener,
            election::accepted,
        ));
        tokio::spawn(accept_loop(inner.clone(), quorum_listener, link::accepted));
        for (listener, election) in more {
            if election {
                tokio::spawn(accept_loop(inner.clone(), listener, election::accepted));
            } else {
                tokio::spawn(accept_loop(inner.clone(), listener, link::accepted));
            }
        }
        Ok((Transport { inner }, rx))
    }

    /// Queues a message for `to`; never waits. A vote goes on the election connection
    /// (dialing it if needed); a packet on the quorum connection, dialed only for a
    /// LearnerInfo and otherwise dropped when there is none.
    pub fn send(&self, to: Sid, msg: Message) {
        match msg {
            Message::Vote(n) => election::send(&self.inner, to, &n),
            Message::Quorum(p) => link::send(&self.inner, to, link::Out::Zab(p)),
        }
    }

    /// Queues a host packet (REQUEST, REVALIDATE, SYNC, ...) on the quorum connection
    /// with `to`; dropped when there is none.
    pub fn send_host(&self, to: Sid, p: QuorumPacket) {
        link::send(&self.inner, to, link::Out::Host(p));
    }

    /// Closes the quorum connection with `peer`, dropping whatever is queued on it. Its
    /// [`Inbound::Down`] follows (unless [`TransportConfig::down_on_disconnect`] is off);
    /// nothing else from it does.
    pub fn disconnect(&self, peer: Sid) {
        link::disconnect(&self.inner, peer);
    }

    /// Changes where a peer is dialed (tests that bind port 0 learn ports late).
    pub fn set_peer(&self, sid: Sid, addrs: PeerAddrs) {
        self.inner.peers.lock().insert(sid, addrs);
    }

    pub fn local_quorum_addr(&self) -> SocketAddr {
        self.inner.local_quorum
    }

    pub fn local_election_addr(&self) -> SocketAddr {
        self.inner.local_election
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
        self.inner.links.close_all();
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Accepts connections until the transport stops, each handled on its own task (after
/// its TLS handshake, when the settings ask for one).
async fn accept_loop<F, Fut>(inner: Arc<Inner>, listener: TcpListener, handle: F)
where
    F: Fn(Arc<Inner>, crate::tls::MaybeTls, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = inner.stopped() => return,
        };
        match accepted {
            Ok((tcp, addr)) => {
                let _ = tcp.set_nodelay(true);
                let (inner, handle) = (inner.clone(), handle.clone());
                tokio::spawn(async move {
                    match stream::accepted(&inner, tcp, addr).await {
                        Ok(s) => handle(inner, s, addr).await,
                        Err(e) => tracing::warn!("quorum transport: from {addr}: {e}; closing"),
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!("quorum transport: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Dials `host:port` within the timeout.
async fn dial(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let s = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    let _ = s.set_nodelay(true);
    Ok(s)
}
