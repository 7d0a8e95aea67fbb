//! The election connection (QuorumCnxManager) and what travels on it (FastLeaderElection).
//!
//! Grammar (big-endian, `DataOutputStream`):
//! ```text
//! handshake    = long protocolVersion, long sid, int len, len bytes of addresses
//!              | long sid                          (pre-3.5 peers: a non-negative first long)
//! addresses    = "host:port" ('|' "host:port")*    (IPv6 hosts in brackets; one address
//!                                                    unless multiAddress is enabled)
//! frame        = int len (1..=512 KiB), len bytes  (every message after the handshake)
//! notification = int state, long leader, long zxid, long electionEpoch,
//!                [long peerEpoch, [int version, [int configLen, configLen bytes]]]
//! ```
//! A 3.8 sender always writes the full notification with version 2 and its QuorumVerifier
//! text as config. The receiver (`WorkerReceiver`) goes by the frame's length: 28 bytes is
//! the pre-3.4 form (peer epoch taken from the zxid), 40 the form without version; any
//! other length reads a version, and config only when the version is above 1.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes};

use super::epoch_of;
use crate::jute::{java_utf8_lossy, DecodeError, JuteWrite, Reader};

/// `QuorumCnxManager.PROTOCOL_VERSION_V1`: one election address (since 3.5).
pub const PROTOCOL_VERSION_V1: i64 = -65536;
/// `QuorumCnxManager.PROTOCOL_VERSION_V2`: a '|'-separated list (since 3.6, multiAddress).
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// `QuorumCnxManager.maxBuffer`: the longest address list a handshake may announce.
pub const INITIAL_ADDRS_LEN_MAX: usize = 2048;
/// The most bytes a handshake takes: both longs, the length and the longest address list.
pub const HANDSHAKE_LEN_MAX: usize = 8 + 8 + 4 + INITIAL_ADDRS_LEN_MAX;
/// `QuorumCnxManager.PACKETMAXSIZE`: the longest frame a RecvWorker accepts.
pub const ELECTION_FRAME_LEN_MAX: usize = 512 * 1024;
/// `FastLeaderElection.Notification.CURRENTVERSION`.
pub const NOTIFICATION_VERSION: i32 = 0x2;

/// One election address as `InetSocketAddress.getHostString()` shows it: IP literals in
/// Java's form (IPv6 uncompressed, e.g. `0:0:0:0:0:0:0:1`), host names as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ElectionAddr {
    pub host: String,
    pub port: u16,
}

impl ElectionAddr {
    /// Normalizes `host` as Java's `InetSocketAddress` would (see [`java_host_string`]).
    pub fn new(host: &str, port: u16) -> Self {
        ElectionAddr {
            host: java_host_string(host),
            port,
        }
    }

    /// Whether the host is a wildcard literal (0.0.0.0 or ::), which receivers drop.
    /// Java also resolves host names here; a name that resolves to a wildcard address is
    /// not detected without DNS.
    pub fn is_wildcard(&self) -> bool {
        self.host == "0.0.0.0" || self.host == "0:0:0:0:0:0:0:0"
    }
}

impl std::fmt::Display for ElectionAddr {
    /// `NetUtils.formatInetAddr`: IPv6 hosts in brackets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The host string Java's `new InetSocketAddress(host, port).getHostString()` gives: an
/// IPv4 literal as written, an IPv6 literal uncompressed in lower-case hex (an IPv4-mapped
/// one as IPv4), the empty host as `localhost`, any other name unchanged. Literal forms
/// that Java accepts and Rust's parser does not (such as `127.1`) stay unchanged.
pub fn java_host_string(host: &str) -> String {
    if host.is_empty() {
        return "localhost".to_owned();
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return v4.to_string();
    }
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        if let Some(v4) = v6.to_ipv4_mapped() {
            return v4.to_string();
        }
        let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
        return groups.join(":");
    }
    host.to_owned()
}

/// The handshake a 3.5+ peer sends first on an election connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMessage {
    /// [`PROTOCOL_VERSION_V1`] or [`PROTOCOL_VERSION_V2`].
    pub protocol_version: i64,
    pub sid: i64,
    /// The sender's election addresses, wildcards dropped (as the receiver does).
    pub addrs: Vec<ElectionAddr>,
}

impl InitialMessage {
    /// The bytes `QuorumCnxManager.initiateConnection` writes. Java sends the address
    /// list's length even past [`INITIAL_ADDRS_LEN_MAX`]; the receiver then refuses it.
    pub fn encode<W: BufMut>(&self, w: &mut W) {
        let addrs: Vec<String> = self.addrs.iter().map(ElectionAddr::to_string).collect();
        let addrs = addrs.join("|");
        w.write_i64(self.protocol_version);
        w.write_i64(self.sid);
        w.write_i32(addrs.len() as i32);
        w.put_slice(addrs.as_bytes());
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// What the first bytes of an election connection said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handshake {
    /// A pre-3.5 peer: its first long is its sid and nothing else follows.
    Legacy {
        sid: i64,
    },
    Initial(InitialMessage),
}

impl Handshake {
    pub fn sid(&self) -> i64 {
        match self {
            Handshake::Legacy { sid } => *sid,
            Handshake::Initial(m) => m.sid,
        }
    }
}

/// Why a handshake was refused (`InitialMessageException` and friends: the receiver
/// closes the socket), or that more bytes are needed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("need {needed} more bytes")]
    Incomplete { needed: usize },
    #[error("unrecognized protocol version {0}")]
    UnknownVersion(i64),
    #[error("unreasonable buffer length {0}")]
    BadLength(i32),
    #[error("badly formed address {0:?}")]
    BadAddress(String),
    #[error("bad port number {0:?}")]
    BadPort(String),
}

/// Decodes the handshake at the start of `buf` (`QuorumCnxManager.handleConnection` and
/// `InitialMessage.parse`), returning it with the bytes it took. Call again with more
/// bytes on [`HandshakeError::Incomplete`]; a handshake never needs more than
/// [`HANDSHAKE_LEN_MAX`] bytes. Java reads the address list with one `read` call and fails
/// when it comes up short; we wait for the whole list instead.
pub fn decode_handshake(buf: &[u8]) -> Result<(Handshake, usize), HandshakeError> {
    let need = |n: usize| HandshakeError::Incomplete {
        needed: n.saturating_sub(buf.len()),
    };
    let mut r = Reader::new(buf);
    let version = r.read_i64().map_err(|_| need(8))?;
    if version >= 0 {
        return Ok((Handshake::Legacy { sid: version }, 8));
    }
    if version != PROTOCOL_VERSION_V1 && version != PROTOCOL_VERSION_V2 {
        return Err(HandshakeError::UnknownVersion(version));
    }
    let sid = r.read_i64().map_err(|_| need(16))?;
    let len = r.read_i32().map_err(|_| need(20))?;
    if len <= 0 || len as usize > INITIAL_ADDRS_LEN_MAX {
        return Err(HandshakeError::BadLength(len));
    }
    let end = 20 + len as usize;
    let Some(text) = buf.get(20..end) else {
        return Err(need(end));
    };
    let addrs = parse_addrs(&java_utf8_lossy(text))?;
    let m = InitialMessage {
        protocol_version: version,
        sid,
        addrs,
    };
    Ok((Handshake::Initial(m), end))
}

/// `InitialMessage.parse`'s address rules, including Java's `String.split` (trailing empty
/// pieces dropped) and `ConfigUtils.getHostAndPort` (brackets for IPv6).
fn parse_addrs(text: &str) -> Result<Vec<ElectionAddr>, HandshakeError> {
    let mut out = Vec::new();
    for addr in java_split(text, '|') {
        let parts = host_and_port(addr).ok_or_else(|| HandshakeError::BadAddress(addr.into()))?;
        let [host, port] = parts[..] else {
            return Err(HandshakeError::BadAddress(addr.into()));
        };
        // Integer.parseInt, then InetSocketAddress's range check (an unchecked exception
        // in Java that ends the connection all the same).
        let port = java_parse_int(port)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| HandshakeError::BadPort(port.into()))?;
        let a = ElectionAddr::new(host, port);
        if !a.is_wildcard() {
            out.push(a);
        }
    }
    Ok(out)
}

/// Java's `String.split` with a one-character separator: no separator gives the whole
/// string, and trailing empty pieces are removed.
pub(crate) fn java_split(s: &str, sep: char) -> Vec<&str> {
    if !s.contains(sep) {
        return vec![s];
    }
    let mut v: Vec<&str> = s.split(sep).collect();
    while v.last() == Some(&"") {
        v.pop();
    }
    v
}

/// `ConfigUtils.getHostAndPort`: "[v6]:a:b" keeps the colons of the address; anything
/// else splits on ':'. `None` where Java throws.
pub(crate) fn host_and_port(s: &str) -> Option<Vec<&str>> {
    let Some(inner) = s.strip_prefix('[') else {
        return Some(java_split(s, ':'));
    };
    let close = inner.find(']')?;
    let host = &inner[..close];
    let after = &inner[close + 1..];
    let mut chars = after.chars();
    if chars.next().is_none() {
        // "[host]" alone: Java strips every bracket and returns one piece.
        return Some(vec![host]);
    }
    // Java skips the one character after ']' whatever it is, then splits on ':'.
    let rest = chars.as_str();
    if rest.is_empty() {
        return None;
    }
    let mut v = vec![host];
    v.extend(java_split(rest, ':'));
    Some(v)
}

/// `Integer.parseInt` for ASCII digits: an optional sign, at least one digit, in range.
pub(crate) fn java_parse_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's parser takes the same sign and digits; it fails on overflow as Java does.
    s.parse().ok()
}

/// Appends one election frame.
pub fn encode_election_frame<W: BufMut>(payload: &[u8], w: &mut W) {
    w.write_i32(payload.len() as i32);
    w.put_slice(payload);
}

/// A frame length `RecvWorker` refuses; it then drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid election frame length {0}")]
pub struct FrameError(pub i32);

/// Decodes the frame at the start of `buf`: `Ok(None)` until it is all there, else the
/// payload and the bytes taken. The length is checked as soon as its 4 bytes arrive, so a
/// caller never buffers more than `4 + ELECTION_FRAME_LEN_MAX` bytes.
pub fn decode_election_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = i32::from_be_bytes(*head);
    if len <= 0 || len as usize > ELECTION_FRAME_LEN_MAX {
        return Err(FrameError(len));
    }
    let end = 4 + len as usize;
    Ok(buf.get(4..end).map(|p| (p, end)))
}

/// A FastLeaderElection notification: the sender's vote and state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notification {
    /// `ServerState` ordinal; see [`super::ServerState::from_i32`]. Kept raw because a
    /// receiver answers a non-voter whatever state it claims.
    pub state: i32,
    /// The proposed leader's sid.
    pub leader: i64,
    /// The proposed leader's last zxid.
    pub zxid: i64,
    pub election_epoch: i64,
    /// The proposed leader's epoch.
    pub peer_epoch: i64,
    /// 0 for the legacy 28- and 40-byte forms.
    pub version: i32,
    /// The sender's QuorumVerifier text, sent with every version above 1.
    pub config: Option<Bytes>,
}

/// Why a notification was skipped (WorkerReceiver logs and drops it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("short notification of {0} bytes")]
    Short(usize),
    #[error("invalid config length {0}")]
    ConfigLength(i32),
    #[error("malformed notification: {0}")]
    Malformed(#[from] DecodeError),
}

impl Notification {
    /// The bytes `FastLeaderElection.buildMsg` makes: with `config`, the 6-argument form
    /// (3.8 sends `version` 2 and its config); without, the 5-argument form (40 bytes).
    pub fn encode<W: BufMut>(&self, w: &mut W) {
        w.write_i32(self.state);
        w.write_i64(self.leader);
        w.write_i64(self.zxid);
        w.write_i64(self.election_epoch);
        w.write_i64(self.peer_epoch);
        w.write_i32(self.version);
        if let Some(c) = &self.config {
            w.write_i32(c.len() as i32);
            w.put_slice(c);
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Decodes one frame's payload by `WorkerReceiver`'s rules. Bytes after the fields the
    /// version defines are ignored, as Java ignores them.
    pub fn decode(buf: &[u8]) -> Result<Self, NotificationError> {
        if buf.len() < 28 {
            return Err(NotificationError::Short(buf.len()));
        }
        let mut r = Reader::new(buf);
        let mut n = Notification {
            state: r.read_i32()?,
            leader: r.read_i64()?,
            zxid: r.read_i64()?,
            election_epoch: r.read_i64()?,
            ..Notification::default()
        };
        if buf.len() == 28 {
            n.peer_epoch = epoch_of(n.zxid);
            return Ok(n);
        }
        n.peer_epoch = r.read_i64()?;
        if buf.len() == 40 {
            return Ok(n);
        }
        n.version = r.read_i32()?;
        if n.version > 1 {
            let len = r.read_i32()?;
            if len < 0 || len as usize > r.remaining() {
                return Err(NotificationError::ConfigLength(len));
            }
            n.config = Some(Bytes::copy_from_slice(&r.rest()[..len as usize]));
        }
        Ok(n)
    }

    /// The config as text (Java decodes it as UTF-8 with replacement).
    pub fn config_text(&self) -> Option<String> {
        self.config.as_deref().map(java_utf8_lossy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_split_drops_trailing_empties_only() {
        assert_eq!(java_split("a|b", '|'), ["a", "b"]);
        assert_eq!(java_split("|a||", '|'), ["", "a"]);
        assert!(java_split("||", '|').is_empty());
        assert_eq!(java_split("", '|'), [""]);
    }

    #[test]
    fn host_and_port_brackets() {
        assert_eq!(host_and_port("[::1]:80"), Some(vec!["::1", "80"]));
        assert_eq!(host_and_port("[::1]"), Some(vec!["::1"]));
        assert_eq!(host_and_port("[::1]:"), None);
        assert_eq!(host_and_port("[::1"), None);
        assert_eq!(host_and_port("[::1]é80"), Some(vec!["::1", "80"]));
        assert_eq!(host_and_port("[::1]:é"), Some(vec!["::1", "é"]));
    }

    #[test]
    fn java_ints() {
        assert_eq!(java_parse_int("+80"), Some(80));
        assert_eq!(java_parse_int("-1"), Some(-1));
        assert_eq!(java_parse_int("+"), None);
        assert_eq!(java_parse_int("1+"), None);
        assert_eq!(java_parse_int("2147483648"), None);
    }

    #[test]
    fn host_strings_like_java() {
        assert_eq!(java_host_string("::1"), "0:0:0:0:0:0:0:1");
        assert_eq!(java_host_string("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(java_host_string("FE80::A"), "fe80:0:0:0:0:0:0:a");
        assert_eq!(java_host_string("zk1"), "zk1");
    }

    #[test]
    fn frames() {
        let mut b = Vec::new();
        encode_election_frame(b"abc", &mut b);
        assert_eq!(decode_election_frame(&b), Ok(Some((&b"abc"[..], 7))));
        assert_eq!(decode_election_frame(&b[..6]), Ok(None));
        assert_eq!(decode_election_frame(&[0, 0, 0]), Ok(None));
        assert_eq!(decode_election_frame(&[0, 0, 0, 0]), Err(FrameError(0)));
        assert_eq!(
            decode_election_frame(&[0, 8, 0, 1]),
            Err(FrameError(0x80001))
        );
        assert_eq!(decode_election_frame(&[0, 8, 0, 0]), Ok(None));
    }

    #[test]
    fn notification_lengths() {
        let n = Notification {
            state: 1,
            leader: 2,
            zxid: super::super::make_zxid(3, 4),
            election_epoch: 5,
            peer_epoch: 6,
            version: 1,
            config: None,
        };
        let b = n.to_vec();
        assert_eq!(b.len(), 40);
        let forty = Notification::decode(&b).unwrap();
        assert_eq!((forty.peer_epoch, forty.version), (6, 0));
        let short = Notification::decode(&b[..28]).unwrap();
        assert_eq!(short.peer_epoch, 3);
        for len in (0..28).chain(29..40) {
            assert!(Notification::decode(&b[..len]).is_err(), "{len}");
        }
        let mut v2 = Notification {
            version: 2,
            config: Some(Bytes::from_static(b"x")),
            ..n
        }
        .to_vec();
        assert_eq!(
            Notification::decode(&v2[..44]).unwrap_err(),
            NotificationError::ConfigLength(1)
        );
        v2.push(9);
        assert_eq!(
            Notification::decode(&v2).unwrap().config_text().unwrap(),
            "x"
        );
    }
}
