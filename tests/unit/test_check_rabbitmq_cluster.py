"""Decision logic, password handling and HTTP of roles/rabbitmq/files/check_rabbitmq_cluster.py."""

import base64
import importlib.util
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "rabbitmq" / "files" / "check_rabbitmq_cluster.py"
spec = importlib.util.spec_from_file_location("check_rabbitmq_cluster", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

N1, N2, N3 = "rabbit@n1", "rabbit@n2", "rabbit@n3"


def node(name, running=True, partitions=(), mem=False, disk=False):
    n = {"name": name, "running": running}
    if running:
        n.update(partitions=list(partitions), mem_alarm=mem, disk_free_alarm=disk)
    return n


def qq(name, members=(N1, N2, N3), online=None):
    return {
        "vhost": "/",
        "name": name,
        "type": "quorum",
        "members": list(members),
        "online": list(members if online is None else online),
    }


HEALTHY = [node(N1), node(N2), node(N3)]


def test_ok():
    code, text, perf = check.evaluate(HEALTHY, [qq("a"), qq("b"), {"name": "c", "type": "classic"}], 3)
    assert code == check.OK and text == "3/3 nodes running, 2 quorum queues"
    assert perf == (
        "nodes_running=3;3:;2:;0 partitions=0;;0;0 alarms=0;;0;0 quorum_queues=2;;;0 "
        "queues_without_quorum=0;;0;0 queues_degraded=0;0;;0"
    )


@pytest.mark.parametrize(
    ("nodes", "queues", "expected", "code", "needle"),
    [
        ([node(N1, partitions=[N2]), node(N2, partitions=[N1]), node(N3)], [], 3, check.CRITICAL,
         "partitioned: rabbit@n1 / rabbit@n2"),
        ([node(N1, mem=True), node(N2), node(N3)], [], 3, check.CRITICAL, "memory alarm on rabbit@n1"),
        ([node(N1), node(N2, disk=True), node(N3)], [], 3, check.CRITICAL, "disk alarm on rabbit@n2"),
        (HEALTHY, [qq("q", online=[N1])], 3, check.CRITICAL, "1 quorum queue(s) without quorum: //q (1/3 online)"),
        ([node(N1), node(N2), node(N3, running=False)], [qq("q")], 3, check.WARNING,
         "2 of 3 expected nodes running (stopped: rabbit@n3)"),
        ([node(N1), node(N2), node(N3, running=False)], [qq("q")], 3, check.WARNING,
         "1 quorum queue(s) with a member offline: //q (2/3 online)"),
        ([node(N1), node(N2, running=False), node(N3, running=False)], [], 3, check.CRITICAL,
         "1 of 3 expected nodes running"),
        ([node(N1), node(N2)], [], 3, check.WARNING, "2 of 3 expected nodes running"),
        ([node(N1), node(N2, running=False)], [], 0, check.WARNING, "stopped: rabbit@n2"),
        (HEALTHY, [qq("q", members=[N1, N2], online=[N1, N2, N3])], 3, check.OK, "3/3 nodes running"),
    ],
)  # fmt: skip
def test_problems(nodes, queues, expected, code, needle):
    got, text, _perf = check.evaluate(nodes, queues, expected)
    assert got == code and needle in text, text


def test_password_sources(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\nsecond line\n")
    args = check.parse_args(["--password-file", str(f)])
    assert check.read_password(args, {"RABBITMQ_CHECK_PASSWORD": "env"}) == "from-file"
    args = check.parse_args([])
    assert check.read_password(args, {"RABBITMQ_CHECK_PASSWORD": "env"}) == "env"
    args = check.parse_args(["--password-env", "MY_PW"])
    assert check.read_password(args, {"MY_PW": ""}) == ""
    with pytest.raises(RuntimeError, match="set the MY_PW environment variable"):
        check.read_password(args, {})
    with pytest.raises(RuntimeError, match="cannot read --password-file"):
        check.read_password(check.parse_args(["--password-file", str(tmp_path / "missing")]), {})


def test_no_password_option_on_the_command_line():
    with pytest.raises(SystemExit):
        check.parse_args(["--password", "x"])


class Handler(BaseHTTPRequestHandler):
    nodes = HEALTHY
    raw_queues = "[]"

    def do_GET(self):
        want = "Basic " + base64.b64encode(b"admin:pw").decode()
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps(self.nodes) if self.path == "/api/nodes" else self.raw_queues
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_main_against_a_server(server, capsys, monkeypatch):
    # RabbitMQ 3.10 repeats 'online'; the first copy is current (n3 is down), the second stale
    Handler.nodes = [node(N1), node(N2), node(N3, running=False)]
    Handler.raw_queues = json.dumps([qq("q")]).replace(
        '"online": ["rabbit@n1", "rabbit@n2", "rabbit@n3"]',
        '"online": ["rabbit@n1", "rabbit@n2"], "online": ["rabbit@n1", "rabbit@n2", "rabbit@n3"]',
    )
    env = {"RABBITMQ_CHECK_PASSWORD": "pw"}
    dead = "http://127.0.0.1:9"
    assert check.main(["--url", dead, "--url", server, "--expected-nodes", "3"], env) == check.WARNING
    out = capsys.readouterr().out
    assert out.startswith("RABBITMQ WARNING - 2/3 nodes running, 1 quorum queues: ") and "//q (2/3 online)" in out
    assert check.main(["--url", server], {"RABBITMQ_CHECK_PASSWORD": "bad"}) == check.UNKNOWN
    assert "credentials refused" in capsys.readouterr().out
    assert check.main(["--url", dead, "--timeout", "2"], env) == check.UNKNOWN
    assert "no management API answered: http://127.0.0.1:9" in capsys.readouterr().out
    assert check.main(["--url", server], {}) == check.UNKNOWN
    assert "no password" in capsys.readouterr().out
