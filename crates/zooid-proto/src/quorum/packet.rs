//! `QuorumPacket`, the unit of the leader ↔ learner stream, and the payload of each type.
//!
//! Grammar (jute, big-endian; `zookeeper.jute`, module `org.apache.zookeeper.server.quorum`):
//! ```text
//! QuorumPacket = int type, long zxid, buffer data, vector<Id> authinfo
//! buffer       = int len (-1: null) + len bytes
//! vector<Id>   = int count (-1: null) + count × (ustring scheme, ustring id)
//! ```
//! On the socket packets follow each other with no length prefix and no tag bytes:
//! `Learner.writePacket` and `LearnerHandler` call `BinaryOutputArchive.writeRecord(qp,
//! "packet")`, which writes the fields and nothing else (the tag is only a name for text
//! archives). A reader therefore finds a packet's end only by decoding it:
//! [`decode_packet_prefix`] does that over a growing buffer, with jute's length limits.
//!
//! Payloads (`data`) by type, all big-endian as `DataOutputStream`/`ByteBuffer` write them:
//! ```text
//! FOLLOWERINFO, OBSERVERINFO  LearnerInfo = long serverid, int protocolVersion,
//!                             long configVersion   (zxid = makeZxid(acceptedEpoch, 0))
//! LEADERINFO                  int protocolVersion (0x10000)   (zxid = makeZxid(newEpoch, 0))
//! ACKEPOCH                    int currentEpoch, or -1         (zxid = lastLoggedZxid)
//! REQUEST                     long sessionId, int cxid, int type, request bytes to the end
//! PING (learner → leader)     (long sessionId, int timeout)*; the leader's PING has none
//! REVALIDATE (to leader)      long sessionId, int timeout
//! REVALIDATE (to learner)     long sessionId, boolean valid
//! PROPOSAL, INFORM            TxnHeader, txn record, optional TxnDigest
//! COMMITANDACTIVATE           long designatedLeader
//! INFORMANDACTIVATE           long designatedLeader, then a PROPOSAL's data
//! NEWLEADER                   the QuorumVerifier text (see `super::config`), or null
//! ```
//! Payload decoders reject trailing bytes: every ZooKeeper sender writes exact lengths.
//! The one deliberate exception is FOLLOWERINFO, whose length tells old learners apart
//! ([`LearnerInfoData`]).

use bytes::Bytes;

use crate::jute::{DecodeError, JuteWrite, Reader, Record};
use crate::records::{Id, TxnDigest, TxnHeader};

pub use crate::records::LearnerInfo;

/// Packet types, `Leader.java`'s constants.
pub mod kind {
    /// A learner forwards a client's write (`Learner.request`).
    pub const REQUEST: i32 = 1;
    /// The leader proposes a txn.
    pub const PROPOSAL: i32 = 2;
    /// A learner has logged a proposal (or NEWLEADER, or UPTODATE).
    pub const ACK: i32 = 3;
    /// A quorum acked the proposal with this zxid.
    pub const COMMIT: i32 = 4;
    /// Liveness and, from a learner, its sessions' touches.
    pub const PING: i32 = 5;
    /// A learner asks whether a reconnecting session is still valid.
    pub const REVALIDATE: i32 = 6;
    /// The leader answers a learner's `sync`.
    pub const SYNC: i32 = 7;
    /// A committed txn, sent whole to observers.
    pub const INFORM: i32 = 8;
    /// COMMIT of a reconfig, naming the designated leader.
    pub const COMMITANDACTIVATE: i32 = 9;
    /// End of sync: the learner must log everything and ack.
    pub const NEWLEADER: i32 = 10;
    /// A follower's first packet.
    pub const FOLLOWERINFO: i32 = 11;
    /// The learner may serve clients.
    pub const UPTODATE: i32 = 12;
    /// Sync by the txns the learner lacks.
    pub const DIFF: i32 = 13;
    /// Sync by truncating the learner's log to this zxid.
    pub const TRUNC: i32 = 14;
    /// Sync by a full snapshot (streamed after the packet).
    pub const SNAP: i32 = 15;
    /// An observer's first packet.
    pub const OBSERVERINFO: i32 = 16;
    /// The leader's proposed epoch.
    pub const LEADERINFO: i32 = 17;
    /// A learner's answer to LEADERINFO.
    pub const ACKEPOCH: i32 = 18;
    /// INFORM of a reconfig, naming the designated leader.
    pub const INFORMANDACTIVATE: i32 = 19;

    /// The name `LearnerHandler.packetToString` prints, for logs and test output.
    pub fn name(kind: i32) -> Option<&'static str> {
        Some(match kind {
            REQUEST => "REQUEST",
            PROPOSAL => "PROPOSAL",
            ACK => "ACK",
            COMMIT => "COMMIT",
            PING => "PING",
            REVALIDATE => "REVALIDATE",
            SYNC => "SYNC",
            INFORM => "INFORM",
            COMMITANDACTIVATE => "COMMITANDACTIVATE",
            NEWLEADER => "NEWLEADER",
            FOLLOWERINFO => "FOLLOWERINFO",
            UPTODATE => "UPTODATE",
            DIFF => "DIFF",
            TRUNC => "TRUNC",
            SNAP => "SNAP",
            OBSERVERINFO => "OBSERVERINFO",
            LEADERINFO => "LEADERINFO",
            ACKEPOCH => "ACKEPOCH",
            INFORMANDACTIVATE => "INFORMANDACTIVATE",
            _ => return None,
        })
    }
}

/// The protocol version 3.4+ learners put in LearnerInfo and leaders in LEADERINFO;
/// below it a leader skips the LEADERINFO/ACKEPOCH exchange.
pub const PROTOCOL_VERSION: i32 = 0x10000;

/// The version `LearnerHandler` assumes when FOLLOWERINFO carries none (pre-3.4 learners).
pub const PROTOCOL_VERSION_LEGACY: i32 = 0x1;

/// `jute.maxbuffer`'s default: 0xfffff bytes.
pub const JUTE_MAXBUFFER_DEFAULT: usize = 0xfffff;

/// The longest buffer or string `BinaryInputArchive` accepts by default: `jute.maxbuffer`
/// plus `zookeeper.jute.maxbuffer.extrasize`, which defaults to `jute.maxbuffer`.
pub const BUFFER_LEN_MAX_DEFAULT: usize = 2 * JUTE_MAXBUFFER_DEFAULT;

/// What [`decode_packet_prefix`] lets a packet's `authinfo` take beyond its buffer. Java
/// has no bound; the auth ids of one forwarded session are a few short strings, so 64 KiB
/// is generous while keeping a lying vector count from holding a connection's memory.
pub const AUTHINFO_BYTES_MAX: usize = 64 * 1024;

/// One leader ↔ learner packet. `data` and `authinfo` keep jute's null apart from empty:
/// ZooKeeper sends null for "none" (COMMIT, ACK, the leader's PING) and peers compare
/// bytes, so both must survive a round trip.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuorumPacket {
    pub kind: i32,
    pub zxid: i64,
    pub data: Option<Bytes>,
    pub authinfo: Option<Vec<Id>>,
}

impl QuorumPacket {
    /// A packet with null data and null authinfo.
    pub fn new(kind: i32, zxid: i64) -> Self {
        QuorumPacket {
            kind,
            zxid,
            data: None,
            authinfo: None,
        }
    }

    pub fn with_data(kind: i32, zxid: i64, data: impl Into<Bytes>) -> Self {
        QuorumPacket {
            data: Some(data.into()),
            ..QuorumPacket::new(kind, zxid)
        }
    }

    /// The data, with null read as empty (as `ByteBuffer.wrap` would fail on it, payload
    /// decoders then report it as truncated).
    pub fn data_or_empty(&self) -> &[u8] {
        self.data.as_deref().unwrap_or_default()
    }

    fn decode_limited(r: &mut Reader<'_>, buffer_len_max: usize) -> Result<Self, PacketError> {
        let kind = r.read_i32()?;
        let zxid = r.read_i64()?;
        let offset = r.position();
        let data = match peek_len(r)? {
            -1 => {
                r.read_i32()?;
                None
            }
            len if len < 0 || len as usize > buffer_len_max => {
                return Err(PacketError::UnreasonableLength { offset, len });
            }
            _ => Some(Bytes::copy_from_slice(r.read_buffer_slice()?)),
        };
        let authinfo = match r.read_i32()? {
            -1 => None,
            // BinaryInputArchive's index is "done" at once for any negative count, so
            // Java reads a count below -1 as an empty, non-null list.
            n if n < 0 => Some(Vec::new()),
            n => Some(read_ids(r, n as usize, buffer_len_max)?),
        };
        Ok(QuorumPacket {
            kind,
            zxid,
            data,
            authinfo,
        })
    }
}

/// Reads a length prefix without consuming it.
fn peek_len(r: &Reader<'_>) -> Result<i32, DecodeError> {
    r.clone().read_i32()
}

fn read_ids(r: &mut Reader<'_>, n: usize, buffer_len_max: usize) -> Result<Vec<Id>, PacketError> {
    // Each Id takes at least two length ints.
    let min = n.saturating_mul(8);
    if min > r.remaining() {
        return Err(DecodeError::Truncated {
            offset: r.position(),
            needed: min - r.remaining(),
        }
        .into());
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let scheme = read_string(r, buffer_len_max)?;
        let id = read_string(r, buffer_len_max)?;
        out.push(Id { scheme, id });
    }
    Ok(out)
}

fn read_string(r: &mut Reader<'_>, buffer_len_max: usize) -> Result<String, PacketError> {
    let offset = r.position();
    match peek_len(r)? {
        len if len < -1 || len > 0 && len as usize > buffer_len_max => {
            Err(PacketError::UnreasonableLength { offset, len })
        }
        // A null string (-1) reads as "", as records.rs reads every ustring; Java's Id
        // would hold null and write it back as -1.
        _ => Ok(r.read_string()?),
    }
}

impl Record for QuorumPacket {
    fn encode<W: JuteWrite>(&self, w: &mut W) {
        w.write_i32(self.kind);
        w.write_i64(self.zxid);
        match &self.data {
            None => w.write_i32(-1),
            Some(d) => {
                w.write_i32(d.len() as i32);
                w.put_slice(d);
            }
        }
        match &self.authinfo {
            None => w.write_i32(-1),
            Some(ids) => w.write_vec(ids, |w, id| id.encode(w)),
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // Within one whole input the input's own length bounds every allocation.
        QuorumPacket::decode_limited(r, usize::MAX).map_err(|e| match e {
            PacketError::Decode(d) => d,
            PacketError::UnreasonableLength { offset, len } => {
                DecodeError::NegativeLength { offset, len }
            }
            PacketError::TooLarge { needed } => DecodeError::Truncated { offset: 0, needed },
        })
    }
}

/// Why [`decode_packet_prefix`] gave up on a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// `BinaryInputArchive.checkLength`: "Unreasonable length".
    #[error("unreasonable length {len} at offset {offset}")]
    UnreasonableLength { offset: usize, len: i32 },
    /// The packet would need more bytes than the limits allow.
    #[error("packet needs at least {needed} bytes, more than allowed")]
    TooLarge { needed: usize },
}

/// Decodes the packet at the start of a stream buffer. `Ok(None)` means the buffer holds
/// only part of a packet: read more and call again. `Ok(Some((packet, n)))` consumed `n`
/// bytes. A length over `buffer_len_max` (Java: [`BUFFER_LEN_MAX_DEFAULT`]) is an error as
/// soon as its prefix arrives, so the caller never buffers more than
/// `20 + buffer_len_max + AUTHINFO_BYTES_MAX` bytes for one packet.
pub fn decode_packet_prefix(
    buf: &[u8],
    buffer_len_max: usize,
) -> Result<Option<(QuorumPacket, usize)>, PacketError> {
    let mut r = Reader::new(buf);
    match QuorumPacket::decode_limited(&mut r, buffer_len_max) {
        Ok(p) => Ok(Some((p, r.position()))),
        Err(PacketError::Decode(DecodeError::Truncated { needed, .. })) => {
            let total = buf.len().saturating_add(needed);
            // type, zxid and the two length prefixes take 20 bytes.
            let packet_len_max = 20 + buffer_len_max.saturating_add(AUTHINFO_BYTES_MAX);
            if total > packet_len_max {
                return Err(PacketError::TooLarge { needed: total });
            }
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Decodes a payload that must fill `data` exactly.
fn whole<T>(
    data: &[u8],
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut r = Reader::new(data);
    let v = f(&mut r)?;
    r.finish()?;
    Ok(v)
}

/// What `LearnerHandler` takes from FOLLOWERINFO/OBSERVERINFO data: the sid from 8 bytes
/// on, the protocol version from 12, the config version from 20; fewer bytes leave the
/// older defaults, and trailing bytes are ignored. Null data means a learner too old to
/// send its sid; the leader then makes one up (`getAndDecrementFollowerCounter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnerInfoData {
    pub sid: Option<i64>,
    /// [`PROTOCOL_VERSION_LEGACY`] when not sent.
    pub protocol_version: i32,
    pub config_version: Option<i64>,
}

impl LearnerInfoData {
    pub fn parse(data: Option<&[u8]>) -> LearnerInfoData {
        let mut out = LearnerInfoData {
            sid: None,
            protocol_version: PROTOCOL_VERSION_LEGACY,
            config_version: None,
        };
        let Some(data) = data else { return out };
        let mut r = Reader::new(data);
        if data.len() >= 8 {
            out.sid = r.read_i64().ok();
        }
        if data.len() >= 12 {
            out.protocol_version = r.read_i32().unwrap_or(PROTOCOL_VERSION_LEGACY);
        }
        if data.len() >= 20 {
            out.config_version = r.read_i64().ok();
        }
        out
    }
}

/// LEADERINFO's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderInfo {
    pub protocol_version: i32,
}

impl LeaderInfo {
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.protocol_version.to_be_bytes())
    }
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        whole(data, |r| {
            Ok(LeaderInfo {
                protocol_version: r.read_i32()?,
            })
        })
    }
}

/// ACKEPOCH's data: the learner's current epoch, or [`AckEpoch::ALREADY_ACCEPTED`] when it
/// had already accepted the leader's epoch (the reply then does not count as an ack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckEpoch {
    pub current_epoch: i32,
}

impl AckEpoch {
    pub const ALREADY_ACCEPTED: i32 = -1;

    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.current_epoch.to_be_bytes())
    }
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        whole(data, |r| {
            Ok(AckEpoch {
                current_epoch: r.read_i32()?,
            })
        })
    }
    pub fn is_ack(&self) -> bool {
        self.current_epoch != Self::ALREADY_ACCEPTED
    }
}

/// REQUEST's data: a client write forwarded by a learner. The request record's bytes run
/// to the end of the data (none for e.g. closeSession); the packet's `authinfo` carries the
/// session's auth ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForwardedRequest {
    pub session_id: i64,
    pub cxid: i32,
    pub op: i32,
    pub request: Bytes,
}

impl ForwardedRequest {
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(16 + self.request.len());
        v.write_i64(self.session_id);
        v.write_i32(self.cxid);
        v.write_i32(self.op);
        v.extend_from_slice(&self.request);
        v.into()
    }
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        Ok(ForwardedRequest {
            session_id: r.read_i64()?,
            cxid: r.read_i32()?,
            op: r.read_i32()?,
            request: Bytes::copy_from_slice(r.rest()),
        })
    }
}

/// One session a learner saw activity on since its last ping, and that session's timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionTouch {
    pub session_id: i64,
    pub timeout_ms: i32,
}

/// A learner's PING reply data: its touched sessions, 12 bytes each. A partial last entry
/// is an error, as `LearnerHandler`'s `readLong`/`readInt` then hit EOF and close the link.
pub fn encode_touches(touches: &[SessionTouch]) -> Bytes {
    let mut v = Vec::with_capacity(touches.len() * 12);
    for t in touches {
        v.write_i64(t.session_id);
        v.write_i32(t.timeout_ms);
    }
    v.into()
}

pub fn decode_touches(data: &[u8]) -> Result<Vec<SessionTouch>, DecodeError> {
    let mut r = Reader::new(data);
    let mut out = Vec::with_capacity(data.len() / 12);
    while r.remaining() > 0 {
        out.push(SessionTouch {
            session_id: r.read_i64()?,
            timeout_ms: r.read_i32()?,
        });
    }
    Ok(out)
}

/// REVALIDATE from a learner: is this reconnecting session still valid?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevalidateRequest {
    pub session_id: i64,
    pub timeout_ms: i32,
}

impl RevalidateRequest {
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(12);
        v.write_i64(self.session_id);
        v.write_i32(self.timeout_ms);
        v.into()
    }
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        whole(data, |r| {
            Ok(RevalidateRequest {
                session_id: r.read_i64()?,
                timeout_ms: r.read_i32()?,
            })
        })
    }
}

/// REVALIDATE from the leader: the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevalidateReply {
    pub session_id: i64,
    pub valid: bool,
}

impl RevalidateReply {
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(9);
        v.write_i64(self.session_id);
        v.write_bool(self.valid);
        v.into()
    }
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        whole(data, |r| {
            Ok(RevalidateReply {
                session_id: r.read_i64()?,
                valid: r.read_bool()?,
            })
        })
    }
}

/// COMMITANDACTIVATE's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitAndActivate {
    pub designated_leader: i64,
}

impl CommitAndActivate {
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(&self.designated_leader.to_be_bytes())
    }
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        whole(data, |r| {
            Ok(CommitAndActivate {
                designated_leader: r.read_i64()?,
            })
        })
    }
}

/// INFORMANDACTIVATE's data: the designated leader, then a PROPOSAL's data
/// (decode it with [`TxnEntry::decode`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InformAndActivate {
    pub designated_leader: i64,
    pub proposal: Bytes,
}

impl InformAndActivate {
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(8 + self.proposal.len());
        v.write_i64(self.designated_leader);
        v.extend_from_slice(&self.proposal);
        v.into()
    }
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        Ok(InformAndActivate {
            designated_leader: r.read_i64()?,
            proposal: Bytes::copy_from_slice(r.rest()),
        })
    }
}

/// The txn record that follows a `TxnHeader`, chosen by the header's type. The tree crate
/// owns the txn types; it implements this so proposals decode straight into them.
pub trait TxnRecord: Sized {
    /// Writes the record (nothing, for a type ZooKeeper sends without one).
    fn encode_txn<W: JuteWrite>(&self, w: &mut W);
    /// Reads the record a header of type `op` announces.
    fn decode_txn(op: i32, r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// PROPOSAL and INFORM data, `SerializeUtils.serializeRequest`: the header, the txn record,
/// then the tree digest when the leader has digests enabled (3.8's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEntry<T> {
    pub hdr: TxnHeader,
    pub txn: T,
    pub digest: Option<TxnDigest>,
}

impl<T: TxnRecord> TxnEntry<T> {
    pub fn encode<W: JuteWrite>(&self, w: &mut W) {
        self.hdr.encode(w);
        self.txn.encode_txn(w);
        if let Some(d) = &self.digest {
            d.encode(w);
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.into()
    }

    /// Decodes the whole of `data`. No bytes after the txn means no digest; a partial
    /// digest or bytes after it are an error.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let hdr = TxnHeader::decode(&mut r)?;
        let txn = T::decode_txn(hdr.op, &mut r)?;
        let digest = match r.remaining() {
            0 => None,
            _ => Some(TxnDigest::decode(&mut r)?),
        };
        r.finish()?;
        Ok(TxnEntry { hdr, txn, digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_data_differ_on_the_wire() {
        let null = QuorumPacket::new(kind::ACK, 1).to_vec();
        let empty = QuorumPacket {
            data: Some(Bytes::new()),
            authinfo: Some(Vec::new()),
            ..QuorumPacket::new(kind::ACK, 1)
        }
        .to_vec();
        assert_eq!(&null[12..], &[0xff; 8]);
        assert_eq!(&empty[12..], &[0; 8]);
        assert_eq!(QuorumPacket::from_bytes(&null).unwrap().data, None);
        assert_eq!(
            QuorumPacket::from_bytes(&empty).unwrap().data,
            Some(Bytes::new())
        );
    }

    #[test]
    fn negative_vector_count_is_an_empty_list_as_in_java() {
        let mut b = QuorumPacket::new(kind::PING, 0).to_vec();
        b[16..20].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(QuorumPacket::from_bytes(&b).unwrap().authinfo, Some(vec![]));
    }

    #[test]
    fn stream_prefix_waits_for_the_rest_and_caps_lengths() {
        let p = QuorumPacket::with_data(kind::PROPOSAL, 7, vec![1u8; 100]);
        let b = p.to_vec();
        for cut in 0..b.len() {
            assert_eq!(decode_packet_prefix(&b[..cut], 1000), Ok(None), "cut {cut}");
        }
        let mut two = b.clone();
        two.extend_from_slice(&b);
        assert_eq!(decode_packet_prefix(&two, 1000), Ok(Some((p, b.len()))));
        assert_eq!(
            decode_packet_prefix(&b, 99),
            Err(PacketError::UnreasonableLength {
                offset: 12,
                len: 100
            })
        );
        let mut huge = QuorumPacket::new(kind::REQUEST, 0).to_vec();
        huge[16..20].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(
            decode_packet_prefix(&huge, 1000),
            Err(PacketError::TooLarge { .. })
        ));
    }

    #[test]
    fn learner_info_by_length() {
        let full = LearnerInfo {
            serverid: 3,
            protocol_version: PROTOCOL_VERSION,
            config_version: 9,
        }
        .to_vec();
        let parse = |n: usize| LearnerInfoData::parse(Some(&full[..n]));
        assert_eq!(parse(7).sid, None);
        assert_eq!(parse(8).sid, Some(3));
        assert_eq!(parse(8).protocol_version, PROTOCOL_VERSION_LEGACY);
        assert_eq!(parse(12).protocol_version, PROTOCOL_VERSION);
        assert_eq!(parse(19).config_version, None);
        assert_eq!(parse(20).config_version, Some(9));
        assert_eq!(LearnerInfoData::parse(None).sid, None);
    }

    #[test]
    fn touches_reject_a_partial_entry() {
        let t = [SessionTouch {
            session_id: 1,
            timeout_ms: 2,
        }];
        let b = encode_touches(&t);
        assert_eq!(decode_touches(&b).unwrap(), t);
        assert!(decode_touches(&b[..11]).is_err());
        assert_eq!(decode_touches(&[]).unwrap(), vec![]);
    }
}
