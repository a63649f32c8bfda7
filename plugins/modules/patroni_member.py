#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_member
short_description: Start, remove or rebuild one member of a Patroni cluster
version_added: 0.2.0
description:
  - Makes one Patroni member (identified by its name) present in the cluster, absent from it, or reinitialized from
    the leader.
  - Run it on the member's own host (O(state=present) and O(state=absent) control the local systemd unit O(service));
    use C(delegate_to) to act on another member. O(api_url) may point at any member.
  - O(state=present) - a member listed in C(GET /cluster) is present (a leader too). Otherwise, when O(service) is
    stopped, it is enabled and started with C(systemctl). With O(wait=true) the module then waits until the member
    is a replica in state V(streaming) with lag at most O(max_lag_bytes) (or the leader).
  - O(state=absent) - the member leaves the cluster cleanly. A leader is refused (switch over first with
    M(apiplatform.ha.patroni_switchover) or the C(switchover.yml) playbook). Otherwise O(service) is stopped and
    disabled, and with O(wait=true) the module waits until the member is gone from C(GET /cluster).
  - O(state=reinitialized) - a diverged or stale replica is rebuilt from the leader with C(POST /reinitialize) on the
    member's own REST API. This B(deletes the member's data directory), so it needs O(confirm=true). With
    O(force=false) (the default) a member that already streams from the leader, on the leader's timeline, with lag at
    most O(max_lag_bytes) is left alone (not changed), which makes the task safe to re-run; O(force=true) rebuilds it
    anyway. The leader is refused. With O(wait=true) the module waits until PostgreSQL was restarted by the rebuild
    and the member streams again.
  - Every change is refused while the cluster is paused (maintenance mode); a run with nothing to change succeeds.
  - A member name that is not in the cluster fails with the names of the members that are, when that name must exist
    (O(state=reinitialized), or O(state=present) with the service already running and O(wait=false)).
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  name:
    description:
      - Patroni member name (C(name) in patroni.yml).
    type: str
    required: true
  state:
    description:
      - What the member should be.
    type: str
    choices: [present, absent, reinitialized]
    default: present
  service:
    description:
      - systemd unit of the local Patroni (Debian's packaged unit is C(patroni@15-main)).
    type: str
    default: patroni
  confirm:
    description:
      - Required with O(state=reinitialized), and must be V(true) then, because the rebuild deletes the member's data
        directory.
    type: bool
  force:
    description:
      - With O(state=reinitialized), rebuild even a member that streams from the leader within O(max_lag_bytes).
    type: bool
    default: false
  max_lag_bytes:
    description:
      - Largest lag in bytes (as C(GET /cluster) reports it) of a member that counts as healthy.
    type: int
    default: 1048576
  wait:
    description:
      - Wait for the goal of O(state) (see above). Ignored in check mode.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true).
    type: int
    default: 300
extends_documentation_fragment:
  - apiplatform.ha.patroni
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the cluster and the service state and reports the planned action and diff; runs no systemctl
      command that changes anything and sends no request that changes anything.
  diff_mode:
    support: full
    details: Shows the member (name, role, state, timeline, lag) and the service state before and after.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.patroni) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.patroni
seealso:
  - module: apiplatform.ha.patroni_switchover
  - module: apiplatform.ha.postgresql_replication_info
"""

EXAMPLES = r"""
- name: Rebuild a diverged replica from the leader
  apiplatform.ha.patroni_member:
    name: dc2-node2
    state: reinitialized
    confirm: true
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ vault_patroni_restapi_password }}"

- name: Take dc1-node2 out of the cluster (run on that host)
  apiplatform.ha.patroni_member:
    name: dc1-node2
    state: absent
    service: patroni
  delegate_to: dc1-node2
  become: true

- name: Bring it back and wait until it streams
  apiplatform.ha.patroni_member:
    name: dc1-node2
    state: present
    wait_timeout: 600
  delegate_to: dc1-node2
  become: true
"""

RETURN = r"""
action:
  description: What the module did (or would do in check mode).
  returned: always
  type: str
  sample: reinitialize
  choices: [none, start, stop, reinitialize, wait]
reasons:
  description: Why that action was chosen.
  returned: always
  type: list
  elements: str
  sample: ["pg3 (role replica, state stopped, timeline 2, lag unknown) is not streaming within max_lag_bytes"]
executed:
  description: The commands and requests that changed something, in order; empty in check mode and when nothing
    changed.
  returned: always
  type: list
  elements: str
  sample: ["POST http://10.0.0.3:8008/reinitialize from_leader=true"]
member:
  description: The member as C(GET /cluster) lists it at the end (null when it is not listed).
  returned: always
  type: dict
  sample:
    name: pg3
    host: 10.0.0.3
    port: 5432
    role: replica
    state: streaming
    timeline: 3
    lag: 0
    receive_lag: 0
    replay_lag: 0
    tags: {}
    nofailover: false
    api_url: http://10.0.0.3:8008
leader:
  description: Name of the cluster's leader at the end.
  returned: always
  type: str
  sample: pg1
service:
  description: State of O(service) before the change (null for O(state=reinitialized), which does not read it).
  returned: always
  type: dict
  sample: {active: true, enabled: true}
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.patroni import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    PatroniClient,
    PatroniError,
    PatroniParameterError,
    PatroniRefusedError,
    PatroniTimeoutError,
    SystemdService,
    describe,
    find_member,
    is_replica_healthy,
    member_names,
    member_view,
    patroni_argument_spec,
    patroni_required_together,
    plan_member,
)
from ansible_collections.apiplatform.ha.plugins.module_utils.waiting import wait_until


def normalize(params):
    for option in ("max_lag_bytes", "wait_timeout"):
        if params[option] < 0:
            raise PatroniParameterError(f"{option}: must be 0 or more, got {params[option]}")
    if params["state"] == "reinitialized" and not params["confirm"]:
        raise PatroniParameterError(
            f"confirm: state=reinitialized deletes the data directory of {params['name']!r} and copies it again from "
            "the leader; set confirm: true to do that."
        )
    return {
        "name": params["name"],
        "state": params["state"],
        "force": params["force"],
        "max_lag_bytes": params["max_lag_bytes"],
    }


def expected_service(service, plan):
    """Service state after ``plan`` (for the diff)."""
    if service is None:
        return None
    after = dict(service)
    for verb in plan["commands"]:
        after.update({"start": {"active": True}, "stop": {"active": False}}.get(verb, {}))
        after.update({"enable": {"enabled": True}, "disable": {"enabled": False}}.get(verb, {}))
    return after


class PatroniMember:
    """One Patroni member: read the cluster (and the local service), plan, apply, wait."""

    def __init__(self, module, client, desired, clock=time.monotonic):
        self.module = module
        self.client = client
        self.desired = desired
        self.clock = clock
        self.executed = []
        self._service = None

    @property
    def service(self):
        if self._service is None:
            systemctl = self.module.get_bin_path("systemctl", required=True)
            self._service = SystemdService(self.module.run_command, systemctl, self.module.params["service"])
        return self._service

    def read(self):
        cluster = self.client.cluster()
        member = find_member(cluster, self.desired["name"])
        if self.desired["state"] == "reinitialized":
            return cluster, None
        if self.desired["state"] == "absent" and member is not None and member["role"] in ("leader", "standby_leader"):
            return cluster, {"active": True, "enabled": True}  # refused by plan_member before any systemctl call
        return cluster, self.service.state()

    def apply(self, plan):
        if plan["action"] == "reinitialize":
            url = plan["member"]["api_url"]
            before = self.client.patroni(url).get("postmaster_start_time")
            self.client.reinitialize(url)
            self.executed.append(f"POST {url}/reinitialize from_leader=true")
            return before
        for verb in plan["commands"]:
            self.executed.append(self.service.run(verb))
        return None

    def wait(self, plan, previous_start, timeout):
        name = self.desired["name"]
        max_lag = self.desired["max_lag_bytes"]
        state = {"cluster": None, "member": None}

        def read():
            try:
                state["cluster"] = self.client.cluster()
            except PatroniError:
                return None
            state["member"] = find_member(state["cluster"], name)
            return state["member"]

        def streaming():
            member = read()
            if member is None:
                return False
            if member["role"] in ("leader", "standby_leader"):
                return True
            return is_replica_healthy(member, state["cluster"]["leader_timeline"], max_lag)

        def rebuilt():
            if not streaming():
                return False
            try:
                started = self.client.patroni(state["member"]["api_url"]).get("postmaster_start_time")
            except PatroniError:
                return False
            return started is not None and started != previous_start

        def gone():
            try:
                state["cluster"] = self.client.cluster()
            except PatroniError:
                return False
            state["member"] = find_member(state["cluster"], name)
            return state["member"] is None

        goal = {"reinitialize": rebuilt, "stop": gone}.get(plan["action"], streaming)
        if not wait_until(goal, timeout, interval=1.0):
            member = state["member"]
            seen = describe(member) if member else "not listed"
            known = member_names(state["cluster"]) if state["cluster"] else "(cluster not readable)"
            what = {
                "reinitialize": "rebuilt and streaming within max_lag_bytes",
                "stop": "gone from the cluster",
            }.get(plan["action"], "streaming within max_lag_bytes (or leader)")
            raise PatroniTimeoutError(
                f"member {name!r} was not {what} within wait_timeout={timeout} s (last seen: {seen}; members: "
                f"{known}). Read the Patroni log on that host (journalctl -u {self.module.params['service']})."
            )
        return state["cluster"], state["member"]


def run(module, client):
    desired = normalize(module.params)
    resource = PatroniMember(module, client, desired)
    cluster, service = resource.read()
    plan = plan_member(cluster, desired["name"], desired["state"], service, desired["max_lag_bytes"], desired["force"])
    action = plan["action"]
    member = plan["member"]
    if action == "wait" and not module.params["wait"] and member is not None:
        raise PatroniRefusedError(
            f"{plan['reasons'][0]}. Wait for it (wait=true) or repair it (state=reinitialized with confirm=true)."
        )
    if action == "wait" and not module.params["wait"]:
        raise PatroniParameterError(
            f"name: no member named {desired['name']!r} in the cluster although service {module.params['service']!r} "
            f"is active (members: {member_names(cluster)}). Check the name, or wait for Patroni to register "
            "(wait=true)."
        )
    changed = action not in ("none", "wait")
    previous_start = None
    if changed and not module.check_mode:
        previous_start = resource.apply(plan)
    final_member = member
    if module.params["wait"] and not module.check_mode and (changed or action == "wait"):
        cluster, final_member = resource.wait(plan, previous_start, module.params["wait_timeout"])

    result = {
        "changed": changed,
        "action": action,
        "reasons": plan["reasons"],
        "executed": resource.executed,
        "member": final_member,
        "leader": cluster["leader"],
        "service": service,
    }
    if module._diff:
        after_member = member_view(member)
        if action == "stop":
            after_member = None
        elif action == "reinitialize" and after_member is not None:
            after_member = dict(after_member, state="streaming", timeline=cluster["leader_timeline"], lag=0)
        result["diff"] = {
            "before": {"member": member_view(member), "service": service},
            "after": {"member": after_member, "service": expected_service(service, plan)},
        }
    return result


def main():
    argument_spec = patroni_argument_spec()
    argument_spec.update(
        name={"type": "str", "required": True},
        state={"type": "str", "default": "present", "choices": ["present", "absent", "reinitialized"]},
        service={"type": "str", "default": "patroni"},
        confirm={"type": "bool"},
        force={"type": "bool", "default": False},
        max_lag_bytes={"type": "int", "default": 1048576},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 300},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "reinitialized", ("confirm",))],
        required_together=patroni_required_together(),
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)

    try:
        result = run(module, PatroniClient.from_params(module.params))
    except PatroniError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
