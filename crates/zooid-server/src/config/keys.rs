//! The keys of zoo.cfg: the table of known settings, how a key resolves to one, and how
//! an entry's value is checked.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::properties::Entry;
use super::ConfigError;

/// How the value of a recognised key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Assigned to a typed field of [`Config`](super::Config) by
    /// [`Parser::typed`](super::parse::Parser::typed).
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
pub(super) struct Known {
    /// The canonical name: the Java system property, or the zoo.cfg key when there is no
    /// property.
    pub(super) name: &'static str,
    /// Other spellings in zoo.cfg (besides `name` minus a `zookeeper.` prefix).
    pub(super) aliases: &'static [&'static str],
    pub(super) kind: Kind,
}

impl Known {
    pub(super) fn matches(&self, key: &str) -> bool {
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
pub(super) static KNOWN: &[Known] = &[
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
    alias("multiAddress.enabled", &["zookeeper.multiAddress.enabled"], Typed),
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
    known("zookeeper.cnxTimeout", Typed),
    known("zookeeper.quorumCnxnTimeoutMs", Int),
    known("zookeeper.tcpKeepAlive", JavaBool),
    known("zookeeper.clientTcpKeepAlive", JavaBool),
    known("zookeeper.electionPortBindRetry", Typed),
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
    // Not a zoo.cfg key in ZooKeeper (the JVM's JAAS file, set with -D); Zooid reads it
    // from zoo.cfg or from SERVER_JVMFLAGS / JVMFLAGS.
    known("java.security.auth.login.config", Str),
    known("zookeeper.letAnySaslUserDoX", Str),
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
pub(super) enum Target {
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
pub(super) fn resolve(key: &str) -> Result<(Target, String), ConfigError> {
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
pub(super) fn resolve_all<'a>(
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
    pub(super) fn invalid(&self, reason: impl Into<String>) -> ConfigError {
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
    pub(super) fn int(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        let int = (i64::from(i32::MIN), i64::from(i32::MAX));
        self.number("a 32-bit integer", int, min, max)
    }

    /// A Java `long` in `min..=max`.
    pub(super) fn long(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        self.number("a 64-bit integer", (i64::MIN, i64::MAX), min, max)
    }

    /// Any Java `int`.
    pub(super) fn any_int(&self) -> Result<i64, ConfigError> {
        self.int(i64::from(i32::MIN), i64::from(i32::MAX))
    }

    /// A non-negative Java `int`.
    pub(super) fn count(&self) -> Result<u32, ConfigError> {
        Ok(self.int(0, i64::from(i32::MAX))? as u32)
    }

    /// A positive Java `int`.
    pub(super) fn positive(&self) -> Result<u32, ConfigError> {
        Ok(self.int(1, i64::from(i32::MAX))? as u32)
    }

    /// A non-negative Java `int`, or -1 for "not set" (`None`).
    pub(super) fn count_or_unset(&self) -> Result<Option<u32>, ConfigError> {
        Ok(match self.int(-1, i64::from(i32::MAX))? {
            -1 => None,
            v => Some(v as u32),
        })
    }

    /// A non-negative Java `int` raised to `min`, as ZooKeeper raises it, with a warning
    /// that names the setting as `label` when that changes it.
    pub(super) fn count_at_least(
        &self,
        label: &str,
        min: u32,
        warnings: &mut Vec<String>,
    ) -> Result<u32, ConfigError> {
        let n = self.count()?;
        if n < min {
            warnings.push(format!(
                "line {}: {label} {n} is below the minimum; using {min}",
                self.line
            ));
        }
        Ok(n.max(min))
    }

    /// A non-negative Java `long`.
    pub(super) fn count_long(&self) -> Result<u64, ConfigError> {
        Ok(self.long(0, i64::MAX)? as u64)
    }

    /// A TCP port, as `new InetSocketAddress(port)` accepts it.
    pub(super) fn port(&self) -> Result<u16, ConfigError> {
        let v = self.any_int()?;
        u16::try_from(v).map_err(|_| self.invalid("port out of range (0 to 65535)"))
    }

    /// `QuorumPeerConfig.parseBoolean`.
    pub(super) fn strict_bool(&self) -> Result<bool, ConfigError> {
        if self.value.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if self.value.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(self.invalid("choose 'true' or 'false'"))
        }
    }

    /// `Boolean.parseBoolean`: anything but `true` (any case) is false, which we point out.
    pub(super) fn java_bool(&self, warnings: &mut Vec<String>) -> bool {
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
    pub(super) fn word_switch(
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
    pub(super) fn path(&self) -> Result<PathBuf, ConfigError> {
        if self.value.is_empty() {
            return Err(self.invalid("must not be empty"));
        }
        Ok(PathBuf::from(&self.value))
    }

    /// An address as `InetAddress.getByName` reads it: see [`resolve_host`].
    pub(super) fn host(&self) -> Result<IpAddr, ConfigError> {
        resolve_host(&self.value).map_err(|reason| self.invalid(reason))
    }
}

/// An address as `InetAddress.getByName` reads it: an IP literal (IPv6 with or without
/// brackets) or a host name, resolved now (IPv4 first, as Java prefers).
pub(super) fn resolve_host(v: &str) -> Result<IpAddr, String> {
    let literal = v
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(v);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(ip);
    }
    if v.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let addrs: Vec<IpAddr> = (v, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve host: {e}"))?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "host has no address".to_owned())
}
