# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Site topology checks shared by the precheck role and the health report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

GIVES_UP = (
    "with only two sites a quorum system cannot survive the loss of the site that holds its majority: "
    "no automatic promotion or election happens while that site is down, and an operator must decide"
)


def quorum_size(members):
    """Votes needed for a majority of ``members`` voters."""
    return members // 2 + 1


def site_topology(groups, sites, witness="", quorum_groups=None, hosts=None):
    """Return the site of every host plus the errors and warnings of the layout."""
    groups = groups or {}
    sites = list(sites or [])
    quorum_groups = ["etcd", "mongodb", "rabbitmq"] if quorum_groups is None else list(quorum_groups)
    errors, warnings = [], []
    if not sites:
        errors.append("ha_sites is empty: list the site groups of the inventory, for example [dc1, dc2, witness]")
    if witness and witness not in sites:
        errors.append(f"ha_witness_site '{witness}' is not one of ha_sites {sites}: add it to ha_sites or fix the name")
    for site in sites:
        if not groups.get(site):
            if site == witness:
                errors.append(
                    f"the witness site '{site}' has no host: add a host to group '{site}' (it carries the third "
                    "etcd member) or declare a two-site design with ha_witness_site: '' and accept what it gives up"
                )
            else:
                errors.append(f"site '{site}' has no host: add hosts to group '{site}' or remove it from ha_sites")

    host_site = {}
    checked = hosts if hosts is not None else groups.get("all", [])
    for host in checked:
        member_of = [s for s in sites if host in groups.get(s, [])]
        if len(member_of) == 1:
            host_site[host] = member_of[0]
        elif not member_of:
            errors.append(
                f"host '{host}' is in no site group: add it to exactly one of {sites} (groups of the inventory)"
            )
        else:
            errors.append(
                f"host '{host}' is in several site groups ({', '.join(member_of)}): keep it in exactly one of them"
            )

    quorum = {}
    for group in quorum_groups:
        members = groups.get(group) or []
        if not members:
            continue
        per_site = {}
        for host in members:
            for s in sites:
                if host in groups.get(s, []):
                    per_site[s] = per_site.get(s, 0) + 1
        quorum[group] = per_site
        need = quorum_size(len(members))
        if len(per_site) < 3:
            warnings.append(
                f"{group}: {len(members)} members over {len(per_site)} site(s) {sorted(per_site)}; {GIVES_UP}. "
                "Place one member in a third (witness) site to keep automatic failover"
            )
        for s, count in sorted(per_site.items()):
            if count >= need:
                warnings.append(
                    f"{group}: site '{s}' holds {count} of {len(members)} members (a majority is {need}); "
                    f"losing '{s}' loses {group} quorum. Move members so that no site holds a majority"
                )
        if len(members) % 2 == 0:
            warnings.append(
                f"{group}: {len(members)} voting members is an even number; it tolerates no more failures than "
                f"{len(members) - 1}. Use an odd number"
            )
    return {"host_site": host_site, "errors": errors, "warnings": warnings, "quorum": quorum}


def peer_targets(groups, hostvars, host, sites, port=22, per_site=2):
    """Hosts of the other sites that ``host`` should probe: up to ``per_site`` of each, with their address."""
    mine = [s for s in sites if host in groups.get(s, [])]
    targets = []
    for site in sites:
        if site in mine:
            continue
        picked = 0
        for peer in sorted(groups.get(site, [])):
            address = (hostvars.get(peer) or {}).get("ha_address")
            if not address or picked >= per_site:
                continue
            targets.append({"name": peer, "address": address, "port": port})
            picked += 1
    return targets


def site_links(probes, host_site):
    """Summarise probe results into per-site reachability.

    ``probes`` maps a probing host to its list of results (name, reachable, detail). Returns ``links``
    (source site -> destination site -> reachable) and ``cut`` (sites that reach none of the others) with
    ``evidence`` lines naming hosts and errors.
    """
    links, evidence = {}, []
    for host, results in sorted(probes.items()):
        src = host_site.get(host)
        if src is None:
            continue
        for r in results or []:
            dst = host_site.get(r.get("name"))
            if dst is None or dst == src:
                continue
            ok = bool(r.get("reachable"))
            links.setdefault(src, {})
            links[src][dst] = links[src].get(dst, False) or ok
            if not ok:
                evidence.append(
                    f"{host} ({src}) -> {r.get('name')} ({dst}) {r.get('address')}:{r.get('port')}: {r.get('detail')}"
                )
    broken = sorted(f"{s} -> {d}" for s, row in links.items() for d, ok in row.items() if not ok)
    cut = sorted(s for s, row in links.items() if row and not any(row.values()))
    return {"links": links, "broken": broken, "cut": cut, "evidence": evidence}
