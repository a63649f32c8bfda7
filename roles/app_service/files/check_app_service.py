# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nagios/Icinga check of one platform service instance through its HTTP health endpoint. Standard library only.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad arguments).

OK: the endpoint answers 200 and every dependency it reports is ok. WARNING: 200, but a dependency it reports is
failing (the instance serves, degraded), or the answer took longer than --warning seconds. CRITICAL: no answer,
or any status other than 200 (the load balancer takes the instance out).

Output: one status line, then `|` and perfdata: time (seconds), dependencies_failed.

Example: check_app_service --url http://127.0.0.1:8080/health --name dashboard
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


def parse_args(argv):
    p = argparse.ArgumentParser(description="Nagios-compatible check of a platform service's /health endpoint.")
    p.add_argument("--url", default="http://127.0.0.1:8080/health", help="health endpoint URL")
    p.add_argument("--name", default="service", help="service name shown in the status line")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    p.add_argument("--warning", type=float, default=2.0, help="answer time (s) above which the result is WARNING")
    return p.parse_args(argv)


def evaluate(name, status, body, elapsed, warning):
    """Return (code, line) for one probe. ``status`` None means no answer; ``body`` is the decoded JSON or None."""
    deps = (body or {}).get("dependencies") if isinstance(body, dict) else None
    failed = sorted(dep for dep, info in (deps or {}).items() if not (info or {}).get("ok"))
    perf = f"time={elapsed:.3f}s;{warning};;0 dependencies_failed={len(failed)};1;;0"
    if status is None:
        return CRITICAL, f"CRITICAL: {name} does not answer | {perf}"
    if status != 200:
        detail = f" (failing: {', '.join(failed)})" if failed else ""
        return CRITICAL, f"CRITICAL: {name} answers {status}{detail} | {perf}"
    version = (body or {}).get("version") if isinstance(body, dict) else None
    where = f" {version}" if version else ""
    if failed:
        return WARNING, f"WARNING: {name}{where} serves but {', '.join(failed)} failing | {perf}"
    if elapsed > warning:
        return WARNING, f"WARNING: {name}{where} healthy but slow ({elapsed:.2f} s) | {perf}"
    return OK, f"OK: {name}{where} healthy, {len(deps or {})} dependencies ok | {perf}"


def probe(url, timeout):
    """GET the URL; return (status or None, decoded JSON body or None, seconds)."""
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, ValueError):
        return None, None, time.monotonic() - start
    try:
        body = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        body = None
    return status, body, time.monotonic() - start


def main(argv=None):
    try:
        args = parse_args(argv)
    except SystemExit as exc:
        if exc.code in (0, None):  # --help
            return OK
        return UNKNOWN
    status, body, elapsed = probe(args.url, args.timeout)
    code, line = evaluate(args.name, status, body, elapsed, args.warning)
    print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
