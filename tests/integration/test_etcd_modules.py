"""etcd_cluster_info and etcd_member against a real 3-member etcd cluster on 127.0.0.1, through ansible-playbook.

Order as in community.postgresql: check mode (changed, and etcdctl shows nothing changed) -> apply (etcdctl shows the
change) -> apply again (not changed) -> diff. The tests share one cluster and run in file order; each leaves the
cluster healthy for the next, except the last, which stops a member on purpose.
"""

import pytest
from etcd_cluster import EtcdCluster, free_port_pairs, require_etcd, run_module

INFO = "apiplatform.ha.etcd_cluster_info"
MEMBER = "apiplatform.ha.etcd_member"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    require_etcd()
    c = EtcdCluster(tmp_path_factory.mktemp("etcd"))
    try:
        c.bootstrap(["e1", "e2", "e3"])
        yield c
    finally:
        c.stop_all()


@pytest.fixture
def play(tmp_path):
    def run(module, args, **kwargs):
        return run_module(tmp_path, module, args, **kwargs)

    return run


def names(members):
    return sorted(m["name"] for m in members)


def test_info_on_a_healthy_cluster(cluster, play):
    result = play(INFO, {"endpoints": cluster.endpoints()}, check=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    info = result["cluster"]
    assert (info["member_count"], info["healthy_count"], info["quorum"], info["has_quorum"]) == (3, 3, 2, True)
    assert info["leader"] == cluster.leader()
    assert [m["name"] for m in info["members"] if m["is_leader"]] == [info["leader"]]
    outside = {m["id"]: m for m in cluster.member_list()}
    assert {m["id"]: m["name"] for m in info["members"]} == {i: m["name"] for i, m in outside.items()}
    for m in info["members"]:
        assert m["healthy"] and m["started"] and m["error"] is None
        assert m["version"] == "3.4.23" and m["raft_index"] > 0 and m["raft_term"] > 0 and m["db_size"] > 0
        assert m["peer_urls"] == [cluster.members[m["name"]].peer_url]
        assert m["client_urls"] == [cluster.members[m["name"]].client_url]
    assert len(info["cluster_id"]) > 8 and int(info["cluster_id"], 16) > 0


def test_add_a_fourth_member_then_remove_it(cluster, play):
    e4 = cluster.new_member("e4")
    endpoints = cluster.endpoints()
    present = {"name": "e4", "peer_urls": [e4.peer_url], "endpoints": endpoints}

    # check mode: changed, nothing added
    result = play(MEMBER, present, check=True)
    assert result["changed"] is True and result["action"] == "add", result
    assert result["member"]["id"] is None and result["executed"] == []
    assert names(cluster.member_list()) == ["e1", "e2", "e3"]

    # apply (with diff): the member is added, unstarted
    result = play(MEMBER, present, diff=True)
    assert result["changed"] is True and result["action"] == "add", result
    listed = cluster.member_list()
    assert len(listed) == 4
    new = [m for m in listed if m["peer_urls"] == [e4.peer_url]]
    assert len(new) == 1 and new[0]["name"] == "" and new[0]["id"] == result["member"]["id"]
    assert len(result["diff"]["before"]["members"]) == 3
    assert {"name": "e4", "peer_urls": [e4.peer_url]} in result["diff"]["after"]["members"]
    expected = ",".join(f"{n}={cluster.members[n].peer_url}" for n in ("e1", "e2", "e3", "e4"))
    assert result["initial_cluster"] == expected
    assert result["initial_cluster_state"] == "existing"

    # start etcd with what the module returned; apply again with wait: not changed, gated until healthy
    e4.start(result["initial_cluster"], result["initial_cluster_state"])
    result = play(MEMBER, dict(present, wait=True, wait_timeout=30), diff=True)
    assert result["changed"] is False and result["action"] == "none", result
    assert result["member"]["started"] is True and result["member"]["healthy"] is True
    assert result["diff"]["before"] == result["diff"]["after"]
    assert names(cluster.member_list()) == ["e1", "e2", "e3", "e4"]
    cluster.wait_healthy(["e1", "e2", "e3", "e4"])

    absent = {"name": "e4", "state": "absent", "endpoints": endpoints}
    result = play(MEMBER, absent, check=True)
    assert result["changed"] is True and result["action"] == "remove" and result["executed"] == [], result
    assert names(cluster.member_list()) == ["e1", "e2", "e3", "e4"]

    result = play(MEMBER, dict(absent, wait=True), diff=True)
    assert result["changed"] is True and result["action"] == "remove", result
    assert names(cluster.member_list()) == ["e1", "e2", "e3"]
    assert names(result["diff"]["after"]["members"]) == ["e1", "e2", "e3"]
    cluster.wait_exit("e4")  # a removed member stops by itself

    result = play(MEMBER, absent)
    assert result["changed"] is False and result["action"] == "none", result
    cluster.wait_healthy(["e1", "e2", "e3"])


def test_remove_the_leader_of_a_four_member_cluster(cluster, play):
    e5 = cluster.new_member("e5")
    result = play(MEMBER, {"name": "e5", "peer_urls": [e5.peer_url], "endpoints": cluster.endpoints()})
    assert result["changed"] is True, result
    e5.start(result["initial_cluster"], "existing")
    cluster.wait_healthy(["e1", "e2", "e3", "e5"])

    leader = cluster.leader()
    assert leader in ("e1", "e2", "e3", "e5")
    absent = {"name": leader, "state": "absent", "endpoints": cluster.endpoints(), "wait": True}

    result = play(MEMBER, absent, check=True)
    assert result["changed"] is True and result["member"]["is_leader"] is True, result
    assert cluster.leader() == leader and len(cluster.member_list()) == 4

    result = play(MEMBER, absent)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["leader_transferred_to"] not in (None, leader), result
    assert result["executed"][0].startswith("POST /v3/maintenance/transfer-leadership")
    cluster.wait_exit(leader)
    remaining = sorted({"e1", "e2", "e3", "e5"} - {leader})
    assert names(cluster.member_list()) == remaining
    cluster.wait_healthy(remaining)
    assert cluster.leader() in remaining

    result = play(MEMBER, dict(absent, endpoints=cluster.endpoints()))
    assert result["changed"] is False, result


def test_refusals(cluster, play):
    endpoints = cluster.endpoints()
    before = cluster.member_list()

    # malformed peer URL: the message names the option and shows the form to use
    result = play(MEMBER, {"name": "e6", "peer_urls": ["127.0.0.1:2380"], "endpoints": endpoints})
    assert result["failed"] is True
    assert "peer_urls: '127.0.0.1:2380' is not a URL with scheme" in result["msg"]
    assert "scheme://host:port" in result["msg"]

    # nothing listens at the endpoints: the message names every URL tried and the fix
    dead = [
        f"http://127.0.0.1:{c}" for c, _p in free_port_pairs(2, taken={int(e.rsplit(":", 1)[1]) for e in endpoints})
    ]
    result = play(INFO, {"endpoints": dead, "timeout": 2})
    assert result["failed"] is True
    for url in dead:
        assert url + "/v3/cluster/member/list" in result["msg"]
    assert "Connection refused" in result["msg"] and "Check the endpoints option" in result["msg"]

    # one member of three down: removing a healthy member would leave 1 healthy of 2 -> refused
    running = sorted(m["name"] for m in before)
    leader = cluster.leader()
    victim = next(n for n in running if n != leader)
    cluster.members[victim].stop()
    healthy = [n for n in running if n != victim]
    target = next(n for n in healthy if n != leader)
    absent = {"name": target, "state": "absent", "endpoints": cluster.endpoints()}
    for check in (True, False):
        result = play(MEMBER, absent, check=check)
        assert result["failed"] is True, result
        assert f"refusing to remove etcd member '{target}'" in result["msg"]
        assert "2 voting members would remain of which only 1 healthy" in result["msg"]
        assert "Repair/start the unhealthy members first" in result["msg"]
    assert cluster.member_list() == before

    # ... and adding a member now would lose quorum until it starts -> refused
    e6 = cluster.new_member("e6")
    result = play(MEMBER, {"name": "e6", "peer_urls": [e6.peer_url], "endpoints": cluster.endpoints()})
    assert result["failed"] is True and "refusing to add a member" in result["msg"], result
    assert cluster.member_list() == before

    # the info module still reports, naming the dead member
    info = play(INFO, {"endpoints": cluster.endpoints()})["cluster"]
    assert (info["member_count"], info["healthy_count"], info["has_quorum"]) == (3, 2, True)
    dead_member = next(m for m in info["members"] if m["name"] == victim)
    assert dead_member["healthy"] is False and cluster.members[victim].client_url in dead_member["error"]
