"""Queue consumer base of the apiplatform.ha REFERENCE PLATFORM (stand-in for the platform's worker processes).

Consumes one quorum queue with prefetch 1 and manual acks: a message is acked only after its PostgreSQL write has
committed (and, for the worker, its follow-up notification was confirmed). Writes are INSERT ... ON CONFLICT DO
NOTHING, so a redelivery after a crash or failover is harmless. A PostgreSQL outage nacks the message back to the
queue (with a pause); a RabbitMQ outage re-opens the connection on the next node. Neither stops the process.
"""

import abc
import json
import logging
import threading
import time

from pika.exceptions import AMQPError

from . import amqp
from .pg import Postgres, Unavailable
from .runtime import CachedProbe, Service, short_error

LOG = logging.getLogger("apiha.consumer")


class Consumer(Service, abc.ABC):
    queue = None
    schema = ()

    def __init__(self, cfg):
        super().__init__(cfg)
        self.pg = Postgres(cfg, pool_size=2)
        self.lock = threading.Lock()
        self.counts = {"processed": 0, "duplicates": 0, "requeued": 0, "rejected": 0}
        self.connected = False
        self.connected_to = None
        self.amqp_error = None
        self.schema_ready = False
        self.last_processed_at = None
        self.pg_probe = CachedProbe("postgresql", self.pg.probe)

    def _count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def health(self):
        pg = self.pg_probe.get()
        with self.lock:
            rabbit = {
                "ok": self.connected,
                "detail": f"consuming {self.queue} on {self.connected_to}" if self.connected else self.amqp_error or "",
            }
            ok = pg["ok"] and self.connected and self.schema_ready
            return ok, {
                "dependencies": {"postgresql": pg, "rabbitmq": rabbit},
                "messages": dict(self.counts),
                "processed": self.counts["processed"],
                "last_processed_at": self.last_processed_at,
                **self.extra_health(),
            }

    def extra_health(self):
        return {}

    @abc.abstractmethod
    def handle(self, ch, message):
        """Process one decoded message (write, follow-ups); raise Unavailable/AMQPError to requeue it."""

    def loop(self, stop):
        conn = None
        backoff = 0.5
        try:
            while not stop.is_set():
                if not self.schema_ready:
                    try:
                        self.pg.ensure_schema(self.schema)
                        self.schema_ready = True
                        LOG.info("schema ready")
                    except Exception as exc:  # whatever the database answered: retry later
                        LOG.warning("schema not created yet: %s", short_error(exc))
                        stop.wait(backoff)
                        backoff = min(backoff * 2, 5.0)
                        continue
                try:
                    conn = amqp.connect(self.cfg.amqp_urls, f"apiha-{self.cfg.service}-{self.cfg.instance}")
                    ch = amqp.open_channel(conn, confirms=True, prefetch=1)
                    with self.lock:
                        self.connected, self.connected_to, self.amqp_error = True, conn._impl.params.host, None
                    LOG.info("consuming %s on rabbitmq node %s", self.queue, conn._impl.params.host)
                    backoff = 0.5
                    self._consume(ch, stop)
                except AMQPError as exc:
                    with self.lock:
                        was, self.connected, self.amqp_error = self.connected, False, short_error(exc)
                    LOG.warning(
                        "rabbitmq %s (%s): %s",
                        "connection lost" if was else "unreachable",
                        amqp.describe(self.cfg.amqp_urls),
                        short_error(exc),
                    )
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
                finally:
                    amqp.close_quietly(conn)
                    conn = None
                    with self.lock:
                        self.connected = False
        finally:
            amqp.close_quietly(conn)

    def _consume(self, ch, stop):
        for method, _props, body in ch.consume(self.queue, inactivity_timeout=0.5):
            if stop.is_set():
                break
            if method is None:
                continue
            try:
                message = json.loads(body)
                if not isinstance(message, dict) or not isinstance(message.get("job_id"), str):
                    raise ValueError("no job_id")
            except ValueError as exc:
                LOG.warning("rejecting malformed message on %s: %s", self.queue, short_error(exc))
                ch.basic_nack(method.delivery_tag, requeue=False)
                self._count("rejected")
                continue
            try:
                self.handle(ch, message)
            except Unavailable as exc:
                LOG.warning("job %s requeued: %s", message["job_id"], short_error(exc))
                ch.basic_nack(method.delivery_tag, requeue=True)
                self._count("requeued")
                stop.wait(1.0)  # do not spin on redeliveries while the database is away
                continue
            ch.basic_ack(method.delivery_tag)
            with self.lock:
                self.last_processed_at = time.time()
        ch.cancel()

    def close(self):
        self.pg.close()
