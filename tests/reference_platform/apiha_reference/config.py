"""Configuration of the apiplatform.ha REFERENCE PLATFORM (stand-in services): APIHA_* environment variables only.

A missing or malformed variable raises ConfigError with one line naming it; the entry point turns it into exit
code 2 without a traceback.
"""

import dataclasses
import re
import socket
import urllib.parse

WORKER_KINDS = ("core-server", "downloader")

# Which dependencies each service cannot run without (the others are optional: used when configured).
REQUIRES = {
    "dashboard": {"postgresql"},
    "scheduler": {"rabbitmq"},
    "worker": {"postgresql", "rabbitmq"},
    "mailer": {"postgresql", "rabbitmq"},
    "connector": {"postgresql"},
}


class ConfigError(Exception):
    pass


@dataclasses.dataclass
class Config:
    service: str
    service_name: str
    instance: str
    listen_host: str
    listen_port: int
    pg_hosts: list  # [(host, port), ...]
    pg_database: str
    pg_user: str
    pg_password: str
    mongodb_uri: str
    amqp_urls: list
    scheduler_interval: float
    worker_kind: str

    @property
    def has_postgresql(self):
        return bool(self.pg_hosts)

    @property
    def has_mongodb(self):
        return bool(self.mongodb_uri)

    @property
    def has_rabbitmq(self):
        return bool(self.amqp_urls)

    def secrets(self):
        """Every secret value found in the configuration (scrubbed from logs and responses), longest first."""
        found = [self.pg_password]
        for url in [*self.amqp_urls, self.mongodb_uri]:
            password = urllib.parse.urlsplit(url).password if url else None
            if password:
                found += [password, urllib.parse.unquote(password)]
        return sorted({s for s in found if s and len(s) >= 3}, key=len, reverse=True)


def _get(env, name, default=None, required=False):
    value = env.get(name, "").strip()
    if not value:
        if required:
            raise ConfigError(f"{name} is required but not set")
        return default
    return value


def _host_port(item, default_port, name):
    item = item.strip()
    if item.startswith("["):  # [v6]:port
        host, _sep, rest = item[1:].partition("]")
        port = rest.lstrip(":") or str(default_port)
    elif item.count(":") == 1:
        host, port = item.split(":")
    else:
        host, port = item, str(default_port)
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name}: {item!r} is not host:port")
    return host, int(port)


def load(service, env):
    """Config of ``service`` from the mapping ``env`` (os.environ)."""
    needs = REQUIRES[service]
    listen = _get(env, "APIHA_LISTEN", "0.0.0.0:8080")
    listen_host, listen_port = _host_port(listen, 8080, "APIHA_LISTEN")

    hosts = _get(env, "APIHA_POSTGRESQL_HOSTS", required="postgresql" in needs)
    pg_hosts = [_host_port(h, 5432, "APIHA_POSTGRESQL_HOSTS") for h in (hosts or "").split(",") if h.strip()]
    if hosts and not pg_hosts:
        raise ConfigError("APIHA_POSTGRESQL_HOSTS lists no host")
    pg_database = _get(env, "APIHA_POSTGRESQL_DATABASE", required=bool(pg_hosts))
    pg_user = _get(env, "APIHA_POSTGRESQL_USER", required=bool(pg_hosts))
    pg_password = env.get("APIHA_POSTGRESQL_PASSWORD", "")

    mongodb_uri = _get(env, "APIHA_MONGODB_URI", "")
    if mongodb_uri and not mongodb_uri.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError("APIHA_MONGODB_URI must start with mongodb://")

    urls = _get(env, "APIHA_AMQP_URLS", required="rabbitmq" in needs)
    amqp_urls = [u.strip() for u in (urls or "").split(",") if u.strip()]
    for u in amqp_urls:
        if not u.startswith(("amqp://", "amqps://")):
            raise ConfigError("APIHA_AMQP_URLS: every entry must be an amqp:// URL")

    interval_text = _get(env, "APIHA_SCHEDULER_INTERVAL", "5")
    try:
        interval = float(interval_text)
    except ValueError:
        interval = -1.0
    if not 0.05 <= interval <= 86400:
        raise ConfigError(f"APIHA_SCHEDULER_INTERVAL: {interval_text!r} is not a number of seconds (0.05-86400)")

    kind = _get(env, "APIHA_WORKER_KIND", "core-server")
    if kind not in WORKER_KINDS:
        raise ConfigError(f"APIHA_WORKER_KIND: {kind!r} is not one of {', '.join(WORKER_KINDS)}")

    return Config(
        service=service,
        service_name=_get(env, "APIHA_SERVICE", service),
        instance=_get(env, "APIHA_INSTANCE", socket.gethostname()),
        listen_host=listen_host,
        listen_port=listen_port,
        pg_hosts=pg_hosts,
        pg_database=pg_database or "",
        pg_user=pg_user or "",
        pg_password=pg_password,
        mongodb_uri=mongodb_uri,
        amqp_urls=amqp_urls,
        scheduler_interval=interval,
        worker_kind=kind,
    )


def redact_url(url):
    """The URL without its credentials (``scheme://***@host...``), for logs."""
    return re.sub(r"^([a-z+]+://)[^@/]*@", r"\1***@", url or "")
