//! `zooid bench`: a load generator for any ZooKeeper-compatible server, speaking the
//! protocol directly. Closed-loop by default (each session keeps `--inflight` requests
//! outstanding); open-loop with `--rate` (requests leave on a fixed schedule and latency
//! counts from the scheduled instant). Latencies go into one HDR histogram per run.

mod conn;
mod load;
mod watch;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use clap::ValueEnum;
use hdrhistogram::Histogram;
use zooid_proto::opcode::op;
use zooid_proto::{CreateRequest, DeleteRequest, GetChildrenRequest, GetChildrenResponse, Record};

use conn::Dialer;
use load::{Pace, Plan, SessionResult};

use crate::client_config::{ClientConfig, TlsClient};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// getData of existing znodes.
    Get,
    /// exists of existing znodes.
    Exists,
    /// setData of existing znodes.
    Set,
    /// create of new znodes with unique names (plain, not sequential).
    Create,
    /// create of sequential znodes under one parent.
    CreateSequential,
    /// getChildren2 of a znode with `--children` children.
    Children,
    /// getData and setData, `--read-ratio` of them reads.
    Mixed,
    /// multi of `--ops-per-multi` ops, alternately setData and create.
    Multi,
    /// `--watchers` sessions watch one znode that one writer sets; latency is write sent
    /// to notification read.
    Watch,
    /// Creates `--count` znodes of `--size` bytes under /zooid-populate, then stops.
    Populate,
}

/// A multi's ops all travel in one request, which must fit ZooKeeper's 1 MiB
/// `jute.maxbuffer`; this many small ops stay well below it.
const OPS_PER_MULTI_MAX: usize = 1000;
/// Children of the `children` workload's parent: one getChildren2 reply must fit in
/// `jute.maxbuffer` too.
const CHILDREN_MAX: u64 = 50_000;
/// Watcher sessions: each holds a connection and a task.
const WATCHERS_MAX: usize = 10_000;
/// Keys `get`, `exists`, `set`, `mixed` and `multi` spread over.
const KEYS: u64 = 1000;
/// Bytes of data per znode, below `jute.maxbuffer`.
const SIZE_MAX: usize = 1 << 19;

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
    /// Requests in flight per session (in open-loop mode, the most each session lets
    /// queue up at the server).
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
    /// Fraction of `mixed` requests that are reads (getData); the rest are setData.
    #[arg(long, default_value_t = 0.9)]
    pub read_ratio: f64,
    /// Ops in each `multi` request.
    #[arg(long, default_value_t = 4)]
    pub ops_per_multi: usize,
    /// Children of the znode the `children` workload lists.
    #[arg(long, default_value_t = 100)]
    pub children: u64,
    /// Watching sessions for `--workload watch` (plus one writer).
    #[arg(long, default_value_t = 16)]
    pub watchers: usize,
    /// Open-loop mode: this many requests per second over all sessions, sent on schedule
    /// whether or not earlier ones were answered; latency counts from the scheduled time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Leave the run's znodes in place instead of deleting them (the JSON names the root).
    #[arg(long)]
    pub keep: bool,
    /// Connect with TLS (a server's secureClientPort); needs `--tls-ca`.
    #[arg(long)]
    pub tls: bool,
    /// PEM file of the CA certificates the server's certificate must chain to.
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub tls_ca: Option<String>,
    /// PEM file of the client's certificate chain, for a server with
    /// `ssl.clientAuth=need`; it may hold the private key too.
    #[arg(long, value_name = "PEM", requires = "tls")]
    pub tls_cert: Option<String>,
    /// PEM file of the client certificate's (unencrypted) private key, when it is not in
    /// `--tls-cert`.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<String>,
    /// A ZooKeeper client configuration file, as zkCli's `-client-configuration` takes:
    /// `zookeeper.client.secure=true` and the `zookeeper.ssl.*` keys select TLS.
    #[arg(long, value_name = "FILE", conflicts_with = "tls")]
    pub client_configuration: Option<String>,
}

/// What a run measured.
struct Outcome {
    hist: Histogram<u64>,
    errors: u64,
    writes: u64,
    secs: f64,
}

impl Workload {
    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

fn check_args(a: &BenchArgs) -> std::io::Result<()> {
    let bad = |m: &str| Err(std::io::Error::other(m.to_owned()));
    if !(0.0..=1.0).contains(&a.read_ratio) {
        return bad("--read-ratio must be between 0 and 1");
    }
    if !(1..=OPS_PER_MULTI_MAX).contains(&a.ops_per_multi) {
        return bad(&format!("--ops-per-multi must be 1..={OPS_PER_MULTI_MAX}"));
    }
    if a.children > CHILDREN_MAX {
        return bad(&format!("--children must be at most {CHILDREN_MAX}"));
    }
    if !(1..=WATCHERS_MAX).contains(&a.watchers) {
        return bad(&format!("--watchers must be 1..={WATCHERS_MAX}"));
    }
    if a.sessions == 0 || a.inflight == 0 {
        return bad("--sessions and --inflight must be at least 1");
    }
    if a.size > SIZE_MAX {
        return bad(&format!("--size must be at most {SIZE_MAX}"));
    }
    match a.rate {
        Some(r) if !(r.is_finite() && r > 0.0) => bad("--rate must be a positive number"),
        Some(_) if a.workload == Workload::Watch => bad("--rate does not apply to watch"),
        _ => Ok(()),
    }
}

/// How the sessions connect: the server list, with TLS if the options ask for it.
fn dialer(a: &BenchArgs) -> std::io::Result<Dialer> {
    let tls = if let Some(file) = &a.client_configuration {
        let cfg = ClientConfig::load(file).map_err(std::io::Error::other)?;
        TlsClient::from_config(&cfg)
    } else if a.tls {
        let Some(ca) = a.tls_ca.as_deref() else {
            return Err(std::io::Error::other("--tls needs --tls-ca <pem>"));
        };
        TlsClient::from_files(ca, a.tls_cert.as_deref(), a.tls_key.as_deref()).map(Some)
    } else {
        Ok(None)
    };
    let config = tls
        .and_then(|t| t.map(|t| t.rustls_config()).transpose())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Dialer::new(&a.server, config))
}

/// Runs the benchmark and prints the result.
pub async fn run(args: BenchArgs) -> std::io::Result<()> {
    check_args(&args)?;
    let dialer = dialer(&args)?;
    let populate = args.workload == Workload::Populate;
    let root = if populate {
        "/zooid-populate".to_owned()
    } else {
        format!("/zooid-bench-{}", std::process::id())
    };
    let plan = Arc::new(Plan {
        workload: args.workload,
        root: root.clone(),
        n_keys: KEYS,
        parent: format!("{root}/kids"),
        data: vec![b'x'; args.size],
        read_ratio: args.read_ratio,
        ops_per_multi: args.ops_per_multi,
        sessions: args.sessions as u64,
        count: args.count,
    });
    setup(&args, &dialer, &plan).await?;
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let bar = progress(&args, start, done.clone());
    let result = if args.workload == Workload::Watch {
        let end = start + Duration::from_secs(args.seconds);
        let path = format!("{root}/k0");
        watch::run(&dialer, args.watchers, path, plan.data.clone(), end, done).await
    } else {
        sessions(&args, &dialer, plan, start, done).await
    };
    if let Some((bar, ticker)) = bar {
        ticker.abort();
        bar.finish_and_clear();
    }
    let r = result?;
    let secs = start.elapsed().as_secs_f64();
    if !populate && !args.keep {
        cleanup(&dialer, &root).await?;
    }
    let outcome = Outcome {
        hist: r.hist,
        errors: r.errors,
        writes: r.writes,
        secs,
    };
    report(&args, &root, &outcome);
    Ok(())
}

/// Opens every session, then starts the clock and runs them all to the end.
async fn sessions(
    args: &BenchArgs,
    dialer: &Dialer,
    plan: Arc<Plan>,
    start: Instant,
    done: Arc<AtomicU64>,
) -> std::io::Result<SessionResult> {
    let mut conns = Vec::with_capacity(args.sessions);
    for s in 0..args.sessions {
        conns.push(dialer.open_nth(s).await?);
    }
    let pace = Pace {
        start,
        end: (args.workload != Workload::Populate)
            .then(|| start + Duration::from_secs(args.seconds)),
        rate: args.rate,
    };
    let mut tasks = Vec::with_capacity(args.sessions);
    for (s, c) in conns.into_iter().enumerate() {
        tasks.push(tokio::spawn(load::run_session(
            c,
            plan.clone(),
            s as u64,
            args.inflight,
            pace,
            done.clone(),
        )));
    }
    let mut total = SessionResult {
        hist: load::new_histogram()?,
        errors: 0,
        writes: 0,
    };
    for t in tasks {
        let r = t.await.map_err(std::io::Error::other)??;
        total.hist.add(&r.hist).map_err(std::io::Error::other)?;
        total.errors += r.errors;
        total.writes += r.writes;
    }
    Ok(total)
}

/// A progress bar on stderr, when it is a terminal and the output is text.
fn progress(
    args: &BenchArgs,
    start: Instant,
    done: Arc<AtomicU64>,
) -> Option<(indicatif::ProgressBar, tokio::task::JoinHandle<()>)> {
    if args.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let by_count = args.workload == Workload::Populate;
    let len = if by_count { args.count } else { args.seconds };
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    let b = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            let n = done.load(Ordering::Relaxed);
            if by_count {
                b.set_position(n);
            } else {
                b.set_position(start.elapsed().as_secs());
                b.set_message(format!("s, {n} ops"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Some((bar, ticker))
}

fn report(args: &BenchArgs, root: &str, o: &Outcome) {
    let ops = o.hist.len();
    let q = |p: f64| o.hist.value_at_quantile(p) as f64 / 1000.0;
    let max = o.hist.max() as f64 / 1000.0;
    let watch = args.workload == Workload::Watch;
    let sessions = if watch {
        args.watchers + 1
    } else {
        args.sessions
    };
    if args.json {
        let mut v = serde_json::json!({
            "workload": args.workload.name(),
            "sessions": sessions, "inflight": args.inflight, "rate": args.rate,
            "ops": ops, "requests": ops, "errors": o.errors, "writes": o.writes,
            "seconds": o.secs, "ops_per_sec": ops as f64 / o.secs, "root": root,
            "latency_ms": {"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "p999": q(0.999), "max": max},
        });
        if watch {
            v["watchers"] = args.watchers.into();
        }
        println!("{v}");
        return;
    }
    let latency = format!(
        "latency ms p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        max
    );
    if args.workload == Workload::Populate {
        println!(
            "populate: {} znodes of {} bytes in {:.2}s = {:.0} creates/s, errors {}; {latency}",
            ops,
            args.size,
            o.secs,
            ops as f64 / o.secs,
            o.errors
        );
        return;
    }
    let what = if watch { "notifications" } else { "requests" };
    let mode = match args.rate {
        Some(r) => format!(" (open loop at {r} req/s)"),
        None => String::new(),
    };
    println!(
        "{}{mode}: {ops} {what} in {:.2}s = {:.0} ops/s, errors {}; {latency}",
        args.workload.name(),
        o.secs,
        ops as f64 / o.secs,
        o.errors,
    );
}

/// Creates the run's root and the znodes its workload reads or writes.
async fn setup(args: &BenchArgs, dialer: &Dialer, plan: &Plan) -> std::io::Result<()> {
    let mut c = dialer.open().await?;
    let mk = |path: String| CreateRequest {
        path,
        data: plan.data.clone().into(),
        acl: zooid_proto::open_acl_unsafe(),
        flags: 0,
    };
    if plan.workload == Workload::Populate {
        let (err, _) = c.call(op::CREATE, &mk(plan.root.clone())).await?;
        // An earlier populate may have left the root in place: add to it.
        return match err {
            0 => Ok(()),
            e if e == zooid_proto::ErrorCode::NodeExists as i32 => Ok(()),
            e => Err(std::io::Error::other(format!("create {}: {e}", plan.root))),
        };
    }
    let mut paths = vec![plan.root.clone()];
    paths.extend((0..plan.n_keys).map(|k| format!("{}/k{k}", plan.root)));
    if plan.workload == Workload::Children {
        paths.push(plan.parent.clone());
        paths.extend((0..args.children).map(|k| format!("{}/c{k}", plan.parent)));
    }
    let mut out = BytesMut::new();
    for p in &paths {
        c.w.enc.encode(op::CREATE, &mk(p.clone()), &mut out);
    }
    c.w.flush(&mut out).await?;
    for p in &paths {
        let (err, _) = c.rd.reply().await?;
        if err != 0 {
            return Err(std::io::Error::other(format!("setup: create {p}: {err}")));
        }
    }
    Ok(())
}

/// Deletes `root` and everything under it, deepest first.
async fn cleanup(dialer: &Dialer, root: &str) -> std::io::Result<()> {
    let mut c = dialer.open().await?;
    let mut stack = vec![root.to_owned()];
    let mut order = Vec::new();
    while let Some(p) = stack.pop() {
        let req = GetChildrenRequest {
            path: p.clone(),
            watch: false,
        };
        let (err, body) = c.call(op::GET_CHILDREN, &req).await?;
        if err == 0 {
            let kids = GetChildrenResponse::from_bytes(&body).map_err(std::io::Error::other)?;
            stack.extend(kids.children.iter().map(|k| format!("{p}/{k}")));
        }
        order.push(p);
    }
    let mut out = BytesMut::new();
    for p in order.iter().rev() {
        let req = DeleteRequest {
            path: p.clone(),
            version: -1,
        };
        c.w.enc.encode(op::DELETE, &req, &mut out);
    }
    c.w.flush(&mut out).await?;
    for _ in &order {
        c.rd.reply().await?;
    }
    Ok(())
}
