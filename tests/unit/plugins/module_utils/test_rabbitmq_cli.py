"""module_utils/rabbitmq_cli.py: parsers fed with real RabbitMQ 3.10.8 output, error classification, pure planning."""

import json
import pathlib

import pytest

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq_cli import (
    IDENTITY_EXPR,
    RabbitMQCli,
    RabbitMQCliAppStoppedError,
    RabbitMQCliCommandError,
    RabbitMQCliNodeDownError,
    RabbitMQCliParameterError,
    RabbitMQCliRefusedError,
    below_quorum,
    compile_pattern,
    error_detail,
    has_quorum,
    members_after,
    parse_cluster_status,
    parse_identity,
    parse_json_output,
    parse_queues,
    parse_vhosts,
    partition_pairs,
    plan_forget,
    plan_present,
    plan_quorum_members,
    plan_reset,
    resolve_executable,
    under_replicated,
    validate_node_name,
)

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "rabbitmq_cli"
OUTPUTS = json.loads((FIXTURES / "cli_outputs.json").read_text())
X1, X2, X3 = "x1@localhost", "x2@localhost", "x3@localhost"


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def status(name):
    return parse_cluster_status(fixture(name))


def identity(node, running=True, known=None):
    return {"node": node, "running": running, "known_nodes": sorted(known or [node])}


# -- parsers ----------------------------------------------------------------------------------------------------------


def test_cluster_status_of_a_standalone_node_and_of_three():
    alone = status("cs_standalone.json")
    assert alone["nodes"] == [X1] and alone["running_nodes"] == [X1] and alone["stopped_nodes"] == []
    assert alone["cluster_name"] == "x1@vm" and alone["partitions"] == [] and alone["alarms"] == []

    three = status("cs_three.json")
    # RabbitMQ lists running_nodes in its own order (x3, x2, x1): sorted here
    assert three["disk_nodes"] == three["nodes"] == three["running_nodes"] == [X1, X2, X3]
    assert three["ram_nodes"] == []


def test_cluster_status_with_stopped_apps_and_after_a_forget():
    stopped = status("cs_three_x3_app_stopped.json")
    assert stopped["nodes"] == [X1, X2, X3] and stopped["running_nodes"] == [X1, X2]
    assert stopped["stopped_nodes"] == [X3]
    two_down = status("cs_two_apps_stopped.json")
    assert two_down["running_nodes"] == [X1] and two_down["stopped_nodes"] == [X2, X3]
    assert status("cs_after_forget.json")["nodes"] == [X1, X2]
    # after force_reset x3 sees itself alone although x1 and x2 still list it
    assert status("cs_x3_wiped_standalone.json")["nodes"] == [X3]


def test_cluster_status_alarms_and_partitions():
    assert status("cs_alarms.json")["alarms"] == [
        {"node": X1, "resource": "memory"},
        {"node": X2, "resource": "disk"},
    ]
    data = fixture("cs_three.json")
    data["partitions"] = {X1: [X3], X3: [X1, X2], X2: [X3]}
    assert parse_cluster_status(data)["partitions"] == [[X1, X3], [X2, X3]]
    assert partition_pairs({}) == [] and partition_pairs([]) == []


def test_cluster_status_rejects_other_json():
    with pytest.raises(RabbitMQCliCommandError, match="unexpected"):
        parse_cluster_status([{"name": "/"}])


def test_identity_of_running_and_stopped_nodes_and_quoted_atoms():
    assert parse_identity(OUTPUTS["identity_running"]["stdout"]) == identity(X1, True, [X1, X2, X3])
    assert parse_identity(OUTPUTS["identity_stopped"]["stdout"]) == identity(X3, False, [X3])
    quoted = "{'rabbit@node-1',false,\n ['rabbit@node-1','rabbit@node-2',\n  rabbit@n3]}\n"
    assert parse_identity(quoted) == identity("rabbit@node-1", False, ["rabbit@n3", "rabbit@node-1", "rabbit@node-2"])
    for bad in ("", "ok", "{badrpc,nodedown}", "[x@y]"):
        with pytest.raises(RabbitMQCliCommandError, match="eval answered"):
            parse_identity(bad)


def test_list_queues_keeps_quorum_queues_only():
    queues = parse_queues("/", fixture("lq_root.json"))
    assert [q["name"] for q in queues] == ["qq.three", "qq.two"]  # classic.one dropped
    three, two = queues
    assert three == {
        "vhost": "/",
        "name": "qq.three",
        "type": "quorum",
        "leader": X1,
        "members": [X1, X2, X3],
        "online": [X1, X2, X3],
        "has_quorum": True,
    }
    assert two["members"] == [X1, X2] and below_quorum(queues) == [] and under_replicated(queues) == []


def test_list_queues_with_stopped_members():
    one_down = parse_queues("/", fixture("lq_x3_stopped.json"))
    assert [q["name"] for q in under_replicated(one_down)] == ["qq.three", "qq.two"]
    assert below_quorum(one_down) == []

    two_down = {q["name"]: q for q in parse_queues("v", fixture("lq_two_stopped.json"))}
    assert two_down["qq.three"]["online"] == [X1] and two_down["qq.three"]["has_quorum"] is False
    assert two_down["qq.two"]["has_quorum"] is False  # 1 of 2 is not a majority
    assert two_down["qq.one"]["has_quorum"] is True  # a single-member queue with its member online
    assert {q["name"] for q in below_quorum(two_down.values())} == {"qq.three", "qq.two"}
    assert all(q["vhost"] == "v" for q in two_down.values())


def test_has_quorum():
    assert has_quorum(["a", "b", "c"], ["a", "b"]) and not has_quorum(["a", "b", "c"], ["a"])
    assert not has_quorum(["a", "b"], ["a"]) and has_quorum(["a"], ["a"]) and not has_quorum([], [])
    assert not has_quorum(["a", "b", "c"], ["a", "x"])  # online outside the members does not count


def test_vhosts_and_json_output():
    assert parse_vhosts(fixture("vhosts.json")) == ["/", "v2"]
    assert parse_json_output('Listing vhosts ...\n[{"name":"/"}]', "list_vhosts") == [{"name": "/"}]
    with pytest.raises(RabbitMQCliCommandError, match="did not print JSON"):
        parse_json_output("Error: something", "list_vhosts")
    with pytest.raises(RabbitMQCliCommandError):
        parse_vhosts({"name": "/"})


def test_error_detail_keeps_rabbitmqs_message_only():
    assert error_detail("", OUTPUTS["forget_running"]["stderr"]) == (
        "RabbitMQ on node x2@localhost must be stopped with 'rabbitmqctl -n x2@localhost stop_app' before it can be "
        "removed"
    )
    assert error_detail("", OUTPUTS["delete_last_member"]["stderr"]) == "last_node"
    assert error_detail("", OUTPUTS["join_while_running"]["stderr"]).startswith(
        "this command requires the 'rabbit' app to be stopped"
    )
    assert "Usage" not in error_detail("", OUTPUTS["join_while_running"]["stderr"])
    joined = error_detail("", OUTPUTS["join_inconsistent"]["stderr"])
    assert joined.startswith("{:inconsistent_cluster") and "[error]" not in joined
    assert error_detail("", OUTPUTS["reset_peers_down"]["stderr"]).startswith("{:timeout_waiting_for_tables")
    assert error_detail("only stdout", "") == "only stdout"


# -- runner -----------------------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, answer):
        self.answer = answer
        self.cmds = []

    def __call__(self, cmd):
        self.cmds.append(cmd)
        return self.answer


def captured(name):
    item = OUTPUTS[name]
    return item["rc"], item["stdout"], item["stderr"]


def test_runner_builds_argument_lists():
    rec = Recorder((0, "[]", ""))
    cli = RabbitMQCli(rec, "/usr/sbin/rabbitmqctl", node="rabbit@a", timeout=30)
    assert cli.run_json("list_vhosts", "name") == []
    assert rec.cmds == [
        ["/usr/sbin/rabbitmqctl", "-n", "rabbit@a", "--timeout", "30", "list_vhosts", "name", "--formatter", "json"]
    ]
    bare = RabbitMQCli(rec, "rabbitmqctl")
    assert bare.command(["stop_app"], node="rabbit@b") == ["rabbitmqctl", "-n", "rabbit@b", "stop_app"]
    assert bare.command(["stop_app"]) == ["rabbitmqctl", "stop_app"]
    assert RabbitMQCli.describe(["/usr/lib/rabbitmq/bin/rabbitmq-queues", "add_member", "q"]) == (
        "rabbitmq-queues add_member q"
    )


def test_runner_readers_parse_real_output():
    cli = RabbitMQCli(Recorder(captured("identity_stopped")), "rabbitmqctl")
    assert cli.identity(X3) == identity(X3, False, [X3])
    assert cli.run_command.cmds == [["rabbitmqctl", "-n", X3, "eval", IDENTITY_EXPR]]
    cli = RabbitMQCli(Recorder((0, json.dumps(fixture("cs_three.json")), "")), "rabbitmqctl")
    assert cli.cluster_status(X1)["running_nodes"] == [X1, X2, X3]
    cli = RabbitMQCli(Recorder((0, json.dumps(fixture("lq_root.json")), "")), "rabbitmqctl")
    assert [q["name"] for q in cli.quorum_queues("/")] == ["qq.three", "qq.two"]
    assert cli.run_command.cmds[0][1:] == [
        "list_queues",
        "--vhost",
        "/",
        "name",
        "type",
        "leader",
        "members",
        "online",
        "--formatter",
        "json",
    ]


def test_runner_app_stopped():
    cli = RabbitMQCli(Recorder(captured("app_stopped")), "rabbitmqctl")
    with pytest.raises(RabbitMQCliAppStoppedError) as e:
        cli.cluster_status(X3)
    assert e.value.node == X3 and f"rabbitmqctl -n {X3} start_app" in str(e.value)


def test_runner_node_down_and_cookie_mismatch():
    cli = RabbitMQCli(Recorder(captured("node_not_running")), "rabbitmqctl")
    with pytest.raises(RabbitMQCliNodeDownError) as e:
        cli.cluster_status("nosuch@localhost")
    assert e.value.node == "nosuch@localhost"
    assert "cannot reach RabbitMQ node nosuch@localhost" in str(e.value) and "not running" in str(e.value)

    cli = RabbitMQCli(Recorder(captured("cookie_mismatch")), "rabbitmqctl", node=X1)
    with pytest.raises(RabbitMQCliNodeDownError) as e:
        cli.cluster_status()
    assert "Erlang cookie differs" in str(e.value) and "HOME=/tmp/rmqx/badcookie" in str(e.value)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("forget_running", "must be stopped"),
        ("forget_not_member", "not_a_cluster_node"),
        ("join_inconsistent", "inconsistent_cluster"),
        ("add_member_classic", "Cannot add members to a classic queue"),
        ("add_member_not_running", "node_not_running"),
        ("delete_last_member", "last_node"),
        ("reset_peers_down", "timeout_waiting_for_tables"),
        ("start_app_forgotten", "inconsistent_cluster"),
    ],
)
def test_runner_command_errors_carry_rabbitmqs_message(name, detail):
    cli = RabbitMQCli(Recorder(captured(name)), "/usr/sbin/rabbitmqctl")
    with pytest.raises(RabbitMQCliCommandError) as e:
        cli.run("some_command", "arg", node=X1)
    assert e.value.rc == OUTPUTS[name]["rc"] and detail in e.value.detail
    assert str(e.value).startswith(f"rabbitmqctl -n {X1} some_command arg failed (rc=")


# -- option checks ----------------------------------------------------------------------------------------------------


def test_validate_node_name_and_pattern():
    assert validate_node_name(" rabbit@node1 ", "node") == "rabbit@node1"
    for bad in ("node1", "a@b@c", "", None, "rabbit @x"):
        with pytest.raises(RabbitMQCliParameterError, match=r"^node: .* is not a RabbitMQ node name"):
            validate_node_name(bad, "node")
    assert compile_pattern("^orders\\.").search("orders.eu")
    with pytest.raises(RabbitMQCliParameterError, match=r"^queue_pattern: '\(' is not a valid regular expression"):
        compile_pattern("(")


def test_resolve_executable():
    assert resolve_executable("/opt/rabbitmqctl", "rabbitmqctl_path", None, lambda p: True) == "/opt/rabbitmqctl"
    with pytest.raises(RabbitMQCliParameterError, match=r"^rabbitmqctl_path: /nope does not exist"):
        resolve_executable("/nope", "rabbitmqctl_path", None, lambda p: False)
    seen = {}

    def get_bin_path(name, opt_dirs=()):
        seen["dirs"] = opt_dirs
        return f"/usr/sbin/{name}" if name == "rabbitmqctl" else None

    assert resolve_executable("rabbitmqctl", "rabbitmqctl_path", get_bin_path) == "/usr/sbin/rabbitmqctl"
    assert "/usr/lib/rabbitmq/bin" in seen["dirs"]
    with pytest.raises(RabbitMQCliParameterError, match=r"^rabbitmq_queues_path: 'rmq-q' not found"):
        resolve_executable("rmq-q", "rabbitmq_queues_path", get_bin_path)


# -- plan_present -----------------------------------------------------------------------------------------------------


def test_present_member_and_stopped_member():
    view = status("cs_three.json")
    plan = plan_present(X3, identity(X3, True, [X1, X2, X3]), X1, view)
    assert plan["action"] == "already_member" and plan["commands"] == []
    plan = plan_present(X3, identity(X3, False, [X1, X2, X3]), X1, status("cs_three_x3_app_stopped.json"))
    assert plan["action"] == "start" and plan["commands"] == ["start_app"]


def test_present_standalone_node_joins():
    view = status("cs_two.json")
    plan = plan_present(X3, identity(X3, True), X1, view)
    assert plan["action"] == "join" and plan["commands"] == ["stop_app", "join_cluster", "start_app"]
    plan = plan_present(X3, identity(X3, False), X1, view)
    assert plan["commands"] == ["join_cluster", "start_app"]


def test_present_refuses_a_wiped_node_the_cluster_remembers():
    # x1 and x2 still list x3; x3 was force-reset (cs_x3_wiped_standalone): join_cluster would fail
    with pytest.raises(RabbitMQCliRefusedError) as e:
        plan_present(X3, identity(X3, True), X1, status("cs_three_x3_app_stopped.json"))
    msg = str(e.value)
    assert "inconsistent_cluster" in msg and "state=reset and confirm=true" in msg and "Nothing was changed" in msg


def test_present_refuses_a_node_forgotten_while_down():
    with pytest.raises(RabbitMQCliRefusedError) as e:
        plan_present(X3, identity(X3, False, [X1, X2, X3]), X1, status("cs_after_forget.json"))
    assert "forgotten while it was down" in str(e.value) and "state=reset and confirm=true" in str(e.value)


def test_present_refuses_a_member_of_another_cluster():
    with pytest.raises(RabbitMQCliRefusedError) as e:
        plan_present(X3, identity(X3, True, [X3, "x9@localhost"]), X1, status("cs_two.json"))
    assert "belongs to another cluster (with x9@localhost)" in str(e.value) and "confirm=true" in str(e.value)


# -- plan_reset -------------------------------------------------------------------------------------------------------


def test_reset_standalone_and_with_running_peers():
    plan = plan_reset(X3, identity(X3, True), X1, status("cs_two.json"))
    assert plan["reset"] == "reset" and plan["commands"] == ["stop_app", "reset", "join_cluster", "start_app"]
    # a member of the peer's cluster with the peers running: reset tells them, no forget needed
    plan = plan_reset(X3, identity(X3, True, [X1, X2, X3]), X1, status("cs_three.json"))
    assert plan["reset"] == "reset" and "forget_cluster_node" not in plan["commands"]
    assert "x1@localhost, x2@localhost run" in plan["reasons"][0]


def test_reset_wiped_node_is_forgotten_by_the_peer_first():
    plan = plan_reset(X3, identity(X3, True), X1, status("cs_three_x3_app_stopped.json"))
    assert plan["reset"] == "reset"
    assert plan["commands"] == ["stop_app", "reset", "forget_cluster_node", "join_cluster", "start_app"]


def test_reset_forces_when_no_peer_runs():
    # x3 knows only x8 and x9, which are not in x1's cluster and were not found running
    plan = plan_reset(X3, identity(X3, False, [X3, "x8@localhost", "x9@localhost"]), X1, status("cs_two.json"))
    assert plan["reset"] == "force_reset" and plan["commands"] == ["force_reset", "join_cluster", "start_app"]
    assert "none of x3@localhost's cluster peers (x8@localhost, x9@localhost) runs" in plan["reasons"][0]
    plan = plan_reset(X3, identity(X3, False, [X3, "x9@localhost"]), X1, status("cs_two.json"), ["x9@localhost"])
    assert plan["reset"] == "reset"
    # the peer lists x3 as stopped and x3's old peers are the peer's stopped nodes: force, then forget
    view = status("cs_two_apps_stopped.json")
    plan = plan_reset(X3, identity(X3, False, [X2, X3]), X1, view)
    assert plan["reset"] == "force_reset" and "forget_cluster_node" in plan["commands"]


# -- plan_forget ------------------------------------------------------------------------------------------------------


def test_forget_plans():
    assert plan_forget(X3, status("cs_three_x3_app_stopped.json"), X1)["action"] == "forgotten"
    assert plan_forget(X3, status("cs_after_forget.json"), X1)["action"] == "not_member"
    with pytest.raises(RabbitMQCliRefusedError) as e:
        plan_forget(X2, status("cs_three_x3_app_stopped.json"), X1)
    assert "still running" in str(e.value) and f"rabbitmqctl -n {X2} stop_app" in str(e.value)
    assert "state=reset" in str(e.value)
    ram = {"disk_nodes": [X3], "ram_nodes": [X1, X2], "nodes": [X1, X2, X3], "running_nodes": [X1, X2]}
    with pytest.raises(RabbitMQCliRefusedError, match="last disc node"):
        plan_forget(X3, ram, X1)


# -- plan_quorum_members ----------------------------------------------------------------------------------------------


def queue(name, members, online=None, vhost="/"):
    online = members if online is None else online
    quorum = has_quorum(members, online)
    return {"vhost": vhost, "name": name, "members": members, "online": online, "has_quorum": quorum}


def test_quorum_present_adds_where_missing():
    queues = [queue("a", [X1, X2]), queue("b", [X1, X2, X3]), queue("c", [X1, X2], [X1, X2], vhost="v")]
    plan = plan_quorum_members(queues, X3, "present")
    assert [q["name"] for q in plan["add"]] == ["a", "c"] and plan["remove"] == []
    assert members_after(queues[0], X3, "present") == [X1, X2, X3]
    assert plan_quorum_members(queues[1:2], X3, "present") == {"add": [], "remove": []}


def test_quorum_absent_removes_where_member():
    queues = [queue("a", [X1, X2]), queue("b", [X1, X2, X3], [X1, X2])]
    plan = plan_quorum_members(queues, X3, "absent")
    assert [q["name"] for q in plan["remove"]] == ["b"] and plan["add"] == []
    assert members_after(queues[1], X3, "absent") == [X1, X2]


def test_quorum_refusals_list_every_queue_and_change_nothing():
    queues = [
        queue("last", [X3]),
        queue("no-quorum", [X1, X2, X3], [X1]),
        queue("would-break", [X1, X2, X3], [X1, X3]),
        queue("fine", [X1, X2, X3]),
    ]
    with pytest.raises(RabbitMQCliRefusedError) as e:
        plan_quorum_members(queues, X3, "absent")
    msg = str(e.value)
    assert "x3@localhost is the last member of /last" in msg
    assert "/no-quorum has no quorum (online 1 of 3: x1@localhost), so no member can be removed" in msg
    assert "removing x3@localhost from /would-break would leave 1 of 2 members online" in msg
    assert "/fine" not in msg and "Nothing was changed" in msg
    with pytest.raises(RabbitMQCliRefusedError, match="so no member can be added"):
        plan_quorum_members([queue("q", [X1, X2, "x4@localhost"], [X1])], X3, "present")
