"""Differential tests: the same scripted client sessions against Apache ZooKeeper 3.8 and
Zooid; normalized results must be identical (see harness.py for the normalization).

Each test runs a script against both servers; the script returns a JSON-able record of
everything it observed. Assertions about ZooKeeper's own answers are there only to keep
the scripts honest (they document the spec); the comparison is what tests Zooid.
"""

from __future__ import annotations

import re
import socket
import struct
import time

from kazoo.security import ACL, Id, make_digest_acl, make_digest_acl_credential

import zkwire
from conftest import four_letter
from harness import Ctx, compare, err
from zkwire import CreateMode as CM, Err, Op, Perm

OPEN = zkwire.OPEN_ACL_UNSAFE


# ---------------------------------------------------------------------------
# create


def test_create_modes(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        R = ctx.root
        out = {}
        out["persistent"] = ctx.r(c.create(f"{R}/p", b"data"))
        out["create_v1_reply"] = ctx.r(c.create(f"{R}/p1", b"x", op=Op.CREATE))
        out["ephemeral"] = ctx.r(c.create(f"{R}/e", b"", flags=CM.EPHEMERAL))
        out["seq"] = [ctx.r(c.create(f"{R}/s-", b"", flags=CM.PERSISTENT_SEQUENTIAL))
                      for _ in range(3)]
        out["eseq"] = ctx.r(c.create(f"{R}/es-", b"", flags=CM.EPHEMERAL_SEQUENTIAL))
        # deleting a child bumps cversion: the next sequence number jumps
        out["del"] = ctx.r(c.delete(f"{R}/s-0000000004"))
        out["seq_after_delete"] = ctx.r(c.create(f"{R}/s-", b"", flags=CM.PERSISTENT_SEQUENTIAL))
        # a sequential name with a trailing slash: the sequence becomes the whole name
        out["seq_trailing_slash"] = ctx.r(c.create(f"{R}/", b"", flags=CM.PERSISTENT_SEQUENTIAL))
        # sequence numbers in an empty parent start at 0
        c.create(f"{R}/fresh")
        out["seq_fresh"] = ctx.r(c.create(f"{R}/fresh/n", b"", flags=CM.PERSISTENT_SEQUENTIAL))
        out["root_stat"] = ctx.r(c.exists(R))
        out["children"] = sorted(c.get_children(R)[1])
        return out

    res = compare(both, script, uniq)
    assert res["seq"][0][1][0].endswith("/s-0000000003")  # parent cversion is 3
    assert res["seq_fresh"][1][0].endswith("/fresh/n0000000000")


def test_create_container_and_ttl(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        R = ctx.root
        out = {}
        out["container"] = ctx.r(c.create(f"{R}/c", b"", flags=CM.CONTAINER,
                                          op=Op.CREATE_CONTAINER))
        out["container_child"] = ctx.r(c.create(f"{R}/c/x", b"1"))
        out["container_via_create2"] = ctx.r(c.create(f"{R}/c2", b"", flags=CM.CONTAINER,
                                                      op=Op.CREATE2))
        out["container_via_create"] = ctx.r(c.create(f"{R}/c3", b"", flags=CM.CONTAINER,
                                                     op=Op.CREATE))
        out["container_op_wrong_flags"] = ctx.r(c.create(f"{R}/c4", b"", flags=CM.PERSISTENT,
                                                         op=Op.CREATE_CONTAINER))
        out["ttl"] = ctx.r(c.create(f"{R}/t", b"", flags=CM.PERSISTENT_WITH_TTL, ttl=60000))
        out["ttl_seq"] = ctx.r(c.create(f"{R}/ts-", b"", flags=CM.PERSISTENT_SEQUENTIAL_WITH_TTL,
                                        ttl=60000))
        out["ttl_zero"] = ctx.r(c.create(f"{R}/t0", b"", flags=CM.PERSISTENT_WITH_TTL, ttl=0))
        out["ttl_negative"] = ctx.r(c.create(f"{R}/tn", b"", flags=CM.PERSISTENT_WITH_TTL,
                                             ttl=-5))
        out["ttl_too_big"] = ctx.r(c.create(f"{R}/tb", b"", flags=CM.PERSISTENT_WITH_TTL,
                                            ttl=1 << 40))
        out["ttl_max"] = ctx.r(c.create(f"{R}/tm", b"", flags=CM.PERSISTENT_WITH_TTL,
                                        ttl=(1 << 40) - 1))
        out["ttl_op_plain_flags"] = ctx.r(c.create(f"{R}/tp", b"", flags=CM.PERSISTENT,
                                                   ttl=60000))
        out["ttl_op_ephemeral"] = ctx.r(c.create(f"{R}/te", b"", flags=CM.EPHEMERAL,
                                                 ttl=60000))
        out["ttl_flags_via_create2"] = ctx.r(c.create(f"{R}/t2", b"",
                                                      flags=CM.PERSISTENT_WITH_TTL,
                                                      op=Op.CREATE2))
        out["bad_flags"] = {f: ctx.r(c.create(f"{R}/bad{f}", b"", flags=f))
                            for f in (7, 8, 99, -1)}
        out["children"] = sorted(c.get_children(R)[1])
        # container/TTL nodes carry their kind in ephemeralOwner (high byte 0x80/0xFF)
        out["owners"] = {n: hex(c.exists(f"{R}/{n}")[1].ephemeralOwner)
                         for n in ("c", "t", "c2") if c.exists(f"{R}/{n}")[1]}
        return out

    res = compare(both, script, uniq)
    assert res["container"][0] == "OK" and res["ttl"][0] == "OK"


def test_create_errors(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        R = ctx.root
        out = {}
        out["exists"] = ctx.r(c.create(R))
        out["no_parent"] = ctx.r(c.create(f"{R}/a/b"))
        out["no_parent_seq"] = ctx.r(c.create(f"{R}/a/b", flags=CM.PERSISTENT_SEQUENTIAL))
        c.create(f"{R}/eph", flags=CM.EPHEMERAL)
        out["child_of_ephemeral"] = ctx.r(c.create(f"{R}/eph/x"))
        out["seq_child_of_ephemeral"] = ctx.r(c.create(f"{R}/eph/x", flags=CM.EPHEMERAL_SEQUENTIAL))
        out["empty_acl"] = ctx.r(c.create(f"{R}/acl0", acl=[]))
        out["null_acl"] = ctx.r(c.create(f"{R}/aclnull", acl=None))
        out["unknown_scheme"] = ctx.r(c.create(f"{R}/acl1", acl=[(Perm.ALL, "nosuch", "x")]))
        out["world_not_anyone"] = ctx.r(c.create(f"{R}/acl2", acl=[(Perm.ALL, "world", "x")]))
        out["auth_scheme_unauthenticated"] = ctx.r(c.create(f"{R}/acl3",
                                                            acl=[(Perm.ALL, "auth", "")]))
        out["digest_malformed"] = ctx.r(c.create(f"{R}/acl4", acl=[(Perm.ALL, "digest", "nocolon")]))
        out["ip_malformed"] = ctx.r(c.create(f"{R}/acl5", acl=[(Perm.ALL, "ip", "300.1.2.3")]))
        out["ip_cidr"] = ctx.r(c.create(f"{R}/acl6", acl=[(Perm.ALL, "ip", "127.0.0.0/8")]))
        # No secure port: the x509 provider is not registered.
        out["x509_without_tls"] = ctx.r(c.create(f"{R}/acl9", acl=[(Perm.ALL, "x509", "CN=a")]))
        out["perms_zero"] = ctx.r(c.create(f"{R}/acl7", acl=[(0, "world", "anyone")]))
        out["perms_high_bits"] = ctx.r(c.create(f"{R}/acl8", acl=[(0xFF, "world", "anyone")]))
        out["under_zookeeper"] = ctx.r(c.create("/zookeeper/" + R.strip("/")))
        out["under_zookeeper_delete"] = ctx.r(c.delete("/zookeeper/" + R.strip("/")))
        out["root"] = ctx.r(c.create("/"))
        out["zookeeper_itself"] = ctx.r(c.create("/zookeeper"))
        out["children"] = sorted(c.get_children(R)[1])
        out["acl8"] = ctx.r(c.get_acl(f"{R}/acl8"))
        return out

    res = compare(both, script, uniq)
    assert res["exists"][0] == err(Err.NODE_EXISTS)
    assert res["no_parent"][0] == err(Err.NO_NODE)
    assert res["child_of_ephemeral"][0] == err(Err.NO_CHILDREN_FOR_EPHEMERALS)
    assert res["empty_acl"][0] == err(Err.INVALID_ACL)
    assert res["x509_without_tls"][0] == err(Err.INVALID_ACL)


INVALID_PATHS = [
    "", "a", "a/b", "/a/", "//", "/a//b", "/.", "/..", "/a/.", "/a/..", "/a/./b", "/a/../b",
    "/a\x00b", "/a\x01", "/a\x1f", "/a\x7f", "/a\x9f", "/a\ud7ff", "/a\uf8ff", "/a\ufff0",
    "/a\ufeff", "/a b", "/a\u00a0", "/.a", "/..a", "/a.", "/zookeeper/", "/ ",
    # invalid UTF-8 on the wire: Java decodes each malformed sequence to U+FFFD
    b"/a\xff", b"/a\xed\xa0\x80", b"/a\xc0\x80", b"/a\xe2\x82",
]


def test_invalid_paths(both, uniq):
    """Every kind of malformed path against every path-taking request. ZooKeeper checks
    paths in different places per request, so the answers differ per op."""

    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        c.create(f"{ctx.root}/a")
        out = {}
        for p in INVALID_PATHS:
            # make the paths relative to the test root where they start with '/', so that
            # a path that turns out to be valid does not leak into the shared namespace
            if isinstance(p, bytes):
                q = ctx.root.encode() + p
            elif p.startswith("/") and not p.startswith("/zookeeper"):
                q = ctx.root + p
            else:
                q = p
            row = {}
            row["create"] = ctx.r(c.create(q))
            row["create_seq"] = ctx.r(c.create(q, flags=CM.PERSISTENT_SEQUENTIAL))
            qx = (q + (b"x" if isinstance(q, bytes) else "x")) if q else q
            row["create_v1"] = ctx.r(c.create(qx, op=Op.CREATE))
            row["exists"] = ctx.r(c.exists(q))
            row["get"] = ctx.r(c.get_data(q))
            row["set"] = ctx.r(c.set_data(q, b"v"))
            row["children"] = ctx.r(c.get_children(q))
            row["children2"] = ctx.r(c.get_children2(q))
            row["get_acl"] = ctx.r(c.get_acl(q))
            row["set_acl"] = ctx.r(c.set_acl(q, OPEN))
            row["delete"] = ctx.r(c.delete(q))
            row["sync"] = ctx.r(c.sync(q))
            row["all_children_number"] = ctx.r(c.get_all_children_number(q))
            row["add_watch"] = ctx.r(c.add_watch(q, zkwire.AddWatchMode.PERSISTENT))
            row["remove_watches"] = ctx.r(c.remove_watches(q, zkwire.WatcherType.ANY))
            row["check_version"] = ctx.r(c.multi([(Op.CHECK, zkwire.check_body(q, -1))]))
            out[repr(p)] = row
        out["children_after"] = sorted(c.get_children(ctx.root)[1])
        # '/zookeeper/' + sequential (and + 'x') were accepted: clean up the shared server
        zk_kids = sorted(c.get_children("/zookeeper")[1])
        out["zookeeper_children"] = zk_kids
        for k in zk_kids:
            if k not in ("config", "quota"):
                c.delete("/zookeeper/" + k)
        return out

    res = compare(both, script, uniq)
    assert res["''"]["create"][0] == err(Err.BAD_ARGUMENTS)


# ---------------------------------------------------------------------------
# stat, get/set, delete


def test_stat_lifecycle(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c, b"root-data")
        R = ctx.root
        steps = []

        def snap(label):
            steps.append([label, ctx.r(c.exists(R)), ctx.r(c.exists(f"{R}/child"))])

        snap("created")
        steps.append(["create child", ctx.r(c.create(f"{R}/child", b"12345"))])
        snap("after child create")
        steps.append(["set child", ctx.r(c.set_data(f"{R}/child", b"123"))])
        snap("after child set")
        steps.append(["set root", ctx.r(c.set_data(R, b""))])
        snap("after root set")
        steps.append(["set root again", ctx.r(c.set_data(R, b"abc"))])
        steps.append(["eph child", ctx.r(c.create(f"{R}/eph", b"e", flags=CM.EPHEMERAL))])
        steps.append(["eph stat", ctx.r(c.exists(f"{R}/eph"))])
        steps.append(["grandchild", ctx.r(c.create(f"{R}/child/g"))])
        snap("after grandchild")
        steps.append(["delete grandchild", ctx.r(c.delete(f"{R}/child/g"))])
        snap("after grandchild delete")
        steps.append(["setacl child", ctx.r(c.set_acl(f"{R}/child", OPEN))])
        steps.append(["setacl child again", ctx.r(c.set_acl(f"{R}/child", OPEN, 1))])
        snap("after setacl")
        steps.append(["delete child", ctx.r(c.delete(f"{R}/child"))])
        steps.append(["delete eph", ctx.r(c.delete(f"{R}/eph"))])
        snap("after deletes")
        steps.append(["get root", ctx.r(c.get_data(R))])
        steps.append(["children2 root", ctx.r(c.get_children2(R))])
        # a failed write also consumes a zxid in ZooKeeper: the next create shows it
        steps.append(["failed create", ctx.r(c.create(R))])
        steps.append(["next create", ctx.r(c.create(f"{R}/after-fail"))])
        steps.append(["large data", ctx.r(c.create(f"{R}/big", b"x" * 100000))])
        steps.append(["big stat", ctx.r(c.exists(f"{R}/big"))])
        steps.append(["null data", ctx.r(c.create(f"{R}/nulldata", None))])
        steps.append(["null data get", ctx.r(c.get_data(f"{R}/nulldata"))])
        steps.append(["set null", ctx.r(c.set_data(f"{R}/big", None))])
        steps.append(["get after set null", ctx.r(c.get_data(f"{R}/big"))])
        return steps

    compare(both, script, uniq)


def test_versions_and_deletes(both, uniq):
    def script(ctx: Ctx):
        kc = ctx.kazoo()
        R = ctx.root
        kc.create(R, b"v0")
        ctx.set_base(kc.exists(R).czxid)
        out = []
        out.append(["get", ctx.k(kc.get, R)])
        out.append(["set v0", ctx.k(kc.set, R, b"v1", version=0)])
        out.append(["set v0 again", ctx.k(kc.set, R, b"v2", version=0)])
        out.append(["set v5", ctx.k(kc.set, R, b"v2", version=5)])
        out.append(["set v-1", ctx.k(kc.set, R, b"v2", version=-1)])
        out.append(["set v-2", ctx.k(kc.set, R, b"v3", version=-2)])
        out.append(["get", ctx.k(kc.get, R)])
        kc.create(f"{R}/kid")
        out.append(["delete not empty", ctx.k(kc.delete, R)])
        out.append(["delete bad version", ctx.k(kc.delete, f"{R}/kid", version=3)])
        out.append(["delete v-2", ctx.k(kc.delete, f"{R}/kid", version=-2)])
        out.append(["delete v0", ctx.k(kc.delete, f"{R}/kid", version=0)])
        out.append(["delete missing", ctx.k(kc.delete, f"{R}/kid")])
        out.append(["exists missing", ctx.k(kc.exists, f"{R}/kid")])
        out.append(["get missing", ctx.k(kc.get, f"{R}/kid")])
        out.append(["set missing", ctx.k(kc.set, f"{R}/kid", b"")])
        out.append(["children missing", ctx.k(kc.get_children, f"{R}/kid")])
        out.append(["acls missing", ctx.k(kc.get_acls, f"{R}/kid")])
        out.append(["set acls missing", ctx.k(kc.set_acls, f"{R}/kid", [ACL(31, Id("world", "anyone"))])])
        out.append(["delete root", ctx.k(kc.delete, "/")])
        out.append(["delete /zookeeper", ctx.k(kc.delete, "/zookeeper")])
        out.append(["delete /zookeeper/quota", ctx.k(kc.delete, "/zookeeper/quota")])
        out.append(["delete R", ctx.k(kc.delete, R, version=2)])
        out.append(["exists R", ctx.k(kc.exists, R)])
        return out

    compare(both, script, uniq)


def test_children_and_counts(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        R = ctx.root
        names = ["b", "a", "c", "zz", "a1", "0", "B"]
        for n in names:
            c.create(f"{R}/{n}")
        for n in ("x", "y"):
            c.create(f"{R}/a/{n}")
        c.create(f"{R}/a/x/deep")
        c.create(f"{R}/e1", flags=CM.EPHEMERAL)
        c.create(f"{R}/a/e2", flags=CM.EPHEMERAL)
        c.create(f"{R}/ab", flags=CM.EPHEMERAL)
        out = {}
        e, kids = c.get_children(R)
        out["children_sorted"] = [err(e), sorted(kids)]
        e, v = c.get_children2(R)
        out["children2_sorted"] = [err(e), sorted(v[0]), ctx.norm(v[1])]
        out["leaf"] = ctx.r(c.get_children(f"{R}/zz"))
        out["all_children_number"] = {p: ctx.r(c.get_all_children_number(p))
                                      for p in (R, f"{R}/a", f"{R}/zz", f"{R}/missing")}
        out["ephemerals"] = {}
        for prefix in (R, f"{R}/a", f"{R}/a/", f"{R}/e", R + "/a", "/nonexistent-prefix"):
            e, v = c.get_ephemerals(prefix)
            out["ephemerals"][prefix] = [err(e), sorted(v) if v is not None else None]
        # "/" means all of this session's ephemerals
        e, v = c.get_ephemerals("/")
        out["ephemerals_all"] = [err(e), sorted(v)]
        other = ctx.raw()
        other.create(f"{R}/other-eph", flags=CM.EPHEMERAL)
        out["ephemerals_other_session"] = ctx.r(other.get_ephemerals(R))
        out["ephemerals_bad_prefix"] = ctx.r(c.get_ephemerals("no-slash"))
        out["ephemerals_empty_prefix"] = [err(c.get_ephemerals("")[0]),
                                          sorted(c.get_ephemerals("")[1] or [])]
        # kazoo: get_children with include_data uses getChildren2
        kc = ctx.kazoo()
        kids, st = kc.get_children(R, include_data=True)
        out["kazoo_children2"] = [sorted(kids), ctx.norm(st)]
        return out

    compare(both, script, uniq)


def test_children_order(both, uniq):
    """ZooKeeper returns children in its HashSet iteration order. Recorded for the
    record; compared as-is (a client can observe it)."""

    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        for n in ["b", "a", "c", "zz", "a1", "0", "B", "node-10", "node-2", "x" * 30]:
            c.create(f"{ctx.root}/{n}")
        return {"getChildren": c.get_children(ctx.root)[1],
                "getChildren2": c.get_children2(ctx.root)[1][0]}

    compare(both, script, uniq)


# ---------------------------------------------------------------------------
# multi / multiRead


def _create_op(path, data=b"", flags=0, op=Op.CREATE, ttl=None):
    return (op, zkwire.create_body(path, data, OPEN, flags, ttl))


def _multi_zk39(r):
    """3.9.5's MultiOperationRecord.deserialize passes the op's type (h.getType()) to
    Op.create, so a create2 inside multi stays create2 and its result is a Create2Response
    (type 15, with the Stat at creation); 3.8's Op.create(path, data, acl, flags) turns
    it into a plain create (type 1, path only)."""
    res = r["success"][1]
    ttl_stat = res[4][2][1]
    res[1] = [15, 0, [res[1][2], {**ttl_stat, "dataLength": 1}]]


def test_multi(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        R = ctx.root
        out = {}
        out["success"] = ctx.r(c.multi([
            _create_op(f"{R}/a", b"1"),
            _create_op(f"{R}/b", b"2", op=Op.CREATE2),
            _create_op(f"{R}/s-", b"", flags=CM.PERSISTENT_SEQUENTIAL),
            _create_op(f"{R}/e", b"", flags=CM.EPHEMERAL),
            _create_op(f"{R}/ttl", b"", flags=CM.PERSISTENT_WITH_TTL, op=Op.CREATE_TTL, ttl=5000),
            _create_op(f"{R}/cont", b"", flags=CM.CONTAINER, op=Op.CREATE_CONTAINER),
            (Op.SET_DATA, zkwire.set_data_body(f"{R}/a", b"11", 0)),
            (Op.CHECK, zkwire.check_body(f"{R}/a", 1)),
            (Op.DELETE, zkwire.delete_body(f"{R}/b", 0)),
        ]))
        out["child_of_deleted_in_same_multi"] = ctx.r(c.multi([
            _create_op(f"{R}/gone"),
            (Op.DELETE, zkwire.delete_body(f"{R}/gone")),
            _create_op(f"{R}/gone/child"),
        ]))
        out["success_ok_tail"] = ctx.r(c.multi([
            _create_op(f"{R}/x"),
            _create_op(f"{R}/x/y"),
            (Op.DELETE, zkwire.delete_body(f"{R}/x/y")),
            (Op.SET_DATA, zkwire.set_data_body(f"{R}/x", b"z")),
        ]))
        out["state1"] = [sorted(c.get_children(R)[1]), ctx.r(c.exists(R)),
                         ctx.r(c.get_data(f"{R}/a")), ctx.r(c.get_data(f"{R}/x"))]
        out["fail_middle"] = ctx.r(c.multi([
            _create_op(f"{R}/f1"),
            (Op.SET_DATA, zkwire.set_data_body(f"{R}/a", b"no", 7)),
            _create_op(f"{R}/f2"),
            (Op.DELETE, zkwire.delete_body(f"{R}/nonexistent")),
        ]))
        out["fail_first"] = ctx.r(c.multi([
            (Op.CHECK, zkwire.check_body(f"{R}/nonexistent", -1)),
            _create_op(f"{R}/f3"),
        ]))
        out["fail_last"] = ctx.r(c.multi([
            _create_op(f"{R}/f4"),
            _create_op(f"{R}/f4"),
        ]))
        out["fail_check_version"] = ctx.r(c.multi([
            (Op.CHECK, zkwire.check_body(f"{R}/a", 0)),
        ]))
        out["fail_not_empty"] = ctx.r(c.multi([(Op.DELETE, zkwire.delete_body(R))]))
        out["fail_bad_path"] = ctx.r(c.multi([_create_op(f"{R}/ok"), _create_op("bad")]))
        out["fail_bad_acl"] = ctx.r(c.multi([
            (Op.CREATE, zkwire.create_body(f"{R}/noacl", b"", [], 0))]))
        out["fail_ephemeral_parent"] = ctx.r(c.multi([_create_op(f"{R}/e/child")]))
        out["empty"] = ctx.r(c.multi([]))
        rep = c.call(Op.MULTI, zkwire.multi_body([(Op.GET_DATA, zkwire.path_watch(f"{R}/a"))]))
        out["read_op_in_multi"] = [err(rep.err), rep.body.hex()]
        rep = c.call(Op.MULTI, zkwire.multi_body([_create_op(f"{R}/m1"), (999, b"")]))
        out["unknown_op_in_multi"] = [err(rep.err), rep.body.hex()]
        rep = c.call(Op.MULTI, b"\x00\x00\x00\x01")
        out["truncated_multi"] = [err(rep.err), rep.body.hex()]
        out["state2"] = [sorted(c.get_children(R)[1]), ctx.r(c.exists(R))]
        # a create after the failed multis shows how many zxids they consumed
        out["next_create"] = ctx.r(c.create(f"{R}/after"))
        # kazoo's transaction API
        kc = ctx.kazoo()
        t = kc.transaction()
        t.create(f"{R}/k1", b"k")
        t.set_data(f"{R}/k1", b"kk")
        t.check(f"{R}/k1", 1)
        t.delete(f"{R}/k1")
        out["kazoo_txn_ok"] = ctx.norm(t.commit())
        t = kc.transaction()
        t.create(f"{R}/k2", b"k")
        t.check(f"{R}/a", 99)
        t.create(f"{R}/k3", b"k")
        out["kazoo_txn_fail"] = [type(x).__name__ if isinstance(x, Exception) else ctx.norm(x)
                                 for x in t.commit()]
        return out

    res = compare(both, script, uniq, zk39=_multi_zk39)
    # ZooKeeper answers a failed multi with err OK in the reply header: the errors are
    # in the per-op results (ErrorResult: OK before, the error, RUNTIME_INCONSISTENCY after)
    assert res["fail_middle"][0] == "OK"


def test_multi_read(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c, b"rootdata")
        R = ctx.root
        c.create(f"{R}/a", b"A")
        c.create(f"{R}/b", b"B")
        out = {}
        out["read"] = ctx.r(c.multi_read([
            (Op.GET_DATA, zkwire.path_watch(R)),
            (Op.GET_CHILDREN, zkwire.path_watch(f"{R}/a")),
            (Op.GET_DATA, zkwire.path_watch(f"{R}/missing")),
            (Op.GET_CHILDREN, zkwire.path_watch(f"{R}/missing")),
            (Op.GET_DATA, zkwire.path_watch(f"{R}/b")),
        ]))
        e, v = c.multi_read([(Op.GET_CHILDREN, zkwire.path_watch(R))])
        out["children"] = [err(e), [[t, x, sorted(p)] for t, x, p in v]]
        out["empty"] = ctx.r(c.multi_read([]))
        rep = c.call(Op.MULTI_READ, zkwire.multi_body([(Op.CREATE, zkwire.create_body(f"{R}/w"))]))
        out["write_op"] = [err(rep.err), rep.body.hex()]
        rep = c.call(Op.MULTI_READ, zkwire.multi_body([(Op.EXISTS, zkwire.path_watch(R))]))
        out["exists_op"] = [err(rep.err), rep.body.hex()]
        # ZooKeeper drops the watch flag of multiRead ops (Op.GetData/GetChildren carry only
        # the path): no watch is set
        c.multi_read([(Op.GET_DATA, zkwire.path_watch(f"{R}/a", True)),
                      (Op.GET_CHILDREN, zkwire.path_watch(R, True))])
        other = ctx.raw()
        other.set_data(f"{R}/a", b"A2")
        other.create(f"{R}/c")
        c.drain(0.5)
        out["events"] = ctx.norm(c.events)
        out["exists_after"] = ctx.r(c.exists(f"{R}/w"))
        return out

    compare(both, script, uniq)


# ---------------------------------------------------------------------------
# ACLs and auth


DIGEST_USER = ("alice", "secret")


def _whoami(ctx, conn):
    """whoAmI, sorted: ZooKeeper lists a connection's identities in hash-set order (and the
    'auth' ACL scheme expands to them in that order), which is not worth copying."""
    e, v = conn.who_am_i()
    return [err(e), sorted(v) if v is not None else None]


def _acl_zk39(r):
    """3.9.5's FinalRequestProcessor checks READ on an existing node for exists (the
    `zks.checkACL(..., ZooDefs.Perms.READ, ...)` in `case OpCode.exists`, also in 3.8.4
    and 3.7.3); 3.8.0 answered exists to anyone. So wherever getData is refused for lack
    of READ, exists is refused too."""
    def walk(v):
        if isinstance(v, dict):
            if v.get("exists") == "OK" and v.get("get") == "NO_AUTH(-102)":
                v["exists"] = "NO_AUTH(-102)"
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(r)


def test_acl_enforcement(both, uniq):
    def script(ctx: Ctx):
        owner = ctx.raw()
        ctx.make_root(owner)
        R = ctx.root
        out = {}
        cred = f"{DIGEST_USER[0]}:{DIGEST_USER[1]}".encode()
        digest_id = make_digest_acl_credential(*DIGEST_USER)
        out["auth"] = ctx.r(owner.add_auth("digest", cred))
        out["whoami_owner"] = _whoami(ctx, owner)
        # one node per permission missing
        acls = {
            "digest_all": [(Perm.ALL, "digest", digest_id)],
            "world_read": [(Perm.READ, "world", "anyone")],
            "world_no_read": [(Perm.ALL & ~Perm.READ, "world", "anyone")],
            "world_no_write": [(Perm.ALL & ~Perm.WRITE, "world", "anyone")],
            "world_no_create": [(Perm.ALL & ~Perm.CREATE, "world", "anyone")],
            "world_no_delete": [(Perm.ALL & ~Perm.DELETE, "world", "anyone")],
            "world_no_admin": [(Perm.ALL & ~Perm.ADMIN, "world", "anyone")],
            "world_admin_only": [(Perm.ADMIN, "world", "anyone")],
            "ip_local": [(Perm.ALL, "ip", "127.0.0.1")],
            "ip_cidr": [(Perm.ALL, "ip", "127.0.0.0/8")],
            "ip_other": [(Perm.ALL, "ip", "10.1.2.3")],
            "auth_scheme": [(Perm.ALL, "auth", "")],
            "auth_scheme_with_id": [(Perm.READ, "auth", "ignored-id")],
            "mixed": [(Perm.READ, "world", "anyone"), (Perm.ALL, "digest", digest_id)],
        }
        out["create"] = {}
        for name, acl in acls.items():
            out["create"][name] = ctx.r(owner.create(f"{R}/{name}", b"d", acl=acl))
            # a child to delete, created while the owner still can
            owner.create(f"{R}/{name}/kid", b"")
        stranger = ctx.raw()
        out["whoami_stranger"] = _whoami(ctx, stranger)
        rows = {}
        for name in acls:
            p = f"{R}/{name}"
            row = {}
            row["exists"] = err(stranger.exists(p)[0])
            row["get"] = err(stranger.get_data(p)[0])
            row["children"] = err(stranger.get_children(p)[0])
            row["children2"] = err(stranger.get_children2(p)[0])
            row["get_acl"] = ctx.r(stranger.get_acl(p))
            row["set"] = err(stranger.set_data(p, b"x")[0])
            row["create_child"] = err(stranger.create(f"{p}/new")[0])
            row["delete_child"] = err(stranger.delete(f"{p}/kid")[0])
            row["set_acl"] = err(stranger.set_acl(p, OPEN, -1)[0])
            row["all_children_number"] = err(stranger.get_all_children_number(p)[0])
            row["add_watch"] = err(stranger.add_watch(p, zkwire.AddWatchMode.PERSISTENT)[0])
            row["owner_get_acl"] = ctx.r(owner.get_acl(p))
            rows[name] = row
        out["stranger"] = rows
        # the owner (digest-authenticated) on the digest node
        p = f"{R}/digest_all"
        out["owner_get"] = ctx.r(owner.get_data(p))
        out["owner_set"] = ctx.r(owner.set_data(p, b"mine"))
        # setACL with aversion
        out["setacl_v0"] = ctx.r(owner.set_acl(f"{R}/mixed", acls["mixed"], 0))
        out["setacl_v0_again"] = ctx.r(owner.set_acl(f"{R}/mixed", acls["mixed"], 0))
        out["setacl_empty"] = ctx.r(owner.set_acl(f"{R}/mixed", [], -1))
        out["setacl_bad_scheme"] = ctx.r(owner.set_acl(f"{R}/mixed", [(31, "nosuch", "x")], -1))
        # a second client authenticating as the same user gets in
        friend = ctx.raw()
        friend.add_auth("digest", cred)
        out["friend_get"] = ctx.r(friend.get_data(p))
        # wrong password: auth itself succeeds (digest never fails), access does not
        liar = ctx.raw()
        out["liar_auth"] = ctx.r(liar.add_auth("digest", b"alice:wrong"))
        out["liar_get"] = ctx.r(liar.get_data(p))
        out["liar_whoami"] = _whoami(ctx, liar)
        # ip scheme auth packet
        ipc = ctx.raw()
        out["ip_auth_packet"] = ctx.r(ipc.add_auth("ip", b"127.0.0.1"))
        # multiple identities + 'auth' scheme
        multi = ctx.raw()
        multi.add_auth("digest", b"bob:pw1")
        multi.add_auth("digest", b"carol:pw2")
        multi.add_auth("digest", b"bob:pw1")
        out["whoami_multi"] = _whoami(ctx, multi)
        out["auth_multi_create"] = ctx.r(multi.create(f"{R}/multi-auth", acl=[(Perm.READ | Perm.ADMIN, "auth", "")]))
        e, (acl, st) = multi.get_acl(f"{R}/multi-auth")
        out["auth_multi_acl"] = [err(e), sorted(acl), ctx.norm(st)]
        out["no_colon_auth"] = ctx.r(multi.add_auth("digest", b"nocolon"))
        out["whoami_multi_after"] = _whoami(ctx, multi)
        return out

    res = compare(both, script, uniq, zk39=_acl_zk39)
    assert res["stranger"]["digest_all"]["get"] == err(Err.NO_AUTH)


def test_auth_failed(both, uniq):
    def script(ctx: Ctx):
        out = {}
        for scheme, cred in (("nosuch", b"x"), ("sasl", b"x"), ("super", b"x"),
                             ("", b""), ("world", b"anyone"), ("x509", b"")):
            c = ctx.raw()
            try:
                rep = c.call(Op.AUTH, zkwire.auth_body(scheme, cred), xid=zkwire.Xid.AUTH)
                row = {"reply": [rep.xid, err(rep.err), rep.zxid == 0]}
            except zkwire.ConnectionClosed:
                row = {"reply": "closed"}
            row["after"] = zkwire.wait_closed(c.sock, 1.0)
            row["events"] = ctx.norm(c.events)
            c.abandon()
            out[scheme or "<empty>"] = row
        # kazoo surfaces it as AuthFailedError
        kc = ctx.kazoo()
        try:
            kc.add_auth("nosuch", "x")
            out["kazoo"] = "ok"
        except Exception as e:  # noqa: BLE001
            out["kazoo"] = type(e).__name__
        return out

    res = compare(both, script, uniq)
    assert res["nosuch"]["reply"][1] == err(Err.AUTH_FAILED)


# ---------------------------------------------------------------------------
# watches


def test_one_shot_watches(both, uniq):
    def script(ctx: Ctx):
        w1 = ctx.raw()
        ctx.make_root(w1)
        R = ctx.root
        w2 = ctx.raw()
        writer = ctx.raw()
        out = {}
        w1.create(f"{R}/d", b"0")
        w1.create(f"{R}/k")
        # w1: data watch on d, exists watch on missing m, child watch on k and R
        out["w1_get"] = ctx.r(w1.get_data(f"{R}/d", True))
        out["w1_exists_missing"] = ctx.r(w1.exists(f"{R}/m", True))
        out["w1_children_k"] = ctx.r(w1.get_children(f"{R}/k", True))
        out["w1_children_R"] = ctx.r(w1.get_children(R, True))
        # w2: exists watch on d (existing), data + child watch on k
        out["w2_exists_d"] = ctx.r(w2.exists(f"{R}/d", True))
        out["w2_get_k"] = ctx.r(w2.get_data(f"{R}/k", True))
        out["w2_children_k"] = ctx.r(w2.get_children(f"{R}/k", True))
        # the writer fires them: each watch once
        writer.set_data(f"{R}/d", b"1")
        writer.set_data(f"{R}/d", b"2")
        writer.create(f"{R}/m")
        writer.create(f"{R}/k/c1")
        writer.create(f"{R}/k/c2")
        writer.delete(f"{R}/k/c1")
        writer.delete(f"{R}/k/c2")
        writer.delete(f"{R}/k")
        w1.wait_events(4)
        w2.wait_events(3)
        w1.drain(0.3)
        w2.drain(0.1)
        out["w1_events"] = ctx.norm(w1.events)
        out["w2_events"] = ctx.norm(w2.events)
        # same client holding data and exists watch on one node gets one event
        w2.events.clear()
        w2.get_data(f"{R}/m", True)
        w2.exists(f"{R}/m", True)
        w2.get_children(f"{R}/m", True)
        writer.delete(f"{R}/m")
        w2.wait_events(1)
        w2.drain(0.3)
        out["w2_delete_with_three_watches"] = ctx.norm(w2.events)
        # watches on a missing node via getData (NoNode) are not set
        w2.events.clear()
        out["get_missing_watch"] = ctx.r(w2.get_data(f"{R}/never", True))
        out["children_missing_watch"] = ctx.r(w2.get_children(f"{R}/never", True))
        writer.create(f"{R}/never")
        w2.drain(0.3)
        out["no_event_for_failed_watch"] = ctx.norm(w2.events)
        return out

    res = compare(both, script, uniq)
    assert len(res["w1_events"]) == 4


def test_watch_event_order(both, uniq):
    """The order of events within one connection, and of events vs the reply of the write
    that fired them (same session), and a multi firing several watches."""

    def script(ctx: Ctx):
        a = ctx.raw()
        ctx.make_root(a)
        R = ctx.root
        b = ctx.raw()
        out = {}
        a.create(f"{R}/x", b"")
        a.create(f"{R}/x/y", b"")
        # a watches everything around x/y; b deletes y then x
        a.get_data(f"{R}/x/y", True)
        a.get_children(f"{R}/x/y", True)
        a.get_children(f"{R}/x", True)
        a.get_data(f"{R}/x", True)
        a.get_children(R, True)
        a.log.clear()
        b.delete(f"{R}/x/y")
        b.delete(f"{R}/x")
        a.wait_events(4)
        a.drain(0.3)
        out["delete_order"] = ctx.norm(a.events)
        # the session's own write: event arrives before the write's reply
        a.events.clear()
        a.create(f"{R}/s", b"")
        a.get_data(f"{R}/s", True)
        a.log.clear()
        a.set_data(f"{R}/s", b"1")
        out["own_write_log"] = [[x[0], x[1].type if x[0] == "event" else err(x[2])]
                                for x in a.log]
        # a multi touching several watched nodes: events in op order
        a.events.clear()
        a.create(f"{R}/m1")
        a.create(f"{R}/m2")
        a.get_data(f"{R}/m1", True)
        a.get_data(f"{R}/m2", True)
        a.exists(f"{R}/m3", True)
        a.get_children(R, True)
        b.multi([(Op.SET_DATA, zkwire.set_data_body(f"{R}/m2", b"2")),
                 _create_op(f"{R}/m3"),
                 (Op.DELETE, zkwire.delete_body(f"{R}/m1"))])
        a.wait_events(4)
        a.drain(0.3)
        out["multi_order"] = ctx.norm(a.events)
        # a failed multi fires nothing
        a.events.clear()
        a.get_data(f"{R}/m2", True)
        b.multi([(Op.SET_DATA, zkwire.set_data_body(f"{R}/m2", b"3")),
                 (Op.CHECK, zkwire.check_body(f"{R}/m2", 99))])
        a.drain(0.3)
        out["failed_multi_events"] = ctx.norm(a.events)
        return out

    compare(both, script, uniq)


def _persistent_zk39(r):
    """3.9.5's WatchManager keeps a mode set per (path, watcher) (WatchStats): a one-shot
    watch added over a persistent one fires once and leaves the persistent watch, which
    fires again on the next change; 3.8.0's WatcherModeManager overwrote the persistent
    mode with the standard one. removeWatches then removes by mode
    (DataTree.removeWatch: Children/Data take STANDARD only, Any takes every mode), so a
    persistent watch is not removed by CHILDREN but is by ANY."""
    ev = r["persistent_plus_oneshot"]
    ev.append(list(ev[-1]))
    r["remove_children_type"] = ["NO_WATCHER(-121)", None]
    r["remove_any"] = ["OK", None]


def test_persistent_watches(both, uniq):
    def script(ctx: Ctx):
        a = ctx.raw()
        ctx.make_root(a)
        R = ctx.root
        w = ctx.raw()
        out = {}
        out["add_persistent"] = ctx.r(w.add_watch(f"{R}/p", zkwire.AddWatchMode.PERSISTENT))
        out["add_recursive"] = ctx.r(w.add_watch(f"{R}/r", zkwire.AddWatchMode.PERSISTENT_RECURSIVE))
        out["add_bad_mode"] = ctx.r(w.add_watch(f"{R}/p", 7))
        for p in ("p", "r"):
            a.create(f"{R}/{p}", b"")
            a.set_data(f"{R}/{p}", b"1")
            a.set_data(f"{R}/{p}", b"2")
            a.create(f"{R}/{p}/c", b"")
            a.set_data(f"{R}/{p}/c", b"1")
            a.create(f"{R}/{p}/c/g", b"")
            a.set_data(f"{R}/{p}/c/g", b"1")
            a.delete(f"{R}/{p}/c/g")
            a.delete(f"{R}/{p}/c")
            a.delete(f"{R}/{p}")
            a.create(f"{R}/{p}", b"again")
        w.drain(0.5)
        out["events"] = ctx.norm(w.events)
        # a persistent watch and a one-shot watch on the same node: one event per change
        w.events.clear()
        w.get_data(f"{R}/p", True)
        a.set_data(f"{R}/p", b"3")
        a.set_data(f"{R}/p", b"4")
        w.drain(0.4)
        out["persistent_plus_oneshot"] = ctx.norm(w.events)
        # removeWatches of a persistent watch: which watcher types remove it
        out["remove_children_type"] = ctx.r(w.remove_watches(f"{R}/p", zkwire.WatcherType.CHILDREN))
        out["remove_data_type"] = ctx.r(w.remove_watches(f"{R}/p", zkwire.WatcherType.DATA))
        out["remove_any"] = ctx.r(w.remove_watches(f"{R}/p", zkwire.WatcherType.ANY))
        out["remove_any_again"] = ctx.r(w.remove_watches(f"{R}/p", zkwire.WatcherType.ANY))
        out["remove_recursive_any"] = ctx.r(w.remove_watches(f"{R}/r", zkwire.WatcherType.ANY))
        w.events.clear()
        a.set_data(f"{R}/p", b"5")
        a.set_data(f"{R}/r", b"5")
        w.drain(0.4)
        out["after_remove"] = ctx.norm(w.events)
        # a recursive watch on "/" sees this test's writes (filter to our subtree)
        w2 = ctx.raw()
        out["root_recursive"] = ctx.r(w2.add_watch("/", zkwire.AddWatchMode.PERSISTENT_RECURSIVE))
        a.create(f"{R}/rr")
        a.delete(f"{R}/rr")
        w2.drain(0.4)
        out["root_recursive_events"] = ctx.norm([e for e in w2.events
                                                 if (e.path or "").startswith(R)])
        return out

    compare(both, script, uniq, zk39=_persistent_zk39)


def _remove_zk39(r):
    """3.9.5's WatcherType has Persistent (4) and PersistentRecursive (5); 3.8.0's
    WatcherType.fromInt threw for them (MarshallingError). With no such watch set, 3.9
    answers NoWatcher."""
    r["remove_type_4"] = ["NO_WATCHER(-121)", None]


def test_remove_and_check_watches(both, uniq):
    def script(ctx: Ctx):
        a = ctx.raw()
        ctx.make_root(a)
        R = ctx.root
        w = ctx.raw()
        out = {}
        a.create(f"{R}/n")
        out["remove_none"] = ctx.r(w.remove_watches(f"{R}/n", zkwire.WatcherType.DATA))
        out["check_none"] = ctx.r(w.check_watches(f"{R}/n", zkwire.WatcherType.ANY))
        out["remove_missing_node"] = ctx.r(w.remove_watches(f"{R}/missing", zkwire.WatcherType.ANY))
        w.get_data(f"{R}/n", True)
        out["check_data"] = ctx.r(w.check_watches(f"{R}/n", zkwire.WatcherType.DATA))
        out["check_children_when_data"] = ctx.r(w.check_watches(f"{R}/n", zkwire.WatcherType.CHILDREN))
        out["remove_children_when_data"] = ctx.r(w.remove_watches(f"{R}/n", zkwire.WatcherType.CHILDREN))
        out["remove_data"] = ctx.r(w.remove_watches(f"{R}/n", zkwire.WatcherType.DATA))
        out["remove_data_again"] = ctx.r(w.remove_watches(f"{R}/n", zkwire.WatcherType.DATA))
        w.exists(f"{R}/gone", True)
        out["remove_exists_watch_as_data"] = ctx.r(w.remove_watches(f"{R}/gone", zkwire.WatcherType.DATA))
        w.get_children(f"{R}/n", True)
        w.get_data(f"{R}/n", True)
        out["remove_any_both"] = ctx.r(w.remove_watches(f"{R}/n", zkwire.WatcherType.ANY))
        out["check_any_after"] = ctx.r(w.check_watches(f"{R}/n", zkwire.WatcherType.ANY))
        out["remove_type_4"] = ctx.r(w.remove_watches(f"{R}/n", 4))
        out["remove_type_0"] = ctx.r(w.remove_watches(f"{R}/n", 0))
        # nothing fires after removal; the server sends no *WatchRemoved events itself
        a.set_data(f"{R}/n", b"x")
        a.create(f"{R}/n/c")
        w.drain(0.4)
        out["events"] = ctx.norm(w.events)
        # another session's watch is not removable
        w.get_data(f"{R}/n", True)
        out["remove_other_sessions"] = ctx.r(a.remove_watches(f"{R}/n", zkwire.WatcherType.DATA))
        return out

    compare(both, script, uniq, zk39=_remove_zk39)


def test_set_watches_on_reconnect(both, uniq):
    """SetWatches (xid -8) as a client sends after reconnecting: the server fires at once
    the watches whose node changed after relativeZxid."""

    def script(ctx: Ctx):
        a = ctx.raw()
        ctx.make_root(a)
        R = ctx.root
        a.create(f"{R}/d", b"")
        a.create(f"{R}/del", b"")
        a.create(f"{R}/k", b"")
        a.create(f"{R}/same", b"")
        e, st = a.exists(R)
        rel = st.pzxid
        a.set_data(f"{R}/d", b"changed")
        a.delete(f"{R}/del")
        a.create(f"{R}/k/c")
        a.create(f"{R}/new")
        w = ctx.raw()
        out = {}
        rep = w.call(Op.SET_WATCHES, zkwire.set_watches_body(
            rel, data=[f"{R}/d", f"{R}/del", f"{R}/same", f"{R}/nodata"],
            exist=[f"{R}/new", f"{R}/stillmissing", f"{R}/same"],
            child=[f"{R}/k", f"{R}/same", f"{R}/del"]), xid=zkwire.Xid.SET_WATCHES)
        out["reply"] = [rep.xid, err(rep.err)]
        w.drain(0.4)
        # ZooKeeper walks the data, then exist, then child lists in the order sent
        out["immediate"] = ctx.norm(w.events)
        w.events.clear()
        a.set_data(f"{R}/same", b"1")
        a.create(f"{R}/same/c")
        a.create(f"{R}/stillmissing")
        w.drain(0.4)
        out["later"] = ctx.norm(w.events)
        # SetWatches2 with persistent watches
        w2 = ctx.raw()
        rep = w2.call(Op.SET_WATCHES2, zkwire.set_watches2_body(
            rel, persistent=[f"{R}/d"], persistent_recursive=[f"{R}/k"]),
            xid=zkwire.Xid.SET_WATCHES)
        out["reply2"] = [rep.xid, err(rep.err)]
        w2.drain(0.3)
        out["immediate2"] = ctx.norm(w2.events)
        w2.events.clear()
        a.set_data(f"{R}/d", b"again")
        a.set_data(f"{R}/k/c", b"x")
        w2.drain(0.4)
        out["later2"] = ctx.norm(w2.events)
        return out

    compare(both, script, uniq)


# ---------------------------------------------------------------------------
# sessions


def test_session_close_deletes_ephemerals(both, uniq):
    def script(ctx: Ctx):
        w = ctx.raw()
        ctx.make_root(w)
        R = ctx.root
        out = {}
        owner = ctx.raw()
        owner.create(f"{R}/e1", b"", flags=CM.EPHEMERAL)
        owner.create(f"{R}/e2", b"", flags=CM.EPHEMERAL_SEQUENTIAL)
        owner.create(f"{R}/p", b"")
        owner.create(f"{R}/p/e3", b"", flags=CM.EPHEMERAL)
        out["owner_ephemerals"] = [err(owner.get_ephemerals(R)[0]),
                                   sorted(owner.get_ephemerals(R)[1])]
        w.get_data(f"{R}/e1", True)
        w.exists(f"{R}/p/e3", True)
        w.get_children(f"{R}/p", True)
        w.get_children(R, True)
        rep = owner.call(Op.CLOSE_SESSION)
        out["close_reply"] = [rep.xid, err(rep.err), rep.body.hex()]
        out["after_close"] = zkwire.wait_closed(owner.sock, 3.0)
        owner.abandon()
        w.wait_events(4)
        w.drain(0.3)
        # the order of the deletions follows ZooKeeper's ephemeral set order; compare sorted
        out["events"] = sorted(map(str, ctx.norm(w.events)))
        out["children"] = sorted(w.get_children(R)[1])
        out["root_stat"] = ctx.r(w.exists(R))
        # kazoo: stop() closes the session the same way
        kc = ctx.kazoo()
        kc.create(f"{R}/k", b"", ephemeral=True)
        w.events.clear()
        w.exists(f"{R}/k", True)
        kc.stop()
        w.wait_events(1)
        out["kazoo_events"] = ctx.norm(w.events)
        return out

    compare(both, script, uniq)


def test_session_timeout_negotiation(both, uniq):
    """tickTime=2000: min 4000 ms, max 40000 ms (2x and 20x tickTime)."""

    def script(ctx: Ctx):
        out = {}
        for asked in (0, 1, 3999, 4000, 4001, 10000, 39999, 40000, 40001, 600000, -5):
            try:
                c = zkwire.Conn(ctx.hostport, asked)
                out[str(asked)] = [c.negotiated_timeout, c.connect_response.protocol_version,
                                   len(c.passwd), c.connect_response.read_only]
                c.close()
            except (zkwire.ConnectionClosed, zkwire.DecodeError, TimeoutError) as e:
                out[str(asked)] = f"{type(e).__name__}"
        return out

    res = compare(both, script, uniq)
    assert res["1"][0] == 4000 and res["600000"][0] == 40000


def test_session_timeout_config_keys(special_servers, uniq):
    """minSessionTimeout / maxSessionTimeout from zoo.cfg bound the negotiation and show
    in `conf`; maxClientCnxns limits connections per client IP."""
    servers = special_servers({"minSessionTimeout": "3000", "maxSessionTimeout": "7000",
                               "maxClientCnxns": "3"})

    def script(ctx: Ctx):
        out = {}
        conf = four_letter(ctx.hostport, "conf")
        out["conf"] = sorted(l for l in conf.splitlines()
                             if l.split("=")[0] in ("minSessionTimeout", "maxSessionTimeout",
                                                    "maxClientCnxns", "tickTime"))
        conns = []
        for asked in (1, 5000, 600000):
            c = zkwire.Conn(ctx.hostport, asked)
            conns.append(c)
            out[str(asked)] = c.negotiated_timeout
        # three connections are open: the fourth from 127.0.0.1 is refused
        try:
            extra = zkwire.Conn(ctx.hostport, 5000, io_timeout=3.0)
            out["fourth_connection"] = ["accepted", extra.negotiated_timeout]
            extra.close()
        except (zkwire.ConnectionClosed, TimeoutError, OSError):
            # EOF, reset or broken pipe depending on timing: all mean "closed at once"
            out["fourth_connection"] = "refused"
        # 4lw connections count too
        try:
            out["4lw_at_limit"] = four_letter(ctx.hostport, "ruok", timeout=3.0) or "refused"
        except OSError:
            out["4lw_at_limit"] = "refused"
        for c in conns:
            c.close()
        # after closing, connections are accepted again (give the server a moment to
        # notice the closed sockets: bounded retries)
        deadline = time.monotonic() + 5
        while True:
            try:
                c = zkwire.Conn(ctx.hostport, 5000, io_timeout=2.0)
                out["after_close"] = "accepted"
                c.close()
                break
            except (zkwire.ConnectionClosed, TimeoutError, OSError):
                if time.monotonic() > deadline:
                    out["after_close"] = "refused"
                    break
                time.sleep(0.05)
        return out

    res = compare(servers, script, uniq)
    assert res["1"] == 3000 and res["600000"] == 7000


def test_session_resume_and_handshake_variants(both, uniq):
    def script(ctx: Ctx):
        a = ctx.raw(timeout_ms=10000)
        ctx.make_root(a)
        R = ctx.root
        out = {}
        a.create(f"{R}/eph", b"", flags=CM.EPHEMERAL)
        # resume the session on a second connection: same session id, ephemeral kept, the
        # first connection is closed by the server
        b = zkwire.Conn(ctx.hostport, 10000, session_id=a.session_id, passwd=a.passwd)
        out["resume"] = [b.session_id == a.session_id, b.negotiated_timeout, b.passwd == a.passwd]
        out["old_conn"] = zkwire.wait_closed(a.sock, 3.0)
        a.abandon()
        out["eph_owner"] = ctx.r(b.exists(f"{R}/eph"))
        # wrong password
        try:
            bad = zkwire.Conn(ctx.hostport, 10000, session_id=b.session_id,
                              passwd=b"\x01" * 16)
            out["bad_passwd"] = [bad.negotiated_timeout, bad.session_id, bad.passwd.hex()]
            out["bad_passwd_after"] = zkwire.wait_closed(bad.sock, 3.0)
            bad.abandon()
        except (zkwire.ConnectionClosed, TimeoutError) as e:
            out["bad_passwd"] = type(e).__name__
        # (ZooKeeper closes the session's live connection before it checks the password)
        try:
            out["b_after_bad_passwd"] = err(b.exists(R)[0])
        except (zkwire.ConnectionClosed, TimeoutError) as e:
            out["b_after_bad_passwd"] = type(e).__name__
            b.abandon()
            b = zkwire.Conn(ctx.hostport, 10000, session_id=b.session_id, passwd=b.passwd)
        out["b_reconnected"] = err(b.exists(R)[0])
        # resume an unknown session
        try:
            unk = zkwire.Conn(ctx.hostport, 10000, session_id=0x7777, passwd=b"\x00" * 16)
            out["unknown_session"] = [unk.negotiated_timeout, unk.session_id, unk.passwd.hex()]
            out["unknown_session_after"] = zkwire.wait_closed(unk.sock, 3.0)
            unk.abandon()
        except (zkwire.ConnectionClosed, TimeoutError) as e:
            out["unknown_session"] = type(e).__name__
        # resume a closed session
        sid, pw = b.session_id, b.passwd
        b.close()
        try:
            dead = zkwire.Conn(ctx.hostport, 10000, session_id=sid, passwd=pw)
            out["closed_session"] = [dead.negotiated_timeout, dead.session_id, dead.passwd.hex()]
            out["closed_session_after"] = zkwire.wait_closed(dead.sock, 3.0)
            dead.abandon()
        except (zkwire.ConnectionClosed, TimeoutError) as e:
            out["closed_session"] = type(e).__name__
        # ConnectRequest without the trailing readOnly byte (old clients)
        old = zkwire.Conn(ctx.hostport, 10000, read_only=None)
        out["no_readonly_byte"] = [old.negotiated_timeout, old.connect_response.read_only,
                                   err(old.exists(R)[0])]
        old.close()
        # readOnly=true client against a standalone server
        ro = zkwire.Conn(ctx.hostport, 10000, read_only=True)
        out["readonly_client"] = [ro.negotiated_timeout, ro.connect_response.read_only,
                                  err(ro.exists(R)[0]), err(ro.create(f"{R}/ro")[0])]
        ro.close()
        # lastZxidSeen ahead of the server: the server refuses the client
        s = socket.create_connection(zkwire.split_hostport(ctx.hostport), timeout=3)
        s.sendall(zkwire.frame(zkwire.connect_request(10000, last_zxid=1 << 60)))
        try:
            out["zxid_from_future"] = zkwire.recv_frame(s, 3.0).hex()
        except (zkwire.ConnectionClosed, TimeoutError) as e:
            out["zxid_from_future"] = type(e).__name__
        out["zxid_from_future_after"] = zkwire.wait_closed(s, 3.0)
        s.close()
        return out

    compare(both, script, uniq)


def test_session_expiry(special_servers, uniq):
    """Expiry of an abandoned session (short tickTime so that it is quick): ephemerals
    deleted, watchers notified, the session cannot be resumed."""
    servers = special_servers({"tickTime": "100"})

    def script(ctx: Ctx):
        w = ctx.raw(timeout_ms=5000)
        ctx.make_root(w)
        R = ctx.root
        out = {}
        doomed = ctx.raw(timeout_ms=1)
        out["negotiated"] = doomed.negotiated_timeout
        doomed.create(f"{R}/e", b"", flags=CM.EPHEMERAL)
        doomed.create(f"{R}/es-", b"", flags=CM.EPHEMERAL_SEQUENTIAL)
        w.exists(f"{R}/e", True)
        w.get_children(R, True)
        sid, pw = doomed.session_id, doomed.passwd
        doomed.abandon()  # no close: the session must expire
        t0 = time.monotonic()
        w.wait_events(2, timeout=10.0)
        out["expired_within_5s"] = time.monotonic() - t0 < 5.0
        w.drain(0.3)
        out["events"] = sorted(map(str, ctx.norm(w.events)))
        out["children"] = sorted(w.get_children(R)[1])
        try:
            again = zkwire.Conn(ctx.hostport, 5000, session_id=sid, passwd=pw)
            out["resume_expired"] = [again.negotiated_timeout, again.session_id,
                                     again.passwd.hex()]
            out["resume_expired_after"] = zkwire.wait_closed(again.sock, 3.0)
            again.abandon()
        except (zkwire.ConnectionClosed, TimeoutError) as e:
            out["resume_expired"] = type(e).__name__
        # a kazoo client sees its session expire when the server expires it
        return out

    res = compare(servers, script, uniq)
    assert res["negotiated"] == 200


# ---------------------------------------------------------------------------
# the /zookeeper subtree


def test_system_nodes_fresh_server(special_servers, uniq):
    """/, /zookeeper, /zookeeper/quota, /zookeeper/config on a fresh server: children,
    data, ACL and the whole Stat (ZooKeeper: root cversion starts at -1, /zookeeper at
    -2, /zookeeper/config has aversion -1 and a world:READ ACL). zxids are absolute here
    (base 0): the readiness probe opened and closed one session, i.e. two txns."""
    servers = special_servers({})

    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.set_base(0)
        out = {}
        for p in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
            e, v = c.get_children2(p)
            out[p] = {"children": [err(e), sorted(v[0]), ctx.norm(v[1])],
                      "data": ctx.r(c.get_data(p)),
                      "acl": ctx.r(c.get_acl(p))}
        c.create("/x")
        out["root_after_create"] = ctx.r(c.exists("/"))
        c.delete("/x")
        out["root_after_delete"] = ctx.r(c.exists("/"))
        out["all_children_number_root"] = ctx.r(c.get_all_children_number("/"))
        out["all_children_number_zookeeper"] = ctx.r(c.get_all_children_number("/zookeeper"))
        out["set_config"] = ctx.r(c.set_data("/zookeeper/config", b"x"))
        out["delete_config"] = ctx.r(c.delete("/zookeeper/config"))
        out["create_under_config"] = ctx.r(c.create("/zookeeper/config/x"))
        out["setacl_config"] = ctx.r(c.set_acl("/zookeeper/config", OPEN, -1))
        out["set_quota"] = ctx.r(c.set_data("/zookeeper/quota", b"x"))
        out["create_under_quota"] = ctx.r(c.create("/zookeeper/quota/q"))
        out["delete_under_quota"] = ctx.r(c.delete("/zookeeper/quota/q"))
        out["delete_quota"] = ctx.r(c.delete("/zookeeper/quota"))
        out["delete_zookeeper"] = ctx.r(c.delete("/zookeeper"))
        out["setacl_zookeeper"] = ctx.r(c.set_acl("/zookeeper", OPEN, -1))
        out["create_under_zookeeper"] = ctx.r(c.create("/zookeeper/mine"))
        out["delete_under_zookeeper"] = ctx.r(c.delete("/zookeeper/mine"))
        out["zookeeper_after"] = ctx.r(c.get_children2("/zookeeper"))
        out["set_root"] = ctx.r(c.set_data("/", b"rootdata"))
        out["setacl_root"] = ctx.r(c.set_acl("/", OPEN, 0))
        out["delete_root"] = ctx.r(c.delete("/"))
        out["ephemerals_fresh"] = ctx.r(c.get_ephemerals("/"))
        return out

    compare(servers, script, uniq)


# ---------------------------------------------------------------------------
# misc ops


def _version_zk39(r):
    """Zooid speaks the 3.9 API and says so in srvr's version line (3.9.5-zooid-...)."""
    r["kazoo_server_version"] = [3, 9, 5]


def test_sync_and_ping(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        out = {}
        out["sync"] = ctx.r(c.sync(ctx.root))
        out["sync_missing"] = ctx.r(c.sync(ctx.root + "/missing"))
        out["sync_invalid"] = ctx.r(c.sync("no-slash"))
        rep = c.ping()
        out["ping"] = [rep.xid, err(rep.err), rep.body.hex()]
        # a ping with an ordinary xid is answered with xid -2 all the same
        c.send(Op.PING, b"", xid=77)
        rep = c.recv_reply(xid=zkwire.Xid.PING)
        out["ping_xid_77"] = [rep.xid, err(rep.err), rep.body.hex()]
        rep = c.call(Op.SET_DATA, zkwire.set_data_body(ctx.root, b"v"))
        out["reply_zxid_of_write"] = ctx.norm.z(rep.zxid)
        rep = c.call(Op.EXISTS, zkwire.path_watch(ctx.root))
        out["reply_zxid_of_read"] = ctx.norm.z(rep.zxid)
        rep = c.call(Op.CREATE2, zkwire.create_body(ctx.root))
        out["reply_zxid_of_failed_write"] = [err(rep.err), ctx.norm.z(rep.zxid)]
        # xids need not increase; replies echo them
        rep = c.call(Op.EXISTS, zkwire.path_watch(ctx.root), xid=5)
        out["xid_echo"] = rep.xid
        kc = ctx.kazoo()
        out["kazoo_sync"] = ctx.k(kc.sync, ctx.root)
        out["kazoo_server_version"] = kc.server_version()
        return out

    compare(both, script, uniq, zk39=_version_zk39)


def test_kazoo_session(both, uniq):
    """A plain kazoo session as applications use it."""

    def script(ctx: Ctx):
        kc = ctx.kazoo()
        R = ctx.root
        out = []
        out.append(ctx.k(kc.ensure_path, f"{R}/a/b/c"))
        ctx.set_base(kc.exists(R).czxid)
        out.append(ctx.k(kc.create, f"{R}/a/b/c/d", b"val", makepath=True))
        out.append(ctx.k(kc.create, f"{R}/x/y/z", b"deep", makepath=True, include_data=True))
        out.append(ctx.k(kc.create, f"{R}/q/item-", b"1", sequence=True, makepath=True))
        out.append(ctx.k(kc.create, f"{R}/q/item-", b"2", sequence=True, ephemeral=True))
        out.append(ctx.k(kc.get, f"{R}/a/b/c/d"))
        out.append(ctx.k(kc.set, f"{R}/a/b/c/d", b"val2"))
        out.append(sorted(kc.get_children(f"{R}/q")))
        out.append(ctx.k(kc.get_acls, R))
        out.append(ctx.k(kc.set_acls, R, [ACL(Perm.ALL, Id("world", "anyone"))]))
        out.append(ctx.k(kc.delete, f"{R}/a", recursive=True))
        out.append(ctx.k(kc.exists, f"{R}/a"))
        out.append(ctx.k(kc.create, f"{R}/a", b"", acl=[make_digest_acl("u", "p", all=True)]))
        out.append(ctx.k(kc.get, f"{R}/a"))
        kc2 = ctx.kazoo(auth_data=[("digest", "u:p")])
        out.append(ctx.k(kc2.get, f"{R}/a"))
        out.append(ctx.k(kc2.delete, f"{R}/a"))
        out.append(sorted(kc.get_children(R)))
        # DataWatch recipe: wait for each change before making the next
        import threading
        seen = []
        cond = threading.Condition()

        @kc.DataWatch(f"{R}/x")
        def _dw(data, stat, event=None):
            with cond:
                seen.append(["data", data, event.type if event else None])
                cond.notify_all()

        for i, v in enumerate((b"one", b"two"), start=2):
            kc2.set(f"{R}/x", v)
            with cond:
                cond.wait_for(lambda: len(seen) >= i, timeout=5)
        out.append(ctx.norm(seen))
        return out

    compare(both, script, uniq)


# ---------------------------------------------------------------------------
# four-letter words


def _shape(text: str) -> str:
    """A 4lw answer with values masked: hex -> H, numbers -> N, addresses -> ADDR."""
    t = re.sub(r"/?\d+\.\d+\.\d+\.\d+:\d+", "ADDR", text)
    t = re.sub(r"0x[0-9a-fA-F]+", "H", t)
    t = re.sub(r"\d+(\.\d+)?", "N", t)
    return t


def _keys(text: str, sep: str) -> list[str]:
    return sorted({line.split(sep, 1)[0] for line in text.splitlines() if sep in line})


def _four_letter_record(hostport: str) -> dict:
    out = {}
    out["ruok"] = four_letter(hostport, "ruok")
    out["isro"] = four_letter(hostport, "isro")
    out["srvr_keys"] = _keys(four_letter(hostport, "srvr"), ":")
    out["srvr_mode"] = [l for l in four_letter(hostport, "srvr").splitlines()
                        if l.startswith("Mode:")]
    stat = four_letter(hostport, "stat")
    out["stat_keys"] = _keys(stat, ":")
    out["stat_has_clients_section"] = "Clients:" in stat.splitlines()
    out["conf_keys"] = _keys(four_letter(hostport, "conf"), "=")
    envi = four_letter(hostport, "envi")
    out["envi_first_line"] = envi.splitlines()[0] if envi else None
    out["envi_keys"] = _keys(envi, "=")
    out["dirs"] = _shape(four_letter(hostport, "dirs"))
    out["wchs"] = _shape(four_letter(hostport, "wchs"))
    out["crst"] = four_letter(hostport, "crst")
    out["srst"] = four_letter(hostport, "srst")
    out["unknown_word"] = four_letter(hostport, "xyzw")
    out["ruok_with_trailing_bytes"] = four_letter(hostport, "ruokEXTRA")
    out["lowercase_only"] = four_letter(hostport, "RUOK")
    return out


def test_four_letter_words(both, uniq):
    def script(ctx: Ctx):
        c = ctx.raw()
        ctx.make_root(c)
        c.create(f"{ctx.root}/e", flags=CM.EPHEMERAL)
        c.get_data(ctx.root, True)
        out = _four_letter_record(ctx.hostport)
        # cons: our own connection's line, values masked
        cons = four_letter(ctx.hostport, "cons")
        sid = f"sid=0x{c.session_id:x}"
        mine = [l for l in cons.splitlines() if sid in l]
        out["cons_own_line"] = [_shape(l) for l in mine]
        out["cons_own_keys"] = sorted(re.findall(r"(\w+)=", mine[0])) if mine else None
        out["cons_ends_with_blank_line"] = cons.endswith("\n\n")
        # dump: section headers, and our session listed with its ephemeral
        dump = four_letter(ctx.hostport, "dump")
        out["dump_headers"] = [_shape(l) for l in dump.splitlines()
                               if not l.startswith("\t") and "expire at" not in l]
        out["dump_lists_ephemeral"] = f"\t{ctx.root}/e" in dump.splitlines()
        # wchc / wchp list our watch
        out["wchc_has_path"] = f"\t{ctx.root}" in four_letter(ctx.hostport, "wchc").splitlines()
        out["wchp_has_path"] = ctx.root in four_letter(ctx.hostport, "wchp").splitlines()
        return out

    res = compare(both, script, uniq)
    assert res["ruok"] == "imok"


def test_mntr_core_keys(both, uniq):
    """The classic documented mntr keys and their value shapes."""
    core = ["zk_version", "zk_avg_latency", "zk_max_latency", "zk_min_latency",
            "zk_packets_received", "zk_packets_sent", "zk_num_alive_connections",
            "zk_outstanding_requests", "zk_server_state", "zk_znode_count", "zk_watch_count",
            "zk_ephemerals_count", "zk_approximate_data_size", "zk_open_file_descriptor_count",
            "zk_max_file_descriptor_count", "zk_uptime", "zk_global_sessions",
            "zk_local_sessions"]

    def script(ctx: Ctx):
        text = four_letter(ctx.hostport, "mntr")
        kv = dict(l.split("\t", 1) for l in text.splitlines() if "\t" in l)
        def val(k):
            if k not in kv:
                return None
            if k == "zk_server_state":
                return kv[k]
            if k == "zk_version":  # Debian's build says "3.8.0-${mvngit.commit.id}, ..."
                return bool(re.match(r"\d+\.\d+\.\d+", kv[k]))
            return _shape(kv[k])

        return {"core": {k: val(k) for k in core},
                "tab_separated": all("\t" in l for l in text.splitlines() if l),
                "ends_with_newline": text.endswith("\n")}

    compare(both, script, uniq)


def _mntr_zk39(keys):
    """3.9.5's ServerMetrics registers the admin server's snapshot and restore metrics
    (ZOOKEEPER-4570/4571: SNAPSHOT_ERROR_COUNT, SNAPSHOT_RATE_LIMITED_COUNT, RESTORE_TIME,
    RESTORE_ERROR_COUNT, RESTORE_RATE_LIMITED_COUNT, right after SNAPSHOT_TIME), which
    3.8.0 does not have; the default provider prints them idle like every other."""
    new = ["zk_snapshot_error_count", "zk_snapshot_rate_limited_count",
           "zk_restore_error_count", "zk_restore_rate_limited_count"]
    new += [f"zk_{p}_restore_time" for p in ("avg", "min", "max", "cnt", "sum")]
    keys[:] = sorted(set(keys) | set(new))


def test_mntr_all_keys(both, uniq):
    """Every mntr key ZooKeeper 3.8 reports (a long list of metrics; values ignored)."""

    def script(ctx: Ctx):
        return _keys(four_letter(ctx.hostport, "mntr"), "\t")

    compare(both, script, uniq, zk39=_mntr_zk39)


def test_four_letter_default_whitelist(special_servers, uniq):
    """Without 4lw.commands.whitelist only srvr is enabled; others get a fixed text."""
    servers = special_servers({"4lw.commands.whitelist": None})

    def script(ctx: Ctx):
        out = {}
        for w in ("ruok", "stat", "mntr", "conf", "envi", "cons", "wchs", "dump", "dirs",
                  "isro", "crst", "srst", "wchc", "wchp", "gtmk", "stmk"):
            out[w] = four_letter(ctx.hostport, w)
        out["srvr_keys"] = _keys(four_letter(ctx.hostport, "srvr"), ":")
        out["unknown"] = four_letter(ctx.hostport, "xyzw")
        return out

    res = compare(servers, script, uniq)
    assert res["ruok"] == "ruok is not executed because it is not in the whitelist.\n"


def test_four_letter_partial_whitelist(special_servers, uniq):
    servers = special_servers({"4lw.commands.whitelist": "ruok, mntr ,conf"})

    def script(ctx: Ctx):
        out = {}
        for w in ("ruok", "mntr", "conf", "srvr", "stat", "isro", "envi"):
            ans = four_letter(ctx.hostport, w)
            out[w] = ans if ("not executed" in ans or w == "ruok") else bool(ans)
        return out

    compare(servers, script, uniq)


# ---------------------------------------------------------------------------
# bad input on the client port


def _raw_exchange(hostport: str, payload: bytes, wait: float = 3.0) -> dict:
    """Send bytes on a fresh connection; report what comes back and whether the server
    closes the connection ('closed', EOF or reset alike) or keeps it 'open' for `wait`."""
    s = socket.create_connection(zkwire.split_hostport(hostport), timeout=wait)
    try:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            return {"reply": "", "end": "closed"}
        deadline = time.monotonic() + wait
        got = b""
        end = "open"
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:  # RST instead of FIN: closed with unread input
                end = "closed"
                break
            if not b:
                end = "closed"
                break
            got += b
        return {"reply": got.hex(), "end": end}
    finally:
        s.close()


def test_bad_input_on_client_port(both, uniq):
    def script(ctx: Ctx):
        ctx.make_root()
        hp = ctx.hostport
        out = {}
        out["len_7fffffff"] = _raw_exchange(hp, struct.pack(">i", 0x7FFFFFFF))
        out["len_negative"] = _raw_exchange(hp, struct.pack(">i", -1))
        out["len_zero"] = _raw_exchange(hp, struct.pack(">i", 0), wait=1.5)
        out["len_too_big_1MiB+"] = _raw_exchange(hp, struct.pack(">i", 0xFFFFF + 1))
        out["garbage_connect"] = _raw_exchange(hp, zkwire.frame(b"\xde\xad\xbe\xef" * 3))
        out["short_connect"] = _raw_exchange(hp, zkwire.frame(b"\x00\x00\x00\x00"))
        out["http_get"] = _raw_exchange(hp, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        out["partial_frame_then_close"] = _raw_exchange(hp, struct.pack(">i", 100) + b"x" * 10,
                                                        wait=1.0)
        # after a valid handshake
        for name, opcode, body in (("unknown_opcode_999", 999, b""),
                                   ("opcode_0", 0, b""),
                                   ("opcode_createSession", Op.CREATE_SESSION, b""),
                                   ("opcode_sasl", Op.SASL, zkwire.Writer().buffer(b"").bytes()),
                                   ("opcode_reconfig", Op.RECONFIG,
                                    zkwire.Writer().string(None).string(None).string("x")
                                    .long(-1).bytes()),
                                   ("truncated_create", Op.CREATE, b"\x00\x00\x00\x05/a"),
                                   ("huge_string_len", Op.GET_DATA,
                                    struct.pack(">i", 0x7FFFFFF0) + b"/a"),
                                   ("garbage_get_data", Op.GET_DATA, b"\xff" * 3),
                                   ("trailing_bytes_exists", Op.EXISTS,
                                    zkwire.path_watch(ctx.root) + b"junk")):
            c = ctx.raw()
            row = {}
            try:
                rep = c.call(opcode, body)
                row["reply"] = [rep.xid, err(rep.err), "zxid=-1" if rep.zxid == -1 else "zxid",
                                ctx.norm(rep.reader().stat()) if opcode == Op.EXISTS
                                and not rep.err else rep.body.hex()]
            except (zkwire.ConnectionClosed, TimeoutError) as e:
                row["reply"] = type(e).__name__
            row["then"] = _after_state(c)
            out[name] = row
        # a frame length over jute.maxbuffer after the handshake
        c = ctx.raw()
        c.sock.sendall(struct.pack(">i", 0xFFFFF + 10) + b"\x00" * 16)
        out["oversized_frame_after_handshake"] = zkwire.wait_closed(c.sock, 3.0)
        c.abandon()
        # another client is served throughout
        ok = ctx.raw()
        out["other_client"] = err(ok.exists("/")[0])
        ok.close()
        return out

    compare(both, script, uniq)


def _after_state(c: zkwire.Conn) -> str:
    """Is the session still usable after an odd request?"""
    try:
        e, _ = c.exists("/")
        return f"usable:{err(e)}"
    except (zkwire.ConnectionClosed, TimeoutError) as e:
        return f"gone:{type(e).__name__}"
    finally:
        c.abandon()


def test_requests_before_handshake_and_pipelining(both, uniq):
    def script(ctx: Ctx):
        hp = ctx.hostport
        out = {}
        # a request frame where the ConnectRequest should be
        req = zkwire.Writer().int(1).int(Op.EXISTS).bytes() + zkwire.path_watch("/")
        out["request_as_connect"] = _raw_exchange(hp, zkwire.frame(req), wait=2.0)
        # handshake and 20 pipelined requests in one write: replies in order
        c = ctx.raw()
        ctx.make_root(c)
        batch = b""
        for i in range(20):
            hdr = zkwire.Writer().int(100 + i).int(Op.CREATE).bytes()
            batch += zkwire.frame(hdr + zkwire.create_body(f"{ctx.root}/n{i % 5}"))
        c.sock.sendall(batch)
        out["pipelined"] = [[r.xid, err(r.err)] for r in
                            (c.recv_reply() for _ in range(20))]
        # handshake + first request in the same segment
        s = socket.create_connection(zkwire.split_hostport(hp), timeout=3)
        s.sendall(zkwire.frame(zkwire.connect_request(10000)) +
                  zkwire.frame(zkwire.Writer().int(1).int(Op.EXISTS).bytes() +
                               zkwire.path_watch(ctx.root)))
        r1 = zkwire.Reader(zkwire.recv_frame(s, 3.0))
        r1.int(); timeout = r1.int()
        r2 = zkwire.Reader(zkwire.recv_frame(s, 3.0))
        out["handshake_plus_request"] = [timeout, r2.int(), ctx.norm.z(r2.long()), r2.int()]
        s.sendall(zkwire.frame(zkwire.Writer().int(2).int(Op.CLOSE_SESSION).bytes()))
        zkwire.recv_frame(s, 3.0)
        s.close()
        return out

    compare(both, script, uniq)
