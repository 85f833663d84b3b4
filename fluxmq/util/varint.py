"""Kafka's variable-length integers (protobuf style, little-endian groups of
7 bits): unsigned for compact lengths and tagged fields (KIP-482), zig-zag
signed for record fields (KIP-98)."""

from __future__ import annotations


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_uvarint(buf, pos: int, end: int | None = None, error: type[Exception] = ValueError) -> tuple[int, int]:
    """(value, next pos) of the unsigned varint at pos, read no further than
    end (default: the buffer's end). At most 5 bytes, as Kafka's
    readUnsignedVarint; a longer or cut-off varint raises `error`."""
    if end is None:
        end = len(buf)
    value = shift = 0
    while True:
        if pos >= end or shift > 28:
            raise error("bad unsigned varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def varint(value: int) -> bytes:
    """Zig-zag signed varint/varlong."""
    return uvarint(((value << 1) ^ (value >> 63)) & ((1 << 64) - 1))
