from ansible_collections.apiplatform.ha.plugins.module_utils.health import (
    etcd_health_rows,
    health_table,
    mongodb_health_rows,
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


MDB_TOPOLOGY = {"host_site": {"dc1-node1": "dc1", "dc2-node1": "dc2", "witness-node1": "witness"}}
MDB_HOSTS = ["dc1-node1", "dc2-node1", "witness-node1"]
MDB_ADDRESS = {"dc1-node1": "10.0.1.1", "dc2-node1": "10.0.2.1", "witness-node1": "10.0.3.1"}


def mdb_member(host, state_str="SECONDARY", health=1, lag=0, site=None, votes=1, info=""):
    return {
        "name": f"{MDB_ADDRESS[host]}:27017",
        "state_str": state_str,
        "health": health,
        "votes": votes,
        "arbiter_only": state_str == "ARBITER",
        "tags": {"site": site} if site else {},
        "lag_seconds": None if state_str in ("ARBITER", "PRIMARY") else lag,
        "info_message": info,
    }


def mdb_result(host, members, primary="10.0.1.1:27017", healthy=True, window=86400, term=3):
    return {
        "changed": False,
        "initialized": True,
        "invocation": {"module_args": {"login_host": MDB_ADDRESS[host], "login_port": 27017}},
        "mongodb_replset": {
            "set": "apiplatform",
            "primary": primary,
            "self": f"{MDB_ADDRESS[host]}:27017",
            "term": term,
            "config_version": 5,
            "healthy": healthy,
            "members": members,
            "oplog": None if window is None else {"first": "x", "last": "y", "window_seconds": window},
        },
    }


def mdb_psa(**over):
    members = {
        "dc1-node1": mdb_member("dc1-node1", "PRIMARY", site="dc1"),
        "dc2-node1": mdb_member("dc2-node1", lag=2, site="dc2"),
        "witness-node1": mdb_member("witness-node1", "ARBITER"),
    }
    members.update(over)
    return [members[h] for h in ("witness-node1", "dc2-node1", "dc1-node1")]


def test_mongodb_rows_healthy_psa_set_row_first_then_members_by_site():
    results = {h: mdb_result(h, mdb_psa()) for h in MDB_HOSTS}
    out = mongodb_health_rows(results, MDB_TOPOLOGY, MDB_HOSTS)
    assert out["summary"] == (
        "OK: set apiplatform, primary 10.0.1.1:27017, 3/3 members healthy (3/3 voting), oplog window 86400 s"
    )
    rows = out["rows"]
    assert rows[0]["host"] == "set apiplatform" and rows[0]["member"] == "10.0.1.1:27017"
    assert (rows[0]["state"], rows[0]["health"], rows[0]["oplog_window_s"]) == ("OK", "healthy", 86400)
    assert [(r["site"], r["host"], r["state"], r["health"], r["lag_s"]) for r in rows[1:]] == [
        ("dc1", "dc1-node1", "PRIMARY", "healthy", ""),
        ("dc2", "dc2-node1", "SECONDARY", "healthy", 2),
        ("witness", "witness-node1", "ARBITER", "healthy", ""),
    ]
    assert health_table(rows, ["site", "host", "member", "state", "health", "lag_s", "oplog_window_s", "info"])


def test_mongodb_rows_pick_the_view_with_a_primary_and_flag_a_down_member_and_lag():
    cut_off = mdb_psa(
        **{
            "dc1-node1": mdb_member("dc1-node1", "DOWN", health=0, site="dc1"),
            "witness-node1": mdb_member("witness-node1", "DOWN", health=0),
        }
    )
    cut_off[1]["state_str"] = "SECONDARY"
    lagging = mdb_psa(**{"dc2-node1": mdb_member("dc2-node1", lag=45, site="dc2")})
    results = {
        "dc2-node1": mdb_result("dc2-node1", cut_off, primary=None, healthy=False, window=None),
        "dc1-node1": mdb_result("dc1-node1", lagging),
        "witness-node1": mdb_result("witness-node1", lagging),
    }
    out = mongodb_health_rows(results, MDB_TOPOLOGY, MDB_HOSTS, lag_warning=30)
    assert [r["host"] for r in out["rows"][1:]] == MDB_HOSTS
    assert out["summary"].startswith("DEGRADED: set apiplatform, primary 10.0.1.1:27017, 3/3 members healthy")
    assert out["summary"].endswith("; attention: 10.0.2.1:27017")
    assert out["rows"][0]["info"].endswith("seen from dc1-node1")
    assert {r["host"]: r["health"] for r in out["rows"][1:]}["dc2-node1"] == "LAGGING"
    down = mdb_psa(**{"dc2-node1": mdb_member("dc2-node1", "DOWN", health=0, lag=None, site="dc2")})
    only_dc1 = {"dc1-node1": mdb_result("dc1-node1", down, healthy=False)}
    out = mongodb_health_rows(only_dc1, MDB_TOPOLOGY, MDB_HOSTS, MDB_ADDRESS)
    assert out["summary"].startswith("DEGRADED: set apiplatform, primary 10.0.1.1:27017, 2/3 members healthy (2/3 ")
    assert out["rows"][0]["health"] == "UNHEALTHY"
    assert {r["host"]: (r["state"], r["health"]) for r in out["rows"][1:]}["dc2-node1"] == ("DOWN", "UNHEALTHY")


def test_mongodb_rows_stale_member_no_majority_and_no_primary():
    stale = mdb_member("dc2-node1", "RECOVERING", lag=90000, site="dc2", info="error RS102 too stale to catch up")
    stale_view = {"dc1-node1": mdb_result("dc1-node1", mdb_psa(**{"dc2-node1": stale}))}
    out = mongodb_health_rows(stale_view, MDB_TOPOLOGY, MDB_HOSTS, MDB_ADDRESS)
    row = next(r for r in out["rows"] if r["host"] == "dc2-node1")
    assert (row["state"], row["health"], row["lag_s"]) == ("RECOVERING", "UNHEALTHY", 90000)
    assert "too stale" in row["info"] and out["summary"].startswith("DEGRADED")
    lost = mdb_psa(
        **{
            "dc2-node1": mdb_member("dc2-node1", "DOWN", health=0, site="dc2"),
            "witness-node1": mdb_member("witness-node1", "DOWN", health=0),
        }
    )
    out = mongodb_health_rows({"dc1-node1": mdb_result("dc1-node1", lost)}, MDB_TOPOLOGY)
    assert out["summary"].startswith("NO MAJORITY: set apiplatform, primary 10.0.1.1:27017, 1/3 members healthy")
    no_primary = mdb_psa(**{"dc1-node1": mdb_member("dc1-node1", "SECONDARY", site="dc1")})
    out = mongodb_health_rows(
        {"dc2-node1": mdb_result("dc2-node1", no_primary, primary=None, window=None)}, MDB_TOPOLOGY
    )
    assert out["summary"].startswith("NO PRIMARY: set apiplatform, primary none") and "unknown" in out["summary"]
    assert out["rows"][0]["member"] == "no primary"


def test_mongodb_rows_failed_uninitialized_and_missing_hosts():
    failed = {
        "failed": True,
        "msg": "cannot connect to 10.0.2.1:27017: connection refused\ntraceback",
        "invocation": {"module_args": {"login_host": "10.0.2.1", "login_port": 27017}},
    }
    down = mdb_psa(**{"dc2-node1": mdb_member("dc2-node1", "DOWN", health=0, lag=None, site="dc2")})
    results = {"dc1-node1": mdb_result("dc1-node1", down), "dc2-node1": failed}
    out = mongodb_health_rows(results, MDB_TOPOLOGY, [*MDB_HOSTS, "dc2-node2"], {"witness-node1": "10.0.3.1:27017"})
    states = [(r["host"], r["state"]) for r in out["rows"][1:]]
    assert states == [
        ("dc1-node1", "PRIMARY"),
        ("dc2-node1", "DOWN"),
        ("witness-node1", "ARBITER"),
        ("dc2-node1", "NO ANSWER"),
        ("dc2-node2", "MISSING"),
    ]
    no_answer = out["rows"][4]
    assert no_answer["info"] == "cannot connect to 10.0.2.1:27017: connection refused" and no_answer["site"] == "dc2"
    assert out["summary"].endswith("attention: 10.0.2.1:27017, dc2-node1, dc2-node2")
    only_failed = mongodb_health_rows({"dc1-node1": failed, "dc2-node1": None}, MDB_TOPOLOGY)
    assert only_failed["summary"].startswith("NO ANSWER")
    assert [r["state"] for r in only_failed["rows"]] == ["NO ANSWER", "NO ANSWER"]
    assert "no result" in only_failed["rows"][1]["info"]
    fresh = {"changed": False, "initialized": False, "mongodb_replset": {"set": None, "members": [], "oplog": None}}
    out = mongodb_health_rows(dict.fromkeys(MDB_HOSTS, fresh), MDB_TOPOLOGY, MDB_HOSTS)
    assert out["summary"].startswith("NOT INITIALIZED")
    assert [(r["site"], r["state"]) for r in out["rows"]] == [
        ("dc1", "NOT INITIALIZED"),
        ("dc2", "NOT INITIALIZED"),
        ("witness", "NOT INITIALIZED"),
    ]


def test_mongodb_rows_accept_a_single_result_and_nothing():
    out = mongodb_health_rows(mdb_result("dc1-node1", mdb_psa()), MDB_TOPOLOGY)
    assert out["summary"].startswith("OK: set apiplatform")
    # no inventory mapping: member hosts are the addresses, sites come from the tags
    assert [(r["site"], r["host"]) for r in out["rows"][1:]] == [
        ("dc1", "10.0.1.1"),
        ("dc2", "10.0.2.1"),
        ("?", "10.0.3.1"),
    ]
    assert mongodb_health_rows({}, MDB_TOPOLOGY)["summary"].startswith("NO ANSWER")
    assert mongodb_health_rows(None)["rows"] == []


def test_mongodb_rows_map_members_by_their_self_name_when_the_module_logged_in_through_localhost():
    results = {h: mdb_result(h, mdb_psa()) for h in MDB_HOSTS}
    for r in results.values():
        r["invocation"]["module_args"]["login_host"] = "localhost"
    out = mongodb_health_rows(results, MDB_TOPOLOGY, MDB_HOSTS)
    assert [(r["site"], r["host"]) for r in out["rows"][1:]] == [
        ("dc1", "dc1-node1"),
        ("dc2", "dc2-node1"),
        ("witness", "witness-node1"),
    ]
    assert out["summary"].startswith("OK") and "attention" not in out["summary"]


def test_app_health_rows_flags_a_down_instance_and_a_duplicate_microservice():
    from ansible_collections.apiplatform.ha.plugins.module_utils.health import app_health_rows

    ok = {"version": "1.0.0", "dependencies": {"postgresql": {"ok": True}, "mongodb": {"ok": False}}}
    probes = {
        "dc1-app1": [
            {"name": "dashboard", "unit": "active", "status": 200, "json": ok},
            {"name": "mailer", "unit": "active", "status": 200, "json": ok},
        ],
        "dc2-node1": [
            {"name": "dashboard", "unit": "failed", "status": None},
            {"name": "mailer", "unit": "active", "status": 200, "json": ok},
        ],
    }
    topo = {"host_site": {"dc1-app1": "dc1", "dc2-node1": "dc2"}}
    got = app_health_rows(probes, topo, ["mailer"])
    states = {(r["host"], r["service"]): r["state"] for r in got["rows"]}
    assert states[("dc1-app1", "dashboard")] == "healthy"
    assert states[("dc2-node1", "dashboard")] == "DOWN (failed)"
    assert got["rows"][0]["dependencies"] == "mongodb:FAIL postgresql:ok"
    assert got["summary"].startswith("DEGRADED")
    assert "dashboard@dc2-node1" in got["summary"]
    assert "mailer runs on 2 hosts" in got["summary"]


def test_app_health_rows_ok_with_standby_copies():
    from ansible_collections.apiplatform.ha.plugins.module_utils.health import app_health_rows

    probes = {
        "a": [{"name": "mailer", "unit": "active", "status": 200, "json": {}}],
        "b": [{"name": "mailer", "unit": "inactive", "status": None}],
    }
    got = app_health_rows(probes, {}, ["mailer"])
    assert [r["state"] for r in got["rows"]] == ["healthy", "standby"]
    assert got["summary"] == "OK: 2 instances, every running one healthy, mailer on a"
    assert app_health_rows({}, {})["summary"].startswith("NO ANSWER")


def _lb(site, held, haproxy=True, up=("UP", "UP")):
    backends = [{"backend": "dashboard", "name": f"s{i}", "status": s, "backup": False} for i, s in enumerate(up)]
    backends.append({"backend": "dashboard", "name": "b", "status": "UP", "backup": True})
    return {
        "site": site,
        "vip": "10.0.0.100",
        "vip_held": held,
        "vrrp_state": "MASTER" if held else "BACKUP",
        "haproxy_active": haproxy,
        "backends": backends,
    }


def test_lb_health_rows_ok_with_one_holder_per_site():
    from ansible_collections.apiplatform.ha.plugins.module_utils.health import lb_health_rows

    got = lb_health_rows({"lb1": _lb("dc1", True), "lb2": _lb("dc1", False), "lb3": _lb("dc2", True)})
    assert got["summary"] == "OK: dc1 VIP on lb1, dc2 VIP on lb3"
    assert got["rows"][0]["backends"] == "dashboard:2/2+1backup"
    assert got["rows"][0]["vip"] == "10.0.0.100 (held here)"


def test_lb_health_rows_flags_split_brain_stopped_haproxy_and_dead_backend():
    from ansible_collections.apiplatform.ha.plugins.module_utils.health import lb_health_rows

    got = lb_health_rows(
        {
            "lb1": _lb("dc1", True),
            "lb2": _lb("dc1", True, haproxy=False),
            "lb3": _lb("dc2", False, up=("DOWN",)),
            "lb4": None,
        },
        {"host_site": {"lb4": "dc2"}},
    )
    assert "dc1's VIP is held by 2 load balancers (lb1, lb2)" in got["summary"]
    assert "dc2's VIP is held by 0 load balancers (none)" in got["summary"]
    assert "HAProxy stopped on lb2" in got["summary"]
    assert "backend dashboard on lb3 has no server up" in got["summary"]
    assert "lb4 does not answer" in got["summary"]
