from ansible_collections.apiplatform.ha.plugins.module_utils.health import (
    etcd_health_rows,
    health_table,
    patroni_health_rows,
    rabbitmq_health_rows,
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


RMQ_TOPOLOGY = {"host_site": {"dc1-node1": "dc1", "dc2-node1": "dc2", "witness-node1": "witness"}}
RMQ_HOSTS = ["dc1-node1", "dc2-node1", "witness-node1"]


def rmq_node(name, running=True, partitions=(), mem_alarm=False):
    return {"name": name, "running": running, "partitions": list(partitions), "mem_alarm": mem_alarm}


def test_rabbitmq_rows_all_running_is_ok_and_sorted_by_site():
    info = {
        "rabbitmq_version": "3.10.8",
        "nodes": [rmq_node("rabbit@witness-node1"), rmq_node("rabbit@dc2-node1"), rmq_node("rabbit@dc1-node1")],
        "queues_by_node": {"rabbit@dc1-node1": {"leaders": 2, "members": 3}},
        "quorum_queues": [{"name": "q", "has_quorum": True}],
    }
    out = rabbitmq_health_rows(info, RMQ_TOPOLOGY, RMQ_HOSTS)
    assert out["summary"].startswith("OK: 3 of 3 nodes running, 1 quorum queues")
    assert [r["host"] for r in out["rows"]] == RMQ_HOSTS
    assert out["rows"][0]["qq_leaders"] == 2


def test_rabbitmq_rows_flag_a_stopped_node_a_missing_host_and_a_queue_without_quorum():
    info = {
        "nodes": [rmq_node("rabbit@dc1-node1"), rmq_node("rabbit@dc2-node1", running=False)],
        "quorum_queues": [{"name": "q", "has_quorum": False}],
        "under_replicated": [{"name": "q"}],
    }
    out = rabbitmq_health_rows(info, RMQ_TOPOLOGY, RMQ_HOSTS)
    states = {r["host"]: r["state"] for r in out["rows"]}
    assert states == {"dc1-node1": "running", "dc2-node1": "STOPPED", "witness-node1": "MISSING"}
    assert out["summary"].startswith("CRITICAL")
    assert "attention: dc2-node1, witness-node1" in out["summary"]


def test_rabbitmq_rows_partition_and_alarm():
    info = {
        "nodes": [
            rmq_node("rabbit@dc1-node1", partitions=["rabbit@dc2-node1"]),
            rmq_node("rabbit@dc2-node1", mem_alarm=True),
            rmq_node("rabbit@witness-node1"),
        ]
    }
    out = rabbitmq_health_rows(info, RMQ_TOPOLOGY, RMQ_HOSTS)
    rows = {r["host"]: r for r in out["rows"]}
    assert rows["dc1-node1"]["state"] == "PARTITIONED"
    assert rows["dc1-node1"]["partitioned_from"] == "rabbit@dc2-node1"
    assert rows["dc2-node1"]["state"] == "ALARM" and rows["dc2-node1"]["alarms"] == "memory"
    assert out["summary"].startswith("CRITICAL")


def test_rabbitmq_rows_without_an_answer():
    assert rabbitmq_health_rows({}, RMQ_TOPOLOGY, RMQ_HOSTS)["summary"].startswith("NO ANSWER")
