#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rabbitmq_quorum_members
short_description: Grow quorum queues onto a RabbitMQ node, shrink them off one, or report their members
version_added: 0.3.0
description:
  - Reads every quorum queue (of O(vhost), whose name matches O(queue_pattern)) with C(rabbitmqctl list_queues) -
    leader, members, members online - and reports the queues below quorum and the under-replicated ones.
  - O(state=present) - O(node) becomes a member of every such queue it is not a member of yet
    (C(rabbitmq-queues add_member)). O(node) must be running in the cluster.
  - O(state=absent) - O(node) stops being a member of every such queue (C(rabbitmq-queues delete_member)), for
    example before the node leaves the cluster, or after it was lost. O(node) may be stopped.
  - O(state=query) - reports only.
  - Queues that already have (or lack) O(node) are left alone, so a run that changes nothing reports C(changed=false).
  - Refused before anything changes - adding to or removing from a queue without quorum (a membership change needs a
    majority to commit, and the command would time out), a removal that would leave a queue without a majority of
    online members, and the removal of a queue's last member (delete the queue instead). The message lists the
    queues.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  state:
    description:
      - What to do (see above).
    type: str
    choices: [present, absent, query]
    default: query
  node:
    description:
      - The node (C(name@host)) to add to or remove from the queues. Required with O(state=present) and
        O(state=absent).
    type: str
  vhost:
    description:
      - Only the quorum queues of this virtual host; default - every virtual host.
    type: str
  queue_pattern:
    description:
      - Only the queues whose name matches this regular expression (Python syntax, searched anywhere in the name
        like a RabbitMQ policy pattern; anchor it with C(^) and C($)).
    type: str
    default: ".*"
  cluster_node:
    description:
      - The running cluster member the CLI tools talk to (C(-n)); default - the node they talk to by default
        (E(RABBITMQ_NODENAME), else C(rabbit@<short hostname>)).
    type: str
  rabbitmq_queues_path:
    description:
      - C(rabbitmq-queues) to run, a name looked up in E(PATH) (and the sbin directories) or an absolute path.
    type: str
    default: rabbitmq-queues
extends_documentation_fragment:
  - apiplatform.ha.rabbitmq_cli
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the queues and returns in RV(added) / RV(removed) the queues that would change, with the diff; runs
      no command that changes anything.
  diff_mode:
    support: full
    details: Shows the members of every queue that changes (V(vhost/name) -> members), before and after.
  platform:
    platforms: posix
notes:
  - Quorum queue membership has no management HTTP API equivalent for changes, and the API's C(members) lagged more
    than 6 s behind after a shrink on RabbitMQ 3.10, so this module reads with C(rabbitmqctl list_queues --formatter
    json) (fresh right after a change) and changes with C(rabbitmq-queues). The tools talk to O(cluster_node), which
    must run; they work when other nodes are down.
  - RV(queues) after a change is read again after the last command.
seealso:
  - module: apiplatform.ha.rabbitmq_cluster_member
  - module: apiplatform.ha.rabbitmq_cluster_info
"""

EXAMPLES = r"""
- name: Grow every quorum queue onto the new node
  apiplatform.ha.rabbitmq_quorum_members:
    state: present
    node: rabbit@node4
  become: true

- name: Move the replicas of the "orders" queues off node3 before it leaves
  apiplatform.ha.rabbitmq_quorum_members:
    state: absent
    node: rabbit@node3
    vhost: shop
    queue_pattern: "^orders\\."
  become: true

- name: Wait until every quorum queue has all its members online
  apiplatform.ha.rabbitmq_quorum_members:
    state: query
  register: __qq
  until: __qq.under_replicated | length == 0
  retries: 40
  delay: 3
  become: true
"""

RETURN = r"""
queues:
  description:
    - Every quorum queue of O(vhost) whose name matches O(queue_pattern), sorted by vhost and name, at the end (in
      check mode as read). C(online) lists the members whose node runs; C(has_quorum) whether more than half of the
      members are online (the queue accepts and delivers messages). C(leader) may be stale while a queue has no
      quorum.
  returned: always
  type: list
  elements: dict
  sample:
    - {vhost: /, name: orders, leader: rabbit@node1, members: [rabbit@node1, rabbit@node2, rabbit@node3],
       online: [rabbit@node1, rabbit@node2, rabbit@node3], has_quorum: true}
added:
  description: The queues O(node) was added to (in check mode, would be added to).
  returned: always
  type: list
  elements: dict
  sample: [{vhost: /, name: orders}]
removed:
  description: The queues O(node) was removed from (in check mode, would be removed from).
  returned: always
  type: list
  elements: dict
  sample: []
below_quorum:
  description: Queues (as in RV(queues)) whose online members are fewer than a majority of their members; they are
    unavailable until enough members come back.
  returned: always
  type: list
  elements: dict
  sample: []
under_replicated:
  description: Queues (as in RV(queues)) with at least one member offline; includes RV(below_quorum).
  returned: always
  type: list
  elements: dict
  sample: []
node:
  description: O(node) (null with O(state=query) without it).
  returned: always
  type: str
  sample: rabbit@node3
executed:
  description: The commands that changed something, in order; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["rabbitmq-queues add_member --vhost / orders rabbit@node3"]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq_cli import (
    RabbitMQCli,
    RabbitMQCliAppStoppedError,
    RabbitMQCliError,
    RabbitMQCliRefusedError,
    below_quorum,
    compile_pattern,
    members_after,
    plan_quorum_members,
    public_queue,
    qname,
    rabbitmq_cli_argument_spec,
    resolve_executable,
    under_replicated,
    validate_node_name,
)


def normalize(params):
    return {
        "state": params["state"],
        "node": validate_node_name(params["node"], "node") if params["node"] else None,
        "cluster_node": validate_node_name(params["cluster_node"], "cluster_node") if params["cluster_node"] else None,
        "vhost": params["vhost"],
        "pattern": compile_pattern(params["queue_pattern"], "queue_pattern"),
    }


def ref(queue):
    return {"vhost": queue["vhost"], "name": queue["name"]}


class QuorumMembers:
    """The quorum queues of the cluster (one vhost or all): read, plan, apply."""

    def __init__(self, module, ctl, queues_cli, desired):
        self.module = module
        self.ctl = ctl
        self.queues_cli = queues_cli
        self.desired = desired
        self.executed = []

    def read(self):
        via = self.desired["cluster_node"]
        try:
            vhosts = [self.desired["vhost"]] if self.desired["vhost"] else self.ctl.vhosts(node=via)
            queues = []
            for vhost in vhosts:
                queues += self.ctl.quorum_queues(vhost, node=via)
        except RabbitMQCliAppStoppedError:
            raise RabbitMQCliRefusedError(
                f"{via or 'the node rabbitmqctl talks to'} runs but its rabbit app is stopped; the queues are read "
                "through a running member. Set cluster_node to one (or run the task on one)."
            ) from None
        pattern = self.desired["pattern"]
        return sorted((q for q in queues if pattern.search(q["name"])), key=lambda q: (q["vhost"], q["name"]))

    def check_node_runs(self):
        view = self.ctl.cluster_status(node=self.desired["cluster_node"])
        node = self.desired["node"]
        if node not in view["running_nodes"]:
            where = "a stopped member of" if node in view["nodes"] else "not a member of"
            raise RabbitMQCliRefusedError(
                f"node: {node} is {where} the cluster (running: {', '.join(view['running_nodes'])}); quorum queue "
                "replicas can only be added on a running member. Join or start it first "
                "(apiplatform.ha.rabbitmq_cluster_member). Nothing was changed."
            )

    def apply(self, plan):
        node = self.desired["node"]
        via = self.desired["cluster_node"]
        steps = [("add_member", q) for q in plan["add"]] + [("delete_member", q) for q in plan["remove"]]
        for verb, q in steps:
            args = (verb, "--vhost", q["vhost"], q["name"], node)
            try:
                self.queues_cli.run(*args, node=via)
            except RabbitMQCliError as e:
                done = "; ".join(self.executed) or "nothing"
                raise type(e)(f"{e} (queue {qname(q)}; already done: {done})") from None
            self.executed.append(self.queues_cli.describe(self.queues_cli.command(args, via)))

    def run(self):
        state = self.desired["state"]
        node = self.desired["node"]
        queues = self.read()
        plan = {"add": [], "remove": []}
        if state == "present" and any(node not in q["members"] for q in queues):
            self.check_node_runs()
        if state in ("present", "absent"):
            plan = plan_quorum_members(queues, node, state)
        changing = plan["add"] + plan["remove"]
        final = queues
        if changing and not self.module.check_mode:
            self.apply(plan)
            final = self.read()
        result = {
            "changed": bool(changing),
            "node": node,
            "queues": [public_queue(q) for q in final],
            "added": [ref(q) for q in plan["add"]],
            "removed": [ref(q) for q in plan["remove"]],
            "below_quorum": [public_queue(q) for q in below_quorum(final)],
            "under_replicated": [public_queue(q) for q in under_replicated(final)],
            "executed": self.executed,
        }
        if self.module._diff:
            result["diff"] = {
                "before": {qname(q): q["members"] for q in changing},
                "after": {qname(q): members_after(q, node, state) for q in changing},
            }
        return result


def run(module):
    desired = normalize(module.params)
    ctl = RabbitMQCli(
        module.run_command,
        resolve_executable(module.params["rabbitmqctl_path"], "rabbitmqctl_path", module.get_bin_path),
    )
    queues_cli = RabbitMQCli(
        module.run_command,
        resolve_executable(module.params["rabbitmq_queues_path"], "rabbitmq_queues_path", module.get_bin_path),
    )
    return QuorumMembers(module, ctl, queues_cli, desired).run()


def main():
    argument_spec = rabbitmq_cli_argument_spec()
    argument_spec.update(
        state={"type": "str", "default": "query", "choices": ["present", "absent", "query"]},
        node={"type": "str"},
        vhost={"type": "str"},
        queue_pattern={"type": "str", "default": ".*"},
        cluster_node={"type": "str"},
        rabbitmq_queues_path={"type": "str", "default": "rabbitmq-queues"},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ("node",)), ("state", "absent", ("node",))],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except RabbitMQCliError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
