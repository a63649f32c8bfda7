"""etcd_key against a real 3-member etcd cluster on 127.0.0.1, through ansible-playbook.

check mode (changed, etcdctl shows nothing written) -> apply (etcdctl shows it) -> apply again (not changed) ->
diff; then delete, bad input and an unreachable cluster.
"""

import pytest
from etcd_cluster import free_port_pairs, run_module

KEY_MODULE = "apiplatform.ha.etcd_key"
KEY = "/apiplatform-ha/placement/scheduler"


@pytest.fixture(scope="module")
def cluster(etcd_three):
    return etcd_three


def stored(cluster, key=KEY):
    """The value etcdctl reads (None when the key is absent)."""
    out = cluster.etcdctl("get", key, "--print-value-only")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() or None


def test_set_check_apply_rerun_diff(cluster, tmp_path):
    cluster.etcdctl("del", KEY)
    args = {"endpoints": cluster.endpoints(), "key": KEY, "value": "dc1-app1"}
    checked = run_module(tmp_path, KEY_MODULE, args, check=True, diff=True)
    assert not checked.get("failed"), checked.get("msg")
    assert (checked["changed"], checked["previous"], checked["value"]) == (True, None, "dc1-app1")
    assert checked["diff"]["after"] == f"{KEY} = dc1-app1\n"
    assert stored(cluster) is None

    applied = run_module(tmp_path, KEY_MODULE, args)
    assert applied["changed"] is True
    assert stored(cluster) == "dc1-app1"

    again = run_module(tmp_path, KEY_MODULE, args, diff=True)
    assert again["changed"] is False
    assert again["diff"]["before"] == again["diff"]["after"]


def test_move_reports_before_and_after(cluster, tmp_path):
    cluster.etcdctl("put", KEY, "dc1-app1")
    moved = run_module(
        tmp_path, KEY_MODULE, {"endpoints": cluster.endpoints(), "key": KEY, "value": "dc2-node1"}, diff=True
    )
    assert (moved["changed"], moved["previous"], moved["value"]) == (True, "dc1-app1", "dc2-node1")
    assert moved["diff"]["before"] == f"{KEY} = dc1-app1\n"
    assert stored(cluster) == "dc2-node1"


def test_absent_deletes_once(cluster, tmp_path):
    cluster.etcdctl("put", KEY, "dc2-node1")
    args = {"endpoints": cluster.endpoints(), "key": KEY, "state": "absent"}
    checked = run_module(tmp_path, KEY_MODULE, args, check=True)
    assert checked["changed"] is True and stored(cluster) == "dc2-node1"
    deleted = run_module(tmp_path, KEY_MODULE, args)
    assert deleted["changed"] is True and deleted["previous"] == "dc2-node1"
    assert stored(cluster) is None
    again = run_module(tmp_path, KEY_MODULE, args)
    assert again["changed"] is False


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"key": "placement/scheduler", "value": "x"}, "key: 'placement/scheduler' is not an absolute key"),
        ({"key": KEY}, "state is present but all of the following are missing: value"),
    ],
)
def test_bad_input_names_the_option_and_writes_nothing(cluster, tmp_path, args, needle):
    cluster.etcdctl("put", KEY, "unchanged")
    result = run_module(tmp_path, KEY_MODULE, {"endpoints": cluster.endpoints(), **args})
    assert result.get("failed") is True
    assert needle in result["msg"]
    assert "Traceback" not in result["msg"]
    assert stored(cluster) == "unchanged"


def test_unreachable_cluster_names_every_endpoint(tmp_path):
    dead = [f"http://127.0.0.1:{client}" for client, _peer in free_port_pairs(2)]
    result = run_module(tmp_path, KEY_MODULE, {"endpoints": dead, "key": KEY, "value": "x", "timeout": 1})
    assert result.get("failed") is True
    for url in dead:
        assert url in result["msg"]
    assert result["msg"].startswith("could not reach etcd")


def test_write_is_refused_when_another_client_changed_the_key(cluster):
    """The module's write is a compare-and-swap on the revision it read: a write in between is not overwritten."""
    from ansible_collections.apiplatform.ha.plugins.module_utils.etcd import EtcdClient, EtcdKeyChangedError

    cluster.etcdctl("put", KEY, "dc1-app1")
    client = EtcdClient(cluster.endpoints(), timeout=5)
    value, revision = client.get_with_revision(KEY)
    assert value == "dc1-app1" and revision > 0

    cluster.etcdctl("put", KEY, "dc2-app1")  # another client, between the read and the write
    with pytest.raises(EtcdKeyChangedError, match="changed by another client"):
        client.put_if_unchanged(KEY, "dc1-app2", revision)
    assert stored(cluster) == "dc2-app1"
    with pytest.raises(EtcdKeyChangedError):
        client.delete_if_unchanged(KEY, revision)
    assert stored(cluster) == "dc2-app1"

    _value, current = client.get_with_revision(KEY)
    client.put_if_unchanged(KEY, "dc1-app2", current)
    assert stored(cluster) == "dc1-app2"

    cluster.etcdctl("del", KEY)
    assert client.get_with_revision(KEY) == (None, 0)
    client.put_if_unchanged(KEY, "dc1-app1", 0)  # 0: only while the key is still absent
    with pytest.raises(EtcdKeyChangedError):
        client.put_if_unchanged(KEY, "dc2-app1", 0)
    assert stored(cluster) == "dc1-app1"
