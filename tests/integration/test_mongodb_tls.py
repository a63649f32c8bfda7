"""The TLS options of the MongoDB modules (tls, tls_ca_file, tls_certificate_key_file) run by the real
ansible-playbook against the project's replica-set simulator (tests/mongodb_simulator, a simulator, NOT MongoDB)
listening with net.tls.mode requireTLS on 127.0.0.1.

Each test makes a throw-away CA and a server certificate for localhost/127.0.0.1 with openssl (make_test_certs) and
starts its own simulator set; the members also heartbeat each other over TLS. What the modules report is checked
against replSetGetConfig / the simulator's log read outside the modules.
"""

import pytest
from etcd_cluster import run_tasks
from mongodb_simulator_harness import SimulatorSet, make_test_certs

INFO = "apiplatform.ha.mongodb_replset_info"
MEMBER = "apiplatform.ha.mongodb_replset_member"


@pytest.fixture
def plays(tmp_path):
    def run(*tasks):
        return run_tasks(tmp_path, list(tasks), timeout=120)

    return run


@pytest.fixture
def certs(tmp_path):
    return make_test_certs(tmp_path / "pki")


def conn(rs, i, **extra):
    """Connection options of the modules for simulator member ``i`` (an IP: the certificate's IP SAN is checked)."""
    return dict(login_host="127.0.0.1", login_port=rs.members[i].port, connect_timeout=3, **extra)


def task(module, args, check=False):
    return (module, args, {"check_mode": check})


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def failed_cleanly(result, *needles):
    """Failed with a message (no traceback) that holds every needle."""
    assert result.get("failed"), result
    msg = result.get("msg", "")
    assert "Traceback" not in msg + str(result.get("module_stderr", "")) + str(result.get("exception", "")), result
    for needle in needles:
        assert needle in msg, msg
    return msg


def version(rs, i=0):
    return rs.admin(i, "replSetGetConfig")["config"]["version"]


def test_simulator_tls_info_and_member_check_mode_with_ca_file(tmp_path, plays, certs):
    with SimulatorSet(tmp_path / "sim", 3, tls=certs) as rs:
        rs.start_all()
        rs.initiate([{"priority": 2}, {}])  # member 2 runs, outside the set
        assert rs.wait_primary(15) == 0
        rs.wait_state(1, "SECONDARY", 15, seen_from=0)  # heartbeats between members went over TLS
        before = version(rs)
        tls = {"tls": True, "tls_ca_file": str(certs.ca)}
        add = dict(conn(rs, 1, **tls), host=rs.host(2), wait_timeout=20)
        info, hello, check = plays(
            task(INFO, conn(rs, 0, replica_set="rs0", **tls)),
            task(INFO, conn(rs, 1, hello_only=True, **tls)),
            task(MEMBER, add, check=True),  # seeds on the secondary, then connects to the primary over TLS
        )
        assert version(rs) == before
        log = rs.logs(0, tail=400)
    ok(info)
    rset = info["mongodb_replset"]
    assert info["initialized"] is True and rset["set"] == "rs0" and rset["healthy"] is True
    assert rset["primary"] == rs.host(0) and [m["state_str"] for m in rset["members"]] == ["PRIMARY", "SECONDARY"]
    ok(hello)
    assert hello["mongodb_replset"]["my_state_str"] == "SECONDARY"
    ok(check)
    assert check["changed"] is True and check["primary"] == rs.host(0)
    assert len(check["steps"]) == 2 and check["config_version"] == before + 2
    assert "rejected" not in log and "TLS handshake" not in log  # every connection above was TLS and verified


def test_simulator_tls_member_apply_and_rerun_over_tls(tmp_path, plays, certs):
    with SimulatorSet(tmp_path / "sim", 2, tls=certs) as rs:
        rs.start_all()
        rs.initiate([{"priority": 2}, {}])
        assert rs.wait_primary(15) == 0
        rs.wait_state(1, "SECONDARY", 15, seen_from=0)
        before = version(rs)
        args = dict(conn(rs, 0, tls=True, tls_ca_file=str(certs.ca)), host=rs.host(1), priority=0.5)
        applied, again = plays(task(MEMBER, args), task(MEMBER, args))
        after = version(rs)
        member = next(m for m in rs.admin(0, "replSetGetConfig")["config"]["members"] if m["host"] == rs.host(1))
    ok(applied)
    assert applied["changed"] is True and after == before + 1 and member["priority"] == 0.5
    ok(again)
    assert again["changed"] is False and again["steps"] == []


def test_simulator_tls_without_or_with_a_wrong_ca_fails_naming_the_option(tmp_path, plays, certs):
    other = make_test_certs(tmp_path / "other-pki", name="other")
    with SimulatorSet(tmp_path / "sim", 1, tls=certs) as rs:
        rs.start_all()
        rs.initiate([{}])
        assert rs.wait_primary(15) == 0
        before = version(rs)
        no_ca, wrong_ca, plain, no_tls_flag, member_no_ca = plays(
            task(INFO, conn(rs, 0, tls=True)),
            task(INFO, conn(rs, 0, tls=True, tls_ca_file=str(other.ca))),
            task(INFO, conn(rs, 0)),
            task(INFO, conn(rs, 0, tls_ca_file=str(certs.ca))),
            task(MEMBER, dict(conn(rs, 0, tls=True), host=rs.host(0), priority=3)),
        )
        assert version(rs) == before
        log = rs.logs(0, tail=400)
    for result in (no_ca, wrong_ca, member_no_ca):
        failed_cleanly(result, "cannot reach mongod at", "certificate verify failed", "tls_ca_file")
    failed_cleanly(plain, "cannot reach mongod at", rs.host(0))
    failed_cleanly(no_tls_flag, "tls: ", "set tls: true")
    assert "not TLS and net.tls.mode is requireTLS" in log and "unknown ca" in log


def test_simulator_tls_client_certificate_required(tmp_path, plays, certs):
    with SimulatorSet(tmp_path / "sim", 1, tls=certs, tls_client_certificates=True) as rs:
        rs.start_all()
        rs.initiate([{}])
        assert rs.wait_primary(15) == 0
        tls = {"tls": True, "tls_ca_file": str(certs.ca)}
        with_cert, without_cert = plays(
            task(INFO, conn(rs, 0, tls_certificate_key_file=str(certs.pem), **tls)),
            task(INFO, conn(rs, 0, **tls)),
        )
    ok(with_cert)
    assert with_cert["mongodb_replset"]["my_state_str"] == "PRIMARY"
    failed_cleanly(without_cert, "cannot reach mongod at", "tls_certificate_key_file")
