//! The quorum configuration text that NEWLEADER, notifications and reconfig carry:
//! `QuorumMaj.toString()` to write it, `QuorumPeer.configFromString` to read it.
//!
//! Grammar (a `java.util.Properties` text; lines end in '\n', the last has none):
//! ```text
//! config  = server-line* "version=" hex          (Long.toHexString: two's complement)
//! server  = "server." sid "=" addrs ":" type [";" client]
//! addrs   = host ":" quorumPort ":" electionPort ("|" ...)*   (IPv6 hosts in brackets)
//! type    = "participant" | "observer"
//! client  = [host ":"] port                       (written with the host, 0.0.0.0 if none)
//! ```
//! Java keeps servers in a `HashMap<Long, _>`, so `toString` lists them in that map's
//! iteration order, which [`QuorumConfig::to_text`] reproduces (bucket order for the
//! table size Java would have; sids in one bucket by value, where Java uses insertion
//! order). Reading accepts the `Properties` subset ZooKeeper writes: `key=value` or
//! `key: value` lines, `#`/`!` comments, blank lines; escapes and continuation lines (a
//! backslash anywhere) are refused. Hierarchical quorums (`group.`/`weight.`) are not
//! supported. Java refuses several addresses per server unless `multiAddress.enabled`;
//! this reader accepts them.

use super::election::{host_and_port, java_host_string, java_parse_int, java_split};

/// `QuorumPeer.LearnerType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LearnerType {
    #[default]
    Participant,
    Observer,
}

/// One quorum/election address pair of a server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerAddr {
    /// As Java's `getHostString()` shows it (see [`java_host_string`]).
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// One `server.N` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuorumServer {
    pub id: i64,
    pub addrs: Vec<ServerAddr>,
    pub kind: LearnerType,
    /// The client address (host, port), when the line names one.
    pub client: Option<(String, u16)>,
}

/// A majority quorum's membership and version (`QuorumMaj`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumConfig {
    /// In any order; [`QuorumConfig::to_text`] orders them as Java does.
    pub servers: Vec<QuorumServer>,
    /// The zxid that made this config current (0 for a static config).
    pub version: i64,
}

/// Why config text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unrecognised parameter: {0}")]
    Unrecognised(String),
    #[error("hierarchical quorums are not supported: {0}")]
    Hierarchical(String),
    #[error("escapes and continuation lines are not supported: {0:?}")]
    Escape(String),
    #[error("bad server id: {0:?}")]
    BadId(String),
    #[error("bad version: {0:?}")]
    BadVersion(String),
    #[error("bad server address for server.{id}: {value:?}")]
    BadServer { id: i64, value: String },
    #[error("observers without a quorum of participants")]
    ObserversWithoutQuorum,
}

impl QuorumServer {
    /// `QuorumServer.toString()`.
    pub fn to_text(&self) -> String {
        let mut addrs: Vec<&ServerAddr> = self.addrs.iter().collect();
        addrs.sort_by(|a, b| a.host.cmp(&b.host));
        let addrs: Vec<String> = addrs
            .iter()
            .map(|a| {
                format!(
                    "{}:{}:{}",
                    delimited(&a.host),
                    a.quorum_port,
                    a.election_port
                )
            })
            .collect();
        let mut s = addrs.join("|");
        s.push_str(match self.kind {
            LearnerType::Participant => ":participant",
            LearnerType::Observer => ":observer",
        });
        if let Some((host, port)) = &self.client {
            s.push_str(&format!(";{}:{}", delimited(host), port));
        }
        s
    }

    /// `QuorumServer(sid, addressStr)` with multi-address allowed and no host name
    /// canonicalization (3.8's defaults otherwise).
    pub fn parse(id: i64, value: &str) -> Result<QuorumServer, ConfigError> {
        let bad = || ConfigError::BadServer {
            id,
            value: value.to_owned(),
        };
        let parts = java_split(value, ';');
        if parts.is_empty() || parts.len() > 2 {
            return Err(bad());
        }
        let client = match parts.get(1) {
            None => None,
            Some(c) => {
                let cp = host_and_port(c).ok_or_else(bad)?;
                let (host, port) = match cp[..] {
                    [port] => ("0.0.0.0", port),
                    [host, port] => (host, port),
                    _ => return Err(bad()),
                };
                Some((java_host_string(host), parse_port(port).ok_or_else(bad)?))
            }
        };
        let mut kind = None;
        let mut addrs = Vec::new();
        for a in java_split(parts[0], '|') {
            let sp = host_and_port(a).ok_or_else(bad)?;
            if sp.len() < 3 || sp.len() > 4 {
                return Err(bad());
            }
            let quorum_port = parse_port(sp[1]).ok_or_else(bad)?;
            let election_port = parse_port(sp[2]).ok_or_else(bad)?;
            if quorum_port == election_port {
                return Err(bad());
            }
            if let Some(t) = sp.get(3) {
                let t = match t.trim().to_lowercase().as_str() {
                    "observer" => LearnerType::Observer,
                    "participant" => LearnerType::Participant,
                    _ => return Err(bad()),
                };
                if kind.is_some_and(|k| k != t) {
                    return Err(bad());
                }
                kind = Some(t);
            }
            addrs.push(ServerAddr {
                host: java_host_string(sp[0]),
                quorum_port,
                election_port,
            });
        }
        Ok(QuorumServer {
            id,
            addrs,
            kind: kind.unwrap_or_default(),
            client,
        })
    }
}

fn parse_port(s: &str) -> Option<u16> {
    java_parse_int(s).and_then(|p| u16::try_from(p).ok())
}

/// `QuorumServer.delimitedHostString`: IPv6 hosts in brackets.
fn delimited(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The bucket of `sid` in a Java `HashMap` table of `cap` slots: `Long.hashCode`, then
/// `HashMap.hash`'s spreading of the high half, then the mask.
fn java_bucket(sid: i64, cap: usize) -> usize {
    let h = (sid ^ ((sid as u64) >> 32) as i64) as i32;
    let h = h ^ ((h as u32) >> 16) as i32;
    (h as u32 as usize) & (cap - 1)
}

/// The table size of a default `HashMap` holding `n` entries: 16, doubled whenever the
/// entries pass three quarters of it.
fn java_table_size(n: usize) -> usize {
    let mut cap = 16usize;
    while n > cap / 4 * 3 {
        cap *= 2;
    }
    cap
}

impl QuorumConfig {
    /// `QuorumMaj.toString()`.
    pub fn to_text(&self) -> String {
        let cap = java_table_size(self.servers.len());
        let mut servers: Vec<&QuorumServer> = self.servers.iter().collect();
        servers.sort_by_key(|s| (java_bucket(s.id, cap), s.id));
        let mut out = String::new();
        for s in servers {
            out.push_str(&format!("server.{}={}\n", s.id, s.to_text()));
        }
        out.push_str(&format!("version={:x}", self.version));
        out
    }

    /// `QuorumPeer.configFromString` for a majority quorum. Later lines for the same key
    /// replace earlier ones, as in `Properties`.
    pub fn parse(text: &str) -> Result<QuorumConfig, ConfigError> {
        let mut props: Vec<(&str, &str)> = Vec::new();
        for line in text.split(['\n', '\r']) {
            let Some((k, v)) = property(line)? else {
                continue;
            };
            props.retain(|(pk, _)| *pk != k);
            props.push((k, v));
        }
        let mut cfg = QuorumConfig::default();
        for (key, value) in props {
            if key.starts_with("group") || key.starts_with("weight") {
                return Err(ConfigError::Hierarchical(key.to_owned()));
            }
            if let Some(id) = key.strip_prefix("server.") {
                let id = java_parse_long(id, 10).ok_or_else(|| ConfigError::BadId(id.into()))?;
                cfg.servers.push(QuorumServer::parse(id, value)?);
            } else if key == "version" {
                cfg.version = java_parse_long(value, 16)
                    .ok_or_else(|| ConfigError::BadVersion(value.into()))?;
            } else {
                return Err(ConfigError::Unrecognised(key.to_owned()));
            }
        }
        let participants = cfg.participants().count();
        let observers = cfg.servers.len() - participants;
        if participants <= 1 && observers > 0 {
            return Err(ConfigError::ObserversWithoutQuorum);
        }
        Ok(cfg)
    }

    pub fn participants(&self) -> impl Iterator<Item = &QuorumServer> {
        self.servers
            .iter()
            .filter(|s| s.kind == LearnerType::Participant)
    }

    pub fn server(&self, id: i64) -> Option<&QuorumServer> {
        self.servers.iter().find(|s| s.id == id)
    }
}

/// One `Properties` line: `None` for blank and comment lines.
fn property(line: &str) -> Result<Option<(&str, &str)>, ConfigError> {
    let is_ws = |c: char| c == ' ' || c == '\t' || c == '\x0c';
    let line = line.trim_start_matches(is_ws);
    if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
        return Ok(None);
    }
    if line.contains('\\') {
        return Err(ConfigError::Escape(line.to_owned()));
    }
    let end = line
        .find(|c: char| c == '=' || c == ':' || is_ws(c))
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start_matches(is_ws);
    let rest = rest
        .strip_prefix(['=', ':'])
        .unwrap_or(rest)
        .trim_start_matches(is_ws);
    Ok(Some((key, rest)))
}

/// `Long.parseLong(s, radix)`: an optional sign, at least one digit, in range; so a
/// negative version written by `toHexString` does not read back, exactly as in Java.
fn java_parse_long(s: &str, radix: u32) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i64::from_str_radix(s, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_order() {
        assert_eq!(java_table_size(12), 16);
        assert_eq!(java_table_size(13), 32);
        assert_eq!(java_bucket(16, 16), 0);
        assert_eq!(java_bucket(0x1_0000_0001, 16), 0);
        assert_eq!(java_bucket(35, 16), 3);
        assert_eq!(java_bucket(1 << 16, 16), 1);
    }

    #[test]
    fn properties_subset() {
        assert_eq!(property("  # x").unwrap(), None);
        assert_eq!(property("a = b").unwrap(), Some(("a", "b")));
        assert_eq!(property("a:b").unwrap(), Some(("a", "b")));
        assert_eq!(property("a b").unwrap(), Some(("a", "b")));
        assert!(property("a=b\\").is_err());
    }

    #[test]
    fn versions_parse_as_java_longs() {
        assert_eq!(java_parse_long("100000000", 16), Some(0x1_0000_0000));
        assert_eq!(java_parse_long("-1", 16), Some(-1));
        assert_eq!(java_parse_long("ffffffffffffffff", 16), None);
        assert_eq!(java_parse_long("", 16), None);
    }

    #[test]
    fn server_lines() {
        let s = QuorumServer::parse(1, "h:1:2:OBSERVER ;3").unwrap();
        assert_eq!(s.kind, LearnerType::Observer);
        assert_eq!(s.client, Some(("0.0.0.0".into(), 3)));
        assert!(QuorumServer::parse(1, "h:1:1").is_err());
        assert!(QuorumServer::parse(1, "h:1").is_err());
        assert!(QuorumServer::parse(1, "h:1:2:x").is_err());
        assert!(QuorumServer::parse(1, "a:1:2:observer|b:3:4:participant").is_err());
        assert!(QuorumServer::parse(1, "h:1:2;3;4").is_err());
        assert!(QuorumServer::parse(1, "h:1:70000").is_err());
    }
}
