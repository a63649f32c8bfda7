"""Scheduler of the apiplatform.ha REFERENCE PLATFORM (the project's stand-in for the platform's job scheduler).

Every APIHA_SCHEDULER_INTERVAL seconds it publishes one job ``{"job_id", "kind", "scheduled_at"}`` (kind alternating
core-server / downloader) to the quorum queue ``apiha.jobs``: persistent, with publisher confirms. A lost connection
is re-opened (every node of APIHA_AMQP_URLS in turn) and the unconfirmed job is published once more on the new one.
"""

import datetime
import json
import logging
import threading
import time
import uuid

from pika.exceptions import AMQPError

from . import amqp
from .config import WORKER_KINDS
from .runtime import Service, short_error

LOG = logging.getLogger("apiha.scheduler")


class Scheduler(Service):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.interval = cfg.scheduler_interval
        self.lock = threading.Lock()
        self.counts = {"published": 0, "confirmed": 0, "failed": 0}
        self.connected = False
        self.connected_to = None
        self.last_error = None
        self.last_confirmed_at = None  # monotonic
        self.last_confirmed_wall = None
        self.seq = 0

    def health(self):
        with self.lock:
            recent = (
                self.last_confirmed_at is not None
                and time.monotonic() - self.last_confirmed_at < 3 * self.interval + 1.0
            )
            ok = self.connected or recent
            return ok, {
                "dependencies": {
                    "rabbitmq": {
                        "ok": self.connected,
                        "detail": f"connected to {self.connected_to}" if self.connected else self.last_error or "",
                    }
                },
                "jobs": dict(self.counts),
                "interval": self.interval,
                "last_confirmed_at": self.last_confirmed_wall,
            }

    def _job(self):
        kind = WORKER_KINDS[self.seq % len(WORKER_KINDS)]
        self.seq += 1
        now = datetime.datetime.now(datetime.UTC).isoformat()
        return {"job_id": str(uuid.uuid4()), "kind": kind, "scheduled_at": now}

    def _set(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, v)

    def _count(self, key):
        with self.lock:
            self.counts[key] += 1

    def loop(self, stop):
        conn = ch = None
        pending = None  # a job whose publish was not confirmed: retried once on the next connection
        next_at = time.monotonic()
        backoff = 0.5
        try:
            while not stop.is_set():
                if conn is None or not conn.is_open:
                    try:
                        conn = amqp.connect(self.cfg.amqp_urls, f"apiha-scheduler-{self.cfg.instance}")
                        ch = amqp.open_channel(conn, confirms=True)
                    except AMQPError as exc:
                        amqp.close_quietly(conn)
                        conn = None
                        self._set(connected=False, last_error=short_error(exc))
                        where = amqp.describe(self.cfg.amqp_urls)
                        LOG.warning("rabbitmq unreachable (%s): %s", where, short_error(exc))
                        stop.wait(backoff)
                        backoff = min(backoff * 2, 5.0)
                        continue
                    backoff = 0.5
                    self._set(connected=True, connected_to=conn._impl.params.host, last_error=None)
                    LOG.info("connected to rabbitmq node %s", conn._impl.params.host)
                wait = next_at - time.monotonic()
                if wait > 0 and pending is None:
                    try:
                        conn.process_data_events(time_limit=min(wait, 0.5))  # heartbeats, and stop checks
                    except AMQPError as exc:
                        self._lost(exc)
                        conn = None
                    continue
                job, retry = (pending, True) if pending is not None else (self._job(), False)
                if not retry:
                    next_at = max(next_at + self.interval, time.monotonic())
                self._count("published")
                try:
                    amqp.publish(ch, amqp.JOBS_QUEUE, json.dumps(job).encode(), message_id=job["job_id"])
                except AMQPError as exc:
                    self._count("failed")
                    LOG.warning("publish of job %s failed: %s", job["job_id"], short_error(exc))
                    pending = None if retry else job
                    self._lost(exc)
                    amqp.close_quietly(conn)
                    conn = None
                    continue
                pending = None
                self._count("confirmed")
                self._set(last_confirmed_at=time.monotonic(), last_confirmed_wall=time.time())
                LOG.info("job %s (%s) published and confirmed", job["job_id"], job["kind"])
        finally:
            amqp.close_quietly(conn)
            self._set(connected=False)

    def _lost(self, exc):
        self._set(connected=False, last_error=short_error(exc))
        LOG.warning("rabbitmq connection lost: %s", short_error(exc))


SERVICE = Scheduler
