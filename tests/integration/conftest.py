"""Fixtures shared by the integration tests."""

import pytest
from etcd_cluster import EtcdCluster, require_etcd


@pytest.fixture(scope="module")
def etcd_three(tmp_path_factory):
    """A real 3-member etcd cluster (e1, e2, e3) on 127.0.0.1, one per test module, stopped at the module's end."""
    require_etcd()
    c = EtcdCluster(tmp_path_factory.mktemp("etcd"))
    try:
        c.bootstrap(["e1", "e2", "e3"])
        yield c
    finally:
        c.stop_all()
