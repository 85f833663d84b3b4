"""A small, independent builder and parser of Kafka record batches (magic 2,
KIP-98; Kafka's DefaultRecordBatch) for the tests (native scanner, log,
protocol and fault suites). Uncompressed only. The CRC comes from the
`crc32c` PyPI package, never from FluxMQ, so the C scanner and the broker's
validation are checked against a separate implementation.

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
    records               ...

Record: length varint | attributes int8 | timestampDelta varlong |
offsetDelta varint | keyLength varint | key | valueLength varint | value |
headerCount varint | headers (keyLength varint | key | valueLength varint |
value). Varints are zig-zag encoded.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field

import crc32c

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12  # baseOffset + batchLength
CRC_START = 21  # attributes offset
BASE_OFFSET_OFFSET = 0
CRC_OFFSET = 17
MAGIC_OFFSET = 16
LENGTH_OFFSET = 8
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35

ATTR_COMPRESSION_MASK = 0x07
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


def read_zigzag(buf, pos: int) -> tuple[int, int]:
    """(value, next position) of the signed varint at `pos`."""
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def now_ms() -> int:
    return int(time.time() * 1000)


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


def batch_of(values: list[bytes | None], *, keys: list[bytes | None] | None = None,
             timestamps: list[int] | None = None, **fields) -> bytes:
    """The bytes of one batch holding `values` (and `keys`), with CreateTime
    `timestamps` (default: now for every record); `fields` as build_batch."""
    n = len(values)
    keys = [None] * n if keys is None else keys
    timestamps = [now_ms()] * n if timestamps is None else timestamps
    base_ts = timestamps[0] if n else now_ms()
    records = [Record(v, k, [], t - base_ts) for v, k, t in zip(values, keys, timestamps)]
    return build_batch(records, first_timestamp=base_ts, **fields)[0]


def batch_crc(batch: bytes) -> int:
    """The CRC a batch should carry, per the crc32c package."""
    return crc32c.crc32c(bytes(batch[CRC_START:]))


def with_byte_flipped(data: bytes, position: int) -> bytes:
    """`data` with one byte inverted (inside the CRC-covered part of a batch,
    that makes it corrupt)."""
    b = bytearray(data)
    b[position] ^= 0xFF
    return bytes(b)


def with_base_offset(batch: bytes, base_offset: int) -> bytes:
    """baseOffset is outside the CRC: the batch stays valid."""
    b = bytearray(batch)
    struct.pack_into(">q", b, BASE_OFFSET_OFFSET, base_offset)
    return bytes(b)


def legacy_message_v1(value: bytes, key: bytes | None = None, timestamp: int | None = None) -> bytes:
    """A magic 1 message set with one message (the pre-KIP-98 format):
    offset int64 | size int32 | crc uint32 (CRC-32 of magic..end) | magic int8 (1)
    | attributes int8 | timestamp int64 | key bytes | value bytes."""
    ts = now_ms() if timestamp is None else timestamp
    key_part = struct.pack(">i", -1) if key is None else struct.pack(">i", len(key)) + key
    body = struct.pack(">bbq", 1, 0, ts) + key_part + struct.pack(">i", len(value)) + value
    message = struct.pack(">I", zlib.crc32(body)) + body
    return struct.pack(">qi", 0, len(message)) + message


# ------------------------------------------------------------------ parsing
_FIELD_NAMES = ["base_offset", "batch_length", "partition_leader_epoch", "magic", "crc", "attributes",
                "last_offset_delta", "first_timestamp", "max_timestamp", "producer_id", "producer_epoch",
                "base_sequence", "records_count"]


def parse_header(batch: bytes, pos: int = 0) -> BatchFields:
    return BatchFields(**dict(zip(_FIELD_NAMES, HEADER.unpack_from(batch, pos))))


@dataclass
class ParsedRecord:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass
class ParsedBatch(BatchFields):
    records: list[ParsedRecord] = field(default_factory=list)
    crc_ok: bool = True

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def size(self) -> int:
        return LOG_OVERHEAD + self.batch_length


def parse_batches(data: bytes) -> list[ParsedBatch]:
    """Every whole batch in `data` (a fetch response may end in a partial
    batch, which is skipped), with its records decoded (headers skipped)."""
    out = []
    pos = 0
    data = bytes(data or b"")
    while pos + HEADER_SIZE <= len(data):
        b = ParsedBatch(**vars(parse_header(data, pos)))
        end = pos + b.size
        if end > len(data):
            break
        b.crc_ok = crc32c.crc32c(data[pos + CRC_START:end]) == b.crc
        if b.attributes & ATTR_COMPRESSION_MASK:
            raise ValueError("compressed batches are not decoded by this helper")
        rpos = pos + HEADER_SIZE
        for _ in range(b.records_count):
            length, rpos = read_zigzag(data, rpos)
            rend = rpos + length
            rpos += 1  # attributes
            ts_delta, rpos = read_zigzag(data, rpos)
            off_delta, rpos = read_zigzag(data, rpos)
            klen, rpos = read_zigzag(data, rpos)
            key = None if klen < 0 else data[rpos:rpos + klen]
            rpos += max(klen, 0)
            vlen, rpos = read_zigzag(data, rpos)
            value = None if vlen < 0 else data[rpos:rpos + vlen]
            ts = b.max_timestamp if b.attributes & ATTR_TIMESTAMP_LOG_APPEND else b.first_timestamp + ts_delta
            b.records.append(ParsedRecord(b.base_offset + off_delta, ts, key, value))
            rpos = rend
        out.append(b)
        pos = end
    return out


def segment_batch_positions(data: bytes) -> list[tuple[int, int, int]]:
    """(position, size, base offset) of each whole batch in a segment file."""
    out = []
    pos = 0
    while pos + LOG_OVERHEAD <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if length <= 0 or pos + LOG_OVERHEAD + length > len(data):
            break
        out.append((pos, LOG_OVERHEAD + length, base))
        pos += LOG_OVERHEAD + length
    return out
