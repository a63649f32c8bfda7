import errno
import socket

from ansible_collections.apiplatform.ha.plugins.modules.peer_reachability import probe


class _Sock:
    def close(self):
        pass


def _raiser(exc):
    def connect(addr, timeout):
        raise exc

    return connect


def test_connected_is_reachable():
    ok, detail, _dummy = probe("192.0.2.1", 22, 1, connect=lambda addr, timeout: _Sock())
    assert ok and detail == "connected"


def test_refused_means_the_host_answered():
    ok, detail, _dummy = probe("192.0.2.1", 22, 1, connect=_raiser(OSError(errno.ECONNREFUSED, "refused")))
    assert ok and "refused" in detail


def test_timeout_and_no_route_are_unreachable():
    assert probe("192.0.2.1", 22, 1, connect=_raiser(TimeoutError()))[0] is False
    ok, detail, _dummy = probe("192.0.2.1", 22, 1, connect=_raiser(OSError(errno.EHOSTUNREACH, "No route to host")))
    assert not ok and detail == "No route to host"
    assert (
        probe("nowhere.invalid", 22, 1, connect=_raiser(socket.gaierror(-2, "Name or service not known")))[0] is False
    )


def test_real_refused_port_on_loopback():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ok, detail, _dummy = probe("127.0.0.1", port, 1)
    assert ok and "refused" in detail
