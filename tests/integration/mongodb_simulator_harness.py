"""Start/stop apiplatform.ha replica-set simulator processes (tests/mongodb_simulator, NOT MongoDB) for pytest.

    with SimulatorSet(tmp_path, 3, heartbeat_interval=0.3) as rs:
        rs.initiate([{"priority": 2}, {}, {"arbiterOnly": True}])
        primary = rs.wait_primary()
        rs.client(primary).app.things.insert_one({"x": 1})

Every process runs `python -m mongodb_simulator --config <tmp>/m<i>/mongod.conf` on 127.0.0.1 with a free port from
27100-27899, logs to <tmp>/m<i>/mongod.log; close() (or leaving the with block) SIGKILLs whatever is left. Every wait
is bounded and names what it waited for; on a failed wait the members' logs are printed.

TLS: ``certs = make_test_certs(tmp_path / "pki")`` makes a throw-away CA and a server certificate for localhost and
127.0.0.1 with openssl; ``SimulatorSet(..., tls=certs)`` writes net.tls (requireTLS, certificateKeyFile, CAFile,
allowConnectionsWithoutCertificates unless ``tls_client_certificates=True``) into every mongod.conf, and the
harness's own clients (client, rs_client, admin, status...) then connect with TLS and that CA.
"""

import contextlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import types

import pymongo
import yaml

TESTS_DIR = pathlib.Path(__file__).resolve().parents[1]
PORTS = range(27100, 27900)


class SimulatorWaitError(AssertionError):
    pass


def port_is_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_used_ports = set()


def free_ports(count):
    found = []
    for port in PORTS:
        if port in _used_ports or not port_is_free(port):
            continue
        found.append(port)
        if len(found) == count:
            _used_ports.update(found)
            return found
    raise RuntimeError(f"no {count} free ports in 127.0.0.1:{PORTS.start}-{PORTS.stop - 1}")


def _openssl(workdir, *args):
    args = [str(a) for a in args]
    proc = subprocess.run(
        ["openssl", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed (rc={proc.returncode}): {proc.stderr.strip()}")


def make_test_certs(directory, name="test", hosts=("localhost", "127.0.0.1"), days=2):
    """Throw-away PKI in ``directory`` (openssl, RSA 2048): a CA and one certificate signed by it for ``hosts`` (CN
    is the first; every host is a subjectAltName, IP or DNS), usable by a server and as a client certificate.

    Returns a namespace of paths: ca (CA certificate, PEM), cert, key (mode 0600), pem (cert followed by key, 0600),
    and ca_key. Every file belongs to the current user, who runs the servers of the tests.
    """
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ca, ca_key = d / f"{name}-ca.pem", d / f"{name}-ca.key"
    cert, key, csr, pem = d / f"{name}.crt", d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
    ext = d / f"{name}.ext"
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    subj = f"/CN=apiplatform.ha {name} test CA"
    new_key = ["req", "-newkey", "rsa:2048", "-nodes"]
    _openssl(d, *new_key, "-x509", "-days", days, "-keyout", ca_key, "-out", ca, "-subj", subj, *ca_ext)
    sans = ",".join(("IP:" if h.replace(".", "").isdigit() or ":" in h else "DNS:") + h for h in hosts)
    ext.write_text(
        f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    _openssl(d, *new_key, "-keyout", key, "-out", csr, "-subj", f"/CN={hosts[0]}")
    serial = int.from_bytes(os.urandom(8), "big")
    sign = ["x509", "-req", "-days", str(days), "-set_serial", serial, "-CA", ca, "-CAkey", ca_key]
    _openssl(d, *sign, "-in", csr, "-out", cert, "-extfile", ext)
    pem.write_text(cert.read_text() + key.read_text())
    for secret in (key, pem, ca_key):
        secret.chmod(0o600)
    return types.SimpleNamespace(ca=ca, cert=cert, key=key, pem=pem, ca_key=ca_key)


class SimulatorMember:
    def __init__(self, index, port, workdir):
        self.index = index
        self.port = port
        self.dir = workdir / f"m{index}"
        self.db_path = self.dir / "db"
        self.conf_path = self.dir / "mongod.conf"
        self.log_path = self.dir / "mongod.log"
        self.stdout_path = self.dir / "stdout.log"
        self.proc = None
        self._out = None

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"


class SimulatorSet:
    def __init__(
        self,
        workdir,
        count,
        set_name="rs0",
        heartbeat_interval=0.3,
        election_timeout=1.5,
        oplog_window=3600,
        initial_sync_seconds=1,
        noop_interval=1,
        key_file=False,
        authorization=False,
        extra_conf=None,
        tls=None,
        tls_client_certificates=False,
    ):
        self.workdir = pathlib.Path(workdir)
        self.set_name = set_name
        # pymongo options of the harness's own clients
        self.client_options = {}
        if tls is not None:
            self.client_options = {"tls": True, "tlsCAFile": str(tls.ca)}
            if tls_client_certificates:
                self.client_options["tlsCertificateKeyFile"] = str(tls.pem)
        self.options = {
            "--heartbeat-interval": heartbeat_interval,
            "--election-timeout": election_timeout,
            "--oplog-window": oplog_window,
            "--initial-sync-seconds": initial_sync_seconds,
            "--noop-interval": noop_interval,
        }
        self.members = [SimulatorMember(i, p, self.workdir) for i, p in enumerate(free_ports(count))]
        self._clients = []
        for m in self.members:
            m.db_path.mkdir(parents=True, exist_ok=True)
            conf = {
                "storage": {"dbPath": str(m.db_path)},
                "net": {"port": m.port, "bindIp": "127.0.0.1"},
                "replication": {"replSetName": set_name},
                "systemLog": {"destination": "file", "path": str(m.log_path), "logAppend": True},
            }
            if key_file:
                kf = m.dir / "keyfile"
                kf.write_text("simulator-shared-key-0123456789\n")
                kf.chmod(0o600)
                conf["security"] = {"keyFile": str(kf)}
            if authorization:
                conf.setdefault("security", {})["authorization"] = "enabled"
            if tls is not None:
                conf["net"]["tls"] = {
                    "mode": "requireTLS",
                    "certificateKeyFile": str(tls.pem),
                    "CAFile": str(tls.ca),
                    "allowConnectionsWithoutCertificates": not tls_client_certificates,
                }
            for k, v in (extra_conf or {}).items():
                conf.setdefault(k, {}).update(v)
            m.conf_path.write_text(yaml.safe_dump(conf))

    # ------------------------------------------------------------------ processes
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.print_logs()
        self.close()

    def host(self, i):
        return self.members[i].host

    def index_of(self, host):
        for m in self.members:
            if m.host == host:
                return m.index
        raise KeyError(host)

    def start(self, i, extra_args=(), wait=True):
        m = self.members[i]
        if m.proc is not None and m.proc.poll() is None:
            raise RuntimeError(f"simulator member {i} is already running")
        env = dict(os.environ)
        # SIMULATOR_PYTHONPATH: extra entries for the simulator processes only (e.g. a pymongo 3.11 tree as in the lab).
        paths = [env.get("SIMULATOR_PYTHONPATH", ""), str(TESTS_DIR), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        args = [sys.executable, "-m", "mongodb_simulator", "--config", str(m.conf_path)]
        for flag, value in self.options.items():
            args += [flag, str(value)]
        args += list(extra_args)
        m._out = open(m.stdout_path, "ab")  # noqa: SIM115 - closed in stop/kill/close
        m.proc = subprocess.Popen(args, stdout=m._out, stderr=subprocess.STDOUT, env=env, cwd=str(m.dir))
        if wait:
            self.wait_for(lambda: self._answers(i), 10, f"simulator member {i} ({m.host}) to accept connections")
        return m.proc

    def start_all(self):
        for i in range(len(self.members)):
            self.start(i, wait=False)
        for i in range(len(self.members)):
            self.wait_for(lambda i=i: self._answers(i), 10, f"simulator member {i} to accept connections")

    def _answers(self, i):
        m = self.members[i]
        if m.proc is not None and m.proc.poll() is not None:
            raise SimulatorWaitError(f"simulator member {i} exited with {m.proc.returncode}\n{self.logs(i)}")
        try:
            with socket.create_connection(("127.0.0.1", m.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _finish(self, m, sig, timeout):
        if m.proc is None:
            return None
        if m.proc.poll() is None:
            m.proc.send_signal(sig)
            try:
                m.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait(5)
        rc = m.proc.returncode
        m.proc = None
        if m._out:
            m._out.close()
            m._out = None
        return rc

    def stop(self, i, timeout=10):
        """SIGTERM (clean shutdown); returns the exit code."""
        return self._finish(self.members[i], signal.SIGTERM, timeout)

    def kill(self, i):
        """SIGKILL."""
        return self._finish(self.members[i], signal.SIGKILL, 5)

    def running(self, i):
        m = self.members[i]
        return m.proc is not None and m.proc.poll() is None

    def wipe(self, i):
        """Delete the member's dbPath contents (only while it is stopped)."""
        if self.running(i):
            raise RuntimeError(f"simulator member {i} must be stopped before wipe()")
        db = self.members[i].db_path
        for child in db.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def close(self):
        for c in self._clients:
            with contextlib.suppress(Exception):
                c.close()
        self._clients = []
        for m in self.members:
            self._finish(m, signal.SIGKILL, 5)

    # ------------------------------------------------------------------ clients and helpers
    def client(self, i, **kw):
        """A pymongo MongoClient with directConnection=True to member i (closed by close())."""
        kw.setdefault("serverSelectionTimeoutMS", 3000)
        kw.setdefault("connectTimeoutMS", 2000)
        kw.setdefault("socketTimeoutMS", 20000)
        kw = {**self.client_options, **kw}
        c = pymongo.MongoClient(f"mongodb://{self.host(i)}/", directConnection=True, **kw)
        self._clients.append(c)
        return c

    def rs_client(self, **kw):
        """A pymongo MongoClient with replicaSet=<name> over every member's address."""
        kw.setdefault("serverSelectionTimeoutMS", 10000)
        kw = {**self.client_options, **kw}
        seeds = ",".join(m.host for m in self.members)
        c = pymongo.MongoClient(f"mongodb://{seeds}/?replicaSet={self.set_name}", **kw)
        self._clients.append(c)
        return c

    def admin(self, i, command, **kw):
        """Run one admin command on member i with a short-lived direct client."""
        with pymongo.MongoClient(
            f"mongodb://{self.host(i)}/",
            directConnection=True,
            serverSelectionTimeoutMS=3000,
            connectTimeoutMS=2000,
            **self.client_options,
        ) as c:
            return c.admin.command(command, **kw)

    def initiate(self, members=None, on=0, settings=None):
        """replSetInitiate on member `on`; members: per-member option dicts (host/_id default to member i)."""
        members = members if members is not None else [{} for _member in self.members]
        cfg_members = []
        for i, opts in enumerate(members):
            mem = {"_id": i, "host": self.host(i) if i < len(self.members) else None}
            mem.update(opts)
            cfg_members.append(mem)
        cfg = {"_id": self.set_name, "version": 1, "members": cfg_members}
        if settings:
            cfg["settings"] = settings
        return self.admin(on, {"replSetInitiate": cfg})

    def status(self, i):
        """replSetGetStatus of member i, or None when it does not answer / has no config."""
        try:
            return self.admin(i, "replSetGetStatus")
        except pymongo.errors.PyMongoError:
            return None

    def state_of(self, i, seen_from=None):
        """stateStr of member i as seen by itself (or by member `seen_from`)."""
        st = self.status(i if seen_from is None else seen_from)
        if not st:
            return None
        for mem in st["members"]:
            if mem["name"] == self.host(i):
                return mem["stateStr"]
        return None

    def primary_index(self):
        for i in range(len(self.members)):
            if not self.running(i):
                continue
            st = self.status(i)
            if st and st["myState"] == 1:
                return i
        return None

    def wait_primary(self, timeout=15, exclude=()):
        """Index of the member reporting PRIMARY (bounded wait)."""
        box = {}

        def pred():
            i = self.primary_index()
            if i is not None and i not in exclude:
                box["i"] = i
                return True
            return False

        self.wait_for(pred, timeout, "a simulator member to become PRIMARY")
        return box["i"]

    def wait_state(self, i, state_str, timeout=15, seen_from=None):
        self.wait_for(
            lambda: self.state_of(i, seen_from) == state_str,
            timeout,
            f"simulator member {i} to be {state_str}"
            + (f" as seen from member {seen_from}" if seen_from is not None else ""),
        )

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        last_exc = None
        while True:
            try:
                if predicate():
                    return
            except SimulatorWaitError:
                raise
            except Exception as exc:  # keep polling; report the last error
                last_exc = exc
            if time.monotonic() >= deadline:
                self.print_logs()
                raise SimulatorWaitError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")
            time.sleep(0.1)

    def logs(self, i, tail=80):
        m = self.members[i]
        out = []
        for path in (m.log_path, m.stdout_path):
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-tail:]
                out.append(f"--- {path} (last {len(lines)} lines)\n" + "\n".join(lines))
        return "\n".join(out)

    def print_logs(self):
        for m in self.members:
            print(self.logs(m.index))
