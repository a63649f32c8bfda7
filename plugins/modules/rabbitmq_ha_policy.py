#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rabbitmq_ha_policy
short_description: The queue HA policy of a RabbitMQ virtual host, through the management HTTP API
version_added: 0.3.0
description:
  - Creates, updates or removes the policy O(name) of the virtual host O(vhost) with C(PUT) or C(DELETE) on
    C(/api/policies/<vhost>/<name>) - pattern, C(apply-to), priority and definition. The whole policy is compared
    with the one on the server; nothing is sent when they are equal.
  - "O(queue_type=quorum) (the default): quorum queues replicate by themselves (Raft); the policy carries their
    policy keys (O(delivery_limit), and any of O(definition) such as C(max-length)). The queue type and the initial
    number of replicas are B(queue arguments), not policy keys, on RabbitMQ 3.x and 4.x: a policy cannot turn a
    queue into a quorum queue nor set its group size. The module returns them in RV(queue_arguments)
    (C(x-queue-type: quorum), C(x-quorum-initial-group-size: <initial_group_size>)) for clients, definitions or
    roles to declare their queues with."
  - O(queue_type=classic_mirrored) writes the classic mirroring keys (C(ha-mode), C(ha-params), C(ha-sync-mode)).
    Classic queue mirroring was removed in RabbitMQ 4.0; on a 4.x server the module fails and writes nothing,
    instead of writing keys the server would ignore.
  - Everything is validated before any change - O(pattern) as a regular expression (Python C(re), close to the
    server's PCRE), every O(definition) key against the keys RabbitMQ knows and the server's version, O(apply_to)
    against the server's version (V(classic_queues), V(quorum_queues), V(streams) need RabbitMQ 3.12), and the
    virtual host must exist. The server validates the values again and its refusal is reported as is.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  name:
    description:
      - Name of the policy.
    type: str
    required: true
  vhost:
    description:
      - Virtual host of the policy. It must exist (create it with M(community.rabbitmq.rabbitmq_vhost) or the
        rabbitmq role's C(rabbitmq_vhosts) list). With O(state=absent) a missing virtual host is not an error
        (it has no policies).
    type: str
    default: /
  pattern:
    description:
      - Regular expression the names of the queues (or exchanges) must match, for example V(.*) or V(^orders\\.).
      - Required when O(state=present).
    type: str
  apply_to:
    description:
      - What the policy applies to. V(classic_queues), V(quorum_queues) and V(streams) need RabbitMQ 3.12 or later;
        on an older server the module fails naming the values it knows.
      - Must fit O(queue_type) - V(all), V(queues) or V(quorum_queues) for quorum; V(all), V(queues) or
        V(classic_queues) for classic_mirrored. V(exchanges) and V(streams) are accepted by the server but never
        reach the queues this module is about, so they are refused.
    type: str
    choices: [all, queues, exchanges, classic_queues, quorum_queues, streams]
    default: queues
  priority:
    description:
      - Priority of the policy; when several policies match a queue, the one with the highest priority applies
        (policies are not merged).
    type: int
    default: 0
  queue_type:
    description:
      - V(quorum) - replicated quorum queues (RabbitMQ 3.8 and later); see RV(queue_arguments).
      - V(classic_mirrored) - classic queues mirrored by the policy's C(ha-*) keys (RabbitMQ before 4.0 only).
    type: str
    choices: [quorum, classic_mirrored]
    default: quorum
  delivery_limit:
    description:
      - Quorum queues - how many times a message is delivered before it is dropped or dead-lettered (policy key
        C(delivery-limit)). Only with O(queue_type=quorum).
    type: int
  initial_group_size:
    description:
      - Quorum queues - number of replicas of a new queue. This is the queue argument C(x-quorum-initial-group-size)
        (no policy key sets it); it is returned in RV(queue_arguments) and not written to the server. Only with
        O(queue_type=quorum).
      - To grow existing queues use C(rabbitmq-queues grow) (M(apiplatform.ha.rabbitmq_quorum_members)); on
        RabbitMQ 3.13 and later the C(target-group-size) policy key (in O(definition)) asks the server to keep that
        many replicas.
    type: int
  ha_mode:
    description:
      - Classic mirroring - V(all) nodes, V(exactly) O(ha_params) replicas, or the O(ha_params) list of V(nodes).
        Required with O(queue_type=classic_mirrored), refused otherwise.
    type: str
    choices: [all, exactly, nodes]
  ha_params:
    description:
      - With O(ha_mode=exactly) the number of replicas (master included); with O(ha_mode=nodes) the list of node
        names. Not with O(ha_mode=all).
    type: raw
  ha_sync_mode:
    description:
      - Classic mirroring - whether a new mirror copies the queue's messages by itself (V(automatic)) or only
        receives new ones (V(manual), the server's default when unset).
    type: str
    choices: [automatic, manual]
  definition:
    description:
      - Further policy keys, for example C(max-length), C(overflow), C(dead-letter-exchange), C(message-ttl),
        C(queue-leader-locator). Each key is checked against the keys RabbitMQ knows and the server's version; an
        unknown key (or a queue argument such as C(x-queue-type)) fails naming it. Integer keys given as strings
        are converted, so a templated value does not show as a change on every run.
      - A key also set by a dedicated option (C(delivery-limit), C(ha-*)) is refused.
    type: dict
    default: {}
  state:
    description:
      - V(present) - the policy exists exactly as described. V(absent) - it does not exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - apiplatform.ha.rabbitmq
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the server and the policy, runs every check and reports what would change; sends no write.
  diff_mode:
    support: full
    details: Shows the policy (pattern, apply-to, priority, definition) before and after.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.rabbitmq) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.rabbitmq
notes:
  - Talks to the management HTTP API only (one process, a few HTTP requests); it does not need to run on a
    RabbitMQ node nor use C(rabbitmqctl).
seealso:
  - module: apiplatform.ha.rabbitmq_cluster_info
  - module: community.rabbitmq.rabbitmq_policy
  - name: RabbitMQ policies
    description: Policy keys and apply-to values.
    link: https://www.rabbitmq.com/docs/policies
  - name: Quorum queues
    description: Queue arguments and policy keys of quorum queues.
    link: https://www.rabbitmq.com/docs/quorum-queues
"""

EXAMPLES = r"""
- name: Quorum queues everywhere in vhost /, poison messages dropped after 20 deliveries
  apiplatform.ha.rabbitmq_ha_policy:
    api_url: http://10.0.0.1:15672
    api_user: admin
    api_password: "{{ vault_rabbitmq_admin_password }}"
    name: ha-quorum
    pattern: ".*"
    delivery_limit: 20
    initial_group_size: 3
    definition:
      max-length: 1000000
      overflow: reject-publish
  register: __rmq_policy

- name: Declare a queue the way the policy expects it
  ansible.builtin.uri:
    url: http://10.0.0.1:15672/api/queues/%2F/orders
    method: PUT
    url_username: admin
    url_password: "{{ vault_rabbitmq_admin_password }}"
    force_basic_auth: true
    body_format: json
    body:
      durable: true
      arguments: "{{ __rmq_policy.queue_arguments }}"
    status_code: [201, 204]

- name: Classic mirrored queues on two nodes (RabbitMQ 3.x only)
  apiplatform.ha.rabbitmq_ha_policy:
    api_password: "{{ vault_rabbitmq_admin_password }}"
    vhost: legacy
    name: ha-two
    pattern: "^legacy\\."
    queue_type: classic_mirrored
    ha_mode: exactly
    ha_params: 2
    ha_sync_mode: automatic

- name: Remove a policy
  apiplatform.ha.rabbitmq_ha_policy:
    api_password: "{{ vault_rabbitmq_admin_password }}"
    name: ha-two
    vhost: legacy
    state: absent
"""

RETURN = r"""
policy:
  description: The policy after the run (in check mode, as it would be); null when O(state=absent).
  returned: always
  type: dict
  sample:
    vhost: /
    name: ha-quorum
    pattern: ".*"
    apply-to: queues
    priority: 0
    definition: {delivery-limit: 20, max-length: 1000000, overflow: reject-publish}
previous:
  description: The policy on the server before the run; null when there was none.
  returned: always
  type: dict
  sample:
    vhost: /
    name: ha-quorum
    pattern: ".*"
    apply-to: queues
    priority: 0
    definition: {delivery-limit: 10}
changes:
  description: What differs between RV(previous) and RV(policy) (V(policy) when the policy is created or removed).
  returned: always
  type: list
  elements: str
  sample: ["definition.delivery-limit", "definition.max-length"]
server_version:
  description: RabbitMQ version of the node behind O(api_url).
  returned: always
  type: str
  sample: 3.10.8
queue_arguments:
  description:
    - Queue arguments the queues this policy targets must be declared with (a policy cannot set them). Empty when
      O(state=absent).
  returned: always
  type: dict
  sample: {x-queue-type: quorum, x-quorum-initial-group-size: 3}
executed:
  description: The requests that changed the server; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["PUT http://10.0.0.1:15672/api/policies/%2F/ha-quorum"]
diff:
  description: The policy before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
  sample: {before: {}, after: {name: ha-quorum, pattern: ".*", apply-to: queues, priority: 0, definition: {}}}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    VHOST_HINT,
    RabbitMQClient,
    RabbitMQError,
    RabbitMQParameterError,
    build_ha_policy,
    policy_changes,
    policy_view,
    rabbitmq_api_argument_spec,
)


def normalize(params, version):
    """The desired policy (``None`` for state=absent) and its queue arguments; ``version`` None checks the rest."""
    if params["state"] == "absent":
        return None, {}
    desired, queue_arguments = build_ha_policy(params, version)
    return dict({"vhost": params["vhost"], "name": params["name"]}, **desired), queue_arguments


class HaPolicy:
    def __init__(self, client, vhost, name):
        self.client = client
        self.vhost = vhost
        self.name = name
        self.executed = []

    def read(self):
        """``(server version text, version tuple, vhost exists, current policy or None)``."""
        text, version = self.client.server_version()
        current = policy_view(self.client.policy(self.vhost, self.name))
        if current is not None:  # the vhost exists: one request fewer on the usual no-change run
            return text, version, True, current
        return text, version, self.client.vhost_exists(self.vhost), None

    def apply(self, desired):
        if desired is None:
            self.executed.append(self.client.delete_policy(self.vhost, self.name))
        else:
            self.executed.append(self.client.put_policy(self.vhost, self.name, desired))


def run(module, client):
    params = module.params
    if not params["name"]:
        raise RabbitMQParameterError("name: must not be empty")
    normalize(params, None)  # every check that needs no server: a bad option fails before any request
    resource = HaPolicy(client, params["vhost"], params["name"])
    version_text, version, vhost_exists, current = resource.read()
    if not vhost_exists and params["state"] == "present":
        raise RabbitMQParameterError(
            f"vhost: no virtual host named {params['vhost']!r} on {client.api_url}. {VHOST_HINT} Nothing was changed."
        )
    desired, queue_arguments = normalize(params, version)
    changes = policy_changes(current, desired)
    changed = bool(changes)
    if changed and not module.check_mode:
        resource.apply(desired)
    result = {
        "changed": changed,
        "policy": desired,
        "previous": current,
        "changes": changes,
        "server_version": version_text,
        "queue_arguments": queue_arguments,
        "executed": resource.executed,
    }
    if module._diff:
        result["diff"] = {"before": current or {}, "after": desired or {}}
    return result


def main():
    argument_spec = rabbitmq_api_argument_spec()
    argument_spec.update(
        name={"type": "str", "required": True},
        vhost={"type": "str", "default": "/"},
        pattern={"type": "str"},
        apply_to={
            "type": "str",
            "default": "queues",
            "choices": ["all", "queues", "exchanges", "classic_queues", "quorum_queues", "streams"],
        },
        priority={"type": "int", "default": 0},
        queue_type={"type": "str", "default": "quorum", "choices": ["quorum", "classic_mirrored"]},
        delivery_limit={"type": "int"},
        initial_group_size={"type": "int"},
        ha_mode={"type": "str", "choices": ["all", "exactly", "nodes"]},
        ha_params={"type": "raw"},
        ha_sync_mode={"type": "str", "choices": ["automatic", "manual"]},
        definition={"type": "dict", "default": {}},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
    )
    quorum_options = ("delivery_limit", "initial_group_size")
    classic_options = ("ha_mode", "ha_params", "ha_sync_mode")
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[(q, c) for q in quorum_options for c in classic_options],
        required_if=[("state", "present", ["pattern"]), ("queue_type", "classic_mirrored", ["ha_mode"])],
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    try:
        result = run(module, RabbitMQClient.from_params(module.params))
    except RabbitMQError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
