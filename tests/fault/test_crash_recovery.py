"""Crash recovery and on-disk state (DESIGN.md "Storage", "Durability",
"Testing": kill -9 mid-load, torn tails, corrupt batches, clean shutdown,
segment rolls). Every test runs its own broker process and data dir.

Kafka's rules followed here: after an unclean shutdown the segments from
the recovery point on are scanned, CRCs checked, and the log is truncated at
the first batch that is torn or corrupt (LogSegment.recover); a clean
shutdown writes `.kafka_cleanshutdown`, the indexes and the checkpoints, and
the marker is deleted as soon as the broker has loaded its logs.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import batchgen as B
from faultutil import LogWatch, start_ready
from wire import (
    API_INIT_PRODUCER_ID, connect, ensure_topic, fetch, fetch_all, list_offset, log_end_offset, produce,
    supported_apis,
)

from fluxmq.tools.client import KafkaWireClient

CLEAN_MARKER = ".kafka_cleanshutdown"
SEGMENT_NAME = re.compile(r"^(\d{20})\.(log|index|timeindex)$")
NONE = 0
WAIT = 45.0  # bound on every wait for progress or consumption (seconds)


def partition_dir(broker, topic: str, partition: int = 0) -> Path:
    return broker.data_dir / f"{topic}-{partition}"


def segment_files(broker, topic: str, partition: int = 0) -> dict[int, set[str]]:
    """base offset -> the kinds of file present for it."""
    out: dict[int, set[str]] = {}
    for p in partition_dir(broker, topic, partition).iterdir():
        m = SEGMENT_NAME.match(p.name)
        if m:
            out.setdefault(int(m.group(1)), set()).add(m.group(2))
    return out


def active_segment(broker, topic: str, partition: int = 0) -> Path:
    base = max(segment_files(broker, topic, partition))
    return partition_dir(broker, topic, partition) / f"{base:020d}.log"


def produce_batches(c: KafkaWireClient, topic: str, count: int, per_batch: int, tag: str = "v",
                    timestamps=None, start: int = 0) -> list[bytes]:
    """`count` acks=all batches appended at offset `start`; returns every
    value in offset order."""
    values = []
    for i in range(count):
        vals = [f"{tag}-{i:04d}-{j}".encode() for j in range(per_batch)]
        ts = timestamps(i) if timestamps else None
        p = produce(c, topic, 0, B.batch_of(vals, timestamps=ts))
        assert int(p.error_code) == NONE, p
        assert p.base_offset == start + len(values)
        values += vals
    return values


def values_in_log(c: KafkaWireClient, topic: str, partition: int = 0) -> list[tuple[int, bytes]]:
    return [(r.offset, r.value) for b in fetch_all(c, topic, partition) for r in b.records]


# ------------------------------------------------------------ (a) kill -9
class ContinuousProducer:
    """A confluent-kafka producer on its own thread sending without pause
    (acks=all) and recording every acknowledged (partition, offset, value)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, idempotent: bool):
        from confluent_kafka import Producer

        conf = {
            "bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
            "enable.idempotence": idempotent, "message.timeout.ms": 30000,
            "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500, "retry.backoff.ms": 50,
            "queue.buffering.max.messages": 20000, "compression.type": "none",
        }
        if not idempotent:
            # Without idempotence a retry may duplicate a record the broker had
            # written: no retries, so an acknowledged value is written once.
            conf["message.send.max.retries"] = 0
        self.producer = Producer(conf)
        self.topic, self.partitions = topic, partitions
        self.acked: list[tuple[int, int, bytes]] = []
        self.failed = 0
        self.fatal: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _on_delivery(self, err, msg) -> None:
        with self.lock:
            if err is None:
                self.acked.append((msg.partition(), msg.offset(), msg.value()))
            else:
                self.failed += 1
                if err.fatal():
                    self.fatal.append(str(err))

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            try:
                self.producer.produce(self.topic, value=b"value-%08d" % i, partition=i % self.partitions,
                                      on_delivery=self._on_delivery)
                i += 1
                self.sent = i
            except BufferError:
                self.producer.poll(0.05)
                continue
            if i % 20 == 0:
                self.producer.poll(0)
                time.sleep(0.002)  # a steady, modest load
        self.producer.flush(40)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def wait_for_progress(self, more: int, what: str) -> None:
        target = self.acked_count() + more
        deadline = time.monotonic() + WAIT
        while self.acked_count() < target:
            assert not self.fatal, f"producer fatal error {what}: {self.fatal}"
            assert time.monotonic() < deadline, \
                f"producer made no progress {what}: {self.acked_count()} acked, {self.failed} failed"
            time.sleep(0.05)


def consume_all(bootstrap: str, topic: str, partitions: int) -> dict[int, list[tuple[int, bytes]]]:
    """Every record of every partition from offset 0 up to the high
    watermark, with confluent-kafka."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fault-assign-only", "enable.auto.commit": False,
                  "enable.auto.offset.store": False, "auto.offset.reset": "error",
                  "enable.partition.eof": True})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
        done = {p for p in range(partitions) if ends[p] == 0}
        deadline = time.monotonic() + WAIT
        while len(done) < partitions:
            assert time.monotonic() < deadline, f"consumed only {[len(v) for v in got.values()]} of {ends}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        if m.offset() >= ends[m.partition()]:
                            done.add(m.partition())
                        continue
                    raise KafkaException(m.error())
                got[m.partition()].append((m.offset(), m.value()))
                if m.offset() + 1 >= ends[m.partition()]:
                    done.add(m.partition())
        return got
    finally:
        c.close()


def test_kill_9_under_load_loses_no_acknowledged_record(broker_factory, topic_name):
    partitions = 3
    b = start_ready(broker_factory(["--override", f"num.partitions={partitions}"]))
    with connect(b) as c:
        ensure_topic(c, topic_name)
        idempotent = API_INIT_PRODUCER_ID in supported_apis(c)
    prod = ContinuousProducer(b.bootstrap, topic_name, partitions, idempotent)
    prod.thread.start()
    try:
        prod.wait_for_progress(300, "before the first kill")
        for round_ in (1, 2):
            b.kill()
            assert not (b.data_dir / CLEAN_MARKER).exists()
            start_ready(b)
            prod.wait_for_progress(300, f"after kill -9 number {round_}")
    finally:
        prod.stop.set()
        prod.thread.join(60)
    assert not prod.thread.is_alive(), "the producer did not finish flushing"
    assert not prod.fatal, prod.fatal

    got = consume_all(b.bootstrap, topic_name, partitions)
    by_position = {}
    for p, records in got.items():
        offsets = [o for o, _v in records]
        assert offsets == list(range(len(offsets))), f"partition {p}: offsets not contiguous from 0"
        for o, v in records:
            by_position[(p, o)] = v
    all_values = Counter(v for records in got.values() for _o, v in records)
    dups = [v for v, n in all_values.items() if n > 1]
    assert not dups, f"{len(dups)} values are in the log more than once, e.g. {dups[:5]}"
    acked = prod.acked
    assert len({v for _p, _o, v in acked}) == len(acked), "a value was acknowledged twice"
    missing = [(p, o, v) for p, o, v in acked if by_position.get((p, o)) != v]
    assert not missing, (f"{len(missing)} of {len(acked)} acknowledged records are missing or different, "
                         f"e.g. {missing[:5]}")
    for p, o, v in acked:
        assert all_values[v] == 1
    assert len(acked) >= 900
    print(f"kill -9 x2: idempotent={idempotent}, {len(acked)} acknowledged, {prod.failed} failed, "
          f"{sum(len(r) for r in got.values())} records in the log")


# -------------------------------------------------------- (b) torn tail
def _tails():
    half = B.batch_of([b"torn-%d" % i for i in range(20)])
    return {
        "garbage": bytes((i * 37 + 11) & 0xFF for i in range(100)),
        "half-batch": half[:len(half) // 2],
        "header-only": half[:40],
        "zeros": b"\x00" * 4096,
    }


@pytest.mark.parametrize("tail", list(_tails()))
def test_torn_tail_is_truncated(broker_factory, topic_name, tail):
    b = start_ready(broker_factory())
    with connect(b) as c:
        ensure_topic(c, topic_name)
        values = produce_batches(c, topic_name, 10, 3)
    assert b.stop() == 0
    seg = active_segment(b, topic_name)
    good_size = seg.stat().st_size
    junk = _tails()[tail]
    with open(seg, "ab") as f:
        f.write(junk)
    (b.data_dir / CLEAN_MARKER).unlink()
    watch = LogWatch(b)
    start_ready(b)
    with connect(b) as c:
        assert seg.stat().st_size == good_size
        assert log_end_offset(c, topic_name) == 30
        p = produce(c, topic_name, 0, B.batch_of([b"after-recovery"]))
        assert int(p.error_code) == NONE and p.base_offset == 30
        got = values_in_log(c, topic_name)
        assert got == list(enumerate(values + [b"after-recovery"]))
    lines = watch.wait_for(rf"{topic_name}-0.*truncated {len(junk)} bytes")
    assert any("30" in ln for ln in lines), f"the log line should give the new log end: {lines}"


# ------------------------------------------------- (c) corrupt CRC mid-log
def test_corrupt_batch_in_last_segment_truncates_from_it(broker_factory, topic_name):
    b = start_ready(broker_factory())
    with connect(b) as c:
        ensure_topic(c, topic_name)
        values = produce_batches(c, topic_name, 10, 3)
    b.kill()  # unclean: no marker, no checkpoint of this run
    seg = active_segment(b, topic_name)
    data = seg.read_bytes()
    positions = B.segment_batch_positions(data)
    assert len(positions) == 10
    pos, size, base = positions[5]
    assert base == 15
    corrupted = B.with_byte_flipped(data, pos + B.HEADER_SIZE + 4)  # inside the records
    seg.write_bytes(corrupted)
    watch = LogWatch(b)
    start_ready(b)
    with connect(b) as c:
        assert log_end_offset(c, topic_name) == 15
        assert seg.stat().st_size == pos
        got = values_in_log(c, topic_name)
        assert got == list(enumerate(values[:15]))
        p = produce(c, topic_name, 0, B.batch_of([b"after-recovery"]))
        assert int(p.error_code) == NONE and p.base_offset == 15
    lines = watch.wait_for(rf"{topic_name}-0.*truncated")
    assert any("CRC" in ln for ln in lines), f"the log line should say the CRC did not match: {lines}"


def test_corrupt_batch_with_clean_marker_is_served_as_is_until_full_recovery(broker_factory, topic_name):
    """After a clean shutdown the broker trusts its segments (as Kafka does);
    `--recovery-mode full` checks them anyway and truncates at the bad batch."""
    b = start_ready(broker_factory())
    with connect(b) as c:
        ensure_topic(c, topic_name)
        produce_batches(c, topic_name, 6, 2)
    assert b.stop() == 0
    seg = active_segment(b, topic_name)
    data = seg.read_bytes()
    pos, _size, base = B.segment_batch_positions(data)[4]
    seg.write_bytes(B.with_byte_flipped(data, pos + B.HEADER_SIZE + 2))
    b.extra_args = ["--recovery-mode", "full"]
    watch = LogWatch(b)
    start_ready(b)
    with connect(b) as c:
        assert log_end_offset(c, topic_name) == base == 8
    watch.wait_for(rf"{topic_name}-0.*truncated.*CRC")


# --------------------------------------------------- (d) clean shutdown
def test_clean_shutdown_marker_indexes_and_restart(broker_factory, topic_name):
    b = start_ready(broker_factory())
    marker = b.data_dir / CLEAN_MARKER
    with connect(b) as c:
        ensure_topic(c, topic_name)
        first = produce_batches(c, topic_name, 20, 5, tag="a")
    assert b.stop() == 0
    assert marker.exists(), "SIGTERM did not leave .kafka_cleanshutdown"

    watch = LogWatch(b)
    start_ready(b)
    assert not marker.exists(), "the clean-shutdown marker must go once the broker runs"
    watch.wait_for(r"clean start")
    with connect(b) as c:
        second = produce_batches(c, topic_name, 20, 5, tag="b", start=100)
        assert log_end_offset(c, topic_name) == 200
    assert not marker.exists()
    assert b.stop() == 0
    assert marker.exists()

    files = segment_files(b, topic_name)
    assert files, "no segment files"
    for base, kinds in files.items():
        assert kinds == {"log", "index", "timeindex"}, f"segment {base}: {kinds}"
        stem = partition_dir(b, topic_name) / f"{base:020d}"
        index_size = os.path.getsize(f"{stem}.index")
        time_size = os.path.getsize(f"{stem}.timeindex")
        assert index_size > 0 and index_size % 8 == 0, f"offset index of {index_size} bytes"
        assert time_size > 0 and time_size % 12 == 0, f"time index of {time_size} bytes"
    checkpoint = (b.data_dir / "recovery-point-offset-checkpoint").read_text().split("\n")
    assert f"{topic_name} 0 200" in checkpoint, checkpoint

    start_ready(b)
    with connect(b) as c:
        assert values_in_log(c, topic_name) == list(enumerate(first + second))
    assert b.stop() == 0


# ------------------------------------------------------ (e) segment roll
def test_segment_roll_and_read_back_by_offset_and_time(broker_factory, topic_name):
    from confluent_kafka import Consumer, TopicPartition

    b = start_ready(broker_factory(["--override", "log.segment.bytes=20000"]))
    base_ts = (int(time.time()) - 1800) * 1000
    n_batches, per_batch = 80, 5

    def ts_of(offset: int) -> int:
        return base_ts + offset * 10

    with connect(b) as c:
        ensure_topic(c, topic_name)
        values = []
        for i in range(n_batches):
            vals = [b"seg-%05d-" % (i * per_batch + j) + b"p" * 200 for j in range(per_batch)]
            ts = [ts_of(i * per_batch + j) for j in range(per_batch)]
            p = produce(c, topic_name, 0, B.batch_of(vals, timestamps=ts))
            assert int(p.error_code) == NONE and p.base_offset == len(values)
            values += vals
    total = len(values)
    assert b.stop() == 0

    files = segment_files(b, topic_name)
    bases = sorted(files)
    assert len(bases) >= 4, f"expected several segments of 20000 bytes, got {bases}"
    assert bases[0] == 0
    for base in bases:
        assert files[base] == {"log", "index", "timeindex"}, f"segment {base}: {files[base]}"
        seg = partition_dir(b, topic_name) / f"{base:020d}.log"
        assert seg.stat().st_size <= 20000 + 2000
        first = B.segment_batch_positions(seg.read_bytes())[0]
        assert first[2] == base, f"segment named {base} starts at offset {first[2]}"

    for restart in ("clean", "kill-9"):
        start_ready(b)
        with connect(b) as c:
            assert log_end_offset(c, topic_name) == total
            # By offset: every segment start, a record inside a batch, the last record.
            for offset in sorted({*bases, bases[1] + 2, bases[-1] + 3, total - 1}):
                got = [r for bt in B.parse_batches(_fetch_records(c, topic_name, offset))
                       for r in bt.records if r.offset >= offset]
                assert got and got[0].offset == offset and got[0].value == values[offset], \
                    f"{restart} restart: read at offset {offset}"
            # By time, through ListOffsets.
            for offset in (0, 1, bases[1], bases[2] - 1, total - 1):
                hit = list_offset(c, topic_name, 0, ts_of(offset))
                assert (hit.offset, hit.timestamp) == (offset, ts_of(offset)), f"{restart}: time {ts_of(offset)}"
            between = list_offset(c, topic_name, 0, ts_of(bases[2]) - 5)
            assert between.offset == bases[2]
            after = list_offset(c, topic_name, 0, ts_of(total) + 1000)
            assert after.offset == -1
        consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "fault-assign-only",
                             "enable.auto.commit": False})
        try:
            targets = [ts_of(0) - 1000, ts_of(bases[1]), ts_of(bases[-1] + 1) - 3, ts_of(total - 1)]
            # One partition per call: a ListOffsets request names a partition once.
            found = [consumer.offsets_for_times([TopicPartition(topic_name, 0, t)], timeout=15)[0] for t in targets]
            assert [tp.offset for tp in found] == [0, bases[1], bases[-1] + 1, total - 1], restart
            consumer.assign([TopicPartition(topic_name, 0, bases[2])])
            got = []
            deadline = time.monotonic() + WAIT
            while len(got) < 20 and time.monotonic() < deadline:
                for m in consumer.consume(num_messages=20, timeout=0.5):
                    if not m.error():
                        got.append((m.offset(), m.value(), m.timestamp()[1]))
            assert [o for o, _v, _t in got[:20]] == list(range(bases[2], bases[2] + 20))
            assert all(v == values[o] and t == ts_of(o) for o, v, t in got[:20])
        finally:
            consumer.close()
        if restart == "clean":
            b.kill()  # the second round reads after a crash: indexes rebuilt by recovery
    assert b.stop() == 0


def _fetch_records(c: KafkaWireClient, topic: str, offset: int) -> bytes:
    p = fetch(c, topic, 0, offset, max_bytes=4096)
    assert int(p.error_code) == NONE, p
    return p.records or b""
