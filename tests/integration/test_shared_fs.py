"""shared_fs_info and shared_fs_sync through ansible-playbook, between two real trees over rsync/ssh on 127.0.0.1.

The destination is reached through our own sshd whose only key is forced into rrsync rooted in the destination
tree (as the role's restricted account). Every outcome is checked from outside the modules, on the file systems.
The tests share one pair of trees and run in file order (first sync, no change, ...), each building on the last.
"""

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest
from ansible_runner import run_playbook
from etcd_cluster import run_tasks
from sshd_harness import RRSYNC, Sshd, missing_tools

SYNC = "apiplatform.ha.shared_fs_sync"
INFO = "apiplatform.ha.shared_fs_info"
DISPATCH = pathlib.Path(__file__).resolve().parents[2] / "roles" / "shared_fs" / "files" / "rrsync-dispatch.sh"
BUSY = "Another instance of rrsync is already accessing this directory"


def snapshot(root):
    """Every file under ``root`` (metadata included): relative path -> (sha256 or link target, mtime_ns)."""
    result = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                result[rel] = ("->" + os.readlink(full), 0)
            else:
                st = os.stat(full)
                result[rel] = (hashlib.sha256(pathlib.Path(full).read_bytes()).hexdigest(), st.st_mtime_ns)
    return result


def data(root):
    """The tree's data files only (no .shared-fs metadata): path -> bytes."""
    snap = snapshot(root)
    return {p: pathlib.Path(root, p).read_bytes() for p in snap if not p.startswith(".shared-fs")}


def leftovers(root):
    """rsync temporary files or directories left anywhere in the tree."""
    found = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            if name == ".~tmp~" or (name.startswith(".") and len(name) > 8 and name[-7] == "."):
                found.append(os.path.join(dirpath, name))
    return found


def write(root, rel, content, mtime=None):
    path = pathlib.Path(root, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))
    return path


class Pair:
    """Source tree (site dc1) and destination tree (site dc2, behind the sshd)."""

    def __init__(self, base, sshd):
        self.base = base
        self.src = base / "dc1"
        self.dst = base / "dc2"
        self.sshd = sshd

    def sync_args(self, **extra):
        args = {
            "path": str(self.src),
            "site": "dc1",
            "destination_site": "dc2",
            "destination_host": "127.0.0.1",
            "destination_user": self.sshd.user,
            "destination_port": self.sshd.port,
            "ssh_key": str(self.sshd.client_key),
            "known_hosts": str(self.sshd.known_hosts),
        }
        args.update(extra)
        return args

    def info_args(self, **extra):
        args = {"path": str(self.dst), "site": "dc2", "write_manifest": True}
        args.update(extra)
        return args

    def sync(self, tmp_path, check=False, diff=False, **extra):
        """Refresh the destination's manifest (as the playbook does), then sync; return the sync's result."""
        results = run_tasks(
            tmp_path,
            [(INFO, self.info_args(), {}), (SYNC, self.sync_args(**extra), {"check_mode": check, "diff": diff})],
        )
        assert not results[0].get("failed"), results[0]
        return results[1]

    def infos(self, tmp_path):
        src, dst = run_tasks(
            tmp_path,
            [(INFO, {"path": str(self.src), "site": "dc1"}, {}), (INFO, {"path": str(self.dst), "site": "dc2"}, {})],
        )
        return src["shared_fs"], dst["shared_fs"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    missing = missing_tools()
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: install rsync, openssh-client and openssh-server")
    base = tmp_path_factory.mktemp("shared-fs")
    (base / "dc1").mkdir()
    (base / "dc2").mkdir()
    write(base / "dc1", "docs/readme.txt", "hello\n")
    write(base / "dc1", "docs/big.bin", os.urandom(300_000))
    write(base / "dc1", "deep/a/b/c.txt", "c\n")
    write(base / "dc1", "name with spaces.txt", "spaces\n")
    os.symlink("docs/readme.txt", base / "dc1" / "readme-link")
    with Sshd(base / "ssh", base / "dc2") as sshd:
        yield Pair(base, sshd)


def test_check_mode_first_sync_changes_nothing(pair, tmp_path):
    before_src, before_dst = snapshot(pair.src), snapshot(pair.dst)
    result = pair.sync(tmp_path, check=True, diff=True)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert sorted(result["files_added"]) == sorted(
        ["docs/readme.txt", "docs/big.bin", "deep/a/b/c.txt", "name with spaces.txt", "readme-link"]
    )
    assert "docs/big.bin" in result["diff"]["after"] and "absent" in result["diff"]["before"]
    # Outside the module: the source tree is untouched (not even the cache is written) and the destination only
    # holds the manifest written by shared_fs_info.
    assert snapshot(pair.src) == before_src
    assert data(pair.dst) == {}
    assert not os.path.exists(pair.dst / ".shared-fs" / "peers" / "dc1.json")
    assert before_dst.keys() <= snapshot(pair.dst).keys()


def test_first_sync(pair, tmp_path):
    result = pair.sync(tmp_path)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert len(result["files_added"]) == 5
    assert result["bytes_added"] == 300_000 + 6 + 2 + 7
    assert result["in_sync"] is True
    assert data(pair.dst) == data(pair.src)
    assert os.readlink(pair.dst / "readme-link") == "docs/readme.txt"
    assert leftovers(pair.dst) == []
    # Recorded on both sides, with the same digest; the two trees' digests match.
    src, dst = pair.infos(tmp_path)
    assert src["digest"] == dst["digest"] == result["source_digest"]
    assert src["last_sync"]["peer"] == "dc2" and src["last_sync"]["role"] == "source"
    assert dst["last_sync"]["peer"] == "dc1" and dst["last_sync"]["role"] == "destination"
    assert dst["last_sync"]["digest"] == dst["digest"] and dst["last_sync"]["age_seconds"] < 120


def test_no_change_run(pair, tmp_path):
    before = data(pair.dst)
    result = pair.sync(tmp_path)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["files_added"] == result["files_changed"] == result["files_deleted"] == []
    assert result["hashed_files"] == 0  # everything from the stat cache
    assert data(pair.dst) == before


def test_content_change_keeping_size_and_mtime_is_caught(pair, tmp_path):
    path = pair.src / "docs" / "readme.txt"
    st = path.stat()
    path.write_text("HELLO\n")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    # Plain rsync's quick check would skip it:
    dry = subprocess.run(
        ["rsync", "-a", "--dry-run", "--itemize-changes", f"{pair.src}/docs/readme.txt", f"{pair.dst}/docs/"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert dry.stdout.strip() == ""
    result = pair.sync(tmp_path, diff=True)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["files_changed"] == ["docs/readme.txt"]
    assert (pair.dst / "docs" / "readme.txt").read_text() == "HELLO\n"
    assert "docs/readme.txt" in result["diff"]["before"]


def test_check_mode_change_changes_nothing(pair, tmp_path):
    write(pair.src, "docs/new.txt", "new\n")
    before_src, before_dst = snapshot(pair.src), snapshot(pair.dst)
    result = pair.sync(tmp_path, check=True)
    assert result["changed"] is True and result["files_added"] == ["docs/new.txt"]
    assert snapshot(pair.src) == before_src
    after_dst = snapshot(pair.dst)
    assert {p: v for p, v in after_dst.items() if not p.startswith(".shared-fs/manifest")} == {
        p: v for p, v in before_dst.items() if not p.startswith(".shared-fs/manifest")
    }
    assert not (pair.dst / "docs" / "new.txt").exists()
    result = pair.sync(tmp_path)
    assert result["files_added"] == ["docs/new.txt"]


def test_conflict_is_reported_and_nothing_overwritten(pair, tmp_path):
    write(pair.src, "docs/readme.txt", "changed in dc1\n")
    write(pair.dst, "docs/readme.txt", "changed in dc2\n")
    write(pair.dst, "dc2-only.txt", "written in dc2 while cut off\n")
    result = pair.sync(tmp_path)
    assert not result.get("failed"), result
    assert [c["path"] for c in result["conflicts"]] == ["docs/readme.txt"]
    assert result["conflicts"][0]["resolution"] == "reported"
    assert result["destination_changes"] == ["dc2-only.txt"]
    assert result["in_sync"] is False
    assert any("conflict: docs/readme.txt" in w for w in result.get("warnings", []))
    assert (pair.dst / "docs" / "readme.txt").read_text() == "changed in dc2\n"
    assert (pair.src / "docs" / "readme.txt").read_text() == "changed in dc1\n"
    assert (pair.dst / "dc2-only.txt").exists()
    # Reported again on the next run: the base of a conflict is not moved.
    again = pair.sync(tmp_path)
    assert [c["path"] for c in again["conflicts"]] == ["docs/readme.txt"]
    assert (pair.dst / "docs" / "readme.txt").read_text() == "changed in dc2\n"


def test_conflict_policy_source_wins(pair, tmp_path):
    result = pair.sync(tmp_path, conflict_policy="source_wins")
    assert not result.get("failed"), result
    assert result["conflicts"][0]["resolution"] == "source_wins"
    assert result["files_changed"] == ["docs/readme.txt"]
    assert (pair.dst / "docs" / "readme.txt").read_text() == "changed in dc1\n"
    # source_wins does not delete the destination's own file without delete=true
    assert (pair.dst / "dc2-only.txt").exists()
    assert leftovers(pair.dst) == []


def test_delete_is_opt_in(pair, tmp_path):
    (pair.src / "docs" / "new.txt").unlink()
    result = pair.sync(tmp_path)
    assert result["skipped_deletions"] == ["docs/new.txt"] and result["files_deleted"] == []
    assert (pair.dst / "docs" / "new.txt").exists()
    result = pair.sync(tmp_path, delete=True)
    assert not result.get("failed"), result
    assert result["files_deleted"] == ["docs/new.txt"]
    assert not (pair.dst / "docs" / "new.txt").exists()
    assert (pair.dst / "dc2-only.txt").exists()  # changed only on the destination: kept
    assert (pair.dst / "docs" / "readme.txt").exists()


def dispatched(sshd):
    """Force the sshd's key into the role's rrsync dispatcher (reads as rrsync -ro, writes as rrsync), as the role
    writes authorized_keys with shared_fs_sync_unlocked_reads (sshd reads the file at each login)."""
    line = sshd.authorized_keys.read_text()
    sshd.authorized_keys.write_text(line.replace(f'command="{RRSYNC} ', f'command="/bin/sh {DISPATCH} {RRSYNC} '))
    return sshd


def test_dispatcher_reads_without_the_lock_and_writes_with_it(pair, tmp_path):
    tree, local = tmp_path / "tree", tmp_path / "local"
    write(tree, "inbox/.keep", "")
    write(tree, "data.txt", "data\n")
    write(local, "one.txt", "one\n")
    with Sshd(tmp_path / "ssh", tree) as sshd:
        rsh = ["-e", " ".join(dispatched(sshd).ssh_command())]
        target = f"{sshd.user}@127.0.0.1"

        def rsync(*args):
            return subprocess.run(["rsync", *rsh, *args], capture_output=True, text=True, timeout=60, check=False)

        # A writer that holds the lock: an rsync waiting for its file list (as shared_fs_sync's record push does).
        deadline, writer = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            if writer is None or writer.poll() is not None:
                writer = subprocess.Popen(
                    ["rsync", *rsh, "-t", "--from0", "--files-from=-", f"{local}/", f"{target}:inbox/"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            time.sleep(0.3)
            second = rsync("-t", str(local / "one.txt"), f"{target}:elsewhere/")
            if BUSY in second.stderr and writer.poll() is None:
                break  # the waiting writer holds the lock: a second writer is refused
        else:
            pytest.fail("the waiting writer never held rrsync's lock")
        try:
            assert not (tree / "elsewhere").exists()
            # A read runs meanwhile: no lock for rrsync -ro.
            read = rsync("--quiet", f"{target}:data.txt", str(tmp_path / "read.txt"))
            assert read.returncode == 0, read.stderr
            assert (tmp_path / "read.txt").read_text() == "data\n"
            # rrsync -ro lets no read change the tree: --remove-source-files is refused, the file stays.
            taken = rsync("--remove-source-files", f"{target}:data.txt", str(tmp_path / "taken.txt"))
            assert taken.returncode != 0 and "disabled" in taken.stderr, taken.stderr
            assert (tree / "data.txt").exists()
        finally:
            _out, err = writer.communicate("one.txt\0", timeout=60)
        assert writer.returncode == 0, err
        assert (tree / "inbox" / "one.txt").read_text() == "one\n"


def test_sync_with_unlocked_reads(pair, tmp_path):
    """destination_unlocked_reads=true: through the role's dispatcher (the record's session starts while the manifest
    is read), and against plain rrsync (the two sessions meet the lock: still correct, only slower)."""
    with Sshd(pair.base / "ssh-dispatch", pair.dst) as sshd:
        dispatch = Pair(pair.base, dispatched(sshd))
        write(pair.src, "unlocked/new.txt", "through the dispatcher\n")
        result = dispatch.sync(tmp_path, destination_unlocked_reads=True)
        assert not result.get("failed"), result
        assert result["files_added"] == ["unlocked/new.txt"] and result["conflicts"] == []
        assert (pair.dst / "unlocked" / "new.txt").read_text() == "through the dispatcher\n"
        for sync_pair in (dispatch, pair):
            before = time.time()
            result = sync_pair.sync(tmp_path, destination_unlocked_reads=True)
            assert not result.get("failed"), result
            assert result["changed"] is False and result["hashed_files"] == 0
            assert len(result["executed"]) == 2  # the manifest read, the record written
            src, dst = pair.infos(tmp_path)
            assert src["last_sync"]["time"] == dst["last_sync"]["time"] >= before - 1
            assert dst["last_sync"]["role"] == "destination" and dst["last_sync"]["digest"] == result["source_digest"]
    assert leftovers(pair.dst) == []


BAD = [
    ({"destination_site": "dc1"}, "destination_site: equals site (dc1)"),
    ({"paths": ["/etc"]}, "paths: '/etc' is outside the shared tree"),
    ({"paths": ["../dc2"]}, "paths: '../dc2' is outside the shared tree"),
    ({"path": "relative/tree"}, "path: 'relative/tree' is a relative path"),
    ({"ssh_key": "/nonexistent/id_ed25519"}, "ssh_key: /nonexistent/id_ed25519 does not exist"),
]


@pytest.mark.parametrize(("bad", "message"), BAD, ids=[b[1].split(":")[0] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_input_fails_naming_the_option(pair, tmp_path, bad, message):
    write(pair.src, "pending.txt", "would be added\n")
    before_src, before_dst = data(pair.src), data(pair.dst)
    result = pair.sync(tmp_path, **bad)
    assert result.get("failed") is True, result
    assert message in result["msg"], result["msg"]
    assert "; " in result["msg"]  # a fix follows the problem
    assert data(pair.src) == before_src and data(pair.dst) == before_dst
    assert leftovers(pair.src) == [] and leftovers(pair.dst) == []
    (pair.src / "pending.txt").unlink()


def test_source_host_given_as_destination_is_refused(pair, tmp_path):
    """destination_host that holds the source's own tree (its manifest names site dc1) is refused."""
    results = run_tasks(
        tmp_path,
        [
            (INFO, {"path": str(pair.dst), "site": "dc1", "write_manifest": True}, {}),
            (SYNC, pair.sync_args(), {}),
            (INFO, {"path": str(pair.dst), "site": "dc2", "write_manifest": True}, {}),
        ],
    )
    assert results[1]["failed"] is True
    assert "destination_host: 127.0.0.1 holds the tree of site dc1, the source itself" in results[1]["msg"]


def test_stale_destination_manifest_is_refused(pair, tmp_path):
    run_tasks(tmp_path, [(INFO, {"path": str(pair.dst), "site": "dc2", "write_manifest": True}, {})])
    time.sleep(1.5)  # the destination manifest just written is now older than the 1 s allowed
    result = run_tasks(tmp_path, [(SYNC, pair.sync_args(destination_manifest_max_age=1), {})])[0]
    assert result.get("failed") is True, result
    assert "destination_manifest_max_age=1" in result["msg"] and "write_manifest=true" in result["msg"]


def test_full_destination_disk_fails_and_keeps_old_files(pair, tmp_path):
    mnt = pair.base / "small"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.skip(
            f"cannot mount a 1 MiB tmpfs here ({proc.stderr.strip()}): the full-disk case needs mount rights; "
            "it runs as root with CAP_SYS_ADMIN, as in CI"
        )
    try:
        # The destination tree of this case is the tmpfs, behind a second sshd rooted there.
        small_src = pair.base / "small-src"
        write(small_src, "keep.txt", "new data\n")
        write(small_src, "huge.bin", os.urandom(2 * 1024 * 1024))
        write(mnt, "keep.txt", "old data\n")
        write(mnt, "other.txt", "untouched\n")
        with Sshd(pair.base / "ssh-small", mnt) as sshd:
            src_pair = Pair(pair.base, sshd)
            src_pair.src, src_pair.dst = small_src, mnt
            result = src_pair.sync(tmp_path, conflict_policy="source_wins")
        assert result.get("failed") is True, result
        assert "the destination file system is full" in result["msg"], result["msg"]
        assert (mnt / "keep.txt").read_text() in ("old data\n", "new data\n")  # old or new, never partial
        assert (mnt / "other.txt").read_text() == "untouched\n"
        assert not (mnt / "huge.bin").exists()
        assert leftovers(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def playbook_inventory(pair, tmp_path, dst_port=None):
    """Two sync hosts on this machine (local connection), dc2's tree behind the test sshd, as the role would set up."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    os.symlink(pair.sshd.client_key, home / ".ssh" / "id_ed25519")
    os.symlink(pair.sshd.known_hosts, home / ".ssh" / "known_hosts")
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "shared_fs_sync_home": str(home),
                "shared_fs_sync_user": pair.sshd.user,
                "shared_fs_ssh_port": dst_port or pair.sshd.port,
                "ha_address": "127.0.0.1",
            },
            "children": {
                "dc1": {"hosts": {"dc1-node2": {"shared_fs_path": str(pair.src)}}},
                "dc2": {"hosts": {"dc2-node2": {"shared_fs_path": str(pair.dst)}}},
                "witness": {"hosts": {}},
                "shared_fs": {"hosts": {"dc1-node2": None, "dc2-node2": None}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps(inventory))
    return path


def test_playbook_syncs_and_prints_the_table(pair, tmp_path):
    write(pair.src, "playbook/new.txt", "from the playbook\n")
    inventory = playbook_inventory(pair, tmp_path)
    extra = ["-e", "shared_fs_source_site=dc1", "-e", "shared_fs_destination_site=dc2"]
    proc = run_playbook("sync-shared-fs.yml", inventory, *extra)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Shared FS sync dc1 (dc1-node2) -> dc2 (dc2-node2)" in proc.stdout
    assert re.search(r"added\s+[1-9]\d*\s+[1-9]\d*", proc.stdout), proc.stdout[-3000:]
    assert re.search(r"digest dc1 [0-9a-f]{16}\s+dc2 [0-9a-f]{16}\s+(IN SYNC|DIFFERENT)", proc.stdout)
    assert (pair.dst / "playbook" / "new.txt").read_text() == "from the playbook\n"


CUT_ADDRESS = "203.0.113.77"  # TEST-NET-3, given an "unreachable" route for the test: the link is cut


def test_playbook_refuses_while_the_link_is_down(pair, tmp_path):
    write(pair.src, "playbook/blocked.txt", "must not move\n")
    route = ["ip", "route", "add", "unreachable", f"{CUT_ADDRESS}/32"]
    added = subprocess.run(route, capture_output=True, text=True, check=False)
    if added.returncode != 0:
        pytest.skip(
            f"cannot add an unreachable route to cut the link ({added.stderr.strip()}): needs CAP_NET_ADMIN; "
            "it runs as root on the CI machine"
        )
    try:
        inventory = playbook_inventory(pair, tmp_path)
        inventory.write_text(inventory.read_text().replace('"127.0.0.1"', f'"{CUT_ADDRESS}"'))
        extra = ["-e", "shared_fs_source_site=dc1", "-e", "shared_fs_destination_site=dc2"]
        proc = run_playbook("sync-shared-fs.yml", inventory, *extra, "-e", "shared_fs_sync_probe_timeout=1")
    finally:
        subprocess.run(["ip", "route", "del", "unreachable", f"{CUT_ADDRESS}/32"], check=False)
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    expected = f"The inter-site link dc1 -> dc2 is down: dc1-node2 cannot reach dc2-node2 at {CUT_ADDRESS}"
    assert expected in flat, flat[-3000:]
    assert "restore the inter-site network" in flat
    assert "Synchronise the tree from the source site" not in flat  # refused before the sync task
    assert not (pair.dst / "playbook" / "blocked.txt").exists()
    (pair.src / "playbook" / "blocked.txt").unlink()


def test_playbook_refuses_a_missing_source_tree(pair, tmp_path):
    inventory = playbook_inventory(pair, tmp_path)
    inventory.write_text(inventory.read_text().replace(f'"{pair.src}"', f'"{pair.base}/missing"'))
    extra = ["-e", "shared_fs_source_site=dc1", "-e", "shared_fs_destination_site=dc2"]
    proc = run_playbook("sync-shared-fs.yml", inventory, *extra)
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert f"The source tree {pair.base}/missing on dc1-node2 (dc1) is not healthy" in flat, flat[-3000:]
