//! The ensemble commands (`GetConfigCommand`, `ReconfigCommand`) and `version`. Zooid does
//! not reconfigure: reconfig sends the request anyway and prints the server's refusal, as
//! zkCli does against a ZooKeeper with `reconfigEnabled=false`.

use zooid_proto::quorum::{LearnerType, QuorumConfig, QuorumServer};
use zookeeper_client as zk;

use super::commands::{usage_error, wrap, Def};
use super::parse::{flag, valued, CommandLine, Opt};
use super::{format, java, CliError, Session, WatchKind};

/// The node holding the ensemble's dynamic configuration; no chroot applies to it.
const CONFIG_NODE: &str = "/zookeeper/config";

pub const RECONFIG_OPTS: &[Opt] = &[
    flag("s", "stats"),
    valued("v", "required current config version"),
    valued("file", "path of config file to parse for membership"),
    valued(
        "members",
        "comma-separated list of config strings for non-incremental reconfig",
    ),
    valued(
        "add",
        "comma-separated list of config strings for new servers",
    ),
    valued("remove", "comma-separated list of server IDs to remove"),
];

/// `config [-c] [-w] [-s]`: the configuration node's text, or with `-c` the client
/// connection string made from it.
pub fn config(s: &Session, cl: &CommandLine) -> Result<(), CliError> {
    let client = s.client().map_err(wrap(CONFIG_NODE))?;
    let (data, stat) = if cl.has("w") {
        let (data, stat, watcher) = s
            .block_on(client.get_and_watch_config())
            .map_err(wrap(CONFIG_NODE))?;
        s.watch_once(CONFIG_NODE, WatchKind::Data, watcher);
        (data, stat)
    } else {
        s.block_on(client.get_config()).map_err(wrap(CONFIG_NODE))?
    };
    let text = String::from_utf8_lossy(&data);
    if cl.has("c") {
        println!("{}", client_config_str(&text)?);
    } else {
        println!("{text}");
    }
    if cl.has("s") {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

/// `ConfigUtils.getClientConfigStr`: the version, a space, and the client address of each
/// `server.` entry (empty for a server without one) joined by commas, in the order Java's
/// `Properties` iterates them. A server line that does not parse is reported and skipped.
/// A malformed `\uXXXX` escape is the IllegalArgumentException zkCli does not catch.
pub fn client_config_str(config: &str) -> Result<String, CliError> {
    let props = java::load_properties(config)
        .map_err(|m| CliError::uncaught(format!("java.lang.IllegalArgumentException: {m}")))?;
    let mut version = String::new();
    let mut clients = Vec::new();
    for (key, value) in &props {
        let (key, value) = (java::trim(key), java::trim(value));
        if key == "version" {
            version = value.to_owned();
        }
        if !key.starts_with("server.") {
            continue;
        }
        match QuorumServer::parse(-1, value) {
            Ok(server) => clients.push(
                server
                    .client
                    .map(|(host, port)| format!("{host}:{port}"))
                    .unwrap_or_default(),
            ),
            Err(_) => eprintln!("{}", config_exception(&server_format_error(value))),
        }
    }
    Ok(format!("{version} {}", clients.join(",")))
}

/// What `QuorumServer` says about a server entry it cannot read.
fn server_format_error(value: &str) -> String {
    format!(
        "{value} does not have the form server_config or server_config;client_config where \
         server_config is the pipe separated list of host:port:port or host:port:port:type \
         and client_config is port or host:port"
    )
}

/// The first line of a `ConfigException`'s stack trace.
fn config_exception(message: &str) -> String {
    format!("org.apache.zookeeper.server.quorum.QuorumPeerConfig$ConfigException: {message}")
}

/// What reconfig asks for: servers joining and leaving, or a whole new membership.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Incremental {
        joining: Option<String>,
        leaving: Option<String>,
    },
    Members(String),
}

/// `reconfig`: parses like `ReconfigCommand.parse`, sends the reconfig request (opcode 16)
/// and prints the configuration the server committed.
pub fn reconfig(s: &Session, d: &Def, cl: &CommandLine) -> Result<(), CliError> {
    let (change, version) = reconfig_request(d, cl)?;
    let client = s.client().map_err(wrap(""))?;
    // The client sends an absent list as an empty string where Java sends null; the
    // server reads both as no servers.
    let reply = match &change {
        Change::Incremental { joining, leaving } => {
            let update = zk::EnsembleUpdate::Incremental {
                joinings: joining.as_deref().into_iter(),
                leavings: leaving.as_deref().into_iter(),
            };
            s.block_on(client.update_ensemble(update, version))
        }
        Change::Members(members) => {
            let update = zk::EnsembleUpdate::New {
                ensemble: Some(members.as_str()).into_iter(),
            };
            s.block_on(client.update_ensemble(update, version))
        }
    };
    let (data, stat) = reply.map_err(wrap(""))?;
    println!(
        "Committed new configuration:\n{}",
        String::from_utf8_lossy(&data)
    );
    if cl.has("s") {
        print!("{}", format::stat(&stat));
    }
    Ok(())
}

/// The checks and conversions of `ReconfigCommand.parse`, in its order.
fn reconfig_request(d: &Def, cl: &CommandLine) -> Result<(Change, Option<i64>), CliError> {
    let (file, members) = (cl.value("file"), cl.value("members"));
    let (add, remove) = (cl.value("add"), cl.value("remove"));
    if file.is_none() && members.is_none() && add.is_none() && remove.is_none() {
        return Err(usage_error(d));
    }
    let version =
        match cl.value("v") {
            Some(v) => Some(java::parse_long_radix(v, 16).map_err(|_| {
                CliError::new("-v must be followed by a long (configuration version)")
            })?),
            None => None,
        };
    if (file.is_some() || members.is_some()) && (add.is_some() || remove.is_some()) {
        return Err(CliError::new(
            "Can't use -file or -members together with -add or -remove (mixing incremental \
             and non-incremental modes is not allowed)",
        ));
    }
    if file.is_some() && members.is_some() {
        return Err(CliError::new(
            "Can't use -file and -members together (conflicting non-incremental modes)",
        ));
    }
    let change = match (file, members) {
        (Some(f), _) => Change::Members(
            members_from_file(f).map_err(|m| CliError::new(format!("Error processing {f}{m}")))?,
        ),
        (None, Some(m)) => Change::Members(m.to_lowercase()),
        (None, None) => Change::Incremental {
            joining: add.map(str::to_lowercase),
            leaving: remove.map(str::to_lowercase),
        },
    };
    Ok((change, version))
}

/// The membership in a dynamic configuration file, as `QuorumMaj.toString` writes it
/// after `QuorumPeerConfig.parseDynamicConfig` has checked it. The error is the message
/// zkCli appends to "Error processing <file>".
fn members_from_file(file: &str) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{file} ({})", os_error_text(&e)))?;
    // FileInputStream into Properties.load reads ISO-8859-1.
    let text: String = bytes.iter().map(|&b| char::from(b)).collect();
    let props = java::load_properties(&text)?;
    for (key, _) in &props {
        let key = java::trim(key);
        if key.starts_with("group") || key.starts_with("weight") {
            return Err("hierarchical quorums are not supported by zooid".to_owned());
        }
        if !key.starts_with("server.") && key != "version" {
            return Err(format!("Unrecognised parameter: {key}"));
        }
    }
    let mut cfg = QuorumConfig::default();
    for (key, value) in &props {
        if let Some(id) = key.strip_prefix("server.") {
            let id = java::parse_long(id)?;
            let server = QuorumServer::parse(id, value).map_err(|_| server_format_error(value))?;
            // A later entry for the same id replaces the earlier one, as in Java's map.
            cfg.servers.retain(|s| s.id != id);
            cfg.servers.push(server);
        } else if key == "version" {
            cfg.version = java::parse_long_radix(value, 16)?;
        }
    }
    let participants = cfg
        .servers
        .iter()
        .filter(|s| s.kind == LearnerType::Participant)
        .count();
    let observers = cfg.servers.len() - participants;
    match (participants, observers) {
        (0, 1..) => Err("Observers w/o participants is an invalid configuration".to_owned()),
        (1, 1..) => Err("Observers w/o quorum is an invalid configuration".to_owned()),
        _ => Ok(cfg.to_text()),
    }
}

/// The reason Java's `FileNotFoundException` gives: the C library's text for the errno.
fn os_error_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// `version`: zkCli prints the client library's version; the shell's is Zooid's.
pub fn version() -> Result<(), CliError> {
    println!(
        "ZooKeeper CLI version: {}",
        zooid_server::fourlw::full_version()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings Java printed from `ConfigUtils.getClientConfigStr` for these texts.
    #[test]
    fn client_config_like_java() {
        let cases = [
            ("", " "),
            (
                "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                 server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\n\
                 server.3=localhost:2890:3890:observer;2183\nversion=100000000",
                "100000000 127.0.0.1:2182,0.0.0.0:2181,0.0.0.0:2183",
            ),
            (
                "version=5\nserver.3=h:1:2;3\nserver.2=h:1:2;2\nserver.1=h:1:2;1",
                "5 0.0.0.0:2,0.0.0.0:1,0.0.0.0:3",
            ),
            (
                "server.1=h:1:2\nserver.2=h:1:2;[::1]:5\nserver.3=nope\n  server.4 : h:1:2;4\n\
                 #server.5=h:1:2;5\nversion  1f",
                "1f 0:0:0:0:0:0:0:1:5,,0.0.0.0:4",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(client_config_str(text).unwrap(), want, "{text}");
        }
        let mut many = String::new();
        for i in 10..=22 {
            many.push_str(&format!("server.{i}=h:1:2;{i}\n"));
        }
        many.push_str("version=1");
        assert_eq!(
            client_config_str(&many).unwrap(),
            "1 0.0.0.0:18,0.0.0.0:19,0.0.0.0:16,0.0.0.0:17,0.0.0.0:10,0.0.0.0:21,0.0.0.0:11,\
             0.0.0.0:22,0.0.0.0:20,0.0.0.0:14,0.0.0.0:15,0.0.0.0:12,0.0.0.0:13"
        );
        assert!(client_config_str("server.1=\\uzz").unwrap_err().uncaught);
    }

    #[test]
    fn members_file_as_quorum_maj_writes_it() {
        let dir = std::env::temp_dir().join(format!("zooid-shell-reconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dyn.cfg");
        std::fs::write(
            &file,
            "server.1=127.0.0.1:2888:3888:participant;2181\n\
             server.2=127.0.0.1:2889:3889;127.0.0.1:2182\nversion=100000000\n",
        )
        .unwrap();
        let path = file.to_string_lossy().into_owned();
        assert_eq!(
            members_from_file(&path).unwrap(),
            "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
             server.2=127.0.0.1:2889:3889:participant;127.0.0.1:2182\nversion=100000000"
        );
        std::fs::write(&file, "server.1=a:1:2\nfoo=1\n").unwrap();
        assert_eq!(
            members_from_file(&path).unwrap_err(),
            "Unrecognised parameter: foo"
        );
        let missing = dir.join("missing").to_string_lossy().into_owned();
        assert_eq!(
            members_from_file(&missing).unwrap_err(),
            format!("{missing} (No such file or directory)")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
