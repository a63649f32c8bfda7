"""rabbitmq_quorum_members: main() against a fake rabbitmqctl / rabbitmq-queues (FakeRabbit, 3.10.8's output)."""

import pytest
from ansible.module_utils import basic
from module_exits import exit_result, fail_message, patch_exits, run_module
from rabbitmq_cli_fake import CTL, QUEUES, FakeRabbit

from ansible_collections.apiplatform.ha.plugins.modules import rabbitmq_quorum_members

N1 = "rabbit@node1"
N2 = "rabbit@node2"
N3 = "rabbit@node3"


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)
    tools = {"rabbitmqctl": CTL, "rabbitmq-queues": QUEUES}
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: tools.get(name))


def install(monkeypatch, fake):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, cmd, **kw: fake.run_command(cmd))
    return fake


def cluster(queues, **kwargs):
    return FakeRabbit([N1, N2, N3], clusters=[[N1, N2, N3]], queues=queues, vhosts=("/", "shop"), **kwargs)


def queues():
    return [
        {"name": "orders.eu", "members": [N1, N2]},
        {"name": "orders.us", "members": [N1, N2, N3]},
        {"name": "audit", "members": [N2, N3]},
        {"name": "classic", "type": "classic", "members": []},
        {"vhost": "shop", "name": "orders.eu", "members": [N1, N2]},
    ]


def run_main(args, **kwargs):
    run_module(rabbitmq_quorum_members.main, args, **kwargs)


def result_of(args, **kwargs):
    return exit_result(rabbitmq_quorum_members.main, args, **kwargs)


def failure_of(args, **kwargs):
    return fail_message(rabbitmq_quorum_members.main, args, **kwargs)


def names(items):
    return [f"{q['vhost']}|{q['name']}" for q in items]


# -- query ------------------------------------------------------------------------------------------------------------


def test_query_reports_every_quorum_queue_of_every_vhost(monkeypatch):
    fake = install(monkeypatch, cluster(queues()))
    result = result_of({})
    assert result["changed"] is False and fake.writes == [] and result["node"] is None
    assert names(result["queues"]) == ["/|audit", "/|orders.eu", "/|orders.us", "shop|orders.eu"]
    assert result["queues"][2] == {
        "vhost": "/",
        "name": "orders.us",
        "leader": N1,
        "members": [N1, N2, N3],
        "online": [N1, N2, N3],
        "has_quorum": True,
    }
    assert result["below_quorum"] == result["under_replicated"] == result["added"] == result["removed"] == []


def test_query_below_quorum_and_under_replicated(monkeypatch):
    install(monkeypatch, cluster(queues(), app_stopped=[N2, N3]))
    result = result_of({"vhost": "/"})
    assert names(result["queues"]) == ["/|audit", "/|orders.eu", "/|orders.us"]
    assert names(result["below_quorum"]) == ["/|audit", "/|orders.eu", "/|orders.us"]
    assert names(result["under_replicated"]) == names(result["below_quorum"])
    install(monkeypatch, cluster(queues(), app_stopped=[N3]))
    result = result_of({"vhost": "/"})
    assert names(result["below_quorum"]) == ["/|audit"]
    assert names(result["under_replicated"]) == ["/|audit", "/|orders.us"]


def test_query_through_a_named_node_and_pattern(monkeypatch):
    fake = install(monkeypatch, cluster(queues()))
    result = result_of({"cluster_node": N2, "queue_pattern": "^orders\\.e"})
    assert names(result["queues"]) == ["/|orders.eu", "shop|orders.eu"]
    assert all(cmd[1:3] == ["-n", N2] for cmd in fake.calls)


# -- present ----------------------------------------------------------------------------------------------------------


def test_present_grows_check_mode_then_apply_then_idempotent(monkeypatch):
    fake = install(monkeypatch, cluster(queues()))
    args = {"state": "present", "node": N3}
    check = result_of(args, check_mode=True, diff=True)
    assert check["changed"] is True and fake.writes == [] and check["executed"] == []
    assert names(check["added"]) == ["/|orders.eu", "shop|orders.eu"] and check["removed"] == []
    assert check["diff"] == {
        "before": {"/orders.eu": [N1, N2], "shop/orders.eu": [N1, N2]},
        "after": {"/orders.eu": [N1, N2, N3], "shop/orders.eu": [N1, N2, N3]},
    }
    assert next(q for q in check["queues"] if q["name"] == "orders.eu")["members"] == [N1, N2]  # as read

    result = result_of(args)
    assert fake.writes == [("add_member", "/", "orders.eu", N3), ("add_member", "shop", "orders.eu", N3)]
    assert result["executed"] == [
        f"rabbitmq-queues add_member --vhost / orders.eu {N3}",
        f"rabbitmq-queues add_member --vhost shop orders.eu {N3}",
    ]
    assert all(N3 in q["members"] for q in result["queues"])

    again = result_of(args)
    assert again["changed"] is False and again["added"] == [] and len(fake.writes) == 2


def test_present_refuses_a_node_that_does_not_run(monkeypatch):
    fake = install(monkeypatch, cluster(queues(), app_stopped=[N3]))
    msg = failure_of({"state": "present", "node": N3})
    assert msg.startswith(f"node: {N3} is a stopped member of the cluster") and fake.writes == []
    msg = failure_of({"state": "present", "node": "rabbit@node9"})
    assert "is not a member of the cluster" in msg and "rabbitmq_cluster_member" in msg


def test_present_refuses_queues_without_quorum(monkeypatch):
    fake = install(monkeypatch, cluster([{"name": "q", "members": [N1, N2]}], app_stopped=[N2]))
    msg = failure_of({"state": "present", "node": N3})
    assert "/q has no quorum (online 1 of 2: rabbit@node1), so no member can be added" in msg
    assert fake.writes == []


# -- absent -----------------------------------------------------------------------------------------------------------


def test_absent_shrinks_off_a_stopped_node(monkeypatch):
    fake = install(monkeypatch, cluster(queues(), app_stopped=[N3]))
    args = {"state": "absent", "node": N3, "vhost": "/", "queue_pattern": "^orders"}
    result = result_of(args, diff=True)
    assert fake.writes == [("delete_member", "/", "orders.us", N3)] and names(result["removed"]) == ["/|orders.us"]
    assert result["diff"] == {"before": {"/orders.us": [N1, N2, N3]}, "after": {"/orders.us": [N1, N2]}}
    assert result["under_replicated"] == []
    assert result_of(args)["changed"] is False


def test_absent_refuses_unsafe_removals_and_changes_nothing(monkeypatch):
    fake = install(monkeypatch, cluster([{"name": "only", "members": [N3]}, {"name": "ok", "members": [N1, N2, N3]}]))
    msg = failure_of({"state": "absent", "node": N3})
    assert "rabbit@node3 is the last member of /only (delete the queue instead)" in msg and fake.writes == []
    # audit has members node2 and node3, node2 is stopped: removing node3 leaves it without a majority
    fake = install(monkeypatch, cluster(queues(), app_stopped=[N2]))
    msg = failure_of({"state": "absent", "node": N3, "vhost": "/"})
    assert "/audit has no quorum" in msg and fake.writes == []


def test_command_failure_says_what_was_already_done(monkeypatch):
    fake = install(monkeypatch, cluster(queues()))
    fake.fail["add_member"] = (69, "", "Error:\ntimeout\n")
    msg = failure_of({"state": "present", "node": N3, "queue_pattern": "orders.eu"})
    assert "add_member --vhost / orders.eu rabbit@node3 failed (rc=69): timeout" in msg
    assert "(queue /orders.eu; already done: nothing)" in msg


# -- parameters -------------------------------------------------------------------------------------------------------


def test_parameters(monkeypatch):
    fake = install(monkeypatch, cluster(queues()))
    assert failure_of({"queue_pattern": "orders("}).startswith("queue_pattern: 'orders(' is not a valid regular")
    assert "node" in failure_of({"state": "present"})
    assert failure_of({"state": "absent", "node": "node3"}).startswith("node: 'node3' is not a RabbitMQ node name")
    assert failure_of({"rabbitmq_queues_path": "rmq-q"}).startswith("rabbitmq_queues_path: 'rmq-q' not found")
    assert fake.calls == []


def test_a_stopped_cluster_node_is_named(monkeypatch):
    install(monkeypatch, cluster(queues(), app_stopped=[N1]))
    assert "rabbit@node1 runs but its rabbit app is stopped" in failure_of({"cluster_node": N1})
    install(monkeypatch, cluster(queues(), down=[N1]))
    assert "cannot reach RabbitMQ node rabbit@node1" in failure_of({"cluster_node": N1})
