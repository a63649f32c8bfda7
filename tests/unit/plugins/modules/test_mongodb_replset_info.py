"""mongodb_replset_info: main() against a fake replica set behind pymongo's MongoClient (mongodb_fake.py)."""

import pytest
from module_exits import exit_result, fail_message, patch_exits
from mongodb_fake import NOW, FakeReplSet

from ansible_collections.apiplatform.ha.plugins.module_utils import mongodb
from ansible_collections.apiplatform.ha.plugins.modules import mongodb_replset_info


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


def install(monkeypatch, fake):
    monkeypatch.setattr(mongodb, "MongoClient", fake.client)
    return fake


def test_healthy_set_read_from_a_secondary(monkeypatch):
    fake = install(monkeypatch, FakeReplSet())
    fake.nodes["m3:27017"]["optime"] = NOW - 42
    fake.config["members"][2].update(priority=0.0, hidden=True, tags={"usage": "backup"})
    result = exit_result(mongodb_replset_info.main, {"login_host": "m2", "replica_set": "rs0"}, check_mode=True)
    rs = result["mongodb_replset"]
    assert result["changed"] is False and result["initialized"] is True
    assert (rs["set"], rs["primary"], rs["self"], rs["my_state_str"], rs["config_version"]) == (
        "rs0",
        "m1:27017",
        "m2:27017",
        "SECONDARY",
        4,
    )
    assert rs["healthy"] is True and [m["name"] for m in rs["members"]] == ["m1:27017", "m2:27017", "m3:27017"]
    m3 = rs["members"][2]
    assert (m3["lag_seconds"], m3["hidden"], m3["priority"], m3["tags"], m3["sync_source"]) == (
        42,
        True,
        0.0,
        {"usage": "backup"},
        "m1:27017",
    )
    assert m3["optime_date"] == "2026-01-01T09:59:18Z" and m3["arbiter_only"] is False and m3["votes"] == 1
    assert rs["oplog"] == {"first": "2025-12-31T10:00:00Z", "last": "2026-01-01T10:00:00Z", "window_seconds": 86400}
    assert all(c.closed for c in fake.clients)


def test_down_member_and_unreachable_primary(monkeypatch):
    fake = install(monkeypatch, FakeReplSet())
    fake.set_state("m3:27017", 8, health=0)
    fake.unreachable.add("m1:27017")  # m2 still sees it through its heartbeats
    warnings = []
    monkeypatch.setattr(mongodb_replset_info.AnsibleModule, "warn", lambda self, w: warnings.append(w))
    rs = exit_result(mongodb_replset_info.main, {"login_host": "m2"})["mongodb_replset"]
    assert rs["healthy"] is False and rs["members"][2]["state_str"] == "DOWN" and rs["members"][2]["health"] == 0
    assert rs["oplog"] is None and warnings[0].startswith("the oplog window was not read: cannot reach mongod at m1")


def test_not_initialized_is_a_clean_result(monkeypatch):
    fake = install(monkeypatch, FakeReplSet())
    fake.initialized = False
    result = exit_result(mongodb_replset_info.main, {"login_host": "m1"})
    assert result["initialized"] is False and result["changed"] is False
    assert result["mongodb_replset"]["members"] == [] and result["mongodb_replset"]["healthy"] is False


def test_errors(monkeypatch):
    fake = install(monkeypatch, FakeReplSet(password="pw"))
    msg = fail_message(mongodb_replset_info.main, {"login_host": "m1", "login_user": "u", "login_password": "no"})
    assert msg.startswith("login_user/login_password rejected by m1:27017")
    fake.set_state("m1:27017", 8, health=0)
    msg = fail_message(mongodb_replset_info.main, {"login_host": "m1", "login_user": "u", "login_password": "pw"})
    assert msg.startswith("cannot reach mongod at m1:27017") and "Traceback" not in msg
    msg = fail_message(mongodb_replset_info.main, {"login_host": "m1", "connect_timeout": 0})
    assert msg.startswith("connect_timeout: must be a positive number")
    msg = fail_message(mongodb_replset_info.main, {"login_host": "m1", "tls_ca_file": "/etc/ssl/ca.pem"})
    assert msg.startswith("tls: tls_ca_file/tls_certificate_key_file are set but tls is false")
