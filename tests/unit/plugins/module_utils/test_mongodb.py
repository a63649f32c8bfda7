"""module_utils/mongodb.py: the pure planning functions, the normalized views and the waits (no server)."""

import datetime
import random

import pytest
from bson.timestamp import Timestamp

from ansible_collections.apiplatform.ha.plugins.module_utils import mongodb
from ansible_collections.apiplatform.ha.plugins.module_utils.mongodb import (
    MongoDBParameterError,
    MongoDBRefusedError,
    MongoDBTimeoutError,
    check_data_dir,
    check_majority_safe,
    member_settings,
    normalize_status,
    plan_member_change,
    resync_decision,
    split_host,
    validate_member_request,
    voting_changes,
    wait_for,
)

NOW = 1_767_261_600


def member(_id, host, **settings):
    doc = {"_id": _id, "host": host, "arbiterOnly": False, "hidden": False, "priority": 1.0, "tags": {}, "votes": 1}
    doc.update(settings)
    return doc


def config(*members, version=4):
    return {"_id": "rs0", "version": version, "term": 2, "members": list(members)}


def three():
    return config(member(0, "m1:27017"), member(1, "m2:27017"), member(2, "m3:27017"))


def entry(name, state, health=1, optime=NOW, info="", **extra):
    raw = {"name": name, "state": state, "stateStr": mongodb.STATE_NAMES[state], "health": health, "infoMessage": info}
    if optime is not None:
        raw["optime"] = {"ts": Timestamp(optime, 1), "t": 2}
        raw["optimeDate"] = datetime.datetime.fromtimestamp(optime, mongodb.UTC).replace(tzinfo=None)
    raw.update(extra)
    return raw


def status(*entries):
    return normalize_status({"set": "rs0", "myState": 1, "term": 2, "members": list(entries)})


def healthy_three():
    return status(entry("m1:27017", 1, self=True), entry("m2:27017", 2), entry("m3:27017", 2))


def desired(cfg, host, **kwargs):
    return validate_member_request(cfg, host, "present", **kwargs)


# -- helpers ----------------------------------------------------------------------------------------------------------


def test_split_host():
    assert split_host("m1.example.net:27017") == ("m1.example.net", 27017)
    assert split_host("[::1]:27018") == ("::1", 27018)
    for bad in ("m1", "m1:", "m1:0", "m1:70000", "http://m1:27017", "", None):
        with pytest.raises(MongoDBParameterError, match=r"^host: .* is not host:port"):
            split_host(bad)


def test_normalize_status_lag_sync_source_and_primary():
    st = status(
        entry("m1:27017", 1, self=True, configVersion=4),
        entry("m2:27017", 2, optime=NOW - 30, syncSourceHost="m1:27017"),
        entry("m3:27017", 8, health=0, optime=None, lastHeartbeatMessage="Connection refused"),
        {"name": "a1:27017", "state": 7, "stateStr": "ARBITER", "health": 1},
    )
    assert st["primary"] == "m1:27017" and st["config_version"] == 4 and st["self"] == "m1:27017"
    by_name = {m["name"]: m for m in st["members"]}
    assert by_name["m2:27017"]["lag_seconds"] == 30 and by_name["m2:27017"]["sync_source"] == "m1:27017"
    assert by_name["m2:27017"]["optime_date"] == "2026-01-01T09:59:30Z"
    assert by_name["m3:27017"]["lag_seconds"] is None and by_name["m3:27017"]["info_message"] == "Connection refused"
    assert by_name["a1:27017"]["lag_seconds"] is None and by_name["m1:27017"]["lag_seconds"] == 0
    no_primary = status(entry("m2:27017", 2), entry("m3:27017", 2))
    assert no_primary["primary"] is None and all(m["lag_seconds"] is None for m in no_primary["members"])


# -- validate_member_request ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"priority": 1001}, "priority"),
        ({"priority": -1}, "priority"),
        ({"votes": 2}, "votes"),
        ({"arbiter_only": True, "priority": 1}, "priority"),
        ({"arbiter_only": True, "hidden": True}, "hidden"),
        ({"arbiter_only": True, "tags": {"dc": "1"}}, "tags"),
        ({"arbiter_only": True, "votes": 0}, "votes"),
        ({"votes": 0, "priority": 2}, "priority"),
        ({"hidden": True, "priority": 1}, "priority"),
    ],
)
def test_validation_errors_name_the_option(kwargs, option):
    with pytest.raises(MongoDBParameterError) as e:
        desired(three(), "m4:27017", **kwargs)
    assert str(e.value).startswith(f"{option}: ")


def test_validation_defaults_priority_by_role():
    assert desired(three(), "m4:27017")["priority"] == 1.0
    assert desired(three(), "m4:27017", votes=0)["priority"] == 0.0
    assert desired(three(), "m4:27017", hidden=True)["priority"] == 0.0
    assert desired(three(), "m4:27017", arbiter_only=True) == {
        "arbiterOnly": True,
        "priority": 0.0,
        "votes": 1,
        "hidden": False,
        "tags": None,
    }
    assert validate_member_request(three(), "m1:27017", "absent") is None


def test_validation_refuses_an_arbiter_for_a_data_member_and_the_reverse():
    with pytest.raises(MongoDBRefusedError, match=r"an arbiter holds no data: remove m2:27017 first \(state=absent\)"):
        desired(three(), "m2:27017", arbiter_only=True)
    cfg = three()
    cfg["members"].append(member(3, "a1:27017", arbiterOnly=True, priority=0))
    with pytest.raises(MongoDBRefusedError, match="is an arbiter and MongoDB cannot turn"):
        desired(cfg, "a1:27017")


def test_validation_refuses_an_eighth_voter():
    cfg = config(*[member(i, f"m{i}:27017") for i in range(7)])
    with pytest.raises(MongoDBRefusedError, match="at most 7 voting"):
        desired(cfg, "m9:27017")
    assert desired(cfg, "m9:27017", votes=0)["votes"] == 0
    assert desired(cfg, "m3:27017", priority=2)["priority"] == 2.0  # an existing voter is not counted twice


# -- plan_member_change -----------------------------------------------------------------------------------------------


def test_adding_a_voting_member_takes_two_steps():
    cfg = three()
    steps = plan_member_change(cfg, "m4:27017", "present", desired(cfg, "m4:27017", priority=2))
    assert len(steps) == 2
    (d1, c1), (d2, c2) = steps
    assert (c1["version"], c2["version"]) == (5, 6)
    added = c1["members"][-1]
    assert (added["_id"], added["host"], added["votes"], added["priority"]) == (3, "m4:27017", 0, 0)
    assert c2["members"][-1]["votes"] == 1 and c2["members"][-1]["priority"] == 2
    assert "votes 0 and priority 0" in d1 and "give m4:27017 its vote" in d2 and d2.endswith("(config version 6)")
    assert cfg["version"] == 4 and len(cfg["members"]) == 3  # the input is not modified


def test_adding_an_arbiter_or_a_non_voter_takes_one_step():
    cfg = three()
    [(description, new)] = plan_member_change(cfg, "a1:27017", "present", desired(cfg, "a1:27017", arbiter_only=True))
    assert new["members"][-1] == {"_id": 3, "host": "a1:27017", "arbiterOnly": True, "priority": 0, "votes": 1}
    assert "as an arbiter" in description and new["version"] == 5
    [(_d, new)] = plan_member_change(cfg, "m4:27017", "present", desired(cfg, "m4:27017", votes=0, tags={"dc": "2"}))
    assert new["members"][-1]["votes"] == 0 and new["members"][-1]["tags"] == {"dc": "2"}


def test_new_ids_follow_the_highest_id():
    cfg = config(member(0, "m1:27017"), member(7, "m2:27017"), member(2, "m3:27017"))
    steps = plan_member_change(cfg, "m4:27017", "present", desired(cfg, "m4:27017"))
    assert [m["_id"] for m in steps[-1][1]["members"]] == [0, 7, 2, 8]


def test_removal_priority_change_votes_change_and_no_op():
    cfg = three()
    [(description, new)] = plan_member_change(cfg, "m3:27017", "absent", None)
    assert [m["host"] for m in new["members"]] == ["m1:27017", "m2:27017"] and new["version"] == 5
    assert description.startswith("remove m3:27017 (_id 2, votes 1)")
    assert plan_member_change(cfg, "m9:27017", "absent", None) == []

    [(description, new)] = plan_member_change(cfg, "m2:27017", "present", desired(cfg, "m2:27017", priority=5))
    assert new["members"][1]["priority"] == 5 and new["members"][1]["votes"] == 1
    assert description.startswith("set m2:27017 priority 1 -> 5")

    [(description, new)] = plan_member_change(cfg, "m2:27017", "present", desired(cfg, "m2:27017", votes=0))
    assert (new["members"][1]["votes"], new["members"][1]["priority"]) == (0, 0)
    assert "votes 1 -> 0, priority 1 -> 0" in description

    assert plan_member_change(cfg, "m2:27017", "present", desired(cfg, "m2:27017")) == []
    cfg["members"][1]["tags"] = {"dc": "1"}
    assert plan_member_change(cfg, "m2:27017", "present", desired(cfg, "m2:27017")) == []  # tags omitted: kept
    assert len(plan_member_change(cfg, "m2:27017", "present", desired(cfg, "m2:27017", tags={}))) == 1


def test_plan_drops_newly_added():
    cfg = three()
    cfg["members"][2]["newlyAdded"] = True
    [(_d, new)] = plan_member_change(cfg, "m2:27017", "present", desired(cfg, "m2:27017", priority=3))
    assert all("newlyAdded" not in m for m in new["members"])


def random_config(rng):
    members = []
    ids = rng.sample(range(40), rng.randint(1, 9))
    voters = 0
    for i, _id in enumerate(ids):
        kind = rng.choice(["data", "data", "nonvoter", "hidden", "arbiter"])
        if kind in ("data", "hidden", "arbiter") and voters < 7:
            voters += 1
            if kind == "arbiter":
                members.append(member(_id, f"h{i}:27017", arbiterOnly=True, priority=0))
            elif kind == "hidden":
                members.append(member(_id, f"h{i}:27017", hidden=True, priority=0))
            else:
                members.append(member(_id, f"h{i}:27017", priority=float(rng.randint(0, 3))))
        else:
            members.append(member(_id, f"h{i}:27017", votes=0, priority=0))
    return config(*members, version=rng.randint(1, 100))


def random_request(rng):
    votes = rng.choice([0, 1])
    arbiter = votes == 1 and rng.random() < 0.2
    hidden = not arbiter and rng.random() < 0.3
    unelectable = arbiter or hidden or votes == 0
    priority = rng.choice([None, 0]) if unelectable else rng.choice([None, 0, 0.5, 1, 2, 1000])
    tags = None if arbiter else rng.choice([None, {}, {"dc": rng.choice(["1", "2"])}])
    return {"votes": votes, "arbiter_only": arbiter, "hidden": hidden, "priority": priority, "tags": tags}


def test_property_steps_are_safe_reconfigs():
    """Over many generated configs and requests: consecutive versions, one member changed and at most one voting
    change per step, unique ids, the final member as desired, and planning again from the end is a no-op."""
    rng = random.Random(20260101)
    planned = 0
    for _round in range(3000):
        cfg = random_config(rng)
        host = f"h{rng.randint(0, 10)}:27017"
        state = rng.choice(["present", "present", "absent"])
        request = random_request(rng)
        try:
            want = validate_member_request(cfg, host, state, **request)
        except (MongoDBParameterError, MongoDBRefusedError):
            continue
        steps = plan_member_change(cfg, host, state, want)
        previous = cfg
        for _description, new in steps:
            assert new["version"] == previous["version"] + 1
            assert len(voting_changes(previous, new)) <= 1
            ids = [m["_id"] for m in new["members"]]
            assert len(ids) == len(set(ids))
            changed = [m for m in new["members"] if m not in previous["members"]]
            gone = [m for m in previous["members"] if m["host"] not in {n["host"] for n in new["members"]}]
            assert len(changed) + len(gone) == 1
            for m in new["members"]:
                s = member_settings(m)
                assert 0 <= s["priority"] <= 1000
                if s["votes"] == 0 or s["hidden"] or s["arbiterOnly"]:
                    assert s["priority"] == 0
            previous = new
        final = mongodb.config_member(previous, host)
        if state == "absent":
            assert final is None
        else:
            s = member_settings(final)
            assert (s["votes"], s["priority"], s["hidden"], s["arbiterOnly"]) == (
                want["votes"],
                want["priority"],
                want["hidden"],
                want["arbiterOnly"],
            )
            if want["tags"] is not None:
                assert s["tags"] == want["tags"]
        assert plan_member_change(previous, host, state, want) == []
        planned += bool(steps)
    assert planned > 500


# -- check_majority_safe ----------------------------------------------------------------------------------------------


def test_majority_safe_refuses_removing_the_primary():
    cfg = three()
    [(_d, new)] = plan_member_change(cfg, "m1:27017", "absent", None)
    with pytest.raises(MongoDBRefusedError, match=r"^step it down first: the primary cannot be removed"):
        check_majority_safe(cfg, healthy_three(), new)


def test_majority_safe_refuses_a_change_without_a_healthy_majority():
    cfg = config(*[member(i, f"m{i + 1}:27017") for i in range(5)])
    st = status(
        entry("m1:27017", 1),
        entry("m2:27017", 2),
        entry("m3:27017", 3, info="too stale"),
        entry("m4:27017", 8, health=0, optime=None),
        entry("m5:27017", 2),
    )
    [(_d, new)] = plan_member_change(cfg, "m5:27017", "absent", None)
    with pytest.raises(MongoDBRefusedError) as e:
        check_majority_safe(cfg, st, new)
    msg = str(e.value)
    assert "4 voting members of which only 2 are healthy now (m1:27017, m2:27017)" in msg
    assert "m3:27017 (RECOVERING, health 1, 'too stale')" in msg and "m4:27017 (DOWN, health 0)" in msg
    assert "remove a dead member first" in msg
    # removing a dead member keeps the majority: 4 voters, 3 healthy
    [(_d, new)] = plan_member_change(cfg, "m4:27017", "absent", None)
    check_majority_safe(cfg, st, new)


def test_majority_safe_refuses_no_electable_member_and_an_unelectable_primary():
    cfg = config(member(0, "m1:27017"), member(1, "m2:27017", priority=0), member(2, "a1:27017", arbiterOnly=True))
    st = status(entry("m1:27017", 1), entry("m2:27017", 2), entry("a1:27017", 7, optime=None))
    [(_d, new)] = plan_member_change(cfg, "m1:27017", "present", desired(cfg, "m1:27017", priority=0))
    with pytest.raises(MongoDBRefusedError, match="makes it unelectable"):
        check_majority_safe(cfg, st, new)
    st2 = status(entry("m1:27017", 2), entry("m2:27017", 2), entry("a1:27017", 7, optime=None))  # no primary
    with pytest.raises(MongoDBRefusedError, match="no electable member"):
        check_majority_safe(cfg, st2, new)


# -- resync_decision --------------------------------------------------------------------------------------------------

WINDOW = {"first_ts": NOW - 3600, "last_ts": NOW, "window_seconds": 3600}


@pytest.mark.parametrize(
    ("m3", "force", "decision", "reason"),
    [
        (entry("m3:27017", 3, info="error RS102 too stale to catch up"), False, "needed", "too stale to catch up"),
        (entry("m3:27017", 2, optime=NOW - 3590), False, "needed", "more than its oplog window of 3600 s"),
        (entry("m3:27017", 2, optime=NOW - 3000), False, "not_needed", "within its oplog window"),
        (entry("m3:27017", 3, optime=NOW - 10, info="still syncing"), False, "not_needed", "within its oplog"),
        (entry("m3:27017", 5, optime=None), False, "not_needed", "initial sync is in progress"),
        (entry("m3:27017", 2), True, "needed", "force=true"),
    ],
)
def test_resync_decision(m3, force, decision, reason):
    st = status(entry("m1:27017", 1), entry("m2:27017", 2), m3)
    got, why = resync_decision(st, WINDOW, "m3:27017", force=force, lag_margin_seconds=60)
    assert got == decision and reason in why


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([entry("m1:27017", 1), entry("m2:27017", 2), entry("m3:27017", 2)], "m1:27017 is the PRIMARY"),
        ([entry("m1:27017", 2), entry("m2:27017", 2), entry("m3:27017", 2)], "has no primary"),
        ([entry("m1:27017", 1), entry("m3:27017", 8, health=0, optime=None)], "cannot tell whether"),
        ([entry("m1:27017", 1), entry("m2:27017", 2)], "is not a member of replica set rs0"),
    ],
)
def test_resync_decision_refusals(entries, message):
    target = "m1:27017" if "PRIMARY" in message else "m3:27017"
    with pytest.raises(MongoDBRefusedError, match=message):
        resync_decision(status(*entries), WINDOW, target, force="PRIMARY" in message)


def test_a_short_oplog_window_caps_the_margin_so_a_current_member_is_not_resynced():
    # CI on 4b0975e: the lab's 45 s window minus the default 60 s margin made a SECONDARY 0 s behind "need" a resync,
    # and repair-node.yml on a healthy host refused.
    short = {"first_ts": NOW - 45, "last_ts": NOW, "window_seconds": 45}
    st = status(entry("m1:27017", 1), entry("m2:27017", 2), entry("m3:27017", 2, optime=NOW))
    got, why = resync_decision(st, short, "m3:27017", lag_margin_seconds=60)
    assert got == "not_needed" and "margin 22.5 s (half the window)" in why
    st = status(entry("m1:27017", 1), entry("m2:27017", 2), entry("m3:27017", 2, optime=NOW - 30))
    got, why = resync_decision(st, short, "m3:27017", lag_margin_seconds=60)
    assert got == "needed" and "30 s behind" in why
    got, why = resync_decision(st, WINDOW, "m3:27017", lag_margin_seconds=60)
    assert got == "not_needed" and "(margin 60 s)" in why


def test_resync_of_the_primary_is_not_needed_without_force():
    # repair-node.yml on a member that came back and took over again (priority takeover) must not fail
    st = status(entry("m1:27017", 1), entry("m2:27017", 2), entry("m3:27017", 2))
    got, why = resync_decision(st, WINDOW, "m1:27017")
    assert got == "not_needed" and "PRIMARY" in why


def test_resync_refused_when_it_is_the_only_healthy_data_member_or_would_lose_the_majority():
    st = status(entry("m1:27017", 1), entry("m3:27017", 3, info="too stale"))
    st["members"][0]["health"] = 0  # a primary whose heartbeats stopped: nobody else holds the data
    with pytest.raises(MongoDBRefusedError, match="only healthy data-bearing member"):
        resync_decision(st, WINDOW, "m3:27017")
    st = status(entry("m1:27017", 1), entry("m2:27017", 8, health=0, optime=None), entry("m3:27017", 2))
    voters = ["m1:27017", "m2:27017", "m3:27017"]
    with pytest.raises(MongoDBRefusedError, match="would leave 1 of 3 voting members healthy"):
        resync_decision(st, WINDOW, "m3:27017", force=True, voting_members=voters)


# -- data_dir, waits --------------------------------------------------------------------------------------------------


def test_check_data_dir():
    listing = {"/var/lib/mongodb": ["WiredTiger", "collection-0.wt"], "/srv": ["www"], "/empty": []}
    assert check_data_dir("/empty", listing.get, lambda p: p in listing) == []
    assert check_data_dir("/var/lib/mongodb", listing.get, lambda p: p in listing) == ["WiredTiger", "collection-0.wt"]
    cases = [("var/lib/mongodb", "not an absolute path"), ("/", "refusing '/'"), ("/./", "refusing '/'")]
    cases += [("/nonexistent", "is not a directory"), ("/srv", "does not look like a mongod data directory")]
    for path, message in cases:
        with pytest.raises(MongoDBParameterError, match=message):
            check_data_dir(path, listing.get, lambda p: p in listing)


def test_wait_for_names_what_it_waited_for_and_what_it_saw():
    now = [0.0]
    seen = iter(["STARTUP2", "STARTUP2", "RECOVERING"] + ["RECOVERING"] * 100)

    def check():
        return False, next(seen)

    with pytest.raises(MongoDBTimeoutError) as e:
        wait_for(
            check,
            5,
            "m4:27017 to become SECONDARY",
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
        )
    assert str(e.value) == "waited wait_timeout=5 s for m4:27017 to become SECONDARY; last seen: RECOVERING."
    assert wait_for(lambda: (True, "done"), 0, "x") == "done"
