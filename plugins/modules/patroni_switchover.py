#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: patroni_switchover
short_description: Planned switchover of a Patroni cluster to a named or to the healthiest replica
version_added: 0.2.0
description:
  - Moves the leader role of a Patroni cluster to O(candidate), or, without O(candidate), to the healthiest replica
    (state V(streaming) or V(running), lowest lag, no C(nofailover) tag).
  - Refuses, changing nothing, when the cluster is paused (maintenance mode), when the candidate is unknown or not a
    running replica (the message names the members that could be chosen), when its lag is above O(max_lag_bytes),
    when it has the C(nofailover) tag or is on another timeline than the leader.
  - Sends C(POST /switchover) with the current leader and the candidate, then waits until the new leader accepts
    writes (C(GET /read-write) on its own REST API answers 200), at most O(wait_timeout) seconds.
  - Idempotent when O(candidate) is already the leader (nothing is sent). Without O(candidate) every run switches
    over, by design.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  candidate:
    description:
      - Member to promote. Omit to pick the healthiest replica.
    type: str
  max_lag_bytes:
    description:
      - Largest lag (bytes behind the leader, as C(GET /cluster) reports it) a candidate may have.
    type: int
    default: 1048576
  wait_timeout:
    description:
      - Seconds to wait for the new leader to accept writes after Patroni answered the switchover request.
    type: int
    default: 60
extends_documentation_fragment:
  - apiplatform.ha.patroni
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the cluster, runs every check and reports the leader it would switch to; sends no request that
      changes anything.
  diff_mode:
    support: full
    details: Shows the leader before and after.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.patroni) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.patroni
seealso:
  - module: apiplatform.ha.postgresql_replication_info
  - module: apiplatform.ha.patroni_member
  - name: Patroni REST API, switchover
    description: The request this module sends.
    link: https://patroni.readthedocs.io/en/latest/rest_api.html#switchover-and-failover-endpoints
"""

EXAMPLES = r"""
- name: Move the leader to dc2-node1 before maintenance of dc1
  apiplatform.ha.patroni_switchover:
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ vault_patroni_restapi_password }}"
    candidate: dc2-node1
  register: __patroni_switchover

- name: Switch over to the healthiest replica, if it lags less than 16 MiB
  apiplatform.ha.patroni_switchover:
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ vault_patroni_restapi_password }}"
    max_lag_bytes: 16777216
    wait_timeout: 120
"""

RETURN = r"""
previous_leader:
  description: Leader before the switchover.
  returned: always
  type: str
  sample: pg1
leader:
  description: Leader after the switchover (in check mode, the leader it would be).
  returned: always
  type: str
  sample: pg2
candidate:
  description: The member chosen (O(candidate), or the healthiest replica).
  returned: always
  type: str
  sample: pg2
reasons:
  description: Why this candidate was chosen, or why nothing was done.
  returned: always
  type: list
  elements: str
  sample: ["pg2 (role replica, state streaming, timeline 3, lag 0 bytes) is the healthiest replica"]
seconds:
  description: Seconds from the switchover request until the new leader accepted writes (0 when nothing was sent).
  returned: always
  type: float
  sample: 3.2
message:
  description: Patroni's answer to the switchover request (empty when nothing was sent).
  returned: always
  type: str
  sample: Successfully switched over to "pg2"
executed:
  description: The requests that changed the cluster, in order; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["POST http://10.0.0.1:8008/switchover leader=pg1 candidate=pg2"]
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
    find_member,
    patroni_argument_spec,
    patroni_required_together,
    plan_switchover,
)
from ansible_collections.apiplatform.ha.plugins.module_utils.waiting import wait_until


def normalize(params):
    for option in ("max_lag_bytes", "wait_timeout"):
        if params[option] < 0:
            raise PatroniParameterError(f"{option}: must be 0 or more, got {params[option]}")
    return {"candidate": params["candidate"] or None, "max_lag_bytes": params["max_lag_bytes"]}


class Switchover:
    def __init__(self, client, wait_timeout, clock=time.monotonic):
        self.client = client
        self.wait_timeout = wait_timeout
        self.clock = clock
        self.executed = []

    def read(self):
        return self.client.cluster()

    def apply(self, cluster, plan):
        """POST /switchover, then wait for the candidate to lead and accept writes; returns (leader, message, s)."""
        started = self.clock()
        candidate = find_member(cluster, plan["candidate"])
        message = self.client.switchover(plan["leader"], plan["candidate"], timeout=max(self.client.timeout, 30.0))
        self.executed.append(
            "POST {}/switchover leader={} candidate={}".format(self.client.api_url, plan["leader"], plan["candidate"])
        )
        state = {"leader": None}

        def new_leader_writes():
            try:
                state["leader"] = self.client.cluster()["leader"]
            except PatroniError:
                return False
            return state["leader"] == plan["candidate"] and self.client.accepts_writes(candidate["api_url"])

        if not wait_until(new_leader_writes, self.wait_timeout, interval=0.5):
            raise PatroniTimeoutError(
                "switchover from {!r} to {!r} was sent (Patroni answered: {}), but {!r} did not lead and accept "
                "writes at {}/read-write within wait_timeout={} s (leader now: {}). Check patronictl list and the "
                "Patroni log of {!r}.".format(
                    plan["leader"],
                    plan["candidate"],
                    message,
                    plan["candidate"],
                    candidate["api_url"],
                    self.wait_timeout,
                    state["leader"],
                    plan["candidate"],
                )
            )
        return state["leader"], message, round(self.clock() - started, 2)


def run(module, client):
    desired = normalize(module.params)
    resource = Switchover(client, module.params["wait_timeout"])
    cluster = resource.read()
    plan = plan_switchover(cluster, desired["candidate"], desired["max_lag_bytes"])
    changed = plan["action"] == "switchover"
    leader, message, seconds = (plan["candidate"] if changed else plan["leader"]), "", 0.0
    if changed and not module.check_mode:
        leader, message, seconds = resource.apply(cluster, plan)
        if leader != plan["candidate"]:  # pragma: no cover - apply() raises before
            raise PatroniRefusedError(f"Patroni switched over to {leader!r} instead of {plan['candidate']!r}")
    result = {
        "changed": changed,
        "previous_leader": plan["leader"],
        "leader": leader,
        "candidate": plan["candidate"],
        "reasons": plan["reasons"],
        "seconds": seconds,
        "message": message,
        "executed": resource.executed,
    }
    if module._diff:
        result["diff"] = {"before": {"leader": plan["leader"]}, "after": {"leader": leader}}
    return result


def main():
    argument_spec = patroni_argument_spec()
    argument_spec.update(
        candidate={"type": "str"},
        max_lag_bytes={"type": "int", "default": 1048576},
        wait_timeout={"type": "int", "default": 60},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
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
