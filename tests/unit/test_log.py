"""The partition log on its own: appends, reads, rolls, retention, the
idempotent producer window and recovery, driven by a manual clock."""

import os

import pytest
from batchgen import Record, build_batch

from fluxmq import native
from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log.log import AppendPlan, Log, LogConfig, append_plans
from fluxmq.node import Node
from fluxmq.log.producer_state import INT32_MAX
from fluxmq.log.segment import SegmentDeleter
from fluxmq.util.clock import ManualClock

IO = native.SegmentIO()


def append(lg: Log, batch: bytes, clock: ManualClock):
    outcome = lg.prepare_append(batch, clock.milliseconds())
    if isinstance(outcome, AppendPlan):
        return append_plans(IO, [outcome], clock.milliseconds())[0]
    return outcome


def batch(n=1, ts=None, clock=None, **kw):
    recs = [Record(value=b"v%d" % i, key=b"k") for i in range(n)]
    return build_batch(recs, first_timestamp=ts if ts is not None else clock.milliseconds(), **kw)[0]


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def log(tmp_path, clock):
    return Log(str(tmp_path / "t-0"), "t", 0, LogConfig(), clock)


def test_offsets_are_assigned_consecutively_and_read_back(log, clock):
    assert append(log, batch(3, clock=clock), clock).base_offset == 0
    assert append(log, batch(2, clock=clock), clock).base_offset == 3
    assert log.log_end_offset == 5
    # An offset inside a batch returns the whole batch, from its start.
    first = log.read(1, 1 << 20)
    second = log.read(3, 1 << 20)
    assert first.offset == 0 and second.offset == first.offset + len(batch(3, clock=clock))
    assert log.read(5, 1 << 20) is None
    with pytest.raises(KafkaError) as e:
        log.read(6, 1 << 20)
    assert e.value.code == ErrorCode.OFFSET_OUT_OF_RANGE


def test_segments_roll_by_size_and_by_time(tmp_path, clock):
    lg = Log(str(tmp_path / "t-0"), "t", 0, LogConfig(segment_bytes=300, segment_ms=10_000), clock)
    for _ in range(6):
        append(lg, batch(2, clock=clock), clock)
    assert len(lg.segments) > 1
    names = sorted(n for n in os.listdir(lg.dir) if n.endswith(".log"))
    assert names[0] == "00000000000000000000.log"
    assert all(len(n) == len("00000000000000000000.log") for n in names)
    count = len(lg.segments)
    clock.advance(10_001)
    append(lg, batch(1, clock=clock), clock)
    assert len(lg.segments) == count + 1
    assert lg.active_segment.base_offset == 12


def test_retention_by_time_deletes_old_segments_only(tmp_path, clock):
    lg = Log(str(tmp_path / "t-0"), "t", 0, LogConfig(segment_bytes=200, retention_ms=60_000), clock)
    for _ in range(4):
        append(lg, batch(2, clock=clock), clock)
    clock.advance(120_000)
    append(lg, batch(1, clock=clock), clock)
    deleted = lg.apply_retention(clock.milliseconds())
    assert deleted >= 1
    assert lg.log_start_offset == lg.segments[0].base_offset > 0
    with pytest.raises(KafkaError):
        lg.read(0, 100)
    assert lg.log_end_offset == 9


def test_oversized_and_corrupt_batches_are_rejected(tmp_path, clock):
    lg = Log(str(tmp_path / "t-0"), "t", 0, LogConfig(max_message_bytes=100), clock)
    with pytest.raises(KafkaError) as e:
        append(lg, batch(20, clock=clock), clock)
    assert e.value.code == ErrorCode.MESSAGE_TOO_LARGE
    bad = bytearray(batch(1, clock=clock))
    bad[-1] ^= 0xFF
    with pytest.raises(KafkaError) as e:
        append(lg, bytes(bad), clock)
    assert e.value.code == ErrorCode.CORRUPT_MESSAGE
    assert lg.log_end_offset == 0


def test_idempotent_window(log, clock):
    b0 = batch(2, clock=clock, producer_id=7, producer_epoch=0, base_sequence=0)
    assert append(log, b0, clock).base_offset == 0
    dup = append(log, b0, clock)
    assert dup.duplicate and dup.base_offset == 0 and log.log_end_offset == 2
    with pytest.raises(KafkaError) as e:  # gap: expected sequence 2
        append(log, batch(1, clock=clock, producer_id=7, producer_epoch=0, base_sequence=3), clock)
    assert e.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    append(log, batch(1, clock=clock, producer_id=7, producer_epoch=1, base_sequence=0), clock)
    with pytest.raises(KafkaError) as e:  # fenced epoch
        append(log, batch(1, clock=clock, producer_id=7, producer_epoch=0, base_sequence=3), clock)
    assert e.value.code == ErrorCode.INVALID_PRODUCER_EPOCH


def test_sequence_wraps_to_zero(log, clock):
    append(log, batch(2, clock=clock, producer_id=9, producer_epoch=0, base_sequence=INT32_MAX - 1), clock)
    assert append(log, batch(1, clock=clock, producer_id=9, producer_epoch=0, base_sequence=0), clock).base_offset == 2


def test_offset_for_timestamp_finds_the_first_record_at_or_after(log, clock):
    base = clock.milliseconds()
    recs = [Record(value=b"a", timestamp_delta=0), Record(value=b"b", timestamp_delta=10),
            Record(value=b"c", timestamp_delta=20)]
    append(log, build_batch(recs, first_timestamp=base)[0], clock)
    append(log, batch(1, ts=base + 100), clock)
    assert log.offset_for_timestamp(base + 5) == (1, base + 10)
    assert log.offset_for_timestamp(base + 50) == (3, base + 100)
    assert log.offset_for_timestamp(base + 101) is None
    assert log.max_timestamp() == (base + 100, 3)


def test_log_append_time_rewrites_the_batch_timestamp(tmp_path, clock):
    lg = Log(str(tmp_path / "t-0"), "t", 0, LogConfig(log_append_time=True), clock)
    res = append(lg, batch(1, ts=5), clock)
    assert res.log_append_time == clock.milliseconds()
    r = lg.read(0, 1000)
    stored = os.pread(r.fd, r.length, r.offset)
    infos, n = native.scan_batches(stored)  # CRC was recomputed
    assert n == 1 and infos[0].max_timestamp == clock.milliseconds() and infos[0].attributes & 0x08


def _manager(tmp_path, clock):
    """A broker's storage without a network (fluxmq/node.py): metadata, logs, replicas."""
    return Node(BrokerConfig(), str(tmp_path / "data"), clock)


def test_recovery_truncates_a_torn_tail_and_keeps_producer_state(tmp_path, clock):
    m = _manager(tmp_path, clock)
    m.startup()
    m.controller.create_topic("t", 1)
    lg = m.logs.get_log("t", 0)
    b0 = batch(3, clock=clock, producer_id=5, producer_epoch=0, base_sequence=0)
    append(lg, b0, clock)
    append(lg, batch(2, clock=clock), clock)
    path = lg.active_segment.log_path
    for g in list(m.logs.all_logs()):
        g.close(clean=False)  # a crash: no marker, no checkpoints
    with open(path, "ab") as f:
        f.write(batch(4, clock=clock)[:40])  # a torn write
    m2 = _manager(tmp_path, clock)
    m2.startup()
    lg2 = m2.logs.get_log("t", 0)
    assert lg2.log_end_offset == 5
    assert os.path.getsize(path) == len(b0) + len(batch(2, clock=clock))
    assert append(lg2, b0, clock).duplicate  # the window survived the crash
    assert append(lg2, batch(1, clock=clock), clock).base_offset == 5


def test_clean_shutdown_writes_marker_indexes_and_checkpoints(tmp_path, clock):
    m = _manager(tmp_path, clock)
    m.startup()
    m.controller.create_topic("t", 2, {"retention.ms": "1000"})
    append(m.logs.get_log("t", 1), batch(2, clock=clock), clock)
    m.shutdown()
    data = tmp_path / "data"
    assert (data / ".kafka_cleanshutdown").exists()
    assert (data / "t-1" / "00000000000000000000.index").exists()
    assert "t 1 2" in (data / "recovery-point-offset-checkpoint").read_text()
    m2 = _manager(tmp_path, clock)
    m2.startup()
    assert not (data / ".kafka_cleanshutdown").exists()
    assert m2.logs.get_log("t", 1).log_end_offset == 2
    assert m2.image.topics["t"].configs == {"retention.ms": 1000}
    assert m2.image.topics["t"].topic_id == m.image.topics["t"].topic_id


def test_compacted_topics_refuse_records_without_keys(tmp_path, clock):
    lg = Log(str(tmp_path / "t-0"), "t", 0, LogConfig(compact=True), clock)
    keyless = build_batch([Record(value=b"v", key=None)], first_timestamp=clock.milliseconds())[0]
    with pytest.raises(KafkaError) as e:
        append(lg, keyless, clock)
    assert e.value.code == ErrorCode.INVALID_RECORD
    assert append(lg, batch(2, clock=clock), clock).base_offset == 0


def test_removed_segments_stay_readable_for_file_delete_delay(tmp_path, clock):
    """Kafka's file.delete.delay.ms: retention renames a segment's files `.deleted` and the
    deleter removes them (and closes the fd) only after the delay, so a response that still
    names the segment's file range reads the right bytes meanwhile."""
    deleter = SegmentDeleter(clock)
    lg = Log(str(tmp_path / "t-0"), "t", 0,
             LogConfig(segment_bytes=200, retention_ms=60_000, file_delete_delay_ms=30_000), clock, deleter=deleter)
    for _ in range(3):
        append(lg, batch(2, clock=clock), clock)
    first = lg.segments[0]
    in_flight = lg.read(0, 1 << 20)  # a fetch response's file range
    expected = os.pread(in_flight.fd, in_flight.length, in_flight.offset)
    clock.advance(120_000)
    append(lg, batch(1, clock=clock), clock)
    assert lg.apply_retention(clock.milliseconds()) >= 1 and first not in lg.segments
    names = set(os.listdir(tmp_path / "t-0"))
    assert "00000000000000000000.log.deleted" in names and "00000000000000000000.log" not in names
    clock.advance(29_000)
    assert deleter.delete_due() == 0
    assert os.pread(in_flight.fd, in_flight.length, in_flight.offset) == expected
    clock.advance(1_000)
    assert deleter.delete_due() >= 1 and len(deleter) == 0
    assert first.fd == -1
    assert not any(n.endswith(".deleted") for n in os.listdir(tmp_path / "t-0"))
