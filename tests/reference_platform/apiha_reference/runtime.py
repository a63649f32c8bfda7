"""Process plumbing of the apiplatform.ha REFERENCE PLATFORM (stand-in services): logging, HTTP, probes, signals.

Every service serves HTTP on APIHA_LISTEN (at least ``GET /health``), logs one line per event to stderr (journald
adds the timestamp), never logs a configured secret, and stops cleanly within about 5 s of SIGTERM.
"""

import http.cookies
import http.server
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse

from . import SERVICES, __version__
from .config import ConfigError, load

LOG = logging.getLogger("apiha")
MAX_BODY = 64 * 1024
SHUTDOWN_GRACE = 4.0


class ScrubFilter(logging.Filter):
    """Replace every configured secret in a log record by ``***`` (passwords never reach journald)."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record):
        text = record.getMessage()
        scrubbed = scrub(text, self.secrets)
        if scrubbed != text or record.exc_info:
            record.msg, record.args, record.exc_info, record.exc_text = scrubbed, None, None, None
        return True


_SECRETS = []


def scrub(text, secrets=None):
    text = str(text)
    for s in _SECRETS if secrets is None else secrets:
        text = text.replace(s, "***")
    return text


def short_error(exc):
    """One line describing ``exc`` without secrets (for logs and /health details)."""
    text = " ".join(str(exc).split()) or "no detail"
    return scrub(f"{type(exc).__name__}: {text}")[:300]


def setup_logging(cfg):
    _SECRETS[:] = cfg.secrets()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(levelname)s apiha-{cfg.service}[{cfg.instance}] %(message)s"))
    handler.addFilter(ScrubFilter(_SECRETS))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("APIHA_LOG_LEVEL", "INFO").upper())
    # Drivers log tracebacks (and pika its connection parameters) on every outage: our own one-liners suffice.
    for name in ("pika", "pymongo", "psycopg"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class CachedProbe:
    """A dependency check run at most once per ``ttl`` seconds, each answer bounded to ``timeout`` seconds.

    ``fn()`` returns a detail string or raises; ``get()`` returns ``{"ok": bool, "detail": str}``. The check runs in
    a daemon thread so a hung dependency never blocks a health request longer than ``timeout``; only one check per
    probe is in flight at a time.
    """

    def __init__(self, name, fn, ttl=1.0, timeout=2.0):
        self.name, self.fn, self.ttl, self.timeout = name, fn, ttl, timeout
        self._lock = threading.Lock()
        self._result = None
        self._at = 0.0
        self._done = None

    def _run(self, done):
        try:
            result = {"ok": True, "detail": scrub(self.fn() or "ok")}
        except Exception as exc:  # a probe reports every failure, whatever its type
            result = {"ok": False, "detail": short_error(exc)}
        with self._lock:
            self._result, self._at = result, time.monotonic()
        done.set()

    def get(self):
        with self._lock:
            if self._result is not None and time.monotonic() - self._at < self.ttl:
                return dict(self._result)
            if self._done is None or self._done.is_set():
                self._done = threading.Event()
                threading.Thread(target=self._run, args=(self._done,), name=f"probe-{self.name}", daemon=True).start()
            done = self._done
        if done.wait(self.timeout):
            with self._lock:
                return dict(self._result)
        return {"ok": False, "detail": f"probe did not answer within {self.timeout:g} s"}


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes ``(METHOD, path)`` to ``server.service.routes``; every response carries X-Apiha-Instance."""

    server_version = "apiha-reference/" + __version__
    protocol_version = "HTTP/1.1"

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        self.query = urllib.parse.parse_qs(url.query)
        service = self.server.service
        route = service.routes().get((method, url.path))
        try:
            if route is None:
                known = any(path == url.path for (_m, path) in service.routes())
                self.send_json(405 if known else 404, {"error": "method not allowed" if known else "not found"})
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # one failed request never takes the server down
            LOG.error("%s %s failed: %s", method, url.path, short_error(exc))
            self.send_json(500, {"error": short_error(exc)})

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def form(self):
        """Fields of an application/x-www-form-urlencoded (or JSON) body, first value of each."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        body = self.rfile.read(length) if length else b""
        if "json" in (self.headers.get("Content-Type") or ""):
            data = json.loads(body or b"{}")
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode("utf-8", "replace")).items()}

    def cookie(self, name):
        jar = http.cookies.SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie") or "")
        except http.cookies.CookieError:
            return None
        return jar[name].value if name in jar else None

    def send_body(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Apiha-Instance", self.server.service.cfg.instance)
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, data, headers=()):
        body = (json.dumps(data, default=str) + "\n").encode()
        self.send_body(status, body, "application/json", headers)

    def send_text(self, status, text):
        self.send_body(status, text.encode(), "text/plain; charset=utf-8")

    def log_message(self, fmt, *args):
        LOG.debug("http %s %s", self.address_string(), fmt % args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, service):
        self.service = service
        cfg = service.cfg
        if ":" in cfg.listen_host:
            self.address_family = socket.AF_INET6
        super().__init__((cfg.listen_host, cfg.listen_port), Handler)


class Service:
    """Base of the five services: ``routes()`` for HTTP, ``loop(stop)`` for the background work, ``close()``."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.started = time.time()

    def routes(self):
        return {("GET", "/health"): self.http_health}

    def base_info(self):
        return {
            "service": self.cfg.service_name,
            "instance": self.cfg.instance,
            "version": __version__,
            "platform": "apiplatform.ha reference platform (stand-in)",
        }

    def health(self):
        """(healthy, extra dict) — overridden by each service."""
        return True, {}

    def http_health(self, req):
        ok, extra = self.health()
        req.send_json(200 if ok else 503, {**self.base_info(), "healthy": ok, **extra})

    def loop(self, stop):
        stop.wait()

    def close(self):
        pass


def main(argv):
    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: python3 -m apiha_reference {{{','.join(SERVICES)}}}", file=sys.stderr)
        return 2
    name = argv[0]
    try:
        cfg = load(name, os.environ)
    except ConfigError as exc:
        print(f"apiha-{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg)
    module = importlib.import_module(f".{name}", __package__)
    service = module.SERVICE(cfg)

    stop = threading.Event()

    def on_signal(signum, _frame):
        LOG.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        server = Server(service)
    except OSError as exc:
        LOG.error("cannot listen on %s:%s: %s", cfg.listen_host, cfg.listen_port, short_error(exc))
        return 1
    http_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25}, name="http")
    http_thread.daemon = True
    http_thread.start()

    def run_loop():
        try:
            service.loop(stop)
        except Exception as exc:  # the loop handles outages itself; anything else is logged, the process stays up
            LOG.error("%s loop stopped: %s", name, short_error(exc))

    worker = threading.Thread(target=run_loop, name=f"{name}-loop", daemon=True)
    worker.start()
    LOG.info(
        "started %s version %s (reference platform stand-in), http on %s:%s",
        cfg.service_name,
        __version__,
        cfg.listen_host,
        cfg.listen_port,
    )
    while not stop.wait(0.5):
        pass
    deadline = time.monotonic() + SHUTDOWN_GRACE
    server.shutdown()
    server.server_close()
    worker.join(max(0.1, deadline - time.monotonic()))
    try:
        service.close()
    except Exception as exc:  # best effort: the process is going anyway
        LOG.warning("closing connections: %s", short_error(exc))
    LOG.info("stopped")
    return 0
