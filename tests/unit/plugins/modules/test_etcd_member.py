"""etcd_member: argument validation, planning and main() with a fake client (no etcd server)."""

import pytest
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits

from ansible_collections.apiplatform.ha.plugins.module_utils.etcd import (
    EtcdParameterError,
    cluster_summary,
)
from ansible_collections.apiplatform.ha.plugins.modules import etcd_member


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


def _member(name, mid, n, started=True):
    return {
        "id": mid,
        "name": name if started else "",
        "peer_urls": [f"http://10.0.0.{n}:2380"],
        "client_urls": [f"http://10.0.0.{n}:2379"] if started else [],
        "is_learner": False,
        "started": started,
    }


class FakeClient:
    """Stands in for EtcdClient: a member list, per-member health, and a log of the writes."""

    def __init__(self, members, healthy, leader="a1"):
        self.members = members
        self.healthy = healthy
        self.leader = leader
        self.writes = []
        self.endpoints = ["http://10.0.0.1:2379"]

    def read_cluster(self):
        statuses = {}
        for m in self.members:
            if self.healthy.get(m["id"], False):
                status = {"leader": str(int(self.leader, 16)), "raftTerm": "2", "raftIndex": str(int(m["id"], 16))}
                statuses[m["id"]] = {"status": status, "error": None}
            else:
                statuses[m["id"]] = {"status": None, "error": "connection refused"}
        return cluster_summary("c1", self.members, statuses)

    def member_list(self):
        return "c1", self.members

    def member_add(self, peer_urls):
        self.writes.append(("add", peer_urls))
        new = {"id": "a9", "name": "", "peer_urls": peer_urls, "client_urls": []}
        new.update(is_learner=False, started=False)
        self.members = [*self.members, new]
        return new, self.members

    def member_update(self, member_id, peer_urls):
        self.writes.append(("update", member_id, peer_urls))

    def member_remove(self, member_id):
        self.writes.append(("remove", member_id))
        self.members = [m for m in self.members if m["id"] != member_id]

    def transfer_leadership(self, leader, target_id):
        self.writes.append(("transfer", leader["id"], target_id))
        self.leader = target_id

    def prefer_other_members(self, members, exclude_id):
        self.writes.append(("prefer", exclude_id))


def install(monkeypatch, members, healthy, leader="a1"):
    fake = FakeClient(members, healthy, leader)
    monkeypatch.setattr(etcd_member.EtcdClient, "from_params", classmethod(lambda cls, params: fake))
    return fake


def three():
    return [_member("e1", "a1", 1), _member("e2", "a2", 2), _member("e3", "a3", 3)]


def run_main(args, check_mode=False, diff=False):
    args = dict(args, endpoints=["http://10.0.0.1:2379"], _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        etcd_member.main()


# -- argument validation -----------------------------------------------------------------------------------------------


def test_present_requires_peer_urls(monkeypatch):
    install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True})
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e4"})
    assert "peer_urls" in exc.value.args[0]["msg"]


def test_malformed_peer_url_names_the_option_and_the_fix(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True})
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e4", "peer_urls": ["10.0.0.4:2380"]})
    msg = exc.value.args[0]["msg"]
    assert msg.startswith("peer_urls: '10.0.0.4:2380' is not a URL with scheme")
    assert "scheme://host:port" in msg
    assert fake.writes == []


def test_user_without_password_is_refused_by_the_argument_spec(monkeypatch):
    install(monkeypatch, three(), {})
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e1", "state": "absent", "user": "root"})
    assert "password" in exc.value.args[0]["msg"]


def test_missing_requests_library(monkeypatch):
    monkeypatch.setattr(etcd_member, "HAS_REQUESTS", False)
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e1", "state": "absent"})
    assert "requests" in exc.value.args[0]["msg"]


def test_normalize_and_negative_wait_timeout():
    params = {"name": "e4", "peer_urls": ["http://b:2380/", "http://a:2380"], "state": "present", "wait_timeout": 5}
    assert etcd_member.normalize(params)["peer_urls"] == ["http://a:2380", "http://b:2380"]
    with pytest.raises(EtcdParameterError, match="wait_timeout"):
        etcd_member.normalize(dict(params, wait_timeout=-1))
    assert etcd_member.normalize({"name": "e4", "peer_urls": None, "state": "absent"})["peer_urls"] is None


# -- present -----------------------------------------------------------------------------------------------------------


def test_add_in_check_mode_plans_without_writing(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True})
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e4", "peer_urls": ["http://10.0.0.4:2380"]}, check_mode=True, diff=True)
    result = exc.value.args[0]
    assert result["changed"] is True and result["action"] == "add"
    assert fake.writes == [] and result["executed"] == []
    assert result["member"]["id"] is None and result["member"]["name"] == "e4"
    assert result["initial_cluster"] == (
        "e1=http://10.0.0.1:2380,e2=http://10.0.0.2:2380,e3=http://10.0.0.3:2380,e4=http://10.0.0.4:2380"
    )
    assert result["initial_cluster_state"] == "existing"
    assert len(result["diff"]["before"]["members"]) == 3
    assert {"name": "e4", "peer_urls": ["http://10.0.0.4:2380"]} in result["diff"]["after"]["members"]


def test_add_applies(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True})
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e4", "peer_urls": ["http://10.0.0.4:2380"]})
    result = exc.value.args[0]
    assert fake.writes == [("add", ["http://10.0.0.4:2380"])]
    assert result["member"]["id"] == "a9" and result["member"]["started"] is False
    assert result["executed"] == ["POST /v3/cluster/member/add peerURLs=http://10.0.0.4:2380"]
    assert "diff" not in result


def test_unstarted_member_with_the_same_urls_is_not_added_twice(monkeypatch):
    members = [*three(), _member("", "a9", 4, started=False)]
    fake = install(monkeypatch, members, {"a1": True, "a2": True, "a3": True})
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e4", "peer_urls": ["http://10.0.0.4:2380"]}, diff=True)
    result = exc.value.args[0]
    assert result["changed"] is False and result["action"] == "none"
    assert fake.writes == []
    assert result["member"]["name"] == "e4" and result["member"]["id"] == "a9"
    assert "e4=http://10.0.0.4:2380" in result["initial_cluster"]
    assert result["diff"]["before"] == result["diff"]["after"]


def test_present_unchanged(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True})
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e2", "peer_urls": ["http://10.0.0.2:2380"]}, diff=True)
    result = exc.value.args[0]
    assert result["changed"] is False and fake.writes == []
    assert result["diff"]["before"] == result["diff"]["after"]


def test_update_peer_urls(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True})
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e2", "peer_urls": ["http://10.0.1.2:2380"]})
    result = exc.value.args[0]
    assert result["action"] == "update" and fake.writes == [("update", "a2", ["http://10.0.1.2:2380"])]
    assert result["member"]["peer_urls"] == ["http://10.0.1.2:2380"]


def test_add_refused_when_it_would_lose_quorum(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": False})
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e4", "peer_urls": ["http://10.0.0.4:2380"]}, check_mode=True)
    assert "refusing to add a member" in exc.value.args[0]["msg"]
    assert fake.writes == []


def test_wait_for_a_started_member(monkeypatch):
    members = [*three(), _member("e4", "a9", 4)]
    install(monkeypatch, members, {"a1": True, "a2": True, "a3": True, "a9": True})
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e4", "peer_urls": ["http://10.0.0.4:2380"], "wait": True, "wait_timeout": 1})
    result = exc.value.args[0]
    assert result["changed"] is False
    assert result["member"]["healthy"] is True and result["member"]["started"] is True


def test_wait_times_out_with_the_fix(monkeypatch):
    members = [*three(), _member("", "a9", 4, started=False)]
    install(monkeypatch, members, {"a1": True, "a2": True, "a3": True})
    monkeypatch.setattr(etcd_member, "wait_until", lambda predicate, timeout: predicate())
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e4", "peer_urls": ["http://10.0.0.4:2380"], "wait": True, "wait_timeout": 0})
    msg = exc.value.args[0]["msg"]
    assert "did not start and become healthy" in msg
    assert "ETCD_INITIAL_CLUSTER=e1=http://10.0.0.1:2380" in msg and "e4=http://10.0.0.4:2380" in msg


# -- absent ------------------------------------------------------------------------------------------------------------


def test_remove_the_leader_transfers_leadership_first(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True}, leader="a1")
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e1", "state": "absent"}, diff=True)
    result = exc.value.args[0]
    # the successor is the healthy member with the highest raft index (the fake uses the id)
    assert fake.writes == [("transfer", "a1", "a3"), ("prefer", "a1"), ("remove", "a1")]
    assert result["leader_transferred_to"] == "e3"
    assert result["action"] == "remove" and result["changed"] is True
    assert result["initial_cluster"] == "e2=http://10.0.0.2:2380,e3=http://10.0.0.3:2380"
    assert [m["name"] for m in result["diff"]["after"]["members"]] == ["e2", "e3"]


def test_remove_in_check_mode_does_not_write(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True}, leader="a1")
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e1", "state": "absent"}, check_mode=True)
    assert exc.value.args[0]["changed"] is True and fake.writes == []
    assert exc.value.args[0]["leader_transferred_to"] is None


def test_remove_absent_member_is_unchanged(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": True})
    with pytest.raises(ExitJson) as exc:
        run_main({"name": "e9", "state": "absent", "wait": True})
    assert exc.value.args[0]["changed"] is False and exc.value.args[0]["member"] is None
    assert fake.writes == []


def test_remove_refused_when_it_would_break_quorum(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": False}, leader="a1")
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e2", "state": "absent"})
    msg = exc.value.args[0]["msg"]
    assert "refusing to remove etcd member 'e2' (a2)" in msg
    assert "Repair/start the unhealthy members first" in msg
    assert fake.writes == []


def test_remove_the_dead_member_is_allowed(monkeypatch):
    fake = install(monkeypatch, three(), {"a1": True, "a2": True, "a3": False}, leader="a1")
    with pytest.raises(ExitJson):
        run_main({"name": "e3", "state": "absent", "wait": True, "wait_timeout": 1})
    assert fake.writes == [("prefer", "a3"), ("remove", "a3")]


def test_remove_the_last_member_is_refused(monkeypatch):
    install(monkeypatch, [_member("e1", "a1", 1)], {"a1": True})
    with pytest.raises(FailJson) as exc:
        run_main({"name": "e1", "state": "absent"})
    assert "last member" in exc.value.args[0]["msg"]
