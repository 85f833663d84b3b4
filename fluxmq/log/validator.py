"""LogValidator: the checks Kafka's LogValidator makes of the records inside a
batch before it is appended, with per-record errors (KIP-467).

The append path treats a batch as opaque bytes: CRC, lengths and the header
fields are checked in C. This module looks inside only when a check needs the
records themselves:

- a compacted topic: every record needs a key (INVALID_RECORD);
- CreateTime timestamps out of [now - message.timestamp.before.max.ms,
  now + message.timestamp.after.max.ms] (INVALID_TIMESTAMP): the batch's max
  timestamp shows whether any record is too new, so the records are read only
  when it is, or when a before-limit is set (the oldest record may be
  anywhere in the batch).

Every bad record is reported by its index in the batch, one error each (the
key check first), so the client fails exactly those records and retries or
fails the rest as its error handling says. The partition's error and message
are Kafka's: INVALID_TIMESTAMP when any record has a bad timestamp, else
INVALID_RECORD.
"""

from __future__ import annotations

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log.batch import NO_TIMESTAMP
LONG_MAX = 2**63 - 1


class RecordValidationError(KafkaError):
    """Some records of a batch are invalid; `record_errors` is [(batch index, message)]."""

    def __init__(self, code: ErrorCode, record_errors: list[tuple[int, str]]):
        if code == ErrorCode.INVALID_TIMESTAMP:
            message = "One or more records have been rejected due to invalid timestamp"
        else:
            shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in record_errors[:3])
            message = (f"One or more records have been rejected due to {len(record_errors)} record errors in "
                       f"total, and only showing the first three errors at most: [{shown}]")
        super().__init__(code, message)
        self.record_errors = record_errors


def timestamp_out_of_range(ts: int, now_ms: int, before_max_ms: int, after_max_ms: int) -> bool:
    return ts != NO_TIMESTAMP and (now_ms - ts > before_max_ms or ts - now_ms > after_max_ms)


def validate_records(partition: str, buf, info, config, now_ms: int) -> None:
    """Raises RecordValidationError naming every bad record of the batch `info`
    (an fmq_batch_info) in `buf`, before offsets are assigned; `config` is the
    log's LogConfig."""
    check_keys = config.compact
    before, after = config.timestamp_before_max_ms, config.timestamp_after_max_ms
    check_timestamps = not config.log_append_time and (
        before < LONG_MAX or timestamp_out_of_range(info.max_timestamp, now_ms, LONG_MAX, after))
    if not (check_keys or check_timestamps):
        return
    from fluxmq.log.records import iter_records
    errors: list[tuple[int, str]] = []
    bad_timestamp = False
    try:
        batch = bytes(buf[info.position:info.position + info.size])
        for index, (offset, ts, key) in enumerate(iter_records(batch)):
            if check_keys and key is None:
                errors.append((index, f"Compacted topic cannot accept message without key in topic partition "
                                      f"{partition}"))
            elif check_timestamps and timestamp_out_of_range(ts, now_ms, before, after):
                bad_timestamp = True
                errors.append((index, f"Timestamp {ts} of message with offset {offset} is out of range. The "
                                      f"timestamp should be within [{now_ms - before}, {now_ms + after}]"))
    except Exception as e:  # noqa: BLE001 - any way a client's records fail to decode or decompress
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot read records: {e}") from None
    if errors:
        raise RecordValidationError(ErrorCode.INVALID_TIMESTAMP if bad_timestamp else ErrorCode.INVALID_RECORD,
                                    errors)
