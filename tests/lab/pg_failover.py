"""Kill (or switch over) the PostgreSQL leader of the lab while a bounded write loop runs; report what clients saw.

Used by the molecule failover drill (assertions) and by ``make bench`` (figures). It talks only to the lab's
containers: Patroni's REST API and PostgreSQL on their inter-site addresses, and ``docker kill`` on the leader.

    python tests/lab/pg_failover.py --mode kill --hosts 172.29.0.11,... --names dc1-node1,... --out result.json

Writes go through a multi-host connection string with ``target_session_attrs=read-write`` (how the platform's
services connect), one INSERT per attempt every ``--interval`` seconds, each in its own transaction. An INSERT
whose COMMIT returned is *acknowledged*; after the loop every acknowledged id is looked up on the new leader.
Bounded: the loop stops after ``--max-seconds`` or once ``--after-writes`` writes succeeded after the outage.

With ``--etcd URL`` (an etcd member that is not killed) a watcher thread also times the phases of a kill, every
0.1 s: the old leader's lease running out (its leader key gone from etcd), the new leader's key written, the new
leader accepting a write on its own address, and the first write through the multi-host connection string.
"""

import argparse
import base64
import itertools
import json
import os
import subprocess
import sys
import threading
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


def etcd_get(etcd_url, key):
    """Value of *key* in etcd (v3 JSON gateway), or None when the key does not exist."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    req = urllib.request.Request(f"{etcd_url}/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=1) as r:
        kvs = json.load(r).get("kvs") or []
    return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


class Poller(threading.Thread):
    """Calls ``poll()`` every *interval* s until it returns true (then ``true_at`` is its time.monotonic()), until
    *limit* seconds pass, or until stop(). ``poll`` defaults to the *condition* given."""

    def __init__(self, limit, condition=None, interval=0.2):
        super().__init__(daemon=True)
        self.limit, self.condition, self.interval = limit, condition, interval
        self.true_at = None
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()

    def poll(self):
        return self.condition()

    def run(self):
        deadline = time.monotonic() + self.limit
        while not self._halt.is_set() and time.monotonic() < deadline:
            if self.poll():
                self.true_at = time.monotonic()
                return
            self._halt.wait(self.interval)


class PhaseWatcher(Poller):
    """Times a failover's phases from outside: leader key gone, new leader key, new leader writable.

    Every timestamp is time.monotonic(); the main loop turns them into seconds after the kill. Bounded by *limit*
    seconds and stopped early by stop().
    """

    def __init__(self, etcd_url, leader_key, old_leader, by_name, dsn_for, limit):
        super().__init__(limit, interval=0.1)
        self.etcd_url, self.leader_key, self.old_leader = etcd_url, leader_key, old_leader
        self.by_name, self.dsn_for = by_name, dsn_for
        self.key_gone_at = self.new_key_at = self.writable_at = None
        self.new_leader = None

    def poll(self):
        now = time.monotonic()
        if self.new_key_at is None:
            try:
                holder = etcd_get(self.etcd_url, self.leader_key)
            except OSError:
                holder = self.old_leader
            if holder != self.old_leader and self.key_gone_at is None:
                self.key_gone_at = now
            if holder not in (None, self.old_leader):
                self.new_key_at, self.new_leader = now, holder
            return False
        try:
            with psycopg.connect(self.dsn_for(self.by_name[self.new_leader]), autocommit=True) as c:
                c.execute(f"INSERT INTO {TABLE} (id, run) VALUES (-1, 'phase-probe') ON CONFLICT DO NOTHING")
        except psycopg.Error:
            return False
        self.writable_at = time.monotonic()
        return True


def synchronous_mode(api_hosts, port=8008):
    """Whether the cluster's dynamic configuration has synchronous_mode on (GET /config on the first that answers)."""
    for host in api_hosts:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/config", timeout=2) as r:
                return bool(json.load(r).get("synchronous_mode"))
        except OSError:
            continue
    return False


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
    p.add_argument(
        "--mode",
        choices=["kill", "switchover", "kill-sync"],
        required=True,
        help="kill the leader's container, switch over, or kill the synchronous standby's container",
    )
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
    p.add_argument(
        "--observe", type=float, default=40.0, help="kill-sync: seconds of writes after the kill (writes block)"
    )
    p.add_argument("--out", required=True)
    p.add_argument("--etcd", help="URL of an etcd member that is not killed (times the phases of a kill)")
    p.add_argument("--leader-key", default="/service/apiplatform/leader", help="Patroni's leader key in etcd")
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
    old_leader, members = leader(hosts)
    if old_leader is None:
        raise SystemExit("pg_failover: no Patroni member names a leader; is the PostgreSQL tier up?")
    victim = old_leader
    if a.mode == "kill-sync":
        # right after a failover or switchover the new leader names its synchronous standby on its next loop
        sync_wait = time.monotonic() + 60
        sync = [m["name"] for m in members if m.get("role") == "sync_standby"]
        while not sync and time.monotonic() < sync_wait:
            time.sleep(0.5)
            sync = [m["name"] for m in leader(hosts)[1] if m.get("role") == "sync_standby"]
        if not sync:
            raise SystemExit("pg_failover: no member became a synchronous standby within 60 s; is synchronous_mode on?")
        victim = sync[0]

    live = [h for n, h in by_name.items() if n != victim or a.mode == "switchover"]
    sync_poller = None
    if synchronous_mode(hosts):

        def sync_restored():
            lead, now_members = leader(live)
            sync = [m["name"] for m in now_members if m.get("role") == "sync_standby"]
            if a.mode == "kill-sync":
                return bool(sync) and victim not in sync
            return lead not in (None, old_leader) and bool(sync)

        sync_poller = Poller(a.max_seconds, sync_restored)

    watcher = None
    if a.mode == "kill" and a.etcd:
        watcher = PhaseWatcher(
            a.etcd,
            a.leader_key,
            old_leader,
            by_name,
            lambda host: conninfo([host], a.port, a.user, a.password, a.db),
            a.max_seconds,
        )

    acked, failures = [], 0
    acked_at = []
    acked_before = 0
    fault_at = first_error = recovered_at = None
    started = time.monotonic()
    seq = writes_after = 0
    conn = None
    while time.monotonic() - started < a.max_seconds:
        if fault_at is None and time.monotonic() - started >= a.warmup:
            fault_at = time.monotonic()
            acked_before = len(acked)
            if a.mode in ("kill", "kill-sync"):
                subprocess.run(["docker", "kill", victim], check=True, stdout=subprocess.DEVNULL)
                if watcher is not None:
                    watcher.start()
            else:
                switchover(by_name[old_leader], 8008, a.api_user, a.api_password, old_leader)
            if sync_poller is not None:
                sync_poller.start()
        seq += 1
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(dsn, autocommit=True)
            conn.execute(f"INSERT INTO {TABLE} (id, run) VALUES (%s, %s)", (seq, run))
            acked.append(seq)
            acked_at.append(time.monotonic())
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
        if a.mode == "kill-sync":
            if fault_at is not None and time.monotonic() - fault_at >= a.observe:
                break
        elif fault_at is not None and writes_after >= a.after_writes:
            if recovered_at is not None:
                break
            # no write failed: done once another member leads (switchover) or after the same count (kill)
            if first_error is None and (a.mode == "kill" or leader(hosts)[0] not in (None, old_leader)):
                break
        time.sleep(a.interval)
    if conn is not None:
        conn.close()
    phases = {}
    if watcher is not None and watcher.ident is not None:
        watcher.stop()
        watcher.join(timeout=5)

        def after_kill(at):
            return round(at - fault_at, 2) if at is not None else None

        phases = {
            "leader_key_gone": after_kill(watcher.key_gone_at),
            "new_leader_key": after_kill(watcher.new_key_at),
            "new_leader_writable": after_kill(watcher.writable_at),
            "first_write_multi_host": after_kill(recovered_at),
        }

    if sync_poller is not None:
        sync_poller.join(timeout=60)
        sync_poller.stop()
    new_leader = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new_leader, _m = leader(live)
        if new_leader:
            break
        time.sleep(1)
    with psycopg.connect(dsn, autocommit=True) as c:
        found = {r[0] for r in c.execute(f"SELECT id FROM {TABLE} WHERE run = %s", (run,)).fetchall()}
    lost = sorted(set(acked) - found)
    # the longest wait between two acknowledged writes (or the fault and the first) once the fault happened
    marks = [fault_at, *(t for t in acked_at if t > fault_at)] if fault_at is not None else []
    longest_gap = max((b - a_ for a_, b in itertools.pairwise(marks)), default=None)
    result = {
        "mode": a.mode,
        "run": run,
        "old_leader": old_leader,
        "killed": victim if a.mode != "switchover" else None,
        "new_leader": new_leader,
        "acknowledged": len(acked),
        "acknowledged_before_fault": acked_before,
        "failed_attempts": failures,
        "lost_acknowledged": lost,
        "seconds_to_first_write": round(recovered_at - fault_at, 2) if recovered_at and fault_at else None,
        "seconds_without_writes": round(recovered_at - first_error, 2) if recovered_at and first_error else 0.0,
        "longest_gap_after_fault": round(longest_gap, 2) if longest_gap is not None else None,
        "sync_standby_named_after_fault": (
            round(sync_poller.true_at - fault_at, 2) if sync_poller is not None and sync_poller.true_at else None
        ),
        "recovered": fault_at is not None and writes_after >= a.after_writes,
        "phases_after_kill": phases,
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    json.dump(result, sys.stdout)
    print()
    return 0 if result["recovered"] else 1


if __name__ == "__main__":
    sys.exit(main())
