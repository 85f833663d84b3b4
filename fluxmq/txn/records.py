"""The records of __transaction_state, in Apache Kafka's own format
(transaction-coordinator/src/main/resources/common/message), so a log
written by FluxMQ reads like one written by Kafka:

    key   = version int16 (0) | TransactionLogKey v0: transactional_id string
    value = version int16     | TransactionLogValue v0 (v1: flexible, with the
                                KIP-890 tagged fields)
    value = null              -> a tombstone: the transactional id expired

Version 1 is written when the finalized transaction.version is 1 or more
(Kafka's TransactionVersion.transactionLogValueVersion), else version 0;
both versions are read. One record holds a transactional id's whole state,
so replaying the latest record per key is the coordinator's state.
"""

from __future__ import annotations

import struct

from fluxmq.group.records import Field, Message, RecordFormatError, Struct, decode_message, encode_message

TRANSACTION_LOG_KEY = Message("TransactionLogKey", (
    Field("transactional_id", "string", "0"),
))
PARTITIONS_SCHEMA = Struct("PartitionsSchema", (
    Field("topic", "string"),
    Field("partition_ids", "[]int32"),
))
TRANSACTION_LOG_VALUE = Message("TransactionLogValue", (
    Field("producer_id", "int64"),
    Field("previous_producer_id", "int64", "1+", default=-1, tag=0),
    Field("next_producer_id", "int64", "1+", default=-1, tag=1),
    Field("producer_epoch", "int16"),
    Field("transaction_timeout_ms", "int32"),
    Field("transaction_status", "int8"),
    Field("transaction_partitions", PARTITIONS_SCHEMA, nullable="0+", array=True),
    Field("transaction_last_update_timestamp_ms", "int64"),
    Field("transaction_start_timestamp_ms", "int64"),
    Field("client_transaction_version", "int16", "1+", default=0, tag=2),
), valid_versions="0-1", flexible_versions="1+")

_INT16 = struct.Struct(">h")


def value_version(transaction_version: int) -> int:
    return 1 if transaction_version >= 1 else 0


def encode(transactional_id: str, value: dict | None, version: int = 1) -> tuple[bytes, bytes | None]:
    """(key, value) bytes; value None is a tombstone; `version` is the value's."""
    key = _INT16.pack(0) + encode_message(TRANSACTION_LOG_KEY, 0, {"transactional_id": transactional_id})
    if value is None:
        return key, None
    return key, _INT16.pack(version) + encode_message(TRANSACTION_LOG_VALUE, version, value)


def decode(key: bytes | None, value: bytes | None) -> tuple[str, dict | None]:
    """(transactional id, value dict or None); raises RecordFormatError."""
    if key is None or len(key) < 2:
        raise RecordFormatError("transaction log record without a key")
    (version,) = _INT16.unpack_from(key, 0)
    if version != 0:
        raise RecordFormatError(f"unknown transaction log key version {version}")
    transactional_id = decode_message(TRANSACTION_LOG_KEY, 0, key, 2)["transactional_id"]
    if value is None:
        return transactional_id, None
    if len(value) < 2:
        raise RecordFormatError("transaction log value without a version")
    (version,) = _INT16.unpack_from(value, 0)
    return transactional_id, decode_message(TRANSACTION_LOG_VALUE, version, value, 2)
