"""mongodb_replset_member: main() against a fake replica set behind pymongo's MongoClient (mongodb_fake.py)."""

import pytest
from module_exits import FailJson, exit_result, fail_message, patch_exits, run_module
from mongodb_fake import FakeClock, FakeReplSet, failure

from ansible_collections.apiplatform.ha.plugins.module_utils import mongodb
from ansible_collections.apiplatform.ha.plugins.modules import mongodb_replset_member

M4 = "m4:27017"


@pytest.fixture(autouse=True)
def module_exits(monkeypatch):
    patch_exits(monkeypatch)
    monkeypatch.setattr(mongodb, "time", FakeClock())


def install(monkeypatch, fake):
    monkeypatch.setattr(mongodb, "MongoClient", fake.client)
    return fake


def with_m4(**kwargs):
    fake = FakeReplSet(**kwargs)
    fake.nodes[M4] = {"state": 0, "health": 1, "optime": 0, "info": ""}  # runs, not a member yet
    return fake


def args(**kwargs):
    return dict({"login_host": "m1", "wait_timeout": 30}, **kwargs)


def result_of(params, **kwargs):
    return exit_result(mongodb_replset_member.main, args(**params), **kwargs)


def failure_of(params, **kwargs):
    return fail_message(mongodb_replset_member.main, args(**params), **kwargs)


def test_add_voting_member_check_mode_then_two_steps_then_idempotent(monkeypatch):
    fake = install(monkeypatch, with_m4())
    check = result_of({"host": M4}, check_mode=True, diff=True)
    assert check["changed"] is True and fake.writes == [] and len(check["steps"]) == 2
    assert check["config_version"] == 6 and check["member"]["votes"] == 1 and check["primary"] == "m1:27017"
    assert check["diff"]["before"] == {"member": None, "config_version": 4}
    assert check["diff"]["after"]["config_version"] == 6 and check["diff"]["after"]["member"]["_id"] == 3

    result = result_of({"host": M4}, diff=True)
    assert [(w[0], w[1]) for w in fake.writes] == [("replSetReconfig", 5), ("replSetReconfig", 6)]
    step1, step2 = (w[2][-1] for w in fake.writes)
    assert (step1["votes"], step1["priority"]) == (0, 0) and (step2["votes"], step2["priority"]) == (1, 1.0)
    assert fake.nodes[M4]["state"] == 2  # it was SECONDARY before it got its vote (the fake syncs on status reads)
    assert result["changed"] is True and result["config_version"] == 6 and result["member"]["votes"] == 1
    assert result["steps"] == check["steps"]

    again = result_of({"host": M4}, diff=True)
    assert again["changed"] is False and again["steps"] == [] and len(fake.writes) == 2
    assert again["diff"]["before"] == again["diff"]["after"]


def test_seed_secondary_leads_to_the_primary(monkeypatch):
    fake = install(monkeypatch, with_m4())
    result_of({"host": M4, "login_host": "m2", "votes": 0})
    assert fake.writes[0][1] == 5
    assert ("m1:27017", "replSetReconfig") in fake.calls and ("m2:27017", "replSetReconfig") not in fake.calls


def test_arbiter_priority_and_removal_take_one_step(monkeypatch):
    fake = install(monkeypatch, with_m4())
    result = result_of({"host": M4, "arbiter_only": True})
    assert result["member"]["arbiterOnly"] is True and len(fake.writes) == 1 and fake.nodes[M4]["state"] == 7
    result = result_of({"host": "m2:27017", "priority": 3, "tags": {"dc": "2"}})
    assert result["member"]["priority"] == 3 and result["member"]["tags"] == {"dc": "2"} and len(fake.writes) == 2
    result = result_of({"host": "m3:27017", "state": "absent"}, diff=True)
    assert result["member"] is None and result["diff"]["after"]["member"] is None and len(fake.writes) == 3
    assert result_of({"host": "m3:27017", "state": "absent"})["changed"] is False


def test_refusals_change_nothing(monkeypatch):
    fake = install(monkeypatch, with_m4())
    assert failure_of({"host": "m1:27017", "state": "absent"}).startswith("step it down first: the primary cannot")
    assert failure_of({"host": "m2:27017", "arbiter_only": True}).startswith(
        "m2:27017 is a data-bearing member; an arbiter holds no data: remove m2:27017 first (state=absent)"
    )
    assert failure_of({"host": M4, "priority": 2000}).startswith("priority: must be between 0 and 1000")
    assert failure_of({"host": M4, "hidden": True, "priority": 1}).startswith("priority: a hidden member")
    assert failure_of({"host": "m4"}).startswith("host: 'm4' is not host:port")
    fake.set_state("m3:27017", 8, health=0)
    fake.set_state("m2:27017", 3, info="still syncing")
    msg = failure_of({"host": "m2:27017", "votes": 0})
    assert "only 1 are healthy now" in msg and "m3:27017 (DOWN, health 0)" in msg
    assert fake.writes == []


def test_new_member_that_does_not_answer_is_refused_before_any_reconfig(monkeypatch):
    # the primary's quorum check skips a non-voting member, so the module probes the new host itself first
    fake = install(monkeypatch, FakeReplSet())
    fake.nodes[M4] = {"state": 0, "health": 1, "optime": 0, "info": ""}
    fake.unreachable.add(M4)
    msg = failure_of({"host": M4})
    assert msg.startswith("host: m4:27017 does not answer") and "Start mongod there" in msg
    assert msg.endswith("Nothing was changed.") and fake.writes == []
    assert "Traceback" not in msg


def test_failure_in_the_second_step_says_which_steps_were_applied(monkeypatch):
    fake = install(monkeypatch, with_m4())
    real = fake.reconfig

    def second_fails(address, new):
        if new["version"] == 6:
            raise failure(117, "Cannot run replSetReconfig because the node is currently updating its configuration")
        return real(address, new)

    monkeypatch.setattr(fake, "reconfig", second_fails)
    with pytest.raises(FailJson) as exc:
        run_module(mongodb_replset_member.main, args(host=M4))
    assert exc.value.args[0]["changed"] is True  # step 1 was applied: the config did change
    msg = exc.value.args[0]["msg"]
    assert "(code 117)" in msg and "The previous config is not committed yet" in msg
    assert "Steps applied before this failure (1 of 2): add m4:27017 (_id 3) with votes 0" in msg
    assert fake.config["version"] == 5 and fake.member(M4)["votes"] == 0
    # running again finishes: one step gives the vote
    monkeypatch.setattr(fake, "reconfig", real)
    result = result_of({"host": M4})
    assert result["steps"][0].startswith("set m4:27017 votes 0 -> 1, priority 0 -> 1")


def test_member_stuck_in_startup2_times_out_with_its_state(monkeypatch):
    fake = install(monkeypatch, with_m4())
    fake.sync_reads = 10**6
    msg = failure_of({"host": M4, "wait_timeout": 5})
    assert msg.startswith("waited wait_timeout=5 s for m4:27017 to become SECONDARY (before it gets its vote)")
    assert "last seen: m4:27017 (STARTUP2, health 1)" in msg and "Steps applied before this failure (1 of 2)" in msg


def test_uncommitted_config_times_out(monkeypatch):
    fake = install(monkeypatch, with_m4())
    fake.committed = False
    msg = failure_of({"host": "m2:27017", "priority": 2, "wait_timeout": 3})
    assert msg.startswith("waited wait_timeout=3 s for config version 5 to be committed by a majority")
    assert "last seen: version 5, commitmentStatus False" in msg


def test_connection_auth_and_set_errors(monkeypatch):
    fake = install(monkeypatch, FakeReplSet(password="s3cret"))
    msg = failure_of({"host": M4, "login_user": "admin", "login_password": "wrong"})
    assert msg.startswith("login_user/login_password rejected by m1:27017: check the credentials (vault)")
    assert "login_database" in msg
    assert "login_user" in failure_of({"host": M4, "login_password": "x"})  # required_together
    fake.set_state("m1:27017", 8, health=0)
    msg = failure_of({"host": M4, "login_user": "admin", "login_password": "s3cret"})
    assert msg.startswith("cannot reach mongod at m1:27017 (hello): m1:27017: [Errno 111] Connection refused")
    assert "Topology Description" not in msg and "systemctl status mongod" in msg
    fake = install(monkeypatch, FakeReplSet())
    msg = failure_of({"host": M4, "replica_set": "rs9"})
    assert msg.startswith("replica_set: m1:27017 belongs to replica set 'rs0', not 'rs9'")


def test_no_primary_is_refused(monkeypatch):
    fake = install(monkeypatch, FakeReplSet())
    fake.set_state("m1:27017", 2)
    fake.primary = None
    assert "knows no primary right now" in failure_of({"host": M4})
