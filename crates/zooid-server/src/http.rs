//! The small HTTP/1 servers beside the client port (AdminServer, Prometheus): one
//! accept loop with a cap on connections and a header read timeout, serving plain HTTP,
//! HTTPS only, or both on one port (told apart by the first byte, as ZooKeeper's
//! `UnifiedConnectionFactory` does).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::tls::AdminTls;

/// HTTPS on an HTTP port.
#[derive(Clone)]
pub(crate) struct Https {
    pub tls: AdminTls,
    /// Called for each plain connection a unified port serves (ZooKeeper counts them as
    /// `insecure_admin_count`).
    pub on_plain: Arc<dyn Fn() + Send + Sync>,
}

/// What a handler knows of the connection a request came on.
pub(crate) struct Peer {
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// The client's certificate chain, when it sent one (`javax.servlet.request.
    /// X509Certificate`), first the client's own.
    pub certs: Option<Vec<CertificateDer<'static>>>,
}

/// Serves `handle` on `listener` until it fails, with at most `max_conns` connections
/// at once; `what` names the server in log lines. `timeout` bounds the wait for a
/// request's headers, for the TLS handshake and for the first byte of a unified port.
/// `tls` is None for plain HTTP.
pub(crate) async fn serve<F, Fut, B>(
    listener: TcpListener,
    what: &'static str,
    max_conns: usize,
    timeout: Duration,
    tls: Option<Https>,
    handle: F,
) where
    F: Fn(Request<Incoming>, Arc<Peer>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(max_conns));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("{what} accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let handle = handle.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, remote, tls, timeout, handle).await {
                tracing::debug!("{what} connection from {remote}: {e}");
            }
            drop(permit);
        });
    }
}

/// One connection: TLS or not, then HTTP/1 until it closes.
async fn connection<F, Fut, B>(
    stream: TcpStream,
    remote: SocketAddr,
    https: Option<Https>,
    timeout: Duration,
    handle: F,
) -> Result<(), String>
where
    F: Fn(Request<Incoming>, Arc<Peer>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let plain = Peer {
        remote,
        secure: false,
        certs: None,
    };
    let Some(https) = https else {
        return http1(stream, plain, timeout, handle).await;
    };
    if https.tls.unified && !crate::tls::starts_with_tls(&stream, timeout).await? {
        (https.on_plain)();
        return http1(stream, plain, timeout, handle).await;
    }
    let stream = crate::tls::handshake(&https.tls.acceptor, stream, timeout).await?;
    let certs = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
    let peer = Peer {
        remote,
        secure: true,
        certs,
    };
    http1(stream, peer, timeout, handle).await
}

/// Serves HTTP/1 on `io` for requests from `peer`.
async fn http1<I, F, Fut, B>(io: I, peer: Peer, timeout: Duration, handle: F) -> Result<(), String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<Incoming>, Arc<Peer>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let peer = Arc::new(peer);
    let service = hyper::service::service_fn(move |req| {
        let (handle, peer) = (handle.clone(), peer.clone());
        async move { Ok::<_, Infallible>(handle(req, peer).await) }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), service)
        .await
        .map_err(|e| e.to_string())
}

/// `%XX` escapes and `+` for space, as a servlet decodes a query
/// (`application/x-www-form-urlencoded`); bad escapes stay.
pub(crate) fn percent_decode(s: &str) -> String {
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
