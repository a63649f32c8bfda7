#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mongodb_replset_info
short_description: Read the state of a MongoDB replica set - members, primary, lag, oplog window
version_added: 0.4.0
description:
  - Reads C(replSetGetStatus) and C(replSetGetConfig) from the member at O(login_host) and the oplog window (the
    first and last entries of C(local.oplog.rs)) from the primary, and returns them as RV(mongodb_replset).
  - Read-only. A member that runs with a replica set name but has no config yet (never initiated, code 94
    NotYetInitialized) is reported with RV(initialized=false), not as an error.
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  hello_only:
    description:
      - Read only C(hello), which needs no login (the credentials are not used). It tells whether the member has a
        config (RV(initialized)), the set's name, the primary it knows, its own name and its state (PRIMARY,
        SECONDARY, ARBITER or OTHER).
      - For members where no user can log in yet (first deployment, an arbiter, a replaced member).
        RV(mongodb_replset.members) is then empty and RV(mongodb_replset.healthy) false.
    type: bool
    default: false
extends_documentation_fragment:
  - apiplatform.ha.mongodb
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
    description: Use C(group/apiplatform.ha.mongodb) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.mongodb
notes:
  - The member states and lags are the ones O(login_host) sees through its heartbeats; ask a member on each side
    of a suspected network partition to compare.
  - The oplog window is read on the primary, connected directly under the name the config gives it; when that name
    does not answer from the host that runs the module, RV(mongodb_replset.oplog) is null and a warning says why.
seealso:
  - module: apiplatform.ha.mongodb_replset_member
  - module: apiplatform.ha.mongodb_resync
"""

EXAMPLES = r"""
- name: Read the replica set
  apiplatform.ha.mongodb_replset_info:
    login_host: mongo1.example.net
    login_user: clustermonitor
    login_password: "{{ vault_mongodb_monitor_password }}"
    replica_set: rs0
  register: __mongodb_rs

- name: Wait until every member is healthy
  apiplatform.ha.mongodb_replset_info:
    replica_set: rs0
  register: __mongodb_rs
  until: __mongodb_rs.mongodb_replset.healthy
  retries: 60
  delay: 5

- name: Initiate the set only when it has no config yet
  ansible.builtin.debug:
    msg: "to initiate"
  when: not __mongodb_rs.initialized
"""

RETURN = r"""
initialized:
  description: Whether the member has a replica set config (false - it runs with a set name but was never initiated
    and RV(mongodb_replset) has no members).
  returned: always
  type: bool
  sample: true
mongodb_replset:
  description: The replica set as O(login_host) sees it.
  returned: always
  type: dict
  contains:
    set:
      description: Name of the replica set (null when not initialized).
      type: str
      sample: rs0
    primary:
      description: The primary's C(host:port), null when the set has none.
      type: str
      sample: mongo1:27017
    self:
      description: O(login_host)'s own name in the config.
      type: str
      sample: mongo2:27017
    my_state:
      description: O(login_host)'s member state (1 PRIMARY, 2 SECONDARY, 3 RECOVERING, 5 STARTUP2, 7 ARBITER...).
      type: int
      sample: 2
    my_state_str:
      description: The name of RV(mongodb_replset.my_state).
      type: str
      sample: SECONDARY
    term:
      description: The election term.
      type: int
      sample: 4
    config_version:
      description: Version of the replica set config.
      type: int
      sample: 7
    healthy:
      description: Whether the set has a primary and every member is healthy (health 1, state PRIMARY, SECONDARY or
        ARBITER).
      type: bool
      sample: true
    members:
      description:
        - Every member, in config order, with its settings from the config and its state from the status.
        - C(lag_seconds) is how far its last applied operation is behind the primary's (null without a primary, for
          an arbiter and for a member without an optime).
      type: list
      elements: dict
      sample:
        - name: mongo2:27017
          id: 1
          state: 2
          state_str: SECONDARY
          health: 1
          priority: 1.0
          votes: 1
          hidden: false
          arbiter_only: false
          tags: {}
          optime_date: "2026-01-01T10:00:00Z"
          lag_seconds: 0
          uptime: 3600
          sync_source: mongo1:27017
          info_message: ""
          config_version: 7
          self: true
    oplog:
      description: The primary's oplog - first and last entry (ISO 8601, UTC) and the window between them in
        seconds (how long a member may be stopped and still catch up). Null without a reachable primary.
      type: dict
      sample: {first: "2026-01-01T00:00:00Z", last: "2026-01-02T00:00:00Z", window_seconds: 86400}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.mongodb import (
    HAS_PYMONGO,
    HEALTHY_STATES,
    NO_REPLICATION_ENABLED,
    PYMONGO_IMPORT_ERROR,
    MongoDBCommandError,
    MongoDBConnectionError,
    MongoDBError,
    MongoDBNotInitializedError,
    MongoDBParameterError,
    check_set_name,
    config_member,
    connect,
    member_settings,
    mongodb_argument_spec,
    mongodb_required_together,
    oplog_window,
    read_config,
    read_status,
    split_host,
)

UNINITIALIZED = {
    "set": None,
    "primary": None,
    "self": None,
    "my_state": None,
    "my_state_str": None,
    "term": None,
    "config_version": None,
    "healthy": False,
    "members": [],
    "oplog": None,
}


def merge_members(status, config):
    """Status members with their config settings, in config order (members the status lacks are left out)."""
    out = []
    order = {str(m.get("host", "")).lower(): i for i, m in enumerate(config.get("members") or [])}
    for m in sorted(status["members"], key=lambda x: order.get(x["name"].lower(), len(order))):
        settings = member_settings(config_member(config, m["name"]) or {})
        out.append(
            {
                "name": m["name"],
                "id": m["id"],
                "state": m["state"],
                "state_str": m["state_str"],
                "health": m["health"],
                "priority": settings["priority"],
                "votes": settings["votes"],
                "hidden": settings["hidden"],
                "arbiter_only": settings["arbiterOnly"],
                "tags": settings["tags"],
                "optime_date": m["optime_date"],
                "lag_seconds": m["lag_seconds"],
                "uptime": m["uptime"],
                "sync_source": m["sync_source"],
                "info_message": m["info_message"],
                "config_version": m["config_version"],
                "self": m["self"],
            }
        )
    return out


def public_oplog(window):
    return {"first": window["first"], "last": window["last"], "window_seconds": window["window_seconds"]}


def read_oplog(module, node, primary_name, is_primary):
    """The primary's oplog window; None (with a warning) when the primary does not answer."""
    primary = node if is_primary else connect(module.params, *split_host(primary_name, "primary"))
    try:
        return public_oplog(oplog_window(primary))
    except MongoDBConnectionError as e:
        module.warn(f"the oplog window was not read: {e}")
        return None
    finally:
        if primary is not node:
            primary.close()


def read_replset(module, node):
    hello = node.hello()
    check_set_name(hello, module.params, node.address)
    try:
        status = read_status(node)
    except MongoDBNotInitializedError:
        return {"changed": False, "initialized": False, "mongodb_replset": dict(UNINITIALIZED)}
    except MongoDBCommandError as e:
        if e.code != NO_REPLICATION_ENABLED:
            raise
        raise MongoDBParameterError(
            f"login_host: {node.address} runs without replication (no replication.replSetName in mongod.conf); "
            "point login_host at a replica set member"
        ) from None
    config = read_config(node)
    members = merge_members(status, config)
    oplog = read_oplog(module, node, status["primary"], hello["isWritablePrimary"]) if status["primary"] else None
    healthy = bool(status["primary"]) and all(m["health"] == 1 and m["state"] in HEALTHY_STATES for m in members)
    replset = {
        "set": status["set"],
        "primary": status["primary"],
        "self": status["self"],
        "my_state": status["my_state"],
        "my_state_str": status["my_state_str"],
        "term": status["term"],
        "config_version": int(config["version"]),
        "healthy": healthy,
        "members": members,
        "oplog": oplog,
    }
    return {"changed": False, "initialized": True, "mongodb_replset": replset}


def hello_state(hello):
    if hello.get("isWritablePrimary"):
        return 1, "PRIMARY"
    if hello.get("secondary"):
        return 2, "SECONDARY"
    if hello.get("arbiterOnly"):
        return 7, "ARBITER"
    return None, "OTHER"


def read_hello(node):
    """What ``hello`` alone says (no login needed)."""
    hello = node.hello()
    replset = dict(UNINITIALIZED)
    if not hello.get("setName"):
        return {"changed": False, "initialized": False, "mongodb_replset": replset}
    state, state_str = hello_state(hello)
    replset.update(
        {
            "set": hello.get("setName"),
            "primary": hello.get("primary"),
            "self": hello.get("me"),
            "my_state": state,
            "my_state_str": state_str,
            "config_version": hello.get("setVersion"),
        }
    )
    return {"changed": False, "initialized": True, "mongodb_replset": replset}


def run(module):
    params = dict(module.params)
    if params.get("hello_only"):
        params.update(login_user=None, login_password=None)
    node = connect(params)
    try:
        if params.get("hello_only"):
            result = read_hello(node)
            check_set_name({"setName": result["mongodb_replset"]["set"]}, params, node.address)
            return result
        return read_replset(module, node)
    finally:
        node.close()


def main():
    argument_spec = mongodb_argument_spec()
    argument_spec.update(hello_only={"type": "bool", "default": False})
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
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
