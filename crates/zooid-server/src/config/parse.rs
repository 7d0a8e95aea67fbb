//! Applying the entries of a zoo.cfg to a [`Config`], and the checks made once the whole
//! file is read.

use std::collections::BTreeMap;
use std::path::Path;

use super::ensemble::{self, MyIdSource};
use super::keys::{Kind, Target};
use super::properties::Entry;
use super::{
    Config, ConfigError, FourLetterWhitelist, PeerType, COMMIT_LOG_COUNT_MIN, SNAP_COUNT_MIN,
    SNAP_RETAIN_COUNT_MIN,
};

/// Settings resolved only once the whole file has been read.
#[derive(Debug, Default)]
struct Pending {
    data_dir: bool,
    client_port: bool,
    /// `None` when unset or -1.
    min_session_timeout_ms: Option<u32>,
    max_session_timeout_ms: Option<u32>,
    four_letter_words: Option<String>,
    /// `server.N` values, parsed once `multiAddress.enabled` is known.
    servers: BTreeMap<u64, String>,
}

pub(super) struct Parser {
    cfg: Config,
    pending: Pending,
    pub(super) warnings: Vec<String>,
}

impl Parser {
    pub(super) fn new() -> Parser {
        Parser {
            cfg: Config::defaults(),
            pending: Pending::default(),
            warnings: Vec::new(),
        }
    }

    /// Applies one entry; `name` is its canonical name.
    pub(super) fn apply(
        &mut self,
        target: Target,
        name: String,
        e: &Entry,
    ) -> Result<(), ConfigError> {
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
                self.pending.servers.insert(id, e.value.clone());
            }
            Target::Group(_) | Target::Weight(_) => {
                return Err(ConfigError::InvalidKey {
                    key: e.key.clone(),
                    reason: "hierarchical quorums (group.N, weight.N) are not supported; \
                             Zooid counts a majority of the server.N participants"
                        .to_owned(),
                });
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
    pub(super) fn checked(&mut self, kind: Kind, e: &Entry) -> Result<String, ConfigError> {
        Ok(match kind {
            Kind::Int => e.any_int()?.to_string(),
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

    /// Assigns a typed setting. `name` is the canonical name from
    /// [`KNOWN`](super::keys::KNOWN).
    fn typed(&mut self, name: &str, e: &Entry) -> Result<(), ConfigError> {
        let w = &mut self.warnings;
        let c = &mut self.cfg;
        match name {
            "tickTime" => {
                // ZooKeeper reads 0 as "tickTime is not set".
                c.tick_time_ms = e.positive()?;
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
            "clientPortListenBacklog" => c.client_port_listen_backlog = e.count_or_unset()?,
            "maxClientCnxns" => c.max_client_cnxns = e.count()?,
            "minSessionTimeout" => self.pending.min_session_timeout_ms = e.count_or_unset()?,
            "maxSessionTimeout" => self.pending.max_session_timeout_ms = e.count_or_unset()?,
            "initLimit" => c.init_limit = e.count()?,
            "syncLimit" => c.sync_limit = e.count()?,
            "connectToLearnerMasterLimit" => c.connect_to_learner_master_limit = e.count()?,
            "electionAlg" => {
                if e.any_int()? != 3 {
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
            "multiAddress.enabled" => c.multi_address_enabled = e.strict_bool()?,
            "dynamicConfigFile" => c.dynamic_config_file = Some(e.path()?),
            "autopurge.snapRetainCount" => {
                c.autopurge_snap_retain_count =
                    e.count_at_least("autopurge.snapRetainCount", SNAP_RETAIN_COUNT_MIN, w)?;
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
        let w = &mut self.warnings;
        let c = &mut self.cfg;
        match name {
            "zookeeper.globalOutstandingLimit" => c.global_outstanding_limit = e.count()?,
            // ZooKeeper multiplies KiB by 1024 into a long.
            "zookeeper.preAllocSize" => c.pre_alloc_size_kb = e.long(0, i64::MAX / 1024)? as u64,
            "zookeeper.snapCount" => {
                c.snap_count = e.count_at_least("snapCount", SNAP_COUNT_MIN, w)?;
            }
            "zookeeper.commitLogCount" => {
                c.commit_log_count = e.count_at_least("commitLogCount", COMMIT_LOG_COUNT_MIN, w)?;
            }
            // A value that is not positive disables these limits.
            "zookeeper.snapSizeLimitInKb" => c.snap_size_limit_kb = size_limit_kb(e)?,
            "zookeeper.txnLogSizeLimitInKb" => c.txn_log_size_limit_kb = size_limit_kb(e)?,
            "zookeeper.maxCnxns" => c.max_cnxns = e.count()?,
            // A negative timeout makes Java's Socket.connect throw: refuse it up front.
            "zookeeper.cnxTimeout" => c.cnx_timeout_ms = e.count()?,
            "zookeeper.electionPortBindRetry" => {
                // QuorumCnxManager.Listener falls back to 3 for a negative value.
                let retry = e.any_int()?;
                c.election_port_bind_retry = u32::try_from(retry).unwrap_or_else(|_| {
                    w.push(format!(
                        "line {}: electionPortBindRetry {retry} must be >= 0; using 3",
                        e.line
                    ));
                    3
                });
            }
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
            "jute.maxbuffer" => c.jute_maxbuffer = e.positive()?,
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
                c.container_check_interval_ms = e.positive()?;
            }
            // ContainerManager divides a minute by this.
            "znode.container.maxPerMinute" => {
                c.container_max_per_minute = e.positive()?;
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
    pub(super) fn finish(
        mut self,
        base_dir: &Path,
        myid: MyIdSource,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        if !self.pending.data_dir {
            return Err(ConfigError::Missing { key: "dataDir" });
        }
        self.check_listeners()?;
        self.resolve_session_timeouts()?;
        self.check_quorum_sasl()?;
        let settled = ensemble::setup(
            &mut self.cfg,
            &mut self.warnings,
            &self.pending.servers,
            myid,
            self.pending.client_port,
        )?;
        if !self.pending.client_port && !settled.client_port_from_server_line {
            // ZooKeeper opens no plaintext listener without a client port; Zooid always
            // has one, so say which port it is.
            self.warnings.push(format!(
                "clientPort is not set; listening on {}",
                self.cfg.client_port
            ));
        }
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
}

/// `snapSizeLimitInKb` / `txnLogSizeLimitInKb`: a value that is not positive disables.
fn size_limit_kb(e: &Entry) -> Result<Option<u64>, ConfigError> {
    let v = e.long(i64::MIN, i64::MAX / 1024)?;
    Ok(u64::try_from(v).ok().filter(|&v| v > 0))
}
