"""Kill one lab container while a bounded GET loop runs through a site's VIP; report what clients saw.

Used by the molecule drill of the application tiers (assertions) and by ``make bench`` (figures). It talks only
to the lab: HTTP GETs to the VIP (an address on the lab's own bridge) and ``docker kill`` of one lab container.

    python tests/lab/http_failover.py --url http://172.29.1.100/ --kill dc1-app1 --out result.json

Every GET is a new connection (as a browser's first request after a failover would be), with a short timeout;
a GET that times out, is refused or answers anything but 200 is a failure. The report gives the number of GETs,
the failures, the longest gap between two successful GETs (the outage a user saw; an outage still open at the end
counts up to the end) and which instance answered before the kill, while docker was killing the container, and
after docker kill returned. Bounded: the loop stops after --max-seconds (at most 300) or once --stop-file exists;
at most --rate GETs a second. Without --kill it measures a planned change (a rolling deploy) the same way.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse


def get_once(parts, timeout):
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("X-Apiha-Instance") or ""
    except (OSError, http.client.HTTPException) as exc:
        return None, type(exc).__name__
    finally:
        conn.close()


def run(args):
    parts = urllib.parse.urlsplit(args.url)
    interval = 1.0 / args.rate
    start = time.monotonic()
    kill_at = None
    kill_result = None
    total = failed = 0
    last_ok = None
    longest_gap = 0.0
    gap_at = None
    before, during, after, errors = {}, {}, {}, {}
    kill_done = None
    first_fail = last_fail = None
    while time.monotonic() - start < args.max_seconds:
        if args.stop_file and os.path.exists(args.stop_file):
            break
        now = time.monotonic()
        if kill_at is None and now - start >= args.kill_after and args.kill:
            # Asynchronous: the GETs go on while docker kills the container (its own run time is no client's gap).
            kill_result = subprocess.Popen(
                ["docker", "kill", args.kill], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            kill_at = time.monotonic()
        if kill_result is not None and kill_done is None and kill_result.poll() is not None:
            kill_done = time.monotonic()
        status, who = get_once(parts, args.timeout)
        t = time.monotonic()
        total += 1
        if status == 200:
            if last_ok is not None and t - last_ok > longest_gap:
                longest_gap, gap_at = t - last_ok, last_ok - start
            last_ok = t
            bucket = before if kill_at is None else (after if kill_done is not None else during)
            bucket[who] = bucket.get(who, 0) + 1
        else:
            failed += 1
            key = str(status) if status is not None else who
            errors[key] = errors.get(key, 0) + 1
            first_fail = first_fail if first_fail is not None else t - start
            last_fail = t - start
        time.sleep(max(0.0, interval - (time.monotonic() - now)))
    end = time.monotonic()
    if last_ok is None or (last_fail is not None and last_fail > last_ok - start):
        # An outage still open when the loop ends counts up to the end (from the last success, or the start).
        open_gap = end - (last_ok if last_ok is not None else start)
        if open_gap > longest_gap:
            longest_gap, gap_at = open_gap, (last_ok - start) if last_ok is not None else 0.0
    return {
        "url": args.url,
        "killed": args.kill,
        "kill_rc": None if kill_result is None else kill_result.wait(timeout=30),
        "kill_at_s": None if kill_at is None else round(kill_at - start, 2),
        "seconds": round(time.monotonic() - start, 2),
        "gets": total,
        "failed": failed,
        "errors": errors,
        "first_failure_s": None if first_fail is None else round(first_fail, 2),
        "last_failure_s": None if last_fail is None else round(last_fail, 2),
        "longest_gap_s": round(longest_gap, 2),
        "longest_gap_started_s": None if gap_at is None else round(gap_at, 2),
        "normal_interval_s": round(interval, 3),
        "instances_before": before,
        "instances_during_kill": during,
        "instances_after": after,
        "ok_at_end": last_ok is not None and (last_fail is None or last_ok - start > last_fail),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="URL through the site's VIP, e.g. http://172.29.1.100/")
    p.add_argument("--kill", default="", help="lab container to docker-kill (empty: no kill, just measure)")
    p.add_argument("--kill-after", type=float, default=4.0, help="seconds of GETs before the kill")
    p.add_argument("--max-seconds", type=float, default=20.0, help="length of the loop (bound)")
    p.add_argument("--rate", type=float, default=20.0, help="GETs per second at most")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per GET")
    p.add_argument("--stop-file", help="stop early once this file exists (the caller's work is done)")
    p.add_argument("--out", help="also write the JSON report here")
    args = p.parse_args(argv)
    if args.kill and not args.kill.startswith(("dc1-", "dc2-", "witness-")):
        print(f"--kill {args.kill}: only the lab's containers (dc1-*, dc2-*, witness-*) may be killed", file=sys.stderr)
        return 2
    args.max_seconds = min(args.max_seconds, 300.0)
    report = run(args)
    text = json.dumps(report, sort_keys=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
