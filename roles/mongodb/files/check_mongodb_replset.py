# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nagios/Icinga check of a MongoDB replica set through replSetGetStatus. Needs pymongo 4: run it with the python of
the virtualenv that holds it (the role's mongodb_python_venv, for example /opt/apiplatform-ha/mongodb-python).

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no --host answered, credentials refused, the member has no
replica set config, no password, or pymongo missing).

CRITICAL: no PRIMARY; fewer than a majority of the voting members healthy (health 1 and PRIMARY, SECONDARY or
ARBITER: the set cannot elect a primary or commit majority writes); the server reports another set name than
--replica-set; a secondary at least --lag-critical seconds behind the primary. WARNING: a member unhealthy (DOWN,
RECOVERING - "too stale" when it cannot catch up from the oplog and needs a resync -, STARTUP2, ROLLBACK, REMOVED...)
while a majority is healthy; a secondary at least --lag-warning seconds behind the primary.

Output: one status line, then `|` and perfdata: members_healthy, members_total, voting_healthy, primary,
max_lag_seconds.

The password never goes on the command line (other users can read it in ps): --password-file, or the environment
variable named by --password-env (default MONGODB_CHECK_PASSWORD). An empty --user connects without authentication.

Example: check_mongodb_replset --host 10.0.0.1:27017 --host 10.0.0.2:27017 --user monitoring
         --password-file /etc/mongodb/check.password --replica-set apiplatform --lag-warning 30 --lag-critical 300
"""

import argparse
import datetime
import os
import sys

try:
    import pymongo
    import pymongo.errors
except ImportError:  # reported by main() as UNKNOWN
    pymongo = None

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
PRIMARY, SECONDARY, ARBITER = 1, 2, 7
HEALTHY_STATES = (PRIMARY, SECONDARY, ARBITER)
STATE_NAMES = {
    0: "STARTUP",
    1: "PRIMARY",
    2: "SECONDARY",
    3: "RECOVERING",
    5: "STARTUP2",
    6: "UNKNOWN",
    7: "ARBITER",
    8: "DOWN",
    9: "ROLLBACK",
    10: "REMOVED",
}
STALE_MARKERS = ("too stale", "rs102")
AUTH_FAILED = 18
NOT_YET_INITIALIZED = 94
NO_REPLICATION_ENABLED = 76


def parse_args(argv):
    p = argparse.ArgumentParser(description="Nagios-compatible check of a MongoDB replica set (replSetGetStatus).")
    p.add_argument(
        "--host",
        action="append",
        help="member to ask, host:port; repeat it to try other members in turn (default 127.0.0.1:27017)",
    )
    p.add_argument("--user", default="admin", help="user (the clusterMonitor role is enough); empty: no authentication")
    p.add_argument("--password-file", help="file holding the user's password (first line)")
    p.add_argument(
        "--password-env",
        default="MONGODB_CHECK_PASSWORD",
        help="environment variable holding the password when no --password-file is given",
    )
    p.add_argument("--auth-source", default="admin", help="database that holds the user")
    p.add_argument("--replica-set", help="expected replica set name (CRITICAL when the server reports another)")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--tls-ca-file", help="CA bundle (PEM) that signed the members' certificates")
    p.add_argument("--lag-warning", type=float, default=30.0, help="seconds behind the primary for WARNING")
    p.add_argument("--lag-critical", type=float, default=300.0, help="seconds behind the primary for CRITICAL")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per connection and command")
    args = p.parse_args(argv)
    args.host = args.host or ["127.0.0.1:27017"]
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


class AuthRefused(Exception):
    pass


class NotMember(Exception):
    pass


def _short(exc, host):
    text = str(exc)
    if text.startswith(f"{host}: "):  # pymongo names the host itself; it is named once already
        text = text[len(host) + 2 :]
    for stop in (" (configured timeouts", ", Timeout:", ", Topology Description"):
        if stop in text:
            text = text[: text.index(stop)]
    return text.strip()[:200] or type(exc).__name__


def fetch(hosts, user, password, auth_source="admin", tls=False, tls_ca_file=None, timeout=5.0):
    """``(status, config or None)`` from the first host that answers replSetGetStatus.

    Raises AuthRefused (code 18), NotMember (no replica set config, or no replication) or RuntimeError naming every
    host and why it did not answer.
    """
    errors = pymongo.errors
    ms = int(timeout * 1000)
    options = {
        "directConnection": True,
        "serverSelectionTimeoutMS": ms,
        "connectTimeoutMS": ms,
        "socketTimeoutMS": ms,
        "appname": "check_mongodb_replset",
    }
    if user:
        options.update(username=user, password=password, authSource=auth_source)
    if tls:
        options["tls"] = True
        if tls_ca_file:
            options["tlsCAFile"] = tls_ca_file
    failures = []
    for host in hosts:
        client = None
        try:
            client = pymongo.MongoClient(host, **options)
            status = client.admin.command("replSetGetStatus")
            try:
                config = client.admin.command("replSetGetConfig").get("config")
            except errors.PyMongoError:
                config = None  # votes unknown: every member counts as a voter
            return status, config
        except errors.OperationFailure as e:
            code = getattr(e, "code", None)
            if code == AUTH_FAILED:
                raise AuthRefused(f"{host}: authentication failed for user {user!r}") from None
            if code == NOT_YET_INITIALIZED:
                raise NotMember(f"{host}: no replica set config (never initiated, NotYetInitialized)") from None
            if code == NO_REPLICATION_ENABLED:
                raise NotMember(f"{host}: not a replica set member (runs without replication)") from None
            failures.append(f"{host}: {_short(e, host)} (code {code})")
        except errors.PyMongoError as e:
            failures.append(f"{host}: {_short(e, host)}")
        finally:
            if client is not None:
                client.close()
    raise RuntimeError("; ".join(failures))


def _state(m):
    try:
        return int(m.get("state", 6))
    except (TypeError, ValueError):
        return 6


def _state_str(m):
    return str(m.get("stateStr") or STATE_NAMES.get(_state(m), f"STATE_{_state(m)}"))


def _healthy(m):
    return m.get("health") == 1 and _state(m) in HEALTHY_STATES


def _message(m):
    return str(m.get("infoMessage") or m.get("lastHeartbeatMessage") or "")


def _votes(config):
    """member name (lower case) -> votes, from the replica set config; None without a config."""
    if not config:
        return None
    return {str(c.get("host", "")).lower(): int(c.get("votes", 1)) for c in config.get("members") or []}


def _seconds(newer, older):
    if not isinstance(newer, datetime.datetime) or not isinstance(older, datetime.datetime):
        return None
    try:
        return max(0.0, (newer - older).total_seconds())
    except TypeError:  # one naive, one aware
        return None


def evaluate(status, config, replica_set=None, lag_warning=30.0, lag_critical=300.0):
    """(exit code, status text, perfdata) for replSetGetStatus (and replSetGetConfig, or None). Pure: no I/O."""
    members = status.get("members") or []
    votes = _votes(config)
    set_name = status.get("set")
    primaries = [m for m in members if _state(m) == PRIMARY]
    primary = primaries[0] if primaries else None
    healthy = [m for m in members if _healthy(m)]
    voting = [m for m in members if votes is None or votes.get(str(m.get("name", "")).lower(), 1) > 0]
    voting_healthy = [m for m in voting if _healthy(m)]
    majority = len(voting) // 2 + 1

    critical, warning = [], []
    if replica_set and set_name != replica_set:
        critical.append(f"set name {set_name!r}, expected {replica_set!r}")
    if not primary:
        critical.append("no PRIMARY")
    elif len(primaries) > 1:
        critical.append("several PRIMARY: " + ", ".join(str(m.get("name")) for m in primaries))
    if len(voting_healthy) < majority:
        critical.append(f"{len(voting_healthy)} of {len(voting)} voting members healthy, a majority needs {majority}")

    for m in members:
        if _healthy(m):
            continue
        text = f"{m.get('name', '?')} {_state_str(m)}"
        message = _message(m)
        if any(marker in message.lower() for marker in STALE_MARKERS):
            text += " (too stale to catch up from the oplog: resync it)"
        elif m.get("health") != 1 and _state(m) in HEALTHY_STATES:
            text += " (health 0)"
        elif message:
            text += f" ({message[:80]})"
        warning.append(text)

    lags = {}
    if primary is not None:
        for m in members:
            # only healthy secondaries: an arbiter has no optime, a DOWN member's optime is its last known one
            if _state(m) == SECONDARY and m.get("health") == 1:
                lag = _seconds(primary.get("optimeDate"), m.get("optimeDate"))
                if lag is not None:
                    lags[str(m.get("name", "?"))] = lag
    max_lag = max(lags.values(), default=0.0)
    for name, lag in sorted(lags.items()):
        if lag >= lag_critical:
            critical.append(f"{name} lags {lag:.0f} s (critical {lag_critical:g} s)")
        elif lag >= lag_warning:
            warning.append(f"{name} lags {lag:.0f} s (warning {lag_warning:g} s)")

    code = CRITICAL if critical else WARNING if warning else OK
    summary = (
        f"set {set_name or '?'}, primary {primary.get('name') if primary else 'none'}, "
        f"{len(healthy)}/{len(members)} members healthy ({len(voting_healthy)}/{len(voting)} voting), "
        f"max lag {max_lag:.0f} s"
    )
    problems = critical + warning
    text = summary + (": " + "; ".join(problems) if problems else "")
    perfdata = (
        f"members_healthy={len(healthy)};{len(members)}:;;0;{len(members)} members_total={len(members)};;;0 "
        f"voting_healthy={len(voting_healthy)};;{majority}:;0;{len(voting)} primary={1 if primary else 0};;1:;0;1 "
        f"max_lag_seconds={max_lag:.0f}s;{lag_warning:g};{lag_critical:g};0"
    )
    return code, text, perfdata


def main(argv=None, environ=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if pymongo is None:
        print(
            f"MONGODB UNKNOWN - pymongo is not installed for {sys.executable}: run this check with the python of a "
            "virtualenv that holds pymongo 4 (for example /opt/apiplatform-ha/mongodb-python/bin/python)"
        )
        return UNKNOWN
    password = None
    if args.user:
        try:
            password = read_password(args, environ)
        except RuntimeError as e:
            print(f"MONGODB UNKNOWN - {e}")
            return UNKNOWN
    try:
        status, config = fetch(
            args.host, args.user, password, args.auth_source, args.tls, args.tls_ca_file, args.timeout
        )
    except AuthRefused as e:
        print(f"MONGODB UNKNOWN - credentials refused: {e}")
        return UNKNOWN
    except NotMember as e:
        print(f"MONGODB UNKNOWN - {e}")
        return UNKNOWN
    except RuntimeError as e:
        print(f"MONGODB UNKNOWN - no host answered: {e}")
        return UNKNOWN
    code, text, perfdata = evaluate(status, config, args.replica_set, args.lag_warning, args.lag_critical)
    print(f"MONGODB {LABELS[code]} - {text} | {perfdata}")
    return code


if __name__ == "__main__":
    sys.exit(main())
