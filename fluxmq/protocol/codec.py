"""Body codecs on top of kio.

Handlers build responses as plain dicts (field name -> value, nested lists of
dicts) once, for the newest version; `encode_response` turns them into the kio
entity of the negotiated version. Fields the version lacks are dropped, which
is what keeps old non-flexible versions byte-exact (DESIGN rule 3), and
missing fields take the Kafka default of their type.

kio speaks rich types (ErrorCode, timedelta, datetime); plain ints are
accepted here and converted, so handlers use Kafka's wire vocabulary.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import typing
import uuid
from functools import lru_cache
from types import NoneType, UnionType

from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

from fluxmq.protocol import schemas
from fluxmq.protocol.header import skip_tagged_fields
from fluxmq.util.varint import read_uvarint

ZERO_UUID = uuid.UUID(int=0)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _ms(v) -> datetime.timedelta:
    return v if isinstance(v, datetime.timedelta) else datetime.timedelta(milliseconds=int(v))


def _datetime(v):
    if v is None or isinstance(v, datetime.datetime):
        return v
    v = int(v)
    return None if v < 0 else _EPOCH + datetime.timedelta(milliseconds=v)


def _uuid(v):
    if v is None or isinstance(v, uuid.UUID):
        return v
    return uuid.UUID(bytes=v) if isinstance(v, bytes) else uuid.UUID(str(v))


_CONVERT = {
    "error_code": lambda v: v if isinstance(v, ErrorCode) else ErrorCode(int(v)),
    "timedelta_i32": _ms,
    "timedelta_i64": _ms,
    "datetime_i64": _datetime,
    "uuid": _uuid,
}

_DEFAULTS = {
    "string": "",
    "int8": 0, "int16": 0, "int32": 0, "int64": 0, "uint16": 0, "float64": 0.0,
    "bool": False,
    "error_code": ErrorCode.none,
    "timedelta_i32": datetime.timedelta(0),
    "timedelta_i64": datetime.timedelta(0),
    "datetime_i64": None,
    "uuid": ZERO_UUID,
    "bytes": b"",
    "records": None,
}


def _inner_entity(tp):
    """(entity class, is_array) for a nested field type, else (None, False)."""
    origin = typing.get_origin(tp)
    if origin in (UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not NoneType]
        return _inner_entity(args[0]) if len(args) == 1 else (None, False)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(inner):
            return inner, True
        return None, True
    if dataclasses.is_dataclass(tp):
        return tp, False
    return None, False


@lru_cache(maxsize=None)
def _plan(cls):
    """Per entity class: (name, kafka_type, nested class, is_array, default) per field."""
    plan = []
    for f in dataclasses.fields(cls):
        kafka_type = f.metadata.get("kafka_type")
        nested, is_array = _inner_entity(f.type)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        elif is_array:
            default = ()
        elif nested is not None:
            default = None
        else:
            default = _DEFAULTS.get(kafka_type, None)
        plan.append((f.name, kafka_type, nested, is_array, default))
    return tuple(plan)


def build(cls, data: dict):
    """Builds kio entity `cls` from a dict, recursively."""
    kwargs = {}
    for name, kafka_type, nested, is_array, default in _plan(cls):
        if name not in data:
            kwargs[name] = default
            continue
        v = data[name]
        if nested is not None:
            if v is None:
                kwargs[name] = None
            elif is_array:
                kwargs[name] = tuple(x if isinstance(x, nested) else build(nested, x) for x in v)
            else:
                kwargs[name] = v if isinstance(v, nested) else build(nested, v)
        elif is_array:
            kwargs[name] = None if v is None else tuple(v)
        else:
            conv = _CONVERT.get(kafka_type)
            kwargs[name] = conv(v) if conv is not None else v
    return cls(**kwargs)


@lru_cache(maxsize=None)
def request_class(api_key: int, version: int):
    """The kio entity of a request version (protocol/schemas.py for the versions kio lacks)."""
    return schemas.REQUESTS.get((api_key, version)) or load_request_schema(api_key, version)


@lru_cache(maxsize=None)
def response_class(api_key: int, version: int):
    return schemas.RESPONSES.get((api_key, version)) or load_response_schema(api_key, version)


@lru_cache(maxsize=None)
def _reader(cls):
    return entity_reader(cls)


@lru_cache(maxsize=None)
def _writer(cls):
    return entity_writer(cls)


def is_flexible(api_key: int, version: int) -> bool:
    return bool(request_class(api_key, version).__flexible__)


def decode_request(api_key: int, version: int, buf, offset: int):
    """Decodes a request body starting at `offset`; returns the kio entity."""
    cls = request_class(api_key, version)
    _bounds_check_entity(cls, buf, offset, len(buf))
    entity, _size = _reader(cls)(buf, offset)
    return entity


def encode_entity(entity) -> bytes:
    out = io.BytesIO()
    _writer(type(entity))(out, entity)
    return out.getvalue()


def encode_response(api_key: int, version: int, data: dict) -> bytes:
    return encode_entity(build(response_class(api_key, version), data))


def encode_request(api_key: int, version: int, data: dict) -> bytes:
    """Used by tests and tools that speak to the broker."""
    return encode_entity(build(request_class(api_key, version), data))


def to_ms(value) -> int:
    """kio timedelta/datetime/int -> Kafka milliseconds."""
    if isinstance(value, datetime.timedelta):
        return value // datetime.timedelta(milliseconds=1)
    if isinstance(value, datetime.datetime):
        return (value - _EPOCH) // datetime.timedelta(milliseconds=1)
    return int(value)


# ---- bounds check: refuse impossible length prefixes before kio allocates
# for them (kio sizes arrays from the prefix up front; a 5-byte body claiming
# 2^32 entries would abort the process). Walks the schema once per request.

_FIXED = {"int8": 1, "bool": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "timedelta_i32": 4,
          "int64": 8, "timedelta_i64": 8, "datetime_i64": 8, "float64": 8, "uuid": 16, "error_code": 2}
_VAR = {"string", "bytes", "records"}
MAX_STRING = 0x7FFF


class Malformed(ValueError):
    pass


@lru_cache(maxsize=None)
def _bounds_plan(cls):
    out = []
    for f in dataclasses.fields(cls):
        if "tag" in f.metadata:
            continue  # lives in the tagged-field section, skipped by size
        nested, is_array = _inner_entity(f.type)
        nullable = _is_optional(f.type)
        nullable_struct = nested is not None and not is_array and nullable
        out.append((f.name, f.metadata.get("kafka_type"), nested, is_array, nullable_struct, nullable))
    return tuple(out)


def _is_optional(tp) -> bool:
    return typing.get_origin(tp) in (UnionType, typing.Union) and NoneType in typing.get_args(tp)


def _length(buf, pos, end, flexible, wide):
    """(count or -1 for null, pos) of a string/bytes/array prefix."""
    if flexible:
        n, pos = read_uvarint(buf, pos, end, Malformed)
        n -= 1
    else:
        size = 4 if wide else 2
        if pos + size > end:
            raise Malformed("length prefix runs past the frame")
        n = int.from_bytes(buf[pos:pos + size], "big", signed=True)
        pos += size
    if n > end - pos:
        raise Malformed(f"length {n} exceeds the {end - pos} bytes left")
    return n, pos


def _value(buf, pos, end, kafka_type, flexible, name="", nullable=False):
    if kafka_type in _FIXED:
        pos += _FIXED[kafka_type]
        if pos > end:
            raise Malformed("field runs past the frame")
        return pos
    if kafka_type in _VAR:
        n, pos = _length(buf, pos, end, flexible, wide=kafka_type != "string")
        if kafka_type == "string" and n > MAX_STRING:
            # Kafka's generated readers refuse it, whatever the framing allows.
            raise Malformed(f"string of {n} bytes is longer than {MAX_STRING}")
        if n < 0 and not nullable:
            raise Malformed(f"non-nullable field {name} was serialized as null")
        return pos + max(n, 0)
    raise Malformed(f"unknown type {kafka_type}")


def _bounds_check_entity(cls, buf, pos, end):
    flexible = cls.__flexible__
    for name, kafka_type, nested, is_array, nullable_struct, nullable in _bounds_plan(cls):
        if nullable_struct:  # int8 marker: -1 null, 1 present
            if pos >= end:
                raise Malformed("struct marker runs past the frame")
            marker = buf[pos]
            pos += 1
            if marker == 0xFF:
                continue
        if is_array:
            n, pos = _length(buf, pos, end, flexible, wide=True)
            if n < 0 and not nullable:
                # Kafka's generated readers: "non-nullable field X was serialized as null",
                # a malformed request; kio would hand the handler a None.
                raise Malformed(f"non-nullable field {name} was serialized as null")
            for _ in range(max(n, 0)):
                pos = _bounds_check_entity(nested, buf, pos, end) if nested else \
                    _value(buf, pos, end, kafka_type, flexible, name)
        elif nested is not None:
            pos = _bounds_check_entity(nested, buf, pos, end)
        else:
            pos = _value(buf, pos, end, kafka_type, flexible, name, nullable)
    if flexible:
        pos = skip_tagged_fields(buf, pos, end, Malformed)
    return pos
