"""Log compaction (fluxmq/log/cleaner.py) on real segment files, driven by a
manual clock: which records stay, offsets, tombstones and their delete
horizon, min/max compaction lag, the dirty ratio, compressed batches,
idempotent producer state, __consumer_offsets replay, and crashes at every
step of the segment swap."""

from __future__ import annotations

import asyncio
import gzip
import os
import struct

import lz4.frame
import pytest
import snappy
import zstandard
from batchgen import Record, build_batch

from fluxmq import native
from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log import cleaner as cleaner_mod
from fluxmq.log.log import AppendPlan, append_plans
from fluxmq.node import Node
from fluxmq.replication.replica_manager import COORDINATOR
from fluxmq.log.records import iter_records
from fluxmq.util.clock import ManualClock

IO = native.SegmentIO()
HEADER = struct.Struct(">qiibIhiqqqhii")
DELETE_HORIZON_BIT = 0x40
CODEC_IDS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
COMPRESSORS = {
    "gzip": gzip.compress,
    "snappy": snappy.compress,
    "lz4": lz4.frame.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


# ------------------------------------------------------------------ helpers
@pytest.fixture
def clock():
    return ManualClock()


def manager(tmp_path, clock, **broker) -> Node:
    """A broker's storage without a network: metadata, logs (m.logs), replica manager."""
    cfg = BrokerConfig()
    for key, value in broker.items():
        cfg.set(key.replace("_", "."), value)
    return Node(cfg, str(tmp_path / "data"), clock).startup()


def compacted(m: Node, name: str = "c", **configs):
    conf = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.01", "segment.bytes": str(1 << 20)}
    conf.update({k.replace("_", "."): str(v) for k, v in configs.items()})
    m.controller.create_topic(name, 1, conf)
    return m.logs.get_log(name, 0)


def append(lg, clock, pairs, producer=None, codec=None, ts_deltas=None):
    """One batch of (key, value) records stamped with the clock; returns the
    append result. producer: (id, epoch, base sequence)."""
    recs = [Record(value=v, key=k, timestamp_delta=(ts_deltas[i] if ts_deltas else 0))
            for i, (k, v) in enumerate(pairs)]
    fields = {}
    if producer is not None:
        fields = dict(producer_id=producer[0], producer_epoch=producer[1], base_sequence=producer[2])
    if codec is not None:
        from batchgen import encode_record
        raw = COMPRESSORS[codec](b"".join(encode_record(r, i) for i, r in enumerate(recs)))
        fields.update(raw_records=raw, attributes=CODEC_IDS[codec])
    data = build_batch(recs, first_timestamp=clock.milliseconds(), **fields)[0]
    outcome = lg.prepare_append(data, clock.milliseconds())
    if isinstance(outcome, AppendPlan):
        return append_plans(IO, [outcome], clock.milliseconds())[0]
    return outcome


def roll(lg, clock):
    """Closes the active segment and fsyncs (the cleaner takes only synced
    closed segments)."""
    lg.roll()
    native.sync_fds(lg.dirty_fds())
    lg.mark_flushed(lg.log_end_offset, clock.monotonic_ms())


def batches(lg):
    """(header fields, [(offset, timestamp, key, value)]) of every batch."""
    out = []
    for data in lg.iter_batches():
        out.append((HEADER.unpack_from(data, 0), list(iter_records(data, with_values=True))))
    return out


def records(lg):
    return [(o, k, v) for _h, recs in batches(lg) for o, _t, k, v in recs]


def crash(m: Node) -> None:
    """kill -9: no marker, no checkpoints, nothing flushed by us."""
    for lg in m.logs.all_logs():
        lg.close(clean=False)


def reload(tmp_path, clock, **broker) -> Node:
    return manager(tmp_path, clock, **broker)


def files(lg) -> list[str]:
    return sorted(os.listdir(lg.dir))


def overwrite_rounds(lg, clock, rounds=4, keys=(b"a", b"b", b"c")):
    """`rounds` closed segments, each one batch setting every key to r<round>."""
    for r in range(rounds):
        append(lg, clock, [(k, b"r%d" % r) for k in keys])
        roll(lg, clock)


# -------------------------------------------------------------------- tests
def test_only_the_latest_record_per_key_stays_and_offsets_do_not_change(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    overwrite_rounds(lg, clock)                      # offsets 0-11 in 4 closed segments
    append(lg, clock, [(b"z", b"active")])           # offset 12, active segment: never cleaned
    assert len(lg.segments) == 5
    result = m.logs.cleaner.clean_once()
    assert result is not None and result.end_offset == 12
    assert records(lg) == [(9, b"a", b"r3"), (10, b"b", b"r3"), (11, b"c", b"r3"), (12, b"z", b"active")]
    assert lg.log_start_offset == 0 and lg.log_end_offset == 13
    assert len(lg.segments) == 2  # the four closed segments merged into one (segment.bytes allows it)
    # A fetch at a removed offset gets the next retained batch; inside a batch, the whole batch.
    for offset in (0, 5, 9, 10):
        r = lg.read(offset, 1 << 20)
        assert struct.unpack_from(">q", os.pread(r.fd, 8, r.offset))[0] == 9
    assert struct.unpack_from(">q", os.pread(lg.read(12, 1 << 20).fd, 8, lg.read(12, 1 << 20).offset))[0] == 12
    assert m.logs.cleaner.clean_once() is None  # nothing dirty any more
    assert "c 0 12" in (tmp_path / "data" / cleaner_mod.CLEANER_CHECKPOINT_FILE).read_text()
    assert not [n for n in files(lg) if n.endswith((".cleaned", ".swap"))]
    m.shutdown()
    m2 = reload(tmp_path, clock)
    lg2 = m2.logs.get_log("c", 0)
    assert records(lg2) == [(9, b"a", b"r3"), (10, b"b", b"r3"), (11, b"c", b"r3"), (12, b"z", b"active")]
    assert m2.logs.cleaner.first_dirty_offset(lg2) == 12
    assert append(lg2, clock, [(b"a", b"new")]).base_offset == 13


def test_batches_are_rebuilt_with_their_offsets_and_last_offset_delta(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    append(lg, clock, [(b"a", b"1"), (b"b", b"1"), (b"c", b"1")], ts_deltas=[0, 5, 9])
    append(lg, clock, [(b"a", b"2"), (b"c", b"2"), (b"d", b"1")])  # offsets 3-5; its last record stays
    roll(lg, clock)
    append(lg, clock, [(b"c", b"3")])  # offset 6, closed, so offset 2 (c) and 4 (c) go
    append(lg, clock, [(b"d", b"2")])  # offset 7
    roll(lg, clock)
    append(lg, clock, [(b"x", b"x")])
    m.logs.cleaner.clean_once()
    got = batches(lg)
    first = got[0]
    assert first[0][0] == 0 and first[0][6] == 2 and first[0][12] == 1  # base 0, lastOffsetDelta 2, 1 record
    assert [(o, k, v) for o, _t, k, v in first[1]] == [(1, b"b", b"1")]
    assert first[1][0][1] == clock.milliseconds() + 5  # the record keeps its timestamp
    assert first[0][8] == clock.milliseconds() + 5      # maxTimestamp of what stays
    second = got[1]
    assert second[0][0] == 3 and second[0][6] == 2 and [(o, k) for o, _t, k, _v in second[1]] == [(3, b"a")]
    assert records(lg) == [(1, b"b", b"1"), (3, b"a", b"2"), (6, b"c", b"3"), (7, b"d", b"2"), (8, b"x", b"x")]
    # Every batch of the rewritten segment passes the CRC check of the loader.
    seg = lg.segments[0]
    data = os.pread(seg.fd, seg.size, 0)
    _infos, n = native.scan_batches(data, verify_crc=True)
    assert n == 4


def test_small_segments_merge_up_to_segment_bytes(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m, segment_bytes=400)
    for r in range(12):  # one ~150-byte batch per segment, distinct keys: nothing is removed
        append(lg, clock, [(b"k%d-%d" % (r, j), b"v" * 10) for j in range(5)])
        roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    before = records(lg)
    assert m.logs.cleaner.clean_once() is not None
    assert records(lg) == before
    closed = lg.segments[:-1]
    assert 3 <= len(closed) < 12 and all(s.size <= 400 for s in closed)
    assert [s.base_offset for s in closed] == sorted(s.base_offset for s in closed)


def test_a_full_offset_map_spreads_the_dirty_section_over_several_passes(tmp_path, clock):
    m = manager(tmp_path, clock, log_cleaner_dedupe_buffer_size=270)  # 270 / 24 * 0.9: 10 keys
    assert m.logs.cleaner.max_map_entries == 10
    lg = compacted(m)
    for prefix in (b"a", b"b", b"a"):
        append(lg, clock, [(prefix + b"%d" % j, prefix) for j in range(8)])
        roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    ends = []
    while (result := m.logs.cleaner.clean_once()) is not None:
        ends.append(result.end_offset)
        assert len(ends) < 5
    assert ends == [8, 16, 24]
    assert [(o, v) for o, _k, v in records(lg)] == [(o, b"b") for o in range(8, 16)] + \
        [(o, b"a") for o in range(16, 24)] + [(24, b"1")]


def test_an_aborted_clean_leaves_no_files(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    overwrite_rounds(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    now = clock.milliseconds()
    job = m.logs.cleaner.prepare(m.logs.cleaner.log_to_clean(lg, now), now)
    job.abort.set()  # what LogCleaner.shutdown does
    with pytest.raises(cleaner_mod.CleanAborted):
        cleaner_mod.clean(job)
    assert not [n for n in files(lg) if n.endswith((".cleaned", ".swap"))]
    assert len(records(lg)) == 13


def test_tombstones_stay_until_delete_retention_ms_after_their_first_clean(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m, delete_retention_ms=10_000)
    append(lg, clock, [(b"a", b"1"), (b"b", b"1")])
    roll(lg, clock)
    append(lg, clock, [(b"a", None)])  # tombstone at offset 2
    tombstone_ts = clock.milliseconds()
    roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    clock.advance(1000)
    m.logs.cleaner.clean_once()
    assert records(lg) == [(1, b"b", b"1"), (2, b"a", None), (3, b"z", b"1")]
    header, recs = [(h, r) for h, r in batches(lg) if h[0] == 2][0]
    assert header[5] & DELETE_HORIZON_BIT and header[7] == clock.milliseconds() + 10_000  # KIP-534 horizon
    assert recs[0][1] == tombstone_ts  # the record's timestamp did not move with baseTimestamp
    assert m.logs.cleaner.clean_once() is None
    clock.advance(9_999)
    assert m.logs.cleaner.clean_once() is None  # horizon not reached
    # A restart forgets nothing: the horizon is in the batch.
    m.shutdown()
    m = reload(tmp_path, clock)
    lg = m.logs.get_log("c", 0)
    assert records(lg) == [(1, b"b", b"1"), (2, b"a", None), (3, b"z", b"1")]
    assert m.logs.cleaner.clean_once() is None
    clock.advance(1)
    assert m.logs.cleaner.clean_once() is not None  # the horizon passed: cleaned without new data
    assert records(lg) == [(1, b"b", b"1"), (3, b"z", b"1")]
    assert m.logs.cleaner.clean_once() is None


def test_a_tombstone_superseded_by_a_later_value_goes_at_once(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    append(lg, clock, [(b"a", b"1")])
    append(lg, clock, [(b"a", None)])
    append(lg, clock, [(b"a", b"2")])
    roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    m.logs.cleaner.clean_once()
    assert records(lg) == [(2, b"a", b"2"), (3, b"z", b"1")]


def test_min_compaction_lag_ms_keeps_recent_segments_dirty(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m, min_compaction_lag_ms=60_000)
    overwrite_rounds(lg, clock, rounds=2)
    clock.advance(30_000)
    overwrite_rounds(lg, clock, rounds=1)  # a newer segment (offsets 6-8)
    append(lg, clock, [(b"z", b"1")])
    assert m.logs.cleaner.clean_once() is None
    clock.advance(30_001)  # the first two segments are now old enough, the third is not
    result = m.logs.cleaner.clean_once()
    assert result.end_offset == 6
    assert [o for o, _k, _v in records(lg)] == [3, 4, 5, 6, 7, 8, 9]
    clock.advance(30_000)
    m.logs.cleaner.clean_once()
    assert [o for o, _k, _v in records(lg)] == [6, 7, 8, 9]


def test_the_dirty_ratio_must_exceed_min_cleanable_dirty_ratio(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m, min_cleanable_dirty_ratio=0.5)
    for i in range(8):  # distinct keys: compaction keeps them all, so the clean section stays big
        append(lg, clock, [(b"k%d-%d" % (i, j), b"v" * 50) for j in range(10)])
        roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    assert m.logs.cleaner.log_to_clean(lg, clock.milliseconds()).ratio == 1.0
    assert m.logs.cleaner.clean_once() is not None
    clean_size = lg.segments[0].size
    append(lg, clock, [(b"k0-0", b"w")])  # a small dirty segment
    roll(lg, clock)
    assert m.logs.cleaner.log_to_clean(lg, clock.milliseconds()) is None
    assert m.logs.cleaner.clean_once() is None
    while sum(s.size for s in lg.segments[1:-1]) <= clean_size:
        append(lg, clock, [(b"k1-%d" % j, b"w" * 50) for j in range(10)])
        roll(lg, clock)
    ltc = m.logs.cleaner.log_to_clean(lg, clock.milliseconds())
    assert ltc is not None and ltc.ratio > 0.5 and "dirty ratio" in ltc.reason
    assert m.logs.cleaner.clean_once() is not None
    assert {k: v for _o, k, v in records(lg)}[b"k0-0"] == b"w"


def test_max_compaction_lag_ms_forces_a_clean_below_the_ratio(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m, min_cleanable_dirty_ratio=0.9, max_compaction_lag_ms=10_000)
    for i in range(4):
        append(lg, clock, [(b"k%d-%d" % (i, j), b"v" * 20) for j in range(20)])
        roll(lg, clock)
    assert m.logs.cleaner.clean_once() is not None  # ratio 1.0
    append(lg, clock, [(b"k0-0", b"w")])
    roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    assert m.logs.cleaner.clean_once() is None  # ratio far below 0.9
    clock.advance(10_001)
    ltc = m.logs.cleaner.log_to_clean(lg, clock.milliseconds())
    assert ltc is not None and "max.compaction.lag.ms" in ltc.reason
    m.logs.cleaner.clean_once()
    assert [(k, v) for _o, k, v in records(lg) if k == b"k0-0"] == [(b"k0-0", b"w")]
    # KIP-354: the active segment rolls once it is max.compaction.lag.ms old, so it gets cleaned too.
    clock.advance(10_001)
    before = len(lg.segments)
    append(lg, clock, [(b"z", b"2")])
    assert len(lg.segments) == before + 1


@pytest.mark.parametrize("codec", sorted(CODEC_IDS))
def test_compressed_batches_are_filtered_and_recompressed_in_their_codec(tmp_path, clock, codec):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    append(lg, clock, [(b"a", b"1" * 100), (b"b", b"1" * 100), (b"a", b"2" * 100), (b"c", None)], codec=codec)
    roll(lg, clock)
    append(lg, clock, [(b"b", b"3" * 100)], codec=codec)
    roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    m.logs.cleaner.clean_once()
    got = batches(lg)
    assert [h[5] & 0x07 for h, _r in got[:2]] == [CODEC_IDS[codec]] * 2
    first = got[0][0]
    assert first[0] == 0 and first[6] == 3 and first[12] == 2  # baseOffset, lastOffsetDelta, records
    assert first[5] & DELETE_HORIZON_BIT  # it holds a tombstone
    assert records(lg) == [(2, b"a", b"2" * 100), (3, b"c", None), (4, b"b", b"3" * 100), (5, b"z", b"1")]
    data = os.pread(lg.segments[0].fd, lg.segments[0].size, 0)
    assert native.scan_batches(data, verify_crc=True)[1] == 2


def test_idempotent_producer_state_survives_a_clean_and_a_reload(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    append(lg, clock, [(b"a", b"1"), (b"a", b"2")], producer=(7, 0, 0))   # offsets 0-1, seq 0-1
    append(lg, clock, [(b"x", b"1")], producer=(8, 0, 0))                 # offset 2
    roll(lg, clock)
    append(lg, clock, [(b"a", b"3"), (b"a", b"4")], producer=(7, 0, 2))   # offsets 3-4, seq 2-3: pid 7's last
    append(lg, clock, [(b"x", b"2")], producer=(8, 0, 1))                 # offset 5
    roll(lg, clock)
    append(lg, clock, [(b"a", b"5")])                                      # offset 6 supersedes all of pid 7
    roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    m.logs.cleaner.clean_once()
    got = batches(lg)
    pid7 = [h for h, _r in got if h[9] == 7]
    assert len(pid7) == 1  # Kafka's RETAIN_EMPTY: only the producer's last batch, emptied
    h = pid7[0]
    assert (h[0], h[6], h[11], h[12], h[10]) == (3, 1, 2, 0, 0)  # base 3, lastOffsetDelta 1, seq 2, no records
    assert [(h[0], h[11]) for h, _r in got if h[9] == 8] == [(5, 1)]  # pid 8's first batch is gone
    assert records(lg) == [(5, b"x", b"2"), (6, b"a", b"5"), (7, b"z", b"1")]
    m.shutdown()
    m2 = reload(tmp_path, clock)
    lg2 = m2.logs.get_log("c", 0)
    state = lg2.producer_state.producers
    assert state[7].last_seq == 3 and state[7].batches[-1].first_offset == 3
    assert state[8].last_seq == 1
    retry = append(lg2, clock, [(b"a", b"3"), (b"a", b"4")], producer=(7, 0, 2))
    assert retry.duplicate and retry.base_offset == 3
    with pytest.raises(KafkaError) as e:
        append(lg2, clock, [(b"a", b"9")], producer=(7, 0, 7))
    assert e.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(lg2, clock, [(b"a", b"6")], producer=(7, 0, 4)).base_offset == 8


def test_records_without_a_key_are_dropped(tmp_path, clock):
    """A topic switched from delete to compact may hold keyless records; the
    cleaner drops them, as Kafka's does."""
    m = manager(tmp_path, clock)
    m.controller.create_topic("t", 1, {"segment.bytes": str(1 << 20)})
    lg = m.logs.get_log("t", 0)
    append(lg, clock, [(None, b"keyless"), (b"a", b"1")])
    roll(lg, clock)
    m.controller.alter_topic_configs("t", {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": 0.01})
    append(lg, clock, [(b"z", b"1")])
    m.logs.cleaner.clean_once()
    assert records(lg) == [(1, b"a", b"1"), (2, b"z", b"1")]


def test_compact_delete_topics_get_retention_and_compaction(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m, cleanup_policy="compact,delete", retention_ms=60_000)
    assert lg.config.compact and lg.config.delete
    overwrite_rounds(lg, clock, rounds=2)
    clock.advance(60_001)
    overwrite_rounds(lg, clock, rounds=2)
    append(lg, clock, [(b"z", b"1")])
    m.logs.apply_retention()
    assert lg.log_start_offset == 6
    m.logs.cleaner.clean_once()
    assert records(lg) == [(9, b"a", b"r1"), (10, b"b", b"r1"), (11, b"c", b"r1"), (12, b"z", b"1")]
    assert lg.log_start_offset == 6


def test_a_clean_is_dropped_when_retention_changed_the_log_meanwhile(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    overwrite_rounds(lg, clock, rounds=3)
    append(lg, clock, [(b"z", b"1")])
    now = clock.milliseconds()
    job = m.logs.cleaner.prepare(m.logs.cleaner.log_to_clean(lg, now), now)
    result = cleaner_mod.clean(job)
    assert any(n.endswith(".cleaned") for n in files(lg))
    lg.delete_segments_before([lg.segments[0]])  # retention, while the worker ran
    assert m.logs.cleaner.swap(job, result) is False
    assert not any(n.endswith((".cleaned", ".swap")) for n in files(lg))
    assert [o for o, _k, _v in records(lg)] == list(range(3, 10))
    assert m.logs.cleaner.clean_once() is not None  # the next pass cleans what is there now
    assert [o for o, _k, _v in records(lg)] == [6, 7, 8, 9]


def test_a_fetch_holding_a_replaced_segment_keeps_reading_it(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    overwrite_rounds(lg, clock, rounds=2)
    append(lg, clock, [(b"z", b"1")])
    r = lg.read(0, 1 << 20)
    before = os.pread(r.fd, r.length, r.offset)
    held = os.dup(r.fd)  # what fmq_net_send_file does with a FileRange
    m.logs.cleaner.clean_once()
    try:
        assert os.pread(held, r.length, r.offset) == before
    finally:
        os.close(held)


# ------------------------------------------------------ crash during the swap
SWAP_STEPS = ["cleaned", "swap", "swap-one-old-deleted", "swap-old-deleted", "done"]


def _swap_until(lg, job, result, step: str) -> None:
    """replace_segments' file operations, stopped after `step`."""
    (sources, new), = result.groups
    old = [s.segment for s in sources]
    if step == "cleaned":
        return
    new.change_suffix(".cleaned", ".swap")
    if step == "swap":
        return
    for seg in old[1:2] if step == "swap-one-old-deleted" else old[1:]:
        seg.delete()
    if step != "done":
        return
    old[0].close()
    new.change_suffix(".swap", "")


@pytest.mark.parametrize("step", SWAP_STEPS)
def test_a_crash_at_any_step_of_the_swap_leaves_old_or_new_segments(tmp_path, clock, step):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    overwrite_rounds(lg, clock, rounds=4)
    append(lg, clock, [(b"z", b"1")])
    original = records(lg)
    now = clock.milliseconds()
    job = m.logs.cleaner.prepare(m.logs.cleaner.log_to_clean(lg, now), now)
    result = cleaner_mod.clean(job)
    assert len(result.groups) == 1 and len(result.groups[0][0]) == 4
    _swap_until(lg, job, result, step)
    result.groups[0][1].close()
    crash(m)
    m2 = reload(tmp_path, clock)
    lg2 = m2.logs.get_log("c", 0)
    expected = original if step == "cleaned" else [(9, b"a", b"r3"), (10, b"b", b"r3"), (11, b"c", b"r3"),
                                                   (12, b"z", b"1")]
    assert records(lg2) == expected
    assert lg2.log_start_offset == 0 and lg2.log_end_offset == 13
    assert not [n for n in files(lg2) if n.endswith((".cleaned", ".swap", ".deleted"))]
    logs = [n for n in files(lg2) if n.endswith(".log")]
    assert len(logs) == (5 if step == "cleaned" else 2)
    # The reloaded log compacts (again) and keeps working.
    m2.logs.cleaner.clean_once()
    assert records(lg2)[-4:] == [(9, b"a", b"r3"), (10, b"b", b"r3"), (11, b"c", b"r3"), (12, b"z", b"1")]
    assert append(lg2, clock, [(b"a", b"after")]).base_offset == 13


@pytest.mark.parametrize("deleted", [False, True])
def test_old_segments_past_the_swaps_last_offset_are_kept_at_load(tmp_path, clock, deleted):
    """A group whose last segments were emptied (superseded by the next
    group): its .swap ends before them. If a crash leaves them, the loader
    keeps them - they hold only records the swap has none of - and the log
    is consistent either way."""
    m = manager(tmp_path, clock)
    lg = compacted(m, segment_bytes=250)
    append(lg, clock, [(b"a", b"1")])             # 0: stays
    roll(lg, clock)
    append(lg, clock, [(b"b", b"1")])             # 1: superseded by offset 2
    roll(lg, clock)
    append(lg, clock, [(b"b", b"2" * 200)])       # 2: too big to share a group with the others
    roll(lg, clock)
    append(lg, clock, [(b"z", b"1")])
    now = clock.milliseconds()
    job = m.logs.cleaner.prepare(m.logs.cleaner.log_to_clean(lg, now), now)
    result = cleaner_mod.clean(job)
    (first_sources, first_new), (_second_sources, second_new) = result.groups
    assert [s.base for s in first_sources] == [0, 1] and first_new.next_offset == 1
    assert second_new is None  # unchanged: not rewritten
    first_new.change_suffix(".cleaned", ".swap")  # the commit point of the first group...
    if deleted:
        first_sources[1].segment.delete()           # ...and the next step
    first_new.close()
    crash(m)
    m2 = reload(tmp_path, clock)
    lg2 = m2.logs.get_log("c", 0)
    expected = [(0, b"a", b"1"), (2, b"b", b"2" * 200), (3, b"z", b"1")]
    if not deleted:
        expected.insert(1, (1, b"b", b"1"))
    assert records(lg2) == expected
    m2.logs.cleaner.clean_once()
    assert records(lg2) == [(0, b"a", b"1"), (2, b"b", b"2" * 200), (3, b"z", b"1")]


# ------------------------------------------------------ __consumer_offsets
def test_consumer_offsets_replay_gives_the_same_state_after_a_clean(tmp_path, clock):
    from fluxmq.group import records as rec
    from fluxmq.group.coordinator import GROUP_METADATA_TOPIC, GroupCoordinator
    from fluxmq.log.batch_builder import build_batch as coordinator_batch

    m = manager(tmp_path, clock, offsets_topic_num_partitions=1)
    m.controller.ensure_internal_topic(GROUP_METADATA_TOPIC, 1, {"cleanup.policy": "compact", "compression.type": "producer",
                                                     "min.cleanable.dirty.ratio": "0.01"})
    lg = m.logs.get_log(GROUP_METADATA_TOPIC, 0)

    def write(*records):
        batch = coordinator_batch([rec.encode(r) for r in records], clock.milliseconds())
        (result,) = m.replica_manager.append_records([(GROUP_METADATA_TOPIC, 0, batch)], 1, 0, COORDINATOR)
        assert result.error == 0, result

    for i in range(30):
        write(*[rec.offset_commit("g1", "t", p, i * 10 + p, 0, f"m{i}", clock.milliseconds()) for p in range(3)])
        write(rec.offset_commit("gone", "t", 0, i, 0, "", clock.milliseconds()))
        if i % 5 == 4:
            roll(lg, clock)
        clock.advance(10)
    write(rec.offset_commit_tombstone("gone", "t", 0), rec.group_metadata_tombstone("gone"))
    write(rec.offset_commit("g2", "u", 0, 5, 0, "", clock.milliseconds()))
    roll(lg, clock)
    write(rec.offset_commit("g3", "u", 0, 1, 0, "", clock.milliseconds()))  # active segment

    def state(node):
        coord = GroupCoordinator(node, node.config, clock)
        coord.load()
        return coord.offsets.offsets, sorted(coord.groups)

    before = state(m)
    size_before = lg.size_in_bytes()
    assert m.logs.cleaner.clean_once() is not None
    assert lg.size_in_bytes() < size_before / 5
    assert state(m) == before
    m.shutdown()
    m2 = reload(tmp_path, clock, offsets_topic_num_partitions=1)
    after = state(m2)
    assert after == before
    assert "gone" not in after[0] and after[0]["g1"]["t"][2].offset == 292


# ------------------------------------------------------------- async path
def test_the_maintenance_pass_cleans_in_the_worker_thread(tmp_path, clock):
    m = manager(tmp_path, clock, log_cleaner_backoff_ms=0)
    lg = compacted(m)
    overwrite_rounds(lg, clock)
    append(lg, clock, [(b"z", b"1")])

    old = lg.segments[:-1]

    async def main():
        m.logs.cleaner.maybe_clean()
        task = m.logs.cleaner._task
        assert task is not None
        m.logs.cleaner.maybe_clean()  # one pass at a time
        assert m.logs.cleaner._task is task
        await task
        await asyncio.sleep(0)
        # Replaced segments keep their fds for file.delete.delay.ms (a response may read
        # them), then the deleter closes them and removes their `.deleted` files.
        assert all(seg.fd >= 0 and seg.log_path.endswith(".deleted") for seg in old)

    asyncio.run(main())
    clock.advance(lg.config.file_delete_delay_ms)
    assert m.logs.deleter.delete_due() == len(old)
    assert all(seg.fd == -1 for seg in old)
    assert records(lg) == [(9, b"a", b"r3"), (10, b"b", b"r3"), (11, b"c", b"r3"), (12, b"z", b"1")]
    m.shutdown()
    assert "c 0 12" in (tmp_path / "data" / cleaner_mod.CLEANER_CHECKPOINT_FILE).read_text()


def test_log_cleaner_enable_false_turns_compaction_off(tmp_path, clock):
    m = manager(tmp_path, clock, log_cleaner_enable="false")
    lg = compacted(m)
    overwrite_rounds(lg, clock)

    async def main():
        m.logs.cleaner.maybe_clean()
        assert m.logs.cleaner._task is None

    asyncio.run(main())


# ------------------------------------------------------------- transactions
def txn_append(lg, clock, pairs, pid, seq):
    recs = [Record(value=v, key=k) for k, v in pairs]
    data = build_batch(recs, first_timestamp=clock.milliseconds(), producer_id=pid, producer_epoch=0,
                       base_sequence=seq, attributes=0x10)[0]
    return append_plans(IO, [lg.prepare_append(data, clock.milliseconds())], clock.milliseconds())[0]


def txn_marker(lg, clock, pid, commit):
    plan = lg.prepare_marker(pid, 0, commit, 0, clock.milliseconds())
    return append_plans(IO, [plan], clock.milliseconds())[0]


def test_aborted_records_go_and_never_hide_a_committed_value(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    txn_append(lg, clock, [(b"a", b"committed")], 1, 0)   # 0
    txn_marker(lg, clock, 1, commit=True)                 # 1
    txn_append(lg, clock, [(b"a", b"aborted")], 1, 1)     # 2: later, but aborted
    txn_marker(lg, clock, 1, commit=False)                # 3
    append(lg, clock, [(b"b", b"plain")])                 # 4
    roll(lg, clock)
    append(lg, clock, [(b"z", b"active")])                # 5
    assert m.logs.cleaner.clean_once() is not None
    kept = [(o, k, v) for h, recs in batches(lg) if not h[5] & 0x20 for o, _t, k, v in recs]
    assert kept == [(0, b"a", b"committed"), (4, b"b", b"plain"), (5, b"z", b"active")]
    assert [h[0] for h, _recs in batches(lg) if h[5] & 0x20] == [1, 3]  # the markers stay


def test_the_cleaner_stops_at_an_open_transaction(tmp_path, clock):
    m = manager(tmp_path, clock)
    lg = compacted(m)
    overwrite_rounds(lg, clock, rounds=2)                 # 0-5, two closed segments
    txn_append(lg, clock, [(b"a", b"open")], 9, 0)        # 6: an open transaction
    roll(lg, clock)
    overwrite_rounds(lg, clock, rounds=2)                 # 7-12: must not be cleaned yet
    append(lg, clock, [(b"z", b"active")])
    result = m.logs.cleaner.clean_once()
    assert result is not None and result.end_offset == 6
    assert (6, b"a", b"open") in records(lg) and (7, b"a", b"r0") in records(lg)


def _markers(lg):
    """(offset, records, delete horizon or None) of every control batch."""
    return [(h[0], len(recs), h[7] if h[5] & DELETE_HORIZON_BIT else None) for h, recs in batches(lg) if h[5] & 0x20]


def _dirty_round(lg, clock, value):
    append(lg, clock, [(b"z", value)])
    roll(lg, clock)
    append(lg, clock, [(b"y", value)])  # the active segment


def test_a_marker_goes_once_its_transaction_is_gone_and_its_horizon_passed(tmp_path, clock):
    """Kafka's CleanedTransactionMetadata: a marker stays while a batch of its
    transaction is in the log, then gets a delete horizon, then goes."""
    m = manager(tmp_path, clock)
    lg = compacted(m, delete_retention_ms=10_000)
    txn_append(lg, clock, [(b"a", b"t1")], 1, 0)      # 0, committed, later overwritten
    txn_marker(lg, clock, 1, commit=True)              # 1
    txn_append(lg, clock, [(b"b", b"t2")], 1, 1)      # 2, aborted
    txn_marker(lg, clock, 1, commit=False)             # 3
    txn_append(lg, clock, [(b"c", b"t3")], 1, 2)      # 4, committed, stays
    txn_marker(lg, clock, 1, commit=True)              # 5
    append(lg, clock, [(b"a", b"plain")])              # 6
    roll(lg, clock)
    append(lg, clock, [(b"y", b"active")])             # 7
    assert m.logs.cleaner.clean_once() is not None
    # The data of transactions 1 and 2 went in this pass; their markers wait for the next.
    assert _markers(lg) == [(1, 1, None), (3, 1, None), (5, 1, None)]
    assert (4, b"c", b"t3") in records(lg) and (0, b"a", b"t1") not in records(lg)
    _dirty_round(lg, clock, b"2")
    assert m.logs.cleaner.clean_once() is not None
    horizon = clock.milliseconds() + 10_000
    assert _markers(lg) == [(1, 1, horizon), (3, 1, horizon), (5, 1, None)]
    _dirty_round(lg, clock, b"3")
    clock.advance(10_001)
    assert m.logs.cleaner.clean_once() is not None
    assert _markers(lg) == [(5, 1, None)]  # marker 5's transaction still has its record
    assert (4, b"c", b"t3") in records(lg)
    # read_committed fetches no longer hear of the aborted transaction whose marker went,
    # which would make a consumer skip producer 1's committed batch at offset 4.
    assert lg.producer_state.aborted_in(0, 8) == []
    m.shutdown()
    again = manager(tmp_path, clock).logs.get_log("c", 0)
    assert _markers(again) == [(5, 1, None)] and again.producer_state.aborted_in(0, 8) == []
    assert again.producer_state.first_unstable_offset is None


def test_the_marker_a_producer_ends_with_stays(tmp_path, clock):
    """The last marker of a producer holds its epoch (an epoch bump, as transaction
    version 2 writes): after its horizon it stays, emptied."""
    m = manager(tmp_path, clock)
    lg = compacted(m, delete_retention_ms=1_000)
    txn_append(lg, clock, [(b"a", b"t1")], 1, 0)      # 0
    plan = lg.prepare_marker(1, 1, True, 0, clock.milliseconds())  # 1: COMMIT at epoch 1
    append_plans(IO, [plan], clock.milliseconds())
    append(lg, clock, [(b"a", b"plain")])              # 2
    roll(lg, clock)
    append(lg, clock, [(b"y", b"active")])
    for round_ in range(3):
        assert m.logs.cleaner.clean_once() is not None
        clock.advance(1_001)
        _dirty_round(lg, clock, b"%d" % round_)
    assert m.logs.cleaner.clean_once() is not None
    assert _markers(lg) == [(1, 0, None)]  # kept as an empty batch
    assert lg.producer_state.producers[1].epoch == 1
