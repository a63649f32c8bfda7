# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nagios/Icinga check of a Patroni cluster through its REST API (GET /cluster). Python 3 standard library only.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no --url answered, or the answer is not Patroni's).

CRITICAL: no leader; the leader is not running; a replica lags >= --critical-lag bytes; replicas exist but none
streams. WARNING: a replica not streaming (or its lag unknown); a replica lagging >= --warning-lag; fewer members than
--expected-members; the cluster is paused (maintenance mode).

Output: one status line, then `|` and perfdata: members, replicas_streaming, max_lag_bytes.

Example: check_patroni_cluster --url http://10.0.0.1:8008 --url http://10.0.0.2:8008 --expected-members 3
"""

import argparse
import json
import sys
import urllib.error
import urllib.request

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
LEADER_ROLES = ("leader", "standby_leader")


def parse_args(argv):
    p = argparse.ArgumentParser(description="Nagios-compatible check of a Patroni cluster (GET /cluster).")
    p.add_argument(
        "--url",
        action="append",
        help="Patroni REST API base URL, e.g. http://10.0.0.1:8008; repeat it to try other members "
        "(default http://127.0.0.1:8008)",
    )
    p.add_argument("--warning-lag", type=int, default=1048576, help="replica lag in bytes for WARNING (1 MiB)")
    p.add_argument("--critical-lag", type=int, default=16777216, help="replica lag in bytes for CRITICAL (16 MiB)")
    p.add_argument("--expected-members", type=int, default=0, help="WARNING when fewer members are listed")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per HTTP request")
    args = p.parse_args(argv)
    if args.warning_lag > args.critical_lag:
        p.error("--warning-lag must not be above --critical-lag")
    args.url = args.url or ["http://127.0.0.1:8008"]
    return args


def fetch_cluster(urls, timeout):
    """The first JSON object GET <url>/cluster answers; raises RuntimeError naming every URL and why it failed."""
    failures = []
    for url in urls:
        target = url.rstrip("/") + "/cluster"
        try:
            with urllib.request.urlopen(target, timeout=timeout) as resp:
                data = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            failures.append(f"{target}: HTTP {e.code} {e.reason}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as e:
            failures.append(f"{target}: {getattr(e, 'reason', e)}")
            continue
        if isinstance(data, dict) and isinstance(data.get("members"), list):
            return data
        failures.append(f"{target}: not a Patroni /cluster answer")
    raise RuntimeError("; ".join(failures))


def _lag(value):
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def evaluate(cluster, warning_lag, critical_lag, expected_members=0):
    """(exit code, status text, perfdata) for one GET /cluster answer. Pure: no I/O."""
    members = cluster.get("members") or []
    leader = next((m for m in members if m.get("role") in LEADER_ROLES), None)
    replicas = [m for m in members if m is not leader]
    streaming = [m for m in replicas if m.get("state") == "streaming" and _lag(m.get("lag")) is not None]
    lags = [_lag(m.get("lag")) for m in streaming]
    max_lag = max(lags) if lags else 0
    critical, warning = [], []

    if leader is None:
        critical.append("no leader")
    elif leader.get("state") != "running":
        critical.append("leader {} is {}".format(leader.get("name"), leader.get("state") or "in an unknown state"))
    if replicas and not streaming:
        critical.append("no replica streaming")
    for m in replicas:
        lag = _lag(m.get("lag"))
        if m not in streaming:
            if streaming:
                warning.append("{} is {} (lag {})".format(m.get("name"), m.get("state") or "?", m.get("lag")))
        elif lag >= critical_lag:
            critical.append(f"{m.get('name')} lags {lag} B")
        elif lag >= warning_lag:
            warning.append(f"{m.get('name')} lags {lag} B")
    if expected_members and len(members) < expected_members:
        warning.append(f"{len(members)} of {expected_members} expected members")
    if cluster.get("pause"):
        warning.append("maintenance mode (paused)")

    code = CRITICAL if critical else WARNING if warning else OK
    summary = "leader {}, {}/{} replicas streaming, max lag {} B".format(
        leader.get("name") if leader else "none", len(streaming), len(replicas), max_lag
    )
    problems = critical + warning
    text = summary + (": " + "; ".join(problems) if problems else "")
    perfdata = (
        f"members={len(members)};;;0 replicas_streaming={len(streaming)};;;0 "
        f"max_lag_bytes={max_lag}B;{warning_lag};{critical_lag};0"
    )
    return code, text, perfdata


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cluster = fetch_cluster(args.url, args.timeout)
    except RuntimeError as e:
        print(f"PATRONI UNKNOWN - no Patroni REST API answered: {e}")
        return UNKNOWN
    code, text, perfdata = evaluate(cluster, args.warning_lag, args.critical_lag, args.expected_members)
    print(f"PATRONI {LABELS[code]} - {text} | {perfdata}")
    return code


if __name__ == "__main__":
    sys.exit(main())
