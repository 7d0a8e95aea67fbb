"""The AdminServer over HTTPS, the same on Apache ZooKeeper and Zooid: with
admin.forceHttps the port answers HTTPS only (plain HTTP gets a TLS alert, no HTTP
answer), with admin.portUnification it answers both on one port and counts the plain
connections in insecure_admin_count; the key and trust stores are the ssl.quorum.* ones
(PEM, made here with openssl); HTTPS answers carry Jetty's Strict-Transport-Security
header. ZooKeeper 3.8 has no admin.needClientAuth and no snapshot command: the x509
admin auth of 3.9 is tested against the 3.9.5 source in crates/zooid/tests/admin_tls.rs.
ZooKeeper needs Jetty and Jackson on its classpath for its AdminServer."""
from __future__ import annotations

import http.client
import json
import socket
import ssl
from pathlib import Path

import pytest

import conftest
from conftest import KINDS, ONLY_ZK, free_port, start_server
from test_tls import make_pki

# What Debian's zookeeper.jar manifest leaves out of JettyAdminServer's classpath.
ADMIN_JARS = [f"/usr/share/java/{j}.jar" for j in (
    "servlet-api", "jetty9-server", "jetty9-http", "jetty9-io", "jetty9-util",
    "jetty9-security", "jetty9-servlet", "jackson-databind", "jackson-core",
    "jackson-annotations")]

STS = "max-age=86400; includeSubDomains"


def admin_servers(tmp_path, monkeypatch, mode: dict[str, str]):
    """{kind: (Server, admin port)} with the admin port in `mode`."""
    make_pki(tmp_path)
    missing = [j for j in ADMIN_JARS if not Path(j).exists()]
    if missing:
        pytest.fail(f"ZooKeeper's AdminServer needs Debian's Jetty 9 and Jackson jars: "
                    f"missing {missing}", pytrace=False)
    base = conftest.zk_classpath
    monkeypatch.setattr(conftest, "zk_classpath", lambda: ":".join([base(), *ADMIN_JARS]))
    servers = {}
    for kind in (["zookeeper"] if ONLY_ZK else KINDS):
        port = free_port()
        cfg = {
            "admin.enableServer": "true",
            "admin.serverAddress": "127.0.0.1",
            "admin.serverPort": str(port),
            "ssl.quorum.keyStore.location": str(tmp_path / "server.pem"),
            "ssl.quorum.trustStore.location": str(tmp_path / "ca.pem"),
            **mode,
        }
        servers[kind] = (start_server(kind, cfg, tmp_path / kind), port)
    return servers


def https_get(port: int, pki: Path, path: str) -> tuple[int, str | None, bytes]:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    return _get(http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx), path)


def http_get(port: int, path: str) -> tuple[int, str | None, bytes]:
    return _get(http.client.HTTPConnection("127.0.0.1", port, timeout=10), path)


def _get(c: http.client.HTTPConnection, path: str) -> tuple[int, str | None, bytes]:
    """GET `path` on `c`: status, the HSTS header, body."""
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Strict-Transport-Security"), r.read()
    finally:
        c.close()


def plain_answer(port: int) -> bytes:
    """What a plain HTTP request gets back, up to the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /commands/ruok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        out = b""
        try:
            while chunk := s.recv(4096):
                out += chunk
        except ConnectionError:
            pass
        return out


def test_force_https_answers_tls_only(tmp_path, monkeypatch):
    servers = admin_servers(tmp_path, monkeypatch, {"admin.forceHttps": "true"})
    try:
        results = {}
        for kind, (_srv, port) in servers.items():
            plain = plain_answer(port)
            # A TLS alert record (Jetty's internal_error, rustls's decode_error) or
            # nothing: never an HTTP answer.
            assert plain[:1] in (b"", b"\x15"), (kind, plain)
            status, sts, body = https_get(port, tmp_path, "/commands/ruok")
            results[kind] = (status, sts, json.loads(body))
        for kind, r in results.items():
            assert r == (200, STS, {"command": "ruok", "error": None}), kind
    finally:
        for srv, _ in servers.values():
            srv.stop()


def test_port_unification_answers_both_and_counts_plain(tmp_path, monkeypatch):
    servers = admin_servers(tmp_path, monkeypatch, {"admin.portUnification": "true"})
    try:
        results = {}
        for kind, (_srv, port) in servers.items():
            plain = http_get(port, "/commands/ruok")
            secure = https_get(port, tmp_path, "/commands/ruok")
            plain_404 = http_get(port, "/nothing")[:2]
            _, _, monitor = https_get(port, tmp_path, "/commands/monitor")
            insecure = json.loads(monitor)["insecure_admin_count"]
            results[kind] = (plain[:2], json.loads(plain[2]), secure[:2],
                             json.loads(secure[2]), plain_404, insecure)
        expected = ((200, None), {"command": "ruok", "error": None}, (200, STS),
                    {"command": "ruok", "error": None}, (404, None), 2)
        for kind, r in results.items():
            assert r == expected, kind
    finally:
        for srv, _ in servers.values():
            srv.stop()
