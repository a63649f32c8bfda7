"""Connector of the apiplatform.ha REFERENCE PLATFORM (the project's stand-in for the platform's connectors).

Every APIHA_SCHEDULER_INTERVAL seconds: a heartbeat document in MongoDB ``connector_heartbeats`` (when MongoDB is
configured, w="majority") and an upsert of PostgreSQL ``connector_heartbeat(instance, beat_at)``. /health reports
the last success of each; healthy while every configured store saw a beat within three intervals.
"""

import logging
import threading
import time

from .mongo import Mongo
from .pg import Postgres
from .runtime import Service, short_error

LOG = logging.getLogger("apiha.connector")
SCHEMA = ("CREATE TABLE IF NOT EXISTS connector_heartbeat (instance text PRIMARY KEY, beat_at timestamptz)",)


class Connector(Service):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.interval = cfg.scheduler_interval
        self.pg = Postgres(cfg, pool_size=1)
        self.mongo = Mongo(cfg) if cfg.has_mongodb else None
        self.lock = threading.Lock()
        self.state = {"postgresql": {}, **({"mongodb": {}} if self.mongo else {})}
        self.schema_ready = False
        self.beats = 0

    def _record(self, store, error=None):
        with self.lock:
            entry = self.state[store]
            was_failing = bool(entry.get("error"))
            if error is None:
                entry.update(last_success=time.time(), last_success_mono=time.monotonic(), error=None)
                if was_failing:
                    LOG.info("%s heartbeat recovered", store)
            else:
                if not was_failing:
                    LOG.warning("%s heartbeat failed: %s", store, error)
                entry["error"] = error

    def health(self):
        limit = 3 * self.interval + 1.0
        deps, ok = {}, True
        with self.lock:
            for store, entry in self.state.items():
                fresh = (
                    entry.get("last_success_mono") is not None and time.monotonic() - entry["last_success_mono"] < limit
                )
                deps[store] = {
                    "ok": fresh and not entry.get("error"),
                    "detail": entry.get("error") or ("heartbeat written" if fresh else "no recent heartbeat"),
                    "last_success": entry.get("last_success"),
                }
                ok = ok and deps[store]["ok"]
        return ok, {"dependencies": deps, "beats": self.beats, "interval": self.interval}

    def beat(self):
        if not self.schema_ready:
            self.pg.ensure_schema(SCHEMA)
            self.schema_ready = True
        self.pg.execute(
            "INSERT INTO connector_heartbeat (instance, beat_at) VALUES (%s, now()) "
            "ON CONFLICT (instance) DO UPDATE SET beat_at = EXCLUDED.beat_at",
            (self.cfg.instance,),
            retries=1,
            what="heartbeat",
        )

    def loop(self, stop):
        next_at = time.monotonic()
        while not stop.is_set():
            self.beats += 1
            try:
                self.beat()
                self._record("postgresql")
            except Exception as exc:  # Unavailable or a database error: reported, retried next interval
                self._record("postgresql", short_error(exc))
            if self.mongo:
                try:
                    self.mongo.collection("connector_heartbeats").insert_one(
                        {"instance": self.cfg.instance, "seq": self.beats, "at": time.time()}
                    )
                    self._record("mongodb")
                except Exception as exc:  # any pymongo error: reported, retried next interval
                    self._record("mongodb", short_error(exc))
            next_at = max(next_at + self.interval, time.monotonic())
            stop.wait(max(0.0, next_at - time.monotonic()))

    def close(self):
        self.pg.close()
        if self.mongo:
            self.mongo.close()


SERVICE = Connector
