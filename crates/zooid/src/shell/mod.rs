//! `zooid shell`: a zkCli-compatible shell (`ZooKeeperMain` of ZooKeeper 3.9). With a
//! command after the options it runs that one command and exits with zkCli's code (0, 1
//! for a failed command, 127 for an unknown one, 2 for an unreadable client
//! configuration or TLS settings in it that cannot be used); without, it reads commands
//! interactively with line editing, history and completion of command names and znode
//! paths. `zookeeper.client.secure=true` in the client configuration connects with TLS
//! (see `crate::client_config` for the keys).

mod commands;
mod complete;
mod config;
mod format;
pub(crate) mod java;
mod parse;
mod quota;
mod walk;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zookeeper_client as zk;

use crate::client_config::{self, ClientConfig, TlsClient, TlsSetupError};

/// How long closing waits for the server to end the session; a dead server must not hold
/// the shell.
const CLOSE_WAIT_MAX: Duration = Duration::from_secs(5);

/// Arguments as zkCli takes them: `-server host:port[,host:port]`, `-timeout ms`, `-r`,
/// `-waitforconnection`, `-client-configuration file`, then an optional command and its
/// words.
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct ShellArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<String>,
}

/// A failed command: zkCli's message (printed to stderr) and exit code.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub exit_code: u8,
    /// A Java exception zkCli does not catch: the JVM prints it as the main thread's and
    /// exits with 1, ending an interactive session too.
    pub uncaught: bool,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: 1,
            uncaught: false,
        }
    }

    /// `message` is the exception's `toString`: its class, a colon, its message.
    pub fn uncaught(message: impl Into<String>) -> CliError {
        CliError {
            uncaught: true,
            ..CliError::new(message)
        }
    }
}

/// The kinds of watch `removewatches` tells apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WatchKind {
    Data,
    Child,
    Persistent,
    Recursive,
}

/// The connection and the watches this shell set.
pub struct Session {
    rt: tokio::runtime::Runtime,
    host: String,
    timeout_ms: u64,
    readonly: bool,
    /// `-waitforconnection`: a connect that does not succeed within the timeout is fatal.
    /// Without it, as zkCli's client keeps trying in the background, the shell stays
    /// "connecting", requests fail with ConnectionLoss, and the next interactive command
    /// tries again.
    wait_for_connection: bool,
    /// No session yet, but one is wanted (zkCli's CONNECTING state).
    connecting: bool,
    /// Credentials given to addauth while connecting, sent when the session opens.
    pending_auth: Mutex<Vec<(String, Vec<u8>)>>,
    /// Shared with the completer, which lists children while a line is typed.
    client: Arc<Mutex<Option<zk::Client>>>,
    /// `zookeeper.client.secure=true` in the client configuration: every server is
    /// dialled with TLS.
    tls: Option<ShellTls>,
    print_watches: Arc<AtomicBool>,
    /// Tasks waiting on a watcher; aborting one drops (removes) its watcher.
    watches: Mutex<Vec<(String, WatchKind, tokio::task::AbortHandle)>>,
}

impl Session {
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The live client, or the ConnectionLoss zkCli's requests fail with while connecting.
    pub fn client(&self) -> Result<zk::Client, zk::Error> {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        guard.clone().ok_or(zk::Error::ConnectionLoss)
    }

    fn has_client(&self) -> bool {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        guard.is_some()
    }

    /// zkCli's `getState().isAlive()`.
    fn alive(&self) -> bool {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(c) => !c.state().is_terminated(),
            None => self.connecting,
        }
    }

    /// zkCli's prompt state name.
    fn state_name(&self) -> &'static str {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref().map(|c| c.state()) {
            None if self.connecting => "CONNECTING",
            None => "CLOSED",
            Some(zk::SessionState::SyncConnected) => "CONNECTED",
            Some(zk::SessionState::ConnectedReadOnly) => "CONNECTEDREADONLY",
            Some(zk::SessionState::Disconnected) => "CONNECTING",
            Some(zk::SessionState::AuthFailed) => "AUTH_FAILED",
            Some(_) => "CLOSED",
        }
    }

    /// zkCli's `connectToZK`: closes any previous session and opens one to `host`. Only
    /// with `-waitforconnection` is a server that does not answer an error (the uncaught
    /// IOException zkCli ends with).
    fn connect(&mut self, host: &str) -> Result<(), CliError> {
        self.close(true);
        self.host = host.to_owned();
        self.connecting = true;
        if self.try_connect() || !self.wait_for_connection {
            return Ok(());
        }
        // zkCli closes the client it waited for, which reports the Closed state.
        self.connecting = false;
        if self.print_watches.load(Ordering::Relaxed) {
            println!("{}", format::event_text("Closed", "None", "null", -1));
        }
        // The exception and its cause, as the JVM prints them without the frames.
        Err(CliError::uncaught(
            "java.io.IOException: org.apache.zookeeper.KeeperException$ConnectionLossException: \
             KeeperErrorCode = ConnectionLoss\nCaused by: \
             org.apache.zookeeper.KeeperException$ConnectionLossException: \
             KeeperErrorCode = ConnectionLoss",
        ))
    }

    /// One attempt to open the session wanted; prints the connected event as zkCli's
    /// default watcher does. Without `-waitforconnection` it gives up once every host
    /// refused, as a zkCli request fails when its connection attempt does.
    fn try_connect(&mut self) -> bool {
        let mut connector = zk::Client::connector()
            .with_session_timeout(Duration::from_millis(self.timeout_ms))
            .with_connection_timeout(Duration::from_millis(self.timeout_ms))
            .with_readonly(self.readonly);
        if !self.wait_for_connection {
            connector = connector.with_fail_eagerly();
        }
        let auth = self.pending_auth.lock().unwrap_or_else(|e| e.into_inner());
        for (scheme, secret) in auth.iter() {
            connector = connector.with_auth(scheme, secret);
        }
        drop(auth);
        let connected = match &self.tls {
            Some(tls) => self.rt.block_on(
                connector
                    .with_tls(tls.options.clone())
                    .secure_connect(&self.host),
            ),
            None => self.rt.block_on(connector.connect(&self.host)),
        };
        let Ok(c) = connected else {
            if let Some(tls) = &self.tls {
                tls.explain_failure(&self.rt, &self.host);
            }
            return false;
        };
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
        self.connecting = false;
        self.pending_auth
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        if self.print_watches.load(Ordering::Relaxed) {
            println!(
                "{}",
                format::event_text("SyncConnected", "None", "null", -1)
            );
        }
        true
    }

    /// `addAuthInfo`: sent now, or when the session opens.
    pub fn add_auth(&self, scheme: &str, auth: &[u8]) {
        match self.client() {
            // zkCli does not wait for the reply; a failed auth shows as the session's state.
            Ok(c) => {
                let _ = self.block_on(c.auth(scheme, auth));
            }
            Err(_) => self
                .pending_auth
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((scheme.to_owned(), auth.to_vec())),
        }
    }

    /// Ends the session. zkCli's `close`, `quit` and `connect` close a live client, which
    /// reports the Closed state (`announce`); a one-shot run ends without closing, so the
    /// shell's own close at the end is silent.
    fn close(&mut self, announce: bool) {
        if announce && self.alive() && self.print_watches.load(Ordering::Relaxed) {
            println!("{}", format::event_text("Closed", "None", "null", -1));
        }
        self.connecting = false;
        self.close_client();
    }

    fn close_client(&self) {
        for (_, _, task) in self
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        let old = self.client.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(c) = old {
            // Dropping the last client sends CloseSession; waiting for the Closed state
            // makes the ephemerals go before the next command or the exit.
            let mut state = c.state_watcher();
            drop(c);
            let closed = async move {
                while !state.peek_state().is_terminated() {
                    state.changed().await;
                }
            };
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(CLOSE_WAIT_MAX, closed).await });
        }
    }

    /// Prints the event of a one-time watch when it fires.
    pub fn watch_once(&self, path: &str, kind: WatchKind, w: zk::OneshotWatcher) {
        let print = self.print_watches.clone();
        let task = self.rt.spawn(async move {
            let event = w.changed().await;
            if print.load(Ordering::Relaxed) {
                println!("{}", format::watched_event(&event));
            }
        });
        self.track(path, kind, task.abort_handle());
    }

    /// Prints every event of a persistent watch until it is removed or the session ends.
    pub fn watch_persistent(&self, path: &str, kind: WatchKind, mut w: zk::PersistentWatcher) {
        let print = self.print_watches.clone();
        let task = self.rt.spawn(async move {
            loop {
                let event = w.changed().await;
                if print.load(Ordering::Relaxed) {
                    println!("{}", format::watched_event(&event));
                }
                if event.session_state.is_terminated() {
                    return;
                }
            }
        });
        self.track(path, kind, task.abort_handle());
    }

    fn track(&self, path: &str, kind: WatchKind, task: tokio::task::AbortHandle) {
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.retain(|(_, _, t)| !t.is_finished());
        watches.push((path.to_owned(), kind, task));
    }

    /// Removes this shell's watches of the given kinds on `path`; returns how many.
    pub fn remove_watches(&self, path: &str, kinds: &[WatchKind]) -> usize {
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.retain(|(_, _, t)| !t.is_finished());
        let before = watches.len();
        watches.retain(|(p, k, t)| {
            let hit = p == path && kinds.contains(k);
            if hit {
                t.abort();
            }
            !hit
        });
        before - watches.len()
    }
}

/// The shell's state between lines: the session, zkCli's numbered history, the exit code.
struct Shell {
    session: Session,
    history: Vec<String>,
    exit_code: u8,
    quit: bool,
    /// Interactive sessions retry a failed connect before each command.
    interactive: bool,
}

/// zkCli's options before the command (`MyCommandOptions.parseOptions`).
struct Options {
    server: String,
    timeout: String,
    readonly: bool,
    wait_for_connection: bool,
    client_configuration: Option<String>,
    command: Vec<String>,
}

/// Options until the first word not starting with `-`, which begins the command; unknown
/// options are ignored. An option missing its value is reported and ends the parsing, and
/// zkCli then runs interactively with what it has.
fn parse_options(args: Vec<String>) -> Options {
    let mut o = Options {
        server: "localhost:2181".to_owned(),
        timeout: "30000".to_owned(),
        readonly: false,
        wait_for_connection: false,
        client_configuration: None,
        command: Vec::new(),
    };
    let mut words = args.into_iter();
    while let Some(opt) = words.next() {
        let slot = match opt.as_str() {
            "-server" => Some(&mut o.server),
            "-timeout" => Some(&mut o.timeout),
            "-client-configuration" => Some(o.client_configuration.insert(String::new())),
            _ => None,
        };
        if let Some(slot) = slot {
            let Some(value) = words.next() else {
                eprintln!("Error: no argument found for option {opt}");
                if opt == "-client-configuration" {
                    o.client_configuration = None;
                }
                return o;
            };
            *slot = value;
        }
        match opt.as_str() {
            "-r" => o.readonly = true,
            "-waitforconnection" => o.wait_for_connection = true,
            _ if !opt.starts_with('-') => {
                o.command = std::iter::once(opt).chain(words).collect();
                return o;
            }
            _ => {}
        }
    }
    o
}

/// The TLS side of the shell's connections.
struct ShellTls {
    /// What the client library dials with.
    options: zk::TlsOptions,
    /// The same settings for our own handshake, which says why a connection failed (the
    /// client library only reports that it did).
    probe: tokio_rustls::TlsConnector,
}

/// How long the probe of one server may take.
const PROBE_WAIT_MAX: Duration = Duration::from_secs(5);

impl ShellTls {
    /// The TLS a client configuration asks for. The client library cannot turn off host
    /// name verification without `unsafe`, so the shell refuses to.
    fn from_config(cfg: &ClientConfig) -> Result<Option<ShellTls>, TlsSetupError> {
        let Some(client) = TlsClient::from_config(cfg)? else {
            return Ok(None);
        };
        let bad = |key: &str, e: zk::Error| TlsSetupError {
            key: key.to_owned(),
            reason: e.to_string(),
        };
        if !client.hostname_verification {
            return Err(TlsSetupError {
                key: "zookeeper.ssl.hostnameVerification".to_owned(),
                reason: "zooid shell cannot turn host name verification off; use a server \
                         certificate whose subjectAltName names the host given to -server"
                    .to_owned(),
            });
        }
        let mut options = zk::TlsOptions::new()
            .with_pem_ca(&client.trust_pem)
            .map_err(|e| bad("zookeeper.ssl.trustStore.location", e))?;
        if let Some(id) = &client.identity {
            options = options
                .with_pem_identity(&id.cert_pem, &id.key_pem)
                .map_err(|e| bad("zookeeper.ssl.keyStore.location", e))?;
        }
        // The client library builds its rustls config from the process's default
        // provider: make that ring with the configured cipher suites. Only the first
        // install counts, and the shell makes one.
        let _ = client.crypto_provider().install_default();
        let probe = tokio_rustls::TlsConnector::from(client.rustls_config()?);
        Ok(Some(ShellTls { options, probe }))
    }

    /// Prints why TLS to each server of `hosts` (a connect string) fails, if it does.
    fn explain_failure(&self, rt: &tokio::runtime::Runtime, hosts: &str) {
        let hosts = hosts.split('/').next().unwrap_or(hosts);
        for addr in hosts.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let probe = client_config::diagnose(&self.probe, addr);
            let probe = async { tokio::time::timeout(PROBE_WAIT_MAX, probe).await };
            if let Ok(Some(why)) = rt.block_on(probe) {
                eprintln!("{why}");
            }
        }
    }
}

/// Runs `zooid shell`.
pub fn run(args: ShellArgs) -> ExitCode {
    let opts = parse_options(args.args);
    // The client library logs each session at INFO; zkCli's output has none of that, so the
    // shell's threads log nowhere.
    let _quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    let rt = match crate::runtime(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .on_thread_start(|| {
                std::mem::forget(tracing::subscriber::set_default(
                    tracing::subscriber::NoSubscriber::default(),
                ))
            })
            .enable_all(),
        "zooid",
    ) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    println!("Connecting to {}", opts.server);
    let tls = match opts.client_configuration.as_deref().map(ClientConfig::load) {
        None => None,
        Some(Err(trace)) => {
            eprintln!("{trace}");
            return ExitCode::from(2);
        }
        Some(Ok(cfg)) => match ShellTls::from_config(&cfg) {
            Ok(tls) => tls,
            Err(e) => {
                eprintln!("zooid shell: cannot use the client configuration: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let timeout_ms = match java::parse_int(&opts.timeout) {
        // A negative timeout is Java's to misread; here it is no time at all.
        Ok(t) => u64::try_from(t).unwrap_or(0),
        Err(m) => {
            eprintln!("Exception in thread \"main\" java.lang.NumberFormatException: {m}");
            return ExitCode::from(1);
        }
    };
    let mut shell = Shell {
        session: Session {
            rt,
            host: String::new(),
            timeout_ms,
            readonly: opts.readonly,
            wait_for_connection: opts.wait_for_connection,
            connecting: false,
            pending_auth: Mutex::new(Vec::new()),
            client: Arc::new(Mutex::new(None)),
            tls,
            print_watches: Arc::new(AtomicBool::new(true)),
            watches: Mutex::new(Vec::new()),
        },
        history: Vec::new(),
        exit_code: 0,
        quit: false,
        interactive: opts.command.is_empty(),
    };
    match shell.session.connect(&opts.server) {
        Err(e) => shell.fail(e),
        Ok(()) if shell.interactive => interactive(&mut shell),
        // Without a session the command still runs, and its requests fail as zkCli's do.
        Ok(()) => shell.process(&opts.command),
    }
    shell.session.close(false);
    ExitCode::from(shell.exit_code)
}

fn interactive(shell: &mut Shell) {
    println!("Welcome to ZooKeeper!");
    println!("JLine support is enabled");
    let helper = complete::Helper::new(
        shell.session.client.clone(),
        shell.session.rt.handle().clone(),
    );
    let mut editor = match rustyline::Editor::<complete::Helper, _>::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("zooid shell: cannot start line editing: {e}");
            return;
        }
    };
    editor.set_helper(Some(helper));
    while !shell.quit {
        let prompt = format!(
            "[zk: {}({}) {}] ",
            shell.session.host,
            shell.session.state_name(),
            shell.history.len()
        );
        match editor.readline(&prompt) {
            Ok(line) => {
                if line.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(line.as_str());
                shell.history.push(line.clone());
                shell.process(&parse::tokenize(&line));
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
}

impl Shell {
    /// zkCli's `processCmd`: runs one command and records its exit code, printing the
    /// message of a failure to stderr.
    fn process(&mut self, words: &[String]) {
        match self.process_command(words) {
            // zkCli's quit exits with the code the command before it left.
            Ok(()) if self.quit => {}
            Ok(()) => self.exit_code = 0,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: CliError) {
        self.exit_code = e.exit_code;
        if e.uncaught {
            eprintln!("Exception in thread \"main\" {}", e.message);
            self.quit = true;
        } else {
            eprintln!("{}", e.message);
        }
    }

    fn process_command(&mut self, words: &[String]) -> Result<(), CliError> {
        let Some(name) = words.first() else {
            usage();
            return Err(CliError::new("No command entered"));
        };
        let Some(def) = commands::find(name) else {
            usage();
            return Err(CliError {
                exit_code: 127,
                ..CliError::new(format!("Command not found: Command not found {name}"))
            });
        };
        match def.name {
            "quit" => {
                self.session.close(true);
                self.quit = true;
                return Ok(());
            }
            "redo" if words.len() >= 2 => return self.redo(&words[1]),
            "history" => {
                let n = self.history.len();
                for (i, line) in self.history.iter().enumerate().skip(n.saturating_sub(11)) {
                    println!("{i} - {line}");
                }
            }
            "printwatches" => match words.get(1) {
                None => {
                    let on = self.session.print_watches.load(Ordering::Relaxed);
                    println!("printwatches is {}", if on { "on" } else { "off" });
                }
                Some(v) => self
                    .session
                    .print_watches
                    .store(v == "on", Ordering::Relaxed),
            },
            "connect" => {
                let host = words
                    .get(1)
                    .cloned()
                    .unwrap_or_else(|| self.session.host.clone());
                self.session.connect(&host)?;
            }
            _ => {}
        }
        let retry = self.interactive && def.name != "connect";
        if retry && self.session.connecting && !self.session.has_client() {
            self.session.try_connect();
        }
        if !self.session.alive() {
            println!("Not connected");
            return Ok(());
        }
        match def.name {
            "history" | "printwatches" | "connect" | "redo" => Ok(()),
            "close" => {
                self.session.close(true);
                Ok(())
            }
            _ => commands::run(&self.session, def, words),
        }
    }

    fn redo(&mut self, index: &str) -> Result<(), CliError> {
        let count = self.history.len().saturating_sub(1);
        // Integer.decode's NumberFormatException escapes zkCli.
        let i = java::decode_int(index).map_err(commands::number_format)?;
        let Some(line) = usize::try_from(i)
            .ok()
            .filter(|&i| i < count)
            .and_then(|i| self.history.get(i).cloned())
        else {
            return Err(CliError::new("Command index out of range"));
        };
        let words = parse::tokenize(&line);
        if words.first().map(String::as_str) == Some("redo") {
            return Err(CliError::new("No redoing redos"));
        }
        if let Some(last) = self.history.last_mut() {
            *last = line;
        }
        self.process(&words);
        Ok(())
    }
}

/// zkCli's `usage()`, on stderr.
fn usage() {
    eprintln!("ZooKeeper -server host:port -client-configuration properties-file cmd args");
    let mut defs: Vec<_> = commands::DEFS.iter().collect();
    defs.sort_by_key(|d| d.name);
    for d in defs {
        eprintln!("\t{} {}", d.name, d.usage);
    }
}
