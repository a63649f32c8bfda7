"""Real etcd processes on 127.0.0.1 for the integration tests, and a way to run one module through ansible-playbook.

Everything is checked from outside the modules with etcdctl, so a test never trusts the module it tests.
"""

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest
from ansible_runner import run_playbook

ETCD = pathlib.Path("/usr/bin/etcd")
ETCDCTL = pathlib.Path("/usr/bin/etcdctl")
CLIENT_PORTS = range(23700, 23990)  # peer port = client port + 1000 (24xxx), both must be free


def require_etcd():
    """Fail (never skip) when the etcd binaries are missing: the controller is not prepared."""
    missing = [str(p) for p in (ETCD, ETCDCTL) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run `make host` (installs etcd-server and etcd-client)")


def port_is_free(port):
    """Whether 127.0.0.1:<port> can be bound now (the harnesses pick their ports with it)."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_pairs(count, taken=()):
    """``count`` (client, peer) port pairs free now. The search starts at an offset derived from the process id, so
    that two test runs on one machine rarely pick the same ports in the moment between checking and binding."""
    pairs = []
    ports = list(CLIENT_PORTS)
    start = os.getpid() % len(ports)
    for port in ports[start:] + ports[:start]:
        if port in taken or not (port_is_free(port) and port_is_free(port + 1000)):
            continue
        pairs.append((port, port + 1000))
        if len(pairs) == count:
            return pairs
    raise RuntimeError(f"no {count} free port pairs in 127.0.0.1:{CLIENT_PORTS.start}-{CLIENT_PORTS.stop}")


class Member:
    def __init__(self, name, client_port, peer_port, workdir, tls=None):
        self.name = name
        self.tls = tls
        self.client_url = f"{'https' if tls else 'http'}://127.0.0.1:{client_port}"
        self.peer_url = f"http://127.0.0.1:{peer_port}"
        self.data_dir = workdir / f"{name}.data"
        self.log_path = workdir / f"{name}.log"
        self.proc = None

    def start(self, initial_cluster, state):
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        cmd = [
            str(ETCD),
            "--name",
            self.name,
            "--data-dir",
            str(self.data_dir),
            "--listen-client-urls",
            self.client_url,
            "--advertise-client-urls",
            self.client_url,
            "--listen-peer-urls",
            self.peer_url,
            "--initial-advertise-peer-urls",
            self.peer_url,
            "--initial-cluster",
            initial_cluster,
            "--initial-cluster-state",
            state,
            "--initial-cluster-token",
            "apiplatform-it",
            # fast elections keep leader changes and restarts within a second on loopback
            "--heartbeat-interval",
            "50",
            "--election-timeout",
            "500",
        ]
        if self.tls:  # the client API over https, and only for clients presenting a certificate the CA signed
            cmd += ["--cert-file", str(self.tls.cert), "--key-file", str(self.tls.key)]
            cmd += ["--trusted-ca-file", str(self.tls.ca), "--client-cert-auth"]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc is not None:
            self._log.close()
        self.proc = None

    def log_tail(self, lines=15):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class EtcdCluster:
    """A cluster of etcd subprocesses. Members are created with add_member() and started with start().

    With ``tls`` (make_test_certs' paths) the client API is https and requires a client certificate; etcdctl presents
    the same certificate."""

    def __init__(self, workdir, tls=None):
        self.workdir = pathlib.Path(workdir)
        self.tls = tls
        self.members = {}
        self._ports = set()

    def new_member(self, name):
        client_port, peer_port = free_port_pairs(1, taken=self._ports)[0]
        self._ports.add(client_port)
        member = Member(name, client_port, peer_port, self.workdir, tls=self.tls)
        self.members[name] = member
        return member

    def bootstrap(self, names, timeout=20):
        members = [self.new_member(n) for n in names]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
        for m in members:
            m.start(initial, "new")
        self.wait_healthy(names, timeout)

    def endpoints(self, names=None):
        return [m.client_url for n, m in self.members.items() if (names is None or n in names) and m.running]

    def etcdctl(self, *args, endpoints=None, timeout=10):
        eps = ",".join(endpoints or self.endpoints())
        cmd = [str(ETCDCTL), f"--endpoints={eps}", "--dial-timeout=2s", "--command-timeout=5s"]
        if self.tls:
            cmd += [f"--cacert={self.tls.ca}", f"--cert={self.tls.cert}", f"--key={self.tls.key}"]
        cmd += list(args)
        env = dict(os.environ, ETCDCTL_API="3")
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)

    def member_list(self):
        """[{'id': hex, 'name': str, 'peer_urls': [...]}] read with etcdctl, not with the modules."""
        out = self.etcdctl("member", "list", "-w", "json")
        assert out.returncode == 0, out.stderr
        return [
            {"id": f"{m['ID']:x}", "name": m.get("name", ""), "peer_urls": sorted(m.get("peerURLs", []))}
            for m in json.loads(out.stdout)["members"]
        ]

    def statuses(self, names=None):
        """etcdctl endpoint status of the running members (those that answer)."""
        out = self.etcdctl("endpoint", "status", "-w", "json", endpoints=self.endpoints(names))
        return json.loads(out.stdout) if out.stdout.strip() else []

    def leader(self, names=None):
        """Name of the leader according to etcdctl endpoint status (None when no running member reports one)."""
        ids = {m["id"]: m["name"] for m in self.member_list()}
        for st in self.statuses(names):
            leader = st["Status"].get("leader")
            if leader:
                return ids.get(f"{leader:x}")
        return None

    def wait_healthy(self, names, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            out = self.etcdctl("endpoint", "health", endpoints=[self.members[n].client_url for n in names])
            if out.returncode == 0:
                return
            dead = [n for n in names if not self.members[n].running]
            if dead or time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}\n{self.members[n].log_tail()}" for n in names)
                raise AssertionError(f"etcd members {names} not healthy (exited: {dead}):\n{out.stderr}\n{tails}")
            time.sleep(0.2)

    def wait_exit(self, name, timeout=10):
        member = self.members[name]
        if member.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                member.proc.wait(timeout=timeout)
        member.stop()

    def stop_all(self):
        for m in self.members.values():
            m.stop()


def run_tasks(tmp_path, tasks, timeout=180):
    """Run module tasks in one ansible-playbook run; return their registered results (dicts), in order.

    ``tasks`` is a list of ``(module, args, options)``; options are task keywords such as ``check_mode``/``diff``.
    Failures are ignored (ignore_errors), so later tasks still run and each result can be asserted on. One copy task
    at the end saves every registered result (a stdout callback would not do: the json callbacks overwrite the
    module's own ``action`` return key with the task's action name).
    """
    out = tmp_path / f"results-{time.monotonic_ns()}.json"
    play_tasks = []
    for i, (module, args, options) in enumerate(tasks):
        task = {"name": f"Module under test {i}: {module}", module: args, "register": f"__result_{i}"}
        task.update({"ignore_errors": True, "check_mode": False, "diff": False})
        task.update(options)
        play_tasks.append(task)
    registered = ", ".join(f"__result_{i}" for i in range(len(tasks)))
    save = {"content": f"{{{{ [{registered}] | to_json }}}}", "dest": str(out), "mode": "0600"}
    play_tasks.append({"name": "Save the results", "ansible.builtin.copy": save, "check_mode": False, "diff": False})
    play = [{"name": "etcd module integration", "hosts": "localhost", "connection": "local", "gather_facts": False}]
    play[0]["tasks"] = play_tasks
    playbook = out.with_suffix(".yml")
    playbook.write_text(json.dumps(play, indent=1))  # JSON is YAML
    proc = run_playbook(playbook, "localhost,", "-e", f"ansible_python_interpreter={sys.executable}", timeout=timeout)
    assert out.exists(), f"ansible-playbook rc={proc.returncode}, no {out}:\n{proc.stdout[-4000:]}"
    return json.loads(out.read_text())


def run_module(tmp_path, module, args, check=False, diff=False, timeout=180):
    """Run one module task through the real ansible-playbook and return its registered result."""
    return run_tasks(tmp_path, [(module, args, {"check_mode": check, "diff": diff})], timeout=timeout)[0]
