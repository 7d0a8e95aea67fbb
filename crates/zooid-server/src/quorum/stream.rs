//! A connection between members: plain TCP, or TLS over it (`sslQuorum`,
//! `portUnification`; see `crate::tls::QuorumTls`). Plain connections keep tokio's own
//! split halves, so they pay one enum match per poll and nothing else.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsStream;

use super::Inner;
use crate::tls::QuorumAccepted;

pub(super) enum PeerStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

pub(super) enum PeerRead {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

pub(super) enum PeerWrite {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl PeerStream {
    pub(super) fn into_split(self) -> (PeerRead, PeerWrite) {
        match self {
            PeerStream::Plain(s) => {
                let (r, w) = s.into_split();
                (PeerRead::Plain(r), PeerWrite::Plain(w))
            }
            PeerStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (PeerRead::Tls(r), PeerWrite::Tls(w))
            }
        }
    }
}

/// Dials a peer's election (or quorum) port: its first address, then its further ones
/// until one answers (a multi-address `server.N` line). The last error when none does.
pub(super) async fn dial_peer(
    inner: &Inner,
    addrs: &super::PeerAddrs,
    election: bool,
) -> io::Result<PeerStream> {
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
async fn dial(inner: &Inner, host: &str, port: u16) -> io::Result<PeerStream> {
    let timeout = inner.cnx_timeout;
    let tcp = super::dial(host, port, timeout).await?;
    let Some(tls) = inner.tls.as_ref().filter(|t| t.dial_tls) else {
        return Ok(PeerStream::Plain(tcp));
    };
    let ip = tcp.peer_addr()?.ip();
    let (connector, name) = tls.connector(host, ip).map_err(io::Error::other)?;
    let s = tokio::time::timeout(timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
        .map_err(|e| io::Error::other(format!("TLS handshake with {host}:{port}: {e}")))?;
    Ok(PeerStream::Tls(Box::new(TlsStream::Client(s))))
}

/// An accepted connection as the settings want it: plain without TLS; TLS, or plain
/// too under port unification. Err: close it (the reason is for the log).
pub(super) async fn accepted(
    inner: &Inner,
    tcp: TcpStream,
    addr: SocketAddr,
) -> Result<PeerStream, String> {
    let Some(tls) = inner.tls.as_ref() else {
        return Ok(PeerStream::Plain(tcp));
    };
    Ok(match tls.accept(tcp, addr.ip(), inner.cnx_timeout).await? {
        QuorumAccepted::Plain(tcp) => PeerStream::Plain(tcp),
        QuorumAccepted::Tls(s) => PeerStream::Tls(Box::new(TlsStream::Server(*s))),
    })
}

/// Each variant reads and writes as its stream does.
macro_rules! delegate_read {
    ($t:ty, $($v:ident),+) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }
    };
}

macro_rules! delegate_write {
    ($t:ty, $($v:ident),+) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_write(cx, buf),)+
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$v(s) => Pin::new(s).poll_shutdown(cx),)+
                }
            }
        }
    };
}

delegate_read!(PeerStream, Plain, Tls);
delegate_read!(PeerRead, Plain, Tls);
delegate_write!(PeerStream, Plain, Tls);
delegate_write!(PeerWrite, Plain, Tls);
