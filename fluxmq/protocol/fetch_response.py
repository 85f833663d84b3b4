"""Hand-framed Fetch response body (v4-v18), so record payloads go from the
segment file to the socket with sendfile instead of through Python.

The encoder emits a list of parts: bytes, and FileRange for each partition's
records. tests/protocol/test_fetch_response.py checks it byte for byte
against kio for every version. Layout (FetchResponse.json):

    throttle_time_ms int32 | error_code int16 (v7+) | session_id int32 (v7+)
    responses [ topic string (v4-12) / topic_id uuid (v13+)
                partitions [ partition_index int32 | error_code int16 | high_watermark int64
                             | last_stable_offset int64 | log_start_offset int64 (v5+)
                             | aborted_transactions nullable [producer_id int64 | first_offset int64]
                             | preferred_read_replica int32 (v11+) | records nullable bytes ] ]
v12+ is flexible (KIP-482): compact arrays/strings/bytes (length + 1 as an
unsigned varint) and a tagged-field section after every struct, left empty
here (diverging_epoch, current_leader, snapshot_id, node_endpoints keep
their defaults and are omitted).
"""

from __future__ import annotations

import struct

from fluxmq.util.file_range import FileRange
from fluxmq.util.varint import uvarint

FIRST_FLEXIBLE = 12
FIRST_TOPIC_ID = 13
_HEAD = struct.Struct(">i")
_HEAD_SESSION = struct.Struct(">ihi")
_PARTITION = struct.Struct(">ihqq")   # index, error, high watermark, last stable offset
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_I16 = struct.Struct(">h")
_ABORTED = struct.Struct(">qq")
NO_TAGGED_FIELDS = b"\x00"


def _array_len(n: int, flexible: bool) -> bytes:
    return uvarint(n + 1) if flexible else _I32.pack(n)


def _nullable_array_len(items, flexible: bool) -> bytes:
    if items is None:
        return b"\x00" if flexible else _I32.pack(-1)
    return _array_len(len(items), flexible)


def _string(s: str, flexible: bool) -> bytes:
    b = s.encode()
    return (uvarint(len(b) + 1) if flexible else _I16.pack(len(b))) + b


class _Parts:
    """Accumulates bytes, starting a new part only around file ranges."""

    def __init__(self):
        self.parts: list = []
        self._buf = bytearray()
        self.length = 0

    def add(self, b: bytes) -> None:
        self._buf += b
        self.length += len(b)

    def add_range(self, r: FileRange) -> None:
        if self._buf:
            self.parts.append(bytes(self._buf))
            self._buf = bytearray()
        self.parts.append(r)
        self.length += r.length

    def done(self) -> list:
        if self._buf:
            self.parts.append(bytes(self._buf))
        return self.parts


def encode(version: int, topics: list[dict], error_code: int = 0, session_id: int = 0,
           throttle_time_ms: int = 0) -> tuple[list, int]:
    """(parts, total length) of a Fetch response body.

    topics: [{"topic": name, "topic_id": uuid.UUID, "partitions": [{partition_index,
    error_code, high_watermark, last_stable_offset, log_start_offset,
    aborted_transactions (None or [(producer_id, first_offset)]),
    preferred_read_replica, records (bytes, FileRange or None)}]}]
    """
    flexible = version >= FIRST_FLEXIBLE
    out = _Parts()
    out.add(_HEAD_SESSION.pack(throttle_time_ms, int(error_code), session_id) if version >= 7
            else _HEAD.pack(throttle_time_ms))
    out.add(_array_len(len(topics), flexible))
    for t in topics:
        if version >= FIRST_TOPIC_ID:
            out.add(t["topic_id"].bytes)
        else:
            out.add(_string(t["topic"], flexible))
        parts = t["partitions"]
        out.add(_array_len(len(parts), flexible))
        for p in parts:
            head = _PARTITION.pack(p["partition_index"], int(p["error_code"]), p["high_watermark"],
                                   p["last_stable_offset"])
            if version >= 5:
                head += _I64.pack(p["log_start_offset"])
            aborted = p["aborted_transactions"]
            head += _nullable_array_len(aborted, flexible)
            for producer_id, first_offset in aborted or ():
                head += _ABORTED.pack(producer_id, first_offset)
                if flexible:
                    head += NO_TAGGED_FIELDS
            if version >= 11:
                head += _I32.pack(p["preferred_read_replica"])
            records = p["records"]
            if records is None:
                head += b"\x00" if flexible else _I32.pack(-1)
                out.add(head)
            else:
                n = len(records)
                head += uvarint(n + 1) if flexible else _I32.pack(n)
                out.add(head)
                if isinstance(records, FileRange):
                    if n:
                        out.add_range(records)
                else:
                    out.add(records)
            if flexible:
                out.add(NO_TAGGED_FIELDS)
        if flexible:
            out.add(NO_TAGGED_FIELDS)
    if flexible:
        out.add(NO_TAGGED_FIELDS)
    return out.done(), out.length
