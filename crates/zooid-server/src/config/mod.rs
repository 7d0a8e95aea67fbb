//! zoo.cfg: ZooKeeper's configuration file, read the way ZooKeeper 3.9 reads it.
//!
//! The text is read as `java.util.Properties` reads it (the grammar is at the top of
//! `properties.rs`), and ZooKeeper trims every key and value and keeps the last value of a
//! repeated key.
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
//! The ensemble keys (`server.N`, with this server's id from `dataDir/myid`) are parsed
//! into [`QuorumServer`]s and checked as `QuorumPeerConfig.setupQuorumPeerConfig` checks
//! them (`ensemble.rs`, `quorum.rs`); host names stay unresolved until the host connects.
//!
//! Where Zooid is stricter than ZooKeeper, on purpose: a number that does not parse is an
//! error even for settings ZooKeeper reads with `Integer.getInteger` (which falls back to
//! the default without a word), negative counts and sizes are errors, and the file is read
//! as UTF-8 when it is valid UTF-8 (ZooKeeper reads ISO-8859-1, so it mangles non-ASCII
//! paths).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

mod ensemble;
mod keys;
mod parse;
mod properties;
mod quorum;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ensemble;

pub use ensemble::MYID_FILE;
pub use quorum::{ClientAddr, QuorumAddr, QuorumServer};

use ensemble::MyIdSource;
use keys::resolve_all;
use parse::Parser;
use properties::{java_trim, read_properties};

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
    /// `server.N` lines (`host:quorumPort:electionPort[:role][;[addr:]clientPort]`), by
    /// id. Hierarchical quorums (`group.N`, `weight.N`) are rejected, not implemented.
    pub servers: BTreeMap<u64, QuorumServer>,
    /// `myid` from dataDir: this server's id; `None` without the file (standalone).
    pub server_id: Option<u64>,
    /// `multiAddress.enabled`: a `server.N` line may list several `|`-separated addresses.
    pub multi_address_enabled: bool,
    /// `zookeeper.cnxTimeout`: how long opening a connection to a peer's election port
    /// may take, in ms; 0 waits as long as the OS does.
    pub cnx_timeout_ms: u32,
    /// `zookeeper.electionPortBindRetry`: attempts to bind the election port before the
    /// server gives up; 0 retries forever.
    pub election_port_bind_retry: u32,
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

    /// The text of the file the configuration was loaded from (`QuorumPeerConfig
    /// .initialConfig`, the admin `initial_configuration`); None when it came from no
    /// file.
    pub initial_config: Option<String>,
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
    /// A `server.N` line ZooKeeper would reject; `reason` is ZooKeeper's message.
    #[error("server.{id}: {reason}")]
    Server { id: u64, reason: String },
    /// The `myid` file in dataDir does not hold a server id.
    #[error("myid: {0}")]
    MyId(String),
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
    /// Whether the boolean setting `key` of [`Config::other`] (its canonical name there)
    /// is on, as `Boolean.parseBoolean` reads it (values read from zoo.cfg are already
    /// normalised to `true`/`false`).
    pub fn flag(&self, key: &str) -> bool {
        self.other
            .get(key)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

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
            server_id: None,
            multi_address_enabled: false,
            cnx_timeout_ms: 5000,
            election_port_bind_retry: 3,
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
            initial_config: None,
        }
    }

    /// Parses the text of a zoo.cfg. `base_dir` is the directory the file lives in; it is
    /// used only to warn that relative paths resolve against the working directory, not
    /// against it (ZooKeeper keeps them relative to the working directory, and so do we).
    /// Returns the configuration and the warnings, for the caller to log.
    ///
    /// The data directory is not looked at: the configuration is read as if it had no
    /// `myid` file (see [`Config::parse_with_myid`]).
    pub fn parse(text: &str, base_dir: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse_with(text, base_dir, MyIdSource::Given(None))
    }

    /// [`Config::parse`] for a data directory whose `myid` file holds `myid` (`None`: no
    /// such file).
    pub fn parse_with_myid(
        text: &str,
        base_dir: &Path,
        myid: Option<&str>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        Config::parse_with(text, base_dir, MyIdSource::Given(myid))
    }

    fn parse_with(
        text: &str,
        base_dir: &Path,
        myid: MyIdSource,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let entries = read_properties(text)?;
        let mut parser = Parser::new();
        for (target, name, entry) in resolve_all(&entries, &mut parser.warnings)? {
            parser.apply(target, name, entry)?;
        }
        parser.finish(base_dir, myid)
    }

    /// Reads and parses a zoo.cfg, and the `myid` file in its dataDir when there is one.
    /// The bytes are read as UTF-8 when they are valid UTF-8 (a leading byte order mark
    /// is dropped), else as ISO-8859-1 like ZooKeeper.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let text = decode(&bytes);
        let (mut cfg, warnings) = Config::parse_with(&text, base_dir, MyIdSource::DataDir)?;
        cfg.initial_config = Some(text);
        Ok((cfg, warnings))
    }

    /// Applies the `-Dname=value` system properties of JVM flags (`SERVER_JVMFLAGS` and
    /// `JVMFLAGS`, as zkServer.sh passes them to java; a later flag wins) that name a
    /// setting kept as a property ([`Config::other`]): `java.security.auth.login.config`,
    /// `zookeeper.sasl.serverconfig`, `zookeeper.superUser`, `zookeeper.authProvider.N`
    /// and the like. A setting zoo.cfg already holds keeps its zoo.cfg value, as in
    /// ZooKeeper, which sets the file's keys as system properties after the JVM starts.
    /// Settings with a typed field (`jute.maxbuffer`, ...) and unknown properties are left
    /// alone; the result holds the warnings to log.
    pub fn apply_jvm_flags(&mut self, flags: &str) -> Result<Vec<String>, ConfigError> {
        let mut from_flags: BTreeMap<String, String> = BTreeMap::new();
        let mut ignored = Vec::new();
        let mut parser = Parser::new();
        for flag in flags.split_whitespace() {
            let Some(prop) = flag.strip_prefix("-D") else {
                continue;
            };
            let (name, value) = prop.split_once('=').unwrap_or((prop, ""));
            let entry = properties::Entry {
                line: 0,
                key: format!("-D{name}"),
                value: value.to_owned(),
            };
            let value = match keys::resolve(name)? {
                (keys::Target::Known(k), canonical)
                    if canonical == name && k.kind != keys::Kind::Typed =>
                {
                    parser.checked(k.kind, &entry)?
                }
                (keys::Target::Family, canonical) if canonical == name => value.to_owned(),
                _ => {
                    ignored.push(format!(
                        "-D{name} ignored: not a setting Zooid takes from JVM flags"
                    ));
                    continue;
                }
            };
            from_flags.insert(name.to_owned(), value);
        }
        for (name, value) in from_flags {
            self.other.entry(name).or_insert(value);
        }
        ignored.extend(parser.warnings);
        Ok(ignored)
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
        self.servers
            .values()
            .filter(|s| s.role == PeerType::Participant)
            .count()
    }

    /// This server's own `server.N` line, when `myid` names one.
    pub fn my_server(&self) -> Option<&QuorumServer> {
        self.servers.get(&self.server_id?)
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

/// The file's bytes as text: UTF-8 without a BOM when valid, else ISO-8859-1.
fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}
