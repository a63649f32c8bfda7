"""A real Patroni 4.1.5 cluster on 127.0.0.1 for the integration tests: 3 etcd members plus N Patroni/PostgreSQL 15
members, each with its own data directory. Checked from outside the modules with requests (REST) and psycopg (SQL).

Patroni comes from a cached venv (.cache/patroni-venv, created with pip when missing); PostgreSQL from Debian's
postgresql-15 binaries. PostgreSQL refuses to run as root, so as root the members run as the `postgres` OS user in a
directory it owns.
"""

import contextlib
import json
import os
import pathlib
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg
import pytest
import requests
from etcd_cluster import EtcdCluster, port_is_free, require_etcd

ROOT = pathlib.Path(__file__).resolve().parents[2]
PATRONI_VERSION = "4.1.5"
PATRONI_VENV = ROOT / ".cache" / "patroni-venv"
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
SCOPE = "apiha-it"
REST_USER, REST_PASSWORD = "patroni", "rest-secret"
SUPERUSER, SUPERUSER_PASSWORD = "postgres", "pg-secret"
PORTS = range(25400, 25700)


def require_postgres():
    if not (PG_BIN / "postgres").exists():
        pytest.fail(f"{PG_BIN}/postgres not found: install postgresql-15 (make host)")


def patroni_bin():
    """The patroni executable of the cached venv, installed with pip on first use."""
    exe = PATRONI_VENV / "bin" / "patroni"
    marker = PATRONI_VENV / f".patroni-{PATRONI_VERSION}-system-python"
    if not marker.exists():
        shutil.rmtree(PATRONI_VENV, ignore_errors=True)
        # The system interpreter, not the caller's: the postgres user must be able to run the venv's python (a pyenv
        # or /root-owned interpreter behind the venv's symlink is out of its reach).
        base = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else "python3"
        subprocess.run([base, "-m", "venv", str(PATRONI_VENV)], check=True, timeout=120)
        subprocess.run(
            [
                str(PATRONI_VENV / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"patroni[etcd3,psycopg3]=={PATRONI_VERSION}",
            ],
            check=True,
            timeout=600,
        )
        marker.touch()
    return exe


def free_ports(count):
    ports = [p for p in PORTS if port_is_free(p)][:count]
    if len(ports) < count:
        raise RuntimeError(f"not {count} free ports in 127.0.0.1:{PORTS.start}-{PORTS.stop}")
    return ports


class PatroniMember:
    def __init__(self, name, workdir, pg_port, api_port):
        self.name = name
        self.dir = workdir / name
        self.pg_port = pg_port
        self.api_port = api_port
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.config = self.dir / "patroni.yml"
        self.log_path = self.dir / "patroni.log"
        self.proc = None

    def write_config(self, etcd_hosts, tls=None):
        d = self.dir
        host = "hostssl" if tls else "host"
        config = {
            "scope": SCOPE,
            "name": self.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{self.api_port}",
                "connect_address": f"127.0.0.1:{self.api_port}",
                "authentication": {"username": REST_USER, "password": REST_PASSWORD},
            },
            "etcd3": {"hosts": etcd_hosts},
            "bootstrap": {
                "dcs": {
                    "ttl": 15,
                    "loop_wait": 2,
                    "retry_timeout": 5,
                    "maximum_lag_on_failover": 1048576,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "wal_log_hints": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "64MB",
                            "wal_sender_timeout": "10s",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"auth-local": "trust"}],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port}",
                "connect_address": f"127.0.0.1:{self.pg_port}",
                "data_dir": str(d / "data"),
                "bin_dir": str(PG_BIN),
                "pgpass": str(d / "pgpass"),
                "authentication": {
                    "superuser": {"username": SUPERUSER, "password": SUPERUSER_PASSWORD},
                    "replication": {"username": "replicator", "password": "repl-secret"},
                    "rewind": {"username": "rewinder", "password": "rewind-secret"},
                },
                "parameters": {
                    "unix_socket_directories": str(d),
                    "shared_buffers": "16MB",
                    "max_connections": 30,
                    "fsync": "off",
                    "synchronous_commit": "off",
                },
                "pg_hba": [
                    "local all all trust",
                    f"{host} replication replicator 127.0.0.1/32 scram-sha-256",
                    f"{host} all all 127.0.0.1/32 scram-sha-256",
                ],
            },
        }
        if tls:
            # The settings the patroni role writes with TLS on (roles/patroni/templates/config.yml.j2), with the files
            # copied into the member's directory (PostgreSQL wants its key owned by the user it runs as).
            files = {}
            for key, src in (("ca", tls.ca), ("cert", tls.cert), ("key", tls.key)):
                files[key] = d / f"tls-{key}.pem"
                shutil.copyfile(src, files[key])
                files[key].chmod(0o600)
            config["etcd3"].update(
                protocol="https", cacert=str(files["ca"]), cert=str(files["cert"]), key=str(files["key"])
            )
            config["postgresql"]["parameters"].update(
                ssl="on", ssl_cert_file=str(files["cert"]), ssl_key_file=str(files["key"]), ssl_ca_file=str(files["ca"])
            )
            for user in ("replication", "rewind"):
                config["postgresql"]["authentication"][user].update(sslmode="verify-ca", sslrootcert=str(files["ca"]))
        self.config.write_text(json.dumps(config, indent=1))  # JSON is YAML

    def start(self, exe, user):
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        kwargs = {"user": user, "group": user} if user else {}
        self.proc = subprocess.Popen(
            [str(exe), str(self.config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            env=env,
            start_new_session=True,
            **kwargs,
        )

    def terminate(self):
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self):
        if self.proc is None:
            return
        self.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self._log.close()
        self.proc = None
        # postgres runs in its own process group when Patroni dies hard: stop it with its postmaster.pid
        pid_file = self.dir / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGQUIT)

    def log_tail(self, lines=25):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def connect(self, **kwargs):
        return psycopg.connect(
            host="127.0.0.1",
            port=self.pg_port,
            user=SUPERUSER,
            password=SUPERUSER_PASSWORD,
            dbname="postgres",
            connect_timeout=5,
            autocommit=True,
            **kwargs,
        )

    def sql(self, query, params=None):
        with self.connect() as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


class PatroniCluster:
    def __init__(self, workdir, names, tls=None):
        self.workdir = pathlib.Path(workdir)
        self.tls = tls
        self.etcd = EtcdCluster(self.workdir / "etcd", tls=tls)
        ports = free_ports(2 * len(names))
        self.members = {n: PatroniMember(n, self.workdir, ports[2 * i], ports[2 * i + 1]) for i, n in enumerate(names)}
        self.user = "postgres" if os.geteuid() == 0 else None

    def start(self, timeout=90):
        (self.workdir / "etcd").mkdir(parents=True, exist_ok=True)
        self.etcd.bootstrap(["pe1", "pe2", "pe3"])
        exe = patroni_bin()
        hosts = [u.split("://", 1)[1] for u in self.etcd.endpoints()]
        for m in self.members.values():
            m.dir.mkdir(parents=True, exist_ok=True)
            m.write_config(hosts, self.tls)
        if self.user:
            pw = pwd.getpwnam(self.user)
            for path in [self.workdir, *(p for m in self.members.values() for p in (m.dir, *m.dir.iterdir()))]:
                os.chown(path, pw.pw_uid, pw.pw_gid)
        for m in self.members.values():  # together: one wins the initialize key, the others clone from it
            m.start(exe, self.user)
        self.wait_streaming(timeout)

    def stop(self):
        """SIGTERM every member at once (one by one, each stop would trigger a failover among the rest)."""
        for m in self.members.values():
            m.terminate()
        for m in self.members.values():
            m.stop()
        self.etcd.stop_all()

    # -- reading the cluster from outside the modules ----------------------------------------------------------------

    def rest(self, method, path, member=None, auth=True, **kwargs):
        url = (member or self.any_member()).api_url + path
        return requests.request(method, url, auth=(REST_USER, REST_PASSWORD) if auth else None, timeout=10, **kwargs)

    def any_member(self):
        return next(m for m in self.members.values() if m.proc is not None and m.proc.poll() is None)

    def cluster(self):
        """GET /cluster as {'members': [...], 'leader': name or None, 'pause': bool}; None when nobody answers."""
        for m in self.members.values():
            try:
                data = requests.get(m.api_url + "/cluster", timeout=3).json()
            except (requests.RequestException, ValueError):
                continue
            leader = next((x["name"] for x in data.get("members", []) if x.get("role") == "leader"), None)
            return {"members": data.get("members", []), "leader": leader, "pause": bool(data.get("pause"))}
        return None

    def leader(self):
        c = self.cluster()
        return c["leader"] if c else None

    def replicas(self):
        return [n for n in self.members if n != self.leader()]

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            c = self.cluster()
            if predicate(c):
                return c
            dead = [n for n, m in self.members.items() if m.proc is not None and m.proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}\n{m.log_tail()}" for n, m in self.members.items())
                raise AssertionError(f"timed out waiting for {what} (exited: {dead}); cluster: {c}\n{tails}")
            time.sleep(0.5)

    def wait_streaming(self, timeout=60):
        """Every member listed, one leader, every replica streaming with a known lag."""

        def ok(c):
            if not c or not c["leader"] or len(c["members"]) != len(self.members):
                return False
            return all(
                x["role"] == "leader" or (x.get("state") == "streaming" and isinstance(x.get("lag"), int))
                for x in c["members"]
            )

        return self.wait(ok, timeout, "every replica streaming")

    def set_pause(self, value):
        r = self.rest("PATCH", "/config", json={"pause": value})
        assert r.status_code == 200, r.text
        self.wait(lambda c: c and c["pause"] is value, 20, f"pause={value}")


def make_workdir():
    """A directory the postgres user can reach (pytest's basetemp is 0700 root) — removed by the fixture."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="apiha-patroni-"))
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def patroni_cluster(names=("pg1", "pg2", "pg3"), tls=None):
    require_etcd()
    require_postgres()
    workdir = make_workdir()
    cluster = PatroniCluster(workdir, names, tls=tls)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
