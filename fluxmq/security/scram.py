"""SCRAM credentials (RFC 5802, RFC 7677) as Kafka keeps them: per user and
mechanism a salt, an iteration count, the stored key and the server key,
never the password (Kafka's ScramCredential / UserScramCredentialRecord).

AlterUserScramCredentials sends the salted password (the client ran Hi());
the broker derives the two keys from it, as Kafka's ScramFormatter does:

    ClientKey = HMAC(SaltedPassword, "Client Key")   StoredKey = H(ClientKey)
    ServerKey = HMAC(SaltedPassword, "Server Key")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

# Kafka's ScramMechanism: name -> (hash, its type id in the protocol, minimum iterations).
MECHANISMS = {"SCRAM-SHA-256": ("sha256", 1, 4096), "SCRAM-SHA-512": ("sha512", 2, 4096)}
MECHANISM_BY_TYPE = {type_id: name for name, (_h, type_id, _m) in MECHANISMS.items()}
MAX_ITERATIONS = 16384  # ScramControlManager's upper bound
SALT_BYTES = 32


@dataclass(frozen=True)
class ScramCredential:
    mechanism: str
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int
    salted_password: bytes | None = None  # only while a client sends it (from_password); never stored

    def to_json(self) -> dict:
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        return {"salt": b64(self.salt), "stored_key": b64(self.stored_key), "server_key": b64(self.server_key),
                "iterations": self.iterations}

    @classmethod
    def from_json(cls, mechanism: str, d: dict) -> "ScramCredential":
        raw = base64.b64decode
        return cls(mechanism, raw(d["salt"]), raw(d["stored_key"]), raw(d["server_key"]), int(d["iterations"]))


def from_salted_password(mechanism: str, salt: bytes, salted_password: bytes, iterations: int) -> ScramCredential:
    digest = MECHANISMS[mechanism][0]
    client_key = hmac.new(salted_password, b"Client Key", digest).digest()
    stored_key = hashlib.new(digest, client_key).digest()
    server_key = hmac.new(salted_password, b"Server Key", digest).digest()
    return ScramCredential(mechanism, bytes(salt), stored_key, server_key, iterations)


def from_password(mechanism: str, password: str, iterations: int = 4096, salt: bytes | None = None) -> ScramCredential:
    """What a client's AlterUserScramCredentials amounts to (`fluxmq users`)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac(MECHANISMS[mechanism][0], password.encode(), salt, iterations)  # Hi() of RFC 5802
    cred = from_salted_password(mechanism, salt, salted, iterations)
    return ScramCredential(mechanism, cred.salt, cred.stored_key, cred.server_key, iterations, salted)


def check_iterations(mechanism: str, iterations: int) -> str | None:
    """Why Kafka's ScramControlManager refuses this iteration count, or None."""
    minimum = MECHANISMS[mechanism][2]
    if iterations < minimum:
        return "Too few iterations"
    if iterations > MAX_ITERATIONS:
        return "Too many iterations"
    return None
