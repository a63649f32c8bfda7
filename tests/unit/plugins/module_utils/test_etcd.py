"""Pure planning logic and the HTTP client of module_utils/etcd.py, without an etcd server."""

import pytest
import requests

from ansible_collections.apiplatform.ha.plugins.module_utils import etcd
from ansible_collections.apiplatform.ha.plugins.module_utils.etcd import (
    EtcdAuthError,
    EtcdClient,
    EtcdConflictError,
    EtcdConnectionError,
    EtcdParameterError,
    EtcdQuorumError,
    EtcdRequestError,
    EtcdUnsettledError,
    check_add_safe,
    check_remove_safe,
    cluster_summary,
    initial_cluster,
    member_id_dec,
    member_id_hex,
    normalize_member,
    normalize_peer_urls,
    pick_transfer_target,
    plan_member,
    quorum_size,
    validate_url,
)


def member(name, mid, peer, client=None, learner=False, **health):
    m = {
        "id": mid,
        "name": name,
        "peer_urls": [peer] if isinstance(peer, str) else peer,
        "client_urls": [client] if client else [],
        "is_learner": learner,
        "started": bool(name),
    }
    m.update(health)
    return m


def three(healthy=(True, True, True)):
    members = [
        member("e1", "a1", "http://10.0.0.1:2380", "http://10.0.0.1:2379"),
        member("e2", "a2", "http://10.0.0.2:2380", "http://10.0.0.2:2379"),
        member("e3", "a3", "http://10.0.0.3:2380", "http://10.0.0.3:2379"),
    ]
    return members, {m["id"]: h for m, h in zip(members, healthy, strict=True)}


# -- small helpers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "q"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
def test_quorum_size(n, q):
    assert quorum_size(n) == q


def test_member_ids_render_like_etcdctl():
    assert member_id_hex("13049071153751544597") == "b5179d13d0285315"
    assert member_id_hex(None) is None
    assert member_id_hex("0") is None
    assert member_id_dec("b5179d13d0285315") == "13049071153751544597"


def test_validate_url_accepts_scheme_host_port_and_strips_slash():
    assert validate_url("https://10.0.0.1:2380/", "peer_urls", "x") == "https://10.0.0.1:2380"
    assert validate_url("http://[::1]:2380", "peer_urls", "x") == "http://[::1]:2380"


@pytest.mark.parametrize(
    "bad", ["10.0.0.1:2380", "http://10.0.0.1", "ftp://10.0.0.1:2380", "http://10.0.0.1:99999", "", "http://h:1/x"]
)
def test_validate_url_names_the_option_and_the_fix(bad):
    with pytest.raises(EtcdParameterError) as exc:
        validate_url(bad, "peer_urls", "https://10.0.0.4:2380")
    assert str(exc.value).startswith("peer_urls: ")
    assert "https://10.0.0.4:2380" in str(exc.value)


def test_normalize_peer_urls_sorts_dedupes_and_requires_one():
    assert normalize_peer_urls(["http://b:2380", "http://a:2380/", "http://b:2380"]) == [
        "http://a:2380",
        "http://b:2380",
    ]
    with pytest.raises(EtcdParameterError, match="peer_urls"):
        normalize_peer_urls([])


def test_normalize_member_fills_gateway_omitted_defaults():
    m = normalize_member({"ID": "2468437241887506916", "peerURLs": ["http://127.0.0.1:24381"]})
    assert m == {
        "id": "2241a697d90cc1e4",
        "name": "",
        "peer_urls": ["http://127.0.0.1:24381"],
        "client_urls": [],
        "is_learner": False,
        "started": False,
    }


# -- cluster summary ---------------------------------------------------------------------------------------------------


def _status(leader, term=2, index=10):
    return {"leader": str(int(leader, 16)), "raftTerm": str(term), "raftIndex": str(index), "dbSize": "20480"}


def test_cluster_summary_healthy_cluster():
    members, _health = three()
    statuses = {m["id"]: {"status": dict(_status("a2"), version="3.4.23"), "error": None} for m in members}
    c = cluster_summary("534a3dc0d9e9b274", members, statuses)
    assert c["cluster_id"] == "534a3dc0d9e9b274"
    assert c["leader"] == "e2"
    assert (c["member_count"], c["healthy_count"], c["quorum"], c["has_quorum"]) == (3, 3, 2, True)
    assert [m["is_leader"] for m in c["members"]] == [False, True, False]
    assert c["members"][0]["db_size"] == 20480
    assert c["members"][0]["version"] == "3.4.23"
    assert c["members"][0]["error"] is None


def test_cluster_summary_down_members_and_unstarted():
    members, _health = three()
    members.append(member("", "a4", "http://10.0.0.4:2380"))
    statuses = {
        "a1": {"status": _status("a1", term=3), "error": None},
        "a2": {"status": None, "error": "could not reach etcd"},
        "a3": {"status": {"leader": "0", "raftTerm": "4"}, "error": None},
        "a4": {"status": None, "error": "member has not started yet (no client URLs)"},
    }
    c = cluster_summary("1", members, statuses)
    assert c["leader"] == "e1"
    assert (c["member_count"], c["healthy_count"], c["quorum"], c["has_quorum"]) == (4, 1, 3, False)
    down = {m["id"]: m for m in c["members"]}
    assert down["a2"]["healthy"] is False and "could not reach" in down["a2"]["error"]
    assert "no leader" in down["a3"]["error"]
    assert down["a4"]["started"] is False


def test_cluster_summary_alarm_makes_member_unhealthy_and_learners_do_not_vote():
    members, _health = three()
    members[2]["is_learner"] = True
    statuses = {m["id"]: {"status": _status("a1"), "error": None} for m in members}
    statuses["a1"]["status"]["errors"] = ["NOSPACE"]
    c = cluster_summary("1", members, statuses)
    assert c["quorum"] == 2
    assert c["has_quorum"] is False  # a1 alarmed, a3 a learner: only a2 votes healthy
    assert c["members"][0]["error"] == "NOSPACE"


# -- plan_member -------------------------------------------------------------------------------------------------------


def test_plan_present_unchanged_update_add():
    members, _health = three()
    assert plan_member(members, "e1", ["http://10.0.0.1:2380"], "present")["action"] == "none"
    plan = plan_member(members, "e1", ["http://10.0.0.9:2380"], "present")
    assert plan["action"] == "update" and plan["member"]["id"] == "a1"
    assert "10.0.0.9" in plan["reasons"][0]
    plan = plan_member(members, "e4", ["http://10.0.0.4:2380"], "present")
    assert plan == {"action": "add", "member": None, "reasons": ["no member named 'e4'"]}


def test_plan_present_unstarted_member_with_same_urls_counts_as_present():
    members, _health = three()
    members.append(member("", "a4", "http://10.0.0.4:2380"))
    plan = plan_member(members, "e4", ["http://10.0.0.4:2380"], "present")
    assert plan["action"] == "none" and plan["member"]["id"] == "a4"
    # different URLs: a new member, the unstarted one is someone else's
    assert plan_member(members, "e5", ["http://10.0.0.5:2380"], "present")["action"] == "add"


def test_plan_present_refuses_peer_url_of_another_member():
    members, _health = three()
    with pytest.raises(EtcdConflictError, match=r"http://10.0.0.2:2380 already belongs to member e2 \(a2\)"):
        plan_member(members, "e4", ["http://10.0.0.2:2380"], "present")
    with pytest.raises(EtcdConflictError):
        plan_member(members, "e1", ["http://10.0.0.2:2380"], "present")


def test_plan_absent():
    members, _health = three()
    plan = plan_member(members, "e2", None, "absent")
    assert plan["action"] == "remove" and plan["member"]["id"] == "a2"
    assert plan_member(members, "e9", None, "absent")["action"] == "none"
    members.append(member("", "a4", "http://10.0.0.4:2380"))
    plan = plan_member(members, "e4", ["http://10.0.0.4:2380"], "absent")
    assert plan["action"] == "remove" and plan["member"]["id"] == "a4"


# -- quorum safety -----------------------------------------------------------------------------------------------------


def test_check_add_safe():
    members, health = three()
    check_add_safe(members, health)  # 3 healthy, 4 members need 3
    members, health = three((True, True, False))
    with pytest.raises(EtcdQuorumError, match="2 of 3 voting members healthy, member number 4"):
        check_add_safe(members, health)
    members, health = three((True, False, False))
    with pytest.raises(EtcdQuorumError, match="no quorum"):
        check_add_safe(members, health)
    single = [member("e1", "a1", "http://10.0.0.1:2380")]
    check_add_safe(single, {"a1": True})  # growing a single-member cluster is allowed, as etcd allows it


def test_check_remove_safe_last_member():
    single = [member("e1", "a1", "http://10.0.0.1:2380")]
    with pytest.raises(EtcdQuorumError, match="last member"):
        check_remove_safe(single, {"a1": True}, "e1")


def test_check_remove_safe_healthy_member_when_another_is_down():
    members, health = three((True, True, False))
    with pytest.raises(EtcdQuorumError) as exc:
        check_remove_safe(members, health, "e1")
    msg = str(exc.value)
    assert "'e1' (a1)" in msg
    assert "2 voting members would remain of which only 1 healthy, below their quorum of 2" in msg
    assert "Repair/start the unhealthy members first" in msg
    check_remove_safe(members, health, "e3")  # removing the dead one is the fix
    check_remove_safe(members, health, "a3")  # by hex id too


def test_check_remove_safe_without_quorum_and_for_learners():
    members, health = three((True, False, False))
    with pytest.raises(EtcdQuorumError, match="has no quorum"):
        check_remove_safe(members, health, "e3")
    members, health = three()
    members.append(member("e4", "a4", "http://10.0.0.4:2380", learner=True))
    check_remove_safe(members, dict(health, a4=False), "e4")
    check_remove_safe(members, health, "nobody")


def test_four_members_two_down_refuses_any_removal():
    members, health = three()
    members.append(member("e4", "a4", "http://10.0.0.4:2380"))
    health.update(a3=False, a4=False)
    for name in ("e1", "e3"):
        with pytest.raises(EtcdQuorumError, match="no quorum"):
            check_remove_safe(members, health, name)


def test_pick_transfer_target_prefers_highest_raft_index():
    members, _health = three()
    members[0].update(healthy=True, raft_index=5)
    members[1].update(healthy=True, raft_index=9)
    members[2].update(healthy=False, raft_index=99)
    assert pick_transfer_target(members, "a1")["name"] == "e2"
    assert pick_transfer_target(members, "a2")["name"] == "e1"
    members[0]["healthy"] = False
    assert pick_transfer_target(members, "a2") is None


def test_initial_cluster_names_the_new_member():
    members, _health = three()
    members.append(member("", "a4", ["http://10.0.0.4:2380", "http://10.1.0.4:2380"]))
    assert initial_cluster(members, "e4", "a4") == (
        "e1=http://10.0.0.1:2380,e2=http://10.0.0.2:2380,e3=http://10.0.0.3:2380,"
        "e4=http://10.0.0.4:2380,e4=http://10.1.0.4:2380"
    )


# -- client over a fake requests session -------------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status, data=None, text=""):
        self.status_code = status
        self._data = data
        self.text = text
        self.reason = "reason"

    def json(self):
        if self._data is None:
            raise ValueError("no json")
        return self._data


class FakeSession:
    """Routes by URL: a value is a FakeResponse, an exception to raise, or a callable(json, headers)."""

    def __init__(self, routes):
        self.routes = routes
        self.calls = []

    def _answer(self, url, body, kwargs):
        self.calls.append((url, body, kwargs.get("headers")))
        route = self.routes.get(url)
        if route is None:
            raise requests.exceptions.ConnectionError(
                "Failed to establish a new connection: [Errno 111] Connection refused"
            )
        if isinstance(route, Exception):
            raise route
        if callable(route):
            return route(body, kwargs.get("headers") or {})
        return route

    def post(self, url, json=None, **kwargs):
        return self._answer(url, json, kwargs)

    def get(self, url, **kwargs):
        return self._answer(url, None, kwargs)


LIST = {
    "header": {"cluster_id": "6001611773266757492"},
    "members": [
        {"ID": "13049071153751544597", "name": "p1", "peerURLs": ["http://h1:2380"], "clientURLs": ["http://h1:2379"]}
    ],
}


def client(routes, endpoints=("http://h0:2379", "http://h1:2379"), **kw):
    return EtcdClient(list(endpoints), session=FakeSession(routes), **kw)


def test_client_fails_over_and_remembers_the_endpoint_that_answered():
    c = client({"http://h1:2379/v3/cluster/member/list": FakeResponse(200, LIST)})
    cluster_id, members = c.member_list()
    assert cluster_id == "534a021c215e0774"
    assert members[0]["id"] == "b5179d13d0285315" and members[0]["name"] == "p1"
    assert c.endpoints[0] == "http://h1:2379"


def test_client_connection_error_names_every_url_and_the_fix():
    c = client({})
    with pytest.raises(EtcdConnectionError) as exc:
        c.member_list()
    msg = str(exc.value)
    assert "http://h0:2379/v3/cluster/member/list: Connection refused" in msg
    assert "http://h1:2379/v3/cluster/member/list: Connection refused" in msg
    assert "Check the endpoints option" in msg


def test_client_http_error_names_url_and_status():
    err = FakeResponse(404, {"error": "etcdserver: member not found", "message": "etcdserver: member not found"})
    c = client({"http://h0:2379/v3/cluster/member/remove": err})
    with pytest.raises(EtcdRequestError) as exc:
        c.member_remove("a1")
    assert exc.value.status == 404
    assert "http://h0:2379/v3/cluster/member/remove failed with HTTP 404: etcdserver: member not found" in str(
        exc.value
    )
    assert c._session.calls[0][1] == {"ID": str(0xA1)}


def test_client_quorum_loss_is_reported_as_such():
    err = FakeResponse(503, {"message": "etcdserver: request timed out", "code": 14})
    c = client({"http://h0:2379/v3/cluster/member/add": err})
    with pytest.raises(EtcdQuorumError, match="lost quorum"):
        c.member_add(["http://h4:2380"])


UNSETTLED = FakeResponse(503, {"message": "etcdserver: unhealthy cluster", "code": 14})


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def settling_client(routes):
    c = client(routes)
    clock = FakeClock()
    c._clock, c._sleep = clock, clock.sleep
    return c, clock


def test_client_retries_a_membership_change_while_etcd_says_unhealthy_cluster():
    answers = [UNSETTLED, UNSETTLED, FakeResponse(200, {"member": {"ID": "161", "peerURLs": ["http://h4:2380"]}})]
    c, clock = settling_client({"http://h0:2379/v3/cluster/member/add": lambda body, headers: answers.pop(0)})
    added, _members = c.member_add(["http://h4:2380"])
    assert added["id"] == "a1" and added["peer_urls"] == ["http://h4:2380"]
    assert [call[0] for call in c._session.calls] == ["http://h0:2379/v3/cluster/member/add"] * 3
    assert clock.now == 2.0


def test_client_gives_up_on_unhealthy_cluster_after_the_settle_time_and_says_why():
    c, clock = settling_client({"http://h0:2379/v3/cluster/member/remove": UNSETTLED})
    with pytest.raises(EtcdUnsettledError) as exc:
        c.member_remove("a1")
    msg = str(exc.value)
    assert "refused /v3/cluster/member/remove: etcdserver: unhealthy cluster (HTTP 503)" in msg
    assert "connected to its peers for 5 s" in msg and "Still refused after 15 s of retries." in msg
    assert clock.now == 15.0 and len(c._session.calls) == 16


def test_client_authenticates_and_sends_the_token():
    def authenticate(body, headers):
        assert body == {"name": "root", "password": "pw"}
        return FakeResponse(200, {"token": "tok.1"})

    def member_list(body, headers):
        assert headers == {"Authorization": "tok.1"}
        return FakeResponse(200, LIST)

    c = client(
        {"http://h0:2379/v3/auth/authenticate": authenticate, "http://h0:2379/v3/cluster/member/list": member_list},
        user="root",
        password="pw",
    )
    c.member_list()
    c.member_list()
    assert [u for u, _b, _h in c._session.calls].count("http://h0:2379/v3/auth/authenticate") == 1


def test_client_wrong_password_names_the_user():
    bad = FakeResponse(400, {"message": "etcdserver: authentication failed, invalid user ID or password"})
    c = client({"http://h0:2379/v3/auth/authenticate": bad}, user="root", password="nope")
    with pytest.raises(EtcdAuthError) as exc:
        c.member_list()
    assert "rejected user 'root'" in str(exc.value) and "Check the password" in str(exc.value)


def test_client_auth_required_but_no_user():
    bad = FakeResponse(400, {"message": "etcdserver: user name is empty"})
    c = client({"http://h0:2379/v3/cluster/member/list": bad})
    with pytest.raises(EtcdAuthError, match="set the user and password options"):
        c.member_list()


def test_client_status_of_members_and_read_cluster():
    status = {"leader": "13049071153751544597", "raftTerm": "2", "raftIndex": "7", "version": "3.4.23"}
    two = dict(LIST, members=[*LIST["members"], {"ID": "5", "peerURLs": ["http://h5:2380"]}])
    c = client(
        {
            "http://h0:2379/v3/cluster/member/list": FakeResponse(200, two),
            "http://h1:2379/v3/maintenance/status": FakeResponse(200, status),
        }
    )
    cluster = c.read_cluster()
    assert cluster["leader"] == "p1"
    assert [m["healthy"] for m in cluster["members"]] == [True, False]
    assert cluster["has_quorum"] is False  # 1 of 2 voting members healthy
    assert "not started" in cluster["members"][1]["error"]
    # the status request went to the member's own URL with the short timeout
    url, _b, _h = c._session.calls[1]
    assert url == "http://h1:2379/v3/maintenance/status"


def test_client_kv_is_base64():
    def put(body, headers):
        assert body == {"key": "Zm9v", "value": "YmFy"}
        return FakeResponse(200, {"header": {}})

    c = client(
        {
            "http://h0:2379/v3/kv/put": put,
            "http://h0:2379/v3/kv/range": FakeResponse(200, {"kvs": [{"key": "Zm9v", "value": "YmFy"}]}),
        }
    )
    c.put("foo", "bar")
    assert c.get("foo") == "bar"


def test_client_prefers_other_members_before_a_removal():
    c = client({}, endpoints=("http://h1:2379", "http://h2:2379"))
    members = [
        member("e1", "a1", "http://h1:2380", "http://h1:2379"),
        member("e2", "a2", "http://h2:2380", "http://h2:2379"),
        member("e3", "a3", "http://h3:2380", "http://h3:2379"),
    ]
    c.prefer_other_members(members, "a1")
    assert c.endpoints == ["http://h2:2379", "http://h3:2379", "http://h1:2379"]


def test_client_rejects_bad_endpoints_and_timeout():
    with pytest.raises(EtcdParameterError, match=r"^endpoints: '127\.0\.0\.1:2379'"):
        EtcdClient(["127.0.0.1:2379"], session=FakeSession({}))
    with pytest.raises(EtcdParameterError, match=r"^timeout"):
        EtcdClient(["http://h:2379"], timeout=0, session=FakeSession({}))


def test_client_tls_settings():
    c = EtcdClient(["https://h:2379"], ca_cert="/ca", client_cert="/c", client_key="/k", session=FakeSession({}))
    assert c.verify == "/ca" and c.cert == ("/c", "/k")
    c = EtcdClient(["https://h:2379"], validate_certs=False, session=FakeSession({}))
    assert c.verify is False and c.cert is None


# -- etcd_key ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["/apiplatform-ha/placement/mailer", "/a"])
def test_validate_key_accepts_absolute_keys(key):
    assert etcd.validate_key(key) == key


@pytest.mark.parametrize(
    "key", ["placement/mailer", "", "/", " /a", "/a ", "/a\nb", "/a b", "//x", "/a//b", "/a/", None]
)
def test_validate_key_refuses_with_the_option_and_an_example(key):
    with pytest.raises(etcd.EtcdParameterError, match=r"^key: .*/apiplatform-ha/placement/mailer"):
        etcd.validate_key(key)


@pytest.mark.parametrize(
    ("previous", "desired", "state", "expected"),
    [
        (None, "app1", "present", (True, "app1")),
        ("app1", "app1", "present", (False, "app1")),
        ("app1", "app2", "present", (True, "app2")),
        ("app1", None, "absent", (True, None)),
        (None, None, "absent", (False, None)),
    ],
)
def test_plan_key(previous, desired, state, expected):
    assert etcd.plan_key(previous, desired, state) == expected
