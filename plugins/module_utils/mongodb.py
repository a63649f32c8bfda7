# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MongoDB replica set helpers of the apiplatform.ha MongoDB modules (mongodb_replset_member, mongodb_replset_info,
mongodb_resync): a direct connection to one mongod, normalized readers of ``replSetGetStatus`` / ``replSetGetConfig``
/ the oplog, and the pure planning functions (membership steps, safety checks, the resync decision).

Nothing here calls ``fail_json``: every problem is raised as a :class:`MongoDBError` subclass and the module's
``main()`` turns it into one ``fail_json(msg=...)``.

Written against MongoDB 7 replica sets (protocol version 1) with pymongo 3.11 (Debian bookworm's python3-pymongo)
and pymongo 4; only APIs both have are used:

- every connection is direct (``directConnection=True``): the modules talk to one named member and find the primary
  themselves (``hello`` names it), so a member's host name as written in the replica set config must resolve from
  the host that runs the module;
- ``replSetReconfig`` needs a version one higher than the current config's, changes at most one voting member per
  reconfig (else code 103, NewReplicaSetConfigurationIncompatible) and, from MongoDB 4.4 on, waits for the new config
  to be installed on a majority of the voting members (``maxTimeMS`` bounds that wait). A reconfig while the previous
  config is not committed yet fails with code 117 (ConfigurationInProgress); one whose new members or majority do not
  answer the primary's heartbeats fails its quorum check with code 74 (NodeNotFound);
- MongoDB's documented safe way to add a voting member: add it with ``votes: 0, priority: 0``, wait until it is
  SECONDARY (initial sync done), then give it its vote and priority (:func:`plan_member_change`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import datetime
import os
import re
import time
import traceback

try:
    from pymongo import MongoClient
    from pymongo.errors import (
        AutoReconnect,
        ConfigurationError,
        ConnectionFailure,
        OperationFailure,
        PyMongoError,
    )
except ImportError:  # pragma: no cover - exercised on hosts without python3-pymongo
    MongoClient = None
    HAS_PYMONGO = False
    PYMONGO_IMPORT_ERROR = traceback.format_exc()

    class PyMongoError(Exception):
        """Stand-in so that ``except`` clauses work without pymongo (the modules fail before using it)."""

    AutoReconnect = ConfigurationError = ConnectionFailure = OperationFailure = PyMongoError
else:
    HAS_PYMONGO = True
    PYMONGO_IMPORT_ERROR = None

MONGODB_ARGUMENT_SPEC = {
    "login_host": {"type": "str", "default": "localhost"},
    "login_port": {"type": "int", "default": 27017},
    "login_user": {"type": "str"},
    "login_password": {"type": "str", "no_log": True},
    "login_database": {"type": "str", "default": "admin"},
    "replica_set": {"type": "str"},
    "tls": {"type": "bool", "default": False},
    "tls_ca_file": {"type": "path"},
    "tls_certificate_key_file": {"type": "path", "no_log": False},
    "connect_timeout": {"type": "int", "default": 10},
}

STATE_NAMES = {
    0: "STARTUP",
    1: "PRIMARY",
    2: "SECONDARY",
    3: "RECOVERING",
    5: "STARTUP2",
    6: "UNKNOWN",
    7: "ARBITER",
    8: "DOWN",
    9: "ROLLBACK",
    10: "REMOVED",
}
PRIMARY, SECONDARY, RECOVERING, STARTUP2, ARBITER = 1, 2, 3, 5, 7
HEALTHY_STATES = (PRIMARY, SECONDARY, ARBITER)
MAX_VOTERS = 7
MAX_MEMBERS = 50
MAX_PRIORITY = 1000

# Server error codes the modules explain.
AUTH_FAILED = 18
UNAUTHORIZED = 13
NOT_YET_INITIALIZED = 94
NO_REPLICATION_ENABLED = 76
COMMAND_NOT_FOUND = 59
MAX_TIME_EXPIRED = 50
RECONFIG_HINTS = {
    103: (
        "The new config is incompatible with the current one (its version is not the next one, or it changes more "
        "than one voting member). Another reconfig may have run meanwhile: run the task again, it re-reads the config."
    ),
    117: (
        "The previous config is not committed yet: a majority of the voting members has not installed it. Check "
        "that the members are up and SECONDARY (apiplatform.ha.mongodb_replset_info) and run the task again."
    ),
    74: (
        "The quorum check failed: the primary could not reach a majority of the voting members, or a member the new "
        "config adds, with heartbeats. Check that every member (the new one included) runs, that its host name "
        "resolves and that port is reachable from the primary (net.bindIp, firewall), and that the members share the "
        "keyFile."
    ),
    93: (
        "The server rejected the config as invalid; check priority, votes, hidden, arbiter_only and tags (and that "
        "the host is not listed twice)."
    ),
    MAX_TIME_EXPIRED: (
        "The new config did not reach a majority of the voting members within wait_timeout; it may be installed on "
        "the primary only. Check the members (apiplatform.ha.mongodb_replset_info) and run the task again."
    ),
}
UTC = datetime.timezone(datetime.timedelta(0))  # datetime.UTC needs Python 3.11
STALE_MARKERS = ("too stale", "rs102")
DATA_DIR_MARKERS = ("mongod.lock", "WiredTiger", "storage.bson", "simulator-state.json")


class MongoDBError(Exception):
    """Base class of every error this module_utils raises."""


class MongoDBParameterError(MongoDBError):
    """A module option has a value that cannot be used; the message names the option and the fix."""


class MongoDBConnectionError(MongoDBError):
    """A member did not answer; the message names its host:port and what to check."""

    def __init__(self, message, address=None):
        self.address = address
        super().__init__(message)


class MongoDBAuthError(MongoDBError):
    """The member rejected the credentials (code 18) or the user lacks a privilege (code 13)."""


class MongoDBRefusedError(MongoDBError):
    """The requested change is unsafe or impossible in the set's current state; the message names the fix."""


class MongoDBCommandError(MongoDBError):
    """A command failed for another reason; ``code`` and ``detail`` are the server's."""

    def __init__(self, message, code=None, detail=""):
        self.code = code
        self.detail = detail
        super().__init__(message)


class MongoDBNotInitializedError(MongoDBCommandError):
    """The member runs with a replica set name but has no config yet (code 94, NotYetInitialized)."""


class MongoDBTimeoutError(MongoDBError):
    """A wait expired; the message names what it waited for and what it saw last."""


class MongoDBServiceError(MongoDBError):
    """systemctl failed."""


def mongodb_argument_spec():
    """Connection options shared by every MongoDB module (doc fragment apiplatform.ha.mongodb); a deep copy."""
    return copy.deepcopy(MONGODB_ARGUMENT_SPEC)


def mongodb_required_together():
    """``required_together`` for the connection options."""
    return [["login_user", "login_password"]]


# ---------------------------------------------------------------------------------------------------------------------
# Small pure helpers
# ---------------------------------------------------------------------------------------------------------------------

_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):(\d{1,5})$")


def split_host(value, option="host"):
    """``host:port`` (``[v6]:port`` for IPv6) -> ``(host, port)``; raises MongoDBParameterError naming ``option``."""
    text = "" if value is None else str(value).strip()
    match = _HOST_PORT.match(text)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise MongoDBParameterError(
            f"{option}: {value!r} is not host:port; write the member as the replica set config names it, for example "
            "mongo1.example.net:27017"
        )
    return match.group(1).strip("[]"), int(match.group(2))


def same_host(a, b):
    return str(a or "").lower() == str(b or "").lower()


def ts_seconds(ts):
    """A BSON Timestamp (or an optime ``{ts, t}``) -> its seconds since the epoch; None for a null optime."""
    if isinstance(ts, dict):
        ts = ts.get("ts")
    seconds = getattr(ts, "time", None)
    if seconds is None:
        return None
    return int(seconds) or None


def iso_date(value):
    """A datetime (pymongo's are naive UTC) -> ``YYYY-MM-DDTHH:MM:SSZ``; None for a missing or epoch date."""
    if not isinstance(value, datetime.datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if value.year <= 1970:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_seconds(seconds):
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_message(exc):
    """The server's own message of an OperationFailure (its str() carries the whole reply in pymongo 4)."""
    details = getattr(exc, "details", None) or {}
    return str(details.get("errmsg") or exc).split(", full error:", maxsplit=1)[0].strip()


def short_error(exc):
    """The useful part of a pymongo connection error (pymongo 4 appends timeouts and the topology description)."""
    text = str(exc)
    for stop in (" (configured timeouts", ", Timeout:", ", Topology Description"):
        if stop in text:
            text = text[: text.index(stop)]
    return f"{text.strip()[:300]} ({type(exc).__name__})"


# ---------------------------------------------------------------------------------------------------------------------
# Normalized views (pure)
# ---------------------------------------------------------------------------------------------------------------------


def normalize_status(raw):
    """``replSetGetStatus`` -> ``{'set', 'my_state', 'my_state_str', 'term', 'primary', 'config_version', 'self',
    'members': [{name, id, state, state_str, health, optime_ts, optime_date, lag_seconds, sync_source, info_message,
    uptime, config_version, self}]}``.

    ``optime_ts`` is the seconds of the member's last applied oplog entry; ``lag_seconds`` is how far it is behind
    the primary's (None without a primary or without an optime, for example for an arbiter or a DOWN member).
    """
    members = []
    for m in raw.get("members") or []:
        state = int(m.get("state", 6))
        members.append(
            {
                "name": str(m.get("name") or ""),
                "id": m.get("_id"),
                "state": state,
                "state_str": str(m.get("stateStr") or STATE_NAMES.get(state, f"STATE_{state}")),
                "health": int(m.get("health", 0) or 0),
                "optime_ts": ts_seconds(m.get("optime")),
                "optime_date": iso_date(m.get("optimeDate")),
                "lag_seconds": None,
                "sync_source": m.get("syncSourceHost") or m.get("syncingTo") or None,
                "info_message": m.get("infoMessage") or m.get("lastHeartbeatMessage") or "",
                "uptime": m.get("uptime"),
                "config_version": m.get("configVersion"),
                "self": bool(m.get("self", False)),
            }
        )
    primary = next((m for m in members if m["state"] == PRIMARY), None)
    if primary is not None and primary["optime_ts"] is not None:
        for m in members:
            if m["optime_ts"] is not None and m["state"] != ARBITER:
                m["lag_seconds"] = max(0, primary["optime_ts"] - m["optime_ts"])
    me = next((m for m in members if m["self"]), None)
    my_state = raw.get("myState")
    return {
        "set": raw.get("set"),
        "my_state": my_state,
        "my_state_str": STATE_NAMES.get(my_state) if my_state is not None else None,
        "term": raw.get("term"),
        "primary": primary["name"] if primary else None,
        "config_version": me["config_version"] if me else None,
        "self": me["name"] if me else None,
        "members": members,
    }


def status_member(status, name):
    return next((m for m in status["members"] if same_host(m["name"], name)), None)


def is_healthy(member):
    return member is not None and member["health"] == 1 and member["state"] in HEALTHY_STATES


def describe_member(member, name=None):
    if member is None:
        return f"{name} (not in replSetGetStatus)"
    text = f"{member['name']} ({member['state_str']}, health {member['health']}"
    if member.get("info_message"):
        text += f", {member['info_message']!r}"
    return text + ")"


def member_settings(doc):
    """A member of the replica set config with the server's defaults filled in (what a comparison needs)."""
    arbiter = bool(doc.get("arbiterOnly", False))
    return {
        "host": doc.get("host"),
        "arbiterOnly": arbiter,
        "priority": float(doc.get("priority", 0 if arbiter else 1)),
        "votes": int(doc.get("votes", 1)),
        "hidden": bool(doc.get("hidden", False)),
        "tags": dict(doc.get("tags") or {}),
    }


def public_member(doc):
    """A member doc as the modules return it (JSON-safe copy; ``newlyAdded`` is internal)."""
    if doc is None:
        return None
    out = {k: v for k, v in doc.items() if k != "newlyAdded"}
    if "tags" in out:
        out["tags"] = dict(out["tags"] or {})
    return out


def config_member(config, host):
    return next((m for m in config.get("members") or [] if same_host(m.get("host"), host)), None)


def voters(config):
    return [m["host"] for m in config.get("members") or [] if int(m.get("votes", 1)) > 0]


# ---------------------------------------------------------------------------------------------------------------------
# Pure planning (no I/O): unit tested without a server
# ---------------------------------------------------------------------------------------------------------------------


def validate_member_request(config, host, state, priority=None, votes=1, hidden=False, arbiter_only=False, tags=None):
    """Check what the caller asks for ``host`` against MongoDB's member rules and the current ``config``.

    Returns the desired settings ``{'arbiterOnly', 'priority', 'votes', 'hidden', 'tags'}`` (``tags`` None: keep the
    member's), or None for ``state=absent``. ``priority`` None means the default: 1 for a voting, visible data-bearing
    member, else 0. Raises MongoDBParameterError (naming the option) or MongoDBRefusedError.
    """
    split_host(host, "host")
    if state == "absent":
        return None
    if votes not in (0, 1):
        raise MongoDBParameterError(f"votes: must be 0 or 1 (MongoDB members have at most one vote), got {votes!r}")
    if priority is not None and not 0 <= priority <= MAX_PRIORITY:
        raise MongoDBParameterError(f"priority: must be between 0 and {MAX_PRIORITY}, got {priority!r}")
    tags = None if tags is None else {str(k): str(v) for k, v in tags.items()}
    if arbiter_only:
        if priority:
            raise MongoDBParameterError(
                f"priority: an arbiter can never become primary, its priority is 0 (got {priority!r}); "
                "omit priority or set it to 0"
            )
        if hidden:
            raise MongoDBParameterError("hidden: an arbiter holds no data and serves no reads; omit hidden")
        if tags:
            raise MongoDBParameterError(
                "tags: tags route reads and write concerns to members that hold data; an arbiter holds none. Omit tags"
            )
        if votes != 1:
            raise MongoDBParameterError("votes: an arbiter exists to vote; it must have votes=1")
    if votes == 0 and priority:
        raise MongoDBParameterError(
            f"priority: a member with votes=0 must have priority 0 (got {priority!r}); set priority: 0 or votes: 1"
        )
    if hidden and priority:
        raise MongoDBParameterError(
            f"priority: a hidden member must have priority 0 (got {priority!r}); set priority: 0 or hidden: false"
        )
    if priority is None:
        priority = 1.0 if votes == 1 and not hidden and not arbiter_only else 0.0
    current = config_member(config, host)
    if current is not None:
        current_arbiter = bool(current.get("arbiterOnly", False))
        if arbiter_only and not current_arbiter:
            raise MongoDBRefusedError(
                f"{host} is a data-bearing member; an arbiter holds no data: remove {host} first (state=absent), "
                "wipe it, then add it back with arbiter_only=true. Nothing was changed."
            )
        if current_arbiter and not arbiter_only:
            raise MongoDBRefusedError(
                f"{host} is an arbiter and MongoDB cannot turn an arbiter into a data-bearing member: remove {host} "
                "first (state=absent), wipe its data directory, then add it back with arbiter_only=false. "
                "Nothing was changed."
            )
    others = [m for m in voters(config) if not same_host(m, host)]
    if votes == 1 and len(others) + 1 > MAX_VOTERS:
        raise MongoDBRefusedError(
            f"{host} would be voting member number {len(others) + 1}; a replica set has at most {MAX_VOTERS} voting "
            "members. Add it with votes=0 (it then has priority 0), or remove a voting member first. "
            "Nothing was changed."
        )
    if current is None and len(config.get("members") or []) >= MAX_MEMBERS:
        raise MongoDBRefusedError(f"the set already has {MAX_MEMBERS} members, MongoDB's limit. Nothing was changed.")
    return {
        "arbiterOnly": bool(arbiter_only),
        "priority": float(priority),
        "votes": int(votes),
        "hidden": bool(hidden),
        "tags": tags,
    }


def _fmt(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _changes(before, after):
    keys = ("votes", "priority", "hidden", "tags")
    return ", ".join(f"{k} {_fmt(before[k])} -> {_fmt(after[k])}" for k in keys if before[k] != after[k])


def plan_member_change(config, host, state, desired):
    """The reconfig steps that bring ``host`` to ``state``/``desired`` (:func:`validate_member_request`). Pure.

    Returns ``[(description, new_config), ...]``: each config is the previous one (the first: ``config``) with its
    version one higher and one member changed, and never more than one voting change per step. An empty list means
    the member is already as desired. A new voting data-bearing member takes two steps (MongoDB's documented safe
    way): added with votes 0 / priority 0, then - once it is SECONDARY - given its vote and priority.
    """
    base = copy.deepcopy(config)
    base["members"] = [public_member(m) for m in base.get("members") or []]
    steps = []

    def step(description, members):
        previous = steps[-1][1] if steps else base
        new = copy.deepcopy(previous)
        new["members"] = members
        new["version"] = int(previous["version"]) + 1
        steps.append((f"{description} (config version {new['version']})", new))
        return new

    current = config_member(base, host)
    if state == "absent":
        if current is not None:
            role = "arbiter" if current.get("arbiterOnly") else f"votes {int(current.get('votes', 1))}"
            step(
                f"remove {current['host']} (_id {current['_id']}, {role})",
                [m for m in base["members"] if m is not current],
            )
        return steps

    if current is None:
        new_id = max((int(m["_id"]) for m in base["members"]), default=-1) + 1
        if desired["arbiterOnly"]:
            doc = {"_id": new_id, "host": host, "arbiterOnly": True, "priority": 0, "votes": 1}
            step(f"add {host} as an arbiter (_id {new_id}, votes 1, priority 0)", [*base["members"], doc])
            return steps
        doc = {
            "_id": new_id,
            "host": host,
            "arbiterOnly": False,
            "priority": 0,
            "votes": 0,
            "hidden": desired["hidden"],
            "tags": dict(desired["tags"] or {}),
        }
        if desired["votes"] == 0:
            doc["priority"] = desired["priority"]
            step(f"add {host} (_id {new_id}) as a non-voting member (votes 0, priority 0)", [*base["members"], doc])
            return steps
        added = step(
            f"add {host} (_id {new_id}) with votes 0 and priority 0, so that it syncs without counting for the "
            "majority",
            [*base["members"], doc],
        )
        members = copy.deepcopy(added["members"])
        members[-1].update(votes=1, priority=desired["priority"])
        step(f"give {host} its vote (votes 1, priority {_fmt(desired['priority'])}) once it is SECONDARY", members)
        return steps

    before = member_settings(current)
    after = dict(before, priority=desired["priority"], votes=desired["votes"], hidden=desired["hidden"])
    if desired["tags"] is not None:
        after["tags"] = dict(desired["tags"])
    if before == after:
        return steps
    members = copy.deepcopy(base["members"])
    index = next(i for i, m in enumerate(members) if same_host(m.get("host"), host))
    members[index].update(
        priority=after["priority"], votes=after["votes"], hidden=after["hidden"], tags=dict(after["tags"])
    )
    step(f"set {current['host']} {_changes(before, after)}", members)
    return steps


def voting_changes(old_config, new_config):
    """Members whose vote differs between two configs (added/removed voters, votes changed)."""
    old = {str(h).lower() for h in voters(old_config)}
    new = {str(h).lower() for h in voters(new_config)}
    return sorted(old ^ new)


def gives_vote(old_config, new_config, host):
    """Whether ``new_config`` gives the data-bearing member ``host``, a non-voting member in ``old_config``, a vote
    (MongoDB's safe way wants it SECONDARY first)."""
    before = config_member(old_config, host)
    after = config_member(new_config, host)
    if before is None or after is None or after.get("arbiterOnly"):
        return False
    return member_settings(before)["votes"] == 0 and member_settings(after)["votes"] > 0


def check_majority_safe(config, status, new_config):
    """Refuse (MongoDBRefusedError) a reconfig from ``config`` to ``new_config`` that would lose the set's primary:
    removing the primary or making it unelectable, leaving no electable member, or leaving fewer than a majority of
    the new config's voting members healthy now (they must install the config for it to commit). Pure."""
    primary = status.get("primary")
    old_hosts = [m["host"] for m in config.get("members") or []]
    removed = [h for h in old_hosts if config_member(new_config, h) is None]
    if primary and any(same_host(h, primary) for h in removed):
        raise MongoDBRefusedError(
            f"step it down first: the primary cannot be removed ({primary} is the PRIMARY); run switchover/stepdown "
            "(replSetStepDown), then run again. Nothing was changed."
        )
    primary_doc = config_member(new_config, primary) if primary else None
    if primary_doc is not None and member_settings(primary_doc)["priority"] == 0:
        raise MongoDBRefusedError(
            f"{primary} is the PRIMARY and this change makes it unelectable (priority 0); step it down first "
            "(replSetStepDown, or a switchover), then run again. Nothing was changed."
        )
    electable = [
        m["host"]
        for m in new_config.get("members") or []
        if member_settings(m)["priority"] > 0 and member_settings(m)["votes"] > 0 and not m.get("arbiterOnly")
    ]
    if not electable:
        raise MongoDBRefusedError(
            "this change would leave no electable member (every member would have priority 0, votes 0 or be an "
            "arbiter), so the set could never elect a primary again. Keep or give another member priority > 0 "
            "first. Nothing was changed."
        )
    new_voters = voters(new_config)
    needed = len(new_voters) // 2 + 1
    healthy = [h for h in new_voters if is_healthy(status_member(status, h))]
    if len(healthy) < needed:
        unhealthy = [describe_member(status_member(status, h), h) for h in new_voters if h not in healthy]
        raise MongoDBRefusedError(
            f"after this change the set would have {len(new_voters)} voting members of which only {len(healthy)} "
            f"are healthy now ({', '.join(healthy) or 'none'}); a majority ({needed}) must be healthy to commit the "
            f"config and keep a primary. Unhealthy voting members: {', '.join(unhealthy)}. Start them and wait until "
            "they are SECONDARY, or remove a dead member first (state=absent), then run again. Nothing was changed."
        )


def resync_decision(status, window, member, force=False, lag_margin_seconds=60, voting_members=None):
    """Whether ``member`` needs an initial sync from scratch: ``('needed'|'not_needed', reason)``. Pure.

    Needed when the member is RECOVERING because it is too stale to catch up (RS102), when its lag exceeds the
    primary's oplog window (``window`` from :func:`oplog_window`) minus ``lag_margin_seconds``, or with ``force``.
    Raises MongoDBRefusedError when a resync is unsafe or pointless: the member is the PRIMARY or an arbiter, the set
    has no primary (no sync source), no other data-bearing member is healthy, or - with ``voting_members`` (the
    config's voters) - stopping the member would leave fewer than a majority of the voting members healthy.
    """
    decision, reason = _resync_decision(status, window, member, force, lag_margin_seconds)
    if decision == "needed" and voting_members is not None and any(same_host(v, member) for v in voting_members):
        others = [v for v in voting_members if not same_host(v, member) and is_healthy(status_member(status, v))]
        needed = len(voting_members) // 2 + 1
        if len(others) < needed:
            raise MongoDBRefusedError(
                f"a resync of {member} is needed ({reason}), but stopping it would leave {len(others)} of "
                f"{len(voting_members)} voting members healthy ({', '.join(others) or 'none'}), fewer than a majority "
                f"({needed}): the primary would step down. Bring the other members back first. Nothing was changed."
            )
    return decision, reason


def _resync_decision(status, window, member, force, lag_margin_seconds):
    m = status_member(status, member)
    if m is None:
        names = ", ".join(x["name"] for x in status["members"]) or "none"
        raise MongoDBRefusedError(
            f"{member} is not a member of replica set {status.get('set')} (members: {names}); check the member "
            "option (host:port as the replica set config names it). Nothing was changed."
        )
    if m["state"] == PRIMARY:
        if not force:
            return "not_needed", f"{member} is the PRIMARY: it is current, there is nothing to resync"
        raise MongoDBRefusedError(
            f"{member} is the PRIMARY; a resync wipes its data. Step it down first (replSetStepDown, or a "
            "switchover), then run again. Nothing was changed."
        )
    if m["state"] == ARBITER:
        raise MongoDBRefusedError(f"{member} is an arbiter: it holds no data, there is nothing to resync.")
    if not status.get("primary"):
        raise MongoDBRefusedError(
            f"replica set {status.get('set')} has no primary, so a wiped {member} would find no sync source for its "
            "initial sync. Restore a primary first (start a majority of the voting members), then run again. "
            "Nothing was changed."
        )
    others = [
        x
        for x in status["members"]
        if not same_host(x["name"], member) and x["health"] == 1 and x["state"] in (PRIMARY, SECONDARY)
    ]
    if not others:
        raise MongoDBRefusedError(
            f"{member} is the only healthy data-bearing member; wiping it would lose the set's data. "
            "Nothing was changed."
        )
    state = f"{m['state_str']}"
    if force:
        return "needed", f"force=true: {member} ({state}) is resynced even if it could catch up"
    message = m["info_message"] or ""
    if m["state"] == RECOVERING and any(marker in message.lower() for marker in STALE_MARKERS):
        return "needed", f"{member} is RECOVERING and too stale to catch up: {message!r}"
    if m["state"] == STARTUP2:
        return "not_needed", f"{member} is in STARTUP2: its initial sync is in progress"
    lag = m["lag_seconds"]
    if lag is None:
        raise MongoDBRefusedError(
            f"cannot tell whether {describe_member(m)} can catch up: the primary has no optime for it. Start it "
            "(or wait until it answers heartbeats) and run again, or set force=true to resync it anyway. "
            "Nothing was changed."
        )
    window_seconds = (window or {}).get("window_seconds")
    if window_seconds is None:
        raise MongoDBRefusedError("the primary's oplog window is unknown (empty oplog?). Nothing was changed.")
    # The margin never takes more than half of the window: with a short oplog window (a small oplogSizeMB, a busy
    # set) a margin larger than the window would make every member, even one 0 s behind, "need" a resync.
    margin = min(lag_margin_seconds, window_seconds / 2)
    margin_text = f"margin {margin:g} s" + ("" if margin == lag_margin_seconds else " (half the window)")
    limit = window_seconds - margin
    if lag > limit:
        return "needed", (
            f"{member} ({state}) is {lag} s behind the primary, more than its oplog window of {window_seconds} s "
            f"minus the {margin_text}: it cannot catch up from the oplog"
        )
    return "not_needed", (
        f"{member} is {state}, {lag} s behind the primary, within its oplog window of {window_seconds} s "
        f"({margin_text}): it catches up by itself"
    )


def check_data_dir(path, listdir, isdir):
    """Refuse a data_dir that is not an absolute path to a mongod data directory (MongoDBParameterError): an
    empty directory is accepted (a resync that stopped after the deletion can run again). Pure given
    ``listdir``/``isdir`` (os.listdir / os.path.isdir). Returns its entries."""
    text = str(path or "")
    if not text.startswith("/"):
        raise MongoDBParameterError(f"data_dir: {path!r} is not an absolute path; give mongod's storage.dbPath")
    if os.path.normpath(text) in ("/", "//"):
        raise MongoDBParameterError(
            "data_dir: refusing '/': its contents would be deleted; give mongod's storage.dbPath"
        )
    if not isdir(text):
        raise MongoDBParameterError(f"data_dir: {text} is not a directory; give mongod's storage.dbPath")
    entries = sorted(listdir(text))
    if entries and not any(marker in entries for marker in DATA_DIR_MARKERS):
        raise MongoDBParameterError(
            f"data_dir: {text} does not look like a mongod data directory: it contains none of "
            f"{', '.join(DATA_DIR_MARKERS)} (entries: {', '.join(entries[:10])}). Refusing to delete its "
            "contents; give mongod's storage.dbPath"
        )
    return entries


# ---------------------------------------------------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------------------------------------------------


def connection_hint(address, params):
    hint = (
        f"Check that mongod runs on {address} (systemctl status mongod), that it listens there (net.bindIp, "
        "net.port), the firewall, and that the name resolves from this host"
    )
    if params.get("tls"):
        hint += "; with tls=true also tls_ca_file and tls_certificate_key_file"
    return hint + "."


class MongoNode:
    """One mongod, connected directly. ``command`` turns pymongo errors into MongoDBError subclasses."""

    def __init__(self, client, address, params):
        self.client = client
        self.address = address
        self.params = params

    def translate(self, exc, what):
        if isinstance(exc, OperationFailure):
            code = getattr(exc, "code", None)
            detail = server_message(exc)
            if code == AUTH_FAILED:
                return MongoDBAuthError(
                    f"login_user/login_password rejected by {self.address}: check the credentials (vault) and "
                    f"login_database (the user's authentication database, now {self.params.get('login_database')!r})"
                    f". Server: {detail}"
                )
            if code == UNAUTHORIZED:
                who = self.params.get("login_user") or "no user (login_user is not set)"
                return MongoDBAuthError(
                    f"{what} on {self.address} is not allowed for {who}: {detail}. The user needs the clusterAdmin "
                    "role (clusterMonitor for the read-only module) in login_database."
                )
            cls = MongoDBNotInitializedError if code == NOT_YET_INITIALIZED else MongoDBCommandError
            return cls(f"{what} failed on {self.address} (code {code}): {detail}", code=code, detail=detail)
        if isinstance(exc, ConfigurationError):
            return MongoDBParameterError(f"the connection options for {self.address} are invalid: {exc}")
        if isinstance(exc, (ConnectionFailure, AutoReconnect)):
            return MongoDBConnectionError(
                f"cannot reach mongod at {self.address} ({what}): {short_error(exc)}. "
                f"{connection_hint(self.address, self.params)}",
                address=self.address,
            )
        return MongoDBCommandError(f"{what} failed on {self.address}: {exc}")

    def command(self, name, value=1, **kwargs):
        try:
            return self.client.admin.command(name, value, **kwargs)
        except PyMongoError as e:
            raise self.translate(e, name) from None

    def hello(self):
        """``hello`` (``isMaster`` before MongoDB 4.4.2) -> the reply with ``isWritablePrimary`` always set."""
        try:
            reply = self.command("hello")
        except MongoDBCommandError as e:
            if e.code != COMMAND_NOT_FOUND:
                raise
            reply = self.command("isMaster")
        reply = dict(reply)
        reply["isWritablePrimary"] = bool(reply.get("isWritablePrimary", reply.get("ismaster", False)))
        return reply

    def oplog_entry(self, direction):
        try:
            cursor = self.client.local["oplog.rs"].find({}, {"ts": 1}).sort("$natural", direction).limit(1)
            return next(iter(cursor), None)
        except PyMongoError as e:
            raise self.translate(e, "reading local.oplog.rs") from None

    def close(self):
        with contextlib.suppress(Exception):  # closing is best effort
            self.client.close()


def client_options(params):
    timeout = params.get("connect_timeout")
    if timeout is None or timeout <= 0:
        raise MongoDBParameterError(f"connect_timeout: must be a positive number of seconds, got {timeout!r}")
    options = {
        "directConnection": True,
        "serverSelectionTimeoutMS": int(timeout * 1000),
        "connectTimeoutMS": int(timeout * 1000),
    }
    if params.get("login_user"):
        options.update(
            username=params["login_user"],
            password=params.get("login_password"),
            authSource=params.get("login_database") or "admin",
        )
    if params.get("tls"):
        options["tls"] = True
        if params.get("tls_ca_file"):
            options["tlsCAFile"] = params["tls_ca_file"]
        if params.get("tls_certificate_key_file"):
            options["tlsCertificateKeyFile"] = params["tls_certificate_key_file"]
    elif params.get("tls_ca_file") or params.get("tls_certificate_key_file"):
        raise MongoDBParameterError("tls: tls_ca_file/tls_certificate_key_file are set but tls is false; set tls: true")
    return options


def connect(params, host=None, port=None):
    """A :class:`MongoNode` for ``host:port`` (default login_host:login_port). pymongo connects lazily: the first
    command reports an unreachable member or rejected credentials."""
    host = host or params.get("login_host") or "localhost"
    port = int(port or params.get("login_port") or 27017)
    address = f"{host}:{port}"
    options = client_options(params)
    try:
        client = MongoClient(host, port, **options)
    except PyMongoError as e:
        raise MongoNode(None, address, params).translate(e, "connect") from None
    return MongoNode(client, address, params)


def check_set_name(hello, params, address):
    """The member must belong to the set named by replica_set (when given)."""
    wanted = params.get("replica_set")
    actual = hello.get("setName")
    if wanted and actual and actual != wanted:
        raise MongoDBParameterError(
            f"replica_set: {address} belongs to replica set {actual!r}, not {wanted!r}; check login_host/login_port "
            "(or seeds) and replica_set"
        )


def find_primary(seed):
    """The primary as a :class:`MongoNode`: ``seed`` itself when it is writable, else a direct connection to the
    member its ``hello`` names. Raises MongoDBRefusedError when there is no primary or the set is not initialized."""
    hello = seed.hello()
    check_set_name(hello, seed.params, seed.address)
    if hello.get("isWritablePrimary"):
        return seed
    if not hello.get("setName"):
        if hello.get("isreplicaset"):
            raise MongoDBRefusedError(
                f"{seed.address} runs with a replica set name but has no config yet (not initiated); initiate the "
                "set (replSetInitiate) first, or point login_host at a member of an initiated set"
            )
        raise MongoDBRefusedError(
            f"{seed.address} is not a replica set member (mongod runs without replication.replSetName)"
        )
    name = hello.get("primary")
    if not name:
        raise MongoDBRefusedError(
            f"{seed.address} (replica set {hello.get('setName')}) knows no primary right now: an election is in "
            "progress or a majority of the voting members is down. Check apiplatform.ha.mongodb_replset_info and run "
            "again once the set has a primary."
        )
    host, port = split_host(name, "primary")
    primary = connect(seed.params, host, port)
    if not primary.hello().get("isWritablePrimary"):
        primary.close()
        raise MongoDBRefusedError(
            f"{seed.address} names {name} as primary, but {name} is not writable primary (an election just "
            "happened?); run again"
        )
    return primary


def read_status(node):
    """:func:`normalize_status` of ``replSetGetStatus`` on ``node``."""
    return normalize_status(node.command("replSetGetStatus"))


def read_config(node, commitment=False):
    """``replSetGetConfig`` -> the config (a dict). With ``commitment`` returns ``(config, committed)``;
    ``committed`` is None when the server does not report commitmentStatus (before MongoDB 4.4, or not primary)."""
    if not commitment:
        return dict(node.command("replSetGetConfig")["config"])
    try:
        reply = node.command("replSetGetConfig", 1, commitmentStatus=True)
    except MongoDBCommandError as e:
        if isinstance(e, MongoDBNotInitializedError):
            raise
        reply = node.command("replSetGetConfig")
    committed = reply.get("commitmentStatus")
    return dict(reply["config"]), (None if committed is None else bool(committed))


def oplog_window(node):
    """First and last entries of ``local.oplog.rs`` on ``node`` -> ``{first_ts, last_ts, window_seconds, first,
    last}`` (seconds since the epoch and ISO dates); None values for an empty oplog."""
    first = ts_seconds((node.oplog_entry(1) or {}).get("ts"))
    last = ts_seconds((node.oplog_entry(-1) or {}).get("ts"))
    return {
        "first_ts": first,
        "last_ts": last,
        "window_seconds": (last - first) if first is not None and last is not None else None,
        "first": iso_seconds(first),
        "last": iso_seconds(last),
    }


def reconfig_error(error, description, address):
    """A MongoDBCommandError of replSetReconfig with the server's message and what to do about it."""
    hint = RECONFIG_HINTS.get(error.code, "")
    return MongoDBCommandError(
        f"replSetReconfig ({description}) failed on {address} (code {error.code}): {error.detail}. {hint}".strip(),
        code=error.code,
        detail=error.detail,
    )


def config_committed(node, version, status=None):
    """Whether config ``version`` is committed: the primary's replSetGetConfig reports it with commitmentStatus
    true (MongoDB >= 4.4), else a majority of the voting members report that configVersion in replSetGetStatus.
    Returns ``(committed, seen)`` where ``seen`` describes what was observed."""
    config, committed = read_config(node, commitment=True)
    if int(config.get("version", 0)) < version:
        return False, f"the primary's config is version {config.get('version')}"
    if committed is not None:
        return committed, f"version {config.get('version')}, commitmentStatus {committed}"
    status = status or read_status(node)
    votes = voters(config)
    have = [h for h in votes if (status_member(status, h) or {}).get("config_version") == config.get("version")]
    ok = len(have) >= len(votes) // 2 + 1
    return ok, f"version {config.get('version')} installed on {len(have)} of {len(votes)} voting members"


# ---------------------------------------------------------------------------------------------------------------------
# Waits
# ---------------------------------------------------------------------------------------------------------------------


def wait_for(check, timeout, what, interval=1.0, clock=None, sleep=None):
    """Call ``check()`` (returning ``(done, seen)``) until done or ``timeout`` seconds pass; raise
    MongoDBTimeoutError naming ``what`` it waited for and the last ``seen``. Connection errors while waiting count
    as not done (a member restarts, a primary steps down). Returns the last ``seen``."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    deadline = clock() + timeout
    seen = "nothing (no answer yet)"
    while True:
        try:
            done, seen = check()
        except (MongoDBConnectionError, MongoDBNotInitializedError) as e:
            done, seen = False, str(e)
        if done:
            return seen
        if clock() >= deadline:
            raise MongoDBTimeoutError(f"waited wait_timeout={timeout} s for {what}; last seen: {seen}.")
        sleep(min(interval, max(0.0, deadline - clock())))
