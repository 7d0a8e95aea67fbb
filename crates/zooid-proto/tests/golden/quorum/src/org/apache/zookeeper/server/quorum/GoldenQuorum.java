package org.apache.zookeeper.server.quorum;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.StringReader;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import org.apache.jute.BinaryOutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.proto.CreateRequest;
import org.apache.zookeeper.server.Request;
import org.apache.zookeeper.server.quorum.flexible.QuorumMaj;
import org.apache.zookeeper.server.util.SerializeUtils;
import org.apache.zookeeper.server.util.ZxidUtils;
import org.apache.zookeeper.txn.CreateTxn;
import org.apache.zookeeper.txn.SetDataTxn;
import org.apache.zookeeper.txn.TxnDigest;
import org.apache.zookeeper.txn.TxnHeader;

/**
 * Writes the bytes Apache ZooKeeper's own classes produce for its peer protocol, one hex
 * file per vector, so Zooid's Rust tests can compare against them without a JVM.
 *
 * Lives in ZooKeeper's package because FastLeaderElection.buildMsg, Learner.request,
 * Learner.writePacket and the packet type constants of Leader are package-private.
 */
public class GoldenQuorum {

    private static Path out;

    public static void main(String[] args) throws Exception {
        out = Paths.get(args[0]);
        Files.createDirectories(out);
        packets();
        requests();
        proposals();
        notifications();
        initialMessages();
        configs();
    }

    static void write(String name, byte[] bytes) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (byte b : bytes) {
            sb.append(String.format("%02x", b));
        }
        sb.append('\n');
        Files.write(out.resolve(name + ".hex"), sb.toString().getBytes(StandardCharsets.US_ASCII));
    }

    /** A packet as Learner.writePacket and LearnerHandler put it on the socket. */
    static byte[] packet(QuorumPacket qp) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        BinaryOutputArchive oa = BinaryOutputArchive.getArchive(bos);
        oa.writeRecord(qp, "packet");
        return bos.toByteArray();
    }

    static byte[] record(Record r, String tag) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        BinaryOutputArchive.getArchive(bos).writeRecord(r, tag);
        return bos.toByteArray();
    }

    static byte[] int4(int v) {
        byte[] b = new byte[4];
        ByteBuffer.wrap(b).putInt(v);
        return b;
    }

    static void packets() throws IOException {
        // Learner.registerWithLeader: FOLLOWERINFO/OBSERVERINFO carry a LearnerInfo.
        LearnerInfo li = new LearnerInfo(3, 0x10000, 0x100000002L);
        byte[] liBytes = record(li, "LearnerInfo");
        write("learner_info", liBytes);
        write("packet_followerinfo", packet(new QuorumPacket(Leader.FOLLOWERINFO, ZxidUtils.makeZxid(5, 0), liBytes, null)));
        write("packet_observerinfo", packet(new QuorumPacket(Leader.OBSERVERINFO, ZxidUtils.makeZxid(0, 0),
            record(new LearnerInfo(-7, 0x10000, 0), "LearnerInfo"), null)));
        // LearnerHandler: LEADERINFO carries the protocol version 0x10000.
        write("packet_leaderinfo", packet(new QuorumPacket(Leader.LEADERINFO, ZxidUtils.makeZxid(6, 0), int4(0x10000), null)));
        // Learner.registerWithLeader: ACKEPOCH carries currentEpoch, or -1 when the epoch was already accepted.
        write("packet_ackepoch", packet(new QuorumPacket(Leader.ACKEPOCH, ZxidUtils.makeZxid(5, 42), int4(5), null)));
        write("packet_ackepoch_repeat", packet(new QuorumPacket(Leader.ACKEPOCH, ZxidUtils.makeZxid(6, 1), int4(-1), null)));
        // Leader: COMMIT, UPTODATE, ACK and the leader's PING carry no data (null buffer, null vector).
        write("packet_commit", packet(new QuorumPacket(Leader.COMMIT, ZxidUtils.makeZxid(6, 7), null, null)));
        write("packet_uptodate", packet(new QuorumPacket(Leader.UPTODATE, -1, null, null)));
        write("packet_ack", packet(new QuorumPacket(Leader.ACK, ZxidUtils.makeZxid(6, 0), null, null)));
        write("packet_ping_leader", packet(new QuorumPacket(Leader.PING, ZxidUtils.makeZxid(6, 9), null, null)));
        // An empty (not null) buffer and vector, for contrast.
        write("packet_empty_data", packet(new QuorumPacket(Leader.SYNC, 0, new byte[0], new ArrayList<Id>())));
        // Learner.ping: the reply carries (sessionId long, timeout int) pairs.
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream dos = new DataOutputStream(bos);
        dos.writeLong(0x1000001abcdL);
        dos.writeInt(30000);
        dos.writeLong(-2L);
        dos.writeInt(4000);
        dos.close();
        write("packet_ping_learner", packet(new QuorumPacket(Leader.PING, ZxidUtils.makeZxid(6, 9), bos.toByteArray(), null)));
        // Learner.validateSession: REVALIDATE carries (sessionId long, timeout int).
        bos = new ByteArrayOutputStream();
        dos = new DataOutputStream(bos);
        dos.writeLong(0x1000001abcdL);
        dos.writeInt(30000);
        dos.close();
        write("packet_revalidate_request", packet(new QuorumPacket(Leader.REVALIDATE, -1, bos.toByteArray(), null)));
        // Leader.revalidateSession: the answer carries (sessionId long, valid boolean).
        bos = new ByteArrayOutputStream();
        dos = new DataOutputStream(bos);
        dos.writeLong(0x1000001abcdL);
        dos.writeBoolean(true);
        dos.close();
        write("packet_revalidate_reply", packet(new QuorumPacket(Leader.REVALIDATE, -1, bos.toByteArray(), null)));
        // Leader.commitAndActivate: the designated leader as a long.
        byte[] designated = new byte[8];
        ByteBuffer.wrap(designated).putLong(2);
        write("packet_commitandactivate", packet(new QuorumPacket(Leader.COMMITANDACTIVATE, ZxidUtils.makeZxid(6, 8), designated, null)));
    }

    /** Learner.request, with writePacket caught instead of sent. */
    static void requests() throws IOException {
        final QuorumPacket[] sent = new QuorumPacket[1];
        Learner learner = new Learner() {
            @Override
            void writePacket(QuorumPacket pp, boolean flush) {
                sent[0] = pp;
            }
        };
        CreateRequest create = new CreateRequest("/a", "hi".getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE, 0);
        byte[] body = record(create, "request");
        List<Id> auth = Arrays.asList(new Id("ip", "127.0.0.1"), new Id("digest", "bob:x1"));
        learner.request(new Request(null, 0x1000001abcdL, 17, ZooDefs.OpCode.create, ByteBuffer.wrap(body), auth));
        write("packet_request_create", packet(sent[0]));
        // A request with no body (closeSession) and an empty auth list.
        learner.request(new Request(null, 0x1000001abcdL, 18, ZooDefs.OpCode.closeSession, null, new ArrayList<Id>()));
        write("packet_request_close", packet(sent[0]));
    }

    /** Leader.propose: SerializeUtils.serializeRequest(TxnHeader, txn, digest). */
    static void proposals() throws IOException {
        long zxid = ZxidUtils.makeZxid(6, 3);
        Request r = new Request(null, 0x1000001abcdL, 19, ZooDefs.OpCode.setData, null, null);
        r.setHdr(new TxnHeader(0x1000001abcdL, 19, zxid, 1700000000123L, ZooDefs.OpCode.setData));
        r.setTxn(new SetDataTxn("/a", "there".getBytes(StandardCharsets.UTF_8), 4));
        r.setTxnDigest(new TxnDigest(2, 0x1234567890abcdefL));
        byte[] data = SerializeUtils.serializeRequest(r);
        write("txn_setdata_digest", data);
        write("packet_proposal", packet(new QuorumPacket(Leader.PROPOSAL, zxid, data, null)));
        write("packet_inform", packet(new QuorumPacket(Leader.INFORM, zxid, data, null)));
        write("packet_informandactivate", packet(Leader.buildInformAndActivePacket(zxid, 3, data)));

        Request c = new Request(null, 0x1000001abcdL, 20, ZooDefs.OpCode.create, null, null);
        c.setHdr(new TxnHeader(0x1000001abcdL, 20, zxid + 1, 1700000000124L, ZooDefs.OpCode.create));
        c.setTxn(new CreateTxn("/b", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, true, 2));
        write("txn_create_nodigest", SerializeUtils.serializeRequest(c));
    }

    static void notifications() throws IOException {
        QuorumMaj qv = quorumMaj("server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.2:2888:3888:participant\nversion=100000000\n");
        byte[] cfg = qv.toString().getBytes(StandardCharsets.UTF_8);
        write("notification_v2", FastLeaderElection.buildMsg(QuorumPeer.ServerState.LOOKING.ordinal(), 2, ZxidUtils.makeZxid(5, 17), 9, 5, cfg).array());
        write("notification_v2_following", FastLeaderElection.buildMsg(QuorumPeer.ServerState.FOLLOWING.ordinal(), 1, -1, 1, 0, new byte[0]).array());
        write("notification_v1", FastLeaderElection.buildMsg(QuorumPeer.ServerState.LEADING.ordinal(), 3, ZxidUtils.makeZxid(7, 1), 4, 7).array());
        write("server_states", new byte[] {
            (byte) QuorumPeer.ServerState.LOOKING.ordinal(), (byte) QuorumPeer.ServerState.FOLLOWING.ordinal(),
            (byte) QuorumPeer.ServerState.LEADING.ordinal(), (byte) QuorumPeer.ServerState.OBSERVING.ordinal()});
    }

    /** QuorumCnxManager.initiateConnection's first bytes, and InitialMessage.parse's verdicts. */
    static void initialMessages() throws IOException {
        write("initial_message_v1", initial(QuorumCnxManager.PROTOCOL_VERSION_V1, 1, "127.0.0.1:3888"));
        write("initial_message_v2", initial(QuorumCnxManager.PROTOCOL_VERSION_V2, 2, "10.0.0.2:3888|[0:0:0:0:0:0:0:1]:3889"));

        String[] bodies = {
            "127.0.0.1:3888", "127.0.0.1:3888|10.0.0.2:3889", "[::1]:3888", "0.0.0.0:3888",
            "0.0.0.0:3888|127.0.0.1:1", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:3888:", "a:1:2",
            "127.0.0.1:70000", "127.0.0.1:-1", "127.0.0.1:+80", "|127.0.0.1:1", "127.0.0.1:1|", "|",
            "||", "[::1]", "[::1", "[::1]:", "[::1]x3888", "[::1]:3888:", "[::1]:38:88", "::1:3888",
            ":3888", "localhost:3888", "[::]:3888", "127.0.0.1:99999999999", "127.0.0.1:", "127.0.0.1:0",
        };
        StringBuilder sb = new StringBuilder();
        sb.append("# protocol-version-hex body-hex => InitialMessage.parse verdict\n");
        for (String b : bodies) {
            verdict(sb, QuorumCnxManager.PROTOCOL_VERSION_V2, 7, b.getBytes(StandardCharsets.UTF_8), -1);
        }
        verdict(sb, QuorumCnxManager.PROTOCOL_VERSION_V1, 7, "127.0.0.1:3888".getBytes(StandardCharsets.UTF_8), -1);
        verdict(sb, -65534L, 7, "127.0.0.1:3888".getBytes(StandardCharsets.UTF_8), -1);
        verdict(sb, QuorumCnxManager.PROTOCOL_VERSION_V2, 7, new byte[0], -1);
        verdict(sb, QuorumCnxManager.PROTOCOL_VERSION_V2, 7, new byte[2049], -1);
        byte[] big = new byte[2048];
        Arrays.fill(big, (byte) '|');
        verdict(sb, QuorumCnxManager.PROTOCOL_VERSION_V2, 7, big, -1);
        // A length that promises more than follows.
        verdict(sb, QuorumCnxManager.PROTOCOL_VERSION_V2, 7, "127.0.0.1:3888".getBytes(StandardCharsets.UTF_8), 20);
        Files.write(out.resolve("initial_message_parse.txt"), sb.toString().getBytes(StandardCharsets.UTF_8));
    }

    static byte[] initial(long version, long sid, String addrs) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream dout = new DataOutputStream(bos);
        dout.writeLong(version);
        dout.writeLong(sid);
        byte[] addrBytes = addrs.getBytes();
        dout.writeInt(addrBytes.length);
        dout.write(addrBytes);
        dout.flush();
        return bos.toByteArray();
    }

    static void verdict(StringBuilder sb, long version, long sid, byte[] body, int lenOverride) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream dout = new DataOutputStream(bos);
        dout.writeLong(sid);
        dout.writeInt(lenOverride >= 0 ? lenOverride : body.length);
        dout.write(body);
        byte[] rest = bos.toByteArray();
        StringBuilder hex = new StringBuilder();
        for (byte b : rest) {
            hex.append(String.format("%02x", b));
        }
        sb.append(Long.toHexString(version)).append(' ').append(hex.length() == 0 ? "-" : hex).append(" => ");
        try {
            QuorumCnxManager.InitialMessage m = QuorumCnxManager.InitialMessage.parse(version, new DataInputStream(new ByteArrayInputStream(rest)));
            sb.append("ok sid=").append(m.sid).append(" addrs=");
            List<String> as = new ArrayList<>();
            for (InetSocketAddress a : m.electionAddr) {
                as.add("[" + a.getHostString() + "]:" + a.getPort());
            }
            sb.append(String.join(",", as));
        } catch (QuorumCnxManager.InitialMessage.InitialMessageException | IOException | RuntimeException e) {
            sb.append("err");
        }
        sb.append('\n');
    }

    static QuorumMaj quorumMaj(String text) throws IOException {
        Properties props = new Properties();
        props.load(new StringReader(text));
        try {
            return new QuorumMaj(props);
        } catch (org.apache.zookeeper.server.quorum.QuorumPeerConfig.ConfigException e) {
            throw new IOException(e);
        }
    }

    /** QuorumMaj.toString, the text NEWLEADER and notifications carry. */
    static void configs() throws IOException {
        String[][] cases = {
            {"config_three", "server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888\nserver.3=127.0.0.3:2888:3888\nversion=100000000\n"},
            {"config_observer_client", "server.1=127.0.0.1:2888:3888:participant;2181\nserver.2=127.0.0.2:2888:3888;127.0.0.2:2182\nserver.5=127.0.0.5:2888:3888:observer;0.0.0.0:2183\nversion=5a\n"},
            // HashMap order: sid 16 lands in bucket 0, 4294967297 hashes to 0 as well (after 16), 35 in bucket 3.
            {"config_hash_order", "server.35=127.0.0.35:2888:3888\nserver.2=127.0.0.2:2888:3888\nserver.16=127.0.0.16:2888:3888\nserver.1=127.0.0.1:2888:3888\nserver.4294967297=127.0.0.9:2888:3888\n"},
            {"config_ipv6_multi", "server.1=[::1]:2888:3888|127.0.0.1:2889:3889\nserver.2=127.0.0.2:2888:3888\nversion=0\n"},
            {"config_empty", "version=-1\n"},
        };
        for (String[] c : cases) {
            write(c[0], quorumMaj(c[1]).toString().getBytes(StandardCharsets.UTF_8));
        }
    }
}
