"""rabbitmq_cluster_member and rabbitmq_quorum_members against real RabbitMQ 3.10.8 nodes on 127.0.0.1, through
ansible-playbook.

The harness starts three standalone nodes; the tests share them and run in file order: node 1 joins node 0 (harness),
node 2 joins with the module, is refused forgetting while it runs, has its app stopped and is forgotten, is refused
a plain rejoin and a reset without confirm, and is reset and joined again; then a quorum queue with two members grows
onto the third node, shrinks off a stopped node, and a query reports the queues below quorum with two of three nodes
stopped. Order as in community.postgresql: check mode (changed, and rabbitmqctl shows nothing changed) -> apply
(rabbitmqctl shows the change) -> apply again (not changed), with --diff. Every check outside the modules reads
rabbitmqctl / rabbitmq-queues directly.

The tasks reach the harness's nodes like an operator's would: the CLI tools with the nodes' Erlang cookie (HOME) and
the harness's own epmd port, set with the task's ``environment``.
"""

import json
import time

import pytest
from etcd_cluster import run_tasks
from rabbitmq_cluster import CTL, QUEUES, rabbitmq_cluster_fixture

MEMBER = "apiplatform.ha.rabbitmq_cluster_member"
QUORUM = "apiplatform.ha.rabbitmq_quorum_members"

cluster = rabbitmq_cluster_fixture(3, form=False)


@pytest.fixture
def plays(tmp_path):
    def run(*tasks):
        return run_tasks(tmp_path, list(tasks), timeout=300)

    return run


def task(cluster, module, args, check=False, diff=False, env=None):
    """One module task with the CLI paths and the harness's CLI environment."""
    args = dict(args, rabbitmqctl_path=str(CTL))
    if module == QUORUM:
        args["rabbitmq_queues_path"] = str(QUEUES)
    environment = dict(cluster.cli_env(), **(env or {}))
    return (module, args, {"check_mode": check, "diff": diff, "environment": environment})


def status(cluster, i):
    """cluster_status of node ``i``, read outside the modules."""
    data = json.loads(cluster.ctl(i, "cluster_status", "--formatter", "json").stdout)
    return sorted(data["disk_nodes"] + data["ram_nodes"]), sorted(data["running_nodes"])


def known_by(cluster, i):
    """The members node ``i`` knows (works while its app is stopped)."""
    return cluster.ctl(i, "eval", "rabbit_nodes:all().").stdout


def app_running(cluster, i):
    out = cluster.diagnostics(i, "is_running", "--formatter", "json").stdout
    return json.loads(out)["result"]


def queue_members(cluster, i, name):
    out = cluster.ctl(i, "list_queues", "name", "members", "online", "--formatter", "json").stdout
    (q,) = [q for q in json.loads(out) if q["name"] == name]
    return sorted(q["members"]), sorted(q["online"])


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def test_a_standalone_node_joins(cluster, plays):
    cluster.join(1, 0)
    n0, n1, n2 = (cluster.node_name(i) for i in range(3))
    nope = "rabbit-it-nope@localhost"
    join = {"node": n2, "cluster_node": n0}
    unreachable, check = plays(
        task(cluster, MEMBER, dict(join, cluster_node=nope)),
        task(cluster, MEMBER, join, check=True, diff=True),
    )
    assert unreachable["failed"] and unreachable["msg"].startswith(f"cluster_node {nope} is not reachable")
    assert "not running" in unreachable["msg"] and "Nothing was changed" in unreachable["msg"]
    ok(check)
    assert check["changed"] is True and check["action"] == "joined" and check["executed"] == []
    assert check["diff"]["before"]["cluster_nodes"] == [n0, n1]
    assert check["diff"]["after"]["cluster_nodes"] == [n0, n1, n2]
    # nothing changed: node 2 alone and running, node 0's cluster has two nodes
    assert status(cluster, 2) == ([n2], [n2]) and status(cluster, 0) == ([n0, n1], [n0, n1])

    started = time.monotonic()
    applied, again = plays(task(cluster, MEMBER, join, diff=True), task(cluster, MEMBER, join))
    elapsed = time.monotonic() - started
    ok(applied)
    assert applied["changed"] is True and applied["action"] == "joined"
    assert applied["executed"] == [
        f"rabbitmqctl -n {n2} stop_app",
        f"rabbitmqctl -n {n2} join_cluster {n0}",
        f"rabbitmqctl -n {n2} start_app",
    ]
    assert applied["cluster_nodes"] == applied["running_nodes"] == [n0, n1, n2] and applied["partitions"] == []
    assert status(cluster, 0) == ([n0, n1, n2], [n0, n1, n2]) == status(cluster, 2)
    ok(again)
    assert again["changed"] is False and again["action"] == "already_member" and again["executed"] == []
    print(f"join + second run through ansible-playbook: {elapsed:.1f} s")


def test_forget_refuses_a_running_node_and_forgets_a_stopped_one(cluster, plays):
    n0, n1, n2 = (cluster.node_name(i) for i in range(3))
    # the default node of the CLI (RABBITMQ_NODENAME) is node 0, as on a host of the cluster
    on_n0 = {"RABBITMQ_NODENAME": n0}
    (refused,) = plays(task(cluster, MEMBER, {"state": "absent", "node": n2}, env=on_n0))
    assert refused["failed"] and "it is still running" in refused["msg"], refused["msg"]
    assert f"rabbitmqctl -n {n2} stop_app" in refused["msg"] and "state=reset" in refused["msg"]
    assert status(cluster, 0) == ([n0, n1, n2], [n0, n1, n2])

    cluster.ctl(2, "stop_app")  # node 2's app stops; its Erlang VM keeps running (it is reset below)
    forget = {"state": "absent", "node": n2}
    (check,) = plays(task(cluster, MEMBER, forget, check=True, diff=True, env=on_n0))
    ok(check)
    assert check["changed"] is True and check["action"] == "forgotten" and check["cluster_node"] == n0
    assert check["diff"] == {
        "before": {"cluster_nodes": [n0, n1, n2], "running_nodes": [n0, n1]},
        "after": {"cluster_nodes": [n0, n1], "running_nodes": [n0, n1]},
    }
    assert status(cluster, 0) == ([n0, n1, n2], [n0, n1])

    applied, again = plays(
        task(cluster, MEMBER, dict(forget, cluster_node=n1), diff=True),
        task(cluster, MEMBER, forget, env=on_n0),
    )
    ok(applied)
    assert applied["changed"] is True and applied["executed"] == [f"rabbitmqctl -n {n1} forget_cluster_node {n2}"]
    assert applied["cluster_nodes"] == [n0, n1]
    assert status(cluster, 0) == ([n0, n1], [n0, n1]) == status(cluster, 1)
    ok(again)
    assert again["changed"] is False and again["action"] == "not_member"


def test_a_forgotten_node_is_reset_and_joined_again_only_with_confirm(cluster, plays):
    n0, n1, n2 = (cluster.node_name(i) for i in range(3))
    stale = known_by(cluster, 2)
    assert all(n in stale for n in (n0, n1, n2))  # node 2 still thinks it is clustered with 0 and 1
    reset = {"state": "reset", "node": n2, "cluster_node": n0}
    present, no_confirm, confirm_false, check = plays(
        task(cluster, MEMBER, {"node": n2, "cluster_node": n0}),
        task(cluster, MEMBER, reset),
        task(cluster, MEMBER, dict(reset, confirm=False)),
        task(cluster, MEMBER, dict(reset, confirm=True), check=True, diff=True),
    )
    assert present["failed"] and "forgotten while it was down" in present["msg"], present["msg"]
    assert "state=reset and confirm=true" in present["msg"]
    for refused in (no_confirm, confirm_false):
        assert refused["failed"] and refused["msg"].startswith("confirm: state=reset drops the local data")
    ok(check)
    assert check["changed"] is True and check["action"] == "reset_and_joined" and check["executed"] == []
    assert check["reset_command"] == "reset"
    # untouched: app still stopped, same stale view, the cluster still without it
    assert app_running(cluster, 2) is False and known_by(cluster, 2) == stale
    assert status(cluster, 0) == ([n0, n1], [n0, n1])

    started = time.monotonic()
    applied, again = plays(
        task(cluster, MEMBER, dict(reset, confirm=True), diff=True),
        task(cluster, MEMBER, {"node": n2, "cluster_node": n1}),
    )
    elapsed = time.monotonic() - started
    ok(applied)
    assert applied["changed"] is True and applied["action"] == "reset_and_joined"
    assert applied["executed"][0] == f"rabbitmqctl -n {n2} {applied['reset_command']}"
    assert applied["executed"][-2:] == [f"rabbitmqctl -n {n2} join_cluster {n0}", f"rabbitmqctl -n {n2} start_app"]
    assert applied["running_nodes"] == [n0, n1, n2]
    assert status(cluster, 0) == ([n0, n1, n2], [n0, n1, n2]) == status(cluster, 2)
    ok(again)
    assert again["changed"] is False and again["action"] == "already_member"
    print(f"reset + rejoin + present through ansible-playbook: {elapsed:.1f} s ({applied['reset_command']})")


def test_a_quorum_queue_grows_onto_the_third_node(cluster, plays):
    names = [cluster.node_name(i) for i in range(3)]
    cluster.declare_quorum_queue("it.qq.two", extra_arguments={"x-quorum-initial-group-size": 2})
    members, _online = queue_members(cluster, 0, "it.qq.two")
    assert len(members) == 2
    (missing,) = [n for n in names if n not in members]
    grow = {"state": "present", "node": missing, "queue_pattern": "^it\\.qq\\.two$", "cluster_node": names[0]}
    (check,) = plays(task(cluster, QUORUM, grow, check=True, diff=True))
    ok(check)
    assert check["changed"] is True and check["added"] == [{"vhost": "/", "name": "it.qq.two"}]
    assert check["diff"] == {"before": {"/it.qq.two": members}, "after": {"/it.qq.two": names}}
    assert queue_members(cluster, 0, "it.qq.two")[0] == members

    applied, again = plays(task(cluster, QUORUM, grow), task(cluster, QUORUM, grow))
    ok(applied)
    assert applied["executed"] == [f"rabbitmq-queues -n {names[0]} add_member --vhost / it.qq.two {missing}"]
    (queue,) = applied["queues"]
    assert queue["members"] == names and queue["has_quorum"] is True
    assert queue_members(cluster, 1, "it.qq.two")[0] == names
    ok(again)
    assert again["changed"] is False and again["added"] == [] and again["executed"] == []


def test_a_quorum_queue_shrinks_off_a_stopped_node(cluster, plays):
    names = [cluster.node_name(i) for i in range(3)]
    cluster.declare_quorum_queue("it.qq.all")  # a member on every node
    cluster.stop(2)
    shrink = {"state": "absent", "node": names[2], "queue_pattern": "^it\\.qq\\.two$", "cluster_node": names[0]}
    check, query = plays(task(cluster, QUORUM, shrink, check=True), task(cluster, QUORUM, {"cluster_node": names[1]}))
    ok(check)
    assert check["changed"] is True and check["removed"] == [{"vhost": "/", "name": "it.qq.two"}]
    assert queue_members(cluster, 0, "it.qq.two") == (names, names[:2])
    ok(query)
    assert [q["name"] for q in query["under_replicated"]] == ["it.qq.all", "it.qq.two"]
    assert query["below_quorum"] == []

    applied, again = plays(task(cluster, QUORUM, shrink, diff=True), task(cluster, QUORUM, shrink))
    ok(applied)
    assert applied["removed"] == [{"vhost": "/", "name": "it.qq.two"}]
    assert applied["diff"]["after"] == {"/it.qq.two": names[:2]}
    assert queue_members(cluster, 0, "it.qq.two") == (names[:2], names[:2])
    ok(again)
    assert again["changed"] is False and again["removed"] == []


def test_query_reports_below_quorum_with_two_of_three_nodes_stopped(cluster, plays):
    names = [cluster.node_name(i) for i in range(3)]
    cluster.stop(1)  # node 2 is stopped already
    started = time.monotonic()
    (query,) = plays(task(cluster, QUORUM, {"cluster_node": names[0]}))
    elapsed = time.monotonic() - started
    ok(query)
    below = {q["name"]: q for q in query["below_quorum"]}
    assert sorted(below) == ["it.qq.all", "it.qq.two"]
    assert below["it.qq.all"]["members"] == names and below["it.qq.all"]["online"] == names[:1]
    assert below["it.qq.two"]["members"] == names[:2] and below["it.qq.two"]["online"] == names[:1]
    assert all(not q["has_quorum"] for q in below.values())
    assert elapsed < 60, elapsed

    # a removal from a queue without quorum is refused before anything runs
    shrink = {"state": "absent", "node": names[2], "queue_pattern": "^it\\.qq\\.all$", "cluster_node": names[0]}
    (refused,) = plays(task(cluster, QUORUM, shrink))
    assert refused["failed"] and "/it.qq.all has no quorum (online 1 of 3" in refused["msg"], refused["msg"]
    assert queue_members(cluster, 0, "it.qq.all")[0] == names

    cluster.start(1)
    cluster.start(2)
    cluster.wait_running(names, timeout=90)
    # as the role's restart gate does: query until every member is online again (bounded: 30 x 2 s)
    wait = task(cluster, QUORUM, {"cluster_node": names[0]})
    wait[2].update({"until": "__result_0.under_replicated | length == 0", "retries": 30, "delay": 2})
    (healthy,) = plays(wait)
    ok(healthy)
    assert healthy["below_quorum"] == [] and healthy["under_replicated"] == []
