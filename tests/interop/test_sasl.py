"""SASL DIGEST-MD5 clients against Apache ZooKeeper 3.8 and Zooid, side by side.

Both servers get the same JAAS file (a `Server` section with DigestLoginModule accounts),
`authProvider.1=SASLAuthenticationProvider` in zoo.cfg and `-Dzookeeper.superUser=super`:
ZooKeeper as JVM flags on its command line, Zooid from SERVER_JVMFLAGS (the way
zkServer.sh users pass them). One script runs against each and records what it sees —
SASL step error codes, the challenge's shape, whoami, sasl ACL checks, failed logins and
whether the connection was closed — and the two records must be equal. kazoo (with
pure-sasl) logs in the same way a real application does.
"""

from __future__ import annotations

import re

import pytest

puresasl_client = pytest.importorskip("puresasl.client")

from conftest import KINDS, ONLY_ZK, Server, _workdir  # noqa: E402
import zkwire  # noqa: E402
from zkwire import Op, Writer  # noqa: E402

JAAS = """
// DIGEST-MD5 accounts, as in ZooKeeper's SASL documentation.
Server {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_super="adminsecret"
  user_bob="bobsecret";
};
"""

CFG = {"authProvider.1": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"}

ALL = 31


@pytest.fixture(scope="module")
def sasl_servers(tmp_path_factory):
    jaas = tmp_path_factory.mktemp("jaas") / "jaas.conf"
    jaas.write_text(JAAS)
    flags = [f"-Djava.security.auth.login.config={jaas}", "-Dzookeeper.superUser=super"]
    kinds = ["zookeeper"] if ONLY_ZK else KINDS
    srvs = {}
    try:
        for k in kinds:
            srvs[k] = Server(k, CFG, _workdir(tmp_path_factory, k), flags).start()
        yield srvs
    finally:
        for s in srvs.values():
            s.stop()


def sasl_login(conn: zkwire.Conn, user: str, password: str) -> dict:
    """The DIGEST-MD5 exchange as kazoo drives it (an empty first token). Returns each
    step's error code, the challenge with its nonce masked, and the failure reply body."""
    cli = puresasl_client.SASLClient("zk-sasl-md5", service="zookeeper",
                                     mechanism="DIGEST-MD5", username=user,
                                     password=password)
    out: dict = {"errs": []}
    challenge = None
    while not cli.complete:
        response = cli.process(challenge=challenge)
        if cli.complete and not response:
            break
        rep = conn.call(Op.SASL, Writer().buffer(response or b"").bytes())
        out["errs"].append(rep.err)
        if rep.err:
            out["failure_body"] = rep.body.hex()
            break
        challenge = rep.reader().buffer()
        if challenge and b"nonce=" in challenge:
            masked = re.sub(rb'nonce="[A-Za-z0-9+/]{40}"', b'nonce="<40 base64>"', challenge)
            out["challenge"] = masked.decode()
    out["complete"] = cli.complete
    return out


def whoami(conn: zkwire.Conn):
    """whoAmI, sorted: ZooKeeper lists a connection's ids in hash-set order, which Zooid
    does not copy (see test_differential._whoami)."""
    e, v = conn.who_am_i()
    return e, sorted(v) if v is not None else None


def conn_of(srv: Server) -> zkwire.Conn:
    return zkwire.Conn(srv.hostport, 10000)


def script(srv: Server) -> dict:
    out: dict = {}
    acl = [(ALL, "sasl", "bob")]
    with conn_of(srv) as bob:
        out["bob_login"] = sasl_login(bob, "bob", "bobsecret")
        out["bob_whoami"] = whoami(bob)
        out["bob_create"] = bob.create("/sasl_bob", b"hi", acl=acl)[0]
        out["bob_get"] = bob.get_data("/sasl_bob")[0]
        out["bob_create_auth_acl"] = bob.create("/sasl_auth", b"", acl=[(ALL, "auth", "")])[0]
        out["bob_auth_acl"] = bob.get_acl("/sasl_auth")[1][0]
        out["bad_sasl_ids"] = [bob.create(f"/sasl_bad{i}", b"", acl=[(ALL, "sasl", x)])[0]
                               for i, x in enumerate(["a@b@c", "a/b/c@R", "ok/host@R"])]
    with conn_of(srv) as anon:
        out["anon_get"] = anon.get_data("/sasl_bob")[0]
        out["anon_whoami"] = whoami(anon)
        out["addauth_sasl"] = anon.add_auth("sasl", b"bob:bobsecret")[0]
        out["addauth_sasl_closed"] = zkwire.wait_closed(anon.sock, 5.0)
        anon.closed = True
    with conn_of(srv) as sup:
        out["super_login"] = sasl_login(sup, "super", "adminsecret")
        out["super_whoami"] = whoami(sup)
        out["super_get"] = sup.get_data("/sasl_bob")[0]
    for name, user, password in [("wrong_password", "bob", "nope"),
                                 ("unknown_user", "eve", "evesecret")]:
        c = conn_of(srv)
        out[name] = sasl_login(c, user, password)
        out[name + "_closed"] = zkwire.wait_closed(c.sock, 5.0)
        c.abandon()
    # A second exchange after a completed one: the JDK server is past its last step.
    with conn_of(srv) as again:
        sasl_login(again, "bob", "bobsecret")
        rep = again.call(Op.SASL, Writer().buffer(b"").bytes())
        out["after_complete"] = (rep.err, rep.body.hex())
        out["after_complete_closed"] = zkwire.wait_closed(again.sock, 5.0)
        again.closed = True
    out["kazoo"] = kazoo_script(srv)
    return out


def kazoo_script(srv: Server) -> dict:
    from kazoo.client import KazooClient
    from kazoo.exceptions import KazooException

    out: dict = {}
    zk = KazooClient(hosts=srv.hostport, timeout=5.0,
                     sasl_options={"mechanism": "DIGEST-MD5", "username": "bob",
                                   "password": "bobsecret"})
    zk.start(timeout=10)
    try:
        out["get"] = zk.get("/sasl_bob")[0]
        zk.create("/sasl_kazoo", b"k", acl=[zk_acl("sasl", "bob")])
        out["kazoo_acl"] = [(a.perms, a.id.scheme, a.id.id) for a in zk.get_acls("/sasl_kazoo")[0]]
    finally:
        zk.stop()
        zk.close()
    bad = KazooClient(hosts=srv.hostport, timeout=2.0, connection_retry={"max_tries": 0},
                      sasl_options={"mechanism": "DIGEST-MD5", "username": "bob",
                                    "password": "wrong"})
    try:
        bad.start(timeout=4)
        out["wrong_password"] = "connected"
    except (KazooException, Exception) as e:  # the exception kazoo raises, by class
        out["wrong_password"] = type(e).__name__
    finally:
        bad.stop()
        bad.close()
    return out


def zk_acl(scheme: str, ident: str):
    from kazoo.security import make_acl
    return make_acl(scheme, ident, all=True)


def test_sasl_digest_md5_side_by_side(sasl_servers):
    got = {k: script(s) for k, s in sasl_servers.items()}
    zk = got["zookeeper"]
    # What ZooKeeper does, spelled out, so a change on either side is read here first.
    assert zk["bob_login"]["errs"] == [0, 0] and zk["bob_login"]["complete"]
    assert zk["bob_login"]["challenge"] == (
        'realm="zk-sasl-md5",nonce="<40 base64>",charset=utf-8,algorithm=md5-sess')
    assert ("sasl", "bob") in zk["bob_whoami"][1]
    assert zk["bob_get"] == 0 and zk["anon_get"] == zkwire.Err.NO_AUTH
    assert ("super", "") in zk["super_whoami"][1]
    assert zk["wrong_password"]["errs"] == [0, zkwire.Err.AUTH_FAILED]
    assert zk["wrong_password_closed"] == "closed"
    if "zooid" in got:
        assert got["zooid"] == zk


def start_pair(tmp_path_factory, cfg: dict, flags: list[str]) -> dict[str, Server]:
    kinds = ["zookeeper"] if ONLY_ZK else KINDS
    return {k: Server(k, cfg, _workdir(tmp_path_factory, k), flags).start() for k in kinds}


def jaas_flags(tmp_path_factory) -> list[str]:
    jaas = tmp_path_factory.mktemp("jaas") / "jaas.conf"
    jaas.write_text(JAAS)
    return [f"-Djava.security.auth.login.config={jaas}"]


def test_sasl_required_closes_unauthenticated_sessions(tmp_path_factory):
    cfg = dict(CFG, sessionRequireClientSASLAuth="true")
    srvs = start_pair(tmp_path_factory, cfg, jaas_flags(tmp_path_factory))
    try:
        got = {}
        for k, srv in srvs.items():
            out = {}
            with conn_of(srv) as anon:
                out["anon_get"] = anon.get_data("/")[0]
                out["anon_closed"] = zkwire.wait_closed(anon.sock, 5.0)
                anon.closed = True
            c = conn_of(srv)
            out["wrong_password"] = sasl_login(c, "bob", "nope")
            out["wrong_password_closed"] = zkwire.wait_closed(c.sock, 5.0)
            c.abandon()
            with conn_of(srv) as bob:
                out["bob_login"] = sasl_login(bob, "bob", "bobsecret")["errs"]
                out["bob_get"] = bob.get_data("/")[0]
            got[k] = out
        zk = got["zookeeper"]
        assert zk["anon_get"] == zkwire.Err.SESSION_CLOSED_REQUIRE_SASL
        assert zk["anon_closed"] == "closed"
        assert zk["wrong_password"]["errs"] == [0, zkwire.Err.SESSION_CLOSED_REQUIRE_SASL]
        assert zk["bob_get"] == 0
        if "zooid" in got:
            assert got["zooid"] == zk
    finally:
        for s in srvs.values():
            s.stop()


def test_sasl_acls_need_the_provider(tmp_path_factory):
    # The JAAS file alone makes a SASL server, but without SASLAuthenticationProvider
    # the sasl scheme is unknown to ACLs.
    srvs = start_pair(tmp_path_factory, {}, jaas_flags(tmp_path_factory))
    try:
        got = {}
        for k, srv in srvs.items():
            with conn_of(srv) as bob:
                got[k] = {
                    "login": sasl_login(bob, "bob", "bobsecret")["errs"],
                    "whoami": whoami(bob),
                    "sasl_acl": bob.create("/sasl_np", b"", acl=[(ALL, "sasl", "bob")])[0],
                    "auth_acl": bob.create("/sasl_np2", b"", acl=[(ALL, "auth", "")])[0],
                }
        zk = got["zookeeper"]
        assert zk["login"] == [0, 0]
        assert zk["sasl_acl"] == zkwire.Err.INVALID_ACL
        if "zooid" in got:
            assert got["zooid"] == zk
    finally:
        for s in srvs.values():
            s.stop()


def test_a_missing_jaas_file_stops_the_start(tmp_path_factory):
    missing = tmp_path_factory.mktemp("jaas") / "absent.conf"
    kinds = ["zookeeper"] if ONLY_ZK else KINDS
    for k in kinds:
        srv = Server(k, CFG, _workdir(tmp_path_factory, k),
                     [f"-Djava.security.auth.login.config={missing}"])
        with pytest.raises(RuntimeError, match="did not become ready"):
            srv.start()
        log = srv.log_path.read_text()
        assert str(missing) in log, (k, log[-2000:])


def test_a_jaas_file_without_the_section(tmp_path_factory):
    """ZooKeeper starts without a SASL server when the named file lacks the section (no
    error, no warning); Zooid refuses to start, on purpose: the operator asked for SASL."""
    jaas = tmp_path_factory.mktemp("jaas") / "jaas.conf"
    jaas.write_text("Client { org.apache.zookeeper.server.auth.DigestLoginModule required; };")
    flags = [f"-Djava.security.auth.login.config={jaas}"]
    zk = Server("zookeeper", CFG, _workdir(tmp_path_factory, "zookeeper"), flags).start()
    zk.stop()
    if ONLY_ZK:
        return
    srv = Server("zooid", CFG, _workdir(tmp_path_factory, "zooid"), flags)
    with pytest.raises(RuntimeError, match="did not become ready"):
        srv.start()
    assert "No JAAS configuration section named 'Server' was found" in srv.log_path.read_text()


def java_cli_whoami(srv: Server, jaas) -> list[str]:
    """zkCli (the JDK's DIGEST-MD5 client) runs `whoami` as the JAAS `Client` account."""
    import subprocess
    from conftest import java_bin, zk_classpath
    cmd = [java_bin(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m",
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=off",
           f"-Djava.security.auth.login.config={jaas}",
           "-cp", zk_classpath(), "org.apache.zookeeper.ZooKeeperMain",
           "-server", srv.hostport, "whoami"]
    p = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=60)
    keep = ("WatchedEvent state:", "sasl:", "ip:", "super:")
    return sorted({ln.strip() for ln in p.stdout.splitlines() if ln.startswith(keep)})


def test_java_client_side_by_side(sasl_servers, tmp_path_factory):
    d = tmp_path_factory.mktemp("jaas_client")
    good, bad = d / "good.conf", d / "bad.conf"
    client = ('Client { org.apache.zookeeper.server.auth.DigestLoginModule required '
              'username="bob" password="%s"; };')
    good.write_text(client % "bobsecret")
    bad.write_text(client % "wrong")
    got = {k: {"good": java_cli_whoami(s, good), "bad": java_cli_whoami(s, bad)}
           for k, s in sasl_servers.items()}
    zk = got["zookeeper"]
    assert "WatchedEvent state:SaslAuthenticated type:None path:null" in zk["good"]
    assert "sasl: bob" in zk["good"]
    assert "WatchedEvent state:AuthFailed type:None path:null" in zk["bad"]
    if "zooid" in got:
        assert got["zooid"] == zk
