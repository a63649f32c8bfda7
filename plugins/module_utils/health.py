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


def _lag_text(lag):
    if lag is None or lag == "":
        return ""
    if isinstance(lag, (int, float)):
        return f"{int(lag)} B"
    return str(lag)


def patroni_health_rows(cluster, topology=None, expected=None, max_lag_bytes=16 * 1024 * 1024):
    """Turn Patroni's ``GET /cluster`` body into table rows, one per member, plus a one-line summary.

    ``expected`` is the inventory's list of members: one the cluster does not list is shown as MISSING.
    """
    cluster = cluster or {}
    host_site = (topology or {}).get("host_site", {})
    members = cluster.get("members") or []
    listed = {m.get("name") for m in members}
    rows = []
    leaders = []
    problems = []
    for m in sorted(members, key=lambda m: (host_site.get(m.get("name"), "~"), m.get("name") or "")):
        role = m.get("role") or ""
        state = m.get("state") or ""
        lag = m.get("lag")
        is_leader = role in ("leader", "standby_leader")
        if is_leader:
            leaders.append(m.get("name"))
            ok = state == "running"
        else:
            ok = state == "streaming" and (not isinstance(lag, (int, float)) or lag <= max_lag_bytes)
        if not ok:
            problems.append(m.get("name"))
        rows.append(
            {
                "site": host_site.get(m.get("name"), "?"),
                "host": m.get("name") or "",
                "role": "LEADER" if is_leader else role,
                "state": state if ok else state.upper() or "UNKNOWN",
                "timeline": m.get("timeline"),
                "lag": "" if is_leader else _lag_text(lag),
                "tags": ",".join(f"{k}={v}" for k, v in sorted((m.get("tags") or {}).items())),
            }
        )
    for name in sorted(set(expected or []) - listed):
        problems.append(name)
        rows.append({"site": host_site.get(name, "?"), "host": name, "role": "", "state": "MISSING", "timeline": None})
    if not members:
        summary = "NO ANSWER (no Patroni REST API could be read)"
    else:
        if len(leaders) != 1:
            state = "NO LEADER" if not leaders else "SEVERAL LEADERS"
        else:
            state = "OK" if not problems else "DEGRADED"
        paused = ", PAUSED (maintenance mode)" if cluster.get("pause") else ""
        summary = (
            f"{state}: leader {', '.join(leaders) or 'none'}, "
            f"{sum(1 for r in rows if r['state'] == 'streaming')} replicas streaming of {len(rows) - len(leaders)}"
            f"{paused}"
        )
        if problems:
            summary += f"; attention: {', '.join(sorted(problems))}"
    return {"summary": summary, "rows": rows, "cluster": cluster}


def shared_fs_health_rows(infos, topology=None, warning_age=3600):
    """Rows for the shared filesystem: one per sync host (``infos``: shared_fs_info's ``shared_fs`` per host)."""
    host_site = (topology or {}).get("host_site", {})
    rows = []
    digests = set()
    stale = []
    for host, info in sorted((infos or {}).items(), key=lambda kv: (host_site.get(kv[0], "~"), kv[0])):
        if not info:
            rows.append({"site": host_site.get(host, "?"), "host": host, "state": "NO ANSWER"})
            stale.append(host)
            continue
        last = info.get("last_sync") or {}
        age = last.get("age_seconds")
        digest = info.get("digest") or ""
        digests.add(digest)
        if age is None or age > warning_age:
            stale.append(host)
        rows.append(
            {
                "site": host_site.get(host, info.get("site") or "?"),
                "host": host,
                "state": "mount point" if info.get("mounted") else "directory",
                "files": info.get("files"),
                "bytes": info.get("bytes"),
                "digest": digest[:12],
                "last_sync": (f"{last.get('peer')} ({last.get('role') or '-'})" if last.get("peer") else "never"),
                "age_s": "" if age is None else int(age),
            }
        )
    if not rows:
        summary = "NO ANSWER (no sync host could be read)"
    else:
        level = "IN SYNC" if len(digests) == 1 and "" not in digests else "DIFFERENT"
        summary = f"{level}: {len(rows)} sync hosts, {len(digests)} distinct digest(s)"
        if stale:
            summary += f"; last sync older than {warning_age} s or never: {', '.join(stale)}"
    return {"summary": summary, "rows": rows}


def _rabbitmq_host(node, hosts):
    """rabbit@dc1-node1 -> the inventory host whose short name is dc1-node1 (or the short name itself)."""
    short = (node or "").split("@", 1)[-1]
    for host in hosts or []:
        if host == short or host.split(".", 1)[0] == short:
            return host
    return short


def rabbitmq_health_rows(info, topology=None, expected=None):
    """Turn rabbitmq_cluster_info's result into table rows, one per node, plus a one-line summary.

    ``expected`` is the inventory's RabbitMQ group: a host whose node the cluster does not list is shown as MISSING.
    """
    info = info or {}
    host_site = (topology or {}).get("host_site", {})
    nodes = info.get("nodes") or []
    by_node = info.get("queues_by_node") or {}
    rows = []
    problems = []
    listed = set()
    for n in sorted(nodes, key=lambda n: (host_site.get(_rabbitmq_host(n.get("name"), expected), "~"), n.get("name"))):
        host = _rabbitmq_host(n.get("name"), expected)
        listed.add(host)
        alarms = [a for a, on in (("memory", n.get("mem_alarm")), ("disk", n.get("disk_free_alarm"))) if on]
        partitions = n.get("partitions") or []
        running = bool(n.get("running"))
        ok = running and not alarms and not partitions
        if not ok:
            problems.append(host)
        counts = by_node.get(n.get("name")) or {}
        rows.append(
            {
                "site": host_site.get(host, "?"),
                "host": host,
                "node": n.get("name") or "",
                "state": (
                    "running" if ok else "ALARM" if running and alarms else "PARTITIONED" if running else "STOPPED"
                ),
                "alarms": ",".join(alarms),
                "partitioned_from": ",".join(partitions),
                "qq_leaders": counts.get("leaders", 0),
                "qq_members": counts.get("members", 0),
            }
        )
    for host in sorted(set(expected or []) - listed):
        problems.append(host)
        rows.append({"site": host_site.get(host, "?"), "host": host, "node": "", "state": "MISSING"})
    under = info.get("degraded") or []
    if not nodes:
        summary = "NO ANSWER (no management API could be read)"
    else:
        running = sum(1 for r in rows if r["state"] == "running")
        below = [q for q in (info.get("quorum_queues") or []) if not q.get("has_quorum", True)]
        state = (
            "CRITICAL"
            if below or any(r["state"] == "PARTITIONED" for r in rows)
            else ("OK" if not problems and not under else "DEGRADED")
        )
        summary = (
            f"{state}: {running} of {len(rows)} nodes running, {len(info.get('quorum_queues') or [])} quorum queues, "
            f"{len(under)} under-replicated, {len(below)} without quorum (RabbitMQ {info.get('rabbitmq_version', '?')})"
        )
        if problems:
            summary += f"; attention: {', '.join(sorted(problems))}"
    return {"summary": summary, "rows": rows}


_MONGODB_HEALTHY_STATES = ("PRIMARY", "SECONDARY", "ARBITER")
_MONGODB_RESULT_KEYS = ("mongodb_replset", "initialized", "failed", "msg", "unreachable", "skipped")


def _mongodb_addr(name):
    """'mongo1:27017' -> 'mongo1', '[::1]:27017' -> '::1', 'mongo1' -> 'mongo1' (lower case)."""
    text = str(name or "").strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def _mongodb_host(name, known, hosts):
    """The inventory host of member ``name``: the one whose module call used or saw that address, else the host
    whose name or short name is the address, else the address itself."""
    text = str(name or "").strip().lower()
    if text in known:
        return known[text]
    addr = _mongodb_addr(text)
    if addr in known:
        return known[addr]
    for host in hosts:
        if addr in (host.lower(), host.lower().split(".", 1)[0]):
            return host
    return addr


def mongodb_health_rows(results, topology=None, expected=None, addresses=None, lag_warning=30):
    """Turn ``apiplatform.ha.mongodb_replset_info`` results into table rows plus a one-line summary.

    ``results`` maps each inventory host to the result registered there (``failed_when: false``; None when the host
    gave none), or is one registered result. The member rows come from the best view (one that sees a primary, then
    the most healthy members): one set row, one row per member, a NO ANSWER row per host whose module failed, a NOT
    INITIALIZED row per member without a replica set config and a MISSING row per ``expected`` host that is
    nowhere. Columns: site, host, member, state, health, lag_s, oplog_window_s, info.

    A member's inventory host is the one whose ``addresses`` entry (inventory host -> the address or host:port the
    config names its member by), module call (``login_host``) or set view (``self``) names that address, else the
    expected host whose name or short name it is, else the address itself. A lagging member (``lag_warning``
    seconds or more behind the primary) is shown as LAGGING.
    """
    if isinstance(results, dict) and any(k in results for k in _MONGODB_RESULT_KEYS):
        results = {"": results}
    results = results or {}
    host_site = (topology or {}).get("host_site", {})
    hosts = sorted(set(results) | set(expected or []))

    def site(host, tags=None):
        return (tags or {}).get("site") or host_site.get(host, "?")

    known = {}  # member address (with and without port) -> inventory host
    for host, address in (addresses or {}).items():
        if address:
            known[str(address).lower()] = host
            known.setdefault(_mongodb_addr(address), host)
    views, failed, uninitialized = [], [], []
    for host, r in sorted(results.items()):
        r = r or {}
        args = (r.get("invocation") or {}).get("module_args") or {}
        if host and args.get("login_host") not in (None, "", "localhost", "127.0.0.1", "::1"):
            known.setdefault(f"{str(args['login_host']).lower()}:{args.get('login_port') or 27017}", host)
            known.setdefault(str(args["login_host"]).lower(), host)
        replset = r.get("mongodb_replset") or {}
        if host and replset.get("self"):
            known[str(replset["self"]).lower()] = host
            known.setdefault(_mongodb_addr(replset["self"]), host)
        if not r or r.get("skipped"):
            failed.append((host, "no result (host unreachable or skipped)"))
        elif r.get("failed") or r.get("unreachable") or "mongodb_replset" not in r:
            failed.append((host, str(r.get("msg") or "failed without a message").splitlines()[0][:200]))
        elif r.get("initialized") is False or replset.get("initialized") is False or not replset.get("members"):
            uninitialized.append(host)
        else:
            views.append((host, replset))

    def rank(view):
        host, rs = view
        members = rs.get("members") or []
        fine = sum(1 for m in members if m.get("health") == 1 and m.get("state_str") in _MONGODB_HEALTHY_STATES)
        return (not rs.get("primary"), -fine, -(rs.get("term") or 0), host)

    rows, problems = [], []
    seen = set()
    best_host, rs = min(views, key=rank) if views else (None, {})
    members = rs.get("members") or []
    voters = healthy_voters = healthy = 0
    for m in members:
        host = _mongodb_host(m.get("name"), known, hosts)
        seen.add(host)
        ok = m.get("health") == 1 and m.get("state_str") in _MONGODB_HEALTHY_STATES
        lag = m.get("lag_seconds")
        lagging = ok and isinstance(lag, (int, float)) and lag >= lag_warning
        healthy += ok
        if int(m.get("votes", 1) or 0) > 0:
            voters += 1
            healthy_voters += ok
        if not ok or lagging:
            problems.append(str(m.get("name")))
        rows.append(
            {
                "site": site(host, m.get("tags")),
                "host": host,
                "member": m.get("name") or "",
                "state": m.get("state_str") or "UNKNOWN",
                "health": "LAGGING" if lagging else "healthy" if ok else "UNHEALTHY",
                "lag_s": "" if lag is None else int(lag),
                "oplog_window_s": "",
                "info": m.get("info_message") or "",
            }
        )
    rows.sort(key=lambda r: (r["site"] if r["site"] != "?" else "~", r["host"], r["member"]))
    for host, error in failed:
        problems.append(host or "?")
        seen.add(host)
        rows.append(
            {"site": site(host), "host": host or "?", "member": "", "state": "NO ANSWER", "health": "", "info": error}
        )
    for host in uninitialized:
        problems.append(host or "?")
        seen.add(host)
        rows.append(
            {
                "site": site(host),
                "host": host or "?",
                "member": "",
                "state": "NOT INITIALIZED",
                "health": "",
                "info": "no replica set config (never initiated)",
            }
        )
    for host in sorted(set(expected or []) - seen):
        problems.append(host)
        rows.append({"site": site(host), "host": host, "member": "", "state": "MISSING", "health": ""})

    if not views:
        summary = (
            "NOT INITIALIZED (no member has a replica set config)"
            if uninitialized and not failed
            else "NO ANSWER (no member could be read)"
        )
    else:
        primary = rs.get("primary")
        window = (rs.get("oplog") or {}).get("window_seconds")
        if not primary:
            state = "NO PRIMARY"
        elif healthy_voters < voters // 2 + 1:
            state = "NO MAJORITY"
        else:
            state = "OK" if not problems else "DEGRADED"
        rows.insert(
            0,
            {
                "site": "",
                "host": f"set {rs.get('set') or '?'}",
                "member": primary or "no primary",
                "state": state,
                "health": "healthy" if rs.get("healthy") else "UNHEALTHY",
                "lag_s": "",
                "oplog_window_s": "" if window is None else int(window),
                "info": f"term {rs.get('term')}, config {rs.get('config_version')}, seen from {best_host or '?'}",
            },
        )
        summary = (
            f"{state}: set {rs.get('set') or '?'}, primary {primary or 'none'}, {healthy}/{len(members)} members "
            f"healthy ({healthy_voters}/{voters} voting), oplog window "
            f"{'unknown' if window is None else f'{int(window)} s'}"
        )
        if problems:
            summary += f"; attention: {', '.join(sorted(set(problems)))}"
    return {"summary": summary, "rows": rows}


def _summary(rows, problems, nothing_read, ok):
    """The summary line of a tier: NO ANSWER when no row could be read, DEGRADED with the problems, else ok."""
    if not rows:
        return f"NO ANSWER ({nothing_read})"
    if problems:
        return "DEGRADED: " + "; ".join(problems)
    return ok


def app_health_rows(probes, topology=None, single_instance=None):
    """Rows for the application tiers: one per (host, service).

    ``probes``: {host: [{"name", "unit" (systemctl is-active output), "status" (HTTP status of /health or
    None), "json" (its body)}]} for every reachable application host. ``single_instance``: names of the
    services that must run on exactly one host (microservices); their standby copies are expected to be stopped.
    """
    host_site = (topology or {}).get("host_site", {})
    single = set(single_instance or [])
    rows = []
    unhealthy = []
    running_on = {}
    for host, services in sorted((probes or {}).items(), key=lambda kv: (host_site.get(kv[0], "~"), kv[0])):
        for svc in services or []:
            name = svc.get("name") or "?"
            unit = svc.get("unit") or "unknown"
            body = svc.get("json") if isinstance(svc.get("json"), dict) else {}
            deps = body.get("dependencies") or {}
            if unit == "active":
                running_on.setdefault(name, []).append(host)
                state = "healthy" if svc.get("status") == 200 else f"UNHEALTHY ({svc.get('status') or 'no answer'})"
                if svc.get("status") != 200:
                    unhealthy.append(f"{name}@{host}")
            elif name in single:
                state = "standby"
            else:
                state = f"DOWN ({unit})"
                unhealthy.append(f"{name}@{host}")
            rows.append(
                {
                    "site": host_site.get(host, "?"),
                    "host": host,
                    "service": name,
                    "state": state,
                    "version": body.get("version") or "",
                    "dependencies": " ".join(
                        f"{dep}:{'ok' if (info or {}).get('ok') else 'FAIL'}" for dep, info in sorted(deps.items())
                    ),
                }
            )
    problems = list(unhealthy)
    for name in sorted(single):
        count = len(running_on.get(name, []))
        if count != 1:
            problems.append(f"{name} runs on {count} hosts (expected exactly 1)")
    ok = f"OK: {len(rows)} instances, every running one healthy"
    if single and not problems:
        ok += ", " + ", ".join(f"{n} on {running_on[n][0]}" for n in sorted(single))
    return {"summary": _summary(rows, problems, "no application host could be read", ok), "rows": rows}


def lb_health_rows(statuses, topology=None):
    """Rows for the load balancers: one per host (``statuses``: the ``loadbalancer_status`` fact per host, or None
    when the host did not answer). The summary flags a site whose VIP is held by no host or by several, a stopped
    HAProxy, and backends with no server up."""
    host_site = (topology or {}).get("host_site", {})
    rows = []
    holders = {}
    problems = []
    for host, st in sorted((statuses or {}).items(), key=lambda kv: (host_site.get(kv[0], "~"), kv[0])):
        site = host_site.get(host, (st or {}).get("site") or "?")
        if not st:
            rows.append({"site": site, "host": host, "vrrp": "NO ANSWER"})
            holders.setdefault(site, [])
            problems.append(f"{host} does not answer")
            continue
        site = st.get("site") or site
        holders.setdefault(site, [])
        if st.get("vip_held"):
            holders[site].append(host)
        if not st.get("haproxy_active"):
            problems.append(f"HAProxy stopped on {host}")
        per_backend = {}
        for srv in st.get("backends") or []:
            b = per_backend.setdefault(srv.get("backend") or "?", {"up": 0, "total": 0, "backup_up": 0})
            up = str(srv.get("status") or "").startswith("UP")
            if srv.get("backup"):
                b["backup_up"] += int(up)
            else:
                b["total"] += 1
                b["up"] += int(up)
        for name, b in per_backend.items():
            if b["up"] == 0:
                problems.append(f"backend {name} on {host} has no server up")
        rows.append(
            {
                "site": site,
                "host": host,
                "vrrp": st.get("vrrp_state") or "UNKNOWN",
                "vip": f"{st.get('vip')} (held here)" if st.get("vip_held") else "",
                "haproxy": "running" if st.get("haproxy_active") else "STOPPED",
                "backends": " ".join(
                    f"{name}:{b['up']}/{b['total']}" + (f"+{b['backup_up']}backup" if b["backup_up"] else "")
                    for name, b in sorted(per_backend.items())
                ),
            }
        )
    for site, held in sorted(holders.items()):
        if len(held) != 1:
            problems.append(f"{site}'s VIP is held by {len(held)} load balancers ({', '.join(held) or 'none'})")
    ok = "" if problems else "OK: " + ", ".join(f"{site} VIP on {held[0]}" for site, held in sorted(holders.items()))
    return {"summary": _summary(rows, problems, "no load balancer could be read", ok), "rows": rows}
