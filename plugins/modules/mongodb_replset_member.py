#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mongodb_replset_member
short_description: Add, change or remove one member of a MongoDB replica set, one safe reconfig at a time
version_added: 0.4.0
description:
  - Connects to O(login_host), finds the set's primary from its C(hello) and changes the replica set config there
    with C(replSetReconfig), so that O(host) is a member with the requested settings (O(state=present)) or is not a
    member (O(state=absent)). A member already as requested is not changed.
  - The change is planned as a list of reconfig steps, each raising the config version by one and changing at most
    one voting member (MongoDB refuses more with code 103). A new voting data-bearing member takes two steps, as
    MongoDB documents - it is added with C(votes 0) and C(priority 0), the module waits until it is SECONDARY (its
    initial sync is done; bounded by O(wait_timeout), whatever O(wait) says), then gives it its vote and priority. A
    new arbiter, a non-voting member, a change of priority, votes, hidden or tags, and a removal take one step.
  - After each step the module waits until the new config is committed - the primary's C(replSetGetConfig) reports
    it with C(commitmentStatus) true (MongoDB 4.4 and later), else a majority of the voting members report its
    version in C(replSetGetStatus) - before it plans the next.
  - Refused before any step, changing nothing - a request MongoDB rejects (priority outside 0..1000, a priority
    above 0 for an arbiter, a hidden or a non-voting member, hidden or tags on an arbiter, an arbiter for a host that
    is a data-bearing member or the reverse, more than 7 voting members), removing the primary or making it
    unelectable (step it down first), a change after which no member could be elected, and a change after which
    fewer than a majority of the voting members would be healthy now. Each step is checked again against a fresh
    C(replSetGetStatus) right before it is applied.
  - When a step fails (the server's codes 103, 117, 74 and 93 are explained), that step changed nothing; the
    message says which steps were applied before. Running the task again plans from the set's current config and
    finishes the change.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  host:
    description:
      - The member, as C(host:port) exactly as the replica set config names it (C(rs.conf().members[].host)).
    type: str
    required: true
  state:
    description:
      - V(present) - O(host) is a member with the settings below. V(absent) - it is not a member.
    type: str
    choices: [present, absent]
    default: present
  priority:
    description:
      - Election priority, 0 to 1000 (0 - never primary).
      - Default - V(1) for a voting, visible data-bearing member; V(0) for an arbiter, a hidden member or a member
        with O(votes=0), which must have priority 0.
    type: float
  votes:
    description:
      - V(1) - the member votes in elections and counts for the majority; V(0) - it does not (priority must be 0).
      - A set has at most 7 voting members.
    type: int
    choices: [0, 1]
    default: 1
  hidden:
    description:
      - A hidden member is invisible to clients (no reads, never primary); it must have priority 0.
    type: bool
    default: false
  arbiter_only:
    description:
      - The member is an arbiter - it votes (votes 1, priority 0) but holds no data. It cannot have O(hidden) or
        O(tags).
      - MongoDB cannot turn a data-bearing member into an arbiter or back; remove the member first, wipe its data
        directory, then add it again.
    type: bool
    default: false
  tags:
    description:
      - Replica set tags of the member (read preference and write concern tag sets), as a dictionary of strings.
      - Omitted - the member's tags are left as they are (a new member gets none). V({}) removes them.
    type: dict
  wait:
    description:
      - After adding a data-bearing member, wait until it is SECONDARY. Ignored in check mode. The waits between
        steps (config committed, a new member SECONDARY before it gets its vote) always happen.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds for each wait (a config to be committed, a member to become SECONDARY); also the C(maxTimeMS) of
        each C(replSetReconfig).
    type: int
    default: 300
extends_documentation_fragment:
  - apiplatform.ha.mongodb
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the config and the status from the primary, checks the plan and returns its steps and the diff;
      sends no C(replSetReconfig).
  diff_mode:
    support: full
    details: Shows the member document (null when it is not a member) and the config version, before and after.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.mongodb) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.mongodb
notes:
  - The module connects to the primary under the name the replica set config gives it, so that name must resolve and
    be reachable from the host that runs the module.
  - A new member must already run C(mongod) with the set's C(replication.replSetName) (and the set's keyFile), with
    an empty data directory; the primary's quorum check refuses a member it cannot reach (code 74).
seealso:
  - module: apiplatform.ha.mongodb_replset_info
  - module: apiplatform.ha.mongodb_resync
"""

EXAMPLES = r"""
- name: Add mongo4 as a voting member (votes 0 first, its vote once it is SECONDARY)
  apiplatform.ha.mongodb_replset_member:
    host: mongo4.example.net:27017
    login_host: mongo1.example.net
    login_user: clusteradmin
    login_password: "{{ vault_mongodb_clusteradmin_password }}"
    replica_set: rs0
    wait_timeout: 1800

- name: Add an arbiter
  apiplatform.ha.mongodb_replset_member:
    host: arbiter1.example.net:27017
    arbiter_only: true

- name: Make mongo3 a hidden member for backups
  apiplatform.ha.mongodb_replset_member:
    host: mongo3.example.net:27017
    hidden: true
    tags:
      usage: backup

- name: Remove mongo2 (refused while it is the primary)
  apiplatform.ha.mongodb_replset_member:
    host: mongo2.example.net:27017
    state: absent
"""

RETURN = r"""
steps:
  description: The reconfig steps, in order - applied ones, or the planned ones in check mode; empty when the member
    was already as requested.
  returned: always
  type: list
  elements: str
  sample:
    - "add mongo4:27017 (_id 3) with votes 0 and priority 0, so that it syncs without counting for the majority
      (config version 5)"
    - "give mongo4:27017 its vote (votes 1, priority 1) once it is SECONDARY (config version 6)"
config_version:
  description: Version of the replica set config at the end (in check mode, the version the plan would reach).
  returned: always
  type: int
  sample: 6
member:
  description: The member document of O(host) in the config at the end (in check mode, as planned); null when it is
    not a member.
  returned: always
  type: dict
  sample:
    _id: 3
    host: mongo4:27017
    arbiterOnly: false
    buildIndexes: true
    hidden: false
    priority: 1.0
    tags: {}
    secondaryDelaySecs: 0
    votes: 1
primary:
  description: The primary (C(host:port) as the config names it) the module changed the config on.
  returned: always
  type: str
  sample: mongo1:27017
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.mongodb import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    SECONDARY,
    MongoDBCommandError,
    MongoDBError,
    MongoDBParameterError,
    MongoDBRefusedError,
    check_majority_safe,
    config_committed,
    config_member,
    connect,
    describe_member,
    find_primary,
    gives_vote,
    mongodb_argument_spec,
    mongodb_required_together,
    plan_member_change,
    public_member,
    read_config,
    read_status,
    reconfig_error,
    split_host,
    status_member,
    validate_member_request,
    wait_for,
)


def assume_secondary(status, host):
    """``status`` with ``host`` healthy and SECONDARY: a step that gives it its vote runs only once it is."""
    members = [m for m in status["members"] if m["name"].lower() != host.lower()]
    members.append({"name": host, "state": SECONDARY, "state_str": "SECONDARY", "health": 1, "info_message": ""})
    return dict(status, members=members)


class ReplSetMember:
    """One member of the set: read the config and the status on the primary, plan, check, apply step by step."""

    def __init__(self, module, primary):
        self.module = module
        self.params = module.params
        self.primary = primary
        self.host = module.params["host"]
        self.timeout = module.params["wait_timeout"]
        self.applied = []

    def desired(self, config):
        p = self.params
        return validate_member_request(
            config,
            self.host,
            p["state"],
            priority=p["priority"],
            votes=p["votes"],
            hidden=p["hidden"],
            arbiter_only=p["arbiter_only"],
            tags=p["tags"],
        )

    def preflight(self, config, status, steps):
        """Check every step against the status read now, before anything changes."""
        previous = config
        for _description, new_config in steps:
            seen = assume_secondary(status, self.host) if gives_vote(previous, new_config, self.host) else status
            check_majority_safe(previous, seen, new_config)
            previous = new_config

    # -- waits -------------------------------------------------------------------------------------------------------

    def wait_secondary(self, why):
        def check():
            member = status_member(read_status(self.primary), self.host)
            done = member is not None and member["state"] == SECONDARY and member["health"] == 1
            return done, describe_member(member, self.host)

        wait_for(check, self.timeout, f"{self.host} to become SECONDARY ({why})")

    def wait_committed(self, version):
        wait_for(
            lambda: config_committed(self.primary, version),
            self.timeout,
            f"config version {version} to be committed by a majority of the voting members",
        )

    # -- apply -------------------------------------------------------------------------------------------------------

    def apply(self, description, planned):
        """One step: fresh checks, replSetReconfig on the primary, wait for commitment."""
        live = read_config(self.primary)
        if gives_vote(live, planned, self.host):
            self.wait_secondary("before it gets its vote")
            live = read_config(self.primary)
        expected = int(planned["version"]) - 1
        if int(live["version"]) != expected:
            raise MongoDBRefusedError(
                f"the replica set config changed meanwhile (version {live['version']}, this step expected "
                f"{expected}); someone else reconfigured the set. Run the task again: it plans from the current "
                "config."
            )
        check_majority_safe(live, read_status(self.primary), planned)
        send = dict(live, members=planned["members"], version=planned["version"])
        options = {"maxTimeMS": self.timeout * 1000} if self.timeout > 0 else {}
        try:
            self.primary.command("replSetReconfig", send, **options)
        except MongoDBCommandError as e:
            raise reconfig_error(e, description, self.primary.address) from None
        self.applied.append(description)
        self.wait_committed(planned["version"])
        added = config_member(live, self.host) is None and config_member(planned, self.host) is not None
        return added and not config_member(planned, self.host).get("arbiterOnly")

    def check_new_member_answers(self):
        """A new member must answer before the first reconfig: the primary's quorum check skips a non-voting
        member, so an unreachable one would otherwise be written into the config."""
        params = dict(self.params, login_user=None, login_password=None)
        probe = connect(params, *split_host(self.host, "host"))
        try:
            probe.hello()
        except MongoDBError as e:
            raise MongoDBRefusedError(
                f"host: {self.host} does not answer ({e}). Start mongod there (with this replica set's name and "
                "keyFile) and check that the address is the one the other members reach. Nothing was changed."
            ) from None
        finally:
            probe.close()

    def run(self):
        config = read_config(self.primary)
        status = read_status(self.primary)
        state = self.params["state"]
        steps = plan_member_change(config, self.host, state, self.desired(config))
        self.preflight(config, status, steps)
        if steps and state == "present" and config_member(config, self.host) is None:
            self.check_new_member_answers()
        final = steps[-1][1] if steps else config
        if steps and not self.module.check_mode:
            added_data_member = False
            try:
                for description, planned in steps:
                    added_data_member = self.apply(description, planned) or added_data_member
                if added_data_member and self.params["wait"]:
                    self.wait_secondary("after it was added")
            except MongoDBError as e:
                raise self.with_progress(e, len(steps)) from None
            final = read_config(self.primary)
            status = read_status(self.primary)
        result = {
            "changed": bool(steps),
            "steps": [description for description, _config in steps],
            "config_version": int(final["version"]),
            "member": public_member(config_member(final, self.host)),
            "primary": status["primary"] or self.primary.address,
        }
        if self.module._diff:
            after = steps[-1][1] if steps else config
            result["diff"] = {
                "before": {
                    "member": public_member(config_member(config, self.host)),
                    "config_version": int(config["version"]),
                },
                "after": {
                    "member": public_member(config_member(after, self.host)),
                    "config_version": int(after["version"]),
                },
            }
        return result

    def with_progress(self, error, total):
        """The error with which steps were applied before it (none: the set's config is unchanged)."""
        message = str(error)
        if self.applied:
            message = message.replace(" Nothing was changed.", "")
            message += (
                f" Steps applied before this failure ({len(self.applied)} of {total}): {'; '.join(self.applied)}. "
                "Run the task again to finish: it plans from the set's current config."
            )
        elif "Nothing was changed" not in message:
            message += " No step was applied: the set's config is unchanged."
        error.args = (message,)
        error.changed = bool(self.applied)
        return error


def run(module):
    split_host(module.params["host"], "host")
    if module.params["wait_timeout"] < 0:
        raise MongoDBParameterError(f"wait_timeout: must be 0 or more, got {module.params['wait_timeout']}")
    seed = connect(module.params)
    primary = None
    try:
        primary = find_primary(seed)
        return ReplSetMember(module, primary).run()
    finally:
        if primary is not None and primary is not seed:
            primary.close()
        seed.close()


def main():
    argument_spec = mongodb_argument_spec()
    argument_spec.update(
        host={"type": "str", "required": True},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
        priority={"type": "float"},
        votes={"type": "int", "default": 1, "choices": [0, 1]},
        hidden={"type": "bool", "default": False},
        arbiter_only={"type": "bool", "default": False},
        tags={"type": "dict"},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 300},
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=mongodb_required_together(),
        supports_check_mode=True,
    )
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=PYMONGO_IMPORT_ERROR)

    try:
        result = run(module)
    except MongoDBError as e:
        # a failure after an applied step changed the set's config: say so (changed=true)
        module.fail_json(msg=str(e), changed=getattr(e, "changed", False), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
