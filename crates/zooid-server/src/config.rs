//! zoo.cfg: ZooKeeper's configuration file, read the way ZooKeeper 3.9 reads it.
//!
//! # Grammar (`java.util.Properties.load`)
//!
//! ```text
//! file    = { line } ;                      lines end in "\n", "\r" or "\r\n"
//! line    = blank | comment | entry ;
//! comment = ws* ("#" | "!") any* ;          a comment never continues
//! entry   = ws* key [ ws* ("=" | ":") ] ws* value ;
//! key     = chars up to the first unescaped "=", ":" or ws ;
//! value   = the rest of the logical line ;  a line ending in an odd number of "\"
//!                                           continues on the next one, minus its
//!                                           leading ws
//! escape  = "\t" | "\n" | "\r" | "\f" | "\uXXXX" | "\" c   (c stands for itself)
//! ws      = " " | "\t" | "\f" ;
//! ```
//!
//! ZooKeeper then trims every key and value (`String.trim`: all chars up to U+0020), and a
//! key given twice keeps its last value.
//!
//! # Meaning
//!
//! `QuorumPeerConfig` handles a fixed set of keys (`tickTime`, `dataDir`, `server.N`, ...);
//! any other key `k` becomes the Java system property `zookeeper.k`. Zooid has no JVM, so the
//! file is the one place for all of them. A system-property setting is accepted as `k`
//! (ZooKeeper's spelling in zoo.cfg), under its full property name (`zookeeper.k`, what
//! people pass with `-D`), under the name zookeeperAdmin.md gives it when that differs
//! (`requestThrottleLimit`), and — for the few properties ZooKeeper reads without the prefix
//! (`jute.maxbuffer`, `znode.container.*`, `readonlymode.enabled`), which ZooKeeper cannot
//! take from zoo.cfg at all — under that bare name.
//!
//! Settings Zooid acts on are typed fields of [`Config`]; the other documented ones are
//! checked and kept in [`Config::other`] under their canonical name; unknown keys give a
//! warning (ZooKeeper silently turns them into properties nobody reads).
//!
//! Where Zooid is stricter than ZooKeeper, on purpose: a number that does not parse is an
//! error even for settings ZooKeeper reads with `Integer.getInteger` (which falls back to
//! the default without a word), negative counts and sizes are errors, and the file is read
//! as UTF-8 when it is valid UTF-8 (ZooKeeper reads ISO-8859-1, so it mangles non-ASCII
//! paths).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// `ZooKeeperServer.DEFAULT_TICK_TIME`.
pub const DEFAULT_TICK_TIME_MS: u32 = 3000;
/// Where the data goes when the server runs without a config file.
pub const DEFAULT_DATA_DIR: &str = "./zooid-data";
/// The subdirectory of dataDir and dataLogDir that holds snapshots and txn logs
/// (`FileTxnSnapLog.version` + `VERSION`).
pub const VERSION_DIR: &str = "version-2";
/// Every four letter word ZooKeeper 3.9 knows (`FourLetterCommands.cmd2String`).
#[rustfmt::skip]
pub const FOUR_LETTER_WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr",
    "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];
/// The fewest snapshots autopurge keeps (`QuorumPeerConfig.MIN_SNAP_RETAIN_COUNT`).
const SNAP_RETAIN_COUNT_MIN: u32 = 3;
/// `SyncRequestProcessor` needs a snapCount of at least 2 (`ZooKeeperServer.getSnapCount`).
const SNAP_COUNT_MIN: u32 = 2;
/// `ZKDatabase.DEFAULT_COMMIT_LOG_COUNT`, also the smallest value ZooKeeper accepts.
const COMMIT_LOG_COUNT_MIN: u32 = 500;

/// The server configuration: ZooKeeper's defaults, overridden by zoo.cfg.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    // --- Client listener and sessions ---
    /// `tickTime`: the basic time unit in milliseconds.
    pub tick_time_ms: u32,
    /// `dataDir`: snapshots (and the txn log unless `dataLogDir` is set), kept as written:
    /// a relative path is relative to the working directory, as in ZooKeeper.
    pub data_dir: PathBuf,
    /// `dataLogDir`: the txn log directory; `None` means `data_dir`.
    pub data_log_dir: Option<PathBuf>,
    /// `clientPort` (0 asks the OS for a free port).
    pub client_port: u16,
    /// `clientPortAddress`; `None` listens on every address.
    pub client_port_address: Option<IpAddr>,
    /// `secureClientPort`: the TLS client port, if any.
    pub secure_client_port: Option<u16>,
    /// `secureClientPortAddress`.
    pub secure_client_port_address: Option<IpAddr>,
    /// `clientPortListenBacklog`; `None` (-1 in the file) leaves it to the OS.
    pub client_port_listen_backlog: Option<u32>,
    /// `maxClientCnxns`: concurrent connections per client IP; 0 is unlimited.
    pub max_client_cnxns: u32,
    /// `maxCnxns` (`zookeeper.maxCnxns`): concurrent connections in total; 0 is unlimited.
    pub max_cnxns: u32,
    /// `minSessionTimeout`, resolved: 2 × tickTime unless set (-1 in the file means unset).
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout`, resolved: 20 × tickTime unless set.
    pub max_session_timeout_ms: u32,
    /// `globalOutstandingLimit`: queued requests before the server throttles reads.
    pub global_outstanding_limit: u32,
    /// `4lw.commands.whitelist`.
    pub four_letter_words: FourLetterWhitelist,
    /// `jute.maxbuffer`: the largest request or znode, in bytes.
    pub jute_maxbuffer: u32,
    /// `jute.maxbuffer.extrasize`: room for what the server adds to a request in its txn;
    /// `None` means the same as `jute_maxbuffer`.
    pub jute_maxbuffer_extrasize: Option<u32>,
    /// `localSessionsEnabled`.
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled`.
    pub local_sessions_upgrading_enabled: bool,
    /// `readonlymode.enabled`: serve read-only clients while out of quorum.
    pub read_only_mode_enabled: bool,

    // --- Znode types, ACLs, quotas ---
    /// `extendedTypesEnabled`: TTL nodes.
    pub extended_types_enabled: bool,
    /// `emulate353TTLNodes`: the TTL encoding of ZooKeeper 3.5.3.
    pub emulate_353_ttl_nodes: bool,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    /// `DigestAuthenticationProvider.enabled`.
    pub digest_auth_enabled: bool,
    /// `skipACL` (only the exact value `yes` turns it on, as in ZooKeeper).
    pub skip_acl: bool,
    /// `enforceQuota`: reject writes over a hard quota.
    pub enforce_quota: bool,
    /// `znode.container.checkIntervalMs`.
    pub container_check_interval_ms: u32,
    /// `znode.container.maxPerMinute`: container and TTL deletions per minute.
    pub container_max_per_minute: u32,
    /// `znode.container.maxNeverUsedIntervalMs`: 0 keeps never-used containers forever.
    pub container_max_never_used_interval_ms: u64,

    // --- Persistence ---
    /// `snapCount`: txns between snapshots (randomised into `[n/2+1, n]`).
    pub snap_count: u32,
    /// `snapSizeLimitInKb`: txn bytes between snapshots; `None` when not positive.
    pub snap_size_limit_kb: Option<u64>,
    /// `txnLogSizeLimitInKb`: roll the txn log at this size; `None` (the default) never.
    pub txn_log_size_limit_kb: Option<u64>,
    /// `preAllocSize`: txn log preallocation block, in KiB.
    pub pre_alloc_size_kb: u64,
    /// `forceSync`: fsync the txn log before acking (only `no` turns it off).
    pub force_sync: bool,
    /// `fsync.warningthresholdms`: log an fsync slower than this.
    pub fsync_warning_threshold_ms: u64,
    /// `commitLogCount`: committed txns kept in memory for DIFF syncs.
    pub commit_log_count: u32,
    /// `digest.enabled`: keep and check the tree digest.
    pub digest_enabled: bool,
    /// `snapshot.trust.empty`: start from txn logs without any snapshot.
    pub snapshot_trust_empty: bool,
    /// `datadir.autocreate`: create missing data directories.
    pub datadir_autocreate: bool,
    /// `db.autocreate`: start with an empty tree when there is no data.
    pub db_autocreate: bool,
    /// `autopurge.snapRetainCount` (at least 3).
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval` in hours; 0 disables autopurge.
    pub autopurge_purge_interval_h: u32,

    // --- Ensemble ---
    /// `initLimit` in ticks; 0 means unset (required in an ensemble).
    pub init_limit: u32,
    /// `syncLimit` in ticks; 0 means unset (required in an ensemble).
    pub sync_limit: u32,
    /// `connectToLearnerMasterLimit` in ticks; 0 means `init_limit`.
    pub connect_to_learner_master_limit: u32,
    /// `server.N` lines, raw (`host:quorumPort:electionPort[:role][;[addr:]clientPort]`).
    pub servers: BTreeMap<u64, String>,
    /// `group.N` lines, raw (hierarchical quorums).
    pub groups: BTreeMap<u64, String>,
    /// `weight.N` lines, raw.
    pub weights: BTreeMap<u64, String>,
    /// `version`: the dynamic configuration version (hex in the file).
    pub config_version: Option<u64>,
    /// `dynamicConfigFile` (not read here).
    pub dynamic_config_file: Option<PathBuf>,
    /// `peerType`.
    pub peer_type: PeerType,
    /// `standaloneEnabled`.
    pub standalone_enabled: bool,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `quorumListenOnAllIPs`.
    pub quorum_listen_on_all_ips: bool,
    /// `observerMasterPort`; `None` when unset or not positive.
    pub observer_master_port: Option<u16>,
    /// `syncEnabled`: observers log txns and take snapshots.
    pub sync_enabled: bool,
    /// `leaderServes`: the leader accepts clients (only `no` turns it off).
    pub leader_serves: bool,

    // --- AdminServer ---
    /// `admin.enableServer` (anything but `false` enables it, as in ZooKeeper).
    pub admin_enable_server: bool,
    /// `admin.serverAddress`.
    pub admin_server_address: IpAddr,
    /// `admin.serverPort`.
    pub admin_server_port: u16,
    /// `admin.idleTimeout`.
    pub admin_idle_timeout_ms: u32,
    /// `admin.commandURL`.
    pub admin_command_url: String,

    /// Every other documented setting, checked and kept under its canonical name (the
    /// Java system property, e.g. `zookeeper.maxResponseCacheSize`, or the zoo.cfg key for
    /// ones without a property, e.g. `metricsProvider.httpPort`). Booleans are normalised
    /// to `true`/`false`.
    pub other: BTreeMap<String, String>,
}

/// Which four letter words the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterWhitelist {
    /// `*`: every command ZooKeeper knows.
    All,
    /// Only these; `srvr` is always in (zkServer.sh needs it), and `isro` when read-only
    /// mode is on, as in ZooKeeper.
    Only(BTreeSet<String>),
}

/// `peerType`: whether this server votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerType {
    Participant,
    Observer,
}

/// Why a configuration could not be read. Every message names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{key} is not set")]
    Missing { key: &'static str },
    #[error("{0}")]
    Inconsistent(String),
}

/// What the `conf` command prints that the file does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfFacts {
    /// The port the client listener is bound to; `None` prints -1, as ZooKeeper does
    /// without a listener.
    pub client_port: Option<u16>,
    /// The port the TLS client listener is bound to.
    pub secure_client_port: Option<u16>,
    /// Bytes under the snapshot directory (recursively).
    pub data_dir_size: u64,
    /// Bytes under the txn log directory (recursively).
    pub data_log_size: u64,
    /// `myid`; a standalone server prints 0.
    pub server_id: u64,
}

impl FourLetterWhitelist {
    /// True if `cmd` may run. `*` allows only the words ZooKeeper knows.
    pub fn allows(&self, cmd: &str) -> bool {
        match self {
            FourLetterWhitelist::All => FOUR_LETTER_WORDS.contains(&cmd),
            FourLetterWhitelist::Only(set) => set.contains(cmd),
        }
    }

    /// Builds the list as `FourLetterCommands.isEnabled` does: comma separated, trimmed,
    /// `*` anywhere means all, `srvr` always, `isro` with read-only mode. Words ZooKeeper
    /// does not know are dropped with a warning.
    fn build(list: Option<&str>, read_only_mode: bool, warnings: &mut Vec<String>) -> Self {
        let mut set = BTreeSet::new();
        for word in list.unwrap_or("").split(',').map(java_trim) {
            if word == "*" {
                return FourLetterWhitelist::All;
            }
            if FOUR_LETTER_WORDS.contains(&word) {
                set.insert(word.to_owned());
            } else if !word.is_empty() {
                warnings.push(format!(
                    "4lw.commands.whitelist: unknown command {word:?} ignored"
                ));
            }
        }
        if read_only_mode {
            set.insert("isro".to_owned());
        }
        set.insert("srvr".to_owned());
        FourLetterWhitelist::Only(set)
    }
}

impl Config {
    /// ZooKeeper's defaults, with `./zooid-data` as the data directory.
    pub fn defaults() -> Config {
        let tick = DEFAULT_TICK_TIME_MS;
        Config {
            tick_time_ms: tick,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            data_log_dir: None,
            client_port: 2181,
            client_port_address: None,
            secure_client_port: None,
            secure_client_port_address: None,
            client_port_listen_backlog: None,
            max_client_cnxns: 60,
            max_cnxns: 0,
            min_session_timeout_ms: 2 * tick,
            max_session_timeout_ms: 20 * tick,
            global_outstanding_limit: 1000,
            four_letter_words: FourLetterWhitelist::build(None, false, &mut Vec::new()),
            jute_maxbuffer: 0xfffff,
            jute_maxbuffer_extrasize: None,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            read_only_mode_enabled: false,
            extended_types_enabled: false,
            emulate_353_ttl_nodes: false,
            super_digest: None,
            digest_auth_enabled: true,
            skip_acl: false,
            enforce_quota: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_interval_ms: 0,
            snap_count: 100_000,
            snap_size_limit_kb: Some(4_194_304),
            txn_log_size_limit_kb: None,
            pre_alloc_size_kb: 65_536,
            force_sync: true,
            fsync_warning_threshold_ms: 1000,
            commit_log_count: COMMIT_LOG_COUNT_MIN,
            digest_enabled: true,
            snapshot_trust_empty: false,
            datadir_autocreate: true,
            db_autocreate: true,
            autopurge_snap_retain_count: SNAP_RETAIN_COUNT_MIN,
            autopurge_purge_interval_h: 0,
            init_limit: 0,
            sync_limit: 0,
            connect_to_learner_master_limit: 0,
            servers: BTreeMap::new(),
            groups: BTreeMap::new(),
            weights: BTreeMap::new(),
            config_version: None,
            dynamic_config_file: None,
            peer_type: PeerType::Participant,
            standalone_enabled: true,
            reconfig_enabled: false,
            quorum_listen_on_all_ips: false,
            observer_master_port: None,
            sync_enabled: true,
            leader_serves: true,
            admin_enable_server: true,
            admin_server_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            admin_server_port: 8080,
            admin_idle_timeout_ms: 30_000,
            admin_command_url: "/commands".to_owned(),
            other: BTreeMap::new(),
        }
    }

    /// Parses the text of a zoo.cfg. `base_dir` is the directory the file lives in; it is
    /// used only to warn that relative paths resolve against the working directory, not
    /// against it (ZooKeeper keeps them relative to the working directory, and so do we).
    /// Returns the configuration and the warnings, for the caller to log.
    pub fn parse(text: &str, base_dir: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let entries = read_properties(text)?;
        let mut parser = Parser::new();
        for (target, name, entry) in resolve_all(&entries, &mut parser.warnings)? {
            parser.apply(target, name, entry)?;
        }
        parser.finish(base_dir)
    }

    /// Reads and parses a zoo.cfg. The bytes are read as UTF-8 when they are valid UTF-8
    /// (a leading byte order mark is dropped), else as ISO-8859-1 like ZooKeeper.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Config::parse(&decode(&bytes), base_dir)
    }

    /// Where snapshots live: `dataDir/version-2`.
    pub fn snap_dir(&self) -> PathBuf {
        self.data_dir.join(VERSION_DIR)
    }

    /// Where txn logs live: `dataLogDir/version-2`, or `dataDir/version-2`.
    pub fn txn_log_dir(&self) -> PathBuf {
        self.data_log_dir
            .as_deref()
            .unwrap_or(&self.data_dir)
            .join(VERSION_DIR)
    }

    /// Voting members among `servers` (those whose role is not `observer`).
    pub fn participant_count(&self) -> usize {
        self.servers.values().filter(|v| !is_observer(v)).count()
    }

    /// True when this configuration describes an ensemble rather than a standalone server
    /// (`QuorumPeerConfig.isDistributed`), judged from the `server.N` lines of this file.
    pub fn is_distributed(&self) -> bool {
        !self.servers.is_empty() && (!self.standalone_enabled || self.participant_count() > 1)
    }

    /// The `conf` four letter word output of a standalone server, in the keys and order of
    /// ZooKeeper 3.8/3.9 `ZooKeeperServer.dumpConf`. The directories are printed absolute
    /// with `version-2`, as ZooKeeper prints its snapshot and log directories.
    pub fn render(&self, facts: &ConfFacts) -> String {
        let port = |p: Option<u16>| p.map_or(-1, i32::from);
        let backlog = self.client_port_listen_backlog.map_or(-1, i64::from);
        let lines = [
            ("clientPort", port(facts.client_port).to_string()),
            (
                "secureClientPort",
                port(facts.secure_client_port).to_string(),
            ),
            ("dataDir", absolute(&self.snap_dir()).display().to_string()),
            ("dataDirSize", facts.data_dir_size.to_string()),
            (
                "dataLogDir",
                absolute(&self.txn_log_dir()).display().to_string(),
            ),
            ("dataLogSize", facts.data_log_size.to_string()),
            ("tickTime", self.tick_time_ms.to_string()),
            ("maxClientCnxns", self.max_client_cnxns.to_string()),
            ("minSessionTimeout", self.min_session_timeout_ms.to_string()),
            ("maxSessionTimeout", self.max_session_timeout_ms.to_string()),
            ("clientPortListenBacklog", backlog.to_string()),
            ("serverId", facts.server_id.to_string()),
        ];
        lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::defaults()
    }
}

/// `File.getAbsolutePath`: joins a relative path to the working directory without
/// normalising it.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_owned();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_owned(),
    }
}

/// True if a raw `server.N` value names the observer role (the last `:` field of an
/// address, before any `;clientPort`).
fn is_observer(server: &str) -> bool {
    let addresses = server.split(';').next().unwrap_or("");
    addresses.split('|').any(|address| {
        let role = address.rsplit(':').next().unwrap_or("");
        java_trim(role).eq_ignore_ascii_case("observer")
    })
}

/// The file's bytes as text: UTF-8 without a BOM when valid, else ISO-8859-1.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

// ---------------------------------------------------------------------------------------
// java.util.Properties

/// One `key=value` of the file, unescaped and trimmed, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    line: usize,
    key: String,
    value: String,
}

/// `String.trim`: strips every char up to U+0020 at both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Reads every entry in file order (duplicates included), as `Properties.load` reads
/// them, then trims keys and values as ZooKeeper does.
fn read_properties(text: &str) -> Result<Vec<Entry>, ConfigError> {
    let mut entries = Vec::new();
    for (line, chars) in logical_lines(text) {
        let (key, value) = split_entry(&chars);
        let syntax = |reason| ConfigError::Syntax { line, reason };
        let key = unescape(key).map_err(syntax)?;
        let value = unescape(value).map_err(syntax)?;
        entries.push(Entry {
            line,
            key: java_trim(&key).to_owned(),
            value: java_trim(&value).to_owned(),
        });
    }
    Ok(entries)
}

/// Splits text into logical lines (`Properties.LineReader`): blank and comment lines are
/// dropped, leading whitespace is skipped, and a line ending in an odd number of
/// backslashes is joined with the next (the backslash and the next line's leading
/// whitespace dropped). Returns each with the number of the line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, Vec<char>)> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut i = 0;
    let mut line_no = 1;
    let mut out = Vec::new();
    // Consumes the line terminator at `i`, if any.
    let newline = |i: &mut usize, line_no: &mut usize| {
        if *i < n {
            if chars[*i] == '\r' && chars.get(*i + 1) == Some(&'\n') {
                *i += 1;
            }
            *i += 1;
            *line_no += 1;
        }
    };
    let is_newline = |c: char| c == '\n' || c == '\r';
    while i < n {
        while i < n && is_ws(chars[i]) {
            i += 1;
        }
        if i == n {
            break;
        }
        let start = line_no;
        if chars[i] == '#' || chars[i] == '!' {
            while i < n && !is_newline(chars[i]) {
                i += 1;
            }
            newline(&mut i, &mut line_no);
            continue;
        }
        let mut buf = Vec::new();
        loop {
            while i < n && !is_newline(chars[i]) {
                buf.push(chars[i]);
                i += 1;
            }
            let backslashes = buf.iter().rev().take_while(|&&c| c == '\\').count();
            let continued = backslashes % 2 == 1;
            if continued {
                buf.pop();
            }
            newline(&mut i, &mut line_no);
            if !continued || i == n {
                break;
            }
            while i < n && is_ws(chars[i]) {
                i += 1;
            }
        }
        if !buf.is_empty() {
            out.push((start, buf));
        }
    }
    out
}

/// Splits a logical line into its still-escaped key and value (`Properties.load0`): the
/// key ends at the first unescaped `=`, `:` or whitespace; then whitespace and at most one
/// `=` or `:` are skipped.
fn split_entry(line: &[char]) -> (&[char], &[char]) {
    let mut key_len = 0;
    let mut value_start = line.len();
    let mut has_sep = false;
    let mut escaped = false;
    while key_len < line.len() {
        let c = line[key_len];
        if !escaped && (c == '=' || c == ':') {
            value_start = key_len + 1;
            has_sep = true;
            break;
        }
        if !escaped && is_ws(c) {
            value_start = key_len + 1;
            break;
        }
        escaped = c == '\\' && !escaped;
        key_len += 1;
    }
    while value_start < line.len() {
        let c = line[value_start];
        if !is_ws(c) {
            if !has_sep && (c == '=' || c == ':') {
                has_sep = true;
            } else {
                break;
            }
        }
        value_start += 1;
    }
    (&line[..key_len], &line[value_start..])
}

/// Resolves escapes (`Properties.loadConvert`). `\uXXXX` must have four hex digits;
/// UTF-16 surrogate pairs are joined, a lone surrogate is an error.
fn unescape(chars: &[char]) -> Result<String, String> {
    let mut out = String::with_capacity(chars.len());
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            flush_utf16(&mut units, &mut out)?;
            out.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else { break };
        i += 1;
        if e == 'u' {
            let hex: String = chars.get(i..i + 4).unwrap_or(&[]).iter().collect();
            let unit = (hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()))
                .then(|| u16::from_str_radix(&hex, 16).ok())
                .flatten()
                .ok_or_else(|| "malformed \\uxxxx encoding".to_owned())?;
            units.push(unit);
            i += 4;
            continue;
        }
        flush_utf16(&mut units, &mut out)?;
        out.push(match e {
            't' => '\t',
            'r' => '\r',
            'n' => '\n',
            'f' => '\x0c',
            other => other,
        });
    }
    flush_utf16(&mut units, &mut out)?;
    Ok(out)
}

fn flush_utf16(units: &mut Vec<u16>, out: &mut String) -> Result<(), String> {
    for c in char::decode_utf16(units.drain(..)) {
        out.push(c.map_err(|_| "\\u escape is a lone UTF-16 surrogate".to_owned())?);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Keys

/// How the value of a recognised key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Assigned to a typed field of [`Config`] by [`Parser::typed`].
    Typed,
    /// A Java `int`.
    Int,
    /// A Java `long`.
    Long,
    /// A Java `double`.
    Double,
    /// `QuorumPeerConfig.parseBoolean`: `true` or `false` in any case, else an error.
    Bool,
    /// `Boolean.parseBoolean`: `true` in any case; anything else is false (with a warning).
    JavaBool,
    /// Any text.
    Str,
}

/// A setting ZooKeeper documents or reads.
#[derive(Debug, PartialEq, Eq)]
struct Known {
    /// The canonical name: the Java system property, or the zoo.cfg key when there is no
    /// property.
    name: &'static str,
    /// Other spellings in zoo.cfg (besides `name` minus a `zookeeper.` prefix).
    aliases: &'static [&'static str],
    kind: Kind,
}

impl Known {
    fn matches(&self, key: &str) -> bool {
        key == self.name
            || self.name.strip_prefix("zookeeper.") == Some(key)
            || self.aliases.contains(&key)
    }
}

const fn known(name: &'static str, kind: Kind) -> Known {
    Known {
        name,
        aliases: &[],
        kind,
    }
}

const fn alias(name: &'static str, aliases: &'static [&'static str], kind: Kind) -> Known {
    Known {
        name,
        aliases,
        kind,
    }
}

use Kind::{Bool, Double, Int, JavaBool, Long, Str, Typed};

/// Every setting of ZooKeeper 3.9's QuorumPeerConfig and zookeeperAdmin.md.
#[rustfmt::skip]
static KNOWN: &[Known] = &[
    // QuorumPeerConfig.parseProperties, in its order.
    known("dataDir", Typed),
    known("dataLogDir", Typed),
    known("clientPort", Typed),
    known("localSessionsEnabled", Typed),
    known("localSessionsUpgradingEnabled", Typed),
    known("clientPortAddress", Typed),
    known("secureClientPort", Typed),
    known("secureClientPortAddress", Typed),
    known("observerMasterPort", Typed),
    known("clientPortListenBacklog", Typed),
    known("tickTime", Typed),
    known("maxClientCnxns", Typed),
    known("minSessionTimeout", Typed),
    known("maxSessionTimeout", Typed),
    known("initLimit", Typed),
    known("syncLimit", Typed),
    alias("connectToLearnerMasterLimit", &["zookeeper.connectToLearnerMasterLimit"], Typed),
    known("electionAlg", Typed),
    known("quorumListenOnAllIPs", Typed),
    known("peerType", Typed),
    alias("syncEnabled", &["zookeeper.observer.syncEnabled", "observer.syncEnabled"], Typed),
    known("dynamicConfigFile", Typed),
    known("autopurge.snapRetainCount", Typed),
    known("autopurge.purgeInterval", Typed),
    known("standaloneEnabled", Typed),
    known("reconfigEnabled", Typed),
    alias("sslQuorum", &["zookeeper.sslQuorum"], Bool),
    known("portUnification", Bool),
    known("sslQuorumReloadCertFiles", Bool),
    known("quorum.auth.enableSasl", Bool),
    known("quorum.auth.serverRequireSasl", Bool),
    known("quorum.auth.learnerRequireSasl", Bool),
    known("quorum.auth.learner.saslLoginContext", Str),
    known("quorum.auth.server.saslLoginContext", Str),
    known("quorum.auth.kerberos.servicePrincipal", Str),
    known("quorum.cnxn.threads.size", Int),
    known("jvm.pause.info-threshold.ms", Long),
    known("jvm.pause.warn-threshold.ms", Long),
    known("jvm.pause.sleep.time.ms", Long),
    known("jvm.pause.monitor", Bool),
    known("metricsProvider.className", Str),
    alias("multiAddress.enabled", &["zookeeper.multiAddress.enabled"], Bool),
    alias("multiAddress.reachabilityCheckTimeoutMs", &["zookeeper.multiAddress.reachabilityCheckTimeoutMs"], Int),
    alias("multiAddress.reachabilityCheckEnabled", &["zookeeper.multiAddress.reachabilityCheckEnabled"], Bool),
    known("oraclePath", Str),
    // System properties Zooid acts on.
    known("zookeeper.globalOutstandingLimit", Typed),
    known("zookeeper.preAllocSize", Typed),
    known("zookeeper.snapCount", Typed),
    known("zookeeper.commitLogCount", Typed),
    known("zookeeper.snapSizeLimitInKb", Typed),
    known("zookeeper.txnLogSizeLimitInKb", Typed),
    known("zookeeper.maxCnxns", Typed),
    known("zookeeper.fsync.warningthresholdms", Typed),
    known("zookeeper.forceSync", Typed),
    known("zookeeper.extendedTypesEnabled", Typed),
    known("zookeeper.emulate353TTLNodes", Typed),
    known("zookeeper.4lw.commands.whitelist", Typed),
    known("readonlymode.enabled", Typed),
    known("jute.maxbuffer", Typed),
    known("zookeeper.jute.maxbuffer.extrasize", Typed),
    known("zookeeper.DigestAuthenticationProvider.superDigest", Typed),
    known("zookeeper.DigestAuthenticationProvider.enabled", Typed),
    known("zookeeper.skipACL", Typed),
    known("zookeeper.enforceQuota", Typed),
    known("znode.container.checkIntervalMs", Typed),
    known("znode.container.maxPerMinute", Typed),
    known("znode.container.maxNeverUsedIntervalMs", Typed),
    known("zookeeper.digest.enabled", Typed),
    known("zookeeper.snapshot.trust.empty", Typed),
    known("zookeeper.datadir.autocreate", Typed),
    known("zookeeper.db.autocreate", Typed),
    known("zookeeper.leaderServes", Typed),
    known("zookeeper.admin.enableServer", Typed),
    known("zookeeper.admin.serverAddress", Typed),
    known("zookeeper.admin.serverPort", Typed),
    known("zookeeper.admin.idleTimeout", Typed),
    known("zookeeper.admin.commandURL", Typed),
    // System properties kept in `other`.
    known("zookeeper.maxResponseCacheSize", Int),
    known("zookeeper.maxGetChildrenResponseCacheSize", Int),
    known("zookeeper.watchManagerName", Str),
    known("zookeeper.watcherCleanThreadsNum", Int),
    known("zookeeper.watcherCleanThreshold", Int),
    known("zookeeper.watcherCleanIntervalInSeconds", Int),
    known("zookeeper.maxInProcessingDeadWatchers", Int),
    known("zookeeper.bitHashCacheSize", Int),
    known("zookeeper.fastleader.minNotificationInterval", Int),
    known("zookeeper.fastleader.maxNotificationInterval", Int),
    alias("zookeeper.connection_throttle_tokens", &["connectionMaxTokens"], Int),
    alias("zookeeper.connection_throttle_fill_time", &["connectionTokenFillTime"], Int),
    alias("zookeeper.connection_throttle_fill_count", &["connectionTokenFillCount"], Int),
    alias("zookeeper.connection_throttle_freeze_time", &["connectionFreezeTime"], Int),
    alias("zookeeper.connection_throttle_drop_increase", &["connectionDropIncrease"], Double),
    alias("zookeeper.connection_throttle_drop_decrease", &["connectionDropDecrease"], Double),
    alias("zookeeper.connection_throttle_decrease_ratio", &["connectionDecreaseRatio"], Double),
    known("zookeeper.connection_throttle_weight_enabled", JavaBool),
    known("zookeeper.connection_throttle_global_session_weight", Int),
    known("zookeeper.connection_throttle_local_session_weight", Int),
    known("zookeeper.connection_throttle_renew_session_weight", Int),
    known("zookeeper.serverCnxnFactory", Str),
    known("zookeeper.flushDelay", Long),
    known("zookeeper.maxWriteQueuePollTime", Long),
    known("zookeeper.maxBatchSize", Int),
    alias("zookeeper.request_throttle_max_requests", &["requestThrottleLimit"], Int),
    alias("zookeeper.request_throttle_stall_time", &["requestThrottleStallTime"], Int),
    alias("zookeeper.request_throttle_drop_stale", &["requestThrottleDropStale"], JavaBool),
    alias("zookeeper.request_stale_latency_check", &["requestStaleLatencyCheck"], JavaBool),
    alias("zookeeper.request_stale_connection_check", &["requestStaleConnectionCheck"], JavaBool),
    known("zookeeper.request_throttler.shutdownTimeout", Int),
    alias("zookeeper.netty.advancedFlowControl.enabled", &["advancedFlowControlEnabled"], JavaBool),
    known("zookeeper.enableEagerACLCheck", JavaBool),
    alias("zookeeper.leader.maxConcurrentSnapSyncs", &["maxConcurrentSnapSyncs"], Int),
    alias("zookeeper.leader.maxConcurrentDiffSyncs", &["maxConcurrentDiffSyncs"], Int),
    known("zookeeper.snapshot.compression.method", Str),
    known("zookeeper.snapshotSizeFactor", Double),
    known("zookeeper.audit.enable", JavaBool),
    known("zookeeper.audit.impl.class", Str),
    known("zookeeper.largeRequestMaxBytes", Int),
    known("zookeeper.largeRequestThreshold", Int),
    alias("zookeeper.netty.server.outstandingHandshake.limit", &["outstandingHandshake.limit"], Int),
    known("zookeeper.netty.server.earlyDropSecureConnectionHandshakes", JavaBool),
    alias("zookeeper.throttled_op_wait_time", &["throttledOpWaitTime"], Int),
    known("zookeeper.learner.closeSocketAsync", JavaBool),
    known("zookeeper.leader.closeSocketAsync", JavaBool),
    known("zookeeper.learner.asyncSending", JavaBool),
    known("zookeeper.forward_learner_requests_to_commit_processor_disabled", JavaBool),
    known("zookeeper.serializeLastProcessedZxid.enabled", JavaBool),
    known("zookeeper.closeSessionTxn.enabled", JavaBool),
    alias("zookeeper.leader.maxTimeToWaitForEpoch", &["maxTimeToWaitForEpoch"], Int),
    known("zookeeper.leader.ackLoggingFrequency", Int),
    known("zookeeper.forceSnapshotSync", JavaBool),
    known("zookeeper.cnxTimeout", Int),
    known("zookeeper.quorumCnxnTimeoutMs", Int),
    known("zookeeper.tcpKeepAlive", JavaBool),
    known("zookeeper.clientTcpKeepAlive", JavaBool),
    known("zookeeper.electionPortBindRetry", Int),
    known("zookeeper.observer.reconnectDelayMs", Long),
    known("zookeeper.observer.election.DelayMs", Long),
    known("zookeeper.DigestAuthenticationProvider.digestAlg", Str),
    known("zookeeper.IPAuthenticationProvider.usexforwardedfor", JavaBool),
    known("zookeeper.X509AuthenticationProvider.superUser", Str),
    known("zookeeper.superUser", Str),
    known("zookeeper.SASLAuthenticationProvider.superPassword", Str),
    known("zookeeper.ensembleAuthName", Str),
    known("zookeeper.sessionRequireClientSASLAuth", JavaBool),
    known("zookeeper.enforce.auth.enabled", JavaBool),
    known("zookeeper.enforce.auth.schemes", Str),
    known("zookeeper.allowSaslFailedClients", JavaBool),
    known("zookeeper.sasl.serverconfig", Str),
    known("zookeeper.kerberos.removeHostFromPrincipal", JavaBool),
    known("zookeeper.kerberos.removeRealmFromPrincipal", JavaBool),
    known("zookeeper.kerberos.canonicalizeHostNames", JavaBool),
    known("zookeeper.client.certReload", JavaBool),
    known("zookeeper.client.portUnification", JavaBool),
    known("zookeeper.fips-mode", JavaBool),
    known("zookeeper.follower.skipLearnerRequestToNextProcessor", JavaBool),
    known("zookeeper.nio.numSelectorThreads", Int),
    known("zookeeper.nio.numWorkerThreads", Int),
    known("zookeeper.nio.directBufferBytes", Int),
    known("zookeeper.nio.shutdownTimeout", Int),
    known("zookeeper.nio.sessionlessCnxnTimeout", Int),
    known("zookeeper.commitProcessor.numWorkerThreads", Int),
    known("zookeeper.commitProcessor.maxReadBatchSize", Int),
    known("zookeeper.commitProcessor.maxCommitBatchSize", Int),
    known("zookeeper.commitProcessor.shutdownTimeout", Int),
    known("zookeeper.messageTracker.BufferSize", Int),
    known("zookeeper.messageTracker.Enabled", JavaBool),
    known("zookeeper.intBufferStartingSizeBytes", Int),
    known("zookeeper.admin.rateLimiterIntervalInMS", Long),
    known("zookeeper.admin.snapshot.enabled", JavaBool),
    known("zookeeper.admin.restore.enabled", JavaBool),
    known("zookeeper.admin.needClientAuth", JavaBool),
    known("zookeeper.admin.forceHttps", JavaBool),
    known("zookeeper.admin.portUnification", JavaBool),
    known("zookeeper.admin.httpVersion", Int),
];

/// The settings of `X509Util`, under `zookeeper.ssl.` and `zookeeper.ssl.quorum.`.
#[rustfmt::skip]
const SSL_SETTINGS: &[&str] = &[
    "protocol", "enabledProtocols", "ciphersuites", "keyStore.location", "keyStore.password",
    "keyStore.passwordPath", "keyStore.type", "trustStore.location", "trustStore.password",
    "trustStore.passwordPath", "trustStore.type", "context.supplier.class",
    "hostnameVerification", "clientHostnameVerification", "allowReverseDnsLookup", "crl",
    "ocsp", "clientAuth", "handshakeDetectionTimeoutMillis", "authProvider", "sslProvider",
];

/// Property families whose members are named by the user (`authProvider.1=...`).
const OPEN_FAMILIES: &[&str] = &["zookeeper.authProvider.", "zookeeper.superUser."];

/// What a key of the file sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Known(&'static Known),
    Server(u64),
    Group(u64),
    Weight(u64),
    /// `version`: the dynamic configuration version.
    Version,
    /// A member of a family (`metricsProvider.*`, `zookeeper.ssl.*`, ...), kept in `other`.
    Family,
    Unknown,
}

/// Resolves one key; also returns its canonical name (for duplicate detection and for
/// `other`).
fn resolve(key: &str) -> Result<(Target, String), ConfigError> {
    if let Some(k) = KNOWN.iter().find(|k| k.matches(key)) {
        return Ok((Target::Known(k), k.name.to_owned()));
    }
    if key == "version" {
        return Ok((Target::Version, key.to_owned()));
    }
    // `QuorumMaj` / `QuorumHierarchical` read `server.N`, and any key starting with
    // `group` or `weight` must be `group.N` / `weight.N`.
    for (prefix, make) in [
        ("server.", Target::Server as fn(u64) -> Target),
        ("group", Target::Group),
        ("weight", Target::Weight),
    ] {
        if key.starts_with(prefix) {
            let base = prefix.trim_end_matches('.');
            let id = key
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|id| id.parse::<u64>().ok())
                .ok_or_else(|| ConfigError::InvalidKey {
                    key: key.to_owned(),
                    reason: format!("expected {base}.N with N a non-negative integer"),
                })?;
            return Ok((make(id), format!("{base}.{id}")));
        }
    }
    if key.starts_with("metricsProvider.") {
        return Ok((Target::Family, key.to_owned()));
    }
    let property = if key.starts_with("zookeeper.") {
        key.to_owned()
    } else {
        format!("zookeeper.{key}")
    };
    let ssl = ["zookeeper.ssl.quorum.", "zookeeper.ssl."]
        .iter()
        .find_map(|p| property.strip_prefix(p))
        .is_some_and(|setting| SSL_SETTINGS.contains(&setting));
    let open = OPEN_FAMILIES
        .iter()
        .any(|p| property.len() > p.len() && property.starts_with(p));
    if ssl || open {
        return Ok((Target::Family, property));
    }
    Ok((Target::Unknown, key.to_owned()))
}

/// Resolves every entry, warns about unknown and repeated keys, and keeps only the last
/// entry of each setting (ZooKeeper's `Properties` is a hash table), in file order.
fn resolve_all<'a>(
    entries: &'a [Entry],
    warnings: &mut Vec<String>,
) -> Result<Vec<(Target, String, &'a Entry)>, ConfigError> {
    let mut resolved = Vec::with_capacity(entries.len());
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for entry in entries {
        let (target, canonical) = resolve(&entry.key)?;
        if target == Target::Unknown {
            warnings.push(format!(
                "line {}: unknown key {:?} ignored",
                entry.line, entry.key
            ));
            continue;
        }
        if let Some(before) = last.insert(canonical.clone(), resolved.len()) {
            let first: &(Target, String, &Entry) = &resolved[before];
            warnings.push(format!(
                "line {}: {} is set again (before on line {}); the last value wins",
                entry.line, entry.key, first.2.line
            ));
        }
        resolved.push((target, canonical, entry));
    }
    let keep: BTreeSet<usize> = last.into_values().collect();
    Ok(resolved
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, r)| r)
        .collect())
}

// ---------------------------------------------------------------------------------------
// Values

impl Entry {
    fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: self.key.clone(),
            value: self.value.clone(),
            reason: reason.into(),
        }
    }

    /// An integer that fits `what` (`Integer.parseInt` / `Long.parseLong`), in `min..=max`.
    fn number(&self, what: &str, fits: (i64, i64), min: i64, max: i64) -> Result<i64, ConfigError> {
        let v = self
            .value
            .parse::<i64>()
            .ok()
            .filter(|v| (fits.0..=fits.1).contains(v))
            .ok_or_else(|| self.invalid(format!("not {what}")))?;
        if v < min {
            let reason = if min == 0 {
                "must not be negative".to_owned()
            } else {
                format!("must be at least {min}")
            };
            return Err(self.invalid(reason));
        }
        if v > max {
            return Err(self.invalid(format!("must be at most {max}")));
        }
        Ok(v)
    }

    /// A Java `int` in `min..=max`.
    fn int(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        let int = (i64::from(i32::MIN), i64::from(i32::MAX));
        self.number("a 32-bit integer", int, min, max)
    }

    /// A Java `long` in `min..=max`.
    fn long(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        self.number("a 64-bit integer", (i64::MIN, i64::MAX), min, max)
    }

    /// A non-negative Java `int`.
    fn count(&self) -> Result<u32, ConfigError> {
        Ok(self.int(0, i64::from(i32::MAX))? as u32)
    }

    /// A non-negative Java `long`.
    fn count_long(&self) -> Result<u64, ConfigError> {
        Ok(self.long(0, i64::MAX)? as u64)
    }

    /// A TCP port, as `new InetSocketAddress(port)` accepts it.
    fn port(&self) -> Result<u16, ConfigError> {
        let v = self.int(i64::from(i32::MIN), i64::from(i32::MAX))?;
        u16::try_from(v).map_err(|_| self.invalid("port out of range (0 to 65535)"))
    }

    /// `QuorumPeerConfig.parseBoolean`.
    fn strict_bool(&self) -> Result<bool, ConfigError> {
        if self.value.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if self.value.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(self.invalid("choose 'true' or 'false'"))
        }
    }

    /// `Boolean.parseBoolean`: anything but `true` (any case) is false, which we point out.
    fn java_bool(&self, warnings: &mut Vec<String>) -> bool {
        let on = self.value.eq_ignore_ascii_case("true");
        if !on && !self.value.eq_ignore_ascii_case("false") {
            warnings.push(format!(
                "line {}: {}={:?} reads as false (only 'true' turns it on)",
                self.line, self.key, self.value
            ));
        }
        on
    }

    /// A switch ZooKeeper compares with one exact word: `word` gives `!default`, anything
    /// else `default`. A value that is neither `word` nor `opposite` gets a warning.
    fn word_switch(
        &self,
        word: &str,
        opposite: &str,
        default: bool,
        warnings: &mut Vec<String>,
    ) -> bool {
        let value = if self.value == word {
            !default
        } else {
            default
        };
        if self.value != word && self.value != opposite {
            warnings.push(format!(
                "line {}: {}={:?} reads as {value} (ZooKeeper only looks for {word:?})",
                self.line, self.key, self.value
            ));
        }
        value
    }

    /// A path, kept as written.
    fn path(&self) -> Result<PathBuf, ConfigError> {
        if self.value.is_empty() {
            return Err(self.invalid("must not be empty"));
        }
        Ok(PathBuf::from(&self.value))
    }

    /// An address as `InetAddress.getByName` reads it: an IP literal (IPv6 with or without
    /// brackets) or a host name, resolved now (IPv4 first, as Java prefers).
    fn host(&self) -> Result<IpAddr, ConfigError> {
        let v = self.value.as_str();
        let literal = v
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(v);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(ip);
        }
        if v.is_empty() {
            return Err(self.invalid("must not be empty"));
        }
        let addrs: Vec<IpAddr> = (v, 0)
            .to_socket_addrs()
            .map_err(|e| self.invalid(format!("cannot resolve host: {e}")))?
            .map(|a| a.ip())
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .ok_or_else(|| self.invalid("host has no address"))
    }
}

// ---------------------------------------------------------------------------------------
// Applying values

/// Settings resolved only once the whole file has been read.
#[derive(Debug, Default)]
struct Pending {
    data_dir: bool,
    client_port: bool,
    /// `None` when unset or -1.
    min_session_timeout_ms: Option<u32>,
    max_session_timeout_ms: Option<u32>,
    four_letter_words: Option<String>,
}

struct Parser {
    cfg: Config,
    pending: Pending,
    warnings: Vec<String>,
}

impl Parser {
    fn new() -> Parser {
        Parser {
            cfg: Config::defaults(),
            pending: Pending::default(),
            warnings: Vec::new(),
        }
    }

    /// Applies one entry; `name` is its canonical name.
    fn apply(&mut self, target: Target, name: String, e: &Entry) -> Result<(), ConfigError> {
        match target {
            Target::Known(k) if k.kind == Kind::Typed => self.typed(k.name, e)?,
            Target::Known(k) => {
                let value = self.checked(k.kind, e)?;
                self.cfg.other.insert(name, value);
            }
            Target::Family => {
                self.cfg.other.insert(name, e.value.clone());
            }
            Target::Server(id) => {
                self.cfg.servers.insert(id, e.value.clone());
            }
            Target::Group(id) => {
                self.cfg.groups.insert(id, e.value.clone());
            }
            Target::Weight(id) => {
                self.cfg.weights.insert(id, e.value.clone());
            }
            Target::Version => {
                // `QuorumMaj` reads it with `Long.parseLong(value, 16)`.
                let v = u64::from_str_radix(&e.value, 16)
                    .map_err(|_| e.invalid("not a hexadecimal version"))?;
                self.cfg.config_version = Some(v);
            }
            Target::Unknown => unreachable!("resolve_all drops unknown keys"),
        }
        Ok(())
    }

    /// Checks the value of a setting kept in `other`, normalising booleans.
    fn checked(&mut self, kind: Kind, e: &Entry) -> Result<String, ConfigError> {
        Ok(match kind {
            Kind::Int => e.int(i64::from(i32::MIN), i64::from(i32::MAX))?.to_string(),
            Kind::Long => e.long(i64::MIN, i64::MAX)?.to_string(),
            Kind::Double => {
                e.value
                    .parse::<f64>()
                    .map_err(|_| e.invalid("not a number"))?;
                e.value.clone()
            }
            Kind::Bool => e.strict_bool()?.to_string(),
            Kind::JavaBool => e.java_bool(&mut self.warnings).to_string(),
            Kind::Str => e.value.clone(),
            Kind::Typed => unreachable!("typed settings go to Parser::typed"),
        })
    }

    /// Assigns a typed setting. `name` is the canonical name from [`KNOWN`].
    fn typed(&mut self, name: &str, e: &Entry) -> Result<(), ConfigError> {
        let int_max = i64::from(i32::MAX);
        let w = &mut self.warnings;
        let c = &mut self.cfg;
        match name {
            "tickTime" => {
                // ZooKeeper reads 0 as "tickTime is not set".
                c.tick_time_ms = e.int(1, int_max)? as u32;
            }
            "dataDir" => {
                c.data_dir = e.path()?;
                self.pending.data_dir = true;
            }
            "dataLogDir" => c.data_log_dir = Some(e.path()?),
            "clientPort" => {
                c.client_port = e.port()?;
                self.pending.client_port = true;
            }
            "clientPortAddress" => c.client_port_address = Some(e.host()?),
            "secureClientPort" => c.secure_client_port = Some(e.port()?),
            "secureClientPortAddress" => c.secure_client_port_address = Some(e.host()?),
            "observerMasterPort" => {
                // ZooKeeper treats a port <= 0 as unset.
                let port = e.int(i64::from(i32::MIN), 65535)?;
                c.observer_master_port = u16::try_from(port).ok().filter(|&p| p > 0);
            }
            "clientPortListenBacklog" => {
                c.client_port_listen_backlog = match e.int(-1, int_max)? {
                    -1 => None,
                    v => Some(v as u32),
                }
            }
            "maxClientCnxns" => c.max_client_cnxns = e.count()?,
            "minSessionTimeout" => self.pending.min_session_timeout_ms = session_timeout(e)?,
            "maxSessionTimeout" => self.pending.max_session_timeout_ms = session_timeout(e)?,
            "initLimit" => c.init_limit = e.count()?,
            "syncLimit" => c.sync_limit = e.count()?,
            "connectToLearnerMasterLimit" => c.connect_to_learner_master_limit = e.count()?,
            "electionAlg" => {
                if e.int(i64::from(i32::MIN), int_max)? != 3 {
                    return Err(e.invalid("only 3 (FastLeaderElection) is supported"));
                }
            }
            "quorumListenOnAllIPs" => c.quorum_listen_on_all_ips = e.strict_bool()?,
            "peerType" => {
                c.peer_type = match e.value.to_ascii_lowercase().as_str() {
                    "observer" => PeerType::Observer,
                    "participant" => PeerType::Participant,
                    _ => return Err(e.invalid("choose 'participant' or 'observer'")),
                }
            }
            "syncEnabled" => c.sync_enabled = e.strict_bool()?,
            "dynamicConfigFile" => c.dynamic_config_file = Some(e.path()?),
            "autopurge.snapRetainCount" => {
                let n = e.count()?;
                if n < SNAP_RETAIN_COUNT_MIN {
                    w.push(format!(
                        "line {}: autopurge.snapRetainCount {n} is below the minimum; using {}",
                        e.line, SNAP_RETAIN_COUNT_MIN
                    ));
                }
                c.autopurge_snap_retain_count = n.max(SNAP_RETAIN_COUNT_MIN);
            }
            "autopurge.purgeInterval" => c.autopurge_purge_interval_h = e.count()?,
            "standaloneEnabled" => c.standalone_enabled = e.strict_bool()?,
            "reconfigEnabled" => c.reconfig_enabled = e.strict_bool()?,
            "localSessionsEnabled" => c.local_sessions_enabled = e.strict_bool()?,
            "localSessionsUpgradingEnabled" => {
                c.local_sessions_upgrading_enabled = e.strict_bool()?;
            }
            _ => return self.typed_property(name, e),
        }
        Ok(())
    }

    /// Assigns a typed setting that ZooKeeper reads as a system property.
    fn typed_property(&mut self, name: &str, e: &Entry) -> Result<(), ConfigError> {
        let int_max = i64::from(i32::MAX);
        let w = &mut self.warnings;
        let c = &mut self.cfg;
        match name {
            "zookeeper.globalOutstandingLimit" => c.global_outstanding_limit = e.count()?,
            // ZooKeeper multiplies KiB by 1024 into a long.
            "zookeeper.preAllocSize" => c.pre_alloc_size_kb = e.long(0, i64::MAX / 1024)? as u64,
            "zookeeper.snapCount" => {
                let n = e.count()?;
                if n < SNAP_COUNT_MIN {
                    w.push(format!(
                        "line {}: snapCount {n} is below the minimum; using {SNAP_COUNT_MIN}",
                        e.line
                    ));
                }
                c.snap_count = n.max(SNAP_COUNT_MIN);
            }
            "zookeeper.commitLogCount" => {
                let n = e.count()?;
                if n < COMMIT_LOG_COUNT_MIN {
                    w.push(format!(
                        "line {}: commitLogCount {n} is below the minimum; using {}",
                        e.line, COMMIT_LOG_COUNT_MIN
                    ));
                }
                c.commit_log_count = n.max(COMMIT_LOG_COUNT_MIN);
            }
            // A value that is not positive disables these limits.
            "zookeeper.snapSizeLimitInKb" => c.snap_size_limit_kb = size_limit_kb(e)?,
            "zookeeper.txnLogSizeLimitInKb" => c.txn_log_size_limit_kb = size_limit_kb(e)?,
            "zookeeper.maxCnxns" => c.max_cnxns = e.count()?,
            "zookeeper.fsync.warningthresholdms" => {
                c.fsync_warning_threshold_ms = e.count_long()?
            }
            "zookeeper.forceSync" => c.force_sync = e.word_switch("no", "yes", true, w),
            "zookeeper.extendedTypesEnabled" => c.extended_types_enabled = e.java_bool(w),
            "zookeeper.emulate353TTLNodes" => c.emulate_353_ttl_nodes = e.java_bool(w),
            "zookeeper.4lw.commands.whitelist" => {
                self.pending.four_letter_words = Some(e.value.clone());
            }
            "readonlymode.enabled" => c.read_only_mode_enabled = e.java_bool(w),
            "jute.maxbuffer" => c.jute_maxbuffer = e.int(1, int_max)? as u32,
            "zookeeper.jute.maxbuffer.extrasize" => c.jute_maxbuffer_extrasize = Some(e.count()?),
            "zookeeper.DigestAuthenticationProvider.superDigest" => {
                c.super_digest = Some(e.value.clone()).filter(|d| !d.is_empty());
            }
            "zookeeper.DigestAuthenticationProvider.enabled" => {
                c.digest_auth_enabled = e.java_bool(w);
            }
            "zookeeper.skipACL" => c.skip_acl = e.word_switch("yes", "no", false, w),
            "zookeeper.enforceQuota" => c.enforce_quota = e.java_bool(w),
            // ContainerManager schedules a timer with this period: it must be positive.
            "znode.container.checkIntervalMs" => {
                c.container_check_interval_ms = e.int(1, int_max)? as u32;
            }
            // ContainerManager divides a minute by this.
            "znode.container.maxPerMinute" => {
                c.container_max_per_minute = e.int(1, int_max)? as u32;
            }
            "znode.container.maxNeverUsedIntervalMs" => {
                c.container_max_never_used_interval_ms = e.count_long()?;
            }
            "zookeeper.digest.enabled" => c.digest_enabled = e.java_bool(w),
            "zookeeper.snapshot.trust.empty" => c.snapshot_trust_empty = e.java_bool(w),
            "zookeeper.datadir.autocreate" => c.datadir_autocreate = e.java_bool(w),
            "zookeeper.db.autocreate" => c.db_autocreate = e.java_bool(w),
            "zookeeper.leaderServes" => c.leader_serves = e.word_switch("no", "yes", true, w),
            "zookeeper.admin.enableServer" => {
                c.admin_enable_server = e.word_switch("false", "true", true, w);
            }
            "zookeeper.admin.serverAddress" => c.admin_server_address = e.host()?,
            "zookeeper.admin.serverPort" => c.admin_server_port = e.port()?,
            "zookeeper.admin.idleTimeout" => c.admin_idle_timeout_ms = e.count()?,
            "zookeeper.admin.commandURL" => c.admin_command_url = e.value.clone(),
            other => unreachable!("{other} is marked Typed but has no field"),
        }
        Ok(())
    }

    /// ZooKeeper's checks after reading every key (`QuorumPeerConfig.parseProperties`,
    /// `parseDynamicConfig`, `checkValidity`), and the settings that depend on others.
    fn finish(mut self, base_dir: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        if !self.pending.data_dir {
            return Err(ConfigError::Missing { key: "dataDir" });
        }
        self.check_listeners()?;
        self.resolve_session_timeouts()?;
        self.check_quorum_sasl()?;
        self.check_quorum()?;
        let c = &mut self.cfg;
        c.four_letter_words = FourLetterWhitelist::build(
            self.pending.four_letter_words.as_deref(),
            c.read_only_mode_enabled,
            &mut self.warnings,
        );
        let paths = [
            ("dataDir", Some(&c.data_dir)),
            ("dataLogDir", c.data_log_dir.as_ref()),
        ];
        for (key, path) in paths {
            let Some(path) = path else { continue };
            if path.is_relative() && !path.starts_with(".") {
                self.warnings.push(format!(
                    "{key} {} is relative: it resolves against the working directory, not \
                     against {}. Prepend ./ to show that you are sure",
                    path.display(),
                    base_dir.display()
                ));
            }
        }
        Ok((self.cfg, self.warnings))
    }

    fn check_listeners(&mut self) -> Result<(), ConfigError> {
        let c = &self.cfg;
        if c.client_port_address.is_some() && !self.pending.client_port {
            return Err(ConfigError::Inconsistent(
                "clientPortAddress is set but clientPort is not set".to_owned(),
            ));
        }
        if c.secure_client_port_address.is_some() && c.secure_client_port.is_none() {
            return Err(ConfigError::Inconsistent(
                "secureClientPortAddress is set but secureClientPort is not set".to_owned(),
            ));
        }
        // ZooKeeper opens no plaintext listener without clientPort (unless a server.N line
        // carries one); Zooid always has one, so say which port it is.
        let port_in_servers = c.servers.values().any(|s| s.contains(';'));
        if !self.pending.client_port && !port_in_servers {
            self.warnings.push(format!(
                "clientPort is not set; listening on {}",
                c.client_port
            ));
        }
        Ok(())
    }

    fn resolve_session_timeouts(&mut self) -> Result<(), ConfigError> {
        let tick = u64::from(self.cfg.tick_time_ms);
        let default = |ticks: u64| {
            u32::try_from(tick * ticks)
                .ok()
                .filter(|&t| i64::from(t) <= i64::from(i32::MAX))
                .ok_or_else(|| ConfigError::InvalidValue {
                    key: "tickTime".to_owned(),
                    value: tick.to_string(),
                    reason: format!("{ticks} ticks (a default session timeout) overflow"),
                })
        };
        let min = match self.pending.min_session_timeout_ms {
            Some(min) => min,
            None => default(2)?,
        };
        let max = match self.pending.max_session_timeout_ms {
            Some(max) => max,
            None => default(20)?,
        };
        if min > max {
            return Err(ConfigError::Inconsistent(format!(
                "minSessionTimeout ({min}) must not be larger than maxSessionTimeout ({max})"
            )));
        }
        self.cfg.min_session_timeout_ms = min;
        self.cfg.max_session_timeout_ms = max;
        Ok(())
    }

    fn check_quorum_sasl(&self) -> Result<(), ConfigError> {
        let on = |key: &str| self.cfg.other.get(key).is_some_and(|v| v == "true");
        let enabled = on("quorum.auth.enableSasl");
        let server = on("quorum.auth.serverRequireSasl");
        let learner = on("quorum.auth.learnerRequireSasl");
        let broken = if !enabled && server {
            Some(("quorum.auth.enableSasl", "quorum.auth.serverRequireSasl"))
        } else if !enabled && learner {
            Some(("quorum.auth.enableSasl", "quorum.auth.learnerRequireSasl"))
        } else if !learner && server {
            Some((
                "quorum.auth.learnerRequireSasl",
                "quorum.auth.serverRequireSasl",
            ))
        } else {
            None
        };
        match broken {
            Some((off, on)) => Err(ConfigError::Inconsistent(format!(
                "{off} is disabled, so cannot enable {on}"
            ))),
            None => Ok(()),
        }
    }

    /// The ensemble checks ZooKeeper makes on the static file. With `dynamicConfigFile`
    /// the membership lives in that file, which is not read here.
    fn check_quorum(&mut self) -> Result<(), ConfigError> {
        let c = &self.cfg;
        if c.dynamic_config_file.is_some() {
            let membership = c.servers.keys().map(|id| format!("server.{id}"));
            let groups = c.groups.keys().map(|id| format!("group.{id}"));
            let weights = c.weights.keys().map(|id| format!("weight.{id}"));
            if let Some(key) = membership.chain(groups).chain(weights).next() {
                return Err(ConfigError::Inconsistent(format!(
                    "{key} must be in the separate dynamic config file (dynamicConfigFile is set)"
                )));
            }
            return Ok(());
        }
        let participants = c.participant_count();
        let observers = c.servers.len() - participants;
        let inconsistent = |m: &str| Err(ConfigError::Inconsistent(m.to_owned()));
        if participants == 0 {
            if !c.standalone_enabled {
                return inconsistent(
                    "standaloneEnabled is false, so at least one participant server.N is needed",
                );
            }
            if observers > 0 {
                return inconsistent("observers without participants are not a valid ensemble");
            }
        } else if participants == 1 && c.standalone_enabled {
            if observers > 0 {
                return inconsistent("observers without a quorum are not a valid ensemble");
            }
            self.warnings
                .push("only one server.N is given: running standalone and ignoring it".to_owned());
        } else if participants <= 2 {
            self.warnings.push(
                "no server failure will be tolerated: an ensemble needs at least 3 servers"
                    .to_owned(),
            );
        } else if participants & 1 == 0 {
            self.warnings
                .push("an even number of servers: consider an odd number".to_owned());
        }
        if c.is_distributed() {
            if c.init_limit == 0 {
                return Err(ConfigError::Missing { key: "initLimit" });
            }
            if c.sync_limit == 0 {
                return Err(ConfigError::Missing { key: "syncLimit" });
            }
        }
        Ok(())
    }
}

/// `minSessionTimeout` / `maxSessionTimeout`: -1 means "the default".
fn session_timeout(e: &Entry) -> Result<Option<u32>, ConfigError> {
    Ok(match e.int(-1, i64::from(i32::MAX))? {
        -1 => None,
        v => Some(v as u32),
    })
}

/// `snapSizeLimitInKb` / `txnLogSizeLimitInKb`: a value that is not positive disables.
fn size_limit_kb(e: &Entry) -> Result<Option<u64>, ConfigError> {
    let v = e.long(i64::MIN, i64::MAX / 1024)?;
    Ok(u64::try_from(v).ok().filter(|&v| v > 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    /// `conf/zoo_sample.cfg` of ZooKeeper 3.9.5, byte for byte (trailing spaces included).
    const ZOO_SAMPLE_CFG: &str = "\
# The number of milliseconds of each tick
tickTime=2000
# The number of ticks that the initial 
# synchronization phase can take
initLimit=10
# The number of ticks that can pass between 
# sending a request and getting an acknowledgement
syncLimit=5
# the directory where the snapshot is stored.
# do not use /tmp for storage, /tmp here is just 
# example sakes.
dataDir=/tmp/zookeeper
# the port at which the clients will connect
clientPort=2181
# the maximum number of client connections.
# increase this if you need to handle more clients
#maxClientCnxns=60
#
# Be sure to read the maintenance section of the 
# administrator guide before turning on autopurge.
#
# https://zookeeper.apache.org/doc/current/zookeeperAdmin.html#sc_maintenance
#
# The number of snapshots to retain in dataDir
#autopurge.snapRetainCount=3
# Purge task interval in hours
# Set to \"0\" to disable auto purge feature
#autopurge.purgeInterval=1

## Metrics Providers
#
# https://prometheus.io Metrics Exporter
#metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
#metricsProvider.httpHost=0.0.0.0
#metricsProvider.httpPort=7000
#metricsProvider.exportJvmInfo=true
";

    /// Parses `text` after a `dataDir` line and, unless it sets one, before a
    /// `clientPort` line (a file without them errs or warns).
    fn parse(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let port = if text.contains("clientPort=") {
            ""
        } else {
            "clientPort=2181"
        };
        Config::parse(&format!("dataDir=/d\n{text}\n{port}"), Path::new("/etc/zk"))
    }

    fn ok(text: &str) -> Config {
        let (cfg, warnings) = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(warnings, Vec::<String>::new(), "{text:?}");
        cfg
    }

    fn warned(text: &str) -> (Config, Vec<String>) {
        let (cfg, warnings) = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(!warnings.is_empty(), "expected a warning for {text:?}");
        (cfg, warnings)
    }

    fn err(text: &str) -> ConfigError {
        match parse(text) {
            Ok((cfg, _)) => panic!("{text:?} parsed: {cfg:?}"),
            Err(e) => e,
        }
    }

    /// Asserts `text` is rejected with an InvalidValue naming `key` and `value`.
    fn invalid(text: &str, key: &str, value: &str) {
        match err(text) {
            ConfigError::InvalidValue {
                key: k, value: v, ..
            } => {
                assert_eq!((k.as_str(), v.as_str()), (key, value), "{text:?}");
            }
            other => panic!("{text:?}: expected InvalidValue, got {other:?}"),
        }
        let message = err(text).to_string();
        assert!(
            message.contains(key) && message.contains(value),
            "{message}"
        );
    }

    fn inconsistent(text: &str, needle: &str) {
        match err(text) {
            ConfigError::Inconsistent(m) => assert!(m.contains(needle), "{m}"),
            other => panic!("{text:?}: expected Inconsistent, got {other:?}"),
        }
    }

    fn entries(text: &str) -> Vec<(usize, String, String)> {
        read_properties(text)
            .unwrap()
            .into_iter()
            .map(|e| (e.line, e.key, e.value))
            .collect()
    }

    fn kv(text: &str) -> Vec<(String, String)> {
        entries(text).into_iter().map(|(_, k, v)| (k, v)).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // --- java.util.Properties -----------------------------------------------------------

    #[test]
    fn separators_are_equals_colon_or_whitespace() {
        let text = "a=1\nb:2\nc 3\nd = 4\ne\t:\t5\nf=\ng\nh==6\ni:=7\nj = = 8\n";
        assert_eq!(
            kv(text),
            pairs(&[
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "4"),
                ("e", "5"),
                ("f", ""),
                ("g", ""),
                ("h", "=6"),
                ("i", "=7"),
                ("j", "= 8"),
            ])
        );
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "# c\n! c\n   # indented\n\n  \t\nkey=v # not a comment\n#x=y\\\nz=1\n";
        assert_eq!(
            entries(text),
            vec![
                (6, "key".into(), "v # not a comment".into()),
                // A comment never continues onto the next line.
                (8, "z".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn whitespace_is_trimmed_like_zookeeper() {
        // Properties keeps trailing whitespace; ZooKeeper trims it (String.trim), also
        // control characters and escaped spaces at the ends.
        let text = "  \t key = value with spaces \t \n k2=v\\ \n k3=\\u0001x\\u0001\n";
        assert_eq!(
            kv(text),
            pairs(&[("key", "value with spaces"), ("k2", "v"), ("k3", "x")])
        );
    }

    #[test]
    fn line_endings_crlf_cr_lf() {
        let text = "a=1\r\nb=2\rc=3\nd=4";
        assert_eq!(
            entries(text),
            vec![
                (1, "a".into(), "1".into()),
                (2, "b".into(), "2".into()),
                (3, "c".into(), "3".into()),
                (4, "d".into(), "4".into()),
            ]
        );
    }

    #[test]
    fn backslash_continues_a_line() {
        let text = "list=a,\\\n    b,\\\r\n\tc\nnext=1\neven=x\\\\\nafter=2\nend=z\\";
        assert_eq!(
            entries(text),
            vec![
                (1, "list".into(), "a,b,c".into()),
                (4, "next".into(), "1".into()),
                (5, "even".into(), "x\\".into()),
                (6, "after".into(), "2".into()),
                (7, "end".into(), "z".into()),
            ]
        );
        // A continuation line that looks like a comment is content.
        assert_eq!(kv("k=a\\\n#b"), pairs(&[("k", "a#b")]));
        // An empty continuation line ends the value.
        assert_eq!(kv("k=a\\\n\nj=1"), pairs(&[("k", "a"), ("j", "1")]));
    }

    #[test]
    fn escapes() {
        let text = "a\\=b=c\\=d\nsp\\ ace=1\nt=x\\ty\\nz\\rw\\fv\nu=\\u0041\\u00e9\\q\\\\\n\
                    pair=\\ud83d\\ude00\n";
        assert_eq!(
            kv(text),
            pairs(&[
                ("a=b", "c=d"),
                ("sp ace", "1"),
                ("t", "x\ty\nz\rw\x0cv"),
                ("u", "Aéq\\"),
                ("pair", "😀"),
            ])
        );
    }

    #[test]
    fn malformed_unicode_escape_is_a_syntax_error_with_its_line() {
        for text in [
            "a=1\nb=\\u12\n",
            "a=1\nb=\\uzzzz\n",
            "a=1\n\\u+123=1\n",
            "a=1\nb=\\ud800\n",
        ] {
            match read_properties(text) {
                Err(ConfigError::Syntax { line: 2, .. }) => {}
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(Config::parse("dataDir=/d\nx=\\u00", Path::new("."))
            .unwrap_err()
            .to_string()
            .starts_with("line 2:"));
    }

    #[test]
    fn repeated_key_last_value_wins_with_a_warning() {
        // The first value is invalid, but ZooKeeper never sees it (Properties keeps the last).
        let (cfg, w) = warned("tickTime=abc\ntickTime=1000\n");
        assert_eq!(cfg.tick_time_ms, 1000);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("line 3") && w[0].contains("line 2"), "{w:?}");
        // Different spellings of one setting are the same setting.
        let (cfg, w) = warned("skipACL=no\nzookeeper.skipACL=yes\n");
        assert!(cfg.skip_acl);
        assert_eq!(w.len(), 1);
    }

    // --- Defaults and the sample file ---------------------------------------------------

    #[test]
    fn defaults_are_zookeepers() {
        let c = Config::defaults();
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(c.data_dir, PathBuf::from("./zooid-data"));
        assert_eq!(c.data_log_dir, None);
        assert_eq!(c.client_port, 2181);
        assert_eq!(c.client_port_address, None);
        assert_eq!(c.secure_client_port, None);
        assert_eq!(c.client_port_listen_backlog, None);
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.max_cnxns, 0);
        assert_eq!(c.min_session_timeout_ms, 6000);
        assert_eq!(c.max_session_timeout_ms, 60000);
        assert_eq!(c.global_outstanding_limit, 1000);
        assert_eq!(
            c.four_letter_words,
            FourLetterWhitelist::Only(BTreeSet::from(["srvr".to_owned()]))
        );
        assert_eq!(c.jute_maxbuffer, 0xfffff);
        assert_eq!(c.jute_maxbuffer_extrasize, None);
        assert!(!c.extended_types_enabled && !c.emulate_353_ttl_nodes);
        assert_eq!(c.super_digest, None);
        assert!(c.digest_auth_enabled);
        assert!(!c.skip_acl && !c.enforce_quota);
        assert_eq!(c.container_check_interval_ms, 60_000);
        assert_eq!(c.container_max_per_minute, 10_000);
        assert_eq!(c.container_max_never_used_interval_ms, 0);
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(c.snap_size_limit_kb, Some(4_194_304));
        assert_eq!(c.txn_log_size_limit_kb, None);
        assert_eq!(c.pre_alloc_size_kb, 65_536);
        assert!(c.force_sync);
        assert_eq!(c.fsync_warning_threshold_ms, 1000);
        assert_eq!(c.commit_log_count, 500);
        assert!(c.digest_enabled && !c.snapshot_trust_empty);
        assert!(c.datadir_autocreate && c.db_autocreate);
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.autopurge_purge_interval_h, 0);
        assert_eq!((c.init_limit, c.sync_limit), (0, 0));
        assert_eq!(c.connect_to_learner_master_limit, 0);
        assert!(c.servers.is_empty() && c.groups.is_empty() && c.weights.is_empty());
        assert_eq!(c.config_version, None);
        assert_eq!(c.dynamic_config_file, None);
        assert_eq!(c.peer_type, PeerType::Participant);
        assert!(c.standalone_enabled && !c.reconfig_enabled);
        assert!(!c.quorum_listen_on_all_ips);
        assert_eq!(c.observer_master_port, None);
        assert!(c.sync_enabled && c.leader_serves);
        assert!(!c.local_sessions_enabled && !c.local_sessions_upgrading_enabled);
        assert!(!c.read_only_mode_enabled);
        assert!(c.admin_enable_server);
        assert_eq!(c.admin_server_address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(c.admin_server_port, 8080);
        assert_eq!(c.admin_idle_timeout_ms, 30_000);
        assert_eq!(c.admin_command_url, "/commands");
        assert!(c.other.is_empty());
        assert_eq!(Config::default(), c);
    }

    #[test]
    fn zoo_sample_cfg_parses_without_warnings() {
        let (cfg, warnings) = Config::parse(ZOO_SAMPLE_CFG, Path::new("/opt/zk/conf")).unwrap();
        assert_eq!(warnings, Vec::<String>::new());
        let expected = Config {
            tick_time_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            data_dir: PathBuf::from("/tmp/zookeeper"),
            client_port: 2181,
            min_session_timeout_ms: 4000,
            max_session_timeout_ms: 40000,
            ..Config::defaults()
        };
        assert_eq!(cfg, expected);
    }

    #[test]
    fn a_minimal_file_needs_only_data_dir() {
        let (cfg, w) = Config::parse("dataDir=/var/lib/zk", Path::new(".")).unwrap();
        assert_eq!(cfg.tick_time_ms, 3000);
        assert_eq!(cfg.client_port, 2181);
        assert_eq!(
            w,
            vec!["clientPort is not set; listening on 2181".to_owned()]
        );
        assert!(matches!(
            Config::parse("", Path::new(".")),
            Err(ConfigError::Missing { key: "dataDir" })
        ));
        assert_eq!(
            Config::parse("tickTime=2000", Path::new("."))
                .unwrap_err()
                .to_string(),
            "dataDir is not set"
        );
    }

    // --- Every key ----------------------------------------------------------------------

    #[test]
    fn every_typed_key() {
        let text = "\
tickTime=1000
dataLogDir=/log
clientPortAddress=127.0.0.1
secureClientPort=2281
secureClientPortAddress=::1
observerMasterPort=2191
clientPortListenBacklog=128
maxClientCnxns=0
minSessionTimeout=2500
maxSessionTimeout=90000
initLimit=7
syncLimit=3
connectToLearnerMasterLimit=4
electionAlg=3
quorumListenOnAllIPs=TRUE
peerType=Observer
syncEnabled=false
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
standaloneEnabled=true
reconfigEnabled=true
localSessionsEnabled=true
localSessionsUpgradingEnabled=true
globalOutstandingLimit=500
preAllocSize=1024
snapCount=5000
commitLogCount=800
snapSizeLimitInKb=0
txnLogSizeLimitInKb=2048
maxCnxns=100
fsync.warningthresholdms=50
forceSync=no
extendedTypesEnabled=true
emulate353TTLNodes=true
4lw.commands.whitelist=stat, ruok ,conf,,isro
readonlymode.enabled=false
jute.maxbuffer=4194304
jute.maxbuffer.extrasize=2048
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
DigestAuthenticationProvider.enabled=false
skipACL=yes
enforceQuota=true
znode.container.checkIntervalMs=1000
znode.container.maxPerMinute=60
znode.container.maxNeverUsedIntervalMs=30000
digest.enabled=false
snapshot.trust.empty=true
datadir.autocreate=false
db.autocreate=false
leaderServes=no
admin.enableServer=false
admin.serverAddress=127.0.0.1
admin.serverPort=9090
admin.idleTimeout=1000
admin.commandURL=/cmds
server.1=zk1:2888:3888;2181
server.2=zk2:2888:3888
server.3=zk3:2888:3888
server.4=zk4:2888:3888:observer
group.1=1:2
weight.1=1
weight.2=0
version=1a
";
        let cfg = ok(text);
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let expected = Config {
            tick_time_ms: 1000,
            data_dir: PathBuf::from("/d"),
            data_log_dir: Some(PathBuf::from("/log")),
            client_port: 2181,
            client_port_address: Some(localhost),
            secure_client_port: Some(2281),
            secure_client_port_address: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            client_port_listen_backlog: Some(128),
            max_client_cnxns: 0,
            max_cnxns: 100,
            min_session_timeout_ms: 2500,
            max_session_timeout_ms: 90000,
            global_outstanding_limit: 500,
            four_letter_words: FourLetterWhitelist::Only(
                ["conf", "isro", "ruok", "srvr", "stat"]
                    .map(String::from)
                    .into(),
            ),
            jute_maxbuffer: 4_194_304,
            jute_maxbuffer_extrasize: Some(2048),
            local_sessions_enabled: true,
            local_sessions_upgrading_enabled: true,
            read_only_mode_enabled: false,
            extended_types_enabled: true,
            emulate_353_ttl_nodes: true,
            super_digest: Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=".to_owned()),
            digest_auth_enabled: false,
            skip_acl: true,
            enforce_quota: true,
            container_check_interval_ms: 1000,
            container_max_per_minute: 60,
            container_max_never_used_interval_ms: 30000,
            snap_count: 5000,
            snap_size_limit_kb: None,
            txn_log_size_limit_kb: Some(2048),
            pre_alloc_size_kb: 1024,
            force_sync: false,
            fsync_warning_threshold_ms: 50,
            commit_log_count: 800,
            digest_enabled: false,
            snapshot_trust_empty: true,
            datadir_autocreate: false,
            db_autocreate: false,
            autopurge_snap_retain_count: 5,
            autopurge_purge_interval_h: 24,
            init_limit: 7,
            sync_limit: 3,
            connect_to_learner_master_limit: 4,
            servers: BTreeMap::from([
                (1, "zk1:2888:3888;2181".to_owned()),
                (2, "zk2:2888:3888".to_owned()),
                (3, "zk3:2888:3888".to_owned()),
                (4, "zk4:2888:3888:observer".to_owned()),
            ]),
            groups: BTreeMap::from([(1, "1:2".to_owned())]),
            weights: BTreeMap::from([(1, "1".to_owned()), (2, "0".to_owned())]),
            config_version: Some(0x1a),
            dynamic_config_file: None,
            peer_type: PeerType::Observer,
            standalone_enabled: true,
            reconfig_enabled: true,
            quorum_listen_on_all_ips: true,
            observer_master_port: Some(2191),
            sync_enabled: false,
            leader_serves: false,
            admin_enable_server: false,
            admin_server_address: localhost,
            admin_server_port: 9090,
            admin_idle_timeout_ms: 1000,
            admin_command_url: "/cmds".to_owned(),
            other: BTreeMap::new(),
        };
        assert_eq!(cfg, expected);
    }

    #[test]
    fn every_known_key_is_handled_and_matched_by_one_entry() {
        let mut names = BTreeSet::new();
        for k in KNOWN {
            assert!(names.insert(k.name), "{} listed twice", k.name);
            let mut spellings = vec![k.name];
            spellings.extend(k.name.strip_prefix("zookeeper."));
            spellings.extend(k.aliases);
            for s in spellings {
                let owners: Vec<_> = KNOWN.iter().filter(|o| o.matches(s)).collect();
                assert_eq!(owners.len(), 1, "{s} matches {owners:?}");
            }
            // Whatever the value, applying a typed key returns; it never hits
            // `unreachable!`.
            for value in ["1", "true", "x"] {
                let _ = parse(&format!("{}={value}", k.name));
            }
        }
    }

    #[test]
    fn documented_keys_are_recognised() {
        // The keys of zookeeperAdmin.md (3.9.5), spelled as the guide spells them.
        #[rustfmt::skip]
        let documented = [
            "clientPort", "secureClientPort", "observerMasterPort", "dataDir", "tickTime",
            "dataLogDir", "globalOutstandingLimit", "preAllocSize", "snapCount",
            "commitLogCount", "snapSizeLimitInKb", "txnLogSizeLimitInKb", "maxCnxns",
            "maxClientCnxns", "clientPortAddress", "minSessionTimeout", "maxSessionTimeout",
            "fsync.warningthresholdms", "maxResponseCacheSize",
            "maxGetChildrenResponseCacheSize", "autopurge.snapRetainCount",
            "autopurge.purgeInterval", "syncEnabled", "extendedTypesEnabled",
            "emulate353TTLNodes", "watchManagerName", "watcherCleanThreadsNum",
            "watcherCleanThreshold", "watcherCleanIntervalInSeconds",
            "maxInProcessingDeadWatchers", "bitHashCacheSize",
            "fastleader.minNotificationInterval", "fastleader.maxNotificationInterval",
            "connectionMaxTokens", "connectionTokenFillTime", "connectionTokenFillCount",
            "connectionFreezeTime", "connectionDropIncrease", "connectionDropDecrease",
            "connectionDecreaseRatio", "zookeeper.connection_throttle_weight_enabled",
            "zookeeper.connection_throttle_global_session_weight",
            "zookeeper.connection_throttle_local_session_weight",
            "zookeeper.connection_throttle_renew_session_weight", "clientPortListenBacklog",
            "serverCnxnFactory", "flushDelay", "maxWriteQueuePollTime", "maxBatchSize",
            "enforceQuota", "requestThrottleLimit", "requestThrottleStallTime",
            "requestThrottleDropStale", "requestStaleLatencyCheck",
            "requestStaleConnectionCheck", "zookeeper.request_throttler.shutdownTimeout",
            "advancedFlowControlEnabled", "enableEagerACLCheck", "maxConcurrentSnapSyncs",
            "maxConcurrentDiffSyncs", "digest.enabled", "snapshot.compression.method",
            "snapshot.trust.empty", "audit.enable", "audit.impl.class",
            "largeRequestMaxBytes", "largeRequestThreshold", "outstandingHandshake.limit",
            "netty.server.earlyDropSecureConnectionHandshakes", "throttledOpWaitTime",
            "learner.closeSocketAsync", "leader.closeSocketAsync", "learner.asyncSending",
            "forward_learner_requests_to_commit_processor_disabled",
            "serializeLastProcessedZxid.enabled", "electionAlg", "maxTimeToWaitForEpoch",
            "initLimit", "connectToLearnerMasterLimit", "leaderServes", "server.1",
            "syncLimit", "group.1", "weight.1", "cnxTimeout", "quorumCnxnTimeoutMs",
            "standaloneEnabled", "reconfigEnabled", "4lw.commands.whitelist", "tcpKeepAlive",
            "clientTcpKeepAlive", "electionPortBindRetry", "observer.reconnectDelayMs",
            "observer.election.DelayMs", "localSessionsEnabled",
            "localSessionsUpgradingEnabled", "DigestAuthenticationProvider.enabled",
            "DigestAuthenticationProvider.superDigest",
            "DigestAuthenticationProvider.digestAlg",
            "IPAuthenticationProvider.usexforwardedfor",
            "X509AuthenticationProvider.superUser", "zookeeper.superUser",
            "ssl.authProvider", "zookeeper.ensembleAuthName", "sessionRequireClientSASLAuth",
            "enforce.auth.enabled", "enforce.auth.schemes", "sslQuorum",
            "ssl.keyStore.location", "ssl.keyStore.password", "ssl.quorum.keyStore.location",
            "ssl.quorum.keyStore.password", "ssl.keyStore.passwordPath",
            "ssl.quorum.keyStore.passwordPath", "ssl.keyStore.type", "ssl.quorum.keyStore.type",
            "ssl.trustStore.location", "ssl.trustStore.password",
            "ssl.quorum.trustStore.location", "ssl.quorum.trustStore.password",
            "ssl.trustStore.passwordPath", "ssl.quorum.trustStore.passwordPath",
            "ssl.trustStore.type", "ssl.quorum.trustStore.type", "ssl.protocol",
            "ssl.quorum.protocol", "ssl.enabledProtocols", "ssl.quorum.enabledProtocols",
            "ssl.ciphersuites", "ssl.quorum.ciphersuites", "ssl.context.supplier.class",
            "ssl.quorum.context.supplier.class", "ssl.hostnameVerification",
            "ssl.quorum.hostnameVerification", "ssl.clientHostnameVerification",
            "ssl.quorum.clientHostnameVerification", "ssl.allowReverseDnsLookup",
            "ssl.quorum.allowReverseDnsLookup", "ssl.crl", "ssl.quorum.crl", "ssl.ocsp",
            "ssl.quorum.ocsp", "ssl.clientAuth", "ssl.quorum.clientAuth",
            "ssl.handshakeDetectionTimeoutMillis", "ssl.quorum.handshakeDetectionTimeoutMillis",
            "ssl.sslProvider", "sslQuorumReloadCertFiles", "client.certReload",
            "client.portUnification", "authProvider.1", "kerberos.removeHostFromPrincipal",
            "kerberos.removeRealmFromPrincipal", "kerberos.canonicalizeHostNames",
            "multiAddress.enabled", "multiAddress.reachabilityCheckTimeoutMs", "fips-mode",
            "readonlymode.enabled", "zookeeper.follower.skipLearnerRequestToNextProcessor",
            "forceSync", "jute.maxbuffer", "jute.maxbuffer.extrasize", "skipACL",
            "quorumListenOnAllIPs", "multiAddress.reachabilityCheckEnabled",
            "zookeeper.datadir.autocreate", "zookeeper.db.autocreate",
            "zookeeper.nio.numSelectorThreads", "zookeeper.nio.numWorkerThreads",
            "zookeeper.commitProcessor.numWorkerThreads",
            "zookeeper.commitProcessor.maxReadBatchSize",
            "zookeeper.commitProcessor.maxCommitBatchSize", "znode.container.checkIntervalMs",
            "znode.container.maxPerMinute", "znode.container.maxNeverUsedIntervalMs",
            "zookeeper.messageTracker.BufferSize", "zookeeper.messageTracker.Enabled",
            "admin.rateLimiterIntervalInMS", "admin.snapshot.enabled", "admin.restore.enabled",
            "admin.needClientAuth", "admin.forceHttps", "admin.portUnification",
            "admin.enableServer", "admin.serverAddress", "admin.serverPort",
            "admin.idleTimeout", "admin.commandURL", "metricsProvider.className",
            "metricsProvider.httpHost", "metricsProvider.httpPort",
            "metricsProvider.exportJvmInfo", "metricsProvider.numWorkerThreads",
            "metricsProvider.maxQueueSize", "metricsProvider.workerShutdownTimeoutMs",
            "dynamicConfigFile", "peerType", "quorum.auth.enableSasl",
            "quorum.auth.serverRequireSasl", "quorum.auth.learnerRequireSasl",
            "quorum.auth.learner.saslLoginContext", "quorum.auth.server.saslLoginContext",
            "quorum.auth.kerberos.servicePrincipal", "quorum.cnxn.threads.size",
            "jvm.pause.info-threshold.ms", "jvm.pause.warn-threshold.ms",
            "jvm.pause.sleep.time.ms", "jvm.pause.monitor", "oraclePath", "version",
        ];
        for key in documented {
            let (target, _) = resolve(key).unwrap();
            assert_ne!(target, Target::Unknown, "{key}");
        }
    }

    #[test]
    fn system_property_spellings() {
        // zoo.cfg spelling, full property name, and the guide's name all set one setting.
        for text in [
            "skipACL=yes",
            "zookeeper.skipACL=yes",
            "extendedTypesEnabled=true",
            "zookeeper.extendedTypesEnabled=true",
        ] {
            let cfg = ok(text);
            assert!(cfg.skip_acl || cfg.extended_types_enabled, "{text}");
        }
        assert_eq!(
            ok("zookeeper.4lw.commands.whitelist=*").four_letter_words,
            FourLetterWhitelist::All
        );
        assert_eq!(
            ok("zookeeper.jute.maxbuffer.extrasize=5").jute_maxbuffer_extrasize,
            Some(5)
        );
        assert_eq!(ok("zookeeper.snapCount=10").snap_count, 10);
        assert!(!ok("zookeeper.observer.syncEnabled=false").sync_enabled);
        assert!(!ok("observer.syncEnabled=false").sync_enabled);
        assert_eq!(
            ok("zookeeper.DigestAuthenticationProvider.superDigest=super:x").super_digest,
            Some("super:x".to_owned())
        );
        for text in [
            "requestThrottleLimit=10",
            "request_throttle_max_requests=10",
            "zookeeper.request_throttle_max_requests=10",
        ] {
            let cfg = ok(text);
            assert_eq!(
                cfg.other
                    .get("zookeeper.request_throttle_max_requests")
                    .map(String::as_str),
                Some("10")
            );
        }
        // Direct QuorumPeerConfig keys take no prefix.
        let (_, w) = warned("zookeeper.tickTime=10");
        assert!(w[0].contains("unknown key \"zookeeper.tickTime\""), "{w:?}");
        // Properties ZooKeeper reads without the prefix are not taken with it.
        let (cfg, _) = warned("zookeeper.jute.maxbuffer=10");
        assert_eq!(cfg.jute_maxbuffer, 0xfffff);
    }

    #[test]
    fn other_settings_are_checked_and_kept_under_their_canonical_name() {
        let cfg = ok("\
maxResponseCacheSize=0
connectionDropIncrease=0.05
enableEagerACLCheck=TRUE
sslQuorum=False
audit.impl.class=org.example.Audit
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
metricsProvider.httpPort=7000
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
zookeeper.authProvider.x509=org.example.X509
superUser.1=admin
ssl.keyStore.location=/ks.jks
ssl.quorum.trustStore.type=PKCS12
zookeeper.ssl.quorum.clientAuth=need
quorum.cnxn.threads.size=20
jvm.pause.monitor=true
maxTimeToWaitForEpoch=-1
");
        let expected: BTreeMap<String, String> = [
            ("zookeeper.maxResponseCacheSize", "0"),
            ("zookeeper.connection_throttle_drop_increase", "0.05"),
            ("zookeeper.enableEagerACLCheck", "true"),
            ("sslQuorum", "false"),
            ("zookeeper.audit.impl.class", "org.example.Audit"),
            (
                "metricsProvider.className",
                "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
            ),
            ("metricsProvider.httpPort", "7000"),
            (
                "zookeeper.authProvider.1",
                "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
            ),
            ("zookeeper.authProvider.x509", "org.example.X509"),
            ("zookeeper.superUser.1", "admin"),
            ("zookeeper.ssl.keyStore.location", "/ks.jks"),
            ("zookeeper.ssl.quorum.trustStore.type", "PKCS12"),
            ("zookeeper.ssl.quorum.clientAuth", "need"),
            ("quorum.cnxn.threads.size", "20"),
            ("jvm.pause.monitor", "true"),
            ("zookeeper.leader.maxTimeToWaitForEpoch", "-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(cfg.other, expected);
    }

    #[test]
    fn unknown_keys_are_warnings() {
        let (cfg, w) = warned("tickTim=2000\nssl.keyStore.bogus=1\nauthProvider.=x\n");
        assert_eq!(cfg.tick_time_ms, 3000);
        assert_eq!(
            w,
            vec![
                "line 2: unknown key \"tickTim\" ignored".to_owned(),
                "line 3: unknown key \"ssl.keyStore.bogus\" ignored".to_owned(),
                "line 4: unknown key \"authProvider.\" ignored".to_owned(),
            ]
        );
        assert!(cfg.other.is_empty());
    }

    // --- Values -------------------------------------------------------------------------

    #[test]
    fn invalid_numbers_name_the_key_and_value() {
        invalid("tickTime=abc", "tickTime", "abc");
        invalid("tickTime=0", "tickTime", "0");
        invalid("tickTime=-5", "tickTime", "-5");
        invalid("tickTime=", "tickTime", "");
        invalid("tickTime=1.5", "tickTime", "1.5");
        invalid("tickTime=0x10", "tickTime", "0x10");
        invalid("clientPort=70000", "clientPort", "70000");
        invalid("clientPort=-1", "clientPort", "-1");
        invalid("secureClientPort=65536", "secureClientPort", "65536");
        invalid("admin.serverPort=99999", "admin.serverPort", "99999");
        invalid("maxClientCnxns=-1", "maxClientCnxns", "-1");
        invalid("maxClientCnxns=2147483648", "maxClientCnxns", "2147483648");
        invalid(
            "globalOutstandingLimit=-10",
            "globalOutstandingLimit",
            "-10",
        );
        invalid("zookeeper.maxCnxns=-1", "zookeeper.maxCnxns", "-1");
        invalid("initLimit=-1", "initLimit", "-1");
        invalid("minSessionTimeout=-2", "minSessionTimeout", "-2");
        invalid(
            "clientPortListenBacklog=-2",
            "clientPortListenBacklog",
            "-2",
        );
        invalid(
            "autopurge.purgeInterval=-1",
            "autopurge.purgeInterval",
            "-1",
        );
        invalid(
            "autopurge.snapRetainCount=-1",
            "autopurge.snapRetainCount",
            "-1",
        );
        invalid("snapCount=-1", "snapCount", "-1");
        invalid("preAllocSize=-1", "preAllocSize", "-1");
        invalid("jute.maxbuffer=0", "jute.maxbuffer", "0");
        invalid(
            "znode.container.maxPerMinute=0",
            "znode.container.maxPerMinute",
            "0",
        );
        invalid(
            "znode.container.checkIntervalMs=0",
            "znode.container.checkIntervalMs",
            "0",
        );
        invalid(
            "fsync.warningthresholdms=x",
            "fsync.warningthresholdms",
            "x",
        );
        invalid("maxResponseCacheSize=abc", "maxResponseCacheSize", "abc");
        invalid(
            "connectionDropIncrease=lots",
            "connectionDropIncrease",
            "lots",
        );
        invalid(
            "jvm.pause.sleep.time.ms=1s",
            "jvm.pause.sleep.time.ms",
            "1s",
        );
        invalid("version=xyz", "version", "xyz");
        invalid("electionAlg=1", "electionAlg", "1");
        invalid("peerType=voter", "peerType", "voter");
        invalid("dataDir=", "dataDir", "");
        invalid("dataLogDir=", "dataLogDir", "");
        invalid("clientPortAddress=", "clientPortAddress", "");
        invalid(
            "clientPortAddress=no-such-host.invalid",
            "clientPortAddress",
            "no-such-host.invalid",
        );
        let message = err("tickTime=abc").to_string();
        assert_eq!(
            message,
            "invalid value \"abc\" for tickTime: not a 32-bit integer"
        );
        assert_eq!(
            err("clientPort=70000").to_string(),
            "invalid value \"70000\" for clientPort: port out of range (0 to 65535)"
        );
    }

    #[test]
    fn numbers_accept_what_java_accepts() {
        assert_eq!(ok("tickTime=+2000").tick_time_ms, 2000);
        assert_eq!(
            ok("tickTime=2147483647\nminSessionTimeout=1\nmaxSessionTimeout=2").tick_time_ms,
            i32::MAX as u32
        );
        assert_eq!(ok("clientPort=0").client_port, 0);
        assert_eq!(ok("observerMasterPort=0").observer_master_port, None);
        assert_eq!(ok("observerMasterPort=-1").observer_master_port, None);
        assert_eq!(
            ok("clientPortListenBacklog=-1").client_port_listen_backlog,
            None
        );
        assert_eq!(ok("snapSizeLimitInKb=-1").snap_size_limit_kb, None);
        assert_eq!(ok("txnLogSizeLimitInKb=-1").txn_log_size_limit_kb, None);
        assert_eq!(ok("version=100000000").config_version, Some(0x1_0000_0000));
        assert_eq!(
            ok("connectionDropIncrease=1e-3").other["zookeeper.connection_throttle_drop_increase"],
            "1e-3"
        );
    }

    #[test]
    fn strict_booleans_are_errors_and_java_booleans_warnings() {
        invalid("standaloneEnabled=yes", "standaloneEnabled", "yes");
        invalid("reconfigEnabled=1", "reconfigEnabled", "1");
        invalid("sslQuorum=on", "sslQuorum", "on");
        invalid("syncEnabled=", "syncEnabled", "");
        assert!(!ok("reconfigEnabled=FALSE").reconfig_enabled);
        // Boolean.parseBoolean: anything but "true" is false.
        let (cfg, w) = warned("enforceQuota=yes");
        assert!(!cfg.enforce_quota);
        assert!(
            w[0].contains("enforceQuota") && w[0].contains("false"),
            "{w:?}"
        );
        assert!(ok("enforceQuota=True").enforce_quota);
    }

    #[test]
    fn word_switches_follow_zookeepers_exact_comparisons() {
        assert!(ok("skipACL=yes").skip_acl);
        assert!(!ok("skipACL=no").skip_acl);
        // ZooKeeper compares with "yes" exactly: "true" and "YES" leave ACLs on.
        for v in ["true", "YES"] {
            let (cfg, w) = warned(&format!("skipACL={v}"));
            assert!(!cfg.skip_acl);
            assert!(w[0].contains("reads as false"), "{w:?}");
        }
        assert!(!ok("forceSync=no").force_sync);
        assert!(ok("forceSync=yes").force_sync);
        assert!(warned("forceSync=false").0.force_sync);
        assert!(!ok("leaderServes=no").leader_serves);
        assert!(ok("admin.enableServer=true").admin_enable_server);
        assert!(!ok("admin.enableServer=false").admin_enable_server);
        assert!(warned("admin.enableServer=FALSE").0.admin_enable_server);
    }

    #[test]
    fn addresses() {
        let v6 = |s: &str| ok(&format!("clientPortAddress={s}")).client_port_address;
        assert_eq!(v6("::1"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(v6("[::1]"), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(v6("0.0.0.0"), Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        // Host names resolve as InetAddress.getByName does, preferring IPv4.
        assert_eq!(v6("localhost"), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn session_timeouts_default_from_tick_time() {
        let cfg = ok("tickTime=1500");
        assert_eq!(
            (cfg.min_session_timeout_ms, cfg.max_session_timeout_ms),
            (3000, 30000)
        );
        let cfg = ok("tickTime=1500\nminSessionTimeout=-1\nmaxSessionTimeout=-1");
        assert_eq!(
            (cfg.min_session_timeout_ms, cfg.max_session_timeout_ms),
            (3000, 30000)
        );
        // The defaults are computed after the whole file is read, whatever the order.
        let cfg = ok("maxSessionTimeout=100000\ntickTime=1000");
        assert_eq!(
            (cfg.min_session_timeout_ms, cfg.max_session_timeout_ms),
            (2000, 100000)
        );
        let cfg = ok("minSessionTimeout=10\nmaxSessionTimeout=10");
        assert_eq!(
            (cfg.min_session_timeout_ms, cfg.max_session_timeout_ms),
            (10, 10)
        );
    }

    #[test]
    fn min_session_timeout_above_max_is_an_error() {
        inconsistent(
            "minSessionTimeout=5000\nmaxSessionTimeout=4000",
            "minSessionTimeout (5000) must not be larger than maxSessionTimeout (4000)",
        );
        // Against the default maximum (20 ticks) too, as in ZooKeeper.
        inconsistent(
            "tickTime=100\nminSessionTimeout=5000",
            "maxSessionTimeout (2000)",
        );
        // 20 ticks must fit an int.
        invalid("tickTime=2147483647", "tickTime", "2147483647");
    }

    #[test]
    fn clamped_values_warn() {
        let (cfg, w) = warned("autopurge.snapRetainCount=1");
        assert_eq!(cfg.autopurge_snap_retain_count, 3);
        assert!(w[0].contains("autopurge.snapRetainCount 1"), "{w:?}");
        assert_eq!(warned("snapCount=1").0.snap_count, 2);
        assert_eq!(warned("commitLogCount=100").0.commit_log_count, 500);
    }

    #[test]
    fn four_letter_words() {
        let only = |words: &[&str]| {
            FourLetterWhitelist::Only(words.iter().map(|w| w.to_string()).collect())
        };
        assert_eq!(
            ok("4lw.commands.whitelist=").four_letter_words,
            only(&["srvr"])
        );
        assert_eq!(
            ok("4lw.commands.whitelist= stat , ruok,conf ").four_letter_words,
            only(&["conf", "ruok", "srvr", "stat"])
        );
        assert_eq!(
            ok("4lw.commands.whitelist=ruok, *").four_letter_words,
            FourLetterWhitelist::All
        );
        assert_eq!(
            ok("readonlymode.enabled=true").four_letter_words,
            only(&["isro", "srvr"])
        );
        let (cfg, w) = warned("4lw.commands.whitelist=stat,bogus,STAT");
        assert_eq!(cfg.four_letter_words, only(&["srvr", "stat"]));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("\"bogus\""), "{w:?}");

        let all = FourLetterWhitelist::All;
        assert!(FOUR_LETTER_WORDS.iter().all(|w| all.allows(w)));
        assert!(!all.allows("nope"));
        let some = only(&["srvr", "stat"]);
        assert!(some.allows("stat") && some.allows("srvr") && !some.allows("ruok"));
    }

    // --- Cross-checks -------------------------------------------------------------------

    #[test]
    fn listener_addresses_need_their_ports() {
        let e =
            Config::parse("dataDir=/d\nclientPortAddress=127.0.0.1", Path::new(".")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "clientPortAddress is set but clientPort is not set"
        );
        inconsistent("secureClientPortAddress=::1", "secureClientPort is not set");
    }

    #[test]
    fn quorum_sasl_requirements_need_sasl() {
        inconsistent(
            "quorum.auth.serverRequireSasl=true\nquorum.auth.learnerRequireSasl=true",
            "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl",
        );
        inconsistent(
            "quorum.auth.learnerRequireSasl=true",
            "quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.learnerRequireSasl",
        );
        inconsistent(
            "quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true",
            "quorum.auth.learnerRequireSasl is disabled",
        );
        ok(
            "quorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true\n\
            quorum.auth.learnerRequireSasl=true",
        );
    }

    #[test]
    fn ensembles() {
        let three = "server.1=a:2888:3888\nserver.2=b:2888:3888\nserver.3=c:2888:3888\n";
        let cfg = ok(&format!("initLimit=5\nsyncLimit=2\n{three}"));
        assert!(cfg.is_distributed());
        assert_eq!(cfg.participant_count(), 3);
        assert_eq!(err(three).to_string(), "initLimit is not set");
        assert_eq!(
            err(&format!("initLimit=5\n{three}")).to_string(),
            "syncLimit is not set"
        );

        let (cfg, w) = warned("server.1=a:2888:3888");
        assert!(!cfg.is_distributed());
        assert!(w[0].contains("only one server.N"), "{w:?}");
        let (_, w) = warned("initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2");
        assert!(w[0].contains("at least 3"), "{w:?}");
        let (_, w) = warned(&format!("initLimit=1\nsyncLimit=1\n{three}server.4=d:1:2"));
        assert!(w[0].contains("odd number"), "{w:?}");
        // Observers do not vote.
        let cfg = ok(&format!(
            "initLimit=1\nsyncLimit=1\n{three}server.4=d:1:2:observer"
        ));
        assert_eq!(cfg.participant_count(), 3);

        inconsistent("standaloneEnabled=false", "at least one participant");
        let (cfg, _) = warned("standaloneEnabled=false\ninitLimit=1\nsyncLimit=1\nserver.1=a:1:2");
        assert!(cfg.is_distributed());
        inconsistent("server.1=a:1:2:observer", "observers without participants");
        inconsistent(
            "server.1=a:1:2\nserver.2=b:1:2:observer",
            "observers without a quorum",
        );
        inconsistent(
            "dynamicConfigFile=/etc/zk/zoo.cfg.dynamic\nserver.1=a:1:2",
            "server.1 must be in the separate dynamic config file",
        );
        let cfg = ok("dynamicConfigFile=/etc/zk/zoo.cfg.dynamic");
        assert_eq!(
            cfg.dynamic_config_file,
            Some(PathBuf::from("/etc/zk/zoo.cfg.dynamic"))
        );
    }

    #[test]
    fn membership_keys() {
        for (text, key) in [
            ("server.x=a:1:2", "server.x"),
            ("server.-1=a:1:2", "server.-1"),
            ("server.1.2=a:1:2", "server.1.2"),
            ("groupies=1", "groupies"),
            ("weight=1", "weight"),
        ] {
            match err(text) {
                ConfigError::InvalidKey { key: k, .. } => assert_eq!(k, key),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(err("server.x=a")
            .to_string()
            .starts_with("invalid key \"server.x\""));
        // server.01 and server.1 are the same server: the last one wins.
        let (cfg, w) = warned("server.01=a:1:2\nserver.1=b:1:2");
        assert_eq!(cfg.servers, BTreeMap::from([(1, "b:1:2".to_owned())]));
        assert!(w.iter().any(|w| w.contains("set again")), "{w:?}");
        assert!(is_observer("[::1]:2888:3888:observer;2181"));
        assert!(is_observer("a:1:2:observer|b:1:2:observer"));
        assert!(!is_observer("a:1:2:participant;observer:2181"));
    }

    #[test]
    fn relative_paths_are_kept_and_warned_about() {
        let (cfg, w) = Config::parse(
            "dataDir=data\nclientPort=1\ndataLogDir=../log",
            Path::new("/etc/zk"),
        )
        .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("data"));
        assert_eq!(cfg.data_log_dir, Some(PathBuf::from("../log")));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("dataDir data is relative") && w[0].contains("/etc/zk"),
            "{w:?}"
        );
        assert!(w[1].starts_with("dataLogDir ../log is relative"), "{w:?}");
        // "./" says the user means it, as in ZooKeeper.
        let (_, w) = Config::parse("dataDir=./data\nclientPort=1", Path::new("/etc/zk")).unwrap();
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn directories() {
        let cfg = ok("");
        assert_eq!(cfg.snap_dir(), PathBuf::from("/d/version-2"));
        assert_eq!(cfg.txn_log_dir(), PathBuf::from("/d/version-2"));
        let cfg = ok("dataLogDir=/fast/");
        assert_eq!(cfg.txn_log_dir(), PathBuf::from("/fast/version-2"));
    }

    // --- conf ---------------------------------------------------------------------------

    #[test]
    fn render_matches_zookeepers_conf_output() {
        let (cfg, _) = Config::parse(ZOO_SAMPLE_CFG, Path::new("/opt/zk/conf")).unwrap();
        let facts = ConfFacts {
            client_port: Some(2181),
            secure_client_port: None,
            data_dir_size: 67108880,
            data_log_size: 1234,
            server_id: 0,
        };
        assert_eq!(
            cfg.render(&facts),
            "clientPort=2181\n\
             secureClientPort=-1\n\
             dataDir=/tmp/zookeeper/version-2\n\
             dataDirSize=67108880\n\
             dataLogDir=/tmp/zookeeper/version-2\n\
             dataLogSize=1234\n\
             tickTime=2000\n\
             maxClientCnxns=60\n\
             minSessionTimeout=4000\n\
             maxSessionTimeout=40000\n\
             clientPortListenBacklog=-1\n\
             serverId=0\n"
        );
        let cfg = ok("dataLogDir=/log\nclientPortListenBacklog=50\nmaxClientCnxns=0");
        let out = cfg.render(&ConfFacts::default());
        assert!(out.starts_with("clientPort=-1\n"), "{out}");
        assert!(out.contains("\ndataLogDir=/log/version-2\n"), "{out}");
        assert!(out.contains("\nmaxClientCnxns=0\n"), "{out}");
        assert!(out.contains("\nclientPortListenBacklog=50\n"), "{out}");
        // Relative directories print absolute, as File.getAbsolutePath does.
        let out = Config::defaults().render(&ConfFacts::default());
        let cwd = std::env::current_dir().unwrap();
        let expected = format!(
            "\ndataDir={}\n",
            cwd.join("./zooid-data/version-2").display()
        );
        assert!(out.contains(&expected), "{out}");
    }

    // --- Files --------------------------------------------------------------------------

    /// A file under the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> TempFile {
            let dir = std::env::temp_dir().join(format!("zooid-config-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn load_reads_a_file() {
        let f = TempFile::new("zoo.cfg", ZOO_SAMPLE_CFG.as_bytes());
        let (cfg, w) = Config::load(&f.0).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(cfg.tick_time_ms, 2000);
    }

    #[test]
    fn load_reports_the_path_of_a_missing_file() {
        let path = Path::new("/nonexistent/zooid/zoo.cfg");
        match Config::load(path) {
            Err(e @ ConfigError::Io { .. }) => {
                assert!(e.to_string().contains("/nonexistent/zooid/zoo.cfg"), "{e}");
                assert!(std::error::Error::source(&e).is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn load_decodes_utf8_with_bom_and_latin1() {
        let f = TempFile::new(
            "bom.cfg",
            "\u{feff}dataDir=/données\nclientPort=1\n".as_bytes(),
        );
        assert_eq!(
            Config::load(&f.0).unwrap().0.data_dir,
            PathBuf::from("/données")
        );
        let f = TempFile::new("latin1.cfg", b"dataDir=/donn\xe9es\nclientPort=1\n");
        assert_eq!(
            Config::load(&f.0).unwrap().0.data_dir,
            PathBuf::from("/données")
        );
    }
}
