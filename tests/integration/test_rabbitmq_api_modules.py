"""rabbitmq_ha_policy and rabbitmq_cluster_info against a real 3-node RabbitMQ 3.10.8 cluster on 127.0.0.1, through
ansible-playbook; plus the check_rabbitmq_cluster Nagios script.

Order as in community.postgresql: check mode (changed, and rabbitmqctl shows nothing changed) -> apply (rabbitmqctl
shows the change) -> apply again (not changed) -> diff. The tests share one cluster and run in file order; each
leaves it with every node running.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from etcd_cluster import run_tasks
from rabbitmq_cluster import ADMIN_PASSWORD, ADMIN_USER, CLUSTER_NAME, free_ports, rabbitmq_cluster_fixture

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "roles" / "rabbitmq" / "files" / "check_rabbitmq_cluster.py"
POLICY = "apiplatform.ha.rabbitmq_ha_policy"
INFO = "apiplatform.ha.rabbitmq_cluster_info"

cluster = rabbitmq_cluster_fixture(3)


@pytest.fixture
def plays(tmp_path):
    def run(*tasks):
        return run_tasks(tmp_path, list(tasks))

    return run


def api(cluster, i=0, **extra):
    """Connection options of a module task for node ``i``."""
    return {"api_url": cluster.api_url(i), "api_user": ADMIN_USER, "api_password": ADMIN_PASSWORD, **extra}


def ctl_policies(cluster, vhost="/"):
    """{name: policy} from rabbitmqctl list_policies (outside the modules and the HTTP API)."""
    out = cluster.ctl(0, "list_policies", "-p", vhost, "--formatter", "json", "--quiet")
    policies = {}
    for p in json.loads(out.stdout or "[]"):
        definition = p["definition"]
        if isinstance(definition, str):
            definition = json.loads(definition)
        policies[p["name"]] = {
            "pattern": p["pattern"],
            "apply-to": p["apply-to"],
            "priority": int(p["priority"]),
            "definition": definition,
        }
    return policies


def check_script(*args, password=ADMIN_PASSWORD):
    env = dict(os.environ, RABBITMQ_CHECK_PASSWORD=password)
    return subprocess.run(
        [sys.executable, str(CHECK), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_info_on_a_healthy_cluster(cluster, plays):
    cluster.declare_quorum_queue("it.orders")
    (info,) = plays((INFO, api(cluster, 1), {"check_mode": True}))
    assert not info.get("failed"), info.get("msg")
    assert info["changed"] is False
    names = [cluster.node_name(i) for i in range(3)]
    status = json.loads(cluster.ctl(0, "cluster_status", "--formatter", "json").stdout)
    assert sorted(status["running_nodes"]) == names == info["running_nodes"]
    assert info["stopped_nodes"] == [] and info["partitions"] == [] and info["alarms"] == []
    assert info["rabbitmq_version"] == "3.10.8" and info["erlang_version"].startswith("25")
    assert info["cluster_name"] == status["cluster_name"] == CLUSTER_NAME
    assert [n["name"] for n in info["nodes"]] == names
    assert all(n["running"] and n["type"] == "disc" for n in info["nodes"])
    # uptime arrives with a node's first metrics, a few seconds after it started
    assert all(n["uptime_s"] is None or n["uptime_s"] >= 0 for n in info["nodes"])
    (queue,) = [q for q in info["quorum_queues"] if q["name"] == "it.orders"]
    assert queue["vhost"] == "/" and queue["members"] == names and queue["online"] == names
    assert queue["has_quorum"] is True and queue["leader"] in names
    assert info["under_replicated"] == [] and info["degraded"] == []
    assert sum(v["leaders"] for v in info["queues_by_node"].values()) == len(info["quorum_queues"])
    assert sorted(info["queues_by_node"]) == names


def test_policy_check_apply_idempotent_diff(cluster, plays):
    args = api(
        cluster,
        name="it-ha",
        pattern="^it\\.",
        delivery_limit=20,
        initial_group_size=3,
        definition={"max-length": "1000", "overflow": "reject-publish"},
    )
    (check,) = plays((POLICY, args, {"check_mode": True, "diff": True}))
    assert not check.get("failed"), check.get("msg")
    assert check["changed"] is True and check["executed"] == [] and check["previous"] is None
    assert check["diff"]["before"] == {} and check["diff"]["after"]["definition"]["delivery-limit"] == 20
    assert "it-ha" not in ctl_policies(cluster)

    applied, again, changed = plays(
        (POLICY, args, {}),
        (POLICY, args, {}),
        (POLICY, dict(args, delivery_limit=5, priority=3), {"diff": True}),
    )
    assert applied["changed"] is True and applied["server_version"] == "3.10.8"
    assert applied["queue_arguments"] == {"x-queue-type": "quorum", "x-quorum-initial-group-size": 3}
    assert applied["executed"] == [f"PUT {cluster.api_url(0)}/api/policies/%2F/it-ha"]
    assert again["changed"] is False and again["executed"] == [] and again["changes"] == []
    assert changed["changed"] is True and changed["changes"] == ["priority", "definition.delivery-limit"]
    assert changed["diff"]["before"]["definition"]["delivery-limit"] == 20
    assert changed["diff"]["after"]["definition"]["delivery-limit"] == 5
    assert changed["diff"]["before"]["priority"] == 0 and changed["diff"]["after"]["priority"] == 3
    assert ctl_policies(cluster)["it-ha"] == {
        "pattern": "^it\\.",
        "apply-to": "queues",
        "priority": 3,
        "definition": {"delivery-limit": 5, "max-length": 1000, "overflow": "reject-publish"},
    }

    # the policy reached the queue (read with rabbitmqctl, not the module)
    cluster.declare_quorum_queue("it.policy-target")
    out = cluster.ctl(0, "list_queues", "name", "policy", "--formatter", "json", "--quiet")
    assert {"name": "it.policy-target", "policy": "it-ha"} in json.loads(out.stdout)

    gone_check, gone, gone_again = plays(
        (POLICY, api(cluster, name="it-ha", state="absent"), {"check_mode": True}),
        (POLICY, api(cluster, 2, name="it-ha", state="absent"), {"diff": True}),
        (POLICY, api(cluster, name="it-ha", state="absent"), {}),
    )
    assert gone_check["changed"] is True and gone["changed"] is True and gone_again["changed"] is False
    assert gone["diff"]["after"] == {} and gone["previous"]["priority"] == 3
    assert "it-ha" not in ctl_policies(cluster)


def test_classic_mirrored_policy_on_3x(cluster, plays):
    cluster.ctl(0, "add_vhost", "it-legacy")
    args = api(
        cluster,
        name="it-mirror",
        vhost="it-legacy",
        pattern=".*",
        queue_type="classic_mirrored",
        ha_mode="exactly",
        ha_params="2",
        ha_sync_mode="automatic",
    )
    applied, again = plays((POLICY, args, {}), (POLICY, args, {}))
    assert applied["changed"] is True and again["changed"] is False, (applied, again)
    assert applied["queue_arguments"] == {"x-queue-type": "classic"}
    assert ctl_policies(cluster, "it-legacy")["it-mirror"]["definition"] == {
        "ha-mode": "exactly",
        "ha-params": 2,
        "ha-sync-mode": "automatic",
    }


def test_bad_input_fails_naming_the_parameter_and_changes_nothing(cluster, plays):
    before = {v: ctl_policies(cluster, v) for v in ("/", "it-legacy")}
    dead_url = f"http://127.0.0.1:{free_ports(1)[0]}"

    def bad(**options):
        return api(cluster, **{"name": "it-bad", "pattern": ".*", "delivery_limit": 1, **options})

    results = plays(
        (POLICY, bad(vhost="it-missing"), {}),
        (POLICY, bad(pattern="^it\\.(orders"), {}),
        (POLICY, bad(definition={"max-lenght": 1}), {}),
        (POLICY, bad(definition={"consumer-timeout": 1000}), {}),
        (POLICY, bad(definition={"x-queue-type": "quorum"}), {}),
        (POLICY, bad(apply_to="quorum_queues"), {}),
        (POLICY, bad(api_url=dead_url, api_timeout=3), {}),
        (POLICY, bad(api_password="wrong"), {}),
        (POLICY, api(cluster, name="it-bad", pattern=".*", ha_mode="all"), {}),
        (INFO, api(cluster, api_password="wrong"), {}),
    )
    vhost, pattern, typo, too_new, queue_arg, apply_to, dead, password, family, info_password = results
    assert all(r.get("failed") for r in results), [r.get("msg") for r in results]
    assert vhost["msg"].startswith("vhost: no virtual host named 'it-missing'") and "rabbitmq_vhost" in vhost["msg"]
    assert pattern["msg"].startswith("pattern: '^it\\\\.(orders' is not a valid regular expression"), pattern["msg"]
    assert typo["msg"].startswith("definition: 'max-lenght' is not a RabbitMQ policy key"), typo["msg"]
    assert "'consumer-timeout'" in too_new["msg"] and "needs RabbitMQ 3.12.0" in too_new["msg"], too_new["msg"]
    assert "3.10.8" in too_new["msg"]
    assert "'x-queue-type' looks like a queue argument" in queue_arg["msg"], queue_arg["msg"]
    assert apply_to["msg"].startswith("apply_to: 'quorum_queues' needs RabbitMQ 3.12.0"), apply_to["msg"]
    assert dead_url in dead["msg"] and "Connection refused" in dead["msg"] and "api_url" in dead["msg"], dead["msg"]
    assert "HTTP 401" in password["msg"] and "api_user/api_password" in password["msg"], password["msg"]
    assert family["msg"].startswith("ha_mode: applies to queue_type=classic_mirrored only"), family["msg"]
    assert "HTTP 401" in info_password["msg"]
    assert {v: ctl_policies(cluster, v) for v in ("/", "it-legacy")} == before
    assert cluster.ctl(0, "list_vhosts", "--quiet").stdout.split().count("it-missing") == 0


def test_check_script_and_info_with_a_node_stopped(cluster, plays):
    urls = ["--url", cluster.api_url(0), "--url", cluster.api_url(1)]
    ok = check_script(*urls, "--expected-nodes", "3")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("RABBITMQ OK - 3/3 nodes running, ")
    assert "| nodes_running=3;3:;2:;0 partitions=0;;0;0 alarms=0;;0;0 " in ok.stdout
    refused = check_script(*urls, password="wrong")
    assert refused.returncode == 3 and "credentials refused" in refused.stdout, refused.stdout

    stopped = cluster.node_name(2)
    cluster.stop(2)
    try:
        running = [cluster.node_name(0), cluster.node_name(1)]
        cluster.wait_running(running, 60)
        down = check_script(*urls, "--expected-nodes", "3")
        assert down.returncode == 1, down.stdout
        assert f"2 of 3 expected nodes running (stopped: {stopped})" in down.stdout, down.stdout
        assert "quorum queue(s) with a member offline" in down.stdout and "//it.orders (2/3 online)" in down.stdout
        (info,) = plays((INFO, api(cluster), {}))
        assert info["running_nodes"] == running and info["stopped_nodes"] == [stopped], info
        (queue,) = [q for q in info["quorum_queues"] if q["name"] == "it.orders"]
        assert stopped not in queue["online"] and queue["has_quorum"] is True
        assert "it.orders" in [q["name"] for q in info["degraded"]] and info["under_replicated"] == []
        assert next(n for n in info["nodes"] if n["name"] == stopped)["uptime_s"] is None
    finally:
        cluster.start(2)
        cluster.wait_running([cluster.node_name(i) for i in range(3)], 90)
    dead_url = f"http://127.0.0.1:{free_ports(1)[0]}"
    unknown = check_script("--url", dead_url, "--timeout", "2")
    assert unknown.returncode == 3 and dead_url in unknown.stdout, unknown.stdout
