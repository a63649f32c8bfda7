"""A fake RabbitMQ management API behind a real RabbitMQClient: a requests-like session that answers from memory.

Shared by the unit tests of module_utils/rabbitmq.py, rabbitmq_ha_policy and rabbitmq_cluster_info.
"""

import json
from urllib.parse import unquote, urlsplit

from ansible_collections.apiplatform.ha.plugins.module_utils.rabbitmq import RabbitMQClient

API = "http://10.0.0.1:15672"
PASSWORD = "s3cret"


class FakeResponse:
    def __init__(self, status_code, data=None, reason="", raw=None):
        self.status_code = status_code
        self.reason = reason or {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request"}.get(status_code, "")
        self.text = raw if raw is not None else ("" if data is None else json.dumps(data))


def node(name, running=True, partitions=(), mem_alarm=False, disk_free_alarm=False, uptime=3_600_000):
    if not running:
        return {"name": name, "type": "disc", "running": False}
    return {
        "name": name,
        "type": "disc",
        "running": True,
        "partitions": list(partitions),
        "mem_alarm": mem_alarm,
        "disk_free_alarm": disk_free_alarm,
        "uptime": uptime,
    }


def quorum_queue(name, members, online=None, leader=None, vhost="/"):
    return {
        "vhost": vhost,
        "name": name,
        "type": "quorum",
        "leader": leader or members[0],
        "members": list(members),
        "online": list(members if online is None else online),
    }


class FakeSession:
    """Routes of the management API the modules use; ``requests`` logs (method, path, body)."""

    def __init__(self, version="3.10.8", vhosts=("/",), policies=None, nodes=None, queues=None, password=PASSWORD):
        self.version = version
        self.vhosts = set(vhosts)
        self.policies = dict(policies or {})  # (vhost, name) -> stored policy
        self.nodes = nodes if nodes is not None else [node("rabbit@n1"), node("rabbit@n2"), node("rabbit@n3")]
        self.queues = queues or []
        self.password = password
        self.requests = []
        self.error = None  # an exception to raise on every request

    @property
    def writes(self):
        return [r for r in self.requests if r[0] != "GET"]

    def request(self, method, url, json=None, auth=None, params=None, **_kwargs):
        if self.error is not None:
            raise self.error
        parts = urlsplit(url)
        raw_segments = parts.path.split("/")[2:]  # after /api
        segments = [unquote(s) for s in raw_segments]
        self.requests.append((method, parts.path, json))
        if auth is None or auth[1] != self.password:
            return FakeResponse(401, {"error": "not_authorized", "reason": "Login failed"})
        head = segments[0] if segments else ""
        if method == "GET" and head == "overview":
            return FakeResponse(
                200,
                {
                    "rabbitmq_version": self.version,
                    "erlang_version": "25.2.3",
                    "cluster_name": "rabbit@n1",
                },
            )
        if method == "GET" and head == "nodes":
            return FakeResponse(200, self.nodes)
        if method == "GET" and head == "vhosts":
            if segments[1] in self.vhosts:
                return FakeResponse(200, {"name": segments[1]})
            return FakeResponse(404, {"error": "Object Not Found", "reason": "Not Found"})
        if method == "GET" and head == "queues":
            if len(segments) > 1 and segments[1] not in self.vhosts:
                return FakeResponse(404, {"error": "Object Not Found", "reason": "Not Found"})
            data = [q for q in self.queues if len(segments) == 1 or q["vhost"] == segments[1]]
            return FakeResponse(200, data)
        if head == "policies":
            if len(segments) == 1:
                return FakeResponse(200, list(self.policies.values()))
            vhost = segments[1]
            if len(segments) == 2:
                return FakeResponse(200, [p for (v, _n), p in self.policies.items() if v == vhost])
            key = (vhost, segments[2])
            if method == "GET":
                if key in self.policies:
                    return FakeResponse(200, self.policies[key])
                return FakeResponse(404, {"error": "Object Not Found", "reason": "Not Found"})
            if method == "PUT":
                if vhost not in self.vhosts:
                    return FakeResponse(404, {"error": "not_found", "reason": "vhost_not_found"})
                unknown = [k for k in json["definition"] if k.startswith("x-")]
                if unknown:
                    setting = f'[{{&lt;&lt;"{unknown[0]}"&gt;&gt;,1}}]'
                    reason = f"Validation failed\n\n{setting} are not recognised policy settings\n"
                    return FakeResponse(400, {"error": "bad_request", "reason": reason})
                existed = key in self.policies
                self.policies[key] = {"vhost": vhost, "name": segments[2], **json}
                return FakeResponse(204 if existed else 201)
            if method == "DELETE":
                if self.policies.pop(key, None) is None:
                    return FakeResponse(404, {"error": "Object Not Found", "reason": "Not Found"})
                return FakeResponse(204)
        return FakeResponse(404, {"error": "Object Not Found", "reason": "Not Found"})


def client_for(session, **kwargs):
    kwargs.setdefault("password", PASSWORD)
    return RabbitMQClient(kwargs.pop("api_url", API), kwargs.pop("user", "admin"), session=session, **kwargs)


def install(monkeypatch, module, session):
    """Make ``module``'s RabbitMQClient.from_params build a real client that talks to ``session``."""
    real = module.RabbitMQClient

    def from_params(cls, params):
        return real(
            params["api_url"],
            params["api_user"],
            params["api_password"],
            ca_cert=params.get("api_ca_cert"),
            validate_certs=params["validate_certs"],
            timeout=params["api_timeout"],
            session=session,
        )

    monkeypatch.setattr(module.RabbitMQClient, "from_params", classmethod(from_params))
    return session
