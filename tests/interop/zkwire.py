"""Minimal raw ZooKeeper wire-protocol client (jute encoding via struct).

Used by the interop tests for everything kazoo cannot express: containers, TTL nodes,
persistent watches, removeWatches, multiRead, getEphemerals, getAllChildrenNumber,
whoAmI, unknown opcodes, malformed frames. Every blocking call is bounded by a timeout.

Only the client side is implemented, and only what the tests need. The encoding follows
Apache ZooKeeper's zookeeper.jute (3.8).
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# constants

class Op:
    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class Xid:
    NOTIFICATION = -1
    PING = -2
    AUTH = -4
    SET_WATCHES = -8


class Err:
    OK = 0
    SYSTEM_ERROR = -1
    RUNTIME_INCONSISTENCY = -2
    DATA_INCONSISTENCY = -3
    CONNECTION_LOSS = -4
    MARSHALLING_ERROR = -5
    UNIMPLEMENTED = -6
    OPERATION_TIMEOUT = -7
    BAD_ARGUMENTS = -8
    UNKNOWN_SESSION = -12
    NEW_CONFIG_NO_QUORUM = -13
    RECONFIG_IN_PROGRESS = -14
    API_ERROR = -100
    NO_NODE = -101
    NO_AUTH = -102
    BAD_VERSION = -103
    NO_CHILDREN_FOR_EPHEMERALS = -108
    NODE_EXISTS = -110
    NOT_EMPTY = -111
    SESSION_EXPIRED = -112
    INVALID_CALLBACK = -113
    INVALID_ACL = -114
    AUTH_FAILED = -115
    SESSION_MOVED = -118
    NOT_READ_ONLY = -119
    EPHEMERAL_ON_LOCAL_SESSION = -120
    NO_WATCHER = -121
    REQUEST_TIMEOUT = -122
    RECONFIG_DISABLED = -123
    SESSION_CLOSED_REQUIRE_SASL = -124
    QUOTA_EXCEEDED = -125
    THROTTLED = -127

    @classmethod
    def name(cls, code: int) -> str:
        for k, v in vars(cls).items():
            if k.isupper() and v == code:
                return k
        return f"ERR({code})"


class CreateMode:
    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6


class EventType:
    NONE = -1
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4
    DATA_WATCH_REMOVED = 5
    CHILD_WATCH_REMOVED = 6
    PERSISTENT_WATCH_REMOVED = 7


class KeeperState:
    DISCONNECTED = 0
    SYNC_CONNECTED = 3
    AUTH_FAILED = 4
    CONNECTED_READ_ONLY = 5
    SASL_AUTHENTICATED = 6
    CLOSED = 7
    EXPIRED = -112


class WatcherType:
    CHILDREN = 1
    DATA = 2
    ANY = 3


class AddWatchMode:
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class Perm:
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


OPEN_ACL_UNSAFE = [(Perm.ALL, "world", "anyone")]

# ---------------------------------------------------------------------------
# encoding


class Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def int(self, v: int) -> "Writer":
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v: int) -> "Writer":
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v: bool) -> "Writer":
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, v: bytes | None) -> "Writer":
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.parts.append(bytes(v))
        return self

    def string(self, v: str | bytes | None) -> "Writer":
        """A jute ustring; bytes are sent as they are (to test invalid UTF-8)."""
        if isinstance(v, (bytes, bytearray)):
            return self.buffer(bytes(v))
        return self.buffer(None if v is None else v.encode("utf-8"))

    def acl(self, acls) -> "Writer":
        if acls is None:
            return self.int(-1)
        self.int(len(acls))
        for perms, scheme, ident in acls:
            self.int(perms).string(scheme).string(ident)
        return self

    def strings(self, vs) -> "Writer":
        if vs is None:
            return self.int(-1)
        self.int(len(vs))
        for s in vs:
            self.string(s)
        return self

    def raw(self, b: bytes) -> "Writer":
        self.parts.append(b)
        return self

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class DecodeError(Exception):
    pass


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"need {n} bytes at {self.pos}, have {len(self.data) - self.pos}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def int(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def long(self) -> int:
        return struct.unpack(">q", self._take(8))[0]

    def bool(self) -> bool:
        return self._take(1) != b"\x00"

    def buffer(self) -> bytes | None:
        n = self.int()
        if n < 0:
            return None
        return self._take(n)

    def string(self) -> str | None:
        b = self.buffer()
        return None if b is None else b.decode("utf-8", "surrogateescape")

    def stat(self) -> "Stat":
        return Stat(*(self.long(), self.long(), self.long(), self.long(), self.int(), self.int(),
                      self.int(), self.long(), self.int(), self.int(), self.long()))

    def acl(self):
        n = self.int()
        if n < 0:
            return None
        return [(self.int(), self.string(), self.string()) for _ in range(n)]

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.string() for _ in range(n)]


@dataclass(frozen=True)
class Stat:
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


@dataclass
class Reply:
    xid: int
    zxid: int
    err: int
    body: bytes

    def reader(self) -> Reader:
        return Reader(self.body)


@dataclass
class Event:
    type: int
    state: int
    path: str | None


@dataclass
class ConnectResponse:
    protocol_version: int
    timeout: int
    session_id: int
    passwd: bytes
    read_only: bool | None


# ---------------------------------------------------------------------------
# request bodies


def connect_request(timeout_ms: int, session_id: int = 0, passwd: bytes = b"\x00" * 16,
                    last_zxid: int = 0, read_only: bool | None = False) -> bytes:
    w = Writer().int(0).long(last_zxid).int(timeout_ms).long(session_id).buffer(passwd)
    if read_only is not None:
        w.bool(read_only)
    return w.bytes()


def path_watch(path: str, watch: bool = False) -> bytes:
    return Writer().string(path).bool(watch).bytes()


def path_only(path: str) -> bytes:
    return Writer().string(path).bytes()


def create_body(path: str, data: bytes = b"", acl=OPEN_ACL_UNSAFE, flags: int = 0,
                ttl: int | None = None) -> bytes:
    w = Writer().string(path).buffer(data).acl(acl).int(flags)
    if ttl is not None:
        w.long(ttl)
    return w.bytes()


def delete_body(path: str, version: int = -1) -> bytes:
    return Writer().string(path).int(version).bytes()


def set_data_body(path: str, data: bytes, version: int = -1) -> bytes:
    return Writer().string(path).buffer(data).int(version).bytes()


def set_acl_body(path: str, acl, version: int = -1) -> bytes:
    return Writer().string(path).acl(acl).int(version).bytes()


def check_body(path: str, version: int) -> bytes:
    return Writer().string(path).int(version).bytes()


def watches_body(path: str, wtype: int) -> bytes:
    return Writer().string(path).int(wtype).bytes()


def add_watch_body(path: str, mode: int) -> bytes:
    return Writer().string(path).int(mode).bytes()


def auth_body(scheme: str, auth: bytes) -> bytes:
    return Writer().int(0).string(scheme).buffer(auth).bytes()


def multi_body(ops) -> bytes:
    """ops: list of (opcode, body-bytes). Appends the terminating header."""
    w = Writer()
    for opcode, body in ops:
        w.int(opcode).bool(False).int(-1).raw(body)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


def set_watches_body(rel_zxid: int, data=(), exist=(), child=()) -> bytes:
    return Writer().long(rel_zxid).strings(list(data)).strings(list(exist)).strings(list(child)).bytes()


def set_watches2_body(rel_zxid: int, data=(), exist=(), child=(), persistent=(),
                      persistent_recursive=()) -> bytes:
    return (Writer().long(rel_zxid).strings(list(data)).strings(list(exist))
            .strings(list(child)).strings(list(persistent))
            .strings(list(persistent_recursive)).bytes())


# ---------------------------------------------------------------------------
# response decoding


def decode_multi(body: bytes, read: bool = False):
    """Decode a MultiResponse. Returns a list of (opcode, err, payload).

    For write multi: create -> path, create2/ttl/container -> (path, Stat),
    setData -> Stat, delete/check -> None, error -> err code in `err`.
    For multiRead: getChildren -> [names], getData -> (data, Stat).
    """
    r = Reader(body)
    out = []
    while True:
        typ, done, err = r.int(), r.bool(), r.int()
        if done:
            break
        if typ == Op.ERROR:
            out.append((typ, r.int(), None))
        elif typ == Op.CREATE:
            out.append((typ, err, r.string()))
        elif typ in (Op.CREATE2, Op.CREATE_TTL, Op.CREATE_CONTAINER):
            out.append((typ, err, (r.string(), r.stat())))
        elif typ == Op.SET_DATA:
            out.append((typ, err, r.stat()))
        elif typ in (Op.DELETE, Op.CHECK):
            out.append((typ, err, None))
        elif typ == Op.GET_CHILDREN:
            out.append((typ, err, r.strings()))
        elif typ == Op.GET_DATA:
            out.append((typ, err, (r.buffer(), r.stat())))
        else:
            raise DecodeError(f"unknown multi result type {typ}")
    return out


# ---------------------------------------------------------------------------
# the connection


class ConnectionClosed(Exception):
    pass


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out reading {n} bytes (got {len(buf)})")
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout as e:
            raise TimeoutError(f"timed out reading {n} bytes (got {len(buf)})") from e
        except (ConnectionResetError, BrokenPipeError) as e:
            raise ConnectionClosed(str(e)) from e
        if not chunk:
            raise ConnectionClosed(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    (n,) = struct.unpack(">i", _recv_exact(sock, 4, deadline))
    if n < 0 or n > 64 * 1024 * 1024:
        raise DecodeError(f"bad frame length {n}")
    return _recv_exact(sock, n, deadline)


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def split_hostport(hostport: str) -> tuple[str, int]:
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def wait_closed(sock: socket.socket, timeout: float = 5.0) -> str:
    """Read until the peer closes. Returns 'closed' or 'open' (still open at the
    timeout). A reset counts as closed: a server that closes a socket with unread input
    makes the kernel send RST instead of FIN, depending on timing."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "open"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return "open"
        except (ConnectionResetError, BrokenPipeError):
            return "closed"
        if not chunk:
            return "closed"


class Conn:
    """One raw client session. Replies are matched to requests by order (ZooKeeper
    answers a session's requests in order); notifications are collected in `events`,
    and `log` records every frame in arrival order as ('event', Event) or
    ('reply', xid, err)."""

    def __init__(self, hostport: str, timeout_ms: int = 10000, session_id: int = 0,
                 passwd: bytes = b"\x00" * 16, read_only: bool | None = False,
                 io_timeout: float = 5.0) -> None:
        self.io_timeout = io_timeout
        self.sock = socket.create_connection(split_hostport(hostport), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(frame(connect_request(timeout_ms, session_id, passwd,
                                                read_only=read_only)))
        body = recv_frame(self.sock, io_timeout)
        r = Reader(body)
        pv, to, sid, pw = r.int(), r.int(), r.long(), r.buffer()
        ro = r.bool() if r.remaining() else None
        self.connect_response = ConnectResponse(pv, to, sid, pw or b"", ro)
        self.session_id = sid
        self.passwd = pw or b""
        self.negotiated_timeout = to
        self.xid = 0
        self.events: list[Event] = []
        self.log: list[tuple] = []
        self.closed = False

    # -- low level

    def send(self, opcode: int, body: bytes = b"", xid: int | None = None) -> int:
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.sock.sendall(frame(Writer().int(xid).int(opcode).bytes() + body))
        return xid

    def _read_one(self, timeout: float):
        body = recv_frame(self.sock, timeout)
        r = Reader(body)
        xid, zxid, err = r.int(), r.long(), r.int()
        if xid == Xid.NOTIFICATION:
            ev = Event(r.int(), r.int(), r.string())
            self.events.append(ev)
            self.log.append(("event", ev))
            return None
        rep = Reply(xid, zxid, err, body[r.pos:])
        self.log.append(("reply", xid, err))
        return rep

    def recv_reply(self, xid: int | None = None, timeout: float | None = None) -> Reply:
        deadline = time.monotonic() + (timeout or self.io_timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply")
            rep = self._read_one(left)
            if rep is None:
                continue
            if rep.xid == Xid.PING and xid != Xid.PING:
                continue
            if xid is not None and rep.xid != xid:
                raise DecodeError(f"reply xid {rep.xid} != expected {xid}")
            return rep

    def call(self, opcode: int, body: bytes = b"", xid: int | None = None) -> Reply:
        x = self.send(opcode, body, xid)
        return self.recv_reply(x)

    def wait_events(self, n: int, timeout: float = 5.0) -> list[Event]:
        """Wait until at least n events have been collected (bounded)."""
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"only {len(self.events)} of {n} events: {self.events}")
            try:
                rep = self._read_one(left)
            except TimeoutError:
                continue
            if rep is not None and rep.xid != Xid.PING:
                raise DecodeError(f"unexpected reply {rep} while waiting for events")
        return self.events

    def drain(self, quiet: float = 0.3) -> None:
        """Read frames until the connection is quiet for `quiet` seconds."""
        while True:
            try:
                rep = self._read_one(quiet)
            except TimeoutError:
                return
            if rep is not None and rep.xid != Xid.PING:
                raise DecodeError(f"unexpected reply {rep} while draining")

    def ping(self) -> Reply:
        return self.call(Op.PING, b"", xid=Xid.PING)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.call(Op.CLOSE_SESSION)
        except Exception:
            pass
        self.abandon()

    def abandon(self) -> None:
        """Close the TCP connection without closing the session."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- typed helpers: each returns (err, decoded-or-None)

    def create(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0, ttl=None, op=None):
        if op is None:
            op = Op.CREATE_TTL if ttl is not None else Op.CREATE2
        rep = self.call(op, create_body(path, data, acl, flags, ttl))
        if rep.err:
            return rep.err, None
        r = rep.reader()
        if op == Op.CREATE:
            return 0, r.string()
        return 0, (r.string(), r.stat())

    def delete(self, path, version=-1):
        return self.call(Op.DELETE, delete_body(path, version)).err, None

    def exists(self, path, watch=False):
        rep = self.call(Op.EXISTS, path_watch(path, watch))
        return rep.err, (rep.reader().stat() if rep.err == 0 else None)

    def get_data(self, path, watch=False):
        rep = self.call(Op.GET_DATA, path_watch(path, watch))
        if rep.err:
            return rep.err, None
        r = rep.reader()
        return 0, (r.buffer(), r.stat())

    def set_data(self, path, data, version=-1):
        rep = self.call(Op.SET_DATA, set_data_body(path, data, version))
        return rep.err, (rep.reader().stat() if rep.err == 0 else None)

    def get_children(self, path, watch=False):
        rep = self.call(Op.GET_CHILDREN, path_watch(path, watch))
        return rep.err, (rep.reader().strings() if rep.err == 0 else None)

    def get_children2(self, path, watch=False):
        rep = self.call(Op.GET_CHILDREN2, path_watch(path, watch))
        if rep.err:
            return rep.err, None
        r = rep.reader()
        return 0, (r.strings(), r.stat())

    def get_acl(self, path):
        rep = self.call(Op.GET_ACL, path_only(path))
        if rep.err:
            return rep.err, None
        r = rep.reader()
        return 0, (r.acl(), r.stat())

    def set_acl(self, path, acl, version=-1):
        rep = self.call(Op.SET_ACL, set_acl_body(path, acl, version))
        return rep.err, (rep.reader().stat() if rep.err == 0 else None)

    def sync(self, path):
        rep = self.call(Op.SYNC, path_only(path))
        return rep.err, (rep.reader().string() if rep.err == 0 else None)

    def get_ephemerals(self, prefix):
        rep = self.call(Op.GET_EPHEMERALS, path_only(prefix))
        return rep.err, (rep.reader().strings() if rep.err == 0 else None)

    def get_all_children_number(self, path):
        rep = self.call(Op.GET_ALL_CHILDREN_NUMBER, path_only(path))
        return rep.err, (rep.reader().int() if rep.err == 0 else None)

    def add_watch(self, path, mode):
        return self.call(Op.ADD_WATCH, add_watch_body(path, mode)).err, None

    def remove_watches(self, path, wtype):
        return self.call(Op.REMOVE_WATCHES, watches_body(path, wtype)).err, None

    def check_watches(self, path, wtype):
        return self.call(Op.CHECK_WATCHES, watches_body(path, wtype)).err, None

    def multi(self, ops):
        rep = self.call(Op.MULTI, multi_body(ops))
        return rep.err, decode_multi(rep.body) if rep.body else None

    def multi_read(self, ops):
        rep = self.call(Op.MULTI_READ, multi_body(ops))
        return rep.err, decode_multi(rep.body, read=True) if rep.body else None

    def who_am_i(self):
        rep = self.call(Op.WHO_AM_I)
        if rep.err:
            return rep.err, None
        r = rep.reader()
        n = r.int()
        return 0, [(r.string(), r.string()) for _ in range(max(n, 0))]

    def add_auth(self, scheme: str, auth: bytes, timeout: float | None = None):
        """Send an auth packet. Returns the reply error code (AuthFailed is -115); on a
        failed auth ZooKeeper also sends an AuthFailed event and closes the connection."""
        rep = self.call(Op.AUTH, auth_body(scheme, auth), xid=Xid.AUTH)
        return rep.err, None
