# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small etcd v3 client over the JSON gRPC gateway, plus the pure planning functions of the etcd modules.

Nothing here calls ``fail_json``: every problem is raised as an :class:`EtcdError` subclass and the module's
``main()`` turns it into one ``fail_json(msg=...)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import traceback
from urllib.parse import urlsplit

from ansible_collections.apiplatform.ha.plugins.module_utils.waiting import wait_until

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
    "Check the endpoints option (etcd client URLs with scheme and port, e.g. https://10.0.0.1:2379), "
    "that etcd listens there (systemctl status etcd; ss -ltnp | grep 2379) and, for https, the "
    "ca_cert/client_cert/client_key options."
)


class EtcdError(Exception):
    """Base class of every error this module_utils raises."""


class EtcdParameterError(EtcdError):
    """A module option has a value etcd cannot use; the message names the option and the fix."""


class EtcdConnectionError(EtcdError):
    """No endpoint answered; the message names every URL tried and why it failed."""


class EtcdAuthError(EtcdError):
    """etcd rejected the credentials or the user lacks the permission."""


class EtcdQuorumError(EtcdError):
    """The change would break (or needs) the cluster's quorum."""


class EtcdUnsettledError(EtcdQuorumError):
    """etcd refused a membership change because a member has not been connected long enough (strict reconfig check).

    etcd answers "unhealthy cluster" until every voting member has been connected to the serving member for 5 s, so
    this is expected for a few seconds after a member (re)starts and is retried by the membership calls.
    """


class EtcdConflictError(EtcdError):
    """The requested member clashes with another member (same peer URL, other name)."""


class EtcdKeyChangedError(EtcdError):
    """A key changed between the read that planned a write and the write (another client wrote it)."""


class EtcdTimeoutError(EtcdError):
    """A wait did not reach its goal in time."""


class EtcdRequestError(EtcdError):
    """etcd answered with an HTTP error status."""

    def __init__(self, url, status, message):
        self.url = url
        self.status = status
        self.message = message
        super().__init__(f"etcd request {url} failed with HTTP {status}: {message}")


def etcd_argument_spec():
    """Connection options shared by every etcd module (documented in the apiplatform.ha.etcd doc fragment)."""
    return {
        "endpoints": {"type": "list", "elements": "str", "required": True},
        "ca_cert": {"type": "path"},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path", "no_log": False},
        "validate_certs": {"type": "bool", "default": True},
        "timeout": {"type": "float", "default": 5.0},
        "user": {"type": "str"},
        "password": {"type": "str", "no_log": True},
    }


def etcd_required_together():
    """``required_together`` for the connection options."""
    return [["user", "password"], ["client_cert", "client_key"]]


# ---------------------------------------------------------------------------------------------------------------------
# Pure helpers (no I/O): unit tested without a server
# ---------------------------------------------------------------------------------------------------------------------


def quorum_size(n):
    """Votes a cluster of ``n`` voting members needs to commit anything."""
    return n // 2 + 1


def member_id_hex(value):
    """Render an etcd uint64 id (decimal string or int, as the gateway returns it) like etcdctl: lowercase hex."""
    if value in (None, "", 0, "0"):
        return None
    return f"{int(value):x}"


def member_id_dec(hex_id):
    """The decimal string the JSON gateway expects for a uint64 id given in hex."""
    return str(int(hex_id, 16))


def validate_url(value, option, example):
    """Return ``value`` without a trailing slash if it is an http(s) URL with host and port, else raise."""
    text = "" if value is None else str(value).strip()
    fix = f"write it as scheme://host:port, for example {example}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise EtcdParameterError(f"{option}: {value!r} is not a valid URL ({e}); {fix}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise EtcdParameterError(f"{option}: {value!r} is not a URL with scheme (http/https), host and port; {fix}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise EtcdParameterError(f"{option}: {value!r} must not carry a path or query; {fix}")
    return f"{parts.scheme}://{parts.netloc}"


def normalize_peer_urls(peer_urls):
    """Validated, de-duplicated, sorted peer URLs (etcd compares them as a set)."""
    if not peer_urls:
        raise EtcdParameterError("peer_urls: at least one peer URL is required, for example https://10.0.0.4:2380")
    return sorted({validate_url(u, "peer_urls", "https://10.0.0.4:2380") for u in peer_urls})


def normalize_member(raw):
    """A member as the gateway returns it (``ID``, ``peerURLs``...; defaults omitted) turned into our shape."""
    name = raw.get("name") or ""
    return {
        "id": member_id_hex(raw.get("ID")),
        "name": name,
        "peer_urls": sorted(raw.get("peerURLs") or []),
        "client_urls": sorted(raw.get("clientURLs") or []),
        "is_learner": bool(raw.get("isLearner", False)),
        "started": bool(name),
    }


def _status_health(status, error):
    """(healthy, error) of one member from its /v3/maintenance/status answer (or the error reaching it)."""
    if status is None:
        return False, error or "no status"
    alarms = status.get("errors") or []
    if alarms:
        return False, "; ".join(alarms)
    if member_id_hex(status.get("leader")) is None:
        return False, "member answers but has no leader (the cluster may have lost quorum)"
    return True, None


def cluster_summary(cluster_id, members, statuses):
    """Build the ``cluster`` dict of etcd_cluster_info from the member list and per-member status answers.

    ``statuses`` maps a member id (hex) to ``{'status': <status answer or None>, 'error': <str or None>}``.
    Learners count in ``member_count`` and ``healthy_count`` but not in ``quorum``/``has_quorum``.
    """
    leader_id = None
    best_term = -1
    out = []
    for m in members:
        entry = statuses.get(m["id"]) or {}
        status = entry.get("status")
        healthy, error = _status_health(status, entry.get("error"))
        if status is not None:
            term = int(status.get("raftTerm") or 0)
            leader = member_id_hex(status.get("leader"))
            if leader is not None and term > best_term:
                best_term, leader_id = term, leader
        item = dict(m)
        item.update(
            healthy=healthy,
            error=error,
            raft_index=int((status or {}).get("raftIndex") or 0),
            raft_term=int((status or {}).get("raftTerm") or 0),
            db_size=int((status or {}).get("dbSize") or 0),
            version=(status or {}).get("version") or "",
        )
        out.append(item)
    for item in out:
        item["is_leader"] = leader_id is not None and item["id"] == leader_id
    leader_name = next((i["name"] or i["id"] for i in out if i["is_leader"]), None)
    voting = [i for i in out if not i["is_learner"]]
    quorum = quorum_size(len(voting))
    healthy_voting = len([i for i in voting if i["healthy"]])
    return {
        "cluster_id": cluster_id,
        "leader": leader_name,
        "member_count": len(out),
        "healthy_count": len([i for i in out if i["healthy"]]),
        "quorum": quorum,
        "has_quorum": healthy_voting >= quorum,
        "members": out,
    }


def find_member(members, name=None, member_id=None):
    for m in members:
        if (name and m["name"] == name) or (member_id and m["id"] == member_id):
            return m
    return None


def plan_member(current_members, name, peer_urls, state):
    """Decide what to do for one member. Pure: no I/O.

    Returns ``{'action': 'none'|'add'|'update'|'remove', 'member': <matched current member or None>,
    'reasons': [str, ...]}``. ``peer_urls`` must already be normalized (or None for state=absent).
    Raises EtcdConflictError when another member already uses one of the peer URLs.
    """
    wanted = set(peer_urls or [])
    by_name = find_member(current_members, name=name)
    unstarted = None
    if wanted:
        unstarted = next((m for m in current_members if not m["started"] and set(m["peer_urls"]) == wanted), None)

    if state == "absent":
        if by_name is not None:
            return {
                "action": "remove",
                "member": by_name,
                "reasons": ["member {!r} ({}) exists".format(name, by_name["id"])],
            }
        if unstarted is not None:
            reason = "unstarted member {} has peer URLs {}".format(unstarted["id"], ", ".join(sorted(wanted)))
            return {"action": "remove", "member": unstarted, "reasons": [reason]}
        return {"action": "none", "member": None, "reasons": [f"no member named {name!r}"]}

    if by_name is not None:
        if set(by_name["peer_urls"]) == wanted:
            return {"action": "none", "member": by_name, "reasons": [f"member {name!r} has the wanted peer URLs"]}
        _check_peer_conflict(current_members, wanted, name, exclude_id=by_name["id"])
        reason = "member {!r} has peer URLs {}, wanted {}".format(
            name,
            ", ".join(by_name["peer_urls"]) or "(none)",
            ", ".join(sorted(wanted)),
        )
        return {"action": "update", "member": by_name, "reasons": [reason]}
    if unstarted is not None:
        reason = (
            f"unstarted member {unstarted['id']} already has these peer URLs: "
            f"start etcd {name!r} with initial_cluster_state existing"
        )
        return {"action": "none", "member": unstarted, "reasons": [reason]}
    _check_peer_conflict(current_members, wanted, name)
    return {"action": "add", "member": None, "reasons": [f"no member named {name!r}"]}


def _check_peer_conflict(members, wanted, name, exclude_id=None):
    for m in members:
        if m["id"] == exclude_id:
            continue
        shared = wanted & set(m["peer_urls"])
        if shared:
            raise EtcdConflictError(
                "peer_urls: {} already belongs to member {} ({}), not to {!r}. Remove that member first "
                "(apiplatform.ha.etcd_member state=absent) or fix name/peer_urls.".format(
                    ", ".join(sorted(shared)), m["name"] or "(unstarted)", m["id"], name
                )
            )


def _counts(members, health):
    voting = [m for m in members if not m["is_learner"]]
    healthy = [m for m in voting if health.get(m["id"])]
    return voting, healthy


def check_add_safe(members, health):
    """Raise EtcdQuorumError unless a voting member can be added without losing quorum.

    ``health`` maps member id (hex) to bool. Same rule as etcd's strict reconfiguration check: after the add the
    started members must still form a quorum, except when growing a single-member cluster.
    """
    voting, healthy = _counts(members, health)
    if len(voting) == 1 and len(healthy) == 1:
        return
    if len(healthy) < quorum_size(len(voting)):
        raise EtcdQuorumError(
            f"refusing to add a member: the cluster has no quorum ({len(healthy)} of {len(voting)} voting members "
            f"healthy, {quorum_size(len(voting))} needed). Repair/start the unhealthy members first "
            "(apiplatform.ha.etcd_cluster_info lists them)."
        )
    if len(healthy) < quorum_size(len(voting) + 1):
        raise EtcdQuorumError(
            f"refusing to add a member: with {len(healthy)} of {len(voting)} voting members healthy, member number "
            f"{len(voting) + 1} would leave the cluster without quorum ({quorum_size(len(voting) + 1)} needed) until "
            "it starts. Repair/start the unhealthy members or remove the dead ones first."
        )


def check_remove_safe(members, health, name):
    """Raise EtcdQuorumError when removing member ``name`` (name or hex id) would break quorum.

    Refuses to remove the last member, to remove anything while the cluster has no quorum (the removal could not
    commit) and to leave fewer healthy voting members than the quorum of the smaller cluster.
    """
    target = find_member(members, name=name, member_id=name)
    if target is None:
        return
    label = "{!r} ({})".format(target["name"] or "(unstarted)", target["id"])
    if len(members) <= 1:
        raise EtcdQuorumError(
            f"refusing to remove etcd member {label}: it is the last member of the cluster. Removing it would destroy "
            "the cluster; stop the service and wipe its data directory instead if that is really meant."
        )
    voting, healthy = _counts(members, health)
    if target["is_learner"]:
        return
    if len(healthy) < quorum_size(len(voting)):
        raise EtcdQuorumError(
            f"refusing to remove etcd member {label}: the cluster has no quorum ({len(healthy)} of {len(voting)} "
            f"voting members healthy, {quorum_size(len(voting))} needed), so the removal could not commit. "
            "Repair/start the unhealthy members first, or recover the cluster from a snapshot "
            "(etcdctl snapshot restore)."
        )
    remaining = len(voting) - 1
    remaining_healthy = len([m for m in healthy if m["id"] != target["id"]])
    if remaining_healthy < quorum_size(remaining):
        raise EtcdQuorumError(
            f"refusing to remove etcd member {label}: {remaining} voting members would remain of which only "
            f"{remaining_healthy} healthy, below their quorum of {quorum_size(remaining)} (now {len(voting)} members, "
            f"{len(healthy)} healthy). Repair/start the unhealthy members first, or remove an unhealthy member "
            "instead of a healthy one."
        )


def pick_transfer_target(members, exclude_id):
    """The healthy, started voting member (other than ``exclude_id``) with the highest raft index, or None."""
    candidates = [
        m for m in members if m["id"] != exclude_id and m["started"] and not m["is_learner"] and m.get("healthy")
    ]
    if not candidates:
        return None
    return sorted(candidates, key=lambda m: (-int(m.get("raft_index") or 0), m["name"]))[0]


def validate_key(key):
    """An absolute key of non-empty segments without whitespace: ``//x`` or ``/x/`` is a typo that would name another
    key than the one meant (raises EtcdParameterError naming the option)."""
    valid = isinstance(key, str) and key.startswith("/") and not any(c.isspace() for c in key)
    if not valid or not all(key.split("/")[1:]):
        raise EtcdParameterError(
            f"key: {key!r} is not an absolute key of non-empty segments without spaces (no '//', no trailing '/'); "
            "give one such as /apiplatform-ha/placement/mailer"
        )
    return key


def validate_value(value, state):
    """The value to store: a string with state=present (raises EtcdParameterError naming the option)."""
    if state == "present" and not isinstance(value, str):
        raise EtcdParameterError("value: give the text to store with state=present (it was null)")
    return value


def plan_key(previous, desired, state):
    """``(changed, value_after)`` for a key whose current value is ``previous`` (None: the key is absent)."""
    if state == "absent":
        return previous is not None, None
    return previous != desired, desired


def initial_cluster(members, name=None, member_id=None):
    """ETCD_INITIAL_CLUSTER a joining member needs: ``name=peerurl`` for every peer URL of every member.

    The member ``member_id`` is written with ``name`` (etcd only learns a name when the member starts), as etcdctl
    member add does.
    """
    parts = []
    for m in sorted(members, key=lambda i: (i["name"] if i["id"] != member_id else name) or ""):
        n = name if (member_id is not None and m["id"] == member_id) else m["name"]
        for url in m["peer_urls"]:
            parts.append(f"{n}={url}")
    return ",".join(parts)


def members_view(members):
    """Member list as shown in diffs: names and peer URLs only, sorted."""
    view = [{"name": m["name"], "peer_urls": list(m["peer_urls"])} for m in members]
    return sorted(view, key=lambda i: (i["name"], i["peer_urls"]))


# ---------------------------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------------------------


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _unb64(text):
    return base64.b64decode(text or "").decode("utf-8")


_QUORUM_MARKERS = ("no leader", "request timed out", "not enough started members")
# etcd's strict reconfiguration check: every voting member must have been connected for 5 s (HealthInterval).
_UNSETTLED_MARKER = "unhealthy cluster"
# How long a membership change is retried while etcd answers "unhealthy cluster": three times HealthInterval.
RECONFIG_SETTLE_SECONDS = 15.0


class EtcdClient:
    """etcd v3 over the JSON gRPC gateway. Cluster-wide calls try each endpoint in turn until one answers."""

    def __init__(
        self,
        endpoints,
        ca_cert=None,
        client_cert=None,
        client_key=None,
        validate_certs=True,
        timeout=5.0,
        user=None,
        password=None,
        session=None,
    ):
        if not endpoints:
            raise EtcdParameterError("endpoints: give at least one etcd client URL, for example https://10.0.0.1:2379")
        self.endpoints = [validate_url(e, "endpoints", "https://10.0.0.1:2379") for e in endpoints]
        if timeout is None or timeout <= 0:
            raise EtcdParameterError(f"timeout: must be a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.verify = ca_cert if ca_cert else bool(validate_certs)
        self.cert = (client_cert, client_key) if client_cert else None
        self.user = user
        self.password = password
        self._tokens = {}
        self._session = session if session is not None else requests.Session()
        # Clock and sleep of the bounded retries (tests replace them).
        self._clock = None
        self._sleep = None

    @classmethod
    def from_params(cls, params):
        return cls(
            params["endpoints"],
            ca_cert=params.get("ca_cert"),
            client_cert=params.get("client_cert"),
            client_key=params.get("client_key"),
            validate_certs=params.get("validate_certs", True),
            timeout=params.get("timeout") or 5.0,
            user=params.get("user"),
            password=params.get("password"),
        )

    # -- transport ----------------------------------------------------------------------------------------------------

    def _http(self, base, path, body, timeout, headers=None):
        url = base + path
        kwargs = {"timeout": timeout, "verify": self.verify, "cert": self.cert, "headers": headers or {}}
        resp = self._session.get(url, **kwargs) if body is None else self._session.post(url, json=body, **kwargs)
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code == 200 and isinstance(data, dict):
            return data
        if isinstance(data, dict):
            message = data.get("message") or data.get("error") or str(data)
        else:
            message = (resp.text or "").strip()[:200] or resp.reason
        if resp.status_code == 200:
            message = f"answer is not a JSON object: {message}"
        raise EtcdRequestError(url, resp.status_code, message)

    def _token(self, base, timeout):
        if base in self._tokens:
            return self._tokens[base]
        try:
            data = self._http(base, "/v3/auth/authenticate", {"name": self.user, "password": self.password}, timeout)
        except EtcdRequestError as e:
            if "authentication is not enabled" in e.message:
                self._tokens[base] = None
                return None
            if "authentication failed" in e.message or e.status in (400, 401):
                raise EtcdAuthError(
                    f"etcd at {base} rejected user {self.user!r}: {e.message}. Check the password "
                    "(and that the user exists: etcdctl user list)."
                ) from None
            raise
        self._tokens[base] = data.get("token")
        return self._tokens[base]

    def _send(self, base, path, body, timeout):
        for attempt in (1, 2):
            headers = {}
            if self.user:
                token = self._token(base, timeout)
                if token:
                    headers["Authorization"] = token
            try:
                return self._http(base, path, body, timeout, headers)
            except EtcdRequestError as e:
                text = e.message.lower()
                if "invalid auth token" in text and self.user and attempt == 1:
                    self._tokens.pop(base, None)
                    continue
                if "user name is empty" in text or "invalid auth token" in text:
                    raise EtcdAuthError(
                        f"etcd at {e.url} requires authentication ({e.message}): set the user and password options."
                    ) from None
                if "permission denied" in text:
                    raise EtcdAuthError(
                        f"etcd at {e.url} denied {path} to user {self.user!r}: grant it the root role "
                        f"(etcdctl user grant-role {self.user} root)."
                    ) from None
                if _UNSETTLED_MARKER in text:
                    raise EtcdUnsettledError(
                        f"etcd at {e.url} refused {path}: {e.message} (HTTP {e.status}). etcd allows a membership "
                        "change only once every member has been connected to its peers for 5 s; a member is down, "
                        "cannot reach its peers, or has just restarted. Check apiplatform.ha.etcd_cluster_info and "
                        "the members' logs (journalctl -u etcd)."
                    ) from None
                if any(marker in text for marker in _QUORUM_MARKERS):
                    raise EtcdQuorumError(
                        f"etcd at {e.url} cannot serve {path}: {e.message} (HTTP {e.status}). The cluster has probably "
                        "lost quorum; check apiplatform.ha.etcd_cluster_info and start the stopped members."
                    ) from None
                raise
        raise EtcdAuthError(f"etcd at {base} keeps rejecting the token of user {self.user!r}")  # pragma: no cover

    def call(self, path, body=None, endpoint=None, timeout=None):
        """POST ``body`` (GET when None) to ``path`` on ``endpoint``, else on each endpoint until one answers."""
        bases = [endpoint] if endpoint else list(self.endpoints)
        failures = []
        for base in bases:
            try:
                result = self._send(base, path, body, timeout or self.timeout)
            except requests.exceptions.RequestException as e:
                failures.append(f"{base}{path}: {_short_error(e)}")
                continue
            if endpoint is None and base != self.endpoints[0]:
                # Remember the endpoint that answered so later calls do not wait on the dead ones again.
                self.endpoints.remove(base)
                self.endpoints.insert(0, base)
            return result
        raise EtcdConnectionError("could not reach etcd: {}. {}".format("; ".join(failures), CONNECTION_HINT))

    # -- API ----------------------------------------------------------------------------------------------------------

    def member_list(self):
        """``(cluster_id_hex, [member, ...])``."""
        data = self.call("/v3/cluster/member/list", {})
        header = data.get("header") or {}
        return member_id_hex(header.get("cluster_id")), [normalize_member(m) for m in data.get("members") or []]

    def reconfigure(self, path, body, settle=RECONFIG_SETTLE_SECONDS):
        """POST a membership change, retried while etcd refuses it as "unhealthy cluster" (at most ``settle`` s).

        etcd refuses the change before applying anything in that case, so a retry cannot apply it twice.
        """
        outcome = {}

        def attempt():
            try:
                outcome["data"] = self.call(path, body)
            except EtcdUnsettledError as e:
                outcome["error"] = e
                return False
            return True

        if not wait_until(attempt, settle, interval=1.0, clock=self._clock, sleep=self._sleep):
            raise EtcdUnsettledError(f"{outcome['error']} Still refused after {settle:g} s of retries.")
        return outcome["data"]

    def member_add(self, peer_urls, is_learner=False):
        """Add a member; returns ``(added_member, all_members)``."""
        body = {"peerURLs": list(peer_urls)}
        if is_learner:
            body["isLearner"] = True
        data = self.reconfigure("/v3/cluster/member/add", body)
        return normalize_member(data.get("member") or {}), [normalize_member(m) for m in data.get("members") or []]

    def member_update(self, member_id, peer_urls):
        body = {"ID": member_id_dec(member_id), "peerURLs": list(peer_urls)}
        data = self.reconfigure("/v3/cluster/member/update", body)
        return [normalize_member(m) for m in data.get("members") or []]

    def member_remove(self, member_id):
        data = self.reconfigure("/v3/cluster/member/remove", {"ID": member_id_dec(member_id)})
        return [normalize_member(m) for m in data.get("members") or []]

    def status(self, endpoint, timeout=None):
        return self.call("/v3/maintenance/status", {}, endpoint=endpoint, timeout=timeout)

    def health(self, endpoint, timeout=None):
        return self.call("/health", None, endpoint=endpoint, timeout=timeout)

    def transfer_leadership(self, leader, target_id):
        """Ask ``leader`` (a member dict; the request must reach the leader itself) to hand over to ``target_id``."""
        failures = []
        for url in leader["client_urls"]:
            try:
                return self.call(
                    "/v3/maintenance/transfer-leadership", {"targetID": member_id_dec(target_id)}, endpoint=url
                )
            except EtcdConnectionError as e:
                failures.append(str(e))
        raise EtcdConnectionError(
            "could not reach the leader {!r} at its client URLs {} to transfer leadership: {}".format(
                leader["name"], ", ".join(leader["client_urls"]) or "(none)", " | ".join(failures) or "no client URL"
            )
        )

    def put(self, key, value):
        return self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    def get(self, key):
        """Value of ``key`` as text, or None when absent."""
        return self.get_with_revision(key)[0]

    def get_with_revision(self, key):
        """``(value or None, mod_revision)``; the revision is 0 when the key is absent."""
        data = self.call("/v3/kv/range", {"key": _b64(key)})
        kvs = data.get("kvs") or []
        if not kvs:
            return None, 0
        return _unb64(kvs[0].get("value")), int(kvs[0].get("mod_revision") or 0)

    def _txn_if_unchanged(self, key, mod_revision, request):
        """Apply ``request`` only while ``key`` is still at ``mod_revision`` (0: still absent)."""
        compare = [{"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}]
        data = self.call("/v3/kv/txn", {"compare": compare, "success": [request]})
        if not data.get("succeeded"):
            raise EtcdKeyChangedError(
                f"etcd key {key} was changed by another client after this task read it (at revision "
                f"{mod_revision}); nothing was written. Run the task again to plan from the new value."
            )

    def put_if_unchanged(self, key, value, mod_revision):
        """Write ``key`` only if nobody changed it since it was read at ``mod_revision``."""
        self._txn_if_unchanged(key, mod_revision, {"request_put": {"key": _b64(key), "value": _b64(value)}})

    def delete_if_unchanged(self, key, mod_revision):
        """Delete ``key`` only if nobody changed it since it was read at ``mod_revision``."""
        self._txn_if_unchanged(key, mod_revision, {"request_delete_range": {"key": _b64(key)}})

    def delete(self, key):
        """Delete ``key``; returns how many keys were deleted (0 or 1)."""
        data = self.call("/v3/kv/deleterange", {"key": _b64(key)})
        return int(data.get("deleted") or 0)

    def member_status(self, member, timeout):
        """``{'status': answer or None, 'error': str or None}`` asking the member itself at its client URLs."""
        if not member["client_urls"]:
            return {"status": None, "error": "member has not started yet (no client URLs)"}
        errors = []
        for url in member["client_urls"]:
            try:
                return {"status": self.status(url, timeout=timeout), "error": None}
            except EtcdError as e:
                errors.append(str(e))
        return {"status": None, "error": " | ".join(errors)}

    def read_cluster(self, status_timeout=None):
        """Member list plus each member's own status, summarized by :func:`cluster_summary`."""
        cluster_id, members = self.member_list()
        status_timeout = status_timeout or min(self.timeout, 2.0)
        statuses = {m["id"]: self.member_status(m, status_timeout) for m in members}
        return cluster_summary(cluster_id, members, statuses)

    def prefer_other_members(self, members, exclude_id):
        """Append the client URLs of the other members to the endpoints and move the excluded member's URLs last.

        Used before removing a member, so that the calls after the removal do not go to the process that stops.
        """
        excluded = set()
        for m in members:
            if m["id"] == exclude_id:
                excluded.update(m["client_urls"])
        extra = []
        for m in members:
            if m["id"] != exclude_id:
                extra.extend(u for u in m["client_urls"] if u not in self.endpoints and u not in extra)
        keep = [e for e in self.endpoints if e not in excluded] + extra
        self.endpoints = keep + [e for e in self.endpoints if e in excluded]


def _short_error(exc):
    """The innermost message of a requests exception (their str() nests urllib3 reprs several levels deep)."""
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "certificate verify failed"):
        if marker in text:
            return f"{marker} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {text[:300]}"
