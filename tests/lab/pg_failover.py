"""Kill (or switch over) the PostgreSQL leader of the lab while a bounded write loop runs; report what clients saw.

Used by the molecule failover drill (assertions) and by ``make bench`` (figures). It talks only to the lab's
containers: Patroni's REST API and PostgreSQL on their inter-site addresses, and ``docker kill`` on the leader.

    python tests/lab/pg_failover.py --mode kill --hosts 172.29.0.11,... --names dc1-node1,... --out result.json

Writes go through a multi-host connection string with ``target_session_attrs=read-write`` (how the platform's
services connect), one INSERT per attempt every ``--interval`` seconds, each in its own transaction. An INSERT
whose COMMIT returned is *acknowledged*; after the loop every acknowledged id is looked up on the new leader.
Bounded: the loop stops after ``--max-seconds`` or once ``--after-writes`` writes succeeded after the outage.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

import psycopg

TABLE = "apiha_failover_writes"


def conninfo(hosts, port, user, password, db, attrs="read-write", timeout=2):
    return (
        f"host={','.join(hosts)} port={','.join([str(port)] * len(hosts))} user={user} password={password} "
        f"dbname={db} target_session_attrs={attrs} connect_timeout={timeout}"
    )


def leader(api_hosts, port=8008):
    for host in api_hosts:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/cluster", timeout=2) as r:
                members = json.load(r).get("members", [])
        except OSError:
            continue
        for m in members:
            if m.get("role") == "leader":
                return m["name"], members
    return None, []


def switchover(api_host, port, user, password, leader_name):
    req = urllib.request.Request(
        f"http://{api_host}:{port}/switchover",
        data=json.dumps({"leader": leader_name}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["kill", "switchover"], required=True)
    p.add_argument("--hosts", required=True, help="inter-site addresses of the PostgreSQL members, comma-separated")
    p.add_argument("--names", required=True, help="their container names, in the same order")
    p.add_argument("--port", type=int, default=5432)
    p.add_argument("--user", default="postgres")
    p.add_argument("--password", default=os.environ.get("PGPASSWORD"), help="default: $PGPASSWORD")
    p.add_argument("--db", default="postgres")
    p.add_argument("--api-user", default="patroni")
    p.add_argument("--api-password", default="")
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of writes before the fault")
    p.add_argument("--after-writes", type=int, default=10)
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if not a.password:
        p.error("--password or PGPASSWORD is required")
    hosts = a.hosts.split(",")
    names = a.names.split(",")
    by_name = dict(zip(names, hosts, strict=True))
    dsn = conninfo(hosts, a.port, a.user, a.password, a.db)

    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(run text, id bigint, at timestamptz DEFAULT now(), PRIMARY KEY (run, id))"
        )
    run = f"{a.mode}-{int(time.time())}"
    old_leader, _members = leader(hosts)
    if old_leader is None:
        raise SystemExit("pg_failover: no Patroni member names a leader; is the PostgreSQL tier up?")

    acked, failures = [], 0
    acked_before = 0
    fault_at = first_error = recovered_at = None
    started = time.monotonic()
    seq = writes_after = 0
    conn = None
    while time.monotonic() - started < a.max_seconds:
        if fault_at is None and time.monotonic() - started >= a.warmup:
            fault_at = time.monotonic()
            acked_before = len(acked)
            if a.mode == "kill":
                subprocess.run(["docker", "kill", old_leader], check=True, stdout=subprocess.DEVNULL)
            else:
                switchover(by_name[old_leader], 8008, a.api_user, a.api_password, old_leader)
        seq += 1
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(dsn, autocommit=True)
            conn.execute(f"INSERT INTO {TABLE} (id, run) VALUES (%s, %s)", (seq, run))
            acked.append(seq)
            if fault_at is not None:
                if first_error is not None and recovered_at is None:
                    recovered_at = time.monotonic()
                writes_after += 1
        except psycopg.Error:
            failures += 1
            if fault_at is not None and first_error is None:
                first_error = time.monotonic()
            if conn is not None:
                conn.close()
            conn = None
        if fault_at is not None and writes_after >= a.after_writes:
            if recovered_at is not None:
                break
            # no write failed: done once another member leads (switchover) or after the same count (kill)
            if first_error is None and (a.mode == "kill" or leader(hosts)[0] not in (None, old_leader)):
                break
        time.sleep(a.interval)
    if conn is not None:
        conn.close()

    new_leader = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new_leader, _m = leader([h for n, h in by_name.items() if n != old_leader or a.mode == "switchover"])
        if new_leader:
            break
        time.sleep(1)
    with psycopg.connect(dsn, autocommit=True) as c:
        found = {r[0] for r in c.execute(f"SELECT id FROM {TABLE} WHERE run = %s", (run,)).fetchall()}
    lost = sorted(set(acked) - found)
    result = {
        "mode": a.mode,
        "run": run,
        "old_leader": old_leader,
        "new_leader": new_leader,
        "acknowledged": len(acked),
        "acknowledged_before_fault": acked_before,
        "failed_attempts": failures,
        "lost_acknowledged": lost,
        "seconds_to_first_write": round(recovered_at - fault_at, 2) if recovered_at and fault_at else None,
        "seconds_without_writes": round(recovered_at - first_error, 2) if recovered_at and first_error else 0.0,
        "recovered": fault_at is not None and writes_after >= a.after_writes,
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    json.dump(result, sys.stdout)
    print()
    return 0 if result["recovered"] else 1


if __name__ == "__main__":
    sys.exit(main())
