//! Zab's messages (`zooid_zab`) to and from ZooKeeper 3.8's wire forms: notifications as
//! `FastLeaderElection.buildMsg` lays them out, packets as `QuorumPacket`s of the types
//! `Leader.java` numbers. Pure functions; the connection tasks call them.

use bytes::Bytes;
use zooid_proto::jute::Record;
use zooid_proto::quorum::election::{Notification as WireVote, NOTIFICATION_VERSION};
use zooid_proto::quorum::packet::{kind, AckEpoch, LeaderInfo, LearnerInfo, PROTOCOL_VERSION};
use zooid_proto::quorum::{epoch_of, QuorumPacket};
use zooid_zab::{make_zxid, Entry, Notification, Packet, ServerState};

/// What the sender knows that a zab packet does not carry.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub my_id: i64,
    /// The version of our quorum config (`QuorumVerifier.getVersion`), for LearnerInfo.
    pub config_version: i64,
    /// Our config text, for NEWLEADER.
    pub config_text: &'a str,
    /// True on the leader's side of a connection: its PING carries null data, as
    /// `LearnerHandler.ping` sends it; a learner's reply carries its (maybe empty) buffer.
    pub leader_side: bool,
    /// The zxid of PINGs: a leader's last proposal sent, a learner's echo of the last PING
    /// it got (`Learner.ping` echoes `qp.getZxid()`).
    pub ping_zxid: i64,
}

/// The notification `FastLeaderElection.buildMsg` (the 6-argument form, version 2 with
/// our config text) makes of a vote.
pub fn vote_to_wire(n: &Notification, config_text: &str) -> Vec<u8> {
    WireVote {
        state: n.state as i32,
        leader: n.leader,
        zxid: n.zxid,
        election_epoch: n.election_epoch,
        peer_epoch: n.peer_epoch,
        version: NOTIFICATION_VERSION,
        config: Some(Bytes::copy_from_slice(config_text.as_bytes())),
    }
    .to_vec()
}

/// Why a frame or packet was not turned into a zab message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("notification: {0}")]
    Vote(#[from] zooid_proto::quorum::NotificationError),
    #[error("notification with unknown state {0}")]
    State(i32),
    #[error("{kind} packet with bad data: {err}")]
    Data {
        kind: &'static str,
        err: zooid_proto::jute::DecodeError,
    },
}

/// A frame's notification as zab sees it. The config it carries is not used: Zooid does
/// not reconfigure, and every 3.8 server sends the one it was started with.
pub fn vote_from_wire(frame: &[u8]) -> Result<Notification, ConvertError> {
    let w = WireVote::decode(frame)?;
    let state = match w.state {
        0 => ServerState::Looking,
        1 => ServerState::Following,
        2 => ServerState::Leading,
        3 => ServerState::Observing,
        s => return Err(ConvertError::State(s)),
    };
    Ok(Notification {
        state,
        leader: w.leader,
        zxid: w.zxid,
        election_epoch: w.election_epoch,
        peer_epoch: w.peer_epoch,
    })
}

/// The `QuorumPacket` of a zab packet. For SNAP this is the packet before the snapshot
/// stream, which the writer appends (see `snapshot`).
pub fn packet_to_wire(p: &Packet, s: &Sender<'_>) -> QuorumPacket {
    match p {
        Packet::LearnerInfo {
            accepted_epoch,
            observer,
        } => {
            let k = if *observer {
                kind::OBSERVERINFO
            } else {
                kind::FOLLOWERINFO
            };
            let info = LearnerInfo {
                serverid: s.my_id,
                protocol_version: PROTOCOL_VERSION,
                config_version: s.config_version,
            };
            QuorumPacket::with_data(k, make_zxid(*accepted_epoch, 0), info.to_vec())
        }
        Packet::LeaderInfo { epoch } => {
            let data = LeaderInfo {
                protocol_version: PROTOCOL_VERSION,
            };
            QuorumPacket::with_data(kind::LEADERINFO, make_zxid(*epoch, 0), data.to_bytes())
        }
        Packet::AckEpoch {
            current_epoch,
            last_zxid,
        } => {
            // Java's currentEpoch is an int; -1 stays -1.
            let data = AckEpoch {
                current_epoch: *current_epoch as i32,
            };
            QuorumPacket::with_data(kind::ACKEPOCH, *last_zxid, data.to_bytes())
        }
        Packet::Diff { zxid } => QuorumPacket::new(kind::DIFF, *zxid),
        Packet::Trunc { zxid } => QuorumPacket::new(kind::TRUNC, *zxid),
        Packet::Snap { zxid, .. } => QuorumPacket::new(kind::SNAP, *zxid),
        Packet::Proposal(e) => QuorumPacket::with_data(kind::PROPOSAL, e.zxid, e.data.clone()),
        Packet::Inform(e) => QuorumPacket::with_data(kind::INFORM, e.zxid, e.data.clone()),
        Packet::Commit { zxid } => QuorumPacket::new(kind::COMMIT, *zxid),
        Packet::NewLeader { zxid } => QuorumPacket::with_data(
            kind::NEWLEADER,
            *zxid,
            Bytes::copy_from_slice(s.config_text.as_bytes()),
        ),
        Packet::Ack { zxid } => QuorumPacket::new(kind::ACK, *zxid),
        // `Leader.startForwarding` and LearnerHandler send UPTODATE with zxid -1.
        Packet::UpToDate => QuorumPacket::new(kind::UPTODATE, -1),
        Packet::Ping { data } if s.leader_side && data.is_empty() => {
            QuorumPacket::new(kind::PING, s.ping_zxid)
        }
        Packet::Ping { data } => QuorumPacket::with_data(kind::PING, s.ping_zxid, data.clone()),
    }
}

/// What a received packet is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Zab(Packet),
    /// SNAP: the snapshot stream follows on the connection.
    SnapFollows {
        zxid: i64,
    },
    /// A packet the host handles (REQUEST, REVALIDATE, SYNC, the reconfig packets...).
    Host(QuorumPacket),
}

/// Sorts a received packet into zab's and the host's.
pub fn packet_from_wire(p: QuorumPacket) -> Result<Received, ConvertError> {
    let epoch = |z: i64| epoch_of(z) as u32;
    let bad = |kind: &'static str| move |err| ConvertError::Data { kind, err };
    let data = || p.data.clone().unwrap_or_default();
    let z = p.zxid;
    let packet = match p.kind {
        kind::FOLLOWERINFO | kind::OBSERVERINFO => Packet::LearnerInfo {
            accepted_epoch: epoch(z),
            observer: p.kind == kind::OBSERVERINFO,
        },
        kind::LEADERINFO => {
            LeaderInfo::decode(p.data_or_empty()).map_err(bad("LEADERINFO"))?;
            Packet::LeaderInfo { epoch: epoch(z) }
        }
        kind::ACKEPOCH => {
            let a = AckEpoch::decode(p.data_or_empty()).map_err(bad("ACKEPOCH"))?;
            Packet::AckEpoch {
                current_epoch: a.current_epoch as i64,
                last_zxid: z,
            }
        }
        kind::DIFF => Packet::Diff { zxid: z },
        kind::TRUNC => Packet::Trunc { zxid: z },
        kind::SNAP => return Ok(Received::SnapFollows { zxid: z }),
        kind::PROPOSAL => Packet::Proposal(Entry {
            zxid: z,
            data: data(),
        }),
        kind::INFORM => Packet::Inform(Entry {
            zxid: z,
            data: data(),
        }),
        kind::COMMIT => Packet::Commit { zxid: z },
        kind::NEWLEADER => Packet::NewLeader { zxid: z },
        kind::ACK => Packet::Ack { zxid: z },
        kind::UPTODATE => Packet::UpToDate,
        kind::PING => Packet::Ping { data: data() },
        _ => return Ok(Received::Host(p)),
    };
    Ok(Received::Zab(packet))
}
