"""shared_fs module_utils: the sync planner's rules, digests, path checks, manifests and rsync argument lists."""

import os

import pytest

from ansible_collections.apiplatform.ha.plugins.module_utils.shared_fs import (
    RRSYNC_BUSY,
    RsyncRemote,
    SharedFsParameterError,
    SharedFsTransferError,
    SharedFsTreeError,
    build_manifest,
    cached_totals,
    check_tree,
    digest_of,
    expected_destination,
    latest_record,
    load_manifest_text,
    manifest_digest,
    manifest_text,
    normalize_subpaths,
    parse_rsync_stats,
    plan_bytes,
    plan_sync,
    refresh_manifest,
    rsync_failure_hint,
    rsync_leftovers,
    sync_age,
    sync_record,
    sync_record_text,
    to_json,
    validate_root,
)

A, B, C = "f:aaa", "f:bbb", "f:ccc"


def plan(source, destination, base, **kw):
    return plan_sync(source, destination, base, **kw)


# --- plan_sync: first sync (no base) ----------------------------------------------------------------------------


def test_first_sync_adds_everything_to_an_empty_destination():
    p = plan({"x": A, "y": B}, {}, None)
    assert p["add"] == ["x", "y"] and p["change"] == [] and p["conflicts"] == []
    assert p["base"] == {"x": A, "y": B}


def test_first_sync_equal_files_are_unchanged():
    p = plan({"x": A}, {"x": A}, None)
    assert p["add"] == p["change"] == [] and p["unchanged"] == 1 and p["base"] == {"x": A}


def test_first_sync_different_content_is_a_conflict():
    p = plan({"x": A}, {"x": B}, None)
    assert p["change"] == []
    assert p["conflicts"][0]["path"] == "x" and p["conflicts"][0]["base"] == "unknown"
    assert p["conflicts"][0]["resolution"] == "reported"
    assert "x" not in p["base"]


def test_first_sync_conflict_source_wins_copies():
    p = plan({"x": A}, {"x": B}, None, conflict_policy="source_wins")
    assert p["change"] == ["x"] and p["base"]["x"] == A


def test_first_sync_extra_destination_file_kept_without_delete():
    p = plan({}, {"x": A}, None)
    assert p["delete"] == [] and p["skipped_deletions"] == ["x"]


def test_first_sync_extra_destination_file_deleted_with_delete():
    p = plan({}, {"x": A}, None, delete=True)
    assert p["delete"] == ["x"]


# --- plan_sync: with a base --------------------------------------------------------------------------------------


def test_nothing_changed():
    p = plan({"x": A}, {"x": A}, {"x": A})
    assert p["add"] == p["change"] == p["delete"] == p["conflicts"] == [] and p["unchanged"] == 1


def test_source_change_is_copied():
    p = plan({"x": B}, {"x": A}, {"x": A})
    assert p["change"] == ["x"] and p["base"] == {"x": B}


def test_source_addition_is_copied():
    p = plan({"x": A, "n": C}, {"x": A}, {"x": A})
    assert p["add"] == ["n"]


def test_source_deletion_needs_delete():
    p = plan({}, {"x": A}, {"x": A})
    assert p["delete"] == [] and p["skipped_deletions"] == ["x"]
    assert p["base"] == {"x": A}  # stays pending: a later run with delete=true deletes it
    p = plan({}, {"x": A}, {"x": A}, delete=True)
    assert p["delete"] == ["x"] and "x" not in p["base"]


def test_destination_only_change_is_kept():
    p = plan({"x": A}, {"x": B}, {"x": A})
    assert p["change"] == [] and p["destination_changes"] == ["x"] and p["conflicts"] == []
    assert p["base"] == {"x": A}


def test_destination_only_addition_is_kept_even_with_delete():
    p = plan({}, {"n": C}, {}, delete=True)
    assert p["delete"] == [] and p["destination_changes"] == ["n"]


def test_destination_only_deletion_is_kept():
    p = plan({"x": A}, {}, {"x": A})
    assert p["add"] == [] and p["destination_changes"] == ["x"]


def test_destination_only_change_source_wins_overwrites():
    p = plan({"x": A}, {"x": B}, {"x": A}, conflict_policy="source_wins")
    assert p["change"] == ["x"] and p["destination_changes"] == []


def test_destination_only_deletion_source_wins_restores():
    p = plan({"x": A}, {}, {"x": A}, conflict_policy="source_wins")
    assert p["add"] == ["x"]


def test_destination_only_addition_source_wins_deletes_only_with_delete():
    assert plan({}, {"n": C}, {}, conflict_policy="source_wins")["destination_changes"] == ["n"]
    assert plan({}, {"n": C}, {}, conflict_policy="source_wins", delete=True)["delete"] == ["n"]


def test_both_changed_is_a_conflict_and_base_stays():
    p = plan({"x": B}, {"x": C}, {"x": A})
    assert p["change"] == [] and len(p["conflicts"]) == 1
    c = p["conflicts"][0]
    assert (c["source"], c["destination"], c["base"], c["resolution"]) == (B, C, A, "reported")
    assert p["base"] == {"x": A}


def test_both_changed_to_the_same_content_is_no_conflict():
    p = plan({"x": B}, {"x": B}, {"x": A})
    assert p["conflicts"] == [] and p["base"] == {"x": B}


def test_both_added_differently_is_a_conflict():
    p = plan({"n": A}, {"n": B}, {})
    assert p["conflicts"][0]["base"] == "absent"


def test_conflict_source_wins():
    p = plan({"x": B}, {"x": C}, {"x": A}, conflict_policy="source_wins")
    assert p["change"] == ["x"] and p["conflicts"][0]["resolution"] == "source_wins" and p["base"] == {"x": B}


def test_conflict_destination_wins_keeps_destination_and_next_run_keeps_it_too():
    p = plan({"x": B}, {"x": C}, {"x": A}, conflict_policy="destination_wins")
    assert p["change"] == [] and p["conflicts"][0]["resolution"] == "destination_wins" and p["base"] == {"x": B}
    nxt = plan({"x": B}, {"x": C}, p["base"])
    assert nxt["change"] == [] and nxt["destination_changes"] == ["x"] and nxt["conflicts"] == []
    reverse = plan({"x": C}, {"x": B}, p["base"])  # the other direction propagates the winner
    assert reverse["change"] == ["x"]


def test_conflict_source_deleted_destination_modified():
    p = plan({}, {"x": C}, {"x": A})
    assert p["conflicts"][0]["source"] == "absent" and p["delete"] == []
    p = plan({}, {"x": C}, {"x": A}, conflict_policy="source_wins")
    assert p["delete"] == [] and "kept" in p["conflicts"][0]["resolution"]
    p = plan({}, {"x": C}, {"x": A}, conflict_policy="source_wins", delete=True)
    assert p["delete"] == ["x"]


def test_conflict_source_modified_destination_deleted():
    p = plan({"x": B}, {}, {"x": A})
    assert p["conflicts"][0]["destination"] == "absent" and p["add"] == []
    assert plan({"x": B}, {}, {"x": A}, conflict_policy="source_wins")["add"] == ["x"]


def test_symlink_retarget_is_a_change():
    p = plan({"l": "l:a"}, {"l": "l:b"}, {"l": "l:b"})
    assert p["change"] == ["l"]


def test_subpaths_limit_the_plan():
    p = plan({"a/x": B, "b/y": B}, {"a/x": A, "b/y": A}, {"a/x": A, "b/y": A}, subpaths=["a"])
    assert p["change"] == ["a/x"] and set(p["base"]) == {"a/x"}


def test_unknown_policy_is_refused():
    with pytest.raises(SharedFsParameterError, match="conflict_policy"):
        plan({}, {}, None, conflict_policy="newest")


def test_mixed_plan_counts_and_bytes():
    src = {"a": ["f", 10, 0, 0, 0, "1"], "b": ["f", 20, 0, 0, 0, "2"]}
    dst = {"b": ["f", 5, 0, 0, 0, "x"], "c": ["f", 7, 0, 0, 0, "3"]}
    base = {"b": "f:x", "c": "f:3"}
    fp = {k: f"{v[0]}:{v[5]}" for k, v in src.items()}
    dfp = {k: f"{v[0]}:{v[5]}" for k, v in dst.items()}
    p = plan(fp, dfp, base, delete=True)
    assert (p["add"], p["change"], p["delete"]) == (["a"], ["b"], ["c"])
    assert plan_bytes(p, src, dst) == {"added": 10, "changed": 20, "deleted": 7}
    after = expected_destination(p, src, dst)
    assert manifest_digest(after) == manifest_digest(src)


# --- digests, paths ----------------------------------------------------------------------------------------------


def test_digest_is_order_independent_and_content_sensitive():
    assert digest_of({"a": A, "b": B}) == digest_of({"b": B, "a": A})
    assert digest_of({"a": A}) != digest_of({"a": B})
    assert digest_of({"a": A}) != digest_of({"b": A})
    assert digest_of({}) == digest_of({})


@pytest.mark.parametrize("bad", ["", "relative/tree", "./x", "/"])
def test_validate_root_refuses(bad):
    with pytest.raises(SharedFsParameterError, match="path: "):
        validate_root(bad)


def test_validate_root_normalises():
    assert validate_root("/srv/shared/") == "/srv/shared"
    assert validate_root("/srv//shared/../shared") == "/srv/shared"


@pytest.mark.parametrize("bad", ["/etc", "../other", "a/../../x", "/srv/sharedX/y", ".shared-fs", "x/../.shared-fs/a"])
def test_subpaths_outside_or_metadata_refused(bad):
    with pytest.raises(SharedFsParameterError, match="paths: "):
        normalize_subpaths("/srv/shared", [bad])


def test_subpaths_normalised():
    assert normalize_subpaths("/srv/shared", ["a/b/", "/srv/shared/c", "a/./b"]) == ["a/b", "c"]
    assert normalize_subpaths("/srv/shared", ["."]) == []
    assert normalize_subpaths("/srv/shared", []) == []


def test_sync_age_and_latest():
    assert sync_age(None, 100) is None
    assert sync_age({"time": 40}, 100) == 60
    assert sync_age({"time": 200}, 100) == 0
    assert latest_record([{"time": 1, "peer": "a"}, {"time": 5, "peer": "b"}, None])["peer"] == "b"
    assert latest_record([]) is None


def test_parse_rsync_stats():
    text = "Number of regular files transferred: 1,234\nTotal transferred file size: 5,000,000 bytes\n"
    text += "Total bytes sent: 42\n"
    assert parse_rsync_stats(text) == {"transferred_files": 1234, "transferred_bytes": 5000000, "sent_bytes": 42}
    assert parse_rsync_stats("") == {"transferred_files": 0, "transferred_bytes": 0, "sent_bytes": 0}


@pytest.mark.parametrize(
    ("rc", "err", "expect"),
    [
        (11, "write failed: No space left on device (28)", "full"),
        (11, "", "the destination file system is full, or read-only"),
        (3, "write failed: No space left on device (28)", "the destination file system is full: free space"),
        (255, "Permission denied (publickey).", "ssh could not log in"),
        (12, "ssh: connect to host x port 22: Connection refused", "could not be reached"),
        (24, "", "vanished"),
        (23, "", "could not be transferred"),
    ],
)
def test_rsync_failure_hint(rc, err, expect):
    assert expect in rsync_failure_hint(rc, err)


# --- manifests on a real tree ------------------------------------------------------------------------------------


def test_build_manifest_uses_the_cache_and_catches_same_size_same_mtime_changes(tmp_path):
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "f.txt"
    f.write_text("one\n")
    os.symlink("d/f.txt", tmp_path / "link")
    (tmp_path / ".shared-fs").mkdir()
    (tmp_path / ".shared-fs" / "manifest.json").write_text("{}")
    files, stats = build_manifest(str(tmp_path))
    assert set(files) == {"d/f.txt", "link"} and stats == {"hashed": 1, "cached": 0, "unchanged": False}
    assert files["link"][0] == "l" and files["link"][5] == "d/f.txt"
    again, stats = build_manifest(str(tmp_path), files)
    assert again == files and stats == {"hashed": 0, "cached": 1, "unchanged": True}
    st = f.stat()
    f.write_text("two\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed, stats = build_manifest(str(tmp_path), files)
    assert stats["hashed"] == 1 and changed["d/f.txt"][5] != files["d/f.txt"][5] and not stats["unchanged"]


def test_check_tree(tmp_path):
    with pytest.raises(SharedFsTreeError, match="does not exist"):
        check_tree(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(SharedFsTreeError, match="not a directory"):
        check_tree(str(tmp_path / "file"))
    with pytest.raises(SharedFsTreeError, match="not mounted"):
        check_tree(str(tmp_path), mount_required=True)
    check_tree(str(tmp_path))


def test_rsync_leftovers(tmp_path):
    (tmp_path / ".file.txt.AbC123").write_text("")
    (tmp_path / ".~tmp~").mkdir()
    (tmp_path / "ok.txt").write_text("")
    assert rsync_leftovers(str(tmp_path)) == [".file.txt.AbC123", ".~tmp~"]


# --- rsync argument lists ----------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, rc=0, err=""):
        self.calls = []
        self.rc, self.err = rc, err

    def __call__(self, args, stdin):
        self.calls.append((args, stdin))
        return self.rc, "Total transferred file size: 3 bytes\n", self.err


def test_push_files_is_an_argument_list_with_files_from():
    rec = Recorder()
    remote = RsyncRemote("10.0.0.2", "sync", "/k ey", port=2222, known_hosts="/kh", runner=rec)
    stats = remote.push_files("/srv/shared", ["a b.txt", "c"])
    args, stdin = rec.calls[0]
    assert args[0] == "rsync" and args[1] == "-e"
    assert "'/k ey'" in args[2] and "-p 2222" in args[2] and "UserKnownHostsFile=/kh" in args[2]
    assert "--files-from=-" in args and "--from0" in args and "--ignore-times" in args
    assert args[-2:] == ["/srv/shared/", "sync@10.0.0.2:."]
    assert stdin == "a b.txt\0c\0"
    assert stats["transferred_bytes"] == 3


def test_transfer_failure_raises_with_hint():
    remote = RsyncRemote("h", "u", "/k", runner=Recorder(11, "rsync: write failed: No space left on device (28)"))
    with pytest.raises(SharedFsTransferError, match="destination file system is full") as e:
        remote.push_files("/srv/shared", ["x"])
    assert e.value.rc == 11


def test_fetch_missing_returns_none():
    remote = RsyncRemote("h", "u", "/k", runner=Recorder(12, "rrsync error: ... No such file or directory"))
    assert remote.fetch(".shared-fs/manifest.json", "/tmp/x", "manifest") is None


def test_delete_accepts_vanished_parent():
    rec = Recorder(24, "file has vanished")
    RsyncRemote("h", "u", "/k", remote_path="/data", runner=rec).delete_files("/srv/shared", ["gone/x"])
    assert "--delete-missing-args" in rec.calls[0][0] and rec.calls[0][0][-1] == "u@h:/data"


# --- digest, shared ssh connection, prepared push ----------------------------------------------------------------


def test_digest_is_sha256_over_sorted_path_and_fingerprint_lines():
    import hashlib

    fps = {"b/x": "f:22", "a": "l:target", "é": "f:11"}
    h = hashlib.sha256()
    for path in sorted(fps):
        h.update(f"{path}\0{fps[path]}\n".encode())
    assert digest_of(fps) == h.hexdigest()
    assert digest_of({}) == hashlib.sha256(b"").hexdigest()


def test_shared_connection_options_and_close(tmp_path):
    rec = Recorder()
    remote = RsyncRemote("h", "u", "/k", runner=rec)
    assert "ControlPath" not in " ".join(remote.ssh_command())
    remote.share_connection(str(tmp_path))
    cmd = remote.ssh_command()
    assert "ControlMaster=auto" in cmd and f"ControlPath={tmp_path}/cm-%C" in cmd and "ControlPersist=30" in cmd
    remote.close()  # no master socket: nothing to end, nothing run
    assert rec.calls == []
    (tmp_path / "cm-abc").write_text("")
    remote.close()
    assert rec.calls[0][0][-3:] == ["-O", "exit", "u@h"] and remote.executed == []


def test_prepared_push_with_a_runner_runs_at_send():
    rec = Recorder()
    remote = RsyncRemote("h", "u", "/k", runner=rec)
    pending = remote.prepare_push("/scratch/record", ".shared-fs/peers")
    assert rec.calls == []
    pending.send(["dc1.json"])
    args, stdin = rec.calls[0]
    assert "--files-from=-" in args and args[-2:] == ["/scratch/record/", "u@h:.shared-fs/peers/"]
    assert stdin == "dc1.json\0" and remote.executed == [args]


def test_busy_rrsync_is_tried_again(monkeypatch):
    from ansible_collections.apiplatform.ha.plugins.module_utils import shared_fs

    monkeypatch.setattr(shared_fs.time, "sleep", lambda s: None)
    answers = [(12, "", f"rrsync error: {shared_fs.RRSYNC_BUSY}"), (0, "", "")]
    remote = RsyncRemote("h", "u", "/k", runner=lambda args, stdin: answers.pop(0))
    remote.delete_files("/srv/shared", ["x"])
    assert answers == [] and len(remote.executed) == 1


# --- the no-change path: short cuts that must give the same results as the long way ------------------------------


class NeverEqual(dict):
    """A destination that compares unequal to any source, so that plan_sync takes its path-by-path way."""

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = None


@pytest.mark.parametrize("policy", ["report", "source_wins", "destination_wins"])
@pytest.mark.parametrize("delete", [False, True])
@pytest.mark.parametrize(
    ("base", "subpaths"),
    [
        (None, None),
        ({}, None),
        ({"a": A, "gone": B, "d/x": C}, None),
        ({"a": B, "d/x": C, "e/y": A}, ["d"]),
        (None, ["d", "e"]),
    ],
)
def test_plan_of_equal_trees_is_the_same_as_path_by_path(policy, delete, base, subpaths):
    source = {"a": A, "d/x": B, "d/y": "l:a", "e/y": C}
    short = plan(dict(source), dict(source), base, delete=delete, conflict_policy=policy, subpaths=subpaths)
    long = plan(dict(source), NeverEqual(source), base, delete=delete, conflict_policy=policy, subpaths=subpaths)
    assert short == long
    assert short["unchanged"] == len(short["base"]) and not short["conflicts"]


def test_plan_of_equal_trees_still_refuses_an_unknown_policy():
    with pytest.raises(SharedFsParameterError, match="conflict_policy"):
        plan({"a": A}, {"a": A}, None, conflict_policy="newest")


def test_sync_record_text_is_the_json_of_the_changed_record():
    import json

    record = sync_record("dc2", "source", "d" * 64, {"a": A, "b c": "l:x"}, 1767225600.5, "dc1", "dc2", {"added": 1})
    base_text = to_json(record["base"])
    for changes in ({"peer": "dc1", "role": "destination"}, {"peer": "dc2", "role": "source"}):
        text = sync_record_text(record, base_text, **changes)
        assert text == to_json(dict(record, **changes)) == sync_record_text(record, **changes)
        assert json.loads(text) == dict(record, **changes)


def test_refresh_reuses_the_cached_digest_only_for_the_same_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.txt").write_text("one\n")
    os.symlink("d/f.txt", tmp_path / "link")
    doc, stats = refresh_manifest(str(tmp_path), "dc1")
    assert doc["digest"] == manifest_digest(doc["files"]) and doc["bytes"] == 4 and not stats["unchanged"]
    again, stats = refresh_manifest(str(tmp_path), "dc1")
    assert stats["unchanged"] and stats["hashed"] == 0
    assert (again["digest"], again["bytes"]) == (doc["digest"], doc["bytes"]) and again["built"] >= doc["built"]
    # A retargeted symlink (a new inode), a new file, a removed file: each is a different tree, digest made again.
    (tmp_path / "link").unlink()
    os.symlink("elsewhere", tmp_path / "link")
    (tmp_path / "d" / "g.txt").write_text("two\n")
    changed, stats = refresh_manifest(str(tmp_path), "dc1")
    assert not stats["unchanged"] and changed["files"]["link"][5] == "elsewhere"
    assert changed["digest"] == manifest_digest(changed["files"]) != doc["digest"] and changed["bytes"] == 8
    (tmp_path / "d" / "g.txt").unlink()
    fewer, stats = refresh_manifest(str(tmp_path), "dc1")
    assert not stats["unchanged"] and fewer["digest"] == manifest_digest(fewer["files"]) != changed["digest"]


def test_cached_totals_need_an_unchanged_walk_and_sane_values():
    doc = {"digest": "a" * 64, "bytes": 12}
    assert cached_totals(doc, {"unchanged": True}) == ("a" * 64, 12)
    assert cached_totals(doc, {"unchanged": False}) == (None, None)
    assert cached_totals(None, {"unchanged": True}) == (None, None)
    assert cached_totals({"digest": "short", "bytes": 12}, {"unchanged": True}) == (None, None)
    assert cached_totals({"digest": "a" * 64, "bytes": True}, {"unchanged": True}) == (None, None)


def test_busy_read_lets_the_caller_free_the_lock_and_tries_again_at_once(monkeypatch):
    from ansible_collections.apiplatform.ha.plugins.module_utils import shared_fs

    slept, freed = [], []
    monkeypatch.setattr(shared_fs.time, "sleep", slept.append)
    answers = [(12, "", f"rrsync error: {shared_fs.RRSYNC_BUSY}"), (0, "", "")]
    remote = RsyncRemote("h", "u", "/k", runner=lambda args, stdin: answers.pop(0))
    assert remote.fetch(".shared-fs/manifest.json", "/tmp/x", "manifest", on_busy=lambda: freed.append(1) or True)
    assert answers == [] and freed == [1] and slept == []
    # A hook that freed nothing: the usual pause before the next try.
    answers = [(12, "", f"rrsync error: {shared_fs.RRSYNC_BUSY}"), (0, "", "")]
    remote.fetch(".shared-fs/manifest.json", "/tmp/x", "manifest", on_busy=lambda: False)
    assert answers == [] and slept == [shared_fs.RRSYNC_BUSY_RETRIES[0]]


class FakeProc:
    """A started rsync waiting for its list: ``ends`` is (rc, stderr) once it got the list, ``dead`` ended before."""

    def __init__(self, rc=0, err="", dead=False):
        self.rc, self.err = rc, err
        self.returncode = rc if dead else None
        self.written = []
        self.stdin = self

    def write(self, text):
        if self.returncode is not None:
            raise BrokenPipeError
        self.written.append(text)

    def close(self):
        self.written.append("EOF")

    def poll(self):
        return self.returncode

    def communicate(self, listing=None, timeout=None):
        if listing:
            self.written.append(listing)
        self.returncode = self.rc
        return "", self.err

    def kill(self):
        self.returncode = -9


def pending_push(proc, rec):
    from ansible_collections.apiplatform.ha.plugins.module_utils.shared_fs import PendingPush

    remote = RsyncRemote("h", "u", "/k", runner=rec)
    return remote, PendingPush(remote, ["rsync", "prepared"], proc)


def test_prepared_push_gets_its_list_at_start_and_is_waited_for_at_finish():
    rec, proc = Recorder(), FakeProc()
    remote, pending = pending_push(proc, rec)
    pending.start(["dc1.json"])
    assert proc.written == ["dc1.json\0", "EOF"] and proc.returncode is None and proc.stdin is None
    pending.finish()
    assert rec.calls == [] and remote.executed == [["rsync", "prepared"]] and not pending.alive()
    with pytest.raises(ValueError):
        pending.finish()


@pytest.mark.parametrize("proc", [FakeProc(rc=1, err="gone", dead=True), FakeProc(rc=12, err=f"x: {RRSYNC_BUSY}.")])
def test_prepared_push_that_ended_without_its_list_runs_again(proc):
    rec = Recorder()
    remote, pending = pending_push(proc, rec)
    pending.send(["dc1.json"])
    assert rec.calls == [(["rsync", "prepared"], "dc1.json\0")] and remote.executed == [["rsync", "prepared"]]


def test_prepared_push_that_failed_with_its_list_raises():
    rec = Recorder()
    _remote, pending = pending_push(FakeProc(rc=11, err="rsync: write failed: No space left on device (28)"), rec)
    pending.start(["dc1.json"])
    with pytest.raises(SharedFsTransferError, match="destination file system is full"):
        pending.finish()
    assert rec.calls == []


def test_prepared_push_cancel_ends_it_with_nothing_sent():
    proc = FakeProc()
    _remote, pending = pending_push(proc, Recorder())
    pending.cancel(wait=True)
    assert proc.written == [] and proc.returncode == 0
    pending.cancel()  # idempotent


def test_manifest_text_copies_the_files_of_an_unchanged_cache(tmp_path):
    import json

    (tmp_path / 'a "quoted", name.txt').write_text("x")
    os.symlink("a", tmp_path / ',"files":{')
    doc, _stats = refresh_manifest(str(tmp_path), 'site ,"files":')
    cached, text = load_manifest_text(str(tmp_path))
    assert cached == doc and text == to_json(doc)
    again = dict(doc, built=doc["built"] + 1, host="h2")
    spliced = manifest_text(again, cached, text)
    assert spliced == to_json(again) and json.loads(spliced) == again
    # Anything else than a manifest as written here: serialised as usual.
    for other in ({"files": doc["files"], "format": 1}, dict(doc, extra={"files": {}})):
        other_text = to_json(other)
        assert manifest_text(again, json.loads(other_text), other_text) == to_json(again)
    assert manifest_text(again, cached, text + "\n") == to_json(again)
    assert manifest_text(again) == to_json(again)
    # refresh_manifest writes the copied text when the walk found the cache unchanged: the same document.
    newer, stats = refresh_manifest(str(tmp_path), "dc1")
    assert stats["unchanged"] and load_manifest_text(str(tmp_path)) == (newer, to_json(newer))
