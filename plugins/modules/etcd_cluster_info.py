#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: etcd_cluster_info
short_description: Read an etcd cluster's members, leader, health and quorum
version_added: 0.1.0
description:
  - Lists the members of an etcd v3 cluster and asks every member, at its own client URLs, for its status.
  - A member that does not answer is reported with RV(cluster.members[].healthy=false) and an error; the module
    only fails when none of O(endpoints) answers the member list request.
  - Never changes anything.
author:
  - apiplatform.ha maintainers (@apiplatform)
extends_documentation_fragment:
  - apiplatform.ha.etcd
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: full
    details: Read-only; the diff is always empty.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.etcd) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.etcd
seealso:
  - module: apiplatform.ha.etcd_member
"""

EXAMPLES = r"""
- name: Read the etcd cluster
  apiplatform.ha.etcd_cluster_info:
    endpoints:
      - https://10.0.0.1:2379
      - https://10.0.0.2:2379
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
  register: __etcd_cluster

- name: Stop unless the cluster has quorum
  ansible.builtin.assert:
    that: __etcd_cluster.cluster.has_quorum
    fail_msg: >-
      etcd has no quorum: {{ __etcd_cluster.cluster.members | rejectattr('healthy') | map(attribute='name') | list }}
"""

RETURN = r"""
cluster:
  description: The cluster as seen from the endpoints and from every member.
  returned: success
  type: dict
  contains:
    cluster_id:
      description: Cluster id, lowercase hexadecimal.
      returned: success
      type: str
      sample: 534a3dc0d9e9b274
    leader:
      description: Name of the leader (its hex id if it has no name yet), null when no member reports one.
      returned: success
      type: str
      sample: etcd1
    member_count:
      description: Number of members, learners and unstarted members included.
      returned: success
      type: int
      sample: 3
    healthy_count:
      description: Members that answered their status request with a leader and without alarms.
      returned: success
      type: int
      sample: 3
    quorum:
      description: Votes needed to commit, C(voting members // 2 + 1) (learners do not vote).
      returned: success
      type: int
      sample: 2
    has_quorum:
      description: Whether the healthy voting members reach RV(cluster.quorum).
      returned: success
      type: bool
      sample: true
    members:
      description: One entry per member, in the order etcd lists them.
      returned: success
      type: list
      elements: dict
      contains:
        id:
          description: Member id, lowercase hexadecimal as etcdctl shows it.
          returned: success
          type: str
          sample: 8e9e05c52164694d
        name:
          description: Member name; empty for a member that was added but has not started yet.
          returned: success
          type: str
          sample: etcd1
        peer_urls:
          description: Peer URLs, sorted.
          returned: success
          type: list
          elements: str
          sample: ["https://10.0.0.1:2380"]
        client_urls:
          description: Advertised client URLs, sorted; empty until the member starts.
          returned: success
          type: list
          elements: str
          sample: ["https://10.0.0.1:2379"]
        is_learner:
          description: Whether the member is a non-voting learner.
          returned: success
          type: bool
          sample: false
        started:
          description: Whether the member has started once (it has a name).
          returned: success
          type: bool
          sample: true
        healthy:
          description: Whether the member answered its status request, has a leader and has no alarm.
          returned: success
          type: bool
          sample: true
        is_leader:
          description: Whether this member is the leader.
          returned: success
          type: bool
          sample: false
        raft_index:
          description: The member's raft index (0 when it did not answer).
          returned: success
          type: int
          sample: 1234
        raft_term:
          description: The member's raft term (0 when it did not answer).
          returned: success
          type: int
          sample: 5
        db_size:
          description: Size of the member's backend database in bytes (0 when it did not answer).
          returned: success
          type: int
          sample: 20480
        version:
          description: etcd server version of the member (empty when it did not answer).
          returned: success
          type: str
          sample: 3.4.23
        error:
          description: Why the member is not healthy, null when it is.
          returned: success
          type: str
          sample: null
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.etcd import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    EtcdClient,
    EtcdError,
    etcd_argument_spec,
    etcd_required_together,
)


def main():
    module = AnsibleModule(
        argument_spec=etcd_argument_spec(),
        required_together=etcd_required_together(),
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    try:
        cluster = EtcdClient.from_params(module.params).read_cluster()
    except EtcdError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())

    result = {"changed": False, "cluster": cluster}
    if module._diff:
        result["diff"] = {"before": {}, "after": {}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
