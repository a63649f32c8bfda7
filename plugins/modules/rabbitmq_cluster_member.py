#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rabbitmq_cluster_member
short_description: Join a RabbitMQ node to a cluster, forget one, or reset one and join it again
version_added: 0.3.0
description:
  - Manages the cluster membership of one RabbitMQ node with C(rabbitmqctl).
  - O(state=present) - the node O(node) (default - the node C(rabbitmqctl) talks to) becomes a member of the cluster
    of O(cluster_node). A node already in that cluster is left alone (its rabbit app is started when it is stopped).
    A standalone node is joined with C(stop_app), C(join_cluster) and C(start_app); like every C(join_cluster) this
    drops the standalone node's own definitions and messages. With O(wait=true) the module then waits until
    O(cluster_node)'s C(cluster_status) lists the node among its running nodes.
  - O(state=present) refuses, changing nothing, when O(cluster_node) cannot be reached or its app is stopped (checked
    before the node's app is stopped), when the node belongs to another multi-node cluster, when it was forgotten by
    the cluster while it was down (its local data is stale), and when the cluster still lists it but the node does not
    know the cluster (its data was reset or rebuilt). The message names the fix - O(state=reset) with
    O(confirm=true). When C(join_cluster) fails after C(stop_app), the app is started again so the node is not left
    stopped.
  - O(state=reset) - B(drops the node's local data) (it needs O(confirm=true)) and joins it to the cluster of
    O(cluster_node) - C(stop_app), C(reset), C(forget_cluster_node) on O(cluster_node) when the cluster still lists
    the node, C(join_cluster), C(start_app); then it waits like O(state=present). It is an action, not a state - every
    run resets the node. A graceful C(reset) tells the node's cluster peers that it leaves; when none of those peers
    runs, C(reset) would wait about 10 minutes for them (RabbitMQ 3.10 retries its table wait 10 times 30 s) and fail,
    so C(force_reset) is used instead - chosen before the reset, and also used when C(reset) fails that way. The
    quorum queue replicas on the node are dropped with its data; grow them back with
    M(apiplatform.ha.rabbitmq_quorum_members).
  - O(state=absent) - the cluster forgets O(node) (C(forget_cluster_node)), as seen from O(cluster_node) (default -
    the node C(rabbitmqctl) talks to), which must run. A node that is still running is refused (stop it first, or
    reset it), and so is the cluster's last disc node. A node that is not a member is not changed. The forgotten node
    keeps its own data; to bring it back, use O(state=reset) on it.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  state:
    description:
      - What to do with the node's membership (see above).
    type: str
    choices: [present, absent, reset]
    default: present
  node:
    description:
      - With O(state=present) and O(state=reset), the name of the local node to join (C(name@host)); default - the
        node C(rabbitmqctl) talks to (E(RABBITMQ_NODENAME), else C(rabbit@<short hostname>)).
      - With O(state=absent) (required), the node the cluster forgets.
    type: str
  cluster_node:
    description:
      - With O(state=present) and O(state=reset) (required), a running member of the cluster to join.
      - With O(state=absent), the running member that forgets O(node); default - the node C(rabbitmqctl) talks to.
    type: str
  confirm:
    description:
      - Must be V(true) with O(state=reset), which drops the node's local data.
    type: bool
    default: false
  wait:
    description:
      - After a change, wait until the node is listed running by O(cluster_node) (O(state=present), O(state=reset)),
        or no longer listed as a member (O(state=absent)). Ignored in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true).
    type: int
    default: 120
extends_documentation_fragment:
  - apiplatform.ha.rabbitmq_cli
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the node and the cluster and reports the planned action and diff; runs no command that changes
      anything.
  diff_mode:
    support: full
    details: Shows the cluster's members and running nodes before and after.
  platform:
    platforms: posix
notes:
  - Cluster membership has no management HTTP API equivalent, so this module uses C(rabbitmqctl) (C(cluster_status
    --formatter json) for the cluster's view). The node's own name, whether its app runs and the members it knows are
    read with C(rabbitmqctl eval) of one fixed read-only expression, because that works while the node's app is
    stopped (C(cluster_status) needs the app running on the node it asks).
  - O(cluster_node) and O(node) must be reachable from the host that runs the module with the same Erlang cookie. A
    node whose Erlang VM does not run cannot be joined or reset (start its service first).
seealso:
  - module: apiplatform.ha.rabbitmq_quorum_members
  - module: apiplatform.ha.rabbitmq_cluster_info
"""

EXAMPLES = r"""
- name: Join this node to the cluster of rabbit@node1
  apiplatform.ha.rabbitmq_cluster_member:
    node: rabbit@node2
    cluster_node: rabbit@node1
  become: true

- name: The cluster forgets node3 (stopped), seen from node1
  apiplatform.ha.rabbitmq_cluster_member:
    state: absent
    node: rabbit@node3
  delegate_to: node1
  become: true

- name: Rebuild node3 (drops its local data) and join it again
  apiplatform.ha.rabbitmq_cluster_member:
    state: reset
    confirm: true
    node: rabbit@node3
    cluster_node: rabbit@node1
    wait_timeout: 300
  delegate_to: node3
  become: true
"""

RETURN = r"""
action:
  description: What the module did (or would do in check mode).
  returned: always
  type: str
  sample: joined
  choices: [joined, started, already_member, reset_and_joined, forgotten, not_member]
node:
  description: The node joined or reset (O(state=present), O(state=reset)), or the node forgotten (O(state=absent)).
  returned: always
  type: str
  sample: rabbit@node2
cluster_node:
  description: The cluster member the module read the cluster from (and joined, or forgot O(node) through).
  returned: always
  type: str
  sample: rabbit@node1
cluster_nodes:
  description: Members (disc and RAM nodes) of the cluster at the end, as O(cluster_node) lists them; in check mode
    as read before.
  returned: always
  type: list
  elements: str
  sample: [rabbit@node1, rabbit@node2, rabbit@node3]
running_nodes:
  description: The cluster's running nodes at the end (in check mode as read before).
  returned: always
  type: list
  elements: str
  sample: [rabbit@node1, rabbit@node2, rabbit@node3]
partitions:
  description: Pairs of nodes that report a network partition between them (empty when none), as in
    M(apiplatform.ha.rabbitmq_cluster_info).
  returned: always
  type: list
  elements: list
  sample: []
reset_command:
  description: With O(state=reset), V(reset) or V(force_reset) (the one run, or that would run in check mode).
  returned: when state=reset
  type: str
  sample: reset
reasons:
  description: Why that action was chosen.
  returned: always
  type: list
  elements: str
  sample: ["rabbit@node2 is a standalone node, not in rabbit@node1's cluster"]
executed:
  description: The commands that changed something, in order; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["rabbitmqctl -n rabbit@node2 stop_app", "rabbitmqctl -n rabbit@node2 join_cluster rabbit@node1",
           "rabbitmqctl -n rabbit@node2 start_app"]
"""

import contextlib
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq_cli import (
    INCONSISTENT_MARKER,
    RESET_FIX,
    UNREACHABLE_PEERS_MARKERS,
    RabbitMQCli,
    RabbitMQCliAppStoppedError,
    RabbitMQCliCommandError,
    RabbitMQCliError,
    RabbitMQCliNodeDownError,
    RabbitMQCliParameterError,
    RabbitMQCliRefusedError,
    RabbitMQCliTimeoutError,
    plan_forget,
    plan_present,
    plan_reset,
    rabbitmq_cli_argument_spec,
    resolve_executable,
    validate_node_name,
)
from ansible_collections.apiplatform.ha.plugins.module_utils.waiting import wait_until

ACTIONS = {"join": "joined", "start": "started", "already_member": "already_member"}


def normalize(params):
    if params["wait_timeout"] < 0:
        raise RabbitMQCliParameterError(f"wait_timeout: must be 0 or more, got {params['wait_timeout']}")
    node = validate_node_name(params["node"], "node") if params["node"] else None
    cluster_node = validate_node_name(params["cluster_node"], "cluster_node") if params["cluster_node"] else None
    if params["state"] == "reset" and not params["confirm"]:
        raise RabbitMQCliParameterError(
            f"confirm: state=reset drops the local data of {node or 'the node'} (its definitions, messages and quorum "
            "queue replicas) before joining it again; set confirm: true to do that."
        )
    if node and cluster_node and node == cluster_node:
        what = "the node to forget" if params["state"] == "absent" else "the node to join"
        raise RabbitMQCliParameterError(f"cluster_node: {cluster_node} is {what} itself; name another member")
    return {"state": params["state"], "node": node, "cluster_node": cluster_node}


def view_of(view):
    return {"cluster_nodes": view["nodes"], "running_nodes": view["running_nodes"]}


class ClusterMember:
    """One node's membership: read the cluster and the node, plan, apply, wait."""

    def __init__(self, module, ctl, desired):
        self.module = module
        self.ctl = ctl
        self.desired = desired
        self.executed = []

    def do(self, *args, node=None):
        self.ctl.run(*args, node=node)
        self.executed.append(self.ctl.describe(self.ctl.command(args, node)))

    # -- reads -------------------------------------------------------------------------------------------------------

    def read_peer(self, peer, purpose):
        """cluster_status of ``peer``, which must run; Refused (nothing changed) otherwise."""
        try:
            view = self.ctl.cluster_status(node=peer)
        except RabbitMQCliNodeDownError as e:
            raise RabbitMQCliRefusedError(
                f"cluster_node {peer} is not reachable, so {purpose}: {e} Nothing was changed."
            ) from None
        except RabbitMQCliAppStoppedError:
            raise RabbitMQCliRefusedError(
                f"cluster_node {peer} runs but its rabbit app is stopped, so {purpose}. Start it (rabbitmqctl -n "
                f"{peer} start_app) or name another running member. Nothing was changed."
            ) from None
        return view

    def read_local(self):
        node = self.desired["node"]
        try:
            identity = self.ctl.identity(node=node)
        except RabbitMQCliNodeDownError as e:
            raise RabbitMQCliNodeDownError(
                f"the node to join, {node or 'the default node'}, is not reachable: {e} Its Erlang VM must run (start "
                "its service) before it can join. Nothing was changed.",
                node=node,
            ) from None
        return identity

    def running_elsewhere(self, identity, peer_view):
        """Peers the node knows outside the peer's cluster that run (asked one by one; down ones are skipped)."""
        out = []
        for other in identity["known_nodes"]:
            if other == identity["node"] or other in peer_view["nodes"]:
                continue
            try:
                if other in self.ctl.cluster_status(node=other)["running_nodes"]:
                    out.append(other)
            except RabbitMQCliError:
                continue
        return out

    # -- writes ------------------------------------------------------------------------------------------------------

    def start_app(self, local):
        """start_app; after a failed start the app is stopped again (a failed start leaves Mnesia running, which
        blocks the next reset or start)."""
        try:
            self.do("start_app", node=local)
        except RabbitMQCliCommandError as e:
            with contextlib.suppress(RabbitMQCliError):
                self.ctl.run("stop_app", node=local)
            if INCONSISTENT_MARKER in e.detail:
                raise RabbitMQCliRefusedError(
                    f"{local} cannot start in its cluster: {e.detail}. To rejoin it, {RESET_FIX}."
                ) from None
            raise

    def join(self, local, peer, restart_on_failure):
        try:
            self.do("join_cluster", peer, node=local)
        except RabbitMQCliCommandError as e:
            restarted = ""
            if restart_on_failure:
                try:
                    self.do("start_app", node=local)
                    restarted = f" {local}'s app was started again, outside the cluster of {peer}."
                except RabbitMQCliError as start_error:
                    restarted = f" Starting {local}'s app again failed too: {start_error}"
            if INCONSISTENT_MARKER in e.detail:
                raise RabbitMQCliRefusedError(
                    f"{local} could not join {peer}: {e.detail}.{restarted} To rejoin it, {RESET_FIX}."
                ) from None
            raise RabbitMQCliCommandError(f"{e}.{restarted}", cmd=e.cmd, rc=e.rc, detail=e.detail) from None

    def wait_running(self, local, peer, timeout):
        state = {"view": None}

        def listed():
            try:
                state["view"] = self.ctl.cluster_status(node=peer)
            except RabbitMQCliError:
                return False
            return local in state["view"]["running_nodes"]

        if not wait_until(listed, timeout, interval=1.0):
            seen = ", ".join(state["view"]["running_nodes"]) if state["view"] else "cluster_status did not answer"
            raise RabbitMQCliTimeoutError(
                f"{local} was not listed among the running nodes of {peer}'s cluster_status within "
                f"wait_timeout={timeout} s (running: {seen}). Read the node's log (/var/log/rabbitmq/{local}.log)."
            )
        return state["view"]

    def wait_forgotten(self, node, via, timeout):
        state = {"view": None}

        def gone():
            try:
                state["view"] = self.ctl.cluster_status(node=via)
            except RabbitMQCliError:
                return False
            return node not in state["view"]["nodes"]

        if not wait_until(gone, timeout, interval=1.0):
            raise RabbitMQCliTimeoutError(
                f"{node} was still listed as a member by {via if via else 'the local node'} after "
                f"wait_timeout={timeout} s."
            )
        return state["view"]

    # -- states ------------------------------------------------------------------------------------------------------

    def present(self):
        peer = self.desired["cluster_node"]
        peer_view = self.read_peer(peer, "no node can join its cluster")
        identity = self.read_local()
        local = identity["node"]
        if local == peer:
            raise RabbitMQCliParameterError(f"cluster_node: {peer} is the node to join itself; name another member")
        plan = plan_present(local, identity, peer, peer_view)
        changed = plan["action"] != "already_member"
        view = peer_view
        if changed and not self.module.check_mode:
            if plan["action"] == "join":
                if identity["running"]:
                    self.do("stop_app", node=local)
                self.join(local, peer, restart_on_failure=identity["running"])
            self.start_app(local)
        must_wait = changed or local not in peer_view["running_nodes"]
        if self.module.params["wait"] and not self.module.check_mode and must_wait:
            view = self.wait_running(local, peer, self.module.params["wait_timeout"])
        elif changed and not self.module.check_mode:
            view = self.ctl.cluster_status(node=peer)
        after = {
            "cluster_nodes": sorted(set(peer_view["nodes"]) | {local}),
            "running_nodes": sorted(set(peer_view["running_nodes"]) | {local}),
        }
        return self.result(ACTIONS[plan["action"]], changed, local, peer, view, plan["reasons"], peer_view, after)

    def reset(self):
        peer = self.desired["cluster_node"]
        peer_view = self.read_peer(peer, "the node cannot be reset and joined to its cluster")
        identity = self.read_local()
        local = identity["node"]
        if local == peer:
            raise RabbitMQCliParameterError(f"cluster_node: {peer} is the node to reset itself; name another member")
        plan = plan_reset(local, identity, peer, peer_view, self.running_elsewhere(identity, peer_view))
        view = peer_view
        if not self.module.check_mode:
            if identity["running"]:
                self.do("stop_app", node=local)
            try:
                self.do(plan["reset"], node=local)
            except RabbitMQCliCommandError as e:
                if plan["reset"] != "reset" or not any(m in e.detail for m in UNREACHABLE_PEERS_MARKERS):
                    raise
                plan["reset"] = "force_reset"
                plan["reasons"].append(f"reset failed because the node's peers are unreachable ({e.detail[:200]})")
                self.do("force_reset", node=local)
            if local in self.ctl.cluster_status(node=peer)["nodes"]:
                self.do("forget_cluster_node", local, node=peer)
            self.join(local, peer, restart_on_failure=True)
            self.start_app(local)
            if self.module.params["wait"]:
                view = self.wait_running(local, peer, self.module.params["wait_timeout"])
            else:
                view = self.ctl.cluster_status(node=peer)
        after = {
            "cluster_nodes": sorted(set(peer_view["nodes"]) | {local}),
            "running_nodes": sorted(set(peer_view["running_nodes"]) | {local}),
        }
        result = self.result("reset_and_joined", True, local, peer, view, plan["reasons"], peer_view, after)
        result["reset_command"] = plan["reset"]
        return result

    def absent(self):
        node = self.desired["node"]
        via = self.desired["cluster_node"]
        try:
            view = self.ctl.cluster_status(node=via)
            via_name = via or self.ctl.identity()["node"]
        except RabbitMQCliAppStoppedError:
            raise RabbitMQCliRefusedError(
                f"{via or 'the node rabbitmqctl talks to'} runs but its rabbit app is stopped; a node is forgotten "
                "through a running member. Run this on (or set cluster_node to) a running member. Nothing was changed."
            ) from None
        if node == via_name:
            raise RabbitMQCliParameterError(
                f"node: {node} is the node the cluster is read from (cluster_node); name another running member in "
                "cluster_node, or run the task on another member"
            )
        plan = plan_forget(node, view, via_name)
        changed = plan["action"] == "forgotten"
        before = view
        if changed and not self.module.check_mode:
            self.do("forget_cluster_node", node, node=via)
            if self.module.params["wait"]:
                view = self.wait_forgotten(node, via, self.module.params["wait_timeout"])
            else:
                view = self.ctl.cluster_status(node=via)
        after = {
            "cluster_nodes": [n for n in before["nodes"] if n != node],
            "running_nodes": before["running_nodes"],
        }
        return self.result(plan["action"], changed, node, via_name, view, plan["reasons"], before, after)

    def result(self, action, changed, node, cluster_node, view, reasons, before, after):
        result = {
            "changed": changed,
            "action": action,
            "node": node,
            "cluster_node": cluster_node,
            "cluster_nodes": view["nodes"],
            "running_nodes": view["running_nodes"],
            "partitions": view["partitions"],
            "reasons": reasons,
            "executed": self.executed,
        }
        if self.module._diff:
            result["diff"] = {"before": view_of(before), "after": after if changed else view_of(before)}
        return result


def run(module):
    desired = normalize(module.params)
    ctl = RabbitMQCli(
        module.run_command,
        resolve_executable(module.params["rabbitmqctl_path"], "rabbitmqctl_path", module.get_bin_path),
    )
    resource = ClusterMember(module, ctl, desired)
    return getattr(resource, desired["state"])()


def main():
    argument_spec = rabbitmq_cli_argument_spec()
    argument_spec.update(
        state={"type": "str", "default": "present", "choices": ["present", "absent", "reset"]},
        node={"type": "str"},
        cluster_node={"type": "str"},
        confirm={"type": "bool", "default": False},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 120},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[
            ("state", "absent", ("node",)),
            ("state", "present", ("cluster_node",)),
            ("state", "reset", ("cluster_node",)),
        ],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except RabbitMQCliError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
