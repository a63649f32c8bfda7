"""Parsing, evaluation and probing of roles/loadbalancer/files/check_keepalived_vip.py."""

import importlib.util
import pathlib
import socket

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "loadbalancer" / "files" / "check_keepalived_vip.py"
spec = importlib.util.spec_from_file_location("check_keepalived_vip", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

IP_ADDR = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
2: eth0    inet 172.29.1.11/24 brd 172.29.1.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 172.29.1.100/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet6 fe80::42:acff:fe1d:10b/64 scope link \\       valid_lft forever preferred_lft forever
"""
VIP = "172.29.1.100"


def test_parse_addresses():
    assert check.parse_addresses(IP_ADDR) == {"127.0.0.1", "::1", "172.29.1.11", VIP, "fe80::42:acff:fe1d:10b"}
    assert check.parse_addresses("") == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("MASTER\n", "MASTER"), ("backup", "BACKUP"), ("FAULT 150\n", "FAULT"), ("STOP", "STOP"), ("", None),
     ("garbage", None), (None, None)],
)  # fmt: skip
def test_parse_state(text, expected):
    assert check.parse_state(text) == expected


@pytest.mark.parametrize(
    ("answered", "detail", "held", "state", "code", "needle"),
    [
        (True, 0.0021, True, "MASTER", check.OK, "VIP 172.29.1.100:80 answers in 0.002 s, held by this host, "
         "VRRP state MASTER"),
        (True, 0.004, False, "BACKUP", check.OK, "held by another host, VRRP state BACKUP"),
        (True, 0.004, False, None, check.OK, "VRRP state unknown"),
        (True, 0.004, None, "BACKUP", check.OK, "cannot tell whether this host holds the VIP"),
        (True, 0.004, False, "FAULT", check.WARNING, "this host is FAULT and cannot take the VIP over"),
        (True, 0.004, False, "STOP", check.WARNING, "this host is STOP"),
        (True, 0.004, False, "MASTER", check.WARNING, "MASTER but does not hold the VIP"),
        (True, 0.004, True, "BACKUP", check.WARNING, "holds the VIP while BACKUP"),
        (False, "Connection refused", True, "MASTER", check.CRITICAL,
         "VIP 172.29.1.100:80 does not answer (Connection refused); held by this host, VRRP state MASTER"),
        (False, "timed out", False, "BACKUP", check.CRITICAL, "does not answer (timed out)"),
    ],
)  # fmt: skip
def test_evaluate(answered, detail, held, state, code, needle):
    got, text, _perf = check.evaluate(VIP, 80, answered, detail, held, state)
    assert got == code and needle in text, text


def test_perfdata():
    assert check.evaluate(VIP, 80, True, 0.0021, True, "MASTER")[2] == "time=0.002s;;;0 vip_held=1;;;0;1"
    assert check.evaluate(VIP, 80, False, "refused", False, "BACKUP")[2] == "time=0s;;;0 vip_held=0;;;0;1"
    assert check.evaluate(VIP, 80, True, 0.5, None, None)[2] == "time=0.500s;;;0"


@pytest.mark.parametrize(
    "argv",
    [[], ["--vip", "nope"], ["--vip", VIP, "--port", "0"], ["--vip", VIP, "--port", "x"],
     ["--vip", VIP, "--timeout", "-1"], ["--vip", VIP, "--bogus"]],
)  # fmt: skip
def test_bad_arguments(argv):
    code, text, perf = check.main(argv)
    assert code == check.UNKNOWN and text.startswith("bad arguments") and perf == ""


def test_read_state(tmp_path):
    f = tmp_path / "apiha-dc1.state"
    f.write_text("MASTER\n")
    assert check.read_state(str(f)) == "MASTER"
    assert check.read_state(str(tmp_path / "missing")) is None
    assert check.read_state(None) is None


def test_probe():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        ok, seconds = check.probe("127.0.0.1", port, 2)
        assert ok and seconds >= 0
    ok, reason = check.probe("127.0.0.1", port, 2)
    assert not ok and reason


def test_main_end_to_end(tmp_path, monkeypatch):
    f = tmp_path / "state"
    f.write_text("BACKUP\n")
    monkeypatch.setattr(check, "probe", lambda *_a: (False, "Connection refused"))
    monkeypatch.setattr(check, "local_addresses", lambda _t: {"172.29.1.12"})
    code, text, perf = check.main(["--vip", VIP, "--state-file", str(f)])
    assert code == check.CRITICAL
    assert text == "VIP 172.29.1.100:80 does not answer (Connection refused); held by another host, VRRP state BACKUP"
    assert perf == "time=0s;;;0 vip_held=0;;;0;1"
    monkeypatch.setattr(check, "probe", lambda *_a: (True, 0.001))
    monkeypatch.setattr(check, "local_addresses", lambda _t: None)
    assert check.main(["--vip", VIP, "--port", "8080"])[0] == check.OK


def test_local_addresses_without_ip(monkeypatch):
    def missing(*_a, **_k):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(check.subprocess, "run", missing)
    assert check.local_addresses(1) is None


def test_run_never_raises(monkeypatch):
    def boom(_argv):
        raise OSError("boom")

    monkeypatch.setattr(check, "main", boom)
    assert check.run([]) == (check.UNKNOWN, "internal error: OSError: boom", "")
