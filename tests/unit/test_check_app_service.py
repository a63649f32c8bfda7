"""Decision logic and HTTP of roles/app_service/files/check_app_service.py."""

import importlib.util
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "app_service" / "files" / "check_app_service.py"
spec = importlib.util.spec_from_file_location("check_app_service", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

HEALTHY = {"version": "1.0.0", "dependencies": {"postgresql": {"ok": True}, "mongodb": {"ok": True}}}


def test_ok_when_200_and_every_dependency_ok():
    code, line = check.evaluate("dashboard", 200, HEALTHY, 0.01, 2.0)
    assert code == check.OK
    assert line.startswith("OK: dashboard 1.0.0 healthy, 2 dependencies ok |")
    assert "dependencies_failed=0" in line


def test_warning_when_a_dependency_fails_but_it_serves():
    body = {"dependencies": {"postgresql": {"ok": True}, "rabbitmq": {"ok": False}}}
    code, line = check.evaluate("dashboard", 200, body, 0.01, 2.0)
    assert code == check.WARNING
    assert "rabbitmq failing" in line


def test_warning_when_slow():
    assert check.evaluate("x", 200, HEALTHY, 3.5, 2.0)[0] == check.WARNING


@pytest.mark.parametrize(("status", "needle"), [(None, "does not answer"), (503, "answers 503")])
def test_critical_when_down_or_unhealthy(status, needle):
    code, line = check.evaluate("dashboard", status, {"dependencies": {"postgresql": {"ok": False}}}, 0.1, 2.0)
    assert code == check.CRITICAL
    assert needle in line


def test_bad_arguments_are_unknown(capsys):
    assert check.main(["--timeout", "soon"]) == check.UNKNOWN


def _serve(status, body):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_main_against_a_real_endpoint(capsys):
    server = _serve(503, {"dependencies": {"postgresql": {"ok": False}}})
    try:
        url = f"http://127.0.0.1:{server.server_port}/health"
        assert check.main(["--url", url, "--name", "dashboard"]) == check.CRITICAL
        assert "answers 503 (failing: postgresql)" in capsys.readouterr().out
    finally:
        server.shutdown()
    assert check.main(["--url", url, "--timeout", "1"]) == check.CRITICAL
