"""etcd_key: argument validation, check mode, diff and idempotence of main() with a fake client (no etcd server)."""

import pytest
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits

from ansible_collections.apiplatform.ha.plugins.module_utils.etcd import EtcdConnectionError, EtcdKeyChangedError
from ansible_collections.apiplatform.ha.plugins.modules import etcd_key

KEY = "/apiplatform-ha/placement/scheduler"


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


class FakeClient:
    """etcd's key space with revisions; ``between`` runs after the module's read (another client's write)."""

    def __init__(self, data, between=None):
        self.data = {k: (v, 1) for k, v in data.items()}
        self.revision = 1
        self.writes = []
        self.between = between

    def get_with_revision(self, key):
        value, revision = self.data.get(key, (None, 0))
        if self.between:
            self.between(self)
        return value, revision

    def set(self, key, value):
        self.revision += 1
        self.data[key] = (value, self.revision)

    def _check(self, key, revision):
        if self.data.get(key, (None, 0))[1] != revision:
            raise EtcdKeyChangedError(f"etcd key {key} was changed by another client after this task read it")

    def put_if_unchanged(self, key, value, revision):
        self._check(key, revision)
        self.writes.append(("put", key, value))
        self.set(key, value)

    def delete_if_unchanged(self, key, revision):
        self._check(key, revision)
        self.writes.append(("delete", key))
        self.data.pop(key, None)


def install(monkeypatch, data):
    fake = FakeClient(data)
    monkeypatch.setattr(etcd_key.EtcdClient, "from_params", classmethod(lambda cls, params: fake))
    return fake


def run_main(args, check_mode=False, diff=False):
    args = dict(args, endpoints=["http://10.0.0.1:2379"], _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        etcd_key.main()


def result_of(args, **kwargs):
    with pytest.raises(ExitJson) as exc:
        run_main(args, **kwargs)
    return exc.value.args[0]


def test_check_mode_reports_the_change_and_writes_nothing(monkeypatch):
    fake = install(monkeypatch, {KEY: "app1"})
    result = result_of({"key": KEY, "value": "app2"}, check_mode=True, diff=True)
    assert (result["changed"], result["previous"], result["value"]) == (True, "app1", "app2")
    assert result["diff"] == {
        "before": f"{KEY} = app1\n",
        "after": f"{KEY} = app2\n",
        "before_header": KEY,
        "after_header": KEY,
    }
    assert fake.writes == []


def test_apply_then_rerun_is_idempotent(monkeypatch):
    fake = install(monkeypatch, {})
    assert result_of({"key": KEY, "value": "app1"})["changed"] is True
    assert fake.writes == [("put", KEY, "app1")]
    assert result_of({"key": KEY, "value": "app1"})["changed"] is False
    assert len(fake.writes) == 1


def test_absent_deletes_only_an_existing_key(monkeypatch):
    fake = install(monkeypatch, {KEY: "app1"})
    result = result_of({"key": KEY, "state": "absent"}, diff=True)
    assert (result["changed"], result["previous"], result["value"]) == (True, "app1", None)
    assert result["diff"]["after"] == ""
    assert result_of({"key": KEY, "state": "absent"})["changed"] is False
    assert fake.writes == [("delete", KEY)]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"key": KEY}, "state is present but all of the following are missing: value"),
        ({"key": KEY, "value": None}, "value: give the text to store with state=present"),
        ({"key": "relative/key", "value": "x"}, "key: 'relative/key' is not an absolute key"),
    ],
)
def test_bad_input_fails_naming_the_option_and_writes_nothing(monkeypatch, args, needle):
    fake = install(monkeypatch, {KEY: "app1"})
    with pytest.raises(FailJson) as exc:
        run_main(args)
    assert needle in exc.value.args[0]["msg"]
    assert fake.writes == []


def test_unreachable_etcd_is_one_failure_naming_the_key(monkeypatch):
    class Down(FakeClient):
        def get_with_revision(self, key):
            raise EtcdConnectionError("could not reach etcd: http://10.0.0.1:2379/v3/kv/range: connection refused")

    down = Down({})
    monkeypatch.setattr(etcd_key.EtcdClient, "from_params", classmethod(lambda cls, params: down))
    with pytest.raises(FailJson) as exc:
        run_main({"key": KEY, "value": "app1"})
    assert exc.value.args[0]["msg"].startswith("could not reach etcd")
    assert exc.value.args[0]["key"] == KEY


@pytest.mark.parametrize("state", ["present", "absent"])
def test_a_write_by_another_client_after_the_read_is_not_overwritten(monkeypatch, state):
    fake = FakeClient({KEY: "app1"}, between=lambda c: c.set(KEY, "app9"))
    monkeypatch.setattr(etcd_key.EtcdClient, "from_params", classmethod(lambda cls, params: fake))
    args = {"key": KEY, "value": "app2"} if state == "present" else {"key": KEY, "state": "absent"}
    with pytest.raises(FailJson) as exc:
        run_main(args)
    assert "changed by another client" in exc.value.args[0]["msg"]
    assert fake.writes == []
    assert fake.data[KEY][0] == "app9"
