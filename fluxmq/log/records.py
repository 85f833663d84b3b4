"""Looking inside record batches, for the few places the broker must
(ListOffsets by timestamp). Everything else handles batches as opaque bytes.

Record (inside a v2 batch, after the 61-byte header; KIP-98):
    length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
    | keyLength varint | key | valueLength varint | value
    | headerCount varint | headers (keyLength varint, key, valueLength varint, value)
Varints are zigzag-encoded. Compression (attributes bits 0-2) covers the
records section: 1 gzip, 2 snappy (raw, or the Java client's xerial framing),
3 lz4 (frame format), 4 zstd.
"""

from __future__ import annotations

import struct
import zlib

import cramjam

from fluxmq.log.batch import COMPRESSION_MASK, HEADER, HEADER_SIZE, TIMESTAMP_TYPE_BIT

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = 16  # magic(8) + version(4) + compatible version(4)


class RecordFormatError(ValueError):
    pass


def read_varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise RecordFormatError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def _unxerial(data: bytes) -> bytes:
    out = []
    pos = _XERIAL_HEADER
    while pos + 4 <= len(data):
        (n,) = struct.unpack_from(">i", data, pos)
        pos += 4
        out.append(bytes(cramjam.snappy.decompress_raw(data[pos:pos + n])))
        pos += n
    return b"".join(out)


def decompress(codec: int, data: bytes) -> bytes:
    if codec == 0:
        return data
    if codec == 1:
        return zlib.decompress(data, 47)  # gzip or zlib header
    if codec == 2:
        if data.startswith(_XERIAL_MAGIC):
            return _unxerial(data)
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == 3:
        return bytes(cramjam.lz4.decompress(data))
    if codec == 4:
        return bytes(cramjam.zstd.decompress(data))
    raise RecordFormatError(f"unknown compression codec {codec}")


def iter_records(batch: bytes, with_values: bool = False):
    """Yields (offset, timestamp, key) - and value, with_values - for each
    record of one whole batch."""
    (base_offset, _length, _epoch, _magic, _crc, attributes, _delta, base_ts, max_ts, _pid, _pepoch, _seq,
     count) = HEADER.unpack_from(batch, 0)
    body = decompress(attributes & COMPRESSION_MASK, bytes(batch[HEADER_SIZE:]))
    log_append = bool(attributes & TIMESTAMP_TYPE_BIT)
    pos = 0
    for _ in range(count):
        length, pos = read_varint(body, pos)
        end = pos + length
        pos += 1  # attributes
        ts_delta, pos = read_varint(body, pos)
        off_delta, pos = read_varint(body, pos)
        key_len, pos = read_varint(body, pos)
        key = None if key_len < 0 else body[pos:pos + key_len]
        timestamp = max_ts if log_append else base_ts + ts_delta
        if with_values:
            pos += max(key_len, 0)
            value_len, pos = read_varint(body, pos)
            value = None if value_len < 0 else body[pos:pos + value_len]
            yield base_offset + off_delta, timestamp, key, value
        else:
            yield base_offset + off_delta, timestamp, key
        pos = end


def first_record_at_or_after(batch: bytes, timestamp: int) -> tuple[int, int] | None:
    """(offset, timestamp) of the first record in the batch with ts >= timestamp."""
    for offset, ts, _key in iter_records(batch):
        if ts >= timestamp:
            return offset, ts
    return None
