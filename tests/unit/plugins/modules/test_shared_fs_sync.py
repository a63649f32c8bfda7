"""shared_fs_sync and shared_fs_info: option validation through main() (no ssh, no rsync)."""

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits

from ansible_collections.apiplatform.ha.plugins.modules import shared_fs_info, shared_fs_sync


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


@pytest.fixture
def args(tmp_path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "key").write_text("not a real key")
    return {
        "path": str(tmp_path / "tree"),
        "site": "dc1",
        "destination_site": "dc2",
        "destination_host": "192.0.2.22",
        "ssh_key": str(tmp_path / "key"),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"destination_site": "dc1"}, "destination_site: equals site (dc1)"),
        ({"path": "tree"}, "path: 'tree' is a relative path"),
        ({"paths": ["/etc/passwd"]}, "paths: '/etc/passwd' is outside the shared tree"),
        ({"ssh_key": "/nonexistent/key"}, "ssh_key: /nonexistent/key does not exist"),
        ({"known_hosts": "/nonexistent/kh"}, "known_hosts: /nonexistent/kh does not exist"),
        ({"destination_manifest_max_age": 0}, "destination_manifest_max_age: must be a positive"),
        ({"destination_site": "../x"}, "site name '../x'"),
    ],
)
def test_sync_bad_options_fail_naming_the_option(args, change, message):
    args.update(change)
    with patch_module_args(args), pytest.raises(FailJson) as e:
        shared_fs_sync.main()
    assert message in e.value.args[0]["msg"]


def test_sync_missing_tree_fails_before_any_transfer(args, tmp_path, monkeypatch):
    args["path"] = str(tmp_path / "missing")
    calls = []
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, *a, **k: calls.append(a) or (0, "", ""))
    with patch_module_args(args), pytest.raises(FailJson) as e:
        shared_fs_sync.main()
    assert "does not exist" in e.value.args[0]["msg"] and calls == []


def test_sync_bad_conflict_policy_is_refused_by_the_spec(args):
    args["conflict_policy"] = "newest"
    with patch_module_args(args), pytest.raises(FailJson) as e:
        shared_fs_sync.main()
    assert "conflict_policy" in e.value.args[0]["msg"]


def test_info_reports_the_tree_and_check_mode_writes_nothing(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("abc")
    check_args = {"path": str(tree), "site": "dc1", "write_manifest": True, "_ansible_check_mode": True}
    with patch_module_args(check_args), pytest.raises(ExitJson) as e:
        shared_fs_info.main()
    result = e.value.args[0]
    assert result["changed"] is False
    assert result["shared_fs"]["files"] == 1 and result["shared_fs"]["bytes"] == 3
    assert result["shared_fs"]["manifest_written"] is False and result["shared_fs"]["last_sync"] is None
    assert not (tree / ".shared-fs").exists()
    with patch_module_args({"path": str(tree), "site": "dc1", "write_manifest": True}), pytest.raises(ExitJson) as e:
        shared_fs_info.main()
    assert e.value.args[0]["shared_fs"]["manifest_written"] is True
    assert (tree / ".shared-fs" / "manifest.json").exists()


def test_info_missing_tree_fails(tmp_path):
    with patch_module_args({"path": str(tmp_path / "nope"), "site": "dc1"}), pytest.raises(FailJson) as e:
        shared_fs_info.main()
    assert "does not exist" in e.value.args[0]["msg"]
