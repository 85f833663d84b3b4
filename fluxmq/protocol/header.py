"""Request and response headers.

Request header (RequestHeader.json):
  v1: api_key int16 | api_version int16 | correlation_id int32 | client_id nullable string (int16 length)
  v2: v1 + tagged fields (flexible request versions, KIP-482)
Response header: v0 correlation_id int32; v1 adds tagged fields (flexible
versions) - except ApiVersions, whose response header is always v0 so a
client can read it before it knows what the broker supports (KIP-511).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from fluxmq.util.varint import read_uvarint

API_VERSIONS_KEY = 18

_FIXED = struct.Struct(">hhi")  # api_key, api_version, correlation_id
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
EMPTY_TAGGED_FIELDS = b"\x00"


class MalformedHeader(ValueError):
    pass


@dataclass(slots=True)
class RequestHeader:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int  # where the body starts in the frame


def skip_tagged_fields(buf, pos: int, end: int | None = None, error: type[Exception] = MalformedHeader) -> int:
    """Position after a flexible version's tagged-field section (KIP-482),
    whose fields this broker does not read; `error` if it runs past end."""
    if end is None:
        end = len(buf)
    count, pos = read_uvarint(buf, pos, end, error)
    for _ in range(count):
        _tag, pos = read_uvarint(buf, pos, end, error)
        size, pos = read_uvarint(buf, pos, end, error)
        pos += size
        if pos > end:
            raise error("tagged field runs past the frame")
    return pos


def parse_fixed(frame) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id); enough to answer any error."""
    if len(frame) < _FIXED.size:
        raise MalformedHeader(f"frame of {len(frame)} bytes is shorter than a request header")
    return _FIXED.unpack_from(frame, 0)


def parse_request_header(frame, flexible: bool) -> RequestHeader:
    api_key, api_version, correlation_id = parse_fixed(frame)
    pos = _FIXED.size
    if len(frame) < pos + 2:
        raise MalformedHeader("missing client_id")
    (n,) = _I16.unpack_from(frame, pos)
    pos += 2
    client_id = None
    if n >= 0:
        if pos + n > len(frame):
            raise MalformedHeader("client_id runs past the frame")
        client_id = bytes(frame[pos:pos + n]).decode("utf-8", "replace")
        pos += n
    if flexible:
        pos = skip_tagged_fields(frame, pos)
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def response_header(api_key: int, correlation_id: int, flexible: bool) -> bytes:
    if flexible and api_key != API_VERSIONS_KEY:
        return _I32.pack(correlation_id) + EMPTY_TAGGED_FIELDS
    return _I32.pack(correlation_id)


def frame(header: bytes, body: bytes) -> bytes:
    """Size-prefixes a response."""
    return _I32.pack(len(header) + len(body)) + header + body
