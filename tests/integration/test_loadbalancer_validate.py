"""Bad input to the load balancer role and the DNS switch fails before anything changes, naming the variable.

Runs the role's validation (roles/loadbalancer/tasks/validate.yml) and switch-site.yml with the real
ansible-playbook against this machine (connection local, facts gathered: the loopback interface stands in for
the site network), so the checks see real interface facts. Nothing is installed or started.
"""

import sys

import pytest
from ansible_runner import ROOT, run_playbook

PLAY = """
- name: Validate the load balancer settings
  hosts: lb1
  gather_facts: true
  gather_subset: [network]
  tasks:
    - name: Run the role's checks
      ansible.builtin.include_role:
        name: apiplatform.ha.loadbalancer
        tasks_from: validate.yml
"""


@pytest.fixture
def lab(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        f"""
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: {sys.executable}
    ha_sites: [dc1, dc2, witness]
    loadbalancer_vrrp_password: secret8c
  children:
    dc1:
      hosts:
        lb1: {{ha_address: 127.0.0.1, ha_site_address: 127.0.0.1}}
    loadbalancer:
      hosts:
        lb1:
    dashboard:
      hosts:
        lb1:
"""
    )
    playbook = tmp_path / "validate.yml"
    playbook.write_text(PLAY)
    return inventory, playbook


def _vips(address):
    return f'{{"loadbalancer_vips": {{"dc1": {{"address": "{address}", "virtual_router_id": 51}}}}}}'


def test_a_vip_on_the_site_subnet_passes(lab):
    inventory, playbook = lab
    proc = run_playbook(playbook, inventory, "-e", _vips("127.0.0.100"), timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_a_vip_outside_the_site_subnet_is_refused(lab):
    inventory, playbook = lab
    proc = run_playbook(playbook, inventory, "-e", _vips("10.9.9.9"), timeout=180)
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "loadbalancer_vips.dc1.address 10.9.9.9 is not inside the subnet 127.0.0.1/8 of lo" in flat
    assert "Traceback" not in proc.stdout


def test_a_vrrp_password_longer_than_keepalived_keeps_is_refused(lab):
    inventory, playbook = lab
    proc = run_playbook(
        playbook, inventory, "-e", _vips("127.0.0.100"), "-e", "loadbalancer_vrrp_password=ninechars", timeout=180
    )
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "Set loadbalancer_vrrp_password (from a vault) to 1 to 8 characters" in flat


def test_switch_site_to_an_unknown_site_is_refused(lab):
    inventory = lab[0]
    proc = run_playbook(
        ROOT / "playbooks" / "switch-site.yml",
        inventory,
        "-e",
        _vips("127.0.0.100"),
        "-e",
        "switch_site_to=dc9",
        timeout=180,
    )
    flat = " ".join(proc.stdout.split())
    assert proc.returncode != 0
    assert "loadbalancer_dns_target_site must name a site of loadbalancer_vips (dc1; got 'dc9')" in flat
