"""mongodb_resync: main() against a fake replica set (mongodb_fake.py), a fake systemctl and a temporary data
directory."""

import pytest
from ansible.module_utils import basic
from module_exits import exit_result, fail_message, patch_exits
from mongodb_fake import NOW, FakeClock, FakeReplSet

from ansible_collections.apiplatform.ha.plugins.module_utils import mongodb
from ansible_collections.apiplatform.ha.plugins.modules import mongodb_resync

M3 = "m3:27017"
STALE = "We are too stale to use m1:27017 as a sync source. Sync source's earliest optime is ..."


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)
    monkeypatch.setattr(mongodb, "time", FakeClock())
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, **kw: "/bin/systemctl")


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "mongodb"
    d.mkdir(mode=0o750)
    (d / "WiredTiger").write_text("WiredTiger\n")
    (d / "mongod.lock").write_text("")
    (d / "collection-0.wt").write_text("x")
    (d / "journal").mkdir()
    (d / "journal" / "WiredTigerLog.0000000001").write_text("x")
    (d / "diagnostic.data").mkdir()
    return d


class Systemd:
    def __init__(self, fake, host=M3, fail=None):
        self.fake = fake
        self.host = host
        self.calls = []
        self.fail = fail or {}

    def run_command(self, cmd, **kwargs):
        assert isinstance(cmd, list) and cmd[0] == "/bin/systemctl"
        self.calls.append(cmd[1:])
        if cmd[1] in self.fail:
            return 1, "", self.fail[cmd[1]]
        if cmd[1] == "stop":
            self.fake.set_state(self.host, 8, health=0)
        elif cmd[1] == "start":
            self.fake.set_state(self.host, 5, info="")
            self.fake.nodes[self.host]["optime"] = 0
        return 0, "", ""


def install(monkeypatch, fake, **kwargs):
    monkeypatch.setattr(mongodb, "MongoClient", fake.client)
    systemd = Systemd(fake, **kwargs)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, cmd, **kw: systemd.run_command(cmd))
    return systemd


def stale_set():
    fake = FakeReplSet()
    fake.set_state(M3, 3, info=STALE, optime=NOW - 90000)
    return fake


def params(data_dir, **kwargs):
    return dict({"data_dir": str(data_dir), "login_host": "m3", "wait_timeout": 60}, **kwargs)


def test_stale_member_check_mode_then_resync(monkeypatch, data_dir):
    fake = stale_set()
    systemd = install(monkeypatch, fake)
    check = exit_result(mongodb_resync.main, params(data_dir, confirm=True), check_mode=True, diff=True)
    assert check["changed"] is True and check["decision"] == "needed" and "too stale to catch up" in check["reason"]
    assert check["removed_entries"] == 5 and check["executed"] == [] and systemd.calls == []
    assert check["diff"] == {
        "before": {"state": "RECOVERING", "data_dir_entries": 5},
        "after": {"state": "SECONDARY", "data_dir_entries": 0},
    }
    assert (data_dir / "WiredTiger").exists()

    result = exit_result(mongodb_resync.main, params(data_dir, confirm=True, keep_old_data=False))
    assert systemd.calls == [["stop", "mongod"], ["start", "mongod"]]
    assert result["executed"] == [
        "systemctl stop mongod",
        f"delete the contents of {data_dir} (5 entries)",
        "systemctl start mongod",
    ]
    assert (result["state_before"], result["state_after"], result["removed_entries"]) == ("RECOVERING", "SECONDARY", 5)
    assert result["member"] == M3 and isinstance(result["seconds"], int)
    assert data_dir.is_dir() and list(data_dir.iterdir()) == [] and oct(data_dir.stat().st_mode & 0o777) == "0o750"
    assert fake.nodes[M3]["state"] == 2


def test_resync_moves_the_old_data_aside_by_default(monkeypatch, data_dir):
    fake = stale_set()
    install(monkeypatch, fake)
    before = sorted(p.name for p in data_dir.iterdir())
    result = exit_result(mongodb_resync.main, params(data_dir, confirm=True))
    (moved,) = list(data_dir.parent.glob(data_dir.name + ".resync-*"))
    assert sorted(p.name for p in moved.iterdir()) == before and list(data_dir.iterdir()) == []
    assert result["executed"][1] == f"move the contents of {data_dir} to {moved} ({len(before)} entries)"
    assert fake.nodes[M3]["state"] == 2


def test_not_needed_changes_nothing(monkeypatch, data_dir):
    fake = FakeReplSet()
    fake.set_state(M3, 2, optime=NOW - 120)
    systemd = install(monkeypatch, fake)
    result = exit_result(mongodb_resync.main, params(data_dir, confirm=True))
    assert result["changed"] is False and result["decision"] == "not_needed" and systemd.calls == []
    assert "120 s behind the primary, within its oplog window of 86400 s" in result["reason"]
    assert (data_dir / "WiredTiger").exists()


def test_needed_without_confirm_names_confirm(monkeypatch, data_dir):
    systemd = install(monkeypatch, stale_set())
    msg = fail_message(mongodb_resync.main, params(data_dir))
    assert msg.startswith(f"confirm: {M3} needs a resync") and f"deletes {data_dir}'s contents (5 entries)" in msg
    assert msg.endswith("set confirm=true to do that.") and systemd.calls == []


def test_refusals(monkeypatch, data_dir, tmp_path):
    fake = FakeReplSet()
    systemd = install(monkeypatch, fake)
    msg = fail_message(mongodb_resync.main, params(data_dir, login_host="m1", confirm=True, force=True))
    assert msg.startswith("m1:27017 is the PRIMARY; a resync wipes its data. Step it down first")
    assert fail_message(mongodb_resync.main, params("/", confirm=True)).startswith("data_dir: refusing '/'")
    assert "not an absolute path" in fail_message(mongodb_resync.main, params("var/lib/mongodb"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("x")
    msg = fail_message(mongodb_resync.main, params(tmp_path / "home", confirm=True))
    assert "does not look like a mongod data directory: it contains none of mongod.lock, WiredTiger" in msg
    assert "entries: notes.txt" in msg
    assert systemd.calls == [] and (data_dir / "WiredTiger").exists()


def test_local_mongod_down_uses_seeds_and_force(monkeypatch, data_dir):
    fake = FakeReplSet()
    fake.set_state(M3, 8, health=0)
    systemd = install(monkeypatch, fake)
    msg = fail_message(mongodb_resync.main, params(data_dir, confirm=True))
    assert msg.startswith("member: the local mongod does not answer") and "set member to its host:port" in msg
    msg = fail_message(mongodb_resync.main, params(data_dir, member=M3, seeds=["m2:27017"], confirm=True))
    assert msg.startswith("cannot tell whether m3:27017 (DOWN, health 0") and "force=true" in msg
    result = exit_result(mongodb_resync.main, params(data_dir, member=M3, seeds=["m2:27017"], confirm=True, force=True))
    assert result["changed"] is True and result["state_before"] == "DOWN" and result["state_after"] == "SECONDARY"
    assert systemd.calls == [["stop", "mongod"], ["start", "mongod"]]
    assert list(data_dir.iterdir()) == []  # an empty data_dir is accepted (a rerun after the deletion)
    fake.set_state(M3, 8, health=0)
    msg = fail_message(mongodb_resync.main, params(data_dir, member=M3, seeds=["m9:27017"], force=True))
    assert msg.startswith("no primary found, so a resync has no sync source: cannot reach mongod at m9:27017")


def test_systemctl_failure_and_initial_sync_timeout(monkeypatch, data_dir):
    systemd = install(monkeypatch, stale_set(), fail={"stop": "Failed to stop mongod.service: Access denied"})
    msg = fail_message(mongodb_resync.main, params(data_dir, confirm=True))
    assert msg.startswith("systemctl stop mongod failed (rc=1): Failed to stop mongod.service: Access denied")
    assert (data_dir / "WiredTiger").exists() and systemd.calls == [["stop", "mongod"]]

    fake = stale_set()
    fake.sync_reads = 10**6
    install(monkeypatch, fake)
    msg = fail_message(mongodb_resync.main, params(data_dir, confirm=True, wait_timeout=10))
    assert msg.startswith("waited wait_timeout=10 s for m3:27017 to finish its initial sync and become SECONDARY")
    assert "last seen: STARTUP2 (from its own replSetGetStatus; states seen: STARTUP2)" in msg
