"""shared_fs_sync's run() against a fake destination: a local tree behind a runner that does what rsync would.

No ssh, no rsync: the runner reads the argument lists the module builds (fetch, files, deletions, the record) and
acts on the destination directory, so that the outcome is checked on the file systems.
"""

import json
import os
import shutil
import time

import pytest

from ansible_collections.apiplatform.ha.plugins.module_utils import shared_fs
from ansible_collections.apiplatform.ha.plugins.modules import shared_fs_sync

BUSY = (12, "", f"rrsync error: {shared_fs.RRSYNC_BUSY}.")


class Module:
    """What run() uses of AnsibleModule."""

    check_mode = False
    _diff = False

    def __init__(self, **params):
        self.params = {
            "site": "dc1",
            "destination_site": "dc2",
            "mount_required": False,
            "delete": False,
            "conflict_policy": "report",
            "paths": [],
            "destination_manifest_max_age": 900,
            "destination_path": "",
            "destination_unlocked_reads": False,
        }
        self.params.update(params)
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


class FakeDestination:
    """The runner: rsync's effect on ``root`` for each argument list; ``answers`` overrides the next results."""

    def __init__(self, root):
        self.root = root
        self.calls = []
        self.answers = []

    def __call__(self, args, stdin):
        self.calls.append(args)
        if self.answers:
            return self.answers.pop(0)
        if "-O" in args:  # ssh -O exit
            return 0, "", ""
        source, target = args[-2], args[-1]
        if "--quiet" in args:  # fetch: user@host:<rel> <local>
            remote = os.path.join(self.root, source.split(":", 1)[1])
            if not os.path.exists(remote):
                return 12, "", f"rsync: [sender] link_stat {remote!r} failed: No such file or directory (2)"
            shutil.copyfile(remote, target)
            return 0, "", ""
        names = [n for n in (stdin or "").split("\0") if n] if "--files-from=-" in args else [os.path.basename(source)]
        local = source if "--files-from=-" in args else os.path.dirname(source)
        where = os.path.join(self.root, target.split(":", 1)[1])
        for name in names:
            dest = os.path.join(where, name)
            if "--delete-missing-args" in args:
                os.unlink(dest)
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(local, name), dest)
        return 0, "Number of regular files transferred: 0\n", ""


@pytest.fixture
def trees(tmp_path):
    src, dst = tmp_path / "dc1", tmp_path / "dc2"
    for tree in (src, dst):
        (tree / "docs").mkdir(parents=True)
        (tree / "docs" / "a.txt").write_text("a\n")
        (tree / "docs" / "b.bin").write_bytes(os.urandom(5000))
    shutil.copy2(src / "docs" / "b.bin", dst / "docs" / "b.bin")
    return src, dst


def sync(src, dst, destination=None, **params):
    """shared_fs_info write_manifest on the destination, then one run of the sync; (result, resource)."""
    shared_fs.refresh_manifest(str(dst), "dc2")
    destination = destination or FakeDestination(str(dst))
    module = Module(path=str(src), **params)
    remote = shared_fs.RsyncRemote("192.0.2.22", "sync", "/k", runner=destination)
    resource = shared_fs_sync.SyncResource(module, str(src), remote)
    try:
        return shared_fs_sync.run(module, resource, str(src), []), resource
    finally:
        resource.close()


def record(tree, peer):
    return json.loads((tree / ".shared-fs" / "peers" / f"{peer}.json").read_text())


@pytest.mark.parametrize("unlocked", [False, True])
def test_no_change_run_records_the_sync_on_both_sides(trees, unlocked):
    src, dst = trees
    first, _resource = sync(src, dst, destination_unlocked_reads=unlocked)
    assert first["changed"] is False and first["in_sync"] is True
    before = time.time()
    result, resource = sync(src, dst, destination_unlocked_reads=unlocked)
    assert result["changed"] is False and result["hashed_files"] == 0 and result["cached_files"] == 2
    assert result["source_digest"] == result["destination_digest"] == result["destination_digest_after"]
    assert result["source_digest"] == shared_fs.manifest_digest(shared_fs.load_manifest(str(dst))["files"])
    # Two sessions: the manifest read, the record written.
    assert len(result["executed"]) == 2 and "--quiet" in result["executed"][0]
    assert result["executed"][1][-1] == "sync@192.0.2.22:.shared-fs/peers/"
    mine, theirs = record(src, "dc2"), record(dst, "dc1")
    assert mine["time"] == theirs["time"] >= before and mine["digest"] == theirs["digest"] == result["source_digest"]
    assert (mine["role"], mine["peer"], theirs["role"], theirs["peer"]) == ("source", "dc2", "destination", "dc1")
    assert mine["base"] == theirs["base"] == shared_fs.manifest_fingerprints(shared_fs.load_manifest(str(src))["files"])
    assert result["last_sync"] == {"peer": "dc2", "time": mine["time"], "digest": mine["digest"]}
    assert resource.pending is None and resource.starter is None


def test_changes_then_no_change_keep_the_same_records_as_the_long_way(trees):
    src, dst = trees
    (src / "docs" / "a.txt").write_text("A\n")  # same size
    (src / "new.txt").write_text("new\n")
    result, _resource = sync(src, dst)
    assert result["changed"] is True and result["files_added"] == ["new.txt"]
    assert result["conflicts"][0]["path"] == "docs/a.txt"  # first sync: both present, different: a conflict
    assert result["in_sync"] is False and result["destination_digest"] != result["source_digest"]
    result, _resource = sync(src, dst, conflict_policy="source_wins")
    assert result["files_changed"] == ["docs/a.txt"] and result["in_sync"] is True
    assert (dst / "docs" / "a.txt").read_text() == "A\n"
    again, _resource = sync(src, dst)
    assert again["changed"] is False and again["destination_digest"] == again["source_digest"]
    assert (
        record(dst, "dc1")["base"]
        == record(src, "dc2")["base"]
        == {p: shared_fs.fingerprint(e) for p, e in shared_fs.load_manifest(str(dst))["files"].items()}
    )


def synced_then_busy(src, dst, monkeypatch):
    """One sync done; then a destination whose next read is refused as busy. Returns (recorded sleeps, destination)."""
    slept = []
    monkeypatch.setattr(shared_fs.time, "sleep", slept.append)
    sync(src, dst)
    destination = FakeDestination(str(dst))
    destination.answers = [BUSY]
    return slept, destination


def test_a_read_refused_by_the_lock_of_our_own_waiting_record_push_frees_it(trees, monkeypatch):
    """destination_unlocked_reads=true against plain rrsync: the record's rsync, started early, took the lock, so
    the manifest read is refused as busy. The run ends that rsync (nothing copied), reads again at once, and starts
    the record's rsync again after the read."""
    src, dst = trees
    slept, destination = synced_then_busy(src, dst, monkeypatch)
    original = shared_fs_sync.SyncResource.start_early

    def start_early(self):
        # The shared connection is up at once here: prepare the record's rsync as the waiting thread would.
        original(self)
        self.prepare_record()

    monkeypatch.setattr(shared_fs_sync.SyncResource, "start_early", start_early)
    result, resource = sync(src, dst, destination=destination, destination_unlocked_reads=True)
    assert result["changed"] is False and slept == []
    assert resource.early_record is False  # the rest of the run goes one session at a time
    fetches = [c for c in destination.calls if "--quiet" in c]
    assert len(fetches) == 2 and record(dst, "dc1")["time"] == record(src, "dc2")["time"]


def test_a_busy_read_without_our_record_push_waits_as_before(trees, monkeypatch):
    src, dst = trees
    slept, destination = synced_then_busy(src, dst, monkeypatch)
    result, _resource = sync(src, dst, destination=destination, destination_unlocked_reads=True)
    assert result["changed"] is False and slept == [shared_fs.RRSYNC_BUSY_RETRIES[0]]


def test_check_mode_prepares_no_record(trees):
    src, dst = trees
    sync(src, dst)
    before = record(dst, "dc1")
    shared_fs.refresh_manifest(str(dst), "dc2")
    destination = FakeDestination(str(dst))
    module = Module(path=str(src), destination_unlocked_reads=True)
    module.check_mode = True
    resource = shared_fs_sync.SyncResource(module, str(src), shared_fs.RsyncRemote("h", "u", "/k", runner=destination))
    try:
        result = shared_fs_sync.run(module, resource, str(src), [])
    finally:
        resource.close()
    assert result["changed"] is False and len(result["executed"]) == 1 and record(dst, "dc1") == before


@pytest.mark.parametrize("unlocked", [False, True])
def test_record_rsync_is_prepared_only_for_an_unchanged_source(trees, monkeypatch, unlocked):
    src, dst = trees
    prepared = []
    original = shared_fs.RsyncRemote.prepare_push

    def prepare_push(self, *args):
        prepared.append(args)
        return original(self, *args)

    monkeypatch.setattr(shared_fs.RsyncRemote, "prepare_push", prepare_push)
    sync(src, dst, destination_unlocked_reads=unlocked)  # no cache yet: every file hashed, nothing prepared
    assert prepared == []
    (src / "docs" / "new.txt").write_text("new\n")
    result, _resource = sync(src, dst, destination_unlocked_reads=unlocked)
    assert result["files_added"] == ["docs/new.txt"] and prepared == []
    # The files, then the record, each in its own rsync after the read.
    assert [("--files-from=-" in c, c[-1]) for c in result["executed"][1:]] == [
        (True, "sync@192.0.2.22:."),
        (False, "sync@192.0.2.22:.shared-fs/peers/"),
    ]
    result, _resource = sync(src, dst, destination_unlocked_reads=unlocked)
    assert result["changed"] is False and len(prepared) == 1 and "--files-from=-" in result["executed"][1]
    assert record(dst, "dc1")["time"] == record(src, "dc2")["time"]
