"""Data directories change hands between Apache ZooKeeper 3.8 and Zooid, both ways, with
the same zoo.cfg (dataDir and a separate dataLogDir, snapCount=50 so that there are
several log files and snapshots):

  * ZooKeeper writes (a kazoo + raw-wire workload: sequential and ephemeral nodes with a
    session kept open, sets, deletes, digest/ip ACLs, multi, containers, TTL nodes, and
    bursts of pipelined writes while snapshots are taken), stops; Zooid starts on the
    directory and serves the identical tree: every path, data, ACL, child and Stat
    field, and the open session's ephemerals with their owner.
  * Zooid writes the same workload, stops (SIGTERM or SIGKILL); ZooKeeper starts on the
    directory, serves the identical tree and logs no digest mismatch or data error.
  * Zooid is SIGKILLed in the middle of a write load and restarted: the tree is the tree
    of the acknowledged writes (each writer's one unanswered write may or may not be
    there).

Every snapshot either server wrote is also read here, to check what ZooKeeper's loader
assumes of it: a fuzzy snapshot (one holding changes made after its zxid) carries the
digest of a later zxid, never of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.security import make_acl, make_digest_acl

import zkwire
from conftest import STOP_TIMEOUT, Server, free_port
from harness import assert_same

pytestmark = pytest.mark.timeout(60)

CFG = {"snapCount": "50"}
SESSION_TIMEOUT = 30.0  # the kept-open session must outlive the hand-over
AUTH = ("digest", "alice:secret")


# ---------------------------------------------------------------------------
# servers on a shared data directory


@pytest.fixture
def cleanup():
    """Servers and kazoo clients to stop at the end of the test (servers by PID)."""
    servers: list[Server] = []
    clients: list[KazooClient] = []
    yield servers, clients
    for kc in clients:
        try:
            kc.stop()
            kc.close()
        except Exception:
            pass
    for s in servers:
        s.stop()


def make_server(kind: str, base: Path, servers: list[Server],
                extra: dict[str, str] | None = None) -> Server:
    """A server whose zoo.cfg points at base/data and base/datalog; its own workdir
    (cfg file, server.log) is base/<kind>-<n>."""
    n = sum(1 for s in servers if s.kind == kind)
    srv = Server(kind, {**CFG, **(extra or {})}, base / f"{kind}-{n}")
    srv.datadir = base / "data"
    srv.datadir.mkdir(exist_ok=True)
    (base / "datalog").mkdir(exist_ok=True)
    srv.cfg["dataDir"] = str(srv.datadir)
    srv.cfg["dataLogDir"] = str(base / "datalog")
    srv.cfg_path.write_text("".join(f"{k}={v}\n" for k, v in srv.cfg.items()))
    servers.append(srv)
    return srv


def kazoo(srv: Server, clients: list[KazooClient], auth: bool = True,
          timeout: float = 10.0) -> KazooClient:
    kc = KazooClient(hosts=srv.hostport, timeout=timeout)
    kc.start(timeout=10.0)
    clients.append(kc)
    if auth:
        kc.add_auth(*AUTH)
    return kc


def stop_with(srv: Server, sig: int) -> None:
    """Sends `sig` to the server's PID and waits (bounded) for it to exit."""
    assert srv.proc is not None and srv.proc.poll() is None, f"{srv.kind} already gone"
    os.kill(srv.proc.pid, sig)
    try:
        srv.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{srv.kind} did not exit within {STOP_TIMEOUT}s of signal {sig}",
                    pytrace=False)
    finally:
        srv.stop()


# ---------------------------------------------------------------------------
# the workload and the tree


def hot_round(kc: KazooClient, seed: int) -> None:
    """One round of pipelined small writes under /hot: sets, creates and deletes."""
    rng = random.Random(seed)
    futs = [kc.set_async(f"/hot/h{rng.randrange(200):03d}", b"%d" % rng.randrange(10**6))
            for _ in range(80)]
    futs += [kc.create_async(f"/hot/s{seed:03d}-{i:02d}", b"n") for i in range(10)]
    for f in futs:
        f.get(timeout=20)
    for f in [kc.delete_async(f"/hot/s{seed:03d}-{i:02d}") for i in range(0, 10, 3)]:
        f.get(timeout=20)


def workload(srv: Server, clients: list[KazooClient], fuzzy: bool) -> KazooClient:
    """Writes the test tree; returns the kazoo client whose session stays open (it owns
    /app/eph, /app/eseq-*, and /late-eph written at the end)."""
    kc = kazoo(srv, clients)
    keeper = kazoo(srv, clients, timeout=SESSION_TIMEOUT)
    kc.create("/app", b"root")
    for i in range(30):
        kc.create(f"/app/n{i:02d}", b"v%d" % i)
    seqs = [kc.create("/app/seq-", b"s", sequence=True) for _ in range(4)]
    keeper.create("/app/eph", b"mine", ephemeral=True)
    keeper.create("/app/eseq-", b"e", ephemeral=True, sequence=True)
    # A session that closes: its ephemeral goes with it.
    short = kazoo(srv, clients)
    short.create("/app/short-eph", b"", ephemeral=True)
    short.stop()
    short.close()
    # Sets and deletes.
    for v in range(3):
        kc.set("/app/n01", b"set-%d" % v)
    kc.set("/app/n02", b"")
    kc.delete("/app/n03")
    kc.delete(seqs[1])
    kc.set("/app", b"root-v2")
    # ACLs: digest (all, and read/write only), world read, ip.
    alice_all = make_digest_acl("alice", "secret", all=True)
    kc.create("/secure", b"s3cret", acl=[alice_all])
    kc.create("/secure/inner", b"i", acl=[alice_all, make_acl("world", "anyone", read=True)])
    kc.set_acls("/app/n04", [make_digest_acl("alice", "secret", read=True, write=True),
                             make_acl("world", "anyone", read=True)])
    kc.create("/ip", b"ip", acl=[make_acl("ip", "127.0.0.1", all=True)])
    # Multi: a good one and one that fails (an error txn, nothing changes).
    t = kc.transaction()
    t.create("/app/m1", b"a")
    t.set_data("/app/n05", b"multi")
    t.delete("/app/n06")
    t.check("/app/n07", 0)
    assert all(not isinstance(r, Exception) for r in t.commit())
    t = kc.transaction()
    t.create("/app/m2", b"never")
    t.check("/app/n07", 42)
    assert any(isinstance(r, Exception) for r in t.commit())
    # Containers and TTL nodes (long TTLs: nothing is reaped during the test).
    with zkwire.Conn(srv.hostport) as raw:
        c = zkwire.CreateMode
        assert raw.create("/cont", b"c", flags=c.CONTAINER, op=zkwire.Op.CREATE_CONTAINER)[0] == 0
        assert raw.create("/cont/child", b"")[0] == 0
        assert raw.create("/cont2", b"", flags=c.CONTAINER, op=zkwire.Op.CREATE_CONTAINER)[0] == 0
        assert raw.create("/ttl", b"t", flags=c.PERSISTENT_WITH_TTL, ttl=3_600_000)[0] == 0
        assert raw.create("/ttl-seq-", b"", flags=c.PERSISTENT_SEQUENTIAL_WITH_TTL,
                          ttl=7_200_000)[0] == 0
    # Pipelined writes while snapshots are taken: a big tree (~6 MB) makes each snapshot
    # take a while, and three sessions keep small writes coming meanwhile, in rounds
    # until the writing server has left a fuzzy snapshot (when `fuzzy` asks for one).
    big = bytes(range(256)) * 256
    kc.create("/big", b"")
    for f in [kc.create_async(f"/big/b{i:03d}", big) for i in range(100)]:
        f.get(timeout=20)
    kc.create("/hot", b"")
    for f in [kc.create_async(f"/hot/h{i:03d}", b"h") for i in range(200)]:
        f.get(timeout=20)
    hot = [kazoo(srv, clients) for _ in range(3)]
    deadline = time.monotonic() + 20
    for rnd in range(40):
        threads = [threading.Thread(target=hot_round, args=(k, rnd * 10 + n))
                   for n, k in enumerate(hot)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        if rnd >= 3 and (not fuzzy or any(f for _, f in snapshots(srv.datadir, srv.kind))):
            break
        assert time.monotonic() < deadline, (
            f"no fuzzy snapshot after {rnd + 1} rounds: {snapshots(srv.datadir, srv.kind)}")
    for k in hot:
        k.stop()
        k.close()
    keeper.create("/late-eph", b"late", ephemeral=True)
    kc.set("/app/n08", b"last")
    return keeper


def stat_dict(st) -> dict:
    return {
        "czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid,
        "ctime": st.ctime, "mtime": st.mtime, "version": st.version,
        "cversion": st.cversion, "aversion": st.aversion,
        "ephemeralOwner": st.ephemeralOwner, "dataLength": st.dataLength,
        "numChildren": st.numChildren,
    }


def read_tree(kc: KazooClient) -> dict[str, dict]:
    """Every znode reachable from / (the client authenticated as alice): data, Stat,
    ACL (with the Stat getACL returns), sorted children."""
    out: dict[str, dict] = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, st = kc.get(path)
        acl, acl_st = kc.get_acls(path)
        children = sorted(kc.get_children(path))
        data = data or b""
        out[path] = {
            "data": (data.decode("latin-1") if len(data) <= 64
                     else f"sha256:{hashlib.sha256(data).hexdigest()} ({len(data)} bytes)"),
            "stat": stat_dict(st),
            "acl": [[a.perms, a.id.scheme, a.id.id] for a in acl],
            "acl_stat": stat_dict(acl_st),
            "children": children,
        }
        stack.extend((path.rstrip("/") + "/" + c) for c in children)
    return dict(sorted(out.items()))


_SNAPS: dict[Path, tuple[bool, int | None]] = {}


def snapshot_info(path: Path) -> tuple[bool, int | None]:
    """(fuzzy, digest zxid) of a snapshot file. Fuzzy: it holds a change made after
    the zxid it is named after (it was written while the tree changed). Reads
    ZooKeeper's snapshot format (FileSnap.serialize): header, sessions, ACL cache,
    (path, data, acl, StatPersisted) records until the path "/", a seal (checksum,
    "/"), then the digest (zxid, version, digest) when there is one, then the
    lastProcessedZxid."""
    if path in _SNAPS:
        return _SNAPS[path]
    b = path.read_bytes()
    zxid = int(path.suffix[1:], 16)
    pos = 16  # magic, version, dbid

    def take(fmt: str):
        nonlocal pos
        v = struct.unpack_from(fmt, b, pos)
        pos += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def take_bytes() -> bytes:
        nonlocal pos
        n = take(">i")
        v = b[pos:pos + max(n, 0)]
        pos += max(n, 0)
        return v

    for _ in range(take(">i")):
        take(">qi")
    for _ in range(take(">i")):
        take(">q")
        for _ in range(take(">i")):
            take(">i")
            take_bytes()
            take_bytes()
    fuzzy = False
    while True:
        p = take_bytes()
        if p == b"/":
            break
        take_bytes()  # data
        take(">q")  # acl
        czxid, mzxid, _ct, _mt, _v, _cv, _av, _eo, pzxid = take(">qqqqiiiqq")
        fuzzy |= max(czxid, mzxid, pzxid) > zxid
    take(">q")  # seal: checksum, "/"
    assert take_bytes() == b"/", f"{path}: no seal after the tree"
    # After the seal: the digest section (20 bytes and a 13-byte seal), then 3.9's
    # lastProcessedZxid (8 bytes and a seal); with digests off only the latter.
    digest_zxid = take(">q") if len(b) - pos >= 33 else None
    _SNAPS[path] = (fuzzy, digest_zxid)
    return fuzzy, digest_zxid


def snapshots(data_dir: Path, writer: str = "zooid") -> list[tuple[str, bool]]:
    """(name, fuzzy) for each snapshot in data_dir/version-2, oldest first. For
    snapshots Zooid wrote, checks what ZooKeeper's loader assumes (FileSnap.deserialize):
    a snapshot whose digest is for its own zxid is not fuzzy, as the digest is compared
    right after loading; the digest of a fuzzy one is for a later zxid, compared when the
    replay reaches it. ZooKeeper's own writer breaks this now and then (DataTree.processTxn
    changes the tree before logZxidDigest records the txn's digest, and the snapshot
    thread can read the digest in between), so its snapshots are not checked."""
    files = sorted((data_dir / "version-2").glob("snapshot.*"),
                   key=lambda p: int(p.suffix[1:], 16))
    out = []
    for f in files:
        fuzzy, digest_zxid = snapshot_info(f)
        assert writer != "zooid" or not (fuzzy and digest_zxid == int(f.suffix[1:], 16)), (
            f"{f.name} is fuzzy but carries the digest of its own zxid: ZooKeeper "
            f"compares it at once and reports 'Digests are not matching'")
        out.append((f.name, fuzzy))
    return out


def log_files(log_dir: Path) -> list[str]:
    return sorted(p.name for p in (log_dir / "version-2").glob("log.*"))


def check_handover(before: dict, after: dict, keeper_sid: int) -> None:
    assert_same(before, after)
    owners = {p: n["stat"]["ephemeralOwner"] for p, n in after.items()}
    assert owners["/late-eph"] == keeper_sid
    assert owners["/app/eph"] == keeper_sid
    assert "/app/short-eph" not in after
    assert "/app/m2" not in after and "/app/m1" in after


def zk_log_problems(srv: Server) -> list[str]:
    """Lines of ZooKeeper's log about a problem with the data: digest mismatches, bad
    snapshots or logs, any ERROR, persistence warnings, and exceptions other than
    those of clients coming and going (the readiness probe's "ZooKeeperServer not
    running" before the database is loaded and the error ZooKeeper logs closing that
    probe's socket then, a client closing its socket)."""
    bad = ("Digests are not matching", "problem reading snap file", "CRC",
           "Unable to load database", "ERROR", "Exception",
           "WARN org.apache.zookeeper.server.persistence",
           "WARN org.apache.zookeeper.server.DataTree",
           "WARN org.apache.zookeeper.server.ZKDatabase")
    client_noise = ("ZooKeeperServer not running", "EndOfStreamException",
                    "Connection reset by peer", "Broken pipe",
                    # the readiness probe's ruok closing before the database exists
                    # (ServerCnxn.close -> zkDb.removeCnxn on a null zkDb: ZooKeeper's own
                    # NullPointerException, nothing to do with the data)
                    "Error closing a command socket", '"this.zkDb" is null')
    lines = srv.log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if any(b in line for b in bad)
            and not any(n in line for n in client_noise)]


# ---------------------------------------------------------------------------
# tests


def test_zookeeper_data_dir_served_by_zooid(tmp_path, cleanup):
    servers, clients = cleanup
    zk = make_server("zookeeper", tmp_path, servers).start()
    keeper = workload(zk, clients, fuzzy=True)
    keeper_sid = keeper.client_id[0]
    before = read_tree(kazoo(zk, clients))
    last_zxid = max(max(n["stat"]["mzxid"], n["stat"]["pzxid"]) for n in before.values())
    stop_with(zk, signal.SIGTERM)

    snaps = snapshots(tmp_path / "data", "zookeeper")
    logs = log_files(tmp_path / "datalog")
    assert len(snaps) >= 4 and len(logs) >= 4, (snaps, logs)
    assert any(fuzzy for _, fuzzy in snaps), f"no fuzzy snapshot among {snaps}"
    print(f"ZooKeeper wrote {len(before)} znodes, {len(logs)} log files, snapshots "
          f"(name, fuzzy): {snaps}")

    zooid = make_server("zooid", tmp_path, servers).start()
    after = read_tree(kazoo(zooid, clients))
    check_handover(before, after, keeper_sid)
    # Zooid goes on after ZooKeeper's last zxid.
    kc = kazoo(zooid, clients)
    _, st = kc.create("/after-handover", b"", include_data=True)
    assert st.czxid > last_zxid


@pytest.mark.parametrize("stop,digests", [("SIGTERM", "true"), ("SIGKILL", "true"),
                                          ("SIGTERM", "false")],
                         ids=["SIGTERM", "SIGKILL", "digests-off"])
def test_zooid_data_dir_served_by_zookeeper(tmp_path, cleanup, stop, digests):
    """With digest.enabled=false on both (ZooKeeper reads the zoo.cfg key as the
    zookeeper.digest.enabled property), Zooid's snapshots carry no digest section, as
    ZooKeeper's do, and ZooKeeper reads them. (ZooKeeper 3.9 would take a digest section
    there for its lastProcessedZxid and fail the checksum; 3.8 reads neither, so this
    checks that the layout without one is read, and the unit test
    `digests_off_leave_no_digest_section` checks the layout.)"""
    servers, clients = cleanup
    extra = {"digest.enabled": digests}
    zooid = make_server("zooid", tmp_path, servers, extra).start()
    keeper = workload(zooid, clients, fuzzy=False)
    keeper_sid = keeper.client_id[0]
    before = read_tree(kazoo(zooid, clients))
    last_zxid = max(max(n["stat"]["mzxid"], n["stat"]["pzxid"]) for n in before.values())
    stop_with(zooid, getattr(signal, stop))

    snaps = snapshots(tmp_path / "data")
    logs = log_files(tmp_path / "datalog")
    assert len(snaps) >= 4 and len(logs) >= 4, (snaps, logs)
    print(f"Zooid wrote {len(before)} znodes, {len(logs)} log files, snapshots "
          f"(name, fuzzy): {snaps}")

    zk = make_server("zookeeper", tmp_path, servers, extra).start()
    after = read_tree(kazoo(zk, clients))
    check_handover(before, after, keeper_sid)
    kc = kazoo(zk, clients)
    _, st = kc.create("/after-handover", b"", include_data=True)
    assert st.czxid > last_zxid
    zk.check_alive()
    problems = zk_log_problems(zk)
    assert not problems, "ZooKeeper's log:\n" + "\n".join(problems[:30])
    assert "Reading snapshot" in zk.log_path.read_text(errors="replace")


class Model:
    """What the acknowledged writes made: path -> (data, Stat as acknowledged), and
    per writer the one write in flight when the server died (unknown outcome)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.nodes: dict[str, tuple[bytes, dict]] = {}
        self.in_flight: dict[int, tuple] = {}
        self.acked = 0


def writer(hostport: str, w: int, model: Model, stop: threading.Event) -> None:
    """Creates, sets and deletes under /crash/w<w>, one write at a time, and records
    each acknowledged result. Stops at the first error (the server died)."""
    kc = KazooClient(hosts=hostport, timeout=10.0,
                     connection_retry=None, command_retry=None)
    try:
        kc.start(timeout=10.0)
    except Exception:
        return
    rng = random.Random(w)
    base = f"/crash/w{w}"
    mine: list[str] = []
    i = 0
    try:
        while not stop.is_set():
            i += 1
            r = rng.random()
            if mine and r < 0.25:
                path = rng.choice(mine)
                data = b"set-%d" % i
                with model.lock:
                    model.in_flight[w] = ("set", path, data)
                st = kc.set(path, data)
                with model.lock:
                    model.nodes[path] = (data, stat_dict(st))
            elif len(mine) > 5 and r < 0.35:
                path = mine.pop(rng.randrange(len(mine)))
                with model.lock:
                    model.in_flight[w] = ("delete", path)
                kc.delete(path)
                with model.lock:
                    model.nodes.pop(path, None)
            else:
                path = f"{base}/n{i:05d}"
                data = b"new-%d" % i
                with model.lock:
                    model.in_flight[w] = ("create", path, data)
                _, st = kc.create(path, data, include_data=True)
                mine.append(path)
                with model.lock:
                    model.nodes[path] = (data, stat_dict(st))
            with model.lock:
                model.in_flight.pop(w, None)
                model.acked += 1
    except KazooException:
        pass
    finally:
        try:
            kc.stop()
            kc.close()
        except Exception:
            pass


def test_zooid_sigkill_mid_workload_keeps_acknowledged_writes(tmp_path, cleanup):
    servers, clients = cleanup
    zooid = make_server("zooid", tmp_path, servers).start()
    kc = kazoo(zooid, clients, auth=False)
    kc.create("/crash", b"")
    for w in range(4):
        kc.create(f"/crash/w{w}", b"")
    model = Model()
    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(zooid.hostport, w, model, stop),
                                daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    # Kill once enough has happened for several snapshots, at a random instant.
    deadline = time.monotonic() + 20
    while model.acked < 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 0.3))
    stop_with(zooid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert model.acked >= 400, f"only {model.acked} writes acknowledged in 20 s"
    assert len(snapshots(tmp_path / "data")) >= 3
    print(f"{model.acked} writes acknowledged before SIGKILL; in flight: {model.in_flight}")

    zooid2 = make_server("zooid", tmp_path, servers).start()
    tree = read_tree(kazoo(zooid2, clients, auth=False))
    got = {p: (n["data"].encode("latin-1"), n["stat"]) for p, n in tree.items()
           if p.count("/") == 3 and p.startswith("/crash/w")}
    want = dict(model.nodes)
    # Each writer's unanswered write may or may not have been made durable.
    for w, op in model.in_flight.items():
        path = op[1]
        if op[0] == "create" and path in got and path not in want:
            want[path] = (op[2], got[path][1])
        elif op[0] == "set" and path in got and got[path][0] == op[2]:
            want[path] = (op[2], got[path][1])
        elif op[0] == "delete" and path not in got:
            want.pop(path, None)
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing, f"acknowledged but lost: {missing[:20]}"
    assert not extra, f"never acknowledged yet present: {extra[:20]}"
    diff = [p for p in want if want[p] != got[p]]
    assert not diff, "\n".join(f"{p}: acknowledged {want[p]} but found {got[p]}"
                               for p in diff[:10])


def test_zookeeper_snapshot_restored_into_zooid(tmp_path, cleanup):
    """The admin `restore` of ZooKeeper 3.9 takes a snapshot file: one Apache ZooKeeper
    wrote is POSTed to a Zooid with an empty tree, which then serves ZooKeeper's tree
    (sessions and ephemerals included) and, once stopped, hands a data directory that
    ZooKeeper itself serves identically."""
    servers, clients = cleanup
    zk = make_server("zookeeper", tmp_path, servers).start()
    keeper = workload(zk, clients, fuzzy=False)
    keeper_sid = keeper.client_id[0]
    before = read_tree(kazoo(zk, clients))
    stop_with(zk, signal.SIGTERM)
    # ZooKeeper snapshots the whole state when it starts on a directory.
    zk2 = make_server("zookeeper", tmp_path, servers).start()
    stop_with(zk2, signal.SIGTERM)
    newest = max((tmp_path / "data" / "version-2").glob("snapshot.*"),
                 key=lambda p: int(p.suffix[1:], 16))

    admin = free_port()
    zooid = Server("zooid", {**CFG, "admin.enableServer": "true",
                             "admin.serverAddress": "127.0.0.1",
                             "admin.serverPort": str(admin)},
                   tmp_path / "restored")
    servers.append(zooid)
    zooid.start()
    req = urllib.request.Request(f"http://127.0.0.1:{admin}/commands/restore",
                                 data=newest.read_bytes(), method="POST",
                                 headers={"Authorization": "digest someone:pw"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.loads(resp.read())
    assert answer["error"] is None and answer["command"] == "restore", answer
    assert answer["last_zxid"] >= int(newest.suffix[1:], 16)
    after = read_tree(kazoo(zooid, clients))
    check_handover(before, after, keeper_sid)

    stop_with(zooid, signal.SIGTERM)
    back = Server("zookeeper", dict(CFG), tmp_path / "zk-on-restored")
    back.cfg["dataDir"] = str(zooid.datadir)
    back.cfg_path.write_text("".join(f"{k}={v}\n" for k, v in back.cfg.items()))
    servers.append(back)
    back.start()
    assert_same(after, read_tree(kazoo(back, clients)))
    assert not zk_log_problems(back), zk_log_problems(back)
