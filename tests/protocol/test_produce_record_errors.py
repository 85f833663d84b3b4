"""Produce with some invalid records in a batch (KIP-467), over the raw protocol:
the partition fails, record_errors names each bad record by its index with
Kafka's message, and error_message summarizes them, byte for byte what Apache
Kafka 4.4 answers (checked with --reference-bootstrap). Nothing is appended."""

from __future__ import annotations

import re
import uuid

import pytest
from batchgen import batch_of, now_ms
from wire import connect, create_topic, list_offset, produce

NONE, INVALID_TIMESTAMP, INVALID_RECORD = 0, 32, 87
DAY_MS = 86_400_000


def _new_topic(c, configs: dict) -> str:
    name = "rec-err-" + uuid.uuid4().hex[:10]
    assert int(create_topic(c, name, 1, configs=configs).error_code) == NONE
    return name


@pytest.mark.parametrize("version", [8, 9, 12])
def test_keyless_records_on_a_compacted_topic(broker, version):
    with connect(broker) as c:
        topic = _new_topic(c, {"cleanup.policy": "compact"})
        records = batch_of([b"a", b"b", b"c", b"d", b"e"], keys=[None, b"k", b"k", None, b"k"])
        p = produce(c, topic, 0, records, acks=1, version=version)
        why = f"Compacted topic cannot accept message without key in topic partition {topic}-0"
        assert int(p.error_code) == INVALID_RECORD
        assert (p.base_offset, p.log_start_offset) == (-1, 0)
        assert [(e.batch_index, e.batch_index_error_message) for e in p.record_errors] == [(0, why), (3, why)]
        assert p.error_message == (
            "One or more records have been rejected due to 2 record errors in total, and only showing the first "
            f"three errors at most: [RecordError(batchIndex=0, message='{why}'), "
            f"RecordError(batchIndex=3, message='{why}')]")
        assert list_offset(c, topic, 0, -1).offset == 0  # nothing appended
        ok = produce(c, topic, 0, batch_of([b"a"], keys=[b"k"]), acks=1, version=version)
        assert (int(ok.error_code), ok.record_errors) == (NONE, ())


def test_only_the_first_three_record_errors_are_in_the_message(broker):
    with connect(broker) as c:
        topic = _new_topic(c, {"cleanup.policy": "compact"})
        p = produce(c, topic, 0, batch_of([b"v"] * 5, keys=[None] * 5), acks=1)
        assert [e.batch_index for e in p.record_errors] == [0, 1, 2, 3, 4]
        assert p.error_message.startswith("One or more records have been rejected due to 5 record errors in total")
        assert p.error_message.count("RecordError(") == 3


def _range(message: str) -> tuple[int, int]:
    low, high = re.search(r"within \[(-?\d+), (-?\d+)\]", message).groups()
    return int(low), int(high)


def test_records_with_timestamps_out_of_range(broker):
    """Too new (message.timestamp.after.max.ms, 1 h by default) or, with a before-limit,
    too old: each bad record by index, even when the batch's max timestamp is in range."""
    t = now_ms()
    with connect(broker) as c:
        topic = _new_topic(c, {"message.timestamp.before.max.ms": str(DAY_MS)})
        cases = [([t, t + 2 * 3_600_000, t], [1]),          # one record an hour too new
                 ([t - 2 * DAY_MS, t, t - 3 * DAY_MS], [0, 2])]  # two too old; the max is fine
        for timestamps, bad in cases:
            p = produce(c, topic, 0, batch_of([b"v"] * len(timestamps), timestamps=timestamps), acks=1)
            assert int(p.error_code) == INVALID_TIMESTAMP
            assert p.error_message == "One or more records have been rejected due to invalid timestamp"
            assert p.log_start_offset == 0
            assert [e.batch_index for e in p.record_errors] == bad
            for e in p.record_errors:
                ts = timestamps[e.batch_index]
                assert e.batch_index_error_message.startswith(
                    f"Timestamp {ts} of message with offset {e.batch_index} is out of range. "
                    "The timestamp should be within [")
                low, high = _range(e.batch_index_error_message)
                assert high - low == DAY_MS + 3_600_000 and low <= t <= high
        assert list_offset(c, topic, 0, -1).offset == 0


def test_log_append_time_topics_do_not_check_timestamps(broker):
    t = now_ms()
    with connect(broker) as c:
        topic = _new_topic(c, {"message.timestamp.type": "LogAppendTime"})
        p = produce(c, topic, 0, batch_of([b"v"], timestamps=[t + 10 * DAY_MS]), acks=1)
        assert (int(p.error_code), p.record_errors) == (NONE, ())
