"""ListOffsets over the raw protocol: the special timestamps and the versions
that may ask for them, lookups by timestamp, and the leader epochs returned,
each as Apache Kafka 4.4 (single-node KRaft) answers the same requests."""

from __future__ import annotations

import uuid

import pytest
from batchgen import batch_of, now_ms
from wire import connect, create_topic, list_offset, produce

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED, EARLIEST_PENDING_UPLOAD = -1, -2, -3, -4, -5, -6
NONE, UNSUPPORTED_VERSION = 0, 35
# The first ListOffsets version that may ask for each special timestamp.
SINCE = {LATEST: 1, EARLIEST: 1, MAX_TIMESTAMP: 7, EARLIEST_LOCAL: 8, LATEST_TIERED: 9, EARLIEST_PENDING_UPLOAD: 11}


@pytest.fixture(scope="module")
def log_with_data(broker):
    """A one-partition topic with two batches: timestamps (t-5s, t-3s) and (t-4s, t-1s)."""
    name = "lo-" + uuid.uuid4().hex[:10]
    t = now_ms()
    with connect(broker) as c:
        assert int(create_topic(c, name, 1).error_code) == NONE
        for ts in ([t - 5000, t - 3000], [t - 4000, t - 1000]):
            assert int(produce(c, name, 0, batch_of([b"a", b"b"], timestamps=ts)).error_code) == NONE
    return name, t


@pytest.mark.parametrize("version", range(1, 12))
@pytest.mark.parametrize("timestamp", sorted(SINCE) + [-7, -100])
def test_special_timestamps_by_version(broker, log_with_data, version, timestamp):
    """A special timestamp asked below its version, or an unknown negative one, is
    UNSUPPORTED_VERSION (offset -1, leader epoch -1)."""
    name, _t = log_with_data
    with connect(broker) as c:
        p = list_offset(c, name, 0, timestamp, version=version)
    if version < SINCE.get(timestamp, 99):
        assert int(p.error_code) == UNSUPPORTED_VERSION and p.offset == -1
        if version >= 4:
            assert p.leader_epoch == -1
        return
    assert int(p.error_code) == NONE
    expected = {LATEST: (4, 0), EARLIEST: (0, 0), EARLIEST_LOCAL: (0, 0), MAX_TIMESTAMP: (3, 0),
                LATEST_TIERED: (-1, -1), EARLIEST_PENDING_UPLOAD: (-1, -1)}[timestamp]
    assert p.offset == expected[0]
    if version >= 4:
        assert p.leader_epoch == expected[1]


@pytest.mark.parametrize("delta,offset,found_delta", [
    (-6000, 0, -5000),   # before everything: the first record
    (-4500, 1, -3000),   # the first batch whose max timestamp reaches it, then its first record that does
    (-3500, 1, -3000),
    (-1000, 3, -1000),
    (0, -1, None),       # after everything: offset -1, timestamp -1, leader epoch -1
])
def test_offset_for_timestamp(broker, log_with_data, delta, offset, found_delta):
    name, t = log_with_data
    with connect(broker) as c:
        p = list_offset(c, name, 0, t + delta, version=8)
    assert int(p.error_code) == NONE
    assert p.offset == offset
    assert p.timestamp == (-1 if found_delta is None else t + found_delta)
    assert p.leader_epoch == (-1 if found_delta is None else 0)


def test_max_timestamp_of_an_empty_log(broker):
    name = "lo-empty-" + uuid.uuid4().hex[:8]
    with connect(broker) as c:
        assert int(create_topic(c, name, 1).error_code) == NONE
        p = list_offset(c, name, 0, MAX_TIMESTAMP, version=9)
    assert (int(p.error_code), p.offset, p.timestamp, p.leader_epoch) == (NONE, -1, -1, -1)
