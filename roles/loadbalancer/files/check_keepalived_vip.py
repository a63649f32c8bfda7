# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nagios/Icinga check of a keepalived virtual IP (VIP) and this host's VRRP state. Python 3 standard library only.

  OK        the VIP answers TCP on --port; the text says whether this host holds it and its VRRP state
  WARNING   the VIP answers, but this host's VRRP instance is FAULT or STOP (it could not take the VIP over), or
            this host's state and the VIP disagree (MASTER without the VIP, or holding it while not MASTER)
  CRITICAL  the VIP does not answer TCP on --port
  UNKNOWN   bad arguments

Whether this host holds the VIP comes from `ip -o addr show`; the VRRP state from the --state-file that the
keepalived notify script of apiplatform.ha.loadbalancer writes (MASTER, BACKUP, FAULT or STOP).

Output: one status line, then `|` and perfdata: time (TCP connect seconds), vip_held (0 or 1).

Example: check_keepalived_vip --vip 172.29.1.100 --port 80 --state-file /run/keepalived/apiha-dc1.state
"""

import argparse
import ipaddress
import re
import socket
import subprocess
import sys
import time

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
STATES = ("MASTER", "BACKUP", "FAULT", "STOP")
INET = re.compile(r"\binet6?\s+([0-9A-Fa-f.:]+)(?:/\d+)?")


class BadArguments(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadArguments(message)


def parse_args(argv):
    p = _Parser(description="Nagios-compatible check of a keepalived VIP and of this host's VRRP state.")
    p.add_argument("--vip", required=True, help="the virtual IP address")
    p.add_argument("--port", type=int, default=80, help="TCP port the VIP must answer on (default %(default)s)")
    p.add_argument("--state-file", help="file holding this host's VRRP state (written by the keepalived notify script)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds for the TCP connection (default %(default)s)")
    args = p.parse_args(argv)
    try:
        args.vip = str(ipaddress.ip_address(args.vip.strip()))
    except ValueError:
        raise BadArguments(f"--vip {args.vip!r} is not an IP address") from None
    if not 0 < args.port < 65536:
        raise BadArguments(f"--port {args.port} is not a TCP port")
    if args.timeout <= 0:
        raise BadArguments("--timeout must be positive")
    return args


def parse_addresses(text):
    """The addresses in `ip -o addr show` output (without prefix lengths), normalised. Pure."""
    out = set()
    for match in INET.finditer(text):
        try:
            out.add(str(ipaddress.ip_address(match.group(1))))
        except ValueError:
            continue
    return out


def parse_state(text):
    """MASTER, BACKUP, FAULT or STOP from the state file's content, else None. Pure."""
    words = (text or "").split()
    state = words[0].upper() if words else ""
    return state if state in STATES else None


def local_addresses(timeout):
    """This host's addresses, or None when `ip` cannot be run."""
    try:
        result = subprocess.run(
            ["ip", "-o", "addr", "show"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_addresses(result.stdout) if result.returncode == 0 else None


def read_state(path):
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return parse_state(f.read(64))
    except OSError:
        return None


def probe(address, port, timeout):
    """(True, seconds) when a TCP connection to address:port opens, else (False, reason)."""
    start = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True, time.monotonic() - start
    except OSError as e:
        return False, e.strerror or str(e) or type(e).__name__


def evaluate(vip, port, answered, detail, held, state):
    """(exit code, status text, perfdata). ``detail`` is the connect time when answered, else the reason. Pure."""
    where = f"{vip}:{port}"
    if held is None:
        holder = "cannot tell whether this host holds the VIP"
    else:
        holder = "held by this host" if held else "held by another host"
    vrrp = f"VRRP state {state}" if state else "VRRP state unknown"
    perf = (f"time={detail:.3f}s;;;0" if answered else "time=0s;;;0") + (
        f" vip_held={1 if held else 0};;;0;1" if held is not None else ""
    )
    if not answered:
        return CRITICAL, f"VIP {where} does not answer ({detail}); {holder}, {vrrp}", perf
    text = f"VIP {where} answers in {detail:.3f} s, {holder}, {vrrp}"
    if state in ("FAULT", "STOP"):
        return WARNING, f"this host is {state} and cannot take the VIP over - {text}", perf
    if held is not None and state == "MASTER" and not held:
        return WARNING, f"this host is MASTER but does not hold the VIP - {text}", perf
    if held and state == "BACKUP":
        return WARNING, f"this host holds the VIP while BACKUP - {text}", perf
    return OK, text, perf


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except BadArguments as e:
        return UNKNOWN, f"bad arguments: {e} (see --help)", ""
    answered, detail = probe(args.vip, args.port, args.timeout)
    addresses = local_addresses(args.timeout)
    held = None if addresses is None else args.vip in addresses
    return evaluate(args.vip, args.port, answered, detail, held, read_state(args.state_file))


def run(argv=None):
    """main() with a last resort: any unexpected error is reported as UNKNOWN, never as a traceback."""
    try:
        return main(argv)
    except Exception as e:
        return UNKNOWN, f"internal error: {type(e).__name__}: {e}", ""


if __name__ == "__main__":
    status, message, perfdata = run()
    print(f"KEEPALIVED {LABELS[status]} - {message}" + (f" | {perfdata}" if perfdata else ""))
    sys.exit(status)
