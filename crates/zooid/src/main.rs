//! The `zooid` command: `zooid server [zoo.cfg]` runs a standalone server.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::ExitCode;

mod bench;

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
}

#[derive(Subcommand)]
enum Command {
    /// Runs a server. Reads ZooKeeper's zoo.cfg syntax; without a file, runs standalone
    /// on port 2181 with its data under ./zooid-data.
    Server {
        /// Path to a zoo.cfg file.
        config: Option<PathBuf>,
    },
    /// Load generator for any ZooKeeper-compatible server.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server { config } => run_server(config),
        Command::Bench(args) => run_bench(args),
    }
}

fn run_server(path: Option<PathBuf>) -> ExitCode {
    let config = match path {
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
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zooid: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
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
    })
}

fn run_bench(args: bench::BenchArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zooid: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
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
