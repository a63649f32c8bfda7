"""The apiplatform.ha MongoDB replica-set simulator's own tests (tests/mongodb_simulator is a simulator, NOT MongoDB).

Real simulator processes on 127.0.0.1, driven through pymongo exactly as the collection's modules drive MongoDB.
Short heartbeat/election settings keep the whole file well under a minute.
"""

import subprocess
import sys
import time

import pymongo
import pytest
from mongodb_simulator_harness import TESTS_DIR, SimulatorSet
from pymongo.errors import NotPrimaryError, OperationFailure
from pymongo.write_concern import WriteConcern

SIMULATOR = "apiplatform.ha replica-set simulator (not MongoDB)"


def _code(excinfo):
    """Error code of an OperationFailure or NotPrimaryError (pymongo raises the latter for 10107, as with MongoDB)."""
    return (getattr(excinfo.value, "details", None) or {}).get("code")


CommandFailed = (OperationFailure, NotPrimaryError)


@pytest.fixture(scope="module")
def psa(tmp_path_factory):
    """m0 (priority 2) + m1 (priority 1) + m2 arbiter, initiated on m0."""
    rs = SimulatorSet(tmp_path_factory.mktemp("sim-psa"), 3)
    try:
        rs.start_all()
        rs.initiate([{"priority": 2}, {"priority": 1}, {"arbiterOnly": True}])
        yield rs
    except BaseException:
        rs.print_logs()
        raise
    finally:
        rs.close()


def test_simulator_elects_primary_with_secondary_and_arbiter(psa):
    assert psa.wait_primary(10) == 0
    psa.wait_state(1, "SECONDARY", 10, seen_from=0)
    psa.wait_state(2, "ARBITER", 10, seen_from=0)
    st = psa.admin(0, "replSetGetStatus")
    assert st["set"] == "rs0" and st["myState"] == 1
    assert st["majorityVoteCount"] == 2 and st["writeMajorityCount"] == 2 and st["votingMembersCount"] == 3
    assert [m["stateStr"] for m in st["members"]] == ["PRIMARY", "SECONDARY", "ARBITER"]
    assert st["members"][0]["self"] is True and "electionDate" in st["members"][0]
    hello = psa.admin(1, "hello")
    assert hello["secondary"] is True and hello["isWritablePrimary"] is False
    assert hello["primary"] == psa.host(0) and hello["arbiters"] == [psa.host(2)]
    assert hello["setName"] == "rs0" and hello["maxWireVersion"] == 21
    build = psa.admin(0, "buildInfo")
    assert build["version"] == "7.0.0" and build["simulator"] == SIMULATOR
    cfg = psa.admin(0, "replSetGetConfig")["config"]
    assert cfg["version"] == 1 and cfg["members"][2]["arbiterOnly"] is True and cfg["protocolVersion"] == 1
    with pytest.raises(CommandFailed) as exc:
        psa.admin(1, {"replSetInitiate": {}})
    assert _code(exc) == 23


def test_simulator_replicates_insert_to_secondary(psa):
    psa.wait_state(1, "SECONDARY", 10)
    coll = psa.client(0).app.get_collection("things", write_concern=WriteConcern(w="majority", wtimeout=5000))
    coll.insert_one({"_id": 1, "x": "replicated"})
    assert psa.client(1).app.things.find_one({"_id": 1})["x"] == "replicated"
    oldest = next(iter(psa.client(1).local["oplog.rs"].find().sort("$natural", 1).limit(1)))
    newest = next(iter(psa.client(1).local["oplog.rs"].find().sort("$natural", -1).limit(1)))
    assert oldest["ts"] <= newest["ts"] and newest["op"] == "n"
    with pytest.raises(pymongo.errors.NotPrimaryError):
        psa.client(1).app.things.insert_one({"_id": 2})
    rs_client = psa.rs_client()
    assert rs_client.app.things.count_documents({}) == 1


def test_simulator_refuses_reconfig_and_stepdown_on_secondary(psa):
    cfg = psa.admin(0, "replSetGetConfig")["config"]
    cfg["version"] += 1
    with pytest.raises(CommandFailed) as exc:
        psa.admin(1, {"replSetReconfig": cfg})
    assert _code(exc) == 10107 and "writable PRIMARY" in str(exc.value)
    with pytest.raises(CommandFailed) as exc:
        psa.admin(1, {"replSetStepDown": 10})
    assert _code(exc) == 10107
    with pytest.raises(CommandFailed) as exc:
        psa.admin(0, {"replSetFreeze": 10})
    assert _code(exc) == 95


def test_simulator_shows_apply_delay_as_lag(psa):
    psa.admin(1, {"simulatorSetApplyDelay": 2})
    try:
        psa.client(0).app.things.insert_one({"_id": "late"})
        time.sleep(0.8)
        assert psa.client(1).app.things.find_one({"_id": "late"}) is None
        psa.wait_for(lambda: psa.client(1).app.things.find_one({"_id": "late"}), 6, "delayed write on member 1")
    finally:
        psa.admin(1, {"simulatorSetApplyDelay": 0})


def test_simulator_stepdown_then_priority_takeover(psa):
    assert psa.wait_primary(10) == 0
    psa.wait_for(lambda: psa.admin(0, "replSetGetStatus")["members"][1]["health"] == 1, 5, "member 1 healthy")
    assert psa.admin(0, {"replSetStepDown": 3, "secondaryCatchUpPeriodSecs": 2})["ok"] == 1
    assert psa.wait_primary(10, exclude=(0,)) == 1
    # m0 has the higher priority: once its stepdown period is over it takes over again.
    psa.wait_for(lambda: psa.primary_index() == 0, 12, "priority takeover by member 0")
    psa.wait_state(1, "SECONDARY", 10)


def test_simulator_fails_over_when_primary_killed_and_takes_over_after_restart(psa):
    assert psa.wait_primary(10) == 0
    rs_client = psa.rs_client()
    rs_client.app.things.insert_one({"_id": "before-failover"})
    psa.kill(0)
    start = time.monotonic()
    assert psa.wait_primary(10, exclude=(0,)) == 1
    assert time.monotonic() - start < 6
    psa.wait_state(0, "(not reachable/healthy)", 5, seen_from=1)
    down = next(m for m in psa.admin(1, "replSetGetStatus")["members"] if m["name"] == psa.host(0))
    assert down["health"] == 0 and down["state"] == 8 and down["lastHeartbeatMessage"]
    rs_client.app.things.insert_one({"_id": "after-failover"})
    psa.start(0)
    psa.wait_for(lambda: psa.primary_index() == 0, 15, "member 0 back as PRIMARY after priority takeover")
    psa.wait_state(1, "SECONDARY", 10)
    assert psa.client(0).app.things.find_one({"_id": "after-failover"}) is not None
    rs_client.app.things.insert_one({"_id": "after-takeover"})


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    rs = SimulatorSet(tmp_path_factory.mktemp("sim-single"), 1, set_name="solo")
    try:
        rs.start(0)
        rs.initiate()
        rs.wait_primary(10)
        yield rs
    except BaseException:
        rs.print_logs()
        raise
    finally:
        rs.close()


def _reconfig(rs, mutate, **kw):
    cfg = rs.admin(0, "replSetGetConfig")["config"]
    cfg["version"] += 1
    mutate(cfg)
    return rs.admin(0, {"replSetReconfig": cfg, **kw})


def test_simulator_reconfig_rules(single):
    cfg = single.admin(0, "replSetGetConfig")["config"]
    with pytest.raises(CommandFailed) as exc:
        single.admin(0, {"replSetReconfig": cfg})
    assert _code(exc) == 103 and "must be greater than old" in str(exc.value)

    with pytest.raises(CommandFailed) as exc:
        _reconfig(single, lambda c: c["members"][0].update(priority=2000))
    assert _code(exc) == 93

    def add_two(c):
        c["members"] += [{"_id": 5, "host": "127.0.0.1:1"}, {"_id": 6, "host": "127.0.0.1:2"}]

    with pytest.raises(CommandFailed) as exc:
        _reconfig(single, add_two)
    assert _code(exc) == 103 and "at most 1 voting member" in str(exc.value)

    with pytest.raises(CommandFailed) as exc:
        _reconfig(single, lambda c: c["members"].append({"_id": 5, "host": "127.0.0.1:1"}))
    assert _code(exc) == 74 and "Quorum check failed" in str(exc.value)

    with pytest.raises(CommandFailed) as exc:
        _reconfig(single, lambda c: c["members"].append({"_id": 5, "host": "127.0.0.1:1", "votes": 0}))
    assert _code(exc) == 93  # votes 0 needs priority 0

    assert (
        _reconfig(single, lambda c: c["members"].append({"_id": 5, "host": "127.0.0.1:1", "votes": 0, "priority": 0}))[
            "ok"
        ]
        == 1
    )
    cfg = single.admin(0, "replSetGetConfig", commitmentStatus=True)
    assert cfg["config"]["version"] == 2 and cfg["commitmentStatus"] is True
    single.wait_for(
        lambda: single.admin(0, "replSetGetStatus")["members"][1]["stateStr"] == "(not reachable/healthy)",
        5,
        "unreachable non-voting member reported DOWN",
    )


def test_simulator_stepdown_without_electable_secondary_times_out(single):
    single.wait_primary(10)
    with pytest.raises(CommandFailed) as exc:
        single.admin(0, {"replSetStepDown": 5, "secondaryCatchUpPeriodSecs": 1})
    assert _code(exc) == 262 and "No electable secondaries caught up" in str(exc.value)
    assert single.primary_index() == 0


def test_simulator_initiate_quorum_check_fails_for_unreachable_member(tmp_path):
    with SimulatorSet(tmp_path, 1, set_name="quorum") as rs:
        rs.start(0)
        with pytest.raises(CommandFailed) as exc:
            rs.initiate([{}, {"host": "127.0.0.1:1"}])
        assert _code(exc) == 74 and "not all proposed set members responded affirmatively" in str(exc.value)
        with pytest.raises(CommandFailed) as exc:
            rs.initiate([{"host": "127.0.0.1:2"}])
        assert _code(exc) == 93 and "maps to this node" in str(exc.value)
        assert rs.initiate()["ok"] == 1
        assert rs.wait_primary(10) == 0


def test_simulator_auth_scram_sha_256(tmp_path):
    with SimulatorSet(tmp_path, 1, set_name="authrs", key_file=True, authorization=True) as rs:
        rs.start(0)
        rs.initiate()
        rs.wait_primary(10)
        admin = rs.client(0).admin
        admin.command("createUser", "root", pwd="s3cret", roles=[{"role": "root", "db": "admin"}])
        with pytest.raises(CommandFailed) as exc:
            admin.command("replSetGetStatus")
        assert _code(exc) == 13 and "requires authentication" in str(exc.value)
        bad = rs.client(0, username="root", password="wrong", authSource="admin")
        with pytest.raises(CommandFailed) as exc:
            bad.admin.command("replSetGetStatus")
        assert _code(exc) == 18 and "Authentication failed" in str(exc.value)
        good = rs.client(0, username="root", password="s3cret", authSource="admin")
        assert good.admin.command("replSetGetStatus")["myState"] == 1
        good.admin.command("createUser", "app", pwd="apppw", roles=[{"role": "readWrite", "db": "app"}])
        info = good.admin.command("usersInfo", {"user": "app", "db": "admin"})
        assert info["users"][0]["roles"] == [{"role": "readWrite", "db": "app"}]
        app = rs.client(0, username="app", password="apppw", authSource="admin")
        app.app.things.insert_one({"x": 1})
        with pytest.raises(CommandFailed) as exc:
            app.admin.command("replSetGetStatus")
        assert _code(exc) == 13


def test_simulator_stale_member_recovering_then_resync_after_wipe(tmp_path):
    with SimulatorSet(tmp_path, 3, oplog_window=3, initial_sync_seconds=2, noop_interval=0.5) as rs:
        rs.start_all()
        rs.initiate([{"priority": 2}, {"priority": 1}, {"arbiterOnly": True}])
        assert rs.wait_primary(10) == 0
        rs.wait_state(1, "SECONDARY", 10)
        rs.stop(1)
        time.sleep(4.5)
        rs.start(1)
        rs.wait_state(1, "RECOVERING", 10)
        me = next(m for m in rs.admin(1, "replSetGetStatus")["members"] if m.get("self"))
        assert "too stale to catch up" in me["infoMessage"]
        rs.wait_for(
            lambda: (
                "too stale to catch up"
                in next(m for m in rs.admin(0, "replSetGetStatus")["members"] if m["name"] == rs.host(1))[
                    "lastHeartbeatMessage"
                ]
            ),
            5,
            "primary to report member 1 too stale",
        )
        rs.stop(1)
        rs.wipe(1)
        rs.start(1)
        rs.wait_state(1, "STARTUP2", 5)
        rs.wait_state(1, "SECONDARY", 10)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"net": {"tls": {"mode": "requireTLS"}}}, "does not implement TLS"),
        ({"security": {"keyFile": "KEYFILE"}}, "are too open"),
    ],
)
def test_simulator_refuses_bad_mongod_conf(tmp_path, extra, message):
    key = tmp_path / "key"
    key.write_text("abc\n")
    key.chmod(0o644)
    db = tmp_path / "db"
    db.mkdir()
    import yaml

    conf = {"storage": {"dbPath": str(db)}, "net": {"port": 27999, "bindIp": "127.0.0.1"}}
    for k, v in extra.items():
        conf.setdefault(k, {}).update(v)
    if "security" in conf:
        conf["security"]["keyFile"] = str(key)
    (tmp_path / "mongod.conf").write_text(yaml.safe_dump(conf))
    proc = subprocess.run(
        [sys.executable, "-m", "mongodb_simulator", "--config", str(tmp_path / "mongod.conf")],
        env={"PYTHONPATH": str(TESTS_DIR), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert proc.returncode == 1
    assert message in proc.stderr and "mongodb-simulator" in proc.stderr
