"""rabbitmq_cluster_member: main() against a fake rabbitmqctl (FakeRabbit answers with 3.10.8's output)."""

import pytest
from ansible.module_utils import basic
from module_exits import exit_result, fail_message, patch_exits, run_module
from rabbitmq_cli_fake import CTL, QUEUES, FakeRabbit, output

from ansible_collections.apiplatform.ha.plugins.module_utils import rabbitmq_cli, waiting
from ansible_collections.apiplatform.ha.plugins.modules import rabbitmq_cluster_member

N1 = "rabbit@node1"
N2 = "rabbit@node2"
N3 = "rabbit@node-3"  # quoted in Erlang terms


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)
    tools = {"rabbitmqctl": CTL, "rabbitmq-queues": QUEUES}
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: tools.get(name))
    monkeypatch.setattr(waiting.time, "sleep", lambda s: None)


def install(monkeypatch, fake):
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, cmd, **kw: fake.run_command(cmd))
    return fake


def two_and_one(**kwargs):
    """node1 and node2 clustered, node-3 standalone."""
    return FakeRabbit([N1, N2, N3], clusters=[[N1, N2]], **kwargs)


def three(**kwargs):
    return FakeRabbit([N1, N2, N3], clusters=[[N1, N2, N3]], **kwargs)


def run_main(args, **kwargs):
    run_module(rabbitmq_cluster_member.main, dict({"wait_timeout": 5}, **args), **kwargs)


def result_of(args, **kwargs):
    return exit_result(rabbitmq_cluster_member.main, dict({"wait_timeout": 5}, **args), **kwargs)


def failure_of(args, **kwargs):
    return fail_message(rabbitmq_cluster_member.main, dict({"wait_timeout": 5}, **args), **kwargs)


JOIN = {"node": N3, "cluster_node": N1}


# -- present ----------------------------------------------------------------------------------------------------------


def test_present_joins_a_standalone_node_check_mode_first(monkeypatch):
    fake = install(monkeypatch, two_and_one())
    check = result_of(JOIN, check_mode=True, diff=True)
    assert check["changed"] is True and check["action"] == "joined" and fake.writes == []
    assert check["executed"] == [] and check["cluster_nodes"] == [N1, N2]
    assert check["diff"] == {
        "before": {"cluster_nodes": [N1, N2], "running_nodes": [N1, N2]},
        "after": {"cluster_nodes": [N3, N1, N2], "running_nodes": [N3, N1, N2]},
    }

    result = result_of(JOIN)
    assert fake.writes == [("stop_app", N3), ("join_cluster", N3, N1), ("start_app", N3)]
    assert result["executed"] == [
        f"rabbitmqctl -n {N3} stop_app",
        f"rabbitmqctl -n {N3} join_cluster {N1}",
        f"rabbitmqctl -n {N3} start_app",
    ]
    assert result["cluster_nodes"] == result["running_nodes"] == [N3, N1, N2]
    assert (result["node"], result["cluster_node"], result["partitions"]) == (N3, N1, [])

    again = result_of(JOIN)
    assert again["changed"] is False and again["action"] == "already_member" and len(fake.writes) == 3


def test_present_default_node_is_the_one_rabbitmqctl_talks_to(monkeypatch):
    fake = install(monkeypatch, FakeRabbit(["rabbit@node1", "rabbit@node9"], clusters=[["rabbit@node9"]]))
    result = result_of({"cluster_node": "rabbit@node9"})
    assert result["node"] == N1 and result["action"] == "joined"
    assert fake.calls[1] == [CTL, "eval", rabbitmq_cli.IDENTITY_EXPR]  # no -n: the CLI's default node


def test_present_starts_a_member_whose_app_is_stopped(monkeypatch):
    fake = install(monkeypatch, three(app_stopped=[N3]))
    result = result_of(JOIN)
    assert result["action"] == "started" and result["changed"] is True and fake.writes == [("start_app", N3)]


def test_present_refuses_an_unreachable_cluster_node_before_stopping_anything(monkeypatch):
    fake = install(monkeypatch, two_and_one(down=[N1]))
    msg = failure_of(JOIN)
    assert msg.startswith(f"cluster_node {N1} is not reachable") and "not running" in msg
    assert "Nothing was changed" in msg and fake.writes == []
    fake = install(monkeypatch, two_and_one(app_stopped=[N1]))
    assert "its rabbit app is stopped" in failure_of(JOIN) and fake.writes == []


def test_present_node_down_names_the_node(monkeypatch):
    install(monkeypatch, two_and_one(down=[N3]))
    msg = failure_of(JOIN)
    assert f"the node to join, {N3}, is not reachable" in msg and "start its service" in msg


def test_present_refuses_a_node_forgotten_while_down(monkeypatch):
    fake = three(app_stopped=[N3])
    fake.known[N1].discard(N3)
    fake.known[N2].discard(N3)
    install(monkeypatch, fake)
    msg = failure_of(JOIN)
    assert "forgotten while it was down" in msg and "state=reset and confirm=true" in msg and fake.writes == []


def test_present_refuses_a_wiped_node_the_cluster_remembers(monkeypatch):
    fake = three()
    fake.known[N3] = {N3}
    install(monkeypatch, fake)
    msg = failure_of(JOIN)
    assert "inconsistent_cluster" in msg and "state=reset and confirm=true" in msg and fake.writes == []


def test_present_refuses_a_member_of_another_cluster(monkeypatch):
    fake = install(monkeypatch, FakeRabbit([N1, N2, N3, "rabbit@node4"], clusters=[[N1, N2], [N3, "rabbit@node4"]]))
    assert "belongs to another cluster (with rabbit@node4)" in failure_of(JOIN) and fake.writes == []


def test_present_join_failure_starts_the_app_again(monkeypatch):
    fake = install(monkeypatch, two_and_one())
    fake.fail["join_cluster"] = output("join_inconsistent", x1=N1, x3=N3)
    msg = failure_of(JOIN)
    assert fake.writes == [("stop_app", N3), ("start_app", N3)] and fake.app[N3] is True
    assert "could not join" in msg and f"{N3}'s app was started again" in msg and "state=reset" in msg


def test_present_wait_times_out_with_what_it_waited_for(monkeypatch):
    fake = install(monkeypatch, two_and_one())
    monkeypatch.setattr(fake, "running", lambda node: [N1, N2])  # node-3 never shows up as running
    msg = failure_of(dict(JOIN, wait_timeout=0))
    assert msg.startswith(f"{N3} was not listed among the running nodes of {N1}'s cluster_status within wait_timeout=0")


def test_present_parameters(monkeypatch):
    fake = install(monkeypatch, two_and_one())
    assert "cluster_node" in failure_of({"node": N3})
    assert failure_of({"node": N3, "cluster_node": N3}).startswith("cluster_node: rabbit@node-3 is the node to join")
    assert failure_of({"node": "node3", "cluster_node": N1}).startswith("node: 'node3' is not a RabbitMQ node name")
    assert failure_of(dict(JOIN, wait_timeout=-1)).startswith("wait_timeout: must be 0 or more")
    assert failure_of(dict(JOIN, rabbitmqctl_path="/nonexistent/rabbitmqctl")).startswith("rabbitmqctl_path:")
    assert fake.writes == []


# -- reset ------------------------------------------------------------------------------------------------------------


RESET = {"state": "reset", "node": N3, "cluster_node": N1, "confirm": True}


def test_reset_needs_confirm_and_changes_nothing_without(monkeypatch):
    fake = install(monkeypatch, three())
    assert failure_of(dict(RESET, confirm=False)).startswith("confirm: state=reset drops the local data of")
    msg = failure_of({"state": "reset", "node": N3, "cluster_node": N1})
    assert msg.startswith("confirm:") and fake.calls == [] and fake.writes == []


def test_reset_of_a_member_resets_gracefully_and_rejoins(monkeypatch):
    fake = install(monkeypatch, three())
    check = result_of(RESET, check_mode=True, diff=True)
    assert check["changed"] is True and check["action"] == "reset_and_joined" and check["reset_command"] == "reset"
    assert fake.writes == []
    result = result_of(RESET)
    assert fake.writes == [("stop_app", N3), ("reset", N3), ("join_cluster", N3, N1), ("start_app", N3)]
    assert result["running_nodes"] == [N3, N1, N2]


def test_reset_of_a_node_forgotten_while_down(monkeypatch):
    fake = three(app_stopped=[N3])
    fake.known[N1].discard(N3)
    fake.known[N2].discard(N3)
    install(monkeypatch, fake)
    result = result_of(RESET)
    assert result["reset_command"] == "reset"
    assert fake.writes == [("reset", N3), ("join_cluster", N3, N1), ("start_app", N3)]


def test_reset_of_a_wiped_node_makes_the_peer_forget_it_first(monkeypatch):
    fake = three(app_stopped=[N3])
    fake.known[N3] = {N3}
    install(monkeypatch, fake)
    result = result_of(RESET)
    assert fake.writes == [
        ("reset", N3),
        ("forget_cluster_node", N1, N3),
        ("join_cluster", N3, N1),
        ("start_app", N3),
    ]
    assert f"rabbitmqctl -n {N1} forget_cluster_node {N3}" in result["executed"]


def test_reset_forces_when_its_old_peers_are_down(monkeypatch):
    # node-3 belonged to a cluster with node4 and node5, which are down; node1 and node2 are the cluster to join
    fake = FakeRabbit(
        [N1, N2, N3, "rabbit@node4", "rabbit@node5"],
        clusters=[[N1, N2], [N3, "rabbit@node4", "rabbit@node5"]],
        down=["rabbit@node4", "rabbit@node5"],
    )
    install(monkeypatch, fake)
    result = result_of(RESET)
    assert result["reset_command"] == "force_reset" and "would wait for them for minutes" in result["reasons"][0]
    assert fake.writes == [("stop_app", N3), ("force_reset", N3), ("join_cluster", N3, N1), ("start_app", N3)]


def test_reset_falls_back_to_force_reset_when_reset_times_out(monkeypatch):
    fake = install(monkeypatch, three())
    fake.fail["reset"] = output("reset_peers_down", x3=N3)
    result = result_of(RESET)
    assert result["reset_command"] == "force_reset" and "reset failed" in result["reasons"][-1]
    assert ("force_reset", N3) in fake.writes and fake.app[N3] is True


def test_reset_refuses_an_unreachable_cluster_node(monkeypatch):
    fake = install(monkeypatch, three(down=[N1]))
    msg = failure_of(RESET)
    assert msg.startswith(f"cluster_node {N1} is not reachable, so the node cannot be reset") and fake.writes == []


# -- absent -----------------------------------------------------------------------------------------------------------


FORGET = {"state": "absent", "node": N3}


def test_absent_forgets_a_stopped_member(monkeypatch):
    fake = install(monkeypatch, three(app_stopped=[N3]))
    check = result_of(FORGET, check_mode=True, diff=True)
    assert check["changed"] is True and check["action"] == "forgotten" and fake.writes == []
    assert check["diff"]["before"]["cluster_nodes"] == [N3, N1, N2]
    assert check["diff"]["after"]["cluster_nodes"] == [N1, N2]
    assert check["cluster_node"] == N1  # the default node, resolved

    result = result_of(FORGET, diff=True)
    assert fake.writes == [("forget_cluster_node", N1, N3)] and result["cluster_nodes"] == [N1, N2]
    assert result["executed"] == [f"rabbitmqctl forget_cluster_node {N3}"]

    again = result_of(FORGET)
    assert again["changed"] is False and again["action"] == "not_member" and len(fake.writes) == 1


def test_absent_through_a_named_member(monkeypatch):
    fake = install(monkeypatch, three(down=[N3]))
    result = result_of(dict(FORGET, cluster_node=N2))
    assert result["cluster_node"] == N2 and fake.writes == [("forget_cluster_node", N2, N3)]


def test_absent_refuses_a_running_node(monkeypatch):
    fake = install(monkeypatch, three())
    msg = failure_of(FORGET)
    assert "it is still running" in msg and f"rabbitmqctl -n {N3} stop_app" in msg and "state=reset" in msg
    assert fake.writes == []
    assert failure_of({"state": "absent", "node": N1}).startswith(f"node: {N1} is the node the cluster is read from")


def test_absent_needs_a_running_member_to_read_from(monkeypatch):
    install(monkeypatch, three(app_stopped=[N1, N3]))
    assert "its rabbit app is stopped; a node is forgotten through a running member" in failure_of(FORGET)
    install(monkeypatch, three())
    assert "node" in failure_of({"state": "absent"})
