#!/usr/bin/env bash
# Regenerates the golden files under testdata/ with Apache ZooKeeper 3.8 (Debian's
# `zookeeper` package) and kazoo. Run by hand, not by `cargo test`; the tests read the
# committed output. Needs java, /usr/share/java/zookeeper.jar and python3 with kazoo.
#
#   zk38/          a standalone server's dataDir after a scripted workload: txn logs
#                  (several files: snapCount=8 rolls the log), fuzzy snapshots, and what
#                  ZooKeeper's own tools print for them, under tools/ (not in the data
#                  dir itself: ZooKeeper would take "log.1.txt" for a log file):
#                  <file>.TxnLogToolkit.txt, <file>.SnapshotFormatter.txt (-d, TZ=UTC).
#   zk38-gz/       one snapshot written with snapshot.compression.method=gz
#   zk38-snappy/   one snapshot written with snapshot.compression.method=snappy
#
# The workload is fixed, but times, session ids and the points where ZooKeeper takes
# snapshots (snapCount is randomized by the server) change from run to run: after
# regenerating, update the expectations in tests/golden.rs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
CP="/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar"
export TZ=UTC
WORK="$(mktemp -d)"
ZKPID=""
cleanup() { if [ -n "$ZKPID" ]; then kill "$ZKPID" 2>/dev/null || true; wait "$ZKPID" 2>/dev/null || true; fi; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_zk NAME SNAPCOUNT [JAVA -D options...]: starts a server on a fresh dataDir.
start_zk() {
    local name="$1" snapcount="$2"; shift 2
    PORT="$(free_port)"
    DATA="$WORK/$name"
    mkdir -p "$DATA"
    cat > "$WORK/$name.cfg" <<CFG
tickTime=2000
dataDir=$DATA
clientPort=$PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
snapCount=$snapcount
extendedTypesEnabled=true
4lw.commands.whitelist=*
CFG
    java -Xmx256m -Duser.timezone=UTC "$@" -cp "$CP" \
        org.apache.zookeeper.server.ZooKeeperServerMain "$WORK/$name.cfg" > "$WORK/$name.log" 2>&1 &
    ZKPID=$!
    for _ in $(seq 1 150); do
        if [ "$(python3 - "$PORT" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"ruok"); print(s.recv(16).decode())
PY
)" = "imok" ]; then return 0; fi
        sleep 0.2
    done
    echo "ZooKeeper did not start; log:" >&2; tail -30 "$WORK/$name.log" >&2; exit 1
}

stop_zk() { kill "$ZKPID"; wait "$ZKPID" 2>/dev/null || true; ZKPID=""; }

# ---- zk38: the main workload
start_zk zk38 8
python3 - "127.0.0.1:$PORT" "$REPO/tests/interop" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[2])
import zkwire
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE
from kazoo.exceptions import NodeExistsError, BadVersionError

hp = sys.argv[1]
a = KazooClient(hosts=hp, timeout=30); a.start()
b = KazooClient(hosts=hp, timeout=30); b.start()
a.create("/app", b"hello")
a.create("/app/child1", b"c1")
a.set("/app", b"world")
a.set("/app", b"world2", version=1)
a.delete("/app/child1")
b.create("/app/eph", b"ephemeral", ephemeral=True)
for i in range(3):
    a.create("/app/seq-", b"s%d" % i, sequence=True)
b.create("/app/eseq-", b"", ephemeral=True, sequence=True)
secret = make_digest_acl("user", "pass", all=True)
a.create("/secure", b"top secret", acl=[secret])
a.set_acls("/app", [make_digest_acl("user", "pass", read=True, write=True)] + list(OPEN_ACL_UNSAFE))
try:
    a.create("/app", b"dup")          # NodeExists: ZooKeeper logs an error txn
except NodeExistsError:
    pass
t = a.transaction()
t.create("/multi", b"m")
t.create("/multi/x", b"mx")
t.set_data("/secure", b"ignored")     # NoAuth: the whole multi fails
t.commit()
t = a.transaction()
t.create("/multi", b"m")
t.check("/app", 2)
t.set_data("/multi", b"m2")
t.create("/multi/x", b"mx")
t.commit()
r = zkwire.Conn(hp, 30000)
assert r.create("/cont", b"container", flags=zkwire.CreateMode.CONTAINER, op=zkwire.Op.CREATE_CONTAINER)[0] == 0
assert r.create("/cont/c", b"in container")[0] == 0
assert r.create("/ttl", b"ttl", flags=zkwire.CreateMode.PERSISTENT_WITH_TTL, ttl=3600000)[0] == 0
a.create("/big", bytes(range(256)) * 4)
a.ensure_path("/deep/a/b/c")
a.set("/deep/a/b/c", "ünïcödé".encode())
b.stop(); b.close()                    # closeSession with an ephemeral to delete
r.close()
a.delete("/deep/a/b/c")
a.set("/app", b"last", version=2)
# wait for the background snapshot thread to finish before stopping
time.sleep(2)
a.stop(); a.close()
PY
stop_zk

OUT="$HERE/zk38"
rm -rf "$OUT"; mkdir -p "$OUT/tools"
# Preallocated logs are 64 MiB of mostly zeros: keep the bytes up to the end of the
# valid data plus one zero record, as ZooKeeper reads them (a 0-length record = EOF).
for f in "$DATA"/version-2/log.*; do
    python3 - "$f" "$OUT/$(basename "$f")" <<'PY'
import sys, struct, zlib
data = open(sys.argv[1], "rb").read()
pos = 16
while pos + 12 <= len(data):
    crc, n = struct.unpack(">qi", data[pos:pos + 12])
    if n <= 0 or pos + 13 + n > len(data) or data[pos + 12 + n] != 0x42:
        break
    assert zlib.adler32(data[pos + 12:pos + 12 + n]) == crc
    pos += 13 + n
open(sys.argv[2], "wb").write(data[:pos] + b"\0" * 12)
PY
    java -Duser.timezone=UTC -cp "$CP" org.apache.zookeeper.server.persistence.TxnLogToolkit "$f" \
        > "$OUT/tools/$(basename "$f").TxnLogToolkit.txt" 2>/dev/null || true
done
for f in "$DATA"/version-2/snapshot.*; do
    cp "$f" "$OUT/"
    java -Duser.timezone=UTC -cp "$CP" org.apache.zookeeper.server.SnapshotFormatter -d "$f" \
        > "$OUT/tools/$(basename "$f").SnapshotFormatter.txt" 2>/dev/null
done

# ---- compressed snapshots: a few nodes, then the server's last snapshot
for mode in gz snappy; do
    start_zk "zk38-$mode" 4 "-Dzookeeper.snapshot.compression.method=$mode"
    python3 - "127.0.0.1:$PORT" "$mode" <<'PY'
import sys, time
from kazoo.client import KazooClient
a = KazooClient(hosts=sys.argv[1], timeout=30); a.start()
for i in range(10):
    a.create("/%s-%d" % (sys.argv[2], i), b"compressed %d" % i)
time.sleep(2)
a.stop(); a.close()
PY
    stop_zk
    OUT="$HERE/zk38-$mode"
    rm -rf "$OUT"; mkdir -p "$OUT/tools"
    last="$(ls "$WORK/zk38-$mode/version-2/" | grep '^snapshot\.' | sort -t. -k2,2 | python3 -c '
import sys; names = sys.stdin.read().split(); print(max(names, key=lambda n: int(n.split(".")[1], 16)))')"
    cp "$WORK/zk38-$mode/version-2/$last" "$OUT/"
    java -Duser.timezone=UTC -Dzookeeper.snapshot.compression.method=$mode -cp "$CP" \
        org.apache.zookeeper.server.SnapshotFormatter -d "$OUT/$last" > "$OUT/tools/$last.SnapshotFormatter.txt" 2>/dev/null
done
echo "golden files written under $HERE"
du -sh "$HERE"
