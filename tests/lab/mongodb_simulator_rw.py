"""Write and read documents through the lab's MongoDB REPLICA-SET SIMULATOR (not MongoDB).

The lab has no mongod (no package reachable); its MongoDB hosts run tests/mongodb_simulator. This script is what
the molecule verify and drills use to show that the role's replica set carries writes across members and
survives a member's loss. Every figure it prints is a simulator figure and says so.

    python tests/lab/mongodb_simulator_rw.py --hosts 172.29.0.12:27017,172.29.0.22:27017 --set apiplatform \
        --user apifortress --password-env APIHA_MONGO_PASSWORD --db apifortress write --count 20 --tag verify
    python tests/lab/mongodb_simulator_rw.py ... count --tag verify [--secondary]

write: inserts --count documents with w=majority through a replicaSet connection (pymongo finds the primary and
follows a failover, retrying a write once, like the platform's clients), bounded by --max-seconds. count: the
number of documents with --tag, read from the primary or (--secondary) from a secondary. Prints one JSON line.
"""

import argparse
import json
import os
import sys
import time

import pymongo
from pymongo.errors import PyMongoError


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", required=True, help="comma-separated host:port of the members")
    p.add_argument("--set", required=True, help="replica set name")
    p.add_argument("--user", default="apifortress")
    p.add_argument("--password-env", default="APIHA_MONGO_PASSWORD", help="variable that holds the password")
    p.add_argument("--db", default="apifortress")
    p.add_argument("--collection", default="lab_checks")
    p.add_argument("--max-seconds", type=float, default=60.0)
    sub = p.add_subparsers(dest="action", required=True)
    w = sub.add_parser("write")
    w.add_argument("--count", type=int, default=10)
    w.add_argument("--tag", required=True)
    c = sub.add_parser("count")
    c.add_argument("--tag", required=True)
    c.add_argument("--secondary", action="store_true")
    return p.parse_args(argv)


def client(args, read_preference="primary"):
    password = os.environ.get(args.password_env, "")
    return pymongo.MongoClient(
        [h.strip() for h in args.hosts.split(",") if h.strip()],
        replicaSet=args.set,
        username=args.user,
        password=password,
        authSource=args.db,
        w="majority",
        wtimeoutMS=10000,
        readPreference=read_preference,
        serverSelectionTimeoutMS=15000,
        connectTimeoutMS=3000,
        retryWrites=True,
    )


def do_write(args):
    coll = client(args)[args.db][args.collection]
    deadline = time.monotonic() + args.max_seconds
    written, errors = 0, []
    for i in range(args.count):
        while time.monotonic() < deadline:
            try:
                coll.insert_one({"tag": args.tag, "seq": i, "at": time.time()})
                written += 1
                break
            except PyMongoError as e:
                errors.append(f"{type(e).__name__}: {e}"[:200])
                time.sleep(0.5)
        else:
            break
    return {"written": written, "requested": args.count, "errors": errors[:5], "error_count": len(errors)}


def do_count(args):
    pref = "secondary" if args.secondary else "primary"
    db = client(args, pref)[args.db]
    deadline = time.monotonic() + args.max_seconds
    last = None
    while time.monotonic() < deadline:
        try:
            reply = db.command("count", args.collection, query={"tag": args.tag}, read_preference=db.read_preference)
            return {"count": reply["n"], "read_from": pref}
        except PyMongoError as e:
            last = f"{type(e).__name__}: {e}"[:200]
            time.sleep(0.5)
    raise SystemExit(f"no {pref} answered within {args.max_seconds} s: {last}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = do_write(args) if args.action == "write" else do_count(args)
    result["backend"] = "apiplatform.ha replica-set simulator (not MongoDB)"
    print(json.dumps(result))
    return 0 if args.action != "write" or result["written"] == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
