"""Fixtures for the interop suite: Apache ZooKeeper 3.8 (Debian package) and Zooid,
each started standalone on a free loopback port from the same zoo.cfg keys.

Run (from the repo root, after `sh scripts/test-deps.sh` and `cargo build -p zooid`):
  python3 -m pytest tests/interop -q                       # ZooKeeper vs Zooid
  ZOOID_INTEROP_ONLY_ZK=1 python3 -m pytest tests/interop  # ZooKeeper side only
  ZOOID_BIN=tests/interop/zk_as_zooid.sh python3 -m pytest tests/interop
                          # ZooKeeper vs ZooKeeper: checks the tests are deterministic
  ZOOID_INTEROP_DUMP=/tmp/golden ...   # also write ZooKeeper's normalized answers as JSON
Server logs stay in pytest's basetemp (/tmp/pytest-of-$USER/pytest-N/<kind>N/server.log).

Environment:
  ZOOID_BIN               path to the zooid binary (default: <repo>/target/debug/zooid)
  ZOOID_INTEROP_ONLY_ZK=1 development aid: run only the Apache ZooKeeper side (tests
                          parametrized on "zooid" are deselected; differential tests run
                          their script against ZooKeeper alone and compare nothing)
  ZK_JAVA                 java binary (default: java on PATH)
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import zkwire  # noqa: E402

REPO_ROOT = HERE.parent.parent
ONLY_ZK = os.environ.get("ZOOID_INTEROP_ONLY_ZK", "") not in ("", "0")
KINDS = ["zookeeper", "zooid"]

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

BASE_CFG = {
    "tickTime": "2000",
    "initLimit": "10",
    "syncLimit": "5",
    "clientPortAddress": "127.0.0.1",
    "4lw.commands.whitelist": "*",
    "admin.enableServer": "false",
    "extendedTypesEnabled": "true",
    # keep every connection on one server process happy during the suite
    "maxClientCnxns": "0",
    "autopurge.purgeInterval": "0",
}


# ---------------------------------------------------------------------------
# helpers


_GIVEN_PORTS: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on now, never handed out before by this process
    (the kernel may give the same free port to two binds in a row once the first is
    closed: an ensemble's ports would then collide)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN_PORTS:
            _GIVEN_PORTS.add(port)
            return port


def four_letter(hostport: str, cmd: str, timeout: float = 5.0) -> str:
    """Send a four-letter word and read until the server closes (bounded)."""
    host, port = zkwire.split_hostport(hostport)
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"4lw {cmd!r} to {hostport}: no EOF within {timeout}s")
            s.settimeout(left)
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", "replace")


def zk_classpath() -> str:
    """Debian's zookeeper.jar carries a Class-Path manifest listing its dependencies
    under /usr/share/java (that is all zkEnv.sh puts on the classpath). We add an slf4j
    binding so the server log lands in our log file instead of being dropped."""
    jar = "/usr/share/java/zookeeper.jar"
    if not os.path.exists(jar):
        cands = sorted(glob.glob("/usr/share/java/zookeeper-3*.jar"))
        cands = [c for c in cands if re.search(r"zookeeper-3[\d.]+\.jar$", c)]
        if not cands:
            raise FileNotFoundError(
                "Apache ZooKeeper is not installed (/usr/share/java/zookeeper.jar missing); "
                "run scripts/test-deps.sh")
        jar = cands[-1]
    cp = [jar]
    for extra in ("zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar"):
        p = f"/usr/share/java/{extra}"
        if os.path.exists(p):
            cp.append(p)
    return ":".join(cp)


def java_bin() -> str:
    j = os.environ.get("ZK_JAVA") or shutil.which("java") or "/usr/bin/java"
    return j


def java_opts() -> list[str]:
    return [
        "-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Djava.net.preferIPv4Stack=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
    ]


def zooid_bin() -> Path:
    env = os.environ.get("ZOOID_BIN")
    if env:
        p = Path(env)
        return p if p.is_absolute() else (REPO_ROOT / p)
    return REPO_ROOT / "target" / "debug" / "zooid"


_LIVE: dict[int, "Server"] = {}


def _kill_all_live():
    for srv in list(_LIVE.values()):
        srv.stop()


atexit.register(_kill_all_live)


class Server:
    """A server process on 127.0.0.1:<port>, started from a zoo.cfg in its own dir."""

    def __init__(self, kind: str, cfg: dict[str, str] | None = None,
                 workdir: Path | None = None, jvm_flags: list[str] | None = None) -> None:
        assert kind in KINDS
        self.kind = kind
        # System properties (-Dk=v): on ZooKeeper's java command line; Zooid reads them
        # from SERVER_JVMFLAGS, as zkServer.sh users pass them.
        self.jvm_flags = list(jvm_flags or [])
        self.port = free_port()
        self.host = "127.0.0.1"
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"interop-{kind}-"))
        self.datadir = self.workdir / "data"
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.cfg = dict(BASE_CFG)
        self.cfg.update(cfg or {})
        self.cfg["dataDir"] = str(self.datadir)
        self.cfg["clientPort"] = str(self.port)
        # drop keys explicitly set to None (e.g. to get the default whitelist)
        self.cfg = {k: v for k, v in self.cfg.items() if v is not None}
        self.cfg_path = self.workdir / "zoo.cfg"
        self.cfg_path.write_text("".join(f"{k}={v}\n" for k, v in self.cfg.items()))
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "zookeeper":
            return [java_bin(), *java_opts(), *self.jvm_flags,
                    f"-Dzookeeper.log.dir={self.workdir}",
                    "-cp", zk_classpath(),
                    "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.cfg_path)]
        b = zooid_bin()
        if not b.exists():
            pytest.fail(
                f"Zooid binary not found at {b}. Build it (`cargo build -p zooid`) or set "
                f"ZOOID_BIN; set ZOOID_INTEROP_ONLY_ZK=1 to run only the ZooKeeper side.",
                pytrace=False)
        return [str(b), "server", str(self.cfg_path)]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.kind == "zooid" and self.jvm_flags:
            env["SERVER_JVMFLAGS"] = " ".join(self.jvm_flags)
        return env

    def check_alive(self) -> None:
        """Fail the current test if the server process has died."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            pytest.fail(f"{self.kind} server process is gone (exit code {rc}); "
                        f"log {self.log_path}:\n{self.log_tail(30)}", pytrace=False)

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def start(self) -> "Server":
        cmd = self.command()
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=str(self.workdir),
                                     start_new_session=True, env=self.env())
        _LIVE[self.proc.pid] = self
        try:
            self.wait_ready()
        except BaseException:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(f"{self.kind} did not become ready on {self.hostport}\n"
                               f"cmd: {' '.join(cmd)}\nlog tail:\n{tail}")
        return self

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Poll `ruok` until the server answers (imok, or the not-whitelisted text when
        the default whitelist is in force) and then accepts a session. Bounded."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}")
            try:
                ans = four_letter(self.hostport, "ruok", timeout=2.0)
                last = ans
                if ans == "imok" or "not executed" in ans:
                    # ZooKeeper answers imok before it serves sessions ("This ZooKeeper
                    # instance is not currently serving requests"): also complete a real
                    # session handshake.
                    c = zkwire.Conn(self.hostport, 10000, io_timeout=2.0)
                    c.close()
                    return
            except (OSError, zkwire.ConnectionClosed, zkwire.DecodeError) as e:
                last = e
            time.sleep(0.05)
        raise TimeoutError(f"{self.kind} not ready after {timeout}s (last: {last!r})")

    def stop(self) -> None:
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
                try:
                    os.kill(p.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        _LIVE.pop(p.pid, None)
        self.proc = None
        try:
            self._logf.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<{self.kind} {self.hostport}>"


def start_server(kind: str, cfg: dict[str, str] | None = None,
                 workdir: Path | None = None) -> Server:
    return Server(kind, cfg, workdir).start()


# ---------------------------------------------------------------------------
# pytest hooks


PER_TEST_TIMEOUT = 90  # seconds; every wait inside a test is bounded well below this


def pytest_collection_modifyitems(config, items):
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(PER_TEST_TIMEOUT))
    if not ONLY_ZK:
        return
    keep, drop = [], []
    for item in items:
        cs = getattr(item, "callspec", None)
        if cs is not None and any(v == "zooid" for v in cs.params.values()):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    b = zooid_bin()
    return [f"interop: zooid binary {b} ({'present' if b.exists() else 'MISSING'}); "
            f"only-zk={'yes' if ONLY_ZK else 'no'}"]


# ---------------------------------------------------------------------------
# fixtures


def _workdir(tmp_path_factory, kind: str) -> Path:
    # under pytest's basetemp: kept for the last few runs (server logs!), then cleaned
    return tmp_path_factory.mktemp(kind, numbered=True)


@pytest.fixture(scope="module")
def zk_server(tmp_path_factory):
    srv = start_server("zookeeper", workdir=_workdir(tmp_path_factory, "zookeeper"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def zooid_server(tmp_path_factory):
    srv = start_server("zooid", workdir=_workdir(tmp_path_factory, "zooid"))
    yield srv
    srv.stop()


@pytest.fixture(params=KINDS)
def server(request) -> Server:
    """Single-server tests: runs once against each implementation."""
    srv = request.getfixturevalue("zk_server" if request.param == "zookeeper"
                                  else "zooid_server")
    srv.check_alive()
    return srv


@pytest.fixture
def both(request) -> dict[str, Server]:
    """Differential tests: {'zookeeper': Server, 'zooid': Server} (only 'zookeeper' when
    ZOOID_INTEROP_ONLY_ZK=1)."""
    out = {"zookeeper": request.getfixturevalue("zk_server")}
    if not ONLY_ZK:
        out["zooid"] = request.getfixturevalue("zooid_server")
    for srv in out.values():
        srv.check_alive()
    return out


@pytest.fixture
def special_servers(tmp_path_factory):
    """Factory for servers with a special config, started per test and killed at the
    end: special_servers(cfg) -> {'zookeeper': Server, 'zooid': Server}. Both are
    started before either is awaited, to halve the start-up time."""
    started: list[Server] = []

    def make(cfg: dict[str, str | None]) -> dict[str, Server]:
        kinds = ["zookeeper"] if ONLY_ZK else KINDS
        srvs = {k: Server(k, cfg, _workdir(tmp_path_factory, k)) for k in kinds}
        # Launch all first, then wait: JVM start-up overlaps with the other start.
        for k, s in srvs.items():
            cmd = s.command()
            s._logf = open(s.log_path, "ab")
            s.proc = subprocess.Popen(cmd, stdout=s._logf, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=str(s.workdir),
                                      start_new_session=True)
            _LIVE[s.proc.pid] = s
            started.append(s)
        for k, s in srvs.items():
            try:
                s.wait_ready()
            except BaseException as e:
                raise RuntimeError(f"{k} did not become ready: {e}\n{s.log_tail()}")
        return srvs

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def uniq(request) -> str:
    """A znode path unique to this test (the same on both servers)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.originalname or request.node.name)
    return "/" + name
