"""roles/microservices/files/apiha_placement_guard.py run as systemd would (a subprocess) against a real 3-member etcd.

The placement is written with etcdctl, never through the script. The tests share one cluster and run in file order;
the last one stops two members on purpose (a minority member must not decide from its stale data).
"""

import pathlib
import socket
import subprocess
import sys
import threading
import time

import pytest
from etcd_cluster import free_port_pairs

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "roles" / "microservices" / "files" / "apiha_placement_guard.py"
HOST, OTHER = "app1.dc1.example.net", "app2.dc2.example.net"


@pytest.fixture(scope="module")
def cluster(etcd_three):
    return etcd_three


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "mailer.placement"


def put(cluster, key, value):
    out = cluster.etcdctl("put", key, value)
    assert out.returncode == 0, out.stderr


def dead_endpoints(cluster, count):
    """http URLs of loopback ports that nothing listens on (outside the cluster's ports)."""
    taken = {int(url.rsplit(":", 1)[1]) for url in cluster.endpoints()}
    return [f"http://127.0.0.1:{port}" for port, _peer in free_port_pairs(count, taken=taken)]


def guard(key, marker, endpoints, *extra, host=HOST, timeout=2):
    argv = [sys.executable, str(SCRIPT), "--service", "mailer", "--host", host, "--key", key, "--marker", str(marker)]
    for endpoint in endpoints:
        argv += ["--endpoint", endpoint]
    argv += ["--timeout", str(timeout), *extra]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    proc.elapsed = time.monotonic() - start
    assert proc.stderr == "", proc.stderr  # everything goes to the journal through stdout, no traceback
    assert proc.stdout.strip(), "no message"
    assert all(line.startswith("mailer: ") for line in proc.stdout.splitlines()), proc.stdout
    return proc


def test_etcd_names_this_host_starts(cluster, marker):
    put(cluster, "/it/placement/this", HOST + "\n")
    proc = guard("/it/placement/this", marker, cluster.endpoints())  # no marker: etcd alone decides
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == f"mailer: placed on {HOST} (etcd /it/placement/this); starting\n"


def test_etcd_names_another_host_skips_even_with_a_stale_marker(cluster, marker):
    put(cluster, "/it/placement/other", OTHER)
    marker.write_text(HOST + "\n")  # the host came back with its old marker
    proc = guard("/it/placement/other", marker, cluster.endpoints())
    assert proc.returncode == 1, proc.stdout
    assert f"placed on {OTHER}" in proc.stdout and f"not on {HOST}" in proc.stdout
    assert "not starting here" in proc.stdout
    assert f"""ansible-playbook respawn.yml -e '{{"microservices_placement": {{"mailer": "{HOST}"}}}}'""" in proc.stdout


def test_key_absent_and_marker_names_this_host_starts(cluster, marker):
    marker.write_text(HOST + "\n")
    proc = guard("/it/placement/absent", marker, cluster.endpoints())
    assert proc.returncode == 0, proc.stdout
    first, second = proc.stdout.splitlines()
    assert "has no placement" in first and "/it/placement/absent" in first
    assert second == f"mailer: the local marker {marker} names this host; starting"


def test_key_absent_and_no_marker_skips(cluster, marker):
    proc = guard("/it/placement/absent", marker, cluster.endpoints())
    assert proc.returncode == 1, proc.stdout
    assert "has no placement" in proc.stdout
    assert f"no local marker {marker}" in proc.stdout and "not starting here" in proc.stdout
    assert "respawn.yml" in proc.stdout and "repair-node.yml" in proc.stdout


def test_key_absent_and_marker_names_another_host_skips(cluster, marker):
    marker.write_text(OTHER + "\n")
    proc = guard("/it/placement/absent", marker, cluster.endpoints())
    assert proc.returncode == 1, proc.stdout
    assert f"names {OTHER}, not {HOST}" in proc.stdout


def test_every_endpoint_dead_fails_the_start_by_default_even_with_a_marker_naming_this_host(cluster, marker):
    """The host that comes back after a respawn elsewhere still has its marker: it must not start on it."""
    dead = dead_endpoints(cluster, 2)
    marker.write_text(HOST + "\n")
    proc = guard("/it/placement/dead", marker, dead, "--wait", "3")
    assert proc.returncode == 255, proc.stdout
    assert proc.stdout.startswith("mailer: etcd unreadable (")
    assert "not starting" in proc.stdout and "microservices_placement_guard_when_unreadable=marker" in proc.stdout
    for endpoint in dead:
        assert f"{endpoint}: connection refused" in proc.stdout
    assert proc.elapsed >= 3, proc.elapsed  # it kept trying for --wait seconds


def test_etcd_answering_during_the_wait_decides(cluster, marker):
    put(cluster, "/it/placement/late", OTHER)
    marker.write_text(HOST + "\n")
    member = cluster.members["e3"]
    member.stop()
    initial = ",".join(f"{m.name}={m.peer_url}" for m in cluster.members.values())
    timer = threading.Timer(2.0, member.start, args=(initial, "existing"))
    timer.start()
    try:
        proc = guard("/it/placement/late", marker, [member.client_url], "--wait", "30", timeout=1)
    finally:
        timer.join()
    cluster.wait_healthy(["e1", "e2", "e3"], timeout=30)
    assert proc.returncode == 1, proc.stdout
    assert f"placed on {OTHER}" in proc.stdout


def test_every_endpoint_dead_with_when_unreadable_marker_falls_back_to_the_marker(cluster, marker):
    put(cluster, "/it/placement/dead", OTHER)  # unreachable: not what decides
    dead = dead_endpoints(cluster, 3)
    marker.write_text(HOST + "\n")
    proc = guard("/it/placement/dead", marker, dead, "--when-unreadable", "marker", "--wait", "0")
    assert proc.returncode == 0, proc.stdout
    first, second = proc.stdout.splitlines()
    assert first.startswith("mailer: etcd unreadable (")
    for endpoint in dead:
        assert f"{endpoint}: connection refused" in first
    assert second == f"mailer: the local marker {marker} names this host; starting"

    marker.unlink()
    proc = guard("/it/placement/dead", marker, dead, "--when-unreadable", "marker", "--wait", "0")
    assert proc.returncode == 1, proc.stdout
    assert f"no local marker {marker}" in proc.stdout


def test_first_endpoint_dead_second_live_decides(cluster, marker):
    put(cluster, "/it/placement/failover", OTHER)
    marker.write_text(HOST + "\n")
    live = cluster.endpoints(["e2"])[0]
    proc = guard("/it/placement/failover", marker, [*dead_endpoints(cluster, 1), live])
    assert proc.returncode == 1, proc.stdout
    assert f"placed on {OTHER}" in proc.stdout

    proc = guard("/it/placement/failover", marker, [*dead_endpoints(cluster, 1), live], host=OTHER)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == f"mailer: placed on {OTHER} (etcd /it/placement/failover); starting\n"


def test_comma_separated_endpoints_and_a_tls_mismatch_move_on(cluster, marker):
    put(cluster, "/it/placement/comma", HOST)
    live = cluster.endpoints(["e3"])[0]
    https_on_plain = live.replace("http://", "https://")  # etcd answers plain HTTP: a TLS error, next endpoint
    proc = guard("/it/placement/comma", marker, [f"{https_on_plain},{live}"])
    assert proc.returncode == 0, proc.stdout


def test_endpoints_that_hang_are_bounded_by_the_timeout(cluster, marker):
    # sockets that accept (in the kernel backlog) and never answer: the worst case, a read timeout on each
    listeners = []
    try:
        for port, _peer in free_port_pairs(3, taken={int(u.rsplit(":", 1)[1]) for u in cluster.endpoints()}):
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.listen(8)
            listeners.append(s)
        hung = [f"http://127.0.0.1:{s.getsockname()[1]}" for s in listeners]
        marker.write_text(HOST + "\n")
        proc = guard("/it/placement/hung", marker, hung, "--when-unreadable", "marker", "--wait", "0", timeout=0.5)
    finally:
        for s in listeners:
            s.close()
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("timed out after 0.5 s") == 3, proc.stdout
    assert proc.elapsed < 3 * 0.5 + 2, proc.elapsed  # ~3 x timeout, plus the interpreter's start


def test_bad_endpoint_fails_the_unit(cluster, marker):
    argv = [sys.executable, str(SCRIPT), "--service", "mailer", "--host", HOST, "--key", "/k", "--marker", str(marker)]
    proc = subprocess.run(
        [*argv, "--endpoint", "127.0.0.1:2379"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 255
    assert proc.stdout.startswith("mailer: bad arguments:") and "--endpoint" in proc.stdout
    assert proc.stderr == ""


def test_a_member_without_quorum_does_not_decide_from_stale_data(cluster, marker):
    """Last: stops two members. The survivor still holds the key naming this host, but cannot answer a
    linearizable read: by default the start fails; with --when-unreadable marker the marker decides."""
    put(cluster, "/it/placement/minority", HOST)
    survivor = cluster.endpoints(["e1"])[0]
    cluster.members["e2"].stop()
    cluster.members["e3"].stop()
    marker.write_text(HOST + "\n")
    proc = guard("/it/placement/minority", marker, [survivor], "--wait", "0", timeout=1)
    assert proc.returncode == 255, proc.stdout
    marker.write_text(OTHER + "\n")
    proc = guard("/it/placement/minority", marker, [survivor], "--when-unreadable", "marker", "--wait", "0", timeout=1)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.startswith(f"mailer: etcd unreadable ({survivor}: ")
    assert f"names {OTHER}, not {HOST}" in proc.stdout
