# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small RabbitMQ management HTTP API client and the pure planning functions of the RabbitMQ API modules.

Nothing here calls ``fail_json``: every problem is raised as a :class:`RabbitMQError` subclass and the module's
``main()`` turns it into one ``fail_json(msg=...)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import html
import json
import re
import traceback
from urllib.parse import quote, urlsplit

try:
    import requests
except ImportError:  # pragma: no cover - exercised on hosts without python3-requests
    requests = None
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None


CONNECTION_HINT = (
    "Check the api_url option (the management API with scheme and port, e.g. http://10.0.0.1:15672), that the node "
    "runs there with the management plugin (rabbitmq-diagnostics -q status; rabbitmq-plugins enable "
    "rabbitmq_management; ss -ltnp | grep 15672) and, for https, the api_ca_cert/validate_certs options."
)
VHOST_HINT = (
    "Create it first (community.rabbitmq.rabbitmq_vhost, or the rabbitmq role's rabbitmq_vhosts list), or correct "
    "the vhost option."
)


class RabbitMQError(Exception):
    """Base class of every error this module_utils raises."""


class RabbitMQParameterError(RabbitMQError):
    """A module option has a value that cannot be used; the message names the option and the fix."""


class RabbitMQConnectionError(RabbitMQError):
    """The management API did not answer (or answered with an unexpected HTTP status); the message names the URL."""

    def __init__(self, message, url=None, status=None):
        self.url = url
        self.status = status
        super().__init__(message)


class RabbitMQAuthError(RabbitMQError):
    """The management API rejected the credentials (401) or the user's permissions (403)."""


class RabbitMQNotFoundError(RabbitMQError):
    """The object (vhost, policy, ...) does not exist (HTTP 404)."""


class RabbitMQUnsupportedError(RabbitMQError):
    """The server's version does not know the requested setting (or no longer has it)."""


RABBITMQ_API_ARGUMENT_SPEC = {
    "api_url": {"type": "str", "default": "http://127.0.0.1:15672"},
    "api_user": {"type": "str", "default": "admin"},
    "api_password": {"type": "str", "no_log": True, "required": True},
    "api_ca_cert": {"type": "path"},
    "validate_certs": {"type": "bool", "default": True},
    "api_timeout": {"type": "int", "default": 10},
}


def rabbitmq_api_argument_spec():
    """Management API options shared by the RabbitMQ API modules (doc fragment apiplatform.ha.rabbitmq); a copy."""
    return copy.deepcopy(RABBITMQ_API_ARGUMENT_SPEC)


# ---------------------------------------------------------------------------------------------------------------------
# Versions and the policy keys each one knows
# ---------------------------------------------------------------------------------------------------------------------

CLASSIC_MIRRORING_REMOVED = (4, 0, 0)
CLASSIC_MIRRORING_HINT = (
    "classic queue mirroring (the ha-* policy keys) was removed in RabbitMQ 4.0: the server would ignore these keys "
    "and the queues would have no replica. Use quorum queues instead (queue_type=quorum; clients declare queues with "
    "the returned queue_arguments, x-queue-type: quorum)."
)

# key -> (value kind, first version that knows it, first version that no longer has it or None, what it is for).
# Kinds: int (>= 0), posint (>= 1), str, ha_params (int or list), any. Version bounds follow the validators in
# rabbit_policies.erl / rabbit_mirror_queue_misc.erl and the release notes; the server validates again on PUT.
POLICY_KEYS = {
    "alternate-exchange": ("str", (3, 0, 0), None, "exchanges"),
    "dead-letter-exchange": ("str", (3, 0, 0), None, "queues"),
    "dead-letter-routing-key": ("str", (3, 0, 0), None, "queues"),
    "message-ttl": ("int", (3, 0, 0), None, "queues"),
    "expires": ("posint", (3, 0, 0), None, "queues"),
    "max-length": ("int", (3, 1, 0), None, "queues"),
    "max-length-bytes": ("int", (3, 4, 0), None, "queues"),
    "overflow": ("str", (3, 7, 0), None, "queues"),
    "queue-mode": ("str", (3, 6, 0), None, "classic queues (ignored from 3.12 on)"),
    "queue-master-locator": ("str", (3, 6, 0), (4, 0, 0), "classic queues"),
    "ha-mode": ("str", (3, 0, 0), CLASSIC_MIRRORING_REMOVED, "classic mirrored queues"),
    "ha-params": ("ha_params", (3, 0, 0), CLASSIC_MIRRORING_REMOVED, "classic mirrored queues"),
    "ha-sync-mode": ("str", (3, 0, 0), CLASSIC_MIRRORING_REMOVED, "classic mirrored queues"),
    "ha-sync-batch-size": ("posint", (3, 6, 0), CLASSIC_MIRRORING_REMOVED, "classic mirrored queues"),
    "ha-promote-on-shutdown": ("str", (3, 6, 0), CLASSIC_MIRRORING_REMOVED, "classic mirrored queues"),
    "ha-promote-on-failure": ("str", (3, 7, 0), CLASSIC_MIRRORING_REMOVED, "classic mirrored queues"),
    "delivery-limit": ("int", (3, 8, 0), None, "quorum queues"),
    "max-in-memory-length": ("int", (3, 8, 0), (4, 0, 0), "quorum queues"),
    "max-in-memory-bytes": ("int", (3, 8, 0), (4, 0, 0), "quorum queues"),
    "max-age": ("str", (3, 9, 0), None, "streams"),
    "stream-max-segment-size-bytes": ("int", (3, 9, 0), None, "streams"),
    "queue-leader-locator": ("str", (3, 9, 0), None, "quorum queues and streams"),
    "initial-cluster-size": ("posint", (3, 9, 0), None, "streams (not quorum queues)"),
    "queue-version": ("int", (3, 10, 0), None, "classic queues"),
    "dead-letter-strategy": ("str", (3, 10, 0), None, "quorum queues"),
    "consumer-timeout": ("int", (3, 12, 0), None, "queues"),
    "target-group-size": ("posint", (3, 13, 0), None, "quorum queues (membership reconciliation)"),
    "federation-upstream": ("str", (3, 0, 0), None, "federation plugin"),
    "federation-upstream-set": ("str", (3, 0, 0), None, "federation plugin"),
}

APPLY_TO_SINCE = {
    "all": (3, 2, 0),
    "queues": (3, 2, 0),
    "exchanges": (3, 2, 0),
    "classic_queues": (3, 12, 0),
    "quorum_queues": (3, 12, 0),
    "streams": (3, 12, 0),
}
# apply_to values that make sense for the queues of each queue_type
APPLY_TO_BY_QUEUE_TYPE = {
    "quorum": ("all", "queues", "quorum_queues"),
    "classic_mirrored": ("all", "queues", "classic_queues"),
}
HA_MODES = ("all", "exactly", "nodes")
HA_SYNC_MODES = ("automatic", "manual")


def version_tuple(text):
    """'3.10.8' -> (3, 10, 8); '4.0.0-rc.1', '3.13.7+2.g1234' -> their first three numbers. Raises for garbage."""
    m = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(text or ""))
    if not m:
        raise RabbitMQUnsupportedError(f"cannot read a RabbitMQ version from {text!r} (GET /api/overview)")
    return tuple(int(part or 0) for part in m.groups())


def version_text(version):
    return ".".join(str(p) for p in version)


def validate_pattern(pattern, option="pattern"):
    """Compile ``pattern`` with Python ``re`` (close to the server's PCRE); raise naming ``option`` when malformed."""
    if pattern is None or not str(pattern):
        raise RabbitMQParameterError(f"{option}: must be a non-empty regular expression, e.g. '^orders\\.' or '.*'")
    try:
        re.compile(pattern)
    except re.error as e:
        raise RabbitMQParameterError(
            f"{option}: {pattern!r} is not a valid regular expression ({e}); nothing was changed. Escape literal "
            "dots and brackets (e.g. '^orders\\.' ) and close every group."
        ) from None
    return pattern


def _coerce(key, kind, value, option):
    """Turn a value given through YAML/Jinja (numbers may arrive as strings) into what the server stores."""
    where = f"{option}.{key}" if option == "definition" else option
    if kind in ("int", "posint"):
        if isinstance(value, bool):
            raise RabbitMQParameterError(f"{where}: must be an integer, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise RabbitMQParameterError(f"{where}: must be an integer, got {value!r}") from None
        if isinstance(value, float) and number != value:
            raise RabbitMQParameterError(f"{where}: must be an integer, got {value!r}")
        low = 1 if kind == "posint" else 0
        if number < low:
            raise RabbitMQParameterError(f"{where}: must be {low} or more, got {number}")
        return number
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise RabbitMQParameterError(f"{where}: must be a non-empty string, got {value!r}")
        return value
    return value


def validate_definition(definition, version, option="definition"):
    """Check every key of ``definition`` against :data:`POLICY_KEYS` for ``version``; return it with coerced values.

    Raises RabbitMQParameterError for a key RabbitMQ does not know (naming it and the known keys) and
    RabbitMQUnsupportedError for a key this server version does not have (yet, or any more).
    """
    out = {}
    for key in sorted(definition or {}):
        if key not in POLICY_KEYS:
            hint = ""
            if key.startswith("x-"):
                hint = (
                    f" {key!r} looks like a queue argument (clients set those when they declare a queue); policy "
                    "keys have no 'x-' prefix."
                )
            raise RabbitMQParameterError(
                f"{option}: {key!r} is not a RabbitMQ policy key.{hint} Known keys: {', '.join(sorted(POLICY_KEYS))}"
            )
        kind, since, until, purpose = POLICY_KEYS[key]
        if version is not None and version < since:
            raise RabbitMQUnsupportedError(
                f"{option}: policy key {key!r} ({purpose}) needs RabbitMQ {version_text(since)} or later; the server "
                f"runs {version_text(version)}. Remove it or upgrade the cluster."
            )
        if version is not None and until is not None and version >= until:
            if until == CLASSIC_MIRRORING_REMOVED and key.startswith("ha-"):
                raise RabbitMQUnsupportedError(
                    f"{option}: {key!r} on RabbitMQ {version_text(version)}: {CLASSIC_MIRRORING_HINT}"
                )
            raise RabbitMQUnsupportedError(
                f"{option}: policy key {key!r} ({purpose}) was removed in RabbitMQ {version_text(until)}; the server "
                f"runs {version_text(version)}. Remove it from the definition."
            )
        out[key] = _coerce(key, kind, definition[key], option)
    return out


def validate_apply_to(apply_to, version, queue_type=None):
    """Raise when the server version does not know ``apply_to``, or when it does not fit ``queue_type``."""
    since = APPLY_TO_SINCE.get(apply_to)
    if since is None:
        raise RabbitMQParameterError(f"apply_to: {apply_to!r} is not one of {', '.join(APPLY_TO_SINCE)}")
    if version is not None and version < since:
        older = ", ".join(k for k, v in APPLY_TO_SINCE.items() if v <= version)
        raise RabbitMQUnsupportedError(
            f"apply_to: {apply_to!r} needs RabbitMQ {version_text(since)} or later; the server runs "
            f"{version_text(version)}, which knows {older}. Use apply_to=queues (a policy applies to the queues its "
            "pattern matches, whatever their type)."
        )
    if queue_type and apply_to not in APPLY_TO_BY_QUEUE_TYPE[queue_type]:
        raise RabbitMQParameterError(
            f"apply_to: {apply_to!r} does not fit queue_type={queue_type} (the policy would never reach those "
            f"queues); use one of {', '.join(APPLY_TO_BY_QUEUE_TYPE[queue_type])}."
        )
    return apply_to


def _ha_params(mode, value):
    if mode == "all":
        if value not in (None, "", []):
            raise RabbitMQParameterError("ha_params: must not be set with ha_mode=all (every node gets a mirror)")
        return None
    if value in (None, "", []):
        example = "2" if mode == "exactly" else "['rabbit@node1', 'rabbit@node2']"
        raise RabbitMQParameterError(f"ha_params: required with ha_mode={mode} (for example {example})")
    if mode == "exactly":
        return _coerce("ha-params", "posint", value, "ha_params")
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise RabbitMQParameterError(
            f"ha_params: with ha_mode=nodes, a list of node names such as ['rabbit@node1', 'rabbit@node2'], got "
            f"{value!r}"
        )
    return list(value)


def build_ha_policy(params, version):
    """The policy (and the queue arguments clients must declare with) that the module options describe. Pure.

    Returns ``(desired, queue_arguments)``; ``desired`` is ``{'pattern', 'apply-to', 'priority', 'definition'}``.
    Raises RabbitMQParameterError / RabbitMQUnsupportedError, changing nothing.
    """
    queue_type = params.get("queue_type") or "quorum"
    if queue_type not in APPLY_TO_BY_QUEUE_TYPE:
        raise RabbitMQParameterError(f"queue_type: one of quorum, classic_mirrored, got {queue_type!r}")
    pattern = validate_pattern(params.get("pattern"))
    apply_to = validate_apply_to(params.get("apply_to") or "queues", version, queue_type)
    extra = validate_definition(params.get("definition") or {}, version)
    ha_keys = sorted(k for k in extra if k.startswith("ha-"))
    definition = {}
    queue_arguments = {}

    if queue_type == "classic_mirrored":
        if version is not None and version >= CLASSIC_MIRRORING_REMOVED:
            raise RabbitMQUnsupportedError(
                f"queue_type: classic_mirrored on RabbitMQ {version_text(version)}: {CLASSIC_MIRRORING_HINT}"
            )
        for option in ("delivery_limit", "initial_group_size"):
            if params.get(option) is not None:
                raise RabbitMQParameterError(f"{option}: applies to queue_type=quorum only")
        mode = params.get("ha_mode")
        if mode not in HA_MODES:
            raise RabbitMQParameterError(f"ha_mode: one of {', '.join(HA_MODES)} is required with classic_mirrored")
        definition["ha-mode"] = mode
        ha_params = _ha_params(mode, params.get("ha_params"))
        if ha_params is not None:
            definition["ha-params"] = ha_params
        sync = params.get("ha_sync_mode")
        if sync is not None:
            if sync not in HA_SYNC_MODES:
                raise RabbitMQParameterError(f"ha_sync_mode: one of {', '.join(HA_SYNC_MODES)}, got {sync!r}")
            definition["ha-sync-mode"] = sync
        queue_arguments["x-queue-type"] = "classic"
    else:
        for option in ("ha_mode", "ha_params", "ha_sync_mode"):
            if params.get(option) not in (None, "", []):
                raise RabbitMQParameterError(
                    f"{option}: applies to queue_type=classic_mirrored only; quorum queues replicate by themselves "
                    "(their ha-* keys would be ignored)"
                )
        if ha_keys:
            raise RabbitMQParameterError(
                f"definition: {', '.join(ha_keys)} apply to classic mirrored queues only; quorum queues ignore them. "
                "Remove them, or use queue_type=classic_mirrored (RabbitMQ before 4.0)."
            )
        limit = params.get("delivery_limit")
        if limit is not None:
            definition["delivery-limit"] = _coerce("delivery-limit", "int", limit, "delivery_limit")
        queue_arguments["x-queue-type"] = "quorum"
        size = params.get("initial_group_size")
        if size is not None:
            queue_arguments["x-quorum-initial-group-size"] = _coerce("size", "posint", size, "initial_group_size")

    for key in sorted(set(definition) & set(extra)):
        option = {"delivery-limit": "delivery_limit", "ha-mode": "ha_mode", "ha-params": "ha_params"}.get(
            key, "ha_sync_mode"
        )
        raise RabbitMQParameterError(
            f"definition: {key!r} is also set by the {option} option; set it in one place only"
        )
    definition.update(extra)
    if not definition:
        raise RabbitMQParameterError(
            "definition: the policy would be empty and RabbitMQ refuses empty policies. With queue_type=quorum the "
            "queue type and initial_group_size are queue arguments (returned in queue_arguments for clients to "
            "declare queues with), not policy keys: set delivery_limit or definition (e.g. max-length)."
        )
    try:
        priority = int(params.get("priority") or 0)
    except (TypeError, ValueError):
        raise RabbitMQParameterError(f"priority: must be an integer, got {params.get('priority')!r}") from None
    desired = {"pattern": pattern, "apply-to": apply_to, "priority": priority, "definition": definition}
    return desired, queue_arguments


def policy_view(raw):
    """A policy as GET /api/policies answers it, in our shape (or None)."""
    if not raw:
        return None
    return {
        "vhost": raw.get("vhost"),
        "name": raw.get("name"),
        "pattern": raw.get("pattern"),
        "apply-to": raw.get("apply-to") or "all",
        "priority": raw.get("priority") or 0,
        "definition": dict(raw.get("definition") or {}),
    }


def policy_changes(current, desired):
    """Names of what differs between the policy on the server and the desired one ([] when equal). Pure.

    ``None`` stands for "no policy": creating or removing one is the single change ``policy``.
    """
    if current is None or desired is None:
        return [] if current is desired else ["policy"]
    changes = [f for f in ("pattern", "apply-to", "priority") if current.get(f) != desired.get(f)]
    before, after = current.get("definition") or {}, desired.get("definition") or {}
    changes += [f"definition.{k}" for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return changes


# ---------------------------------------------------------------------------------------------------------------------
# Cluster summary for rabbitmq_cluster_info and the check script
# ---------------------------------------------------------------------------------------------------------------------


def summarize_nodes(raw_nodes):
    """GET /api/nodes -> sorted list of ``{name, running, type, partitions, mem_alarm, disk_free_alarm, uptime_s}``."""
    out = []
    for n in raw_nodes or []:
        running = bool(n.get("running"))
        uptime = n.get("uptime")
        out.append(
            {
                "name": n.get("name") or "",
                "running": running,
                "type": n.get("type") or "",
                "partitions": sorted(n.get("partitions") or []),
                "mem_alarm": bool(n.get("mem_alarm")) if running else False,
                "disk_free_alarm": bool(n.get("disk_free_alarm")) if running else False,
                "uptime_s": int(uptime // 1000) if running and isinstance(uptime, (int, float)) else None,
            }
        )
    return sorted(out, key=lambda x: x["name"])


def node_partitions(nodes):
    """Unordered pairs [a, b] (a < b) of nodes that report a partition between them, sorted."""
    pairs = set()
    for n in nodes:
        for other in n["partitions"]:
            pairs.add(tuple(sorted((n["name"], other))))
    return [list(p) for p in sorted(pairs)]


def node_alarms(nodes):
    out = []
    for n in nodes:
        if n["mem_alarm"]:
            out.append(f"memory alarm on {n['name']} (publishers are blocked)")
        if n["disk_free_alarm"]:
            out.append(f"disk free alarm on {n['name']} (publishers are blocked)")
    return out


def summarize_quorum_queues(raw_queues, running_nodes=None):
    """Quorum queues of GET /api/queues -> ``{vhost, name, leader, members, online, has_quorum}``, sorted.

    ``online`` keeps only members on running nodes when ``running_nodes`` is given (the API can report a member of a
    stopped node as online for a while).
    """
    out = []
    for q in raw_queues or []:
        if q.get("type") != "quorum":
            continue
        members = sorted(q.get("members") or [])
        online = sorted(set(q.get("online") or []) & set(members))
        if running_nodes is not None:
            online = [m for m in online if m in running_nodes]
        leader = q.get("leader")
        if running_nodes is not None and leader not in running_nodes:
            leader = None
        out.append(
            {
                "vhost": q.get("vhost") or "/",
                "name": q.get("name") or "",
                "leader": leader,
                "members": members,
                "online": online,
                "has_quorum": bool(members) and len(online) > len(members) // 2,
            }
        )
    return sorted(out, key=lambda x: (x["vhost"], x["name"]))


def queues_by_node(quorum_queues, node_names=()):
    """``{node: {'leaders': n, 'members': n}}`` for every node of the cluster and every node hosting a member."""
    out = {name: {"leaders": 0, "members": 0} for name in node_names}
    for q in quorum_queues:
        for m in q["members"]:
            out.setdefault(m, {"leaders": 0, "members": 0})["members"] += 1
        if q["leader"]:
            out.setdefault(q["leader"], {"leaders": 0, "members": 0})["leaders"] += 1
    return dict(sorted(out.items()))


def canonical_definitions(definitions):
    """GET /api/definitions with every list sorted: the same definitions always give the same document.

    The broker returns users, queues, bindings... in table order, which can change when an unrelated object is
    added; a backup file kept from it should change only when a definition does. Lists are sorted by each item's
    JSON form (keys sorted), other values are kept as they are. Raises RabbitMQParameterError for a non-dict input.
    """
    if not isinstance(definitions, dict):
        raise RabbitMQParameterError(
            f"definitions must be the JSON object of GET /api/definitions, got {type(definitions).__name__}"
        )
    out = {}
    for key, value in definitions.items():
        if isinstance(value, list):
            value = sorted(value, key=lambda item: json.dumps(item, sort_keys=True))
        out[key] = value
    return out


def cluster_summary(overview, raw_nodes, raw_queues, raw_policies):
    """Everything rabbitmq_cluster_info returns, from the four API answers. Pure."""
    nodes = summarize_nodes(raw_nodes)
    running = [n["name"] for n in nodes if n["running"]]
    quorum = summarize_quorum_queues(raw_queues, set(running))
    return {
        "cluster_name": overview.get("cluster_name"),
        "rabbitmq_version": overview.get("rabbitmq_version") or overview.get("product_version"),
        "erlang_version": overview.get("erlang_version"),
        "nodes": nodes,
        "running_nodes": running,
        "stopped_nodes": [n["name"] for n in nodes if not n["running"]],
        "partitions": node_partitions(nodes),
        "alarms": node_alarms(nodes),
        "quorum_queues": quorum,
        "queues_by_node": queues_by_node(quorum, [n["name"] for n in nodes]),
        "under_replicated": [q for q in quorum if not q["has_quorum"]],
        "degraded": [q for q in quorum if len(q["online"]) < len(q["members"])],
        "policies": sorted(
            (policy_view(p) for p in raw_policies or []), key=lambda p: (p["vhost"] or "", p["name"] or "")
        ),
    }


# ---------------------------------------------------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------------------------------------------------


def validate_url(value, option="api_url", example="http://10.0.0.1:15672"):
    """Return ``value`` without a trailing slash if it is an http(s) URL with a host, else raise."""
    text = "" if value is None else str(value).strip()
    fix = f"write it as scheme://host:port, for example {example}"
    try:
        parts = urlsplit(text)
        _port = parts.port
    except ValueError as e:
        raise RabbitMQParameterError(f"{option}: {value!r} is not a valid URL ({e}); {fix}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RabbitMQParameterError(f"{option}: {value!r} is not a URL with scheme (http/https) and host; {fix}")
    if parts.query or parts.fragment:
        raise RabbitMQParameterError(f"{option}: {value!r} must not carry a query; {fix}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def vhost_path(vhost):
    """A vhost as one URL path segment ('/' -> '%2F')."""
    return quote(vhost, safe="")


def _first_wins(pairs):
    """JSON objects keep the first of duplicated keys: 3.10's queue listing repeats 'online', the stale copy last."""
    out = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def _short_error(exc):
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "certificate verify failed"):
        if marker in text:
            return f"{marker} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {text[:300]}"


def _reason(data):
    text = (data.get("reason") or data.get("error") or json.dumps(data)) if isinstance(data, dict) else data
    return " ".join(html.unescape(str(text)).split())[:400]


class RabbitMQClient:
    """The management HTTP API with basic auth. Paths start with /api."""

    def __init__(self, api_url, user, password, ca_cert=None, validate_certs=True, timeout=10, session=None):
        self.api_url = validate_url(api_url)
        if timeout is None or timeout <= 0:
            raise RabbitMQParameterError(f"api_timeout: must be a positive number of seconds, got {timeout!r}")
        if not user:
            raise RabbitMQParameterError("api_user: must not be empty (a user with the administrator tag)")
        self.timeout = timeout
        self.user = user
        self.auth = (user, password or "")
        self.verify = ca_cert if ca_cert else bool(validate_certs)
        self._session = session if session is not None else requests.Session()

    @classmethod
    def from_params(cls, params):
        return cls(
            params["api_url"],
            params.get("api_user"),
            params.get("api_password"),
            ca_cert=params.get("api_ca_cert") or None,
            validate_certs=params.get("validate_certs", True),
            timeout=params.get("api_timeout") or 10,
        )

    def request(self, method, path, body=None, params=None, ok=(200,)):
        """Send one request; return ``(status, parsed JSON or text)``; raise typed errors for everything else."""
        target = self.api_url + path
        kwargs = {"timeout": self.timeout, "verify": self.verify, "auth": self.auth}
        if body is not None:
            kwargs["json"] = body
        if params:
            kwargs["params"] = params
        try:
            resp = self._session.request(method, target, **kwargs)
        except requests.exceptions.RequestException as e:
            raise RabbitMQConnectionError(
                f"could not reach the RabbitMQ management API at {target}: {_short_error(e)}. {CONNECTION_HINT}",
                url=target,
            ) from None
        text = resp.text or ""
        try:
            data = json.loads(text, object_pairs_hook=_first_wins) if text.strip() else None
        except ValueError:
            data = text.strip()
        if resp.status_code in ok:
            return resp.status_code, data
        reason = _reason(data)
        if resp.status_code == 401:
            raise RabbitMQAuthError(
                f"the RabbitMQ management API at {target} rejected user {self.user!r} (HTTP 401: {reason}). Check "
                "api_user/api_password (rabbitmqctl authenticate_user <user> <password>); the guest user is refused "
                "from anywhere but localhost."
            )
        if resp.status_code == 403:
            raise RabbitMQAuthError(
                f"the RabbitMQ management API at {target} refused {method} to user {self.user!r} (HTTP 403: "
                f"{reason}). The api_user needs the administrator tag (rabbitmqctl set_user_tags {self.user} "
                "administrator) and permissions on the vhost."
            )
        if resp.status_code == 404:
            raise RabbitMQNotFoundError(f"{method} {target}: not found (HTTP 404: {reason})")
        if resp.status_code == 400:
            raise RabbitMQParameterError(f"RabbitMQ refused {method} {target} (HTTP 400): {reason}")
        raise RabbitMQConnectionError(
            f"the RabbitMQ management API at {target} answered {method} with HTTP {resp.status_code} "
            f"{resp.reason}: {reason}",
            url=target,
            status=resp.status_code,
        )

    def get(self, path, params=None):
        return self.request("GET", path, params=params)[1]

    def put(self, path, body):
        return self.request("PUT", path, body=body, ok=(200, 201, 204))[0]

    def delete(self, path):
        return self.request("DELETE", path, ok=(200, 204))[0]

    # -- resources ---------------------------------------------------------------------------------------------------

    def overview(self):
        data = self.get("/api/overview")
        if not isinstance(data, dict):
            raise RabbitMQConnectionError(
                f"{self.api_url}/api/overview did not answer with a JSON object (is this the RabbitMQ management API?)",
                url=self.api_url + "/api/overview",
            )
        return data

    def server_version(self):
        """``(version text, version tuple)`` of the node behind api_url."""
        overview = self.overview()
        text = overview.get("rabbitmq_version") or overview.get("product_version")
        return text, version_tuple(text)

    def nodes(self):
        return self.get("/api/nodes") or []

    def queues(self, vhost=None):
        """Every queue (of one vhost), read without message stats: fresher membership and a smaller answer."""
        path = "/api/queues" if vhost is None else f"/api/queues/{vhost_path(vhost)}"
        try:
            return self.get(path, params={"disable_stats": "true", "enable_queue_totals": "true"}) or []
        except RabbitMQNotFoundError:
            raise RabbitMQParameterError(f"vhost: no virtual host named {vhost!r}. {VHOST_HINT}") from None

    def policies(self, vhost=None):
        path = "/api/policies" if vhost is None else f"/api/policies/{vhost_path(vhost)}"
        return self.get(path) or []

    def policy(self, vhost, name):
        """The policy ``name`` of ``vhost`` as the API returns it, or None."""
        try:
            return self.get(f"/api/policies/{vhost_path(vhost)}/{quote(name, safe='')}")
        except RabbitMQNotFoundError:
            return None

    def vhost_exists(self, vhost):
        try:
            self.get(f"/api/vhosts/{vhost_path(vhost)}")
        except RabbitMQNotFoundError:
            return False
        return True

    def put_policy(self, vhost, name, desired):
        body = {k: desired[k] for k in ("pattern", "apply-to", "priority", "definition")}
        self.put(f"/api/policies/{vhost_path(vhost)}/{quote(name, safe='')}", body)
        return f"PUT {self.api_url}/api/policies/{vhost_path(vhost)}/{quote(name, safe='')}"

    def delete_policy(self, vhost, name):
        self.delete(f"/api/policies/{vhost_path(vhost)}/{quote(name, safe='')}")
        return f"DELETE {self.api_url}/api/policies/{vhost_path(vhost)}/{quote(name, safe='')}"
