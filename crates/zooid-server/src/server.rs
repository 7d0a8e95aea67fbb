//! The listener: binds the client port, starts the core and the ticker, and accepts
//! connections within `maxClientCnxns` per address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::conn;
use crate::core::{Core, CoreMsg};
use crate::persist::{self, RecoveryError};
use crate::state::Shared;
use crate::tls::TlsServer;
use zooid_storage::TxnLogWriter;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("secure client port: {0}")]
    Tls(#[from] crate::tls::TlsConfigError),
    #[error("AdminServer: {0}")]
    AdminTls(crate::tls::TlsConfigError),
    /// The JAAS file or the authentication settings (`ServerCnxnFactory
    /// .configureSaslLogin`, `AuthenticationHelper`).
    #[error("SASL: {0}")]
    Sasl(#[from] crate::sasl::SaslConfigError),
}

/// A running server.
pub struct Server {
    pub shared: Arc<Shared>,
    pub local_addr: SocketAddr,
    /// The secure client port's address, when `secureClientPort` is set.
    pub secure_addr: Option<SocketAddr>,
    listener: TcpListener,
    secure: Option<(TcpListener, Arc<TlsServer>)>,
    core_tx: mpsc::Sender<CoreMsg>,
}

impl Server {
    pub(crate) fn from_parts(
        shared: Arc<Shared>,
        local_addr: SocketAddr,
        listener: TcpListener,
        core_tx: mpsc::Sender<CoreMsg>,
    ) -> Server {
        Server {
            shared,
            local_addr,
            secure_addr: None,
            listener,
            secure: None,
            core_tx,
        }
    }

    /// Binds `secureClientPort`, if set, with the TLS settings of the configuration.
    async fn bind_secure(mut self) -> Result<Server, StartError> {
        let config = &self.shared.config;
        let Some(port) = config.secure_client_port else {
            return Ok(self);
        };
        let tls = crate::tls::TlsServer::from_config(config)?;
        let ip = config
            .secure_client_port_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let listener = TcpListener::bind(SocketAddr::new(ip, port)).await?;
        let addr = listener.local_addr()?;
        tracing::info!("serving TLS clients on {addr}");
        self.secure_addr = Some(addr);
        self.secure = Some((listener, Arc::new(tls)));
        Ok(self)
    }

    /// Recovers the data directory, binds the client port and starts the core and the
    /// log thread; call [`Server::serve`] to accept.
    pub async fn bind(config: Config) -> Result<Server, StartError> {
        // A JAAS file that is named but unusable stops the start, as in ZooKeeper.
        crate::sasl::Settings::load(&config)?;
        if config.is_distributed() {
            return crate::ensemble::bind(config).await?.bind_secure().await;
        }
        // Bad TLS settings stop the start before anything is recovered.
        if config.secure_client_port.is_some() {
            crate::tls::TlsServer::from_config(&config)?;
        }
        if config.admin_enable_server {
            crate::tls::AdminTls::from_config(&config).map_err(StartError::AdminTls)?;
        }
        let recovered = {
            let c = config.clone();
            tokio::task::spawn_blocking(move || persist::recover(&c))
                .await
                .map_err(|e| StartError::Io(std::io::Error::other(e)))??
        };
        let ip = config
            .client_port_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let listener = TcpListener::bind(SocketAddr::new(ip, config.client_port)).await?;
        let local_addr = listener.local_addr()?;
        let tick_ms = (config.tick_time_ms / 2).max(10) as u64;
        // The core's inbox is the global outstanding limit: past it, connections wait.
        let cap = config.global_outstanding_limit.max(1) as usize;
        let pre_alloc = config.pre_alloc_size_kb * 1024;
        let writer = TxnLogWriter::open(&config.txn_log_dir(), pre_alloc, config.force_sync)?;
        let shared = Arc::new(Shared::with_tree(config, recovered.tree));
        shared
            .counters
            .metrics
            .recovered(&recovered.timings, recovered.replayed);
        let (core_tx, core_rx) = mpsc::channel(cap);
        let (durable_tx, durable_rx) = mpsc::unbounded_channel();
        let sink = persist::spawn_log_thread(shared.clone(), writer, durable_tx)?;
        let mut core = Core::new(shared.clone()).with_sink(Box::new(sink));
        core.restore_sessions(recovered.sessions);
        tokio::spawn(core.run(core_rx, durable_rx));
        spawn_autopurge(&shared.config);
        crate::admin::start(shared.clone(), Some(core_tx.clone())).await?;
        crate::prometheus::start(shared.clone()).await?;
        let ticker = core_tx.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_millis(tick_ms));
            loop {
                iv.tick().await;
                if ticker.send(CoreMsg::Tick).await.is_err() {
                    return;
                }
            }
        });
        Server::from_parts(shared, local_addr, listener, core_tx)
            .bind_secure()
            .await
    }

    /// Accepts connections until the listener fails.
    pub async fn serve(self) -> std::io::Result<()> {
        // As ZooKeeper's two connection factories, each port counts its own connections
        // against `maxClientCnxns`.
        if let Some((listener, tls)) = self.secure {
            let (shared, core) = (self.shared.clone(), self.core_tx.clone());
            tokio::spawn(accept_loop(listener, shared, core, Some(tls)));
        }
        accept_loop(self.listener, self.shared, self.core_tx, None).await
    }
}

/// Accepts on one client port within `maxClientCnxns` per address; `tls` makes it the
/// secure port.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    core_tx: mpsc::Sender<CoreMsg>,
    tls: Option<Arc<TlsServer>>,
) -> std::io::Result<()> {
    let per_ip: Arc<Mutex<HashMap<IpAddr, u32>>> = Arc::default();
    let max = shared.config.max_client_cnxns;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let ip = remote.ip();
        {
            let mut m = per_ip.lock();
            let n = m.entry(ip).or_insert(0);
            if max != 0 && *n >= max {
                shared.counters.metrics.connections_rejected.inc();
                tracing::warn!("Too many connections from /{ip} - max is {max}");
                drop(stream);
                continue;
            }
            *n += 1;
        }
        let shared = shared.clone();
        let core = core_tx.clone();
        let per_ip = per_ip.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => conn::serve(shared, core, stream, remote).await,
                Some(tls) => conn::serve_tls(shared, core, tls, stream, remote).await,
            }
            let mut m = per_ip.lock();
            if let Some(n) = m.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&ip);
                }
            }
        });
    }
}

/// `autopurge.purgeInterval` hours (0 = off): keeps the newest
/// `autopurge.snapRetainCount` snapshots and the logs they need, as ZooKeeper's
/// `DatadirCleanupManager` does.
fn spawn_autopurge(config: &Config) {
    let hours = config.autopurge_purge_interval_h;
    if hours == 0 {
        return;
    }
    let (log_dir, snap_dir) = (config.txn_log_dir(), config.snap_dir());
    let keep = config.autopurge_snap_retain_count.max(3) as usize;
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_secs(hours as u64 * 3600));
        loop {
            iv.tick().await;
            let (l, s) = (log_dir.clone(), snap_dir.clone());
            match tokio::task::spawn_blocking(move || zooid_storage::purge::purge(&l, &s, keep))
                .await
            {
                Ok(Ok(removed)) => tracing::info!("autopurge removed {} files", removed.len()),
                Ok(Err(e)) => tracing::warn!("autopurge failed: {e}"),
                Err(e) => tracing::warn!("autopurge task failed: {e}"),
            }
        }
    });
}
