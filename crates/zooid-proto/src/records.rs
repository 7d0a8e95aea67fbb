//! Every jute record of ZooKeeper 3.9's `zookeeper.jute` that the client protocol and the
//! txn log use, field for field in declaration order.

use bytes::Bytes;

use crate::jute::{DecodeError, JuteWrite, Reader, Record};
use crate::record;

record!(Id {
    scheme: String,
    id: String
});
record!(Acl { perms: i32, id: Id });
record!(
    /// The node metadata a client sees.
    Stat {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        data_length: i32,
        num_children: i32,
        pzxid: i64,
    }
);
record!(
    /// The node metadata the server stores (snapshots).
    StatPersisted {
        czxid: i64,
        mzxid: i64,
        ctime: i64,
        mtime: i64,
        version: i32,
        cversion: i32,
        aversion: i32,
        ephemeral_owner: i64,
        pzxid: i64,
    }
);
record!(ClientInfo {
    auth_scheme: String,
    user: String
});

/// The session handshake. `readOnly` was added in 3.4; older clients omit it, so it is
/// read only when a byte is left, as ZooKeeper does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Bytes,
    pub read_only: bool,
}

impl Record for ConnectRequest {
    fn encode<W: JuteWrite>(&self, w: &mut W) {
        w.write_i32(self.protocol_version);
        w.write_i64(self.last_zxid_seen);
        w.write_i32(self.time_out);
        w.write_i64(self.session_id);
        w.write_buffer(&self.passwd);
        w.write_bool(self.read_only);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ConnectRequest {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: if r.remaining() > 0 {
                r.read_bool()?
            } else {
                false
            },
        })
    }
}
record!(ConnectResponse {
    protocol_version: i32,
    time_out: i32,
    session_id: i64,
    passwd: Bytes,
    read_only: bool,
});
record!(SetWatches {
    relative_zxid: i64,
    data_watches: Vec<String>,
    exist_watches: Vec<String>,
    child_watches: Vec<String>,
});
record!(SetWatches2 {
    relative_zxid: i64,
    data_watches: Vec<String>,
    exist_watches: Vec<String>,
    child_watches: Vec<String>,
    persistent_watches: Vec<String>,
    persistent_recursive_watches: Vec<String>,
});
record!(RequestHeader { xid: i32, op: i32 });
record!(MultiHeader {
    op: i32,
    done: bool,
    err: i32
});
record!(AuthPacket {
    kind: i32,
    scheme: String,
    auth: Bytes
});
record!(ReplyHeader {
    xid: i32,
    zxid: i64,
    err: i32
});
record!(GetDataRequest {
    path: String,
    watch: bool
});
record!(SetDataRequest {
    path: String,
    data: Bytes,
    version: i32
});
record!(ReconfigRequest {
    joining_servers: String,
    leaving_servers: String,
    new_members: String,
    cur_config_id: i64,
});
record!(SetDataResponse { stat: Stat });
record!(GetSaslRequest { token: Bytes });
record!(SetSaslRequest { token: Bytes });
record!(SetSaslResponse { token: Bytes });
record!(CreateRequest { path: String, data: Bytes, acl: Vec<Acl>, flags: i32 });
record!(CreateTtlRequest {
    path: String,
    data: Bytes,
    acl: Vec<Acl>,
    flags: i32,
    ttl: i64,
});
record!(DeleteRequest {
    path: String,
    version: i32
});
record!(GetChildrenRequest {
    path: String,
    watch: bool
});
record!(GetAllChildrenNumberRequest { path: String });
record!(CheckVersionRequest {
    path: String,
    version: i32
});
record!(SyncRequest { path: String });
record!(SyncResponse { path: String });
record!(GetAclRequest { path: String });
record!(SetAclRequest { path: String, acl: Vec<Acl>, version: i32 });
record!(SetAclResponse { stat: Stat });
record!(AddWatchRequest {
    path: String,
    mode: i32
});
record!(WatcherEvent {
    kind: i32,
    state: i32,
    path: String
});
record!(ErrorResponse { err: i32 });
record!(CreateResponse { path: String });
record!(Create2Response {
    path: String,
    stat: Stat
});
record!(ExistsRequest {
    path: String,
    watch: bool
});
record!(ExistsResponse { stat: Stat });
record!(GetDataResponse {
    data: Bytes,
    stat: Stat
});
record!(GetChildrenResponse { children: Vec<String> });
record!(GetAllChildrenNumberResponse { total_number: i32 });
record!(GetChildren2Response { children: Vec<String>, stat: Stat });
record!(GetAclResponse { acl: Vec<Acl>, stat: Stat });
record!(CheckWatchesRequest {
    path: String,
    kind: i32
});
record!(RemoveWatchesRequest {
    path: String,
    kind: i32
});
record!(GetEphemeralsRequest {
    prefix_path: String
});
record!(GetEphemeralsResponse { ephemerals: Vec<String> });
record!(WhoAmIResponse { client_info: Vec<ClientInfo> });

// Quorum and persistence records.
record!(LearnerInfo {
    serverid: i64,
    protocol_version: i32,
    config_version: i64
});
record!(QuorumPacket { kind: i32, zxid: i64, data: Bytes, authinfo: Vec<Id> });
record!(FileHeader {
    magic: i32,
    version: i32,
    dbid: i64
});

// Txn records.
record!(TxnDigest {
    version: i32,
    tree_digest: i64
});
record!(TxnHeader {
    client_id: i64,
    cxid: i32,
    zxid: i64,
    time: i64,
    op: i32
});
record!(CreateTxn {
    path: String,
    data: Bytes,
    acl: Vec<Acl>,
    ephemeral: bool,
    parent_c_version: i32,
});
record!(CreateTtlTxn {
    path: String,
    data: Bytes,
    acl: Vec<Acl>,
    parent_c_version: i32,
    ttl: i64,
});
record!(CreateContainerTxn {
    path: String,
    data: Bytes,
    acl: Vec<Acl>,
    parent_c_version: i32,
});
record!(DeleteTxn { path: String });
record!(SetDataTxn {
    path: String,
    data: Bytes,
    version: i32
});
record!(CheckVersionTxn {
    path: String,
    version: i32
});
record!(SetAclTxn { path: String, acl: Vec<Acl>, version: i32 });
record!(CreateSessionTxn { time_out: i32 });
record!(CloseSessionTxn { paths_to_delete: Vec<String> });
record!(ErrorTxn { err: i32 });
record!(Txn {
    op: i32,
    data: Bytes
});
record!(MultiTxn { txns: Vec<Txn> });

impl Id {
    pub fn new(scheme: &str, id: &str) -> Self {
        Id {
            scheme: scheme.to_owned(),
            id: id.to_owned(),
        }
    }
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Self {
        Acl {
            perms,
            id: Id::new(scheme, id),
        }
    }
}

/// `ZooDefs.Perms`.
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// `ZooDefs.Ids.OPEN_ACL_UNSAFE`.
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl::new(perms::ALL, "world", "anyone")]
}

/// `ZooDefs.Ids.READ_ACL_UNSAFE`.
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![Acl::new(perms::READ, "world", "anyone")]
}

impl From<&StatPersisted> for Stat {
    fn from(s: &StatPersisted) -> Self {
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            cversion: s.cversion,
            aversion: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: 0,
            num_children: 0,
            pzxid: s.pzxid,
        }
    }
}
