"""The apiplatform.ha REFERENCE PLATFORM (tests/reference_platform: the project's stand-in for the API-testing
platform's services) against real dependencies on 127.0.0.1.

A plain PostgreSQL 15 (initdb + pg_ctl of Debian's binaries, as the `postgres` user when run as root), one RabbitMQ
3.10 node from the rabbitmq_cluster harness and a 3-member MongoDB replica-set SIMULATOR (tests/mongodb_simulator,
not MongoDB) from its harness. The services run as real processes (`python -m apiha_reference <service>`) and are
checked from outside: HTTP, SQL, pymongo, the RabbitMQ management API. Every wait is bounded.
"""

import contextlib
import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid

import psycopg
import pytest
import requests
from mongodb_simulator_harness import SimulatorSet
from rabbitmq_cluster import ADMIN_PASSWORD, ADMIN_USER, RabbitMQCluster, require_rabbitmq

ROOT = pathlib.Path(__file__).resolve().parents[2]
REF_DIR = ROOT / "tests" / "reference_platform"
BUILD = REF_DIR / "build_artifact.py"
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
PORTS = range(24800, 25000)
DB, DB_USER, DB_PASSWORD = "apiha", "apiha_app", "app-secret-pw"
_taken = set()


def free_port():
    for port in PORTS:
        if port in _taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError(f"no free port in 127.0.0.1:{PORTS.start}-{PORTS.stop - 1}")


def wait_for(predicate, timeout, what, interval=0.25, on_fail=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # keep polling, report the last error
            last = exc
        time.sleep(interval)
    extra = on_fail() if on_fail else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last!r})\n{extra}")


# -- a plain PostgreSQL ------------------------------------------------------------------------------------------------


class PlainPostgres:
    """One PostgreSQL 15 instance in its own directory; run as `postgres` when the tests run as root."""

    def __init__(self, workdir):
        self.dir = pathlib.Path(workdir)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args, timeout=60):
        kwargs = {"user": self.user, "group": self.user} if self.user else {}
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(self.dir)}
        out = subprocess.run(
            [str(a) for a in args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.dir,
            env=env,
            **kwargs,
        )
        if out.returncode != 0:
            raise AssertionError(f"{args[0]} failed (rc={out.returncode}):\n{out.stdout}\n{out.stderr}\n{self.tail()}")
        return out

    def init(self):
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-sync",
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                "fsync = off\nsynchronous_commit = off\nshared_buffers = 16MB\nmax_connections = 40\n"
            )
        self.start()
        self.sql(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
        self.sql(f"CREATE DATABASE {DB} OWNER {DB_USER}")

    def start(self):
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "start")

    def stop(self):
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")

    def kill(self):
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int((self.data / "postmaster.pid").read_text().splitlines()[0]), signal.SIGQUIT)

    def sql(self, query, params=None, dbname="postgres"):
        with psycopg.connect(
            host=str(self.dir), port=self.port, user="postgres", dbname=dbname, autocommit=True, connect_timeout=5
        ) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def tail(self, lines=20):
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no postgres log)"


# -- the reference platform's processes ------------------------------------------------------------------------------


class ServiceProcess:
    def __init__(self, name, env, workdir):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = pathlib.Path(workdir) / f"{name}-{self.port}.log"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(REF_DIR),
            "PYTHONDONTWRITEBYTECODE": "1",  # keep the artifact's source tree free of __pycache__
            "APIHA_INSTANCE": f"it-{name}",
            "APIHA_LISTEN": f"127.0.0.1:{self.port}",
            **env,
        }
        self.proc = None

    def start(self, wait=True):
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "apiha_reference", self.name],
            env=self.env,
            cwd=REF_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            wait_for(self._answers, 15, f"{self.name} to answer on {self.url}", on_fail=self.tail)
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}\n{self.tail()}")
        requests.get(self.url + "/health", timeout=3)
        return True

    def health(self):
        r = requests.get(self.url + "/health", timeout=5)
        return r.status_code, r.json()

    def wait_health(self, status, timeout):
        return wait_for(lambda: self.health()[0] == status, timeout, f"{self.name} /health {status}", on_fail=self.tail)

    def stop(self, timeout=6):
        """SIGTERM; returns (exit code, seconds it took). SIGKILL (and rc None) when it overstays ``timeout``."""
        if self.proc is None:
            return None, 0.0
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
            rc = None
        self.proc = None
        self._log.close()
        return rc, time.monotonic() - start

    def tail(self, lines=30):
        with contextlib.suppress(OSError):
            return f"--- {self.name} log\n" + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


# -- fixtures ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deps(tmp_path_factory):
    """PostgreSQL, one RabbitMQ node and a 3-member replica-set simulator, started side by side."""
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"{PG_BIN}/postgres not found: install postgresql-15 (make host)")
    require_rabbitmq()
    pg_dir = pathlib.Path(tempfile.mkdtemp(prefix="apiha-refpg-"))
    pg_dir.chmod(0o755)
    rmq_dir = pathlib.Path(tempfile.mkdtemp(prefix="apiha-refrmq-"))
    rmq = RabbitMQCluster(rmq_dir, count=1)
    rmq_error = []

    def boot_rabbitmq():
        try:
            rmq.start_all()
        except BaseException as exc:
            rmq_error.append(exc)

    rmq_thread = threading.Thread(target=boot_rabbitmq, daemon=True)
    rmq_thread.start()
    pg = PlainPostgres(pg_dir)
    sims = SimulatorSet(tmp_path_factory.mktemp("refsim"), 3)
    try:
        sims.start_all()
        sims.initiate([{"priority": 2}, {}, {}])
        pg.init()
        sims.wait_primary()
        rmq_thread.join(120)
        if rmq_error or rmq_thread.is_alive():
            raise AssertionError(f"RabbitMQ did not start: {rmq_error}")
        node = rmq.nodes[0]
        dead = free_port()  # nothing listens there: each client must skip it and use the next address
        env = {
            "APIHA_POSTGRESQL_HOSTS": f"127.0.0.1:{dead},127.0.0.1:{pg.port}",
            "APIHA_POSTGRESQL_DATABASE": DB,
            "APIHA_POSTGRESQL_USER": DB_USER,
            "APIHA_POSTGRESQL_PASSWORD": DB_PASSWORD,
            "APIHA_MONGODB_URI": f"mongodb://{','.join(m.host for m in sims.members)}/apiha_it?replicaSet=rs0",
            "APIHA_AMQP_URLS": (
                f"amqp://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{dead}/%2F,"
                f"amqp://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{node.amqp_port}/%2F"
            ),
            "APIHA_SCHEDULER_INTERVAL": "0.5",
        }
        yield {"pg": pg, "rmq": rmq, "sims": sims, "env": env, "logs": tmp_path_factory.mktemp("reflogs")}
    finally:
        sims.close()
        pg.kill()
        rmq_thread.join(60)
        rmq.teardown()
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(rmq_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def dashboard(deps):
    svc = ServiceProcess("dashboard", deps["env"], deps["logs"]).start()
    try:
        svc.wait_health(200, 20)
        yield svc
    finally:
        rc, took = svc.stop()
        print(svc.tail())
        assert rc == 0 and took < 5.5, f"dashboard did not stop cleanly on SIGTERM (rc={rc}, {took:.1f} s)"


def pg_app_sql(deps, query, params=None):
    return deps["pg"].sql(query, params, dbname=DB)


# -- tests -------------------------------------------------------------------------------------------------------------


def test_dashboard_health_and_root(dashboard):
    status, body = dashboard.health()
    assert status == 200, body
    assert body["service"] == "dashboard" and body["instance"] == "it-dashboard" and body["version"] == "1.0.0"
    deps = body["dependencies"]
    assert deps["postgresql"]["ok"] and deps["mongodb"]["ok"], deps
    assert set(deps) == {"postgresql", "mongodb", "rabbitmq"}
    assert deps["rabbitmq"]["ok"], deps
    assert DB_PASSWORD not in json.dumps(body) and ADMIN_PASSWORD not in json.dumps(body)
    r = requests.get(dashboard.url + "/", timeout=5)
    assert r.status_code == 200 and r.text == "dashboard it-dashboard 1.0.0\n"
    assert r.headers["X-Apiha-Instance"] == "it-dashboard"
    assert requests.get(dashboard.url + "/nope", timeout=5).headers["X-Apiha-Instance"] == "it-dashboard"


def test_login_whoami_and_unknown_session(dashboard):
    s = requests.Session()
    r = s.post(dashboard.url + "/login", data={"user": "alice"}, timeout=5)
    assert r.status_code == 200 and r.json() == {"user": "alice", "instance": "it-dashboard"}
    assert "HttpOnly" in r.headers["Set-Cookie"] and "Path=/" in r.headers["Set-Cookie"]
    r = s.get(dashboard.url + "/whoami", timeout=5)
    assert r.status_code == 200 and r.json() == {"user": "alice", "instance": "it-dashboard"}
    r = requests.get(dashboard.url + "/whoami", cookies={"APIHA_SESSION": "made-on-another-instance"}, timeout=5)
    assert r.status_code == 401 and r.json()["instance"] == "it-dashboard"
    assert requests.get(dashboard.url + "/whoami", timeout=5).status_code == 401


def test_data_lands_in_both_stores(dashboard, deps):
    value = f"v-{uuid.uuid4().hex[:8]}"
    assert requests.post(dashboard.url + "/data", data={"value": value}, timeout=5).status_code == 401
    s = requests.Session()
    s.post(dashboard.url + "/login", data={"user": "bob"}, timeout=5)
    r = s.post(dashboard.url + "/data", data={"value": value}, timeout=15)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["value"] == value and body["instance"] == "it-dashboard" and body["mongodb_id"]
    r = s.get(dashboard.url + "/data", params={"value": value}, timeout=15)
    assert r.status_code == 200 and r.json()["postgresql"] == 1 and r.json()["mongodb"] == 1, r.text
    # from outside the service
    assert pg_app_sql(deps, "SELECT id, instance FROM dashboard_items WHERE value = %s", (value,)) == [
        (body["id"], "it-dashboard")
    ]
    coll = deps["sims"].rs_client()["apiha_it"]["dashboard_items"]
    assert coll.count_documents({"value": value, "pg_id": body["id"]}) == 1


def test_scheduler_worker_mailer_chain(deps):
    procs = [ServiceProcess(n, deps["env"], deps["logs"]) for n in ("scheduler", "worker", "mailer")]
    try:
        for p in procs:
            p.start()
        scheduler, worker, mailer = procs

        def delivered():
            rows = pg_app_sql(
                deps,
                "SELECT r.job_id, r.kind, r.worker, m.worker FROM job_results r JOIN mail_log m USING (job_id)",
            )
            return rows if len(rows) >= 2 else None

        def tails():
            return "\n".join(p.tail() for p in procs)

        rows = wait_for(delivered, 30, "two jobs in job_results and mail_log", interval=0.5, on_fail=tails)
        assert {r[2] for r in rows} == {"it-worker"} and {r[3] for r in rows} == {"it-worker"}
        assert {r[1] for r in rows} <= {"core-server", "downloader"}
        for p in procs:
            status, body = p.health()
            assert status == 200, (p.name, body)
        _status, sched = scheduler.health()
        assert sched["jobs"]["confirmed"] >= 2 and sched["jobs"]["failed"] == 0, sched
        _status, work = worker.health()
        assert work["processed"] >= 2 and work["worker_kind"] == "core-server", work
        _status, mail = mailer.health()
        assert mail["processed"] >= 2 and mail["dependencies"]["rabbitmq"]["ok"], mail
        for queue in ("apiha.jobs", "apiha.notifications"):
            q = deps["rmq"].api(0, "GET", f"/api/queues/%2F/{queue}").json()
            assert q["type"] == "quorum" and q["durable"] is True, q
    finally:
        results = {p.name: p.stop() for p in procs}
    for name, (rc, took) in results.items():
        assert rc == 0 and took < 5.5, f"{name} did not stop cleanly on SIGTERM (rc={rc}, {took:.1f} s)"


def test_connector_heartbeats(deps):
    svc = ServiceProcess("connector", deps["env"], deps["logs"]).start()
    try:
        svc.wait_health(200, 15)
        _status, body = svc.health()
        assert body["dependencies"]["postgresql"]["ok"] and body["dependencies"]["mongodb"]["ok"], body
        assert pg_app_sql(deps, "SELECT instance FROM connector_heartbeat") == [("it-connector",)]
        coll = deps["sims"].rs_client()["apiha_it"]["connector_heartbeats"]
        assert coll.count_documents({"instance": "it-connector"}) >= 1
    finally:
        rc, took = svc.stop()
    assert rc == 0 and took < 5.5, f"connector did not stop cleanly (rc={rc}, {took:.1f} s)"


def test_missing_postgresql_hosts_exits_2(deps):
    env = {k: v for k, v in deps["env"].items() if k != "APIHA_POSTGRESQL_HOSTS"}
    env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), PYTHONPATH=str(REF_DIR), PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [sys.executable, "-m", "apiha_reference", "dashboard"],
        env=env,
        cwd=REF_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "APIHA_POSTGRESQL_HOSTS" in lines[0] and "Traceback" not in out.stderr, out.stderr


def test_health_follows_postgresql_outage(dashboard, deps):
    dashboard.wait_health(200, 10)
    deps["pg"].stop()
    try:
        dashboard.wait_health(503, 15)
        _status, body = dashboard.health()
        assert body["dependencies"]["postgresql"]["ok"] is False and body["dependencies"]["mongodb"]["ok"], body
        assert requests.get(dashboard.url + "/", timeout=5).status_code == 200  # no database behind /
    finally:
        deps["pg"].start()
    dashboard.wait_health(200, 20)  # reconnected by itself
    s = requests.Session()
    s.post(dashboard.url + "/login", data={"user": "carol"}, timeout=5)
    r = s.post(dashboard.url + "/data", data={"value": "after-outage"}, timeout=15)
    assert r.status_code == 201, r.text
    log = dashboard.log_path.read_text(errors="replace")
    assert DB_PASSWORD not in log and ADMIN_PASSWORD not in log


def test_build_artifact_is_reproducible(tmp_path):
    def build(out, *extra):
        res = subprocess.run(
            [sys.executable, str(BUILD), "--out", str(out), *extra],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(res.stdout.strip().splitlines()[-1])

    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert a["version"] == "1.0.0" and a["sha256"] == b["sha256"]
    artifact = pathlib.Path(a["artifact"])
    assert artifact.name == "apiha-reference-1.0.0.tar.gz"
    assert (artifact.parent / (artifact.name + ".sha256")).read_text() == f"{a['sha256']}  {artifact.name}\n"
    with tarfile.open(artifact) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert "apiha-reference-1.0.0/requirements.txt" in names
        assert "apiha-reference-1.0.0/apiha_reference/__main__.py" in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, members[0].mtime)}
    c = build(tmp_path / "c", "--version", "1.1.0")
    with tarfile.open(c["artifact"]) as tar:
        init = tar.extractfile("apiha-reference-1.1.0/apiha_reference/__init__.py").read().decode()
    assert '__version__ = "1.1.0"' in init and c["version"] == "1.1.0"
    assert (REF_DIR / "apiha_reference" / "__init__.py").read_text().count('__version__ = "1.0.0"') == 1
