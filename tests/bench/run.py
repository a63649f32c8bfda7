"""make bench: measure the lab and print the figures as tables.

Rows:
  - first converge of site.yml on a freshly created lab (molecule converge; containers already created)
  - a no-change rerun, and its share of the first converge
  - the lab's memory use after converge (sum over the lab's containers, from docker stats)
  - PostgreSQL: seconds from the leader container's kill to the first successful write (median of
    BENCH_PG_KILLS, default 5) with the role's timing, and with Patroni's defaults (BENCH_PG_DEFAULT_KILLS,
    default 3), told apart by whether the killed container also held etcd's raft leader; seconds without writes
    in a planned switchover; the longest wait for a commit when the synchronous standby's container dies
    (BENCH_PG_SYNC_KILLS, default 2); acknowledged writes lost (synchronous mode)
  - RabbitMQ: seconds from the kill of the node leading a quorum queue to the first publisher confirm on the
    survivors (median of BENCH_RMQ_KILLS, default 3) and confirmed messages lost
  - application tiers: failed GETs and the longest gap through dc1's VIP while a dashboard container dies
    (BENCH_APP_KILLS, default 2), and the VIP move (longest gap) when the container holding the VIP dies
  - the shared filesystem sync against plain rsync (tests/bench/shared_fs_bench.py, its own table)

The lab is destroyed first and at the end, so the figures are from a clean start. Bounded: each step has a
time limit and the whole run stops at the first failure. `run.py --existing-lab pg,rmq,apps,shared_fs` measures
only the named tiers on the converged lab as it is (make lab first), without destroying it; `run.py --converge-only`
only the converge rows (fresh lab, first converge, rerun, memory), keeping the lab.
"""

import base64
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
ENV = dict(
    os.environ,
    PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
    ANSIBLE_FORCE_COLOR="0",
    PY_COLORS="0",
)
STEP_LIMIT = 1800


def run(*cmd, limit=STEP_LIMIT):
    started = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=limit, check=False
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        raise SystemExit(f"bench: {' '.join(cmd)} failed with exit code {proc.returncode}")
    return elapsed, proc.stdout


def lab_memory_bytes():
    names = subprocess.run(
        ["docker", "ps", "--filter", "label=apiplatform.ha/lab=true", "--format", "{{.Names}}"],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout.split()
    if not names:
        return 0, 0
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{json .}}", *names],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    total = 0
    units = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "kB": 1000, "MB": 1000**2, "GB": 1000**3}
    for line in out.splitlines():
        used = json.loads(line)["MemUsage"].split("/")[0].strip()
        for unit in sorted(units, key=len, reverse=True):
            if used.endswith(unit):
                total += float(used[: -len(unit)]) * units[unit]
                break
    return total, len(names)


LAB_PG = {
    "dc1-node1": "172.29.0.11",
    "dc1-node2": "172.29.0.12",
    "dc2-node1": "172.29.0.21",
    "dc2-node2": "172.29.0.22",
}
PG_PASSWORD = "lab-super-secret"  # the lab's own (molecule/inventory/group_vars/all.yml)
API_AUTH = ("patroni", "lab-rest-secret")


def pg_members():
    for host in LAB_PG.values():
        try:
            with urllib.request.urlopen(f"http://{host}:8008/cluster", timeout=2) as r:
                return json.load(r).get("members", [])
        except OSError:
            continue
    return []


def wait_pg_healthy(limit=180):
    """Until one leader and every other member streams (a killed member rejoins by itself once started)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        members = pg_members()
        leaders = [m for m in members if m.get("role") == "leader"]
        replicas = [m for m in members if m.get("role") != "leader"]
        if len(members) == len(LAB_PG) and len(leaders) == 1 and all(m.get("state") == "streaming" for m in replicas):
            return
        time.sleep(2)
    raise SystemExit(f"bench: PostgreSQL did not become healthy within {limit} s: {pg_members()}")


def patroni_api(method, path, body=None):
    """A Patroni REST call on the first member that answers (the one a bench step killed may be down)."""
    errors = []
    for host in LAB_PG.values():
        req = urllib.request.Request(
            f"http://{host}:8008{path}", data=json.dumps(body).encode() if body else None, method=method
        )
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(API_AUTH).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.load(r)
        except OSError as exc:
            errors.append(f"{host}: {exc}")
    raise SystemExit(f"bench: no Patroni member answered {method} {path}: {'; '.join(errors)}")


def patch_config(body):
    return patroni_api("PATCH", "/config", body)


def pg_timing():
    """(ttl, loop_wait, retry_timeout) of the cluster's dynamic configuration (GET /config)."""
    config = patroni_api("GET", "/config")
    return config["ttl"], config["loop_wait"], config["retry_timeout"]


LAB_ETCD = {"dc1-node1": "172.29.0.11", "dc2-node1": "172.29.0.21", "witness-node1": "172.29.0.31"}


def etcd_raft_leader():
    """Host of etcd's raft leader, read from the witness (it holds no PostgreSQL, so it is never killed here)."""
    endpoints = ",".join(f"http://{a}:2379" for a in LAB_ETCD.values())
    proc = subprocess.run(
        ["docker", "exec", "witness-node1", "etcdctl", f"--endpoints={endpoints}", "endpoint", "status", "-w", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=30,
        check=False,
    )
    by_address = {a: h for h, a in LAB_ETCD.items()}
    for entry in json.loads(proc.stdout or "[]"):
        status = entry.get("Status", {})
        if status.get("leader") and status.get("leader") == status.get("header", {}).get("member_id"):
            return by_address.get(entry["Endpoint"].split("//")[1].split(":")[0])
    return None


def pg_fault(mode):
    out = ROOT / ".build" / f"bench-pg-{mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [
        str(BIN / "python"),
        str(ROOT / "tests" / "lab" / "pg_failover.py"),
        "--mode",
        mode,
        "--hosts",
        ",".join(LAB_PG.values()),
        "--names",
        ",".join(LAB_PG),
        "--api-password",
        API_AUTH[1],
        "--etcd",
        f"http://{LAB_ETCD['witness-node1']}:2379",
        "--out",
        str(out),
    ]
    ENV["PGPASSWORD"] = PG_PASSWORD
    etcd_leader = etcd_raft_leader()
    run(*args, limit=300)
    result = json.loads(out.read_text())
    # etcd extends every lease to its full ttl when its raft leader changes: killing the container that holds both
    # leaders costs an etcd election plus a whole ttl. The runs are told apart in the table.
    result["etcd_leader_killed"] = mode == "kill" and etcd_leader == result["old_leader"]
    if result.get("killed"):
        subprocess.run(["docker", "start", result["killed"]], check=True, stdout=subprocess.DEVNULL)
    wait_pg_healthy()
    return result


def pg_rows():
    kills = int(os.environ.get("BENCH_PG_KILLS", "5"))
    default_kills = int(os.environ.get("BENCH_PG_DEFAULT_KILLS", "3"))
    wait_pg_healthy()
    ttl, loop_wait, retry = pg_timing()
    tuned = []
    for i in range(kills):
        print(f"bench: PostgreSQL leader kill {i + 1}/{kills} (role's timing {ttl}/{loop_wait}/{retry})", flush=True)
        tuned.append(pg_fault("kill"))
    switch = []
    for i in range(3):
        print(f"bench: planned switchover {i + 1}/3", flush=True)
        switch.append(pg_fault("switchover"))
    sync_kills = int(os.environ.get("BENCH_PG_SYNC_KILLS", "2"))
    sync = []
    for i in range(sync_kills):
        print(f"bench: synchronous standby kill {i + 1}/{sync_kills}", flush=True)
        sync.append(pg_fault("kill-sync"))
    defaults = []
    if default_kills:
        patch_config({"ttl": 30, "loop_wait": 10, "retry_timeout": 10})
        try:
            for i in range(default_kills):
                print(f"bench: leader kill {i + 1}/{default_kills} (Patroni's defaults 30/10/10)", flush=True)
                defaults.append(pg_fault("kill"))
        finally:
            patch_config({"ttl": ttl, "loop_wait": loop_wait, "retry_timeout": retry})

    def med(results, key):
        values = [r[key] for r in results if r.get(key) is not None]
        return f"{statistics.median(values):.1f} (runs: {', '.join(f'{v:.1f}' for v in values)})" if values else "-"

    apart = [r for r in tuned if not r["etcd_leader_killed"]]
    together = [r for r in tuned if r["etcd_leader_killed"]]

    lost = sum(len(r["lost_acknowledged"]) for r in tuned + switch + sync + defaults)
    acked = sum(r["acknowledged"] for r in tuned + switch + sync + defaults)
    rows = [
        ("measure", "value", "goal"),
        (
            f"leader kill -> first write, ttl {ttl}/loop {loop_wait}/retry {retry} (s)",
            med(tuned, "seconds_to_first_write"),
            "<= 20",
        ),
        (
            f"  of which: etcd's raft leader elsewhere ({len(apart)} runs)",
            med(apart, "seconds_to_first_write"),
            "<= 20",
        ),
        (
            f"  of which: etcd's raft leader in the killed container too ({len(together)} runs)",
            med(together, "seconds_to_first_write"),
            "-",
        ),
    ]
    phase_names = [
        ("leader_key_gone", "old leader's lease runs out (leader key gone)"),
        ("new_leader_key", "a replica holds the leader key"),
        ("new_leader_writable", "the new leader takes a write on its own address"),
        ("first_write_multi_host", "first write through the multi-host connection string"),
    ]
    for key, label in phase_names:
        values = [r["phases_after_kill"][key] for r in tuned if (r.get("phases_after_kill") or {}).get(key) is not None]
        rows.append((f"  phase, s after the kill: {label}", med([{"v": v} for v in values], "v"), "-"))
    if defaults:
        rows.append(
            ("leader kill -> first write, defaults 30/10/10 (s)", med(defaults, "seconds_to_first_write"), "30-40")
        )
    rows += [
        ("planned switchover: seconds without writes (median)", med(switch, "seconds_without_writes"), "<= 5"),
        (
            "synchronous standby kill: longest wait for a commit (s)",
            med(sync, "longest_gap_after_fault"),
            "-",
        ),
        (
            "s after the fault until a synchronous standby is named (leader kill / switchover / standby kill)",
            " / ".join(med(group, "sync_standby_named_after_fault").split(" (")[0] for group in (tuned, switch, sync)),
            "-",
        ),
        (f"acknowledged writes lost (synchronous mode, {acked} acknowledged)", str(lost), "0"),
    ]
    return rows


LAB_RMQ = {"dc1-node1": "172.29.0.11", "dc2-node1": "172.29.0.21", "witness-node1": "172.29.0.31"}
RMQ_AUTH = ("admin", "lab-rmq-admin-secret")  # the lab's own (molecule/inventory/group_vars/all.yml)


def rmq_running():
    for host in LAB_RMQ.values():
        req = urllib.request.Request(f"http://{host}:15672/api/nodes")
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(RMQ_AUTH).encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=3) as r:
                return sorted(n["name"] for n in json.load(r) if n.get("running"))
        except OSError:
            continue
    return []


def wait_rmq_running(limit=180):
    """Until every node runs (a killed node rejoins its cluster by itself once its container starts)."""
    want = sorted(f"rabbit@{name}" for name in LAB_RMQ)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if rmq_running() == want:
            return
        time.sleep(2)
    raise SystemExit(f"bench: RabbitMQ nodes not all running within {limit} s: {rmq_running()}")


def rmq_rows():
    kills = int(os.environ.get("BENCH_RMQ_KILLS", "3"))
    results = []
    for i in range(kills):
        wait_rmq_running()
        print(f"bench: RabbitMQ queue-leader kill {i + 1}/{kills}", flush=True)
        out = ROOT / ".build" / f"bench-rmq-{i}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        ENV["RABBITMQ_PASSWORD"] = RMQ_AUTH[1]
        cmd = [str(BIN / "python"), str(ROOT / "tests" / "lab" / "rmq_failover.py"), "--hosts"]
        cmd += [",".join(LAB_RMQ.values()), "--names", ",".join(LAB_RMQ), "--out", str(out)]
        try:
            run(*cmd, limit=240)
        finally:
            result = json.loads(out.read_text()) if out.exists() else {}
            subprocess.run(["docker", "start", *LAB_RMQ], check=True, stdout=subprocess.DEVNULL)
        results.append(result)
    wait_rmq_running()
    values = [r["seconds_to_first_confirm"] for r in results if r.get("seconds_to_first_confirm") is not None]
    gaps = [r["longest_gap_s"] for r in results]
    lost = sum(len(r["lost_confirmed"]) for r in results)
    confirmed = sum(r["confirmed"] for r in results)
    runs = ", ".join(f"{v:.1f}" for v in values)
    return [
        ("measure", "value", "goal"),
        (
            "queue-leader node kill -> publisher confirms resume (s)",
            f"{statistics.median(values):.1f} (runs: {runs})",
            "< 5",
        ),
        ("longest gap between confirms (s, median)", f"{statistics.median(gaps):.1f}", "-"),
        (f"confirmed messages lost ({confirmed} confirmed)", str(lost), "0"),
    ]


LAB_VIP_DC1 = "172.29.1.100"
LAB_DC1_LBS = ["dc1-lb1", "dc1-node2"]


def http_loop(kill, seconds, out, timeout):
    cmd = [str(BIN / "python"), str(ROOT / "tests" / "lab" / "http_failover.py"), "--url", f"http://{LAB_VIP_DC1}/"]
    cmd += ["--kill", kill, "--max-seconds", str(seconds), "--timeout", str(timeout), "--out", str(out)]
    try:
        run(*cmd, limit=seconds + 60)
    finally:
        subprocess.run(["docker", "start", kill], check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def vip_holder():
    for name in LAB_DC1_LBS:
        cmd = ["docker", "exec", name, "ip", "-o", "-4", "addr", "show"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if f" {LAB_VIP_DC1}/" in proc.stdout:
            return name
    return None


def repair(host):
    run("ansible-playbook", "-i", "molecule/inventory/hosts.yml", "playbooks/repair-node.yml", "-l", host, limit=600)


def app_rows():
    """Dashboard instance loss and active load balancer loss, under GETs through dc1's VIP (20/s)."""
    out = ROOT / ".build"
    out.mkdir(parents=True, exist_ok=True)
    kills = int(os.environ.get("BENCH_APP_KILLS", "2"))
    dash, lb = [], []
    for i in range(kills):
        print(f"bench: dashboard container kill {i + 1}/{kills}", flush=True)
        dash.append(http_loop("dc1-app1", 16, out / f"bench-dash-{i}.json", 5))
        repair("dc1-app1")
        holder = vip_holder()
        print(f"bench: load balancer kill {i + 1}/{kills} ({holder} holds the VIP)", flush=True)
        if holder is None:
            raise SystemExit("bench: no dc1 load balancer holds the VIP")
        lb.append(http_loop(holder, 20, out / f"bench-lb-{i}.json", 1))
        repair(holder)
    failed = sum(r["failed"] for r in dash)
    gets = sum(r["gets"] for r in dash)
    gaps = ", ".join(f"{r['longest_gap_s']:.2f}" for r in dash)
    broken = [r for r in dash + lb if not r.get("ok_at_end") or r.get("kill_rc") != 0]
    if broken:
        raise SystemExit(f"bench: a kill did not happen or the site did not answer again: {broken}")
    moves = [r["longest_gap_s"] for r in lb]
    return [
        ("measure", "value", "goal"),
        (f"failed GETs while a dashboard container dies ({gets} GETs, {kills} kills)", str(failed), "0"),
        ("longest gap between successful GETs then (s)", gaps, "-"),
        (
            "VIP move when the active load balancer dies (s, longest gap between GETs)",
            f"{statistics.median(moves):.1f} (runs: {', '.join(f'{m:.1f}' for m in moves)})",
            "<= 4",
        ),
        ("failed GETs during the VIP move", ", ".join(str(r["failed"]) for r in lb), "-"),
    ]


def table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def shared_fs_table():
    """The shared filesystem's own table (tests/bench/shared_fs_bench.py prints it)."""
    print("Shared filesystem sync (tests/bench/shared_fs_bench.py)", flush=True)
    subprocess.run([str(BIN / "python"), str(ROOT / "tests" / "bench" / "shared_fs_bench.py")], cwd=ROOT, check=True)


def tier_rows_only(names):
    """``run.py --existing-lab pg,rmq,apps,shared_fs``: only the named tiers' rows, on the converged lab as it is
    (nothing destroyed or created; the first-converge and rerun rows need a fresh lab, so they are left out)."""
    tiers = {
        "pg": ("PostgreSQL (leader kills and switchovers, writes every 0.2 s)", pg_rows),
        "rmq": ("RabbitMQ (quorum queue leader kills, publisher confirms every 0.05 s)", rmq_rows),
        "apps": (
            "Application tiers (GETs through dc1's VIP: a dashboard container, then the VIP holder killed)",
            app_rows,
        ),
    }
    unknown = [n for n in names if n not in tiers and n != "shared_fs"]
    if unknown:
        raise SystemExit(f"bench: --existing-lab: unknown tier(s) {unknown}; choose from pg, rmq, apps, shared_fs")
    for name in names:
        if name == "shared_fs":
            shared_fs_table()
            continue
        title, rows = tiers[name]
        result = rows()
        print()
        print(title)
        print(table(result), flush=True)


def converge_rows():
    """Destroy any lab, create a fresh one, converge site.yml, rerun it without changes; the table's rows."""
    print("bench: destroying any previous lab, then creating a fresh one", flush=True)
    run("molecule", "destroy", "-s", "default")
    run("molecule", "create", "-s", "default")
    print("bench: first converge of site.yml (installs every package; several minutes)", flush=True)
    first, _first_output = run("molecule", "converge", "-s", "default")
    print("bench: no-change rerun of site.yml", flush=True)
    second, out = run("molecule", "converge", "-s", "default")
    changed = sum(int(x.split("=")[1]) for x in out.split() if x.startswith("changed="))
    mem, count = lab_memory_bytes()
    return [
        ("measure", "value", "goal"),
        ("first converge of site.yml (s)", f"{first:.1f}", "-"),
        ("no-change rerun (s)", f"{second:.1f}", "-"),
        ("rerun share of first converge", f"{100 * second / first:.0f} %", "<= 35 %"),
        ("tasks changed in the rerun", str(changed), "0"),
        (f"lab memory after converge ({count} containers)", f"{mem / 1024**2:.0f} MiB", "whole platform <= 8 GiB"),
    ]


CONVERGE_TITLE = "The 3-site lab (all tiers), 2 cores; times include molecule's own start-up"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--existing-lab":
        tier_rows_only(sys.argv[2].split(","))
        return
    if sys.argv[1:] == ["--converge-only"]:
        rows = converge_rows()
        print()
        print(CONVERGE_TITLE + " (the lab is kept)")
        print(table(rows))
        return
    if len(sys.argv) > 1:
        raise SystemExit("usage: run.py [--existing-lab pg,rmq,apps,shared_fs | --converge-only]")
    try:
        rows = converge_rows()
        pg = pg_rows()
        rmq = rmq_rows()
        apps = app_rows()
    finally:
        run("molecule", "destroy", "-s", "default")
    print()
    print(CONVERGE_TITLE)
    print(table(rows))
    print()
    print("PostgreSQL (4 members over dc1/dc2, writes every 0.2 s through the multi-host read-write endpoint)")
    print(table(pg))
    print()
    print("RabbitMQ (3 nodes over dc1/dc2/witness; publisher confirms every 0.05 s on a quorum queue, connected to")
    print("the node that leads it and dies; tests/lab/rmq_failover.py)")
    print(table(rmq))
    print()
    print("Application tiers (reference platform; GETs through dc1's VIP, 20/s, a new connection each, client timeout")
    print("5 s for the dashboard kill, 1 s for the load balancer kill so that the gap shows;")
    print("tests/lab/http_failover.py): a dashboard container killed, then the container holding the VIP killed")
    print(table(apps))
    print()
    print("RabbitMQ policy convergence (tests/bench/rabbitmq_policy_bench.py)", flush=True)
    subprocess.run(
        [str(BIN / "python"), str(ROOT / "tests" / "bench" / "rabbitmq_policy_bench.py")], cwd=ROOT, check=True
    )
    print()
    shared_fs_table()


if __name__ == "__main__":
    main()
