"""etcd_cluster_info and etcd_member against a real 3-member etcd cluster on 127.0.0.1, through ansible-playbook.

Order as in community.postgresql: check mode (changed, and etcdctl shows nothing changed) -> apply (etcdctl shows the
change) -> apply again (not changed) -> diff. The tests share one cluster and run in file order; each leaves the
cluster healthy for the next, except the last, which stops a member on purpose.
"""

import pytest
from etcd_cluster import free_port_pairs, run_module, run_tasks

INFO = "apiplatform.ha.etcd_cluster_info"
MEMBER = "apiplatform.ha.etcd_member"


@pytest.fixture(scope="module")
def cluster(etcd_three):
    return etcd_three


@pytest.fixture
def play(tmp_path):
    def run(module, args, **kwargs):
        return run_module(tmp_path, module, args, **kwargs)

    return run


@pytest.fixture
def plays(tmp_path):
    def run(*tasks):
        return run_tasks(tmp_path, list(tasks))

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


def test_add_a_fourth_member_then_remove_it(cluster, play, plays):
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
    # then, in the same play, plan the removal in check mode
    e4.start(result["initial_cluster"], result["initial_cluster_state"])
    absent = {"name": "e4", "state": "absent", "endpoints": endpoints}
    result, check = plays(
        (MEMBER, dict(present, wait=True, wait_timeout=30), {"diff": True}),
        (MEMBER, absent, {"check_mode": True}),
    )
    assert result["changed"] is False and result["action"] == "none", result
    assert result["member"]["started"] is True and result["member"]["healthy"] is True
    assert result["diff"]["before"] == result["diff"]["after"]
    assert check["changed"] is True and check["action"] == "remove" and check["executed"] == [], check
    assert names(cluster.member_list()) == ["e1", "e2", "e3", "e4"]
    cluster.wait_healthy(["e1", "e2", "e3", "e4"])

    # apply with diff, then apply again in the same play
    result, again = plays((MEMBER, dict(absent, wait=True), {"diff": True}), (MEMBER, absent, {}))
    assert result["changed"] is True and result["action"] == "remove", result
    assert names(result["diff"]["after"]["members"]) == ["e1", "e2", "e3"]
    assert again["changed"] is False and again["action"] == "none", again
    assert names(cluster.member_list()) == ["e1", "e2", "e3"]
    cluster.wait_exit("e4")  # a removed member stops by itself
    cluster.wait_healthy(["e1", "e2", "e3"])


def test_remove_the_leader_of_a_four_member_cluster(cluster, play, plays):
    e5 = cluster.new_member("e5")
    result = play(MEMBER, {"name": "e5", "peer_urls": [e5.peer_url], "endpoints": cluster.endpoints()})
    assert result["changed"] is True, result
    e5.start(result["initial_cluster"], "existing")
    cluster.wait_healthy(["e1", "e2", "e3", "e5"])

    leader = cluster.leader()
    assert leader in ("e1", "e2", "e3", "e5")
    absent = {"name": leader, "state": "absent", "endpoints": cluster.endpoints(), "wait": True}

    # (check mode of a removal is covered above; check mode never transfers leadership: unit tests)
    result, again = plays((MEMBER, absent, {"diff": True}), (MEMBER, absent, {}))
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["member"]["is_leader"] is True, result
    assert result["leader_transferred_to"] not in (None, leader), result
    assert result["executed"][0].startswith("POST /v3/maintenance/transfer-leadership")
    assert result["executed"][1].startswith("POST /v3/cluster/member/remove")
    assert leader not in names(result["diff"]["after"]["members"])
    assert again["changed"] is False and not again.get("failed"), again
    cluster.wait_exit(leader)
    remaining = sorted({"e1", "e2", "e3", "e5"} - {leader})
    assert names(cluster.member_list()) == remaining
    cluster.wait_healthy(remaining)
    assert cluster.leader() in remaining


def test_refusals(cluster, plays):
    endpoints = cluster.endpoints()
    before = cluster.member_list()
    leader = cluster.leader()
    running = sorted(m["name"] for m in before)
    # one member of three down (not the leader): removing a healthy member would leave 1 healthy of 2
    victim = next(n for n in running if n != leader)
    cluster.members[victim].stop()
    target = next(n for n in running if n not in (victim, leader))
    taken = {int(e.rsplit(":", 1)[1]) for e in endpoints}
    dead = [f"http://127.0.0.1:{c}" for c, _p in free_port_pairs(2, taken=taken)]
    e6 = cluster.new_member("e6")
    absent = {"name": target, "state": "absent", "endpoints": endpoints}

    malformed, unreachable, refused_check, refused, refused_add, info = plays(
        (MEMBER, {"name": "e6", "peer_urls": ["127.0.0.1:2380"], "endpoints": endpoints}, {}),
        (INFO, {"endpoints": dead, "timeout": 2}, {}),
        (MEMBER, absent, {"check_mode": True}),
        (MEMBER, absent, {}),
        (MEMBER, {"name": "e6", "peer_urls": [e6.peer_url], "endpoints": endpoints}, {}),
        (INFO, {"endpoints": endpoints}, {}),
    )

    # malformed peer URL: the message names the option and shows the form to use
    assert malformed["failed"] is True
    assert "peer_urls: '127.0.0.1:2380' is not a URL with scheme" in malformed["msg"]
    assert "scheme://host:port" in malformed["msg"]

    # nothing listens at the endpoints: the message names every URL tried and the fix
    assert unreachable["failed"] is True
    for url in dead:
        assert url + "/v3/cluster/member/list" in unreachable["msg"]
    assert "Connection refused" in unreachable["msg"] and "Check the endpoints option" in unreachable["msg"]

    # removal that would break quorum: refused in check mode and for real, naming member, counts and fix
    for result in (refused_check, refused):
        assert result["failed"] is True, result
        assert f"refusing to remove etcd member '{target}'" in result["msg"]
        assert "2 voting members would remain of which only 1 healthy, below their quorum of 2" in result["msg"]
        assert "Repair/start the unhealthy members first" in result["msg"]

    # adding a member now would lose quorum until it starts: refused
    assert refused_add["failed"] is True and "refusing to add a member" in refused_add["msg"], refused_add
    assert cluster.member_list() == before

    # the info module still reports, naming the dead member and why
    info = info["cluster"]
    assert (info["member_count"], info["healthy_count"], info["quorum"], info["has_quorum"]) == (3, 2, 2, True)
    dead_member = next(m for m in info["members"] if m["name"] == victim)
    assert dead_member["healthy"] is False and cluster.members[victim].client_url in dead_member["error"]
