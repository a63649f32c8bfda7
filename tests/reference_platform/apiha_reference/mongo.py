"""MongoDB access of the apiplatform.ha REFERENCE PLATFORM (stand-in services).

One pymongo client on APIHA_MONGODB_URI (every member and ``replicaSet=``): pymongo discovers the primary and
follows elections itself. Writes use ``w="majority"``. Only commands the lab's replica-set SIMULATOR
(tests/mongodb_simulator) implements are used: ``insert`` (insert_one), ``update`` with upsert (update_one),
``aggregate`` with ``$match``/``$group``/``$sum`` (count_documents) and ``ping``.
"""

import logging

import pymongo
from pymongo.write_concern import WriteConcern

from .config import redact_url

LOG = logging.getLogger("apiha.mongodb")
DEFAULT_DATABASE = "apifortress"


class Mongo:
    def __init__(self, cfg):
        self.where = redact_url(cfg.mongodb_uri)
        self.client = pymongo.MongoClient(
            cfg.mongodb_uri,
            serverSelectionTimeoutMS=3000,
            connectTimeoutMS=2000,
            socketTimeoutMS=10000,
            retryWrites=True,
            appname=f"apiha-{cfg.service}",
        )
        self.db = self.client.get_default_database(default=DEFAULT_DATABASE)
        self.majority = WriteConcern(w="majority", wtimeout=5000)

    def collection(self, name):
        return self.db.get_collection(name, write_concern=self.majority)

    def probe(self):
        self.client.admin.command("ping")  # primary read preference: needs a reachable primary
        return f"primary reachable (database {self.db.name})"

    def close(self):
        self.client.close()
