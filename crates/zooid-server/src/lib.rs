//! zooid-server: the tokio host. Client listener, sessions, the request pipeline
//! (reads on connection tasks, writes through the single-writer core), watches, 4lw.
//! The only crate that does IO (with zooid-storage, later).
#![allow(clippy::disallowed_methods)]

pub mod admin;
pub mod config;
pub mod conn;
pub mod core;
pub mod ensemble;
pub mod fourlw;
mod http;
pub mod memory;
pub mod persist;
pub mod prometheus;
pub mod quorum;
pub mod read;
pub mod sasl;
pub mod server;
pub mod session;
pub mod state;
pub mod stats;
pub mod tls;

pub use config::Config;
pub use server::Server;
