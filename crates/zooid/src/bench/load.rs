//! The request generator and the per-session engine for every workload but `watch`.
//! A session's writer keeps up to `inflight` requests outstanding (a window of permits);
//! its reader matches replies, which come back in request order, to a queue of the
//! instants each request was meant to be sent at. In closed-loop mode that is the actual
//! send time; in open-loop mode (`--rate`) it is the schedule's time, so a stalled server
//! shows up as latency instead of as requests that were never sent (coordinated omission).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Semaphore};
use zooid_proto::opcode::op;
use zooid_proto::request::{encode_multi, MultiOp};
use zooid_proto::{
    CreateRequest, ExistsRequest, GetChildrenRequest, GetDataRequest, SetDataRequest,
};

use super::conn::{Conn, Encoder};
use super::Workload;

/// Largest latency the histograms hold, in microseconds (one minute); slower replies are
/// clamped to it rather than dropped.
pub const LATENCY_US_MAX: u64 = 60_000_000;

/// Keys a session's requests start from are spread over the key space by this stride.
const SESSION_KEY_STRIDE: u64 = 7919;

/// What every session of one run sends: the workload and the names it works on.
pub struct Plan {
    pub workload: Workload,
    /// The run's own parent znode.
    pub root: String,
    /// Znodes `{root}/k0..k{n_keys}` that get, exists, set, mixed and multi use.
    pub n_keys: u64,
    /// The znode whose children `children` lists.
    pub parent: String,
    pub data: Vec<u8>,
    pub read_ratio: f64,
    pub ops_per_multi: usize,
    pub sessions: u64,
    /// `populate` stops after this many creates over all sessions.
    pub count: u64,
}

/// When requests go out.
#[derive(Clone, Copy)]
pub struct Pace {
    pub start: Instant,
    /// No request is scheduled at or after this instant (populate has none: it stops on count).
    pub end: Option<Instant>,
    /// Requests per second over all sessions for open-loop mode; None for closed-loop.
    pub rate: Option<f64>,
}

pub struct SessionResult {
    pub hist: Histogram<u64>,
    pub errors: u64,
    /// Requests that changed state (sets, creates, multis).
    pub writes: u64,
}

pub fn new_histogram() -> std::io::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, LATENCY_US_MAX, 3).map_err(std::io::Error::other)
}

/// Records the microseconds since `t0`, at least 1 and at most the histogram's bound.
pub fn record_since(hist: &mut Histogram<u64>, t0: Instant) {
    let us = t0.elapsed().as_micros().clamp(1, LATENCY_US_MAX as u128) as u64;
    hist.record(us)
        .expect("latency clamped into the histogram's bounds");
}

/// A uniform number in [0, 1) from `i` (splitmix64), so the read/write mix is the same on
/// every run.
fn unit(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Plan {
    /// False once session `s` has sent its share (only `populate` has a share).
    fn has(&self, s: u64, n: u64) -> bool {
        self.workload != Workload::Populate || s + n * self.sessions < self.count
    }

    fn key(&self, s: u64, n: u64) -> String {
        format!(
            "{}/k{}",
            self.root,
            (s * SESSION_KEY_STRIDE + n) % self.n_keys
        )
    }

    fn create(&self, path: String, flags: i32) -> CreateRequest {
        CreateRequest {
            path,
            data: self.data.clone().into(),
            acl: zooid_proto::open_acl_unsafe(),
            flags,
        }
    }

    fn set(&self, path: String) -> SetDataRequest {
        SetDataRequest {
            path,
            data: self.data.clone().into(),
            version: -1,
        }
    }

    /// Encodes session `s`'s `n`th request; returns true when it is a write.
    fn encode(&self, enc: &mut Encoder, s: u64, n: u64, out: &mut BytesMut) -> bool {
        let read = |path| GetDataRequest { path, watch: false };
        match self.workload {
            Workload::Get => enc.encode(op::GET_DATA, &read(self.key(s, n)), out),
            Workload::Exists => {
                let r = ExistsRequest {
                    path: self.key(s, n),
                    watch: false,
                };
                enc.encode(op::EXISTS, &r, out)
            }
            Workload::Children => {
                let r = GetChildrenRequest {
                    path: self.parent.clone(),
                    watch: false,
                };
                enc.encode(op::GET_CHILDREN2, &r, out)
            }
            Workload::Set => enc.encode(op::SET_DATA, &self.set(self.key(s, n)), out),
            Workload::Create => {
                let r = self.create(format!("{}/s{s}-{n}", self.root), 0);
                enc.encode(op::CREATE, &r, out)
            }
            Workload::CreateSequential => {
                let r = self.create(format!("{}/c-", self.root), 2);
                enc.encode(op::CREATE, &r, out)
            }
            Workload::Populate => {
                let i = s + n * self.sessions;
                let r = self.create(format!("{}/n{i:09}", self.root), 0);
                enc.encode(op::CREATE, &r, out)
            }
            Workload::Mixed => {
                if unit(s * SESSION_KEY_STRIDE + n) < self.read_ratio {
                    enc.encode(op::GET_DATA, &read(self.key(s, n)), out);
                    return false;
                }
                enc.encode(op::SET_DATA, &self.set(self.key(s, n)), out)
            }
            Workload::Multi => {
                let ops = self.multi_ops(s, n);
                enc.encode_with(op::MULTI, |b| encode_multi(&ops, b), out)
            }
            Workload::Watch => unreachable!("watch has its own sessions"),
        }
        !matches!(
            self.workload,
            Workload::Get | Workload::Exists | Workload::Children
        )
    }

    /// Even positions set a key, odd ones create a new znode `{root}/m{s}-{n}-{j}`.
    fn multi_ops(&self, s: u64, n: u64) -> Vec<MultiOp> {
        let per = self.ops_per_multi as u64;
        (0..per)
            .map(|j| {
                if j % 2 == 0 {
                    MultiOp::SetData(self.set(self.key(s, n * per + j)))
                } else {
                    MultiOp::Create {
                        op: op::CREATE,
                        req: self.create(format!("{}/m{s}-{n}-{j}", self.root), 0),
                    }
                }
            })
            .collect()
    }
}

/// Runs one session until its schedule ends, then waits for every reply.
pub async fn run_session(
    conn: Conn,
    plan: Arc<Plan>,
    s: u64,
    inflight: usize,
    pace: Pace,
    done: Arc<AtomicU64>,
) -> std::io::Result<SessionResult> {
    let Conn { mut rd, mut w } = conn;
    let window = Arc::new(Semaphore::new(inflight.max(1)));
    // Unbounded, but never longer than `inflight`: each entry holds a window permit.
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let reader_window = window.clone();
    let reader = tokio::spawn(async move {
        let mut hist = new_histogram()?;
        let mut errors = 0;
        while let Some(t0) = rx.recv().await {
            let (err, _) = rd.reply().await?;
            record_since(&mut hist, t0);
            errors += u64::from(err != 0);
            reader_window.add_permits(1);
            done.fetch_add(1, Ordering::Relaxed);
        }
        Ok::<_, std::io::Error>((hist, errors))
    });
    let mut out = BytesMut::with_capacity(8192);
    let (mut n, mut writes) = (0u64, 0u64);
    while let Some(first) = next_send(&plan, &pace, s, n) {
        if pace.rate.is_some() {
            tokio::time::sleep_until(first.into()).await;
        }
        window
            .acquire()
            .await
            .map_err(std::io::Error::other)?
            .forget();
        let mut intended = first;
        loop {
            writes += u64::from(plan.encode(&mut w.enc, s, n, &mut out));
            n += 1;
            if tx.send(intended).is_err() {
                break;
            }
            // Batch whatever else is due and fits in the window into the same write.
            match next_send(&plan, &pace, s, n) {
                Some(t) if t <= Instant::now() => match window.try_acquire() {
                    Ok(p) => {
                        p.forget();
                        intended = t;
                    }
                    Err(_) => break,
                },
                _ => break,
            }
        }
        w.flush(&mut out).await?;
    }
    drop(tx);
    let (hist, errors) = reader.await.map_err(std::io::Error::other)??;
    Ok(SessionResult {
        hist,
        errors,
        writes,
    })
}

/// When session `s` should send its `n`th request, or None when it is done.
fn next_send(plan: &Plan, pace: &Pace, s: u64, n: u64) -> Option<Instant> {
    if !plan.has(s, n) {
        return None;
    }
    let t = match pace.rate {
        // Slot n*sessions + s of one global schedule spaces all sessions' requests evenly.
        Some(rate) => pace.start + Duration::from_secs_f64((n * plan.sessions + s) as f64 / rate),
        None => Instant::now(),
    };
    match pace.end {
        Some(end) if t >= end => None,
        _ => Some(t),
    }
}
