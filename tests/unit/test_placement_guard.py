"""Decision logic and argument handling of roles/microservices/files/apiha_placement_guard.py (no network)."""

import base64
import importlib.util
import json
import pathlib
import ssl
import urllib.error

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "microservices" / "files" / "apiha_placement_guard.py"
spec = importlib.util.spec_from_file_location("apiha_placement_guard", SCRIPT)
guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guard)

KEY = "/apiplatform/placement/mailer"
MARKER = "/var/lib/apiplatform/placement/mailer"
HINT = """ansible-playbook respawn.yml -e '{"microservices_placement": {"mailer": "app1"}}'"""


def decide(etcd_value, etcd_answered=True, etcd_errors=(), marker_value=None, marker_error=None):
    return guard.decide(
        "mailer",
        "app1",
        etcd_value,
        etcd_answered,
        list(etcd_errors),
        marker_value,
        key=KEY,
        marker=MARKER,
        marker_error=marker_error,
    )


def b64(text):
    return base64.b64encode(text.encode()).decode()


# ---- decide: etcd answered and names a host -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["app1", "app1\n", "  app1  "])
def test_etcd_names_this_host_starts(value):
    code, message = decide(value, marker_value="app2\n")  # etcd wins over the marker
    assert code == guard.START == 0
    assert message == f"mailer: placed on app1 (etcd {KEY}); starting"


def test_etcd_names_another_host_skips_with_the_respawn_hint():
    code, message = decide("app2\n", marker_value="app1\n")  # a stale marker does not start a second copy
    assert code == guard.SKIP == 1
    assert message == (f"mailer: placed on app2 (etcd {KEY}), not on app1; not starting here. To run it here: {HINT}")
    assert "\n" not in message


def test_the_hint_is_valid_json_for_ansible_extra_vars():
    extra = guard.respawn_hint("connector", "app3.dc2.example.net").split(" -e ", 1)[1].strip("'")
    assert json.loads(extra) == {"microservices_placement": {"connector": "app3.dc2.example.net"}}


# ---- decide: etcd answered without a placement -> marker ------------------------------------------------------


def test_key_absent_and_marker_names_this_host_starts():
    code, message = decide(None, marker_value="app1\n")
    assert code == guard.START
    first, second = message.splitlines()
    assert first.startswith("mailer: ") and "has no placement" in first and KEY in first
    assert second == f"mailer: the local marker {MARKER} names this host; starting"


def test_key_absent_and_no_marker_skips():
    code, message = decide(None, marker_value=None)
    assert code == guard.SKIP
    first, second = message.splitlines()
    assert "has no placement" in first
    assert f"no local marker {MARKER}" in second and "not starting here" in second
    assert HINT in second and "repair-node.yml" in second


def test_key_absent_and_marker_names_another_host_skips():
    code, message = decide(None, marker_value="app2\n")
    assert code == guard.SKIP
    assert "names app2, not app1" in message.splitlines()[1]
    assert HINT in message


@pytest.mark.parametrize("value", ["", "  \n"])
def test_empty_etcd_value_falls_back_to_the_marker(value):
    assert decide(value, marker_value="app1")[0] == guard.START
    code, message = decide(value, marker_value=None)
    assert code == guard.SKIP
    assert f"etcd {KEY} is empty" in message


def test_empty_marker_skips():
    code, message = decide(None, marker_value="\n")
    assert code == guard.SKIP
    assert "is empty" in message.splitlines()[1]


def test_unreadable_marker_skips_and_says_why():
    code, message = decide(None, marker_value=None, marker_error="permission denied")
    assert code == guard.SKIP
    assert "cannot be read (permission denied)" in message


# ---- decide: etcd unreadable -> marker -------------------------------------------------------------------------

ERRORS = ["http://10.0.0.1:2379: connection refused", "http://10.0.0.2:2379: timed out after 2 s"]


def test_etcd_unreadable_and_marker_names_this_host_starts_and_names_every_endpoint():
    code, message = decide(None, etcd_answered=False, etcd_errors=ERRORS, marker_value="app1\n")
    assert code == guard.START
    first, second = message.splitlines()
    assert first.startswith("mailer: etcd unreadable (")
    assert all(e in first for e in ERRORS)
    assert second.endswith(f"the local marker {MARKER} names this host; starting")


def test_etcd_unreadable_value_is_ignored():
    # a value is meaningless when etcd did not answer: only the marker counts
    assert decide("app1", etcd_answered=False, etcd_errors=ERRORS, marker_value=None)[0] == guard.SKIP


@pytest.mark.parametrize("marker_value", [None, "app2\n"])
def test_etcd_unreadable_and_marker_missing_or_elsewhere_skips(marker_value):
    code, message = decide(None, etcd_answered=False, etcd_errors=ERRORS, marker_value=marker_value)
    assert code == guard.SKIP
    assert len(message.splitlines()) == 2
    assert all(line.startswith("mailer: ") for line in message.splitlines())
    assert "respawn.yml" in message and "repair-node.yml" in message


# ---- parse_range_answer ----------------------------------------------------------------------------------------


def test_range_answer_value_is_base64_decoded():
    raw = {"header": {"revision": "7"}, "kvs": [{"key": b64(KEY), "value": b64("app2.dc2.example.net\n")}]}
    assert guard.parse_range_answer(json.dumps(raw).encode()) == "app2.dc2.example.net\n"


def test_range_answer_without_kvs_is_an_absent_key():
    assert guard.parse_range_answer(b'{"header": {"revision": "7"}}') is None
    assert guard.parse_range_answer(b'{"header": {}, "kvs": []}') is None


def test_range_answer_without_value_is_the_empty_string():
    # the JSON gateway omits empty fields
    raw = {"header": {}, "kvs": [{"key": b64(KEY), "create_revision": "2"}]}
    assert guard.parse_range_answer(json.dumps(raw).encode()) == ""


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"\xff\xfe", b"[]", b'{"kvs": []}', b'{"header": {}, "kvs": [{"value": "@@not base64@@"}]}'],
)
def test_range_answer_that_is_not_etcd_is_refused(raw):
    with pytest.raises(ValueError):
        guard.parse_range_answer(raw)


# ---- describe --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (urllib.error.URLError(TimeoutError("timed out")), "timed out after 2 s"),
        (TimeoutError("timed out"), "timed out after 2 s"),
        (OSError(113, "No route to host"), "no route to host"),
        (urllib.error.URLError("weird"), "weird"),
        (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]"), "TLS certificate verification failed"),
    ],
)
def test_describe_gives_one_short_line(exc, text):
    assert guard.describe(exc, 2.0).startswith(text)


# ---- arguments -------------------------------------------------------------------------------------------------

GOOD = ["--service", "mailer", "--host", "app1", "--key", KEY, "--marker", MARKER]


def test_good_arguments():
    args = guard.parse_args(
        [*GOOD, "--endpoint", "http://10.0.0.1:2379", "--endpoint", "https://b:2379,https://c:2379"]
    )
    assert args.endpoint == ["http://10.0.0.1:2379", "https://b:2379", "https://c:2379"]
    assert args.timeout == 2.0 and args.cacert is None and args.cert is None


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (GOOD, "--endpoint"),
        (["--service", "mailer", "--endpoint", "http://a:2379"], "--host"),
        ([*GOOD, "--endpoint", "10.0.0.1:2379"], "--endpoint"),
        ([*GOOD, "--endpoint", "localhost:2379"], "--endpoint"),
        ([*GOOD, "--endpoint", "ftp://a:2379"], "--endpoint"),
        ([*GOOD, "--endpoint", "http://"], "--endpoint"),
        ([*GOOD, "--endpoint", ","], "--endpoint"),
        ([*GOOD, "--endpoint", "https://a:2379", "--cert", "c.pem"], "--cert-key"),
        ([*GOOD, "--endpoint", "https://a:2379", "--cert-key", "k.pem"], "--cert"),
        ([*GOOD, "--endpoint", "http://a:2379", "--timeout", "soon"], "--timeout"),
        ([*GOOD, "--endpoint", "http://a:2379", "--timeout", "0"], "--timeout"),
        ([*GOOD[:2], "--host", " ", *GOOD[4:], "--endpoint", "http://a:2379"], "--host"),
        ([*GOOD, "--endpoint", "http://a:2379", "--bogus"], "--bogus"),
    ],
)
def test_bad_arguments_exit_255_with_one_line_naming_the_option(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        guard.main(argv)
    assert exc.value.code == guard.FAIL == 255
    out = capsys.readouterr()
    assert out.err == ""
    assert len(out.out.splitlines()) == 1
    assert needle in out.out
    assert out.out.startswith(("mailer: bad arguments", "apiha_placement_guard: bad arguments"))


def test_bad_arguments_never_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        guard.main([])
    assert exc.value.code == 255


def test_unreadable_cacert_fails_the_unit(capsys, tmp_path):
    argv = [*GOOD, "--endpoint", "https://127.0.0.1:1", "--cacert", str(tmp_path / "missing.pem")]
    assert guard.main(argv) == guard.FAIL
    out = capsys.readouterr().out
    assert out.startswith("mailer: ") and "--cacert" in out and len(out.splitlines()) == 1


def test_unexpected_error_is_one_line_and_255(capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(guard, "read_key", boom)
    assert guard.main([*GOOD, "--endpoint", "http://127.0.0.1:1"]) == guard.FAIL
    out = capsys.readouterr().out
    assert out == "mailer: placement guard error, the unit fails: RuntimeError: something broke\n"


def test_main_fails_the_start_when_etcd_stays_unreadable_even_with_a_marker(capsys, monkeypatch, tmp_path):
    marker = tmp_path / "mailer"
    marker.write_text("app1\n")
    calls = []

    def unreadable(*args):
        calls.append(args)
        return False, None, ["http://x:2379: connection refused"]

    monkeypatch.setattr(guard, "read_key", unreadable)
    monkeypatch.setattr(guard.time, "sleep", lambda seconds: None)
    clock = iter(range(0, 1000, 2))
    monkeypatch.setattr(guard.time, "monotonic", lambda: next(clock))
    argv = [*GOOD[:6], "--marker", str(marker), "--endpoint", "http://x:2379", "--wait", "6"]
    assert guard.main(argv) == guard.FAIL
    assert len(calls) > 1  # it kept trying during --wait
    out = capsys.readouterr().out
    assert out.startswith("mailer: etcd unreadable (http://x:2379: connection refused); not starting")
    assert "microservices_placement_guard_when_unreadable=marker" in out


def test_main_tries_again_until_etcd_answers(capsys, monkeypatch, tmp_path):
    answers = iter([(False, None, ["http://x:2379: connection refused"]), (True, "app1", [])])
    monkeypatch.setattr(guard, "read_key", lambda *a: next(answers))
    monkeypatch.setattr(guard.time, "sleep", lambda seconds: None)
    argv = [*GOOD[:6], "--marker", str(tmp_path / "none"), "--endpoint", "http://x:2379", "--wait", "30"]
    assert guard.main(argv) == guard.START
    assert capsys.readouterr().out == f"mailer: placed on app1 (etcd {GOOD[5]}); starting\n"


def test_unreadable_etcd_fails_by_default_in_decide():
    code, message = guard.decide(
        "mailer", "app1", None, False, ERRORS, "app1\n", key=KEY, marker=MARKER, when_unreadable="fail"
    )
    assert code == guard.FAIL
    assert "not starting" in message and HINT in message


def test_main_reads_the_marker_when_etcd_is_unreadable(capsys, monkeypatch, tmp_path):
    marker = tmp_path / "mailer"
    marker.write_text("app1\n")
    monkeypatch.setattr(guard, "read_key", lambda *a: (False, None, ["http://x:2379: connection refused"]))
    argv = [*GOOD[:6], "--marker", str(marker), "--endpoint", "http://x:2379", "--when-unreadable", "marker"]
    argv += ["--wait", "0"]
    assert guard.main(argv) == guard.START
    assert capsys.readouterr().out.endswith(f"the local marker {marker} names this host; starting\n")
    marker.unlink()
    assert guard.main(argv) == guard.SKIP
