//! `server.N` lines: one ensemble member, parsed as ZooKeeper 3.9's
//! `QuorumPeer.QuorumServer(long, String)` parses it.
//!
//! # Grammar
//!
//! ```text
//! value    = servers [ ";" client ] ;
//! servers  = server { "|" server } ;         more than one only with multiAddress.enabled
//! server   = host ":" port ":" port [ ":" role ] ;   quorum port, then election port
//! role     = "participant" | "observer" ;   any case, surrounding whitespace ignored
//! client   = [ host ":" ] port ;            host defaults to 0.0.0.0
//! host     = "[" any-but-"]" "]" | chars-but-":" ;   brackets for IPv6 literals
//! ```
//!
//! Splitting is Java's `String.split`: empty trailing fields vanish (`a:1:2:` is
//! `a:1:2`, `a:1:2;` has no client part), and after a `]` the next character is skipped
//! whatever it is (`ConfigUtils.getHostAndPort`). A port is `Integer.parseInt` text (an
//! optional sign, decimal digits) in 0..=65535; the quorum and election ports must differ.
//!
//! Host names are kept as written: ZooKeeper resolves them when it connects (and again
//! after a failure, `recreateSocketAddresses`), so a peer that is not in DNS yet does not
//! stop the others from starting. An empty host means the loopback address, as in Java's
//! `InetAddress.getByName("")`.
//!
//! Where the messages differ from ZooKeeper's: a bad client port names the client host
//! (ZooKeeper prints `null`), a role mismatch names both roles (ZooKeeper prints the
//! default role first), and inputs on which ZooKeeper throws an unchecked exception
//! (`server.1=;`, `server.1=|`, a client part of `:`) get the usual format message.
//! `zookeeper.kerberos.canonicalizeHostNames` is not applied here (it needs DNS).

use std::fmt;
use std::net::IpAddr;

use super::PeerType;

/// One address of a server: where its peers reach it for Zab (quorum port) and for
/// leader election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumAddr {
    /// A host name or IP literal, without brackets, unresolved.
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// Where a server takes client connections, as its `server.N` line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    /// A host name or IP literal without brackets; `0.0.0.0` when only a port is given.
    pub host: String,
    pub port: u16,
}

/// One `server.N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumServer {
    pub id: u64,
    /// In file order, without repeats (ZooKeeper keeps them in a set). Never empty.
    pub addrs: Vec<QuorumAddr>,
    pub role: PeerType,
    pub client_addr: Option<ClientAddr>,
}

/// `QuorumServer.wrongFormat`, after the offending value.
pub const WRONG_FORMAT: &str =
    " does not have the form server_config or server_config;client_config \
where server_config is the pipe separated list of host:port:port or host:port:port:type \
and client_config is port or host:port";

impl QuorumServer {
    /// Parses the value of `server.<id>`. The error is ZooKeeper's message.
    pub fn parse(id: u64, value: &str, multi_address_enabled: bool) -> Result<Self, String> {
        let wrong_format = || format!("{value}{WRONG_FORMAT}");
        let server_client = java_split(value, ';');
        let Some(servers) = server_client.first() else {
            return Err(wrong_format());
        };
        let servers = java_split(servers, '|');
        let client_addr = match server_client.len() {
            2 => Some(parse_client(server_client[1], &wrong_format)?),
            _ => None,
        };
        if !multi_address_enabled && servers.len() > 1 {
            return Err(format!(
                "Multiple address feature is disabled, but multiple addresses were specified \
                 for sid {id}"
            ));
        }
        if servers.is_empty() {
            return Err(wrong_format());
        }
        let mut addrs: Vec<QuorumAddr> = Vec::with_capacity(servers.len());
        let mut role = None;
        for server in servers {
            let parts = host_and_port(server)?;
            if server_client.len() > 2 || parts.len() < 3 || parts.len() > 4 {
                return Err(wrong_format());
            }
            let host = parts[0];
            let quorum_port = parse_port(host, parts[1])?;
            let election_port = parse_port(host, parts[2])?;
            if quorum_port == election_port {
                return Err(format!(
                    "Client and election port must be different! Please update the \
                     configuration file on server.{id}"
                ));
            }
            if let Some(&word) = parts.get(3) {
                let this = parse_role(word)?;
                let first = *role.get_or_insert(this);
                if first != this {
                    return Err(format!(
                        "Multiple addresses should have similar roles: {} vs {}",
                        java_name(first),
                        java_name(this)
                    ));
                }
            }
            let addr = QuorumAddr {
                host: host.to_owned(),
                quorum_port,
                election_port,
            };
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        Ok(QuorumServer {
            id,
            addrs,
            role: role.unwrap_or(PeerType::Participant),
            client_addr,
        })
    }
}

/// `QuorumServer.toString`: the line as ZooKeeper writes it to a dynamic config file
/// (addresses sorted by host, the role always spelled out, a client address always with
/// its host).
impl fmt::Display for QuorumServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut addrs: Vec<&QuorumAddr> = self.addrs.iter().collect();
        addrs.sort_by(|a, b| a.host.cmp(&b.host));
        for (i, a) in addrs.iter().enumerate() {
            let sep = if i == 0 { "" } else { "|" };
            let host = delimited(&a.host);
            write!(f, "{sep}{host}:{}:{}", a.quorum_port, a.election_port)?;
        }
        let role = match self.role {
            PeerType::Participant => "participant",
            PeerType::Observer => "observer",
        };
        write!(f, ":{role}")?;
        if let Some(c) = &self.client_addr {
            write!(f, ";{}:{}", delimited(&c.host), c.port)?;
        }
        Ok(())
    }
}

impl ClientAddr {
    /// True for `0.0.0.0` and `::` (Java's `isAnyLocalAddress`).
    pub fn is_wildcard(&self) -> bool {
        self.host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified())
    }
}

/// `QuorumServer.delimitedHostString`: IPv6 literals in brackets.
fn delimited(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The enum constant names ZooKeeper prints (`LearnerType.toString`).
fn java_name(role: PeerType) -> &'static str {
    match role {
        PeerType::Participant => "PARTICIPANT",
        PeerType::Observer => "OBSERVER",
    }
}

/// The client part: `port` or `host:port` (`[v6]:port`).
fn parse_client(text: &str, wrong_format: &dyn Fn() -> String) -> Result<ClientAddr, String> {
    let parts = host_and_port(text)?;
    let (host, port) = match parts[..] {
        [port] => ("0.0.0.0", port),
        [host, port] => (host, port),
        _ => return Err(wrong_format()),
    };
    Ok(ClientAddr {
        host: host.to_owned(),
        port: parse_port(host, port)?,
    })
}

/// `Integer.parseInt` then `new InetSocketAddress(host, port)`.
fn parse_port(host: &str, text: &str) -> Result<u16, String> {
    let port: i32 = text
        .parse()
        .map_err(|_| format!("Address unresolved: {host}:{text}"))?;
    u16::try_from(port).map_err(|_| format!("port out of range:{port}"))
}

/// `QuorumServer.getType`.
fn parse_role(word: &str) -> Result<PeerType, String> {
    match word.trim().to_ascii_lowercase().as_str() {
        "observer" => Ok(PeerType::Observer),
        "participant" => Ok(PeerType::Participant),
        _ => Err(format!("Unrecognised peertype: {word}")),
    }
}

/// `ConfigUtils.getHostAndPort`: splits `host:port[:...]` at colons, with an IPv6 host
/// in brackets kept whole (and the brackets dropped).
pub(super) fn host_and_port(s: &str) -> Result<Vec<&str>, String> {
    let Some(rest) = s.strip_prefix('[') else {
        return Ok(java_split(s, ':'));
    };
    let Some(close) = rest.find(']') else {
        return Err(format!("{s} starts with '[' but has no matching ']:'"));
    };
    let host = &rest[..close];
    // The character after `]` is skipped unchecked, as in ZooKeeper.
    let after = &rest[close + 1..];
    let mut chars = after.chars();
    match chars.next() {
        None => Ok(vec![host]),
        Some(_) if chars.as_str().is_empty() => Err(format!("{s} doesn't have a port after colon")),
        Some(_) => {
            let mut parts = vec![host];
            parts.extend(java_split(chars.as_str(), ':'));
            Ok(parts)
        }
    }
}

/// `String.split` with a one-character pattern and no limit: a string without the
/// separator is one field, and empty fields at the end are dropped (possibly all).
pub(super) fn java_split(s: &str, sep: char) -> Vec<&str> {
    if !s.contains(sep) {
        return vec![s];
    }
    let mut fields: Vec<&str> = s.split(sep).collect();
    while fields.last().is_some_and(|f| f.is_empty()) {
        fields.pop();
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `value` as server 7 and prints it as ZooKeeper's `toString` does, or the
    /// error; the expectations are what ZooKeeper 3.8.0's `QuorumServer` printed for
    /// the same lines (IPv6 literals aside: Java prints them expanded).
    fn check(multi: bool, value: &str) -> String {
        match QuorumServer::parse(7, value, multi) {
            Ok(s) => {
                assert_eq!(s.id, 7);
                format!("=> {s}")
            }
            Err(e) => format!("!! {e}"),
        }
    }

    fn wrong(value: &str) -> String {
        format!("!! {value}{WRONG_FORMAT}")
    }

    #[test]
    fn good_lines() {
        for (value, expected) in [
            ("a:2888:3888", "a:2888:3888:participant"),
            ("a:2888:3888: Observer", "a:2888:3888:observer"),
            ("a:2888:3888:PARTICIPANT", "a:2888:3888:participant"),
            (
                "a:2888:3888:participant;2181",
                "a:2888:3888:participant;0.0.0.0:2181",
            ),
            (
                "a:2888:3888;127.0.0.1:2181",
                "a:2888:3888:participant;127.0.0.1:2181",
            ),
            (
                "[2001:db8::1]:2888:3888:observer;[::1]:2181",
                "[2001:db8::1]:2888:3888:observer;[::1]:2181",
            ),
            // getHostAndPort skips the character after `]` whatever it is.
            ("[::1]x2888:3888", "[::1]:2888:3888:participant"),
            // String.split drops empty trailing fields.
            ("a:1:2:", "a:1:2:participant"),
            ("a:1:2;", "a:1:2:participant"),
            ("a:1:2|", "a:1:2:participant"),
            ("a:+2888:03888", "a:2888:3888:participant"),
            // An empty host is Java's loopback; it is kept as written.
            (":1:2", ":1:2:participant"),
            (
                "zk-1.example.com:0:65535",
                "zk-1.example.com:0:65535:participant",
            ),
        ] {
            assert_eq!(check(false, value), format!("=> {expected}"), "{value}");
        }
        let s = QuorumServer::parse(3, "[fe80::1]:2888:3888:observer;h:2181", false).unwrap();
        assert_eq!(
            s,
            QuorumServer {
                id: 3,
                addrs: vec![QuorumAddr {
                    host: "fe80::1".to_owned(),
                    quorum_port: 2888,
                    election_port: 3888,
                }],
                role: PeerType::Observer,
                client_addr: Some(ClientAddr {
                    host: "h".to_owned(),
                    port: 2181,
                }),
            }
        );
        assert!(!s.client_addr.unwrap().is_wildcard());
        let any = QuorumServer::parse(3, "a:1:2;2181", false).unwrap();
        assert!(any.client_addr.unwrap().is_wildcard());
        let any6 = QuorumServer::parse(3, "a:1:2;[::]:2181", false).unwrap();
        assert!(any6.client_addr.unwrap().is_wildcard());
    }

    #[test]
    fn bad_lines_get_zookeepers_messages() {
        for (value, expected) in [
            ("a:1", wrong("a:1")),
            ("a:1:2:observer:x", wrong("a:1:2:observer:x")),
            ("a:1:2;3;4", wrong("a:1:2;3;4")),
            ("a:1:2;h:p:q", wrong("a:1:2;h:p:q")),
            ("::1:2888:3888", wrong("::1:2888:3888")),
            ("", wrong("")),
            ("a:x:2", "!! Address unresolved: a:x".to_owned()),
            ("a:1:y", "!! Address unresolved: a:y".to_owned()),
            (
                "a:2147483648:2",
                "!! Address unresolved: a:2147483648".to_owned(),
            ),
            ("a:70000:2", "!! port out of range:70000".to_owned()),
            ("a:-1:2", "!! port out of range:-1".to_owned()),
            (
                "a:1:1",
                "!! Client and election port must be different! Please update the \
                 configuration file on server.7"
                    .to_owned(),
            ),
            (
                "a:+2888:02888",
                "!! Client and election port must be different! Please update the \
                 configuration file on server.7"
                    .to_owned(),
            ),
            (
                "a:1:2:leader",
                "!! Unrecognised peertype: leader".to_owned(),
            ),
            // ZooKeeper prints "null" for the host here.
            ("a:1:2;abc", "!! Address unresolved: 0.0.0.0:abc".to_owned()),
            ("a:1:2;h:99999", "!! port out of range:99999".to_owned()),
            (
                "[::1:2888:3888",
                "!! [::1:2888:3888 starts with '[' but has no matching ']:'".to_owned(),
            ),
            (
                "[::1]:",
                "!! [::1]: doesn't have a port after colon".to_owned(),
            ),
            (
                "a:1:2|b:3:4",
                "!! Multiple address feature is disabled, but multiple addresses were \
                 specified for sid 7"
                    .to_owned(),
            ),
            // ZooKeeper throws an unchecked exception (or accepts an empty server) here.
            (";", wrong(";")),
            ("|", wrong("|")),
            ("a:1:2;:", wrong("a:1:2;:")),
        ] {
            assert_eq!(check(false, value), expected, "{value}");
        }
    }

    #[test]
    fn multiple_addresses() {
        for (value, expected) in [
            ("a:1:2|b:3:4", "=> a:1:2|b:3:4:participant"),
            // Sorted by host when printed.
            (
                "b:1:2|a:3:4;2181",
                "=> a:3:4|b:1:2:participant;0.0.0.0:2181",
            ),
            // The first address with a role sets it; the others may omit it.
            ("a:1:2:observer|b:1:2", "=> a:1:2|b:1:2:observer"),
            ("a:1:2|b:1:2:observer", "=> a:1:2|b:1:2:observer"),
            (
                "a:1:2:observer|b:1:2:participant",
                "!! Multiple addresses should have similar roles: OBSERVER vs PARTICIPANT",
            ),
            // ZooKeeper keeps the addresses in a set.
            ("a:1:2|a:1:2", "=> a:1:2:participant"),
            (
                "[::1]:1:2:observer|10.0.0.1:1:2;[::1]:5",
                "=> 10.0.0.1:1:2|[::1]:1:2:observer;[::1]:5",
            ),
            ("a:1:2|b:3", "!! a:1:2|b:3 does not have the form"),
        ] {
            let got = check(true, value);
            assert!(got.starts_with(expected), "{value}: {got}");
        }
        let s = QuorumServer::parse(1, "a:1:2|b:3:4", true).unwrap();
        let hosts: Vec<_> = s.addrs.iter().map(|a| a.host.as_str()).collect();
        assert_eq!(hosts, ["a", "b"]);
        assert_eq!((s.addrs[1].quorum_port, s.addrs[1].election_port), (3, 4));
    }

    #[test]
    fn java_split_and_host_and_port() {
        assert_eq!(java_split("", ':'), [""]);
        assert_eq!(java_split("a", ':'), ["a"]);
        assert_eq!(java_split(":", ':'), Vec::<&str>::new());
        assert_eq!(java_split("::a::", ':'), ["", "", "a"]);
        assert_eq!(host_and_port("[::1]").unwrap(), ["::1"]);
        assert_eq!(host_and_port("[::1]:5").unwrap(), ["::1", "5"]);
        assert_eq!(host_and_port("[::1]::").unwrap(), ["::1"]);
        assert_eq!(host_and_port("[]:5").unwrap(), ["", "5"]);
    }
}
