"""Real RabbitMQ nodes on 127.0.0.1 for the integration tests (Debian's rabbitmq-server 3.10.8, Erlang 25).

Each node has its own name, ports and directories under one temporary work directory, the management plugin
enabled and an administrator user (``ADMIN_USER``/``ADMIN_PASSWORD``) created at first boot. The harness runs its
own ``epmd`` on a free port (``ERL_EPMD_PORT``), so its nodes can neither collide with nor disturb other Erlang
nodes on the machine (another test run, an operator's broker on 4369); that epmd is stopped at teardown.

API (index ``i`` is 0-based; every wait is bounded and fails with the node's log tail):

    cluster = RabbitMQCluster(workdir, count=3)   # nothing runs yet
    cluster.start_all()                           # boot every node (standalone), wait for their management API
    cluster.form()                                # join nodes 1..N-1 to node 0, wait for all; name it CLUSTER_NAME
    cluster.nodes                                 # [RabbitMQNode, ...]: .name .amqp_port .dist_port .mgmt_port
    cluster.node_name(i)                          # 'rabbit-it<tag>-1@localhost'
    cluster.api_url(i)                            # 'http://127.0.0.1:<mgmt port>'
    cluster.auth                                  # (ADMIN_USER, ADMIN_PASSWORD) for requests
    cluster.ctl(i, *args, check=True)             # rabbitmqctl -n <node i> args -> CompletedProcess (text)
    cluster.queues_cli(i, *args, check=True)      # rabbitmq-queues -n <node i> args
    cluster.diagnostics(i, *args, check=True)     # rabbitmq-diagnostics -n <node i> args
    cluster.cli_env()                             # environment for running the CLI tools yourself
    cluster.api(i, method, path, **kw)            # requests against node i's management API (admin auth)
    cluster.stop(i, kill=False)                   # stop the node's VM (rabbitmqctl stop; kill=True: SIGKILL)
    cluster.start(i)                              # start it again (same data: it rejoins its cluster)
    cluster.join(i, j, reset=False)               # stop_app, [reset], join_cluster <node j>, start_app; wait
    cluster.running_nodes(i=None)                 # names the cluster reports running (HTTP API of a live node)
    cluster.wait_running(names, timeout)          # until exactly those nodes run
    cluster.declare_quorum_queue(name, i=0)       # PUT /api/queues/%2F/<name> x-queue-type quorum
    cluster.teardown()                            # kill every process it started (nodes and its epmd)

    with rabbitmq_cluster(count=3) as cluster:    # context manager: start_all + form, teardown at exit
        ...

    certs = make_test_certs(tmp / "pki")          # mongodb_simulator_harness: throw-away CA + cert (openssl)
    cluster = RabbitMQCluster(workdir, 1, tls=certs)  # node 0's management API on https only (management.ssl.*)
    cluster.api_url(0)                            # 'https://127.0.0.1:<mgmt port>'; api() verifies with certs.ca

    cluster = rabbitmq_cluster_fixture(count=3)   # a module-scoped pytest fixture (assign at module level)

Nodes run as the current user (root is fine for RabbitMQ). Everything is checked from outside the modules with
rabbitmqctl or the HTTP API, so a test never trusts the module it tests.
"""

import contextlib
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import requests
from etcd_cluster import port_is_free

RABBITMQ_BIN = pathlib.Path("/usr/lib/rabbitmq/bin")
SERVER = RABBITMQ_BIN / "rabbitmq-server"
CTL = RABBITMQ_BIN / "rabbitmqctl"
QUEUES = RABBITMQ_BIN / "rabbitmq-queues"
DIAGNOSTICS = RABBITMQ_BIN / "rabbitmq-diagnostics"
PLUGINS = RABBITMQ_BIN / "rabbitmq-plugins"
EPMD = pathlib.Path("/usr/bin/epmd")
ADMIN_USER, ADMIN_PASSWORD = "admin", "it-admin-secret"
COOKIE = "APIPLATFORMHAINTEGRATIONCOOKIE"
CLUSTER_NAME = "apiha-it"
PORTS = range(26000, 26600)
CLI_TIMEOUT = 60


def require_rabbitmq():
    """Fail (never skip) when the RabbitMQ binaries are missing: the controller is not prepared."""
    missing = [str(p) for p in (SERVER, CTL, QUEUES, EPMD) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make host` (installs rabbitmq-server, erlang)")


def free_ports(count, taken=()):
    ports = [p for p in PORTS if p not in taken and port_is_free(p)][:count]
    if len(ports) < count:
        raise RuntimeError(f"not {count} free ports in 127.0.0.1:{PORTS.start}-{PORTS.stop}")
    return ports


class RabbitMQNode:
    def __init__(self, index, name, dirpath, amqp_port, dist_port, mgmt_port, tls=None):
        self.index = index
        self.tls = tls  # make_test_certs() namespace: the management listener is https only
        self.name = name
        self.dir = dirpath
        self.amqp_port = amqp_port
        self.dist_port = dist_port
        self.mgmt_port = mgmt_port
        self.api_url = f"{'https' if tls else 'http'}://127.0.0.1:{mgmt_port}"
        self.config = dirpath / "rabbitmq.conf"
        self.log_path = dirpath / "server.out"
        self.proc = None
        self._log = None

    def write_files(self):
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        if self.tls:
            management = [
                f"management.ssl.port = {self.mgmt_port}",
                "management.ssl.ip = 127.0.0.1",
                f"management.ssl.cacertfile = {self.tls.ca}",
                f"management.ssl.certfile = {self.tls.cert}",
                f"management.ssl.keyfile = {self.tls.key}",
            ]
        else:
            management = [f"management.tcp.port = {self.mgmt_port}", "management.tcp.ip = 127.0.0.1"]
        self.config.write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
                    *management,
                    f"default_user = {ADMIN_USER}",
                    f"default_pass = {ADMIN_PASSWORD}",
                    "default_user_tags.administrator = true",
                    "default_permissions.configure = .*",
                    "default_permissions.read = .*",
                    "default_permissions.write = .*",
                    "log.console = false",
                    "log.file.level = info",
                    "",
                ]
            )
        )
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")

    def env(self, home, epmd_port):
        d = self.dir
        return {
            "PATH": f"{RABBITMQ_BIN}:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "ERL_EPMD_PORT": str(epmd_port),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.config),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def spawn(self, env):
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in reap()
        self.proc = subprocess.Popen(
            [str(SERVER)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            env=env,
            start_new_session=True,
        )

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig):
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def reap(self, timeout=20):
        """Wait for the server's process group to go (SIGKILL after ``timeout``), close the log."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.proc.wait(timeout=10)
        # beam.smp, erl_child_setup, inet_gethost share the group: make sure none outlives the launcher
        self.signal_group(signal.SIGKILL)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines=30):
        texts = []
        for path in (self.log_path, self.dir / "log" / f"{self.name}.log"):
            with contextlib.suppress(OSError):
                texts.append(f"[{path.name}]\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(texts) or "(no log)"


class RabbitMQCluster:
    """N RabbitMQ nodes on loopback; see the module docstring for the API."""

    def __init__(self, workdir, count=3, prefix=None, tls=None):
        self.workdir = pathlib.Path(workdir)
        self.home = self.workdir / "home"
        tag = prefix or f"rabbit-it{secrets.token_hex(2)}-"
        ports = free_ports(3 * count + 1)
        self.epmd_port = ports[-1]
        self.nodes = [
            RabbitMQNode(
                i,
                f"{tag}{i + 1}@localhost",
                self.workdir / f"node{i + 1}",
                ports[3 * i],
                ports[3 * i + 1],
                ports[3 * i + 2],
                tls=tls if i == 0 else None,
            )
            for i in range(count)
        ]
        self.auth = (ADMIN_USER, ADMIN_PASSWORD)
        self._epmd = None

    # -- names and URLs ----------------------------------------------------------------------------------------------

    def node_name(self, i):
        return self.nodes[i].name

    def api_url(self, i):
        return self.nodes[i].api_url

    def cli_env(self):
        """Environment in which rabbitmqctl/rabbitmq-queues reach this harness's nodes (cookie, epmd port)."""
        return {
            "PATH": f"{RABBITMQ_BIN}:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "ERL_EPMD_PORT": str(self.epmd_port),
        }

    # -- processes ---------------------------------------------------------------------------------------------------

    def _prepare(self):
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(COOKIE)
            cookie.chmod(0o400)
        for node in self.nodes:
            node.write_files()
        if self._epmd is None:
            log = open(self.workdir / "epmd.log", "ab")  # noqa: SIM115 - the child holds it; closed with the file
            self._epmd = subprocess.Popen(
                [str(EPMD), "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            self._wait(lambda: not port_is_free(self.epmd_port), 10, f"epmd on 127.0.0.1:{self.epmd_port}")

    def start_all(self, timeout=90):
        """Boot every node (each standalone) and wait until each management API answers."""
        self._prepare()
        for node in self.nodes:
            node.spawn(node.env(self.home, self.epmd_port))
        for node in self.nodes:
            self._wait_api(node.index, timeout)

    def start(self, i, timeout=90):
        """Start node ``i`` (again): same name, ports and data; a node of a cluster rejoins it."""
        node = self.nodes[i]
        if node.running:
            return
        self._prepare()
        node.spawn(node.env(self.home, self.epmd_port))
        self._wait_api(i, timeout)

    def stop(self, i, kill=False, timeout=60):
        """Stop node ``i``'s Erlang VM: ``rabbitmqctl stop`` (graceful), or SIGKILL to its processes (a crash)."""
        node = self.nodes[i]
        if not node.running:
            return
        if kill:
            node.signal_group(signal.SIGKILL)
        else:
            out = self.ctl(i, "stop", check=False, timeout=timeout)
            if out.returncode != 0:
                node.signal_group(signal.SIGTERM)
        node.reap(timeout)

    def teardown(self):
        """Stop every node at once (hard: the data is thrown away) and the harness's epmd."""
        for node in self.nodes:
            node.signal_group(signal.SIGTERM)
        for node in self.nodes:
            node.reap(timeout=20)
        if self._epmd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._epmd.pid, signal.SIGKILL)
            self._epmd.wait(timeout=10)
            self._epmd = None

    # -- CLI ---------------------------------------------------------------------------------------------------------

    def _cli(self, tool, i, args, check, timeout):
        cmd = [str(tool), "-n", self.node_name(i), *[str(a) for a in args]]
        out = subprocess.run(
            cmd, capture_output=True, text=True, env=self.cli_env(), timeout=timeout, check=False, cwd=self.workdir
        )
        if check and out.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed (rc={out.returncode}):\n{out.stdout}\n{out.stderr}\n"
                f"{self.nodes[i].log_tail(15)}"
            )
        return out

    def ctl(self, i, *args, check=True, timeout=CLI_TIMEOUT):
        """rabbitmqctl -n <node i> *args (CompletedProcess, text)."""
        return self._cli(CTL, i, args, check, timeout)

    def queues_cli(self, i, *args, check=True, timeout=CLI_TIMEOUT):
        """rabbitmq-queues -n <node i> *args."""
        return self._cli(QUEUES, i, args, check, timeout)

    def diagnostics(self, i, *args, check=True, timeout=CLI_TIMEOUT):
        """rabbitmq-diagnostics -n <node i> *args."""
        return self._cli(DIAGNOSTICS, i, args, check, timeout)

    # -- HTTP API ----------------------------------------------------------------------------------------------------

    def api(self, i, method, path, timeout=10, **kwargs):
        tls = self.nodes[i].tls
        if tls is not None:
            kwargs.setdefault("verify", str(tls.ca))
        return requests.request(method, self.api_url(i) + path, auth=self.auth, timeout=timeout, **kwargs)

    def _live_index(self):
        for node in self.nodes:
            if node.running:
                return node.index
        raise AssertionError("no RabbitMQ node of the harness is running")

    def running_nodes(self, i=None):
        """Sorted names of the nodes the cluster reports running (GET /api/nodes on node ``i`` or any live one)."""
        data = self.api(self._live_index() if i is None else i, "GET", "/api/nodes").json()
        return sorted(n["name"] for n in data if n.get("running"))

    def wait_running(self, names, timeout=60, i=None):
        """Until the cluster reports exactly ``names`` running."""
        want = sorted(names)
        state = {"seen": None}

        def ok():
            try:
                state["seen"] = self.running_nodes(i)
            except (requests.RequestException, ValueError, AssertionError):
                return False
            return state["seen"] == want

        self._wait(ok, timeout, f"running nodes {want} (last seen: {state['seen']})")

    def declare_quorum_queue(self, name, i=0, vhost="/", extra_arguments=None):
        arguments = {"x-queue-type": "quorum", **(extra_arguments or {})}
        path = f"/api/queues/{urllib.parse.quote(vhost, safe='')}/{urllib.parse.quote(name, safe='')}"
        r = self.api(i, "PUT", path, json={"durable": True, "auto_delete": False, "arguments": arguments})
        assert r.status_code in (201, 204), r.text
        return r

    # -- cluster formation -------------------------------------------------------------------------------------------

    def join(self, i, j, timeout=90, reset=False):
        """Node ``i`` joins node ``j``'s cluster: stop_app, (reset when ``reset``: a node that was in another
        cluster), join_cluster, start_app; waits until ``j`` reports it running. A standalone node's data is reset by
        join_cluster itself."""
        self.ctl(i, "stop_app")
        if reset:
            self.ctl(i, "reset")
        self.ctl(i, "join_cluster", self.node_name(j))
        self.ctl(i, "start_app")
        self._wait_api(i, timeout)
        self._wait(
            lambda: self.node_name(i) in self._safe_running(j), timeout, f"{self.node_name(i)} running in the cluster"
        )

    def form(self, timeout=90):
        """Join every other node to node 0, one at a time, wait until all of them run as one cluster, and name it
        ``CLUSTER_NAME`` (unnamed, each 3.10 node reports its own default name)."""
        for i in range(1, len(self.nodes)):
            self.join(i, 0, timeout)
        self.wait_running([n.name for n in self.nodes], timeout)
        self.ctl(0, "set_cluster_name", CLUSTER_NAME)

    # -- waits -------------------------------------------------------------------------------------------------------

    def _safe_running(self, i):
        try:
            return self.running_nodes(i)
        except (requests.RequestException, ValueError):
            return []

    def _wait_api(self, i, timeout):
        node = self.nodes[i]

        def ok():
            try:
                return self.api(i, "GET", "/api/overview", timeout=3).status_code == 200
            except requests.RequestException:
                return False

        self._wait(ok, timeout, f"the management API of {node.name} at {node.api_url}", node=node)

    def _wait(self, predicate, timeout, what, node=None, interval=0.5):
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return
            dead = node is not None and node.proc is not None and node.proc.poll() is not None
            if dead or time.monotonic() > deadline:
                why = f"{node.name} exited with rc={node.proc.returncode}" if dead else f"{timeout} s passed"
                tails = "\n".join(f"--- {n.name}\n{n.log_tail()}" for n in ([node] if node else self.nodes))
                raise AssertionError(f"timed out waiting for {what} ({why})\n{tails}")
            time.sleep(interval)


def make_workdir():
    path = pathlib.Path(tempfile.mkdtemp(prefix="apiha-rabbitmq-"))
    path.chmod(0o755)
    return path


@contextlib.contextmanager
def rabbitmq_cluster(count=3, form=True, tls=None):
    """``count`` nodes started (and joined into one cluster unless ``form=False``); torn down at exit. ``tls``
    (make_test_certs() paths) puts node 0's management API on https."""
    require_rabbitmq()
    workdir = make_workdir()
    cluster = RabbitMQCluster(workdir, count, tls=tls)
    try:
        cluster.start_all()
        if form:
            cluster.form()
        yield cluster
    finally:
        cluster.teardown()
        shutil.rmtree(workdir, ignore_errors=True)


def rabbitmq_cluster_fixture(count=3, form=True):
    """A module-scoped pytest fixture yielding a started (and formed) RabbitMQCluster.

    In a test module: ``cluster = rabbitmq_cluster_fixture(3)`` and then use ``cluster`` as a test argument.
    """

    @pytest.fixture(scope="module")
    def _fixture():
        with rabbitmq_cluster(count, form=form) as c:
            yield c

    return _fixture
