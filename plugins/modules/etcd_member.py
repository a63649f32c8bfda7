#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: etcd_member
short_description: Add, re-address or remove one member of an etcd cluster, without breaking quorum
version_added: 0.1.0
description:
  - Makes one etcd member (identified by its name) present with the given peer URLs, or absent.
  - O(state=present) adds the member when no member has that name (C(member add)), or changes its peer URLs
    (C(member update)). A member that was added but has not started yet (it has no name) and has exactly
    O(peer_urls) counts as present, so re-running after a failed start does not add it twice.
  - Adding is refused unless the cluster keeps its quorum while the new member starts (etcd's strict
    reconfiguration rule, with the same exception for growing a single-member cluster).
  - After an add, start etcd on the new host with RV(initial_cluster) and RV(initial_cluster_state); with O(wait=true)
    a later run waits until the member has started and is healthy.
  - O(state=absent) removes the member. It refuses to remove the last member, to remove anything while the cluster has
    no quorum, and to leave fewer healthy voting members than the quorum of the smaller cluster. When the member is the
    leader, leadership is first moved to the healthy member with the highest raft index.
  - etcd refuses a membership change with C(unhealthy cluster) until each member has been connected to its peers for
    5 s, which is normal for a few seconds after a member (re)starts. The module retries such a refusal for
    up to 15 s (nothing is applied before etcd accepts), then fails naming the refusal and what to check.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  name:
    description:
      - Member name (etcd C(--name) / C(ETCD_NAME)) of the member.
    type: str
    required: true
  peer_urls:
    description:
      - Peer URLs of the member (C(ETCD_INITIAL_ADVERTISE_PEER_URLS)), each C(scheme://host:port).
      - Required with O(state=present). With O(state=absent) it lets the module also find an unstarted member, which
        has no name yet.
    type: list
    elements: str
  state:
    description:
      - Whether the member should be in the cluster.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - With O(state=present), wait until the member has started (it has a name) and answers healthy.
      - With O(state=absent), wait until the member is gone from the member list.
      - Ignored in check mode.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true).
    type: int
    default: 120
extends_documentation_fragment:
  - apiplatform.ha.etcd
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the cluster and reports the planned action and diff; no membership change is made.
  diff_mode:
    support: full
    details: Shows the member list (names and peer URLs) before and after.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.etcd) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.etcd
seealso:
  - module: apiplatform.ha.etcd_cluster_info
  - name: etcd runtime reconfiguration
    description: How members are added and removed safely.
    link: https://etcd.io/docs/v3.4/op-guide/runtime-configuration/
"""

EXAMPLES = r"""
- name: Add etcd4 to the cluster
  apiplatform.ha.etcd_member:
    name: etcd4
    peer_urls: [https://10.0.0.4:2380]
    endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/client.crt
    client_key: /etc/etcd/pki/client.key
  register: __etcd_member_add

- name: Configure etcd4 to join the existing cluster
  ansible.builtin.template:
    src: etcd.env.j2
    dest: /etc/default/etcd
    mode: "0640"
  vars:
    etcd_initial_cluster: "{{ __etcd_member_add.initial_cluster }}"
    etcd_initial_cluster_state: "{{ __etcd_member_add.initial_cluster_state }}"
  delegate_to: etcd4

- name: Wait until etcd4 has started and is healthy
  apiplatform.ha.etcd_member:
    name: etcd4
    peer_urls: [https://10.0.0.4:2380]
    endpoints: [https://10.0.0.1:2379]
    wait: true
    wait_timeout: 60

- name: Remove etcd2 (leadership moves away first if it is the leader)
  apiplatform.ha.etcd_member:
    name: etcd2
    state: absent
    endpoints: [https://10.0.0.1:2379, https://10.0.0.3:2379]
"""

RETURN = r"""
action:
  description: What the module did (or would do in check mode).
  returned: always
  type: str
  sample: add
  choices: [none, add, update, remove]
reasons:
  description: Why that action was chosen.
  returned: always
  type: list
  elements: str
  sample: ["no member named 'etcd4'"]
executed:
  description: The membership requests sent to etcd, in order; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["POST /v3/cluster/member/add peerURLs=https://10.0.0.4:2380"]
member:
  description:
    - The member after the change (the removed member for O(state=absent); null when there was nothing to remove).
    - Same keys as one entry of RV(apiplatform.ha.etcd_cluster_info#module:cluster.members); the health keys describe
      the state before the change. In check mode an added member has no id yet (null).
    - O(name) is shown as the name of an added member, although etcd only records it when the member starts.
  returned: always
  type: dict
  sample:
    id: 2241a697d90cc1e4
    name: etcd4
    peer_urls: ["https://10.0.0.4:2380"]
    client_urls: []
    is_learner: false
    started: false
    healthy: false
    is_leader: false
    raft_index: 0
    raft_term: 0
    db_size: 0
    version: ""
    error: member has not started yet (no client URLs)
initial_cluster:
  description:
    - C(name=peer_url) for every peer URL of every member after the change, with O(name) for this member; the value
      the joining member's C(ETCD_INITIAL_CLUSTER) must have.
  returned: always
  type: str
  sample: etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380,etcd3=https://10.0.0.3:2380,etcd4=https://10.0.0.4:2380
initial_cluster_state:
  description: The C(ETCD_INITIAL_CLUSTER_STATE) a member joining this running cluster needs.
  returned: always
  type: str
  sample: existing
leader_transferred_to:
  description: Name of the member that became leader before the removal of the leader, null otherwise.
  returned: always
  type: str
  sample: etcd2
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.etcd import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    EtcdClient,
    EtcdConflictError,
    EtcdError,
    EtcdParameterError,
    EtcdTimeoutError,
    check_add_safe,
    check_remove_safe,
    etcd_argument_spec,
    etcd_required_together,
    find_member,
    initial_cluster,
    members_view,
    normalize_peer_urls,
    pick_transfer_target,
    plan_member,
)
from ansible_collections.apiplatform.ha.plugins.module_utils.waiting import wait_until


def normalize(params):
    """Desired state from the module parameters (peer URLs validated and sorted)."""
    peer_urls = params.get("peer_urls")
    if params["state"] == "present" or peer_urls:
        peer_urls = normalize_peer_urls(peer_urls)
    if params.get("wait_timeout") is not None and params["wait_timeout"] < 0:
        raise EtcdParameterError("wait_timeout: must be 0 or more seconds, got {}".format(params["wait_timeout"]))
    return {"name": params["name"], "peer_urls": peer_urls, "state": params["state"]}


def expected_members(members, plan, desired):
    """The member list after ``plan`` is applied (used for the diff and for initial_cluster in check mode)."""
    target = plan["member"]
    if plan["action"] == "add":
        new = {"id": None, "name": desired["name"], "peer_urls": desired["peer_urls"], "client_urls": []}
        new.update(is_learner=False, started=False)
        return [*members, new]
    if plan["action"] == "update":
        return [dict(m, peer_urls=desired["peer_urls"]) if m["id"] == target["id"] else m for m in members]
    if plan["action"] == "remove":
        return [m for m in members if m["id"] != target["id"]]
    return list(members)


class EtcdMember:
    """One etcd member: read the cluster, plan, apply."""

    def __init__(self, client, desired, check_mode):
        self.client = client
        self.desired = desired
        self.check_mode = check_mode
        self.executed = []
        self.leader_transferred_to = None

    def read(self):
        return self.client.read_cluster()

    def apply(self, cluster, plan):
        """Run the planned change (already checked for quorum safety); returns the member as etcd reports it."""
        members = cluster["members"]
        action = plan["action"]
        target = plan["member"]
        if action == "add":
            added, _dummy = self.client.member_add(self.desired["peer_urls"])
            self.executed.append("POST /v3/cluster/member/add peerURLs={}".format(",".join(self.desired["peer_urls"])))
            return added
        if action == "update":
            self.client.member_update(target["id"], self.desired["peer_urls"])
            self.executed.append(
                "POST /v3/cluster/member/update ID={} peerURLs={}".format(
                    target["id"], ",".join(self.desired["peer_urls"])
                )
            )
            return dict(target, peer_urls=self.desired["peer_urls"])
        if action == "remove":
            if target["is_leader"]:
                self._transfer_leadership(members, target)
            self.client.prefer_other_members(members, target["id"])
            self.client.member_remove(target["id"])
            self.executed.append("POST /v3/cluster/member/remove ID={}".format(target["id"]))
            return target
        return target

    def _transfer_leadership(self, members, leader):
        successor = pick_transfer_target(members, leader["id"])
        if successor is None:
            raise EtcdError(
                "refusing to remove leader {!r}: no other healthy started voting member can take over leadership. "
                "Repair/start the other members first.".format(leader["name"])
            )
        self.client.transfer_leadership(leader, successor["id"])
        self.executed.append("POST /v3/maintenance/transfer-leadership targetID={}".format(successor["id"]))
        self.leader_transferred_to = successor["name"]

    def wait_present(self, member_id, timeout):
        """Wait until member ``member_id`` has started and is healthy; returns its status dict."""
        name = self.desired["name"]
        state = {}

        def ready():
            cluster = self.client.read_cluster()
            member = find_member(cluster["members"], member_id=member_id)
            state["member"], state["cluster"] = member, cluster
            if member is None:
                raise EtcdError(f"member {name!r} ({member_id}) disappeared from the cluster while waiting for it")
            if member["started"] and member["name"] != name:
                raise EtcdConflictError(
                    "member {} started with name {!r}, not {!r}: fix ETCD_NAME on that host".format(
                        member_id, member["name"], name
                    )
                )
            return member["started"] and member["healthy"]

        if not wait_until(ready, timeout):
            member = state.get("member") or {}
            raise EtcdTimeoutError(
                "member {!r} ({}) did not start and become healthy within {} s (started: {}, error: {}). Start etcd on "
                "that host with ETCD_INITIAL_CLUSTER={} and ETCD_INITIAL_CLUSTER_STATE=existing and read its log "
                "(journalctl -u etcd).".format(
                    name,
                    member_id,
                    timeout,
                    member.get("started"),
                    member.get("error"),
                    initial_cluster(state["cluster"]["members"], name, member_id),
                )
            )
        return state["member"], state["cluster"]

    def wait_absent(self, member_id, timeout):
        def gone():
            _dummy, members = self.client.member_list()
            return find_member(members, member_id=member_id) is None

        if not wait_until(gone, timeout):
            raise EtcdTimeoutError(
                "member {!r} ({}) is still listed {} s after its removal".format(
                    self.desired["name"], member_id, timeout
                )
            )


def run(module, client):
    """Read → normalize → plan → apply; returns the exit_json keyword arguments."""
    desired = normalize(module.params)
    resource = EtcdMember(client, desired, module.check_mode)
    cluster = resource.read()
    members = cluster["members"]
    plan = plan_member(members, desired["name"], desired["peer_urls"], desired["state"])
    action = plan["action"]
    after = expected_members(members, plan, desired)

    # Safety checks run before the write gate, so that check mode reports the refusal a real run would hit.
    if action == "add":
        check_add_safe(members, {m["id"]: m["healthy"] for m in members})
    elif action == "remove":
        check_remove_safe(members, {m["id"]: m["healthy"] for m in members}, plan["member"]["id"])

    member = plan["member"]
    if action == "add":
        member = dict(after[-1], healthy=False, is_leader=False, raft_index=0, raft_term=0, db_size=0, version="")
        member["error"] = "member has not started yet (no client URLs)"

    if action != "none" and not module.check_mode:
        applied = resource.apply(cluster, plan)
        if action == "add":
            member["id"] = applied["id"]
            after[-1] = dict(after[-1], id=applied["id"])
        elif action == "update":
            member = dict(member, peer_urls=desired["peer_urls"])

    final = after
    if module.params["wait"] and not module.check_mode:
        if desired["state"] == "present":
            member, cluster = resource.wait_present(member["id"], module.params["wait_timeout"])
            final = cluster["members"]
        elif member is not None:
            resource.wait_absent(member["id"], module.params["wait_timeout"])

    member_id = member["id"] if member is not None and desired["state"] == "present" else None
    if member is not None and desired["state"] == "present" and not member["name"]:
        member = dict(member, name=desired["name"])
    result = {
        "changed": action != "none",
        "action": action,
        "reasons": plan["reasons"],
        "executed": resource.executed,
        "member": member,
        "initial_cluster": initial_cluster(final, desired["name"], member_id),
        "initial_cluster_state": "existing",
        "leader_transferred_to": resource.leader_transferred_to,
    }
    if module._diff:
        result["diff"] = {
            "before": {"members": members_view(members)},
            "after": {"members": members_view(after)},
        }
    return result


def main():
    argument_spec = etcd_argument_spec()
    argument_spec.update(
        name={"type": "str", "required": True},
        peer_urls={"type": "list", "elements": "str"},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
        wait={"type": "bool", "default": False},
        wait_timeout={"type": "int", "default": 120},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ("peer_urls",))],
        required_together=etcd_required_together(),
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    try:
        result = run(module, EtcdClient.from_params(module.params))
    except EtcdError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
