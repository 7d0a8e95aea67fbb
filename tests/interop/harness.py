"""Differential harness: run one scripted client session against each server, normalize
the results so that only server-independent facts remain, and compare.

Normalization keeps relations and drops absolute values:
  * zxids become offsets from the script's base zxid (`ctx.norm.base`, normally the czxid
    of the test's root znode): "z+3". Zero stays 0. So "mzxid == czxid", "a failed write
    consumed a zxid" and "pzxid moved to the delete's zxid" all survive.
  * times become "now" when within 10 minutes of the wall clock (0 stays 0), and
    Stat dicts carry "mtime>=ctime".
  * session ids become labels in the order the script opened its sessions ("s1", "s2");
    an unknown non-zero id becomes "s?".
  * bytes become {"b": <latin-1 text>}.

Set ZOOID_INTEROP_DUMP=<dir> to write ZooKeeper's normalized results there as JSON
(one file per test): a golden record of Apache ZooKeeper's answers.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import time
import traceback
from dataclasses import is_dataclass
from typing import Any, Callable

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.protocol.states import ZnodeStat

import zkwire

KAZOO_TIMEOUT = 10.0


class Norm:
    def __init__(self) -> None:
        self.base: int | None = None
        self.sessions: dict[int, str] = {}

    # -- primitives

    def z(self, zxid: int):
        if zxid == 0 or zxid is None:
            return zxid
        if self.base is None:
            return "z?"
        d = zxid - self.base
        return f"z{d:+d}"

    def t(self, ms: int):
        if ms == 0:
            return 0
        now = time.time() * 1000
        return "now" if abs(now - ms) < 600_000 else f"time:{ms}"

    def sid(self, s: int):
        if s == 0:
            return 0
        return self.sessions.get(s, "s?")

    def add_session(self, sid: int) -> str:
        if sid not in self.sessions:
            self.sessions[sid] = f"s{len(self.sessions) + 1}"
        return self.sessions[sid]

    def stat(self, st) -> dict:
        return {
            "czxid": self.z(st.czxid),
            "mzxid": self.z(st.mzxid),
            "pzxid": self.z(st.pzxid),
            "ctime": self.t(st.ctime),
            "mtime": self.t(st.mtime),
            "mtime>=ctime": st.mtime >= st.ctime,
            "version": st.version,
            "cversion": st.cversion,
            "aversion": st.aversion,
            "ephemeralOwner": self.sid(st.ephemeralOwner),
            "dataLength": st.dataLength,
            "numChildren": st.numChildren,
        }

    def event(self, ev: zkwire.Event) -> list:
        return ["event", _name(zkwire.EventType, ev.type), _name(zkwire.KeeperState, ev.state),
                ev.path]

    # -- generic

    def __call__(self, x: Any) -> Any:
        return self.val(x)

    def val(self, x: Any) -> Any:
        if isinstance(x, (zkwire.Stat, ZnodeStat)):
            return self.stat(x)
        if isinstance(x, zkwire.Event):
            return self.event(x)
        if isinstance(x, (bytes, bytearray)):
            return {"b": bytes(x).decode("latin-1")}
        if isinstance(x, dict):
            return {str(k): self.val(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [self.val(v) for v in x]
        if is_dataclass(x):
            return self.val(vars(x))
        if hasattr(x, "_asdict"):  # namedtuples (kazoo ACL, Id, WatchedEvent)
            return self.val(dict(x._asdict()))
        return x


def _name(cls, code: int) -> str:
    for k, v in vars(cls).items():
        if k.isupper() and v == code:
            return k
    return str(code)


def err(code: int) -> str:
    """Error code as a readable token, e.g. 'NO_NODE(-101)'."""
    return "OK" if code == 0 else f"{zkwire.Err.name(code)}({code})"


class Ctx:
    """What a script gets: the server, a normalizer, and client factories whose clients
    are all closed when the script ends."""

    def __init__(self, server, root: str) -> None:
        self.server = server
        self.kind = server.kind
        self.hostport = server.hostport
        self.root = root
        self.norm = Norm()
        self._kazoos: list[KazooClient] = []
        self._raws: list[zkwire.Conn] = []

    # -- clients

    def kazoo(self, timeout: float = KAZOO_TIMEOUT, **kw) -> KazooClient:
        kc = KazooClient(hosts=self.hostport, timeout=timeout, **kw)
        kc.start(timeout=KAZOO_TIMEOUT)
        self._kazoos.append(kc)
        self.norm.add_session(kc.client_id[0])
        return kc

    def raw(self, timeout_ms: int = 10000, **kw) -> zkwire.Conn:
        c = zkwire.Conn(self.hostport, timeout_ms, **kw)
        self._raws.append(c)
        if c.session_id:
            self.norm.add_session(c.session_id)
        return c

    def cleanup(self) -> None:
        for c in self._raws:
            try:
                c.close()
            except Exception:
                pass
        for kc in self._kazoos:
            try:
                kc.stop()
                kc.close()
            except Exception:
                pass

    # -- result helpers

    def k(self, fn: Callable, *a, **kw):
        """Call a kazoo method; return ['ok', normalized value] or ['err', ExcName]."""
        try:
            return ["ok", self.norm(fn(*a, **kw))]
        except KazooException as e:
            return ["err", type(e).__name__]

    def r(self, res):
        """Normalize a zkwire (err, value) pair: ['OK', value] / ['NO_NODE(-101)', None]."""
        e, v = res
        return [err(e), self.norm(v)]

    def set_base(self, zxid: int) -> None:
        self.norm.base = zxid

    def make_root(self, conn: zkwire.Conn | None = None, data: bytes = b"") -> None:
        """Create the test's root znode (persistent) and take its czxid as the base."""
        c = conn or self.raw()
        e, v = c.create(self.root, data)
        assert e == 0, f"creating test root {self.root} on {self.kind}: {err(e)}"
        self.set_base(v[1].czxid)


def _dump(name: str, result: Any) -> None:
    d = os.environ.get("ZOOID_INTEROP_DUMP")
    if not d:
        return
    os.makedirs(d, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    with open(os.path.join(d, safe + ".json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=False, default=repr)
        f.write("\n")


def _lines(result: Any) -> list[str]:
    return json.dumps(result, indent=1, default=repr).splitlines()


def compare(both: dict, script: Callable[[Ctx], Any], root: str, name: str | None = None,
            zk39: Callable[[Any], None] | None = None):
    """Run `script` against every server in `both`, assert that the normalized results
    are identical, and return ZooKeeper's result. An exception on the ZooKeeper side is
    a broken test and is raised; on the Zooid side it becomes part of the result.

    The reference server is Debian's ZooKeeper 3.8.0; Zooid implements the 3.9 API.
    Where 3.9.5 answers differently from 3.8.0, `zk39` edits a copy of 3.8.0's result
    into 3.9.5's answer before the comparison. Every such edit names the ZooKeeper
    change and source line that makes the difference (see `ZK39` below)."""
    __tracebackhide__ = True
    results = {}
    for kind, srv in both.items():
        ctx = Ctx(srv, root)
        try:
            results[kind] = ctx.norm(script(ctx))
        except Exception as e:  # noqa: BLE001
            if kind == "zookeeper":
                raise
            results[kind] = {"EXCEPTION": f"{type(e).__name__}: {e}",
                             "trace": traceback.format_exc().splitlines()[-6:],
                             "server_log": str(srv.log_path),
                             "server_alive": srv.proc is not None and srv.proc.poll() is None}
        finally:
            ctx.cleanup()
    _dump(name or root.strip("/"), results["zookeeper"])
    if "zooid" in results:
        expected = results["zookeeper"]
        if zk39 is not None:
            expected = json.loads(json.dumps(expected))
            zk39(expected)
        assert_same(expected, results["zooid"])
    return results["zookeeper"]


def assert_same(zk: Any, zooid: Any, max_lines: int = 150) -> None:
    """Assert equality; on a difference, fail with a unified diff (ZooKeeper = '-',
    Zooid = '+')."""
    __tracebackhide__ = True
    a, b = _lines(zk), _lines(zooid)
    if a == b:
        return
    diff = list(difflib.unified_diff(a, b, "zookeeper", "zooid", n=3, lineterm=""))
    if len(diff) > max_lines:
        diff = diff[:max_lines] + [f"... ({len(diff) - max_lines} more diff lines)"]
    raise AssertionError("Zooid differs from Apache ZooKeeper:\n" + "\n".join(diff))


def run_on(server, script: Callable[[Ctx], Any], root: str):
    """Run a script against one server (for `server`-parametrized tests)."""
    ctx = Ctx(server, root)
    try:
        return ctx.norm(script(ctx))
    finally:
        ctx.cleanup()
