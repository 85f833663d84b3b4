"""DescribeTopicPartitions (KIP-966) on the raw protocol: name order, paging by
response_partition_limit with next_cursor and a request cursor, unknown and
illegal names, a cursor outside the listed topics, internal topics; and the
Java AdminClient's describeTopics, which uses it (kafka-topics --describe
shows its empty ELR lists: "Elr: " where the Metadata fallback prints N/A)."""

from __future__ import annotations

import uuid

import pytest
from wire import connect, create_topic

DESCRIBE_TOPIC_PARTITIONS = 75
NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC, INVALID_REQUEST = 0, 3, 17, 42
ALL_TOPIC_OPERATIONS = 3576  # every topic operation: no authorizer, as Kafka reports it


def describe(w, names, limit=2000, cursor=None):
    return w.request(DESCRIBE_TOPIC_PARTITIONS, 0, {"topics": [{"name": n} for n in names],
                                                    "response_partition_limit": limit, "cursor": cursor})


@pytest.fixture(scope="module")
def topics(broker):
    base = f"dtp-{uuid.uuid4().hex[:8]}"
    names = {f"{base}-b": 3, f"{base}-a": 2, f"{base}-c": 1}
    with connect(broker) as w:
        for name, n in names.items():
            assert int(create_topic(w, name, n).error_code) == NONE
    return sorted(names)


def test_listed_topics_come_in_name_order_with_their_partitions(broker, topics):
    a, b, c = topics
    with connect(broker) as w:
        r = describe(w, [c, a, b, a])
    assert [t.name for t in r.topics] == [a, b, c] and r.next_cursor is None
    assert [len(t.partitions) for t in r.topics] == [2, 3, 1]
    for t in r.topics:
        assert int(t.error_code) == NONE and not t.is_internal and t.topic_id is not None
        assert t.topic_authorized_operations == ALL_TOPIC_OPERATIONS
        for i, p in enumerate(t.partitions):
            assert (int(p.error_code), p.partition_index, p.leader_epoch) == (NONE, i, 0)
            assert list(p.replica_nodes) == list(p.isr_nodes) == [p.leader_id]
            assert list(p.eligible_leader_replicas) == list(p.last_known_elr) == list(p.offline_replicas) == []


def test_pages_follow_the_cursor(broker, topics):
    a, b, c = topics
    with connect(broker) as w:
        first = describe(w, topics, limit=3)
        assert [(t.name, [p.partition_index for p in t.partitions]) for t in first.topics] == [(a, [0, 1]), (b, [0])]
        assert (first.next_cursor.topic_name, first.next_cursor.partition_index) == (b, 1)
        second = describe(w, topics, limit=3, cursor={"topic_name": b, "partition_index": 1})
        assert [(t.name, [p.partition_index for p in t.partitions]) for t in second.topics] == [(b, [1, 2]), (c, [0])]
        assert second.next_cursor is None
        exact = describe(w, topics, limit=2)  # a's two partitions fill the page: the cursor names b
        assert [t.name for t in exact.topics] == [a]
        assert (exact.next_cursor.topic_name, exact.next_cursor.partition_index) == (b, 0)


def test_unknown_illegal_and_cursor_errors(broker, topics):
    a = topics[0]
    missing = f"missing-{uuid.uuid4().hex[:6]}"
    with connect(broker) as w:
        r = describe(w, [a, missing, "bad/name"])
        by_name = {t.name: t for t in r.topics}
        assert int(by_name[missing].error_code) == UNKNOWN_TOPIC_OR_PARTITION and not by_name[missing].partitions
        assert int(by_name["bad/name"].error_code) == INVALID_TOPIC
        assert int(by_name[a].error_code) == NONE
        r = describe(w, [a], cursor={"topic_name": topics[1], "partition_index": 0})
        assert [(t.name, int(t.error_code)) for t in r.topics] == [(a, INVALID_REQUEST)]
        r = describe(w, [a], cursor={"topic_name": a, "partition_index": -1})
        assert [(t.name, int(t.error_code)) for t in r.topics] == [(a, INVALID_REQUEST)]


def test_all_topics_include_internal_ones(broker, topics):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:6]}"})
    c.commit(offsets=[TopicPartition(topics[0], 0, 0)], asynchronous=False)  # makes __consumer_offsets
    c.close()
    with connect(broker) as w:
        r = describe(w, [])
    names = [t.name for t in r.topics]
    assert names == sorted(names) and set(topics) <= set(names)
    internal = [t for t in r.topics if t.name == "__consumer_offsets"]
    assert internal and internal[0].is_internal
