"""Log compaction on a real broker, with confluent-kafka (fluxmq/log/cleaner.py).

- test_only_the_latest_value_per_key_is_read_back: many updates to a few keys
  of a cleanup.policy=compact topic (small segments, zstd batches), one key
  deleted with a tombstone. Once the cleaner has passed, a consumer from the
  beginning reads exactly the latest value of each key at its original
  offset, and the tombstone; the same after a restart.
- test_tombstones_go_after_delete_retention_ms: with a short
  delete.retention.ms the tombstone is read back first, then disappears.
- test_consumer_offsets_are_compacted_and_replayed: hundreds of offset
  commits shrink to a few records in __consumer_offsets; after a restart the
  group's committed offset is the last one.

The cleaner runs every log.cleaner.backoff.ms from the maintenance loop (about
once a second); each wait is bounded and polls the cleaner-offset-checkpoint
file.
"""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from clientutil import CONSUME_TIMEOUT, OP_TIMEOUT, create_topic, wait_until

BROKER_ARGS = [
    "--override", "log.cleaner.backoff.ms=100",
    "--override", "offsets.topic.num.partitions=1",
    "--override", "offsets.topic.segment.bytes=4096",
    "--override", "log.cleaner.min.cleanable.ratio=0.01",
]
SEGMENT_MS = 1000
TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": "2048", "segment.ms": str(SEGMENT_MS),
                "min.cleanable.dirty.ratio": "0.01"}
WAIT = 60.0


def cleaned_up_to(broker, topic: str) -> int:
    """The topic's partition 0 entry in cleaner-offset-checkpoint, or -1."""
    path = Path(broker.data_dir) / "cleaner-offset-checkpoint"
    try:
        lines = path.read_text().split("\n")[2:]
    except FileNotFoundError:
        return -1
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == topic and parts[1] == "0":
            return int(parts[2])
    return -1


def segment_bytes(broker, topic: str) -> int:
    return sum(p.stat().st_size for p in (Path(broker.data_dir) / f"{topic}-0").glob("*.log"))


def produce(bootstrap: str, topic: str, pairs, **conf) -> list[tuple[bytes, bytes | None, int]]:
    """(key, value, offset) of each record, in order; batched, then flushed."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    acked = []

    def on_delivery(err, msg):
        assert err is None, err
        acked.append((msg.key(), msg.value(), msg.offset()))

    for key, value in pairs:
        p.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert p.flush(OP_TIMEOUT) == 0
    return acked


def consume_all(bootstrap: str, topic: str, last_offset: int) -> list[tuple[int, bytes, bytes | None]]:
    """Every record from the beginning up to last_offset: (offset, key, value)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + CONSUME_TIMEOUT
    try:
        while not got or got[-1][0] < last_offset:
            assert time.monotonic() < deadline, f"consumed only {got}"
            for m in c.consume(100, 0.5):
                assert m.error() is None, m.error()
                got.append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return got


def write_updates(bootstrap: str, topic: str) -> tuple[dict, int]:
    """40 rounds over 10 keys, key k9 deleted in the last one, then a
    barrier record once segment.ms has passed (it rolls the segment holding
    the updates). Returns ({key: (value, offset)} of the latest, barrier offset)."""
    latest = {}
    for r in range(40):
        pairs = [(b"k%d" % k, b"k%d-round%d-" % (k, r) + b"x" * 40) for k in range(10)]
        if r == 39:
            pairs[9] = (b"k9", None)
        for key, value, offset in produce(bootstrap, topic, pairs, **{"compression.type": "zstd"}):
            latest[key] = (value, offset)
    time.sleep(SEGMENT_MS / 1000 + 0.2)
    (_k, _v, barrier), = produce(bootstrap, topic, [(b"barrier", b"b")])
    return latest, barrier


def expected_records(latest: dict, barrier: int) -> list:
    return sorted([(offset, key, value) for key, (value, offset) in latest.items()] + [(barrier, b"barrier", b"b")])


def test_only_the_latest_value_per_key_is_read_back(broker_factory, topic_name):
    broker = broker_factory(extra_args=BROKER_ARGS).start()
    create_topic(broker.bootstrap, topic_name, 1, TOPIC_CONFIG)
    latest, barrier = write_updates(broker.bootstrap, topic_name)
    wait_until(lambda: cleaned_up_to(broker, topic_name) >= barrier, timeout=WAIT,
               what=f"the cleaner to compact {topic_name} up to offset {barrier}")
    expected = expected_records(latest, barrier)
    assert (b"k9", None) in [(k, v) for _o, k, v in expected]  # the tombstone stays (delete.retention.ms 1 day)
    assert consume_all(broker.bootstrap, topic_name, barrier) == expected
    assert segment_bytes(broker, topic_name) < 2048  # 400 updates (over 2048-byte segments) became 11 records
    assert broker.stop() == 0
    broker.start()
    assert consume_all(broker.bootstrap, topic_name, barrier) == expected
    # Writes go on after the offsets the compacted segments keep.
    (_k, _v, offset), = produce(broker.bootstrap, topic_name, [(b"k0", b"after")])
    assert offset == barrier + 1
    assert "ERROR" not in broker.log_text(), broker.log_text()[-3000:]


def test_tombstones_go_after_delete_retention_ms(broker_factory, topic_name):
    broker = broker_factory(extra_args=BROKER_ARGS).start()
    create_topic(broker.bootstrap, topic_name, 1, dict(TOPIC_CONFIG, **{"delete.retention.ms": "2000"}))
    produce(broker.bootstrap, topic_name, [(b"a", b"1"), (b"b", b"1")])
    (_k, _v, tombstone), = produce(broker.bootstrap, topic_name, [(b"a", None)])
    time.sleep(SEGMENT_MS / 1000 + 0.2)
    (_k, _v, barrier), = produce(broker.bootstrap, topic_name, [(b"z", b"1")])
    wait_until(lambda: cleaned_up_to(broker, topic_name) >= barrier, timeout=WAIT, what="the first clean")
    first = consume_all(broker.bootstrap, topic_name, barrier)
    assert first in ([(1, b"b", b"1"), (tombstone, b"a", None), (barrier, b"z", b"1")],
                     [(1, b"b", b"1"), (barrier, b"z", b"1")])  # the second pass may already have run
    wait_until(lambda: consume_all(broker.bootstrap, topic_name, barrier) == [(1, b"b", b"1"), (barrier, b"z", b"1")],
               timeout=WAIT, what="the tombstone to be removed after delete.retention.ms")


def test_consumer_offsets_are_compacted_and_replayed(broker_factory, topic_name):
    broker = broker_factory(extra_args=BROKER_ARGS).start()
    create_topic(broker.bootstrap, topic_name, 1)
    group = "g-" + topic_name
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        for i in range(1, 301):
            c.commit(offsets=[TopicPartition(topic_name, 0, i)], asynchronous=False)
    finally:
        c.close()
    wait_until(lambda: cleaned_up_to(broker, "__consumer_offsets") > 200, timeout=WAIT,
               what="the cleaner to compact __consumer_offsets")
    # 300 commits, about 100 bytes each, leave the active segment and one record.
    assert segment_bytes(broker, "__consumer_offsets") < 4096 + 1024
    assert broker.stop() == 0
    broker.start()

    def committed():
        c2 = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            return c2.committed([TopicPartition(topic_name, 0)], timeout=10)[0].offset
        finally:
            c2.close()

    assert wait_until(committed, timeout=WAIT, what="OffsetFetch after the restart") == 300
