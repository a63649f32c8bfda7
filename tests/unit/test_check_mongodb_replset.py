"""Decision logic, password handling and connection handling of roles/mongodb/files/check_mongodb_replset.py."""

import datetime
import importlib.util
import pathlib
import types
from typing import ClassVar

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "mongodb" / "files" / "check_mongodb_replset.py"
spec = importlib.util.spec_from_file_location("check_mongodb_replset", SCRIPT)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

T0 = datetime.datetime(2026, 1, 1, 10, 0, 0)
A, B, C = "dc1:27017", "dc2:27017", "witness:27017"
STATES = {"PRIMARY": 1, "SECONDARY": 2, "RECOVERING": 3, "STARTUP2": 5, "ARBITER": 7, "DOWN": 8, "ROLLBACK": 9}


def mem(name, state="SECONDARY", health=1, behind=0, **extra):
    m = {"name": name, "health": health, "state": STATES[state], "stateStr": state}
    if state != "ARBITER":
        m["optimeDate"] = T0 - datetime.timedelta(seconds=behind)
    m.update(extra)
    return m


def rs(*members, name="rs0"):
    return {"set": name, "myState": 1, "members": list(members)}


def cfg(*hosts, votes=None, arbiters=()):
    votes = votes or {}
    return {
        "_id": "rs0",
        "members": [{"host": h, "votes": votes.get(h, 1), "arbiterOnly": h in arbiters} for h in hosts],
    }


PSA = rs(mem(A, "PRIMARY"), mem(B, behind=2), mem(C, "ARBITER"))
PSS = rs(mem(A, "PRIMARY"), mem(B, behind=1), mem(C, behind=4))


def test_healthy_psa_is_ok_with_exact_text_and_perfdata():
    code, text, perf = check.evaluate(PSA, cfg(A, B, C, arbiters=[C]), "rs0", 30, 300)
    assert code == check.OK
    assert text == "set rs0, primary dc1:27017, 3/3 members healthy (3/3 voting), max lag 2 s"
    assert perf == (
        "members_healthy=3;3:;;0;3 members_total=3;;;0 voting_healthy=3;;2:;0;3 primary=1;;1:;0;1 "
        "max_lag_seconds=2s;30;300;0"
    )


def test_healthy_pss_is_ok_without_a_config():
    code, text, perf = check.evaluate(PSS, None, "rs0", 30, 300)
    assert code == check.OK and text.endswith("3/3 members healthy (3/3 voting), max lag 4 s")
    assert "max_lag_seconds=4s;30;300;0" in perf


@pytest.mark.parametrize(
    ("status", "config", "code", "needle"),
    [
        (rs(mem(A), mem(B), mem(C, "ARBITER")), None, check.CRITICAL, "no PRIMARY"),
        (rs(mem(A, "PRIMARY"), mem(B, "DOWN", health=0), mem(C, "ARBITER")), None, check.WARNING,
         "dc2:27017 DOWN"),
        (rs(mem(A, "PRIMARY"), mem(B, "DOWN", health=0), mem(C, "DOWN", health=0)), None, check.CRITICAL,
         "1 of 3 voting members healthy, a majority needs 2"),
        (rs(mem(A, "PRIMARY"), mem(B, "SECONDARY", health=0), mem(C, "ARBITER")), None, check.WARNING,
         "dc2:27017 SECONDARY (health 0)"),
        (rs(mem(A, "PRIMARY"), mem(B, "STARTUP2", infoMessage="initial sync"), mem(C, "ARBITER")), None,
         check.WARNING, "dc2:27017 STARTUP2 (initial sync)"),
        (rs(mem(A, "PRIMARY"), mem(B, "ROLLBACK"), mem(C, "ARBITER")), None, check.WARNING, "dc2:27017 ROLLBACK"),
        (rs(mem(A, "PRIMARY"), mem(B, behind=30), mem(C, "ARBITER")), None, check.WARNING,
         "dc2:27017 lags 30 s (warning 30 s)"),
        (rs(mem(A, "PRIMARY"), mem(B, behind=299), mem(C, "ARBITER")), None, check.WARNING, "lags 299 s"),
        (rs(mem(A, "PRIMARY"), mem(B, behind=300), mem(C, "ARBITER")), None, check.CRITICAL,
         "dc2:27017 lags 300 s (critical 300 s)"),
        (rs(mem(A, "PRIMARY"), mem(B), mem(C, "ARBITER"), name="other"), None, check.CRITICAL,
         "set name 'other', expected 'rs0'"),
        (rs(mem(A, "PRIMARY"), mem(B, "PRIMARY"), mem(C, "ARBITER")), None, check.CRITICAL,
         "several PRIMARY: dc1:27017, dc2:27017"),
        # the witness member has no vote: only 2 voters, both needed
        (rs(mem(A, "PRIMARY"), mem(B, "DOWN", health=0), mem(C)), cfg(A, B, C, votes={C: 0}), check.CRITICAL,
         "1 of 2 voting members healthy, a majority needs 2"),
    ],
)  # fmt: skip
def test_problems(status, config, code, needle):
    got, text, _perf = check.evaluate(status, config, "rs0", 30, 300)
    assert got == code and needle in text, text


def test_stale_recovering_member_is_a_warning_that_says_too_stale():
    for key in ("infoMessage", "lastHeartbeatMessage"):
        stale = mem(B, "RECOVERING", behind=86400, **{key: "error RS102 too stale to catch up"})
        code, text, perf = check.evaluate(rs(mem(A, "PRIMARY"), stale, mem(C, "ARBITER")), None, "rs0", 30, 300)
        assert code == check.WARNING, text
        assert "dc2:27017 RECOVERING (too stale" in text
        # a RECOVERING member's optime is not a lag: the check stays WARNING, not CRITICAL
        assert "max_lag_seconds=0s" in perf and "lags" not in text


def test_arbiter_without_optime_and_down_member_are_not_counted_for_lag():
    down = mem(B, "DOWN", health=0, optimeDate=datetime.datetime(1970, 1, 1))
    code, text, perf = check.evaluate(rs(mem(A, "PRIMARY"), down, mem(C, "ARBITER")), None, None, 30, 300)
    assert code == check.WARNING and "lags" not in text, text
    assert "max_lag_seconds=0s" in perf
    assert "optimeDate" not in mem(C, "ARBITER")


def test_lag_needs_a_primary_and_perfdata_counts_voters():
    code, text, perf = check.evaluate(rs(mem(A), mem(B, behind=900), mem(C, "ARBITER")), None, None, 30, 300)
    assert code == check.CRITICAL and "lags" not in text
    assert "primary=0;;1:;0;1" in perf and "voting_healthy=3;;2:;0;3" in perf


def test_password_sources(tmp_path):
    f = tmp_path / "pw"
    f.write_text("from-file\nsecond line\n")
    args = check.parse_args(["--password-file", str(f)])
    assert check.read_password(args, {"MONGODB_CHECK_PASSWORD": "env"}) == "from-file"
    args = check.parse_args([])
    assert check.read_password(args, {"MONGODB_CHECK_PASSWORD": "env"}) == "env"
    args = check.parse_args(["--password-env", "MY_PW"])
    assert check.read_password(args, {"MY_PW": ""}) == ""
    with pytest.raises(RuntimeError, match="set the MY_PW environment variable"):
        check.read_password(args, {})
    with pytest.raises(RuntimeError, match="cannot read --password-file"):
        check.read_password(check.parse_args(["--password-file", str(tmp_path / "missing")]), {})


def test_no_password_option_on_the_command_line_and_defaults():
    with pytest.raises(SystemExit):
        check.parse_args(["--password", "x"])
    args = check.parse_args([])
    assert args.host == ["127.0.0.1:27017"] and (args.lag_warning, args.lag_critical, args.timeout) == (30, 300, 5)


# --- main() with a fake pymongo --------------------------------------------------------------------------------------


class PyMongoError(Exception):
    pass


class OperationFailure(PyMongoError):
    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class ServerSelectionTimeoutError(PyMongoError):
    pass


class FakeClient:
    """Answers per host: a (status, config) pair, or an exception to raise from replSetGetStatus."""

    answers: ClassVar[dict] = {}
    created: ClassVar[list] = []

    def __init__(self, host, **options):
        self.host = host
        self.options = options
        self.closed = False
        FakeClient.created.append(self)
        self.admin = self

    def command(self, name):
        answer = self.answers[self.host]
        if isinstance(answer, Exception):
            raise answer
        status, config = answer
        if name == "replSetGetStatus":
            return status
        assert name == "replSetGetConfig"
        if config is None:
            raise OperationFailure("not authorized on admin to execute command", code=13)
        return {"config": config}

    def close(self):
        self.closed = True


@pytest.fixture
def fake(monkeypatch):
    errors = types.SimpleNamespace(
        PyMongoError=PyMongoError,
        OperationFailure=OperationFailure,
        ServerSelectionTimeoutError=ServerSelectionTimeoutError,
    )
    monkeypatch.setattr(check, "pymongo", types.SimpleNamespace(MongoClient=FakeClient, errors=errors))
    FakeClient.answers = {}
    FakeClient.created = []
    return FakeClient


ENV = {"MONGODB_CHECK_PASSWORD": "pw"}


def test_main_tries_each_host_until_one_answers(fake, capsys):
    fake.answers = {
        "h1:27017": ServerSelectionTimeoutError("h1:27017: [Errno 111] Connection refused, Timeout: 5s"),
        "h2:27017": (rs(mem(A, "PRIMARY"), mem(B, "DOWN", health=0), mem(C)), cfg(A, B, C, votes={C: 0})),
    }
    argv = ["--host", "h1:27017", "--host", "h2:27017", "--replica-set", "rs0", "--tls", "--tls-ca-file", "/ca.pem"]
    assert check.main(argv, ENV) == check.CRITICAL
    out = capsys.readouterr().out
    assert out.startswith("MONGODB CRITICAL - set rs0, primary dc1:27017, 2/3 members healthy (1/2 voting)")
    assert " | members_healthy=2;3:;;0;3 " in out
    first, second = fake.created
    assert first.closed and second.closed
    assert second.options["directConnection"] is True and second.options["tls"] is True
    assert second.options["tlsCAFile"] == "/ca.pem" and second.options["serverSelectionTimeoutMS"] == 5000
    assert (second.options["username"], second.options["password"], second.options["authSource"]) == (
        "admin",
        "pw",
        "admin",
    )


def test_main_without_the_config_counts_every_member_as_a_voter(fake, capsys):
    fake.answers = {"127.0.0.1:27017": (PSA, None)}
    assert check.main([], ENV) == check.OK
    assert capsys.readouterr().out.startswith("MONGODB OK - set rs0, primary dc1:27017, 3/3 members healthy (3/3 ")


def test_main_no_host_answered_lists_each_host_and_why(fake, capsys):
    fake.answers = {
        "h1:27017": ServerSelectionTimeoutError("h1:27017: timed out, Timeout: 5.0s, Topology Description: <...>"),
        "h2:27017": OperationFailure("node is not in primary or recovering state", code=13436),
    }
    assert check.main(["--host", "h1:27017", "--host", "h2:27017"], ENV) == check.UNKNOWN
    out = capsys.readouterr().out
    assert out == (
        "MONGODB UNKNOWN - no host answered: h1:27017: timed out; "
        "h2:27017: node is not in primary or recovering state (code 13436)\n"
    )
    assert all(c.closed for c in fake.created)


def test_main_credentials_refused_stops_at_once(fake, capsys):
    fake.answers = {"h1:27017": OperationFailure("Authentication failed.", code=18), "h2:27017": (PSA, None)}
    assert check.main(["--host", "h1:27017", "--host", "h2:27017"], ENV) == check.UNKNOWN
    assert capsys.readouterr().out == (
        "MONGODB UNKNOWN - credentials refused: h1:27017: authentication failed for user 'admin'\n"
    )
    assert [c.host for c in fake.created] == ["h1:27017"]


def test_main_member_without_a_replica_set_config(fake, capsys):
    fake.answers = {"127.0.0.1:27017": OperationFailure("no replset config has been received", code=94)}
    assert check.main([], ENV) == check.UNKNOWN
    assert "MONGODB UNKNOWN - 127.0.0.1:27017: no replica set config" in capsys.readouterr().out
    fake.answers = {"127.0.0.1:27017": OperationFailure("not running with --replSet", code=76)}
    assert check.main([], ENV) == check.UNKNOWN
    assert "not a replica set member" in capsys.readouterr().out


def test_main_password_and_pymongo_missing(fake, capsys, monkeypatch):
    fake.answers = {"127.0.0.1:27017": (PSA, None)}
    assert check.main([], {}) == check.UNKNOWN
    assert "no password" in capsys.readouterr().out and not fake.created
    # an empty --user connects without authentication and needs no password
    assert check.main(["--user", ""], {}) == check.OK
    assert "username" not in fake.created[-1].options
    capsys.readouterr()
    monkeypatch.setattr(check, "pymongo", None)
    assert check.main([], ENV) == check.UNKNOWN
    assert "pymongo is not installed" in capsys.readouterr().out
