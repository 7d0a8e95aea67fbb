//! ZooKeeper 3.8's peer protocol, as bytes: the Zab packets between leader and learners,
//! the election connection's handshake and framing, FastLeaderElection's notifications and
//! the quorum configuration text they carry. Pure codec: no sockets, no clocks.
//!
//! - [`packet`]: `QuorumPacket` (the leader ↔ learner stream) and the payload of each
//!   packet type (Learner, LearnerHandler, Leader).
//! - [`election`]: QuorumCnxManager's initial message and length-prefixed frames, and
//!   FastLeaderElection's notification layout.
//! - [`config`]: `QuorumMaj.toString()` / `QuorumPeer.configFromString`.
//!
//! Every decoder takes untrusted bytes: it returns a typed error and never panics, and it
//! allocates no more than the bytes it was given.

pub mod config;
pub mod election;
pub mod packet;

pub use config::{ConfigError, LearnerType, QuorumConfig, QuorumServer, ServerAddr};
pub use election::{
    decode_election_frame, decode_handshake, encode_election_frame, ElectionAddr, FrameError,
    Handshake, HandshakeError, InitialMessage, Notification, NotificationError,
};
pub use packet::{kind, QuorumPacket};

/// The epoch of a zxid: its high 32 bits (`ZxidUtils.getEpochFromZxid`, an arithmetic
/// shift, so a negative zxid has a negative epoch as in Java).
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// The counter of a zxid: its low 32 bits (`ZxidUtils.getCounterFromZxid`).
pub fn counter_of(zxid: i64) -> i64 {
    zxid & 0xffff_ffff
}

/// `ZxidUtils.makeZxid`: the epoch in the high 32 bits, the counter's low 32 bits below.
/// Epoch bits above 32 are shifted out, as Java's `epoch << 32` does.
pub fn make_zxid(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// `QuorumPeer.ServerState`, numbered by `ordinal()` as notifications carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

impl ServerState {
    /// The state a notification's `state` int names; `None` for any other number (the
    /// receiving WorkerReceiver drops such a notification from a voter).
    pub fn from_i32(v: i32) -> Option<ServerState> {
        match v {
            0 => Some(ServerState::Looking),
            1 => Some(ServerState::Following),
            2 => Some(ServerState::Leading),
            3 => Some(ServerState::Observing),
            _ => None,
        }
    }

    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// The sid `QuorumPeer.OBSERVER_ID` that an observer without an id sends in its handshake;
/// the receiver replaces it with a fresh negative counter.
pub const OBSERVER_ID: i64 = i64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_parts() {
        let z = make_zxid(5, 17);
        assert_eq!(z, 0x0000_0005_0000_0011);
        assert_eq!((epoch_of(z), counter_of(z)), (5, 17));
        // Java masks the counter and shifts the epoch without checks.
        assert_eq!(make_zxid(1, -1), 0x0000_0001_ffff_ffff);
        assert_eq!(make_zxid(0x1_0000_0002, 0), 0x0000_0002_0000_0000);
        assert_eq!(epoch_of(-1), -1);
        assert_eq!(counter_of(-1), 0xffff_ffff);
    }

    #[test]
    fn server_states_round_trip() {
        for v in 0..4 {
            assert_eq!(ServerState::from_i32(v).map(ServerState::as_i32), Some(v));
        }
        assert_eq!(ServerState::from_i32(4), None);
        assert_eq!(ServerState::from_i32(-1), None);
    }
}
