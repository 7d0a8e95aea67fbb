//! Deterministic simulation of a Zooid ensemble: 3 or 5 voters (plus observers) running
//! the real `zooid-zab` state machine, with simulated disks and network, and clients, in
//! one thread driven by one seed.
//!
//! Faults: message delay (TCP-like: FIFO per connection), lost and duplicated election
//! notifications, partitions (traffic held until healed or a side drops the connection),
//! slow fsyncs, crashes of one or two servers that lose every write not yet fsynced,
//! restarts, and clock skew (each server's clock runs at its own rate and offset).
//!
//! Checked on every run (see [`check`]): one txn per zxid everywhere; after healing,
//! every server holds the same history and every acknowledged write is in it;
//! acknowledged writes are ordered as real time orders them and per session as issued;
//! reads see a prefix of the history, never older than the session saw, and a read after
//! `sync` sees every write acknowledged before the `sync` began; a leader is serving
//! within a bound once a quorum can talk. A failure names its seed: `zooid-sim --seed N`
//! replays it.

pub mod check;
mod rng;
mod world;

pub use rng::Rng;
pub use world::{run, Failure, Report, SimConfig};
