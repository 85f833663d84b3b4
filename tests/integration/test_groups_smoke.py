"""Consumer groups, end to end, quickly: a confluent-kafka consumer and a
kafka-python consumer subscribe() to one 4-partition topic in the same
group, share its partitions, consume every record, commit; after a broker
restart, the group resumes from the committed offsets. (The full group
suites per client live elsewhere; this one only shows the path works.)"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer

from clientutil import CONSUME_TIMEOUT, OP_TIMEOUT

PARTITIONS = 4
INITIAL_DELAY_MS = 500


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, v in enumerate(values):
        p.produce(topic, value=v, partition=i % PARTITIONS)
    assert p.flush(OP_TIMEOUT) == 0


def ck_consumer(bootstrap: str, group: str, topic: str) -> Consumer:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
                  "client.id": "ck-smoke"})
    c.subscribe([topic])
    return c


def kp_consumer(bootstrap: str, group: str, topic: str) -> KafkaConsumer:
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=1000,
                         client_id="kp-smoke", request_timeout_ms=40000)


class Pair:
    """The two consumers, polled in turn from one thread."""

    def __init__(self, bootstrap: str, group: str, topic: str):
        self.ck = ck_consumer(bootstrap, group, topic)
        self.kp = kp_consumer(bootstrap, group, topic)
        self.got: dict[str, list[tuple[int, int, bytes]]] = {"ck": [], "kp": []}

    def poll(self) -> None:
        m = self.ck.poll(0.1)
        if m is not None:
            assert m.error() is None, m.error()
            self.got["ck"].append((m.partition(), m.offset(), m.value()))
        for batch in self.kp.poll(timeout_ms=100).values():
            self.got["kp"].extend((r.partition, r.offset, r.value) for r in batch)

    def assignments(self) -> tuple[set[int], set[int]]:
        return {tp.partition for tp in self.ck.assignment()}, {tp.partition for tp in self.kp.assignment()}

    def wait_shared(self) -> tuple[set[int], set[int]]:
        deadline = time.monotonic() + CONSUME_TIMEOUT
        while time.monotonic() < deadline:
            self.poll()
            a, b = self.assignments()
            if len(a) == len(b) == PARTITIONS // 2:
                return a, b
        raise AssertionError(f"the group did not share the partitions: {self.assignments()}")

    def consume(self, expected: set[bytes]) -> set[bytes]:
        deadline = time.monotonic() + CONSUME_TIMEOUT
        while time.monotonic() < deadline and not expected <= self.values():
            self.poll()
        for _ in range(10):  # anything beyond what was expected shows up here
            self.poll()
        return self.values()

    def values(self) -> set[bytes]:
        return {v for got in self.got.values() for _, _, v in got}

    def commit(self) -> None:
        try:
            self.ck.commit(asynchronous=False)
        except KafkaException as e:  # nothing consumed on its partitions yet
            assert "NO_OFFSET" in str(e), e
        self.kp.commit()

    def close(self) -> None:
        self.ck.close()
        self.kp.close()


def test_two_clients_share_a_topic_commit_and_resume_after_a_restart(broker_factory, topic_name):
    b = broker_factory(["--override", f"group.initial.rebalance.delay.ms={INITIAL_DELAY_MS}"]).start()
    group = "smoke-" + topic_name
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic_name, PARTITIONS, 1)])[topic_name].result(OP_TIMEOUT)

    pair = Pair(b.bootstrap, group, topic_name)
    ck_parts, kp_parts = pair.wait_shared()
    assert ck_parts | kp_parts == set(range(PARTITIONS)) and not ck_parts & kp_parts

    first = [b"first-%d" % i for i in range(200)]
    produce(b.bootstrap, topic_name, first)
    got = pair.consume(set(first))
    assert got == set(first)
    # Each consumer read only its own partitions.
    assert {p for p, _, _ in pair.got["ck"]} <= ck_parts and {p for p, _, _ in pair.got["kp"]} <= kp_parts
    pair.commit()

    probe = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group})
    committed = probe.committed([TopicPartition(topic_name, p) for p in range(PARTITIONS)], timeout=OP_TIMEOUT)
    assert [tp.offset for tp in committed] == [len(first) // PARTITIONS] * PARTITIONS
    probe.close()
    kadmin = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    listed = kadmin.list_groups(states_filter=["Stable"], types_filter=["classic"])
    kadmin.close()
    assert group in repr(listed) and "consumer" in repr(listed), listed
    pair.close()

    second = [b"second-%d" % i for i in range(40)]
    produce(b.bootstrap, topic_name, second)
    b.restart()

    pair = Pair(b.bootstrap, group, topic_name)
    try:
        got = pair.consume(set(second))
        assert got == set(second), f"re-delivered after the restart: {sorted(got - set(second))[:5]}"
    finally:
        pair.close()
    assert "Traceback" not in b.log_text()
