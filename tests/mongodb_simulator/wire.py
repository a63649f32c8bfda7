"""Wire protocol plumbing of the apiplatform.ha replica-set simulator (not MongoDB).

Server side: a `mockupdb.MockupDB` subclass that binds a given address and dispatches every request to one handler
on the connection's own thread (stock MockupDB serialises all connections behind one lock, which would let an
awaitable hello or a w:majority wait block heartbeats).

Peer side: a minimal OP_MSG client for the simulator's own member-to-member traffic (replSetHeartbeat and the
simulator* commands), with hard per-call timeouts and no background monitoring threads.
"""

import contextlib
import random
import socket
import struct
import threading
import traceback
import weakref

import bson
import mockupdb
from bson.codec_options import CodecOptions

OP_MSG = 2013
MORE_TO_COME = 1 << 1
PEER_CODEC = CodecOptions(tz_aware=True)


def split_host(host):
    host = str(host)
    if host.startswith("["):
        name, _sep, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "27017"
        return name, int(port)
    if host.count(":") == 1:
        name, port = host.rsplit(":", 1)
        return name, int(port)
    return host, 27017


class ConnectionState:
    """Per client connection: authenticated users and SASL conversations."""

    def __init__(self, peer):
        self.peer = peer
        self.users = set()
        self.conversations = {}
        self.next_conversation = 1


class SimulatorWireServer(mockupdb.MockupDB):
    def __init__(self, bind_ip, port, handler, log):
        super().__init__(port=port, request_timeout=int(1e6))
        self._address = (bind_ip, port)
        self._handler = handler
        self._sim_log = log
        self.connections = weakref.WeakKeyDictionary()
        self.connections_lock = threading.Lock()

    def run(self):
        host, port = self._address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        self._listening_sock = sock
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"accept-{host}", daemon=True)
        self._accept_thread.start()
        return port

    def connection_state(self, request):
        client = request._client
        with self.connections_lock:
            state = self.connections.get(client)
            if state is None:
                try:
                    peer = client.getpeername()[0]
                except OSError:
                    peer = ""
                state = ConnectionState(peer)
                self.connections[client] = state
            return state

    def _server_loop(self, client, client_addr):
        while not self._stopped:
            try:
                request = mockupdb.mock_server_receive_request(client, self)
            except (OSError, struct.error, EOFError):
                break
            except Exception as exc:
                self._sim_log(f"dropping connection from {mockupdb.format_addr(client_addr)}: bad message: {exc}")
                break
            try:
                self._handler(request)
            except OSError:
                break
            except Exception:
                self._sim_log("internal error: " + traceback.format_exc().replace("\n", " | "))
                try:
                    if not _more_to_come(request):
                        request.replies(ok=0, code=1, codeName="InternalError", errmsg="replica-set simulator error")
                except OSError:
                    break
        with contextlib.suppress(OSError):
            client.close()


def _more_to_come(request):
    return isinstance(request, mockupdb.OpMsg) and bool((request.flags or 0) & MORE_TO_COME)


def send_reply(request, doc):
    if _more_to_come(request):
        return
    request.replies(doc)


def _recv_exact(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("connection closed by peer")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class PeerError(Exception):
    """A peer did not answer (connection refused, timeout, closed)."""


class PeerClient:
    """One connection to one peer, used by one purpose at a time (heartbeat, pull, vote...)."""

    def __init__(self, host):
        self.host = host
        self._sock = None
        self._lock = threading.Lock()

    def close(self):
        with self._lock:
            self._close()

    def _close(self):
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def command(self, doc, timeout):
        body = dict(doc)
        body.setdefault("$db", "admin")
        payload = struct.pack("<I", 0) + b"\x00" + bson.encode(body)
        request_id = random.randint(1, 2**31 - 1)
        message = struct.pack("<iiii", 16 + len(payload), request_id, 0, OP_MSG) + payload
        with self._lock:
            try:
                if self._sock is None:
                    name, port = split_host(self.host)
                    self._sock = socket.create_connection((name, port), timeout=timeout)
                    self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sock.settimeout(timeout)
                self._sock.sendall(message)
                header = _recv_exact(self._sock, 16)
                length, _rid, _resp_to, opcode = struct.unpack("<iiii", header)
                data = _recv_exact(self._sock, length - 16)
            except (OSError, ValueError) as exc:
                self._close()
                raise PeerError(_describe(exc)) from None
            if opcode != OP_MSG or data[4:5] != b"\x00":
                self._close()
                raise PeerError(f"unexpected reply opcode {opcode}")
            return bson.decode(data[5:], codec_options=PEER_CODEC)


def _describe(exc):
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "Operation timed out"
    if isinstance(exc, socket.gaierror):
        return f"Could not resolve host: {exc}"
    return str(exc) or exc.__class__.__name__
