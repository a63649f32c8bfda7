# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only replication queries over psycopg 3 (postgresql_replication_info's database part).

Errors are raised as PatroniDatabaseError / PatroniAuthError (see module_utils/patroni.py), never fail_json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.apiplatform.ha.plugins.module_utils.patroni import PatroniAuthError, PatroniDatabaseError

try:
    import psycopg
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - exercised on hosts without psycopg
    psycopg = None
    dict_row = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None


SQL_NODE = """
SELECT pg_is_in_recovery() AS in_recovery,
       (pg_control_checkpoint()).timeline_id AS checkpoint_timeline,
       (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) AS receiver_timeline,
       (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_last_xact_replay_timestamp() AS replay_timestamp,
       CASE WHEN pg_is_in_recovery()
            THEN EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))::float8 END AS replay_delay_seconds,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier
"""

SQL_STANDBYS = """
SELECT application_name, client_addr::text AS client_addr, state, sync_state, sync_priority,
       sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn,
       replay_lsn::text AS replay_lsn,
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END,
                       replay_lsn)::bigint AS lag_bytes,
       EXTRACT(EPOCH FROM write_lag)::float8 AS write_lag_seconds,
       EXTRACT(EPOCH FROM flush_lag)::float8 AS flush_lag_seconds,
       EXTRACT(EPOCH FROM replay_lag)::float8 AS replay_lag_seconds
FROM pg_stat_replication
ORDER BY application_name
"""

SQL_SLOTS = """
SELECT slot_name, slot_type, active, restart_lsn::text AS restart_lsn, wal_status,
       CASE WHEN restart_lsn IS NULL THEN NULL
            ELSE pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                                      ELSE pg_current_wal_lsn() END, restart_lsn)::bigint END AS retained_bytes
FROM pg_replication_slots
ORDER BY slot_name
"""


def connect_kwargs(params):
    """psycopg.connect keyword arguments from the module's login_* options."""
    kwargs = {
        "host": params.get("login_unix_socket") or params.get("login_host"),
        "port": params.get("login_port"),
        "user": params.get("login_user"),
        "password": params.get("login_password"),
        "dbname": params.get("login_db"),
        "sslmode": params.get("ssl_mode"),
        "sslrootcert": params.get("ca_cert"),
        "connect_timeout": params.get("connect_timeout"),
        "application_name": "apiplatform.ha.postgresql_replication_info",
    }
    return {k: v for k, v in kwargs.items() if v is not None}


def _describe_target(kwargs):
    return "{}@{}:{}/{}".format(kwargs.get("user"), kwargs.get("host"), kwargs.get("port"), kwargs.get("dbname"))


def _fix_row(row):
    out = {}
    for k, v in row.items():
        out[k] = v.isoformat() if hasattr(v, "isoformat") else v
    return out


def node_role(row):
    """primary/replica from pg_is_in_recovery(), timeline from the WAL receiver when streaming else the checkpoint."""
    role = "replica" if row["in_recovery"] else "primary"
    timeline = row["receiver_timeline"] if row["in_recovery"] and row["receiver_timeline"] else None
    return role, timeline or row["checkpoint_timeline"]


def read_replication(params, connect=None):
    """Read replication state from the server named by the login_* options.

    Returns ``{'role', 'timeline', 'system_identifier', 'lsn': {...}, 'replay_timestamp', 'replay_delay_seconds',
    'wal_receiver_status', 'standbys': [...], 'slots': [...]}``.
    """
    kwargs = connect_kwargs(params)
    connect = connect or psycopg.connect
    target = _describe_target(kwargs)
    try:
        conn = connect(**kwargs)
    except psycopg.OperationalError as e:
        text = str(e).strip()
        if "password authentication failed" in text or "no password supplied" in text:
            raise PatroniAuthError(
                f"PostgreSQL at {target} rejected the login: {text}. Check login_user/login_password."
            ) from None
        raise PatroniDatabaseError(
            f"could not connect to PostgreSQL at {target}: {text}. Check login_host/login_port (or "
            "login_unix_socket), ssl_mode/ca_cert and pg_hba.conf."
        ) from None
    try:
        with conn:
            conn.read_only = True
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(SQL_NODE)
                node = cur.fetchone()
                cur.execute(SQL_STANDBYS)
                standbys = [_fix_row(r) for r in cur.fetchall()]
                cur.execute(SQL_SLOTS)
                slots = [_fix_row(r) for r in cur.fetchall()]
    except psycopg.Error as e:
        raise PatroniDatabaseError(f"replication query on {target} failed: {str(e).strip()}") from None
    node = _fix_row(node)
    role, timeline = node_role(node)
    return {
        "role": role,
        "timeline": timeline,
        "system_identifier": node["system_identifier"],
        "lsn": {
            "current": node["current_lsn"],
            "receive": node["receive_lsn"],
            "replay": node["replay_lsn"],
        },
        "replay_timestamp": node["replay_timestamp"],
        "replay_delay_seconds": node["replay_delay_seconds"],
        "wal_receiver_status": node["receiver_status"],
        "standbys": standbys,
        "slots": slots,
    }
