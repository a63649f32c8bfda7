"""etcd_cluster_info: main() with a fake client (no etcd server)."""

import pytest
from ansible.module_utils.testing import patch_module_args
from module_exits import ExitJson, FailJson, patch_exits

from ansible_collections.apiplatform.ha.plugins.module_utils.etcd import EtcdConnectionError, cluster_summary
from ansible_collections.apiplatform.ha.plugins.modules import etcd_cluster_info


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)


class FakeClient:
    def __init__(self, params, cluster=None, error=None):
        self.params = params
        self.cluster = cluster
        self.error = error

    def read_cluster(self):
        if self.error:
            raise self.error
        return self.cluster


def install(monkeypatch, **kwargs):
    seen = {}

    def from_params(cls, params):
        seen["params"] = params
        return FakeClient(params, **kwargs)

    monkeypatch.setattr(etcd_cluster_info.EtcdClient, "from_params", classmethod(from_params))
    return seen


def run_main(args):
    with patch_module_args(args):
        etcd_cluster_info.main()


def _cluster():
    members = [
        {"id": "a1", "name": "e1", "peer_urls": ["http://h1:2380"], "client_urls": ["http://h1:2379"]},
        {"id": "a2", "name": "e2", "peer_urls": ["http://h2:2380"], "client_urls": ["http://h2:2379"]},
    ]
    for m in members:
        m.update(is_learner=False, started=True)
    statuses = {
        "a1": {"status": {"leader": str(0xA1), "raftTerm": "3", "raftIndex": "9"}, "error": None},
        "a2": {"status": None, "error": "could not reach etcd: http://h2:2379 refused"},
    }
    return cluster_summary("c1", members, statuses)


def test_reports_the_cluster_and_never_changes(monkeypatch):
    seen = install(monkeypatch, cluster=_cluster())
    with pytest.raises(ExitJson) as exc:
        run_main({"endpoints": ["http://h1:2379"], "_ansible_check_mode": True, "_ansible_diff": True})
    result = exc.value.args[0]
    assert result["changed"] is False
    assert result["cluster"]["leader"] == "e1"
    assert result["cluster"]["has_quorum"] is False  # 1 of 2 healthy, quorum 2
    assert result["cluster"]["members"][1]["error"].startswith("could not reach etcd")
    assert result["diff"] == {"before": {}, "after": {}}
    assert seen["params"]["timeout"] == 5.0 and seen["params"]["validate_certs"] is True


def test_no_endpoint_answers(monkeypatch):
    install(monkeypatch, error=EtcdConnectionError("could not reach etcd: http://h1:2379/v3/cluster/member/list"))
    with pytest.raises(FailJson) as exc:
        run_main({"endpoints": ["http://h1:2379"]})
    assert "http://h1:2379" in exc.value.args[0]["msg"]


def test_endpoints_are_required():
    with pytest.raises(FailJson) as exc:
        run_main({})
    assert "endpoints" in exc.value.args[0]["msg"]


def test_password_is_not_logged_and_needs_user():
    assert etcd_cluster_info.etcd_argument_spec()["password"]["no_log"] is True
    with pytest.raises(FailJson) as exc:
        run_main({"endpoints": ["http://h1:2379"], "password": "secret"})
    assert "user" in exc.value.args[0]["msg"]


def test_client_cert_needs_client_key():
    with pytest.raises(FailJson) as exc:
        run_main({"endpoints": ["https://h1:2379"], "client_cert": "/c.pem"})
    assert "client_key" in exc.value.args[0]["msg"]
