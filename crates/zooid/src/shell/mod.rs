//! `zooid shell`: a zkCli-compatible shell (`ZooKeeperMain`). With a command after the
//! options it runs that one command and exits with zkCli's code (0, 1 for a failed command,
//! 127 for an unknown one); without, it reads commands interactively with line editing,
//! history and completion of command names and znode paths.

mod commands;
mod complete;
mod format;
mod parse;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zookeeper_client as zk;

/// How long closing waits for the server to end the session; a dead server must not hold
/// the shell.
const CLOSE_WAIT_MAX: Duration = Duration::from_secs(5);

/// Arguments as zkCli takes them: `-server host:port[,host:port]`, `-timeout ms`, `-r`,
/// `-waitforconnection`, then an optional command and its words.
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
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: 1,
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
    /// Shared with the completer, which lists children while a line is typed.
    client: Arc<Mutex<Option<zk::Client>>>,
    print_watches: Arc<AtomicBool>,
    /// Tasks waiting on a watcher; aborting one drops (removes) its watcher.
    watches: Mutex<Vec<(String, WatchKind, tokio::task::AbortHandle)>>,
}

impl Session {
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The live client, or zkCli's ConnectionLoss when there is none.
    pub fn client(&self) -> Result<zk::Client, CliError> {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .clone()
            .ok_or_else(|| CliError::new("KeeperErrorCode = ConnectionLoss"))
    }

    fn alive(&self) -> bool {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(|c| !c.state().is_terminated())
    }

    /// zkCli's prompt state name.
    fn state_name(&self) -> &'static str {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref().map(|c| c.state()) {
            None => "CLOSED",
            Some(zk::SessionState::SyncConnected) => "CONNECTED",
            Some(zk::SessionState::ConnectedReadOnly) => "CONNECTEDREADONLY",
            Some(zk::SessionState::Disconnected) => "CONNECTING",
            Some(zk::SessionState::AuthFailed) => "AUTH_FAILED",
            Some(_) => "CLOSED",
        }
    }

    /// Connects to `host` (closing any previous session) and prints the connected event as
    /// zkCli's default watcher does; false when no server answered.
    fn connect(&mut self, host: &str) -> bool {
        self.close();
        self.host = host.to_owned();
        let connector = zk::Client::connector()
            .with_session_timeout(Duration::from_millis(self.timeout_ms))
            .with_connection_timeout(Duration::from_millis(self.timeout_ms))
            .with_readonly(self.readonly);
        match self.rt.block_on(connector.connect(host)) {
            Ok(c) => {
                *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
                if self.print_watches.load(Ordering::Relaxed) {
                    println!(
                        "{}",
                        format::event_text("SyncConnected", "None", "null", -1)
                    );
                }
                true
            }
            Err(_) => {
                // Whatever stopped the connection, zkCli's request fails as ConnectionLoss.
                eprintln!("KeeperErrorCode = ConnectionLoss");
                false
            }
        }
    }

    fn close(&self) {
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
            // makes the ephemerals go before the next command or the exit, as with zkCli.
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
}

/// Runs `zooid shell`.
pub fn run(args: ShellArgs) -> ExitCode {
    let mut server = "localhost:2181".to_owned();
    let mut timeout_ms = 30_000u64;
    let mut readonly = false;
    let mut words = args.args.into_iter().peekable();
    while let Some(w) = words.next_if(|w| w.starts_with('-')) {
        let value = match w.as_str() {
            "-server" | "-timeout" | "-client-configuration" => match words.next() {
                Some(v) => Some(v),
                None => {
                    eprintln!("Error: no argument found for option {w}");
                    return ExitCode::from(1);
                }
            },
            _ => None,
        };
        match (w.as_str(), value) {
            ("-server", Some(v)) => server = v,
            ("-timeout", Some(v)) => timeout_ms = v.parse().unwrap_or(timeout_ms),
            ("-r", _) => readonly = true,
            _ => {}
        }
    }
    let command: Vec<String> = words.collect();
    // The client library logs each session at INFO; zkCli's output has none of that, so the
    // shell's threads log nowhere.
    let _quiet = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(|| {
            std::mem::forget(tracing::subscriber::set_default(
                tracing::subscriber::NoSubscriber::default(),
            ))
        })
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zooid: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut shell = Shell {
        session: Session {
            rt,
            host: String::new(),
            timeout_ms,
            readonly,
            client: Arc::new(Mutex::new(None)),
            print_watches: Arc::new(AtomicBool::new(true)),
            watches: Mutex::new(Vec::new()),
        },
        history: Vec::new(),
        exit_code: 0,
        quit: false,
    };
    println!("Connecting to {server}");
    let connected = shell.session.connect(&server);
    if command.is_empty() {
        interactive(&mut shell);
    } else if !connected {
        // zkCli sends the command anyway and it fails with ConnectionLoss, code 1.
        shell.exit_code = 1;
    } else {
        shell.process(&command);
    }
    shell.session.close();
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
            Err(e) => {
                self.exit_code = e.exit_code;
                eprintln!("{}", e.message);
            }
        }
    }

    fn process_command(&mut self, words: &[String]) -> Result<(), CliError> {
        let Some(name) = words.first() else {
            usage();
            return Err(CliError::new("No command entered"));
        };
        if name == "help" {
            usage();
            return Ok(());
        }
        let Some(def) = commands::find(name) else {
            usage();
            return Err(CliError {
                message: format!("Command not found: Command not found {name}"),
                exit_code: 127,
            });
        };
        match def.name {
            "quit" => {
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
                if !self.session.connect(&host) {
                    return Ok(());
                }
            }
            _ => {}
        }
        if !self.session.alive() {
            println!("Not connected");
            return Ok(());
        }
        match def.name {
            "history" | "printwatches" | "connect" | "redo" => Ok(()),
            _ => commands::run(&self.session, def, words),
        }
    }

    fn redo(&mut self, index: &str) -> Result<(), CliError> {
        let count = self.history.len().saturating_sub(1);
        let i = parse_java_int(index).ok_or_else(|| {
            CliError::new(format!(
                "java.lang.NumberFormatException: For input string: \"{index}\""
            ))
        })?;
        if i < 0 || i as usize >= count {
            return Err(CliError::new("Command index out of range"));
        }
        let line = self.history[i as usize].clone();
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

/// `Integer.decode`: decimal, `0x` hex or leading-zero octal.
fn parse_java_int(s: &str) -> Option<i64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(hex, 16).ok()
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()
    } else {
        s.parse().ok()
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
