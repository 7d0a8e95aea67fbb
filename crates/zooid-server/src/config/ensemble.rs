//! The ensemble part of zoo.cfg: the `server.N` lines, this server's `myid`, and the
//! checks of `QuorumPeerConfig.setupQuorumPeerConfig` (`parseDynamicConfig`,
//! `setupMyId`, `setupClientPort`, `setupPeerType`, `checkValidity`) plus the one check
//! `QuorumPeer.start` makes on the configuration ("My id N not in the peer list").
//!
//! # myid
//!
//! ```text
//! myid = number [ newline any* ] ;   only the first line is read (BufferedReader.readLine)
//! number = [ "+" ] digit+ ;          Long.parseLong, not trimmed: "1 " is an error
//! ```
//!
//! A missing `dataDir/myid` (or a directory in its place) is fine for a standalone server
//! and an error in an ensemble. ZooKeeper takes a negative id and then finds no server
//! line for it; Zooid's ids are unsigned, so a negative id is an error at once.
//!
//! Hierarchical quorums (`group.N`, `weight.N`) are not implemented: such keys are
//! rejected with an error saying so (see `Parser::apply`), never ignored, because a
//! server that silently counted majorities instead of groups would disagree with its
//! peers about what a quorum is.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use super::keys::resolve_host;
use super::quorum::QuorumServer;
use super::{Config, ConfigError, PeerType};

/// The file in `dataDir` that holds this server's id.
pub const MYID_FILE: &str = "myid";

/// Where the text of `myid` comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum MyIdSource<'a> {
    /// Read `dataDir/myid` (what a server does).
    DataDir,
    /// This text, or no file at all (for parsing a config without touching the disk).
    Given(Option<&'a str>),
}

/// The longest `myid` file we read: a u64 has 20 digits; this bounds a mistaken path.
const MYID_BYTES_MAX: u64 = 4096;

/// Reads `dataDir/myid` as `setupMyId` does: `None` when it is not a regular file.
pub(super) fn read_myid_file(data_dir: &Path) -> Result<Option<String>, ConfigError> {
    use std::io::Read;
    let path = data_dir.join(MYID_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MYID_BYTES_MAX).read_to_end(&mut bytes))
        .map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// `Long.parseLong(readLine())` of the `myid` file's text.
pub(super) fn parse_myid(text: &str) -> Result<u64, ConfigError> {
    // readLine returns null for an empty file, and ZooKeeper prints it as "null".
    let line = if text.is_empty() {
        "null"
    } else {
        text.split(['\n', '\r']).next().unwrap_or("")
    };
    let not_a_number = || ConfigError::MyId(format!("serverid {line:?} is not a number"));
    // Rust's parser takes what Long.parseLong takes (ASCII): a sign and digits.
    let id: i64 = line.parse().map_err(|_| not_a_number())?;
    u64::try_from(id)
        .map_err(|_| ConfigError::MyId(format!("serverid {id} is negative: ids are 0 or more")))
}

/// What the ensemble setup settled that the rest of `finish` needs.
pub(super) struct Settled {
    /// This server's own `server.N` line gave the client port.
    pub(super) client_port_from_server_line: bool,
}

/// Parses the `server.N` lines into `cfg.servers`, reads `myid`, and applies ZooKeeper's
/// rules. `client_port_given` says whether the file set `clientPort`.
pub(super) fn setup(
    cfg: &mut Config,
    warnings: &mut Vec<String>,
    raw_servers: &BTreeMap<u64, String>,
    myid: MyIdSource,
    client_port_given: bool,
) -> Result<Settled, ConfigError> {
    let mut settled = Settled {
        client_port_from_server_line: false,
    };
    if cfg.dynamic_config_file.is_some() {
        // The membership, and with it every check below, lives in the dynamic file,
        // which is not read here (ZooKeeper runs this setup only after reading it).
        if let Some(id) = raw_servers.keys().next() {
            return Err(ConfigError::Inconsistent(format!(
                "server.{id} must be in the separate dynamic config file (dynamicConfigFile is set)"
            )));
        }
        return Ok(settled);
    }
    for (&id, raw) in raw_servers {
        let server = QuorumServer::parse(id, raw, cfg.multi_address_enabled)
            .map_err(|reason| ConfigError::Server { id, reason })?;
        cfg.servers.insert(id, server);
    }
    check_membership(cfg, warnings)?;
    let myid_text = match myid {
        MyIdSource::DataDir => read_myid_file(&cfg.data_dir)?,
        MyIdSource::Given(text) => text.map(str::to_owned),
    };
    cfg.server_id = myid_text.as_deref().map(parse_myid).transpose()?;
    settled.client_port_from_server_line = setup_client_port(cfg, client_port_given)?;
    setup_peer_type(cfg, warnings);
    check_validity(cfg)?;
    let canonicalize = "zookeeper.kerberos.canonicalizeHostNames";
    if !cfg.servers.is_empty() && cfg.other.get(canonicalize).is_some_and(|v| v == "true") {
        warnings.push(format!(
            "{canonicalize} is not supported: server.N host names are used as written"
        ));
    }
    Ok(settled)
}

/// `parseDynamicConfig`: the counts of participants and observers.
fn check_membership(cfg: &Config, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    let participants = cfg.participant_count();
    let observers = cfg.servers.len() - participants;
    let inconsistent = |m: &str| Err(ConfigError::Inconsistent(m.to_owned()));
    if participants == 0 {
        if !cfg.standalone_enabled {
            return inconsistent(
                "standaloneEnabled is false, so at least one participant server.N is needed",
            );
        }
        if observers > 0 {
            return inconsistent("observers without participants are not a valid ensemble");
        }
    } else if participants == 1 && cfg.standalone_enabled {
        if observers > 0 {
            return inconsistent("observers without a quorum are not a valid ensemble");
        }
        warnings.push("only one server.N is given: running standalone and ignoring it".to_owned());
    } else if participants <= 2 {
        warnings.push(
            "no server failure will be tolerated: an ensemble needs at least 3 servers".to_owned(),
        );
    } else if participants & 1 == 0 {
        warnings.push("an even number of servers: consider an odd number".to_owned());
    }
    Ok(())
}

/// `setupClientPort`: this server's own `server.N` line may carry its client address.
/// When the file also sets `clientPort`, the two must agree (a wildcard
/// `clientPortAddress` only on the port); the server line wins. Returns whether the
/// server line set the client port.
fn setup_client_port(cfg: &mut Config, client_port_given: bool) -> Result<bool, ConfigError> {
    let Some(id) = cfg.server_id else {
        return Ok(false);
    };
    let Some(client) = cfg.servers.get(&id).and_then(|s| s.client_addr.as_ref()) else {
        return Ok(false);
    };
    let ip = resolve_host(&client.host).map_err(|reason| ConfigError::Server {
        id,
        reason: format!("client address {}: {reason}", client.host),
    })?;
    let line = SocketAddr::new(ip, client.port);
    if client_port_given {
        let static_ip = cfg
            .client_port_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let file = SocketAddr::new(static_ip, cfg.client_port);
        let differs = if static_ip.is_unspecified() {
            file.port() != line.port()
        } else {
            file != line
        };
        if differs {
            return Err(ConfigError::Inconsistent(format!(
                "client address for this server (id = {id}) in static config file is {file} \
                 is different from client address found in dynamic file: {line}"
            )));
        }
    }
    cfg.client_port = line.port();
    // The wildcard of the port-only form is what "no clientPortAddress" means.
    cfg.client_port_address = Some(ip).filter(|ip| *ip != IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    Ok(true)
}

/// `setupPeerType`: the server list decides this server's role; a `peerType` that says
/// otherwise is overridden with a warning. Without `myid` the list says participant.
fn setup_peer_type(cfg: &mut Config, warnings: &mut Vec<String>) {
    let by_list = match cfg.server_id.and_then(|id| cfg.servers.get(&id)) {
        Some(s) if s.role == PeerType::Observer => PeerType::Observer,
        _ => PeerType::Participant,
    };
    if by_list != cfg.peer_type {
        let name = |t: PeerType| match t {
            PeerType::Participant => "PARTICIPANT",
            PeerType::Observer => "OBSERVER",
        };
        warnings.push(format!(
            "Peer type from servers list ({}) doesn't match peerType ({}). Defaulting to \
             servers list.",
            name(by_list),
            name(cfg.peer_type)
        ));
        cfg.peer_type = by_list;
    }
}

/// `checkValidity`, and `QuorumPeer.start`'s check that this server is a member.
fn check_validity(cfg: &Config) -> Result<(), ConfigError> {
    if !cfg.is_distributed() {
        return Ok(());
    }
    if cfg.init_limit == 0 {
        return Err(ConfigError::Missing { key: "initLimit" });
    }
    if cfg.sync_limit == 0 {
        return Err(ConfigError::Missing { key: "syncLimit" });
    }
    let Some(id) = cfg.server_id else {
        return Err(ConfigError::Inconsistent("myid file is missing".to_owned()));
    };
    if !cfg.servers.contains_key(&id) {
        return Err(ConfigError::Inconsistent(format!(
            "My id {id} not in the peer list"
        )));
    }
    Ok(())
}
