"""A minimal blocking Kafka protocol client: the `fluxmq topics` CLI and the
raw-protocol test suites (tests/wire.py) both use it.

Framing and headers, written here rather than taken from the broker's
fluxmq.protocol.header, so the tests check the broker against them:

    frame               size int32 | payload
    request header v1   api_key int16 | api_version int16 | correlation_id int32
                        | client_id nullable string (int16 length)
    request header v2   v1 + tagged fields (flexible versions, KIP-482; none sent here)
    response header v0  correlation_id int32
    response header v1  v0 + tagged fields (flexible versions), except ApiVersions,
                        whose response header is always v0 (KIP-511)

Bodies are encoded and decoded with the kio codecs the broker uses. Every
wait is bounded by the client's timeout. Requests may be pipelined: send
several, then receive their responses in order. No retries.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time
from typing import Any

from fluxmq.protocol import codec
from fluxmq.protocol.header import API_VERSIONS_KEY, skip_tagged_fields

DEFAULT_CLIENT_ID = "fluxmq-cli"

_SIZE = struct.Struct(">i")
_FIXED = struct.Struct(">hhi")  # api_key, api_version, correlation_id
_I16 = struct.Struct(">h")


class ConnectionClosed(ConnectionError):
    """The broker closed the connection (EOF or reset)."""


class ProtocolError(ConnectionError):
    """A response that does not fit its request: another correlation id, bytes
    left after the body, or bytes where the connection should have closed."""


def request_header(api_key: int, version: int, correlation_id: int, client_id: str | None = DEFAULT_CLIENT_ID,
                   flexible: bool | None = None) -> bytes:
    """Request header v1, or v2 (empty tagged fields) when `flexible`; by
    default flexible is what the version of that API is."""
    if flexible is None:
        flexible = codec.is_flexible(api_key, version)
    if client_id is None:
        cid = _I16.pack(-1)
    else:
        raw = client_id.encode()
        cid = _I16.pack(len(raw)) + raw
    return _FIXED.pack(api_key, version, correlation_id) + cid + (b"\x00" if flexible else b"")


def encode_request(api_key: int, version: int, correlation_id: int, body: dict | bytes,
                   client_id: str | None = DEFAULT_CLIENT_ID, flexible: bool | None = None) -> bytes:
    """Header + body, without the size prefix. `body` is a dict (built into
    the kio entity of that version) or the body's raw bytes."""
    if isinstance(body, dict):
        body = codec.encode_request(api_key, version, body)
    return request_header(api_key, version, correlation_id, client_id, flexible) + body


def frame(payload: bytes) -> bytes:
    """Size-prefixes a payload."""
    return _SIZE.pack(len(payload)) + payload


def read_response_header(api_key: int, version: int, payload: bytes) -> tuple[int, int]:
    """(correlation id, where the body starts) of a response frame (size
    prefix removed): header v1 for flexible versions, v0 otherwise and for
    ApiVersions. Tagged fields are skipped."""
    (correlation_id,) = _SIZE.unpack_from(payload, 0)
    pos = 4
    if codec.is_flexible(api_key, version) and api_key != API_VERSIONS_KEY:
        pos = skip_tagged_fields(payload, pos)
    return correlation_id, pos


def decode_response(api_key: int, version: int, payload: bytes, exact: bool = False) -> tuple[int, Any]:
    """(correlation id, kio entity) of one response frame (size prefix
    removed). With `exact`, a body that does not end at the frame's end
    raises ProtocolError."""
    correlation_id, pos = read_response_header(api_key, version, payload)
    cls = codec.response_class(api_key, version)
    entity, size = codec._reader(cls)(payload, pos)
    if exact and pos + size != len(payload):
        raise ProtocolError(f"{cls.__name__}: {len(payload) - pos - size} trailing bytes")
    return correlation_id, entity


class KafkaWireClient:
    """One blocking connection. `strict` also checks that every response body
    decodes to its last byte (the test suites set it)."""

    def __init__(self, bootstrap: str, client_id: str | None = DEFAULT_CLIENT_ID, timeout: float = 30.0,
                 strict: bool = False):
        host, _, port = bootstrap.rpartition(":")
        self.sock = socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client_id = client_id
        self.timeout = timeout
        self.strict = strict
        self._correlation = itertools.count(1)
        self._buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------- sending
    def next_correlation_id(self) -> int:
        return next(self._correlation)

    def send_bytes(self, data: bytes) -> None:
        """Anything at all, unframed (tests send garbage and partial frames)."""
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def send_frame(self, payload: bytes) -> None:
        self.send_bytes(frame(payload))

    def send(self, api_key: int, version: int, body: dict | bytes, correlation_id: int | None = None,
             flexible: bool | None = None) -> int:
        """Sends one request (see encode_request); returns its correlation id."""
        cid = self.next_correlation_id() if correlation_id is None else correlation_id
        self.send_frame(encode_request(api_key, version, cid, body, self.client_id, flexible))
        return cid

    # ----------------------------------------------------------- receiving
    def _fill(self, n: int, deadline: float, timeout: float) -> None:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete response within {timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except socket.timeout:
                raise TimeoutError(f"no complete response within {timeout}s") from None
            except ConnectionResetError:
                raise ConnectionClosed("connection reset by the broker") from None
            if not chunk:
                raise ConnectionClosed("connection closed by the broker")
            self._buf += chunk

    def recv_frame(self, timeout: float | None = None) -> bytes:
        """The next response frame, size prefix removed."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        self._fill(4, deadline, timeout)
        (size,) = _SIZE.unpack_from(self._buf, 0)
        self._fill(4 + size, deadline, timeout)
        payload, self._buf = self._buf[4:4 + size], self._buf[4 + size:]
        return payload

    def receive(self, api_key: int, version: int, correlation_id: int | None = None,
                timeout: float | None = None) -> Any:
        """The next response, decoded as the kio entity of that API version;
        checks its correlation id when one is given."""
        got, entity = decode_response(api_key, version, self.recv_frame(timeout), self.strict)
        if correlation_id is not None and got != correlation_id:
            raise ProtocolError(f"correlation id {got}, expected {correlation_id}")
        return entity

    def request(self, api_key: int, version: int, body: dict | bytes | None = None,
                timeout: float | None = None) -> Any:
        """Sends one request and returns the decoded kio response entity."""
        cid = self.send(api_key, version, {} if body is None else body)
        return self.receive(api_key, version, cid, timeout)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """True once the broker closes the connection (EOF or reset) within
        timeout, False if it stays open; ProtocolError if bytes arrive."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        if self._buf:
            raise ProtocolError(f"expected the connection to be closed, got {len(self._buf)} bytes")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            raise ProtocolError(f"expected the connection to be closed, got {len(chunk)} bytes: {chunk[:64]!r}")

    def is_open(self, wait: float = 0.3) -> bool:
        """No EOF within `wait` seconds (and nothing unexpected arrived)."""
        return not self.wait_closed(wait)


SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36


class SaslFailed(ConnectionError):
    """The broker refused the SASL handshake or the credentials."""


def sasl_authenticate(client: KafkaWireClient, mechanism: str, username: str, password: str) -> int:
    """SaslHandshake v1 and SaslAuthenticate v2 with PLAIN or SCRAM-SHA-256/512, as
    Kafka's clients do; returns the session lifetime in ms (KIP-368, 0: none).
    Raises SaslFailed with the broker's error."""
    hs = client.request(SASL_HANDSHAKE, 1, {"mechanism": mechanism})
    if int(hs.error_code) != 0:
        raise SaslFailed(f"SaslHandshake {mechanism}: error {int(hs.error_code)} (enabled: {', '.join(hs.mechanisms)})")

    def step(token: bytes):
        r = client.request(SASL_AUTHENTICATE, 2, {"auth_bytes": token})
        if int(r.error_code) != 0:
            raise SaslFailed(f"SaslAuthenticate: error {int(r.error_code)}: {r.error_message}")
        return r

    if mechanism == "PLAIN":
        r = step(b"\0" + username.encode() + b"\0" + password.encode())
    else:
        import scramp
        scram = scramp.ScramClient([mechanism], username.replace("=", "=3D").replace(",", "=2C"), password)
        first = step(scram.get_client_first().encode())
        scram.set_server_first(first.auth_bytes.decode())
        r = step(scram.get_client_final().encode())
        scram.set_server_final(r.auth_bytes.decode())  # checks the server's signature
    lifetime = r.session_lifetime
    return int(lifetime.total_seconds() * 1000) if hasattr(lifetime, "total_seconds") else int(lifetime)
