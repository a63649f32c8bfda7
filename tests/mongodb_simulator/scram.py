"""SCRAM-SHA-256 server side (RFC 5802/7677) for the apiplatform.ha replica-set simulator (not MongoDB)."""

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

ITERATIONS = 15000


class ScramError(Exception):
    pass


def saslprep(text):
    """RFC 4013 SASLprep, enough for passwords (pymongo applies it too)."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c))
    return unicodedata.normalize("NFKC", mapped)


def _hmac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def make_credentials(password, salt=None, iterations=ITERATIONS):
    salt = salt or os.urandom(28)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return {
        "iterationCount": iterations,
        "salt": base64.b64encode(salt).decode(),
        "storedKey": base64.b64encode(hashlib.sha256(client_key).digest()).decode(),
        "serverKey": base64.b64encode(_hmac(salted, b"Server Key")).decode(),
    }


def _parse(payload):
    out = {}
    for part in payload.split(","):
        if len(part) >= 2 and part[1] == "=":
            out[part[0]] = part[2:]
    return out


def _unescape_user(name):
    return name.replace("=2C", ",").replace("=3D", "=")


def client_first_user(payload):
    """The user name of a client-first-message (gs2 header + bare)."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    if not text.startswith(("n,", "y,")):
        raise ScramError("channel binding is not supported")
    bare = text.split(",", 2)[2]
    return _unescape_user(_parse(bare).get("n", ""))


class ServerConversation:
    def __init__(self, credentials):
        self.credentials = credentials
        self.client_first_bare = None
        self.server_first = None
        self.nonce = None

    def first(self, payload):
        text = payload.decode()
        bare = text.split(",", 2)[2]
        attrs = _parse(bare)
        if "r" not in attrs:
            raise ScramError("missing client nonce")
        self.client_first_bare = bare
        self.nonce = attrs["r"] + base64.b64encode(os.urandom(24)).decode()
        creds = self.credentials
        self.server_first = f"r={self.nonce},s={creds['salt']},i={creds['iterationCount']}"
        return self.server_first.encode()

    def final(self, payload):
        text = payload.decode()
        attrs = _parse(text)
        if attrs.get("r") != self.nonce or "p" not in attrs:
            raise ScramError("nonce mismatch")
        without_proof = text[: text.rindex(",p=")]
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        stored_key = base64.b64decode(self.credentials["storedKey"])
        proof = base64.b64decode(attrs["p"])
        signature = _hmac(stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=False))
        if len(proof) != len(signature) or not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
            raise ScramError("bad proof")
        server_sig = _hmac(base64.b64decode(self.credentials["serverKey"]), auth_message)
        return ("v=" + base64.b64encode(server_sig).decode()).encode()
