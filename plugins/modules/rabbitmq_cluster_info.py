#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rabbitmq_cluster_info
short_description: Read the state of a RabbitMQ cluster through the management HTTP API
version_added: 0.3.0
description:
  - Reads C(/api/overview), C(/api/nodes), C(/api/queues) and C(/api/policies) from the node at O(api_url) and
    returns the cluster's nodes (running or stopped, partitions, memory and disk alarms, uptime), its quorum queues
    (leader, members, members online, whether a majority is online), how many leaders and members each node hosts,
    and the policies.
  - Never changes anything.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  vhost:
    description:
      - Read the quorum queues of this virtual host only (default - every virtual host). Policies are always read
        for every virtual host.
    type: str
extends_documentation_fragment:
  - apiplatform.ha.rabbitmq
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: full
    details: Read-only; there is never a diff.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.rabbitmq) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.rabbitmq
notes:
  - Quorum queue membership is read from the API's queue records without message statistics. Right after a
    membership change (C(rabbitmq-queues grow/shrink)) the API can lag a few seconds behind
    C(rabbitmq-queues quorum_status), which is the authority for one queue.
  - A member is counted online only when its node runs (the API may still list a member of a node that just
    stopped as online).
seealso:
  - module: apiplatform.ha.rabbitmq_ha_policy
"""

EXAMPLES = r"""
- name: Read the cluster
  apiplatform.ha.rabbitmq_cluster_info:
    api_url: http://10.0.0.1:15672
    api_password: "{{ vault_rabbitmq_admin_password }}"
  register: __rmq

- name: Stop before a restart unless every node runs, nothing is partitioned or alarmed, every queue is complete
  ansible.builtin.assert:
    that:
      - __rmq.stopped_nodes == []
      - __rmq.partitions == []
      - __rmq.alarms == []
      - __rmq.degraded == []
"""

RETURN = r"""
cluster_name:
  description: Name of the cluster.
  returned: always
  type: str
  sample: rabbit@node1
rabbitmq_version:
  description: RabbitMQ version of the node behind O(api_url).
  returned: always
  type: str
  sample: 3.10.8
erlang_version:
  description: Erlang/OTP version of that node.
  returned: always
  type: str
  sample: 25.2.3
nodes:
  description:
    - Every node of the cluster, sorted by name. C(type) is V(disc) or V(ram); C(partitions) the nodes it is
      partitioned from; C(uptime_s) seconds since the node started (null when stopped, or when the node's metrics
      have not reached the management API yet, a few seconds after it started).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: rabbit@node1, running: true, type: disc, partitions: [], mem_alarm: false, disk_free_alarm: false,
       uptime_s: 3600}
running_nodes:
  description: Names of the running nodes.
  returned: always
  type: list
  elements: str
  sample: [rabbit@node1, rabbit@node2, rabbit@node3]
stopped_nodes:
  description: Names of the nodes that are members of the cluster but do not run.
  returned: always
  type: list
  elements: str
  sample: []
partitions:
  description: Pairs of nodes that report a network partition between them (empty when none).
  returned: always
  type: list
  elements: list
  sample: [[rabbit@node1, rabbit@node3]]
partitioned:
  description: Whether any node reports a partition.
  returned: always
  type: bool
  sample: false
alarms:
  description: Resource alarms in words (publishers are blocked while one is raised).
  returned: always
  type: list
  elements: str
  sample: ["disk free alarm on rabbit@node2 (publishers are blocked)"]
quorum_queues:
  description:
    - Every quorum queue (of O(vhost)). C(online) lists the members on running nodes; C(has_quorum) whether more
      than half of the members are online (the queue accepts and delivers messages).
  returned: always
  type: list
  elements: dict
  sample:
    - {vhost: /, name: orders, leader: rabbit@node1, members: [rabbit@node1, rabbit@node2, rabbit@node3],
       online: [rabbit@node1, rabbit@node2, rabbit@node3], has_quorum: true}
queues_by_node:
  description: Per node, the quorum queue leaders and members it hosts.
  returned: always
  type: dict
  sample: {rabbit@node1: {leaders: 4, members: 10}, rabbit@node2: {leaders: 3, members: 10}}
under_replicated:
  description:
    - Quorum queues whose online members are below a majority of their members (they have lost quorum and are
      unavailable). Same elements as RV(quorum_queues).
  returned: always
  type: list
  elements: dict
  sample: []
degraded:
  description:
    - Quorum queues with at least one member offline (still available while they keep a majority; one more
      failure may stop them). Includes RV(under_replicated).
  returned: always
  type: list
  elements: dict
  sample: []
policies:
  description: Every policy of every virtual host (vhost, name, pattern, apply-to, priority, definition).
  returned: always
  type: list
  elements: dict
  sample:
    - {vhost: /, name: ha-quorum, pattern: ".*", apply-to: queues, priority: 0, definition: {delivery-limit: 20}}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    RabbitMQClient,
    RabbitMQError,
    cluster_summary,
    rabbitmq_api_argument_spec,
)


def run(module, client):
    vhost = module.params["vhost"] or None
    overview = client.overview()
    nodes = client.nodes()
    queues = client.queues(vhost)
    policies = client.policies()
    result = cluster_summary(overview, nodes, queues, policies)
    result["partitioned"] = bool(result["partitions"])
    result["changed"] = False
    return result


def main():
    argument_spec = rabbitmq_api_argument_spec()
    argument_spec.update(vhost={"type": "str"})
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    try:
        result = run(module, RabbitMQClient.from_params(module.params))
    except RabbitMQError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
