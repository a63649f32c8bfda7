"""Pure planning logic and the HTTP client of module_utils/rabbitmq.py, without a server."""

import pathlib
import sys

import pytest
import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "modules"))

from rabbitmq_fake import FakeResponse, FakeSession, client_for, node, quorum_queue

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq import (
    RabbitMQAuthError,
    RabbitMQConnectionError,
    RabbitMQNotFoundError,
    RabbitMQParameterError,
    RabbitMQUnsupportedError,
    build_ha_policy,
    cluster_summary,
    policy_changes,
    policy_view,
    rabbitmq_api_argument_spec,
    validate_apply_to,
    validate_definition,
    validate_pattern,
    validate_url,
    version_tuple,
    vhost_path,
)

V310, V312, V313, V40 = (3, 10, 8), (3, 12, 0), (3, 13, 7), (4, 0, 5)


def params(**kw):
    base = {
        "pattern": ".*",
        "apply_to": "queues",
        "priority": 0,
        "queue_type": "quorum",
        "delivery_limit": None,
        "initial_group_size": None,
        "ha_mode": None,
        "ha_params": None,
        "ha_sync_mode": None,
        "definition": {},
    }
    base.update(kw)
    return base


# -- argument spec and versions --------------------------------------------------------------------------------------


def test_argument_spec_is_a_copy_with_the_password_secret():
    spec = rabbitmq_api_argument_spec()
    assert spec["api_password"] == {"type": "str", "no_log": True, "required": True}
    assert spec["api_url"]["default"] == "http://127.0.0.1:15672" and spec["api_user"]["default"] == "admin"
    assert spec["validate_certs"]["default"] is True and spec["api_timeout"] == {"type": "int", "default": 10}
    assert "no_log" not in spec["api_user"]
    spec["api_url"]["default"] = "changed"
    assert rabbitmq_api_argument_spec()["api_url"]["default"] == "http://127.0.0.1:15672"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3.10.8", (3, 10, 8)), ("4.0.0-rc.1", (4, 0, 0)), ("3.13.7+2.g1234", (3, 13, 7)), ("4.1", (4, 1, 0))],
)
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


def test_version_tuple_refuses_garbage():
    with pytest.raises(RabbitMQUnsupportedError, match="cannot read a RabbitMQ version from 'banana'"):
        version_tuple("banana")


# -- validation ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["(", "^orders[", "*x"])
def test_malformed_pattern_names_the_option(pattern):
    with pytest.raises(RabbitMQParameterError, match=r"^pattern: .* is not a valid regular expression"):
        validate_pattern(pattern)


def test_empty_pattern_is_refused():
    with pytest.raises(RabbitMQParameterError, match="pattern: must be a non-empty"):
        validate_pattern("")


def test_definition_keys_are_coerced_and_sorted():
    out = validate_definition({"overflow": "reject-publish", "max-length": "1000", "message-ttl": 60000.0}, V310)
    assert out == {"max-length": 1000, "message-ttl": 60000, "overflow": "reject-publish"}
    assert list(out) == ["max-length", "message-ttl", "overflow"]


@pytest.mark.parametrize(
    ("definition", "error", "match"),
    [
        ({"max-lenght": 1}, RabbitMQParameterError, "definition: 'max-lenght' is not a RabbitMQ policy key"),
        ({"x-queue-type": "quorum"}, RabbitMQParameterError, "looks like a queue argument"),
        ({"max-length": "many"}, RabbitMQParameterError, "definition.max-length: must be an integer"),
        ({"max-length": -1}, RabbitMQParameterError, "definition.max-length: must be 0 or more"),
        ({"expires": 0}, RabbitMQParameterError, "definition.expires: must be 1 or more"),
        ({"max-length": True}, RabbitMQParameterError, "must be an integer"),
        ({"max-length": 1.5}, RabbitMQParameterError, "must be an integer"),
        ({"overflow": ""}, RabbitMQParameterError, "definition.overflow: must be a non-empty string"),
        (
            {"consumer-timeout": 1},
            RabbitMQUnsupportedError,
            "'consumer-timeout' .* needs RabbitMQ 3.12.0 .* runs 3.10.8",
        ),
        ({"target-group-size": 3}, RabbitMQUnsupportedError, "needs RabbitMQ 3.13.0"),
    ],
)
def test_definition_refusals_on_310(definition, error, match):
    with pytest.raises(error, match=match):
        validate_definition(definition, V310)


def test_keys_removed_in_40():
    with pytest.raises(RabbitMQUnsupportedError, match=r"classic queue mirroring .* was removed in RabbitMQ 4.0"):
        validate_definition({"ha-mode": "all"}, V40)
    with pytest.raises(RabbitMQUnsupportedError, match=r"'max-in-memory-length' .* was removed in RabbitMQ 4.0.0"):
        validate_definition({"max-in-memory-length": 10}, V40)
    assert validate_definition({"target-group-size": 3, "consumer-timeout": 10}, V313) == {
        "consumer-timeout": 10,
        "target-group-size": 3,
    }


def test_apply_to_per_version_and_queue_type():
    assert validate_apply_to("quorum_queues", V312, "quorum") == "quorum_queues"
    with pytest.raises(RabbitMQUnsupportedError, match=r"apply_to: 'quorum_queues' needs RabbitMQ 3.12.0 .* 3.10.8"):
        validate_apply_to("quorum_queues", V310, "quorum")
    with pytest.raises(RabbitMQParameterError, match="apply_to: 'classic_queues' does not fit queue_type=quorum"):
        validate_apply_to("classic_queues", V312, "quorum")
    with pytest.raises(RabbitMQParameterError, match="apply_to: 'exchanges' does not fit"):
        validate_apply_to("exchanges", V310, "classic_mirrored")
    with pytest.raises(RabbitMQParameterError, match="apply_to: 'bogus' is not one of"):
        validate_apply_to("bogus", V310)


# -- building the policy ---------------------------------------------------------------------------------------------


def test_quorum_policy_and_queue_arguments():
    desired, qargs = build_ha_policy(
        params(delivery_limit="20", initial_group_size=3, priority="5", definition={"max-length": 100}), V310
    )
    assert desired == {
        "pattern": ".*",
        "apply-to": "queues",
        "priority": 5,
        "definition": {"delivery-limit": 20, "max-length": 100},
    }
    assert qargs == {"x-queue-type": "quorum", "x-quorum-initial-group-size": 3}


def test_classic_mirrored_policy():
    desired, qargs = build_ha_policy(
        params(queue_type="classic_mirrored", ha_mode="exactly", ha_params="2", ha_sync_mode="automatic"), V310
    )
    assert desired["definition"] == {"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic"}
    assert qargs == {"x-queue-type": "classic"}
    desired = build_ha_policy(params(queue_type="classic_mirrored", ha_mode="nodes", ha_params="a@h, b@h"), V310)[0]
    assert desired["definition"] == {"ha-mode": "nodes", "ha-params": ["a@h", "b@h"]}
    desired = build_ha_policy(params(queue_type="classic_mirrored", ha_mode="all"), None)[0]
    assert desired["definition"] == {"ha-mode": "all"}


CM = {"queue_type": "classic_mirrored"}
PE, UE = RabbitMQParameterError, RabbitMQUnsupportedError


@pytest.mark.parametrize(
    ("options", "version", "error", "match"),
    [
        (dict(CM, ha_mode="all"), V40, UE, "removed in RabbitMQ 4.0"),
        (dict(CM, ha_mode="all", ha_params=2), V310, PE, "ha_params: must not be set with ha_mode=all"),
        (dict(CM, ha_mode="exactly"), V310, PE, "ha_params: required with ha_mode=exactly"),
        (dict(CM, ha_mode="exactly", ha_params=0), V310, PE, "ha_params: must be 1 or more"),
        (dict(CM, ha_mode="nodes", ha_params=3), V310, PE, "ha_params: with ha_mode=nodes, a list"),
        (dict(CM, ha_mode=None), V310, PE, "ha_mode: one of all, exactly, nodes is required"),
        (dict(CM, ha_mode="all", delivery_limit=3), V310, PE, "delivery_limit: applies to queue_type=quorum only"),
        ({"ha_mode": "all", "delivery_limit": 3}, V310, PE, "ha_mode: applies to queue_type=classic_mirrored only"),
        ({"definition": {"ha-mode": "all"}, "delivery_limit": 3}, V310, PE, "definition: ha-mode apply to classic"),
        ({"delivery_limit": 3, "definition": {"delivery-limit": 4}}, V310, PE, "also set by the delivery_limit"),
        ({"initial_group_size": 3}, V310, PE, "the policy would be empty"),
        ({"initial_group_size": 0, "delivery_limit": 1}, V310, PE, "initial_group_size: must be 1 or more"),
        ({"delivery_limit": -1}, V310, PE, "delivery_limit: must be 0 or more"),
        ({"delivery_limit": 1, "priority": "high"}, V310, PE, "priority: must be an integer"),
        ({"delivery_limit": 1, "pattern": "("}, V310, PE, r"^pattern: "),
        ({"delivery_limit": 1, "queue_type": "stream"}, V310, PE, r"^queue_type: one of quorum, classic_mirrored"),
    ],
)
def test_build_refusals(options, version, error, match):
    with pytest.raises(error, match=match):
        build_ha_policy(params(**options), version)


# -- comparing -------------------------------------------------------------------------------------------------------


def test_policy_changes():
    stored = policy_view(
        {"vhost": "/", "name": "p", "pattern": ".*", "apply-to": "queues", "priority": 0, "definition": {"a": 1}}
    )
    same = {"pattern": ".*", "apply-to": "queues", "priority": 0, "definition": {"a": 1}}
    assert policy_changes(stored, same) == []
    other = {"pattern": "^x", "apply-to": "all", "priority": 1, "definition": {"a": 2, "b": 1}}
    assert policy_changes(stored, other) == ["pattern", "apply-to", "priority", "definition.a", "definition.b"]
    assert policy_changes(None, same) == ["policy"] and policy_changes(stored, None) == ["policy"]
    assert policy_changes(None, None) == []
    assert policy_view(None) is None
    assert policy_view({"vhost": "/", "name": "p", "pattern": "x"})["apply-to"] == "all"


# -- cluster summary -------------------------------------------------------------------------------------------------


def test_cluster_summary():
    nodes = [
        node("rabbit@n1", partitions=["rabbit@n3"], mem_alarm=True, uptime=3_600_500),
        node("rabbit@n2", disk_free_alarm=True),
        node("rabbit@n3", running=False),
    ]
    queues = [
        quorum_queue("b", ["rabbit@n1", "rabbit@n2", "rabbit@n3"], leader="rabbit@n2"),  # n3 stopped: stale online
        quorum_queue("a", ["rabbit@n1", "rabbit@n3"], online=["rabbit@n1"], vhost="v"),
        quorum_queue("c", ["rabbit@n3"], online=["rabbit@n3"], leader="rabbit@n3"),
        {"vhost": "/", "name": "classic", "type": "classic", "node": "rabbit@n1"},
    ]
    policies = [{"vhost": "/", "name": "p", "pattern": ".*", "definition": {"delivery-limit": 5}}]
    s = cluster_summary(
        {"cluster_name": "c1", "rabbitmq_version": "3.10.8", "erlang_version": "25"}, nodes, queues, policies
    )
    assert (s["cluster_name"], s["rabbitmq_version"], s["erlang_version"]) == ("c1", "3.10.8", "25")
    assert s["nodes"][0] == {
        "name": "rabbit@n1",
        "running": True,
        "type": "disc",
        "partitions": ["rabbit@n3"],
        "mem_alarm": True,
        "disk_free_alarm": False,
        "uptime_s": 3600,
    }
    assert s["nodes"][2]["uptime_s"] is None and s["nodes"][2]["running"] is False
    assert s["running_nodes"] == ["rabbit@n1", "rabbit@n2"] and s["stopped_nodes"] == ["rabbit@n3"]
    assert s["partitions"] == [["rabbit@n1", "rabbit@n3"]]
    assert s["alarms"] == [
        "memory alarm on rabbit@n1 (publishers are blocked)",
        "disk free alarm on rabbit@n2 (publishers are blocked)",
    ]
    by_name = {q["name"]: q for q in s["quorum_queues"]}
    assert [q["name"] for q in s["quorum_queues"]] == ["b", "c", "a"]  # by vhost, then name
    assert by_name["b"]["online"] == ["rabbit@n1", "rabbit@n2"] and by_name["b"]["has_quorum"] is True
    assert by_name["a"]["has_quorum"] is False and by_name["c"]["leader"] is None
    assert [q["name"] for q in s["under_replicated"]] == ["c", "a"]
    assert [q["name"] for q in s["degraded"]] == ["b", "c", "a"]
    assert s["queues_by_node"] == {
        "rabbit@n1": {"leaders": 1, "members": 2},
        "rabbit@n2": {"leaders": 1, "members": 1},
        "rabbit@n3": {"leaders": 0, "members": 3},
    }
    assert s["policies"] == [
        {
            "vhost": "/",
            "name": "p",
            "pattern": ".*",
            "apply-to": "all",
            "priority": 0,
            "definition": {"delivery-limit": 5},
        }
    ]


# -- HTTP client -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://10.0.0.1:15672/", "http://10.0.0.1:15672"),
        ("https://mq.example.com", "https://mq.example.com"),
        ("https://proxy/rabbitmq/", "https://proxy/rabbitmq"),
    ],
)
def test_validate_url(url, expected):
    assert validate_url(url) == expected


@pytest.mark.parametrize("url", ["10.0.0.1:15672", "ftp://x:1", "http://x:99999", "http://x:1/?a=1", ""])
def test_validate_url_refuses(url):
    with pytest.raises(RabbitMQParameterError, match=r"^api_url: "):
        validate_url(url)


def test_vhost_path_quotes_the_slash():
    assert vhost_path("/") == "%2F" and vhost_path("a/b c") == "a%2Fb%20c"


def test_client_reads_and_writes_with_quoted_vhosts():
    session = FakeSession(vhosts=("/", "team/a"))
    client = client_for(session)
    assert client.server_version() == ("3.10.8", (3, 10, 8))
    assert client.vhost_exists("team/a") and not client.vhost_exists("nope")
    assert client.policy("team/a", "p 1") is None
    body = {"pattern": ".*", "apply-to": "queues", "priority": 0, "definition": {"max-length": 1}}
    assert client.put_policy("team/a", "p 1", body) == "PUT http://10.0.0.1:15672/api/policies/team%2Fa/p%201"
    assert client.policy("team/a", "p 1")["definition"] == {"max-length": 1}
    assert client.policies("team/a")[0]["name"] == "p 1" and len(client.policies()) == 1
    assert client.delete_policy("team/a", "p 1").startswith("DELETE ")
    assert client.nodes()[0]["name"] == "rabbit@n1"


def test_client_queue_listing_keeps_the_first_of_duplicated_keys(monkeypatch):
    # RabbitMQ 3.10 repeats 'online' in /api/queues, the stale copy last
    raw = '[{"name":"q","type":"quorum","online":["a"],"members":["a","b"],"online":["a","b"]}]'
    session = FakeSession()
    monkeypatch.setattr(session, "request", lambda *a, **k: FakeResponse(200, raw=raw))
    assert client_for(session).queues()[0]["online"] == ["a"]


def test_client_unknown_vhost_for_queues_names_the_option():
    with pytest.raises(RabbitMQParameterError, match=r"vhost: no virtual host named 'nope'.*rabbitmq_vhost"):
        client_for(FakeSession()).queues("nope")


def test_client_errors():
    session = FakeSession()
    with pytest.raises(
        RabbitMQAuthError, match=r"rejected user 'admin' \(HTTP 401: Login failed\).*api_user/api_password"
    ):
        client_for(session, password="wrong").overview()
    with pytest.raises(RabbitMQNotFoundError, match="HTTP 404"):
        client_for(session).get("/api/whatever")
    bad = {"pattern": ".*", "apply-to": "all", "priority": 0, "definition": {"x-foo": 1}}
    with pytest.raises(
        RabbitMQParameterError, match=r"HTTP 400\): Validation failed \[\{<<\"x-foo\">>,1\}\] are not recog"
    ):
        client_for(session).put_policy("/", "p", bad)
    session.error = requests.exceptions.ConnectionError("... [Errno 111] Connection refused")
    with pytest.raises(
        RabbitMQConnectionError, match=r"at http://10.0.0.1:15672/api/overview: Connection refused .*api_url"
    ):
        client_for(session).overview()


def test_client_403_and_500(monkeypatch):
    session = FakeSession()
    monkeypatch.setattr(session, "request", lambda *a, **k: FakeResponse(403, {"reason": "Not administrator user"}))
    with pytest.raises(RabbitMQAuthError, match=r"HTTP 403: Not administrator user.*administrator tag"):
        client_for(session).overview()
    monkeypatch.setattr(session, "request", lambda *a, **k: FakeResponse(500, raw="boom", reason="Server Error"))
    with pytest.raises(RabbitMQConnectionError, match="HTTP 500 Server Error: boom"):
        client_for(session).overview()
    monkeypatch.setattr(session, "request", lambda *a, **k: FakeResponse(200, raw="<html>"))
    with pytest.raises(RabbitMQConnectionError, match="did not answer with a JSON object"):
        client_for(session).overview()


def test_client_options():
    with pytest.raises(RabbitMQParameterError, match="api_timeout: must be a positive"):
        client_for(FakeSession(), timeout=0)
    with pytest.raises(RabbitMQParameterError, match="api_user: must not be empty"):
        client_for(FakeSession(), user="")
    assert client_for(FakeSession(), ca_cert="/ca.pem").verify == "/ca.pem"
    assert client_for(FakeSession(), ca_cert=None, validate_certs=False).verify is False
