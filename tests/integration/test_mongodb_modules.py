"""mongodb_replset_info, mongodb_replset_member and mongodb_resync run by the real ansible-playbook against the
project's replica-set simulator (tests/mongodb_simulator, a simulator, NOT MongoDB).

Every test starts its own simulator set on 127.0.0.1 (short heartbeats and elections, see
mongodb_simulator_harness.py) and checks the modules' results against what the simulator itself reports
(replSetGetConfig / replSetGetStatus read with pymongo outside the modules). mongodb_resync only runs systemctl, so
only its decision paths are tested (no confirm, check mode, not needed); no systemctl is ever run here.
"""

import socket
import time

import pytest
from etcd_cluster import run_tasks
from mongodb_simulator_harness import SimulatorSet

INFO = "apiplatform.ha.mongodb_replset_info"
MEMBER = "apiplatform.ha.mongodb_replset_member"
RESYNC = "apiplatform.ha.mongodb_resync"


@pytest.fixture
def plays(tmp_path):
    def run(*tasks):
        return run_tasks(tmp_path, list(tasks), timeout=120)

    return run


def conn(rs, i, **extra):
    """Connection options of the modules for simulator member ``i``."""
    return dict(login_host="127.0.0.1", login_port=rs.members[i].port, connect_timeout=3, **extra)


def task(module, args, check=False, diff=False):
    return (module, args, {"check_mode": check, "diff": diff})


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def failed(result):
    assert result.get("failed"), result
    return result


def version(rs, i=0):
    return rs.admin(i, "replSetGetConfig")["config"]["version"]


def config_member(rs, host, i=0):
    members = rs.admin(i, "replSetGetConfig")["config"]["members"]
    return next((m for m in members if m["host"] == host), None)


def unused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_simulator_info_reports_set_and_uninitialized_member(tmp_path, plays):
    with SimulatorSet(tmp_path / "sim", 4, oplog_window=3600) as rs:
        rs.start_all()
        rs.initiate([{"priority": 2}, {}, {"arbiterOnly": True}])  # member 3 runs but is never initiated
        assert rs.wait_primary(15) == 0
        rs.wait_state(1, "SECONDARY", 15, seen_from=0)
        rs.wait_state(2, "ARBITER", 15, seen_from=0)
        time.sleep(1.2)  # at least one noop, so that the oplog has a window
        info, hello, hello3 = plays(
            task(INFO, conn(rs, 0, replica_set="rs0")),
            task(INFO, conn(rs, 1, hello_only=True)),
            task(INFO, conn(rs, 3, hello_only=True)),
        )
    ok(info)
    assert info["changed"] is False and info["initialized"] is True
    rset = info["mongodb_replset"]
    assert rset["set"] == "rs0" and rset["healthy"] is True
    assert rset["primary"] == rs.host(0) and rset["self"] == rs.host(0) and rset["my_state_str"] == "PRIMARY"
    assert [m["name"] for m in rset["members"]] == [rs.host(i) for i in range(3)]
    assert [m["state_str"] for m in rset["members"]] == ["PRIMARY", "SECONDARY", "ARBITER"]
    assert rset["members"][2]["arbiter_only"] is True and rset["members"][2]["votes"] == 1
    assert rset["oplog"] is not None and rset["oplog"]["window_seconds"] > 0
    ok(hello)
    assert hello["initialized"] is True and hello["mongodb_replset"]["my_state_str"] == "SECONDARY"
    assert hello["mongodb_replset"]["primary"] == rs.host(0)
    ok(hello3)
    assert hello3["initialized"] is False and hello3["mongodb_replset"]["members"] == []
    assert hello3["mongodb_replset"]["healthy"] is False


def test_simulator_member_present_adds_in_two_steps_idempotent_and_check_mode(tmp_path, plays):
    with SimulatorSet(tmp_path / "sim", 3) as rs:
        rs.start_all()
        rs.initiate([{}])
        assert rs.wait_primary(15) == 0
        add1 = dict(conn(rs, 0), host=rs.host(1), wait_timeout=30)
        add2 = dict(conn(rs, 0), host=rs.host(2), wait_timeout=30)
        # one ansible-playbook run: apply, apply again, then check mode for member 2
        first, again, check = plays(task(MEMBER, add1, diff=True), task(MEMBER, add1), task(MEMBER, add2, check=True))
        ok(first)
        assert first["changed"] is True and len(first["steps"]) == 2, first["steps"]
        assert "votes 0" in first["steps"][0] and "vote" in first["steps"][1]
        assert first["primary"] == rs.host(0) and first["member"]["votes"] == 1
        rs.wait_state(1, "SECONDARY", 15, seen_from=0)
        mem = config_member(rs, rs.host(1))
        assert mem["votes"] == 1 and mem["priority"] == 1
        assert first["config_version"] == version(rs) == 3  # initiate (1) + two steps
        ok(again)
        assert again["changed"] is False and again["steps"] == [] and again["config_version"] == 3
        ok(check)
        assert check["changed"] is True and len(check["steps"]) == 2 and check["config_version"] == 3 + 2
        assert version(rs) == 3 and config_member(rs, rs.host(2)) is None


def test_simulator_member_refusals_leave_config_unchanged(tmp_path, plays):
    with SimulatorSet(tmp_path / "sim", 2) as rs:
        rs.start_all()
        rs.initiate([{"priority": 2}, {}])
        assert rs.wait_primary(15) == 0
        rs.wait_state(1, "SECONDARY", 15, seen_from=0)
        before = version(rs)
        prio, primary = plays(
            task(MEMBER, dict(conn(rs, 0), host=rs.host(1), priority=2000)),
            task(MEMBER, dict(conn(rs, 0), host=rs.host(0), state="absent")),
        )
        failed(prio)
        assert "priority" in prio["msg"]
        failed(primary)
        assert "step it down" in primary["msg"]
        assert version(rs) == before
        assert config_member(rs, rs.host(0)) is not None and config_member(rs, rs.host(1))["priority"] == 1


def test_simulator_member_unreachable_new_member_is_refused_without_reconfig(tmp_path, plays):
    with SimulatorSet(tmp_path / "sim", 2) as rs:
        rs.start_all()
        rs.initiate([{"priority": 2}, {}])
        assert rs.wait_primary(15) == 0
        rs.wait_state(1, "SECONDARY", 15, seen_from=0)
        before = version(rs)
        nobody = f"127.0.0.1:{unused_port()}"
        (unreachable,) = plays(task(MEMBER, dict(conn(rs, 0), host=nobody, wait_timeout=4)))
        failed(unreachable)
        assert "does not answer" in unreachable["msg"] and "Nothing was changed" in unreachable["msg"]
        assert version(rs) == before and config_member(rs, nobody) is None


def test_simulator_member_wrong_password_is_rejected_without_traceback(tmp_path, plays):
    with SimulatorSet(tmp_path / "sim", 1, authorization=True) as rs:
        rs.start_all()
        rs.initiate([{}])
        assert rs.wait_primary(15) == 0
        rs.client(0).admin.command("createUser", "admin", pwd="x", roles=["root"])
        before = rs.client(0, username="admin", password="x").admin.command("replSetGetConfig")["config"]["version"]
        (wrong,) = plays(
            task(MEMBER, dict(conn(rs, 0, login_user="admin", login_password="wrong"), host=rs.host(0), priority=5))
        )
        failed(wrong)
        assert "rejected" in wrong["msg"]
        assert "Traceback" not in str(wrong.get("module_stderr", "")) + wrong["msg"]
        assert "exception" not in wrong or "Traceback" not in wrong["exception"]
        after = rs.client(0, username="admin", password="x").admin.command("replSetGetConfig")["config"]["version"]
        assert after == before


def test_simulator_resync_decisions_without_systemctl(tmp_path, plays):
    with SimulatorSet(tmp_path / "sim", 3, oplog_window=3) as rs:
        rs.start_all()
        rs.initiate([{"priority": 2}, {}, {}])
        assert rs.wait_primary(15) == 0
        rs.wait_state(1, "SECONDARY", 15, seen_from=0)
        rs.wait_state(2, "SECONDARY", 15, seen_from=0)
        rs.stop(1)
        time.sleep(5)  # longer than the 3 s oplog window
        rs.start(1)
        rs.wait_state(1, "RECOVERING", 15)
        state_file = rs.members[1].db_path / "simulator-state.json"
        assert state_file.exists()
        entries = sorted(p.name for p in rs.members[1].db_path.iterdir())
        stale = dict(conn(rs, 1), data_dir=str(rs.members[1].db_path), service_name="simulator-m1", wait_timeout=10)
        healthy = dict(conn(rs, 2), data_dir=str(rs.members[2].db_path), service_name="simulator-m2")
        no_confirm, check, not_needed = plays(
            task(RESYNC, stale),
            task(RESYNC, dict(stale, confirm=True), check=True, diff=True),
            task(RESYNC, dict(healthy, confirm=True, lag_margin_seconds=0)),
        )
        failed(no_confirm)
        assert "confirm" in no_confirm["msg"]
        ok(check)
        assert check["changed"] is True and check["decision"] == "needed" and check["member"] == rs.host(1)
        assert check["state_before"] == "RECOVERING" and check["executed"] == []
        assert check["removed_entries"] == len(entries)
        assert "stale" in check["reason"]
        assert state_file.exists() and sorted(p.name for p in rs.members[1].db_path.iterdir()) == entries
        assert rs.running(1)
        ok(not_needed)
        assert not_needed["changed"] is False and not_needed["decision"] == "not_needed"
        assert not_needed["state_before"] == "SECONDARY" and "catches up by itself" in not_needed["reason"]
        assert not_needed["removed_entries"] == 0 and (rs.members[2].db_path / "simulator-state.json").exists()
        assert not_needed["executed"] == []
