"""Apache Kafka's Java client (kafka-clients 4.1.1) against a real broker process.

Each test runs one program from tests/java (io.fluxmq.itest.*), which prints
what it checked and ends with "OK Name" or "FAIL Name: why":

- ProducerDefaults: KafkaProducer defaults (acks=all, idempotence), keys,
  headers, null keys and values, several partitions; every send's metadata;
  a record over max.message.bytes is refused and the producer goes on.
- ProducerCodecs: compression none/gzip/snappy/lz4/zstd, idempotence on and
  off, every record read back.
- ConsumerAssign: assign()/seekToBeginning/seek without a group, record by
  record; beginningOffsets, endOffsets, offsetsForTimes, Admin listOffsets
  (max-timestamp too), and the same read with isolation.level=read_committed.
- AdminTopics: AdminClient create/list/describe/describeConfigs/
  incrementalAlterConfigs/createPartitions/describeCluster/delete and their
  errors.
"""

from __future__ import annotations

import time

import pytest

import javautil
from clientutil import CODECS


@pytest.fixture(scope="session")
def java_built():
    javautil.build()


def test_producer_defaults(broker, java_built, topic_name):
    r = javautil.run_scenario("ProducerDefaults", broker.bootstrap, topic_name,
                              "--records", "300", "--partitions", "3")
    for p in range(3):
        assert f"partition {p}: 100 records at offsets 0..99" in r.stdout, r.describe()
    assert "all 300 sends acknowledged" in r.stdout
    assert "RecordTooLargeException; the producer went on at offset 1" in r.stdout, r.describe()


@pytest.mark.parametrize("codec", CODECS)
def test_producer_codecs(broker, java_built, topic_name, codec):
    r = javautil.run_scenario("ProducerCodecs", broker.bootstrap, topic_name,
                              "--codecs", codec, "--idempotence", "both")
    for idempotent in ("true", "false"):
        assert f"codec {codec} idempotence {idempotent}: OK" in r.stdout, r.describe()
    assert r.stdout.count("records verified") == 4, r.describe()  # 2 partitions x 2 modes


def test_consumer_assign(broker, java_built, topic_name):
    r = javautil.run_scenario("ConsumerAssign", broker.bootstrap, topic_name,
                              "--records", "300", "--partitions", "3")
    assert "beginningOffsets [0, 0, 0] endOffsets [100, 100, 100]" in r.stdout, r.describe()
    for p in range(3):
        # Once read_uncommitted (the default), once read_committed.
        assert r.stdout.count(f"read back partition {p}: 100 records verified") == 2, r.describe()
        assert f"seek partition {p} to offset 50: 50 records verified" in r.stdout, r.describe()
    assert "offsetsForTimes verified on 3 partitions" in r.stdout
    assert "admin listOffsets earliest/latest/max-timestamp verified on 3 partitions" in r.stdout


def test_admin_topics(broker, java_built, topic_name):
    r = javautil.run_scenario("AdminTopics", broker.bootstrap, topic_name)
    for line in (
        f"createTopics {topic_name}: 3 partitions, replication factor 1",
        "createTopics again: TopicExistsException",
        "createTopics bad/name?: InvalidTopicException",
        f"listTopics: includes {topic_name}",
        f"describeTopics {topic_name}: 3 partitions",
        f"describeTopics {topic_name}: 5 partitions",
        "retention.ms=3600000 (DYNAMIC_TOPIC_CONFIG)",
        "createTopics with retention.ms=soon: InvalidConfigurationException",
        "incrementalAlterConfigs: SET retention.ms=7200000, then DELETE back to 604800000",
        "retention.ms=soon and no.such.config: InvalidConfigurationException",
        "createPartitions to 2: InvalidPartitionsException",
        f"listTopics: no longer includes {topic_name}",
    ):
        assert line in r.stdout, f"missing {line!r}\n" + r.describe()


def test_java_records_survive_restart(broker_factory, java_built, topic_name):
    """Java producer defaults (acks=all), a clean restart, then the Java
    consumer finds every record intact at the same offsets."""
    b = broker_factory().start()
    data = ["--records", "200", "--partitions", "2", "--base-ts", str(int(time.time() * 1000) - 120_000)]
    javautil.run_scenario("ProducerDefaults", b.bootstrap, topic_name, *data)
    assert b.stop() == 0, b.log_text()[-4000:]
    b.start()
    r = javautil.run_scenario("ConsumerAssign", b.bootstrap, topic_name, *data, "--existing")
    assert "beginningOffsets [0, 0] endOffsets [100, 100]" in r.stdout, r.describe()
