from ansible_collections.apiplatform.ha.plugins.module_utils.health import (
    etcd_health_rows,
    health_table,
    patroni_health_rows,
    shared_fs_health_rows,
)


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


def pg(name, role="replica", state="streaming", lag=0, timeline=3):
    return {"name": name, "role": role, "state": state, "lag": lag, "timeline": timeline, "tags": {"site": "dc1"}}


def test_patroni_rows_ok_names_leader_and_counts_streaming_replicas():
    topo = {"host_site": {"a": "dc1", "b": "dc1", "c": "dc2"}}
    cluster = {"members": [pg("c"), pg("a", role="leader", state="running", lag=None), pg("b", lag=120)]}
    report = patroni_health_rows(cluster, topo, expected=["a", "b", "c"])
    assert report["summary"] == "OK: leader a, 2 replicas streaming of 2"
    assert [(r["site"], r["host"], r["role"]) for r in report["rows"]] == [
        ("dc1", "a", "LEADER"),
        ("dc1", "b", "replica"),
        ("dc2", "c", "replica"),
    ]
    assert report["rows"][1]["lag"] == "120 B" and report["rows"][0]["lag"] == ""


def test_patroni_rows_flag_lag_stopped_missing_and_leaderless():
    topo = {"host_site": {"a": "dc1", "b": "dc1", "c": "dc2"}}
    lagging = {"members": [pg("a", role="leader", state="running"), pg("b", lag=10**9), pg("c", state="stopped")]}
    report = patroni_health_rows(lagging, topo, expected=["a", "b", "c", "d"], max_lag_bytes=1024)
    assert report["summary"].startswith("DEGRADED: leader a, 0 replicas streaming of 3")
    assert report["summary"].endswith("attention: b, c, d")
    assert {r["host"]: r["state"] for r in report["rows"]} == {
        "a": "running",
        "b": "STREAMING",
        "c": "STOPPED",
        "d": "MISSING",
    }
    leaderless = {"members": [pg("b"), pg("c")]}
    assert patroni_health_rows(leaderless, topo)["summary"].startswith("NO LEADER")
    two = {"members": [pg("b", role="leader", state="running"), pg("c", role="leader", state="running")]}
    assert patroni_health_rows(two, topo)["summary"].startswith("SEVERAL LEADERS")
    assert patroni_health_rows({}, topo)["summary"].startswith("NO ANSWER")
    assert "PAUSED" in patroni_health_rows(dict(lagging, pause=True), topo)["summary"]


def fs(digest, age=10, peer="dc2"):
    return {
        "site": "dc1",
        "mounted": True,
        "files": 3,
        "bytes": 30,
        "digest": digest,
        "last_sync": {"peer": peer, "role": "source", "age_seconds": age},
    }


def test_shared_fs_rows_in_sync_different_and_stale():
    topo = {"host_site": {"a": "dc1", "b": "dc2"}}
    same = shared_fs_health_rows({"b": fs("abc" * 10), "a": fs("abc" * 10)}, topo)
    assert same["summary"] == "IN SYNC: 2 sync hosts, 1 distinct digest(s)"
    assert [r["host"] for r in same["rows"]] == ["a", "b"] and same["rows"][0]["digest"] == ("abc" * 10)[:12]
    diff = shared_fs_health_rows({"a": fs("x"), "b": fs("y", age=None, peer=None)}, topo)
    assert diff["summary"].startswith("DIFFERENT: 2 sync hosts, 2 distinct")
    assert diff["summary"].endswith("or never: b") and diff["rows"][1]["last_sync"] == "never"
    gone = shared_fs_health_rows({"a": fs("x"), "b": None}, topo)
    assert gone["rows"][1]["state"] == "NO ANSWER" and "b" in gone["summary"]
    assert shared_fs_health_rows({}, topo)["summary"].startswith("NO ANSWER")
