"""Parsing, evaluation and socket reading of roles/loadbalancer/files/check_haproxy_backends.py."""

import importlib.util
import pathlib
import socket
import threading

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "loadbalancer" / "files" / "check_haproxy_backends.py"
spec = importlib.util.spec_from_file_location("check_haproxy_backends", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

# The first columns of HAProxy 2.6's `show stat` (the real answer has about a hundred).
HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,"
    "status,weight,act,bck,"
)


def row(px, sv, status, bck=0):
    act = 0 if sv in ("FRONTEND", "BACKEND") or bck else 1
    return f"{px},{sv},0,0,0,0,,0,0,0,,0,,0,0,0,0,{status},1,{act},{bck},"


def stat(*rows):
    return "\n".join([HEADER, row("dashboard", "FRONTEND", "OPEN"), *rows, ""]) + "\n"


def servers(lb1="UP", lb2="UP", b3="UP", b4="UP"):
    return stat(
        row("dashboard", "app1", lb1),
        row("dashboard", "app2", lb2),
        row("dashboard", "app3", b3, bck=1),
        row("dashboard", "app4", b4, bck=1),
        row("dashboard", "BACKEND", "UP"),
    )


def evaluate(text, backends=None):
    return check.evaluate(check.parse_stat(text), backends)


def test_parse_stat():
    rows = check.parse_stat(servers())
    assert [(r["pxname"], r["svname"], r["status"], r["bck"]) for r in rows][:3] == [
        ("dashboard", "FRONTEND", "OPEN", "0"),
        ("dashboard", "app1", "UP", "0"),
        ("dashboard", "app2", "UP", "0"),
    ]


@pytest.mark.parametrize("text", ["", "Unknown command. Please enter one of the following commands only :\n"])
def test_parse_stat_refuses_other_answers(text):
    with pytest.raises(ValueError, match="not a 'show stat' answer"):
        check.parse_stat(text)


def test_all_up():
    code, text, perf = evaluate(servers())
    assert code == check.OK
    assert text == "dashboard 2/2 up (2/2 backup)"
    assert perf == "'dashboard_up'=2;2:;1:;0;2 'dashboard_backup_up'=2;;;0;2"


@pytest.mark.parametrize(
    ("text", "code", "needle"),
    [
        (servers(lb2="DOWN"), check.WARNING,
         "dashboard: 1 of 2 servers not up - dashboard 1/2 up (2/2 backup): not up app2 DOWN"),
        (servers(lb1="MAINT"), check.WARNING, "not up app1 MAINT"),
        (servers(lb1="DRAIN"), check.WARNING, "not up app1 DRAIN"),
        (servers(lb1="DOWN 1/2"), check.WARNING, "not up app1 DOWN 1/2"),
        (servers(lb1="UP 1/2"), check.OK, "dashboard 2/2 up"),
        (servers(lb1="no check"), check.OK, "dashboard 2/2 up"),
        (servers(lb1="DOWN", lb2="MAINT"), check.WARNING, "dashboard: only backup servers up"),
        (servers(lb1="DOWN", lb2="DOWN", b3="DOWN"), check.WARNING, "(1/2 backup)"),
        (servers(lb1="DOWN", lb2="DOWN", b3="DOWN", b4="MAINT"), check.CRITICAL, "dashboard: no server up"),
        (servers(b3="DOWN", b4="DOWN"), check.OK, "dashboard 2/2 up (0/2 backup)"),
    ],
)  # fmt: skip
def test_states(text, code, needle):
    got, message, _perf = evaluate(text)
    assert got == code and needle in message, message


def test_only_backups_perfdata():
    _code, _text, perf = evaluate(servers(lb1="DOWN", lb2="DOWN"))
    assert perf == "'dashboard_up'=0;2:;1:;0;2 'dashboard_backup_up'=2;;;0;2"


def test_several_backends_worst_wins():
    text = stat(
        row("dashboard", "app1", "UP"),
        row("dashboard", "BACKEND", "UP"),
        row("api", "app1", "DOWN"),
        row("api", "BACKEND", "DOWN"),
    )
    code, message, perf = evaluate(text)
    assert code == check.CRITICAL
    assert message.startswith("api: no server up - api 0/1 up: not up app1 DOWN; dashboard 1/1 up")
    assert perf == "'api_up'=0;1:;1:;0;1 'dashboard_up'=1;1:;1:;0;1"
    code, message, _perf = evaluate(text, ["dashboard"])
    assert code == check.OK and message == "dashboard 1/1 up"


def test_backend_selection():
    code, message, perf = evaluate(servers(), ["nope"])
    assert code == check.UNKNOWN and "no backend with servers named nope (backends: dashboard)" in message
    assert perf == ""
    code, message, _perf = evaluate(stat())
    assert code == check.UNKNOWN and "no backend with servers" in message


def test_bad_arguments():
    assert check.main(["--timeout", "x"])[0] == check.UNKNOWN
    assert check.main(["--timeout", "0"])[0] == check.UNKNOWN
    assert check.main(["--bogus"])[0] == check.UNKNOWN


def test_socket_unreachable(tmp_path):
    code, message, _perf = check.main(["--socket", str(tmp_path / "missing.sock")])
    assert code == check.CRITICAL and "cannot read the HAProxy socket" in message


@pytest.fixture
def haproxy_socket(tmp_path):
    """A unix socket that answers one command the way HAProxy does (answer, then close)."""
    path = str(tmp_path / "admin.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    answers = []

    def serve():
        while True:
            try:
                conn, _addr = server.accept()
            except OSError:
                return
            with conn:
                received = conn.recv(1024)
                answers.append(received)
                conn.sendall(state["answer"].encode())

    state = {"answer": servers(lb2="DOWN")}
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, state, answers
    server.close()


def test_reads_the_socket(haproxy_socket):
    path, _state, received = haproxy_socket
    code, message, perf = check.main(["--socket", path, "--backend", "dashboard"])
    assert received == [b"show stat\n"]
    assert code == check.WARNING and "not up app2 DOWN" in message
    assert perf.startswith("'dashboard_up'=1;2:;1:;0;2")


def test_unexpected_answer(haproxy_socket):
    path, state, _received = haproxy_socket
    state["answer"] = "Permission denied\n"
    code, message, _perf = check.main(["--socket", path])
    assert code == check.CRITICAL and "unexpected answer" in message


def test_run_never_raises(monkeypatch):
    def boom(_argv):
        raise RuntimeError("boom")

    monkeypatch.setattr(check, "main", boom)
    assert check.run([]) == (check.UNKNOWN, "internal error: RuntimeError: boom", "")
