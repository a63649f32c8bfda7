"""Mailer of the apiplatform.ha REFERENCE PLATFORM (the project's stand-in for the platform's notification mailer).

Consumes ``apiha.notifications`` and "sends" each one by recording it in PostgreSQL ``mail_log`` (INSERT ... ON
CONFLICT DO NOTHING: a redelivered notification is not mailed twice), then acks.
"""

import logging

from . import amqp
from .consumer import Consumer

LOG = logging.getLogger("apiha.mailer")


class Mailer(Consumer):
    queue = amqp.NOTIFICATIONS_QUEUE
    schema = (
        "CREATE TABLE IF NOT EXISTS mail_log (job_id text PRIMARY KEY, worker text, mailer text, "
        "sent_at timestamptz DEFAULT now())",
    )

    def handle(self, ch, message):
        job_id = message["job_id"]
        inserted = self.pg.execute(
            "INSERT INTO mail_log (job_id, worker, mailer) VALUES (%s, %s, %s) ON CONFLICT (job_id) DO NOTHING",
            (job_id, str(message.get("worker", "")), self.cfg.instance),
            what="mail log",
        )
        if not inserted:
            self._count("duplicates")
        self._count("processed")
        LOG.info("mail for job %s sent%s", job_id, "" if inserted else " (already sent: redelivery)")


SERVICE = Mailer
