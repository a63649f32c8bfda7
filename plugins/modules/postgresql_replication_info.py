#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: postgresql_replication_info
short_description: Read the replication state of a Patroni-managed PostgreSQL cluster
version_added: 0.2.0
description:
  - Reads Patroni's member table (C(GET /cluster)) and the asked member's own view (C(GET /patroni)) from the REST
    API at O(api_url) - leader, maintenance mode, every member's role, state, timeline, lag and tags.
  - When a database connection is given (O(login_host) or O(login_unix_socket)), also reads that server's role,
    timeline, LSNs, replay timestamp, C(pg_stat_replication) (per-standby lag in bytes and seconds, sync state) and
    C(pg_replication_slots).
  - Never changes anything.
author:
  - apiplatform.ha maintainers (@apiplatform)
extends_documentation_fragment:
  - apiplatform.ha.patroni
  - apiplatform.ha.patroni.postgres
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
    description: Use C(group/apiplatform.ha.patroni) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - apiplatform.ha.patroni
seealso:
  - module: apiplatform.ha.patroni_switchover
  - module: apiplatform.ha.patroni_member
"""

EXAMPLES = r"""
- name: Read the cluster from the local Patroni and the local PostgreSQL
  apiplatform.ha.postgresql_replication_info:
    api_url: http://127.0.0.1:8008
    login_unix_socket: /var/run/postgresql
  become: true
  become_user: postgres
  register: __pg_repl

- name: Stop unless every replica streams with less than 16 MiB of lag
  ansible.builtin.assert:
    that:
      - __pg_repl.leader is not none
      - __pg_repl.members | rejectattr('role', 'eq', 'leader') | rejectattr('state', 'eq', 'streaming') | list == []
      - __pg_repl.members | map(attribute='lag') | select('number') | max <= 16777216
"""

RETURN = r"""
member:
  description: Name of the member that answers at O(api_url).
  returned: always
  type: str
  sample: pg1
scope:
  description: Patroni cluster name (C(scope)).
  returned: always
  type: str
  sample: apiplatform
leader:
  description: Name of the leader, null when the cluster has none.
  returned: always
  type: str
  sample: pg1
paused:
  description: Whether the cluster is in maintenance mode (C(patronictl pause)).
  returned: always
  type: bool
  sample: false
members:
  description: Patroni's member table, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Member name.
      returned: always
      type: str
      sample: pg2
    host:
      description: PostgreSQL host of the member (C(postgresql.connect_address)).
      returned: always
      type: str
      sample: 10.0.0.2
    port:
      description: PostgreSQL port of the member.
      returned: always
      type: int
      sample: 5432
    role:
      description: V(leader), V(replica), V(sync_standby), V(quorum_standby) or V(standby_leader).
      returned: always
      type: str
      sample: replica
    state:
      description: V(running) for the leader, V(streaming) for a healthy replica, else V(stopped), V(starting)...
      returned: always
      type: str
      sample: streaming
    timeline:
      description: PostgreSQL timeline of the member (null when unknown).
      returned: always
      type: int
      sample: 3
    lag:
      description: Bytes the member's WAL position is behind the leader (null for the leader and when unknown).
      returned: always
      type: int
      sample: 0
    receive_lag:
      description: Bytes the received WAL is behind the leader (null when unknown).
      returned: always
      type: int
      sample: 0
    replay_lag:
      description: Bytes the replayed WAL is behind the leader (null when unknown).
      returned: always
      type: int
      sample: 0
    tags:
      description: Patroni tags of the member.
      returned: always
      type: dict
      sample: {nofailover: false}
    nofailover:
      description: Whether the member has the C(nofailover) tag.
      returned: always
      type: bool
      sample: false
    api_url:
      description: Base URL of the member's REST API.
      returned: always
      type: str
      sample: http://10.0.0.2:8008
role:
  description: V(primary) or V(replica), of the database when connected, else of the member at O(api_url).
  returned: always
  type: str
  sample: primary
timeline:
  description: Timeline of the database when connected, else of the member at O(api_url).
  returned: always
  type: int
  sample: 3
lsn:
  description: WAL positions, from the database when connected, else from the member's C(GET /patroni).
  returned: always
  type: dict
  contains:
    current:
      description: C(pg_current_wal_lsn()) on a primary, null on a replica.
      returned: always
      type: str
      sample: 0/5000148
    receive:
      description: C(pg_last_wal_receive_lsn()) on a replica, null on a primary.
      returned: always
      type: str
      sample: 0/5000148
    replay:
      description: C(pg_last_wal_replay_lsn()) on a replica, null on a primary.
      returned: always
      type: str
      sample: 0/5000148
database_connected:
  description: Whether a database connection was given and read.
  returned: always
  type: bool
  sample: true
system_identifier:
  description: C(pg_control_system().system_identifier) of the database (null without a database connection).
  returned: always
  type: str
  sample: "7301234567890123456"
replay_timestamp:
  description: C(pg_last_xact_replay_timestamp()) on a replica (ISO 8601), null on a primary or without a connection.
  returned: always
  type: str
  sample: "2026-01-10T10:00:00.123456+00:00"
replay_delay_seconds:
  description: Seconds since the last replayed transaction on a replica (grows on an idle cluster), else null.
  returned: always
  type: float
  sample: 0.8
wal_receiver_status:
  description: C(pg_stat_wal_receiver.status) on a replica (V(streaming) when healthy), else null.
  returned: always
  type: str
  sample: streaming
standbys:
  description: C(pg_stat_replication) of the connected server (empty without a database connection).
  returned: always
  type: list
  elements: dict
  contains:
    application_name:
      description: The standby's C(application_name) (Patroni sets the member name).
      returned: always
      type: str
      sample: pg2
    client_addr:
      description: Address of the standby.
      returned: always
      type: str
      sample: 10.0.0.2/32
    state:
      description: WAL sender state (V(streaming), V(catchup)...).
      returned: always
      type: str
      sample: streaming
    sync_state:
      description: V(async), V(sync), V(quorum) or V(potential).
      returned: always
      type: str
      sample: async
    sync_priority:
      description: Priority for synchronous replication.
      returned: always
      type: int
      sample: 0
    sent_lsn:
      description: Last WAL position sent.
      returned: always
      type: str
      sample: 0/5000148
    write_lsn:
      description: Last WAL position written by the standby.
      returned: always
      type: str
      sample: 0/5000148
    flush_lsn:
      description: Last WAL position flushed by the standby.
      returned: always
      type: str
      sample: 0/5000148
    replay_lsn:
      description: Last WAL position replayed by the standby.
      returned: always
      type: str
      sample: 0/5000148
    lag_bytes:
      description: Bytes between the server's WAL position and the standby's C(replay_lsn).
      returned: always
      type: int
      sample: 0
    write_lag_seconds:
      description: C(write_lag) in seconds (null when idle).
      returned: always
      type: float
      sample: 0.0012
    flush_lag_seconds:
      description: C(flush_lag) in seconds (null when idle).
      returned: always
      type: float
      sample: 0.0015
    replay_lag_seconds:
      description: C(replay_lag) in seconds (null when idle).
      returned: always
      type: float
      sample: 0.0017
slots:
  description: C(pg_replication_slots) of the connected server (empty without a database connection).
  returned: always
  type: list
  elements: dict
  contains:
    slot_name:
      description: Slot name (Patroni names physical slots after the members).
      returned: always
      type: str
      sample: pg2
    slot_type:
      description: V(physical) or V(logical).
      returned: always
      type: str
      sample: physical
    active:
      description: Whether a standby is using the slot now.
      returned: always
      type: bool
      sample: true
    restart_lsn:
      description: Oldest WAL position the slot retains.
      returned: always
      type: str
      sample: 0/5000148
    wal_status:
      description: V(reserved), V(extended), V(unreserved) or V(lost).
      returned: always
      type: str
      sample: reserved
    retained_bytes:
      description: Bytes of WAL the slot holds back.
      returned: always
      type: int
      sample: 0
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.apiplatform.ha.plugins.module_utils.patroni import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    PatroniClient,
    PatroniError,
    patroni_argument_spec,
    patroni_required_together,
    postgres_argument_spec,
)
from ansible_collections.apiplatform.ha.plugins.module_utils.postgresql_repl import (
    HAS_PSYCOPG,
    PSYCOPG_IMPORT_ERROR,
    read_replication,
)


def summarize(cluster, own, database):
    """The module result from the /cluster answer, the member's /patroni answer and the database reading (or None)."""
    xlog = own.get("xlog") or {}
    own_role = own.get("role")
    result = {
        "member": (own.get("patroni") or {}).get("name"),
        "scope": (own.get("patroni") or {}).get("scope"),
        "leader": cluster["leader"],
        "paused": cluster["paused"],
        "members": cluster["members"],
        "role": "primary" if own_role in ("primary", "master", "standby_leader") else own_role,
        "timeline": own.get("timeline"),
        "lsn": {
            "current": _lsn(xlog.get("location")),
            "receive": _lsn(xlog.get("received_location")),
            "replay": _lsn(xlog.get("replayed_location")),
        },
        "database_connected": database is not None,
        "system_identifier": None,
        "replay_timestamp": xlog.get("replayed_timestamp"),
        "replay_delay_seconds": None,
        "wal_receiver_status": None,
        "standbys": [],
        "slots": [],
    }
    if own_role == "standby_leader":
        result["role"] = "replica"
    if result["timeline"] is None and result["member"]:
        member = next((m for m in cluster["members"] if m["name"] == result["member"]), None)
        result["timeline"] = member["timeline"] if member else None
    if database is not None:
        result.update(database)
    return result


def _lsn(value):
    """/patroni reports positions as integers; render them like pg_lsn (``X/Y``)."""
    if value is None:
        return None
    value = int(value)
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def run(module, client):
    cluster = client.cluster()
    own = client.patroni()
    database = None
    if module.params["login_host"] or module.params["login_unix_socket"]:
        database = read_replication(module.params)
    return dict(changed=False, **summarize(cluster, own, database))


def main():
    argument_spec = patroni_argument_spec()
    argument_spec.update(postgres_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_together=patroni_required_together(),
        mutually_exclusive=[("login_host", "login_unix_socket")],
        supports_check_mode=True,
    )
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    if (module.params["login_host"] or module.params["login_unix_socket"]) and not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg (3)"), exception=PSYCOPG_IMPORT_ERROR)

    try:
        result = run(module, PatroniClient.from_params(module.params))
    except PatroniError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
