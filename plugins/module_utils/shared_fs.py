# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared file system tier: manifests (path, size, mtime, sha256) with a stat cache, the pure sync planner
(difference, conflict rules, new common base), and rsync over ssh as argument lists.

Layout of the metadata, kept in a hidden directory inside the tree (never synchronised, never digested)::

    <root>/.shared-fs/manifest.json      the tree's manifest and stat cache (written by shared_fs_info
                                         write_manifest=true and by shared_fs_sync on the source)
    <root>/.shared-fs/peers/<site>.json  the last successful sync with <site>: time, direction, digest and the
                                         common base (path -> fingerprint) used to detect conflicts

Nothing here calls ``fail_json``: problems are raised as :class:`SharedFsError` subclasses and each module's
``main()`` turns them into one ``fail_json(msg=...)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import json
import os
import re
import shlex
import stat
import subprocess
import tempfile
import time

META_DIR = ".shared-fs"
MANIFEST_NAME = "manifest.json"
PEERS_DIR = "peers"
MANIFEST_FORMAT = 1
HASH_CHUNK = 1024 * 1024
CONFLICT_POLICIES = ("report", "source_wins", "destination_wins")
# Name of the rsync temporary files (".name.XXXXXX") and of --delay-updates' directory, for the leftover checks.
RSYNC_TEMP_RE = re.compile(r"^\..+\.[A-Za-z0-9]{6}$")
ROLE_HINT = "the apiplatform.ha.shared_fs role creates it on every sync host"
# rrsync's single-run lock: what it says when another rsync holds it, and the pauses (s) before trying again.
RRSYNC_BUSY = "Another instance of rrsync is already accessing this directory"
RRSYNC_BUSY_RETRIES = (0.2, 0.5, 1.0)
# A file list this short is written to a waiting rsync's stdin without blocking (POSIX pipes hold at least 4 KiB,
# Linux ones 64 KiB); a longer one is handed over while rsync reads it.
PIPE_SAFE = 4096


class SharedFsError(Exception):
    """Base class of every error this module_utils raises."""


class SharedFsParameterError(SharedFsError):
    """A module option has a value that cannot be used; the message names the option and the fix."""


class SharedFsTreeError(SharedFsError):
    """The shared tree is missing, not mounted, or unreadable."""


class SharedFsManifestError(SharedFsError):
    """A manifest or sync record is missing, stale or unreadable."""


class SharedFsTransferError(SharedFsError):
    """rsync or ssh failed; the message carries rsync's exit code and its last error lines."""

    def __init__(self, message, rc=None, stderr=""):
        self.rc = rc
        self.stderr = stderr
        super().__init__(message)


# ---------------------------------------------------------------------------------------------------------------------
# Pure helpers (no I/O): unit tested without a tree
# ---------------------------------------------------------------------------------------------------------------------


def validate_root(path, option="path"):
    """The tree's root as a normalised absolute path; raise when it is empty, relative or '/'."""
    text = "" if path is None else str(path)
    if not text:
        raise SharedFsParameterError(f"{option}: empty; give the absolute path of the shared tree, e.g. /srv/shared")
    if not os.path.isabs(text):
        raise SharedFsParameterError(
            f"{option}: {text!r} is a relative path; give the absolute path of the shared tree, e.g. /srv/{text}"
        )
    norm = os.path.normpath(text)
    if norm == "/":
        raise SharedFsParameterError(f"{option}: '/' cannot be a shared tree; give its own directory, e.g. /srv/shared")
    return norm


def normalize_subpaths(root, paths, option="paths"):
    """Relative POSIX paths inside ``root`` for ``paths`` (relative to root, or absolute inside it); raise otherwise."""
    result = []
    for raw in paths or []:
        text = str(raw).strip()
        if not text:
            raise SharedFsParameterError(f"{option}: an entry is empty; give paths inside {root}, relative to it")
        full = os.path.normpath(text if os.path.isabs(text) else os.path.join(root, text))
        if full == root:
            return []  # the whole tree
        if not full.startswith(root + os.sep):
            raise SharedFsParameterError(
                f"{option}: {text!r} is outside the shared tree {root}; give paths inside it, relative to it "
                f"(e.g. 'reports/2026')"
            )
        rel = os.path.relpath(full, root)
        if rel == META_DIR or rel.startswith(META_DIR + os.sep):
            raise SharedFsParameterError(f"{option}: {text!r} is the metadata directory {META_DIR}, which never syncs")
        result.append(rel.replace(os.sep, "/"))
    return sorted(set(result))


def in_subpaths(rel, subpaths):
    """Whether ``rel`` is one of ``subpaths`` or below one of them (no subpaths: the whole tree)."""
    if not subpaths:
        return True
    return any(rel == p or rel.startswith(p + "/") for p in subpaths)


def fingerprint(entry):
    """What a file's content is, for comparisons: ``f:<sha256>`` or ``l:<link target>``; None when absent."""
    if entry is None:
        return None
    return f"{entry[0]}:{entry[5]}"


def entry_size(entry):
    return 0 if entry is None or entry[0] != "f" else int(entry[1])


def digest_of(fingerprints):
    """sha256 over the sorted ``path\\0fingerprint`` lines: equal digests mean equal trees (metadata excluded)."""
    # One encoded string and one update: the same bytes as feeding each line, several times faster.
    text = "".join([f"{path}\0{fingerprints[path]}\n" for path in sorted(fingerprints)])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def manifest_fingerprints(files, subpaths=None):
    """path -> fingerprint of a manifest's ``files`` (entries as built by :func:`build_manifest`)."""
    if not subpaths:
        return {p: f"{e[0]}:{e[5]}" for p, e in files.items()}
    return {p: fingerprint(e) for p, e in files.items() if in_subpaths(p, subpaths)}


def manifest_digest(files):
    return digest_of(manifest_fingerprints(files))


def plan_sync(source, destination, base, delete=False, conflict_policy="report", subpaths=None):
    """Decide, per path, what a sync from ``source`` to ``destination`` does.

    ``source`` and ``destination`` map path -> fingerprint (see :func:`fingerprint`). ``base`` maps path ->
    fingerprint as of the last common sync, or is None when the two sites never synchronised.

    Rules (s, d, b: the path's fingerprint on the source, the destination and in the base; None = absent):

    - s == d: nothing to do (the base follows: b' = s).
    - no base at all (first sync): s and no d -> add; d and no s -> extra on the destination, deleted only with
      ``delete``; both present and different -> conflict (nothing tells which side is newer).
    - s != b and d == b (only the source changed): add / change, or delete when s is None (only with ``delete``,
      else a skipped deletion that stays pending).
    - s == b and d != b (only the destination changed): kept, reported in ``destination_changes``; ``source_wins``
      overwrites it (deletes it only with ``delete``).
    - s != b and d != b (changed on both sides): conflict. ``report`` leaves it, ``source_wins`` copies the source
      (deletes only with ``delete``), ``destination_wins`` keeps the destination's version and records the source's
      as the base, so that the next run treats it as a destination-only change and a reverse sync propagates it.

    Returns a dict: ``add``, ``change``, ``delete`` (sorted paths to act on), ``conflicts`` (list of dicts),
    ``destination_changes``, ``skipped_deletions`` (paths left alone), ``base`` (the new common base, to record after
    a successful apply) and ``unchanged`` (count).
    """
    if conflict_policy not in CONFLICT_POLICIES:
        raise SharedFsParameterError(
            f"conflict_policy: {conflict_policy!r} is not one of {', '.join(CONFLICT_POLICIES)}"
        )
    add, change, remove, conflicts, dest_changes, skipped = [], [], [], [], [], []

    def plan(base, unchanged):
        return {
            "add": add,
            "change": change,
            "delete": remove,
            "conflicts": conflicts,
            "destination_changes": dest_changes,
            "skipped_deletions": skipped,
            "base": base,
            "unchanged": unchanged,
        }

    if source == destination:
        # Both sides already equal (the common case of a run with nothing to do): every present path is unchanged,
        # whatever the base and the policy say, and the base follows the source. One dict comparison instead of the
        # walk over every path below (which reaches the same result).
        new_base = {p: f for p, f in source.items() if in_subpaths(p, subpaths)} if subpaths else dict(source)
        return plan(new_base, len(new_base))
    new_base = {}
    unchanged = 0
    first_sync = base is None
    base = base or {}
    paths = set(source) | set(destination) | ({p for p in base if in_subpaths(p, subpaths)} if subpaths else set(base))
    for path in sorted(paths):
        if subpaths and not in_subpaths(path, subpaths):
            continue
        s, d = source.get(path), destination.get(path)
        if s == d:
            if s is not None:
                new_base[path] = s
                unchanged += 1
            continue
        b = base.get(path)

        def copy(path=path, s=s, d=d):
            (add if d is None else change).append(path)

        if first_sync:
            if d is None:
                copy()
                new_base[path] = s
            elif s is None:
                if delete:
                    remove.append(path)
                else:
                    skipped.append(path)
            else:
                resolution = _resolve_conflict(path, s, d, None, conflict_policy, delete, copy, remove, new_base)
                conflicts.append(_conflict(path, s, d, None, resolution, "the sites never synchronised"))
            continue
        src_changed, dst_changed = s != b, d != b
        if src_changed and not dst_changed:
            if s is None:
                if delete:
                    remove.append(path)
                else:
                    skipped.append(path)
                    new_base[path] = b
            else:
                copy()
                new_base[path] = s
        elif dst_changed and not src_changed:
            if conflict_policy == "source_wins" and (s is not None or delete):
                if s is None:
                    remove.append(path)
                else:
                    copy()
                    new_base[path] = s
            else:
                dest_changes.append(path)
                if b is not None:
                    new_base[path] = b
        else:
            resolution = _resolve_conflict(path, s, d, b, conflict_policy, delete, copy, remove, new_base)
            conflicts.append(_conflict(path, s, d, b, resolution, "changed on both sites since the last sync"))
    return plan(new_base, unchanged)


def _resolve_conflict(path, s, d, b, policy, delete, copy, remove, new_base):
    if policy == "source_wins":
        if s is not None:
            copy()
            new_base[path] = s
            return "source_wins"
        if delete:
            remove.append(path)
            return "source_wins"
        if b is not None:
            new_base[path] = b
        return "kept (source deleted it; set delete=true to delete it here)"
    if policy == "destination_wins":
        if s is not None:
            new_base[path] = s
        return "destination_wins"
    if b is not None:
        new_base[path] = b
    return "reported"


def _conflict(path, s, d, b, resolution, reason):
    return {
        "path": path,
        "source": s or "absent",
        "destination": d or "absent",
        "base": b or ("unknown" if reason.startswith("the sites never") else "absent"),
        "reason": reason,
        "resolution": resolution,
    }


def plan_bytes(plan, source_files, destination_files):
    """Bytes of the files the plan adds, changes (source size) and deletes (destination size)."""
    return {
        "added": sum(entry_size(source_files.get(p)) for p in plan["add"]),
        "changed": sum(entry_size(source_files.get(p)) for p in plan["change"]),
        "deleted": sum(entry_size(destination_files.get(p)) for p in plan["delete"]),
    }


def has_changes(plan):
    return bool(plan["add"] or plan["change"] or plan["delete"])


def diff_text(paths, files):
    """One line per path (fingerprint, size) for diff mode; 'absent' for paths the side lacks."""
    lines = []
    for path in paths:
        entry = files.get(path)
        if entry is None:
            lines.append(f"{path}  absent")
        elif entry[0] == "l":
            lines.append(f"{path}  -> {entry[5]}")
        else:
            lines.append(f"{path}  sha256:{entry[5][:16]}  {entry[1]} B")
    return "\n".join(lines) + ("\n" if lines else "")


def expected_destination(plan, source_files, destination_files):
    """The destination's manifest entries after the plan is applied (for diff mode and the expected digest)."""
    after = dict(destination_files)
    for path in plan["add"] + plan["change"]:
        after[path] = source_files[path]
    for path in plan["delete"]:
        after.pop(path, None)
    return after


def sync_age(record, now):
    """Seconds since the sync recorded in ``record`` (None without a record)."""
    if not record or record.get("time") is None:
        return None
    return max(0, int(now - float(record["time"])))


def latest_record(records):
    """The most recent of several peer records (dicts with ``time``), or None."""
    dated = [r for r in records if r and r.get("time") is not None]
    return max(dated, key=lambda r: float(r["time"])) if dated else None


def parse_rsync_stats(text):
    """Figures from ``rsync --stats``: transferred_files, transferred_bytes (file data), sent_bytes."""
    result = {"transferred_files": 0, "transferred_bytes": 0, "sent_bytes": 0}
    patterns = {
        "transferred_files": r"Number of regular files transferred:\s*([\d,]+)",
        "transferred_bytes": r"Total transferred file size:\s*([\d,]+)",
        "sent_bytes": r"Total bytes sent:\s*([\d,]+)",
    }
    for key, pattern in patterns.items():
        m = re.search(pattern, text or "")
        if m:
            result[key] = int(m.group(1).replace(",", ""))
    return result


def rsync_failure_hint(rc, stderr):
    """A human reason and fix for an rsync exit code (see rsync(1) EXIT VALUES)."""
    text = stderr or ""
    if "No space left on device" in text or "Disk quota exceeded" in text:
        return "the destination file system is full: free space there (or grow it) and run the sync again"
    if rc == 255 or "Permission denied (publickey" in text or "Host key verification failed" in text:
        return (
            "ssh could not log in to the destination: check ssh_key, known_hosts and that the destination's "
            "restricted account trusts this host's key (run the apiplatform.ha.shared_fs role on both sites)"
        )
    if rc in (10, 12, 30, 35) or "Connection timed out" in text or "Connection refused" in text:
        return "the destination could not be reached over ssh: check the inter-site link and sshd on the destination"
    if rc == 11:
        # The receiver reports ENOSPC on its own channel, which is sometimes lost when it exits: rc 11 is then
        # all that reaches us.
        return (
            "the destination file system is full, or read-only (rsync reported a file I/O error): free space there "
            "(or grow it) and run the sync again"
        )
    if rc == 24:
        return "files vanished on the source while they were copied: the tree is being written; run the sync again"
    if rc == 23:
        return "some files could not be transferred (see the errors above); fix them and run the sync again"
    return "see rsync's errors above"


# ---------------------------------------------------------------------------------------------------------------------
# Tree and manifests (local I/O)
# ---------------------------------------------------------------------------------------------------------------------


def is_mounted(path):
    """Whether ``path`` is a mount point listed in /proc/self/mounts (or os.path.ismount)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            points = {line.split()[1].replace("\\040", " ") for line in fh if len(line.split()) > 1}
        if path in points:
            return True
    except OSError:
        pass
    return os.path.ismount(path)


def check_tree(root, mount_required=False):
    """Raise unless ``root`` is a readable directory (and a mount point when ``mount_required``)."""
    if not os.path.exists(root):
        raise SharedFsTreeError(f"path: the shared tree {root} does not exist; {ROLE_HINT} (shared_fs_path)")
    if not os.path.isdir(root):
        raise SharedFsTreeError(f"path: {root} is not a directory; point path at the shared tree")
    if mount_required and not is_mounted(root):
        raise SharedFsTreeError(
            f"path: {root} is not mounted (mount_required=true); mount the shared file system there (fstab or the "
            "operator's automount) and run again, or set mount_required=false for a local tree"
        )
    if not os.access(root, os.R_OK | os.X_OK):
        raise SharedFsTreeError(f"path: {root} is not readable by this user; run with become or fix its permissions")


def meta_path(root, *parts):
    return os.path.join(root, META_DIR, *parts)


def hash_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(HASH_CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def build_manifest(root, cache=None):
    """Walk ``root`` (skipping the metadata dir) and return (files, stats).

    ``files`` maps the relative POSIX path to ``[kind, size, mtime_ns, ino, ctime_ns, hash]``: kind ``f`` (regular
    file; hash is the sha256 of its content) or ``l`` (symlink; hash is the link target). Other file types are
    skipped. A file whose size, mtime, inode and ctime equal its cache entry is not hashed again; ctime is in the key
    because any write changes it, so a content change that keeps size and mtime (even ``touch -r``) is still hashed.
    A symlink with the same key is not read again either (a symlink's target cannot change in place).

    ``stats``: ``hashed`` and ``cached`` (regular files), and ``unchanged``: whether ``files`` equals the cache
    (every entry taken from it, none added or removed), so that what was derived from the cache (its digest, its
    size) still holds.
    """
    cache = cache or {}
    files = {}
    hashed = cached = reused = 0
    is_lnk, is_reg = stat.S_ISLNK, stat.S_ISREG
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        prefix = f"{rel_dir}/" if rel_dir else ""
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as e:
            raise SharedFsTreeError(f"cannot read {abs_dir}: {e.strerror}; fix its permissions") from None
        for entry in entries:
            name = entry.name
            if not rel_dir and name == META_DIR:
                continue
            rel = prefix + name
            try:
                # The directory entry's type says "directory" without a stat (one system call less per directory).
                if entry.is_dir(follow_symlinks=False):
                    stack.append((rel, entry.path))
                    continue
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished while walking
            mode = st.st_mode
            old = cache.get(rel)
            # The cache key, compared field by field (the hot path of a run with nothing to do); the size below.
            same = old and old[2] == st.st_mtime_ns and old[3] == st.st_ino and old[4] == st.st_ctime_ns
            if is_reg(mode):
                if same and old[0] == "f" and old[1] == st.st_size:
                    files[rel] = old
                    cached += 1
                    continue
                try:
                    digest = hash_file(entry.path)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    raise SharedFsTreeError(f"cannot read {entry.path}: {e.strerror}; fix its permissions") from None
                files[rel] = ["f", st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, digest]
                hashed += 1
            elif is_lnk(mode):
                if same and old[0] == "l":
                    files[rel] = old
                    reused += 1
                    continue
                try:
                    target = os.readlink(entry.path)
                except FileNotFoundError:
                    continue
                files[rel] = ["l", 0, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, target]
    unchanged = cached + reused == len(files) == len(cache)
    return files, {"hashed": hashed, "cached": cached, "unchanged": unchanged}


def cached_totals(doc, stats):
    """(digest, bytes) of the cached manifest ``doc`` when the walk found exactly its files (``stats["unchanged"]``),
    else (None, None): what :func:`manifest_document` would compute again, at a cost, for the same result."""
    if not doc or not stats.get("unchanged"):
        return None, None
    digest, size = doc.get("digest"), doc.get("bytes")
    if not isinstance(digest, str) or len(digest) != 64 or not isinstance(size, int) or isinstance(size, bool):
        return None, None
    return digest, size


def manifest_document(files, site="", host="", digest=None, total_bytes=None):
    """The manifest as saved; ``digest`` and ``total_bytes`` (of ``files``, when the caller already has them) save
    computing them again."""
    return {
        "format": MANIFEST_FORMAT,
        "built": time.time(),
        "site": site,
        "host": host,
        "digest": manifest_digest(files) if digest is None else digest,
        "count": len(files),
        "bytes": sum(entry_size(e) for e in files.values()) if total_bytes is None else total_bytes,
        "files": files,
    }


def read_json(path, what):
    """A JSON document, or None when the file does not exist; raise when it is unreadable or corrupt."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SharedFsManifestError(f"{what} {path} is unreadable ({e}); delete it and it is rebuilt") from None


def load_manifest(root):
    """The cached manifest document of the tree, or None (a corrupt cache is ignored: it is rebuilt)."""
    return load_manifest_text(root)[0]


def load_manifest_text(root):
    """(document, its JSON text) of the cached manifest of the tree, or (None, None) as :func:`load_manifest`."""
    try:
        with open(meta_path(root, MANIFEST_NAME), encoding="utf-8") as fh:
            text = fh.read()
        doc = json.loads(text)
    except (OSError, ValueError):
        return None, None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("files"), dict):
        return None, None
    return doc, text


def manifest_text(doc, cached=None, cached_text=None):
    """``to_json(doc)`` for a manifest document. ``cached`` and ``cached_text``: the cached manifest (see
    :func:`load_manifest_text`) when ``doc["files"]`` holds exactly its entries (the walk found it unchanged): the
    text of its files, the bulk of the document, is then copied instead of serialised again. It is the last key of
    a manifest as written here, after scalar values only, so it starts at the first ``,"files":`` of the text (a
    string cannot hold an unescaped quote) and ends before the text's last brace."""
    if cached is not None and cached_text and cached_text.endswith("}") and list(cached)[-1] == "files":
        marker = ',"files":'
        start = cached_text.find(marker)
        scalars = all(isinstance(v, (str, int, float, type(None))) for k, v in cached.items() if k != "files")
        if start > 0 and scalars:
            head = to_json({k: v for k, v in doc.items() if k != "files"})
            return f"{head[:-1]}{marker}{cached_text[start + len(marker) : -1]}}}"
    return to_json(doc)


def to_json(data):
    """Compact JSON text, as the metadata files are written (one string: far faster than json.dump)."""
    return json.dumps(data, separators=(",", ":"))


def write_json_atomic(path, data):
    """Write JSON next to ``path`` and rename it into place; owner and group follow the parent directory."""
    write_text_atomic(path, to_json(data))


def write_text_atomic(path, text):
    """Write ``text`` (already serialised JSON) as :func:`write_json_atomic` does."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o660)
        if os.geteuid() == 0:
            st = os.stat(directory)
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_meta_dir(root):
    """Create the metadata directory (and peers/) with the tree root's owner and group."""
    for path in (meta_path(root), meta_path(root, PEERS_DIR)):
        if not os.path.isdir(path):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o2770)
            if os.geteuid() == 0:
                st = os.stat(root)
                os.chown(path, st.st_uid, st.st_gid)


def refresh_manifest(root, site="", host="", save=True):
    """Build the manifest with the cache and (when ``save``) write it back; return (document, stats)."""
    old, old_text = load_manifest_text(root)
    files, stats = build_manifest(root, (old or {}).get("files"))
    doc = manifest_document(files, site, host, *cached_totals(old, stats))
    if save:
        ensure_meta_dir(root)
        cached = (old, old_text) if stats["unchanged"] else ()
        write_text_atomic(meta_path(root, MANIFEST_NAME), manifest_text(doc, *cached))
    return doc, stats


def peer_record_path(root, peer):
    if not re.match(r"^[A-Za-z0-9_.-]+$", peer or "") or peer.startswith("."):
        raise SharedFsParameterError(f"site name {peer!r} must be letters, digits, '.', '_' or '-'")
    return meta_path(root, PEERS_DIR, f"{peer}.json")


def read_peer_record(root, peer):
    return read_json(peer_record_path(root, peer), "sync record")


def read_peer_records(root):
    """Every peer record of the tree, by peer name."""
    directory = meta_path(root, PEERS_DIR)
    records = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return records
    for name in names:
        if name.endswith(".json") and not name.startswith("."):
            try:
                doc = read_json(os.path.join(directory, name), "sync record")
            except SharedFsManifestError:
                continue
            if isinstance(doc, dict):
                records[name[: -len(".json")]] = doc
    return records


def sync_record(peer, role, digest, base, when, source_site, destination_site, summary):
    """A sync record as saved in ``peers/<peer>.json`` (see :func:`sync_record_text`)."""
    return {
        "format": MANIFEST_FORMAT,
        "peer": peer,
        "role": role,
        "time": when,
        "digest": digest,
        "source_site": source_site,
        "destination_site": destination_site,
        "summary": summary,
        "base": base,
    }


def sync_record_text(record, base_text=None, **changes):
    """The JSON text of ``record`` with ``changes`` (say peer and role), the same text as ``to_json(dict(record,
    **changes))`` when "base" is the record's last key, as :func:`sync_record` makes it. ``base_text``:
    ``to_json(record["base"])``, when the caller already has it: the two sides' records share the base, the bulk of a
    record, which is then serialised once for both."""
    if base_text is None:
        return to_json(dict(record, **changes))
    head = to_json({k: v for k, v in dict(record, **changes).items() if k != "base"})
    # "base" is the record's last key (see sync_record): put it back where json.dumps would.
    return f'{head[:-1]},"base":{base_text}}}' if len(head) > 2 else f'{{"base":{base_text}}}'


def rsync_leftovers(root):
    """Paths of rsync temporary files or directories left in the tree (should always be empty)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            if name in (".~tmp~", "rsync-partial") or RSYNC_TEMP_RE.match(name):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


# ---------------------------------------------------------------------------------------------------------------------
# rsync over ssh (argument lists; the -e value is split by rsync itself, never by a shell)
# ---------------------------------------------------------------------------------------------------------------------


class RsyncRemote:
    """rsync to/from the destination's restricted account, whose forced command (rrsync) roots paths in its tree."""

    def __init__(
        self,
        host,
        user,
        ssh_key,
        port=22,
        known_hosts=None,
        strict_host_key_checking=True,
        connect_timeout=10,
        remote_path="",
        rsync="rsync",
        ssh="ssh",
        timeout=0,
        runner=None,
        spawner=None,
    ):
        self.host = host
        self.user = user
        self.ssh_key = ssh_key
        self.port = port
        self.known_hosts = known_hosts
        self.strict = strict_host_key_checking
        self.connect_timeout = connect_timeout
        self.remote_path = (remote_path or "").rstrip("/")
        self.rsync = rsync
        self.ssh = ssh
        self.timeout = timeout
        self.runner = runner or _run
        # Starts an rsync without waiting for it (see prepare_push); by default only without a custom runner.
        self.spawner = spawner or (spawn if runner is None else None)
        self.executed = []
        self.control_dir = None

    def share_connection(self, control_dir):
        """Let every rsync of this run share one ssh connection, whose socket lives in the private ``control_dir``.

        Each rsync still opens its own session, which the destination's forced command (rrsync) restricts as
        before: only the ssh handshake is saved. :meth:`close` ends the shared connection.
        """
        self.control_dir = control_dir

    def connection_shared(self):
        """Whether the shared ssh connection is up (its control socket exists)."""
        return bool(self.control_dir) and any(n.startswith("cm-") for n in _listdir(self.control_dir))

    def close(self):
        """End the shared ssh connection, if one was opened (idempotent; never raises)."""
        if not self.connection_shared():
            return
        # Best effort: an orphaned master exits by itself after ControlPersist seconds without a session.
        with contextlib.suppress(Exception):
            self.runner([*self.ssh_command(), "-O", "exit", f"{self.user}@{self.host}"], None)

    def ssh_command(self):
        cmd = [self.ssh, "-i", self.ssh_key, "-p", str(self.port), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
        cmd += ["-o", f"ConnectTimeout={self.connect_timeout}", "-o", "ServerAliveInterval=15"]
        cmd += ["-o", "StrictHostKeyChecking=" + ("yes" if self.strict else "no")]
        if self.known_hosts:
            cmd += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        elif not self.strict:
            cmd += ["-o", "UserKnownHostsFile=/dev/null"]
        if self.control_dir:
            cmd += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_dir}/cm-%C"]
            cmd += ["-o", "ControlPersist=30"]
        return cmd

    def remote(self, rel=""):
        """``user@host:<path>``: relative to the restricted account's root (or to remote_path when given)."""
        parts = [p for p in (self.remote_path, rel) if p]
        path = "/".join(parts) if parts else "."
        return f"{self.user}@{self.host}:{path}"

    def base_args(self):
        args = [self.rsync, "-e", shlex.join(self.ssh_command())]
        if self.timeout:
            args.append(f"--timeout={self.timeout}")
        return args

    def _run(self, args, stdin=None, on_busy=None):
        """Run one rsync; again, after a short pause, while the destination's rrsync is busy with another one (its
        lock admits one rsync at a time: the previous one of this run may not have ended there yet).

        ``on_busy``: called before each new try; returns True when it freed the lock itself (then no pause)."""
        for pause in RRSYNC_BUSY_RETRIES:
            rc, out, err = self.runner(args, stdin)
            if rc == 0 or RRSYNC_BUSY not in (err or ""):
                break
            if not (on_busy and on_busy()):
                time.sleep(pause)
        else:
            rc, out, err = self.runner(args, stdin)
        return rc, out, err

    def _call(self, args, stdin=None, what="rsync", ok=(0,)):
        self.executed.append(args)
        rc, out, err = self._run(args, stdin)
        self._check(rc, err, what, ok)
        return out

    def _check(self, rc, err, what, ok=(0,)):
        if rc not in ok:
            hint = rsync_failure_hint(rc, err)
            tail = " | ".join(line for line in (err or "").strip().splitlines()[-6:] if line)
            raise SharedFsTransferError(
                f"{what} to {self.user}@{self.host} failed (rsync exit code {rc}): {hint}. rsync said: {tail}",
                rc=rc,
                stderr=err,
            )

    def fetch(self, rel, local_path, what, on_busy=None):
        """Copy one file from the destination tree to ``local_path``; None when it does not exist there.

        ``on_busy``: see :meth:`_run` (a read meets rrsync's lock only where the destination locks reads too)."""
        args = [*self.base_args(), "--quiet", self.remote(rel), local_path]
        self.executed.append(args)
        rc, _out, err = self._run(args, None, on_busy)
        if rc in (12, 23) and "No such file" in (err or ""):
            return None  # rsync says 23; through rrsync the missing path ends the session (12)
        if rc != 0:
            hint = rsync_failure_hint(rc, err)
            tail = " | ".join(line for line in (err or "").strip().splitlines()[-6:] if line)
            raise SharedFsTransferError(
                f"fetching {what} from {self.user}@{self.host} failed (rsync exit code {rc}): {hint}. "
                f"rsync said: {tail}",
                rc=rc,
                stderr=err,
            )
        return local_path

    def push_files(self, root, paths):
        """Copy exactly ``paths`` (relative) from ``root`` to the destination tree; return rsync's stats."""
        listing = "\0".join(paths) + "\0"
        args = [*self.base_args(), "-lpt", "--ignore-times", "--from0", "--files-from=-", "--ignore-missing-args"]
        args += ["--stats", f"--exclude=/{META_DIR}/", root.rstrip("/") + "/", self.remote()]
        return parse_rsync_stats(self._call(args, listing, "copying the changed files"))

    def delete_files(self, root, paths):
        """Delete ``paths`` on the destination: rsync removes listed paths that are missing on the source."""
        listing = "\0".join(paths) + "\0"
        args = [*self.base_args(), "-lpt", "--from0", "--files-from=-", "--delete-missing-args"]
        args += [f"--exclude=/{META_DIR}/", root.rstrip("/") + "/", self.remote()]
        # Exit code 24 ("vanished"): a deleted file's parent directory is gone from the source too; rsync still
        # deletes the listed file (and never the directory, which may hold files the destination keeps).
        self._call(args, listing, "deleting files", ok=(0, 24))

    def push_record(self, local_file, rel_dir):
        """Copy ``local_file`` into the directory ``rel_dir`` of the destination tree, under its own name.

        (A directory target, not a file name: through rrsync, rsync 3.5 fails to replace a file named as target.)
        """
        args = [*self.base_args(), "--mkpath", "-t", local_file, self.remote(rel_dir.rstrip("/") + "/")]
        self._call(args, None, "recording the sync")

    def prepare_push(self, local_dir, rel_dir):
        """Start an rsync that will copy files of ``local_dir`` into ``rel_dir`` of the destination tree, and wait.

        The ssh session, the destination's rrsync and rsync's handshake happen now; nothing is read or copied until
        :meth:`PendingPush.send` (or :meth:`PendingPush.start`, then :meth:`PendingPush.finish`) names the files
        (``--files-from`` on stdin). :meth:`PendingPush.cancel` ends it with nothing copied. With a custom runner
        (tests), the rsync only runs at ``send()`` / ``finish()``.
        """
        args = [*self.base_args(), "--mkpath", "-t", "--from0", "--files-from=-"]
        args += [local_dir.rstrip("/") + "/", self.remote(rel_dir.rstrip("/") + "/")]
        return PendingPush(self, args, self.spawner(args) if self.spawner else None)


class PendingPush:
    """An rsync started by :meth:`RsyncRemote.prepare_push`, waiting for its file list."""

    def __init__(self, remote, args, proc):
        self.remote = remote
        self.args = args
        self.proc = proc
        self.listing = None  # the list given to start(), copied by finish()
        self.handed = False  # whether start() wrote it to the waiting rsync

    def alive(self):
        """Whether the started rsync still waits (False without one: with a custom runner it runs at send())."""
        return self.proc is not None and self.proc.poll() is None

    def send(self, names, what="recording the sync"):
        """Copy ``names`` (relative to the prepared local directory); raise like any other rsync failure."""
        self.start(names)
        return self.finish(what)

    def start(self, names):
        """Give the waiting rsync its list and return at once: it copies while the caller does something else, and
        :meth:`finish` waits for it."""
        self.listing = "\0".join(names) + "\0"
        self.handed = False
        proc = self.proc
        if proc is None or proc.poll() is not None or len(self.listing) > PIPE_SAFE:
            return  # finish() runs it again, or hands the list over while it reads
        try:
            proc.stdin.write(self.listing)
            proc.stdin.close()  # rsync reads the list up to its end before it copies anything
        except (OSError, ValueError):
            return  # it ended meanwhile: finish() runs it again
        proc.stdin = None  # closed: communicate() must not flush it
        self.handed = True

    def finish(self, what="recording the sync"):
        """Wait for the copy given to :meth:`start`; raise like any other rsync failure."""
        if self.listing is None:
            raise ValueError("PendingPush.finish() before start()")
        listing, handed, self.listing, self.handed = self.listing, self.handed, None, False
        proc, self.proc = self.proc, None
        if proc is not None:
            if not handed and proc.poll() is not None:
                proc.communicate()  # it ended before it got its list: nothing was copied
            else:
                out, err = proc.communicate(None if handed else listing)
                if proc.returncode == 0 or RRSYNC_BUSY not in (err or ""):
                    self.remote.executed.append(self.args)
                    self.remote._check(proc.returncode, err, what)
                    return out
                # The destination's rrsync was still busy with another rsync when this one reached it (its lock
                # admits one at a time): it ended without reading the list, nothing was copied.
        # Run it again now (also when the shared connection dropped while it waited).
        return self.remote._call(self.args, listing, what)

    def cancel(self, wait=False):
        """End the waiting rsync with nothing copied (idempotent).

        ``wait``: give it an empty list and wait for it to end, so that the destination's rrsync has released its
        lock before the next rsync starts; otherwise it is killed (when no other rsync follows).
        """
        proc, self.proc = self.proc, None
        self.listing, self.handed = None, False
        if proc is None:
            return
        if wait and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, subprocess.SubprocessError):
                proc.communicate("", timeout=max(60, self.remote.connect_timeout * 3))
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def spawn(args):
    """An rsync started in the background, stdin, stdout and stderr piped (text)."""
    return subprocess.Popen(
        args,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="surrogateescape",
    )


def _run(args, stdin=None):
    proc = subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        text=True,
        errors="surrogateescape",
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


def tree_argument_spec():
    """Options shared by the shared_fs modules (documented in the apiplatform.ha.shared_fs doc fragment)."""
    return {
        "path": {"type": "path", "required": True},
        "site": {"type": "str", "required": True},
        "mount_required": {"type": "bool", "default": False},
    }
