"""patroni_member: main() with a fake REST client and a fake systemctl (no Patroni, no systemd)."""

import re

import pytest
from ansible.module_utils import basic
from module_exits import exit_result, fail_message, patch_exits, run_module

from ansible_collections.apiplatform.ha.plugins.module_utils.patroni import normalize_cluster
from ansible_collections.apiplatform.ha.plugins.modules import patroni_member


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, required=False: "/bin/systemctl")
    monkeypatch.setattr(patroni_member.time, "sleep", lambda s: None)


def _member(name, role="replica", state="streaming", lag=0, timeline=2):
    m = {"name": name, "role": role, "state": state, "timeline": timeline}
    m["api_url"] = f"http://10.0.0.{name[-1]}:8008/patroni"
    if role != "leader":
        m["lag"] = lag
    return m


class FakeCluster:
    """Patroni as seen through PatroniClient, plus systemd: starting the service lists the member, stopping drops it."""

    def __init__(self, members, active=True, enabled=True, paused=False):
        self.members = {m["name"]: m for m in members}
        self.active = active
        self.enabled = enabled
        self.paused = paused
        self.writes = []
        self.start_time = "2026-01-01 10:00:00+00"
        self.local = "pg2"

    # REST
    def cluster(self):
        return normalize_cluster({"members": list(self.members.values()), "pause": self.paused})

    def patroni(self, url=None):
        return {"postmaster_start_time": self.start_time}

    def reinitialize(self, url):
        self.writes.append(("reinitialize", url))
        self.start_time = "2026-01-01 11:00:00+00"
        self.members["pg3"] = _member("pg3", timeline=self.members["pg1"]["timeline"])
        return "reinitialize started"

    # systemctl
    def run_command(self, cmd):
        assert isinstance(cmd, list) and cmd[0] == "/bin/systemctl" and cmd[2] == "patroni"
        verb = cmd[1]
        if verb == "is-active":
            return (0, "active\n", "") if self.active else (3, "inactive\n", "")
        if verb == "is-enabled":
            return (0, "enabled\n", "") if self.enabled else (1, "disabled\n", "")
        self.writes.append((verb,))
        if verb == "start":
            self.active = True
            self.members[self.local] = _member(self.local)
        elif verb == "stop":
            self.active = False
            self.members.pop(self.local, None)
        elif verb in ("enable", "disable"):
            self.enabled = verb == "enable"
        return 0, "", ""


def install(monkeypatch, fake):
    monkeypatch.setattr(patroni_member.PatroniClient, "from_params", classmethod(lambda cls, params: fake))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, cmd, **kw: fake.run_command(cmd))
    return fake


def three(**kwargs):
    return FakeCluster([_member("pg1", "leader", "running"), _member("pg2"), _member("pg3")], **kwargs)


def run_main(args, **kwargs):
    run_module(patroni_member.main, dict({"wait_timeout": 5}, **args), **kwargs)


def result_of(args, **kwargs):
    return exit_result(patroni_member.main, dict({"wait_timeout": 5}, **args), **kwargs)


def failure_of(args, **kwargs):
    return fail_message(patroni_member.main, dict({"wait_timeout": 5}, **args), **kwargs)


# -- present ----------------------------------------------------------------------------------------------------------


def test_present_starts_a_stopped_member_and_waits(monkeypatch):
    fake = FakeCluster([_member("pg1", "leader", "running"), _member("pg3")], active=False, enabled=False)
    install(monkeypatch, fake)
    check = result_of({"name": "pg2"}, check_mode=True, diff=True)
    assert check["changed"] is True and check["action"] == "start" and fake.writes == []
    assert check["diff"]["after"]["service"] == {"active": True, "enabled": True}

    result = result_of({"name": "pg2"})
    assert fake.writes == [("enable",), ("start",)]
    assert result["executed"] == ["systemctl enable patroni", "systemctl start patroni"]
    assert result["member"]["state"] == "streaming" and result["leader"] == "pg1"

    again = result_of({"name": "pg2"})
    assert again["changed"] is False and again["action"] == "none" and len(fake.writes) == 2


def test_present_leader_counts_as_present(monkeypatch):
    fake = install(monkeypatch, three(active=False))
    assert result_of({"name": "pg1"})["changed"] is False and fake.writes == []


def test_present_unknown_member_with_running_service_names_the_members(monkeypatch):
    install(monkeypatch, three())
    msg = failure_of({"name": "pgx", "wait": False})
    assert msg.startswith("name: no member named 'pgx'") and "members: pg1, pg2, pg3" in msg
    msg = failure_of({"name": "pgx", "wait_timeout": 0})
    assert "was not streaming" in msg and "members: pg1, pg2, pg3" in msg


# -- absent -----------------------------------------------------------------------------------------------------------


def test_absent_stops_disables_and_waits(monkeypatch):
    fake = install(monkeypatch, three())
    check = result_of({"name": "pg2", "state": "absent"}, check_mode=True, diff=True)
    assert check["changed"] is True and fake.writes == [] and check["diff"]["after"]["member"] is None

    result = result_of({"name": "pg2", "state": "absent"}, diff=True)
    assert fake.writes == [("stop",), ("disable",)] and result["member"] is None
    assert result["diff"]["before"]["service"] == {"active": True, "enabled": True}
    assert result["diff"]["after"]["service"] == {"active": False, "enabled": False}

    assert result_of({"name": "pg2", "state": "absent"})["changed"] is False


def test_absent_refuses_the_leader_without_touching_systemd(monkeypatch):
    fake = install(monkeypatch, three())
    msg = failure_of({"name": "pg1", "state": "absent"})
    assert "it is the leader. Switch over first" in msg and "patroni_switchover" in msg
    assert fake.writes == []


def test_paused_cluster_refuses_changes(monkeypatch):
    fake = install(monkeypatch, three(paused=True))
    assert "paused" in failure_of({"name": "pg2", "state": "absent"})
    assert fake.writes == []


# -- reinitialized ----------------------------------------------------------------------------------------------------


def test_reinitialized_needs_confirm_true(monkeypatch):
    fake = install(monkeypatch, three())
    assert "confirm" in failure_of({"name": "pg3", "state": "reinitialized"})
    assert failure_of({"name": "pg3", "state": "reinitialized", "confirm": False}).startswith("confirm: ")
    assert fake.writes == []


def test_reinitialized_rebuilds_a_stale_member_and_waits(monkeypatch):
    fake = FakeCluster([_member("pg1", "leader", "running", timeline=3), _member("pg2", timeline=3), _member("pg3")])
    install(monkeypatch, fake)
    args = {"name": "pg3", "state": "reinitialized", "confirm": True}
    check = result_of(args, check_mode=True)
    assert check["changed"] is True and check["action"] == "reinitialize" and fake.writes == []
    assert check["service"] is None

    fake.members["pg3"]["timeline"] = 2
    result = result_of(args, diff=True)
    assert fake.writes == [("reinitialize", "http://10.0.0.3:8008")]
    assert result["executed"] == ["POST http://10.0.0.3:8008/reinitialize from_leader=true"]
    assert result["diff"]["before"]["member"]["timeline"] == 2
    assert result["diff"]["after"]["member"]["timeline"] == 3

    fake.members["pg3"]["timeline"] = 3
    again = result_of(args)
    assert again["changed"] is False and again["action"] == "none" and len(fake.writes) == 1


def test_reinitialized_force_and_refusals(monkeypatch):
    fake = install(monkeypatch, three())
    args = {"name": "pg3", "state": "reinitialized", "confirm": True}
    assert result_of(args)["changed"] is False
    assert result_of(dict(args, force=True))["changed"] is True
    msg = failure_of(dict(args, name="pg1"))
    assert re.search("it is the leader.*Switch over first", msg)
    msg = failure_of(dict(args, name="pg9"))
    assert msg.startswith("name: no member named 'pg9'") and "pg1, pg2, pg3" in msg
    assert len(fake.writes) == 1


def test_expected_service():
    plan = {"commands": ["enable", "start"]}
    assert patroni_member.expected_service({"active": False, "enabled": False}, plan) == {
        "active": True,
        "enabled": True,
    }
    assert patroni_member.expected_service(None, plan) is None
