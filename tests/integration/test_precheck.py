"""Bad inventories make the precheck fail with a message naming the host and the fix; nothing runs after it.

Hosts here are the controller itself (connection local) or an address where nothing answers, so these tests
need no lab. The lab's molecule scenario covers a really cut inter-site link.
"""

import socket
import sys

import pytest
import yaml
from ansible_runner import run_playbook


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def inventory(tmp_path, sites, etcd, silent=(), witness="witness"):
    hosts = {}
    for site, names in sites.items():
        hosts[site] = {"hosts": {}}
        for n in names:
            hv = {
                "ha_address": "127.0.0.1",
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
            }
            if n in silent:
                hv = {
                    "ha_address": "127.0.0.1",
                    "ansible_connection": "ssh",
                    "ansible_host": "127.0.0.1",
                    "ansible_port": free_port(),
                    "ansible_ssh_common_args": "-o ConnectTimeout=3",
                }
            hosts[site]["hosts"][n] = hv
    hosts["etcd"] = {"hosts": dict.fromkeys(etcd)}
    data = {
        "all": {
            "vars": {
                "ha_sites": list(sites) if witness in sites or not witness else [*sites, witness],
                "ha_witness_site": witness,
                "precheck_probe_port": free_port(),
                "precheck_etcd_client_port": free_port(),
                "precheck_probe_timeout": 1,
            },
            "children": hosts,
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def flat(text):
    """The result callback wraps long lines; compare with whitespace folded."""
    return " ".join(text.split())


def assert_refused(result, *needles):
    out = flat(result.stdout)
    assert result.returncode != 0, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in output:\n{out[-4000:]}"


def test_valid_layout_passes(tmp_path):
    inv = inventory(tmp_path, {"dc1": ["a1"], "dc2": ["b1"], "witness": ["w1"]}, ["a1", "b1", "w1"])
    result = run_playbook("precheck.yml", inv)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "failed=0" in result.stdout


def test_host_in_two_sites_is_refused(tmp_path):
    inv = inventory(tmp_path, {"dc1": ["a1", "a2"], "dc2": ["b1", "a2"], "witness": ["w1"]}, ["a1", "b1", "w1"])
    result = run_playbook("site.yml", inv, "--check")
    assert_refused(result, "host 'a2' is in several site groups (dc1, dc2)", "keep it in exactly one")
    # The play that would change hosts never started.
    assert "Common | base configuration" not in result.stdout


def test_missing_witness_is_refused(tmp_path):
    inv = inventory(tmp_path, {"dc1": ["a1", "a2"], "dc2": ["b1"]}, ["a1", "a2", "b1"])
    result = run_playbook("site.yml", inv, "--check")
    assert_refused(result, "the witness site 'witness' has no host", "ha_witness_site: ''")
    assert "Common | base configuration" not in result.stdout


def test_declared_two_site_design_warns_and_passes(tmp_path):
    inv = inventory(tmp_path, {"dc1": ["a1", "a2"], "dc2": ["b1"]}, ["a1", "a2", "b1"], witness="")
    result = run_playbook("precheck.yml", inv)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "no automatic promotion or election happens" in flat(result.stdout)


@pytest.mark.parametrize("force", [False, True])
def test_unreachable_site_is_refused_unless_forced(tmp_path, force):
    inv = inventory(
        tmp_path, {"dc1": ["a1"], "dc2": ["b1", "b2"], "witness": ["w1"]}, ["a1", "b1", "w1"], silent=("b1", "b2")
    )
    extra = ["-e", "ha_force=true"] if force else []
    result = run_playbook("precheck.yml", inv, *extra)
    if force:
        assert "WARNING (ha_force=true)" in flat(result.stdout), result.stdout[-4000:]
    else:
        assert_refused(
            result,
            "do not answer (unreachable, or Python does not run there): b1, b2",
            "Site dc2 is unreachable",
            "ha_force=true",
        )
