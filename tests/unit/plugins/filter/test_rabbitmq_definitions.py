"""plugins/filter/rabbitmq_definitions.py: a definitions export in a stable order."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.apiplatform.ha.plugins.filter.rabbitmq_definitions import FilterModule, rabbitmq_definitions

EXPORT = {
    "rabbit_version": "3.10.8",
    "users": [{"name": "b", "tags": []}, {"name": "a", "tags": ["administrator"]}],
    "queues": [
        {"name": "apiha.notifications", "vhost": "apifortress", "arguments": {"x-queue-type": "quorum"}},
        {"name": "apiha.jobs", "vhost": "apifortress", "arguments": {"x-queue-type": "quorum"}},
    ],
    "bindings": [],
    "global_parameters": [{"name": "cluster_name", "value": "apiha"}],
}


def test_lists_sorted_and_scalars_kept():
    out = rabbitmq_definitions(EXPORT)
    assert [u["name"] for u in out["users"]] == ["a", "b"]
    assert [q["name"] for q in out["queues"]] == ["apiha.jobs", "apiha.notifications"]
    assert out["rabbit_version"] == "3.10.8"
    assert out["bindings"] == []
    # the input is not modified
    assert [u["name"] for u in EXPORT["users"]] == ["b", "a"]


def test_same_definitions_in_another_order_give_the_same_document():
    shuffled = dict(EXPORT)
    shuffled["users"] = list(reversed(EXPORT["users"]))
    shuffled["queues"] = list(reversed(EXPORT["queues"]))
    assert rabbitmq_definitions(shuffled) == rabbitmq_definitions(EXPORT)


def test_a_changed_definition_changes_the_document():
    changed = dict(EXPORT)
    changed["queues"] = EXPORT["queues"] + [{"name": "apiha.extra", "vhost": "apifortress", "arguments": {}}]
    assert rabbitmq_definitions(changed) != rabbitmq_definitions(EXPORT)


@pytest.mark.parametrize("bad", [None, [], "definitions"])
def test_not_an_export_is_refused_with_the_reason(bad):
    with pytest.raises(AnsibleFilterError, match="GET /api/definitions"):
        rabbitmq_definitions(bad)


def test_registered():
    assert FilterModule().filters()["rabbitmq_definitions"] is rabbitmq_definitions
