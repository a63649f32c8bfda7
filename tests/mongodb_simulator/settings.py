"""Command line, environment and mongod.conf handling of the apiplatform.ha replica-set simulator (not MongoDB).

It reads the YAML subset of mongod.conf that matters to a replica-set member; unknown keys are ignored.
"""

import argparse
import dataclasses
import os
import stat

import yaml


class StartupError(Exception):
    """A configuration problem: the simulator logs it and exits 1, as mongod would."""


ENV_PREFIX = "MONGODB_SIMULATOR_"

TUNABLES = (
    # flag, dest, default, help
    ("--heartbeat-interval", "heartbeat_interval", 1.0, "seconds between heartbeats to every other member"),
    ("--election-timeout", "election_timeout", 4.0, "seconds without heartbeat answer before a member is DOWN"),
    ("--oplog-window", "oplog_window", 3600.0, "seconds of oplog kept (oldest = max(first optime, now - window))"),
    ("--initial-sync-seconds", "initial_sync_seconds", 3.0, "seconds an empty member stays in STARTUP2"),
    ("--noop-interval", "noop_interval", 2.0, "seconds between the primary's periodic noop writes"),
)


@dataclasses.dataclass
class Settings:
    config_path: str
    db_path: str
    port: int = 27017
    bind_ips: tuple = ("127.0.0.1",)
    repl_set_name: str | None = None
    key_file: str | None = None
    authorization: bool = False
    log_path: str | None = None
    heartbeat_interval: float = 1.0
    election_timeout: float = 4.0
    oplog_window: float = 3600.0
    initial_sync_seconds: float = 3.0
    noop_interval: float = 2.0
    tls_mode: str = "disabled"
    tls_certificate_key_file: str | None = None
    tls_ca_file: str | None = None
    tls_allow_connections_without_certificates: bool = False
    raw_conf: dict = dataclasses.field(default_factory=dict)

    @property
    def tls_enabled(self):
        return self.tls_mode != "disabled"


def build_parser():
    p = argparse.ArgumentParser(
        prog="python3 -m mongodb_simulator",
        description="apiplatform.ha MongoDB wire-protocol replica-set simulator (a test double, not MongoDB).",
    )
    p.add_argument(
        "--config",
        "-f",
        default=os.environ.get(ENV_PREFIX + "CONFIG", "/etc/mongod.conf"),
        help="mongod.conf (YAML) to read; env MONGODB_SIMULATOR_CONFIG",
    )
    for flag, dest, default, text in TUNABLES:
        env = ENV_PREFIX + dest.upper()
        p.add_argument(flag, dest=dest, type=float, default=None, help=f"{text} (env {env}, default {default})")
    return p


def _tunable(args, dest, default):
    value = getattr(args, dest)
    if value is not None:
        return value
    env = os.environ.get(ENV_PREFIX + dest.upper())
    if env not in (None, ""):
        try:
            return float(env)
        except ValueError:
            raise StartupError(f"{ENV_PREFIX + dest.upper()}={env!r} is not a number") from None
    return default


def _get(conf, dotted, default=None):
    cur = conf
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


TLS_MODES = ("disabled", "allowTLS", "preferTLS", "requireTLS")
# net.ssl.* (MongoDB < 4.2 names, still accepted by mongod 7) -> net.tls.*
LEGACY_SSL_MODES = {
    "disabled": "disabled",
    "allowSSL": "allowTLS",
    "preferSSL": "preferTLS",
    "requireSSL": "requireTLS",
}


def _tls_settings(conf):
    """net.tls (or the legacy net.ssl) section -> Settings fields. Only server-certificate TLS is simulated: the mode,
    certificateKeyFile (certificate and key in one PEM), CAFile (verifies client certificates, which are then
    required unless allowConnectionsWithoutCertificates) -- no x.509 authentication, CRLs, FIPS or cluster files."""
    tls = _get(conf, "net.tls")
    legacy = False
    if not isinstance(tls, dict) or not tls:
        ssl_section = _get(conf, "net.ssl")
        if isinstance(ssl_section, dict) and ssl_section:
            tls, legacy = ssl_section, True
        else:
            tls = {}
    mode = str(tls.get("mode", "disabled"))
    if legacy:
        mode = LEGACY_SSL_MODES.get(mode, mode)
    if mode not in TLS_MODES:
        raise StartupError(f"net.tls.mode: {mode!r} is not one of {', '.join(TLS_MODES)}")
    cert = tls.get("PEMKeyFile" if legacy else "certificateKeyFile")
    ca = tls.get("CAFile")
    if mode == "disabled":
        return {"tls_mode": mode}
    if not cert:
        raise StartupError(
            "need net.tls.certificateKeyFile when TLS is enabled (the replica-set simulator does not implement TLS "
            "without a server certificate)"
        )
    for name, path in (("certificateKeyFile", cert), ("CAFile", ca)):
        if path and not os.access(str(path), os.R_OK):
            raise StartupError(f"net.tls.{name}: cannot read {path}")
    return {
        "tls_mode": mode,
        "tls_certificate_key_file": str(cert),
        "tls_ca_file": str(ca) if ca else None,
        "tls_allow_connections_without_certificates": bool(tls.get("allowConnectionsWithoutCertificates")),
    }


def load(argv=None):
    args = build_parser().parse_args(argv)
    try:
        with open(args.config, encoding="utf-8") as fh:
            conf = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise StartupError(f"Error reading config file: {exc.strerror}: {args.config}") from None
    except yaml.YAMLError as exc:
        raise StartupError(f"Error parsing YAML config file: {args.config}: {exc}") from None
    if not isinstance(conf, dict):
        raise StartupError(f"Error parsing YAML config file: {args.config}: not a mapping")

    db_path = _get(conf, "storage.dbPath")
    if not db_path:
        raise StartupError("storage.dbPath is required by the replica-set simulator")
    db_path = str(db_path)
    if not os.path.isdir(db_path):
        raise StartupError(f"Data directory {db_path} not found. Create the missing directory or specify another path")

    tls = _tls_settings(conf)

    key_file = _get(conf, "security.keyFile")
    if key_file:
        key_file = str(key_file)
        try:
            st = os.stat(key_file)
        except OSError as exc:
            raise StartupError(f"error getting file {key_file}: {exc.strerror}") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise StartupError(f"permissions on {key_file} are too open")
        with open(key_file, encoding="utf-8", errors="replace") as fh:
            if not fh.read().strip():
                raise StartupError(f"security key in {key_file} is empty")

    bind = _get(conf, "net.bindIp", "127.0.0.1")
    if _get(conf, "net.bindIpAll"):
        bind = "0.0.0.0"
    bind_ips = tuple(x.strip() for x in str(bind).split(",") if x.strip()) or ("127.0.0.1",)

    repl = _get(conf, "replication.replSetName")
    authz = str(_get(conf, "security.authorization", "disabled")).lower() == "enabled"
    log_path = _get(conf, "systemLog.path") if _get(conf, "systemLog.destination", "file") == "file" else None

    s = Settings(
        config_path=args.config,
        db_path=db_path,
        port=int(_get(conf, "net.port", 27017)),
        bind_ips=bind_ips,
        repl_set_name=str(repl) if repl else None,
        key_file=key_file or None,
        authorization=authz or bool(key_file and _get(conf, "security.authorization") is None),
        log_path=str(log_path) if log_path else None,
        raw_conf=conf,
        **tls,
    )
    for _flag, dest, default, _text in TUNABLES:
        value = _tunable(args, dest, default)
        if value < 0:
            raise StartupError(f"{dest} must not be negative")
        setattr(s, dest, value)
    return s
