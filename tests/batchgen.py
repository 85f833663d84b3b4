"""A small, independent builder of Kafka record batches (magic 2, KIP-98) for
the tests (native scanner, log, fault suites). The CRC comes from the `crc32c` PyPI package, never from
FluxMQ, so the C scanner is checked against a separate implementation.

Batch header (big-endian), one struct field per line:

    baseOffset            int64
    batchLength           int32   bytes after this field
    partitionLeaderEpoch  int32
    magic                 int8    2
    crc                   uint32  CRC-32C of attributes .. end of batch
    attributes            int16
    lastOffsetDelta       int32
    baseTimestamp         int64
    maxTimestamp          int64
    producerId            int64
    producerEpoch         int16
    baseSequence          int32
    recordsCount          int32
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import crc32c

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength
CRC_START = 21  # attributes offset
CRC_OFFSET = 17
MAGIC_OFFSET = 16
LENGTH_OFFSET = 8
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35

ATTR_TIMESTAMP_LOG_APPEND = 0x08
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20


def zigzag_varint(value: int) -> bytes:
    """Kafka's signed varint/varlong (zig-zag, base-128 little-endian groups)."""
    z = (value << 1) ^ (value >> 63)
    z &= (1 << 64) - 1
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


@dataclass
class Record:
    value: bytes | None = b""
    key: bytes | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    timestamp_delta: int = 0


def encode_record(rec: Record, offset_delta: int) -> bytes:
    def blob(b: bytes | None) -> bytes:
        return zigzag_varint(-1) if b is None else zigzag_varint(len(b)) + b

    body = bytearray()
    body.append(0)  # record attributes: unused
    body += zigzag_varint(rec.timestamp_delta)
    body += zigzag_varint(offset_delta)
    body += blob(rec.key)
    body += blob(rec.value)
    body += zigzag_varint(len(rec.headers))
    for k, v in rec.headers:
        body += blob(k.encode())
        body += blob(v)
    return zigzag_varint(len(body)) + bytes(body)


@dataclass
class BatchFields:
    base_offset: int = 0
    partition_leader_epoch: int = -1
    magic: int = 2
    attributes: int = 0
    last_offset_delta: int = 0
    first_timestamp: int = 0
    max_timestamp: int = 0
    producer_id: int = -1
    producer_epoch: int = -1
    base_sequence: int = -1
    records_count: int = 0
    crc: int = 0
    batch_length: int = 0


def build_batch(records: list[Record] | None = None, *, base_offset: int = 0,
                partition_leader_epoch: int = -1, attributes: int = 0,
                first_timestamp: int = 1_700_000_000_000, producer_id: int = -1,
                producer_epoch: int = -1, base_sequence: int = -1,
                max_timestamp: int | None = None, raw_records: bytes | None = None,
                records_count: int | None = None, last_offset_delta: int | None = None
                ) -> tuple[bytes, BatchFields]:
    """Returns (batch bytes, the header fields written)."""
    records = [Record()] if records is None else records
    if raw_records is None:
        raw_records = b"".join(encode_record(r, i) for i, r in enumerate(records))
    n = len(records) if records_count is None else records_count
    lod = max(n - 1, 0) if last_offset_delta is None else last_offset_delta
    if max_timestamp is None:
        max_timestamp = first_timestamp + max((r.timestamp_delta for r in records), default=0)
    f = BatchFields(base_offset=base_offset, partition_leader_epoch=partition_leader_epoch,
                    attributes=attributes, last_offset_delta=lod, first_timestamp=first_timestamp,
                    max_timestamp=max_timestamp, producer_id=producer_id,
                    producer_epoch=producer_epoch, base_sequence=base_sequence, records_count=n)
    f.batch_length = HEADER_SIZE - LOG_OVERHEAD + len(raw_records)
    header = bytearray(HEADER.pack(f.base_offset, f.batch_length, f.partition_leader_epoch,
                                   f.magic, 0, f.attributes, f.last_offset_delta,
                                   f.first_timestamp, f.max_timestamp, f.producer_id,
                                   f.producer_epoch, f.base_sequence, f.records_count))
    body = bytes(header) + raw_records
    f.crc = crc32c.crc32c(body[CRC_START:])
    struct.pack_into(">I", header, CRC_OFFSET, f.crc)
    return bytes(header) + raw_records, f


def batch_crc(batch: bytes) -> int:
    """The CRC a batch should carry, per the crc32c package."""
    return crc32c.crc32c(bytes(batch[CRC_START:]))


def parse_header(batch: bytes) -> BatchFields:
    vals = HEADER.unpack_from(batch, 0)
    names = ["base_offset", "batch_length", "partition_leader_epoch", "magic", "crc",
             "attributes", "last_offset_delta", "first_timestamp", "max_timestamp",
             "producer_id", "producer_epoch", "base_sequence", "records_count"]
    return BatchFields(**dict(zip(names, vals)))
