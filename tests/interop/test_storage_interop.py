"""Apache ZooKeeper 3.8 starts on a data directory that Zooid's storage crate wrote
(txn logs with tree digests, snapshots, a torn tail already cut) and serves exactly the
tree Zooid built: data, Stat, ACLs, children, sessions and ephemerals, and the next zxid.

The directory comes from `cargo run -p zooid-storage --example write-datadir -- DIR`,
which also writes DIR/expected.json (the tree as zooid-tree applied the same txns).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from conftest import REPO_ROOT, Server

CARGO_TIMEOUT = 600  # seconds: may build the example from scratch


def write_datadir(datadir: Path) -> dict:
    subprocess.run(
        ["cargo", "run", "-q", "-p", "zooid-storage", "--example", "write-datadir", "--",
         str(datadir)],
        cwd=REPO_ROOT, check=True, timeout=CARGO_TIMEOUT)
    return json.loads((datadir / "expected.json").read_text())


@pytest.fixture(scope="module")
def zk_on_zooid_files(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("storage-interop", numbered=True)
    srv = Server("zookeeper", workdir=workdir)
    expected = write_datadir(srv.datadir)
    srv.start()
    client = KazooClient(hosts=srv.hostport, timeout=10.0)
    client.start(timeout=10.0)
    client.add_auth(*expected["auth"])
    yield srv, client, expected
    client.stop()
    client.close()
    srv.stop()


def stat_dict(st) -> dict:
    return {
        "czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid,
        "ctime": st.ctime, "mtime": st.mtime, "version": st.version,
        "cversion": st.cversion, "aversion": st.aversion,
        "ephemeralOwner": st.ephemeralOwner, "dataLength": st.dataLength,
        "numChildren": st.numChildren,
    }


def redacted(acl: list[dict]) -> list[dict]:
    """ZooKeeper shows digest ids as "user:x" to a client without ADMIN on the node
    (ZOOKEEPER-1392): compare digest ids by user name only."""
    out = []
    for a in acl:
        a = dict(a)
        if a["scheme"] == "digest":
            a["id"] = a["id"].split(":")[0]
        out.append(a)
    return out


def test_every_node_reads_as_zooid_wrote_it(zk_on_zooid_files):
    srv, client, expected = zk_on_zooid_files
    assert len(expected["nodes"]) > 10
    for node in expected["nodes"]:
        path = node["path"]
        data, st = client.get(path)
        assert data == base64.b64decode(node["data"]), path
        assert stat_dict(st) == node["stat"], path
        acl, _ = client.get_acls(path)
        got_acl = [{"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id} for a in acl]
        assert redacted(got_acl) == redacted(node["acl"]), path
        assert sorted(client.get_children(path)) == sorted(node["children"]), path


def test_sessions_and_the_next_zxid_carry_over(zk_on_zooid_files):
    srv, client, expected = zk_on_zooid_files
    # The ephemeral's session (restored from the snapshot and log) still owns it.
    owners = {n["path"]: n["stat"]["ephemeralOwner"] for n in expected["nodes"]}
    assert owners["/app/eph"] in [s for s, _ in expected["sessions"]]
    assert client.exists("/gone") is None  # its session closed in the log
    # New writes continue after the last logged zxid: ZooKeeper's first new txn (a
    # session of the readiness probe or ours) starts a log file named after it.
    _, st = client.create("/after-restart", b"x", include_data=True)
    assert st.czxid > expected["last_zxid"]
    first_new = srv.datadir / "version-2" / f"log.{expected['last_zxid'] + 1:x}"
    assert first_new.exists(), sorted(p.name for p in first_new.parent.iterdir())


def test_zookeeper_reports_no_digest_mismatch_or_error(zk_on_zooid_files):
    srv, client, expected = zk_on_zooid_files
    srv.check_alive()
    log = srv.log_path.read_text(errors="replace")
    assert "Digests are not matching" not in log
    assert "problem reading snap file" not in log
    assert "CRC" not in log
    # ZooKeeper loaded our newest snapshot and replayed the txns after it.
    assert "Reading snapshot" in log, log[-3000:]
