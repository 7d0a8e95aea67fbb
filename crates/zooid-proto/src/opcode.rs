//! `ZooDefs.OpCode` and the other protocol constants.

/// Client and txn opcodes.
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Reserved xids (`ClientCnxn`).
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// `Watcher.Event.EventType`.
pub mod event_type {
    pub const NONE: i32 = -1;
    pub const NODE_CREATED: i32 = 1;
    pub const NODE_DELETED: i32 = 2;
    pub const NODE_DATA_CHANGED: i32 = 3;
    pub const NODE_CHILDREN_CHANGED: i32 = 4;
    pub const DATA_WATCH_REMOVED: i32 = 5;
    pub const CHILD_WATCH_REMOVED: i32 = 6;
    pub const PERSISTENT_WATCH_REMOVED: i32 = 7;
}

/// `Watcher.Event.KeeperState`.
pub mod keeper_state {
    pub const DISCONNECTED: i32 = 0;
    pub const SYNC_CONNECTED: i32 = 3;
    pub const AUTH_FAILED: i32 = 4;
    pub const CONNECTED_READ_ONLY: i32 = 5;
    pub const SASL_AUTHENTICATED: i32 = 6;
    pub const CLOSED: i32 = 7;
    pub const EXPIRED: i32 = -112;
}

/// `Watcher.WatcherType` as used by checkWatches/removeWatches.
pub mod watcher_type {
    pub const CHILDREN: i32 = 1;
    pub const DATA: i32 = 2;
    pub const ANY: i32 = 3;
    pub const PERSISTENT: i32 = 4;
    pub const PERSISTENT_RECURSIVE: i32 = 5;
}

/// `AddWatchMode`.
pub mod add_watch_mode {
    pub const PERSISTENT: i32 = 0;
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

/// `CreateMode` flag values.
pub mod create_mode {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const PERSISTENT_SEQUENTIAL: i32 = 2;
    pub const EPHEMERAL_SEQUENTIAL: i32 = 3;
    pub const CONTAINER: i32 = 4;
    pub const PERSISTENT_WITH_TTL: i32 = 5;
    pub const PERSISTENT_SEQUENTIAL_WITH_TTL: i32 = 6;
}

/// `EphemeralType` encodings of `ephemeralOwner`.
pub mod ephemeral {
    /// A container node's ephemeralOwner.
    pub const CONTAINER_OWNER: i64 = i64::MIN;
    /// The high byte that marks a TTL node when extended types are enabled.
    pub const TTL_MASK: i64 = 0xff00_0000_0000_0000u64 as i64;
    /// Bits 40..56, which must be zero for a TTL owner (the "extended feature" bits).
    pub const RESERVED_BITS_MASK: i64 = 0x00ff_ff00_0000_0000;
    /// The largest TTL that fits the encoding (about 34 years in ms).
    pub const MAX_TTL: i64 = 0x0000_00ff_ffff_ffff;
}

/// The default `jute.maxbuffer`: 0xfffff bytes.
pub const JUTE_MAXBUFFER_DEFAULT: usize = 0xfffff;

/// The protocol version a 3.x client and server send in the handshake.
pub const PROTOCOL_VERSION: i32 = 0;

/// Opcodes of requests that change the tree or the session (they go through prep and
/// consume a zxid, even when they fail).
pub fn is_write_op(opcode: i32) -> bool {
    matches!(
        opcode,
        op::CREATE
            | op::CREATE2
            | op::CREATE_CONTAINER
            | op::CREATE_TTL
            | op::DELETE
            | op::SET_DATA
            | op::SET_ACL
            | op::CHECK
            | op::MULTI
            | op::RECONFIG
            | op::CLOSE_SESSION
            | op::CREATE_SESSION
    )
}
