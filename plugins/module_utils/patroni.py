# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Patroni REST API client, a systemd helper and the pure planning functions of the Patroni modules.

Nothing here calls ``fail_json``: every problem is raised as a :class:`PatroniError` subclass and the module's
``main()`` turns it into one ``fail_json(msg=...)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import traceback
from urllib.parse import urlsplit

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
    "Check the api_url option (a Patroni REST API URL with scheme and port, e.g. http://10.0.0.1:8008), that Patroni "
    "runs there (systemctl status patroni; ss -ltnp | grep 8008) and, for https, the api_ca_cert/api_client_cert/"
    "api_client_key options."
)
PAUSED_HINT = (
    "The cluster is in maintenance mode (paused): Patroni does not manage it and this module changes nothing. "
    'Resume it first (patronictl resume, or PATCH /config with {"pause": false}).'
)
REPLICA_ROLES = ("replica", "sync_standby", "quorum_standby")
LEADER_ROLES = ("leader", "standby_leader")
HEALTHY_REPLICA_STATES = ("streaming", "running")


class PatroniError(Exception):
    """Base class of every error this module_utils raises."""


class PatroniParameterError(PatroniError):
    """A module option has a value that cannot be used; the message names the option and the fix."""


class PatroniConnectionError(PatroniError):
    """The REST API did not answer (or answered with an unexpected HTTP status); the message names the URL."""

    def __init__(self, message, url=None, status=None):
        self.url = url
        self.status = status
        super().__init__(message)


class PatroniAuthError(PatroniError):
    """The REST API (or the database) rejected the credentials."""


class PatroniRefusedError(PatroniError):
    """The requested change is unsafe or impossible in the cluster's current state; nothing was changed."""


class PatroniTimeoutError(PatroniError):
    """A wait did not reach its goal in time."""


class PatroniServiceError(PatroniError):
    """systemctl failed."""


class PatroniDatabaseError(PatroniError):
    """The PostgreSQL connection or a query failed."""


PATRONI_ARGUMENT_SPEC = {
    "api_url": {"type": "str", "default": "http://127.0.0.1:8008"},
    "api_username": {"type": "str"},
    "api_password": {"type": "str", "no_log": True},
    "api_ca_cert": {"type": "path"},
    "api_client_cert": {"type": "path"},
    "api_client_key": {"type": "path", "no_log": False},
    "api_validate_certs": {"type": "bool", "default": True},
    "api_timeout": {"type": "float", "default": 5.0},
}

POSTGRES_ARGUMENT_SPEC = {
    "login_host": {"type": "str"},
    "login_port": {"type": "int", "default": 5432},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "no_log": True},
    "login_db": {"type": "str", "default": "postgres"},
    "login_unix_socket": {"type": "str"},
    "ssl_mode": {
        "type": "str",
        "default": "prefer",
        "choices": ["allow", "disable", "prefer", "require", "verify-ca", "verify-full"],
    },
    "ca_cert": {"type": "path"},
    "connect_timeout": {"type": "int", "default": 5},
}


def patroni_argument_spec():
    """REST API options shared by every Patroni module (doc fragment apiplatform.ha.patroni); a deep copy to extend."""
    return copy.deepcopy(PATRONI_ARGUMENT_SPEC)


def postgres_argument_spec():
    """Optional database connection options (doc fragment apiplatform.ha.patroni.postgres); a deep copy."""
    return copy.deepcopy(POSTGRES_ARGUMENT_SPEC)


def patroni_required_together():
    """``required_together`` for the REST API options."""
    return [["api_username", "api_password"], ["api_client_cert", "api_client_key"]]


# ---------------------------------------------------------------------------------------------------------------------
# Pure helpers (no I/O): unit tested without a server
# ---------------------------------------------------------------------------------------------------------------------


def validate_url(value, option="api_url", example="http://10.0.0.1:8008"):
    """Return ``value`` without a trailing slash if it is an http(s) URL with host and port, else raise."""
    text = "" if value is None else str(value).strip()
    fix = f"write it as scheme://host:port, for example {example}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise PatroniParameterError(f"{option}: {value!r} is not a valid URL ({e}); {fix}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise PatroniParameterError(f"{option}: {value!r} is not a URL with scheme (http/https), host and port; {fix}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise PatroniParameterError(f"{option}: {value!r} must not carry a path or query; {fix}")
    return f"{parts.scheme}://{parts.netloc}"


def _lag(value):
    """Patroni reports lag as bytes (int) or 'unknown'; return an int or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _api_base(api_url):
    """Patroni reports ``api_url`` as http://host:port/patroni; the base is what requests go to."""
    if not api_url:
        return None
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}"


def normalize_member(raw):
    """One entry of GET /cluster in our shape (missing keys filled in, lag as int or None)."""
    tags = raw.get("tags") or {}
    return {
        "name": raw.get("name") or "",
        "host": raw.get("host"),
        "port": raw.get("port"),
        "role": raw.get("role") or "",
        "state": raw.get("state") or "",
        "timeline": raw.get("timeline"),
        "lag": _lag(raw.get("lag")),
        "receive_lag": _lag(raw.get("receive_lag")),
        "replay_lag": _lag(raw.get("replay_lag")),
        "tags": tags,
        "nofailover": bool(tags.get("nofailover", False)),
        "api_url": _api_base(raw.get("api_url")),
    }


def normalize_cluster(raw):
    """GET /cluster answer -> ``{'members', 'leader', 'leader_timeline', 'paused', 'scheduled_switchover'}``."""
    members = [normalize_member(m) for m in (raw or {}).get("members") or []]
    leader = next((m for m in members if m["role"] in LEADER_ROLES), None)
    return {
        "members": members,
        "leader": leader["name"] if leader else None,
        "leader_timeline": leader["timeline"] if leader else None,
        "paused": bool((raw or {}).get("pause", False)),
        "scheduled_switchover": (raw or {}).get("scheduled_switchover"),
    }


def find_member(cluster, name):
    return next((m for m in cluster["members"] if m["name"] == name), None)


def member_names(cluster):
    return ", ".join(sorted(m["name"] for m in cluster["members"])) or "(none)"


def is_replica_healthy(member, leader_timeline, max_lag_bytes, states=("streaming",)):
    """Whether ``member`` is a replica in one of ``states``, with a known lag <= max and on the leader's timeline."""
    if member["role"] not in REPLICA_ROLES or member["state"] not in states:
        return False
    if member["lag"] is None or member["lag"] > max_lag_bytes:
        return False
    return leader_timeline is None or member["timeline"] in (None, leader_timeline)


def describe(member):
    lag = "unknown" if member["lag"] is None else f"{member['lag']} bytes"
    return (
        f"{member['name']} (role {member['role']}, state {member['state']}, timeline {member['timeline']}, lag {lag})"
    )


def eligible_candidates(cluster, max_lag_bytes):
    """Replicas a switchover may promote: running/streaming, lag known and <= max, no nofailover tag; best first."""
    out = [
        m
        for m in cluster["members"]
        if not m["nofailover"]
        and is_replica_healthy(m, cluster["leader_timeline"], max_lag_bytes, HEALTHY_REPLICA_STATES)
    ]
    # In synchronous mode Patroni only accepts a synchronous standby as candidate (HTTP 412 otherwise).
    sync = [m for m in out if m["role"] == "sync_standby"]
    if sync:
        out = sync

    def priority(m):
        try:
            return -int(m["tags"].get("failover_priority", 1))
        except (TypeError, ValueError):
            return -1

    return sorted(out, key=lambda m: (priority(m), m["lag"], 0 if m["state"] == "streaming" else 1, m["name"]))


def plan_switchover(cluster, candidate, max_lag_bytes):
    """Decide a switchover. Pure: no I/O.

    Returns ``{'action': 'none'|'switchover', 'leader': str, 'candidate': str, 'reasons': [str]}``; raises
    PatroniParameterError for an unknown candidate and PatroniRefusedError when the switchover is unsafe.
    """
    leader = cluster["leader"]
    if leader is None:
        raise PatroniRefusedError(
            f"the cluster has no leader, so there is nothing to switch over from (members: {member_names(cluster)}). "
            "A failover is "
            "Patroni's job; check patronictl list and the Patroni logs."
        )
    eligible = eligible_candidates(cluster, max_lag_bytes)
    choosable = ", ".join(m["name"] for m in eligible) or "none"
    if candidate:
        member = find_member(cluster, candidate)
        if member is None:
            raise PatroniParameterError(
                f"candidate: no member named {candidate!r} in the cluster (members: {member_names(cluster)}; "
                f"members that could be chosen: {choosable})."
            )
        if candidate == leader:
            return {
                "action": "none",
                "leader": leader,
                "candidate": candidate,
                "reasons": [f"{candidate!r} is already the leader"],
            }
    if cluster["paused"]:
        raise PatroniRefusedError(f"refusing to switch over from {leader!r}: {PAUSED_HINT}")
    if candidate:
        if member["nofailover"]:
            raise PatroniRefusedError(
                f"candidate: {candidate!r} has the nofailover tag and cannot become leader; choose one of: {choosable}"
            )
        if member["role"] not in REPLICA_ROLES or member["state"] not in HEALTHY_REPLICA_STATES:
            raise PatroniRefusedError(
                f"candidate: {describe(member)} is not a running replica; choose one of: {choosable}"
            )
        sync = [m["name"] for m in cluster["members"] if m["role"] == "sync_standby"]
        if sync and member["role"] != "sync_standby":
            raise PatroniRefusedError(
                f"candidate: {candidate!r} is not a synchronous standby, and in synchronous mode Patroni promotes only "
                f"one ({', '.join(sync)}) so that no acknowledged transaction is lost. Choose "
                f"{' or '.join(repr(n) for n in sync)}, or leave candidate empty."
            )
        if member["lag"] is None or member["lag"] > max_lag_bytes:
            raise PatroniRefusedError(
                f"candidate: {describe(member)} lags more than max_lag_bytes={max_lag_bytes}; wait until it catches "
                f"up, raise max_lag_bytes, or choose one of: {choosable}"
            )
        if cluster["leader_timeline"] is not None and member["timeline"] not in (None, cluster["leader_timeline"]):
            raise PatroniRefusedError(
                f"candidate: {describe(member)} is not on the leader's timeline {cluster['leader_timeline']}; "
                f"reinitialize it (apiplatform.ha.patroni_member state=reinitialized) or choose one of: {choosable}"
            )
        return {
            "action": "switchover",
            "leader": leader,
            "candidate": candidate,
            "reasons": [f"{leader!r} is the leader, {describe(member)} was asked for"],
        }
    if not eligible:
        others = ", ".join(describe(m) for m in cluster["members"] if m["name"] != leader) or "none"
        raise PatroniRefusedError(
            f"no replica can take over from {leader!r}: none is running/streaming with lag <= "
            f"max_lag_bytes={max_lag_bytes} and without the nofailover tag (replicas: {others})."
        )
    best = eligible[0]
    return {
        "action": "switchover",
        "leader": leader,
        "candidate": best["name"],
        "reasons": [f"{describe(best)} is the healthiest replica"],
    }


def plan_member(cluster, name, state, service, max_lag_bytes, force=False):
    """Decide what patroni_member does. Pure: no I/O.

    ``service`` is ``{'active': bool, 'enabled': bool}`` of the local Patroni unit, or None when it was not read
    (state=reinitialized never reads it). Returns ``{'action': 'none'|'start'|'stop'|'reinitialize'|'wait',
    'commands': [systemctl verbs], 'member': <member or None>, 'reasons': [str]}``. Raises PatroniParameterError for
    an unknown member (state=reinitialized) and PatroniRefusedError for a leader or a paused cluster.
    """
    member = find_member(cluster, name)
    leader_tl = cluster["leader_timeline"]

    def result(action, reasons, commands=()):
        if action not in ("none", "wait") and cluster["paused"]:
            raise PatroniRefusedError(f"refusing to {action} member {name!r}: {PAUSED_HINT}")
        return {"action": action, "commands": list(commands), "member": member, "reasons": reasons}

    if state == "reinitialized":
        if member is None:
            raise PatroniParameterError(
                f"name: no member named {name!r} in the cluster (members: {member_names(cluster)}). A member whose "
                "Patroni is stopped is not listed: start it first (state=present)."
            )
        if member["role"] in LEADER_ROLES:
            raise PatroniRefusedError(
                f"refusing to reinitialize {name!r}: it is the leader, and reinitialize rebuilds a replica from the "
                "leader. Switch over first (apiplatform.ha.patroni_switchover, playbook switchover.yml)."
            )
        if cluster["leader"] is None:
            raise PatroniRefusedError(
                f"refusing to reinitialize {name!r}: the cluster has no leader to copy from (members: "
                f"{member_names(cluster)})."
            )
        if not force and is_replica_healthy(member, leader_tl, max_lag_bytes):
            return result("none", [f"{describe(member)} streams from the leader within max_lag_bytes (force=false)"])
        why = "force=true" if force else f"{describe(member)} is not streaming within max_lag_bytes on the leader's"
        if not force:
            why += f" timeline {leader_tl}"
        return result("reinitialize", [why])

    if state == "absent":
        if member is not None and member["role"] in LEADER_ROLES:
            raise PatroniRefusedError(
                f"refusing to remove {name!r}: it is the leader. Switch over first (apiplatform.ha.patroni_switchover "
                "with a candidate, or playbook switchover.yml), then run this again."
            )
        commands = []
        if service["active"] or member is not None:
            commands.append("stop")
        if service["enabled"]:
            commands.append("disable")
        if not commands:
            return result("none", [f"{name!r} is not in the cluster and its service is stopped and disabled"])
        reasons = [f"{name!r} is in the cluster" if member is not None else "the service is active or enabled"]
        return result("stop", reasons, commands)

    # present
    if member is not None:
        if member["role"] in LEADER_ROLES and member["state"] == "running":
            return result("none", [f"{describe(member)} is the running leader"])
        if is_replica_healthy(member, leader_tl, max_lag_bytes):
            return result("none", [f"{describe(member)} streams from the leader within max_lag_bytes"])
        # Listed but not healthy yet (starting, catching up, rewinding, or failed): wait for it, starting the
        # service first when it is not running.
        why = f"{describe(member)} is in the cluster but not streaming within max_lag_bytes on the leader's timeline"
        if service["active"]:
            return result("wait", [why])
        commands = ["start"] if service["enabled"] else ["enable", "start"]
        return result("start", [why + "; its service is stopped"], commands)
    if service["active"]:
        return result("wait", [f"{name!r} is not in the cluster yet, but its service is active"])
    commands = ["start"] if service["enabled"] else ["enable", "start"]
    return result("start", [f"{name!r} is not in the cluster and its service is stopped"], commands)


def member_view(member):
    """A member as shown in diffs."""
    if member is None:
        return None
    keys = ("name", "role", "state", "timeline", "lag")
    return {k: member[k] for k in keys}


# ---------------------------------------------------------------------------------------------------------------------
# systemd
# ---------------------------------------------------------------------------------------------------------------------


class SystemdService:
    """systemctl through ``run_command`` (AnsibleModule.run_command: an argument list, never a shell string)."""

    def __init__(self, run_command, systemctl, unit):
        self.run_command = run_command
        self.systemctl = systemctl
        self.unit = unit

    def state(self):
        """``{'active': bool, 'enabled': bool}`` (is-active/is-enabled answer on stdout, rc != 0 for no)."""
        rc_active, out_active, _err = self.run_command([self.systemctl, "is-active", self.unit])
        rc_enabled, out_enabled, err = self.run_command([self.systemctl, "is-enabled", self.unit])
        if rc_enabled != 0 and "not-found" not in (out_enabled + err) and not out_enabled.strip():
            raise PatroniServiceError(
                f"service: cannot read the state of {self.unit!r} (systemctl is-enabled rc={rc_enabled}: "
                f"{err.strip() or out_enabled.strip()}). Check the service option (the Patroni unit name)."
            )
        return {
            "active": rc_active == 0 and out_active.strip() == "active",
            "enabled": rc_enabled == 0 and out_enabled.strip() in ("enabled", "enabled-runtime", "alias", "static"),
        }

    def run(self, verb):
        cmd = [self.systemctl, verb, self.unit]
        rc, out, err = self.run_command(cmd)
        if rc != 0:
            raise PatroniServiceError(
                f"{' '.join(cmd)} failed (rc={rc}): {(err or out).strip()[:500]}. See journalctl -u {self.unit}."
            )
        return " ".join(["systemctl", verb, self.unit])


# ---------------------------------------------------------------------------------------------------------------------
# REST client
# ---------------------------------------------------------------------------------------------------------------------


def _short_error(exc):
    """The innermost message of a requests exception (their str() nests urllib3 reprs several levels deep)."""
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "certificate verify failed"):
        if marker in text:
            return f"{marker} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {text[:300]}"


class PatroniClient:
    """Patroni's REST API. ``url`` arguments default to ``api_url``; writes carry basic auth when configured."""

    def __init__(
        self,
        api_url,
        username=None,
        password=None,
        ca_cert=None,
        client_cert=None,
        client_key=None,
        validate_certs=True,
        timeout=5.0,
        session=None,
    ):
        self.api_url = validate_url(api_url)
        if timeout is None or timeout <= 0:
            raise PatroniParameterError(f"api_timeout: must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.auth = (username, password) if username else None
        self.verify = ca_cert if ca_cert else bool(validate_certs)
        self.cert = (client_cert, client_key) if client_cert else None
        self._session = session if session is not None else requests.Session()

    @classmethod
    def from_params(cls, params):
        return cls(
            params["api_url"],
            username=params.get("api_username"),
            password=params.get("api_password"),
            ca_cert=params.get("api_ca_cert"),
            client_cert=params.get("api_client_cert"),
            client_key=params.get("api_client_key"),
            validate_certs=params.get("api_validate_certs", True),
            timeout=params.get("api_timeout") or 5.0,
        )

    def request(self, method, path, body=None, url=None, timeout=None, ok=(200,)):
        """Send one request; return ``(status, parsed JSON or text)``; raise for transport errors and bad statuses."""
        target = (url or self.api_url) + path
        kwargs = {"timeout": timeout or self.timeout, "verify": self.verify, "cert": self.cert}
        if method != "GET" and self.auth:
            kwargs["auth"] = self.auth
        if body is not None:
            kwargs["json"] = body
        try:
            resp = self._session.request(method, target, **kwargs)
        except requests.exceptions.RequestException as e:
            raise PatroniConnectionError(
                f"could not reach the Patroni REST API at {target}: {_short_error(e)}. {CONNECTION_HINT}", url=target
            ) from None
        try:
            data = resp.json()
        except ValueError:
            data = (resp.text or "").strip()
        if resp.status_code in ok:
            return resp.status_code, data
        text = data if isinstance(data, str) else str(data)
        if resp.status_code == 401:
            who = f"user {self.auth[0]!r}" if self.auth else "no credentials"
            raise PatroniAuthError(
                f"the Patroni REST API at {target} rejected {method} with {who} "
                f"(HTTP 401 {resp.reason}: {text[:200]}). "
                "Check api_username/api_password against restapi.authentication in patroni.yml."
            )
        raise PatroniConnectionError(
            f"the Patroni REST API at {target} answered {method} with HTTP {resp.status_code} {resp.reason}: "
            f"{text[:300]}",
            url=target,
            status=resp.status_code,
        )

    def cluster(self):
        """GET /cluster, normalized (see :func:`normalize_cluster`)."""
        _status, data = self.request("GET", "/cluster")
        if not isinstance(data, dict):
            raise PatroniConnectionError(
                f"{self.api_url}/cluster did not answer with a JSON object (is this a Patroni REST API?)",
                url=self.api_url + "/cluster",
            )
        return normalize_cluster(data)

    def patroni(self, url=None):
        """GET /patroni of one member (its own view: state, role, timeline, xlog, postmaster_start_time)."""
        _status, data = self.request("GET", "/patroni", url=url, ok=(200, 503))
        return data if isinstance(data, dict) else {}

    def accepts_writes(self, url):
        """Whether GET /read-write on the member at ``url`` answers 200 (False when it does not answer)."""
        try:
            status, _data = self.request("GET", "/read-write", url=url, ok=(200, 503))
        except PatroniConnectionError:
            return False
        return status == 200

    def switchover(self, leader, candidate, timeout):
        """POST /switchover; returns Patroni's message. 412 (not possible) raises PatroniRefusedError."""
        try:
            _status, data = self.request(
                "POST", "/switchover", {"leader": leader, "candidate": candidate}, timeout=timeout
            )
        except PatroniConnectionError as e:
            if e.status == 412:
                message = f"Patroni refused the switchover from {leader!r} to {candidate!r}: {e}"
                raise PatroniRefusedError(message) from None
            raise
        return data if isinstance(data, str) else str(data)

    def reinitialize(self, url):
        """POST /reinitialize on the member at ``url`` (basebackup from the leader)."""
        try:
            _status, data = self.request("POST", "/reinitialize", {"force": False, "from_leader": True}, url=url)
        except PatroniConnectionError as e:
            if e.status == 503:
                raise PatroniRefusedError(f"Patroni refused to reinitialize the member at {url}: {e}") from None
            raise
        return data if isinstance(data, str) else str(data)
