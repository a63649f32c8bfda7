"""patroni_switchover: main() with a fake REST client (no Patroni): check mode, apply, idempotence, refusals."""

import re

import pytest
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits

from ansible_collections.apiplatform.ha.plugins.module_utils.patroni import (
    PatroniAuthError,
    PatroniParameterError,
    normalize_cluster,
)
from ansible_collections.apiplatform.ha.plugins.modules import patroni_switchover


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


def _member(name, role="replica", state="streaming", lag=0):
    m = {"name": name, "role": role, "state": state, "timeline": 2, "api_url": f"http://10.0.0.{name[-1]}:8008/patroni"}
    if role != "leader":
        m["lag"] = lag
    return m


class FakeClient:
    """Stands in for PatroniClient: a leader, replicas with lags, and a log of the writes."""

    api_url = "http://10.0.0.1:8008"
    timeout = 5.0

    def __init__(self, leader="pg1", lags=None, paused=False, switch_error=None, writable_after=0):
        self.leader = leader
        self.lags = lags or {"pg2": 0, "pg3": 0}
        self.paused = paused
        self.switch_error = switch_error
        self.writable_after = writable_after
        self.writes = []
        self.probes = 0

    def cluster(self):
        names = sorted({self.leader, *self.lags})
        members = [_member(n, "leader", "running") if n == self.leader else _member(n, lag=self.lags[n]) for n in names]
        return normalize_cluster({"members": members, "pause": self.paused})

    def switchover(self, leader, candidate, timeout):
        if self.switch_error:
            raise self.switch_error
        self.writes.append(("switchover", leader, candidate))
        self.lags = {n: 0 for n in {self.leader, *self.lags} if n != candidate}
        self.leader = candidate
        return f'Successfully switched over to "{candidate}"'

    def accepts_writes(self, url):
        self.probes += 1
        return self.probes > self.writable_after


def install(monkeypatch, fake):
    monkeypatch.setattr(patroni_switchover.PatroniClient, "from_params", classmethod(lambda cls, params: fake))
    monkeypatch.setattr(patroni_switchover.time, "sleep", lambda s: None)
    return fake


def run_main(args, check_mode=False, diff=False):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        patroni_switchover.main()


def test_check_mode_reports_without_posting(monkeypatch):
    fake = install(monkeypatch, FakeClient())
    with pytest.raises(ExitJson) as exc:
        run_main({"candidate": "pg3"}, check_mode=True, diff=True)
    result = exc.value.args[0]
    assert result["changed"] is True and result["executed"] == [] and fake.writes == []
    assert (result["previous_leader"], result["leader"], result["candidate"], result["seconds"]) == (
        "pg1",
        "pg3",
        "pg3",
        0.0,
    )
    assert result["diff"] == {"before": {"leader": "pg1"}, "after": {"leader": "pg3"}}


def test_apply_waits_for_writes_then_is_idempotent(monkeypatch):
    fake = install(monkeypatch, FakeClient(writable_after=2))
    with pytest.raises(ExitJson) as exc:
        run_main({"candidate": "pg2"})
    result = exc.value.args[0]
    assert fake.writes == [("switchover", "pg1", "pg2")] and fake.probes == 3
    assert result["changed"] is True and result["leader"] == "pg2" and result["previous_leader"] == "pg1"
    assert result["executed"] == ["POST http://10.0.0.1:8008/switchover leader=pg1 candidate=pg2"]
    assert result["message"] == 'Successfully switched over to "pg2"' and "diff" not in result

    with pytest.raises(ExitJson) as exc:
        run_main({"candidate": "pg2"}, diff=True)
    again = exc.value.args[0]
    assert again["changed"] is False and again["executed"] == [] and len(fake.writes) == 1
    assert again["diff"]["before"] == again["diff"]["after"] == {"leader": "pg2"}


def test_healthiest_replica_is_chosen(monkeypatch):
    fake = install(monkeypatch, FakeClient(lags={"pg2": 400, "pg3": 20}))
    with pytest.raises(ExitJson) as exc:
        run_main({})
    assert exc.value.args[0]["candidate"] == "pg3" and fake.writes == [("switchover", "pg1", "pg3")]


@pytest.mark.parametrize(
    ("fake", "args", "match"),
    [
        (FakeClient(), {"candidate": "pg9"}, "candidate: no member named 'pg9'.*could be chosen: pg2, pg3"),
        (FakeClient(lags={"pg2": 5000, "pg3": 0}), {"candidate": "pg2", "max_lag_bytes": 100}, "max_lag_bytes=100"),
        (FakeClient(paused=True), {"candidate": "pg2"}, "paused"),
        (FakeClient(), {"max_lag_bytes": -1}, "max_lag_bytes: must be 0 or more"),
        (FakeClient(switch_error=PatroniAuthError("HTTP 401")), {"candidate": "pg2"}, "HTTP 401"),
    ],
)
def test_refusals_change_nothing(monkeypatch, fake, args, match):
    install(monkeypatch, fake)
    with pytest.raises(FailJson) as exc:
        run_main(args)
    assert re.search(match, exc.value.args[0]["msg"]), exc.value.args[0]["msg"]
    assert fake.writes == []


def test_timeout_when_the_new_leader_never_accepts_writes(monkeypatch):
    install(monkeypatch, FakeClient(writable_after=10**6))
    clock = iter(range(0, 10**6, 5))
    monkeypatch.setattr(patroni_switchover.time, "monotonic", lambda: next(clock))
    with pytest.raises(FailJson) as exc:
        run_main({"candidate": "pg2", "wait_timeout": 20})
    assert "did not lead and accept writes" in exc.value.args[0]["msg"]
    assert "wait_timeout=20" in exc.value.args[0]["msg"]


def test_missing_requests_and_password_without_user(monkeypatch):
    install(monkeypatch, FakeClient())
    with pytest.raises(FailJson) as exc:
        run_main({"api_password": "x"})
    assert "api_username" in exc.value.args[0]["msg"]
    monkeypatch.setattr(patroni_switchover, "HAS_REQUESTS", False)
    with pytest.raises(FailJson) as exc:
        run_main({})
    assert "requests" in exc.value.args[0]["msg"]


def test_normalize():
    with pytest.raises(PatroniParameterError, match="wait_timeout"):
        patroni_switchover.normalize({"candidate": None, "max_lag_bytes": 0, "wait_timeout": -1})
    assert patroni_switchover.normalize({"candidate": "", "max_lag_bytes": 0, "wait_timeout": 1})["candidate"] is None
