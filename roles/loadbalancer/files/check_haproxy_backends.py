# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nagios/Icinga check of HAProxy's backends through the runtime API socket. Python 3 standard library only.

Reads `show stat` from the stats socket and, per backend, counts the regular (non-backup) servers that are UP.

  OK        every regular server of every checked backend is UP
  WARNING   some regular server is not UP (down, in maintenance, drained) while another one is; or no regular
            server is UP but a backup server is (the site is served by the other site)
  CRITICAL  a backend with no server UP at all; the socket cannot be reached or does not answer
  UNKNOWN   bad arguments; a --backend that HAProxy does not have

A server counts as UP when its status is UP (also "UP 1/2", a check failed but not yet enough to take it out) or
"no check". DRAIN and MAINT servers take no new traffic and count as not UP.

Output: one status line, then `|` and perfdata per backend: '<backend>_up'=n;w;c;0;total (regular servers UP,
WARNING below all of them, CRITICAL below one) and '<backend>_backup_up'=n;;;0;total.

Example: check_haproxy_backends --socket /run/haproxy/admin.sock --backend dashboard
"""

import argparse
import csv
import socket
import sys

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
PROXY_ROWS = ("FRONTEND", "BACKEND")


class BadArguments(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadArguments(message)


def parse_args(argv):
    p = _Parser(description="Nagios-compatible check of HAProxy backends (runtime API socket, show stat).")
    p.add_argument("--socket", default="/run/haproxy/admin.sock", help="HAProxy stats socket (default %(default)s)")
    p.add_argument(
        "--backend",
        action="append",
        help="backend to check; repeat it for several (default: every backend that has servers)",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the socket (default %(default)s)")
    args = p.parse_args(argv)
    if args.timeout <= 0:
        raise BadArguments("--timeout must be positive")
    return args


def read_stat(path, timeout):
    """Raw `show stat` CSV from the HAProxy socket at ``path``; raises OSError when it cannot be read."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b"show stat\n")
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def parse_stat(text):
    """The rows of a `show stat` answer as dicts keyed by the CSV header (pxname, svname, status, bck...). Pure."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError("not a 'show stat' answer: " + (lines[0][:80] if lines else "empty"))
    lines[0] = lines[0][2:]
    return list(csv.DictReader(lines))


def is_up(status):
    status = (status or "").strip()
    return status == "no check" or status == "UP" or status.startswith("UP ")


def summarize(rows):
    """{backend: {"up": [...], "down": [(name, status)], "backup_up": [...], "backup_down": [...]}}. Pure."""
    out = {}
    for row in rows:
        name = row.get("svname", "")
        if name in PROXY_ROWS:
            continue
        b = out.setdefault(row.get("pxname", "?"), {"up": [], "down": [], "backup_up": [], "backup_down": []})
        backup = str(row.get("bck", "0")).strip() == "1"
        status = (row.get("status") or "").strip()
        if is_up(status):
            b["backup_up" if backup else "up"].append(name)
        else:
            b["backup_down" if backup else "down"].append(f"{name} {status or '?'}")
    return out


def evaluate(rows, backends=None):
    """(exit code, status text, perfdata) for the parsed `show stat` rows. Pure: no I/O."""
    summary = summarize(rows)
    wanted = list(backends) if backends else sorted(summary)
    missing = [b for b in wanted if b not in summary]
    if missing:
        known = ", ".join(sorted(summary)) or "none"
        return UNKNOWN, f"no backend with servers named {', '.join(missing)} (backends: {known})", ""
    if not wanted:
        return UNKNOWN, "HAProxy has no backend with servers", ""
    critical, warning, parts, perf = [], [], [], []
    for name in wanted:
        b = summary[name]
        up, total = len(b["up"]), len(b["up"]) + len(b["down"])
        bup, btotal = len(b["backup_up"]), len(b["backup_up"]) + len(b["backup_down"])
        text = f"{name} {up}/{total} up" + (f" ({bup}/{btotal} backup)" if btotal else "")
        if b["down"]:
            text += ": not up " + ", ".join(b["down"])
        if up == 0 and bup == 0:
            critical.append(f"{name}: no server up")
        elif up == 0:
            warning.append(f"{name}: only backup servers up")
        elif b["down"]:
            warning.append(f"{name}: {total - up} of {total} servers not up")
        parts.append(text)
        perf.append(f"'{name}_up'={up};{total}:;1:;0;{total}")
        if btotal:
            perf.append(f"'{name}_backup_up'={bup};;;0;{btotal}")
    code = CRITICAL if critical else WARNING if warning else OK
    problems = critical + warning
    text = ("; ".join(problems) + " - " if problems else "") + "; ".join(parts)
    return code, text, " ".join(perf)


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except BadArguments as e:
        return UNKNOWN, f"bad arguments: {e} (see --help)", ""
    try:
        raw = read_stat(args.socket, args.timeout)
    except OSError as e:
        return CRITICAL, f"cannot read the HAProxy socket {args.socket}: {e.strerror or e}", ""
    try:
        rows = parse_stat(raw)
    except (ValueError, csv.Error) as e:
        return CRITICAL, f"unexpected answer from {args.socket}: {e}", ""
    return evaluate(rows, args.backend)


def run(argv=None):
    """main() with a last resort: any unexpected error is reported as UNKNOWN, never as a traceback."""
    try:
        return main(argv)
    except Exception as e:
        return UNKNOWN, f"internal error: {type(e).__name__}: {e}", ""


if __name__ == "__main__":
    status, message, perfdata = run()
    print(f"HAPROXY {LABELS[status]} - {message}" + (f" | {perfdata}" if perfdata else ""))
    sys.exit(status)
