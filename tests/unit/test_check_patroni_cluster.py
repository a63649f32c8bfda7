"""Decision logic of roles/patroni/files/check_patroni_cluster (a script without .py: imported with importlib)."""

import importlib.machinery
import importlib.util
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "patroni" / "files" / "check_patroni_cluster.py"


def _load():
    loader = importlib.machinery.SourceFileLoader("check_patroni_cluster", str(SCRIPT))
    spec = importlib.util.spec_from_loader("check_patroni_cluster", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


check = _load()
W, C = 1000, 5000


def member(name, role="replica", state="streaming", lag=0):
    m = {"name": name, "role": role, "state": state}
    if role != "leader":
        m["lag"] = lag
    return m


def healthy(*extra, **top):
    return dict({"members": [member("pg1", "leader", "running"), member("pg2"), member("pg3", lag=12), *extra]}, **top)


def test_ok():
    code, text, perf = check.evaluate(healthy(), W, C, 3)
    assert code == check.OK
    assert text == "leader pg1, 2/2 replicas streaming, max lag 12 B"
    assert perf == "members=3;;;0 replicas_streaming=2;;;0 max_lag_bytes=12B;1000;5000;0"


@pytest.mark.parametrize(
    ("cluster", "code", "needle"),
    [
        ({"members": [member("pg2"), member("pg3")]}, check.CRITICAL, "no leader"),
        ({"members": [member("pg1", "leader", "stopped"), member("pg2")]}, check.CRITICAL, "leader pg1 is stopped"),
        (healthy(member("pg4", lag=C)), check.CRITICAL, "pg4 lags 5000 B"),
        (healthy(member("pg4", lag=W)), check.WARNING, "pg4 lags 1000 B"),
        (healthy(member("pg4", state="stopped", lag="unknown")), check.WARNING, "pg4 is stopped (lag unknown)"),
        (healthy(pause=True), check.WARNING, "maintenance mode"),
        (
            {"members": [member("pg1", "leader", "running"), member("pg2", state="starting", lag="unknown")]},
            check.CRITICAL,
            "no replica streaming",
        ),
        ({"members": [member("pg1", "leader", "running")]}, check.WARNING, "1 of 3 expected members"),
    ],
)
def test_problems(cluster, code, needle):
    got, text, _perf = check.evaluate(cluster, W, C, 3)
    assert got == code and needle in text, text


def test_critical_wins_over_warning_and_standby_leader_counts():
    cluster = {"members": [member("pg2", lag=W), member("pg3", lag=C)], "pause": True}
    assert check.evaluate(cluster, W, C)[0] == check.CRITICAL
    standby = {"members": [member("s1", "standby_leader", "running"), member("s2")]}
    assert check.evaluate(standby, W, C)[0] == check.OK


def test_arguments():
    args = check.parse_args([])
    assert args.url == ["http://127.0.0.1:8008"] and args.warning_lag < args.critical_lag
    with pytest.raises(SystemExit):
        check.parse_args(["--warning-lag", "10", "--critical-lag", "5"])


@pytest.fixture
def server():
    """A local HTTP server answering /cluster with whatever the test sets."""
    state = {"status": 200, "body": healthy()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(state["body"]).encode() if not isinstance(state["body"], bytes) else state["body"]
            self.send_response(state["status"])
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_main_prints_one_line_with_perfdata(server, capsys):
    url, state = server
    assert check.main(["--url", url]) == check.OK
    out = capsys.readouterr().out
    assert out.startswith("PATRONI OK - leader pg1") and " | members=3;;;0" in out and out.count("\n") == 1
    state["body"] = b"<html>"
    assert check.main(["--url", url]) == check.UNKNOWN
    state.update(status=503, body=healthy())
    assert check.main(["--url", url, "--timeout", "2"]) == check.UNKNOWN
    assert "HTTP 503" in capsys.readouterr().out
