"""A raw Kafka client for the fault suite: a plain blocking socket, frames
built by hand, every wait bounded by a timeout.

Framing: int32 size | request header | body. Request header v1 (non-flexible
versions): api_key int16 | api_version int16 | correlation_id int32 |
client_id nullable string (int16 length). Header v2 (flexible versions,
KIP-482): v1 followed by tagged fields (an unsigned varint count; 0 here).
Response header: correlation_id int32, plus tagged fields for flexible
versions, except ApiVersions whose response header is always v0 (KIP-511).

Bodies are encoded and decoded with kio through fluxmq.protocol.codec, the
library the broker uses; the framing and headers here are our own.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from kio.serial import entity_reader

from fluxmq.protocol import codec

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA = 0, 1, 2, 3
API_VERSIONS, API_CREATE_TOPICS, API_INIT_PRODUCER_ID = 18, 19, 22
DEFAULT_TIMEOUT = 10.0

_SIZE = struct.Struct(">i")
_FIXED = struct.Struct(">hhi")


class ConnectionClosed(Exception):
    """The broker closed the connection (EOF or reset)."""


def request_header(api_key: int, version: int, correlation_id: int, client_id: str | None = "fault-suite",
                   flexible: bool | None = None) -> bytes:
    if flexible is None:
        flexible = codec.is_flexible(api_key, version)
    cid = struct.pack(">h", -1) if client_id is None else struct.pack(">h", len(client_id)) + client_id.encode()
    return _FIXED.pack(api_key, version, correlation_id) + cid + (b"\x00" if flexible else b"")


def encode_request(api_key: int, version: int, correlation_id: int, body: dict) -> bytes:
    """Header + body, without the size prefix."""
    return request_header(api_key, version, correlation_id) + codec.encode_request(api_key, version, body)


def frame(payload: bytes) -> bytes:
    return _SIZE.pack(len(payload)) + payload


def _read_uvarint(buf, pos):
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def decode_response(api_key: int, version: int, payload: bytes) -> tuple[int, Any]:
    """(correlation id, kio entity) of one response frame (size prefix removed)."""
    (correlation_id,) = _SIZE.unpack_from(payload, 0)
    pos = 4
    if codec.is_flexible(api_key, version) and api_key != API_VERSIONS:
        count, pos = _read_uvarint(payload, pos)
        for _ in range(count):
            _tag, pos = _read_uvarint(payload, pos)
            size, pos = _read_uvarint(payload, pos)
            pos += size
    entity, _size = entity_reader(codec.response_class(api_key, version))(payload, pos)
    return correlation_id, entity


class RawClient:
    def __init__(self, host: str, port: int, timeout: float = DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._next_correlation = 1
        self._buf = b""

    @classmethod
    def to(cls, broker, timeout: float = DEFAULT_TIMEOUT) -> "RawClient":
        return cls(broker.host, broker.port, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    # ------------------------------------------------------------- sending
    def correlation_id(self) -> int:
        cid = self._next_correlation
        self._next_correlation += 1
        return cid

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(frame(payload))

    def send(self, api_key: int, version: int, body: dict, correlation_id: int | None = None) -> int:
        cid = self.correlation_id() if correlation_id is None else correlation_id
        self.send_frame(encode_request(api_key, version, cid, body))
        return cid

    # ----------------------------------------------------------- receiving
    def _fill(self, n: int, deadline: float) -> None:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete response within {self.timeout}s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except socket.timeout:
                raise TimeoutError(f"no complete response within {self.timeout}s") from None
            except ConnectionResetError:
                raise ConnectionClosed("connection reset by the broker") from None
            if not chunk:
                raise ConnectionClosed("connection closed by the broker")
            self._buf += chunk

    def recv_frame(self, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._fill(4, deadline)
        (size,) = _SIZE.unpack_from(self._buf, 0)
        self._fill(4 + size, deadline)
        payload, self._buf = self._buf[4:4 + size], self._buf[4 + size:]
        return payload

    def recv(self, api_key: int, version: int, timeout: float | None = None) -> tuple[int, Any]:
        return decode_response(api_key, version, self.recv_frame(timeout))

    def call(self, api_key: int, version: int, body: dict, timeout: float | None = None) -> Any:
        cid = self.send(api_key, version, body)
        got, entity = self.recv(api_key, version, timeout)
        assert got == cid, f"correlation id {got}, expected {cid}"
        return entity

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """True once the broker closed the connection (EOF or reset) within
        timeout without sending anything; False if it stayed open. Raises
        AssertionError if bytes arrive."""
        deadline = time.monotonic() + timeout
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
            raise AssertionError(f"expected the connection to be closed, got {len(chunk)} bytes: {chunk[:64]!r}")

    def is_open(self, wait: float = 0.3) -> bool:
        """No EOF within `wait` seconds (and nothing unexpected arrived)."""
        return not self.wait_closed(wait)


# ------------------------------------------------------- common requests
def api_versions(c: RawClient, version: int = 3) -> Any:
    body = {"client_software_name": "fluxmq-fault", "client_software_version": "1"} if version >= 3 else {}
    return c.call(API_VERSIONS, version, body)


def supported_apis(c: RawClient) -> dict[int, tuple[int, int]]:
    resp = api_versions(c)
    assert int(resp.error_code) == 0
    return {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}


def metadata(c: RawClient, topics: list[str] | None, auto_create: bool = True, version: int = 12) -> Any:
    body: dict = {"allow_auto_topic_creation": auto_create, "include_topic_authorized_operations": False}
    body["topics"] = None if topics is None else [{"name": t, "topic_id": None} for t in topics]
    return c.call(API_METADATA, version, body)


def produce_body(topic: str, partition: int, records: bytes, acks: int = -1, timeout_ms: int = 10000) -> dict:
    return {"transactional_id": None, "acks": acks, "timeout": timeout_ms,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]}


def produce(c: RawClient, topic: str, partition: int, records: bytes, acks: int = -1, version: int = 9) -> Any:
    """The single partition response of a one-partition produce."""
    resp = c.call(API_PRODUCE, version, produce_body(topic, partition, records, acks))
    return resp.responses[0].partition_responses[0]


def fetch_body(topic: str, partition: int, offset: int, max_wait_ms: int = 0, min_bytes: int = 1,
               max_bytes: int = 1 << 20) -> dict:
    return {"replica_id": -1, "max_wait": max_wait_ms, "min_bytes": min_bytes, "max_bytes": max_bytes,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1, "cluster_id": None,
            "topics": [{"topic": topic, "partitions": [
                {"partition": partition, "current_leader_epoch": -1, "fetch_offset": offset,
                 "last_fetched_epoch": -1, "log_start_offset": -1, "partition_max_bytes": max_bytes}]}],
            "forgotten_topics_data": [], "rack_id": ""}


def fetch(c: RawClient, topic: str, partition: int, offset: int, max_wait_ms: int = 0,
          max_bytes: int = 1 << 20, version: int = 12) -> Any:
    """The single partition of a one-partition fetch."""
    resp = c.call(API_FETCH, version, fetch_body(topic, partition, offset, max_wait_ms, max_bytes=max_bytes))
    return resp.responses[0].partitions[0]


def list_offset(c: RawClient, topic: str, partition: int, timestamp: int, version: int = 7) -> Any:
    body = {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                        "timestamp": timestamp}]}]}
    return c.call(API_LIST_OFFSETS, version, body).topics[0].partitions[0]


def log_end_offset(c: RawClient, topic: str, partition: int = 0) -> int:
    p = list_offset(c, topic, partition, -1)
    assert int(p.error_code) == 0, p
    return p.offset


def log_start_offset(c: RawClient, topic: str, partition: int = 0) -> int:
    p = list_offset(c, topic, partition, -2)
    assert int(p.error_code) == 0, p
    return p.offset


def fetch_all(c: RawClient, topic: str, partition: int = 0, start: int = 0, max_rounds: int = 10000):
    """Every batch from `start` to the high watermark (bounded)."""
    from batches import parse_batches

    out = []
    offset = start
    for _ in range(max_rounds):
        p = fetch(c, topic, partition, offset)
        assert int(p.error_code) == 0, f"fetch at {offset}: error {p.error_code}"
        batches = parse_batches(p.records or b"")
        if not batches:
            if offset >= p.high_watermark:
                return out
            raise AssertionError(f"no batch at offset {offset} below the high watermark {p.high_watermark}")
        for b in batches:
            if b.last_offset >= offset:
                out.append(b)
                offset = b.last_offset + 1
    raise AssertionError("fetch_all did not reach the high watermark")


def create_topic(c: RawClient, name: str, partitions: int, version: int = 7, configs: dict | None = None) -> Any:
    body = {"topics": [{"name": name, "num_partitions": partitions, "replication_factor": -1,
                        "assignments": [], "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}],
            "timeout": 10000, "validate_only": False}
    return c.call(API_CREATE_TOPICS, version, body).topics[0]


def init_producer_id(c: RawClient, version: int = 4) -> tuple[int, int]:
    resp = c.call(API_INIT_PRODUCER_ID, version, {"transactional_id": None, "transaction_timeout": 60000,
                                                  "producer_id": -1, "producer_epoch": -1})
    assert int(resp.error_code) == 0, resp
    return resp.producer_id, resp.producer_epoch


def ensure_topic(c: RawClient, name: str) -> None:
    """Auto-creates `name` through Metadata (num.partitions partitions)."""
    resp = metadata(c, [name])
    assert int(resp.topics[0].error_code) == 0, resp.topics[0]
