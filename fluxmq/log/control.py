"""Transaction markers: the control batches that end a transaction on a
partition (KIP-98; Kafka's ControlRecordType and EndTransactionMarker).

A marker batch has CONTROL_BIT and TRANSACTIONAL_BIT set, the producer's id
and epoch, base sequence -1 and one record:

    key   = version int16 (0) | type int16 (0 ABORT, 1 COMMIT)
    value = version int16 (0) | coordinator epoch int32

Only the transaction coordinator writes them (through the replica manager,
origin COORDINATOR); clients may not produce control batches.
"""

from __future__ import annotations

import struct

from fluxmq.log.batch import CONTROL_BIT, TRANSACTIONAL_BIT
from fluxmq.log.batch_builder import build_batch

ABORT, COMMIT = 0, 1
_KEY = struct.Struct(">hh")
_VALUE = struct.Struct(">hi")


def marker_batch(producer_id: int, producer_epoch: int, commit: bool, coordinator_epoch: int,
                 timestamp_ms: int) -> bytes:
    key = _KEY.pack(0, COMMIT if commit else ABORT)
    value = _VALUE.pack(0, coordinator_epoch)
    return build_batch([(key, value)], timestamp_ms, producer_id, producer_epoch, -1,
                       CONTROL_BIT | TRANSACTIONAL_BIT)


def coordinator_epoch(batch: bytes) -> int:
    """The coordinator epoch in a marker's value, or -1 if it has none readable."""
    from fluxmq.log.records import iter_records
    for _offset, _ts, _key, value in iter_records(batch, with_values=True):
        return _VALUE.unpack_from(value)[1] if value is not None and len(value) >= _VALUE.size else -1
    return -1


def marker_type(batch: bytes) -> int:
    """ABORT or COMMIT of a control batch (the key of its one record); raises
    ValueError for a control record of another type (Kafka skips those)."""
    from fluxmq.log.records import iter_records
    for _offset, _ts, key in iter_records(batch):
        if key is None or len(key) < _KEY.size:
            raise ValueError("control record without a valid key")
        _version, kind = _KEY.unpack_from(key)
        if kind not in (ABORT, COMMIT):
            raise ValueError(f"unknown control record type {kind}")
        return kind
    raise ValueError("control batch without records")
