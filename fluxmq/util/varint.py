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


def varint(value: int) -> bytes:
    """Zig-zag signed varint/varlong."""
    return uvarint(((value << 1) ^ (value >> 63)) & ((1 << 64) - 1))
