#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mongodb_resync
short_description: Resync a MongoDB replica set member that fell off the oplog - wipe its data, let it sync again
version_added: 0.4.0
description:
  - Runs on the host of the member to resync. Reads the set from the primary (found through the local mongod, or
    through O(seeds) when the local mongod does not answer) and decides whether the member needs a resync - it is
    RECOVERING because it is too stale to catch up (RS102), or it is more than the primary's oplog window (minus
    O(lag_margin_seconds)) behind, or O(force=true).
  - When a resync is needed and O(confirm=true) - C(systemctl stop) O(service_name), deletes the contents of
    O(data_dir) (the directory itself, its owner and mode stay), C(systemctl start) O(service_name), and waits until
    the member has made its initial sync (STARTUP2) and is SECONDARY, bounded by O(wait_timeout).
  - When no resync is needed, nothing is changed and RV(reason) says why (for example a SECONDARY within the oplog
    window catches up by itself).
  - Refused, changing nothing - the member is the PRIMARY (step it down first), the set has no primary (no sync
    source), no other data-bearing member is healthy, stopping the member would leave fewer than a majority of the
    voting members healthy, and a O(data_dir) that is relative, V(/), or does not look like a mongod data directory
    (it is not empty and contains none of C(mongod.lock), C(WiredTiger), C(storage.bson), C(simulator-state.json)).
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  data_dir:
    description:
      - The member's data directory (C(storage.dbPath) in mongod.conf), an absolute path. Its contents are moved
        aside (O(keep_old_data=true)) or deleted.
    type: path
    required: true
  keep_old_data:
    description:
      - V(true) moves the directory's contents into C(<data_dir>.resync-<UTC time>) on the same filesystem (a
        rename, no copy) instead of deleting them, so that nothing is lost (for example rolled-back writes in
        C(rollback/)). Initial sync then needs room for a second copy of the data; delete the old one once the
        member is SECONDARY.
      - V(false) deletes the contents (for a disk that cannot hold two copies).
    type: bool
    default: true
  service_name:
    description:
      - The systemd unit of the member's mongod.
    type: str
    default: mongod
  member:
    description:
      - The member's name in the replica set config (C(host:port)).
      - Default - the name the local mongod (O(login_host)) reports in C(hello) (C(me)). Required when the local
        mongod does not answer.
    type: str
  seeds:
    description:
      - Other members (C(host:port)) asked for the primary, in order, when the local mongod does not answer or knows
        no primary.
    type: list
    elements: str
    default: []
  confirm:
    description:
      - Must be V(true) to resync, which deletes the member's data; without it a needed resync fails and names this
        option.
    type: bool
    default: false
  force:
    description:
      - Resync even if the member could catch up from the oplog (a corrupted member, for example). The refusals
        above still apply.
    type: bool
    default: false
  lag_margin_seconds:
    description:
      - Safety margin - a member more than the oplog window minus this many seconds behind the primary is resynced
        (the window keeps moving while it catches up).
      - The margin is capped at half of the oplog window, so that a member that is current is never resynced when the
        window is short.
    type: int
    default: 60
  wait_timeout:
    description:
      - Seconds to wait for the member to become SECONDARY again after the restart (an initial sync copies every
        collection; size it to the data).
    type: int
    default: 1800
extends_documentation_fragment:
  - apiplatform.ha.mongodb
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the set, decides and returns RV(reason); stops no service and deletes nothing.
  diff_mode:
    support: full
    details: Shows the member's state and the number of entries in O(data_dir) before and after.
  platform:
    platforms: posix
  action_group:
    description: Use C(group/apiplatform.ha.mongodb) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.mongodb
notes:
  - O(login_host) is normally the member itself (V(localhost)); the connection options are used for the seeds and
    the primary too.
  - Run it with C(become) - it deletes files owned by the mongod user and runs systemctl.
seealso:
  - module: apiplatform.ha.mongodb_replset_info
  - module: apiplatform.ha.mongodb_replset_member
"""

EXAMPLES = r"""
- name: Resync mongo3 if it fell off the oplog
  apiplatform.ha.mongodb_resync:
    data_dir: /var/lib/mongodb
    confirm: true
    login_user: clusteradmin
    login_password: "{{ vault_mongodb_clusteradmin_password }}"
    replica_set: rs0
    seeds:
      - mongo1.example.net:27017
      - mongo2.example.net:27017
    wait_timeout: 7200
  become: true

- name: Only report whether a resync is needed
  apiplatform.ha.mongodb_resync:
    data_dir: /var/lib/mongodb
    member: mongo3.example.net:27017
  check_mode: true
  register: __mongodb_resync
"""

RETURN = r"""
decision:
  description: V(needed) or V(not_needed).
  returned: always
  type: str
  sample: needed
reason:
  description: Why.
  returned: always
  type: str
  sample: "mongo3:27017 is RECOVERING and too stale to catch up: 'We are too stale to use mongo1:27017 as a sync
    source'"
member:
  description: The member (C(host:port) as the config names it).
  returned: always
  type: str
  sample: mongo3:27017
state_before:
  description: The member's state before (its own view when the local mongod answered, else the primary's).
  returned: always
  type: str
  sample: RECOVERING
state_after:
  description: The member's state at the end (in check mode and when nothing changed, RV(state_before)).
  returned: always
  type: str
  sample: SECONDARY
removed_entries:
  description: Entries (files and directories) deleted from O(data_dir)'s top level; in check mode, the number that
    would be deleted.
  returned: always
  type: int
  sample: 27
seconds:
  description: Seconds from the service stop to the member being SECONDARY again (0 when nothing was done).
  returned: always
  type: int
  sample: 540
executed:
  description: What was done, in order; empty in check mode and when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["systemctl stop mongod", "delete the contents of /var/lib/mongodb (27 entries)", "systemctl start mongod"]
"""

import os
import shutil
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.mongodb import (
    HAS_PYMONGO,
    PYMONGO_IMPORT_ERROR,
    MongoDBCommandError,
    MongoDBConnectionError,
    MongoDBError,
    MongoDBNotInitializedError,
    MongoDBParameterError,
    MongoDBRefusedError,
    MongoDBServiceError,
    check_data_dir,
    check_set_name,
    connect,
    find_primary,
    mongodb_argument_spec,
    mongodb_required_together,
    oplog_window,
    read_config,
    read_status,
    resync_decision,
    same_host,
    split_host,
    status_member,
    voters,
    wait_for,
)


def normalize(params):
    for option in ("wait_timeout", "lag_margin_seconds"):
        if params[option] < 0:
            raise MongoDBParameterError(f"{option}: must be 0 or more, got {params[option]}")
    seeds = [split_host(seed, "seeds") for seed in params["seeds"]]
    if params["member"]:
        split_host(params["member"], "member")
    entries = check_data_dir(params["data_dir"], os.listdir, os.path.isdir)
    if os.path.realpath(params["data_dir"]) == "/":
        raise MongoDBParameterError(f"data_dir: {params['data_dir']} resolves to '/'; give mongod's storage.dbPath")
    return seeds, entries


def move_contents(path, dest):
    """Move every entry of ``path`` into the new directory ``dest`` (renames on the same filesystem; ``path`` itself
    stays, with its owner and mode). Returns the number of top-level entries."""
    try:
        os.mkdir(dest, 0o700)
    except OSError as e:
        raise MongoDBServiceError(f"creating {dest} failed: {e}") from None
    count = 0
    for name in sorted(os.listdir(path)):
        try:
            os.rename(os.path.join(path, name), os.path.join(dest, name))
        except OSError as e:
            raise MongoDBServiceError(
                f"moving {os.path.join(path, name)} to {dest} failed: {e} (keep_old_data=false deletes instead)"
            ) from None
        count += 1
    return count


def remove_contents(path):
    """Delete every entry of ``path`` (not ``path`` itself, so its owner and mode stay); symlinks are unlinked, never
    followed. Returns the number of top-level entries."""
    count = 0
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except OSError as e:
            raise MongoDBServiceError(f"deleting {full} failed: {e}") from None
        count += 1
    return count


class Resync:
    def __init__(self, module, seeds, entries):
        self.module = module
        self.params = module.params
        self.seeds = seeds
        self.entries = entries
        self.executed = []
        self.nodes = []
        self.local_after = None

    def open(self, host=None, port=None):
        node = connect(self.params, host, port)
        self.nodes.append(node)
        return node

    def close(self):
        for node in self.nodes:
            node.close()
        self.nodes = []

    # -- reads -------------------------------------------------------------------------------------------------------

    def local_hello(self):
        """``(local node, its hello)``, or ``(None, error)`` when the local mongod does not answer."""
        local = self.open()
        try:
            hello = local.hello()
        except MongoDBConnectionError as e:
            return None, e
        check_set_name(hello, self.params, local.address)
        return local, hello

    def primary(self, local):
        """The primary, asked of the local mongod first, then of the seeds."""
        tried = []
        candidates = [local] if local is not None else []
        for node in candidates + list(self.seeds):
            try:
                seed = node if not isinstance(node, tuple) else self.open(*node)
                primary = find_primary(seed)
            except (MongoDBConnectionError, MongoDBRefusedError) as e:
                tried.append(str(e))
                continue
            if primary is not seed:
                self.nodes.append(primary)
            return primary
        raise MongoDBRefusedError(
            "no primary found, so a resync has no sync source: "
            + " | ".join(tried or ["the local mongod does not answer and no seeds are given"])
            + ". Restore a primary first (or give seeds), then run again. Nothing was changed."
        )

    def own_view(self, local):
        """The member's own entry of its replSetGetStatus (state and infoMessage are most accurate there)."""
        if local is None:
            return None
        try:
            status = read_status(local)
        except (MongoDBCommandError, MongoDBConnectionError):
            return None
        return next((m for m in status["members"] if m["self"]), None)

    def member_state(self, primary, member):
        """``(state_str, source)`` of the member after its restart: its own view, else the primary's."""
        try:
            status = read_status(self.local_after)
        except MongoDBNotInitializedError:
            return "no config yet (waiting for the primary's heartbeat)", "its own replSetGetStatus"
        except MongoDBError:
            status = None
        own = next((m for m in status["members"] if m["self"]), None) if status else None
        if own is not None:
            return own["state_str"], "its own replSetGetStatus"
        seen = status_member(read_status(primary), member)
        return (seen["state_str"] if seen else "not in the set"), "the primary's replSetGetStatus"

    # -- actions -----------------------------------------------------------------------------------------------------

    def systemctl(self, verb):
        systemctl = self.module.get_bin_path("systemctl")
        if not systemctl:
            raise MongoDBServiceError("systemctl not found on this host; this module needs systemd")
        service = self.params["service_name"]
        rc, out, err = self.module.run_command([systemctl, verb, service])
        if rc != 0:
            raise MongoDBServiceError(
                f"systemctl {verb} {service} failed (rc={rc}): {(err or out).strip()[:500]}. Check service_name and "
                f"journalctl -u {service}."
            )
        self.executed.append(f"systemctl {verb} {service}")

    def wait_secondary(self, primary, member):
        history = []

        def check():
            state, source = self.member_state(primary, member)
            if not history or history[-1] != state:
                history.append(state)
            # The primary's view may still show the member's state from before the restart until its heartbeats
            # notice: it counts only after another state was seen.
            done = state == "SECONDARY" and (source.startswith("its own") or len(history) > 1)
            return done, f"{state} (from {source}; states seen: {' -> '.join(history)})"

        wait_for(check, self.params["wait_timeout"], f"{member} to finish its initial sync and become SECONDARY", 2.0)
        return "SECONDARY"

    def run(self):
        local, hello = self.local_hello()
        member = self.params["member"] or (hello.get("me") if local is not None else None)
        if not member:
            why = f"does not answer ({hello})" if local is None else "reports no name (no replica set config)"
            raise MongoDBParameterError(
                f"member: the local mongod {why}, so the member's name in the config is unknown; set member to its "
                "host:port as the replica set config names it"
            )
        if local is not None and hello.get("me") and not same_host(hello["me"], member):
            raise MongoDBParameterError(
                f"member: the local mongod ({local.address}) is {hello['me']}, not {member}; this module runs on the "
                "host of the member to resync"
            )
        primary = self.primary(local)
        status = read_status(primary)
        own = self.own_view(local)
        seen = status_member(status, member)
        if own is not None and seen is not None:
            seen.update(state=own["state"], state_str=own["state_str"], info_message=own["info_message"])
        window = oplog_window(primary)
        config = read_config(primary)
        decision, reason = resync_decision(
            status,
            window,
            member,
            force=self.params["force"],
            lag_margin_seconds=self.params["lag_margin_seconds"],
            voting_members=voters(config),
        )
        state_before = seen["state_str"] if seen else "not in the set"
        result = {
            "changed": decision == "needed",
            "decision": decision,
            "reason": reason,
            "member": member,
            "state_before": state_before,
            "state_after": state_before,
            "removed_entries": 0,
            "seconds": 0,
            "executed": self.executed,
        }
        if decision == "needed" and not self.params["confirm"]:
            raise MongoDBParameterError(
                f"confirm: {member} needs a resync ({reason}). It stops {self.params['service_name']}, deletes "
                f"{self.params['data_dir']}'s contents ({len(self.entries)} entries) and copies all data again from "
                "the set (initial sync); set confirm=true to do that."
            )
        if decision == "needed" and self.module.check_mode:
            result["removed_entries"] = len(self.entries)
        elif decision == "needed":
            result.update(self.resync(primary, member))
        if self.module._diff:
            result["diff"] = {
                "before": {"state": state_before, "data_dir_entries": len(self.entries)},
                "after": {
                    "state": "SECONDARY" if decision == "needed" else state_before,
                    "data_dir_entries": 0 if decision == "needed" else len(self.entries),
                },
            }
        return result

    def resync(self, primary, member):
        started = time.monotonic()
        for node in self.nodes:
            if node is not primary:
                node.close()
        self.nodes = [primary]
        self.systemctl("stop")
        data_dir = self.params["data_dir"]
        keep = self.params["keep_old_data"]
        old_dir = f"{data_dir.rstrip('/')}.resync-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        try:
            removed = move_contents(data_dir, old_dir) if keep else remove_contents(data_dir)
        except MongoDBServiceError as e:
            try:
                self.systemctl("start")
            except MongoDBServiceError as start_error:
                raise MongoDBServiceError(f"{e}; starting the service again failed too: {start_error}") from None
            raise MongoDBServiceError(f"{e}. The service was started again with a partly deleted {data_dir}.") from None
        self.executed.append(
            f"move the contents of {data_dir} to {old_dir} ({removed} entries)"
            if keep
            else f"delete the contents of {data_dir} ({removed} entries)"
        )
        self.systemctl("start")
        self.local_after = self.open()
        state_after = self.wait_secondary(primary, member)
        return {"removed_entries": removed, "state_after": state_after, "seconds": int(time.monotonic() - started)}


def run(module):
    seeds, entries = normalize(module.params)
    resync = Resync(module, seeds, entries)
    try:
        return resync.run()
    finally:
        resync.close()


def main():
    argument_spec = mongodb_argument_spec()
    argument_spec.update(
        data_dir={"type": "path", "required": True},
        keep_old_data={"type": "bool", "default": True},
        service_name={"type": "str", "default": "mongod"},
        member={"type": "str"},
        seeds={"type": "list", "elements": "str", "default": []},
        confirm={"type": "bool", "default": False},
        force={"type": "bool", "default": False},
        lag_margin_seconds={"type": "int", "default": 60},
        wait_timeout={"type": "int", "default": 1800},
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
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
