#!/usr/bin/python
# Copyright: (c) 2026, apiplatform.ha maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: shared_fs_sync
short_description: Synchronise the shared tree from this site to another site, by manifest, with conflict detection
version_added: 0.2.0
description:
  - Runs on the B(source) site's sync host and synchronises its shared tree O(path) to the destination site's sync
    host over rsync/ssh, through the destination's restricted account (a forced C(rrsync) command rooted in the
    destination's tree, as the C(apiplatform.ha.shared_fs) role sets up). No other command can run over that trust.
  - "Read: builds the source manifest (path, size, mtime, sha256; a file whose size, mtime, inode and ctime are
    unchanged is not hashed again) and fetches the destination's manifest through rsync. The destination's manifest
    must have been written on the destination beforehand, by M(apiplatform.ha.shared_fs_info) with
    O(apiplatform.ha.shared_fs_info#module:write_manifest=true), no longer than O(destination_manifest_max_age)
    seconds ago (C(playbooks/sync-shared-fs.yml) does both)."
  - "Plan: compares both manifests with the common base recorded by the last successful sync between the two sites.
    A file changed only on the source is copied (or deleted, with O(delete=true)); a file changed only on the
    destination is kept and reported in RV(destination_changes); a file changed on both sides is a conflict,
    reported in RV(conflicts) and left alone unless O(conflict_policy) names the side that wins. Before the sites
    ever synchronised, a file present on both sides with different content is a conflict."
  - "Apply: rsync C(--files-from) moves only the differing files, with C(--ignore-times) so that a content change
    that keeps size and mtime is still copied. rsync writes each file to a temporary name and renames it, so an
    interrupted or failed sync (full disk, cut link) leaves every destination file either old or new, never half
    written, and removes its temporary files."
  - Then records the sync (time, digest of the common manifest, and the base) on both sides, in
    C(.shared-fs/peers/<peer site>.json), so that M(apiplatform.ha.shared_fs_info) and the
    C(check_shared_fs_sync) monitoring script can report the lag. A run with nothing to move also records the sync
    (the sites were level at that time) but reports C(changed=false).
  - "All the rsync calls of a run share one ssh connection (ssh C(ControlMaster), its socket in a private temporary
    directory, closed when the run ends, also on errors). Each call is still its own ssh session, which the
    destination's forced C(rrsync) command restricts exactly as before."
  - "A run with nothing to move opens two sessions: one reads the destination's manifest, one writes the sync record
    (rsync moves data one way per session, and the record depends on what was read). When the source tree is
    unchanged since the last run, the record's session is started early and waits for its file list, so that its
    start-up (ssh session, C(rrsync), rsync's handshake) overlaps other work: after the manifest is fetched, or with
    O(destination_unlocked_reads=true) while it is fetched. Otherwise it starts once the files are copied."
  - Empty directories, file owners and ACLs are not synchronised (regular files, symlinks, permissions and mtimes
    are).
author:
  - apiplatform.ha maintainers (@apiplatform)
options:
  destination_site:
    description: Name of the destination site. Must differ from O(site).
    type: str
    required: true
  destination_host:
    description: Address of the destination site's sync host (its inter-site address).
    type: str
    required: true
  destination_user:
    description: The restricted rsync account on the destination.
    type: str
    default: shared-fs-sync
  destination_port:
    description: ssh port of the destination.
    type: int
    default: 22
  destination_path:
    description:
      - Path of the tree on the destination as the ssh account sees it. Leave empty with the role's trust, whose
        forced C(rrsync) command roots every path in the destination's tree.
    type: str
    default: ''
  ssh_key:
    description: Private key of this host's sync identity (the role generates it; it never leaves the host).
    type: path
    required: true
  known_hosts:
    description: known_hosts file with the destination's host key (the role writes it). Default ssh's own.
    type: path
  strict_host_key_checking:
    description: Refuse destinations whose host key is not in O(known_hosts).
    type: bool
    default: true
  connect_timeout:
    description: Seconds ssh waits for the destination to answer.
    type: int
    default: 10
  delete:
    description:
      - Delete on the destination the files deleted on the source since the last sync (and, on a first sync, the
        destination's files the source lacks). Without it they are listed in RV(skipped_deletions).
    type: bool
    default: false
  conflict_policy:
    description:
      - What to do with a file changed on both sites since the last sync. V(report) leaves both versions and lists
        the file in RV(conflicts); V(source_wins) copies the source's version (and, with O(delete=true), propagates
        its deletion; it also overwrites destination-only changes); V(destination_wins) keeps the destination's.
    type: str
    choices: [report, source_wins, destination_wins]
    default: report
  paths:
    description:
      - Limit the sync to these files or sub-trees, relative to O(path) (or absolute inside it).
    type: list
    elements: str
    default: []
  destination_manifest_max_age:
    description: Refuse a destination manifest older than this many seconds (it must be fresh to detect conflicts).
    type: int
    default: 900
  destination_unlocked_reads:
    description:
      - The destination's forced command serves reads without the lock of C(rrsync) (C(rrsync -ro), which cannot
        write), and writes with it, as the C(apiplatform.ha.shared_fs) role's dispatcher does
        (C(shared_fs_sync_unlocked_reads)). The session that writes the sync record then starts while the
        destination's manifest is fetched, and holds the lock (no other source writes the tree meanwhile) until the
        record is sent.
      - Leave V(false) for a destination forced into plain C(rrsync), which locks reads too and so admits one session
        at a time. Set wrongly, the run still succeeds; it is only slower (the two sessions meet the lock, and the
        record's session is ended and started again after the read).
    type: bool
    default: false
extends_documentation_fragment:
  - apiplatform.ha.shared_fs
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads both manifests and reports what would be added, changed, deleted and which conflicts exist;
      nothing is written on either side (not even the stat cache or the sync record).
  diff_mode:
    support: full
    details: Shows the affected destination paths (fingerprint and size) before and after.
  platform:
    platforms: posix
seealso:
  - module: apiplatform.ha.shared_fs_info
  - name: rrsync
    description: The restricted rsync forced command used by the destination's account.
    link: https://download.samba.org/pub/rsync/rrsync.1
"""

EXAMPLES = r"""
- name: Refresh the destination's manifest (on the destination)
  apiplatform.ha.shared_fs_info:
    path: /srv/shared
    site: dc2
    write_manifest: true
  delegate_to: dc2-node2

- name: Synchronise dc1 to dc2 (on dc1's sync host)
  apiplatform.ha.shared_fs_sync:
    path: /srv/shared
    site: dc1
    destination_site: dc2
    destination_host: 172.29.0.22
    ssh_key: /var/lib/shared-fs-sync/.ssh/id_ed25519
    known_hosts: /var/lib/shared-fs-sync/.ssh/known_hosts
  register: __sync

- name: After an outage of dc2, make dc1's tree win every conflict and propagate deletions
  apiplatform.ha.shared_fs_sync:
    path: /srv/shared
    site: dc1
    destination_site: dc2
    destination_host: 172.29.0.22
    ssh_key: /var/lib/shared-fs-sync/.ssh/id_ed25519
    known_hosts: /var/lib/shared-fs-sync/.ssh/known_hosts
    conflict_policy: source_wins
    delete: true
"""

RETURN = r"""
files_added:
  description: Paths copied to the destination that it did not have (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [reports/2026/04.pdf]
files_changed:
  description: Paths whose content on the destination was replaced by the source's.
  returned: always
  type: list
  elements: str
  sample: [config/app.yml]
files_deleted:
  description: Paths deleted on the destination (only with O(delete=true)).
  returned: always
  type: list
  elements: str
  sample: [tmp/old.bin]
bytes_added:
  description: Total size of RV(files_added).
  returned: always
  type: int
  sample: 1048576
bytes_changed:
  description: Total size (source side) of RV(files_changed).
  returned: always
  type: int
  sample: 2048
bytes_deleted:
  description: Total size (destination side) of RV(files_deleted).
  returned: always
  type: int
  sample: 0
transferred_bytes:
  description: Bytes rsync actually sent over the link (after its delta transfer); 0 in check mode.
  returned: always
  type: int
  sample: 40960
conflicts:
  description: Files changed on both sites since the last sync (fingerprints are C(f:<sha256>), C(l:<link target>)
    or C(absent)) and what was done with each.
  returned: always
  type: list
  elements: dict
  sample:
    - path: config/app.yml
      source: "f:9f86d08..."
      destination: "f:60303ae..."
      base: "f:2c26b46..."
      reason: changed on both sites since the last sync
      resolution: reported
destination_changes:
  description: Files changed only on the destination since the last sync, kept as they are (see O(conflict_policy)).
  returned: always
  type: list
  elements: str
  sample: [notes/dc2-only.txt]
skipped_deletions:
  description: Files the source no longer has that stay on the destination because O(delete=false).
  returned: always
  type: list
  elements: str
  sample: [tmp/old.bin]
source_digest:
  description: Digest of the source's manifest (sha256 over path and content fingerprint of every file).
  returned: always
  type: str
  sample: 5d41402abc4b2a76b9719d911017c592b7f1e2d3c4a5b6c7d8e9f00112233445
destination_digest:
  description: Digest of the destination's manifest before the sync.
  returned: always
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
destination_digest_after:
  description: Digest the destination has after the sync (as planned; in check mode, what it would have).
  returned: always
  type: str
  sample: 5d41402abc4b2a76b9719d911017c592b7f1e2d3c4a5b6c7d8e9f00112233445
in_sync:
  description: Whether both sites hold the same tree after the sync (RV(destination_digest_after) equals
    RV(source_digest)).
  returned: always
  type: bool
  sample: true
hashed_files:
  description: Source files hashed in this run (the others came from the stat cache).
  returned: always
  type: int
  sample: 12
cached_files:
  description: Source files whose hash came from the stat cache.
  returned: always
  type: int
  sample: 9988
last_sync:
  description: The sync record written on both sides (in check mode, the previous record, or null).
  returned: always
  type: dict
  sample:
    peer: dc2
    time: 1767225600.0
    digest: 5d41402abc4b2a76b9719d911017c592b7f1e2d3c4a5b6c7d8e9f00112233445
executed:
  description: The rsync commands run, as argument lists.
  returned: always
  type: list
  elements: list
  sample: [["rsync", "-e", "ssh -i /var/lib/shared-fs-sync/.ssh/id_ed25519 -p 22", "--quiet",
            "shared-fs-sync@172.29.0.22:.shared-fs/manifest.json", "/tmp/x/manifest.json"]]
"""

import os
import shutil
import tempfile
import threading
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.apiplatform.ha.plugins.module_utils.shared_fs import (
    CONFLICT_POLICIES,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    META_DIR,
    PEERS_DIR,
    RsyncRemote,
    SharedFsError,
    SharedFsManifestError,
    SharedFsParameterError,
    build_manifest,
    cached_totals,
    check_tree,
    diff_text,
    digest_of,
    ensure_meta_dir,
    expected_destination,
    has_changes,
    in_subpaths,
    load_manifest_text,
    manifest_digest,
    manifest_document,
    manifest_fingerprints,
    manifest_text,
    meta_path,
    normalize_subpaths,
    peer_record_path,
    plan_bytes,
    plan_sync,
    read_json,
    read_peer_record,
    spawn,
    sync_record,
    sync_record_text,
    to_json,
    tree_argument_spec,
    validate_root,
    write_text_atomic,
)


def validate(params):
    """Option checks that the argument spec cannot express; each names the option and the fix."""
    root = validate_root(params["path"])
    if params["site"] == params["destination_site"]:
        raise SharedFsParameterError(
            f"destination_site: equals site ({params['site']}); the source and the destination must be different "
            "sites: set destination_site and destination_host to another site's sync host"
        )
    peer_record_path(root, params["site"])
    peer_record_path(root, params["destination_site"])
    subpaths = normalize_subpaths(root, params["paths"])
    key = params["ssh_key"]
    if not os.path.isfile(key):
        raise SharedFsParameterError(
            f"ssh_key: {key} does not exist; the apiplatform.ha.shared_fs role generates it on every sync host "
            "(shared_fs_sync_home/.ssh/id_ed25519): run the role, or point ssh_key at this host's private sync key"
        )
    if not os.access(key, os.R_OK):
        raise SharedFsParameterError(f"ssh_key: {key} is not readable by this user; run the task with become")
    known = params["known_hosts"]
    if known and not os.path.isfile(known):
        raise SharedFsParameterError(
            f"known_hosts: {known} does not exist; run the apiplatform.ha.shared_fs role (it writes the peers' "
            "host keys there) or point known_hosts at a file that holds the destination's host key"
        )
    if params["destination_manifest_max_age"] <= 0:
        raise SharedFsParameterError("destination_manifest_max_age: must be a positive number of seconds, e.g. 900")
    return root, subpaths


class SyncResource:
    """The two trees: the local (source) one on disk, the remote (destination) one through rsync.

    All the rsync calls of one run share one ssh connection (its socket in a private temporary directory). When
    the source is unchanged since the last run (most likely nothing to move), the sync record's rsync is started
    before it is needed, so that its ssh session, the destination's rrsync and rsync's handshake happen while the
    run does other work (see :meth:`RsyncRemote.prepare_push`): as soon as the destination's manifest is fetched
    or, when the destination reads without rrsync's lock (``destination_unlocked_reads``), as soon as the shared
    connection is up, while the manifest is fetched. :meth:`close` ends both.
    """

    def __init__(self, module, root, remote):
        self.module = module
        self.root = root
        self.remote = remote
        self.scratch = tempfile.mkdtemp(prefix="shared-fs-sync-")
        self.outbox = os.path.join(self.scratch, "record")
        os.mkdir(self.outbox, 0o700)
        # ssh's control socket path must stay short: a unix socket path has at most 107 bytes, and ssh adds
        # "/cm-" + 40 (%C) + "." + 16 (its temporary name) to this directory's path.
        self.control = tempfile.mkdtemp(prefix="sfs-cm-", dir="/tmp" if len(tempfile.gettempdir()) > 30 else None)
        self.remote.share_connection(self.control)
        self.pending = None
        self.early_record = bool(module.params.get("destination_unlocked_reads"))
        self.starter = None  # (stop event, thread) of the early record push
        self.walked = threading.Event()  # set when the source walk is over
        self.source_totals = (None, None)  # digest and bytes of the source's cached manifest, while they hold
        self.source_cache = ()  # that manifest and its text, while they hold (see manifest_text)

    def close(self):
        try:
            self.stop_starter()
            self.cancel_record()
        finally:
            self.remote.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
            shutil.rmtree(self.control, ignore_errors=True)

    def read_source(self):
        old, old_text = load_manifest_text(self.root)
        files, stats = build_manifest(self.root, (old or {}).get("files"))
        self.source_totals = cached_totals(old, stats)
        self.source_cache = (old, old_text) if stats["unchanged"] else ()
        return files, stats

    def read_trees(self, expected_site, source_site, max_age, now, prepare_record=False):
        """(source files, source stats, destination files): the source is walked while the destination's manifest
        is fetched. An error reading the source wins over one fetching the destination, as when done in turn."""
        box = {}

        def walk():
            try:
                box["source"] = self.read_source()
            except BaseException as e:  # re-raised in the caller's thread
                box["error"] = e
            finally:
                self.walked.set()

        self.walked.clear()
        worker = threading.Thread(target=walk, name="shared-fs-walk", daemon=True)
        worker.start()
        try:
            destination = self.read_destination(expected_site, source_site, max_age, now, prepare_record)
        except BaseException:
            worker.join()
            if "error" in box:
                raise box["error"] from None
            raise
        worker.join()
        if "error" in box:
            raise box["error"]
        if prepare_record:
            self.prepare_record_if_idle()  # the walk ended after the fetch
        return (*box["source"], destination)

    def prepare_record(self):
        self.pending = self.remote.prepare_push(self.outbox, f"{META_DIR}/{PEERS_DIR}")

    def source_unchanged(self):
        """Whether the source walk is over and found the tree as its cache has it (as the last run left it): then
        the run most likely moves nothing, and its next rsync is the record's. Otherwise files are pushed first, the
        record's rsync is started after them (a prepared one would be ended unused, and would hold the
        destination's lock while the source is hashed)."""
        return self.walked.is_set() and bool(self.source_cache)

    def prepare_record_if_idle(self):
        """Start the record's rsync now (see :meth:`source_unchanged`), or again if an early one ended (another
        rsync held the lock)."""
        if self.pending is not None and self.pending.proc is not None and not self.pending.alive():
            self.cancel_record()
        if self.pending is None and self.source_unchanged():
            self.prepare_record()

    def start_early(self):
        """Prepare the record push as soon as the fetch's ssh has opened the shared connection and the source walk
        found the tree unchanged (a thread), so that the two sessions start together. Only for a destination that
        reads without rrsync's lock: the push takes the lock at once and holds it until the record is sent; a read
        that took it too would be refused."""
        stop = threading.Event()

        def wait_for_connection():
            while not stop.wait(0.005):
                if self.walked.is_set() and self.remote.connection_shared():
                    if self.source_unchanged():
                        self.prepare_record()
                    return

        thread = threading.Thread(target=wait_for_connection, name="shared-fs-record", daemon=True)
        self.starter = (stop, thread)
        thread.start()

    def stop_starter(self):
        starter, self.starter = self.starter, None
        if starter is not None:
            starter[0].set()
            starter[1].join()

    def yield_lock(self):
        """The fetch found the destination's rrsync busy. When the early record push may be what holds the lock
        (the destination locks reads after all: plain rrsync), end it so that the fetch can run, and say so; it is
        prepared again once the fetch is over, as for such a destination."""
        self.stop_starter()
        if self.pending is None:
            return False
        self.early_record = False
        self.cancel_record(wait=True)
        return True

    def read_destination(self, expected_site, source_site, max_age, now, prepare_record=False):
        where = f"{self.remote.user}@{self.remote.host}:{META_DIR}/{MANIFEST_NAME}"
        early = prepare_record and self.early_record
        if early:
            self.start_early()
        try:
            local = self.remote.fetch(
                f"{META_DIR}/{MANIFEST_NAME}",
                os.path.join(self.scratch, MANIFEST_NAME),
                where,
                on_busy=self.yield_lock if early else None,
            )
        finally:
            self.stop_starter()
        fix = (
            "run apiplatform.ha.shared_fs_info with write_manifest=true on the destination host just before the sync "
            "(playbooks/sync-shared-fs.yml does)"
        )
        if local is None:
            raise SharedFsManifestError(f"the destination has no manifest ({where}); {fix}")
        if prepare_record:
            # Not earlier for a destination that locks reads: its rrsync admits one rsync at a time (its lock), so
            # the fetch must be over.
            self.prepare_record_if_idle()
        doc = read_json(local, "destination manifest")
        if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT or not isinstance(doc.get("files"), dict):
            raise SharedFsManifestError(f"the destination's manifest {where} has an unknown format; {fix}")
        site = doc.get("site") or ""
        if site and site == source_site:
            raise SharedFsParameterError(
                f"destination_host: {self.remote.host} holds the tree of site {site}, the source itself; source and "
                "destination must be different sites: point destination_host at the destination site's sync host"
            )
        if site and site != expected_site:
            raise SharedFsParameterError(
                f"destination_host: {self.remote.host} holds the tree of site {site}, not of destination_site "
                f"{expected_site}; point destination_host at {expected_site}'s sync host"
            )
        age = now - float(doc.get("built") or 0)
        if age > max_age:
            raise SharedFsManifestError(
                f"the destination's manifest {where} is {int(age)} s old (destination_manifest_max_age="
                f"{max_age}); conflicts cannot be judged on stale data: {fix}"
            )
        return doc["files"]

    def cancel_record(self, wait=False):
        """Drop the prepared record push (nothing is copied)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.cancel(wait)

    def apply(self, plan):
        # The files first, on their own: the record is pushed only once they are all there. Waiting for the
        # prepared rsync to end frees the destination's rrsync lock for the next ones.
        self.cancel_record(wait=True)
        stats = {"transferred_bytes": 0, "transferred_files": 0, "sent_bytes": 0}
        copies = plan["add"] + plan["change"]
        if copies:
            stats = self.remote.push_files(self.root, copies)
        if plan["delete"]:
            self.remote.delete_files(self.root, plan["delete"])
        return stats

    def record(self, source_files, site, peer, record, source_digest=None, source_bytes=None):
        """Save the source's stat cache and the sync record locally, and push the record to the destination.

        With the record's rsync prepared, the record travels while the local files are written (the base, the
        bulk of both records, is serialised once); a failure writing them ends that rsync (best effort: the record
        may have arrived). Without it (after files were copied), the local files first, then the push.
        """
        base_text = to_json(record["base"])
        pushed = os.path.join(self.outbox, f"{site}.json")
        write_text_atomic(pushed, sync_record_text(record, base_text, peer=site, role="destination"))
        pending, self.pending = self.pending, None
        if pending is None:
            self.save_local(source_files, site, peer, record, base_text, source_digest, source_bytes)
            self.remote.push_record(pushed, f"{META_DIR}/{PEERS_DIR}")
            return
        pending.start([f"{site}.json"])
        try:
            self.save_local(source_files, site, peer, record, base_text, source_digest, source_bytes)
        except BaseException:
            pending.cancel()
            raise
        pending.finish()

    def save_local(self, source_files, site, peer, record, base_text, source_digest, source_bytes):
        ensure_meta_dir(self.root)
        doc = manifest_document(source_files, site, "", source_digest, source_bytes)
        write_text_atomic(meta_path(self.root, MANIFEST_NAME), manifest_text(doc, *self.source_cache))
        own = sync_record_text(record, base_text, peer=peer, role="source")
        write_text_atomic(peer_record_path(self.root, peer), own)


def run(module, resource, root, subpaths):
    params = module.params
    site, peer = params["site"], params["destination_site"]
    now = time.time()
    check_tree(root, params["mount_required"])

    source_files, stats, destination_files = resource.read_trees(
        peer, site, params["destination_manifest_max_age"], now, prepare_record=not module.check_mode
    )
    previous = read_peer_record(root, peer)
    full_base = previous.get("base") if isinstance(previous, dict) and isinstance(previous.get("base"), dict) else None

    source_fp = manifest_fingerprints(source_files, subpaths)
    destination_fp = manifest_fingerprints(destination_files, subpaths)
    if subpaths:
        base = None if full_base is None else {p: f for p, f in full_base.items() if in_subpaths(p, subpaths)}
    else:
        base = full_base
    plan = plan_sync(source_fp, destination_fp, base, params["delete"], params["conflict_policy"], subpaths)
    sizes = plan_bytes(plan, source_files, destination_files)
    changed = has_changes(plan)
    after = expected_destination(plan, source_files, destination_files) if changed else destination_files
    # The digests cover the whole trees: from the fingerprints already made when they cover them too, from the
    # source's cached manifest when the walk found it unchanged, and the destination's is the source's when both
    # trees are equal (the common case of a run with nothing to do).
    cached_digest, cached_bytes = resource.source_totals
    if subpaths:
        source_digest = cached_digest or manifest_digest(source_files)
        destination_digest = manifest_digest(destination_files)
    else:
        source_digest = cached_digest or digest_of(source_fp)
        destination_digest = source_digest if destination_fp == source_fp else digest_of(destination_fp)
    after_digest = manifest_digest(after) if changed else destination_digest

    transfer = {"transferred_bytes": 0}
    last_sync = previous
    if not module.check_mode:
        if changed:
            transfer = resource.apply(plan)
        if subpaths:
            new_base = {p: f for p, f in (full_base or {}).items() if not in_subpaths(p, subpaths)}
            new_base.update(plan["base"])
        else:
            new_base = plan["base"]
        summary = {
            "added": len(plan["add"]),
            "changed": len(plan["change"]),
            "deleted": len(plan["delete"]),
            "conflicts": len(plan["conflicts"]),
            "bytes": sizes["added"] + sizes["changed"],
        }
        # With nothing changed and the whole tree synced, the new base is the source's manifest: same digest.
        base_digest = source_digest if not subpaths and new_base == source_fp else digest_of(new_base)
        last_sync = sync_record(peer, "source", base_digest, new_base, time.time(), site, peer, summary)
        resource.record(source_files, site, peer, last_sync, source_digest, cached_bytes)
    for conflict in plan["conflicts"]:
        if conflict["resolution"] == "reported":
            module.warn(
                f"conflict: {conflict['path']} changed on both sites since the last sync; left as it is on both. "
                "Decide which version wins and run again with conflict_policy=source_wins or destination_wins"
            )

    result = {
        "changed": changed,
        "files_added": plan["add"],
        "files_changed": plan["change"],
        "files_deleted": plan["delete"],
        "bytes_added": sizes["added"],
        "bytes_changed": sizes["changed"],
        "bytes_deleted": sizes["deleted"],
        "transferred_bytes": transfer.get("transferred_bytes", 0),
        "conflicts": plan["conflicts"],
        "destination_changes": plan["destination_changes"],
        "skipped_deletions": plan["skipped_deletions"],
        "source_digest": source_digest,
        "destination_digest": destination_digest,
        "destination_digest_after": after_digest,
        "in_sync": after_digest == source_digest,
        "hashed_files": stats["hashed"],
        "cached_files": stats["cached"],
        "last_sync": None if not last_sync else {k: last_sync.get(k) for k in ("peer", "time", "digest")},
        "executed": resource.remote.executed,
    }
    if module._diff:
        touched = sorted(plan["add"] + plan["change"] + plan["delete"])
        result["diff"] = {
            "before_header": f"{peer}:{params['destination_path'] or root} (destination)",
            "after_header": f"{peer}:{params['destination_path'] or root} (after sync from {site})",
            "before": diff_text(touched, destination_files),
            "after": diff_text(touched, after),
        }
    return result


def main():
    argument_spec = tree_argument_spec()
    argument_spec.update(
        destination_site={"type": "str", "required": True},
        destination_host={"type": "str", "required": True},
        destination_user={"type": "str", "default": "shared-fs-sync"},
        destination_port={"type": "int", "default": 22},
        destination_path={"type": "str", "default": ""},
        ssh_key={"type": "path", "required": True, "no_log": False},
        known_hosts={"type": "path"},
        strict_host_key_checking={"type": "bool", "default": True},
        connect_timeout={"type": "int", "default": 10},
        delete={"type": "bool", "default": False},
        conflict_policy={"type": "str", "default": "report", "choices": list(CONFLICT_POLICIES)},
        paths={"type": "list", "elements": "str", "default": []},
        destination_manifest_max_age={"type": "int", "default": 900},
        destination_unlocked_reads={"type": "bool", "default": False},
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)

    def runner(args, stdin):
        return module.run_command(args, data=stdin, binary_data=True)

    resource = None
    try:
        root, subpaths = validate(module.params)
        remote = RsyncRemote(
            host=module.params["destination_host"],
            user=module.params["destination_user"],
            ssh_key=module.params["ssh_key"],
            port=module.params["destination_port"],
            known_hosts=module.params["known_hosts"],
            strict_host_key_checking=module.params["strict_host_key_checking"],
            connect_timeout=module.params["connect_timeout"],
            remote_path=module.params["destination_path"],
            rsync=module.get_bin_path("rsync", required=True),
            ssh=module.get_bin_path("ssh", required=True),
            runner=runner,
            spawner=spawn,
        )
        resource = SyncResource(module, root, remote)
        result = run(module, resource, root, subpaths)
    except SharedFsError as e:
        module.fail_json(msg=str(e), exception=traceback.format_exc())
    finally:
        if resource is not None:
            resource.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
