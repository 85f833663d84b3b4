"""Builds record batches (magic 2, uncompressed) for records the broker
writes itself: coordinator state in internal topics. Client batches are never
rebuilt. Layout: log/batch.py."""

from __future__ import annotations

from fluxmq import native
from fluxmq.log.batch import HEADER, LOG_OVERHEAD, set_crc
from fluxmq.util.varint import varint as _varint


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
    header = bytearray(HEADER.pack(0, HEADER.size - LOG_OVERHEAD + len(body), -1, 2, 0, attributes,
                                   n - 1, timestamp_ms, timestamp_ms, producer_id, producer_epoch,
                                   base_sequence, n))
    return bytes(set_crc(header + body, native.crc32c))
