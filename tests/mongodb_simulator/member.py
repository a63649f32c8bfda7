"""Replica-set member state machine of the apiplatform.ha replica-set simulator (not MongoDB).

One simulator process is one member. Members talk to each other with replSetHeartbeat and the simulator's own
simulator* commands (wire.PeerClient). Replication is snapshot based: a secondary pulls its sync source's optime
and, when the source's last write differs from its own, a full copy of users and data. Elections follow a
simplified, deterministic rule set (see the package docstring in __init__.py).
"""

import collections
import contextlib
import copy
import datetime
import os
import random
import socket
import threading
import time

import bson
from bson import json_util
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from .wire import PeerClient, PeerError, split_host

STATE_FILE = "simulator-state.json"
SIMULATOR_NAME = "apiplatform.ha replica-set simulator (not MongoDB)"

STARTUP, PRIMARY, SECONDARY, RECOVERING, STARTUP2, UNKNOWN, ARBITER, DOWN, ROLLBACK, REMOVED = (
    0,
    1,
    2,
    3,
    5,
    6,
    7,
    8,
    9,
    10,
)
STATE_STR = {
    STARTUP: "STARTUP",
    PRIMARY: "PRIMARY",
    SECONDARY: "SECONDARY",
    RECOVERING: "RECOVERING",
    STARTUP2: "STARTUP2",
    UNKNOWN: "UNKNOWN",
    ARBITER: "ARBITER",
    DOWN: "(not reachable/healthy)",
    ROLLBACK: "ROLLBACK",
    REMOVED: "REMOVED",
}
NULL_TS = Timestamp(0, 0)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class CommandError(Exception):
    def __init__(self, code, code_name, errmsg, **extra):
        super().__init__(errmsg)
        self.code = code
        self.code_name = code_name
        self.errmsg = errmsg
        self.extra = extra

    def reply(self):
        doc = {"ok": 0, "errmsg": self.errmsg, "code": self.code, "codeName": self.code_name}
        doc.update(self.extra)
        return doc


def utcnow():
    return datetime.datetime.now(datetime.UTC)


def ts_date(ts):
    return datetime.datetime.fromtimestamp(ts.time, datetime.UTC) if ts else EPOCH


def optime_doc(op):
    if op is None:
        return {"ts": NULL_TS, "t": Int64(-1)}
    return {"ts": op[0], "t": Int64(op[1])}


def optime_from(doc):
    if not doc or not isinstance(doc, dict) or doc.get("ts") in (None, NULL_TS):
        return None
    return (doc["ts"], int(doc.get("t", -1)))


def okey(op):
    """Optime order: term first, then timestamp (as MongoDB's protocol version 1)."""
    if op is None:
        return (-2, 0, 0)
    return (op[1], op[0].time, op[0].inc)


def cfg_key(cfg):
    if not cfg:
        return (-1, -1)
    return (int(cfg.get("version", 0)), int(cfg.get("term", -1)))


def majority(n):
    return n // 2 + 1


def member_votes(m):
    return int(m.get("votes", 1))


def member_electable_by_config(m):
    return (
        member_votes(m) > 0
        and float(m.get("priority", 1)) > 0
        and not m.get("hidden")
        and not m.get("arbiterOnly")
        and not m.get("secondaryDelaySecs", m.get("slaveDelay", 0))
    )


def data_to_lists(data):
    return {db: {coll: list(docs.values()) for coll, docs in colls.items()} for db, colls in data.items()}


def id_key(value):
    return bson.encode({"_id": value})


def data_from_lists(data):
    out = {}
    for db, colls in (data or {}).items():
        out[db] = {}
        for coll, docs in colls.items():
            out[db][coll] = collections.OrderedDict((id_key(d.get("_id")), d) for d in docs)
    return out


class Peer:
    def __init__(self, host, member):
        self.host = host
        self.member = member
        self.last_ok = None  # monotonic time of the last sign of life
        self.last_attempt = None  # datetime of the last heartbeat sent
        self.last_recv = None  # datetime of the last heartbeat received from it
        self.last_error = ""
        self.ping_ms = 0
        self.state = UNKNOWN
        self.optime = None
        self.term = -1
        self.config_key = (-1, -1)
        self.electable = False
        self.message = ""
        self.election_time = None
        self.election_id = None
        self.uptime = 0
        self.sync_source = ""
        self.has_config = False


class PeerMonitor(threading.Thread):
    """Sends replSetHeartbeat to one peer every heartbeat interval."""

    def __init__(self, member, host):
        super().__init__(name=f"heartbeat-{host}", daemon=True)
        self.member = member
        self.host = host
        self.stopped = threading.Event()
        self.wake = threading.Event()
        self.client = PeerClient(host)

    def stop(self):
        self.stopped.set()
        self.wake.set()

    def run(self):
        m = self.member
        while not self.stopped.is_set():
            self.wake.clear()
            doc = m.heartbeat_request()
            started = time.monotonic()
            with m.lock:
                p = m.peers.get(self.host)
                if p is not None:
                    p.last_attempt = utcnow()
            try:
                reply = self.client.command(doc, timeout=m.peer_timeout)
            except PeerError as exc:
                m.on_heartbeat_failure(self.host, str(exc))
            else:
                if not self.stopped.is_set():
                    m.on_heartbeat_reply(self.host, reply, time.monotonic() - started, self.client)
            self.wake.wait(m.s.heartbeat_interval)
        self.client.close()


class Member:
    def __init__(self, settings, log):
        self.s = settings
        self.log = log
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.instance_id = ObjectId()
        self.topology_counter = 0
        self._fingerprint = None
        self.started_mono = time.monotonic()
        self.started_wall = utcnow()
        self.state_path = os.path.join(settings.db_path, STATE_FILE)
        self.tolerance = settings.noop_interval + 2 * settings.heartbeat_interval + 1
        self.peer_timeout = max(0.5, min(3.0, settings.heartbeat_interval))
        self.tick_interval = max(0.05, min(0.25, settings.heartbeat_interval / 2))

        # persisted
        self.config = None
        self.term = 0
        self.optime = None
        self.first_ts = None
        self.last_write = None
        self.users = {}
        self.data = {}
        self.last_vote = {"term": -1, "candidate": None}
        self._load()

        # runtime
        self.primary = False
        self.stepping_down = False
        self.frozen_until = 0.0
        self.stepdown_until = 0.0
        self.apply_delay = 0.0
        self.stale_check_pending = self.optime is not None
        self.stale_message = ""
        self.initial_sync_started = None
        self.initial_sync_snapshot = None
        self.queue = collections.deque()
        self.peers = {}
        self.monitors = {}
        self.me = None
        self._self_cache = {}
        self.commit_point = None
        self.sync_source = ""
        self.last_noop = 0.0
        self.next_election_try = 0.0
        self.config_installed_mono = time.monotonic()
        self.election_time = None
        self.election_id = None
        self.stopping = threading.Event()
        self.dirty = False
        self.pull_client = {}
        if self.config is not None:
            with self.lock:
                self._install(self.config, persist=False, reason="loaded from " + STATE_FILE)

    # ------------------------------------------------------------------ persistence
    def _load(self):
        if not os.path.exists(self.state_path):
            self.log(f"no {STATE_FILE} in {self.s.db_path}: starting as an empty member")
            return
        with open(self.state_path, encoding="utf-8") as fh:
            doc = json_util.loads(fh.read())
        self.config = doc.get("config")
        self.term = int(doc.get("term", 0))
        self.optime = optime_from(doc.get("optime"))
        self.first_ts = doc.get("firstTs")
        self.last_write = optime_from(doc.get("lastWrite"))
        self.users = doc.get("users") or {}
        self.data = data_from_lists(doc.get("data"))
        self.last_vote = doc.get("lastVote") or {"term": -1, "candidate": None}
        self.log(
            f"loaded {STATE_FILE}: config version {cfg_key(self.config)[0]}, term {self.term}, "
            f"last applied optime {optime_doc(self.optime)['ts']}"
        )

    def save(self):
        doc = {
            "simulator": SIMULATOR_NAME,
            "format": 1,
            "config": self.config,
            "term": self.term,
            "optime": optime_doc(self.optime) if self.optime else None,
            "firstTs": self.first_ts,
            "lastWrite": optime_doc(self.last_write) if self.last_write else None,
            "users": self.users,
            "data": data_to_lists(self.data),
            "lastVote": self.last_vote,
        }
        text = json_util.dumps(doc, json_options=json_util.CANONICAL_JSON_OPTIONS)
        tmp = f"{self.state_path}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self.state_path)
        self.dirty = False

    # ------------------------------------------------------------------ identity
    def default_host(self):
        if all(ip in ("127.0.0.1", "localhost", "::1") for ip in self.s.bind_ips):
            return f"localhost:{self.s.port}"
        return f"{socket.gethostname()}:{self.s.port}"

    def my_host(self):
        return self.me["host"] if self.me else self.default_host()

    def is_self(self, host):
        if host in self._self_cache:
            return self._self_cache[host]
        try:
            name, port = split_host(host)
        except ValueError:
            return False
        result = False
        if port == self.s.port:
            loopback = {"localhost", "127.0.0.1", "::1"}
            wildcard = "0.0.0.0" in self.s.bind_ips or "::" in self.s.bind_ips
            if name in loopback:
                result = wildcard or any(ip in loopback or ip.startswith("127.") for ip in self.s.bind_ips)
            elif name in self.s.bind_ips or name in (socket.gethostname(), socket.getfqdn()):
                result = True
            else:
                result = self._resolves_locally(name)
        self._self_cache[host] = result
        return result

    def _resolves_locally(self, name):
        try:
            addrs = {ai[4][0] for ai in socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)}
        except OSError:
            return False
        bind_addrs = set()
        for ip in self.s.bind_ips:
            with contextlib.suppress(OSError):
                bind_addrs |= {ai[4][0] for ai in socket.getaddrinfo(ip, None, proto=socket.IPPROTO_TCP)}
        if bind_addrs & addrs:
            return True
        if "0.0.0.0" in self.s.bind_ips or "::" in self.s.bind_ips:
            for addr in addrs:
                fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
                with contextlib.suppress(OSError), socket.socket(fam, socket.SOCK_STREAM) as sock:
                    sock.bind((addr, 0))
                    return True
        return False

    # ------------------------------------------------------------------ config
    def _find_me(self, cfg):
        for m in cfg.get("members", []):
            if self.is_self(m["host"]):
                return m
        return None

    def _install(self, cfg, persist=True, reason=""):
        """Install cfg (caller holds the lock and has checked it is newer)."""
        self.config = cfg
        self.me = self._find_me(cfg)
        self.config_installed_mono = time.monotonic()
        if cfg_key(cfg)[1] > self.term:
            self.term = cfg_key(cfg)[1]
        if self.me is None:
            if self.primary:
                self._step_down_locked("removed from the replica set config")
            self.log(f"config version {cfg_key(cfg)[0]} ({reason}) does not include this node: state REMOVED")
        elif self.me.get("arbiterOnly"):
            self.primary = False
            self.log(f"installed config version {cfg_key(cfg)[0]} ({reason}): this node is an ARBITER")
        else:
            self.log(f"installed config version {cfg_key(cfg)[0]} term {cfg_key(cfg)[1]} ({reason})")
            if self.optime is None and self.initial_sync_started is None:
                self.initial_sync_started = time.monotonic()
                self.log("no data: starting initial sync (STARTUP2)")
        self._rebuild_peers()
        if persist:
            self.save()
        self._touch()

    def _rebuild_peers(self):
        wanted = {}
        if self.config and self.me is not None:
            for m in self.config["members"]:
                if m is not self.me:
                    wanted[m["host"]] = m
        for host in list(self.peers):
            if host not in wanted:
                del self.peers[host]
                mon = self.monitors.pop(host, None)
                if mon:
                    mon.stop()
        for host, m in wanted.items():
            if host in self.peers:
                self.peers[host].member = m
            else:
                self.peers[host] = Peer(host, m)
        if not self.stopping.is_set() and self.started:
            for host in wanted:
                if host not in self.monitors:
                    mon = PeerMonitor(self, host)
                    self.monitors[host] = mon
                    mon.start()

    started = False

    def start(self):
        with self.lock:
            self.started = True
            self._rebuild_peers()
        threading.Thread(target=self._loop, name="replication", daemon=True).start()

    def stop(self):
        self.stopping.set()
        with self.lock:
            for mon in self.monitors.values():
                mon.stop()
            if self.dirty:
                self.save()

    def wake_heartbeats(self):
        for mon in list(self.monitors.values()):
            mon.wake.set()

    # ------------------------------------------------------------------ views (lock held)
    def state(self):
        if not self.s.repl_set_name:
            return PRIMARY
        if self.config is None:
            return STARTUP
        if self.me is None:
            return REMOVED
        if self.me.get("arbiterOnly"):
            return ARBITER
        if self.primary:
            return PRIMARY
        if self.stale_message:
            return RECOVERING
        if self.optime is None or self.initial_sync_started is not None:
            return STARTUP2
        return SECONDARY

    def writable(self):
        return self.state() == PRIMARY and not self.stepping_down

    def reachable(self, p, now=None):
        now = time.monotonic() if now is None else now
        return p.last_ok is not None and now - p.last_ok < self.s.election_timeout

    def peer_known(self, p, now):
        if self.reachable(p, now):
            return True
        return now - max(self.started_mono, self.config_installed_mono) >= self.s.election_timeout

    def peer_state(self, p, now):
        if self.reachable(p, now):
            return p.state
        if p.last_ok is None and not self.peer_known(p, now):
            return UNKNOWN
        return DOWN

    def voters(self):
        return [m for m in self.config["members"] if member_votes(m) > 0] if self.config else []

    def majority_vote_count(self):
        return majority(len(self.voters()))

    def write_majority_count(self):
        data_voters = [m for m in self.voters() if not m.get("arbiterOnly")]
        return min(self.majority_vote_count(), len(data_voters))

    def sees_majority(self, now):
        count = 0
        for m in self.voters():
            if m is self.me or (m["host"] in self.peers and self.reachable(self.peers[m["host"]], now)):
                count += 1
        return count >= self.majority_vote_count()

    def max_seen_ts(self, now):
        best = self.optime[0].time if self.optime else 0
        for p in self.peers.values():
            if self.reachable(p, now) and p.optime:
                best = max(best, p.optime[0].time)
        return best

    def caught_up(self, op, now):
        return op is not None and op[0].time >= self.max_seen_ts(now) - self.tolerance

    def self_electable(self, now):
        return (
            self.me is not None
            and member_electable_by_config(self.me)
            and self.state() in (PRIMARY, SECONDARY)
            and not self.stale_check_pending
            and not self.stepping_down
            and now >= self.frozen_until
            and now >= self.stepdown_until
            and self.caught_up(self.optime, now)
        )

    def self_reports_electable(self, now):
        return (
            self.me is not None
            and self.state() in (PRIMARY, SECONDARY)
            and not self.stale_check_pending
            and not self.stepping_down
            and now >= self.frozen_until
            and now >= self.stepdown_until
        )

    def peer_electable(self, p, now):
        return (
            self.reachable(p, now)
            and member_electable_by_config(p.member)
            and p.state in (PRIMARY, SECONDARY)
            and p.electable
            and self.caught_up(p.optime, now)
        )

    def best_electable(self, now):
        cands = []
        if self.self_electable(now):
            cands.append((self.me, self.optime))
        for p in self.peers.values():
            if self.peer_electable(p, now):
                cands.append((p.member, p.optime))
        if not cands:
            return None
        cands.sort(key=lambda c: (-float(c[0].get("priority", 1)), tuple(-x for x in okey(c[1])), int(c[0]["_id"])))
        return cands[0][0]

    def primary_host(self, now):
        if self.state() == PRIMARY:
            return self.my_host()
        best = None
        for p in self.peers.values():
            if self.reachable(p, now) and p.state == PRIMARY and (best is None or p.term > best.term):
                best = p
        return best.host if best else None

    def oplog_oldest(self):
        if self.optime is None:
            return NULL_TS
        cut = int(time.time() - self.s.oplog_window)
        first = self.first_ts or self.optime[0]
        oldest = first if first.time >= cut else Timestamp(cut, 0)
        return min(oldest, self.optime[0], key=lambda t: (t.time, t.inc))

    def config_committed(self):
        mine = cfg_key(self.config)
        acked = 0
        for m in self.voters():
            if m is self.me:
                acked += 1
            else:
                p = self.peers.get(m["host"])
                if p is not None and p.config_key == mine:
                    acked += 1
        return acked >= self.majority_vote_count()

    def _touch(self):
        now = time.monotonic()
        hosts = sorted(m["host"] for m in self.config["members"]) if self.config else []
        fp = (self.state(), cfg_key(self.config), self.primary_host(now), str(self.election_id), tuple(hosts))
        fp += (self.stepping_down,)
        if fp != self._fingerprint:
            self._fingerprint = fp
            self.topology_counter += 1
            self.cond.notify_all()

    # ------------------------------------------------------------------ optimes and writes (lock held)
    def _next_optime(self):
        now = int(time.time())
        last = self.optime[0] if self.optime else NULL_TS
        ts = Timestamp(now, 1) if now > last.time else Timestamp(last.time, last.inc + 1)
        self.optime = (ts, self.term)
        return self.optime

    def record_write(self):
        op = self._next_optime()
        self.last_write = op
        self.last_noop = time.monotonic()
        self.save()
        self.cond.notify_all()
        return op

    def _update_commit_point(self):
        ops = []
        for m in self.voters():
            if m.get("arbiterOnly"):
                continue
            if m is self.me:
                ops.append(self.optime)
            else:
                p = self.peers.get(m["host"])
                if p is not None and p.optime is not None:
                    ops.append(p.optime)
        need = self.write_majority_count()
        ops = sorted((o for o in ops if o is not None), key=okey, reverse=True)
        if need and len(ops) >= need:
            self.commit_point = ops[need - 1]

    def acked_count(self, op, majority_only):
        count = 0
        for m in self.config["members"] if self.config else []:
            if m.get("arbiterOnly") or (majority_only and member_votes(m) == 0):
                continue
            if m is self.me:
                mop = self.optime
            else:
                p = self.peers.get(m["host"])
                mop = p.optime if p is not None else None
            if mop is not None and okey(mop) >= okey(op):
                count += 1
        return count

    def implicit_default_w(self):
        if not self.config:
            return 1
        arbiters = [m for m in self.config["members"] if m.get("arbiterOnly")]
        non_arbiters = [m for m in self.voters() if not m.get("arbiterOnly")]
        if arbiters and len(non_arbiters) <= self.majority_vote_count():
            return 1
        return "majority"

    def wait_write_concern(self, op, wc):
        """None when satisfied, else a writeConcernError document."""
        wc = dict(wc or {})
        with self.cond:
            w = wc.get("w", self.implicit_default_w())
            if op is None or w in (0, 1) or not self.config:
                return None
            if w == "majority":
                need, majority_only = self.write_majority_count(), True
            elif isinstance(w, int | float):
                need, majority_only = int(w), False
                data_members = [m for m in self.config["members"] if not m.get("arbiterOnly")]
                if need > len(data_members):
                    return {
                        "code": 100,
                        "codeName": "UnsatisfiableWriteConcern",
                        "errmsg": "Not enough data-bearing nodes",
                    }
            else:
                return {
                    "code": 79,
                    "codeName": "UnknownReplWriteConcern",
                    "errmsg": f"No write concern mode named '{w}' found in replica set configuration",
                }
            timeout_ms = wc.get("wtimeout") or wc.get("wtimeoutMS") or 10000
            deadline = time.monotonic() + timeout_ms / 1000.0
            while True:
                if self.acked_count(op, majority_only) >= need:
                    return None
                if self.optime is not None and okey(self.optime) < okey(op) and not self.primary:
                    return {
                        "code": 189,
                        "codeName": "PrimarySteppedDown",
                        "errmsg": "Primary stepped down while waiting for replication",
                    }
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return {
                        "code": 64,
                        "codeName": "WriteConcernFailed",
                        "errmsg": "waiting for replication timed out",
                        "errInfo": {"wtimeout": True, "writeConcern": {"w": w, "wtimeout": int(timeout_ms)}},
                    }
                self.cond.wait(min(remaining, 0.2))

    # ------------------------------------------------------------------ role changes (lock held)
    def _become_primary(self, term):
        self.primary = True
        self.stepping_down = False
        self.queue.clear()
        self.election_time = Timestamp(int(time.time()), 1)
        self.election_id = ObjectId(f"7fffffff{term:016x}")
        if self.config is not None and cfg_key(self.config)[1] < term:
            self.config = dict(self.config, term=term)
            self.me = self._find_me(self.config)
            self._rebuild_peers()
        self._next_optime()
        self.last_noop = time.monotonic()
        self.save()
        self.log(f"Election succeeded, assuming primary role in term {term}")
        self._touch()
        self.wake_heartbeats()

    def _step_down_locked(self, why, cooldown=0.0):
        if not self.primary:
            return
        self.primary = False
        self.stepping_down = False
        self.election_time = None
        if cooldown:
            self.stepdown_until = time.monotonic() + cooldown
        self.log(f"stepping down from primary: {why}")
        self.save()
        self._touch()
        self.wake_heartbeats()

    def adopt_term(self, term, why):
        if term > self.term:
            self.term = term
            if self.primary:
                self._step_down_locked(f"saw a higher term {term} ({why})")
            self.save()

    # ------------------------------------------------------------------ heartbeats
    def heartbeat_request(self):
        with self.lock:
            now = time.monotonic()
            return {
                "replSetHeartbeat": self.s.repl_set_name,
                "configVersion": cfg_key(self.config)[0],
                "configTerm": cfg_key(self.config)[1],
                "from": self.my_host(),
                "fromId": int(self.me["_id"]) if self.me else -1,
                "term": Int64(self.term),
                "state": self.state(),
                "optime": optime_doc(self.optime),
                "electable": self.self_reports_electable(now),
                "infoMessage": self.stale_message,
            }

    def heartbeat_reply(self, now):
        st = self.state()
        doc = {
            "ok": 1,
            "set": self.s.repl_set_name,
            "state": st,
            "stateStr": STATE_STR[st],
            "term": Int64(self.term),
            "optime": optime_doc(self.optime),
            "durableOpTime": optime_doc(self.optime),
            "electable": self.self_reports_electable(now),
            "configVersion": cfg_key(self.config)[0],
            "configTerm": cfg_key(self.config)[1],
            "hasConfig": self.config is not None,
            "oplogOldest": self.oplog_oldest(),
            "uptime": int(now - self.started_mono),
            "syncingTo": self.sync_source,
            "infoMessage": self.stale_message,
            "instanceId": self.instance_id,
            "simulator": SIMULATOR_NAME,
        }
        if self.primary:
            doc["electionTime"] = self.election_time
            doc["electionId"] = self.election_id
        return doc

    def _absorb(self, p, doc, now):
        p.last_ok = now
        p.state = int(doc.get("state", UNKNOWN))
        p.optime = optime_from(doc.get("optime"))
        p.term = int(doc.get("term", -1))
        p.config_key = (int(doc.get("configVersion", -1)), int(doc.get("configTerm", -1)))
        p.electable = bool(doc.get("electable"))
        p.message = doc.get("infoMessage") or ""
        p.has_config = p.config_key[0] >= 0
        if "uptime" in doc:
            p.uptime = int(doc["uptime"])
        if "syncingTo" in doc:
            p.sync_source = doc.get("syncingTo") or ""
        p.election_time = doc.get("electionTime")
        p.election_id = doc.get("electionId")
        if p.term > self.term:
            self.adopt_term(p.term, f"heartbeat with {p.host}")

    def on_heartbeat_request(self, doc):
        """Handle an inbound replSetHeartbeat (also used as the reconfig/initiate quorum probe)."""
        with self.lock:
            if not self.s.repl_set_name:
                raise CommandError(76, "NoReplicationEnabled", "not running with --replSet")
            if doc["replSetHeartbeat"] != self.s.repl_set_name:
                raise CommandError(
                    93,
                    "InvalidReplicaSetConfig",
                    f"replica set names do not match, ours: {self.s.repl_set_name}; remote node's: "
                    f"{doc['replSetHeartbeat']}",
                )
            now = time.monotonic()
            sender = doc.get("from")
            p = self.peers.get(sender)
            if p is not None and not doc.get("probe"):
                p.last_recv = utcnow()
                self._absorb(p, doc, now)
                self._touch()
            elif int(doc.get("term", -1)) > self.term:
                self.adopt_term(int(doc["term"]), f"heartbeat from {sender}")
            reply = self.heartbeat_reply(now)
            their = (int(doc.get("configVersion", -1)), int(doc.get("configTerm", -1)))
            if self.config is not None and self.me is not None and their < cfg_key(self.config):
                reply["config"] = self.config
            return reply

    def on_heartbeat_reply(self, host, reply, rtt, client):
        push = None
        with self.lock:
            p = self.peers.get(host)
            if p is None:
                return
            now = time.monotonic()
            if not reply.get("ok"):
                p.last_error = f"{reply.get('codeName', 'Error')}: {reply.get('errmsg', '')}"
                return
            p.ping_ms = int(rtt * 1000)
            p.last_error = ""
            self._absorb(p, reply, now)
            cfg = reply.get("config")
            if cfg and cfg_key(cfg) > cfg_key(self.config) and cfg.get("_id") == self.s.repl_set_name:
                self._install(cfg, reason=f"from heartbeat with {host}")
            elif self.config is not None and self.me is not None and p.config_key < cfg_key(self.config):
                push = copy.deepcopy(self.config)
            self._update_commit_point()
            self._touch()
            self.cond.notify_all()
        if push is not None:
            try:
                res = client.command({"simulatorInstallConfig": push}, timeout=self.peer_timeout)
                if res.get("ok") and res.get("installed"):
                    self.log(f"sent config version {cfg_key(push)[0]} to {host}")
            except PeerError:
                pass

    def on_heartbeat_failure(self, host, message):
        with self.lock:
            p = self.peers.get(host)
            if p is None:
                return
            msg = f"Error connecting to {host} :: caused by :: {message}"
            if p.last_error != msg and self.reachable(p):
                self.log(f"heartbeat to {host} failed: {message}")
            p.last_error = msg
            self._touch()

    def on_install_config(self, cfg):
        with self.lock:
            if cfg.get("_id") != self.s.repl_set_name:
                raise CommandError(93, "InvalidReplicaSetConfig", "replica set names do not match")
            if cfg_key(cfg) <= cfg_key(self.config):
                return {"ok": 1, "installed": False}
            self._install(cfg, reason="sent by a member")
            return {"ok": 1, "installed": True}

    # ------------------------------------------------------------------ votes
    def on_request_vote(self, doc):
        with self.lock:
            now = time.monotonic()
            cand = doc.get("candidate")
            term = int(doc["term"])

            def no(reason):
                return {"ok": 1, "voteGranted": False, "term": Int64(self.term), "reason": reason}

            if self.config is None or self.me is None or doc.get("setName") != self.s.repl_set_name:
                return no("not a member of this replica set config")
            if member_votes(self.me) == 0:
                return no("non-voting member")
            if self.primary:
                return no("already primary")
            for p in self.peers.values():
                if p.host != cand and self.reachable(p, now) and p.state == PRIMARY:
                    return no(f"can see a healthy primary ({p.host})")
            if term < self.term:
                return no(f"candidate's term ({term}) is lower than mine ({self.term})")
            if (int(doc.get("configVersion", -1)), int(doc.get("configTerm", -1))) < cfg_key(self.config):
                return no("candidate's config is older than mine")
            if self.last_vote.get("term", -1) >= term and self.last_vote.get("candidate") != cand:
                return no(f"already voted for another candidate in term {term}")
            cand_op = optime_from(doc.get("optime"))
            if self.optime is not None and (cand_op is None or cand_op[0].time < self.optime[0].time - self.tolerance):
                return no("candidate's data is staler than mine")
            self.adopt_term(term, f"vote request from {cand}")
            self.last_vote = {"term": term, "candidate": cand}
            self.save()
            return {"ok": 1, "voteGranted": True, "term": Int64(self.term), "reason": ""}

    def _run_election(self):
        with self.lock:
            term = self.term + 1
            self.term = term
            me = self.my_host()
            self.last_vote = {"term": term, "candidate": me}
            self.save()
            request = {
                "simulatorRequestVote": 1,
                "setName": self.s.repl_set_name,
                "term": Int64(term),
                "candidate": me,
                "candidateId": int(self.me["_id"]),
                "optime": optime_doc(self.optime),
                "configVersion": cfg_key(self.config)[0],
                "configTerm": cfg_key(self.config)[1],
            }
            targets = [m["host"] for m in self.voters() if m is not self.me]
            needed = self.majority_vote_count()
            ckey = cfg_key(self.config)
        self.log(f"running for election in term {term}")
        results = {}

        def ask(host):
            client = PeerClient(host)
            try:
                results[host] = client.command(request, timeout=self.peer_timeout)
            except PeerError as exc:
                results[host] = {"voteGranted": False, "reason": str(exc)}
            finally:
                client.close()

        threads = [threading.Thread(target=ask, args=(h,), daemon=True) for h in targets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.peer_timeout + 0.5)
        granted = 1 + sum(1 for r in list(results.values()) if r.get("voteGranted"))
        with self.lock:
            if self.term != term or cfg_key(self.config) != ckey or self.state() != SECONDARY:
                self.log(f"election in term {term} abandoned (term or config changed)")
                return
            if granted >= needed:
                self._become_primary(term)
            else:
                reasons = "; ".join(f"{h}: {r.get('reason', '')}" for h, r in sorted(results.items()))
                self.log(f"election in term {term} lost: {granted} of {needed} votes ({reasons})")
                self.next_election_try = time.monotonic() + random.uniform(0.5, 1.5) * self.s.heartbeat_interval
                for r in results.values():
                    if int(r.get("term", -1)) > self.term:
                        self.adopt_term(int(r["term"]), "vote reply")

    # ------------------------------------------------------------------ pulls (replication)
    def on_pull(self, doc):
        with self.lock:
            now = time.monotonic()
            p = self.peers.get(doc.get("from"))
            if p is not None:
                op = optime_from(doc.get("optime"))
                if op is not None:
                    p.optime = op
                p.last_ok = now
                self._update_commit_point()
                self.cond.notify_all()
            st = self.state()
            if st not in (PRIMARY, SECONDARY) or self.optime is None or self.stale_check_pending:
                raise CommandError(13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state")
            reply = {
                "ok": 1,
                "optime": optime_doc(self.optime),
                "lastWrite": optime_doc(self.last_write),
                "term": Int64(self.term),
                "oplogOldest": self.oplog_oldest(),
                "commitPoint": optime_doc(self.commit_point),
                "state": st,
            }
            if optime_from(doc.get("lastWrite")) != self.last_write or doc.get("full"):
                reply["snapshot"] = {"data": data_to_lists(self.data), "users": dict(self.users)}
            return reply

    def _choose_sync_source(self, now):
        best = None
        for p in self.peers.values():
            if not self.reachable(p, now) or p.member.get("arbiterOnly") or p.optime is None:
                continue
            if p.state == PRIMARY:
                return p.host
            ahead = self.optime is None or okey(p.optime) > okey(self.optime)
            if p.state == SECONDARY and ahead and (best is None or okey(p.optime) > okey(best.optime)):
                best = p
        return best.host if best else ""

    def _pull(self, host):
        with self.lock:
            latest = self.queue[-1] if self.queue else None
            want_full = self.initial_sync_started is not None
            req = {
                "simulatorPull": 1,
                "setName": self.s.repl_set_name,
                "from": self.my_host(),
                "optime": optime_doc(self.optime),
                "lastWrite": optime_doc(latest[2] if latest else self.last_write),
                "full": want_full and self.initial_sync_snapshot is None,
            }
        client = self.pull_client.get(host)
        if client is None:
            client = self.pull_client[host] = PeerClient(host)
        try:
            reply = client.command(req, timeout=self.peer_timeout)
        except PeerError:
            return False
        if not reply.get("ok"):
            return False
        with self.lock:
            return self._absorb_pull(host, reply)

    def _absorb_pull(self, host, reply):
        now = time.monotonic()
        if int(reply.get("term", -1)) > self.term:
            self.adopt_term(int(reply["term"]), f"sync source {host}")
        if self.primary or self.state() in (ARBITER, REMOVED, STARTUP) or self.stale_message:
            return False
        src_op = optime_from(reply.get("optime"))
        src_lw = optime_from(reply.get("lastWrite"))
        oldest = reply.get("oplogOldest") or NULL_TS
        cp = optime_from(reply.get("commitPoint"))
        if cp is not None:
            self.commit_point = cp
        snapshot = reply.get("snapshot")
        if self.initial_sync_started is not None:
            if snapshot is not None:
                self.initial_sync_snapshot = (src_op, src_lw, snapshot)
            if now - self.initial_sync_started >= self.s.initial_sync_seconds and self.initial_sync_snapshot:
                op, lw, snap = self.initial_sync_snapshot
                self.data = data_from_lists(snap.get("data"))
                self.users = snap.get("users") or {}
                self.optime, self.last_write, self.first_ts = op, lw, op[0]
                self.initial_sync_started = None
                self.initial_sync_snapshot = None
                self.stale_check_pending = False
                self.log(f"initial sync from {host} done at optime {op[0]}: state SECONDARY")
                self.save()
                self._touch()
                return True
            return False
        if self.stale_check_pending:
            if self.optime is not None and (self.optime[0].time, self.optime[0].inc) < (oldest.time, oldest.inc):
                self.stale_message = (
                    f"error RS102 too stale to catch up: We are too stale to use {host} as a sync source. "
                    f"Our last applied optime {self.optime[0]} is before their earliest oplog entry {oldest}; "
                    "wipe this member's dbPath and restart it to run an initial sync"
                )
                self.log(self.stale_message + " (state RECOVERING)")
                self._touch()
                return False
            self.stale_check_pending = False
            self.log(f"caught up check passed against sync source {host}")
        if src_op is None:
            return False
        latest = self.queue[-1] if self.queue else None
        base = latest[1] if latest else self.optime
        if okey(src_op) > okey(base):
            if snapshot is None:
                if latest and latest[2] == src_lw:
                    snapshot = latest[3]
                elif src_lw == self.last_write:
                    snapshot = None
                else:
                    return False
            self.queue.append((now, src_op, src_lw, snapshot))
        return self._apply_due(now)

    def _apply_due(self, now):
        delay = max(self.apply_delay, float((self.me or {}).get("secondaryDelaySecs", 0) or 0))
        due = None
        while self.queue and self.queue[0][0] <= now - delay:
            due = self.queue.popleft()
        if due is None:
            return False
        _t, op, lw, snap = due
        if lw != self.last_write and snap is not None:
            self.data = data_from_lists(snap.get("data"))
            self.users = snap.get("users") or {}
            self.last_write = lw
            self.optime = op
            self.save()
        else:
            self.optime = op
            self.dirty = True
        self.cond.notify_all()
        return True

    # ------------------------------------------------------------------ main loop
    def _loop(self):
        last_flush = time.monotonic()
        while not self.stopping.is_set():
            try:
                action = self._tick()
                if action and action[0] == "elect":
                    self._run_election()
                elif action and action[0] == "pull" and self._pull(action[1]):
                    self._pull(action[1])
                now = time.monotonic()
                if self.dirty and now - last_flush > 0.5:
                    with self.lock:
                        if self.dirty:
                            self.save()
                    last_flush = now
            except Exception as exc:  # keep the member alive, log the bug
                import traceback

                self.log(f"replication loop error: {exc!r} {traceback.format_exc()}")
            self.stopping.wait(self.tick_interval)

    def _tick(self):
        with self.lock:
            now = time.monotonic()
            self._touch()
            if self.config is None or self.me is None or self.me.get("arbiterOnly"):
                self.sync_source = ""
                return None
            if self.stale_check_pending and not self.primary:
                known = all(self.peer_known(p, now) for p in self.peers.values())
                ahead = [
                    p for p in self.peers.values() if self.reachable(p, now) and okey(p.optime) > okey(self.optime)
                ]
                sources = [p for p in ahead if p.state in (PRIMARY, SECONDARY)]
                if known and not sources:
                    self.stale_check_pending = False
                    self.log("no reachable member is ahead of this node: resuming as SECONDARY")
            if self.primary:
                self._update_commit_point()
                best = self.best_electable(now)
                higher = [
                    p
                    for p in self.peers.values()
                    if self.reachable(p, now) and p.state == PRIMARY and p.term > self.term
                ]
                if not self.sees_majority(now):
                    self._step_down_locked("can't see a majority of the set")
                elif higher:
                    self._step_down_locked(f"{higher[0].host} is primary in a higher term")
                elif not member_electable_by_config(self.me):
                    self._step_down_locked("no longer electable in the current config")
                elif (
                    best is not None
                    and best is not self.me
                    and float(best.get("priority", 1)) > float(self.me.get("priority", 1))
                ):
                    self._step_down_locked(f"priority takeover by {best['host']}", cooldown=self.s.heartbeat_interval)
                elif not self.stepping_down and now - self.last_noop >= self.s.noop_interval:
                    self._next_optime()
                    self.last_noop = now
                    self.dirty = True
                    self.cond.notify_all()
                self.sync_source = ""
                return None
            st = self.state()
            if st == RECOVERING:
                self.sync_source = ""
                return None
            if (
                st == SECONDARY
                and now >= self.next_election_try
                and self.self_electable(now)
                and self.sees_majority(now)
                and all(self.peer_known(p, now) for p in self.peers.values())
                and not any(self.reachable(p, now) and p.state == PRIMARY for p in self.peers.values())
                and self.best_electable(now) is self.me
            ):
                return ("elect",)
            source = self._choose_sync_source(now)
            self.sync_source = source
            if self.queue:
                self._apply_due(now)
            if source:
                return ("pull", source)
            return None
