"""The secure client port, the same on Apache ZooKeeper and Zooid: kazoo connects over
TLS with a client certificate (PEM key and trust stores made here with the openssl
command), runs requests, and the `x509` identity (the subject as Java's
X500Principal.getName() prints it) passes an x509 ACL that the plain port's session
does not; a client without a certificate is refused (ssl.clientAuth=need, the default).
`zooid shell` and zkCli connect to both with one client configuration file.
ZooKeeper needs the Netty connection factory for TLS; Zooid ignores that key."""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

import conftest
from conftest import KINDS, ONLY_ZK, free_port, start_server

# The subject of the client certificate, and how X500Principal.getName() prints it:
# the RDNs last first, `,` and `+` escaped.
CLIENT_SUBJECT = "/C=NL/O=Test, Org/CN=kazoo\\+client"
CLIENT_DN = "CN=kazoo\\+client,O=Test\\, Org,C=NL"


def openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is missing (scripts/test-deps.sh installs it)",
                    pytrace=False)
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> None:
    """ca.pem; server.pem (key + certificate for 127.0.0.1); client.crt/client.key."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Interop Test CA", cwd=d)
    for name, subj, ext in (
        ("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", CLIENT_SUBJECT, "extendedKeyUsage=clientAuth"),
    ):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                "-extfile", f"{name}.ext", cwd=d)
    (d / "server.pem").write_text((d / "server.key").read_text()
                                  + (d / "server.crt").read_text())


# Debian's zookeeper.jar manifest lists only part of Netty: its TLS port also needs the
# codec and handler jars.
NETTY_JARS = [f"/usr/share/java/netty-{m}.jar" for m in
              ("codec", "handler", "transport", "buffer", "common", "resolver")]


@pytest.fixture
def tls_servers(tmp_path, monkeypatch):
    """{kind: (Server, secure port)}, each with its own secure port."""
    make_pki(tmp_path)
    base = conftest.zk_classpath
    extra = [j for j in NETTY_JARS if Path(j).exists()]
    monkeypatch.setattr(conftest, "zk_classpath", lambda: ":".join([base(), *extra]))
    kinds = ["zookeeper"] if ONLY_ZK else KINDS
    missing = [j for j in NETTY_JARS if not Path(j).exists()]
    if missing:
        pytest.fail(f"ZooKeeper's TLS port needs Debian's Netty jars (libnetty-java, "
                    f"installed with zookeeper): missing {missing}", pytrace=False)
    servers = {}
    try:
        for kind in kinds:
            port = free_port()
            cfg = {
                "secureClientPort": str(port),
                "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
                "ssl.keyStore.location": str(tmp_path / "server.pem"),
                "ssl.trustStore.location": str(tmp_path / "ca.pem"),
            }
            servers[kind] = (start_server(kind, cfg, tmp_path / kind), port)
        yield servers, tmp_path
    finally:
        for srv, _ in servers.values():
            srv.stop()


def tls_client(port: int, pki: Path, cert: bool = True) -> KazooClient:
    extra = {"certfile": str(pki / "client.crt"), "keyfile": str(pki / "client.key")} \
        if cert else {}
    return KazooClient(hosts=f"127.0.0.1:{port}", use_ssl=True, ca=str(pki / "ca.pem"),
                       verify_certs=True, timeout=10, connection_retry={"max_tries": 0},
                       **extra)


def test_kazoo_over_tls_with_x509_acl(tls_servers):
    servers, pki = tls_servers
    results = {}
    for kind, (srv, port) in servers.items():
        zk = tls_client(port, pki)
        zk.start(timeout=15)
        try:
            acl = [make_acl("x509", CLIENT_DN, all=True)]
            zk.create("/tls", b"secret", acl=acl)
            data, _ = zk.get("/tls")
            zk.set("/tls", b"changed")
            got_acl = [(a.id.scheme, a.id.id, a.perms) for a in zk.get_acls("/tls")[0]]
        finally:
            zk.stop()
            zk.close()
        plain = KazooClient(hosts=srv.hostport, timeout=10)
        plain.start(timeout=15)
        try:
            with pytest.raises(NoAuthError):
                plain.get("/tls")
        finally:
            plain.stop()
            plain.close()
        results[kind] = (data, got_acl)
    assert results[next(iter(results))] == (b"secret", [("x509", CLIENT_DN, 31)])
    for kind, r in results.items():
        assert r == (b"secret", [("x509", CLIENT_DN, 31)]), kind


def test_client_without_certificate_is_refused(tls_servers):
    servers, pki = tls_servers
    for kind, (_srv, port) in servers.items():
        ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            refused = False
            try:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    # TLS 1.3: the refusal arrives after the client's side of the handshake.
                    s.sendall(b"\x00\x00\x00\x2c" + b"\x00" * 44)
                    refused = s.recv(64) == b""
            except (ssl.SSLError, ConnectionError, OSError):
                refused = True
            assert refused, kind


def client_configuration(pki: Path, name: str, lines: str) -> Path:
    """A ZKClientConfig file as zkCli's -client-configuration reads it."""
    (pki / "client.pem").write_text((pki / "client.key").read_text()
                                    + (pki / "client.crt").read_text())
    path = pki / name
    path.write_text("zookeeper.client.secure=true\n"
                    "zookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty\n"
                    + lines)
    return path


def cli(command: list[str], port: int, cfg: Path, *words: str) -> subprocess.CompletedProcess:
    return subprocess.run([*command, "-server", f"127.0.0.1:{port}",
                           "-client-configuration", str(cfg), *words],
                          capture_output=True, text=True, timeout=60)


def zkcli_command() -> list[str]:
    cp = ":".join([conftest.zk_classpath(), *NETTY_JARS])
    return [conftest.java_bin(), "-cp", cp, "org.apache.zookeeper.ZooKeeperMain"]


def test_shells_over_tls_with_one_client_configuration(tls_servers):
    """`zooid shell` and zkCli take the same client configuration file and work over TLS
    against both servers; with a CA that did not sign the server's certificate, both fail
    the command with exit code 1."""
    servers, pki = tls_servers
    good = client_configuration(pki, "client.cfg",
                                f"zookeeper.ssl.keyStore.location={pki / 'client.pem'}\n"
                                f"zookeeper.ssl.trustStore.location={pki / 'ca.pem'}\n")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days", "2",
            "-subj", "/CN=Other CA", cwd=pki)
    untrusted = client_configuration(
        pki, "untrusted.cfg",
        f"zookeeper.ssl.keyStore.location={pki / 'client.pem'}\n"
        f"zookeeper.ssl.trustStore.location={pki / 'other.pem'}\n")
    shells = {"zooid shell": [str(conftest.zooid_bin()), "shell"], "zkCli": zkcli_command()}
    for kind, (_srv, port) in servers.items():
        for name, command in shells.items():
            path = f"/{name.replace(' ', '-')}"
            r = cli(command, port, good, "create", path, "over-tls")
            assert r.returncode == 0, (kind, name, r.stdout, r.stderr)
            r = cli(command, port, good, "get", path)
            assert r.returncode == 0, (kind, name, r.stdout, r.stderr)
            assert r.stdout.splitlines()[-1] == "over-tls", (kind, name, r.stdout)
            r = cli(command, port, untrusted, "get", path)
            assert r.returncode == 1, (kind, name, r.stdout, r.stderr)
            assert "ConnectionLoss" in r.stderr, (kind, name, r.stderr)


# Key and trust stores made by keytool (crates/zooid-server/src/tls/testdata/README.md).
STORES = Path(__file__).resolve().parents[2] / "crates/zooid-server/src/tls/testdata"
STORE_CLIENT_DN = "CN=client,O=Zooid"


@pytest.mark.parametrize("key_store,trust_store", [
    ("server.jks", "trust.p12"),
    ("server-ec.p12", "trust.jks"),
    ("server-p12.jks", "trust.p12"),  # a PKCS12 file named .jks: Java 9+ reads it as JKS
])
def test_jks_and_pkcs12_stores(tmp_path, monkeypatch, key_store, trust_store):
    """ZooKeeper and Zooid with the same JKS / PKCS12 stores and passwords serve the
    same client certificate, which gets the same x509 identity."""
    base = conftest.zk_classpath
    extra = [j for j in NETTY_JARS if Path(j).exists()]
    monkeypatch.setattr(conftest, "zk_classpath", lambda: ":".join([base(), *extra]))
    kinds = ["zookeeper"] if ONLY_ZK else KINDS
    results = {}
    for kind in kinds:
        port = free_port()
        cfg = {
            "secureClientPort": str(port),
            "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
            "ssl.keyStore.location": str(STORES / key_store),
            "ssl.keyStore.password": "serverpass",
            "ssl.trustStore.location": str(STORES / trust_store),
            "ssl.trustStore.password": "trustpass",
        }
        srv = start_server(kind, cfg, tmp_path / kind)
        try:
            zk = KazooClient(hosts=f"127.0.0.1:{port}", use_ssl=True,
                             ca=str(STORES / "ca.pem"), verify_certs=True,
                             certfile=str(STORES / "client-cert.pem"),
                             keyfile=str(STORES / "client-key.pem"),
                             timeout=10, connection_retry={"max_tries": 0})
            zk.start(timeout=15)
            try:
                zk.create("/stores", b"v", acl=[make_acl("x509", STORE_CLIENT_DN, all=True)])
                data, _ = zk.get("/stores")
                acl = [(a.id.scheme, a.id.id) for a in zk.get_acls("/stores")[0]]
            finally:
                zk.stop()
                zk.close()
        finally:
            srv.stop()
        results[kind] = (data, acl)
    for kind, r in results.items():
        assert r == (b"v", [("x509", STORE_CLIENT_DN)]), kind


def test_of_several_keys_the_same_one_serves(tmp_path, monkeypatch):
    """A JKS key store with two private keys (an RSA key signed by the CA, a self-signed
    EC key): ZooKeeper and Zooid present the same certificate to an OpenSSL client."""
    base = conftest.zk_classpath
    extra = [j for j in NETTY_JARS if Path(j).exists()]
    monkeypatch.setattr(conftest, "zk_classpath", lambda: ":".join([base(), *extra]))
    kinds = ["zookeeper"] if ONLY_ZK else KINDS
    served = {}
    for kind in kinds:
        port = free_port()
        cfg = {
            "secureClientPort": str(port),
            "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
            "ssl.keyStore.location": str(STORES / "two-keys.jks"),
            "ssl.keyStore.password": "serverpass",
            "ssl.trustStore.location": str(STORES / "trust.p12"),
            "ssl.trustStore.password": "trustpass",
        }
        srv = start_server(kind, cfg, tmp_path / kind)
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.load_cert_chain(str(STORES / "client-cert.pem"), str(STORES / "client-key.pem"))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw) as s:
                    served[kind] = s.getpeercert(binary_form=True)
        finally:
            srv.stop()
    first = next(iter(served.values()))
    for kind, cert in served.items():
        assert cert == first, kind
