#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: etcd_key
short_description: Set or delete one key of an etcd v3 cluster
version_added: 0.5.0
description:
  - Writes O(value) under O(key), or deletes O(key), through etcd's v3 JSON gateway (no etcd client library or
    C(etcdctl) needed on the host).
  - Reads the key first and writes only when it differs, so a re-run reports no change.
  - The write is a compare-and-swap on the revision that was read. When another client changed the key in
    between, the task fails, says so and writes nothing; run it again to plan from the new value.
  - The collection records where each single-instance microservice runs under
    C(/apiplatform-ha/placement/<service>); the units' start condition reads it, so that a host that comes back
    after its services were respawned elsewhere does not start a second copy.
author:
  - apiplatform.ha maintainers (@apiplatform)
extends_documentation_fragment:
  - apiplatform.ha.etcd
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the key and reports what would change; writes nothing.
  diff_mode:
    support: full
    details: The value before and after.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.etcd) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.etcd
options:
  key:
    description:
      - The key, an absolute path-like name such as C(/apiplatform-ha/placement/scheduler).
    type: str
    required: true
  value:
    description:
      - The value to store. Required with O(state=present).
    type: str
  state:
    description:
      - V(present) stores O(value); V(absent) deletes the key.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: apiplatform.ha.etcd_cluster_info
"""

EXAMPLES = r"""
- name: Record that the scheduler runs on app2
  apiplatform.ha.etcd_key:
    endpoints: [http://10.0.1.11:2379, http://10.0.2.11:2379, http://10.0.3.11:2379]
    key: /apiplatform-ha/placement/scheduler
    value: app2.dc2.example.net

- name: Forget a placement
  apiplatform.ha.etcd_key:
    endpoints: "{{ etcd_endpoints }}"
    key: /apiplatform-ha/placement/connector
    state: absent
"""

RETURN = r"""
key:
  description: The key.
  returned: always
  type: str
  sample: /apiplatform-ha/placement/scheduler
previous:
  description: The value before the task (null when the key did not exist).
  returned: success
  type: str
  sample: app1.dc1.example.net
value:
  description: The value after the task (null when the key does not exist). In check mode, the value it would have.
  returned: success
  type: str
  sample: app2.dc2.example.net
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
    plan_key,
    validate_key,
    validate_value,
)


def main():
    argument_spec = etcd_argument_spec()
    argument_spec.update(
        key={"type": "str", "required": True, "no_log": False},
        value={"type": "str"},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=etcd_required_together(),
        required_if=[("state", "present", ["value"])],
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    params = module.params
    try:
        validate_key(params["key"])
        validate_value(params["value"], params["state"])
        client = EtcdClient.from_params(params)
        previous, revision = client.get_with_revision(params["key"])
        changed, after = plan_key(previous, params["value"], params["state"])
        if changed and not module.check_mode:
            # compare-and-swap: a write by another client between the read and this write is refused, not lost
            if params["state"] == "absent":
                client.delete_if_unchanged(params["key"], revision)
            else:
                client.put_if_unchanged(params["key"], params["value"], revision)
    except EtcdError as e:
        module.fail_json(msg=str(e), key=params["key"], exception=traceback.format_exc())

    result = {"changed": changed, "key": params["key"], "previous": previous, "value": after}
    if module._diff:
        result["diff"] = {
            "before": f"{params['key']} = {previous}\n" if previous is not None else "",
            "after": f"{params['key']} = {after}\n" if after is not None else "",
            "before_header": params["key"],
            "after_header": params["key"],
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
