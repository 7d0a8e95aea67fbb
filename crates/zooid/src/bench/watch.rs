//! The `watch` workload: `watchers` sessions each hold a data watch on one znode and one
//! writer session sets it, round after round. A watcher's latency is the time from the
//! writer sending the setData to that watcher reading its NodeDataChanged notification.
//! A barrier starts each round only once every watcher has re-armed its watch, so every
//! write fires all of them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Barrier;
use zooid_proto::opcode::{event_type, op};
use zooid_proto::{GetDataRequest, SetDataRequest};

use super::conn::{Conn, Dialer};
use super::load::{new_histogram, record_since, SessionResult};

/// What the writer and the watchers share.
struct Round {
    barrier: Barrier,
    /// When the current round's setData was sent.
    sent: Mutex<Instant>,
    /// Set before the last round's write is sent.
    last: AtomicBool,
}

/// Runs the fan-out on `path` until `end`; the result's `writes` counts rounds.
pub async fn run(
    dialer: &Dialer,
    watchers: usize,
    path: String,
    data: Vec<u8>,
    end: Instant,
    done: Arc<AtomicU64>,
) -> std::io::Result<SessionResult> {
    let round = Arc::new(Round {
        barrier: Barrier::new(watchers + 1),
        sent: Mutex::new(Instant::now()),
        last: AtomicBool::new(false),
    });
    // Connect everyone first so a refused session fails the run before any barrier waits.
    let mut conns = Vec::with_capacity(watchers);
    for i in 0..watchers {
        conns.push(dialer.open_nth(i + 1).await?);
    }
    let writer_conn = dialer.open_nth(0).await?;
    let mut tasks = Vec::with_capacity(watchers);
    for c in conns {
        tasks.push(tokio::spawn(watcher(
            c,
            path.clone(),
            round.clone(),
            done.clone(),
        )));
    }
    let writes = writer(writer_conn, path, data, end, round).await?;
    let mut hist = new_histogram()?;
    let mut errors = 0;
    for t in tasks {
        let r = t.await.map_err(std::io::Error::other)??;
        hist.add(&r.hist).map_err(std::io::Error::other)?;
        errors += r.errors;
    }
    Ok(SessionResult {
        hist,
        errors,
        writes,
    })
}

async fn writer(
    mut c: Conn,
    path: String,
    data: Vec<u8>,
    end: Instant,
    round: Arc<Round>,
) -> std::io::Result<u64> {
    let req = SetDataRequest {
        path,
        data: data.into(),
        version: -1,
    };
    let mut rounds = 0;
    loop {
        round.barrier.wait().await;
        let last = Instant::now() >= end;
        round.last.store(last, Ordering::SeqCst);
        *round.sent.lock().expect("sent lock") = Instant::now();
        let (err, _) = c.call(op::SET_DATA, &req).await?;
        if err != 0 {
            return Err(std::io::Error::other(format!("setData failed: {err}")));
        }
        rounds += 1;
        if last {
            return Ok(rounds);
        }
    }
}

async fn watcher(
    mut c: Conn,
    path: String,
    round: Arc<Round>,
    done: Arc<AtomicU64>,
) -> std::io::Result<SessionResult> {
    let mut hist = new_histogram()?;
    let mut errors = 0;
    let arm = GetDataRequest { path, watch: true };
    loop {
        let (err, _) = c.call(op::GET_DATA, &arm).await?;
        if err != 0 {
            return Err(std::io::Error::other(format!("getData failed: {err}")));
        }
        round.barrier.wait().await;
        let kind = c.rd.notification().await?;
        let sent = *round.sent.lock().expect("sent lock");
        record_since(&mut hist, sent);
        errors += u64::from(kind != event_type::NODE_DATA_CHANGED);
        done.fetch_add(1, Ordering::Relaxed);
        if round.last.load(Ordering::SeqCst) {
            return Ok(SessionResult {
                hist,
                errors,
                writes: 0,
            });
        }
    }
}
