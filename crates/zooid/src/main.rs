//! The `zooid` command: `zooid server [zoo.cfg]` runs a standalone server.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod client_config;
mod ensemble_cmd;
mod log_format;
mod shell;

use clap::{Parser, Subcommand};
use zooid_server::{Config, Server};

#[derive(Parser)]
#[command(
    name = "zooid",
    version,
    about = "A ZooKeeper-compatible coordination service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text or JSON (default: $ZOOID_LOG_FORMAT, else text); levels come
    /// from RUST_LOG.
    #[arg(long, global = true, value_enum)]
    log_format: Option<log_format::LogFormat>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a server. Reads ZooKeeper's zoo.cfg syntax; without a file, runs standalone
    /// on port 2181 with its data under ./zooid-data.
    Server {
        /// Path to a zoo.cfg file.
        config: Option<PathBuf>,
    },
    /// Runs a local ensemble of N servers on loopback until Ctrl-C or SIGTERM.
    Ensemble(ensemble_cmd::EnsembleArgs),
    /// A zkCli-compatible shell: `zooid shell -server host:port [command ...]`.
    Shell(shell::ShellArgs),
    /// Load generator for any ZooKeeper-compatible server.
    Bench(bench::BenchArgs),
    /// Txn log files (ZooKeeper's format): dump one, or repair a damaged log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Snapshot files (ZooKeeper's format).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Deletes old snapshots and the logs only they need, keeping the newest N
    /// (like zkCleanup.sh -n N).
    Purge {
        /// The data directory (dataDir; holds version-2/).
        data_dir: PathBuf,
        /// The txn log directory when it is not the data directory (dataLogDir).
        #[arg(long)]
        data_log_dir: Option<PathBuf>,
        /// Snapshots to keep (at least 3).
        #[arg(short = 'n', long, default_value_t = 3)]
        count: usize,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Prints every txn of a log file, like zkTxnLogToolkit.
    Dump {
        file: PathBuf,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Cuts the log at its first damaged record and removes the later files, so the
    /// server starts again; the txns after the damage are lost. Run it with the server
    /// stopped, on the dataLogDir (or its version-2 directory).
    Repair { dir: PathBuf },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Prints a snapshot, like zkSnapShotToolkit.
    Dump {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match log_format::resolve(cli.log_format) {
        Ok(f) => log_format::init(f),
        Err(e) => {
            eprintln!("zooid: {e}");
            return ExitCode::from(2);
        }
    }
    match cli.command {
        Command::Server { config } => run_server(config),
        Command::Ensemble(args) => ensemble_cmd::run(args),
        Command::Bench(args) => run_bench(args),
        Command::Shell(args) => shell::run(args),
        Command::Log(LogCommand::Dump { file, json }) => dump(&file, json, false),
        Command::Snapshot(SnapshotCommand::Dump { file, json }) => dump(&file, json, true),
        Command::Log(LogCommand::Repair { dir }) => repair(&dir),
        Command::Purge {
            data_dir,
            data_log_dir,
            count,
        } => purge(&data_dir, data_log_dir.as_deref(), count),
    }
}

fn run_server(path: Option<PathBuf>) -> ExitCode {
    let mut config = match path {
        None => Config::defaults(),
        Some(p) => match Config::load(&p) {
            Ok((c, warnings)) => {
                for w in warnings {
                    tracing::warn!("{}: {w}", p.display());
                }
                c
            }
            Err(e) => {
                eprintln!("zooid: invalid configuration {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    // zkServer.sh users pass system properties (the JAAS file above all) in these.
    let flags: Vec<String> = ["SERVER_JVMFLAGS", "JVMFLAGS"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect();
    match config.apply_jvm_flags(&flags.join(" ")) {
        Ok(warnings) => {
            for w in warnings {
                tracing::info!("SERVER_JVMFLAGS/JVMFLAGS: {w}");
            }
        }
        Err(e) => {
            eprintln!("zooid: invalid SERVER_JVMFLAGS/JVMFLAGS: {e}");
            return ExitCode::from(2);
        }
    }
    let rt = match runtime(
        tokio::runtime::Builder::new_multi_thread().enable_all(),
        "zooid",
    ) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = rt.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("zooid: cannot start: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!("zooid serving clients on {}", server.local_addr);
        tokio::select! {
            r = server.serve() => {
                if let Err(e) = r {
                    eprintln!("zooid: {e}");
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                ExitCode::SUCCESS
            }
        }
    });
    // Every acknowledged write is already durable (replies wait for the fsync), so
    // nothing needs saving here; the bound keeps a slow blocking task (a purge, a 4lw)
    // from holding the exit up.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    code
}

fn dump(file: &std::path::Path, json: bool, snapshot: bool) -> ExitCode {
    use zooid_storage::dump;
    let out = &mut std::io::stdout().lock();
    let r = match (snapshot, json) {
        (false, false) => dump::log_text(file, out),
        (false, true) => dump::log_json(file, out),
        (true, false) => dump::snapshot_text(file, out),
        (true, true) => dump::snapshot_json(file, out),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zooid: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts a data directory or its version-2 directory.
fn version_dir(dir: &std::path::Path) -> PathBuf {
    let v = zooid_storage::version_dir(dir);
    if v.is_dir() {
        v
    } else {
        dir.to_path_buf()
    }
}

fn repair(dir: &std::path::Path) -> ExitCode {
    match zooid_server::persist::repair_log(&version_dir(dir)) {
        Ok(r) => {
            match &r.cut {
                None => println!("no damage found; last zxid 0x{:x}", r.last_zxid),
                Some((file, offset)) => {
                    println!(
                        "cut {} at offset {offset}; last zxid kept 0x{:x}",
                        file.display(),
                        r.last_zxid
                    );
                    for f in &r.removed {
                        println!("removed {}", f.display());
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zooid: {e}");
            ExitCode::FAILURE
        }
    }
}

fn purge(data_dir: &std::path::Path, log_dir: Option<&std::path::Path>, keep: usize) -> ExitCode {
    if keep < 3 {
        eprintln!("zooid: purge keeps at least 3 snapshots");
        return ExitCode::from(2);
    }
    let snap = version_dir(data_dir);
    let log = log_dir.map(version_dir).unwrap_or_else(|| snap.clone());
    match zooid_storage::purge::purge(&log, &snap, keep) {
        Ok(removed) => {
            for f in removed {
                println!("removed {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zooid: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds a tokio runtime, or says why it cannot (as `who`) and gives the exit code.
pub(crate) fn runtime(
    builder: &mut tokio::runtime::Builder,
    who: &str,
) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.build().map_err(|e| {
        eprintln!("{who}: cannot start the runtime: {e}");
        ExitCode::FAILURE
    })
}

fn run_bench(args: bench::BenchArgs) -> ExitCode {
    let rt = match runtime(
        tokio::runtime::Builder::new_multi_thread().enable_all(),
        "zooid",
    ) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(bench::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zooid bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
