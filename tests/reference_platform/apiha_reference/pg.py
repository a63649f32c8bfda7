"""PostgreSQL client of the apiplatform.ha REFERENCE PLATFORM (stand-in services), connecting like a real HA client.

One libpq multi-host conninfo over every cluster member (``host=a,b,c port=p1,p2,p3
target_session_attrs=read-write connect_timeout=2``): libpq tries each member in turn and keeps the one that
accepts writes, so a Patroni failover is followed by reconnecting. Connections live in a small pool; a connection
error (or a demoted primary answering "read-only transaction") drops the connection and the statement is retried a
bounded number of times with a short backoff. An outage raises Unavailable, never kills the process.
"""

import logging
import threading
import time

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import make_conninfo

LOG = logging.getLogger("apiha.postgresql")
RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError, pg_errors.ReadOnlySqlTransaction)


class Unavailable(Exception):
    """PostgreSQL could not run the statement after the bounded retries."""


class Postgres:
    def __init__(self, cfg, pool_size=4, statement_timeout_ms=5000):
        self.conninfo = make_conninfo(
            host=",".join(h for h, _p in cfg.pg_hosts),
            port=",".join(str(p) for _h, p in cfg.pg_hosts),
            dbname=cfg.pg_database,
            user=cfg.pg_user,
            password=cfg.pg_password or None,
            target_session_attrs="read-write",
            connect_timeout=2,
            application_name=f"apiha-{cfg.service}",
            options=f"-c statement_timeout={statement_timeout_ms}",
        )
        self.where = ",".join(f"{h}:{p}" for h, p in cfg.pg_hosts)
        self.pool_size = pool_size
        self._idle = []
        self._lock = threading.Lock()
        self._closed = False
        self._was_down = False

    def _take(self):
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        return psycopg.connect(self.conninfo, autocommit=True)

    def _give(self, conn):
        with self._lock:
            if not self._closed and len(self._idle) < self.pool_size and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    def _drop_idle(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def run(self, fn, retries=3, backoff=0.3, what="statement"):
        """``fn(conn)`` on a pooled autocommit connection; retried on connection errors; Unavailable when all fail."""
        last = None
        for attempt in range(retries + 1):
            conn = None
            try:
                conn = self._take()
                result = fn(conn)
            except RETRYABLE as exc:
                last = exc
                if conn is not None:
                    conn.close()
                self._drop_idle()  # after an outage or a failover every pooled connection is suspect
                if attempt < retries:
                    time.sleep(backoff * (attempt + 1))
                continue
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            self._give(conn)
            if self._was_down:
                self._was_down = False
                LOG.info("postgresql reachable again (%s)", self.where)
            return result
        if not self._was_down:
            self._was_down = True
            LOG.warning("postgresql unavailable for %s (%s): %s", what, self.where, " ".join(str(last).split())[:200])
        raise Unavailable(f"postgresql unavailable: {' '.join(str(last).split())[:200]}")

    def execute(self, query, params=None, retries=3, what="statement"):
        """Run one statement; returns fetchall() for statements that return rows, else the rowcount."""

        def fn(conn):
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else cur.rowcount

        return self.run(fn, retries=retries, what=what)

    def probe(self):
        rows = self.execute("SELECT current_setting('server_version'), pg_is_in_recovery()", retries=0, what="probe")
        version, in_recovery = rows[0]
        if in_recovery:
            raise Unavailable("connected server is in recovery (not the primary)")
        return f"read-write primary reachable (PostgreSQL {version})"

    def ensure_schema(self, statements):
        for statement in statements:
            self.execute(statement, retries=0, what="schema")

    def close(self):
        with self._lock:
            self._closed = True
        self._drop_idle()
