//! Dialling and accepting the connections between members: plain TCP, or TLS over it
//! (`sslQuorum`, `portUnification`; see `crate::tls::QuorumTls`).

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

use super::Inner;
use crate::tls::{MaybeTls, QuorumAccepted};

/// Dials a peer's election (or quorum) port: its first address, then its further ones
/// until one answers (a multi-address `server.N` line). The last error when none does.
pub(super) async fn dial_peer(
    inner: &Inner,
    addrs: &super::PeerAddrs,
    election: bool,
) -> io::Result<MaybeTls> {
    let mut last = None;
    for (host, port) in addrs.all(election) {
        match dial(inner, host, port).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// Dials `host:port` (TLS when `sslQuorum`) within the timeout.
async fn dial(inner: &Inner, host: &str, port: u16) -> io::Result<MaybeTls> {
    let timeout = inner.cnx_timeout;
    let tcp = super::dial(host, port, timeout).await?;
    let Some(tls) = inner.tls.as_ref().filter(|t| t.dial_tls) else {
        return Ok(MaybeTls::Plain(tcp));
    };
    let ip = tcp.peer_addr()?.ip();
    let (connector, name) = tls.connector(host, ip).map_err(io::Error::other)?;
    let s = tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
        .map_err(|e| io::Error::other(format!("TLS handshake with {host}:{port}: {e}")))?;
    Ok(MaybeTls::Tls(Box::new(TlsStream::Client(s))))
}

/// An accepted connection as the settings want it: plain without TLS; TLS, or plain
/// too under port unification. Err: close it (the reason is for the log).
pub(super) async fn accepted(
    inner: &Inner,
    tcp: TcpStream,
    addr: SocketAddr,
) -> Result<MaybeTls, String> {
    let Some(tls) = inner.tls.as_ref() else {
        return Ok(MaybeTls::Plain(tcp));
    };
    Ok(match tls.accept(tcp, addr.ip(), inner.cnx_timeout).await? {
        QuorumAccepted::Plain(tcp) => MaybeTls::Plain(tcp),
        QuorumAccepted::Tls(s) => MaybeTls::Tls(Box::new(TlsStream::Server(*s))),
    })
}
