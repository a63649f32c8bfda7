"""Placement of single-instance microservices (respawn logic)."""

import pytest

from ansible_collections.apiplatform.ha.plugins.module_utils.placement import PlacementError, service_placement

HOSTS = ["dc1-node1", "dc2-node1"]


def test_nothing_running_goes_to_the_first_candidate():
    got = service_placement(["mailer", "scheduler"], HOSTS, {})
    assert got["mailer"] == {"host": "dc1-node1", "reason": "placed", "stop": []}
    assert got["scheduler"]["host"] == "dc1-node1"


def test_a_running_copy_stays_where_it_is():
    got = service_placement(["mailer"], HOSTS, {"dc2-node1": ["mailer"]})
    assert got["mailer"] == {"host": "dc2-node1", "reason": "running", "stop": []}


def test_respawn_when_the_host_is_gone():
    # dc1-node1 is down: it is not a candidate, so the service moves to dc2-node1.
    got = service_placement(["connector"], ["dc2-node1"], {"dc2-node1": []})
    assert got["connector"]["host"] == "dc2-node1"


def test_two_copies_after_a_host_came_back_keep_one():
    got = service_placement(["scheduler"], HOSTS, {"dc1-node1": ["scheduler"], "dc2-node1": ["scheduler"]})
    assert got["scheduler"]["host"] == "dc1-node1"
    assert got["scheduler"]["stop"] == ["dc2-node1"]


def test_pinned_host_wins_and_stops_the_other_copy():
    got = service_placement(["mailer"], HOSTS, {"dc1-node1": ["mailer"]}, {"mailer": "dc2-node1"})
    assert got["mailer"] == {"host": "dc2-node1", "reason": "pinned", "stop": ["dc1-node1"]}


def test_unreachable_pinned_host_falls_back():
    got = service_placement([{"name": "mailer"}], ["dc2-node1"], {}, {"mailer": "dc1-node1"})
    assert got["mailer"]["host"] == "dc2-node1"
    assert got["mailer"]["reason"].startswith("pinned host unreachable or outside this run")


def test_no_candidate_is_a_clear_error():
    with pytest.raises(PlacementError, match="no reachable host"):
        service_placement(["mailer"], [], {})


def test_a_copy_outside_the_limit_is_kept_and_ours_stopped():
    # repair-node.yml -l dc1-node1 after a respawn moved the service to dc2-node1: both run now, but this run
    # may not touch dc2-node1, so the copy there stays and the returning host's copy is stopped.
    running = {"dc1-node1": ["mailer"], "dc2-node1": ["mailer"]}
    got = service_placement(["mailer"], HOSTS, running, {}, actionable=["dc1-node1"])
    assert got["mailer"]["host"] == "dc2-node1"
    assert got["mailer"]["stop"] == ["dc1-node1"]


def test_limited_run_does_not_start_a_second_copy():
    got = service_placement(["mailer"], HOSTS, {"dc2-node1": ["mailer"]}, {}, actionable=["dc1-node1"])
    assert got["mailer"]["host"] == "dc2-node1"
    assert got["mailer"]["stop"] == []


def test_limited_run_places_only_on_its_own_hosts():
    # Nothing runs; dc1-node1 is preferred but outside the run: start it on dc2-node1, which the run can act on.
    got = service_placement(["mailer"], HOSTS, {}, {}, actionable=["dc2-node1"])
    assert got["mailer"] == {"host": "dc2-node1", "reason": "placed", "stop": []}


def test_pin_outside_the_run_does_not_stop_the_running_copy():
    got = service_placement(["mailer"], HOSTS, {"dc2-node1": ["mailer"]}, {"mailer": "dc1-node1"}, ["dc2-node1"])
    assert got["mailer"]["host"] == "dc2-node1"
    assert got["mailer"]["stop"] == []


def test_nothing_running_and_no_host_of_the_run_can_start_it():
    got = service_placement(["mailer"], HOSTS, {}, {}, actionable=[])
    assert got["mailer"]["host"] is None
    assert got["mailer"]["stop"] == []
