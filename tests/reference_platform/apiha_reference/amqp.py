"""RabbitMQ access of the apiplatform.ha REFERENCE PLATFORM (stand-in services), with pika's BlockingConnection.

``pika.BlockingConnection([URLParameters(u) for u in urls])`` tries every node in turn; the caller reconnects after
a connection loss. Channels publish with publisher confirms and persistent messages; the two queues are durable
quorum queues. A BlockingConnection is not thread-safe: each service uses it from its loop thread only.
"""

import logging
import urllib.parse

import pika

LOG = logging.getLogger("apiha.rabbitmq")
JOBS_QUEUE = "apiha.jobs"
NOTIFICATIONS_QUEUE = "apiha.notifications"
QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}


def parameters(urls):
    params = []
    for url in urls:
        p = pika.URLParameters(url)
        p.connection_attempts = 1
        p.retry_delay = 0
        p.socket_timeout = 2
        p.stack_timeout = 4
        p.blocked_connection_timeout = 10
        p.heartbeat = 10
        params.append(p)
    return params


def describe(urls):
    """host:port of each URL (no credentials), for logs."""
    out = []
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        out.append(f"{parts.hostname}:{parts.port or 5672}")
    return ",".join(out)


def connect(urls, client_name):
    """A BlockingConnection to the first node that answers (raises pika.exceptions.AMQPError if none does)."""
    params = parameters(urls)
    for p in params:
        p.client_properties = {"connection_name": client_name}
    conn = pika.BlockingConnection(params)
    return conn


def open_channel(conn, confirms=True, prefetch=None):
    ch = conn.channel()
    for queue in (JOBS_QUEUE, NOTIFICATIONS_QUEUE):
        ch.queue_declare(queue=queue, durable=True, arguments=QUEUE_ARGUMENTS)
    if confirms:
        ch.confirm_delivery()
    if prefetch:
        ch.basic_qos(prefetch_count=prefetch)
    return ch


def publish(ch, queue, body, message_id=None):
    """Persistent publish, confirmed by the broker (raises on nack/unroutable/connection loss)."""
    ch.basic_publish(
        exchange="",
        routing_key=queue,
        body=body,
        properties=pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json", message_id=message_id
        ),
        mandatory=True,
    )


def close_quietly(conn):
    if conn is None:
        return
    try:
        if conn.is_open:
            conn.close()
    except Exception:  # closing a broken connection may raise anything; it is going away regardless
        LOG.debug("ignored error while closing the AMQP connection")


def probe(urls, client_name):
    conn = connect(urls, client_name)
    try:
        host = conn._impl.params.host  # the node that answered
        return f"connected to {host}"
    finally:
        close_quietly(conn)
