"""Kill the RabbitMQ node that leads a quorum queue while a bounded publish loop runs; report what clients saw.

Used by the molecule failover drill (assertions) and by ``make bench`` (figures). It talks only to the lab's
containers: AMQP and the management API on their inter-site addresses, and ``docker kill`` on one node.

    python tests/lab/rmq_failover.py --hosts 172.29.0.11,... --names dc1-node1,... --out result.json

The publisher uses publisher confirms (how the platform's services publish) and knows every node, the way
the services are configured: when its connection breaks it reconnects to the next node. A message whose
confirm arrived is *confirmed*; after the loop the queue is drained from a surviving node and every confirmed
id must be there (duplicates are allowed: delivery is at-least-once). Bounded: the loop stops after
``--max-seconds`` or once ``--after-confirms`` messages were confirmed after the kill; a watchdog alarm ends a
publish that hangs.
"""

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pika


def api_get(host, port, user, password, path, timeout=3):
    req = urllib.request.Request(f"http://{host}:{port}{path}")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def queue_leader(hosts, args):
    path = f"/api/queues/{urllib.parse.quote(args.vhost, safe='')}/{urllib.parse.quote(args.queue, safe='')}"
    for host in hosts:
        try:
            q = api_get(host, args.api_port, args.user, args.password, path)
        except OSError:
            continue
        return q.get("leader") or q.get("node"), q.get("members") or []
    return None, []


def params(host, args):
    return pika.ConnectionParameters(
        host=host,
        port=args.port,
        virtual_host=args.vhost,
        credentials=pika.PlainCredentials(args.user, args.password),
        heartbeat=5,
        blocked_connection_timeout=10,
        socket_timeout=2,
        stack_timeout=5,
        connection_attempts=1,
        retry_delay=0,
    )


class Publisher:
    """A confirming publisher that knows every node and moves to the next one when its connection breaks."""

    def __init__(self, hosts, args):
        self.hosts = list(hosts)
        self.args = args
        self.conn = None
        self.channel = None
        self.opened_at = None

    def _connect(self):
        self.conn = pika.BlockingConnection([params(h, self.args) for h in self.hosts])
        self.opened_at = time.monotonic()
        self.channel = self.conn.channel()
        self.channel.confirm_delivery()
        self.channel.queue_declare(
            self.args.queue,
            durable=True,
            arguments={"x-queue-type": "quorum", "x-quorum-initial-group-size": len(self.hosts)},
        )

    def publish(self, body):
        if self.channel is None or not self.channel.is_open:
            self._connect()
        self.channel.basic_publish(
            exchange="",
            routing_key=self.args.queue,
            body=body,
            properties=pika.BasicProperties(delivery_mode=2),
            mandatory=True,
        )

    def broken(self):
        with_conn, self.conn, self.channel = self.conn, None, None
        self.hosts = self.hosts[1:] + self.hosts[:1]
        if with_conn is not None:
            # The connection may already be gone; closing is best effort.
            with contextlib.suppress(Exception):
                with_conn.close()


def drain(hosts, args, exclude):
    """Every message id left in the queue, read from a node that was not killed."""
    ids = []
    survivors = [h for h in hosts if h != exclude] or hosts
    conn = pika.BlockingConnection([params(h, args) for h in survivors])
    try:
        ch = conn.channel()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            method, _props, body = ch.basic_get(args.queue, auto_ack=True)
            if method is None:
                break
            ids.append(int(body.decode()))
        ch.queue_delete(args.queue)
    finally:
        conn.close()
    return ids


def on_alarm(_signum, _frame):
    raise TimeoutError("a publish hung past the watchdog")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", required=True, help="inter-site addresses of the RabbitMQ nodes, comma-separated")
    p.add_argument("--names", required=True, help="their container names, in the same order")
    p.add_argument("--port", type=int, default=5672)
    p.add_argument("--api-port", type=int, default=15672)
    p.add_argument("--user", default="admin")
    p.add_argument("--password", default=os.environ.get("RABBITMQ_PASSWORD", ""), help="default: $RABBITMQ_PASSWORD")
    p.add_argument("--vhost", default="/")
    p.add_argument("--queue", default="apiha-failover-drill")
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of publishing before the kill")
    p.add_argument("--after-confirms", type=int, default=20)
    p.add_argument("--max-seconds", type=float, default=90.0)
    p.add_argument("--no-kill", action="store_true", help="measure the loop without a fault (a control run)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    hosts = args.hosts.split(",")
    names = dict(zip(hosts, args.names.split(","), strict=True))

    publisher = Publisher(hosts, args)
    publisher.publish(b"0")  # declares the queue; id 0 is not counted
    time.sleep(2)
    leader, members = queue_leader(hosts, args)
    leader_host = next((h for h in hosts if leader and leader.endswith("@" + names[h])), None)
    if leader_host is None:
        print(f"cannot tell which node leads {args.queue}: {leader!r}", file=sys.stderr)
        return 2
    # Worst case for a client: it is connected to the node that dies, which also leads the queue.
    publisher.broken()
    publisher.hosts = [leader_host] + [h for h in hosts if h != leader_host]

    confirmed, failures = set(), 0
    start = time.monotonic()
    kill_at = None
    last_ok = start
    longest_gap = 0.0
    first_after_kill = None
    after = 0
    next_id = 1
    signal.signal(signal.SIGALRM, on_alarm)
    while time.monotonic() - start < args.max_seconds:
        now = time.monotonic()
        if kill_at is None and now - start >= args.warmup:
            if not args.no_kill:
                subprocess.run(["docker", "kill", names[leader_host]], check=True, capture_output=True, timeout=30)
            kill_at = time.monotonic()
        msg_id = next_id
        next_id += 1
        try:
            signal.alarm(15)
            publisher.publish(str(msg_id).encode())
            signal.alarm(0)
        except Exception:  # any client error is a failed attempt; the loop reconnects
            signal.alarm(0)
            failures += 1
            publisher.broken()
            time.sleep(args.interval)
            continue
        t = time.monotonic()
        confirmed.add(msg_id)
        longest_gap = max(longest_gap, t - last_ok)
        last_ok = t
        # A confirm counts as resumed only on a connection opened after the kill: a publish that raced the kill
        # may still be confirmed by the dying node.
        if kill_at is not None and (args.no_kill or publisher.opened_at >= kill_at):
            if first_after_kill is None:
                first_after_kill = t - kill_at
            after += 1
            if after >= args.after_confirms:
                break
        time.sleep(args.interval)
    publisher.broken()
    new_leader, new_members = queue_leader([h for h in hosts if h != leader_host], args)
    seen = drain(hosts, args, exclude=None if args.no_kill else leader_host)
    lost = sorted(confirmed - set(seen))
    result = {
        "killed": None if args.no_kill else names[leader_host],
        "old_leader": leader,
        "new_leader": new_leader,
        "members_before": members,
        "members_after": new_members,
        "confirmed": len(confirmed),
        "failed_attempts": failures,
        "lost_confirmed": lost,
        "duplicates": len(seen) - len(set(seen)),
        "recovered": first_after_kill is not None,
        "seconds_to_first_confirm": round(first_after_kill, 2) if first_after_kill is not None else None,
        "longest_gap_s": round(longest_gap, 2),
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))
    return 0 if result["recovered"] else 1


if __name__ == "__main__":
    sys.exit(main())
