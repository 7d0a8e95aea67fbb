#!/usr/bin/env python3
"""Side-by-side benchmark: Zooid against Apache ZooKeeper (Debian's package) on this
machine, in one run, with the same load generator (`zooid bench`). Prints each result and
the Zooid/ZooKeeper ratio. A benchmark, not a test: numbers depend on the machine.

    python3 scripts/bench_compare.py                       # get, set, create-sequential, mixed
    python3 scripts/bench_compare.py --recovery 1000000    # restart time with N znodes
    python3 scripts/bench_compare.py --ensemble 3          # 3-server ensembles, + failover

Both servers get a fresh data directory on the same disk, fsync on (ZooKeeper's default
forceSync=yes), and are stopped by PID at the end. ZooKeeper runs with zkServer.sh's
defaults (G1, -Xmx from --zk-heap).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ZOOID = REPO / "target" / "release" / "zooid"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def zk_classpath() -> str:
    cp = ["/usr/share/java/zookeeper.jar"]
    for extra in ("zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar"):
        p = f"/usr/share/java/{extra}"
        if os.path.exists(p):
            cp.append(p)
    return ":".join(cp)


class Server:
    def __init__(self, kind: str, root: Path, heap: str, extra: str = ""):
        self.kind, self.root, self.heap = kind, root, heap
        self.port = free_port()
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.cfg = root / "zoo.cfg"
        self.cfg.write_text(
            f"tickTime=2000\ndataDir={self.data}\nclientPort={self.port}\n"
            f"clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n"
            f"admin.enableServer=false\nmaxClientCnxns=0\n{extra}\n")
        self.proc: subprocess.Popen | None = None
        self.log = root / "server.log"
        self.ensemble = False

    def command(self) -> list[str]:
        if self.kind == "zooid":
            return [str(ZOOID), "server", str(self.cfg)]
        main = ("org.apache.zookeeper.server.quorum.QuorumPeerMain" if self.ensemble
                else "org.apache.zookeeper.server.ZooKeeperServerMain")
        return ["java", f"-Xmx{self.heap}", "-Djava.net.preferIPv4Stack=true",
                "-cp", zk_classpath(), main, str(self.cfg)]

    def start(self) -> float:
        """Starts the process; returns the instant it was spawned."""
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        return t0

    def stop(self, sig_kill: bool = False):
        if self.proc and self.proc.poll() is None:
            (self.proc.kill if sig_kill else self.proc.terminate)()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        if not self.proc:
            return 0.0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def frame(b: bytes) -> bytes:
    return struct.pack(">i", len(b)) + b


def recv_frame(s: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = s.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out
    (n,) = struct.unpack(">i", exact(4))
    return exact(n)


def try_read(addr: str, path: str) -> bool:
    """One session handshake + getData(path); True when it answers OK."""
    host, port = addr.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(frame(struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"))
            recv_frame(s)
            p = path.encode()
            s.sendall(frame(struct.pack(">ii", 1, 4) + struct.pack(">i", len(p)) + p + b"\0"))
            while True:
                r = recv_frame(s)
                xid, _zxid, err = struct.unpack(">iqi", r[:16])
                if xid == 1:
                    return err == 0
    except OSError:
        return False


def wait_read(addr: str, path: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if try_read(addr, path):
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError(f"{addr} did not serve {path} within {timeout}s")


def bench(addr: str, workload: str, a) -> dict:
    cmd = [str(ZOOID), "bench", "--server", addr, "--workload", workload, "--seconds",
           str(a.seconds), "--sessions", str(a.sessions), "--inflight", str(a.inflight),
           "--size", str(a.size), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_runs(servers: list[Server], a):
    for s in servers:
        s.start()
        wait_read(s.addr, "/", 60)
    print(f"{'workload':17} {'server':10} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p99.9 ms':>9} {'max ms':>8}")
    for w in a.workloads.split(","):
        res = {}
        for s in servers:
            r = bench(s.addr, w, a)
            res[s.kind] = r
            lat = r["latency_ms"]
            print(f"{w:17} {s.kind:10} {r['ops_per_sec']:10.0f} {lat['p50']:8.3f} "
                  f"{lat['p99']:8.3f} {lat['p999']:9.3f} {lat['max']:8.3f}")
        z, k = res["zooid"], res["zookeeper"]
        print(f"{w:17} {'ratio':10} {z['ops_per_sec'] / k['ops_per_sec']:10.2f}x "
              f"p99 {k['latency_ms']['p99'] / max(z['latency_ms']['p99'], 1e-9):.2f}x lower")
    for s in servers:
        print(f"RSS {s.kind}: {s.rss_mb():.0f} MB")


def recovery_run(servers: list[Server], a):
    for s in servers:
        s.start()
        wait_read(s.addr, "/", 60)
        t = time.monotonic()
        out = subprocess.run([str(ZOOID), "bench", "--server", s.addr, "--workload", "populate",
                              "--count", str(a.recovery), "--size", str(a.size),
                              "--sessions", "8", "--inflight", "64"],
                             capture_output=True, text=True, timeout=3600)
        print(f"{s.kind}: {out.stdout.strip()} (RSS {s.rss_mb():.0f} MB)")
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        s.stop(sig_kill=True)
        last = f"/zooid-populate/n{a.recovery - 1:09d}"
        t0 = s.start()
        t1 = wait_read(s.addr, last, 600)
        print(f"{s.kind}: process start to first read of {last}: {t1 - t0:.2f} s "
              f"(RSS {s.rss_mb():.0f} MB)")
        s.stop()
        print(f"{s.kind}: data dir {sum(f.stat().st_size for f in s.data.rglob('*') if f.is_file()) / 1e6:.0f} MB")
        _ = t


def four(addr: str, cmd: str) -> str:
    host, port = addr.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(cmd.encode())
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return out.decode(errors="replace")
                out += chunk
    except OSError:
        return ""


def mode(addr: str) -> str:
    m = re.search(r"Mode: (\w+)", four(addr, "srvr"))
    return m.group(1) if m else ""


def make_ensemble(kind: str, base: Path, n: int, heap: str) -> list[Server]:
    ports = [(free_port(), free_port()) for _ in range(n)]
    lines = "".join(f"server.{i + 1}=127.0.0.1:{q}:{e}\n" for i, (q, e) in enumerate(ports))
    members = []
    for i in range(n):
        extra = f"initLimit=10\nsyncLimit=5\n{lines}"
        s = Server(kind, base / f"{kind}{i + 1}", heap, extra)
        (s.data / "myid").write_text(f"{i + 1}\n")
        s.ensemble = True
        members.append(s)
    return members


def wait_ensemble(members: list[Server], timeout: float, all_serving: bool = True) -> int:
    """The leader's index once every running member (or a quorum) serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        modes = [mode(m.addr) if m.proc else "" for m in members]
        serving = sum(1 for x in modes if x in ("leader", "follower"))
        need = sum(1 for m in members if m.proc) if all_serving else len(members) // 2 + 1
        if "leader" in modes and serving >= need:
            return modes.index("leader")
        time.sleep(0.02)
    raise TimeoutError("no leader")


def try_create(addr: str, path: str) -> bool:
    """One session handshake + create(path); True when it answers OK."""
    host, port = addr.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.settimeout(2)
            s.sendall(frame(struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"))
            recv_frame(s)
            p = path.encode()
            acl = struct.pack(">i", 1) + struct.pack(">i", 31) + struct.pack(">i", 5) + b"world" + struct.pack(">i", 6) + b"anyone"
            body = struct.pack(">ii", 1, 1) + struct.pack(">i", len(p)) + p + struct.pack(">i", 0) + acl + struct.pack(">i", 0)
            s.sendall(frame(body))
            while True:
                r = recv_frame(s)
                xid, _zxid, err = struct.unpack(">iqi", r[:16])
                if xid == 1:
                    return err in (0, -110)
    except OSError:
        return False


def ensemble_runs(base: Path, a):
    kinds = {"zooid": make_ensemble("zooid", base, a.ensemble, a.zk_heap),
             "zookeeper": make_ensemble("zookeeper", base, a.ensemble, a.zk_heap)}
    results = {}
    for kind, members in kinds.items():
        for m in members:
            m.start()
        leader = wait_ensemble(members, 120)
        connect = ",".join(m.addr for m in members)
        print(f"{kind}: {len(members)} servers, leader is server {leader + 1}")
        for w in a.workloads.split(","):
            r = bench(connect, w, a)
            results[(kind, w)] = r
            lat = r["latency_ms"]
            print(f"{w:17} {kind:10} {r['ops_per_sec']:10.0f} {lat['p50']:8.3f} "
                  f"{lat['p99']:8.3f} {lat['p999']:9.3f} {lat['max']:8.3f}")
        print(f"RSS {kind}: " + ", ".join(f"{m.rss_mb():.0f}" for m in members) + " MB")
        # Failover: SIGKILL the leader, time until a write through a survivor succeeds.
        times = []
        for round_ in range(a.failovers):
            leader = wait_ensemble(members, 120)
            survivor = members[(leader + 1) % len(members)]
            t0 = time.monotonic()
            members[leader].stop(sig_kill=True)
            n = 0
            while not try_create(survivor.addr, f"/failover-{round_}-{n}"):
                n += 1
                time.sleep(0.005)
                if time.monotonic() - t0 > 120:
                    raise TimeoutError("no write after the leader was killed")
            times.append(time.monotonic() - t0)
            members[leader].start()
            wait_ensemble(members, 120)
        print(f"{kind}: leader SIGKILL to first successful write: "
              + ", ".join(f"{t * 1000:.0f} ms" for t in times))
        results[(kind, "failover")] = times
        for m in members:
            m.stop()
    for w in a.workloads.split(","):
        z, k = results[("zooid", w)], results[("zookeeper", w)]
        print(f"{w:17} {'ratio':10} {z['ops_per_sec'] / k['ops_per_sec']:10.2f}x "
              f"p99 {k['latency_ms']['p99'] / max(z['latency_ms']['p99'], 1e-9):.2f}x lower")
    zf, kf = results[("zooid", "failover")], results[("zookeeper", "failover")]
    if zf and kf:
        print(f"failover median: zooid {sorted(zf)[len(zf) // 2] * 1000:.0f} ms, "
              f"zookeeper {sorted(kf)[len(kf) // 2] * 1000:.0f} ms")
    return kinds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default="get,set,create-sequential,mixed")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--sessions", type=int, default=16)
    ap.add_argument("--inflight", type=int, default=8)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--recovery", type=int, default=0, help="znodes for the restart-time run")
    ap.add_argument("--zk-heap", default="2g")
    ap.add_argument("--dir", default=None, help="where the data dirs go (default: a temp dir)")
    ap.add_argument("--ensemble", type=int, default=0, help="servers per ensemble (3, 5)")
    ap.add_argument("--failovers", type=int, default=3, help="leader kills per ensemble")
    a = ap.parse_args()
    if not ZOOID.exists():
        sys.exit(f"build first: cargo build --release -p zooid ({ZOOID} missing)")
    base = Path(a.dir or tempfile.mkdtemp(prefix="zooid-bench-"))
    if a.ensemble:
        kinds = {}
        try:
            kinds = ensemble_runs(base, a)
        finally:
            for members in kinds.values():
                for m in members:
                    m.stop(sig_kill=True)
            subprocess.run(["pkill", "-9", "-f", str(base)], check=False)
            if not a.dir:
                shutil.rmtree(base, ignore_errors=True)
        return
    servers = [Server("zooid", base / "zooid", a.zk_heap), Server("zookeeper", base / "zookeeper", a.zk_heap)]
    try:
        if a.recovery:
            recovery_run(servers, a)
        else:
            load_runs(servers, a)
    finally:
        for s in servers:
            s.stop(sig_kill=True)
        if not a.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
