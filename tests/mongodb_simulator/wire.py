"""Wire protocol plumbing of the apiplatform.ha replica-set simulator (not MongoDB).

Server side: a `mockupdb.MockupDB` subclass that binds a given address and dispatches every request to one handler
on the connection's own thread (stock MockupDB serialises all connections behind one lock, which would let an
awaitable hello or a w:majority wait block heartbeats).

Peer side: a minimal OP_MSG client for the simulator's own member-to-member traffic (replSetHeartbeat and the
simulator* commands), with hard per-call timeouts and no background monitoring threads.

TLS (net.tls.mode other than disabled): each connection's thread peeks at the first byte; a TLS ClientHello is
wrapped with the server context (handshake bounded by TLS_HANDSHAKE_TIMEOUT), plaintext is served in allowTLS and
preferTLS and dropped in requireTLS, as mongod does. With preferTLS/requireTLS the members talk to each other over
TLS too (configure_peer_tls), presenting their own certificateKeyFile and verifying the peer with CAFile.
"""

import contextlib
import random
import socket
import ssl
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
TLS_HANDSHAKE_TIMEOUT = 10.0
TLS_RECORD_HANDSHAKE = 0x16

_peer_tls_context = None


def server_tls_context(settings):
    """ssl.SSLContext for the listener, or None when TLS is disabled. Raises OSError/ssl.SSLError on bad files."""
    if not settings.tls_enabled:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(settings.tls_certificate_key_file)
    if settings.tls_ca_file:
        ctx.load_verify_locations(settings.tls_ca_file)
        ctx.verify_mode = (
            ssl.CERT_OPTIONAL if settings.tls_allow_connections_without_certificates else ssl.CERT_REQUIRED
        )
    return ctx


def configure_peer_tls(settings):
    """Make PeerClient use TLS when members must (preferTLS/requireTLS): own certificate as the client certificate,
    CAFile to verify the peer (without CAFile the peer is not verified -- a simplification)."""
    global _peer_tls_context
    if settings.tls_mode not in ("preferTLS", "requireTLS"):
        _peer_tls_context = None
        return
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(settings.tls_certificate_key_file)
    if settings.tls_ca_file:
        ctx.load_verify_locations(settings.tls_ca_file)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    _peer_tls_context = ctx


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
    def __init__(self, bind_ip, port, handler, log, tls_context=None, tls_mode="disabled"):
        super().__init__(port=port, request_timeout=int(1e6))
        self._address = (bind_ip, port)
        self._tls_context = tls_context
        self._tls_mode = tls_mode
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

    def _start_tls(self, client, client_addr):
        """The connection to serve (TLS-wrapped or plain), or None when it was dropped."""
        who = mockupdb.format_addr(client_addr)
        try:
            client.settimeout(TLS_HANDSHAKE_TIMEOUT)
            first = client.recv(1, socket.MSG_PEEK)
            if not first:  # a port probe: closed before sending anything
                client.close()
                return None
            if first[0] == TLS_RECORD_HANDSHAKE:
                client = self._tls_context.wrap_socket(client, server_side=True)
            elif self._tls_mode == "requireTLS":
                self._sim_log(f"connection from {who} rejected: not TLS and net.tls.mode is requireTLS")
                client.close()
                return None
            client.settimeout(None)
            return client
        except (OSError, ValueError) as exc:
            self._sim_log(f"TLS handshake with {who} failed: {_describe(exc)}")
            with contextlib.suppress(OSError):
                client.close()
            return None

    def _server_loop(self, client, client_addr):
        if self._tls_context is not None:
            client = self._start_tls(client, client_addr)
            if client is None:
                return
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
                    sock = socket.create_connection((name, port), timeout=timeout)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if _peer_tls_context is not None:
                        try:
                            sock = _peer_tls_context.wrap_socket(sock, server_hostname=name)
                        except OSError:
                            sock.close()
                            raise
                    self._sock = sock
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
