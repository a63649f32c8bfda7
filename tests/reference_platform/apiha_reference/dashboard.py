"""Dashboard of the apiplatform.ha REFERENCE PLATFORM (the project's stand-in for the platform's web dashboard).

HTTP: ``GET /`` (no database), ``GET /health`` (cached dependency probes), ``POST /login`` + ``GET /whoami``
(in-memory sessions: a cookie made on another instance is unknown here, which is what shows sticky sessions work),
``POST /data`` / ``GET /data?value=`` (a row in PostgreSQL and, when configured, a document in MongoDB).
"""

import logging
import secrets
import threading
import time

from . import __version__
from .amqp import probe as amqp_probe
from .mongo import Mongo
from .pg import Postgres, Unavailable
from .runtime import CachedProbe, Service, short_error

LOG = logging.getLogger("apiha.dashboard")
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS dashboard_items (id bigserial PRIMARY KEY, value text, instance text, "
    "created_at timestamptz DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS dashboard_items_value ON dashboard_items (value)",
]
COOKIE = "APIHA_SESSION"
MAX_SESSIONS = 10000


class Dashboard(Service):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.pg = Postgres(cfg, pool_size=8)
        self.mongo = Mongo(cfg) if cfg.has_mongodb else None
        self.schema_ready = threading.Event()
        self.schema_error = "schema not created yet"
        self.sessions = {}
        self.sessions_lock = threading.Lock()
        self.probes = {"postgresql": CachedProbe("postgresql", self._pg_probe)}
        if self.mongo:
            self.probes["mongodb"] = CachedProbe("mongodb", self.mongo.probe)
        if cfg.has_rabbitmq:
            self.probes["rabbitmq"] = CachedProbe(
                "rabbitmq", lambda: amqp_probe(cfg.amqp_urls, f"apiha-dashboard-{cfg.instance}"), ttl=5.0
            )

    def routes(self):
        return {
            ("GET", "/"): self.http_root,
            ("GET", "/health"): self.http_health,
            ("POST", "/login"): self.http_login,
            ("GET", "/whoami"): self.http_whoami,
            ("POST", "/data"): self.http_post_data,
            ("GET", "/data"): self.http_get_data,
        }

    # -- background: schema ------------------------------------------------------------------------------------------

    def loop(self, stop):
        """Create the tables (retried with a capped backoff until PostgreSQL answers), then idle."""
        delay = 0.5
        while not stop.is_set() and not self.schema_ready.is_set():
            try:
                self.pg.ensure_schema(SCHEMA)
            except Exception as exc:  # keep trying, whatever the database answered
                self.schema_error = f"schema not created yet: {short_error(exc)}"
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.schema_ready.set()
            LOG.info("schema ready (dashboard_items)")
        stop.wait()

    def _pg_probe(self):
        detail = self.pg.probe()
        if not self.schema_ready.is_set():
            raise Unavailable(self.schema_error)
        return detail

    # -- health ------------------------------------------------------------------------------------------------------

    def health(self):
        deps = {name: probe.get() for name, probe in self.probes.items()}
        ok = deps["postgresql"]["ok"] and deps.get("mongodb", {"ok": True})["ok"]
        return ok, {"dependencies": deps}

    def http_health(self, req):
        ok, extra = self.health()
        body = {"service": self.cfg.service_name, "instance": self.cfg.instance, "version": __version__, **extra}
        body["healthy"] = ok
        body["sessions"] = len(self.sessions)
        req.send_json(200 if ok else 503, body)

    def http_root(self, req):
        req.send_text(200, f"dashboard {self.cfg.instance} {__version__}\n")

    # -- sessions ----------------------------------------------------------------------------------------------------

    def _session_user(self, req):
        token = req.cookie(COOKIE)
        if not token:
            return None
        with self.sessions_lock:
            return self.sessions.get(token)

    def http_login(self, req):
        user = (req.form().get("user") or "").strip()
        if not user or len(user) > 200:
            req.send_json(400, {"error": "form field 'user' is required", "instance": self.cfg.instance})
            return
        token = secrets.token_urlsafe(24)
        with self.sessions_lock:
            if len(self.sessions) >= MAX_SESSIONS:
                self.sessions.pop(next(iter(self.sessions)))  # oldest first (dicts keep insertion order)
            self.sessions[token] = user
        LOG.info("login user=%s", user)
        req.send_json(
            200,
            {"user": user, "instance": self.cfg.instance},
            headers=[("Set-Cookie", f"{COOKIE}={token}; Path=/; HttpOnly")],
        )

    def http_whoami(self, req):
        user = self._session_user(req)
        if user is None:
            req.send_json(401, {"error": "no valid session on this instance", "instance": self.cfg.instance})
            return
        req.send_json(200, {"user": user, "instance": self.cfg.instance})

    # -- data --------------------------------------------------------------------------------------------------------

    def http_post_data(self, req):
        if self._session_user(req) is None:
            req.send_json(401, {"error": "login first", "instance": self.cfg.instance})
            return
        value = req.form().get("value")
        if value is None or len(value) > 1000:
            req.send_json(400, {"error": "form field 'value' is required", "instance": self.cfg.instance})
            return
        if not self.schema_ready.is_set():
            req.send_json(503, {"error": self.schema_error, "instance": self.cfg.instance})
            return
        try:
            rows = self.pg.execute(
                "INSERT INTO dashboard_items (value, instance) VALUES (%s, %s) RETURNING id",
                (value, self.cfg.instance),
                what="insert",
            )
        except Unavailable as exc:
            req.send_json(503, {"error": short_error(exc), "instance": self.cfg.instance})
            return
        item_id = rows[0][0]
        mongodb_id = None
        if self.mongo:
            try:
                result = self.mongo.collection("dashboard_items").insert_one(
                    {"value": value, "instance": self.cfg.instance, "pg_id": item_id, "created_at": time.time()}
                )
                mongodb_id = str(result.inserted_id)
            except Exception as exc:  # pymongo raises many types; the PostgreSQL row stays, the client learns it
                LOG.warning("mongodb insert failed: %s", short_error(exc))
                req.send_json(503, {"error": short_error(exc), "id": item_id, "instance": self.cfg.instance})
                return
        req.send_json(201, {"id": item_id, "value": value, "instance": self.cfg.instance, "mongodb_id": mongodb_id})

    def http_get_data(self, req):
        value = (req.query.get("value") or [None])[0]
        if value is None:
            req.send_json(400, {"error": "query parameter 'value' is required", "instance": self.cfg.instance})
            return
        try:
            pg_count = self.pg.execute("SELECT count(*) FROM dashboard_items WHERE value = %s", (value,))[0][0]
            mongo_count = None
            if self.mongo:
                mongo_count = self.mongo.collection("dashboard_items").count_documents({"value": value})
        except Exception as exc:  # Unavailable or any pymongo error: the store did not answer
            req.send_json(503, {"error": short_error(exc), "instance": self.cfg.instance})
            return
        req.send_json(200, {"postgresql": pg_count, "mongodb": mongo_count, "instance": self.cfg.instance})

    def close(self):
        self.pg.close()
        if self.mongo:
            self.mongo.close()


SERVICE = Dashboard
