"""Coordinator records: what the group coordinator stores in the compacted
internal topic `__consumer_offsets`, in Apache Kafka's own format, so a log
written by FluxMQ reads like one written by Kafka (and the other way round).

A record's key and value are each prefixed by an int16 (MessageUtil's
"coordinator type prefixed" key and "version prefixed" value):

    key   = recordType int16 | key fields (the key schema, always version 0)
    value = version int16    | value fields of that version
    value = null             -> a tombstone: the key is deleted

Record types (Kafka's group-coordinator/src/main/resources/common/message):

    type  key                       value versions      written here
    0     LegacyOffsetCommitKey     OffsetCommitValue    read only (pre-2.x logs)
    1     OffsetCommitKey           OffsetCommitValue    v1 with an explicit expire
                                    v0-v4 (v4 flexible)  timestamp, else v3
    2     GroupMetadataKey          GroupMetadataValue   v3
                                    v0-v4 (v4 flexible)
    3-8   KIP-848 consumer groups (ConsumerGroupMetadata, PartitionMetadata,
          MemberMetadata, TargetAssignmentMetadata, TargetAssignmentMember,
          CurrentMemberAssignment): registered by fluxmq/group/consumer_group.py
          with `register()`; a type nobody registered is skipped on load with a
          warning, as Kafka's loader does.

Schemas are declared below in the shape of Kafka's JSON message specs and
encoded by one generic codec: non-flexible versions use int16 string / int32
bytes and array lengths; flexible versions use compact (unsigned varint
length + 1) strings, bytes and arrays and end every struct with tagged
fields. Field names are Kafka's, in snake_case.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from fluxmq.util.varint import uvarint as _uvarint

# ----------------------------------------------------------------- schemas
ZERO_UUID = uuid.UUID(int=0)
NULL = object()  # a field default of null (Kafka's "default": "null")


def _versions(spec: str | None) -> tuple[int, int] | None:
    """Kafka's version range syntax: "0+", "3", "0-4", "none"."""
    if spec is None or spec == "none":
        return None
    if spec.endswith("+"):
        return int(spec[:-1]), 1 << 15
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo), int(hi)
    return int(spec), int(spec)


def _in(rng: tuple[int, int] | None, version: int) -> bool:
    return rng is not None and rng[0] <= version <= rng[1]


@dataclass(frozen=True)
class Field:
    """One field. `type` is a primitive name (int8 int16 int32 int64 bool
    string bytes uuid float64), "[]<primitive>", or a Struct for an array of
    structs (`array=True`) / a single struct."""
    name: str
    type: object
    versions: str = "0+"
    nullable: str | None = None      # nullable versions
    default: object = None           # None: the type's zero value; NULL: null
    tag: int | None = None           # tagged field (flexible versions only)
    array: bool = False              # with a Struct type: an array of it

    @property
    def version_range(self):
        return _versions(self.versions)

    @property
    def nullable_range(self):
        return _versions(self.nullable)


@dataclass(frozen=True)
class Struct:
    name: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    valid_versions: str = "0"
    flexible_versions: str = "none"

    def flexible(self, version: int) -> bool:
        return _in(_versions(self.flexible_versions), version)

    def check_version(self, version: int) -> None:
        if not _in(_versions(self.valid_versions), version):
            raise RecordFormatError(f"{self.name} version {version} is not one of {self.valid_versions}")


class RecordFormatError(ValueError):
    pass


class UnknownRecordType(RecordFormatError):
    def __init__(self, record_type: int):
        super().__init__(f"unknown coordinator record type {record_type}")
        self.record_type = record_type


_ZERO = {"int8": 0, "int16": 0, "int32": 0, "int64": 0, "bool": False, "float64": 0.0,
         "string": "", "bytes": b"", "uuid": ZERO_UUID}
_FIXED = {"int8": struct.Struct(">b"), "int16": struct.Struct(">h"), "int32": struct.Struct(">i"),
          "int64": struct.Struct(">q"), "float64": struct.Struct(">d")}


def _default(f: Field, version: int = 0):
    """The value of a field absent from a version (or from the dict being written)."""
    if f.default is NULL:
        return None
    if f.default is not None:
        return f.default
    if f.array or (isinstance(f.type, str) and f.type.startswith("[]")):
        return []
    if isinstance(f.type, Struct):
        return None
    return _ZERO[f.type]


# ------------------------------------------------------------------ writer
class _Writer:
    def __init__(self, flexible: bool):
        self.flexible = flexible
        self.out = bytearray()

    def length(self, n: int | None, wide: bool) -> None:
        """A length prefix: compact uvarint(n+1) when flexible, else int16/int32 (-1 for null)."""
        if self.flexible:
            self.out += _uvarint(0 if n is None else n + 1)
        else:
            self.out += (_FIXED["int32"] if wide else _FIXED["int16"]).pack(-1 if n is None else n)

    def primitive(self, tp: str, v) -> None:
        if tp in _FIXED:
            self.out += _FIXED[tp].pack(v)
        elif tp == "bool":
            self.out.append(1 if v else 0)
        elif tp == "uuid":
            self.out += (v or ZERO_UUID).bytes
        elif tp == "string":
            data = None if v is None else v.encode("utf-8")
            if data is not None and len(data) > 0x7FFF:
                raise RecordFormatError(f"string of {len(data)} bytes is too long for a record")
            self.length(None if data is None else len(data), wide=False)
            self.out += data or b""
        elif tp == "bytes":
            self.length(None if v is None else len(v), wide=True)
            self.out += v or b""
        else:
            raise RecordFormatError(f"unknown field type {tp}")

    def value(self, f: Field, v, version: int) -> None:
        if f.array or (isinstance(f.type, str) and f.type.startswith("[]")):
            self.length(None if v is None else len(v), wide=True)
            for item in v or ():
                if isinstance(f.type, Struct):
                    self.struct(f.type.fields, item, version)
                else:
                    self.primitive(f.type[2:], item)
        elif isinstance(f.type, Struct):
            self.struct(f.type.fields, v, version)
        else:
            self.primitive(f.type, v)

    def struct(self, fields, data: dict, version: int) -> None:
        tagged = []
        for f in fields:
            if not _in(f.version_range, version):
                continue
            v = data.get(f.name, _default(f, version))
            if f.tag is not None:
                if self.flexible and v != _default(f, version) and v is not None:
                    tagged.append((f, v))
                continue
            self.value(f, v, version)
        if self.flexible:
            self.out += _uvarint(len(tagged))
            for f, v in sorted(tagged, key=lambda t: t[0].tag):
                inner = _Writer(True)
                inner.value(f, v, version)
                self.out += _uvarint(f.tag) + _uvarint(len(inner.out)) + inner.out


# ------------------------------------------------------------------ reader
class _Reader:
    def __init__(self, buf: bytes, pos: int, flexible: bool):
        self.buf = buf
        self.pos = pos
        self.flexible = flexible

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise RecordFormatError("record is truncated")
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 35:
                raise RecordFormatError("varint is too long")

    def length(self, wide: bool) -> int | None:
        if self.flexible:
            n = self.uvarint() - 1
        else:
            n = (_FIXED["int32"] if wide else _FIXED["int16"]).unpack(self.take(4 if wide else 2))[0]
        return None if n < 0 else n

    def primitive(self, tp: str):
        if tp in _FIXED:
            s = _FIXED[tp]
            return s.unpack(self.take(s.size))[0]
        if tp == "bool":
            return self.take(1)[0] != 0
        if tp == "uuid":
            return uuid.UUID(bytes=bytes(self.take(16)))
        if tp == "string":
            n = self.length(wide=False)
            return None if n is None else bytes(self.take(n)).decode("utf-8")
        if tp == "bytes":
            n = self.length(wide=True)
            return None if n is None else bytes(self.take(n))
        raise RecordFormatError(f"unknown field type {tp}")

    def value(self, f: Field, version: int):
        if f.array or (isinstance(f.type, str) and f.type.startswith("[]")):
            n = self.length(wide=True)
            if n is None:
                return None
            if isinstance(f.type, Struct):
                return [self.struct(f.type.fields, version) for _ in range(n)]
            return [self.primitive(f.type[2:]) for _ in range(n)]
        if isinstance(f.type, Struct):
            return self.struct(f.type.fields, version)
        return self.primitive(f.type)

    def struct(self, fields, version: int) -> dict:
        out = {}
        by_tag = {}
        for f in fields:
            if f.tag is not None:
                by_tag[f.tag] = f
                out[f.name] = _default(f, version)
            elif _in(f.version_range, version):
                out[f.name] = self.value(f, version)
            else:
                out[f.name] = _default(f, version)
        if self.flexible:
            for _ in range(self.uvarint()):
                tag, size = self.uvarint(), self.uvarint()
                f = by_tag.get(tag)
                if f is None or not _in(f.version_range, version):
                    self.take(size)  # unknown tagged fields are skipped
                    continue
                end = self.pos + size
                out[f.name] = self.value(f, version)
                self.pos = end
        return out


def encode_message(msg: Message, version: int, data: dict) -> bytes:
    msg.check_version(version)
    w = _Writer(msg.flexible(version))
    w.struct(msg.fields, data, version)
    return bytes(w.out)


def decode_message(msg: Message, version: int, buf: bytes, pos: int = 0) -> dict:
    msg.check_version(version)
    r = _Reader(buf, pos, msg.flexible(version))
    return r.struct(msg.fields, version)


# ---------------------------------------------------- Kafka's schemas (v4.x)
OFFSET_COMMIT_KEY = Message("OffsetCommitKey", (
    Field("group", "string", "0"),
    Field("topic", "string", "0"),
    Field("partition", "int32", "0"),
))

OFFSET_COMMIT_VALUE = Message("OffsetCommitValue", (
    Field("offset", "int64"),
    Field("leader_epoch", "int32", "3+", default=-1),
    Field("metadata", "string"),
    Field("commit_timestamp", "int64"),
    Field("expire_timestamp", "int64", "1", default=-1),
    Field("topic_id", "uuid", "4+", tag=0),
), valid_versions="0-4", flexible_versions="4+")

GROUP_METADATA_KEY = Message("GroupMetadataKey", (
    Field("group", "string", "0"),
))

MEMBER_METADATA = Struct("MemberMetadata", (
    Field("member_id", "string"),
    Field("group_instance_id", "string", "3+", nullable="3+", default=NULL),
    Field("client_id", "string"),
    Field("client_host", "string"),
    Field("rebalance_timeout", "int32", "1+", default=-1),
    Field("session_timeout", "int32"),
    Field("subscription", "bytes"),
    Field("assignment", "bytes"),
))

GROUP_METADATA_VALUE = Message("GroupMetadataValue", (
    Field("protocol_type", "string"),
    Field("generation", "int32"),
    Field("protocol", "string", nullable="0+"),
    Field("leader", "string", nullable="0+"),
    Field("current_state_timestamp", "int64", "2+", default=-1),
    Field("members", MEMBER_METADATA, array=True),
), valid_versions="0-4", flexible_versions="4+")


# --------------------------------------------------------- record registry
@dataclass(frozen=True)
class RecordType:
    """One coordinator record type: its key schema and value schema, the
    value version written for a value (a function of the value), and the
    key field naming the group (every coordinator key starts with one)."""
    id: int
    name: str
    key: Message
    value: Message
    write_version: object  # int, or callable(value dict) -> int
    group_field: str = "group"


RECORD_TYPES: dict[int, RecordType] = {}


def register(rt: RecordType) -> RecordType:
    """Adds a record type (the KIP-848 module registers types 3-8)."""
    existing = RECORD_TYPES.get(rt.id)
    if existing is not None and existing.name != rt.name:
        raise ValueError(f"record type {rt.id} is already {existing.name}")
    RECORD_TYPES[rt.id] = rt
    return rt


LEGACY_OFFSET_COMMIT = 0
OFFSET_COMMIT = 1
GROUP_METADATA = 2

register(RecordType(LEGACY_OFFSET_COMMIT, "LegacyOffsetCommit", OFFSET_COMMIT_KEY, OFFSET_COMMIT_VALUE, 3))
register(RecordType(OFFSET_COMMIT, "OffsetCommit", OFFSET_COMMIT_KEY, OFFSET_COMMIT_VALUE,
                    lambda v: 1 if v.get("expire_timestamp", -1) != -1 else 3))
register(RecordType(GROUP_METADATA, "GroupMetadata", GROUP_METADATA_KEY, GROUP_METADATA_VALUE, 3))


@dataclass
class CoordinatorRecord:
    """A decoded coordinator record; value None is a tombstone."""
    type: int
    key: dict
    value: dict | None = None
    value_version: int | None = None  # as read; None: the type's write version

    @property
    def group_id(self) -> str:
        return self.key[RECORD_TYPES[self.type].group_field]

    @property
    def is_tombstone(self) -> bool:
        return self.value is None


_INT16 = struct.Struct(">h")


def encode(rec: CoordinatorRecord) -> tuple[bytes, bytes | None]:
    """(key bytes, value bytes or None for a tombstone)."""
    rt = RECORD_TYPES[rec.type]
    key = _INT16.pack(rt.id) + encode_message(rt.key, 0, rec.key)
    if rec.value is None:
        return key, None
    version = rec.value_version
    if version is None:
        version = rt.write_version(rec.value) if callable(rt.write_version) else rt.write_version
    return key, _INT16.pack(version) + encode_message(rt.value, version, rec.value)


def decode(key: bytes, value: bytes | None) -> CoordinatorRecord:
    """Raises UnknownRecordType for a type nobody registered, and
    RecordFormatError for a malformed record."""
    if key is None or len(key) < 2:
        raise RecordFormatError("coordinator record without a key")
    (rtype,) = _INT16.unpack_from(key, 0)
    rt = RECORD_TYPES.get(rtype)
    if rt is None:
        raise UnknownRecordType(rtype)
    k = decode_message(rt.key, 0, key, 2)
    if rtype == LEGACY_OFFSET_COMMIT:
        rtype = OFFSET_COMMIT  # same fields; replayed as an offset commit
    if value is None:
        return CoordinatorRecord(rtype, k, None)
    if len(value) < 2:
        raise RecordFormatError("coordinator record value without a version")
    (version,) = _INT16.unpack_from(value, 0)
    return CoordinatorRecord(rtype, k, decode_message(rt.value, version, value, 2), version)


# ----------------------------------------------------------------- builders
def offset_commit(group: str, topic: str, partition: int, offset: int, leader_epoch: int, metadata: str,
                  commit_timestamp: int, expire_timestamp: int = -1) -> CoordinatorRecord:
    return CoordinatorRecord(OFFSET_COMMIT, {"group": group, "topic": topic, "partition": partition}, {
        "offset": offset, "leader_epoch": leader_epoch, "metadata": metadata or "",
        "commit_timestamp": commit_timestamp, "expire_timestamp": expire_timestamp})


def offset_commit_tombstone(group: str, topic: str, partition: int) -> CoordinatorRecord:
    return CoordinatorRecord(OFFSET_COMMIT, {"group": group, "topic": topic, "partition": partition}, None)


def group_metadata(group: str, protocol_type: str, generation: int, protocol: str | None, leader: str | None,
                   current_state_timestamp: int, members: list[dict]) -> CoordinatorRecord:
    """members: dicts with MemberMetadata's fields."""
    return CoordinatorRecord(GROUP_METADATA, {"group": group}, {
        "protocol_type": protocol_type or "", "generation": generation, "protocol": protocol,
        "leader": leader, "current_state_timestamp": current_state_timestamp, "members": members})


def group_metadata_tombstone(group: str) -> CoordinatorRecord:
    return CoordinatorRecord(GROUP_METADATA, {"group": group}, None)


# ------------------------------------------------- coordinator partitioning
def java_string_hash(s: str) -> int:
    """Java's String.hashCode over UTF-16 code units, as a signed int32."""
    h = 0
    data = s.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, partitions: int) -> int:
    """Kafka's partitionFor: Utils.abs(groupId.hashCode()) % partitions,
    where Utils.abs(Integer.MIN_VALUE) is 0."""
    h = java_string_hash(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % partitions
