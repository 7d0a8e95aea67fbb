//! Tests of zoo.cfg parsing, from the Properties grammar to the ensemble checks.

use super::keys::{resolve, Target, KNOWN};
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

/// [`parse`] with a `myid` file holding `myid`.
fn parse_myid(text: &str, myid: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let port = if text.contains("clientPort=") {
        ""
    } else {
        "clientPort=2181"
    };
    let text = format!("dataDir=/d\n{text}\n{port}");
    Config::parse_with_myid(&text, Path::new("/etc/zk"), Some(myid))
}

fn ok_with_myid(text: &str, myid: &str) -> Config {
    let (cfg, warnings) = parse_myid(text, myid).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(warnings, Vec::<String>::new(), "{text:?}");
    cfg
}

/// A `server.N` value that must parse (multiple addresses allowed).
fn server(id: u64, value: &str) -> QuorumServer {
    QuorumServer::parse(id, value, true).unwrap_or_else(|e| panic!("{value}: {e}"))
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
    assert!(c.servers.is_empty() && c.server_id.is_none());
    assert!(!c.multi_address_enabled);
    assert_eq!((c.cnx_timeout_ms, c.election_port_bind_retry), (5000, 3));
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
multiAddress.enabled=true
cnxTimeout=2000
electionPortBindRetry=0
version=1a
";
    let cfg = ok_with_myid(text, "4");
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
            (1, server(1, "zk1:2888:3888;2181")),
            (2, server(2, "zk2:2888:3888")),
            (3, server(3, "zk3:2888:3888")),
            (4, server(4, "zk4:2888:3888:observer")),
        ]),
        server_id: Some(4),
        multi_address_enabled: true,
        cnx_timeout_ms: 2000,
        election_port_bind_retry: 0,
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
        initial_config: None,
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
    // Each `key=value` is rejected with an error naming that key and value.
    for (key, value) in [
        ("tickTime", "abc"),
        ("tickTime", "0"),
        ("tickTime", "-5"),
        ("tickTime", ""),
        ("tickTime", "1.5"),
        ("tickTime", "0x10"),
        ("clientPort", "70000"),
        ("clientPort", "-1"),
        ("secureClientPort", "65536"),
        ("admin.serverPort", "99999"),
        ("maxClientCnxns", "-1"),
        ("maxClientCnxns", "2147483648"),
        ("globalOutstandingLimit", "-10"),
        ("zookeeper.maxCnxns", "-1"),
        ("initLimit", "-1"),
        ("minSessionTimeout", "-2"),
        ("clientPortListenBacklog", "-2"),
        ("autopurge.purgeInterval", "-1"),
        ("autopurge.snapRetainCount", "-1"),
        ("snapCount", "-1"),
        ("preAllocSize", "-1"),
        ("jute.maxbuffer", "0"),
        ("znode.container.maxPerMinute", "0"),
        ("znode.container.checkIntervalMs", "0"),
        ("fsync.warningthresholdms", "x"),
        ("maxResponseCacheSize", "abc"),
        ("connectionDropIncrease", "lots"),
        ("jvm.pause.sleep.time.ms", "1s"),
        ("version", "xyz"),
        ("electionAlg", "1"),
        ("peerType", "voter"),
        ("dataDir", ""),
        ("dataLogDir", ""),
        ("clientPortAddress", ""),
        ("clientPortAddress", "no-such-host.invalid"),
    ] {
        invalid(&format!("{key}={value}"), key, value);
    }
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
    for (text, expected) in [
        ("tickTime=1500", (3000, 30000)),
        (
            "tickTime=1500\nminSessionTimeout=-1\nmaxSessionTimeout=-1",
            (3000, 30000),
        ),
        // The defaults are computed after the whole file is read, whatever the order.
        ("maxSessionTimeout=100000\ntickTime=1000", (2000, 100000)),
        ("minSessionTimeout=10\nmaxSessionTimeout=10", (10, 10)),
    ] {
        let cfg = ok(text);
        assert_eq!(
            (cfg.min_session_timeout_ms, cfg.max_session_timeout_ms),
            expected,
            "{text:?}"
        );
    }
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
    let only =
        |words: &[&str]| FourLetterWhitelist::Only(words.iter().map(|w| w.to_string()).collect());
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
    let e = Config::parse("dataDir=/d\nclientPortAddress=127.0.0.1", Path::new(".")).unwrap_err();
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
    let cfg = ok_with_myid(&format!("initLimit=5\nsyncLimit=2\n{three}"), "2");
    assert!(cfg.is_distributed());
    assert_eq!(cfg.participant_count(), 3);
    assert_eq!(cfg.server_id, Some(2));
    assert_eq!(cfg.my_server().map(|s| s.addrs[0].host.as_str()), Some("b"));
    assert_eq!(err(three).to_string(), "initLimit is not set");
    assert_eq!(
        err(&format!("initLimit=5\n{three}")).to_string(),
        "syncLimit is not set"
    );

    let (cfg, w) = warned("server.1=a:2888:3888");
    assert!(!cfg.is_distributed());
    assert!(w[0].contains("only one server.N"), "{w:?}");
    let two = "initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2";
    let (_, w) = parse_myid(two, "1").unwrap();
    assert!(w[0].contains("at least 3"), "{w:?}");
    let four = format!("initLimit=1\nsyncLimit=1\n{three}server.4=d:1:2");
    let (_, w) = parse_myid(&four, "1").unwrap();
    assert!(w[0].contains("odd number"), "{w:?}");
    // Observers do not vote.
    let cfg = ok_with_myid(
        &format!("initLimit=1\nsyncLimit=1\n{three}server.4=d:1:2:observer"),
        "1",
    );
    assert_eq!(cfg.participant_count(), 3);

    inconsistent("standaloneEnabled=false", "at least one participant");
    let one = "standaloneEnabled=false\ninitLimit=1\nsyncLimit=1\nserver.1=a:1:2";
    let (cfg, _) = parse_myid(one, "1").unwrap();
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
    assert_eq!(cfg.servers, BTreeMap::from([(1, server(1, "b:1:2"))]));
    assert!(w.iter().any(|w| w.contains("set again")), "{w:?}");
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
