"""Apache ZooKeeper's own Java CLI (org.apache.zookeeper.ZooKeeperMain from Debian's
zookeeper package, i.e. what zkCli.sh runs) against each server; the normalized outputs
of the Zooid run must equal those of the ZooKeeper run.

Each test is parametrized by the `server` fixture. The ZooKeeper run's output is cached
per module; the Zooid run compares itself with it (running ZooKeeper's side on demand).
"""

from __future__ import annotations

import re
import subprocess


from conftest import java_bin, zk_classpath
from harness import assert_same

CLI_TIMEOUT = 60

# ZooKeeper's results, per test name
_zk_results: dict[str, dict] = {}


def cli(hostport: str, args: list[str] | None = None, stdin: str | None = None) -> dict:
    cmd = [java_bin(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m",
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=off", "-Dzookeeper.sasl.client=false",
           "-cp", zk_classpath(), "org.apache.zookeeper.ZooKeeperMain",
           "-server", hostport, *(args or [])]
    p = subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True,
                       text=True, timeout=CLI_TIMEOUT)
    return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}


class _Hex:
    """Replace 0x... values (zxids, session ids) by ordinal labels in order of first
    appearance, so that equal values stay equal and nothing else is kept."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, m: re.Match) -> str:
        v = m.group(0)
        if v == "0x0":
            return v
        if v not in self.seen:
            self.seen[v] = f"0x<{len(self.seen) + 1}>"
        return self.seen[v]


def normalize(text: str, hexmap: _Hex) -> list[str]:
    t = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    t = re.sub(r"^(ctime|mtime) = .*$", r"\1 = <date>", t, flags=re.M)
    t = re.sub(r"0x[0-9a-fA-F]+", hexmap, t)
    t = re.sub(r"(ZooKeeper CLI version: )\S+.*", r"\1<version>", t)
    return t.splitlines()


def normalize_run(res: dict) -> dict:
    """The CLI's event thread prints watch events ("WATCHER::", blank, "WatchedEvent ...")
    concurrently with the main thread's command output, so the two are separated (each
    keeps its own order), and the final "Closed" event, printed or not depending on how
    fast the JVM exits, is dropped."""
    h = _Hex()  # one map per run: stdout first, then stderr
    out, events = [], []
    for line in normalize(res["stdout"], h):
        if line.startswith("WatchedEvent "):
            if "state:Closed" not in line:
                events.append(line)
        elif line not in ("WATCHER::", ""):
            out.append(line)
    return {"rc": res["rc"], "stdout": out, "events": events,
            "stderr": normalize(res["stderr"], h)}


def check(request, server, name: str, produce) -> dict:
    """Run `produce(hostport)` on this server; on the Zooid run compare with ZooKeeper."""
    mine = produce(server.hostport)
    if server.kind == "zookeeper":
        _zk_results[name] = mine
        return mine
    if name not in _zk_results:
        _zk_results[name] = produce(request.getfixturevalue("zk_server").hostport)
    assert_same(_zk_results[name], mine)
    return mine


BATCH = """create {R}
create {R}/a hello
create -e {R}/eph e
create -s {R}/seq- s
create -s -e {R}/eseq- s
create -t 60000 {R}/ttl t
create -c {R}/cont
create {R}/a again
create {R}/nope/x
create bad-path
create {R}/eph/child
get {R}/a
get -s {R}/a
get {R}/missing
set {R}/a world
set -s {R}/a w2
set -v 0 {R}/a w3
stat {R}/a
stat {R}/missing
ls {R}
ls -s {R}
ls -R {R}
getAcl {R}/a
setAcl {R}/a world:anyone:cdrwa
setAcl -s {R}/a world:anyone:rwcda
getAcl -s {R}/a
setAcl -v 0 {R}/a world:anyone:r
addauth digest u:p
create {R}/d secret auth:u:p:cdrwa
getAcl {R}/d
create {R}/ipnode x ip:127.0.0.1:r
getAcl {R}/ipnode
create {R}/empty-acl x world:anyone:
getAllChildrenNumber {R}
sync {R}
addWatch {R}/a
addWatch -m PERSISTENT_RECURSIVE {R}
set {R}/a via-watch
create {R}/a/under
removewatches {R}/a
removewatches {R}
removewatches {R}
get -w {R}/a
set {R}/a fire
stat -w {R}/a
delete {R}/a/under
ls -w {R}/a
create {R}/a/again
delete {R}
delete -v 5 {R}/a/again
delete {R}/a/again
delete {R}/a
deleteall {R}
ls {R}
version
bogus
quit
"""


def test_cli_batch(request, server, uniq):
    """One CLI process reads a whole script of commands from stdin."""
    res = check(request, server, "batch",
                lambda hp: normalize_run(cli(hp, stdin=BATCH.format(R=uniq))))
    if server.kind == "zookeeper":
        out = "\n".join(res["stdout"])
        assert "hello" in out and f"Node already exists: {uniq}/a" in res["stderr"]


SINGLE = [
    ["create", "{R}", "top"],
    ["create", "{R}", "again"],
    ["get", "-s", "{R}"],
    ["get", "{R}/missing"],
    ["set", "-v", "7", "{R}", "nope"],
    ["delete", "{R}"],
]


def test_cli_single_commands(request, server, uniq):
    """One CLI process per command (exit codes included)."""

    def produce(hp):
        return [normalize_run(cli(hp, [a.format(R=uniq) for a in args])) for args in SINGLE]

    res = check(request, server, "single", produce)
    if server.kind == "zookeeper":
        assert [r["rc"] for r in res][:2] == [0, 1]
