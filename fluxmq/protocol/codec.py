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
    return load_request_schema(api_key, version)


@lru_cache(maxsize=None)
def response_class(api_key: int, version: int):
    return load_response_schema(api_key, version)


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
