"""Topic-level compression.type: the broker rewrites batches in the topic's
codec (Kafka's LogValidator), and every client still reads them."""

import struct
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CODEC_IDS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@pytest.mark.parametrize("topic_codec", sorted(CODEC_IDS))
def test_batches_are_stored_in_the_topic_codec(broker, topic_name, topic_codec):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic_name, 1, 1, config={"compression.type": topic_codec})])[topic_name].result(10)
    sent = []
    for producer_codec in ("none", "gzip", "lz4", "snappy", "zstd"):
        p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": producer_codec, "linger.ms": 5})
        for i in range(40):
            value = f"{producer_codec}-{i}-".encode() * 20
            p.produce(topic_name, key=str(i).encode(), value=value, headers=[("codec", producer_codec.encode())])
            sent.append(value)
        assert p.flush(10) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c.assign([TopicPartition(topic_name, 0, 0)])
    got = []
    for _ in range(100):
        if len(got) == len(sent):
            break
        for m in c.consume(500, 1.0):
            assert m.error() is None, m.error()
            got.append(m.value())
    c.close()
    assert got == sent
    segment = Path(broker.data_dir) / f"{topic_name}-0" / "00000000000000000000.log"
    data = segment.read_bytes()
    codecs, pos = set(), 0
    while pos < len(data):
        (length,) = struct.unpack_from(">i", data, pos + 8)
        codecs.add(struct.unpack_from(">h", data, pos + 21)[0] & 7)
        pos += 12 + length
    assert codecs == {CODEC_IDS[topic_codec]}
