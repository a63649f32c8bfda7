# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rows and tables for health.yml and the lab's closing report."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def health_table(rows, columns):
    """Render rows (list of dicts) as a fixed-width text table, one string per line."""
    heads = list(columns)
    cells = [["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(heads)]
    line = "  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(heads)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out.extend("  ".join(row[i].ljust(widths[i]) for i in range(len(heads))).rstrip() for row in cells)
    return out


def etcd_health_rows(cluster, topology=None):
    """Turn etcd_cluster_info's ``cluster`` into table rows, one per member, plus a one-line summary."""
    cluster = cluster or {}
    host_site = (topology or {}).get("host_site", {})
    members = cluster.get("members") or []
    rows = []
    for m in sorted(members, key=lambda m: (host_site.get(m.get("name"), "~"), m.get("name") or "")):
        name = m.get("name") or "(not started)"
        rows.append(
            {
                "site": host_site.get(m.get("name"), "?"),
                "host": m.get("name") or "",
                "member": m.get("id", ""),
                "leader": "LEADER" if m.get("is_leader") else "",
                "health": "healthy" if m.get("healthy") else "UNHEALTHY",
                "raft_index": m.get("raft_index"),
                "raft_term": m.get("raft_term"),
                "version": m.get("version") or "",
                "error": m.get("error") or "",
                "name": name,
            }
        )
    if not members:
        summary = "NO ANSWER (no member could be read)"
    else:
        state = (
            "OK"
            if cluster.get("has_quorum") and cluster.get("healthy_count") == len(members)
            else ("DEGRADED" if cluster.get("has_quorum") else "QUORUM LOST")
        )
        summary = (
            f"{state}: {cluster.get('healthy_count')}/{len(members)} members healthy, "
            f"quorum {cluster.get('quorum')}, leader {cluster.get('leader') or 'none'}"
        )
    return {"summary": summary, "rows": rows, "cluster": cluster}
