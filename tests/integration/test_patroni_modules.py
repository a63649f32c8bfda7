"""postgresql_replication_info, patroni_switchover and patroni_member against a real 3-member Patroni 4.1.5 cluster
(PostgreSQL 15, etcd3 DCS) on 127.0.0.1, through ansible-playbook; plus the check_patroni_cluster Nagios script.

Order as in community.postgresql: check mode (changed, and REST/psql show nothing changed) -> apply (REST/psql show the
change) -> apply again (not changed) -> diff. The tests share one cluster and run in file order; each leaves it healthy.
patroni_member state=present/absent drive systemd, which loopback processes do not have: they are covered by the unit
tests and the lab's molecule run; here state=absent is exercised for its leader refusal.
"""

import pathlib
import subprocess
import sys

import pytest
from etcd_cluster import run_tasks
from patroni_cluster import REST_PASSWORD, REST_USER, SUPERUSER, SUPERUSER_PASSWORD, free_ports, patroni_cluster

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "roles" / "patroni" / "files" / "check_patroni_cluster.py"
INFO = "apiplatform.ha.postgresql_replication_info"
SWITCHOVER = "apiplatform.ha.patroni_switchover"
MEMBER = "apiplatform.ha.patroni_member"


@pytest.fixture(scope="module")
def cluster():
    with patroni_cluster() as c:
        leader = c.members[c.leader()]
        leader.sql("CREATE TABLE it_data (id int PRIMARY KEY, note text)")
        leader.sql("INSERT INTO it_data SELECT g, 'row ' || g FROM generate_series(1, 1000) g")
        yield c


@pytest.fixture
def plays(tmp_path):
    def run(*tasks):
        return run_tasks(tmp_path, list(tasks))

    return run


def rest(cluster, member=None, **extra):
    """REST connection options for a module task."""
    m = cluster.members[member] if member else cluster.any_member()
    return {"api_url": m.api_url, "api_username": REST_USER, "api_password": REST_PASSWORD, **extra}


def db(cluster, name):
    m = cluster.members[name]
    return {
        "login_host": "127.0.0.1",
        "login_port": m.pg_port,
        "login_user": SUPERUSER,
        "login_password": SUPERUSER_PASSWORD,
    }


def check_script(*args):
    return subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, text=True, timeout=30, check=False)


def test_info_and_refusals_on_a_healthy_cluster(cluster, plays):
    leader = cluster.leader()
    replica = cluster.replicas()[0]
    dead_url = f"http://127.0.0.1:{free_ports(1)[0]}"
    results = plays(
        (INFO, dict(rest(cluster, leader), **db(cluster, leader)), {"check_mode": True}),
        (INFO, dict(rest(cluster, replica), **db(cluster, replica)), {}),
        (INFO, {"api_url": dead_url, "api_timeout": 2}, {}),
        (SWITCHOVER, rest(cluster, candidate=replica, api_password="wrong"), {}),
        (SWITCHOVER, rest(cluster, candidate="nope"), {}),
        (MEMBER, rest(cluster, name=leader, state="absent"), {}),
        (MEMBER, rest(cluster, name=replica, state="reinitialized"), {}),
        (MEMBER, rest(cluster, name=replica, state="reinitialized", confirm=False), {}),
        (MEMBER, rest(cluster, name="nope", state="reinitialized", confirm=True), {}),
    )
    on_leader, on_replica, dead, bad_password, unknown, absent_leader, no_confirm, confirm_false, unknown_member = (
        results
    )

    # info from the leader, with its database
    assert not on_leader.get("failed"), on_leader.get("msg")
    assert on_leader["changed"] is False
    assert (on_leader["member"], on_leader["leader"], on_leader["role"], on_leader["paused"]) == (
        leader,
        leader,
        "primary",
        False,
    )
    assert on_leader["database_connected"] is True and on_leader["lsn"]["current"]
    assert sorted(m["name"] for m in on_leader["members"]) == sorted(cluster.members)
    for m in on_leader["members"]:
        if m["name"] == leader:
            assert m["role"] == "leader" and m["state"] == "running"
        else:
            # Patroni's lag compares positions reported at different moments: under load a streaming replica
            # can show a few hundred KB. What matters is that it stays eligible for failover.
            assert m["role"] == "replica" and m["state"] == "streaming", m
            assert isinstance(m["lag"], int) and 0 <= m["lag"] < 1048576, m
        assert m["timeline"] == on_leader["timeline"] and m["api_url"] == cluster.members[m["name"]].api_url
    standbys = {s["application_name"]: s for s in on_leader["standbys"]}
    assert sorted(standbys) == sorted(cluster.replicas())
    for s in standbys.values():
        assert s["state"] == "streaming" and s["sync_state"] == "async" and isinstance(s["lag_bytes"], int)
    assert sorted(s["slot_name"] for s in on_leader["slots"]) == sorted(cluster.replicas())
    assert all(s["active"] and s["slot_type"] == "physical" for s in on_leader["slots"])
    outside_id = cluster.members[leader].sql("SELECT system_identifier::text FROM pg_control_system()")[0][0]
    assert on_leader["system_identifier"] == outside_id

    # info from a replica: its own role and LSNs
    assert not on_replica.get("failed"), on_replica.get("msg")
    assert (on_replica["member"], on_replica["role"], on_replica["leader"]) == (replica, "replica", leader)
    assert on_replica["lsn"]["current"] is None and on_replica["lsn"]["replay"] and on_replica["lsn"]["receive"]
    assert on_replica["wal_receiver_status"] == "streaming" and on_replica["system_identifier"] == outside_id

    # failures name the URL, the parameter, the fix; nothing changed
    assert dead["failed"] and dead_url in dead["msg"] and "Connection refused" in dead["msg"], dead["msg"]
    assert bad_password["failed"] and "HTTP 401" in bad_password["msg"] and "api_password" in bad_password["msg"]
    assert unknown["failed"] and "candidate" in unknown["msg"] and "'nope'" in unknown["msg"]
    assert all(n in unknown["msg"] for n in cluster.members), unknown["msg"]
    assert absent_leader["failed"] and "leader" in absent_leader["msg"], absent_leader["msg"]
    assert "patroni_switchover" in absent_leader["msg"]
    assert no_confirm["failed"] and "confirm" in no_confirm["msg"], no_confirm["msg"]
    assert confirm_false["failed"] and "confirm: true" in confirm_false["msg"], confirm_false["msg"]
    assert unknown_member["failed"] and all(n in unknown_member["msg"] for n in cluster.members)
    assert cluster.leader() == leader
    cluster.wait_streaming()


def test_check_script_on_the_live_cluster(cluster):
    dead_url = f"http://127.0.0.1:{free_ports(1)[0]}"
    ok = check_script("--url", dead_url, "--url", cluster.any_member().api_url, "--expected-members", "3")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("PATRONI OK - leader ")
    assert "| members=3;;;0 replicas_streaming=2;;;0 max_lag_bytes=0B;1048576;16777216;0" in ok.stdout
    missing = check_script("--url", cluster.any_member().api_url, "--expected-members", "4")
    assert missing.returncode == 1 and "3 of 4 expected members" in missing.stdout, missing.stdout
    down = check_script("--url", dead_url, "--timeout", "2")
    assert down.returncode == 3 and dead_url in down.stdout, down.stdout


def test_paused_cluster_refuses_changes(cluster, plays):
    leader = cluster.leader()
    replica = cluster.replicas()[0]
    cluster.set_pause(True)
    try:
        switch, reinit, info = plays(
            (SWITCHOVER, rest(cluster, candidate=replica), {}),
            (MEMBER, rest(cluster, name=replica, state="reinitialized", confirm=True, force=True), {}),
            (INFO, rest(cluster), {}),
        )
        paused = check_script("--url", cluster.any_member().api_url)
    finally:
        cluster.set_pause(False)
    assert switch["failed"] and "paused" in switch["msg"] and "resume" in switch["msg"], switch["msg"]
    assert reinit["failed"] and "paused" in reinit["msg"], reinit["msg"]
    assert info["paused"] is True
    assert paused.returncode == 1 and "maintenance mode" in paused.stdout, paused.stdout
    assert cluster.leader() == leader


def test_switchover_to_a_named_candidate_then_to_the_healthiest(cluster, plays):
    old = cluster.leader()
    target = sorted(cluster.replicas())[0]
    args = rest(cluster, candidate=target, wait_timeout=60)

    # check mode: changed, reported, nothing sent
    (check,) = plays((SWITCHOVER, args, {"check_mode": True, "diff": True}))
    assert not check.get("failed"), check.get("msg")
    assert check["changed"] is True and check["executed"] == [] and check["seconds"] == 0
    assert (check["previous_leader"], check["leader"], check["candidate"]) == (old, target, target)
    assert check["diff"] == {"before": {"leader": old}, "after": {"leader": target}}
    assert cluster.leader() == old

    # apply with diff, apply again; then, once the old leader streams again (it restarts as a replica, and until
    # then no replica is eligible), to the healthiest replica
    done, again = plays((SWITCHOVER, args, {"diff": True}), (SWITCHOVER, args, {}))
    cluster.wait_streaming()
    (healthiest,) = plays((SWITCHOVER, rest(cluster, wait_timeout=60, max_lag_bytes=16 * 1024 * 1024), {}))
    assert not done.get("failed"), done.get("msg")
    assert done["changed"] is True and (done["previous_leader"], done["leader"]) == (old, target)
    assert done["executed"] == [f"POST {args['api_url']}/switchover leader={old} candidate={target}"]
    assert 0 < done["seconds"] < 60 and done["diff"]["after"] == {"leader": target}
    assert again["changed"] is False and again["executed"] == [] and again["leader"] == target, again
    assert not healthiest.get("failed"), healthiest.get("msg")
    assert healthiest["changed"] is True and healthiest["previous_leader"] == target
    assert healthiest["leader"] == healthiest["candidate"] != target

    # outside the modules: the reported leader leads and takes writes
    new = healthiest["leader"]
    assert cluster.leader() == new
    cluster.members[new].sql("INSERT INTO it_data VALUES (1001, 'after switchover')")
    assert cluster.members[new].sql("SELECT pg_is_in_recovery()")[0][0] is False
    cluster.wait_streaming()


def test_reinitialize_a_replica(cluster, plays):
    cluster.wait_streaming()
    replica = sorted(cluster.replicas())[0]
    member = cluster.members[replica]
    sysid = member.sql("SELECT system_identifier::text FROM pg_control_system()")[0][0]
    started = member.sql("SELECT pg_postmaster_start_time()")[0][0]
    args = rest(cluster, name=replica, state="reinitialized", confirm=True, wait_timeout=90)

    # check mode with force: changed, nothing sent; without force a streaming replica is left alone
    check, healthy = plays((MEMBER, dict(args, force=True), {"check_mode": True}), (MEMBER, args, {}))
    assert not check.get("failed"), check.get("msg")
    assert check["changed"] is True and check["action"] == "reinitialize" and check["executed"] == []
    assert healthy["changed"] is False and healthy["action"] == "none", healthy
    assert member.sql("SELECT pg_postmaster_start_time()")[0][0] == started

    # apply (force) with diff, then again without force: not changed
    done, again = plays((MEMBER, dict(args, force=True), {"diff": True}), (MEMBER, args, {}))
    assert not done.get("failed"), done.get("msg")
    assert done["changed"] is True and done["action"] == "reinitialize"
    assert done["executed"] == [f"POST {member.api_url}/reinitialize from_leader=true"]
    assert done["member"]["state"] == "streaming" and done["diff"]["after"]["member"]["state"] == "streaming"
    assert again["changed"] is False and again["action"] == "none", again

    # outside the modules: rebuilt (new postmaster), same cluster, data there, streaming
    assert member.sql("SELECT pg_postmaster_start_time()")[0][0] > started
    assert member.sql("SELECT system_identifier::text FROM pg_control_system()")[0][0] == sysid
    assert member.sql("SELECT count(*) FROM it_data")[0][0] >= 1000
    cluster.wait_streaming()
