"""roles/shared_fs/files/check_shared_fs_sync: status logic (pure) and a run on a real tree."""

import importlib.machinery
import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles/shared_fs/files/check_shared_fs_sync.py"
loader = importlib.machinery.SourceFileLoader("check_shared_fs_sync", str(SCRIPT))
spec = importlib.util.spec_from_loader("check_shared_fs_sync", loader)
check = importlib.util.module_from_spec(spec)
loader.exec_module(check)

D1, D2 = "a" * 64, "b" * 64


def test_no_record_is_unknown():
    status, text, perf = check.evaluate(100, None, "", D1, "", 3600, 86400)
    assert status == check.UNKNOWN and "no successful sync" in text and perf == ""


@pytest.mark.parametrize(("age", "expected"), [(0, 0), (3599, 0), (3600, 1), (86399, 1), (86400, 2), (10**7, 2)])
def test_age_thresholds(age, expected):
    status, text, perf = check.evaluate(
        10**8, {"time": 10**8 - age, "peer": "dc2", "digest": D1}, "", D1, "", 3600, 86400
    )
    assert status == expected
    assert f"age={age}s;3600;86400;0" in perf and "digest_match=1" in perf
    assert "dc2" in text


def test_recorded_digest_mismatch_is_critical():
    status, text, perf = check.evaluate(100, {"time": 99, "peer": "dc2", "digest": D2}, "", D1, "", 3600, 86400)
    assert status == check.CRITICAL and "differs from the digest recorded" in text and "digest_match=0" in perf


def test_peer_digest_given_wins_over_recorded():
    rec = {"time": 99, "peer": "dc2", "digest": D2}
    assert check.evaluate(100, rec, "", D1, D1, 3600, 86400)[0] == check.OK
    status, text, _perf = check.evaluate(100, {"time": 99, "peer": "dc2", "digest": D1}, "dc2", D1, D2, 3600, 86400)
    assert status == check.CRITICAL and "dc2's digest" in text


def test_main_on_a_real_tree(tmp_path):
    (tmp_path / "f.txt").write_text("x\n")
    assert check.main(["--path", str(tmp_path)])[0] == check.UNKNOWN
    digest, files, size = check.tree_digest(str(tmp_path), {})
    assert (files, size) == (1, 2)
    peers = tmp_path / ".shared-fs" / "peers"
    peers.mkdir(parents=True)
    (peers / "dc2.json").write_text(json.dumps({"time": 1000, "peer": "dc2", "digest": digest}))
    status, text, _perf = check.main(["--path", str(tmp_path)], now=1010)
    assert status == check.OK, text
    assert check.main(["--path", str(tmp_path), "--peer", "dc9"], now=1010)[0] == check.UNKNOWN
    (tmp_path / "f.txt").write_text("y\n")
    assert check.main(["--path", str(tmp_path)], now=1010)[0] == check.CRITICAL
    assert check.main(["--path", str(tmp_path / "nope")])[0] == check.UNKNOWN
    assert check.main(["--path", str(tmp_path), "-w", "10", "-c", "5"])[0] == check.UNKNOWN
    assert check.main(["--bogus"])[0] == check.UNKNOWN


def test_script_output_and_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--path", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 3 and proc.stdout.startswith("SHARED_FS UNKNOWN - ")
