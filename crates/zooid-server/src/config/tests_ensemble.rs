//! Tests of the ensemble part of zoo.cfg: `server.N` in context, `myid`, the client port
//! from a server line, peer types and the other quorum settings. Where a comment says
//! "ZooKeeper:", the expectation was checked against ZooKeeper 3.8.0's QuorumPeerConfig.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::ensemble::parse_myid;
use super::*;

/// Three participants and an observer; server 1 names its client port.
const FOUR: &str = "\
initLimit=5
syncLimit=2
server.1=127.0.0.1:2888:3888;2182
server.2=b:2888:3888
server.3=c:2888:3888:observer
server.4=d:1:2
";

fn parse(text: &str, myid: Option<&str>) -> Result<(Config, Vec<String>), ConfigError> {
    Config::parse_with_myid(&format!("dataDir=/d\n{text}"), Path::new("/etc/zk"), myid)
}

fn ok(text: &str, myid: Option<&str>) -> (Config, Vec<String>) {
    parse(text, myid).unwrap_or_else(|e| panic!("{text:?} / {myid:?}: {e}"))
}

fn err(text: &str, myid: Option<&str>) -> String {
    match parse(text, myid) {
        Ok((cfg, _)) => panic!("{text:?} / {myid:?} parsed: {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn servers_are_parsed_with_their_roles_and_client_addresses() {
    let (cfg, w) = ok(FOUR, Some("2"));
    assert_eq!(cfg.servers.len(), 4);
    assert_eq!(cfg.participant_count(), 3);
    let s1 = &cfg.servers[&1];
    assert_eq!(s1.addrs[0].host, "127.0.0.1");
    assert_eq!(
        (s1.addrs[0].quorum_port, s1.addrs[0].election_port),
        (2888, 3888)
    );
    assert_eq!(s1.client_addr.as_ref().map(|c| c.port), Some(2182));
    assert_eq!(cfg.servers[&3].role, PeerType::Observer);
    assert_eq!(cfg.my_server().map(|s| s.id), Some(2));
    // Server 2's line has no client port, so the default stays, with the usual warning.
    assert_eq!(cfg.client_port, 2181);
    // Three participants: no warning about the count.
    assert_eq!(w, ["clientPort is not set; listening on 2181"]);
}

#[test]
fn a_bad_server_line_names_the_server_and_gives_zookeepers_message() {
    assert_eq!(
        err("server.3=a:1:1", None),
        "server.3: Client and election port must be different! Please update the \
         configuration file on server.3"
    );
    assert_eq!(
        err("server.2=a:1:2:leader", None),
        "server.2: Unrecognised peertype: leader"
    );
    let e = err("server.1=a:1", None);
    assert!(
        e.starts_with("server.1: a:1 does not have the form server_config"),
        "{e}"
    );
    // Every line is checked, even one that a standalone server ignores.
    let e = err("server.1=a:1:2\nserver.9=[::1:1:2", None);
    assert!(e.starts_with("server.9: [::1:1:2 starts with '['"), "{e}");
}

#[test]
fn multiple_addresses_need_multi_address_enabled() {
    let text = "server.1=a:1:2|b:1:2\nserver.2=c:1:2\nserver.3=d:1:2\ninitLimit=1\nsyncLimit=1";
    assert_eq!(
        err(text, Some("1")),
        "server.1: Multiple address feature is disabled, but multiple addresses were \
         specified for sid 1"
    );
    // The setting may come after the lines, and under its system property name.
    for key in ["multiAddress.enabled", "zookeeper.multiAddress.enabled"] {
        let (cfg, _) = ok(&format!("{text}\n{key}=true"), Some("1"));
        assert!(cfg.multi_address_enabled);
        assert_eq!(cfg.servers[&1].addrs.len(), 2);
    }
    let e = err(&format!("{text}\nmultiAddress.enabled=yes"), Some("1"));
    assert!(e.contains("multiAddress.enabled"), "{e}");
}

#[test]
fn ipv6_servers() {
    let text = "\
initLimit=1
syncLimit=1
server.1=[::1]:2888:3888;[::1]:2181
server.2=[2001:db8::2]:2888:3888
server.3=[2001:db8::3]:2888:3888:observer
server.4=[2001:db8::4]:2888:3888
";
    let (cfg, _) = ok(text, Some("1"));
    assert_eq!(cfg.servers[&2].addrs[0].host, "2001:db8::2");
    assert_eq!(cfg.servers[&3].role, PeerType::Observer);
    // Server 1 takes its client address from its line.
    assert_eq!(cfg.client_port, 2181);
    assert_eq!(
        cfg.client_port_address,
        Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
    );
    let e = err("server.1=::1:2888:3888", None);
    assert!(e.contains("does not have the form"), "{e}");
}

#[test]
fn myid_is_read_like_zookeeper() {
    assert_eq!(parse_myid("1").unwrap(), 1);
    assert_eq!(parse_myid("1\n").unwrap(), 1);
    assert_eq!(parse_myid("12\r\n").unwrap(), 12);
    // ZooKeeper: only the first line counts.
    assert_eq!(parse_myid("+1\nxyz").unwrap(), 1);
    assert_eq!(parse_myid("18446744073709551615").ok(), None);
    assert_eq!(parse_myid("9223372036854775807").unwrap(), i64::MAX as u64);
    // ZooKeeper: "serverid 1  is not a number" (no trimming) and "serverid null ...".
    for (text, shown) in [
        ("1 ", "\"1 \""),
        (" 1", "\" 1\""),
        ("", "\"null\""),
        ("\n1", "\"\""),
        ("one", "\"one\""),
        ("0x1", "\"0x1\""),
    ] {
        let e = parse_myid(text).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("myid: serverid {shown} is not a number"),
            "{text:?}"
        );
    }
    let e = parse_myid("-5").unwrap_err().to_string();
    assert_eq!(e, "myid: serverid -5 is negative: ids are 0 or more");
}

#[test]
fn myid_is_required_in_an_ensemble_and_must_be_a_member() {
    // ZooKeeper: "myid file is missing".
    assert_eq!(err(FOUR, None), "myid file is missing");
    assert_eq!(err(FOUR, Some("x")), "myid: serverid \"x\" is not a number");
    // ZooKeeper's QuorumPeer.start refuses this; the configuration is where we can tell.
    assert_eq!(err(FOUR, Some("9")), "My id 9 not in the peer list");
    // A standalone server does not need one, but a bad one is still an error.
    let (cfg, _) = ok("clientPort=2181", None);
    assert_eq!(cfg.server_id, None);
    let (cfg, _) = ok("clientPort=2181", Some("3"));
    assert_eq!(cfg.server_id, Some(3));
    assert!(err("clientPort=2181", Some("")).contains("serverid \"null\""));
    // The limits are checked first, as in checkValidity.
    let no_limits = FOUR.replace("initLimit=5\n", "");
    assert_eq!(err(&no_limits, None), "initLimit is not set");
}

#[test]
fn the_client_port_may_come_from_this_servers_line() {
    // ZooKeeper: the server line gives 0.0.0.0:2182.
    let (cfg, _) = ok(FOUR, Some("1"));
    assert_eq!((cfg.client_port, cfg.client_port_address), (2182, None));
    // The same port in clientPort agrees with it.
    let (cfg, w) = ok(&format!("clientPort=2182\n{FOUR}"), Some("1"));
    assert_eq!(cfg.client_port, 2182);
    assert!(!w.iter().any(|w| w.contains("clientPort")), "{w:?}");
    // ZooKeeper: "... static config file is 0.0.0.0/0.0.0.0:2181 is different from client
    // address found in dynamic file: /0.0.0.0:2182".
    assert_eq!(
        err(&format!("clientPort=2181\n{FOUR}"), Some("1")),
        "client address for this server (id = 1) in static config file is 0.0.0.0:2181 is \
         different from client address found in dynamic file: 0.0.0.0:2182"
    );
    // A specific clientPortAddress must match the address too.
    let e = err(
        &format!("clientPort=2182\nclientPortAddress=127.0.0.2\n{FOUR}"),
        Some("1"),
    );
    assert!(e.contains("is 127.0.0.2:2182 is different"), "{e}");
    let text = "clientPort=2181\nclientPortAddress=127.0.0.1\nserver.1=a:1:2;127.0.0.1:2181";
    let (cfg, _) = ok(text, Some("1"));
    assert_eq!(
        cfg.client_port_address,
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    // The rule applies to a standalone server with a myid too (ZooKeeper: same error).
    let e = err("clientPort=2181\nserver.1=a:1:2;3000", Some("1"));
    assert!(e.contains("0.0.0.0:3000"), "{e}");
    let (cfg, _) = ok("server.1=a:1:2;3000", Some("1"));
    assert_eq!(cfg.client_port, 3000);
    // Without myid the server lines say nothing about this server.
    let (cfg, w) = ok("server.1=a:1:2;3000", None);
    assert_eq!(cfg.client_port, 2181);
    assert!(
        w.iter().any(|w| w.starts_with("clientPort is not set")),
        "{w:?}"
    );
}

#[test]
fn the_server_list_decides_the_peer_type() {
    let (cfg, w) = ok(&format!("peerType=observer\n{FOUR}"), Some("3"));
    assert_eq!(cfg.peer_type, PeerType::Observer);
    assert!(!w.iter().any(|w| w.contains("Peer type")), "{w:?}");
    // ZooKeeper: warns and takes the list's word.
    let (cfg, w) = ok(&format!("peerType=observer\n{FOUR}"), Some("1"));
    assert_eq!(cfg.peer_type, PeerType::Participant);
    assert!(
        w.contains(
            &"Peer type from servers list (PARTICIPANT) doesn't match peerType (OBSERVER). \
              Defaulting to servers list."
                .to_owned()
        ),
        "{w:?}"
    );
    // peerType defaults to participant, so an observer without it gets the warning too.
    for text in [format!("peerType=participant\n{FOUR}"), FOUR.to_owned()] {
        let (cfg, w) = ok(&text, Some("3"));
        assert_eq!(cfg.peer_type, PeerType::Observer);
        let mismatch = "(OBSERVER) doesn't match peerType (PARTICIPANT)";
        assert!(w.iter().any(|w| w.contains(mismatch)), "{w:?}");
    }
}

#[test]
fn standalone_or_distributed() {
    // One participant with standaloneEnabled: standalone, the line ignored.
    let (cfg, w) = ok("server.1=a:1:2", Some("1"));
    assert!(!cfg.is_distributed());
    assert!(w.iter().any(|w| w.contains("only one server.N")), "{w:?}");
    // standaloneEnabled=false makes even one participant an ensemble.
    let one = "standaloneEnabled=false\ninitLimit=1\nsyncLimit=1\nserver.1=a:1:2";
    let (cfg, _) = ok(one, Some("1"));
    assert!(cfg.is_distributed());
    assert_eq!(err(one, None), "myid file is missing");
    // Observers need a quorum of participants.
    let e = err("server.1=a:1:2:observer\nserver.2=b:1:2:observer", None);
    assert!(e.contains("observers without participants"), "{e}");
    let e = err("server.1=a:1:2\nserver.2=b:1:2:observer", Some("1"));
    assert!(e.contains("observers without a quorum"), "{e}");
}

#[test]
fn hierarchical_quorums_are_rejected() {
    for key in ["group.1=1:2:3", "weight.1=2"] {
        let e = err(&format!("{FOUR}{key}"), Some("1"));
        assert!(e.contains("hierarchical quorums"), "{e}");
        assert!(e.contains(key.split('=').next().unwrap()), "{e}");
    }
}

#[test]
fn quorum_settings() {
    let (cfg, _) = ok("clientPort=1", None);
    assert_eq!(
        (cfg.cnx_timeout_ms, cfg.election_port_bind_retry),
        (5000, 3)
    );
    assert!(cfg.leader_serves && cfg.sync_enabled && !cfg.quorum_listen_on_all_ips);
    let text = "clientPort=1\ncnxTimeout=0\nzookeeper.electionPortBindRetry=0\n\
                leaderServes=no\nsyncEnabled=false\nquorumListenOnAllIPs=true";
    let (cfg, w) = ok(text, None);
    assert_eq!((cfg.cnx_timeout_ms, cfg.election_port_bind_retry), (0, 0));
    assert!(!cfg.leader_serves && !cfg.sync_enabled && cfg.quorum_listen_on_all_ips);
    assert!(w.is_empty(), "{w:?}");
    // QuorumCnxManager falls back to 3 retries for a negative value.
    let (cfg, w) = ok("clientPort=1\nelectionPortBindRetry=-2", None);
    assert_eq!(cfg.election_port_bind_retry, 3);
    assert!(
        w[0].contains("electionPortBindRetry -2 must be >= 0"),
        "{w:?}"
    );
    assert!(err("clientPort=1\ncnxTimeout=-1", None).contains("must not be negative"));
    assert!(err("clientPort=1\ncnxTimeout=5s", None).contains("cnxTimeout"));
    // electionAlg: only 3.
    let (_, w) = ok("clientPort=1\nelectionAlg=3", None);
    assert!(w.is_empty(), "{w:?}");
    for alg in ["0", "1", "2", "x"] {
        assert!(err(&format!("clientPort=1\nelectionAlg={alg}"), None).contains("electionAlg"));
    }
    // Host names are not canonicalised.
    let (_, w) = ok(
        &format!("clientPort=1\nkerberos.canonicalizeHostNames=true\n{FOUR}"),
        Some("2"),
    );
    assert!(
        w.iter().any(|w| w.contains("canonicalizeHostNames")),
        "{w:?}"
    );
}

#[test]
fn a_dynamic_config_file_holds_the_membership() {
    let e = err("dynamicConfigFile=/etc/zk/dyn\nserver.1=a:1:2", None);
    assert!(
        e.contains("server.1 must be in the separate dynamic config file"),
        "{e}"
    );
    // The membership checks wait for that file, which is not read here.
    let (cfg, _) = ok("dynamicConfigFile=/etc/zk/dyn\nclientPort=1", Some("x"));
    assert!(cfg.servers.is_empty() && cfg.server_id.is_none());
}

/// A directory under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "zooid-config-ensemble-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_reads_myid_from_the_data_dir() {
    let d = TempDir::new("load");
    let data = d.0.join("data");
    std::fs::create_dir(&data).unwrap();
    let cfg_path = d.0.join("zoo.cfg");
    std::fs::write(&cfg_path, format!("dataDir={}\n{FOUR}", data.display())).unwrap();
    assert_eq!(
        Config::load(&cfg_path).unwrap_err().to_string(),
        "myid file is missing"
    );
    std::fs::write(data.join(MYID_FILE), "3\n").unwrap();
    let (cfg, _) = Config::load(&cfg_path).unwrap();
    assert_eq!(cfg.server_id, Some(3));
    assert_eq!(cfg.peer_type, PeerType::Observer);
    std::fs::write(data.join(MYID_FILE), "3 \n").unwrap();
    assert!(Config::load(&cfg_path)
        .unwrap_err()
        .to_string()
        .contains("\"3 \""));
    // A directory named myid is no myid file, as File.isFile says.
    std::fs::remove_file(data.join(MYID_FILE)).unwrap();
    std::fs::create_dir(data.join(MYID_FILE)).unwrap();
    assert_eq!(
        Config::load(&cfg_path).unwrap_err().to_string(),
        "myid file is missing"
    );
}
