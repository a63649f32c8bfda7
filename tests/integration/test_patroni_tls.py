"""TLS of the PostgreSQL tier against real servers on 127.0.0.1: a 2-member Patroni 4.1.5 cluster (PostgreSQL 15) whose
etcd3 DCS serves its client API over https only to clients presenting a certificate, with PostgreSQL's ssl on,
pg_hba admitting TLS connections only (hostssl) and streaming replication at sslmode=verify-ca: the settings the
patroni role writes with TLS on. A throw-away CA and certificate for localhost/127.0.0.1 come from openssl
(make_test_certs). The last test renders the role's own template and checks that it writes these settings.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import psycopg
import pytest
import yaml
from ansible_runner import run_playbook
from mongodb_simulator_harness import make_test_certs
from patroni_cluster import SCOPE, patroni_cluster

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_test_certs(tmp_path_factory.mktemp("pki"), name="patroni")


@pytest.fixture(scope="module")
def cluster(pki):
    with patroni_cluster(names=("pt1", "pt2"), tls=pki) as c:
        yield c


def test_patroni_holds_its_leader_key_in_etcd_over_https_with_a_client_certificate(cluster, pki):
    leader = cluster.leader()
    assert leader in cluster.members
    key = f"/service/{SCOPE}/leader"
    with_cert = cluster.etcd.etcdctl("get", key, "--print-value-only")
    assert with_cert.returncode == 0 and with_cert.stdout.strip() == leader, with_cert.stderr
    # etcd refuses a client without a certificate: Patroni's leader key proves it presented one
    endpoint = cluster.etcd.endpoints()[0]
    bare = subprocess.run(
        ["etcdctl", f"--endpoints={endpoint}", f"--cacert={pki.ca}", "--dial-timeout=2s", "get", key],
        capture_output=True,
        text=True,
        timeout=20,
        env=dict(os.environ, ETCDCTL_API="3"),
        check=False,
    )
    assert bare.returncode != 0


def test_replication_runs_over_tls_verified_by_the_ca(cluster):
    leader = cluster.members[cluster.leader()]
    replica = cluster.members[cluster.replicas()[0]]
    rows = leader.sql("SELECT r.application_name, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s ON s.pid = r.pid")
    assert rows == [(replica.name, True)]
    conninfo = replica.sql("SHOW primary_conninfo")[0][0]
    assert "sslmode=verify-ca" in conninfo and "sslrootcert=" in conninfo


def test_a_connection_without_tls_is_refused_and_one_verified_by_the_ca_is_admitted(cluster, pki):
    leader = cluster.members[cluster.leader()]
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        leader.connect(sslmode="disable")
    with leader.connect(sslmode="verify-ca", sslrootcert=str(pki.ca)) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)


def test_a_reload_makes_postgresql_serve_a_rotated_certificate(cluster, tmp_path):
    # The role copies new files and reloads Patroni (SIGHUP, systemctl reload): PostgreSQL must serve the new
    # certificate without a restart.
    leader = cluster.members[cluster.leader()]
    rotated = make_test_certs(tmp_path / "rotated", name="rotated")
    for key, src in (("cert", rotated.cert), ("key", rotated.key), ("ca", rotated.ca)):
        (leader.dir / f"tls-{key}.pem").write_bytes(pathlib.Path(src).read_bytes())
    started = leader.sql("SELECT pg_postmaster_start_time()")[0][0]
    os.kill(leader.proc.pid, signal.SIGHUP)

    def serves_rotated():
        try:
            with leader.connect(sslmode="verify-ca", sslrootcert=str(rotated.ca)):
                return True
        except psycopg.OperationalError:
            return False

    deadline = time.monotonic() + 30
    while not serves_rotated():
        assert time.monotonic() < deadline, f"the leader still serves the old certificate:\n{leader.log_tail()}"
        time.sleep(0.5)
    assert leader.sql("SELECT pg_postmaster_start_time()")[0][0] == started  # reloaded, not restarted


def test_the_role_template_writes_these_tls_settings(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "pg1": {
                            "ha_address": "192.0.2.11",
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    },
                    "children": {"postgresql": {"hosts": {"pg1": None}}, "etcd": {"hosts": {"pg1": None}}},
                    "vars": {"ha_sites": ["dc1"]},
                },
                "dc1": {"hosts": {"pg1": None}},
            }
        )
    )
    out = tmp_path / "config.yml"
    extra = {
        "etcd_tls_enabled": True,
        "etcd_tls_client_cert_auth": True,
        "etcd_tls_ca_cert": "/pki/ca.crt",
        "etcd_tls_cert": "/pki/pg1.crt",
        "etcd_tls_key": "/pki/pg1.key",
        "postgresql_tls_enabled": True,
        "postgresql_tls_required": True,
        "postgresql_tls_ca_cert": "/pki/ca.crt",
        **{f"patroni_{u}_password": "x" for u in ("restapi", "superuser", "replication", "rewind")},
    }
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    playbook = tmp_path / "render.yml"
    render_vars = [str(ROOT / "roles/patroni/defaults/main.yml"), str(ROOT / "roles/patroni/vars/main.yml")]
    play = {
        "name": "Render the patroni role's configuration",
        "hosts": "pg1",
        "gather_facts": False,
        "vars_files": render_vars,
        "tasks": [
            {
                "name": "Render",
                "ansible.builtin.template": {
                    "src": str(ROOT / "roles/patroni/templates/config.yml.j2"),
                    "dest": str(out),
                    "mode": "0600",
                },
            }
        ],
    }
    playbook.write_text(json.dumps([play]))
    proc = run_playbook(playbook, inventory, "-e", f"@{extra_file}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    config = yaml.safe_load(out.read_text())
    assert config["etcd3"] == {
        "hosts": ["192.0.2.11:2379"],
        "protocol": "https",
        "cacert": "/etc/patroni/etcd-ca.crt",
        "cert": "/etc/patroni/etcd-client.crt",
        "key": "/etc/patroni/etcd-client.key",
    }
    for user in ("replication", "rewind"):
        auth = config["postgresql"]["authentication"][user]
        assert (auth["sslmode"], auth["sslrootcert"]) == ("verify-ca", "/etc/postgresql-ha/tls/ca.crt")
    params = config["postgresql"]["parameters"]
    assert (params["ssl"], params["ssl_ca_file"]) == ("on", "/etc/postgresql-ha/tls/ca.crt")
    loopback = ("127.0.0.1/32", "::1/128")
    hba = config["postgresql"]["pg_hba"]
    remote = [line for line in hba if not line.startswith("local ") and not line.split()[-2].endswith(loopback)]
    # Patroni reads a stopped former leader's timeline over a local replication connection (pg_rewind needs it)
    assert "host replication replicator 127.0.0.1/32 scram-sha-256" in hba
    assert "hostssl replication replicator 192.0.2.11/32 scram-sha-256" in remote
    assert all(line.startswith("hostssl ") for line in remote), remote
