"""postgresql_replication_info: result assembly, the database part with a fake psycopg connection, main()."""

import datetime

import pytest
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits

from ansible_collections.apiplatform.ha.plugins.module_utils import postgresql_repl
from ansible_collections.apiplatform.ha.plugins.module_utils.patroni import (
    PatroniAuthError,
    PatroniConnectionError,
    PatroniDatabaseError,
    normalize_cluster,
)
from ansible_collections.apiplatform.ha.plugins.modules import postgresql_replication_info as info


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


CLUSTER = {
    "members": [
        {"name": "pg1", "role": "leader", "state": "running", "timeline": 4, "api_url": "http://h1:8008/patroni"},
        {"name": "pg2", "role": "replica", "state": "streaming", "timeline": 4, "lag": 16, "tags": {"nofailover": 1}},
    ],
    "pause": True,
}
OWN_PRIMARY = {"role": "primary", "timeline": 4, "xlog": {"location": 0x1_0500_0148}, "patroni": {"name": "pg1"}}
OWN_REPLICA = {
    "role": "replica",
    "xlog": {"received_location": 83886408, "replayed_location": 83886400, "replayed_timestamp": None},
    "patroni": {"name": "pg2", "scope": "apiha"},
}


class FakeClient:
    def __init__(self, own=None, error=None):
        self.own = own or OWN_PRIMARY
        self.error = error

    def cluster(self):
        if self.error:
            raise self.error
        return normalize_cluster(CLUSTER)

    def patroni(self, url=None):
        return self.own


def run_main(monkeypatch, args, fake, check_mode=True):
    monkeypatch.setattr(info.PatroniClient, "from_params", classmethod(lambda cls, params: fake))
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        info.main()


def test_rest_only_on_the_primary(monkeypatch):
    with pytest.raises(ExitJson) as exc:
        run_main(monkeypatch, {}, FakeClient())
    r = exc.value.args[0]
    assert r["changed"] is False and r["database_connected"] is False
    assert (r["member"], r["leader"], r["paused"], r["role"], r["timeline"]) == ("pg1", "pg1", True, "primary", 4)
    assert r["lsn"] == {"current": "1/5000148", "receive": None, "replay": None}
    assert r["members"][1]["lag"] == 16 and r["members"][1]["nofailover"] is True
    assert r["standbys"] == [] and r["slots"] == []


def test_rest_only_on_a_replica_takes_the_timeline_from_the_member_table(monkeypatch):
    with pytest.raises(ExitJson) as exc:
        run_main(monkeypatch, {}, FakeClient(own=OWN_REPLICA))
    r = exc.value.args[0]
    assert (r["member"], r["scope"], r["role"], r["timeline"]) == ("pg2", "apiha", "replica", 4)
    assert r["lsn"] == {"current": None, "receive": "0/5000148", "replay": "0/5000140"}


def test_database_part_overrides_the_rest_view(monkeypatch):
    reading = {"role": "replica", "timeline": 4, "standbys": [{"application_name": "pg3"}], "slots": []}
    seen = {}

    def fake_read(params):
        seen.update(params)
        return reading

    monkeypatch.setattr(info, "read_replication", fake_read)
    with pytest.raises(ExitJson) as exc:
        run_main(monkeypatch, {"login_host": "127.0.0.1", "login_password": "pw"}, FakeClient())
    r = exc.value.args[0]
    assert r["database_connected"] is True and r["role"] == "replica" and r["standbys"] == [{"application_name": "pg3"}]
    assert seen["login_port"] == 5432 and seen["login_user"] == "postgres"


def test_errors_become_one_fail_json(monkeypatch):
    error = PatroniConnectionError("could not reach the Patroni REST API at http://h:1/cluster: Connection refused")
    with pytest.raises(FailJson) as exc:
        run_main(monkeypatch, {"api_url": "http://h:1"}, FakeClient(error=error))
    assert "http://h:1/cluster" in exc.value.args[0]["msg"]
    with pytest.raises(FailJson) as exc:
        run_main(monkeypatch, {"login_host": "a", "login_unix_socket": "/run"}, FakeClient())
    assert "mutually exclusive" in exc.value.args[0]["msg"]


def test_missing_psycopg_only_matters_with_a_database(monkeypatch):
    monkeypatch.setattr(info, "HAS_PSYCOPG", False)
    with pytest.raises(FailJson) as exc:
        run_main(monkeypatch, {"login_host": "127.0.0.1"}, FakeClient())
    assert "psycopg" in exc.value.args[0]["msg"]
    with pytest.raises(ExitJson):
        run_main(monkeypatch, {}, FakeClient())


# -- module_utils/postgresql_repl.py -----------------------------------------------------------------------------------


class FakeCursor:
    def __init__(self, results):
        self.results = results
        self.queries = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query):
        self.queries.append(query)

    def fetchone(self):
        return self.results.pop(0)[0]

    def fetchall(self):
        return self.results.pop(0)


class FakeConnection:
    def __init__(self, results):
        self.cursor_obj = FakeCursor(results)
        self.read_only = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def cursor(self, row_factory=None):
        return self.cursor_obj


NODE = {
    "in_recovery": True,
    "checkpoint_timeline": 3,
    "receiver_timeline": 4,
    "receiver_status": "streaming",
    "current_lsn": None,
    "receive_lsn": "0/5000148",
    "replay_lsn": "0/5000148",
    "replay_timestamp": datetime.datetime(2026, 1, 10, 10, 0, tzinfo=datetime.UTC),
    "replay_delay_seconds": 0.5,
    "system_identifier": "7301234567890123456",
}


def test_read_replication_with_a_fake_connection():
    slots = [{"slot_name": "pg3", "slot_type": "physical", "active": True, "retained_bytes": 0}]
    conn = FakeConnection([[NODE], [{"application_name": "pg3", "lag_bytes": 0}], slots])
    got = {}

    def connect(**kwargs):
        got.update(kwargs)
        return conn

    params = {"login_host": "10.0.0.2", "login_port": 5432, "login_user": "postgres", "login_password": "pw"}
    params.update(login_db="postgres", ssl_mode="prefer", ca_cert=None, connect_timeout=5, login_unix_socket=None)
    r = postgresql_repl.read_replication(params, connect=connect)
    assert got["host"] == "10.0.0.2" and got["password"] == "pw" and "sslrootcert" not in got
    assert conn.read_only is True
    assert (r["role"], r["timeline"], r["system_identifier"]) == ("replica", 4, "7301234567890123456")
    assert r["lsn"] == {"current": None, "receive": "0/5000148", "replay": "0/5000148"}
    assert r["replay_timestamp"] == "2026-01-10T10:00:00+00:00" and r["wal_receiver_status"] == "streaming"
    assert r["standbys"] == [{"application_name": "pg3", "lag_bytes": 0}] and r["slots"] == slots


def test_node_role():
    assert postgresql_repl.node_role(dict(NODE, in_recovery=False)) == ("primary", 3)
    assert postgresql_repl.node_role(dict(NODE, receiver_timeline=None)) == ("replica", 3)


@pytest.mark.skipif(not postgresql_repl.HAS_PSYCOPG, reason="psycopg is a controller requirement")
def test_connection_errors_are_typed():
    def bad_password(**kwargs):
        raise postgresql_repl.psycopg.OperationalError('password authentication failed for user "postgres"')

    def refused(**kwargs):
        raise postgresql_repl.psycopg.OperationalError("connection refused")

    params = {"login_host": "h", "login_port": 5433, "login_user": "postgres", "login_db": "postgres"}
    with pytest.raises(PatroniAuthError, match=r"postgres@h:5433/postgres rejected the login.*login_password"):
        postgresql_repl.read_replication(params, connect=bad_password)
    with pytest.raises(PatroniDatabaseError, match="could not connect to PostgreSQL at postgres@h:5433"):
        postgresql_repl.read_replication(params, connect=refused)
