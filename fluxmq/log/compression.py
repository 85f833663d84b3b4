"""Broker-side recompression for topics whose compression.type is not
`producer` (Kafka's LogValidator): a batch compressed with another codec is
rewritten with the topic's codec. Only the records section changes; the
header keeps its producer fields, and the CRC and length are recomputed.

Snappy is written with the xerial framing the Java client reads; gzip, lz4
(frame format) and zstd take the topic's compression.*.level.
"""

from __future__ import annotations

import gzip
import struct

import cramjam

from fluxmq import native
from fluxmq.log.batch import ATTRIBUTES_POS, COMPRESSION_MASK, HEADER_SIZE, I16, I32, LENGTH_POS, LOG_OVERHEAD, set_crc
from fluxmq.log.records import decompress

CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
_XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024


def compress(codec: int, data: bytes, levels: dict[str, int]) -> bytes:
    if codec == 0:
        return data
    if codec == 1:
        level = levels.get("gzip", -1)
        return gzip.compress(data, compresslevel=9 if level < 0 else level, mtime=0)
    if codec == 2:
        blocks = [_XERIAL_HEADER]
        for i in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(data[i:i + _XERIAL_BLOCK]))
            blocks.append(struct.pack(">i", len(block)) + block)
        return b"".join(blocks)
    if codec == 3:
        return bytes(cramjam.lz4.compress(data, level=levels.get("lz4", 9)))
    if codec == 4:
        return bytes(cramjam.zstd.compress(data, level=levels.get("zstd", 3)))
    raise ValueError(f"unknown codec {codec}")


def recompress(batch: bytes, codec: int, levels: dict[str, int]) -> bytes:
    """The same batch with its records section in `codec`."""
    (attributes,) = I16.unpack_from(batch, ATTRIBUTES_POS)
    current = attributes & COMPRESSION_MASK
    if current == codec:
        return batch
    records = compress(codec, decompress(current, bytes(batch[HEADER_SIZE:])), levels)
    out = bytearray(batch[:HEADER_SIZE]) + records
    I32.pack_into(out, LENGTH_POS, len(out) - LOG_OVERHEAD)
    I16.pack_into(out, ATTRIBUTES_POS, (attributes & ~COMPRESSION_MASK) | codec)
    return bytes(set_crc(out, native.crc32c))
