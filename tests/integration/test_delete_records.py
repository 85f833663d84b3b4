"""DeleteRecords through confluent-kafka's AdminClient, Kafka's
kafka-delete-records tool and the raw protocol: the log start offset (low
watermark) moves, readers below it get OFFSET_OUT_OF_RANGE, ListOffsets
earliest answers the new start, a restart keeps it; and Kafka's refusals:
beyond the high watermark, a compacted topic, an internal topic, an unknown
partition."""

from __future__ import annotations

import json
import time
import uuid

import javautil
import pytest
from confluent_kafka import OFFSET_END, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from wire import connect

DELETE_RECORDS, LIST_OFFSETS, FETCH = 21, 2, 1
NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC, POLICY_VIOLATION = 0, 1, 3, 17, 44


def make_topic(bootstrap: str, n: int, partitions: int = 2, config: dict | None = None) -> str:
    name = f"dr-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for part in range(partitions):
        for i in range(n):
            p.produce(name, f"p{part}-{i}".encode(), key=b"k%d" % i, partition=part)
            if i % 10 == 9:
                p.flush(30)  # several batches per partition
    assert p.flush(30) == 0
    with connect(bootstrap) as w:  # every record was accepted
        assert all(latest(w, name, part) == n for part in range(partitions))
    return name


def list_offset(w, topic: str, partition: int, timestamp: int) -> int:
    r = w.request(LIST_OFFSETS, 7, {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                        "timestamp": timestamp}]}]})
    part = r.topics[0].partitions[0]
    assert int(part.error_code) == NONE
    return part.offset


def earliest(w, topic: str, partition: int) -> int:
    return list_offset(w, topic, partition, -2)


def latest(w, topic: str, partition: int) -> int:
    return list_offset(w, topic, partition, -1)


def delete_records(w, topic: str, offsets: dict[int, int], version: int = 2) -> dict[int, tuple[int, int]]:
    r = w.request(DELETE_RECORDS, version, {"topics": [
        {"name": topic, "partitions": [{"partition_index": p, "offset": o} for p, o in offsets.items()]}],
        "timeout": 5000})
    return {p.partition_index: (int(p.error_code), p.low_watermark) for p in r.topics[0].partitions}


def test_admin_client_deletes_records_and_consumers_start_after_them(broker):
    topic = make_topic(broker.bootstrap, 50)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.delete_records([TopicPartition(topic, 0, 20), TopicPartition(topic, 1, OFFSET_END)])
    lows = {tp.partition: f.result(30).low_watermark for tp, f in futures.items()}
    assert lows == {0: 20, 1: 50}
    with connect(broker) as w:
        assert (earliest(w, topic, 0), earliest(w, topic, 1)) == (20, 50)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, 0, 0)])  # below the low watermark: reset to it
    got, deadline = [], time.monotonic() + 30
    while len(got) < 30 and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append((m.offset(), m.value().decode()))
    c.close()
    assert got == [(i, f"p0-{i}") for i in range(20, 50)]


def test_reading_below_the_low_watermark_is_out_of_range(broker):
    topic = make_topic(broker.bootstrap, 30, partitions=1)
    with connect(broker) as w:
        assert delete_records(w, topic, {0: 12}) == {0: (NONE, 12)}
        r = w.request(FETCH, 12, {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20,
                                  "isolation_level": 0, "session_id": 0, "session_epoch": -1, "rack_id": "",
                                  "topics": [{"topic": topic, "partitions": [
                                      {"partition": 0, "current_leader_epoch": -1, "fetch_offset": 5,
                                       "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]})
        part = r.responses[0].partitions[0]
        # Kafka 4.4 answers an error partition without offsets (createLogReadResult(e)).
        assert (int(part.error_code), part.high_watermark, part.log_start_offset) == (OFFSET_OUT_OF_RANGE, -1, -1)
        assert delete_records(w, topic, {0: 3}) == {0: (NONE, 12)}  # never backwards


def test_refusals_are_kafkas(broker):
    topic = make_topic(broker.bootstrap, 10, partitions=1)
    compacted = make_topic(broker.bootstrap, 5, partitions=1, config={"cleanup.policy": "compact"})
    with connect(broker) as w:
        assert delete_records(w, topic, {0: 11}) == {0: (OFFSET_OUT_OF_RANGE, -1)}  # beyond the high watermark
        assert delete_records(w, topic, {0: -5}) == {0: (OFFSET_OUT_OF_RANGE, -1)}
        assert delete_records(w, topic, {7: 1}) == {7: (UNKNOWN_TOPIC_OR_PARTITION, -1)}
        assert delete_records(w, compacted, {0: 2}) == {0: (POLICY_VIOLATION, -1)}
        assert delete_records(w, f"missing-{uuid.uuid4().hex[:6]}", {0: 1}) == {0: (UNKNOWN_TOPIC_OR_PARTITION, -1)}
        assert delete_records(w, topic, {0: 4}, version=0) == {0: (NONE, 4)}
    # An internal topic: __consumer_offsets exists once a group has committed.
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{topic}", "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    c.close()
    with connect(broker) as w:
        assert delete_records(w, "__consumer_offsets", {0: 0}) == {0: (INVALID_TOPIC, -1)}
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    with pytest.raises(KafkaException, match="OFFSET_OUT_OF_RANGE|out of range"):
        admin.delete_records([TopicPartition(topic, 0, 100)])[TopicPartition(topic, 0, 100)].result(30)


def test_the_low_watermark_survives_a_restart_and_segments_below_it_go(broker_factory):
    b = broker_factory(["--override", "log.segment.bytes=2000"]).start()
    topic = make_topic(b.bootstrap, 200, partitions=1)
    partition_dir = b.data_dir / f"{topic}-0"
    before = sorted(partition_dir.glob("*.log"))
    with connect(b) as w:
        assert delete_records(w, topic, {0: 150}) == {0: (NONE, 150)}
    after = sorted(partition_dir.glob("*.log"))
    assert len(after) < len(before) and int(after[0].stem) <= 150  # the first segment left holds offset 150
    b.kill()  # no clean shutdown: the answer came after the low watermark was checkpointed
    b.start()
    with connect(b) as w:
        assert earliest(w, topic, 0) == 150


def test_kafka_delete_records_tool(broker, tmp_path):
    javautil.build()
    topic = make_topic(broker.bootstrap, 40, partitions=2)
    plan = tmp_path / "offsets.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "offset": 15},
                                                              {"topic": topic, "partition": 1, "offset": -1}]}))
    r = javautil.run_class("org.apache.kafka.tools.DeleteRecordsCommand", "--bootstrap-server", broker.bootstrap,
                           "--offset-json-file", str(plan), timeout=90)
    assert r.returncode == 0, r.describe()
    assert f"partition: {topic}-0\tlow_watermark: 15" in r.stdout, r.describe()
    assert f"partition: {topic}-1\tlow_watermark: 40" in r.stdout, r.describe()
