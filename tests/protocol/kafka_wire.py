"""A small raw Kafka protocol client for tests: one blocking socket, kio
entities for bodies, hand-written headers.

Request header (RequestHeader.json):
    v1: api_key int16 | api_version int16 | correlation_id int32 | client_id nullable string (int16 length)
    v2: v1 + tagged fields (uvarint count, then tag/size/bytes), for flexible versions
Response header: v0 correlation_id int32; v1 adds tagged fields for flexible
versions, except ApiVersions, always v0 (KIP-511).
Every frame is size-prefixed (int32). Every socket operation is bounded by
the client's timeout, so a broker that does not answer fails the test
instead of hanging it.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time

import crc32c
from kio.serial import entity_reader

from fluxmq.protocol import codec

__all__ = ["KafkaWire", "read_uvarint", "record_batch", "request_header"]

API_VERSIONS = 18
_I16, _I32 = struct.Struct(">h"), struct.Struct(">i")


def request_header(api_key: int, version: int, correlation_id: int, client_id: str | None,
                   flexible: bool) -> bytes:
    head = struct.pack(">hhi", api_key, version, correlation_id)
    if client_id is None:
        head += _I16.pack(-1)
    else:
        raw = client_id.encode()
        head += _I16.pack(len(raw)) + raw
    return head + (b"\x00" if flexible else b"")


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _varint(value: int) -> bytes:
    """Kafka's signed varint (zig-zag, base-128 groups, little-endian)."""
    z = ((value << 1) ^ (value >> 63)) & (2**64 - 1)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Record batch header, magic 2 (KIP-98), big-endian:
#   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32
#   | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64
#   | producerId int64 | producerEpoch int16 | baseSequence int32 | recordsCount int32
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC_FROM = 21  # the CRC-32C covers attributes .. end of batch
_CRC_AT = 17


def record_batch(values: list[bytes], timestamp: int | None = None, producer_id: int = -1,
                 producer_epoch: int = -1, base_sequence: int = -1) -> bytes:
    """An uncompressed batch of keyless records, CRC from the crc32c package."""
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    records = b""
    for i, v in enumerate(values):
        body = b"\x00" + _varint(0) + _varint(i) + _varint(-1) + _varint(len(v)) + v + _varint(0)
        records += _varint(len(body)) + body
    n = len(values)
    header = bytearray(_BATCH_HEADER.pack(0, _BATCH_HEADER.size - 12 + len(records), -1, 2, 0, 0, n - 1,
                                          ts, ts, producer_id, producer_epoch, base_sequence, n))
    struct.pack_into(">I", header, _CRC_AT, crc32c.crc32c(bytes(header[_CRC_FROM:]) + records))
    return bytes(header) + records


class KafkaWire:
    def __init__(self, host: str, port: int, client_id: str | None = "fluxmq-tests", timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.client_id = client_id
        self._correlation = itertools.count(1)

    @classmethod
    def to(cls, broker, **kw) -> KafkaWire:
        return cls(broker.host, broker.port, **kw)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ framing
    def send_frame(self, payload: bytes) -> None:
        self.sock.sendall(_I32.pack(len(payload)) + payload)

    def _recv_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def recv_frame(self) -> bytes:
        (size,) = _I32.unpack(self._recv_exact(4))
        return self._recv_exact(size)

    def closed_by_peer(self) -> bool:
        """True if the broker closed the connection (EOF) within the timeout."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    # ------------------------------------------------------------ requests
    def next_correlation_id(self) -> int:
        return next(self._correlation)

    def send(self, api_key: int, version: int, body, correlation_id: int | None = None,
             flexible: bool | None = None) -> int:
        """Sends one request; body is a dict (built into the kio entity of
        that version) or raw body bytes. Returns the correlation id."""
        cid = self.next_correlation_id() if correlation_id is None else correlation_id
        if flexible is None:
            flexible = codec.is_flexible(api_key, version)
        if isinstance(body, dict):
            body = codec.encode_request(api_key, version, body)
        self.send_frame(request_header(api_key, version, cid, self.client_id, flexible) + body)
        return cid

    def receive(self, api_key: int, version: int, correlation_id: int):
        """Reads one response and decodes it with kio; checks the correlation
        id and that the body is consumed exactly (no trailing bytes)."""
        frame = self.recv_frame()
        (cid,) = _I32.unpack_from(frame, 0)
        assert cid == correlation_id, f"correlation id {cid}, expected {correlation_id}"
        pos = 4
        if codec.is_flexible(api_key, version) and api_key != API_VERSIONS:
            count, pos = read_uvarint(frame, pos)
            for _ in range(count):
                _tag, pos = read_uvarint(frame, pos)
                size, pos = read_uvarint(frame, pos)
                pos += size
        cls = codec.response_class(api_key, version)
        entity, size = entity_reader(cls)(frame, pos)
        assert pos + size == len(frame), f"{cls.__name__}: {len(frame) - pos - size} trailing bytes"
        return entity

    def call(self, api_key: int, version: int, body=None):
        """One request, one decoded response."""
        cid = self.send(api_key, version, {} if body is None else body)
        return self.receive(api_key, version, cid)
