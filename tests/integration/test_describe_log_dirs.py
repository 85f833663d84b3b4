"""DescribeLogDirs through Kafka's kafka-log-dirs tool (LogDirsCommand, the Java
AdminClient) and the raw protocol: the data dir with each partition's size as
on disk, only the partitions asked for that this broker has, and the file
system's total and usable bytes (v4+)."""

from __future__ import annotations

import json
import os
import uuid

import javautil
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from wire import connect

DESCRIBE_LOG_DIRS = 35


def topic_with_data(bootstrap: str, partitions: int, per_partition: int) -> str:
    name = f"ld-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the future resolves
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    p = Producer({"bootstrap.servers": bootstrap})
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(name, b"x" * (100 + part), partition=part)
    assert p.flush(30) == 0
    return name


def on_disk(data_dir, topic: str, partition: int) -> int:
    return sum(f.stat().st_size for f in (data_dir / f"{topic}-{partition}").glob("*.log"))


def test_kafka_log_dirs_describes_partition_sizes(broker):
    javautil.build()
    topic = topic_with_data(broker.bootstrap, 2, 50)
    r = javautil.run_class("org.apache.kafka.tools.LogDirsCommand", "--bootstrap-server", broker.bootstrap,
                           "--describe", "--topic-list", topic, timeout=90)
    assert r.returncode == 0, r.describe()
    report = json.loads(r.stdout.strip().splitlines()[-1])
    [b] = report["brokers"]
    [log_dir] = b["logDirs"]
    assert log_dir["error"] is None and os.path.samefile(log_dir["logDir"], broker.data_dir)
    sizes = {p["partition"]: (p["size"], p["offsetLag"], p["isFuture"]) for p in log_dir["partitions"]}
    assert sizes == {f"{topic}-{i}": (on_disk(broker.data_dir, topic, i), 0, False) for i in range(2)}
    assert all(size > 50 * 100 for size, _lag, _future in sizes.values())


def test_only_partitions_this_broker_has(broker):
    topic = topic_with_data(broker.bootstrap, 1, 5)
    with connect(broker) as w:
        for version in (1, 4, 5):
            r = w.request(DESCRIBE_LOG_DIRS, version, {"topics": [
                {"topic": topic, "partitions": [0, 7]}, {"topic": f"missing-{uuid.uuid4().hex[:6]}", "partitions": [0]}]})
            assert int(getattr(r, "error_code", 0)) == 0  # the top-level error code exists from v3
            [d] = r.results
            assert [(t.name, [p.partition_index for p in t.partitions]) for t in d.topics] == [(topic, [0])]
            if version >= 4:
                assert 0 < d.usable_bytes <= d.total_bytes
        everything = w.request(DESCRIBE_LOG_DIRS, 4, {"topics": None}).results[0]
        assert topic in {t.name for t in everything.topics}
