"""Process lifecycle of one apiplatform.ha replica-set simulator member (not MongoDB).

Loads mongod.conf, locks dbPath/mongod.lock (flock + PID, like mongod), binds net.bindIp:net.port, runs until
SIGTERM/SIGINT or the shutdown command, then persists state and empties the lock file.
"""

import datetime
import fcntl
import os
import signal
import sys
import threading

from . import settings as settings_mod
from .commands import Handler
from .member import SIMULATOR_NAME, Member
from .wire import SimulatorWireServer, configure_peer_tls, server_tls_context

EXIT_BAD_OPTIONS = 1
EXIT_DBPATH_IN_USE = 100
EXIT_ADDRESS_IN_USE = 48


class Logger:
    def __init__(self, path=None):
        self.lock = threading.Lock()
        self.prefix = f"mongodb-simulator[{os.getpid()}]"
        self.fh = None
        if path:
            self.fh = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - process lifetime
        self.tag = ""

    def __call__(self, msg, level="I"):
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        line = f"{stamp} {level} {self.prefix} {self.tag}{msg}\n"
        with self.lock:
            (self.fh or sys.stderr).write(line)
            if self.fh is None:
                sys.stderr.flush()


def _lock_dbpath(db_path):
    path = os.path.join(db_path, "mongod.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise settings_mod.StartupError(
            f"Unable to lock the lock file: {path} (Resource temporarily unavailable). Another mongod instance is "
            f"already running on the {db_path} directory"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    os.fsync(fd)
    return fd


def main(argv=None):
    try:
        conf = settings_mod.load(argv)
    except settings_mod.StartupError as exc:
        Logger()(f"{exc}; exiting (replica-set simulator)", "E")
        return EXIT_BAD_OPTIONS
    try:
        log = Logger(conf.log_path)
    except OSError as exc:
        Logger()(f"cannot open systemLog.path {conf.log_path}: {exc.strerror}", "E")
        return EXIT_BAD_OPTIONS
    log.tag = f"{conf.port}: "
    log(
        f"{SIMULATOR_NAME} starting: pid {os.getpid()} port {conf.port} dbPath {conf.db_path} "
        f"replSet {conf.repl_set_name or '-'} bindIp {','.join(conf.bind_ips)} "
        f"auth {'enabled' if conf.authorization else 'disabled'} heartbeat {conf.heartbeat_interval}s "
        f"electionTimeout {conf.election_timeout}s oplogWindow {conf.oplog_window}s "
        f"initialSync {conf.initial_sync_seconds}s noop {conf.noop_interval}s tls {conf.tls_mode}"
    )
    try:
        lock_fd = _lock_dbpath(conf.db_path)
    except settings_mod.StartupError as exc:
        log(f"{exc}; exiting", "E")
        return EXIT_DBPATH_IN_USE
    try:
        member = Member(conf, log)
    except (ValueError, KeyError, OSError) as exc:
        log(f"cannot read the simulator state in {conf.db_path}: {exc!r}; exiting", "E")
        return EXIT_BAD_OPTIONS

    try:
        tls_context = server_tls_context(conf)
        configure_peer_tls(conf)
    except (OSError, ValueError) as exc:
        log(f"cannot set up TLS (net.tls.mode {conf.tls_mode}): {exc}; exiting", "E")
        return EXIT_BAD_OPTIONS

    done = threading.Event()
    handler = Handler(member, conf, log, shutdown=done.set)
    servers = []
    for ip in conf.bind_ips:
        server = SimulatorWireServer(ip, conf.port, handler, log, tls_context=tls_context, tls_mode=conf.tls_mode)
        try:
            server.run()
        except OSError as exc:
            log(f"Failed to set up listener on {ip}:{conf.port}: {exc.strerror or exc}; exiting", "E")
            return EXIT_ADDRESS_IN_USE
        servers.append(server)
    member.start()
    log(f"Waiting for connections on {','.join(conf.bind_ips)} port {conf.port} (replica-set simulator, not MongoDB)")

    def on_signal(signum, _frame):
        log(f"received signal {signum} ({signal.Signals(signum).name}): shutting down")
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not done.wait(1.0):
        pass
    member.stop()
    for server in servers:
        try:
            server._stopped = True
            server._listening_sock.close()
        except OSError:
            pass
    os.ftruncate(lock_fd, 0)
    os.close(lock_fd)
    log("shutdown complete (replica-set simulator)")
    if log.fh:
        log.fh.flush()
    os._exit(0)
