"""Builds record batches (magic 2, uncompressed) for records the broker
writes itself: coordinator state in internal topics. Client batches are never
rebuilt. Layout: see csrc/records.c and log/records.py."""

from __future__ import annotations

import struct

from fluxmq import native
from fluxmq.util.varint import varint as _varint

_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC_START = 21
_CRC_POS = 17
LOG_OVERHEAD = 12


def _blob(b: bytes | None) -> bytes:
    return _varint(-1) if b is None else _varint(len(b)) + b


def build_batch(records: list[tuple[bytes | None, bytes | None]], timestamp_ms: int,
                producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1,
                attributes: int = 0) -> bytes:
    """One batch of (key, value) records, all stamped timestamp_ms; the
    broker assigns offsets on append."""
    body = bytearray()
    for delta, (key, value) in enumerate(records):
        rec = b"\x00" + _varint(0) + _varint(delta) + _blob(key) + _blob(value) + _varint(0)
        body += _varint(len(rec)) + rec
    n = len(records)
    header = bytearray(_HEADER.pack(0, _HEADER.size - LOG_OVERHEAD + len(body), -1, 2, 0, attributes,
                                    n - 1, timestamp_ms, timestamp_ms, producer_id, producer_epoch,
                                    base_sequence, n))
    batch = header + body
    struct.pack_into(">I", batch, _CRC_POS, native.crc32c(bytes(batch[_CRC_START:])))
    return bytes(batch)
