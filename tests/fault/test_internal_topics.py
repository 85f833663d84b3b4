"""Clients cannot write the coordinator's internal topic: a produce to
__consumer_offsets is INVALID_TOPIC_EXCEPTION and the group state survives."""

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def test_produce_to_consumer_offsets_is_refused(broker, topic_name):
    group = "g-" + topic_name
    seed = Producer({"bootstrap.servers": broker.bootstrap})
    seed.produce(topic_name, b"x")  # auto-creates the topic
    assert seed.flush(10) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic_name, 0, 7)], asynchronous=False)  # creates __consumer_offsets
    errors = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 10000, "retries": 0})
    for partition in range(3):
        p.produce("__consumer_offsets", key=b"garbage", value=b"\xff" * 20, partition=partition,
                  on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(15) == 0
    assert len(errors) == 3
    assert all(e is not None and e.code() == KafkaError.TOPIC_EXCEPTION for e in errors), errors
    committed = c.committed([TopicPartition(topic_name, 0)], timeout=10)
    assert committed[0].offset == 7
    c.close()
    assert "internal topic __consumer_offsets rejected" in broker.log_text()
