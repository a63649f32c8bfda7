from ansible_collections.apiplatform.ha.plugins.module_utils.health import etcd_health_rows, health_table


def test_health_table_aligns_columns():
    lines = health_table([{"site": "dc1", "host": "a"}, {"site": "witness", "host": None}], ["site", "host"])
    assert lines[0] == "SITE     HOST"
    assert lines[2] == "dc1      a"
    assert lines[3] == "witness"


def member(name, healthy=True, leader=False):
    return {"id": name, "name": name, "healthy": healthy, "is_leader": leader, "raft_index": 7, "raft_term": 2}


def test_etcd_rows_summary_ok_degraded_lost():
    topo = {"host_site": {"a": "dc1", "b": "dc2", "c": "witness"}}
    ok = {"members": [member("a", leader=True), member("b"), member("c")], "has_quorum": True, "healthy_count": 3}
    assert etcd_health_rows(ok, topo)["summary"].startswith("OK: 3/3")
    rows = etcd_health_rows(ok, topo)["rows"]
    assert [r["site"] for r in rows] == ["dc1", "dc2", "witness"]
    assert rows[0]["leader"] == "LEADER"
    degraded = dict(ok, healthy_count=2, members=[member("a", leader=True), member("b", healthy=False), member("c")])
    assert etcd_health_rows(degraded, topo)["summary"].startswith("DEGRADED")
    lost = dict(degraded, has_quorum=False, healthy_count=1)
    assert etcd_health_rows(lost, topo)["summary"].startswith("QUORUM LOST")
    assert etcd_health_rows({}, topo)["summary"].startswith("NO ANSWER")
