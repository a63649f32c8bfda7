"""rabbitmq_cluster_info: main() against a fake management API (read-only, check mode, failures)."""

import pytest
import requests
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits
from rabbitmq_fake import API, PASSWORD, FakeSession, install, node, quorum_queue

from ansible_collections.apiplatform.ha.plugins.modules import rabbitmq_cluster_info

N1 = "rabbit@n1"
N2 = "rabbit@n2"
N3 = "rabbit@n3"


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


def run_main(args=None, check_mode=False):
    args = dict({"api_url": API, "api_password": PASSWORD}, **(args or {}), _ansible_check_mode=check_mode)
    with patch_module_args(args):
        rabbitmq_cluster_info.main()


def test_healthy_cluster_in_check_mode(monkeypatch):
    queues = [quorum_queue("orders", [N1, N2, N3], leader=N2), quorum_queue("audit", [N1, N2, N3], vhost="apps")]
    policies = {
        ("/", "ha"): {
            "vhost": "/",
            "name": "ha",
            "pattern": ".*",
            "apply-to": "queues",
            "priority": 0,
            "definition": {"delivery-limit": 20},
        }
    }
    fake = install(monkeypatch, rabbitmq_cluster_info, FakeSession(queues=queues, policies=policies))
    with pytest.raises(ExitJson) as exc:
        run_main(check_mode=True)
    r = exc.value.args[0]
    assert r["changed"] is False and fake.writes == []
    assert (r["cluster_name"], r["rabbitmq_version"], r["erlang_version"]) == ("rabbit@n1", "3.10.8", "25.2.3")
    assert r["running_nodes"] == [N1, N2, N3] and r["stopped_nodes"] == []
    assert r["partitions"] == [] and r["partitioned"] is False and r["alarms"] == []
    assert [(q["vhost"], q["name"], q["has_quorum"]) for q in r["quorum_queues"]] == [
        ("/", "orders", True),
        ("apps", "audit", True),
    ]
    assert r["queues_by_node"] == {
        N1: {"leaders": 1, "members": 2},
        N2: {"leaders": 1, "members": 2},
        N3: {"leaders": 0, "members": 2},
    }
    assert r["under_replicated"] == [] and r["degraded"] == []
    assert r["policies"][0]["definition"] == {"delivery-limit": 20}
    assert r["nodes"][0]["uptime_s"] == 3600
    assert [p for (_m, p, _b) in fake.requests] == ["/api/overview", "/api/nodes", "/api/queues", "/api/policies"]


def test_stopped_node_partition_alarm(monkeypatch):
    nodes = [node(N1, partitions=[N2]), node(N2, partitions=[N1], disk_free_alarm=True), node(N3, running=False)]
    queues = [quorum_queue("q", [N1, N3]), quorum_queue("r", [N1, N2, N3], vhost="v")]
    install(monkeypatch, rabbitmq_cluster_info, FakeSession(nodes=nodes, queues=queues, vhosts=("/", "v")))
    with pytest.raises(ExitJson) as exc:
        run_main({"vhost": "v"})
    r = exc.value.args[0]
    assert r["stopped_nodes"] == [N3] and r["partitions"] == [[N1, N2]] and r["partitioned"] is True
    assert r["alarms"] == ["disk free alarm on rabbit@n2 (publishers are blocked)"]
    assert [q["name"] for q in r["quorum_queues"]] == ["r"]  # vhost v only
    assert r["degraded"][0]["online"] == [N1, N2] and r["under_replicated"] == []


@pytest.mark.parametrize(
    ("session", "args", "needle"),
    [
        (FakeSession(password="other"), {}, "HTTP 401"),
        (FakeSession(), {"vhost": "nope"}, "vhost: no virtual host named 'nope'"),
        (FakeSession(), {"api_timeout": 0}, "api_timeout: must be a positive"),
    ],
)
def test_failures(monkeypatch, session, args, needle):
    install(monkeypatch, rabbitmq_cluster_info, session)
    with pytest.raises(FailJson) as exc:
        run_main(args)
    assert needle in exc.value.args[0]["msg"]


def test_unreachable(monkeypatch):
    session = FakeSession()
    session.error = requests.exceptions.ConnectTimeout("timed out")
    install(monkeypatch, rabbitmq_cluster_info, session)
    with pytest.raises(FailJson) as exc:
        run_main()
    assert (
        "could not reach the RabbitMQ management API at http://10.0.0.1:15672/api/overview: timed out"
        in (exc.value.args[0]["msg"])
    )


def test_password_is_required(monkeypatch):
    install(monkeypatch, rabbitmq_cluster_info, FakeSession())
    with pytest.raises(FailJson) as exc, patch_module_args({"api_url": API}):
        rabbitmq_cluster_info.main()
    assert "missing required arguments: api_password" in exc.value.args[0]["msg"]
