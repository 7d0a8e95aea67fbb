//! One bench connection: dialling (plain TCP or TLS), the session handshake, request
//! framing with xids, and reading replies (with or without the watch notifications
//! interleaved among them).

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, TlsStream};
use zooid_proto::{ConnectRequest, ConnectResponse, Record, ReplyHeader, RequestHeader};
use zooid_server::tls::{MaybeTls, MaybeTlsRead, MaybeTlsWrite};

use crate::client_config;

/// The largest reply frame we accept: ZooKeeper's default `jute.maxbuffer` (1 MiB) with room
/// to spare, so a corrupt length cannot make us allocate gigabytes.
const FRAME_BYTES_MAX: i32 = 16 << 20;

use zooid_proto::opcode::xid::NOTIFICATION as XID_NOTIFICATION;

/// Session timeout we ask for: long enough that a pause between requests never expires the
/// session during a run (the bench sends no pings).
const SESSION_TIMEOUT_MS: i32 = 30_000;

pub struct Conn {
    pub rd: FrameReader,
    pub w: Writer,
}

/// The write half with the session's xid counter.
pub struct Writer {
    wr: MaybeTlsWrite,
    pub enc: Encoder,
}

/// The read half: length-prefixed frames.
pub struct FrameReader(BufReader<MaybeTlsRead>);

/// Where sessions connect to, and how.
#[derive(Clone)]
pub struct Dialer {
    /// Comma-separated host:port list.
    servers: String,
    tls: Option<TlsConnector>,
}

impl Dialer {
    pub fn new(servers: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Dialer {
        Dialer {
            servers: servers.to_owned(),
            tls: tls.map(TlsConnector::from),
        }
    }

    /// Connects to the `n`th server of the list (wrapping around).
    pub async fn open_nth(&self, n: usize) -> std::io::Result<Conn> {
        let addr = nth_server(&self.servers, n);
        let stream = match &self.tls {
            None => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                MaybeTls::Plain(s)
            }
            Some(tls) => {
                let s = client_config::connect(tls, addr).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("TLS connection to {addr}: {e}"))
                })?;
                MaybeTls::Tls(Box::new(TlsStream::Client(s)))
            }
        };
        let (rd, wr) = stream.into_split();
        Conn::handshake(rd, wr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("session with {addr}: {e}")))
    }

    /// Connects to the first server of the list.
    pub async fn open(&self) -> std::io::Result<Conn> {
        self.open_nth(0).await
    }
}

/// Numbers requests with increasing xids and frames them into a write buffer.
pub struct Encoder {
    xid: i32,
}

/// Picks the `n`th address of a comma-separated list, wrapping around.
pub fn nth_server(list: &str, n: usize) -> &str {
    let servers: Vec<&str> = list.split(',').map(str::trim).collect();
    servers[n % servers.len()]
}

impl Conn {
    /// Establishes a new session on a fresh connection.
    async fn handshake(rd: MaybeTlsRead, wr: MaybeTlsWrite) -> std::io::Result<Conn> {
        let mut c = Conn {
            rd: FrameReader(BufReader::new(rd)),
            w: Writer {
                wr,
                enc: Encoder { xid: 0 },
            },
        };
        let req = ConnectRequest {
            time_out: SESSION_TIMEOUT_MS,
            passwd: vec![0u8; 16].into(),
            ..Default::default()
        };
        let body = req.to_vec();
        let mut out = BytesMut::with_capacity(body.len() + 4);
        out.put_i32(body.len() as i32);
        out.put_slice(&body);
        c.w.flush(&mut out).await?;
        let resp =
            ConnectResponse::from_bytes(&c.rd.frame().await?).map_err(std::io::Error::other)?;
        if resp.session_id == 0 {
            return Err(std::io::Error::other("session refused"));
        }
        Ok(c)
    }

    /// Sends one request and waits for its reply, skipping notifications; returns the
    /// error code and the reply body after the header.
    pub async fn call<R: Record>(
        &mut self,
        opcode: i32,
        rec: &R,
    ) -> std::io::Result<(i32, Vec<u8>)> {
        let mut out = BytesMut::new();
        self.w.enc.encode(opcode, rec, &mut out);
        self.w.flush(&mut out).await?;
        self.rd.reply().await
    }
}

impl Writer {
    /// Writes everything buffered in `out` and empties it.
    pub async fn flush(&mut self, out: &mut BytesMut) -> std::io::Result<()> {
        if !out.is_empty() {
            self.wr.write_all(out).await?;
            // TLS may hold the last record back until flushed; for TCP this is a no-op.
            self.wr.flush().await?;
            out.clear();
        }
        Ok(())
    }
}

impl Encoder {
    pub fn encode<R: Record>(&mut self, opcode: i32, rec: &R, out: &mut BytesMut) {
        self.encode_with(opcode, |body| rec.encode(body), out);
    }

    /// Frames a request whose body `write` appends after the request header.
    pub fn encode_with(
        &mut self,
        opcode: i32,
        write: impl FnOnce(&mut Vec<u8>),
        out: &mut BytesMut,
    ) {
        self.xid += 1;
        let mut body = Vec::with_capacity(128);
        RequestHeader {
            xid: self.xid,
            op: opcode,
        }
        .encode(&mut body);
        write(&mut body);
        out.put_i32(body.len() as i32);
        out.put_slice(&body);
    }
}

impl FrameReader {
    pub async fn frame(&mut self) -> std::io::Result<Vec<u8>> {
        let len = self.0.read_i32().await?;
        if !(0..=FRAME_BYTES_MAX).contains(&len) {
            return Err(std::io::Error::other(format!("bad frame length {len}")));
        }
        let mut b = vec![0u8; len as usize];
        self.0.read_exact(&mut b).await?;
        Ok(b)
    }

    /// Reads the next frame: its header and the bytes after it.
    pub async fn next(&mut self) -> std::io::Result<(ReplyHeader, Vec<u8>)> {
        let f = self.frame().await?;
        let mut r = zooid_proto::Reader::new(&f);
        let h = ReplyHeader::decode(&mut r).map_err(std::io::Error::other)?;
        let rest = f[f.len() - r.remaining()..].to_vec();
        Ok((h, rest))
    }

    /// Reads the next reply, skipping watch notifications; returns its error code and body.
    pub async fn reply(&mut self) -> std::io::Result<(i32, Vec<u8>)> {
        loop {
            let (h, body) = self.next().await?;
            if h.xid != XID_NOTIFICATION {
                return Ok((h.err, body));
            }
        }
    }

    /// Reads the next watch notification, skipping replies; returns the event type.
    pub async fn notification(&mut self) -> std::io::Result<i32> {
        loop {
            let (h, body) = self.next().await?;
            if h.xid == XID_NOTIFICATION {
                let ev =
                    zooid_proto::WatcherEvent::from_bytes(&body).map_err(std::io::Error::other)?;
                return Ok(ev.kind);
            }
        }
    }
}
