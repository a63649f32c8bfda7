from ansible_collections.apiplatform.ha.plugins.module_utils.topology import (
    peer_targets,
    quorum_size,
    site_links,
    site_topology,
)

SITES = ["dc1", "dc2", "witness"]


def groups(**extra):
    g = {
        "all": ["a1", "a2", "b1", "b2", "w1"],
        "dc1": ["a1", "a2"],
        "dc2": ["b1", "b2"],
        "witness": ["w1"],
        "etcd": ["a1", "b1", "w1"],
    }
    g.update(extra)
    return g


def test_quorum_size():
    assert [quorum_size(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_valid_three_site_layout_has_no_errors_or_warnings():
    t = site_topology(groups(), SITES, "witness")
    assert t["errors"] == []
    assert t["warnings"] == []
    assert t["host_site"] == {"a1": "dc1", "a2": "dc1", "b1": "dc2", "b2": "dc2", "w1": "witness"}
    assert t["quorum"]["etcd"] == {"dc1": 1, "dc2": 1, "witness": 1}


def test_host_in_two_sites_is_an_error_naming_host_and_fix():
    t = site_topology(groups(dc2=["b1", "b2", "a2"]), SITES, "witness")
    assert len(t["errors"]) == 1
    assert "'a2'" in t["errors"][0]
    assert "dc1, dc2" in t["errors"][0]
    assert "exactly one" in t["errors"][0]
    assert "a2" not in t["host_site"]


def test_host_in_no_site_is_an_error():
    t = site_topology(groups(all=["a1", "a2", "b1", "b2", "w1", "stray"]), SITES, "witness")
    assert any("'stray'" in e and "no site group" in e for e in t["errors"])


def test_missing_witness_is_an_error_with_both_fixes():
    g = groups(etcd=["a1", "b1"])
    del g["witness"]
    g["all"] = ["a1", "a2", "b1", "b2"]
    t = site_topology(g, SITES, "witness")
    assert any("witness site 'witness' has no host" in e and "ha_witness_site: ''" in e for e in t["errors"])


def test_declared_two_site_design_warns_what_it_gives_up():
    g = groups(etcd=["a1", "a2", "b1"])
    del g["witness"]
    g["all"] = ["a1", "a2", "b1", "b2"]
    t = site_topology(g, ["dc1", "dc2"], "")
    assert t["errors"] == []
    assert any("no automatic promotion" in w for w in t["warnings"])
    assert any("site 'dc1' holds 2 of 3" in w for w in t["warnings"])


def test_even_member_count_warns():
    t = site_topology(groups(etcd=["a1", "a2", "b1", "w1"]), SITES, "witness")
    assert any("even number" in w for w in t["warnings"])


def test_hosts_restricts_per_host_checks():
    t = site_topology(groups(dc2=["b1", "b2", "a2"]), SITES, "witness", hosts=["b1"])
    assert t["errors"] == []


def test_unknown_witness_name_is_an_error():
    t = site_topology(groups(), SITES, "dc3")
    assert any("ha_witness_site 'dc3'" in e for e in t["errors"])


def test_peer_targets_skips_own_site_and_caps_per_site():
    hv = {h: {"ha_address": f"192.0.2.{i}"} for i, h in enumerate(["a1", "a2", "b1", "b2", "w1"], 1)}
    targets = peer_targets(groups(), hv, "a1", SITES, port=2380, per_site=1)
    assert targets == [
        {"name": "b1", "address": "192.0.2.3", "port": 2380},
        {"name": "w1", "address": "192.0.2.5", "port": 2380},
    ]


def test_site_links_marks_cut_site():
    hs = {"a1": "dc1", "b1": "dc2", "w1": "witness"}
    probes = {
        "a1": [{"name": "b1", "reachable": False, "detail": "no route"}, {"name": "w1", "reachable": True}],
        "b1": [{"name": "a1", "reachable": False, "detail": "x"}, {"name": "w1", "reachable": False, "detail": "y"}],
        "w1": [{"name": "a1", "reachable": True}, {"name": "b1", "reachable": False, "detail": "z"}],
    }
    out = site_links(probes, hs)
    assert out["cut"] == ["dc2"]
    assert "dc1 -> dc2" in out["broken"]
    assert "dc1 -> witness" not in out["broken"]
    assert any(line.startswith("a1 (dc1) -> b1 (dc2)") for line in out["evidence"])


def test_site_links_all_up():
    hs = {"a1": "dc1", "b1": "dc2"}
    out = site_links({"a1": [{"name": "b1", "reachable": True}], "b1": [{"name": "a1", "reachable": True}]}, hs)
    assert out["broken"] == [] and out["cut"] == []
