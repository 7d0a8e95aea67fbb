// Writes the snapshot stream a ZooKeeper 3.8 leader sends a learner after SNAP
// (LearnerHandler.syncFollower: ZKDatabase.serializeSnapshot, which is
// SerializeUtils.serializeSnapshot; the "BenWasHere" signature that follows is not
// part of it), for a small fixed DataTree, plus a sorted listing of what the tree and
// the session table hold, read from the objects rather than from the bytes.
//
// Usage: java -cp <zookeeper jars>:. SyncSnapshotGolden OUT.bin OUT.txt
import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.jute.BinaryOutputArchive;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.StatPersisted;
import org.apache.zookeeper.server.DataNode;
import org.apache.zookeeper.server.DataTree;
import org.apache.zookeeper.server.util.SerializeUtils;

public class SyncSnapshotGolden {
    static final long SESSION_A = 0x100001b4bc20000L;
    static final long SESSION_B = 0x100001b4bc20001L;
    static final long SESSION_C = 0x200007f00000005L;
    static final long T0 = 1700000000000L;

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        DataTree dt = new DataTree();
        List<ACL> open = ZooDefs.Ids.OPEN_ACL_UNSAFE;
        List<ACL> digest = Arrays.asList(
            new ACL(ZooDefs.Perms.ALL, new Id("digest", "user:smGaoVKd/cQkjm7b88GyorAUz20=")),
            new ACL(ZooDefs.Perms.READ, new Id("world", "anyone")));
        List<ACL> ip = Collections.singletonList(
            new ACL(ZooDefs.Perms.READ | ZooDefs.Perms.WRITE, new Id("ip", "10.0.0.0/8")));
        long zxid = 0x100000000L;
        dt.createNode("/app", b("hello"), open, 0, -1, ++zxid, T0 + 1);
        dt.createNode("/app/child1", b("c1"), digest, 0, -1, ++zxid, T0 + 2);
        dt.createNode("/app/child2", new byte[0], ip, 0, -1, ++zxid, T0 + 3);
        dt.createNode("/app/gone", null, open, 0, -1, ++zxid, T0 + 4);
        dt.deleteNode("/app/gone", ++zxid);
        dt.setData("/app", b("world"), 1, ++zxid, T0 + 6);
        dt.setACL("/app/child2", digest, 1);
        dt.createNode("/app/eph", b("ephemeral"), open, SESSION_A, -1, ++zxid, T0 + 7);
        dt.createNode("/app/seq-0000000000", b("s0"), open, 0, -1, ++zxid, T0 + 8);
        dt.createNode("/app/seq-0000000001", b("s1"), open, SESSION_B, -1, ++zxid, T0 + 9);
        dt.createNode("/locks", null, ip, 0, -1, ++zxid, T0 + 10);
        dt.createNode("/locks/lock-0000000007", new byte[] {0, 1, 2, (byte) 0xff}, digest,
            SESSION_B, 6, ++zxid, T0 + 11);
        // A container (EphemeralType.CONTAINER_EPHEMERAL_OWNER) and a TTL node
        // (EphemeralType.TTL: 0xff in the top byte, the TTL in ms below).
        dt.createNode("/container", b("c"), open, Long.MIN_VALUE, -1, ++zxid, T0 + 12);
        dt.createNode("/ttl", b("t"), open, 0xff00000000000000L | 60000L, -1, ++zxid, T0 + 13);
        dt.createNode("/\u00e9t\u00e9", b("utf-8 name"), open, 0, -1, ++zxid, T0 + 14);

        Map<Long, Integer> sessions = new HashMap<>();
        sessions.put(SESSION_A, 30000);
        sessions.put(SESSION_B, 4000);
        sessions.put(SESSION_C, 40000);

        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        BinaryOutputArchive oa = BinaryOutputArchive.getArchive(bytes);
        SerializeUtils.serializeSnapshot(dt, oa, sessions);
        try (FileOutputStream f = new FileOutputStream(args[0])) {
            f.write(bytes.toByteArray());
        }

        try (PrintWriter out = new PrintWriter(args[1], "UTF-8")) {
            for (Map.Entry<Long, Integer> e : new TreeMap<>(sessions).entrySet()) {
                out.printf("session 0x%x timeout %d%n", e.getKey(), e.getValue());
            }
            List<String> paths = new ArrayList<>();
            collect(dt, "", paths);
            Collections.sort(paths);
            for (String path : paths) {
                DataNode n = dt.getNode(path);
                StatPersisted s = n.stat;
                StringBuilder acl = new StringBuilder();
                for (ACL a : dt.getACL(n)) {
                    if (acl.length() > 0) {
                        acl.append(',');
                    }
                    acl.append(a.getPerms()).append(' ').append(a.getId().getScheme())
                        .append(':').append(a.getId().getId());
                }
                out.printf("node %s%n", path.isEmpty() ? "\"\"" : path);
                out.printf("  data %s%n", hex(n.getData()));
                out.printf("  acl [%s]%n", acl);
                out.printf("  czxid 0x%x mzxid 0x%x pzxid 0x%x ctime %d mtime %d%n",
                    s.getCzxid(), s.getMzxid(), s.getPzxid(), s.getCtime(), s.getMtime());
                out.printf("  version %d cversion %d aversion %d ephemeralOwner 0x%x%n",
                    s.getVersion(), s.getCversion(), s.getAversion(), s.getEphemeralOwner());
            }
        }
    }

    static void collect(DataTree dt, String path, List<String> out) {
        out.add(path);
        DataNode n = dt.getNode(path.isEmpty() ? "/" : path);
        for (String c : n.getChildren()) {
            collect(dt, path + "/" + c, out);
        }
    }

    static String hex(byte[] data) {
        if (data == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder();
        for (byte x : data) {
            sb.append(String.format("%02x", x));
        }
        return sb.length() == 0 ? "empty" : sb.toString();
    }
}
