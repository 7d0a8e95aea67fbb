//! `zooid bench`: a closed-loop load generator for any ZooKeeper-compatible server.
//! Each session keeps a window of requests in flight on one connection; replies come back
//! in request order, so a queue of send instants gives each request's latency.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use zooid_proto::opcode::op;
use zooid_proto::{
    ConnectRequest, ConnectResponse, CreateRequest, DeleteRequest, ExistsRequest, GetDataRequest,
    Record, ReplyHeader, RequestHeader, SetDataRequest,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    Get,
    Exists,
    Set,
    Create,
    /// 90% get, 10% set.
    Mixed,
    /// Creates `--count` znodes of `--size` bytes under /zooid-populate, then stops.
    Populate,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// host:port of the server; a comma-separated list spreads the sessions over an
    /// ensemble (session i goes to server i mod n; setup and cleanup use the first).
    #[arg(long, default_value = "127.0.0.1:2181")]
    pub server: String,
    #[arg(long, value_enum, default_value = "get")]
    pub workload: Workload,
    /// Sessions (one connection each).
    #[arg(long, default_value_t = 16)]
    pub sessions: usize,
    /// Requests in flight per session.
    #[arg(long, default_value_t = 8)]
    pub inflight: usize,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Bytes of data per znode.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Znodes to create with `--workload populate`.
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
}

struct Conn {
    rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: tokio::net::tcp::OwnedWriteHalf,
    xid: i32,
}

impl Conn {
    /// Connects to the `n`th server of a comma-separated list (wrapping around).
    async fn open_nth(list: &str, n: usize) -> std::io::Result<Conn> {
        let servers: Vec<&str> = list.split(',').map(str::trim).collect();
        Conn::open(servers[n % servers.len()]).await
    }

    async fn open(addr: &str) -> std::io::Result<Conn> {
        let addr = addr.split(',').next().unwrap_or(addr).trim();
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (rd, wr) = s.into_split();
        let mut c = Conn {
            rd: BufReader::new(rd),
            wr,
            xid: 0,
        };
        let req = ConnectRequest {
            time_out: 30000,
            passwd: vec![0u8; 16].into(),
            ..Default::default()
        };
        c.send_raw(&req.to_vec()).await?;
        let resp =
            ConnectResponse::from_bytes(&c.read_frame().await?).map_err(std::io::Error::other)?;
        if resp.session_id == 0 {
            return Err(std::io::Error::other("session refused"));
        }
        Ok(c)
    }

    async fn send_raw(&mut self, body: &[u8]) -> std::io::Result<()> {
        let mut b = BytesMut::with_capacity(body.len() + 4);
        b.put_i32(body.len() as i32);
        b.put_slice(body);
        self.wr.write_all(&b).await
    }

    fn encode<R: Record>(&mut self, opcode: i32, rec: &R, out: &mut BytesMut) {
        self.xid += 1;
        let mut body = Vec::with_capacity(64);
        RequestHeader {
            xid: self.xid,
            op: opcode,
        }
        .encode(&mut body);
        rec.encode(&mut body);
        out.put_i32(body.len() as i32);
        out.put_slice(&body);
    }

    async fn read_frame(&mut self) -> std::io::Result<Vec<u8>> {
        let len = self.rd.read_i32().await?;
        if !(0..=16 << 20).contains(&len) {
            return Err(std::io::Error::other(format!("bad frame length {len}")));
        }
        let mut b = vec![0u8; len as usize];
        self.rd.read_exact(&mut b).await?;
        Ok(b)
    }

    /// Reads the next reply, skipping watch notifications; returns its error code.
    async fn read_reply(&mut self) -> std::io::Result<i32> {
        loop {
            let f = self.read_frame().await?;
            let h = ReplyHeader::decode(&mut zooid_proto::Reader::new(&f))
                .map_err(std::io::Error::other)?;
            if h.xid != -1 {
                return Ok(h.err);
            }
        }
    }
}

fn request(
    c: &mut Conn,
    w: Workload,
    i: u64,
    root: &str,
    n_keys: u64,
    data: &[u8],
    out: &mut BytesMut,
) {
    let key = format!("{root}/k{}", i % n_keys);
    match w {
        Workload::Get => c.encode(
            op::GET_DATA,
            &GetDataRequest {
                path: key,
                watch: false,
            },
            out,
        ),
        Workload::Exists => c.encode(
            op::EXISTS,
            &ExistsRequest {
                path: key,
                watch: false,
            },
            out,
        ),
        Workload::Set => {
            let r = SetDataRequest {
                path: key,
                data: data.to_vec().into(),
                version: -1,
            };
            c.encode(op::SET_DATA, &r, out)
        }
        Workload::Create => {
            let r = CreateRequest {
                path: format!("{root}/c-"),
                data: data.to_vec().into(),
                acl: zooid_proto::open_acl_unsafe(),
                flags: 2,
            };
            c.encode(op::CREATE, &r, out)
        }
        Workload::Populate => unreachable!("populate has its own loop"),
        Workload::Mixed => request(
            c,
            if i.is_multiple_of(10) {
                Workload::Set
            } else {
                Workload::Get
            },
            i,
            root,
            n_keys,
            data,
            out,
        ),
    }
}

struct SessionResult {
    hist: Histogram<u64>,
    errors: u64,
}

async fn run_session(
    args: BenchArgs,
    index: usize,
    root: String,
    n_keys: u64,
    seed: u64,
    end: Instant,
) -> std::io::Result<SessionResult> {
    let mut c = Conn::open_nth(&args.server, index).await?;
    let data = vec![b'x'; args.size];
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(std::io::Error::other)?;
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(args.inflight);
    let mut errors = 0;
    let mut i = seed;
    let mut out = BytesMut::with_capacity(4096);
    loop {
        let now = Instant::now();
        while sent.len() < args.inflight && now < end {
            request(&mut c, args.workload, i, &root, n_keys, &data, &mut out);
            i += 1;
            sent.push_back(now);
        }
        if !out.is_empty() {
            c.wr.write_all(&out).await?;
            out.clear();
        }
        let Some(t0) = sent.pop_front() else { break };
        if c.read_reply().await? != 0 {
            errors += 1;
        }
        let _ = hist.record(t0.elapsed().as_micros().max(1) as u64);
    }
    Ok(SessionResult { hist, errors })
}

async fn setup(args: &BenchArgs, root: &str, n_keys: u64) -> std::io::Result<()> {
    let mut c = Conn::open(&args.server).await?;
    let data = vec![b'x'; args.size];
    let mut out = BytesMut::new();
    let mk = |path: String| CreateRequest {
        path,
        data: data.clone().into(),
        acl: zooid_proto::open_acl_unsafe(),
        flags: 0,
    };
    c.encode(op::CREATE, &mk(root.to_owned()), &mut out);
    for k in 0..n_keys {
        c.encode(op::CREATE, &mk(format!("{root}/k{k}")), &mut out);
    }
    c.wr.write_all(&out).await?;
    for _ in 0..=n_keys {
        c.read_reply().await?;
    }
    Ok(())
}

async fn cleanup(args: &BenchArgs, root: &str) -> std::io::Result<()> {
    let mut c = Conn::open(&args.server).await?;
    let mut out = BytesMut::new();
    let mut stack = vec![root.to_owned()];
    let mut order = Vec::new();
    // Children are listed with getChildren; delete deepest first.
    while let Some(p) = stack.pop() {
        c.encode(
            op::GET_CHILDREN,
            &zooid_proto::GetChildrenRequest {
                path: p.clone(),
                watch: false,
            },
            &mut out,
        );
        c.wr.write_all(&out).await?;
        out.clear();
        let f = loop {
            let f = c.read_frame().await?;
            if ReplyHeader::decode(&mut zooid_proto::Reader::new(&f))
                .map(|h| h.xid)
                .unwrap_or(0)
                != -1
            {
                break f;
            }
        };
        let mut r = zooid_proto::Reader::new(&f);
        let h = ReplyHeader::decode(&mut r).map_err(std::io::Error::other)?;
        if h.err == 0 {
            let kids =
                zooid_proto::GetChildrenResponse::decode(&mut r).map_err(std::io::Error::other)?;
            stack.extend(kids.children.iter().map(|k| format!("{p}/{k}")));
        }
        order.push(p);
    }
    let n = order.len();
    for p in order.into_iter().rev() {
        c.encode(
            op::DELETE,
            &DeleteRequest {
                path: p,
                version: -1,
            },
            &mut out,
        );
    }
    c.wr.write_all(&out).await?;
    for _ in 0..n {
        c.read_reply().await?;
    }
    Ok(())
}

/// Creates `count` znodes as fast as the server takes them: every session pipelines
/// `inflight` creates of its own share of the names.
async fn populate(args: &BenchArgs) -> std::io::Result<()> {
    let start = Instant::now();
    let root = "/zooid-populate";
    let mut c = Conn::open(&args.server).await?;
    let mut out = BytesMut::new();
    let mk = |path: String, size: usize| CreateRequest {
        path,
        data: vec![b'x'; size].into(),
        acl: zooid_proto::open_acl_unsafe(),
        flags: 0,
    };
    c.encode(op::CREATE, &mk(root.to_owned(), 0), &mut out);
    c.wr.write_all(&out).await?;
    c.read_reply().await?;
    let sessions = args.sessions.max(1) as u64;
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let (addr, size, inflight, count) = (
            args.server.clone(),
            args.size,
            args.inflight.max(1),
            args.count,
        );
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&addr).await?;
            let mut out = BytesMut::new();
            let mut in_flight = 0usize;
            let mut errors = 0u64;
            let mut i = s;
            while i < count || in_flight > 0 {
                while in_flight < inflight && i < count {
                    c.encode(op::CREATE, &mk(format!("{root}/n{i:09}"), size), &mut out);
                    i += sessions;
                    in_flight += 1;
                }
                if !out.is_empty() {
                    c.wr.write_all(&out).await?;
                    out.clear();
                }
                if c.read_reply().await? != 0 {
                    errors += 1;
                }
                in_flight -= 1;
            }
            Ok::<u64, std::io::Error>(errors)
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await.map_err(std::io::Error::other)??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "populate: {} znodes of {} bytes in {:.2}s = {:.0} creates/s, errors {}",
        args.count,
        args.size,
        secs,
        args.count as f64 / secs,
        errors
    );
    Ok(())
}

/// Runs the benchmark and prints the result.
pub async fn run(args: BenchArgs) -> std::io::Result<()> {
    if args.workload == Workload::Populate {
        return populate(&args).await;
    }
    let root = format!("/zooid-bench-{}", std::process::id());
    let n_keys = 1000;
    setup(&args, &root, n_keys).await?;
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for s in 0..args.sessions {
        let a = args.clone();
        let r = root.clone();
        tasks.push(tokio::spawn(run_session(
            a,
            s,
            r,
            n_keys,
            s as u64 * 7919,
            end,
        )));
    }
    let mut hist =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(std::io::Error::other)?;
    let mut errors = 0;
    for t in tasks {
        let r = t.await.map_err(std::io::Error::other)??;
        hist.add(&r.hist).map_err(std::io::Error::other)?;
        errors += r.errors;
    }
    let secs = start.elapsed().as_secs_f64();
    cleanup(&args, &root).await?;
    let ops = hist.len();
    let q = |p: f64| hist.value_at_quantile(p) as f64 / 1000.0;
    if args.json {
        let v = serde_json::json!({
            "workload": format!("{:?}", args.workload).to_lowercase(),
            "sessions": args.sessions, "inflight": args.inflight, "seconds": secs,
            "requests": ops, "errors": errors, "ops_per_sec": ops as f64 / secs,
            "latency_ms": {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999), "max": hist.max() as f64 / 1000.0},
        });
        println!("{v}");
    } else {
        println!(
            "{:?}: {} requests in {:.2}s = {:.0} ops/s, errors {}; latency ms p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
            args.workload,
            ops,
            secs,
            ops as f64 / secs,
            errors,
            q(0.5),
            q(0.99),
            q(0.999),
            hist.max() as f64 / 1000.0
        );
    }
    Ok(())
}
