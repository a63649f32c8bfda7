"""Command handlers of the apiplatform.ha replica-set simulator (not MongoDB).

Reply shapes, error codes and codeNames follow MongoDB's documentation so that pymongo (3.11 and 4.x) parses them.
"""

import collections
import copy
import datetime
import ipaddress
import os
import ssl
import sys
import threading
import time

import mockupdb
from bson.binary import Binary
from bson.int64 import Int64
from bson.objectid import ObjectId
from bson.timestamp import Timestamp

from . import query, scram
from .member import (
    ARBITER,
    PRIMARY,
    REMOVED,
    SECONDARY,
    SIMULATOR_NAME,
    STARTUP,
    STATE_STR,
    CommandError,
    cfg_key,
    id_key,
    majority,
    member_electable_by_config,
    member_votes,
    okey,
    optime_doc,
    ts_date,
    utcnow,
)
from .wire import PeerClient, PeerError, send_reply

VERSION = "7.0.0"

OPEN_COMMANDS = {
    "hello",
    "isMaster",
    "ismaster",
    "ping",
    "buildInfo",
    "buildinfo",
    "saslStart",
    "saslContinue",
    "replSetHeartbeat",
    "simulatorPull",
    "simulatorRequestVote",
    "simulatorInstallConfig",
    "endSessions",
    "logout",
    "whatsmyuri",
    "connectionStatus",
}
ANY_AUTHENTICATED = {"listDatabases", "killCursors", "getMore", "killAllSessions", "killSessions", "refreshSessions"}
ADMIN_ROLES = {"root", "__system", "clusterAdmin", "userAdminAnyDatabase", "clusterManager"}
READ_COMMANDS = {"find", "count", "distinct", "aggregate", "listCollections", "listIndexes", "dbStats", "collStats"}
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify", "findandmodify", "create", "drop", "createIndexes"}
WRITE_COMMANDS |= {"dropIndexes", "dropDatabase"}
BUILTIN_ROLES = {
    "read",
    "readWrite",
    "dbAdmin",
    "dbOwner",
    "userAdmin",
    "clusterAdmin",
    "clusterManager",
    "clusterMonitor",
    "hostManager",
    "backup",
    "restore",
    "readAnyDatabase",
    "readWriteAnyDatabase",
    "userAdminAnyDatabase",
    "dbAdminAnyDatabase",
    "root",
    "__system",
    "enableSharding",
    "directShardOperations",
    "searchCoordinator",
}


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _is_loopback(addr):
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def _ns_cursor(ns, docs):
    return {"cursor": {"firstBatch": docs, "id": Int64(0), "ns": ns}, "ok": 1}


class Handler:
    def __init__(self, member, settings, log, shutdown):
        self.m = member
        self.s = settings
        self.log = log
        self.shutdown_cb = shutdown
        self.server = None
        self.connection_count = 0
        self.count_lock = threading.Lock()
        self.commands = {
            "hello": self.cmd_hello,
            "isMaster": self.cmd_hello,
            "ismaster": self.cmd_hello,
            "ping": lambda *a: {"ok": 1},
            "buildInfo": self.cmd_build_info,
            "buildinfo": self.cmd_build_info,
            "serverStatus": self.cmd_server_status,
            "hostInfo": self.cmd_host_info,
            "listDatabases": self.cmd_list_databases,
            "endSessions": lambda *a: {"ok": 1},
            "killAllSessions": lambda *a: {"ok": 1},
            "killSessions": lambda *a: {"ok": 1},
            "refreshSessions": lambda *a: {"ok": 1},
            "logout": self.cmd_logout,
            "whatsmyuri": self.cmd_whatsmyuri,
            "connectionStatus": self.cmd_connection_status,
            "getParameter": self.cmd_get_parameter,
            "setParameter": lambda *a: {"was": None, "ok": 1},
            "getCmdLineOpts": self.cmd_get_cmd_line_opts,
            "getDefaultRWConcern": self.cmd_get_default_rw_concern,
            "setDefaultRWConcern": self.cmd_get_default_rw_concern,
            "setFeatureCompatibilityVersion": lambda *a: {"ok": 1},
            "getLog": lambda *a: {"totalLinesWritten": 0, "log": [], "ok": 1},
            "currentOp": lambda *a: {"inprog": [], "ok": 1},
            "killOp": lambda *a: {"info": "attempting to kill op", "ok": 1},
            "fsync": lambda *a: {"numFiles": 1, "ok": 1},
            "replSetResizeOplog": lambda *a: {"ok": 1},
            "shutdown": self.cmd_shutdown,
            "saslStart": self.cmd_sasl_start,
            "saslContinue": self.cmd_sasl_continue,
            "createUser": self.cmd_create_user,
            "updateUser": self.cmd_update_user,
            "dropUser": self.cmd_drop_user,
            "usersInfo": self.cmd_users_info,
            "grantRolesToUser": self.cmd_grant_roles,
            "revokeRolesFromUser": self.cmd_revoke_roles,
            "replSetInitiate": self.cmd_repl_set_initiate,
            "replSetGetConfig": self.cmd_repl_set_get_config,
            "replSetGetStatus": self.cmd_repl_set_get_status,
            "replSetReconfig": self.cmd_repl_set_reconfig,
            "replSetStepDown": self.cmd_repl_set_step_down,
            "replSetFreeze": self.cmd_repl_set_freeze,
            "replSetHeartbeat": lambda doc, *a: self.m.on_heartbeat_request(doc),
            "simulatorPull": lambda doc, *a: self.m.on_pull(doc),
            "simulatorRequestVote": lambda doc, *a: self.m.on_request_vote(doc),
            "simulatorInstallConfig": lambda doc, *a: self.m.on_install_config(doc["simulatorInstallConfig"]),
            "simulatorSetApplyDelay": self.cmd_set_apply_delay,
            "insert": self.cmd_insert,
            "find": self.cmd_find,
            "update": self.cmd_update,
            "delete": self.cmd_delete,
            "findAndModify": self.cmd_find_and_modify,
            "findandmodify": self.cmd_find_and_modify,
            "count": self.cmd_count,
            "distinct": self.cmd_distinct,
            "aggregate": self.cmd_aggregate,
            "getMore": self.cmd_get_more,
            "killCursors": self.cmd_kill_cursors,
            "listCollections": self.cmd_list_collections,
            "listIndexes": self.cmd_list_indexes,
            "create": self.cmd_create,
            "drop": self.cmd_drop,
            "dropDatabase": self.cmd_drop_database,
            "createIndexes": self.cmd_create_indexes,
            "dropIndexes": lambda *a: {"nIndexesWas": 1, "ok": 1},
            "dbStats": self.cmd_db_stats,
        }

    # ------------------------------------------------------------------ dispatch
    def __call__(self, request):
        if not isinstance(request, mockupdb.OpMsg | mockupdb.Command):
            if isinstance(request, mockupdb.OpQuery):
                request.fail("legacy OP_QUERY finds are not implemented by the replica-set simulator", code=5739101)
            return
        conn = self.server_for(request).connection_state(request)
        doc = request.doc
        db = request.namespace or "admin"
        name = next(iter(doc)) if doc else ""
        try:
            fn = self.commands.get(name)
            if fn is None:
                raise CommandError(59, "CommandNotFound", f"no such command: '{name}'")
            if "startTransaction" in doc or "autocommit" in doc:
                raise CommandError(
                    20, "IllegalOperation", "transactions are not implemented by the replica-set simulator"
                )
            self.authorize(name, doc, db, conn)
            reply = fn(doc, db, conn, request)
        except CommandError as exc:
            reply = exc.reply()
        except query.QueryError as exc:
            reply = {"ok": 0, "errmsg": str(exc), "code": exc.code, "codeName": exc.code_name}
        if reply is not None:
            send_reply(request, reply)

    def server_for(self, request):
        return request.server

    # ------------------------------------------------------------------ authorization
    def authorize(self, name, doc, db, conn):
        if not self.s.authorization or name in OPEN_COMMANDS:
            return
        if not conn.users:
            with self.m.lock:
                no_users = not self.m.users
            if no_users and _is_loopback(conn.peer):
                return
            raise CommandError(13, "Unauthorized", f"command {name} requires authentication")
        roles = self.roles_of(conn)
        if any(r in ADMIN_ROLES for r, _db in roles) or name in ANY_AUTHENTICATED:
            return
        if name in READ_COMMANDS or name in WRITE_COMMANDS:
            ok_roles = (
                {"readWrite", "dbOwner"} if name in WRITE_COMMANDS else {"read", "readWrite", "dbOwner", "dbAdmin"}
            )
            any_db = {"readWriteAnyDatabase"} if name in WRITE_COMMANDS else {"readAnyDatabase", "readWriteAnyDatabase"}
            if any((r in ok_roles and rdb == db) or r in any_db for r, rdb in roles):
                return
        if name in ("usersInfo", "updateUser") and any(self._is_self_user(doc, db, u) for u in conn.users):
            return
        monitor_cmds = ("serverStatus", "replSetGetStatus", "replSetGetConfig", "getParameter", "getCmdLineOpts")
        if name in monitor_cmds and any(r in ("clusterMonitor", "clusterManager") for r, _db in roles):
            return
        raise CommandError(13, "Unauthorized", f"not authorized on {db} to execute command {{ {name}: ... }}")

    def _is_self_user(self, doc, db, user):
        target = doc.get(next(iter(doc)))
        if isinstance(target, str):
            return (target, db) == user
        if isinstance(target, dict):
            return (target.get("user"), target.get("db", db)) == user
        return False

    def roles_of(self, conn):
        roles = set()
        with self.m.lock:
            for user, db in conn.users:
                udoc = self.m.users.get(f"{db}.{user}")
                for r in (udoc or {}).get("roles", []):
                    roles.add((r["role"], r["db"]))
        return roles

    # ------------------------------------------------------------------ handshake and server info
    def cmd_hello(self, doc, db, conn, request):
        name = next(iter(doc))
        tv = doc.get("topologyVersion")
        max_await = doc.get("maxAwaitTimeMS")
        m = self.m
        with m.cond:
            if (
                tv is not None
                and max_await is not None
                and tv.get("processId") == m.instance_id
                and int(tv.get("counter", -1)) == m.topology_counter
            ):
                deadline = time.monotonic() + int(max_await) / 1000.0
                while m.topology_counter == int(tv.get("counter", -1)) and not m.stopping.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    m.cond.wait(remaining)
            return self._hello_doc(name, doc, conn)

    def _hello_doc(self, name, doc, conn):
        m = self.m
        now = time.monotonic()
        st = m.state()
        writable = m.writable()
        with self.count_lock:
            self.connection_count += 1
            conn_id = self.connection_count
        reply = {
            "topologyVersion": {"processId": m.instance_id, "counter": Int64(m.topology_counter)},
            ("isWritablePrimary" if name == "hello" else "ismaster"): writable,
            "secondary": st == SECONDARY,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000,
            "localTime": utcnow(),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": conn_id,
            "minWireVersion": 0,
            "maxWireVersion": 21,
            "readOnly": False,
        }
        if doc.get("helloOk"):
            reply["helloOk"] = True
        if "saslSupportedMechs" in doc:
            reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
        if self.s.repl_set_name:
            if m.config is None or m.me is None:
                reply["isreplicaset"] = True
                reply["info"] = "Does not have a valid replica set config"
                if m.me is None and m.config is not None:
                    reply["info"] = "Does not have a valid replica set config (this node was REMOVED from it)"
            else:
                members = m.config["members"]
                reply["hosts"] = [
                    x["host"]
                    for x in members
                    if not x.get("arbiterOnly") and not x.get("hidden") and float(x.get("priority", 1)) > 0
                ]
                passives = [
                    x["host"]
                    for x in members
                    if not x.get("arbiterOnly") and not x.get("hidden") and float(x.get("priority", 1)) == 0
                ]
                if passives:
                    reply["passives"] = passives
                arbiters = [x["host"] for x in members if x.get("arbiterOnly")]
                if arbiters:
                    reply["arbiters"] = arbiters
                reply["setName"] = m.config["_id"]
                reply["setVersion"] = cfg_key(m.config)[0]
                primary = m.primary_host(now)
                if primary:
                    reply["primary"] = primary
                reply["me"] = m.me["host"]
                if st == ARBITER:
                    reply["arbiterOnly"] = True
                if float(m.me.get("priority", 1)) == 0 and st != ARBITER:
                    reply["passive"] = True
                if m.me.get("hidden"):
                    reply["hidden"] = True
                if m.me.get("tags"):
                    reply["tags"] = m.me["tags"]
                if st == PRIMARY:
                    reply["electionId"] = m.election_id
                if m.optime is not None:
                    reply["lastWrite"] = {
                        "opTime": optime_doc(m.optime),
                        "lastWriteDate": ts_date(m.optime[0]),
                        "majorityOpTime": optime_doc(m.commit_point or m.optime),
                        "majorityWriteDate": ts_date((m.commit_point or m.optime)[0]),
                    }
        reply["simulator"] = SIMULATOR_NAME
        reply["ok"] = 1
        return reply

    def cmd_build_info(self, *a):
        return {
            "version": VERSION,
            "gitVersion": "simulator",
            "versionArray": [7, 0, 0, 0],
            "modules": [],
            "allocator": "system",
            "javascriptEngine": "none",
            "sysInfo": "deprecated",
            "bits": 64,
            "debug": False,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "storageEngines": ["simulator"],
            "openssl": {"running": ssl.OPENSSL_VERSION if self.s.tls_enabled else "disabled"},
            "simulator": SIMULATOR_NAME,
            "ok": 1,
        }

    def cmd_server_status(self, *a):
        m = self.m
        with m.lock:
            now = time.monotonic()
            up = now - m.started_mono
            repl = {
                "setName": self.s.repl_set_name,
                "isWritablePrimary": m.writable(),
                "secondary": m.state() == SECONDARY,
            }
            if m.config is not None:
                repl["hosts"] = [x["host"] for x in m.config["members"] if not x.get("arbiterOnly")]
                repl["setVersion"] = cfg_key(m.config)[0]
                repl["primary"] = m.primary_host(now)
                repl["me"] = m.my_host()
            return {
                "host": m.my_host(),
                "version": VERSION,
                "process": "mongodb-simulator",
                "pid": Int64(os.getpid()),
                "uptime": float(int(up)),
                "uptimeMillis": Int64(int(up * 1000)),
                "uptimeEstimate": Int64(int(up)),
                "localTime": utcnow(),
                "connections": {"current": self.connection_count, "available": 50000},
                "repl": repl,
                "simulator": SIMULATOR_NAME,
                "ok": 1,
            }

    def cmd_host_info(self, *a):
        import socket

        return {
            "system": {
                "currentTime": utcnow(),
                "hostname": socket.gethostname(),
                "cpuAddrSize": 64,
                "numCores": os.cpu_count(),
            },
            "os": {"type": "Linux", "name": "mongodb-simulator"},
            "extra": {},
            "ok": 1,
        }

    def cmd_list_databases(self, doc, *a):
        with self.m.lock:
            names = {"admin", "config", "local"} | {d for d, c in self.m.data.items() if any(c.values())}
        dbs = [{"name": n, "sizeOnDisk": 8192, "empty": False} for n in sorted(names)]
        if doc.get("nameOnly"):
            dbs = [{"name": d["name"]} for d in dbs]
        return {"databases": dbs, "totalSize": 8192 * len(dbs), "totalSizeMb": 0, "ok": 1}

    def cmd_logout(self, doc, db, conn, request):
        conn.users.clear()
        return {"ok": 1}

    def cmd_whatsmyuri(self, doc, db, conn, request):
        try:
            host, port = request._client.getpeername()[:2]
        except OSError:
            host, port = "", 0
        return {"you": f"{host}:{port}", "ok": 1}

    def cmd_connection_status(self, doc, db, conn, request):
        users = [{"user": u, "db": d} for u, d in sorted(conn.users)]
        roles = [{"role": r, "db": d} for r, d in sorted(self.roles_of(conn))]
        return {"authInfo": {"authenticatedUsers": users, "authenticatedUserRoles": roles}, "ok": 1}

    def cmd_get_parameter(self, doc, *a):
        known = {
            "featureCompatibilityVersion": {"version": "7.0"},
            "authenticationMechanisms": ["SCRAM-SHA-256"],
            "logLevel": 0,
        }
        if doc.get("getParameter") == "*" or (
            isinstance(doc.get("getParameter"), dict) and doc["getParameter"].get("allParameters")
        ):
            return {**known, "ok": 1}
        reply = {k: v for k, v in known.items() if k in doc}
        if not reply:
            raise CommandError(72, "InvalidOptions", "no option found to get")
        reply["ok"] = 1
        return reply

    def cmd_get_cmd_line_opts(self, *a):
        parsed = copy.deepcopy(self.s.raw_conf)
        parsed["config"] = self.s.config_path
        return {"argv": list(sys.argv), "parsed": parsed, "ok": 1}

    def cmd_get_default_rw_concern(self, *a):
        with self.m.lock:
            w = self.m.implicit_default_w()
        return {
            "defaultReadConcern": {"level": "local"},
            "defaultWriteConcern": {"w": w, "wtimeout": 0},
            "defaultWriteConcernSource": "implicit",
            "defaultReadConcernSource": "implicit",
            "ok": 1,
        }

    def cmd_shutdown(self, doc, *a):
        force = bool(doc.get("force"))
        with self.m.lock:
            is_primary = self.m.state() == PRIMARY and self.s.repl_set_name
        if is_primary and not force:
            secs = _int(doc.get("timeoutSecs"), 10)
            self._step_down(max(secs, 1), secs, False)
        self.log("shutdown command received: shutting down")
        self.shutdown_cb()
        return None

    # ------------------------------------------------------------------ authentication
    def cmd_sasl_start(self, doc, db, conn, request):
        mech = doc.get("mechanism")
        if mech != "SCRAM-SHA-256":
            raise CommandError(
                334, "MechanismUnavailable", f"Received authentication for mechanism {mech} which is not enabled"
            )
        payload = bytes(doc.get("payload", b""))
        try:
            user = scram.client_first_user(payload)
        except (scram.ScramError, IndexError, UnicodeDecodeError):
            raise CommandError(17, "ProtocolError", "invalid SCRAM client-first message") from None
        with self.m.lock:
            udoc = self.m.users.get(f"{db}.{user}")
        if udoc is None:
            self.log(f"Authentication failed: user {user}@{db} not found")
            raise CommandError(18, "AuthenticationFailed", "Authentication failed.")
        conv = scram.ServerConversation(udoc["credentials"]["SCRAM-SHA-256"])
        try:
            server_first = conv.first(payload)
        except (scram.ScramError, IndexError, UnicodeDecodeError):
            raise CommandError(17, "ProtocolError", "invalid SCRAM client-first message") from None
        cid = conn.next_conversation
        conn.next_conversation += 1
        skip = bool((doc.get("options") or {}).get("skipEmptyExchange"))
        conn.conversations[cid] = {"conv": conv, "user": user, "db": db, "skip": skip, "step": 1}
        return {"conversationId": cid, "done": False, "payload": Binary(server_first), "ok": 1}

    def cmd_sasl_continue(self, doc, db, conn, request):
        cid = _int(doc.get("conversationId"), -1)
        entry = conn.conversations.get(cid)
        if entry is None:
            raise CommandError(17, "ProtocolError", "No SASL session state found")
        if entry["step"] == 1:
            try:
                final = entry["conv"].final(bytes(doc.get("payload", b"")))
            except (scram.ScramError, ValueError, UnicodeDecodeError):
                conn.conversations.pop(cid, None)
                self.log(f"Authentication failed for {entry['user']}@{entry['db']} (SCRAM-SHA-256)")
                raise CommandError(18, "AuthenticationFailed", "Authentication failed.") from None
            if entry["skip"]:
                self._authenticated(conn, cid, entry)
                return {"conversationId": cid, "done": True, "payload": Binary(final), "ok": 1}
            entry["step"] = 2
            return {"conversationId": cid, "done": False, "payload": Binary(final), "ok": 1}
        self._authenticated(conn, cid, entry)
        return {"conversationId": cid, "done": True, "payload": Binary(b""), "ok": 1}

    def _authenticated(self, conn, cid, entry):
        conn.conversations.pop(cid, None)
        conn.users.add((entry["user"], entry["db"]))
        self.log(f"Successfully authenticated as principal {entry['user']} on {entry['db']} (SCRAM-SHA-256)")

    # ------------------------------------------------------------------ users
    def _roles(self, roles, db):
        out = []
        for r in roles or []:
            if isinstance(r, str):
                r = {"role": r, "db": db}
            role, rdb = r.get("role"), r.get("db", db)
            if role not in BUILTIN_ROLES:
                raise CommandError(31, "RoleNotFound", f"Could not find role: {role}@{rdb}")
            out.append({"role": role, "db": rdb})
        return out

    def _write(self, doc, fn):
        """Run fn() under the lock on the primary, record the write, then honour the write concern."""
        m = self.m
        with m.lock:
            if not m.writable():
                raise CommandError(10107, "NotWritablePrimary", "not primary")
            reply, changed = fn()
            op = m.record_write() if changed else None
        wce = m.wait_write_concern(op, doc.get("writeConcern"))
        if wce:
            reply["writeConcernError"] = wce
        reply.setdefault("ok", 1)
        return reply

    def cmd_create_user(self, doc, db, conn, request):
        name = doc["createUser"]
        if "pwd" not in doc:
            raise CommandError(
                2,
                "BadValue",
                "Must provide a 'pwd' field for all user documents, "
                "except those with '$external' as the user's source db",
            )
        roles = self._roles(doc.get("roles", []), db)

        def fn():
            key = f"{db}.{name}"
            if key in self.m.users:
                raise CommandError(51003, "Location51003", f'User "{name}@{db}" already exists')
            self.m.users = dict(self.m.users)
            self.m.users[key] = {
                "_id": key,
                "userId": str(ObjectId()),
                "user": name,
                "db": db,
                "roles": roles,
                "customData": doc.get("customData") or {},
                "credentials": {"SCRAM-SHA-256": scram.make_credentials(doc["pwd"])},
            }
            self.log(f"created user {name}@{db}")
            return {"ok": 1}, True

        return self._write(doc, fn)

    def _existing_user(self, name, db):
        key = f"{db}.{name}"
        if key not in self.m.users:
            raise CommandError(11, "UserNotFound", f'Could not find user "{name}" for db "{db}"')
        return key

    def cmd_update_user(self, doc, db, conn, request):
        name = doc["updateUser"]
        roles = self._roles(doc["roles"], db) if "roles" in doc else None

        def fn():
            key = self._existing_user(name, db)
            udoc = dict(self.m.users[key])
            if "pwd" in doc:
                udoc["credentials"] = {"SCRAM-SHA-256": scram.make_credentials(doc["pwd"])}
            if roles is not None:
                udoc["roles"] = roles
            if "customData" in doc:
                udoc["customData"] = doc["customData"]
            self.m.users = {**self.m.users, key: udoc}
            self.log(f"updated user {name}@{db}")
            return {"ok": 1}, True

        return self._write(doc, fn)

    def _change_roles(self, doc, db, key_name, grant):
        name = doc[key_name]
        roles = self._roles(doc.get("roles", []), db)

        def fn():
            key = self._existing_user(name, db)
            udoc = dict(self.m.users[key])
            current = list(udoc.get("roles", []))
            for r in roles:
                if grant and r not in current:
                    current.append(r)
                elif not grant and r in current:
                    current.remove(r)
            udoc["roles"] = current
            self.m.users = {**self.m.users, key: udoc}
            return {"ok": 1}, True

        return self._write(doc, fn)

    def cmd_grant_roles(self, doc, db, *a):
        return self._change_roles(doc, db, "grantRolesToUser", True)

    def cmd_revoke_roles(self, doc, db, *a):
        return self._change_roles(doc, db, "revokeRolesFromUser", False)

    def cmd_drop_user(self, doc, db, conn, request):
        name = doc["dropUser"]

        def fn():
            key = self._existing_user(name, db)
            users = dict(self.m.users)
            del users[key]
            self.m.users = users
            self.log(f"dropped user {name}@{db}")
            return {"ok": 1}, True

        return self._write(doc, fn)

    def cmd_users_info(self, doc, db, conn, request):
        arg = doc["usersInfo"]
        show_credentials = bool(doc.get("showCredentials"))
        with self.m.lock:
            users = list(self.m.users.values())
        wanted = None
        for_all = False
        if isinstance(arg, dict) and arg.get("forAllDBs"):
            for_all = True
        elif isinstance(arg, str):
            wanted = [(arg, db)]
        elif isinstance(arg, dict):
            wanted = [(arg.get("user"), arg.get("db", db))]
        elif isinstance(arg, list):
            wanted = [(x, db) if isinstance(x, str) else (x.get("user"), x.get("db", db)) for x in arg]
        out = []
        for u in users:
            if wanted is not None and (u["user"], u["db"]) not in wanted:
                continue
            if wanted is None and not for_all and u["db"] != db:
                continue
            info = {
                "_id": u["_id"],
                "userId": u.get("userId"),
                "user": u["user"],
                "db": u["db"],
                "roles": u.get("roles", []),
                "mechanisms": ["SCRAM-SHA-256"],
            }
            if u.get("customData"):
                info["customData"] = u["customData"]
            if show_credentials:
                info["credentials"] = u["credentials"]
            out.append(info)
        return {"users": out, "ok": 1}

    # ------------------------------------------------------------------ replica set commands
    def _require_repl(self):
        if not self.s.repl_set_name:
            raise CommandError(76, "NoReplicationEnabled", "This node was not started with replication enabled.")

    def normalize_config(self, cfg, current=None, initiate=False):
        if not isinstance(cfg, dict):
            raise CommandError(93, "InvalidReplicaSetConfig", "replica set configuration must be a document")
        cfg = copy.deepcopy(dict(cfg))
        if "_id" not in cfg or not isinstance(cfg["_id"], str):
            raise CommandError(93, "InvalidReplicaSetConfig", 'Missing expected field "_id"')
        members = cfg.get("members")
        if not isinstance(members, list) or not members:
            raise CommandError(
                93,
                "InvalidReplicaSetConfig",
                "Replica set configuration contains 0 members, but must be at least 1 and no more than 50",
            )
        out_members = []
        for i, raw in enumerate(members):
            if not isinstance(raw, dict) or "_id" not in raw or "host" not in raw:
                raise CommandError(93, "InvalidReplicaSetConfig", f"members.{i} must have the fields _id and host")
            mem = dict(raw)
            arb = bool(mem.get("arbiterOnly", False))
            secondary_delay = mem.pop("slaveDelay", None)
            out = {
                "_id": _int(mem["_id"], -1),
                "host": str(mem["host"]),
                "arbiterOnly": arb,
                "buildIndexes": bool(mem.get("buildIndexes", True)),
                "hidden": bool(mem.get("hidden", False)),
                "priority": mem.get("priority", 0 if arb else 1),
                "tags": dict(mem.get("tags") or {}),
                "secondaryDelaySecs": Int64(_int(mem.get("secondaryDelaySecs", secondary_delay or 0))),
                "votes": mem.get("votes", 1),
            }
            if isinstance(out["priority"], bool) or not isinstance(out["priority"], int | float):
                raise CommandError(93, "InvalidReplicaSetConfig", f"members.{i}.priority field must be a number")
            if isinstance(out["votes"], bool):
                out["votes"] = int(out["votes"])
            if not isinstance(out["votes"], int | float):
                raise CommandError(93, "InvalidReplicaSetConfig", f"members.{i}.votes field must be a number")
            if float(out["votes"]) != int(out["votes"]):
                raise CommandError(
                    93, "InvalidReplicaSetConfig", f"members.{i}.votes field value is {out['votes']}. It must be 0 or 1"
                )
            out["votes"] = int(out["votes"])
            if isinstance(out["priority"], float) and out["priority"].is_integer():
                out["priority"] = int(out["priority"])
            out_members.append(out)
        settings = dict(cfg.get("settings") or {})
        settings.setdefault("chainingAllowed", True)
        settings.setdefault("heartbeatIntervalMillis", Int64(int(self.s.heartbeat_interval * 1000)))
        settings.setdefault("heartbeatTimeoutSecs", 10)
        settings.setdefault("electionTimeoutMillis", Int64(int(self.s.election_timeout * 1000)))
        settings.setdefault("catchUpTimeoutMillis", -1)
        settings.setdefault("catchUpTakeoverDelayMillis", 30000)
        settings.setdefault("getLastErrorModes", {})
        settings.setdefault("getLastErrorDefaults", {"w": 1, "wtimeout": 0})
        if current is not None:
            cur_id = current.get("settings", {}).get("replicaSetId")
            if "replicaSetId" in settings and settings["replicaSetId"] != cur_id:
                raise CommandError(
                    103,
                    "NewReplicaSetConfigurationIncompatible",
                    f"New and old configurations differ in replica set ID; old was {cur_id}, "
                    f"and new is {settings['replicaSetId']}",
                )
            settings["replicaSetId"] = cur_id
        else:
            settings.setdefault("replicaSetId", ObjectId())
        version = cfg.get("version", 1 if initiate else None)
        if version is None or isinstance(version, bool) or not isinstance(version, int | float):
            raise CommandError(93, "InvalidReplicaSetConfig", 'Missing expected field "version"')
        return {
            "_id": cfg["_id"],
            "version": int(version),
            "term": 0,
            "members": out_members,
            "protocolVersion": Int64(1),
            "writeConcernMajorityJournalDefault": True,
            "settings": settings,
        }

    def validate_config(self, cfg, verb):
        def err(msg):
            return CommandError(93, "InvalidReplicaSetConfig", msg)

        if cfg["_id"] != self.s.repl_set_name:
            raise err(
                f"Attempting to {verb} a replica set with name {cfg['_id']}, but command line reports "
                f"{self.s.repl_set_name}; rejecting"
            )
        members = cfg["members"]
        if len(members) > 50:
            raise err(
                f"Replica set configuration contains {len(members)} members, but must be at least 1 and no more than 50"
            )
        ids, hosts = {}, {}
        for i, mem in enumerate(members):
            if mem["_id"] < 0 or mem["_id"] > 255:
                raise err(f"members.{i}._id field value of {mem['_id']} is out of range.")
            if mem["_id"] in ids:
                raise err(
                    f"Found two member configurations with same _id field, members.{ids[mem['_id']]}._id == "
                    f"members.{i}._id == {mem['_id']}"
                )
            ids[mem["_id"]] = i
            if mem["host"] in hosts:
                raise err(
                    f"Found two member configurations with same host field, members.{hosts[mem['host']]}.host == "
                    f"members.{i}.host == {mem['host']}"
                )
            hosts[mem["host"]] = i
            if ":" not in mem["host"]:
                mem["host"] = f"{mem['host']}:27017"
            pr = float(mem["priority"])
            if pr < 0 or pr > 1000:
                raise err(f"members.{i}.priority field value of {mem['priority']} is out of range")
            if mem["votes"] not in (0, 1):
                raise err(f"members.{i}.votes field value is {mem['votes']}. It must be 0 or 1")
            if mem["arbiterOnly"]:
                if mem["votes"] != 1:
                    raise err(f"members.{i}: arbiter must vote (cannot have 0 votes)")
                if pr != 0:
                    raise err(f"members.{i}: priority must be 0 when arbiterOnly=true")
                if mem["hidden"]:
                    raise err(f"members.{i}: arbiters cannot be hidden")
            if mem["votes"] == 0 and pr != 0:
                raise err(f"members.{i}: priority must be 0 when non-voting (votes:0)")
            if mem["hidden"] and pr != 0:
                raise err(f"members.{i}: priority must be 0 when hidden=true")
            if mem["secondaryDelaySecs"] and pr != 0:
                raise err(f"members.{i}: priority must be 0 when secondaryDelaySecs is used")
            if not mem["buildIndexes"] and pr != 0:
                raise err(f"members.{i}: priority must be 0 when buildIndexes=false")
        voters = [x for x in members if x["votes"]]
        if not voters or len(voters) > 7:
            raise err(
                f"Replica set configuration contains {len(voters)} voting members, "
                "but must be at least 1 and no more than 7"
            )
        if not any(member_electable_by_config(x) for x in members):
            raise err("Replica set configuration must contain at least one non-arbiter member with priority > 0")
        if not any(self.m.is_self(x["host"]) for x in members):
            raise err(
                f"No host described in new configuration with {{version: {cfg['version']}, term: {cfg['term']}}} for "
                f"replica set {cfg['_id']} maps to this node"
            )

    def probe(self, hosts, cfg, require_empty=False):
        """Send a heartbeat probe to each host in parallel; return {host: None (ok) or error message}."""
        results = {}
        me = self.m.my_host()

        def ask(host):
            client = PeerClient(host)
            try:
                reply = client.command(
                    {
                        "replSetHeartbeat": cfg["_id"],
                        "configVersion": cfg["version"],
                        "configTerm": cfg["term"],
                        "from": me,
                        "probe": True,
                        "term": Int64(-1),
                    },
                    timeout=max(1.0, self.m.peer_timeout),
                )
                if not reply.get("ok"):
                    results[host] = reply.get("errmsg", "error")
                elif require_empty and reply.get("hasConfig"):
                    results[host] = "AlreadyInitialized: that node already has a replica set config"
                else:
                    results[host] = None
            except PeerError as exc:
                results[host] = str(exc)
            finally:
                client.close()

        threads = [threading.Thread(target=ask, args=(h,), daemon=True) for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(1.0, self.m.peer_timeout) + 1.0)
        return {h: results.get(h, "no answer") for h in hosts}

    def cmd_repl_set_initiate(self, doc, db, conn, request):
        self._require_repl()
        m = self.m
        raw = doc.get("replSetInitiate")
        with m.lock:
            if m.config is not None:
                raise CommandError(23, "AlreadyInitialized", "already initialized")
            if not isinstance(raw, dict) or not raw:
                raw = {"_id": self.s.repl_set_name, "version": 1, "members": [{"_id": 0, "host": m.default_host()}]}
                self.log(f"replSetInitiate: no configuration specified, using a default configuration: {raw}")
        cfg = self.normalize_config(raw, initiate=True)
        self.validate_config(cfg, "initiate")
        others = [x["host"] for x in cfg["members"] if not m.is_self(x["host"])]
        results = self.probe(others, cfg, require_empty=True)
        bad = [f"{h} failed with {e}" for h, e in results.items() if e]
        if bad:
            raise CommandError(
                74,
                "NodeNotFound",
                "Quorum check failed because not all proposed set members responded affirmatively: " + ", ".join(bad),
            )
        with m.lock:
            if m.config is not None:
                raise CommandError(23, "AlreadyInitialized", "already initialized")
            cfg["term"] = m.term
            if m.optime is None:
                ts = Timestamp(int(time.time()), 1)
                m.optime = (ts, m.term)
                m.first_ts = ts
                m.last_write = m.optime
            m.stale_check_pending = False
            m._install(cfg, reason="replSetInitiate")
            m.initial_sync_started = None
            m.save()
            m.wake_heartbeats()
        self.log(f"replSetInitiate: config version {cfg['version']} installed for set {cfg['_id']}")
        return {"ok": 1}

    def cmd_repl_set_get_config(self, doc, *a):
        self._require_repl()
        m = self.m
        with m.lock:
            if m.config is None:
                raise CommandError(94, "NotYetInitialized", "no replset config has been received")
            reply = {"config": copy.deepcopy(m.config), "ok": 1}
            if doc.get("commitmentStatus"):
                if m.state() != PRIMARY:
                    raise CommandError(10107, "NotWritablePrimary", "commitmentStatus is only supported on primary.")
                reply["commitmentStatus"] = m.config_committed()
            return reply

    def cmd_repl_set_get_status(self, *a):
        self._require_repl()
        m = self.m
        with m.lock:
            now = time.monotonic()
            if m.config is None:
                raise CommandError(94, "NotYetInitialized", "no replset config has been received")
            st = m.state()
            if m.me is None:
                raise CommandError(
                    93,
                    "InvalidReplicaSetConfig",
                    "Our replica set config is invalid or we are not a member of it",
                    myState=REMOVED,
                    stateStr="REMOVED",
                )
            members = []
            for mem in m.config["members"]:
                if mem is m.me:
                    entry = {
                        "_id": mem["_id"],
                        "name": mem["host"],
                        "health": 1.0,
                        "state": st,
                        "stateStr": STATE_STR[st],
                        "uptime": int(now - m.started_mono),
                        "optime": optime_doc(m.optime),
                        "optimeDate": ts_date(m.optime[0] if m.optime else None),
                        "syncSourceHost": m.sync_source,
                        "syncSourceId": self._member_id(m.sync_source),
                        "infoMessage": m.stale_message,
                        "configVersion": cfg_key(m.config)[0],
                        "configTerm": cfg_key(m.config)[1],
                        "self": True,
                        "lastHeartbeatMessage": m.stale_message,
                    }
                    if st == PRIMARY:
                        entry["electionTime"] = m.election_time
                        entry["electionDate"] = ts_date(m.election_time)
                    if m.apply_delay:
                        entry["simulatorApplyDelaySecs"] = m.apply_delay
                else:
                    p = m.peers[mem["host"]]
                    pst = m.peer_state(p, now)
                    up = m.reachable(p, now)
                    entry = {
                        "_id": mem["_id"],
                        "name": mem["host"],
                        "health": 1.0 if up else 0.0,
                        "state": pst,
                        "stateStr": STATE_STR[pst],
                        "uptime": p.uptime if up else 0,
                        "optime": optime_doc(p.optime if up else None),
                        "optimeDurable": optime_doc(p.optime if up else None),
                        "optimeDate": ts_date(p.optime[0] if up and p.optime else None),
                        "optimeDurableDate": ts_date(p.optime[0] if up and p.optime else None),
                        "lastHeartbeat": p.last_attempt or datetime.datetime(1970, 1, 1),
                        "lastHeartbeatRecv": p.last_recv or datetime.datetime(1970, 1, 1),
                        "pingMs": Int64(p.ping_ms if up else 0),
                        "lastHeartbeatMessage": (p.message if up else p.last_error) or "",
                        "syncSourceHost": p.sync_source if up else "",
                        "syncSourceId": self._member_id(p.sync_source) if up else -1,
                        "infoMessage": p.message if up else "",
                        "configVersion": p.config_key[0] if up else -1,
                        "configTerm": p.config_key[1] if up else -1,
                    }
                    if not up:
                        entry["authenticated"] = False
                    if up and pst == PRIMARY and p.election_time:
                        entry["electionTime"] = p.election_time
                        entry["electionDate"] = ts_date(p.election_time)
                    if pst == ARBITER:
                        for k in ("optime", "optimeDurable", "optimeDate", "optimeDurableDate"):
                            entry.pop(k, None)
                members.append(entry)
            applied = optime_doc(m.optime)
            voters = m.voters()
            return {
                "set": m.config["_id"],
                "date": utcnow(),
                "myState": st,
                "term": Int64(m.term),
                "syncSourceHost": m.sync_source,
                "syncSourceId": self._member_id(m.sync_source),
                "heartbeatIntervalMillis": Int64(int(self.s.heartbeat_interval * 1000)),
                "majorityVoteCount": majority(len(voters)),
                "writeMajorityCount": m.write_majority_count(),
                "votingMembersCount": len(voters),
                "writableVotingMembersCount": len([x for x in voters if not x.get("arbiterOnly")]),
                "optimes": {
                    "lastCommittedOpTime": optime_doc(m.commit_point),
                    "lastCommittedWallTime": ts_date(m.commit_point[0] if m.commit_point else None),
                    "appliedOpTime": applied,
                    "durableOpTime": applied,
                    "lastAppliedWallTime": ts_date(m.optime[0] if m.optime else None),
                    "lastDurableWallTime": ts_date(m.optime[0] if m.optime else None),
                },
                "members": members,
                "simulator": SIMULATOR_NAME,
                "ok": 1,
            }

    def _member_id(self, host):
        if not host or not self.m.config:
            return -1
        for mem in self.m.config["members"]:
            if mem["host"] == host:
                return mem["_id"]
        return -1

    def cmd_repl_set_reconfig(self, doc, *a):
        self._require_repl()
        m = self.m
        force = bool(doc.get("force"))
        with m.lock:
            if m.config is None:
                raise CommandError(94, "NotYetInitialized", "no replset config has been received")
            if not force and not m.writable():
                raise CommandError(
                    10107,
                    "NotWritablePrimary",
                    f"replSetReconfig should only be run on a writable PRIMARY. Current state {STATE_STR[m.state()]};",
                )
            current = copy.deepcopy(m.config)
            cur_key = cfg_key(m.config)
            term = m.term
        raw = doc.get("replSetReconfig")
        if isinstance(raw, dict) and raw.get("_id") not in (None, current["_id"]):
            raise CommandError(
                103,
                "NewReplicaSetConfigurationIncompatible",
                f"New and old configurations differ in replica set name; old was {current['_id']}, "
                f"and new is {raw.get('_id')}",
            )
        cfg = self.normalize_config(raw, current=current)
        cfg["term"] = term
        if cfg["version"] <= current["version"]:
            raise CommandError(
                103,
                "NewReplicaSetConfigurationIncompatible",
                f"New replica set configuration version must be greater than old, but {cfg['version']} is not greater "
                f"than {current['version']} for replica set {current['_id']}",
            )
        self.validate_config(cfg, "reconfigure")
        old_by_host = {x["host"]: x for x in current["members"]}
        for mem in cfg["members"]:
            old = old_by_host.get(mem["host"])
            if old is not None and old["arbiterOnly"] != mem["arbiterOnly"]:
                raise CommandError(
                    103,
                    "NewReplicaSetConfigurationIncompatible",
                    "New and old configurations differ in the setting of the arbiterOnly field for member "
                    f"{mem['host']}; "
                    "to make this change, remove then re-add the member",
                )
        if not force:
            old_voters = {x["host"] for x in current["members"] if member_votes(x)}
            new_voters = {x["host"] for x in cfg["members"] if member_votes(x)}
            if len(old_voters ^ new_voters) > 1:
                raise CommandError(
                    103,
                    "NewReplicaSetConfigurationIncompatible",
                    "Non force replica set reconfig can only add or remove at most 1 voting member.",
                )
            with m.lock:
                committed = m.config_committed()
            if not committed:
                raise CommandError(
                    117,
                    "ConflictingOperationInProgress",
                    f"Cannot run replSetReconfig because the current config: {{version: {cur_key[0]}, term: "
                    f"{cur_key[1]}}} is not yet committed.",
                )
            voters = [x["host"] for x in cfg["members"] if member_votes(x)]
            others = [h for h in voters if not m.is_self(h)]
            results = self.probe(others, cfg)
            responded = [h for h in voters if m.is_self(h) or not results.get(h)]
            required = majority(len(voters))
            if len(responded) < required:
                failed = ", ".join(f"{h} failed with {results[h]}" for h in others if results.get(h))
                raise CommandError(
                    74,
                    "NodeNotFound",
                    f"Quorum check failed because not enough voting nodes responded; required {required} but only the "
                    f"following {len(responded)} voting nodes responded: {', '.join(responded)}; "
                    "the following nodes did "
                    f"not respond affirmatively: {failed}",
                )
        with m.lock:
            if cfg_key(m.config) != cur_key:
                raise CommandError(
                    117,
                    "ConflictingOperationInProgress",
                    "the replica set config changed while this reconfig was running",
                )
            if not force and not m.writable():
                raise CommandError(
                    10107, "NotWritablePrimary", "replSetReconfig should only be run on a writable PRIMARY"
                )
            cfg["term"] = m.term
            m._install(cfg, reason="replSetReconfig" + (" (force)" if force else ""))
            m.wake_heartbeats()
        return {"ok": 1}

    def _step_down(self, secs, catch_up, force):
        m = self.m
        with m.cond:
            if m.state() != PRIMARY:
                raise CommandError(10107, "NotWritablePrimary", "not primary so can't step down")
            m.stepping_down = True
            m._touch()
            deadline = time.monotonic() + (0 if force else catch_up)
            try:
                while True:
                    now = time.monotonic()
                    caught = [
                        p
                        for p in m.peers.values()
                        if m.reachable(p, now)
                        and member_electable_by_config(p.member)
                        and p.state == SECONDARY
                        and p.electable
                        and p.optime is not None
                        and okey(p.optime) >= okey(m.optime)
                    ]
                    if caught or force or now >= deadline or not m.primary:
                        break
                    m.cond.wait(min(0.1, max(0.01, deadline - now)))
                if not m.primary:
                    raise CommandError(10107, "NotWritablePrimary", "not primary so can't step down")
                if not caught and not force:
                    raise CommandError(
                        262,
                        "ExceededTimeLimit",
                        f"No electable secondaries caught up as of {utcnow().isoformat(timespec='milliseconds')}. "
                        "Please use the replSetStepDown command with the argument {force: true} "
                        "to force node to step down.",
                    )
                m._step_down_locked(f"replSetStepDown for {secs} seconds", cooldown=secs)
            finally:
                m.stepping_down = False
                m._touch()

    def cmd_repl_set_step_down(self, doc, *a):
        self._require_repl()
        secs = _int(doc.get("replSetStepDown"), 60) or 60
        catch_up = _int(doc.get("secondaryCatchUpPeriodSecs"), 10)
        if catch_up > secs:
            raise CommandError(2, "BadValue", "stepdown period must be longer than secondaryCatchUpPeriodSecs")
        self._step_down(secs, catch_up, bool(doc.get("force")))
        return {"ok": 1}

    def cmd_repl_set_freeze(self, doc, *a):
        self._require_repl()
        m = self.m
        secs = _int(doc.get("replSetFreeze"), 0)
        with m.lock:
            if m.config is None:
                raise CommandError(94, "NotYetInitialized", "no replset config has been received")
            if m.state() == PRIMARY:
                raise CommandError(
                    95, "NotSecondary", "cannot freeze node when primary or running for election. state: Primary"
                )
            if secs <= 0:
                m.frozen_until = 0.0
                return {"info": "unfreezing", "ok": 1}
            m.frozen_until = time.monotonic() + secs
            self.log(f"frozen for {secs} seconds (replSetFreeze)")
        return {"ok": 1}

    def cmd_set_apply_delay(self, doc, *a):
        secs = float(doc.get("simulatorSetApplyDelay") or 0)
        if secs < 0:
            raise CommandError(2, "BadValue", "simulatorSetApplyDelay must be >= 0 seconds")
        with self.m.lock:
            self.m.apply_delay = secs
        self.log(f"simulatorSetApplyDelay: this member now applies the sync source's optime {secs} s late")
        return {"applyDelaySecs": secs, "simulator": SIMULATOR_NAME, "ok": 1}

    # ------------------------------------------------------------------ CRUD
    def _readable(self):
        m = self.m
        st = m.state()
        if self.s.repl_set_name and st not in (PRIMARY, SECONDARY):
            raise CommandError(13436, "NotPrimaryOrSecondary", "node is not in primary or recovering state")

    def _coll(self, db, name, create=False):
        m = self.m
        colls = m.data.get(db)
        if colls is None:
            if not create:
                return None
            colls = m.data[db] = {}
        coll = colls.get(name)
        if coll is None and create:
            coll = colls[name] = collections.OrderedDict()
        return coll

    def _docs(self, db, coll):
        m = self.m
        if db == "local" and coll == "oplog.rs":
            return self._oplog()
        if db == "local" and coll == "system.replset":
            return [copy.deepcopy(m.config)] if m.config else []
        if db == "admin" and coll == "system.users":
            return list(m.users.values())
        c = self._coll(db, coll)
        return list(c.values()) if c else []

    def _oplog(self):
        m = self.m
        if m.optime is None:
            return []
        oldest = m.oplog_oldest()
        entries = [{"ts": oldest, "t": Int64(m.optime[1] if oldest == m.optime[0] else -1)}]
        if oldest != m.optime[0]:
            entries.append({"ts": m.optime[0], "t": Int64(m.optime[1])})
        out = []
        for e in entries:
            out.append(
                {
                    "op": "n",
                    "ns": "",
                    "o": {"msg": "periodic noop (replica-set simulator)"},
                    "ts": e["ts"],
                    "t": e["t"],
                    "v": Int64(2),
                    "wall": ts_date(e["ts"]),
                }
            )
        return out

    def cmd_find(self, doc, db, conn, request):
        coll = doc["find"]
        with self.m.lock:
            self._readable()
            docs = [d for d in self._docs(db, coll) if query.matches(d, doc.get("filter"))]
        docs = query.sort_docs(docs, doc.get("sort"))
        skip = _int(doc.get("skip"), 0)
        limit = abs(_int(doc.get("limit"), 0))
        docs = docs[skip:]
        if limit:
            docs = docs[:limit]
        docs = [query.project(d, doc.get("projection")) for d in docs]
        return _ns_cursor(f"{db}.{coll}", docs)

    def cmd_count(self, doc, db, *a):
        with self.m.lock:
            self._readable()
            docs = [d for d in self._docs(db, doc["count"]) if query.matches(d, doc.get("query"))]
        docs = docs[_int(doc.get("skip"), 0) :]
        if _int(doc.get("limit"), 0):
            docs = docs[: abs(_int(doc.get("limit"), 0))]
        return {"n": len(docs), "ok": 1}

    def cmd_distinct(self, doc, db, *a):
        with self.m.lock:
            self._readable()
            docs = [d for d in self._docs(db, doc["distinct"]) if query.matches(d, doc.get("query"))]
        values = []
        for d in docs:
            v = query.get_path(d, doc["key"])
            for x in v if isinstance(v, list) else [v]:
                if x is not query._MISSING and x not in values:
                    values.append(x)
        return {"values": values, "ok": 1}

    def cmd_aggregate(self, doc, db, *a):
        coll = doc["aggregate"]
        with self.m.lock:
            self._readable()
            docs = self._docs(db, coll) if isinstance(coll, str) else []
        for stage in doc.get("pipeline", []):
            ((op, arg),) = stage.items()
            if op == "$match":
                docs = [d for d in docs if query.matches(d, arg)]
            elif op == "$sort":
                docs = query.sort_docs(docs, arg)
            elif op == "$skip":
                docs = docs[int(arg) :]
            elif op == "$limit":
                docs = docs[: int(arg)]
            elif op == "$project":
                docs = [query.project(d, arg) for d in docs]
            elif op == "$count":
                docs = [{arg: len(docs)}] if docs else []
            elif op == "$group":
                docs = self._group(docs, arg)
            else:
                raise CommandError(
                    40324,
                    "Location40324",
                    f"Unrecognized pipeline stage name: '{op}' (not implemented by the replica-set simulator)",
                )
        return _ns_cursor(f"{db}.{coll}", docs)

    def _group(self, docs, spec):
        groups = collections.OrderedDict()
        for d in docs:
            gid = spec.get("_id")
            if isinstance(gid, str) and gid.startswith("$"):
                gid = query.get_path(d, gid[1:])
                gid = None if gid is query._MISSING else gid
            key = id_key(gid)
            g = groups.setdefault(key, {"_id": gid})
            for field, acc in spec.items():
                if field == "_id":
                    continue
                ((aop, aval),) = acc.items()
                if aop != "$sum":
                    raise CommandError(
                        15952, "Location15952", f"unknown group operator '{aop}' (simulator supports $sum)"
                    )
                if isinstance(aval, str) and aval.startswith("$"):
                    v = query.get_path(d, aval[1:])
                    v = v if isinstance(v, int | float) and not isinstance(v, bool) else 0
                else:
                    v = aval
                g[field] = g.get(field, 0) + v
        return list(groups.values())

    def cmd_get_more(self, doc, *a):
        raise CommandError(43, "CursorNotFound", f"cursor id {doc.get('getMore')} not found")

    def cmd_kill_cursors(self, doc, *a):
        return {
            "cursorsKilled": [],
            "cursorsNotFound": list(doc.get("cursors", [])),
            "cursorsAlive": [],
            "cursorsUnknown": [],
            "ok": 1,
        }

    def cmd_list_collections(self, doc, db, *a):
        with self.m.lock:
            self._readable()
            names = sorted((self.m.data.get(db) or {}).keys())
        docs = [
            {
                "name": n,
                "type": "collection",
                "options": {},
                "info": {"readOnly": False},
                "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            }
            for n in names
        ]
        docs = [d for d in docs if query.matches(d, doc.get("filter"))]
        if doc.get("nameOnly"):
            docs = [{"name": d["name"], "type": "collection"} for d in docs]
        return _ns_cursor(f"{db}.$cmd.listCollections", docs)

    def cmd_list_indexes(self, doc, db, *a):
        with self.m.lock:
            if self._coll(db, doc["listIndexes"]) is None:
                raise CommandError(26, "NamespaceNotFound", f"ns does not exist: {db}.{doc['listIndexes']}")
        return _ns_cursor(f"{db}.{doc['listIndexes']}", [{"v": 2, "key": {"_id": 1}, "name": "_id_"}])

    def cmd_db_stats(self, doc, db, *a):
        with self.m.lock:
            colls = self.m.data.get(db) or {}
            objects = sum(len(c) for c in colls.values())
        return {"db": db, "collections": len(colls), "objects": objects, "dataSize": 0, "storageSize": 0, "ok": 1}

    def cmd_create(self, doc, db, *a):
        def fn():
            if self._coll(db, doc["create"]) is not None:
                raise CommandError(48, "NamespaceExists", f"Collection {db}.{doc['create']} already exists.")
            self._coll(db, doc["create"], create=True)
            return {"ok": 1}, True

        return self._write(doc, fn)

    def cmd_create_indexes(self, doc, db, *a):
        def fn():
            created = self._coll(db, doc["createIndexes"]) is None
            self._coll(db, doc["createIndexes"], create=True)
            return {
                "numIndexesBefore": 1,
                "numIndexesAfter": 1,
                "createdCollectionAutomatically": created,
                "ok": 1,
            }, created

        return self._write(doc, fn)

    def cmd_drop(self, doc, db, *a):
        def fn():
            colls = self.m.data.get(db) or {}
            existed = colls.pop(doc["drop"], None) is not None
            return {"ns": f"{db}.{doc['drop']}", "nIndexesWas": 1, "ok": 1}, existed

        return self._write(doc, fn)

    def cmd_drop_database(self, doc, db, *a):
        def fn():
            existed = self.m.data.pop(db, None) is not None
            return {"dropped": db, "ok": 1}, existed

        return self._write(doc, fn)

    def cmd_insert(self, doc, db, conn, request):
        coll_name = doc["insert"]
        documents = list(doc.get("documents", []))
        ordered = doc.get("ordered", True)

        def fn():
            coll = self._coll(db, coll_name, create=True)
            n, errors = 0, []
            for i, d in enumerate(documents):
                d = dict(d)
                if "_id" not in d:
                    d = {"_id": ObjectId(), **d}
                key = id_key(d["_id"])
                if key in coll:
                    errors.append(
                        {
                            "index": i,
                            "code": 11000,
                            "errmsg": f"E11000 duplicate key error collection: {db}.{coll_name} "
                            f"index: _id_ dup key: {{ _id: {d['_id']!r} }}",
                        }
                    )
                    if ordered:
                        break
                    continue
                coll[key] = d
                n += 1
            reply = {"n": n, "ok": 1}
            if errors:
                reply["writeErrors"] = errors
            return reply, n > 0

        return self._write(doc, fn)

    def _update_one_spec(self, coll, spec, index):
        q, u = spec.get("q", {}), spec.get("u", {})
        multi, upsert = bool(spec.get("multi")), bool(spec.get("upsert"))
        matched = modified = 0
        upserted = None
        for key, d in list(coll.items()):
            if not query.matches(d, q):
                continue
            matched += 1
            new = query.apply_update(d, u)
            if new.get("_id", d.get("_id")) != d.get("_id"):
                raise CommandError(
                    66,
                    "ImmutableField",
                    "Performing an update on the path '_id' would modify the immutable field '_id'",
                )
            new.setdefault("_id", d.get("_id"))
            if new != d:
                coll[key] = new
                modified += 1
            if not multi:
                break
        if matched == 0 and upsert:
            base = query.upsert_seed(q) if query.is_operator_update(u) else {}
            new = query.apply_update(base, u, inserting=True)
            if "_id" not in new:
                new = {"_id": base.get("_id", ObjectId()), **new}
            coll[id_key(new["_id"])] = new
            upserted = {"index": index, "_id": new["_id"]}
        return matched, modified, upserted

    def cmd_update(self, doc, db, *a):
        coll_name = doc["update"]
        updates = list(doc.get("updates", []))

        def fn():
            coll = self._coll(db, coll_name, create=True)
            n = nmod = 0
            upserted = []
            for i, spec in enumerate(updates):
                matched, modified, up = self._update_one_spec(coll, spec, i)
                n += matched
                nmod += modified
                if up:
                    upserted.append(up)
                    n += 1
            reply = {"n": n, "nModified": nmod, "ok": 1}
            if upserted:
                reply["upserted"] = upserted
            return reply, bool(nmod or upserted)

        return self._write(doc, fn)

    def cmd_delete(self, doc, db, *a):
        coll_name = doc["delete"]
        deletes = list(doc.get("deletes", []))

        def fn():
            coll = self._coll(db, coll_name) or {}
            n = 0
            for spec in deletes:
                limit = _int(spec.get("limit"), 0)
                for key, d in list(coll.items()):
                    if query.matches(d, spec.get("q", {})):
                        del coll[key]
                        n += 1
                        if limit == 1:
                            break
            return {"n": n, "ok": 1}, n > 0

        return self._write(doc, fn)

    def cmd_find_and_modify(self, doc, db, *a):
        coll_name = doc.get("findAndModify", doc.get("findandmodify"))

        def fn():
            coll = self._coll(db, coll_name, create=True)
            docs = query.sort_docs([d for d in coll.values() if query.matches(d, doc.get("query"))], doc.get("sort"))
            target = docs[0] if docs else None
            fields = doc.get("fields")
            if doc.get("remove"):
                if target is None:
                    return {"lastErrorObject": {"n": 0}, "value": None, "ok": 1}, False
                del coll[id_key(target["_id"])]
                return {"lastErrorObject": {"n": 1}, "value": query.project(target, fields), "ok": 1}, True
            spec = {
                "q": {"_id": target["_id"]} if target else doc.get("query", {}),
                "u": doc.get("update", {}),
                "upsert": doc.get("upsert"),
            }
            _matched, modified, up = self._update_one_spec(coll, spec, 0)
            if up:
                new = coll[id_key(up["_id"])]
                leo = {"n": 1, "updatedExisting": False, "upserted": up["_id"]}
                value = new if doc.get("new") else None
            elif target is not None:
                new = coll[id_key(target["_id"])]
                leo = {"n": 1, "updatedExisting": True}
                value = new if doc.get("new") else target
            else:
                return {"lastErrorObject": {"n": 0, "updatedExisting": False}, "value": None, "ok": 1}, False
            return {"lastErrorObject": leo, "value": query.project(value, fields) if value else None, "ok": 1}, bool(
                modified or up
            )

        return self._write(doc, fn)


def state_is_data(st):
    return st not in (ARBITER, STARTUP, REMOVED)
