//! Text exactly as zkCli prints it: `Stat` lines, Java's `Date.toString`, ACLs, watch events,
//! and the `CliWrapperException` messages for client errors.

use zookeeper_client as zk;

/// zkCli's `StatPrinter`.
pub fn stat(s: &zk::Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\n\
         cversion = {}\ndataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\n\
         dataLength = {}\nnumChildren = {}\n",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// Java's `new Date(ms).toString()` in the local time zone: `Thu Nov 26 07:42:37 UTC 2026`.
pub fn java_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000) as libc::time_t;
    // SAFETY: localtime_r and strftime write only into the buffers passed to them, which
    // live for the whole call; a zeroed `tm` is a valid value of that plain C struct.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return ms.to_string();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a %b %d %H:%M:%S %Z %Y".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// `ZKUtil.getPermString`: the letters in the order c, d, r, w, a.
pub fn perms(p: zk::Permission) -> String {
    [
        (zk::Permission::CREATE, 'c'),
        (zk::Permission::DELETE, 'd'),
        (zk::Permission::READ, 'r'),
        (zk::Permission::WRITE, 'w'),
        (zk::Permission::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| p.has(*bit))
    .map(|(_, c)| *c)
    .collect()
}

/// One ACL as getAcl prints it: the `Id` record in jute's CSV text, then the permissions.
pub fn acl(a: &zk::Acl) -> String {
    format!(
        "'{},'{}\n: {}",
        jute_escape(a.scheme()),
        jute_escape(a.id()),
        perms(a.permission())
    )
}

/// jute's `ToStringOutputArchive` string escaping.
fn jute_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("%00"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            ',' => out.push_str("%2C"),
            '}' => out.push_str("%7D"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// Java's `KeeperState` name for a session state.
pub fn keeper_state(s: zk::SessionState) -> &'static str {
    match s {
        zk::SessionState::Disconnected => "Disconnected",
        zk::SessionState::SyncConnected => "SyncConnected",
        zk::SessionState::AuthFailed => "AuthFailed",
        zk::SessionState::ConnectedReadOnly => "ConnectedReadOnly",
        zk::SessionState::Expired => "Expired",
        zk::SessionState::Closed => "Closed",
    }
}

/// The lines zkCli's watcher prints for an event (`printMessage` puts a blank line before
/// each), in 3.9's `WatchedEvent.toString` form which ends with the zxid.
pub fn watched_event(e: &zk::WatchedEvent) -> String {
    let (kind, path) = match e.event_type {
        zk::EventType::Session => ("None", "null".to_owned()),
        zk::EventType::NodeCreated => ("NodeCreated", e.path.clone()),
        zk::EventType::NodeDeleted => ("NodeDeleted", e.path.clone()),
        zk::EventType::NodeDataChanged => ("NodeDataChanged", e.path.clone()),
        zk::EventType::NodeChildrenChanged => ("NodeChildrenChanged", e.path.clone()),
    };
    let state = match e.event_type {
        zk::EventType::Session => keeper_state(e.session_state),
        _ => "SyncConnected",
    };
    event_text(state, kind, &path, e.zxid)
}

pub fn event_text(state: &str, kind: &str, path: &str, zxid: i64) -> String {
    format!("\nWATCHER::\n\nWatchedEvent state:{state} type:{kind} path:{path} zxid: {zxid}")
}

/// ZooKeeper's error code number for a client error (what `Sync has failed. rc=` shows).
pub fn error_code(e: &zk::Error) -> i32 {
    use zk::Error::*;
    match e {
        RuntimeInconsistent => -2,
        ConnectionLoss | NoHosts | ClientClosed => -4,
        MarshallingError => -5,
        Unimplemented => -6,
        Timeout => -7,
        BadArguments(_) => -8,
        NoNode => -101,
        NoAuth => -102,
        BadVersion => -103,
        NoChildrenForEphemerals => -108,
        NodeExists => -110,
        NotEmpty => -111,
        SessionExpired => -112,
        InvalidAcl => -114,
        AuthFailed => -115,
        SessionMoved => -118,
        NotReadOnly => -119,
        NoWatcher => -121,
        ReconfigDisabled => -123,
        QuotaExceeded => -125,
        Throttled => -127,
        UnexpectedErrorCode(c) => *c,
        _ => -1,
    }
}

/// `CliWrapperException.getMessage` for a failed operation on `path`.
pub fn keeper_error(e: &zk::Error, path: &str) -> String {
    use zk::Error::*;
    match e {
        UnexpectedErrorCode(RECONFIG_IN_PROGRESS) => {
            return "Another reconfiguration is in progress -- concurrent reconfigs not \
                    supported (yet)"
                .to_owned()
        }
        UnexpectedErrorCode(NEW_CONFIG_NO_QUORUM) => {
            return "No quorum of new config is connected and up-to-date with the leader of \
                    last commmitted config - try invoking reconfiguration after new servers \
                    are connected and synced"
                .to_owned()
        }
        _ => {}
    }
    let special = match e {
        NoNode => Some("Node does not exist: "),
        NoChildrenForEphemerals => Some("Ephemerals cannot have children: "),
        NodeExists => Some("Node already exists: "),
        NotEmpty => Some("Node not empty: "),
        NotReadOnly => Some("Not a read-only call: "),
        InvalidAcl => Some("Acl is not valid : "),
        NoAuth => Some("Insufficient permission : "),
        BadArguments(_) => Some("Arguments are not valid : "),
        BadVersion => Some("version No is not valid : "),
        QuotaExceeded => Some("Quota has exceeded : "),
        _ => None,
    };
    match special {
        Some(prefix) => format!("{prefix}{path}"),
        None => keeper_error_plain(e, path),
    }
}

/// ZooKeeper's codes the Rust client has no variant for.
const NEW_CONFIG_NO_QUORUM: i32 = -13;
const RECONFIG_IN_PROGRESS: i32 = -14;

/// `KeeperException.getMessage`: `KeeperErrorCode = <code text> for <path>`.
pub fn keeper_error_plain(e: &zk::Error, path: &str) -> String {
    use zk::Error::*;
    let text = match e {
        UnexpectedErrorCode(-3) => "DataInconsistency",
        UnexpectedErrorCode(NEW_CONFIG_NO_QUORUM) => "NewConfigNoQuorum",
        UnexpectedErrorCode(RECONFIG_IN_PROGRESS) => "ReconfigInProgress",
        UnexpectedErrorCode(-100) => "APIError",
        UnexpectedErrorCode(-113) => "Invalid callback",
        UnexpectedErrorCode(-120) => "Ephemeral node on local session",
        UnexpectedErrorCode(-124) => "Session closed because client failed to authenticate",
        RuntimeInconsistent => "RuntimeInconsistency",
        ConnectionLoss | NoHosts | ClientClosed => "ConnectionLoss",
        MarshallingError => "MarshallingError",
        Unimplemented => "Unimplemented",
        Timeout => "OperationTimeout",
        BadArguments(_) => "BadArguments",
        NoNode => "NoNode",
        NoAuth => "NoAuth",
        BadVersion => "BadVersion",
        NoChildrenForEphemerals => "NoChildrenForEphemerals",
        NodeExists => "NodeExists",
        NotEmpty => "Directory not empty",
        InvalidAcl => "InvalidACL",
        NotReadOnly => "Not a read-only call",
        QuotaExceeded => "Quota has exceeded",
        SessionExpired => "Session expired",
        AuthFailed => "AuthFailed",
        SessionMoved => "Session moved",
        NoWatcher => "No such watcher",
        ReconfigDisabled => "Reconfig is disabled",
        Throttled => "Op throttled due to high load",
        _ => "SystemError",
    };
    if path.is_empty() {
        format!("KeeperErrorCode = {text}")
    } else {
        format!("KeeperErrorCode = {text} for {path}")
    }
}

/// The class of the KeeperException Java throws for an error, as a stack trace names it.
pub fn keeper_exception_class(e: &zk::Error) -> String {
    use zk::Error::*;
    let name = match e {
        ConnectionLoss | NoHosts | ClientClosed => "ConnectionLossException",
        NoNode => "NoNodeException",
        NoAuth => "NoAuthException",
        BadVersion => "BadVersionException",
        NodeExists => "NodeExistsException",
        NotEmpty => "NotEmptyException",
        SessionExpired => "SessionExpiredException",
        InvalidAcl => "InvalidACLException",
        AuthFailed => "AuthFailedException",
        Timeout => "OperationTimeoutException",
        Unimplemented => "UnimplementedException",
        MarshallingError => "MarshallingErrorException",
        QuotaExceeded => "QuotaExceededException",
        Throttled => "ThrottledOpException",
        _ => "SystemErrorException",
    };
    format!("org.apache.zookeeper.KeeperException${name}")
}

/// Netty's `ByteBufUtil.prettyHexDump`, which `get -x` prints: a boxed table of 16 bytes
/// a row with their offset, hex and printable ASCII (others as `.`); empty for no bytes.
pub fn hex_dump(data: &[u8]) -> String {
    if data.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "         +-------------------------------------------------+\n         \
         |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |\n\
         +--------+-------------------------------------------------+----------------+",
    );
    for (row, chunk) in data.chunks(16).enumerate() {
        let hex: String = chunk.iter().map(|b| format!(" {b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    char::from(b)
                } else {
                    '.'
                }
            })
            .collect();
        // The offset is an unsigned 32-bit value, as Netty masks it.
        out.push_str(&format!(
            "\n|{:08x}|{hex:<48} |{ascii:<16}|",
            (row * 16) as u32
        ));
    }
    out.push_str("\n+--------+-------------------------------------------------+----------------+");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_in_zkutil_order() {
        assert_eq!(perms(zk::Permission::ALL), "cdrwa");
        assert_eq!(perms(zk::Permission::READ | zk::Permission::ADMIN), "ra");
    }

    /// What zkCli 3.9.5 printed for `get -x` of these bytes.
    #[test]
    fn hex_dump_like_netty() {
        assert_eq!(hex_dump(b""), "");
        let dump = hex_dump(b"hello\x01\x7f world, this is longer than sixteen bytes!");
        let want = "         +-------------------------------------------------+
         |  0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f |
+--------+-------------------------------------------------+----------------+
|00000000| 68 65 6c 6c 6f 01 7f 20 77 6f 72 6c 64 2c 20 74 |hello.. world, t|
|00000010| 68 69 73 20 69 73 20 6c 6f 6e 67 65 72 20 74 68 |his is longer th|
|00000020| 61 6e 20 73 69 78 74 65 65 6e 20 62 79 74 65 73 |an sixteen bytes|
|00000030| 21                                              |!               |
+--------+-------------------------------------------------+----------------+";
        assert_eq!(dump, want);
    }

    #[test]
    fn errors_read_like_cli_wrapper_exception() {
        assert_eq!(
            keeper_error(&zk::Error::NoNode, "/x"),
            "Node does not exist: /x"
        );
        assert_eq!(
            keeper_error(&zk::Error::NoWatcher, "/x"),
            "KeeperErrorCode = No such watcher for /x"
        );
    }
}
