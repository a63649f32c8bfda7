# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rabbitmqctl / rabbitmq-queues runner, parsers of their JSON output and the pure planning functions of the
RabbitMQ membership modules (rabbitmq_cluster_member, rabbitmq_quorum_members).

Cluster membership and quorum queue membership have no management HTTP API equivalent, so these modules use the CLI
tools. Nothing here calls ``fail_json``: every problem is raised as a :class:`RabbitMQCliError` subclass and the
module's ``main()`` turns it into one ``fail_json(msg=...)``.

What RabbitMQ 3.10.8 (Erlang 25) answers, as captured on a real cluster (the unit tests replay those answers):

- ``cluster_status --formatter json`` needs the ``rabbit`` app running on the target node (rc 64 and "requires the
  'rabbit' app to be running" otherwise). Keys: ``disk_nodes``, ``ram_nodes``, ``running_nodes``, ``partitions`` (a
  map node -> nodes it cannot reach), ``alarms`` (``[{node, resource, type}]``), ``cluster_name`` (the first node's
  name with its FQDN host until ``set_cluster_name``; not an identity), plus listeners, versions, feature flags.
- ``eval`` works while the app is stopped (only the Erlang VM must run); the membership modules use it for one fixed,
  read-only expression (:data:`IDENTITY_EXPR`): the node's own name, whether the app runs, and the cluster members it
  knows (``rabbit_nodes:all()``, read from its local cluster files when the app is stopped).
- A node that is down (or a CLI whose Erlang cookie differs) answers rc 69 "unable to perform an operation on node"
  followed by DIAGNOSTICS; those lines are summarized into the error.
- ``list_queues name type leader members online --formatter json`` is fresh right after a membership change (the
  HTTP API's ``members`` lagged > 6 s); classic queues have ``""`` as leader/members/online.
- ``reset`` on a node whose cluster peers are all unreachable does not fail fast: it waits for the peers' Mnesia
  tables (10 tries of 30 s) and fails after ~10 minutes with ``timeout_waiting_for_tables``; the CLI ``--timeout``
  does not bound it. :func:`plan_reset` therefore picks ``force_reset`` up front in that case.
- ``join_cluster`` resets the joining node itself. It fails with ``inconsistent_cluster`` when the peer still lists
  the joining node but the node does not know the peer (its data was wiped or force-reset while the cluster
  remembered it): the cluster must forget it first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re

# One fixed, read-only expression (never built from user input): node name, rabbit app running, known members.
IDENTITY_EXPR = "{node(), rabbit:is_running(), rabbit_nodes:all()}."

APP_STOPPED_MARKER = "requires the 'rabbit' app to be running"
NODE_DOWN_MARKERS = ("unable to perform an operation on node", "unable to connect to node", "nodedown")
INCONSISTENT_MARKER = "inconsistent_cluster"
UNREACHABLE_PEERS_MARKERS = ("timeout_waiting_for_tables", "no_running_cluster_nodes", "no_online_cluster_nodes")

RABBITMQ_CLI_ARGUMENT_SPEC = {
    "rabbitmqctl_path": {"type": "str", "default": "rabbitmqctl"},
}


class RabbitMQCliError(Exception):
    """Base class of every error this module_utils raises."""


class RabbitMQCliParameterError(RabbitMQCliError):
    """A module option has a value that cannot be used; the message names the option and the fix."""


class RabbitMQCliNodeDownError(RabbitMQCliError):
    """The CLI could not reach the node's Erlang VM (down, unreachable or another Erlang cookie)."""

    def __init__(self, message, node=None):
        self.node = node
        super().__init__(message)


class RabbitMQCliAppStoppedError(RabbitMQCliError):
    """The node's Erlang VM answers but its ``rabbit`` application is stopped (the command needs it running)."""

    def __init__(self, message, node=None):
        self.node = node
        super().__init__(message)


class RabbitMQCliRefusedError(RabbitMQCliError):
    """The requested change is unsafe or impossible in the cluster's current state; nothing was changed."""


class RabbitMQCliCommandError(RabbitMQCliError):
    """A CLI command failed for another reason; ``detail`` is RabbitMQ's own message."""

    def __init__(self, message, cmd=None, rc=None, detail=""):
        self.cmd = cmd
        self.rc = rc
        self.detail = detail
        super().__init__(message)


class RabbitMQCliTimeoutError(RabbitMQCliError):
    """A wait did not reach its goal in time."""


def rabbitmq_cli_argument_spec():
    """CLI options shared by the RabbitMQ CLI modules (doc fragment apiplatform.ha.rabbitmq_cli); a deep copy."""
    return copy.deepcopy(RABBITMQ_CLI_ARGUMENT_SPEC)


# ---------------------------------------------------------------------------------------------------------------------
# Output of the CLI tools
# ---------------------------------------------------------------------------------------------------------------------

_LOG_LINE = re.compile(r"^\s*\d\d:\d\d:\d\d\.\d+ \[\w+\]")


def error_detail(out, err):
    """RabbitMQ's own message from a failed command: the text after the last ``Error:``, without usage text,
    diagnostics or the Erlang logger lines the CLI prints to stderr; at most 500 characters."""
    text = "\n".join(line for line in (err or "").splitlines() if not _LOG_LINE.match(line))
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    if "Error:" in text:
        text = text[text.rindex("Error:") + len("Error:") :]
    for stop in ("Arguments given:", "Usage", "DIAGNOSTICS", "Most common reasons"):
        if stop in text:
            text = text[: text.index(stop)]
    text = " ".join(text.split())
    if not text:
        text = " ".join((out or "").split())
    return text[:500]


def node_down_hint(err):
    """What the CLI's DIAGNOSTICS say about an unreachable node, in one sentence."""
    text = err or ""
    home = re.search(r"effective user's home directory: (\S+)", text)
    cookie = f"~/.erlang.cookie of the user running the module (HOME={home.group(1)})" if home else "~/.erlang.cookie"
    if "not running at all" in text:
        return "epmd on its host does not know it: the node is not running. Start it (systemctl start rabbitmq-server)"
    if "Erlang distribution failed" in text:
        return (
            "its host answers but the CLI could not authenticate: the CLI's Erlang cookie differs from the node's. "
            f"Use the node's cookie ({cookie}, or RABBITMQ_ERLANG_COOKIE)"
        )
    if "nxdomain" in text or "could not resolve" in text.lower():
        return "its host name does not resolve; check the node name (rabbit@<short hostname>) and /etc/hosts"
    return (
        "check that it runs (rabbitmq-diagnostics -n <node> ping), the node name (rabbit@<short hostname> by default), "
        f"and that the CLI uses the node's Erlang cookie ({cookie})"
    )


def _json_payload(text):
    """Parse JSON output, skipping anything a CLI may print before it (a banner)."""
    text = text or ""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError("no JSON in the output")
    return json.loads(text[min(starts) :])


def parse_json_output(text, what):
    try:
        return _json_payload(text)
    except ValueError as e:
        raise RabbitMQCliCommandError(
            f"{what} did not print JSON ({e}): {(text or '').strip()[:300]!r}. Is this RabbitMQ 3.8 or later?"
        ) from None


def _names(value):
    """A JSON list of node names (or the empty string RabbitMQ prints for 'none') -> sorted list of str."""
    if not value or isinstance(value, str):
        return []
    return sorted(str(v) for v in value)


def partition_pairs(partitions):
    """``{node: [nodes it cannot reach]}`` (cluster_status) -> unordered pairs ``[a, b]`` (a < b), sorted.

    The same shape as rabbitmq_cluster_info's ``partitions``.
    """
    pairs = set()
    items = partitions.items() if isinstance(partitions, dict) else []
    for node, others in items:
        for other in _names(others):
            if other != node:
                pairs.add(tuple(sorted((str(node), other))))
    return [list(p) for p in sorted(pairs)]


def parse_cluster_status(data):
    """``rabbitmqctl cluster_status --formatter json`` (parsed JSON) -> our view of the cluster.

    ``{'cluster_name', 'disk_nodes', 'ram_nodes', 'nodes' (both), 'running_nodes', 'stopped_nodes', 'partitions'
    (pairs), 'alarms' ([{node, resource}])}``; every list sorted.
    """
    if not isinstance(data, dict) or "running_nodes" not in data:
        raise RabbitMQCliCommandError(f"cluster_status answered something unexpected: {str(data)[:300]}")
    disk = _names(data.get("disk_nodes"))
    ram = _names(data.get("ram_nodes"))
    nodes = sorted(set(disk) | set(ram))
    running = _names(data.get("running_nodes"))
    alarms = []
    for alarm in data.get("alarms") or []:
        if isinstance(alarm, dict):
            alarms.append({"node": str(alarm.get("node") or ""), "resource": str(alarm.get("resource") or "")})
    return {
        "cluster_name": data.get("cluster_name"),
        "disk_nodes": disk,
        "ram_nodes": ram,
        "nodes": nodes,
        "running_nodes": running,
        "stopped_nodes": [n for n in nodes if n not in running],
        "partitions": partition_pairs(data.get("partitions")),
        "alarms": sorted(alarms, key=lambda a: (a["node"], a["resource"])),
    }


_ATOM = re.compile(r"'((?:[^'\\]|\\.)*)'|([A-Za-z0-9_@.\-]+)")


def parse_identity(text):
    """Output of ``eval`` :data:`IDENTITY_EXPR`, e.g. ``{x3@localhost,false,[x1@localhost,x3@localhost]}`` (atoms
    with ``-`` or ``.`` come quoted: ``'rabbit@node-1'``) -> ``{'node', 'running', 'known_nodes'}``."""
    body = (text or "").strip()
    match = re.search(r"\{.*\}", body, re.S)
    tokens = [q.replace("\\'", "'") if q else bare for q, bare in _ATOM.findall(match.group(0) if match else "")]
    if len(tokens) < 2 or "@" not in tokens[0] or tokens[1] not in ("true", "false"):
        raise RabbitMQCliCommandError(f"rabbitmqctl eval answered something unexpected: {body[:300]!r}")
    return {"node": tokens[0], "running": tokens[1] == "true", "known_nodes": sorted(set(tokens[2:]))}


def parse_vhosts(data):
    """``rabbitmqctl list_vhosts name --formatter json`` -> sorted names."""
    if not isinstance(data, list):
        raise RabbitMQCliCommandError(f"list_vhosts answered something unexpected: {str(data)[:300]}")
    return sorted(str(v.get("name")) for v in data if isinstance(v, dict) and v.get("name") is not None)


def has_quorum(members, online):
    """Whether more than half of ``members`` are ``online`` (a quorum queue then accepts and delivers messages)."""
    return bool(members) and len(set(online) & set(members)) > len(members) // 2


def queue_view(vhost, raw):
    """One entry of ``list_queues name type leader members online`` -> ``{vhost, name, type, leader, members, online,
    has_quorum}`` (members and online sorted; online limited to members; leader None when empty)."""
    members = _names(raw.get("members"))
    online = [n for n in _names(raw.get("online")) if n in members]
    return {
        "vhost": vhost,
        "name": str(raw.get("name") or ""),
        "type": str(raw.get("type") or ""),
        "leader": raw.get("leader") or None,
        "members": members,
        "online": online,
        "has_quorum": has_quorum(members, online),
    }


def parse_queues(vhost, data):
    """``rabbitmqctl list_queues --vhost V name type leader members online --formatter json`` -> quorum queues only,
    sorted by name (see :func:`queue_view`)."""
    if not isinstance(data, list):
        raise RabbitMQCliCommandError(f"list_queues answered something unexpected: {str(data)[:300]}")
    queues = [queue_view(vhost, q) for q in data if isinstance(q, dict)]
    return sorted((q for q in queues if q["type"] == "quorum"), key=lambda q: q["name"])


def public_queue(queue):
    """A queue as the modules return it."""
    return {k: queue[k] for k in ("vhost", "name", "leader", "members", "online", "has_quorum")}


def below_quorum(queues):
    """Queues whose online members are fewer than a majority of their members (unavailable)."""
    return [q for q in queues if not q["has_quorum"]]


def under_replicated(queues):
    """Queues with at least one member offline (includes the ones below quorum)."""
    return [q for q in queues if len(q["online"]) < len(q["members"])]


# ---------------------------------------------------------------------------------------------------------------------
# Option checks
# ---------------------------------------------------------------------------------------------------------------------

_NODE_NAME = re.compile(r"^[^@\s]+@[^@\s]+$")


def validate_node_name(value, option):
    text = "" if value is None else str(value).strip()
    if not _NODE_NAME.match(text):
        raise RabbitMQCliParameterError(
            f"{option}: {value!r} is not a RabbitMQ node name; write it as name@host, for example rabbit@node1 "
            "(rabbit@<short hostname> unless RABBITMQ_NODENAME says otherwise)"
        )
    return text


def resolve_executable(value, option, get_bin_path, is_executable=None):
    """An absolute path that must be executable, or a name looked up with ``get_bin_path`` (AnsibleModule's, which
    also searches the sbin directories; /usr/lib/rabbitmq/bin is added for Debian's unwrapped tools)."""
    is_executable = is_executable or (lambda path: os.access(path, os.X_OK))
    if os.path.isabs(value):
        if not is_executable(value):
            raise RabbitMQCliParameterError(f"{option}: {value} does not exist or is not executable")
        return value
    found = get_bin_path(value, opt_dirs=["/usr/sbin", "/usr/lib/rabbitmq/bin"])
    if not found:
        raise RabbitMQCliParameterError(
            f"{option}: {value!r} not found in PATH, /usr/sbin or /usr/lib/rabbitmq/bin; install rabbitmq-server or "
            "give its absolute path"
        )
    return found


def compile_pattern(value, option="queue_pattern"):
    """The regular expression ``value`` compiled (Python ``re``, matched with ``search`` like RabbitMQ policies)."""
    try:
        return re.compile(value)
    except re.error as e:
        raise RabbitMQCliParameterError(f"{option}: {value!r} is not a valid regular expression ({e})") from None


# ---------------------------------------------------------------------------------------------------------------------
# Pure planning (no I/O): unit tested without a server
# ---------------------------------------------------------------------------------------------------------------------

RESET_FIX = "run this module with state=reset and confirm=true on that node (it drops the node's local data)"


def plan_present(local, identity, peer, peer_view):
    """Decide what state=present does on node ``local`` for joining the cluster of ``peer``. Pure.

    ``identity`` is :func:`parse_identity` of the local node, ``peer_view`` :func:`parse_cluster_status` of ``peer``.
    Returns ``{'action': 'already_member'|'start'|'join', 'commands': [...], 'reasons': [str]}``; raises
    RabbitMQCliRefusedError when joining would throw away a membership or cannot work.
    """
    members = peer_view["nodes"]
    known = identity["known_nodes"]
    others = [n for n in known if n != local]
    if local in members and peer in known:
        if identity["running"]:
            return {"action": "already_member", "commands": [], "reasons": [f"{local} is a member of {peer}'s cluster"]}
        return {
            "action": "start",
            "commands": ["start_app"],
            "reasons": [f"{local} is a member of {peer}'s cluster but its rabbit app is stopped"],
        }
    if local in members:
        raise RabbitMQCliRefusedError(
            f"{peer} lists {local} as a cluster member, but {local} does not know {peer} (it knows "
            f"{', '.join(known) or 'nothing'}): its data was reset or rebuilt while the cluster remembered it, and "
            f"join_cluster would fail with inconsistent_cluster. To rejoin it, {RESET_FIX}; it makes {peer} forget "
            "the old incarnation first. Nothing was changed."
        )
    if others and peer in known:
        raise RabbitMQCliRefusedError(
            f"{local} still thinks it is clustered with {', '.join(others)}, but {peer}'s cluster no longer lists it "
            f"(members: {', '.join(members)}): it was forgotten while it was down, and its local data is stale. To "
            f"rejoin it, {RESET_FIX}. Nothing was changed."
        )
    if others:
        raise RabbitMQCliRefusedError(
            f"{local} belongs to another cluster (with {', '.join(others)}); joining {peer} would take it out of that "
            f"cluster and drop its data. If that is intended, {RESET_FIX}. Nothing was changed."
        )
    commands = ["stop_app", "join_cluster", "start_app"] if identity["running"] else ["join_cluster", "start_app"]
    reasons = [f"{local} is a standalone node, not in {peer}'s cluster"]
    return {"action": "join", "commands": commands, "reasons": reasons}


def plan_reset(local, identity, peer, peer_view, running_elsewhere=()):
    """Decide how state=reset resets node ``local`` before it joins the cluster of ``peer_view``. Pure.

    ``running_elsewhere`` are nodes outside the cluster of ``peer`` found running. A graceful ``reset`` tells the node's
    cluster peers that it leaves; it needs at least one of them running, else it waits ~10 minutes for their tables
    and fails, so ``force_reset`` is chosen when none of them runs. Returns ``{'reset': 'reset'|'force_reset',
    'commands': [...], 'reasons': [str]}``.
    """
    peers = [n for n in identity["known_nodes"] if n != local]
    running = set(peer_view["running_nodes"]) | set(running_elsewhere)
    reachable = [n for n in peers if n in running]
    if not peers:
        mode, why = "reset", f"{local} is standalone"
    elif reachable:
        mode, why = "reset", f"{local}'s cluster peers {', '.join(reachable)} run and are told that it leaves"
    else:
        mode = "force_reset"
        why = (
            f"none of {local}'s cluster peers ({', '.join(peers)}) runs, so a graceful reset would wait for them for "
            "minutes; force_reset does not tell them"
        )
    reasons = [why]
    commands = (["stop_app"] if identity["running"] else []) + [mode]
    # A graceful reset of a member of the peer's cluster makes the peers forget it; in every other case the peer
    # still lists the node afterwards and must forget it before the join (else: inconsistent_cluster).
    if local in peer_view["nodes"] and (mode == "force_reset" or peer not in identity["known_nodes"]):
        commands.append("forget_cluster_node")
        reasons.append(f"{peer} still lists {local} and forgets it before the join")
    return {"reset": mode, "commands": [*commands, "join_cluster", "start_app"], "reasons": reasons}


def plan_forget(node, view, via):
    """Decide what state=absent does: forget ``node`` from the cluster ``view`` as seen by the running node ``via``.

    Returns ``{'action': 'forgotten'|'not_member', 'reasons': [str]}``; raises RabbitMQCliRefusedError for a node
    that still runs or is the last disc node. Pure.
    """
    if node not in view["nodes"]:
        return {
            "action": "not_member",
            "reasons": [f"{node} is not a member of the cluster of {via} ({', '.join(view['nodes'])})"],
        }
    if node in view["running_nodes"]:
        raise RabbitMQCliRefusedError(
            f"refusing to forget {node}: it is still running in the cluster (running: "
            f"{', '.join(view['running_nodes'])}). Stop it first (rabbitmqctl -n {node} stop_app, or stop its "
            "service), or, to rebuild it, run this module with state=reset and confirm=true on it. Nothing was changed."
        )
    if view["disk_nodes"] == [node]:
        raise RabbitMQCliRefusedError(
            f"refusing to forget {node}: it is the cluster's last disc node (RAM nodes: "
            f"{', '.join(view['ram_nodes']) or 'none'}), which holds the only on-disk copy of the cluster's "
            "metadata. Start it again, or change a RAM node to disc first (change_cluster_node_type disc). "
            "Nothing was changed."
        )
    return {"action": "forgotten", "reasons": [f"{node} is a stopped member of the cluster of {via}"]}


def qname(queue):
    """``vhost/name`` (``/name`` in the default vhost ``/``), for messages and diff keys."""
    return f"{queue['vhost'].rstrip('/')}/{queue['name']}"


def plan_quorum_members(queues, node, state):
    """Which quorum queues ``node`` is added to (state=present) or removed from (state=absent). Pure.

    Returns ``{'add': [queue], 'remove': [queue]}``. Raises RabbitMQCliRefusedError, before anything changes, for
    queues without quorum (a membership change needs a majority to commit; the command would time out), for a
    removal that would leave a queue without a majority online, and for a queue's last member.
    """
    add, remove, refusals = [], [], []
    for q in queues:
        if state == "present" and node not in q["members"]:
            if not q["has_quorum"]:
                refusals.append(
                    f"{qname(q)} has no quorum (online {len(q['online'])} of {len(q['members'])}: "
                    f"{', '.join(q['online']) or 'none'}), so no member can be added"
                )
            add.append(q)
        elif state == "absent" and node in q["members"]:
            members = [m for m in q["members"] if m != node]
            online = [m for m in q["online"] if m != node]
            if not members:
                refusals.append(f"{node} is the last member of {qname(q)} (delete the queue instead)")
            elif not q["has_quorum"]:
                refusals.append(
                    f"{qname(q)} has no quorum (online {len(q['online'])} of {len(q['members'])}: "
                    f"{', '.join(q['online']) or 'none'}), so no member can be removed"
                )
            elif not has_quorum(members, online):
                refusals.append(
                    f"removing {node} from {qname(q)} would leave {len(online)} of {len(members)} members online "
                    f"({', '.join(online) or 'none'}), below a majority"
                )
            remove.append(q)
    if refusals:
        raise RabbitMQCliRefusedError(
            f"refusing to change the quorum queue membership of {node}: {'; '.join(refusals)}. Start the queues' "
            "other members first (or narrow vhost/queue_pattern). Nothing was changed."
        )
    return {"add": add, "remove": remove}


def members_after(queue, node, state):
    """The queue's members after the planned change (for the diff)."""
    if state == "present":
        return sorted(set(queue["members"]) | {node})
    return [m for m in queue["members"] if m != node]


# ---------------------------------------------------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------------------------------------------------


class RabbitMQCli:
    """One CLI tool (rabbitmqctl, rabbitmq-queues) run through ``run_command`` (AnsibleModule.run_command or any
    callable taking an argument list and returning ``(rc, stdout, stderr)``); never a shell string.

    ``node`` is the default target (``-n``); without it the tool talks to its own default node (RABBITMQ_NODENAME,
    else rabbit@<short hostname>). ``timeout`` (seconds) is passed as the CLI's ``--timeout``.
    """

    def __init__(self, run_command, executable, node=None, timeout=None):
        self.run_command = run_command
        self.executable = executable
        self.node = node
        self.timeout = timeout

    def command(self, args, node=None):
        cmd = [self.executable]
        target = node or self.node
        if target:
            cmd += ["-n", target]
        if self.timeout:
            cmd += ["--timeout", str(int(self.timeout))]
        return cmd + [str(a) for a in args]

    @staticmethod
    def describe(cmd):
        """The command as a short string (tool name, not its path) for ``executed`` and messages."""
        return " ".join([cmd[0].rsplit("/", 1)[-1], *cmd[1:]])

    def run(self, *args, node=None):
        """Run the tool; return stdout. Raise NodeDown/AppStopped/CommandError for rc != 0."""
        cmd = self.command(args, node)
        rc, out, err = self.run_command(cmd)
        if rc == 0:
            return out
        target = node or self.node or "the default node"
        detail = error_detail(out, err)
        combined = f"{out}\n{err}"
        if APP_STOPPED_MARKER in combined:
            raise RabbitMQCliAppStoppedError(
                f"{self.describe(cmd)}: the rabbit application of {target} is stopped (its Erlang VM runs). Start it "
                f"(rabbitmqctl -n {target} start_app, or restart its service).",
                node=target,
            )
        if any(marker in combined for marker in NODE_DOWN_MARKERS):
            raise RabbitMQCliNodeDownError(
                f"{self.describe(cmd)}: cannot reach RabbitMQ node {target}: {node_down_hint(err)}.", node=target
            )
        raise RabbitMQCliCommandError(
            f"{self.describe(cmd)} failed (rc={rc}): {detail}", cmd=self.describe(cmd), rc=rc, detail=detail
        )

    def run_json(self, *args, node=None):
        out = self.run(*args, "--formatter", "json", node=node)
        return parse_json_output(out, self.describe(self.command(args, node)))

    # -- readers -----------------------------------------------------------------------------------------------------

    def cluster_status(self, node=None):
        """:func:`parse_cluster_status` of ``cluster_status`` on ``node`` (needs its app running)."""
        return parse_cluster_status(self.run_json("cluster_status", node=node))

    def identity(self, node=None):
        """:func:`parse_identity` of ``node`` (works while its app is stopped)."""
        return parse_identity(self.run("eval", IDENTITY_EXPR, node=node))

    def vhosts(self, node=None):
        return parse_vhosts(self.run_json("list_vhosts", "name", node=node))

    def quorum_queues(self, vhost, node=None):
        data = self.run_json("list_queues", "--vhost", vhost, "name", "type", "leader", "members", "online", node=node)
        return parse_queues(vhost, data)
