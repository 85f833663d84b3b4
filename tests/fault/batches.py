"""A small record batch v2 builder and parser for the fault suite (KIP-98;
Kafka's DefaultRecordBatch). Uncompressed only. The CRC comes from the
`crc32c` package, never from FluxMQ, so a batch the broker accepts was
checked against an independent implementation.

Batch header, big-endian, 61 bytes:

    offset size field
         0    8 baseOffset            clients send 0; the broker assigns it
         8    4 batchLength           bytes after this field
        12    4 partitionLeaderEpoch  clients send -1
        16    1 magic                 2
        17    4 crc                   CRC-32C of attributes .. end of batch
        21    2 attributes            bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
        23    4 lastOffsetDelta
        27    8 baseTimestamp
        35    8 maxTimestamp
        43    8 producerId            -1: not idempotent
        51    2 producerEpoch
        53    4 baseSequence
        57    4 recordsCount
        61    . records

Record: length varint | attributes int8 | timestampDelta varlong |
offsetDelta varint | keyLength varint | key | valueLength varint | value |
headerCount varint | headers. Varints are zig-zag encoded.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass, field

import crc32c

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
LOG_OVERHEAD = 12          # baseOffset + batchLength
BASE_OFFSET_POS = 0
LENGTH_POS = 8
MAGIC_POS = 16
CRC_POS = 17
CRC_START = 21             # the CRC covers attributes .. end
ATTRIBUTES_POS = 21
RECORDS_COUNT_POS = 57
INT32_MAX = 2**31 - 1


def zigzag(value: int) -> bytes:
    """Kafka's signed varint / varlong."""
    z = ((value << 1) ^ (value >> 63)) & ((1 << 64) - 1)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def read_zigzag(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def _blob(b: bytes | None) -> bytes:
    return zigzag(-1) if b is None else zigzag(len(b)) + b


def encode_record(key: bytes | None, value: bytes | None, offset_delta: int, timestamp_delta: int) -> bytes:
    body = b"".join([b"\x00", zigzag(timestamp_delta), zigzag(offset_delta), _blob(key), _blob(value),
                     zigzag(0)])
    return zigzag(len(body)) + body


def now_ms() -> int:
    return int(time.time() * 1000)


def build_batch(values: list[bytes | None], *, keys: list[bytes | None] | None = None,
                timestamps: list[int] | None = None, producer_id: int = -1, producer_epoch: int = -1,
                base_sequence: int = -1, base_offset: int = 0, attributes: int = 0) -> bytes:
    """One uncompressed v2 batch holding `values` (CreateTime timestamps:
    `timestamps`, or now for every record)."""
    n = len(values)
    keys = keys if keys is not None else [None] * n
    if timestamps is None:
        timestamps = [now_ms()] * n
    base_ts = timestamps[0] if n else now_ms()
    records = b"".join(encode_record(keys[i], values[i], i, timestamps[i] - base_ts) for i in range(n))
    length = HEADER_SIZE - LOG_OVERHEAD + len(records)
    header = bytearray(HEADER.pack(base_offset, length, -1, 2, 0, attributes, max(n - 1, 0), base_ts,
                                   max(timestamps) if n else base_ts, producer_id, producer_epoch,
                                   base_sequence, n))
    crc = crc32c.crc32c(bytes(header[CRC_START:]) + records)
    struct.pack_into(">I", header, CRC_POS, crc)
    return bytes(header) + records


def with_byte_flipped(batch: bytes, position: int) -> bytes:
    """The batch with one byte inverted (position inside the CRC-covered part
    makes it corrupt)."""
    b = bytearray(batch)
    b[position] ^= 0xFF
    return bytes(b)


def with_base_offset(batch: bytes, base_offset: int) -> bytes:
    """baseOffset is outside the CRC: the batch stays valid."""
    b = bytearray(batch)
    struct.pack_into(">q", b, BASE_OFFSET_POS, base_offset)
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
@dataclass
class Rec:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


@dataclass
class Batch:
    base_offset: int
    length: int
    leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    count: int
    records: list[Rec] = field(default_factory=list)
    crc_ok: bool = True

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def size(self) -> int:
        return LOG_OVERHEAD + self.length


def parse_batches(data: bytes) -> list[Batch]:
    """Every whole batch in `data` (a fetch response may end in a partial
    batch, which is skipped), with its records decoded."""
    out = []
    pos = 0
    data = bytes(data or b"")
    while pos + HEADER_SIZE <= len(data):
        fields = HEADER.unpack_from(data, pos)
        b = Batch(*fields)
        end = pos + LOG_OVERHEAD + b.length
        if end > len(data):
            break
        b.crc_ok = crc32c.crc32c(data[pos + CRC_START:end]) == b.crc
        if b.attributes & 0x07:
            raise ValueError("compressed batches are not decoded by this helper")
        rpos = pos + HEADER_SIZE
        for _ in range(b.count):
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
            ts = b.max_timestamp if b.attributes & 0x08 else b.base_timestamp + ts_delta
            b.records.append(Rec(b.base_offset + off_delta, ts, key, value))
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
