# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nagios/Icinga check of a RabbitMQ cluster through the management HTTP API. Python 3 standard library only.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no --url answered, credentials refused, or no password).

CRITICAL: a network partition; a memory or disk alarm (publishers are blocked); a quorum queue without a majority of
its members online (unavailable); at most half of --expected-nodes running. WARNING: fewer running nodes than
--expected-nodes (a majority still runs); a quorum queue with a member offline (one failure from losing quorum).

Output: one status line, then `|` and perfdata: nodes_running, partitions, alarms, quorum_queues,
queues_without_quorum, queues_degraded.

The password never goes on the command line (other users can read it in ps): --password-file, or the environment
variable named by --password-env (default RABBITMQ_CHECK_PASSWORD).

Example: check_rabbitmq_cluster --url http://10.0.0.1:15672 --url http://10.0.0.2:15672 --user monitoring
         --password-file /etc/rabbitmq-ha/check.password --expected-nodes 3
"""

import argparse
import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
QUEUES_PATH = "/api/queues?disable_stats=true&enable_queue_totals=true"


def parse_args(argv):
    p = argparse.ArgumentParser(description="Nagios-compatible check of a RabbitMQ cluster (management HTTP API).")
    p.add_argument(
        "--url",
        action="append",
        help="management API base URL, e.g. http://10.0.0.1:15672; repeat it to try other nodes "
        "(default http://127.0.0.1:15672)",
    )
    p.add_argument("--user", default="admin", help="API user (the monitoring tag is enough)")
    p.add_argument("--password-file", help="file holding the API user's password (first line)")
    p.add_argument(
        "--password-env",
        default="RABBITMQ_CHECK_PASSWORD",
        help="environment variable holding the password when no --password-file is given",
    )
    p.add_argument("--expected-nodes", type=int, default=0, help="nodes that should run (0: do not check)")
    p.add_argument("--ca-cert", help="CA bundle (PEM) for an https URL")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per HTTP request")
    args = p.parse_args(argv)
    args.url = args.url or ["http://127.0.0.1:15672"]
    return args


def read_password(args, environ=None):
    """The password from --password-file or the --password-env variable; raises RuntimeError when neither has one."""
    environ = os.environ if environ is None else environ
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as e:
            raise RuntimeError(f"cannot read --password-file {args.password_file}: {e.strerror}") from None
    value = environ.get(args.password_env)
    if value is None:
        raise RuntimeError(f"no password: give --password-file or set the {args.password_env} environment variable")
    return value


def _first_wins(pairs):
    # 3.10 repeats the 'online' key of quorum queues; the first copy is current, the second can be stale
    out = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


class AuthRefused(Exception):
    pass


def fetch(urls, user, password, timeout, ca_cert=None):
    """``(nodes, queues)`` from the first URL that answers both; raises RuntimeError naming every URL and why."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    context = ssl.create_default_context(cafile=ca_cert) if ca_cert else None
    failures = []
    for url in urls:
        base = url.rstrip("/")
        try:
            answers = []
            for path in ("/api/nodes", QUEUES_PATH):
                req = urllib.request.Request(base + path, headers={"Authorization": f"Basic {token}"})
                with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
                    answers.append(json.loads(resp.read().decode("utf-8"), object_pairs_hook=_first_wins))
        except urllib.error.HTTPError as e:
            if e.code in (401, 403):
                raise AuthRefused(f"{base}: HTTP {e.code} {e.reason} for user {user!r}") from None
            failures.append(f"{base}: HTTP {e.code} {e.reason}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as e:
            failures.append(f"{base}: {getattr(e, 'reason', e)}")
            continue
        nodes, queues = answers
        if isinstance(nodes, list) and isinstance(queues, list):
            return nodes, queues
        failures.append(f"{base}: not a RabbitMQ management API answer")
    raise RuntimeError("; ".join(failures))


def evaluate(nodes, queues, expected_nodes=0):
    """(exit code, status text, perfdata) for GET /api/nodes and GET /api/queues answers. Pure: no I/O."""
    running = sorted(n.get("name", "?") for n in nodes if n.get("running"))
    stopped = sorted(n.get("name", "?") for n in nodes if not n.get("running"))
    pairs = sorted(
        {tuple(sorted((n.get("name", "?"), p))) for n in nodes if n.get("running") for p in n.get("partitions") or []}
    )
    alarms = []
    for n in nodes:
        if n.get("running") and n.get("mem_alarm"):
            alarms.append(f"memory alarm on {n.get('name')}")
        if n.get("running") and n.get("disk_free_alarm"):
            alarms.append(f"disk alarm on {n.get('name')}")
    quorum = [q for q in queues if q.get("type") == "quorum"]
    without_quorum, degraded = [], []
    for q in quorum:
        members = set(q.get("members") or [])
        online = set(q.get("online") or []) & members & set(running)
        label = "{}/{} ({}/{} online)".format(q.get("vhost", "/"), q.get("name", "?"), len(online), len(members))
        if members and len(online) <= len(members) // 2:
            without_quorum.append(label)
        elif len(online) < len(members):
            degraded.append(label)

    critical, warning = [], []
    if pairs:
        critical.append("partitioned: " + ", ".join(f"{a} / {b}" for a, b in pairs))
    critical += alarms
    if without_quorum:
        critical.append(f"{len(without_quorum)} quorum queue(s) without quorum: " + ", ".join(without_quorum[:5]))
    if expected_nodes and len(running) < expected_nodes:
        text = f"{len(running)} of {expected_nodes} expected nodes running"
        if stopped:
            text += f" (stopped: {', '.join(stopped)})"
        (critical if len(running) <= expected_nodes // 2 else warning).append(text)
    elif stopped:
        warning.append(f"stopped: {', '.join(stopped)}")
    if degraded:
        warning.append(f"{len(degraded)} quorum queue(s) with a member offline: " + ", ".join(degraded[:5]))

    code = CRITICAL if critical else WARNING if warning else OK
    summary = f"{len(running)}/{len(nodes)} nodes running, {len(quorum)} quorum queues"
    problems = critical + warning
    text = summary + (": " + "; ".join(problems) if problems else "")
    # Nagios ranges "N:" alert below N: WARNING below the expected count, CRITICAL below a majority of it
    warn_nodes = f"{expected_nodes}:" if expected_nodes else ""
    crit_nodes = f"{expected_nodes // 2 + 1}:" if expected_nodes else ""
    perfdata = (
        f"nodes_running={len(running)};{warn_nodes};{crit_nodes};0 partitions={len(pairs)};;0;0 "
        f"alarms={len(alarms)};;0;0 quorum_queues={len(quorum)};;;0 "
        f"queues_without_quorum={len(without_quorum)};;0;0 queues_degraded={len(degraded)};0;;0"
    )
    return code, text, perfdata


def main(argv=None, environ=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        password = read_password(args, environ)
    except RuntimeError as e:
        print(f"RABBITMQ UNKNOWN - {e}")
        return UNKNOWN
    try:
        nodes, queues = fetch(args.url, args.user, password, args.timeout, args.ca_cert)
    except AuthRefused as e:
        print(f"RABBITMQ UNKNOWN - credentials refused: {e}")
        return UNKNOWN
    except RuntimeError as e:
        print(f"RABBITMQ UNKNOWN - no management API answered: {e}")
        return UNKNOWN
    code, text, perfdata = evaluate(nodes, queues, args.expected_nodes)
    print(f"RABBITMQ {LABELS[code]} - {text} | {perfdata}")
    return code


if __name__ == "__main__":
    sys.exit(main())
