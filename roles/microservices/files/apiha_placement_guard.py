# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement guard of a single-instance microservice (mailer, scheduler, connector). Standard library only.

systemd runs it as the ExecCondition= of the service's unit: it decides whether the service may start on THIS
host, so that a host that comes back after its microservices were respawned elsewhere does not start a second
copy at boot.

The placement is read from etcd (--key, through the v3 JSON gateway of the --endpoint URLs, tried in order; the
first that answers decides). When etcd answers without a placement for the service, the local --marker file
decides: Ansible writes it (the chosen host's name) on the host chosen for the service and removes it elsewhere.
When no endpoint answers, the guard tries again for --wait seconds; if etcd still cannot be read it fails the
start (--when-unreadable fail, the default: a host cut off from etcd cannot know whether its services were moved
while it was away, and systemd's Restart= tries again later) or lets the marker decide (--when-unreadable
marker: availability first, at the risk of a second copy on a host that was away during a respawn).

Exit codes (systemd ExecCondition= semantics):
  0    start: etcd names this host, or etcd has no placement (or, with --when-unreadable marker, cannot be
       read) and the marker names this host
  1    skip the start, the unit does not fail: etcd names another host, or (etcd has no placement / cannot be
       read with --when-unreadable marker and) the marker is missing, unreadable or names another host
  255  the unit fails: etcd cannot be read (--when-unreadable fail), bad arguments, unreadable TLS files, or an
       unexpected error

Output: one or two lines on stdout (the journal), each prefixed with the service name.

Example: apiha_placement_guard --service mailer --host app1.dc1.example.net --key /apiplatform/placement/mailer
           --marker /var/lib/apiplatform/placement/mailer --endpoint https://10.0.0.1:2379
           --endpoint https://10.0.0.2:2379 --cacert /etc/etcd/ca.crt
"""

import argparse
import base64
import binascii
import http.client
import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

START, SKIP, FAIL = 0, 1, 255
PROG = "apiha_placement_guard"
RANGE_PATH = "/v3/kv/range"


class _Parser(argparse.ArgumentParser):
    """argparse that exits 255 (systemd: the unit fails), never 2 (systemd: skip the start), on stdout."""

    argv = ()

    def error(self, message):
        print(f"{_prefix(self.argv)}: bad arguments: {message}", flush=True)
        raise SystemExit(FAIL)


def _prefix(argv):
    """The service name for the message prefix when --service is among ``argv``, else the program name."""
    argv = list(argv or ())
    for i, arg in enumerate(argv):
        if arg == "--service" and i + 1 < len(argv) and argv[i + 1].strip():
            return argv[i + 1].strip()
        if arg.startswith("--service=") and arg.split("=", 1)[1].strip():
            return arg.split("=", 1)[1].strip()
    return PROG


def parse_args(argv):
    p = _Parser(prog=PROG, description="systemd ExecCondition= placement guard of a single-instance microservice.")
    p.argv = argv
    p.add_argument("--service", required=True, help="service name (message prefix and respawn hint)")
    p.add_argument("--host", required=True, help="this host's name as it appears in the placement")
    p.add_argument("--key", required=True, help="etcd key holding the name of the host chosen for the service")
    p.add_argument("--marker", required=True, help="local marker file (fallback when etcd cannot decide)")
    p.add_argument(
        "--endpoint",
        action="append",
        required=True,
        help="etcd client URL, http(s)://host:port; repeat it (or separate with commas), tried in order",
    )
    p.add_argument("--cacert", help="CA bundle that verifies the etcd server certificates")
    p.add_argument("--cert", help="client certificate (PEM) presented to etcd; needs --cert-key")
    p.add_argument("--cert-key", help="private key (PEM) of --cert")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per endpoint (default %(default)s)")
    p.add_argument(
        "--wait", type=float, default=15.0, help="seconds to keep trying an unreadable etcd (default %(default)s)"
    )
    p.add_argument(
        "--when-unreadable",
        choices=["fail", "marker"],
        default="fail",
        help="when etcd stays unreadable: fail the start (default) or let the local marker decide",
    )
    args = p.parse_args(argv)
    for name in ("service", "host", "key", "marker"):
        value = getattr(args, name).strip() if name != "key" else args.key
        if not value:
            p.error(f"--{name} must not be empty")
        setattr(args, name, value)
    args.endpoint = [e.strip() for item in args.endpoint for e in item.split(",") if e.strip()]
    if not args.endpoint:
        p.error("--endpoint must not be empty")
    for endpoint in args.endpoint:
        url = urllib.parse.urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            p.error(f"--endpoint {endpoint!r} is not an http:// or https:// URL")
    if bool(args.cert) != bool(args.cert_key):
        p.error("--cert and --cert-key go together" + (" (--cert-key is missing)" if args.cert else ""))
    if not args.timeout > 0:
        p.error("--timeout must be positive")
    if not args.wait >= 0:
        p.error("--wait must not be negative")
    return args


def respawn_hint(service, host):
    """The operator's command that places ``service`` on ``host``."""
    extra = json.dumps({"microservices_placement": {service: host}})
    return f"ansible-playbook respawn.yml -e '{extra}'"


def decide(
    service,
    host,
    etcd_value,
    etcd_answered,
    etcd_errors,
    marker_value,
    *,
    key,
    marker,
    marker_error=None,
    when_unreadable="marker",
):
    """Return (exit code, message) from what etcd and the marker say. Pure: no I/O.

    ``etcd_value`` is the key's value (None when absent), meaningful when ``etcd_answered``; otherwise
    ``etcd_errors`` lists one "endpoint: error" per endpoint tried. ``marker_value`` is the marker's content
    (None when the file is missing, or unreadable: then ``marker_error`` says why). ``when_unreadable`` is "fail"
    (an unreadable etcd fails the start) or "marker" (the marker decides).
    """
    placed = etcd_value.strip() if etcd_answered and etcd_value is not None else ""
    if placed == host:
        return START, f"{service}: placed on {host} (etcd {key}); starting"
    if placed:
        return SKIP, (
            f"{service}: placed on {placed} (etcd {key}), not on {host}; not starting here. "
            f"To run it here: {respawn_hint(service, host)}"
        )
    if etcd_answered:
        why = "is empty" if etcd_value is not None else "has no placement for it"
        first = f"{service}: etcd {key} {why}; falling back to the local marker {marker}"
    else:
        tried = "; ".join(etcd_errors) or "no endpoint tried"
        if when_unreadable == "fail":
            return FAIL, (
                f"{service}: etcd unreadable ({tried}); not starting: this host cannot tell whether {service} was "
                f"moved elsewhere while it was away. systemd tries again (Restart=); once etcd answers it decides. "
                f"If etcd is lost for good: microservices_placement_guard_when_unreadable=marker, or "
                f"{respawn_hint(service, host)}"
            )
        first = f"{service}: etcd unreadable ({tried}); falling back to the local marker {marker}"
    fix = f"To run it here: {respawn_hint(service, host)} (or repair-node.yml -l {host})"
    mark = marker_value.strip() if marker_value is not None else None
    if mark == host:
        return START, f"{first}\n{service}: the local marker {marker} names this host; starting"
    if marker_error:
        second = f"{service}: the local marker {marker} cannot be read ({marker_error}); not starting here. {fix}"
    elif mark is None:
        second = f"{service}: no local marker {marker} on this host; not starting here. {fix}"
    elif not mark:
        second = f"{service}: the local marker {marker} is empty; not starting here. {fix}"
    else:
        second = f"{service}: the local marker {marker} names {mark}, not {host}; not starting here. {fix}"
    return SKIP, f"{first}\n{second}"


def describe(exc, timeout=None):
    """One short line for a connection/HTTP error, no traceback."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return describe(reason, timeout) if isinstance(reason, BaseException) else str(reason)
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
        return f"TLS certificate verification failed: {detail}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {getattr(exc, 'reason', None) or exc}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s" if timeout else "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name: {exc.strerror or exc}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection closed without an answer"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return f"{type(exc).__name__}: {exc}"


def parse_range_answer(raw):
    """The value (str) of the first kv of an etcd v3 JSON range answer, None when the key is absent.

    Raises ValueError when ``raw`` is not such an answer. The gateway omits empty fields: a kv without "value"
    holds the empty string.
    """
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"invalid JSON ({exc})") from None
    if not isinstance(answer, dict) or "header" not in answer:
        raise ValueError("not an etcd v3 range answer")
    kvs = answer.get("kvs") or []
    if not kvs:
        return None
    if not isinstance(kvs, list) or not isinstance(kvs[0], dict):
        raise ValueError("not an etcd v3 range answer (kvs)")
    try:
        return base64.b64decode(kvs[0].get("value", ""), validate=True).decode("utf-8", "replace")
    except (TypeError, binascii.Error) as exc:
        raise ValueError(f"value is not base64 ({exc})") from None


def read_key(endpoints, key, timeout, ssl_context=None):
    """Read ``key`` from the first endpoint that answers. Returns (answered, value or None, errors).

    ``errors`` has one "endpoint: error" line per endpoint that did not answer before the one that did.
    """
    body = json.dumps({"key": base64.b64encode(key.encode("utf-8")).decode("ascii")}).encode("ascii")
    # No proxy, ever: etcd is on the platform's own network, whatever the environment says.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ssl_context)
    )
    errors = []
    for endpoint in endpoints:
        request = urllib.request.Request(
            endpoint.rstrip("/") + RANGE_PATH,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with opener.open(request, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            errors.append(f"{endpoint}: {describe(exc, timeout)}")
            continue
        if status != 200:
            errors.append(f"{endpoint}: HTTP {status}")
            continue
        try:
            value = parse_range_answer(raw)
        except ValueError as exc:
            errors.append(f"{endpoint}: {exc}")
            continue
        return True, value, errors
    return False, None, errors


def read_marker(path):
    """(content or None, error or None): (None, None) when the file does not exist."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(), None
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, describe(exc)


def ssl_context_for(args):
    """The TLS context for https endpoints (None when no TLS option is given and every endpoint is http)."""
    if not (args.cacert or args.cert or any(e.lower().startswith("https:") for e in args.endpoint)):
        return None
    try:
        context = ssl.create_default_context(cafile=args.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise _BadFile(f"--cacert {args.cacert}: {describe(exc)}") from None
    if args.cert:
        try:
            context.load_cert_chain(args.cert, args.cert_key)
        except (OSError, ssl.SSLError) as exc:
            raise _BadFile(f"--cert {args.cert} / --cert-key {args.cert_key}: {describe(exc)}") from None
    return context


class _BadFile(Exception):
    pass


def guard(args):
    """Read etcd (and the marker when needed), print the decision, return the exit code."""
    try:
        context = ssl_context_for(args)
    except _BadFile as exc:
        print(f"{args.service}: cannot load the TLS files: {exc}", flush=True)
        return FAIL
    deadline = time.monotonic() + args.wait
    while True:
        answered, value, errors = read_key(args.endpoint, args.key, args.timeout, context)
        if answered or time.monotonic() >= deadline:
            break
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    marker_value, marker_error = (None, None) if answered and value and value.strip() else read_marker(args.marker)
    code, message = decide(
        args.service,
        args.host,
        value,
        answered,
        errors,
        marker_value,
        key=args.key,
        marker=args.marker,
        marker_error=marker_error,
        when_unreadable=args.when_unreadable,
    )
    print(message, flush=True)
    return code


def main(argv=None):
    """Exit code of the guard. Bad arguments raise SystemExit(255); any unexpected error is one line and 255."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return guard(parse_args(argv))
    except Exception as exc:
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"{_prefix(argv)}: placement guard error, the unit fails: {detail}", flush=True)
        return FAIL


if __name__ == "__main__":
    sys.exit(main())
