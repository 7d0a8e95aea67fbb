//! `zooid ensemble`: a local ensemble of `zooid server` child processes on loopback, for
//! development and tests.
//!
//! Layout under `--dir` (default `./zooid-ensemble`), one directory per node:
//!
//! ```text
//! node<N>/zoo.cfg        written on every start (ports may change between runs)
//! node<N>/data/myid      N
//! node<N>/data/version-2 snapshots and txn logs, kept between runs
//! node<N>/server.log     the child's stdout and stderr, appended
//! ```
//!
//! Ports follow ZooKeeper's documentation: node N (from 1) listens for clients on
//! `base + N - 1`, for quorum traffic on `base + 707 + N - 1` and for elections on
//! `base + 1707 + N - 1` (2181.., 2888.., 3888.. with the default base); `--free-ports`
//! asks the OS for free ports instead.
#![allow(clippy::disallowed_methods)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// More nodes than this add nothing on one machine and make elections slow.
const NODES_MAX: usize = 9;
/// ZooKeeper's documented quorum port (2888) minus its client port (2181).
const QUORUM_PORT_OFFSET: u16 = 707;
/// ZooKeeper's documented election port (3888) minus its client port (2181).
const ELECTION_PORT_OFFSET: u16 = 1707;
/// How long children get to exit after SIGTERM before they are SIGKILLed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often the nodes are asked for their mode while waiting for a leader.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long one `srvr` exchange may take; a node that is starting may not answer.
const SRVR_TIMEOUT: Duration = Duration::from_secs(1);
/// The most of a `srvr` reply read; the reply is a few hundred bytes.
const SRVR_REPLY_BYTES_MAX: u64 = 64 * 1024;
/// How much of a failed node's log is printed.
const LOG_TAIL_BYTES_MAX: usize = 4 * 1024;

#[derive(clap::Args, Debug)]
pub struct EnsembleArgs {
    /// Number of servers (1 to 9; 1 runs standalone).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Where the nodes' zoo.cfg, data and logs go.
    #[arg(long, default_value = "./zooid-ensemble")]
    dir: PathBuf,
    /// The first client port; quorum ports start 707 above it, election ports 1707
    /// above it (2181, 2888, 3888 by default, as in ZooKeeper's documentation).
    #[arg(long, default_value_t = 2181, conflicts_with = "free_ports")]
    base_port: u16,
    /// Let the OS pick free ports instead of counting from --base-port.
    #[arg(long)]
    free_ports: bool,
    /// How long to wait for every node to serve (as leader or follower), in seconds.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
    /// zoo.cfg tickTime in milliseconds for every node.
    #[arg(long, default_value_t = 2000)]
    tick_time: u32,
}

/// One node's ports.
#[derive(Debug, Clone, Copy)]
struct Ports {
    client: u16,
    quorum: u16,
    election: u16,
}

/// A running child and where its files are.
struct Node {
    id: usize,
    client_port: u16,
    dir: PathBuf,
    child: Child,
    /// Set once the child was seen to exit, so it is reported once.
    exited: bool,
}

pub fn run(args: EnsembleArgs) -> ExitCode {
    if args.nodes == 0 || args.nodes > NODES_MAX {
        eprintln!("zooid ensemble: --nodes must be between 1 and {NODES_MAX}");
        return ExitCode::from(2);
    }
    let ports = match choose_ports(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("zooid ensemble: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match crate::runtime(
        tokio::runtime::Builder::new_current_thread().enable_all(),
        "zooid ensemble",
    ) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(supervise(args, ports))
}

/// Starts the nodes, waits for them to serve, then waits for a signal and stops them.
async fn supervise(args: EnsembleArgs, ports: Vec<Ports>) -> ExitCode {
    // Listen for signals before the first child exists, so none is ever left behind.
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("zooid ensemble: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = match prepare(&args, &ports) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zooid ensemble: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut nodes = Vec::with_capacity(ports.len());
    for (i, p) in ports.iter().enumerate() {
        match spawn_node(&root, i + 1, p.client) {
            Ok(n) => nodes.push(n),
            Err(e) => {
                eprintln!("zooid ensemble: cannot start node {}: {e}", i + 1);
                stop(&mut nodes).await;
                return ExitCode::FAILURE;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(args.wait_secs);
    let ready = tokio::select! {
        r = wait_serving(&mut nodes, deadline) => r,
        _ = signals.recv() => Err("interrupted before a leader was elected".to_owned()),
    };
    let code = match ready {
        Ok(modes) => {
            print_ready(&root, &nodes, &modes);
            tokio::select! {
                _ = signals.recv() => {
                    eprintln!("zooid ensemble: stopping");
                    ExitCode::SUCCESS
                }
                _ = watch_children(&mut nodes) => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            eprintln!("zooid ensemble: {e}");
            ExitCode::FAILURE
        }
    };
    stop(&mut nodes).await;
    code
}

fn choose_ports(args: &EnsembleArgs) -> Result<Vec<Ports>, String> {
    if args.free_ports {
        return free_ports(args.nodes).map_err(|e| format!("cannot find free ports: {e}"));
    }
    let last = args.base_port as usize + ELECTION_PORT_OFFSET as usize + args.nodes - 1;
    if args.base_port == 0 || last > u16::MAX as usize {
        return Err(format!(
            "--base-port {} leaves no room for {} nodes (election ports end at {last})",
            args.base_port, args.nodes
        ));
    }
    Ok((0..args.nodes as u16)
        .map(|i| Ports {
            client: args.base_port + i,
            quorum: args.base_port + QUORUM_PORT_OFFSET + i,
            election: args.base_port + ELECTION_PORT_OFFSET + i,
        })
        .collect())
}

/// Ports the OS hands out now; all listeners stay open until every port is chosen, so
/// no port is chosen twice.
fn free_ports(n: usize) -> std::io::Result<Vec<Ports>> {
    let mut held = Vec::with_capacity(3 * n);
    let mut next = || -> std::io::Result<u16> {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        held.push(l);
        Ok(port)
    };
    (0..n)
        .map(|_| {
            Ok(Ports {
                client: next()?,
                quorum: next()?,
                election: next()?,
            })
        })
        .collect()
}

/// Creates the directories and writes every node's zoo.cfg and myid; returns the
/// absolute root directory.
fn prepare(args: &EnsembleArgs, ports: &[Ports]) -> Result<PathBuf, String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    std::fs::create_dir_all(&args.dir).map_err(|e| io("cannot create", &args.dir, e))?;
    let root = args
        .dir
        .canonicalize()
        .map_err(|e| io("cannot resolve", &args.dir, e))?;
    for (i, _) in ports.iter().enumerate() {
        let id = i + 1;
        let data = root.join(format!("node{id}")).join("data");
        std::fs::create_dir_all(&data).map_err(|e| io("cannot create", &data, e))?;
        let myid = data.join(zooid_server::config::MYID_FILE);
        std::fs::write(&myid, format!("{id}\n")).map_err(|e| io("cannot write", &myid, e))?;
        let cfg = root.join(format!("node{id}")).join("zoo.cfg");
        let text = zoo_cfg(args.tick_time, &data, ports, i);
        std::fs::write(&cfg, text).map_err(|e| io("cannot write", &cfg, e))?;
    }
    Ok(root)
}

/// The zoo.cfg of node `index` (from 0).
fn zoo_cfg(tick_time: u32, data: &Path, ports: &[Ports], index: usize) -> String {
    let mut text = format!(
        "# Written by `zooid ensemble`; rewritten on every start.\n\
         tickTime={tick_time}\ninitLimit=10\nsyncLimit=5\n\
         dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\n\
         4lw.commands.whitelist=*\n\
         admin.enableServer=false\n",
        data.display(),
        ports[index].client
    );
    for (i, p) in ports.iter().enumerate() {
        text.push_str(&format!(
            "server.{}=127.0.0.1:{}:{};127.0.0.1:{}\n",
            i + 1,
            p.quorum,
            p.election,
            p.client
        ));
    }
    text
}

fn spawn_node(root: &Path, id: usize, client_port: u16) -> std::io::Result<Node> {
    let dir = root.join(format!("node{id}"));
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))?;
    let child = Command::new(std::env::current_exe()?)
        .arg("server")
        .arg(dir.join("zoo.cfg"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()?;
    Ok(Node {
        id,
        client_port,
        dir,
        child,
        exited: false,
    })
}

/// Polls `srvr` on every node until all of them serve with one leader among them (or
/// the single node serves standalone); returns each node's mode.
async fn wait_serving(nodes: &mut [Node], deadline: Instant) -> Result<Vec<String>, String> {
    loop {
        for n in nodes.iter_mut() {
            if let Ok(Some(status)) = n.child.try_wait() {
                n.exited = true;
                return Err(format!(
                    "node {} exited ({status}) while starting; the end of {}:\n{}",
                    n.id,
                    n.dir.join("server.log").display(),
                    log_tail(&n.dir)
                ));
            }
        }
        let mut modes = Vec::with_capacity(nodes.len());
        for n in nodes.iter() {
            modes.push(mode(n.client_port).await);
        }
        if all_serving(&modes) {
            return Ok(modes.into_iter().flatten().collect());
        }
        if Instant::now() >= deadline {
            let seen: Vec<String> = modes
                .iter()
                .zip(nodes.iter())
                .map(|(m, n)| format!("node {}: {}", n.id, m.as_deref().unwrap_or("no answer")))
                .collect();
            return Err(format!(
                "the nodes did not all serve in time ({}); their logs are under {}",
                seen.join(", "),
                nodes[0].dir.parent().unwrap_or(&nodes[0].dir).display()
            ));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn all_serving(modes: &[Option<String>]) -> bool {
    if modes.len() == 1 {
        return modes[0].as_deref() == Some("standalone");
    }
    let leaders = modes
        .iter()
        .filter(|m| m.as_deref() == Some("leader"))
        .count();
    leaders == 1
        && modes
            .iter()
            .all(|m| matches!(m.as_deref(), Some("leader" | "follower")))
}

/// The `Mode:` line of a node's `srvr` reply, or `None` when it does not answer.
async fn mode(port: u16) -> Option<String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"srvr").await?;
        let mut out = String::new();
        (&mut s)
            .take(SRVR_REPLY_BYTES_MAX)
            .read_to_string(&mut out)
            .await?;
        Ok::<_, std::io::Error>(out)
    };
    let out = tokio::time::timeout(SRVR_TIMEOUT, exchange)
        .await
        .ok()?
        .ok()?;
    out.lines()
        .find_map(|l| l.strip_prefix("Mode: ").map(|m| m.trim().to_owned()))
}

fn print_ready(root: &Path, nodes: &[Node], modes: &[String]) {
    let connect: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.client_port))
        .collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "zooid ensemble: {} nodes under {}",
        nodes.len(),
        root.display()
    );
    for (n, m) in nodes.iter().zip(modes) {
        let _ = writeln!(
            out,
            "node {}: 127.0.0.1:{} {m} (pid {}, log {})",
            n.id,
            n.client_port,
            n.child.id(),
            n.dir.join("server.log").display()
        );
    }
    let _ = writeln!(out, "connect string: {}", connect.join(","));
    let _ = out.flush();
}

/// Reports children that exit on their own while the ensemble runs; returns only when
/// every one of them is gone.
async fn watch_children(nodes: &mut [Node]) {
    loop {
        for n in nodes.iter_mut().filter(|n| !n.exited) {
            if let Ok(Some(status)) = n.child.try_wait() {
                n.exited = true;
                eprintln!(
                    "zooid ensemble: node {} exited ({status}); see {}",
                    n.id,
                    n.dir.join("server.log").display()
                );
            }
        }
        if nodes.iter().all(|n| n.exited) {
            eprintln!("zooid ensemble: every node has exited");
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// SIGTERMs every child, waits up to [`STOP_GRACE`] for them, then SIGKILLs the rest.
async fn stop(nodes: &mut [Node]) {
    for n in nodes.iter_mut() {
        if matches!(n.child.try_wait(), Ok(None)) {
            terminate(&n.child);
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        let mut running = 0;
        for n in nodes.iter_mut() {
            if matches!(n.child.try_wait(), Ok(None)) {
                running += 1;
            }
        }
        if running == 0 {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in nodes.iter_mut() {
        if matches!(n.child.try_wait(), Ok(None)) {
            eprintln!(
                "zooid ensemble: node {} did not stop within {STOP_GRACE:?}; killing it",
                n.id
            );
            let _ = n.child.kill();
            let _ = n.child.wait();
        }
    }
}

#[cfg(unix)]
fn terminate(child: &Child) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers; the pid is our own child, not yet reaped
    // (try_wait returned None), so it cannot name another process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {
    // No SIGTERM: the grace period passes and the child is killed.
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let mut start = text.len().saturating_sub(LOG_TAIL_BYTES_MAX);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_follow_zookeepers_documentation() {
        let args = EnsembleArgs {
            nodes: 3,
            dir: PathBuf::from("x"),
            base_port: 2181,
            free_ports: false,
            wait_secs: 1,
            tick_time: 2000,
        };
        let p = choose_ports(&args).unwrap();
        let got: Vec<(u16, u16, u16)> =
            p.iter().map(|p| (p.client, p.quorum, p.election)).collect();
        assert_eq!(
            got,
            [(2181, 2888, 3888), (2182, 2889, 3889), (2183, 2890, 3890)]
        );
        let text = zoo_cfg(2000, Path::new("/d/node2/data"), &p, 1);
        assert!(text.contains("clientPort=2182\n"), "{text}");
        assert!(
            text.contains("server.3=127.0.0.1:2890:3890;127.0.0.1:2183\n"),
            "{text}"
        );
        let high = EnsembleArgs {
            base_port: 65000,
            ..args
        };
        assert!(choose_ports(&high).is_err());
    }

    #[test]
    fn serving_needs_one_leader_and_every_node() {
        let m = |v: &[Option<&str>]| v.iter().map(|m| m.map(str::to_owned)).collect::<Vec<_>>();
        assert!(all_serving(&m(&[
            Some("leader"),
            Some("follower"),
            Some("follower")
        ])));
        assert!(!all_serving(&m(&[Some("leader"), Some("follower"), None])));
        assert!(!all_serving(&m(&[
            Some("follower"),
            Some("follower"),
            Some("follower")
        ])));
        assert!(all_serving(&m(&[Some("standalone")])));
        assert!(!all_serving(&m(&[Some("standalone"), Some("standalone")])));
    }
}
