# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement of single-instance services (microservices) on exactly one host.

Pure logic, unit-tested: where each service should run, given the hosts that can run it (reachable, in the
operator's order of preference) and where it is running now.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class PlacementError(ValueError):
    """The placement cannot be computed from what was given."""


def service_placement(services, candidates, running=None, pinned=None, actionable=None):
    """Return {service: {"host", "reason", "stop"}} for every service.

    services: service names (or dicts with a ``name``).
    candidates: hosts able to run them, reachable now, most preferred first.
    running: {host: [services active there]} as probed on the live hosts.
    pinned: {service: host}, the operator's explicit choice, honoured while that host is a candidate.
    actionable: the hosts this run may change (``--limit``); default every candidate. A copy running on a host
    outside them cannot be stopped, so when the service runs there and on an actionable host, that copy is kept.

    Rules, in order: a pinned host that is a candidate; else a candidate where the service already runs (the
    first in preference order, so a moved service is not moved back); else the first candidate. ``stop`` lists
    the other candidates where it runs too (a host that came back after a respawn), so exactly one copy remains.
    """
    running = running or {}
    pinned = pinned or {}
    candidates = list(candidates or [])
    actionable = candidates if actionable is None else list(actionable)
    if not candidates:
        raise PlacementError(
            "no reachable host can run the microservices: every host of the group is down or was left out by --limit"
        )
    placement = {}
    for service in services or []:
        name = service.get("name") if isinstance(service, dict) else service
        if not name:
            raise PlacementError("every service needs a name")
        where = [host for host in candidates if name in (running.get(host) or [])]
        untouchable = [host for host in where if host not in actionable]
        startable = [host for host in candidates if host in actionable]
        choice = pinned.get(name)
        if untouchable:
            # A copy this run cannot stop keeps running; ours (if any) is stopped.
            choice, reason = untouchable[0], "running (outside this run's hosts)"
        elif choice in startable:
            reason = "pinned"
        elif where:
            choice, reason = where[0], "running"
        elif startable:
            choice = startable[0]
            reason = "pinned host unreachable or outside this run, placed" if pinned.get(name) else "placed"
        else:
            # Nowhere to start it within this run: say so rather than stop or start anything.
            choice, reason = None, "runs nowhere and no host of this run can start it"
        stop = [host for host in where if host != choice and host in actionable]
        placement[name] = {"host": choice, "reason": reason, "stop": stop}
    return placement
