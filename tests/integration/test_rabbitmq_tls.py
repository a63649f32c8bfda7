"""rabbitmq_cluster_info and rabbitmq_ha_policy over https (api_ca_cert, validate_certs) against a real RabbitMQ
3.10.8 node on 127.0.0.1 whose management listener is TLS only (management.ssl.* in its rabbitmq.conf), through
ansible-playbook.

A throw-away CA and a certificate for localhost/127.0.0.1 are made with openssl for the module's one node. The
policy is checked with rabbitmqctl (outside the modules and the HTTP API).
"""

import json

import pytest
from etcd_cluster import run_tasks
from mongodb_simulator_harness import make_test_certs
from rabbitmq_cluster import ADMIN_PASSWORD, ADMIN_USER, rabbitmq_cluster

POLICY = "apiplatform.ha.rabbitmq_ha_policy"
INFO = "apiplatform.ha.rabbitmq_cluster_info"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_test_certs(tmp_path_factory.mktemp("pki"), name="rabbitmq")


@pytest.fixture(scope="module")
def node(pki):
    with rabbitmq_cluster(1, form=False, tls=pki) as cluster:
        yield cluster


@pytest.fixture
def plays(tmp_path):
    def run(*tasks):
        return run_tasks(tmp_path, list(tasks), timeout=120)

    return run


def api(node, **extra):
    return {"api_url": node.api_url(0), "api_user": ADMIN_USER, "api_password": ADMIN_PASSWORD, **extra}


def ctl_policies(node):
    out = node.ctl(0, "list_policies", "-p", "/", "--formatter", "json", "--quiet")
    return {p["name"]: p for p in json.loads(out.stdout or "[]")}


def test_https_listener_only(node, pki):
    assert node.api_url(0).startswith("https://127.0.0.1:")
    listeners = node.api(0, "GET", "/api/overview").json()["listeners"]
    assert any(x["protocol"] == "https" and x["port"] == node.nodes[0].mgmt_port for x in listeners), listeners
    assert not any(x["protocol"] == "http" for x in listeners), listeners


def test_info_and_policy_over_https_with_the_ca_and_without_it(node, pki, plays):
    """One ansible-playbook run (the node takes most of the time budget): check mode, the failures without the CA,
    then apply and apply again; rabbitmqctl shows the outcome."""
    tls = {"api_ca_cert": str(pki.ca)}
    args = api(node, name="it-tls", pattern="^tls\\.", delivery_limit=7, **tls)
    no_ca_args = api(node, name="it-tls-noca", pattern="^x\\.", delivery_limit=3)
    info, check, no_ca_info, no_ca_policy, unverified, applied, again = plays(
        (INFO, api(node, **tls), {"check_mode": True}),
        (POLICY, args, {"check_mode": True}),
        (INFO, api(node), {}),
        (POLICY, no_ca_args, {}),
        (INFO, api(node, validate_certs=False), {}),  # the documented escape hatch still reaches the node
        (POLICY, args, {}),
        (POLICY, args, {}),
    )
    assert not info.get("failed"), info.get("msg")
    assert info["running_nodes"] == [node.node_name(0)] and info["rabbitmq_version"] == "3.10.8"
    assert not check.get("failed"), check.get("msg")
    assert check["changed"] is True and check["executed"] == [] and check["previous"] is None

    for result in (no_ca_info, no_ca_policy):
        assert result.get("failed"), result
        msg = result["msg"]
        assert "certificate verify failed" in msg and "api_ca_cert" in msg and node.api_url(0) in msg, msg
        assert "Traceback" not in msg + str(result.get("module_stderr", "")), result
    assert not unverified.get("failed"), unverified.get("msg")
    assert unverified["running_nodes"] == [node.node_name(0)]

    assert not applied.get("failed"), applied.get("msg")
    assert applied["previous"] is None  # check mode created nothing
    assert applied["changed"] is True and applied["executed"] == [f"PUT {node.api_url(0)}/api/policies/%2F/it-tls"]
    assert not again.get("failed"), again.get("msg")
    assert again["changed"] is False and again["executed"] == []
    policies = ctl_policies(node)
    assert "it-tls-noca" not in policies
    definition = policies["it-tls"]["definition"]
    definition = json.loads(definition) if isinstance(definition, str) else definition
    assert policies["it-tls"]["pattern"] == "^tls\\." and definition == {"delivery-limit": 7}
