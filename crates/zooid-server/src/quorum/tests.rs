//! The transport on loopback: votes between two and three servers, learner ↔ leader
//! packets (SNAP with its stream), disconnects, garbage, and bytes compared with
//! ZooKeeper 3.8's golden vectors (`zooid-proto/tests/golden/quorum`).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Receiver;
use zooid_proto::jute::{JuteWrite, Record};
use zooid_proto::quorum::election::{
    decode_election_frame, decode_handshake, ElectionAddr, Handshake, InitialMessage,
    Notification as WireVote, PROTOCOL_VERSION_V1,
};
use zooid_proto::quorum::packet::{kind, LearnerInfo, PROTOCOL_VERSION};
use zooid_proto::quorum::{make_zxid, QuorumPacket};
use zooid_zab::{Entry, Message, Notification, Packet, ServerState};

use super::*;

/// How long any single expected event may take on loopback.
const WAIT: Duration = Duration::from_secs(10);

fn config(my_id: i64, config_text: &str) -> TransportConfig {
    let mut peers = BTreeMap::new();
    peers.insert(my_id, PeerAddrs::new("127.0.0.1", 0, 0));
    let mut c = TransportConfig::new(my_id, peers, config_text.to_owned());
    c.reconnect_backoff_min = Duration::from_millis(20);
    c.reconnect_backoff_max = Duration::from_millis(200);
    c
}

fn addrs_of(t: &Transport) -> PeerAddrs {
    PeerAddrs::new(
        "127.0.0.1",
        t.local_quorum_addr().port(),
        t.local_election_addr().port(),
    )
}

/// Transports for `ids`, each knowing the others' real ports.
async fn cluster(ids: &[i64]) -> Vec<(Transport, Receiver<Inbound>)> {
    let mut out = Vec::new();
    for &id in ids {
        out.push(
            Transport::start(config(id, "version=100000000"))
                .await
                .unwrap(),
        );
    }
    for (i, &a) in ids.iter().enumerate() {
        for (j, &b) in ids.iter().enumerate() {
            if a != b {
                let addrs = addrs_of(&out[j].0);
                out[i].0.set_peer(b, addrs);
            }
        }
    }
    out
}

async fn next(rx: &mut Receiver<Inbound>) -> Inbound {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(m)) => m,
        Ok(None) => panic!("inbox closed"),
        Err(_) => panic!("nothing arrived in {WAIT:?}"),
    }
}

fn vote(leader: i64, election_epoch: i64) -> Notification {
    Notification {
        state: ServerState::Looking,
        leader,
        zxid: make_zxid(1, 7),
        election_epoch,
        peer_epoch: 1,
    }
}

fn msg(from: i64, p: Packet) -> Inbound {
    Inbound::Msg {
        from,
        msg: Message::Quorum(p),
    }
}

fn learner_info() -> Packet {
    Packet::LearnerInfo {
        accepted_epoch: 5,
        observer: false,
    }
}

#[tokio::test]
async fn votes_both_ways_between_two() {
    let mut c = cluster(&[1, 2]).await;
    // The lower sid speaks first: it dials, hangs up, and the higher one dials back.
    c[0].0.send(2, Message::Vote(vote(1, 1)));
    let want = Inbound::Msg {
        from: 1,
        msg: Message::Vote(vote(1, 1)),
    };
    assert_eq!(next(&mut c[1].1).await, want);
    c[1].0.send(1, Message::Vote(vote(2, 2)));
    let want = Inbound::Msg {
        from: 2,
        msg: Message::Vote(vote(2, 2)),
    };
    assert_eq!(next(&mut c[0].1).await, want);
    // Per-peer FIFO on the same connection.
    for e in 3..8 {
        c[1].0.send(1, Message::Vote(vote(2, e)));
        let got = next(&mut c[0].1).await;
        let Inbound::Msg {
            from: 2,
            msg: Message::Vote(v),
        } = got
        else {
            panic!("{got:?}")
        };
        assert_eq!(v.election_epoch, e);
    }
}

/// A port nothing listens on now (bound, then let go).
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_multi_address_peer_is_reached_at_its_next_address() {
    // Server 2's entry has a second address (multiAddress.enabled): it listens there
    // too. Server 1 knows it by a first address where nothing listens, then that one.
    let (spare_quorum, spare_election) = (closed_port().await, closed_port().await);
    let mut c2 = config(2, "version=100000000");
    let spare = ("127.0.0.1".to_owned(), spare_quorum, spare_election);
    c2.peers.get_mut(&2).unwrap().more = vec![spare.clone()];
    let (t2, mut rx2) = Transport::start(c2).await.unwrap();
    let (t1, _rx1) = Transport::start(config(1, "version=100000000"))
        .await
        .unwrap();
    let dead = closed_port().await;
    let mut known = PeerAddrs::new("127.0.0.1", dead, dead);
    known.more = vec![spare];
    t1.set_peer(2, known);
    t2.set_peer(1, addrs_of(&t1));
    // The lower sid's handshake must reach server 2 for it to dial back and the vote
    // to come through.
    t1.send(2, Message::Vote(vote(1, 1)));
    let want = Inbound::Msg {
        from: 1,
        msg: Message::Vote(vote(1, 1)),
    };
    assert_eq!(next(&mut rx2).await, want);
}

#[tokio::test]
async fn votes_among_three_higher_sid_first() {
    let mut c = cluster(&[1, 2, 3]).await;
    for from in [3, 2, 1] {
        for to in [1, 2, 3] {
            if from != to {
                c[(from - 1) as usize]
                    .0
                    .send(to, Message::Vote(vote(from, 10 * from + to)));
            }
        }
    }
    for to in [1i64, 2, 3] {
        let mut got = Vec::new();
        for _ in 0..2 {
            match next(&mut c[(to - 1) as usize].1).await {
                Inbound::Msg {
                    from,
                    msg: Message::Vote(v),
                } => got.push((from, v.leader, v.election_epoch)),
                other => panic!("{other:?}"),
            }
        }
        got.sort();
        let want: Vec<_> = [1i64, 2, 3]
            .into_iter()
            .filter(|f| *f != to)
            .map(|f| (f, f, 10 * f + to))
            .collect();
        assert_eq!(got, want, "at {to}");
    }
}

#[tokio::test]
async fn a_vote_to_oneself_is_delivered_locally() {
    let mut c = cluster(&[1]).await;
    c[0].0.send(1, Message::Vote(vote(1, 4)));
    assert_eq!(
        next(&mut c[0].1).await,
        Inbound::Msg {
            from: 1,
            msg: Message::Vote(vote(1, 4))
        }
    );
}

/// A snapshot stream as `SerializeUtils.serializeSnapshot` writes one: two sessions, one
/// ACL list, the root, /zookeeper, /zookeeper/quota and a data node, then "/".
pub(super) fn snapshot_stream() -> Vec<u8> {
    let mut v = Vec::new();
    JuteWrite::write_i32(&mut v, 2);
    for (id, timeout) in [(0x1000_0000_0001i64, 30_000), (0x1000_0000_0002, 4_000)] {
        JuteWrite::write_i64(&mut v, id);
        JuteWrite::write_i32(&mut v, timeout);
    }
    JuteWrite::write_i32(&mut v, 1); // ACL lists
    JuteWrite::write_i64(&mut v, 1);
    JuteWrite::write_i32(&mut v, 1);
    JuteWrite::write_i32(&mut v, 31);
    JuteWrite::write_string(&mut v, "world");
    JuteWrite::write_string(&mut v, "anyone");
    let node = |v: &mut Vec<u8>, path: &str, data: &[u8], acl: i64, zxid: i64| {
        JuteWrite::write_string(v, path);
        JuteWrite::write_buffer(v, data);
        JuteWrite::write_i64(v, acl);
        for x in [zxid, zxid, 1_700_000_000_000, 1_700_000_000_000] {
            JuteWrite::write_i64(v, x);
        }
        for x in [0, 0, 0] {
            JuteWrite::write_i32(v, x);
        }
        JuteWrite::write_i64(v, 0);
        JuteWrite::write_i64(v, zxid);
    };
    node(&mut v, "", b"", -1, 0);
    node(&mut v, "/zookeeper", b"", -1, 0);
    node(&mut v, "/zookeeper/quota", b"", -1, 0);
    node(&mut v, "/app", b"hello", 1, make_zxid(1, 3));
    JuteWrite::write_string(&mut v, "/");
    v
}

#[tokio::test]
async fn learner_and_leader_packets_both_ways() {
    let mut c = cluster(&[1, 2]).await;
    let (learner, leader) = (1usize, 0usize);
    // Server 2 learns from server 1.
    c[learner].0.send(1, Message::Quorum(learner_info()));
    assert_eq!(next(&mut c[leader].1).await, msg(2, learner_info()));
    let entry = |n| Entry {
        zxid: make_zxid(6, n),
        data: Bytes::from(vec![n as u8; 40]),
    };
    let snap = Bytes::from(snapshot_stream());
    let down = [
        Packet::LeaderInfo { epoch: 6 },
        Packet::Diff { zxid: 77 },
        Packet::Trunc { zxid: 76 },
        Packet::Snap {
            zxid: make_zxid(6, 0),
            data: snap.clone(),
        },
        Packet::Proposal(entry(1)),
        Packet::Commit {
            zxid: make_zxid(6, 1),
        },
        Packet::Inform(entry(2)),
        Packet::NewLeader {
            zxid: make_zxid(6, 0),
        },
        Packet::UpToDate,
        Packet::Ping { data: Bytes::new() },
        // A second snapshot right behind the first packets: its end is found again.
        Packet::Snap {
            zxid: make_zxid(6, 2),
            data: snap,
        },
        Packet::Proposal(entry(3)),
    ];
    for p in &down {
        c[leader].0.send(2, Message::Quorum(p.clone()));
    }
    for p in &down {
        assert_eq!(next(&mut c[learner].1).await, msg(1, p.clone()));
    }
    let up = [
        Packet::AckEpoch {
            current_epoch: -1,
            last_zxid: make_zxid(5, 9),
        },
        Packet::AckEpoch {
            current_epoch: 5,
            last_zxid: make_zxid(5, 9),
        },
        Packet::Ack {
            zxid: make_zxid(6, 1),
        },
        Packet::Ping {
            data: Bytes::from_static(&[0; 12]),
        },
        Packet::Ping { data: Bytes::new() },
    ];
    for p in &up {
        c[learner].0.send(1, Message::Quorum(p.clone()));
    }
    for p in &up {
        assert_eq!(next(&mut c[leader].1).await, msg(2, p.clone()));
    }
    // Host packets go both ways on the same connection, in order with zab's.
    let req = QuorumPacket::with_data(kind::REQUEST, 0, vec![1, 2, 3]);
    c[learner].0.send_host(1, req.clone());
    assert_eq!(
        next(&mut c[leader].1).await,
        Inbound::Host {
            from: 2,
            packet: req
        }
    );
    let sync = QuorumPacket::new(kind::SYNC, 9);
    c[leader].0.send_host(2, sync.clone());
    assert_eq!(
        next(&mut c[learner].1).await,
        Inbound::Host {
            from: 1,
            packet: sync
        }
    );
}

#[tokio::test]
async fn packets_without_a_connection_are_dropped_and_only_learner_info_dials() {
    let mut c = cluster(&[1, 2]).await;
    // The leader has no connection from 1: dropped, and nothing is dialed.
    c[1].0
        .send(1, Message::Quorum(Packet::LeaderInfo { epoch: 3 }));
    c[1].0.send_host(1, QuorumPacket::new(kind::SYNC, 1));
    // Nor does a learner packet other than LearnerInfo dial.
    c[0].0.send(2, Message::Quorum(Packet::Ack { zxid: 1 }));
    c[0].0.send(2, Message::Quorum(learner_info()));
    assert_eq!(next(&mut c[1].1).await, msg(1, learner_info()));
    c[1].0
        .send(1, Message::Quorum(Packet::LeaderInfo { epoch: 4 }));
    assert_eq!(
        next(&mut c[0].1).await,
        msg(2, Packet::LeaderInfo { epoch: 4 })
    );
}

/// After `disconnect`, the closing side gets one Down and nothing more of that
/// connection, even with packets in flight; a new connection then works.
#[tokio::test]
async fn disconnect_delivers_one_down_and_no_stale_packets() {
    let mut c = cluster(&[1, 2]).await;
    for round in 0..3u32 {
        c[0].0.send(2, Message::Quorum(learner_info()));
        assert_eq!(next(&mut c[1].1).await, msg(1, learner_info()), "{round}");
        for n in 0..500 {
            c[0].0.send(2, Message::Quorum(Packet::Ack { zxid: n }));
        }
        // Some acks arrive, then the leader closes mid-stream.
        assert_eq!(next(&mut c[1].1).await, msg(1, Packet::Ack { zxid: 0 }));
        c[1].0.disconnect(1);
        // Whatever was put in the inbox before the disconnect comes first.
        loop {
            match next(&mut c[1].1).await {
                Inbound::Msg {
                    msg: Message::Quorum(Packet::Ack { .. }),
                    ..
                } => {}
                Inbound::Down { peer: 1 } => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(next(&mut c[0].1).await, Inbound::Down { peer: 2 });
        // A late send on the old connection goes nowhere (no connection: not LearnerInfo).
        c[0].0.send(2, Message::Quorum(Packet::Ack { zxid: 999 }));
        // The next connection: its first packet follows the one Down, nothing stale.
        c[0].0.send(2, Message::Quorum(learner_info()));
        assert_eq!(next(&mut c[1].1).await, msg(1, learner_info()));
        c[1].0.send(1, Message::Quorum(Packet::UpToDate));
        assert_eq!(next(&mut c[0].1).await, msg(2, Packet::UpToDate));
        // The learner closes this time.
        c[0].0.disconnect(2);
        assert_eq!(next(&mut c[0].1).await, Inbound::Down { peer: 2 });
        assert_eq!(next(&mut c[1].1).await, Inbound::Down { peer: 1 });
        // A second disconnect without a connection owes nothing.
        c[0].0.disconnect(2);
        c[1].0.disconnect(1);
    }
    // Nothing left over: the next event of each side is the next connection's.
    c[0].0.send(2, Message::Quorum(learner_info()));
    assert_eq!(next(&mut c[1].1).await, msg(1, learner_info()));
    c[1].0.send(1, Message::Quorum(Packet::UpToDate));
    assert_eq!(next(&mut c[0].1).await, msg(2, Packet::UpToDate));
}

#[tokio::test]
async fn a_learner_dialing_nobody_gets_down() {
    let mut c = cluster(&[1]).await;
    // A port nobody listens on: bind one, learn it, close it.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    c[0].0
        .set_peer(2, PeerAddrs::new("127.0.0.1", port, port + 1));
    c[0].0.send(2, Message::Quorum(learner_info()));
    assert_eq!(next(&mut c[0].1).await, Inbound::Down { peer: 2 });
}

fn followerinfo_bytes(sid: i64) -> Vec<u8> {
    let li = LearnerInfo {
        serverid: sid,
        protocol_version: PROTOCOL_VERSION,
        config_version: 0,
    };
    QuorumPacket::with_data(kind::FOLLOWERINFO, make_zxid(5, 0), li.to_vec()).to_vec()
}

#[tokio::test]
async fn a_new_connection_from_a_learner_replaces_the_old_one() {
    let mut c = cluster(&[2]).await;
    c[0].0.set_peer(1, PeerAddrs::new("127.0.0.1", 1, 2));
    let addr = c[0].0.local_quorum_addr();
    let mut old = TcpStream::connect(addr).await.unwrap();
    old.write_all(&followerinfo_bytes(1)).await.unwrap();
    assert_eq!(next(&mut c[0].1).await, msg(1, learner_info()));
    let mut new = TcpStream::connect(addr).await.unwrap();
    new.write_all(&followerinfo_bytes(1)).await.unwrap();
    assert_eq!(next(&mut c[0].1).await, Inbound::Down { peer: 1 });
    assert_eq!(next(&mut c[0].1).await, msg(1, learner_info()));
    // The old socket is closed by the leader; what it sends is not delivered.
    let _ = old
        .write_all(&QuorumPacket::new(kind::ACK, 5).to_vec())
        .await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(WAIT, old.read_to_end(&mut sink)).await;
    new.write_all(&QuorumPacket::new(kind::ACK, 6).to_vec())
        .await
        .unwrap();
    assert_eq!(next(&mut c[0].1).await, msg(1, Packet::Ack { zxid: 6 }));
}

/// Garbage on both ports closes those connections and leaves the transport working.
#[tokio::test]
async fn garbage_on_the_ports_is_refused() {
    let mut c = cluster(&[1, 2]).await;
    let (e, q) = (c[1].0.local_election_addr(), c[1].0.local_quorum_addr());
    let mut handshake_then_bad_frame = InitialMessage {
        protocol_version: PROTOCOL_VERSION_V1,
        sid: 3,
        addrs: vec![ElectionAddr::new("127.0.0.1", 1)],
    }
    .to_vec();
    handshake_then_bad_frame.extend_from_slice(&i32::MAX.to_be_bytes());
    c[1].0.set_peer(3, PeerAddrs::new("127.0.0.1", 1, 2));
    let mut bad_ackepoch = followerinfo_bytes(3);
    bad_ackepoch.extend(QuorumPacket::with_data(kind::ACKEPOCH, 0, vec![1]).to_vec());
    let mut huge_packet = QuorumPacket::new(kind::REQUEST, 0).to_vec();
    huge_packet[12..16].copy_from_slice(&0x7fff_0000i32.to_be_bytes());
    let cases: Vec<(std::net::SocketAddr, Vec<u8>)> = vec![
        (e, vec![0xff; 64]),            // unknown protocol version
        (e, vec![0xff, 0xff, 0, 0, 0]), // short, then EOF
        (e, handshake_then_bad_frame),
        (e, 7i64.to_be_bytes().to_vec()), // a legacy handshake from an unknown sid
        (q, vec![0; 3]),
        (q, huge_packet),
        (q, QuorumPacket::new(kind::ACK, 1).to_vec()), // not a learner's first packet
        (q, followerinfo_bytes(9)),                    // unknown sid
        (q, bad_ackepoch),
    ];
    for (addr, bytes) in cases {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let _ = s.shutdown().await;
        // The server closes: reading ends (EOF or reset) rather than hanging.
        let mut sink = Vec::new();
        let read = tokio::time::timeout(WAIT, s.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "{addr}: still open");
    }
    // Server 3's LearnerInfo was delivered before its bad ACKEPOCH ended it.
    assert_eq!(next(&mut c[1].1).await, msg(3, learner_info()));
    assert_eq!(next(&mut c[1].1).await, Inbound::Down { peer: 3 });
    // Still working.
    c[0].0.send(2, Message::Vote(vote(1, 1)));
    assert_eq!(
        next(&mut c[1].1).await,
        Inbound::Msg {
            from: 1,
            msg: Message::Vote(vote(1, 1))
        }
    );
}

// ---------------------------------------------------------------------------------------
// Against ZooKeeper 3.8's bytes

/// A golden vector of zooid-proto (`tests/golden/quorum/vectors/<name>.hex`): bytes
/// Apache ZooKeeper 3.8 wrote.
pub(crate) fn golden(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../zooid-proto/tests/golden/quorum/vectors/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Our FOLLOWERINFO is Java's byte for byte (`packet_followerinfo`: sid 3, accepted
/// epoch 5, config version 0x100000002).
#[tokio::test]
async fn first_followerinfo_matches_zookeeper() {
    let leader = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = leader.local_addr().unwrap().port();
    let (t, _rx) = Transport::start(config(3, "version=100000002"))
        .await
        .unwrap();
    t.set_peer(1, PeerAddrs::new("127.0.0.1", port, port));
    t.send(1, Message::Quorum(learner_info()));
    let (mut s, _) = leader.accept().await.unwrap();
    let want = golden("packet_followerinfo");
    let mut got = vec![0; want.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(got, want);
}

/// The lower sid's handshake is Java's `InitialMessage` (`initial_message_v1` has sid 1
/// and 127.0.0.1:3888; ours names our own port), and it hangs up after it.
#[tokio::test]
async fn handshake_matches_zookeeper() {
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = peer.local_addr().unwrap().port();
    let (t, _rx) = Transport::start(config(1, "")).await.unwrap();
    t.set_peer(2, PeerAddrs::new("127.0.0.1", port + 1, port));
    t.send(2, Message::Vote(vote(1, 1)));
    let (mut s, _) = peer.accept().await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let want = golden("initial_message_v1");
    assert_eq!(got[..16], want[..16], "version and sid");
    let ours = InitialMessage {
        protocol_version: PROTOCOL_VERSION_V1,
        sid: 1,
        addrs: vec![ElectionAddr::new(
            "127.0.0.1",
            t.local_election_addr().port(),
        )],
    };
    assert_eq!(got, ours.to_vec());
    let mut java = want.clone();
    let addr = format!("127.0.0.1:{}", t.local_election_addr().port());
    java.truncate(16);
    java.extend_from_slice(&(addr.len() as i32).to_be_bytes());
    java.extend_from_slice(addr.as_bytes());
    assert_eq!(got, java, "the golden layout with our port");
}

/// The higher sid keeps the connection, answers a lower sid's dial by dialing back with
/// its handshake, and sends votes as Java's `buildMsg` lays them out.
#[tokio::test]
async fn votes_match_zookeeper_and_the_higher_sid_dials_back() {
    let want = golden("notification_v2");
    let wire = WireVote::decode(&want).unwrap();
    let text = wire.config_text().unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = peer.local_addr().unwrap().port();
    let (t, _rx) = Transport::start(config(2, &text)).await.unwrap();
    t.set_peer(1, PeerAddrs::new("127.0.0.1", port + 1, port));
    // Server 1 dials 2 and is hung up on.
    let mut s = TcpStream::connect(t.local_election_addr()).await.unwrap();
    s.write_all(
        &InitialMessage {
            protocol_version: PROTOCOL_VERSION_V1,
            sid: 1,
            addrs: vec![ElectionAddr::new("127.0.0.1", port)],
        }
        .to_vec(),
    )
    .await
    .unwrap();
    let mut sink = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut sink))
        .await
        .unwrap()
        .unwrap();
    // ... and 2 dials back.
    let (mut back, _) = tokio::time::timeout(WAIT, peer.accept())
        .await
        .unwrap()
        .unwrap();
    let n = Notification {
        state: ServerState::Looking,
        leader: wire.leader,
        zxid: wire.zxid,
        election_epoch: wire.election_epoch,
        peer_epoch: wire.peer_epoch,
    };
    t.send(1, Message::Vote(n));
    let mut buf = Vec::new();
    let (hs, frame) = loop {
        let mut chunk = [0u8; 4096];
        let k = tokio::time::timeout(WAIT, back.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(k > 0, "closed early");
        buf.extend_from_slice(&chunk[..k]);
        if let Ok((hs, used)) = decode_handshake(&buf) {
            if let Ok(Some((frame, _))) = decode_election_frame(&buf[used..]) {
                break (hs, frame.to_vec());
            }
        }
    };
    let Handshake::Initial(m) = hs else {
        panic!("{hs:?}")
    };
    assert_eq!(m.sid, 2);
    assert_eq!(frame, want);
}

// ---------------------------------------------------------------------------------------
// The snapshot stream's structure

#[test]
fn snapshot_scan_finds_the_end_however_the_bytes_arrive() {
    let data = snapshot_stream();
    let mut stream = data.clone();
    JuteWrite::write_string(&mut stream, SIGNATURE);
    let total = stream.len();
    stream.extend_from_slice(&QuorumPacket::new(kind::NEWLEADER, 1).to_vec());
    let done = Scan::Done {
        data_len: data.len(),
        total_len: total,
    };
    assert_eq!(SnapScanner::new(1000, 1 << 20).advance(&stream), Ok(done));
    // Byte by byte, the same answer, and "more" until then.
    let mut s = SnapScanner::new(1000, 1 << 20);
    for end in 0..total {
        assert_eq!(s.advance(&stream[..end]), Ok(Scan::NeedMore), "at {end}");
    }
    assert_eq!(s.advance(&stream[..total]), Ok(done));
}

#[test]
fn snapshot_scan_refuses_bad_streams() {
    let scan = |b: &[u8]| SnapScanner::new(1000, 1 << 20).advance(b);
    let mut wrong = snapshot_stream();
    JuteWrite::write_string(&mut wrong, "BenWasThere");
    assert_eq!(
        scan(&wrong),
        Err(SnapError::Signature("BenWasThere".into()))
    );
    // Negative counts are empty (Java's `while (count > 0)`), and "/" ends the nodes.
    let mut empty = Vec::new();
    JuteWrite::write_i32(&mut empty, -3);
    JuteWrite::write_i32(&mut empty, -1);
    JuteWrite::write_string(&mut empty, "/");
    let n = empty.len();
    JuteWrite::write_string(&mut empty, SIGNATURE);
    assert_eq!(
        scan(&empty),
        Ok(Scan::Done {
            data_len: n,
            total_len: empty.len()
        })
    );
    // A null ACL vector, a null path, an unreasonable string length.
    let mut null_acls = Vec::new();
    JuteWrite::write_i32(&mut null_acls, 0);
    JuteWrite::write_i32(&mut null_acls, 1);
    JuteWrite::write_i64(&mut null_acls, 1);
    JuteWrite::write_i32(&mut null_acls, -1);
    assert!(matches!(scan(&null_acls), Err(SnapError::Null { .. })));
    let mut null_path = Vec::new();
    JuteWrite::write_i32(&mut null_path, 0);
    JuteWrite::write_i32(&mut null_path, 0);
    JuteWrite::write_i32(&mut null_path, -1);
    assert!(matches!(scan(&null_path), Err(SnapError::Null { .. })));
    let mut long = Vec::new();
    JuteWrite::write_i32(&mut long, 0);
    JuteWrite::write_i32(&mut long, 0);
    JuteWrite::write_i32(&mut long, 1001);
    assert!(matches!(scan(&long), Err(SnapError::Length { .. })));
    // Past the stream limit while still going.
    let mut sessions = Vec::new();
    JuteWrite::write_i32(&mut sessions, 1_000_000);
    sessions.extend_from_slice(&[0; 1200]);
    assert_eq!(
        SnapScanner::new(1000, 1024).advance(&sessions),
        Err(SnapError::TooLarge { max: 1024 })
    );
}

/// A SNAP whose stream ends in the wrong signature closes the learner's connection
/// without delivering the snapshot.
#[tokio::test]
async fn a_learner_refuses_a_snapshot_without_the_signature() {
    let leader = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = leader.local_addr().unwrap().port();
    let (t, mut rx) = Transport::start(config(3, "")).await.unwrap();
    t.set_peer(1, PeerAddrs::new("127.0.0.1", port, port));
    t.send(1, Message::Quorum(learner_info()));
    let (mut s, _) = leader.accept().await.unwrap();
    let mut bytes = QuorumPacket::new(kind::DIFF, 4).to_vec();
    bytes.extend(QuorumPacket::new(kind::SNAP, 5).to_vec());
    bytes.extend(snapshot_stream());
    JuteWrite::write_string(&mut bytes, "BenWasNotHere");
    s.write_all(&bytes).await.unwrap();
    assert_eq!(next(&mut rx).await, msg(1, Packet::Diff { zxid: 4 }));
    assert_eq!(next(&mut rx).await, Inbound::Down { peer: 1 });
}

/// With `down_on_disconnect` off, our own disconnect is silent here while the peer still
/// hears of it, and nothing of the old connection arrives.
#[tokio::test]
async fn disconnect_without_down_is_silent_locally() {
    let mut c = cluster(&[1, 2]).await;
    let mut cfg = config(3, "version=100000000");
    cfg.down_on_disconnect = false;
    let (t3, mut rx3) = Transport::start(cfg).await.unwrap();
    t3.set_peer(2, addrs_of(&c[1].0));
    c[1].0.set_peer(3, addrs_of(&t3));
    t3.send(2, Message::Quorum(learner_info()));
    assert_eq!(next(&mut c[1].1).await, msg(3, learner_info()));
    c[1].0
        .send(3, Message::Quorum(Packet::LeaderInfo { epoch: 6 }));
    assert_eq!(
        next(&mut rx3).await,
        msg(2, Packet::LeaderInfo { epoch: 6 })
    );
    for n in 0..100 {
        c[1].0.send(3, Message::Quorum(Packet::Ack { zxid: n }));
    }
    t3.disconnect(2);
    assert_eq!(next(&mut c[1].1).await, Inbound::Down { peer: 3 });
    t3.send(2, Message::Quorum(learner_info()));
    assert_eq!(next(&mut c[1].1).await, msg(3, learner_info()));
    c[1].0.send(3, Message::Quorum(Packet::UpToDate));
    // Acks already in the inbox may come first; then the new connection's packet.
    loop {
        match next(&mut rx3).await {
            Inbound::Msg {
                msg: Message::Quorum(Packet::Ack { .. }),
                ..
            } => {}
            other => {
                assert_eq!(other, msg(2, Packet::UpToDate));
                break;
            }
        }
    }
}
