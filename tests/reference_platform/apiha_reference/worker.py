"""Worker of the apiplatform.ha REFERENCE PLATFORM (the project's stand-in for the platform's core-server/downloader).

Consumes ``apiha.jobs``; for each job: INSERT INTO job_results ... ON CONFLICT DO NOTHING (idempotent on
redelivery), then a confirmed, persistent notification ``{"job_id", "worker"}`` on ``apiha.notifications``, then the
ack. APIHA_WORKER_KIND (core-server or downloader) labels the worker in /health and in its notifications; every
worker takes every job from the one queue.
"""

import json
import logging

from . import amqp
from .consumer import Consumer

LOG = logging.getLogger("apiha.worker")


class Worker(Consumer):
    queue = amqp.JOBS_QUEUE
    schema = (
        "CREATE TABLE IF NOT EXISTS job_results (job_id text PRIMARY KEY, kind text, worker text, "
        "done_at timestamptz DEFAULT now())",
    )

    def extra_health(self):
        return {"worker_kind": self.cfg.worker_kind}

    def handle(self, ch, message):
        job_id, kind = message["job_id"], str(message.get("kind", ""))
        inserted = self.pg.execute(
            "INSERT INTO job_results (job_id, kind, worker) VALUES (%s, %s, %s) ON CONFLICT (job_id) DO NOTHING",
            (job_id, kind, self.cfg.instance),
            what="job result",
        )
        if not inserted:
            self._count("duplicates")
        note = {"job_id": job_id, "worker": self.cfg.instance, "worker_kind": self.cfg.worker_kind}
        amqp.publish(ch, amqp.NOTIFICATIONS_QUEUE, json.dumps(note).encode(), message_id=job_id)
        self._count("processed")
        LOG.info("job %s (%s) done%s", job_id, kind, "" if inserted else " (already recorded: redelivery)")


SERVICE = Worker
