"""rabbitmq_ha_policy: main() against a fake management API: check mode, apply, idempotence, diff, refusals."""

import re

import pytest
import requests
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits
from rabbitmq_fake import API, PASSWORD, FakeSession, install

from ansible_collections.apiplatform.ha.plugins.modules import rabbitmq_ha_policy


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


def run_main(args, check_mode=False, diff=False):
    base = {"api_url": API, "api_password": PASSWORD, "name": "ha-quorum"}
    args = dict(base, **args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        rabbitmq_ha_policy.main()


def ok(args, **kw):
    with pytest.raises(ExitJson) as exc:
        run_main(args, **kw)
    return exc.value.args[0]


def failed(args, **kw):
    with pytest.raises(FailJson) as exc:
        run_main(args, **kw)
    return exc.value.args[0]


def re_search(pattern, text):
    assert re.search(pattern, text), text
    return True


QUORUM = {"pattern": ".*", "delivery_limit": 20, "initial_group_size": 3, "definition": {"max-length": "1000"}}
STORED = {
    "vhost": "/",
    "name": "ha-quorum",
    "pattern": ".*",
    "apply-to": "queues",
    "priority": 0,
    "definition": {"delivery-limit": 20, "max-length": 1000},
}


def test_check_mode_reports_without_writing(monkeypatch):
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession())
    result = ok(QUORUM, check_mode=True, diff=True)
    assert result["changed"] is True and result["executed"] == [] and fake.writes == [] and fake.policies == {}
    assert result["previous"] is None and result["changes"] == ["policy"] and result["policy"] == STORED
    assert result["queue_arguments"] == {"x-queue-type": "quorum", "x-quorum-initial-group-size": 3}
    assert result["server_version"] == "3.10.8"
    assert result["diff"] == {"before": {}, "after": STORED}


def test_apply_then_idempotent_then_update(monkeypatch):
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession())
    result = ok(QUORUM)
    assert result["changed"] is True and "diff" not in result
    assert result["executed"] == ["PUT http://10.0.0.1:15672/api/policies/%2F/ha-quorum"]
    body = {
        "pattern": ".*",
        "apply-to": "queues",
        "priority": 0,
        "definition": {"delivery-limit": 20, "max-length": 1000},
    }
    assert fake.writes == [("PUT", "/api/policies/%2F/ha-quorum", body)]
    assert fake.policies[("/", "ha-quorum")] == STORED

    again = ok(QUORUM, diff=True)
    assert again["changed"] is False and again["changes"] == [] and again["executed"] == [] and len(fake.writes) == 1
    assert again["previous"] == again["policy"] == STORED
    assert again["diff"]["before"] == again["diff"]["after"]

    changed = ok(dict(QUORUM, delivery_limit=5, priority=2), diff=True)
    assert changed["changed"] is True and changed["changes"] == ["priority", "definition.delivery-limit"]
    assert changed["diff"]["before"]["definition"]["delivery-limit"] == 20
    assert changed["diff"]["after"]["definition"]["delivery-limit"] == 5
    assert fake.policies[("/", "ha-quorum")]["priority"] == 2 and len(fake.writes) == 2


def test_a_policy_changed_by_hand_is_put_back(monkeypatch):
    stored = dict(STORED, definition={"delivery-limit": 20, "max-length": 1000, "message-ttl": 5}, pattern="^x")
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession(policies={("/", "ha-quorum"): stored}))
    result = ok(QUORUM)
    assert result["changes"] == ["pattern", "definition.message-ttl"]
    assert fake.policies[("/", "ha-quorum")]["definition"] == {"delivery-limit": 20, "max-length": 1000}


def test_absent_removes_and_is_idempotent(monkeypatch):
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession(policies={("/", "ha-quorum"): STORED}))
    check = ok({"state": "absent"}, check_mode=True, diff=True)
    assert check["changed"] is True and fake.writes == [] and check["diff"] == {"before": STORED, "after": {}}
    result = ok({"state": "absent"})
    assert result["changed"] is True and result["policy"] is None and result["previous"] == STORED
    assert result["queue_arguments"] == {} and fake.writes == [("DELETE", "/api/policies/%2F/ha-quorum", None)]
    assert ok({"state": "absent"})["changed"] is False and len(fake.writes) == 1
    gone_vhost = ok({"state": "absent", "vhost": "nope"})
    assert gone_vhost["changed"] is False and gone_vhost["previous"] is None


def test_classic_mirrored_on_3x(monkeypatch):
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession(vhosts=("/", "legacy")))
    args = {
        "vhost": "legacy",
        "pattern": "^l",
        "queue_type": "classic_mirrored",
        "ha_mode": "exactly",
        "ha_params": "2",
    }
    result = ok(dict(args, ha_sync_mode="automatic"))
    assert result["policy"]["definition"] == {"ha-mode": "exactly", "ha-params": 2, "ha-sync-mode": "automatic"}
    assert result["queue_arguments"] == {"x-queue-type": "classic"}
    assert fake.writes[0][1] == "/api/policies/legacy/ha-quorum"


@pytest.mark.parametrize(
    ("session", "args", "match"),
    [
        (FakeSession(version="4.0.5"), {"queue_type": "classic_mirrored", "ha_mode": "all"}, "removed in RabbitMQ 4.0"),
        (FakeSession(), {"vhost": "nope", "delivery_limit": 1}, "vhost: no virtual host named 'nope'.*rabbitmq_vhost"),
        (FakeSession(), {"apply_to": "quorum_queues", "delivery_limit": 1}, "apply_to: 'quorum_queues' needs RabbitMQ"),
        (FakeSession(), {"definition": {"max-lenght": 1}}, "definition: 'max-lenght' is not a RabbitMQ policy key"),
        (FakeSession(), {"definition": {"consumer-timeout": 1}}, "'consumer-timeout' .* needs RabbitMQ 3.12.0"),
        (FakeSession(password="other"), {"delivery_limit": 1}, "HTTP 401.*api_user/api_password"),
    ],
)
def test_refusals_after_reading_change_nothing(monkeypatch, session, args, match):
    fake = install(monkeypatch, rabbitmq_ha_policy, session)
    result = failed(dict({"pattern": ".*"}, **args))
    assert re_search(match, result["msg"]) and fake.writes == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"pattern": "(", "delivery_limit": 1}, "pattern: '\\(' is not a valid regular expression"),
        ({"pattern": ".*", "initial_group_size": 3}, "the policy would be empty"),
        ({"pattern": ".*", "ha_mode": "all"}, "ha_mode: applies to queue_type=classic_mirrored only"),
        ({"pattern": ".*", "api_url": "10.0.0.1:15672", "delivery_limit": 1}, "api_url: .* is not a URL"),
        ({"name": "", "pattern": ".*", "delivery_limit": 1}, "name: must not be empty"),
    ],
)
def test_bad_options_fail_before_any_request(monkeypatch, args, match):
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession())
    result = failed(args)
    assert re_search(match, result["msg"]) and fake.requests == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"delivery_limit": 1}, "state is present but all of the following are missing: pattern"),
        (
            {"pattern": ".*", "queue_type": "classic_mirrored"},
            "queue_type is classic_mirrored but all of the following",
        ),
        ({"pattern": ".*", "delivery_limit": 1, "ha_mode": "all"}, "mutually exclusive: delivery_limit\\|ha_mode"),
        ({"pattern": ".*", "initial_group_size": 1, "ha_sync_mode": "manual"}, "initial_group_size\\|ha_sync_mode"),
    ],
)
def test_argument_spec_rules(monkeypatch, args, match):
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession())
    result = failed(args)
    assert re_search(match, result["msg"]) and fake.requests == []


def test_unreachable_api_names_the_url(monkeypatch):
    session = FakeSession()
    session.error = requests.exceptions.ConnectionError("[Errno 111] Connection refused")
    install(monkeypatch, rabbitmq_ha_policy, session)
    result = failed(QUORUM)
    assert "http://10.0.0.1:15672/api/overview: Connection refused" in result["msg"] and "api_url" in result["msg"]


def test_server_refusal_is_reported(monkeypatch):
    # a key the module lets through but the server refuses (the fake refuses any 'x-' key) is reported as is
    fake = install(monkeypatch, rabbitmq_ha_policy, FakeSession())
    monkeypatch.setitem(
        rabbitmq_ha_policy.build_ha_policy.__globals__["POLICY_KEYS"], "x-test", ("int", (3, 0, 0), None, "t")
    )
    result = failed({"pattern": ".*", "definition": {"x-test": 1}})
    assert "HTTP 400): Validation failed" in result["msg"] and '<<"x-test">>' in result["msg"]
    assert fake.policies == {}
