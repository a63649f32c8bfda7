"""A fake MongoDB replica set behind pymongo's MongoClient, for the unit tests of module_utils/mongodb.py and the
MongoDB modules (mongodb_replset_member, mongodb_replset_info, mongodb_resync).

``FakeReplSet.client`` stands in for ``pymongo.MongoClient(host, port, **options)``: ``client.admin.command(...)``
answers hello, replSetGetStatus, replSetGetConfig (with commitmentStatus) and replSetReconfig with MongoDB 7's
shapes and error codes (raised as real pymongo OperationFailure / ServerSelectionTimeoutError), and
``client.local["oplog.rs"].find().sort("$natural", d).limit(1)`` yields the first or last oplog entry. The model is
small: a config, each member's state, health and optime, and a new member's initial sync that ends after a few
replSetGetStatus reads.
"""

import copy
import datetime

from bson.timestamp import Timestamp
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

STATES = {0: "STARTUP", 1: "PRIMARY", 2: "SECONDARY", 3: "RECOVERING", 5: "STARTUP2", 7: "ARBITER", 8: "DOWN"}
NOW = 1_767_261_600  # 2026-01-01T10:00:00Z


def failure(code, message, code_name="Error"):
    return OperationFailure(message, code, {"ok": 0.0, "errmsg": message, "code": code, "codeName": code_name})


def member_doc(_id, host, **settings):
    """A member as replSetGetConfig returns it (every field filled in)."""
    doc = {
        "_id": _id,
        "host": host,
        "arbiterOnly": False,
        "buildIndexes": True,
        "hidden": False,
        "priority": 1.0,
        "tags": {},
        "secondaryDelaySecs": 0,
        "votes": 1,
    }
    doc.update(settings)
    return doc


class FakeReplSet:
    def __init__(self, hosts=("m1:27017", "m2:27017", "m3:27017"), name="rs0", primary="m1:27017", password=None):
        self.name = name
        self.config = {
            "_id": name,
            "version": 4,
            "term": 2,
            "protocolVersion": 1,
            "members": [member_doc(i, h) for i, h in enumerate(hosts)],
            "settings": {"electionTimeoutMillis": 10000},
        }
        self.nodes = {h: {"state": 1 if h == primary else 2, "health": 1, "optime": NOW, "info": ""} for h in hosts}
        self.primary = primary
        self.oplog = (NOW - 86400, NOW)
        self.password = password  # None: no authentication
        self.initialized = True
        self.committed = True
        self.sync_reads = 2  # replSetGetStatus reads before a new member finishes its initial sync
        self.calls = []
        self.writes = []
        self.fail = {}  # command name -> OperationFailure raised once
        self.clients = []
        self.unreachable = set()  # hosts that do not answer even though they are members

    # -- helpers for tests -------------------------------------------------------------------------------------------

    def set_state(self, host, state, health=1, info="", optime=None):
        node = self.nodes.setdefault(host, {"state": state, "health": health, "optime": NOW, "info": ""})
        node.update(state=state, health=health, info=info)
        if optime is not None:
            node["optime"] = optime
        if state == 1:
            self.primary = host

    def member(self, host):
        return next((m for m in self.config["members"] if m["host"] == host), None)

    def client(self, host, port, **options):
        client = FakeClient(self, f"{host}:{port}", options)
        self.clients.append(client)
        return client

    # -- server side -------------------------------------------------------------------------------------------------

    def reachable(self, address):
        node = self.nodes.get(address)
        return node is not None and node["health"] == 1 and address not in self.unreachable

    def hello(self, address):
        if not self.initialized:
            return {"isWritablePrimary": False, "isreplicaset": True, "ok": 1.0}
        reply = {
            "isWritablePrimary": address == self.primary,
            "secondary": self.nodes[address]["state"] == 2,
            "setName": self.name,
            "hosts": [m["host"] for m in self.config["members"]],
            "me": address,
            "ok": 1.0,
        }
        if self.primary:
            reply["primary"] = self.primary
        return reply

    def advance_syncs(self):
        for node in self.nodes.values():
            if node["state"] == 5 and node["health"] == 1:
                node["sync_left"] = node.get("sync_left", self.sync_reads) - 1
                if node["sync_left"] <= 0:
                    node["state"] = 2
                    node["optime"] = NOW

    def status(self, address):
        if not self.initialized:
            raise failure(94, "no replset config has been received", "NotYetInitialized")
        self.advance_syncs()
        members = []
        for m in self.config["members"]:
            node = self.nodes[m["host"]]
            state = node["state"] if node["health"] == 1 else 8
            entry = {
                "_id": m["_id"],
                "name": m["host"],
                "health": float(node["health"]),
                "state": state,
                "stateStr": STATES[state],
                "uptime": 3600,
                "configVersion": self.config["version"],
                "infoMessage": node["info"],
            }
            if not m["arbiterOnly"]:
                optime = node["optime"] if node["health"] == 1 else 0  # a DOWN member: null optime, epoch date
                entry["optime"] = {"ts": Timestamp(optime, 1 if optime else 0), "t": self.config["term"]}
                entry["optimeDate"] = datetime.datetime.fromtimestamp(optime, datetime.UTC).replace(tzinfo=None)
                if state == 2 and self.primary:
                    entry["syncSourceHost"] = self.primary
            if m["host"] == address:
                entry["self"] = True
            members.append(entry)
        return {
            "set": self.name,
            "myState": self.nodes[address]["state"],
            "term": self.config["term"],
            "members": members,
            "ok": 1.0,
        }

    def get_config(self, address, commitment):
        if not self.initialized:
            raise failure(94, "no replset config has been received", "NotYetInitialized")
        reply = {"config": copy.deepcopy(self.config), "ok": 1.0}
        if commitment:
            if address != self.primary:
                raise failure(10107, "commitmentStatus is only supported on the primary", "NotWritablePrimary")
            reply["commitmentStatus"] = self.committed
        return reply

    def reconfig(self, address, new):
        if address != self.primary:
            raise failure(10107, "replSetReconfig should only be run on a writable PRIMARY", "NotWritablePrimary")
        old = self.config
        if new["version"] != old["version"] + 1:
            raise failure(
                103,
                f"New config is rejected :: caused by :: version field value of {new['version']} is out of date",
                "NewReplicaSetConfigurationIncompatible",
            )
        old_voters = {m["host"] for m in old["members"] if m.get("votes", 1)}
        new_voters = {m["host"] for m in new["members"] if m.get("votes", 1)}
        if len(old_voters ^ new_voters) > 1:
            raise failure(
                103,
                "Non force replica set reconfig can only add or remove at most 1 voting member.",
                "NewReplicaSetConfigurationIncompatible",
            )
        ids = [m["_id"] for m in new["members"]]
        if len(ids) != len(set(ids)):
            raise failure(93, "Found two member configurations with same _id field", "InvalidReplicaSetConfig")
        for m in new["members"]:
            before = next((o for o in old["members"] if o["host"] == m["host"]), None)
            if before is not None and before["_id"] != m["_id"]:
                raise failure(103, "New and old configurations differ in _id of a member", "Incompatible")
            if before is not None and bool(before.get("arbiterOnly")) != bool(m.get("arbiterOnly")):
                raise failure(103, "arbiterOnly may not change for members", "NewReplicaSetConfigurationIncompatible")
            if (m.get("hidden") or not m.get("votes", 1) or m.get("arbiterOnly")) and m.get("priority", 1):
                raise failure(93, f"priority must be 0 for {m['host']}", "InvalidReplicaSetConfig")
            if before is None and not self.reachable(m["host"]):
                raise failure(
                    74,
                    f"Quorum check failed because not enough voting nodes responded; required 2 but only the "
                    f"following 1 voting nodes responded: {self.primary}; the following nodes did not respond "
                    f"affirmatively: {m['host']} failed with Connection refused",
                    "NodeNotFound",
                )
        if "replSetReconfig" in self.fail:
            raise self.fail.pop("replSetReconfig")
        self.writes.append(("replSetReconfig", new["version"], copy.deepcopy(new["members"])))
        for m in new["members"]:
            if m["host"] not in {o["host"] for o in old["members"]}:
                self.nodes[m["host"]].update(state=7 if m.get("arbiterOnly") else 5, optime=0)
                self.nodes[m["host"]].pop("sync_left", None)
        for o in old["members"]:
            if o["host"] not in {m["host"] for m in new["members"]}:
                self.nodes[o["host"]]["state"] = 10
        config = copy.deepcopy(new)
        config["term"] = old["term"]
        for m in config["members"]:
            for key, value in member_doc(m["_id"], m["host"]).items():
                m.setdefault(key, value)
        self.config = config
        return {"ok": 1.0}

    def command(self, address, options, name, value, kwargs):
        self.calls.append((address, name))
        if not self.reachable(address):
            raise ServerSelectionTimeoutError(
                f"{address}: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 20000.0ms, "
                f"connectTimeoutMS: 10000.0ms), Timeout: 10.0s, Topology Description: <TopologyDescription ...>"
            )
        if self.password is not None and options.get("password") != self.password:
            raise failure(18, "Authentication failed.", "AuthenticationFailed")
        if name in self.fail and name != "replSetReconfig":
            raise self.fail.pop(name)
        if name in ("hello", "isMaster"):
            return self.hello(address)
        if name == "replSetGetStatus":
            return self.status(address)
        if name == "replSetGetConfig":
            return self.get_config(address, kwargs.get("commitmentStatus"))
        if name == "replSetReconfig":
            return self.reconfig(address, copy.deepcopy(value))
        raise failure(59, f"no such command: '{name}'", "CommandNotFound")

    def oplog_entry(self, address, direction):
        if not self.reachable(address):
            raise ServerSelectionTimeoutError(f"{address}: [Errno 111] Connection refused")
        seconds = self.oplog[0] if direction == 1 else self.oplog[1]
        return [{"ts": Timestamp(seconds, 1)}]


class FakeCursor:
    def __init__(self, replset, address):
        self.replset = replset
        self.address = address
        self.direction = 1

    def sort(self, key, direction):
        assert key == "$natural"
        self.direction = direction
        return self

    def limit(self, n):
        assert n == 1
        return self

    def __iter__(self):
        return iter(self.replset.oplog_entry(self.address, self.direction))


class FakeCollection:
    def __init__(self, replset, address):
        self.replset = replset
        self.address = address

    def find(self, filter=None, projection=None):
        return FakeCursor(self.replset, self.address)


class FakeDatabase:
    def __init__(self, client, name):
        self.client = client
        self.name = name

    def command(self, command, value=1, **kwargs):
        return self.client.replset.command(self.client.address, self.client.options, command, value, kwargs)

    def __getitem__(self, collection):
        assert self.name == "local" and collection == "oplog.rs"
        return FakeCollection(self.client.replset, self.client.address)


class FakeClient:
    def __init__(self, replset, address, options):
        assert options.get("directConnection") is True
        self.replset = replset
        self.address = address
        self.options = options
        self.closed = False
        self.admin = FakeDatabase(self, "admin")
        self.local = FakeDatabase(self, "local")

    def close(self):
        self.closed = True


class FakeClock:
    """time.monotonic/time.sleep: sleeping advances the clock instantly."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.001)
