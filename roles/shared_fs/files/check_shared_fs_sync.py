# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nagios-compatible check of the shared tree's synchronisation (python3 standard library only).

Reads the tree's metadata written by apiplatform.ha.shared_fs_sync / shared_fs_info (<path>/.shared-fs), and
recomputes the tree's digest with the stat cache (only files whose size, mtime, inode or ctime changed are hashed).

  OK        the last sync is younger than --warning and the digest matches
  WARNING   the last sync is older than --warning seconds
  CRITICAL  older than --critical, or the digest differs from --peer-digest (or from the digest recorded by the last
            sync, without --peer-digest)
  UNKNOWN   no tree, no sync record, unreadable metadata, bad arguments

Usage: check_shared_fs_sync --path /srv/shared [--peer dc2] [--peer-digest HEX] [-w 3600] [-c 86400]
"""

import argparse
import hashlib
import json
import os
import stat
import sys
import time

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
META_DIR = ".shared-fs"


def tree_digest(root, cache):
    """(digest, files, bytes) of the tree, like module_utils/shared_fs.py: sha256 of sorted 'path\\0fingerprint\\n'."""
    fingerprints, total = {}, 0
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        for entry in os.scandir(abs_dir):
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if not rel_dir and entry.name == META_DIR:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append((rel, entry.path))
            elif stat.S_ISLNK(st.st_mode):
                fingerprints[rel] = "l:" + os.readlink(entry.path)
            elif stat.S_ISREG(st.st_mode):
                old = cache.get(rel)
                key = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
                if old and old[0] == "f" and old[1:5] == key:
                    sha = old[5]
                else:
                    h = hashlib.sha256()
                    with open(entry.path, "rb") as fh:
                        for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                            h.update(chunk)
                    sha = h.hexdigest()
                fingerprints[rel] = "f:" + sha
                total += st.st_size
    h = hashlib.sha256()
    for path in sorted(fingerprints):
        h.update(path.encode("utf-8", "surrogateescape") + b"\0")
        h.update(fingerprints[path].encode("utf-8", "surrogateescape") + b"\n")
    return h.hexdigest(), len(fingerprints), total


def read_records(root):
    directory = os.path.join(root, META_DIR, "peers")
    records = {}
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith(".json") and not name.startswith("."):
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                records[name[:-5]] = json.load(fh)
    return records


def evaluate(now, record, peer, digest, peer_digest, warning, critical, files=0, size=0):
    """(status, text, perfdata) from the facts: pure, unit tested."""
    if record is None or record.get("time") is None:
        who = f"with {peer}" if peer else "with any site"
        return UNKNOWN, f"no successful sync {who} recorded yet (run playbooks/sync-shared-fs.yml)", ""
    age = max(0, int(now - float(record["time"])))
    peer = peer or record.get("peer") or "?"
    perf = f"age={age}s;{warning};{critical};0 files={files};;;0 bytes={size}B;;;0"
    if peer_digest:
        matches, against = digest == peer_digest, f"{peer}'s digest"
    else:
        matches, against = digest == record.get("digest"), "the digest recorded by the last sync"
    perf += f" digest_match={1 if matches else 0};;;0;1"
    text = f"last sync with {peer} {age} s ago; digest {digest[:12]}"
    if not matches:
        return CRITICAL, f"{text} differs from {against} ({(peer_digest or record.get('digest') or '?')[:12]})", perf
    text += f" matches {against}"
    if age >= critical:
        return CRITICAL, f"{text}, but the sync is older than {critical} s", perf
    if age >= warning:
        return WARNING, f"{text}, but the sync is older than {warning} s", perf
    return OK, text, perf


def parse(argv):
    parser = argparse.ArgumentParser(description="Check the shared tree's synchronisation (Nagios plugin).")
    parser.add_argument("--path", required=True, help="the shared tree, e.g. /srv/shared")
    parser.add_argument("--peer", default="", help="site whose sync to check (default: the most recent sync)")
    parser.add_argument("--peer-digest", default="", help="the peer's current manifest digest to compare with")
    parser.add_argument("-w", "--warning", type=int, default=3600, help="sync age in seconds for WARNING")
    parser.add_argument("-c", "--critical", type=int, default=86400, help="sync age in seconds for CRITICAL")
    return parser.parse_args(argv)


def main(argv=None, now=None):
    try:
        args = parse(argv)
    except SystemExit:
        return UNKNOWN, "bad arguments (see --help)", ""
    if args.warning > args.critical:
        return UNKNOWN, f"--warning ({args.warning}) must not exceed --critical ({args.critical})", ""
    root = os.path.normpath(args.path)
    if not os.path.isdir(root):
        return UNKNOWN, f"{root} is not a directory (not mounted?)", ""
    try:
        records = read_records(root)
        cache_path = os.path.join(root, META_DIR, "manifest.json")
        cache = {}
        if os.path.exists(cache_path):
            with open(cache_path, encoding="utf-8") as fh:
                cache = json.load(fh).get("files") or {}
        digest, files, size = tree_digest(root, cache)
    except (OSError, ValueError) as e:
        return UNKNOWN, f"cannot read {root}: {e}", ""
    if args.peer:
        record = records.get(args.peer)
    else:
        dated = [r for r in records.values() if r.get("time") is not None]
        record = max(dated, key=lambda r: float(r["time"])) if dated else None
    return evaluate(
        now or time.time(), record, args.peer, digest, args.peer_digest, args.warning, args.critical, files, size
    )


if __name__ == "__main__":
    status, text, perf = main()
    print(f"SHARED_FS {NAMES[status]} - {text}" + (f" | {perf}" if perf else ""))
    sys.exit(status)
