"""Pure planning logic, the systemd helper and the REST client of module_utils/patroni.py, without a server."""

import pytest
import requests

from ansible_collections.apiplatform.ha.plugins.module_utils.patroni import (
    PatroniAuthError,
    PatroniClient,
    PatroniConnectionError,
    PatroniParameterError,
    PatroniRefusedError,
    PatroniServiceError,
    SystemdService,
    eligible_candidates,
    is_replica_healthy,
    normalize_cluster,
    patroni_argument_spec,
    plan_member,
    plan_switchover,
    postgres_argument_spec,
    validate_url,
)


def raw_member(name, role="replica", state="streaming", lag=0, timeline=3, tags=None):
    m = {"name": name, "role": role, "state": state, "api_url": f"http://10.0.0.{name[-1]}:8008/patroni"}
    m.update(host=f"10.0.0.{name[-1]}", port=5432, timeline=timeline)
    if role != "leader":
        m.update(lag=lag, receive_lag=lag, replay_lag=lag)
    if tags:
        m["tags"] = tags
    return m


def cluster(*members, pause=False):
    raw = {"members": list(members) or [raw_member("pg1", "leader", "running"), raw_member("pg2"), raw_member("pg3")]}
    if pause:
        raw["pause"] = True
    return normalize_cluster(raw)


# -- argument specs, URLs ---------------------------------------------------------------------------------------------


def test_argument_specs_are_fresh_copies_with_secrets_hidden():
    spec = patroni_argument_spec()
    spec["api_url"]["default"] = "changed"
    assert patroni_argument_spec()["api_url"]["default"] == "http://127.0.0.1:8008"
    assert spec["api_password"]["no_log"] is True and "no_log" not in spec["api_username"]
    assert postgres_argument_spec()["login_password"]["no_log"] is True


def test_validate_url():
    assert validate_url("http://10.0.0.1:8008/") == "http://10.0.0.1:8008"
    for bad in ("10.0.0.1:8008", "http://10.0.0.1", "http://h:8008/cluster", "ftp://h:1", None):
        with pytest.raises(PatroniParameterError, match=r"^api_url: "):
            validate_url(bad)


# -- normalize --------------------------------------------------------------------------------------------------------


def test_normalize_cluster():
    c = normalize_cluster(
        {
            "members": [
                raw_member("pg1", "leader", "running"),
                dict(raw_member("pg2"), lag="unknown"),
                raw_member("pg3", tags={"nofailover": True}),
            ],
            "pause": True,
        }
    )
    assert (c["leader"], c["leader_timeline"], c["paused"]) == ("pg1", 3, True)
    pg1, pg2, pg3 = c["members"]
    assert pg1["lag"] is None and pg1["api_url"] == "http://10.0.0.1:8008"
    assert pg2["lag"] is None and pg3["nofailover"] is True and pg3["tags"] == {"nofailover": True}
    empty = normalize_cluster({})
    assert empty["leader"] is None and empty["members"] == [] and empty["paused"] is False


def test_is_replica_healthy():
    c = cluster()
    pg2 = c["members"][1]
    assert is_replica_healthy(pg2, 3, 0)
    assert not is_replica_healthy(dict(pg2, lag=10), 3, 9)
    assert not is_replica_healthy(dict(pg2, timeline=2), 3, 100)
    assert not is_replica_healthy(dict(pg2, state="running"), 3, 100)
    assert is_replica_healthy(dict(pg2, state="running"), 3, 100, ("running", "streaming"))
    assert not is_replica_healthy(c["members"][0], 3, 100)


# -- switchover plan --------------------------------------------------------------------------------------------------


def test_healthiest_candidate_is_the_lowest_lag_without_nofailover():
    c = cluster(
        raw_member("pg1", "leader", "running"),
        raw_member("pg2", lag=500),
        raw_member("pg3", lag=0, tags={"nofailover": True}),
        raw_member("pg4", lag=100),
    )
    assert [m["name"] for m in eligible_candidates(c, 1000)] == ["pg4", "pg2"]
    plan = plan_switchover(c, None, 1000)
    assert (plan["action"], plan["leader"], plan["candidate"]) == ("switchover", "pg1", "pg4")
    assert "healthiest" in plan["reasons"][0]


def test_named_candidate():
    plan = plan_switchover(cluster(), "pg3", 0)
    assert (plan["action"], plan["leader"], plan["candidate"]) == ("switchover", "pg1", "pg3")


def test_candidate_already_leader_is_idempotent_even_when_paused():
    plan = plan_switchover(cluster(pause=True), "pg1", 0)
    assert plan["action"] == "none" and plan["leader"] == "pg1"


def test_unknown_candidate_names_the_members_and_the_choosable_ones():
    with pytest.raises(PatroniParameterError) as exc:
        plan_switchover(cluster(), "pg9", 0)
    msg = str(exc.value)
    assert msg.startswith("candidate: no member named 'pg9'") and "members: pg1, pg2, pg3" in msg
    assert "could be chosen: pg2, pg3" in msg


@pytest.mark.parametrize(
    ("member", "match"),
    [
        (raw_member("pg2", state="stopped", lag="unknown"), "is not a running replica; choose one of: pg3"),
        (raw_member("pg2", lag=5000), "lags more than max_lag_bytes=1000"),
        (raw_member("pg2", tags={"nofailover": True}), "nofailover"),
        (raw_member("pg2", timeline=2), "not on the leader's timeline 3"),
    ],
)
def test_candidate_refusals(member, match):
    c = cluster(raw_member("pg1", "leader", "running"), member, raw_member("pg3"))
    with pytest.raises(PatroniRefusedError, match=match):
        plan_switchover(c, "pg2", 1000)


def test_switchover_refused_when_paused_or_without_leader_or_candidates():
    with pytest.raises(PatroniRefusedError, match="paused"):
        plan_switchover(cluster(pause=True), "pg2", 0)
    with pytest.raises(PatroniRefusedError, match="no leader"):
        plan_switchover(cluster(raw_member("pg2"), raw_member("pg3")), None, 0)
    lagging = cluster(raw_member("pg1", "leader", "running"), raw_member("pg2", lag=10))
    with pytest.raises(PatroniRefusedError, match="no replica can take over"):
        plan_switchover(lagging, None, 5)


# -- member plan ------------------------------------------------------------------------------------------------------

UP = {"active": True, "enabled": True}
DOWN = {"active": False, "enabled": False}


def test_present():
    assert plan_member(cluster(), "pg2", "present", UP, 0)["action"] == "none"
    assert plan_member(cluster(), "pg1", "present", DOWN, 0)["action"] == "none"  # a leader counts as present
    plan = plan_member(cluster(), "pg4", "present", DOWN, 0)
    assert (plan["action"], plan["commands"]) == ("start", ["enable", "start"])
    plan = plan_member(cluster(), "pg4", "present", {"active": False, "enabled": True}, 0)
    assert plan["commands"] == ["start"]
    assert plan_member(cluster(), "pg4", "present", UP, 0)["action"] == "wait"
    # listed but not healthy: wait when the service runs, start it when it does not
    sick = cluster(raw_member("pg1", "leader", "running"), raw_member("pg2", state="starting", lag=None))
    assert plan_member(sick, "pg2", "present", UP, 0)["action"] == "wait"
    plan = plan_member(sick, "pg2", "present", {"active": False, "enabled": True}, 0)
    assert (plan["action"], plan["commands"]) == ("start", ["start"])
    diverged = cluster(raw_member("pg1", "leader", "running", timeline=4), raw_member("pg2", timeline=3))
    assert plan_member(diverged, "pg2", "present", UP, 0)["action"] == "wait"
    lagging = cluster(raw_member("pg1", "leader", "running"), raw_member("pg2", lag=5000))
    assert plan_member(lagging, "pg2", "present", UP, 1024)["action"] == "wait"
    assert plan_member(lagging, "pg2", "present", UP, 10000)["action"] == "none"
    with pytest.raises(PatroniRefusedError, match="paused"):
        plan_member(cluster(pause=True), "pg4", "present", DOWN, 0)


def test_switchover_prefers_the_synchronous_standby_then_failover_priority():
    sync = cluster(
        raw_member("pg1", "leader", "running"),
        raw_member("pg2", lag=0, tags={"failover_priority": 2}),
        raw_member("pg3", "sync_standby", lag=10),
    )
    assert plan_switchover(sync, None, 1024)["candidate"] == "pg3"
    assert plan_switchover(sync, "pg3", 1024)["candidate"] == "pg3"
    with pytest.raises(PatroniRefusedError, match=r"not a synchronous standby.*Choose 'pg3'"):
        plan_switchover(sync, "pg2", 1024)
    prio = cluster(
        raw_member("pg1", "leader", "running"),
        raw_member("pg2", lag=0, tags={"failover_priority": 1}),
        raw_member("pg3", lag=10, tags={"failover_priority": 2}),
    )
    assert plan_switchover(prio, None, 1024)["candidate"] == "pg3"


def test_absent():
    plan = plan_member(cluster(), "pg2", "absent", UP, 0)
    assert (plan["action"], plan["commands"]) == ("stop", ["stop", "disable"])
    assert plan_member(cluster(), "pg4", "absent", DOWN, 0)["action"] == "none"
    assert plan_member(cluster(), "pg4", "absent", {"active": False, "enabled": True}, 0)["commands"] == ["disable"]
    with pytest.raises(PatroniRefusedError, match=r"it is the leader. Switch over first"):
        plan_member(cluster(), "pg1", "absent", UP, 0)
    with pytest.raises(PatroniRefusedError, match="paused"):
        plan_member(cluster(pause=True), "pg2", "absent", UP, 0)


def test_reinitialized():
    c = cluster(raw_member("pg1", "leader", "running"), raw_member("pg2"), raw_member("pg3", timeline=2, lag=0))
    assert plan_member(c, "pg2", "reinitialized", None, 0)["action"] == "none"
    assert plan_member(c, "pg2", "reinitialized", None, 0, force=True)["action"] == "reinitialize"
    plan = plan_member(c, "pg3", "reinitialized", None, 0)
    assert plan["action"] == "reinitialize" and "timeline 3" in plan["reasons"][0]
    with pytest.raises(PatroniParameterError, match=r"^name: no member named 'pg9'.*members: pg1, pg2, pg3"):
        plan_member(c, "pg9", "reinitialized", None, 0)
    with pytest.raises(PatroniRefusedError, match=r"it is the leader.*patroni_switchover"):
        plan_member(c, "pg1", "reinitialized", None, 0)
    with pytest.raises(PatroniRefusedError, match="no leader"):
        plan_member(cluster(raw_member("pg2"), raw_member("pg3")), "pg2", "reinitialized", None, 0, force=True)
    paused = cluster(raw_member("pg1", "leader", "running"), raw_member("pg2"), pause=True)
    assert plan_member(paused, "pg2", "reinitialized", None, 0)["action"] == "none"
    with pytest.raises(PatroniRefusedError, match="paused"):
        plan_member(paused, "pg2", "reinitialized", None, 0, force=True)


# -- systemd ----------------------------------------------------------------------------------------------------------


class FakeSystemctl:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, cmd):
        assert isinstance(cmd, list)  # an argument list, never a shell string
        self.calls.append(cmd)
        return self.answers.get(cmd[1], (0, "", ""))


def test_systemd_state_and_commands():
    run = FakeSystemctl({"is-active": (3, "inactive\n", ""), "is-enabled": (0, "enabled\n", "")})
    service = SystemdService(run, "/bin/systemctl", "patroni")
    assert service.state() == {"active": False, "enabled": True}
    assert service.run("start") == "systemctl start patroni"
    assert run.calls[-1] == ["/bin/systemctl", "start", "patroni"]

    run = FakeSystemctl({"is-active": (0, "active\n", ""), "is-enabled": (1, "disabled\n", "")})
    assert SystemdService(run, "/bin/systemctl", "patroni").state() == {"active": True, "enabled": False}


def test_systemd_errors_name_the_unit():
    run = FakeSystemctl({"is-active": (4, "", ""), "is-enabled": (1, "", "Failed to connect to bus")})
    with pytest.raises(PatroniServiceError, match="service: cannot read the state of 'patroni'"):
        SystemdService(run, "/bin/systemctl", "patroni").state()
    run = FakeSystemctl({"stop": (1, "", "Job failed")})
    with pytest.raises(PatroniServiceError, match=r"stop patroni failed.*Job failed.*journalctl -u patroni"):
        SystemdService(run, "/bin/systemctl", "patroni").run("stop")
    missing = FakeSystemctl({"is-active": (4, "inactive\n", ""), "is-enabled": (1, "", "not-found")})
    assert SystemdService(missing, "/bin/systemctl", "patroni").state() == {"active": False, "enabled": False}


# -- REST client ------------------------------------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status, body, reason="OK"):
        self.status_code = status
        self.reason = reason
        self._body = body
        self.text = body if isinstance(body, str) else "json"

    def json(self):
        if isinstance(self._body, str):
            raise ValueError("not json")
        return self._body


class FakeSession:
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        answer = self.answers[(method, url)]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(answers, **kwargs):
    return PatroniClient("http://10.0.0.1:8008", session=FakeSession(answers), **kwargs)


def test_client_reads_cluster_without_auth_and_writes_with_auth():
    c = client(
        {
            ("GET", "http://10.0.0.1:8008/cluster"): FakeResponse(200, {"members": [raw_member("pg1", "leader")]}),
            ("POST", "http://10.0.0.1:8008/switchover"): FakeResponse(200, 'Successfully switched over to "pg2"'),
        },
        username="patroni",
        password="s3cret",
    )
    assert c.cluster()["leader"] == "pg1"
    assert c.switchover("pg1", "pg2", timeout=30) == 'Successfully switched over to "pg2"'
    (get, post) = c._session.calls
    assert "auth" not in get[2] and post[2]["auth"] == ("patroni", "s3cret")
    assert post[2]["json"] == {"leader": "pg1", "candidate": "pg2"} and post[2]["timeout"] == 30


def test_client_errors_name_the_url_and_status():
    refused = requests.exceptions.ConnectionError("HTTPConnectionPool: [Errno 111] Connection refused")
    c = client({("GET", "http://10.0.0.1:8008/cluster"): refused})
    with pytest.raises(PatroniConnectionError, match=r"at http://10.0.0.1:8008/cluster: Connection refused"):
        c.cluster()

    c = client({("POST", "http://10.0.0.1:8008/switchover"): FakeResponse(401, "no auth header", "Unauthorized")})
    with pytest.raises(PatroniAuthError, match=r"HTTP 401 Unauthorized.*api_username/api_password"):
        c.switchover("pg1", "pg2", timeout=5)

    c = client({("POST", "http://10.0.0.1:8008/switchover"): FakeResponse(412, "candidate does not exists", "Pre")})
    with pytest.raises(PatroniRefusedError, match="candidate does not exists"):
        c.switchover("pg1", "pg9", timeout=5)

    c = client({("GET", "http://10.0.0.1:8008/cluster"): FakeResponse(500, "boom", "Internal Server Error")})
    with pytest.raises(PatroniConnectionError, match="HTTP 500 Internal Server Error: boom") as exc:
        c.cluster()
    assert exc.value.status == 500 and exc.value.url == "http://10.0.0.1:8008/cluster"

    c = client({("GET", "http://10.0.0.1:8008/cluster"): FakeResponse(200, "<html>")})
    with pytest.raises(PatroniConnectionError, match="not answer with a JSON object"):
        c.cluster()

    c = client({("POST", "http://10.0.0.3:8008/reinitialize"): FakeResponse(503, "I am the leader", "Unavailable")})
    with pytest.raises(PatroniRefusedError, match="I am the leader"):
        c.reinitialize("http://10.0.0.3:8008")


def test_client_read_write_probe_and_reinitialize():
    c = client(
        {
            ("GET", "http://10.0.0.2:8008/read-write"): FakeResponse(200, {"role": "primary"}),
            ("GET", "http://10.0.0.3:8008/read-write"): FakeResponse(503, {"role": "replica"}),
            ("GET", "http://10.0.0.4:8008/read-write"): requests.exceptions.ConnectTimeout("timed out"),
            ("POST", "http://10.0.0.3:8008/reinitialize"): FakeResponse(200, "reinitialize started"),
        }
    )
    assert c.accepts_writes("http://10.0.0.2:8008") is True
    assert c.accepts_writes("http://10.0.0.3:8008") is False
    assert c.accepts_writes("http://10.0.0.4:8008") is False
    assert c.reinitialize("http://10.0.0.3:8008") == "reinitialize started"
    assert c._session.calls[-1][2]["json"] == {"force": False, "from_leader": True}


def test_client_parameters():
    with pytest.raises(PatroniParameterError, match="api_timeout"):
        PatroniClient("http://h:8008", timeout=0, session=object())
    c = PatroniClient.from_params(
        {"api_url": "https://h:8008", "api_ca_cert": "/ca.pem", "api_client_cert": "/c", "api_client_key": "/k"}
    )
    assert (c.verify, c.cert, c.auth) == ("/ca.pem", ("/c", "/k"), None)
