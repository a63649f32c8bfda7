"""An sshd of our own on 127.0.0.1 whose only key is forced into rrsync, like the shared_fs role's restricted account.

Everything lives in one temporary directory: host key, client key, authorized_keys, known_hosts, sshd config and log.
The account is the current user (root on the controller), admitted only through the forced command
(``PermitRootLogin forced-commands-only``), so the tests create no system user.
"""

import getpass
import os
import pathlib
import shutil
import socket
import subprocess
import time

SSHD = pathlib.Path("/usr/sbin/sshd")
RRSYNC = pathlib.Path("/usr/bin/rrsync")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_tools():
    """Tools the harness needs that are not installed (empty when all are there)."""
    wanted = [str(SSHD), str(RRSYNC), "ssh", "ssh-keygen", "rsync"]
    return [t for t in wanted if not (os.access(t, os.X_OK) if t.startswith("/") else shutil.which(t))]


class Sshd:
    """``with Sshd(workdir, dest_root) as sshd:`` -> sshd.port, sshd.user, sshd.client_key, sshd.known_hosts."""

    def __init__(self, workdir, dest_root):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dest_root = str(dest_root)
        self.user = getpass.getuser()
        self.port = free_port()
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "id_ed25519"
        self.authorized_keys = self.dir / "authorized_keys"
        self.known_hosts = self.dir / "known_hosts"
        self.config = self.dir / "sshd_config"
        self.log = self.dir / "sshd.log"
        self.proc = None

    def _keygen(self, path, comment):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self):
        self._keygen(self.host_key, "test-host")
        self._keygen(self.client_key, "shared-fs-test")
        client_pub = (self.client_key.with_suffix(".pub")).read_text().strip()
        host_pub = pathlib.Path(f"{self.host_key}.pub").read_text().split()
        # The same line the role writes for each peer site: restricted, forced into rrsync rooted in the tree.
        self.authorized_keys.write_text(f'restrict,command="{RRSYNC} {self.dest_root}" {client_pub}\n')
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_pub[0]} {host_pub[1]}\n")
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "StrictModes no",
                    "PermitRootLogin forced-commands-only",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "MaxStartups 50:30:100",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation directory
        self.proc = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(self.config), "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "w"),  # noqa: SIM115 - closed with the process
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port} within 10 s: {self.log.read_text()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def ssh_command(self):
        """The ssh command the sync uses, as a list (for plain rsync -e in the benchmark)."""
        return [
            "ssh",
            "-i",
            str(self.client_key),
            "-p",
            str(self.port),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
        ]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
