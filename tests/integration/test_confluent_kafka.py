"""confluent-kafka (librdkafka) against a real broker process.

Producer: every compression codec, idempotent and not, acks=all and acks=1,
keys, headers, tombstones, several partitions; every delivery report offset
is checked. Consumer: assign()/seek only (a group.id is set, as librdkafka
wants one, but nothing subscribes or commits). AdminClient: create, list,
describe, delete topics. Also: auto-creation on produce, message.timeout.ms
while the broker is down, watermarks, offsets_for_times and ListOffsets
specs.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic, OffsetSpec

from clientutil import (
    CODECS,
    CONSUME_TIMEOUT,
    LOG_APPEND_TIME,
    OP_TIMEOUT,
    assert_delivered,
    assert_roundtrip,
    base_timestamp,
    confluent_consume,
    confluent_consumer_conf,
    confluent_got,
    create_topic,
    make_records,
    wait_until,
)


def produce_all(conf: dict, topic: str, records, *, producer: Producer | None = None):
    """Produce `records` with explicit partition and timestamp; return the
    (partition, offset) of every delivery report, in send order. Fails on
    any delivery error or if flush() leaves anything undelivered."""
    p = producer or Producer(conf)
    reports: list = [None] * len(records)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = err if err is not None else (msg.partition(), msg.offset())
        return cb

    for i, r in enumerate(records):
        while True:
            try:
                p.produce(topic, value=r.value, key=r.key, partition=r.partition,
                          timestamp=r.timestamp, headers=list(r.headers), on_delivery=on_delivery(i))
                break
            except BufferError:  # local queue full: serve delivery reports, retry
                p.poll(0.1)
    left = p.flush(OP_TIMEOUT)
    assert left == 0, f"{left} messages still undelivered after flush({OP_TIMEOUT})"
    errors = [(i, e) for i, e in enumerate(reports) if not isinstance(e, tuple)]
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:3]}"
    return reports


def poll_one(c: Consumer):
    """The next message (Message objects with empty values are falsy, so
    compare with None)."""
    deadline = time.monotonic() + CONSUME_TIMEOUT
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None:
            return m
    raise AssertionError(f"no message within {CONSUME_TIMEOUT}s")


def all_partitions(topic: str, partitions: int, offset: int = OFFSET_BEGINNING) -> list[TopicPartition]:
    return [TopicPartition(topic, p, offset) for p in range(partitions)]


@pytest.fixture
def admin(broker):
    return AdminClient({"bootstrap.servers": broker.bootstrap})


# (enable.idempotence, acks): librdkafka refuses idempotence without acks=all.
DELIVERY_MODES = [(True, "all"), (False, "all"), (False, "1")]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("idempotence,acks", DELIVERY_MODES, ids=["idempotent-acks_all", "acks_all", "acks_1"])
def test_produce_consume_roundtrip(broker, topic_name, codec, idempotence, acks):
    partitions = 3
    create_topic(broker.bootstrap, topic_name, partitions)
    records = make_records(600, partitions, seed=CODECS.index(codec) * 10 + int(idempotence) * 2 + (acks == "1"))
    conf = {
        "bootstrap.servers": broker.bootstrap,
        "compression.type": codec,
        "enable.idempotence": idempotence,
        "acks": acks,
        "linger.ms": 20,  # multi-record batches, so the codec has work to do
        "batch.num.messages": 200,
        "message.timeout.ms": 30000,
    }
    offsets = produce_all(conf, topic_name, records)
    assert_delivered(records, offsets)
    got = confluent_consume(broker.bootstrap, all_partitions(topic_name, partitions), len(records))
    assert_roundtrip(records, offsets, got)


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_seek_into_the_middle_of_a_batch(broker, topic_name, codec):
    """Fetching from an offset inside a (compressed) batch must still yield
    that offset first; earlier records of the batch are not delivered."""
    create_topic(broker.bootstrap, topic_name, 1)
    records = make_records(300, 1, seed=7)
    conf = {"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 50}
    offsets = produce_all(conf, topic_name, records)
    assert_delivered(records, offsets)
    start = 137
    got = confluent_consume(broker.bootstrap, [TopicPartition(topic_name, 0, start)], len(records) - start)
    assert got[0].offset == start
    assert_roundtrip(records[start:], offsets[start:], got)

    # seek() on an already-assigned partition moves the position back.
    c = Consumer(confluent_consumer_conf(broker.bootstrap))
    try:
        c.assign([TopicPartition(topic_name, 0, 250)])
        first = poll_one(c)
        assert first.error() is None and first.offset() == 250
        c.seek(TopicPartition(topic_name, 0, 42))
        again = poll_one(c)
        assert again.error() is None and again.offset() == 42
        assert again.value() == records[42].value and again.key() == records[42].key
    finally:
        c.close()


def test_keyed_records_without_explicit_partition(broker, topic_name):
    """The client's partitioner spreads keys using the partition count the
    broker reports; every key must land (and stay) on one partition."""
    create_topic(broker.bootstrap, topic_name, 3)
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    placed: dict[bytes, set[int]] = {}

    def cb(err, msg):
        assert err is None, err
        placed.setdefault(msg.key(), set()).add(msg.partition())

    for i in range(300):
        p.produce(topic_name, key=f"user-{i % 30}".encode(), value=b"x" * (i % 50), on_delivery=cb)
    assert p.flush(OP_TIMEOUT) == 0
    assert len(placed) == 30
    assert all(len(parts) == 1 for parts in placed.values())
    assert {next(iter(s)) for s in placed.values()} == {0, 1, 2}


def test_admin_create_list_describe_delete(broker, admin, topic_name):
    specs = {f"{topic_name}-a": 1, f"{topic_name}-b": 4}
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in specs.items()],
        request_timeout=OP_TIMEOUT)
    for name, fut in futures.items():
        assert fut.result(timeout=OP_TIMEOUT) is None, name

    # Creating one again is TOPIC_ALREADY_EXISTS.
    dup = admin.create_topics([NewTopic(f"{topic_name}-a", num_partitions=1, replication_factor=1)],
                              request_timeout=OP_TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        dup[f"{topic_name}-a"].result(timeout=OP_TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    # Metadata of the whole cluster: this broker, at the address we dialled.
    host, port = broker.bootstrap.rsplit(":", 1)
    md = wait_until(lambda: (m := admin.list_topics(timeout=10)) and set(specs) <= set(m.topics) and m,
                    what="new topics in list_topics()")
    assert len(md.brokers) == 1
    (b,) = md.brokers.values()
    assert (b.host, b.port) == (host, int(port))
    for name, n in specs.items():
        t = md.topics[name]
        assert t.error is None
        assert sorted(t.partitions) == list(range(n))
        for pm in t.partitions.values():
            assert pm.error is None
            assert pm.leader == b.id
            assert pm.replicas == [b.id] and pm.isrs == [b.id]

    # Metadata of a single topic.
    one = admin.list_topics(topic=f"{topic_name}-b", timeout=10)
    assert set(one.topics) == {f"{topic_name}-b"}
    assert len(one.topics[f"{topic_name}-b"].partitions) == 4

    # DescribeTopics / DescribeCluster.
    desc = admin.describe_topics(TopicCollection(list(specs)), request_timeout=OP_TIMEOUT)
    for name, fut in desc.items():
        d = fut.result(timeout=OP_TIMEOUT)
        assert d.name == name and not d.is_internal
        assert [p.id for p in d.partitions] == list(range(specs[name]))
        assert all(p.leader.id == b.id and [r.id for r in p.replicas] == [b.id] for p in d.partitions)
    cluster = admin.describe_cluster(request_timeout=OP_TIMEOUT).result(timeout=OP_TIMEOUT)
    assert [n.id for n in cluster.nodes] == [b.id]
    assert cluster.cluster_id == md.cluster_id and cluster.cluster_id

    # Delete both; they disappear from metadata.
    for name, fut in admin.delete_topics(list(specs), operation_timeout=OP_TIMEOUT,
                                         request_timeout=OP_TIMEOUT).items():
        assert fut.result(timeout=OP_TIMEOUT) is None, name
    wait_until(lambda: not set(specs) & set(admin.list_topics(timeout=10).topics),
               what="deleted topics to leave list_topics()")
    # Deleting again: UNKNOWN_TOPIC_OR_PART.
    again = admin.delete_topics([f"{topic_name}-a"], operation_timeout=OP_TIMEOUT, request_timeout=OP_TIMEOUT)
    with pytest.raises(KafkaException) as exc:
        again[f"{topic_name}-a"].result(timeout=OP_TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_admin_create_topic_errors(admin, topic_name):
    bad = {
        "bad name!": KafkaError.TOPIC_EXCEPTION,  # INVALID_TOPIC_EXCEPTION (17)
        f"{topic_name}-zero": KafkaError.INVALID_PARTITIONS,
        f"{topic_name}-rf": KafkaError.INVALID_REPLICATION_FACTOR,
    }
    futures = admin.create_topics([
        NewTopic("bad name!", num_partitions=1, replication_factor=1),
        NewTopic(f"{topic_name}-zero", num_partitions=0, replication_factor=1),
        NewTopic(f"{topic_name}-rf", num_partitions=1, replication_factor=3),
    ], request_timeout=OP_TIMEOUT)
    for name, code in bad.items():
        with pytest.raises(KafkaException) as exc:
            futures[name].result(timeout=OP_TIMEOUT)
        assert exc.value.args[0].code() == code, f"{name}: {exc.value.args[0]}"
    assert not set(bad) & set(admin.list_topics(timeout=10).topics)


def test_auto_create_on_produce(broker, admin, topic_name):
    # A consumer's metadata request does not create topics
    # (allow.auto.create.topics is false for consumers).
    c = Consumer(confluent_consumer_conf(broker.bootstrap))
    try:
        md = c.list_topics(topic=topic_name, timeout=10)
        assert md.topics[topic_name].error is not None
        assert md.topics[topic_name].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    finally:
        c.close()
    assert topic_name not in admin.list_topics(timeout=10).topics

    # A producer's does: the topic appears with the default partition count.
    records = make_records(50, 1, seed=3)
    offsets = produce_all({"bootstrap.servers": broker.bootstrap, "linger.ms": 5}, topic_name, records)
    assert_delivered(records, offsets)
    md = admin.list_topics(topic=topic_name, timeout=10)
    assert md.topics[topic_name].error is None
    assert len(md.topics[topic_name].partitions) == 1
    got = confluent_consume(broker.bootstrap, [TopicPartition(topic_name, 0, OFFSET_BEGINNING)], len(records))
    assert_roundtrip(records, offsets, got)


def test_unknown_partition_fails_fast(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, 2)
    p = Producer({"bootstrap.servers": broker.bootstrap, "message.timeout.ms": 10000})
    errs = []
    p.produce(topic_name, value=b"nowhere", partition=5, on_delivery=lambda err, msg: errs.append(err))
    assert p.flush(OP_TIMEOUT) == 0
    assert len(errs) == 1 and errs[0] is not None
    assert errs[0].code() == KafkaError._UNKNOWN_PARTITION


def test_message_timeout_while_broker_down(broker_factory, topic_name):
    """Records produced while the broker is stopped time out after
    message.timeout.ms with _MSG_TIMED_OUT; after a restart on the same port
    the same producer delivers again, and only the delivered records exist."""
    b = broker_factory().start()
    create_topic(b.bootstrap, topic_name, 1)
    conf = {
        "bootstrap.servers": b.bootstrap,
        "enable.idempotence": False,
        "message.timeout.ms": 3000,
        "linger.ms": 5,
        "reconnect.backoff.max.ms": 500,
    }
    p = Producer(conf)
    first = make_records(20, 1, seed=11)
    offsets = produce_all(conf, topic_name, first, producer=p)
    assert_delivered(first, offsets)

    b.stop()
    errs = []
    for i in range(5):
        p.produce(topic_name, value=b"lost %d" % i, partition=0, on_delivery=lambda err, msg: errs.append(err))
    assert p.flush(OP_TIMEOUT) == 0
    assert len(errs) == 5
    assert all(e is not None and e.code() == KafkaError._MSG_TIMED_OUT for e in errs), errs

    b.start()
    second = make_records(20, 1, seed=12)
    offsets2 = produce_all(conf, topic_name, second, producer=p)
    assert [o for _, o in offsets2] == list(range(20, 40))
    got = confluent_consume(b.bootstrap, [TopicPartition(topic_name, 0, OFFSET_BEGINNING)], 40)
    assert_roundtrip(first + second, offsets + offsets2, got)


def test_watermarks_and_offsets_for_times(broker, admin, topic_name):
    create_topic(broker.bootstrap, topic_name, 2)
    base = base_timestamp()
    records = make_records(200, 2, seed=5, base_ts=base)
    # One record in the middle of partition 1 carries the largest timestamp.
    top = records[101]
    records[101] = type(top)(top.key, top.value, top.headers, top.partition, base + 1_000_000)
    offsets = produce_all({"bootstrap.servers": broker.bootstrap, "linger.ms": 10, "compression.type": "lz4"},
                          topic_name, records)
    assert_delivered(records, offsets)

    c = Consumer(confluent_consumer_conf(broker.bootstrap))
    try:
        for part in (0, 1):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic_name, part), timeout=10, cached=False)
            assert (lo, hi) == (0, 100)

        # Partition 0 holds records 0, 2, 4, ... at offsets 0, 1, 2, ...
        # with timestamps base + 2 * offset.
        # One query per request: a request holds each partition once.
        for part, ts, want in [
            (0, base, 0),               # the first record
            (0, base + 21, 11),         # between offsets 10 and 11
            (0, base + 40, 20),         # exactly offset 20
            (0, base + 10_000, OFFSET_END),  # after the last: none (-1)
            (1, base + 10_000, 50),     # only the big one is later
        ]:
            (r,) = c.offsets_for_times([TopicPartition(topic_name, part, ts)], timeout=10)
            assert r.error is None and (r.partition, r.offset) == (part, want), (part, ts, r)
    finally:
        c.close()

    # The same through AdminClient.list_offsets, with the ListOffsets specs
    # earliest (-2), latest (-1) and max timestamp (-3).
    for spec, part, want_offset, want_ts in [
        (OffsetSpec.earliest(), 0, 0, None),
        (OffsetSpec.latest(), 0, 100, None),
        (OffsetSpec.latest(), 1, 100, None),
        (OffsetSpec.max_timestamp(), 1, 50, base + 1_000_000),
        (OffsetSpec.max_timestamp(), 0, 99, base + 198),
        (OffsetSpec.for_timestamp(base + 21), 0, 11, base + 22),
    ]:
        tp = TopicPartition(topic_name, part)
        info = admin.list_offsets({tp: spec}, request_timeout=OP_TIMEOUT)[tp].result(timeout=OP_TIMEOUT)
        assert info.offset == want_offset, (spec, part, info.offset)
        if want_ts is not None:
            assert info.timestamp == want_ts, (spec, part, info.timestamp)


def test_log_append_time_topic(broker, topic_name):
    """On a topic with message.timestamp.type=LogAppendTime the broker stamps
    its own time; the consumer reports it as LogAppendTime."""
    create_topic(broker.bootstrap, topic_name, 1, config={"message.timestamp.type": "LogAppendTime"})
    records = make_records(100, 1, seed=9)
    before = int(time.time() * 1000)
    offsets = produce_all({"bootstrap.servers": broker.bootstrap, "compression.type": "gzip", "linger.ms": 10},
                          topic_name, records)
    after = int(time.time() * 1000)
    got = confluent_consume(broker.bootstrap, [TopicPartition(topic_name, 0, OFFSET_BEGINNING)], len(records))
    assert_roundtrip(records, offsets, got, timestamp_type=LOG_APPEND_TIME)
    slack = 5000  # clock of the broker process vs this one: same machine
    assert all(before - slack <= g.timestamp <= after + slack for g in got)


def test_record_larger_than_topic_max_message_bytes(broker, topic_name):
    """max.message.bytes is enforced per topic: MSG_SIZE_TOO_LARGE for the big
    record, the records around it are stored."""
    create_topic(broker.bootstrap, topic_name, 1, config={"max.message.bytes": "10000"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "enable.idempotence": False,
                  "message.timeout.ms": 20000})
    results: dict[str, object] = {}

    def cb(err, msg):
        results[msg.key().decode()] = err if err is not None else msg.offset()

    p.produce(topic_name, key=b"small-1", value=b"a" * 100, partition=0, on_delivery=cb)
    p.flush(OP_TIMEOUT)
    p.produce(topic_name, key=b"big", value=bytes(range(256)) * 80, partition=0, on_delivery=cb)  # 20 KiB
    p.flush(OP_TIMEOUT)
    p.produce(topic_name, key=b"small-2", value=b"b" * 100, partition=0, on_delivery=cb)
    assert p.flush(OP_TIMEOUT) == 0
    assert results["small-1"] == 0 and results["small-2"] == 1, results
    assert isinstance(results["big"], KafkaError) and results["big"].code() == KafkaError.MSG_SIZE_TOO_LARGE
    got = confluent_consume(broker.bootstrap, [TopicPartition(topic_name, 0, OFFSET_BEGINNING)], 2)
    assert [(g.offset, g.key) for g in got] == [(0, b"small-1"), (1, b"small-2")]


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_keyless_records_fail_alone_on_a_compacted_topic(broker, topic_name, codec):
    """KIP-467: one batch of 20 records to a compacted topic, every 10th without a key.
    The broker names the bad records, so librdkafka fails those with INVALID_RECORD and
    the rest of the batch with _INVALID_DIFFERENT_RECORD (as against Kafka 4.4); sent
    again on their own, the keyed records are stored."""
    create_topic(broker.bootstrap, topic_name, 1, config={"cleanup.policy": "compact"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 500, "enable.idempotence": False,
                  "message.timeout.ms": 20000, "compression.type": codec})
    results: dict[int, object] = {}

    def cb(err, msg):
        results[int(msg.value())] = err if err is not None else msg.offset()

    for i in range(20):
        p.produce(topic_name, key=None if i % 10 == 0 else b"k%d" % i, value=b"%d" % i, partition=0, on_delivery=cb)
    assert p.flush(OP_TIMEOUT) == 0
    codes = {i: r.code() if isinstance(r, KafkaError) else r for i, r in results.items()}
    assert {i for i, c in codes.items() if c == KafkaError.INVALID_RECORD} == {0, 10}, codes
    assert {i for i, c in codes.items() if c == KafkaError._INVALID_DIFFERENT_RECORD} == set(range(20)) - {0, 10}
    for i in range(20):
        if i % 10:
            p.produce(topic_name, key=b"k%d" % i, value=b"%d" % i, partition=0, on_delivery=cb)
    assert p.flush(OP_TIMEOUT) == 0
    assert sorted(r for i, r in results.items() if i % 10) == list(range(18))


@pytest.mark.parametrize("topic_codec,producer_codec", [("lz4", "gzip"), ("uncompressed", "zstd"), ("zstd", "none")])
def test_topic_compression_type_recompresses(broker, topic_name, topic_codec, producer_codec):
    """A topic whose compression.type is not `producer` makes the broker
    rewrite batches; the records must come back unchanged."""
    create_topic(broker.bootstrap, topic_name, 2, config={"compression.type": topic_codec})
    records = make_records(300, 2, seed=41)
    conf = {"bootstrap.servers": broker.bootstrap, "compression.type": producer_codec, "linger.ms": 10}
    offsets = produce_all(conf, topic_name, records)
    assert_delivered(records, offsets)
    got = confluent_consume(broker.bootstrap, all_partitions(topic_name, 2), len(records))
    assert_roundtrip(records, offsets, got)


def test_waiting_consumer_gets_new_records(broker, topic_name):
    """A consumer positioned at the end long-polls; records produced later
    reach it (a delayed fetch must be completed by the append)."""
    create_topic(broker.bootstrap, topic_name, 1)
    old = make_records(10, 1, seed=42)
    produce_all({"bootstrap.servers": broker.bootstrap}, topic_name, old)
    c = Consumer(confluent_consumer_conf(broker.bootstrap, **{"fetch.wait.max.ms": 2000}))
    try:
        c.assign([TopicPartition(topic_name, 0, OFFSET_END)])
        for _ in range(3):  # nothing new yet
            m = c.poll(0.5)
            assert m is None or m.error() is not None, f"unexpected record at offset {m.offset()}"
        new = make_records(25, 1, seed=43)
        offsets = produce_all({"bootstrap.servers": broker.bootstrap}, topic_name, new)
        assert [o for _, o in offsets] == list(range(10, 35))
        got = []
        deadline = time.monotonic() + CONSUME_TIMEOUT
        while len(got) < 25 and time.monotonic() < deadline:
            for m in c.consume(100, timeout=0.5):
                assert m.error() is None, m.error()
                got.append(confluent_got(m))
        assert_roundtrip(new, offsets, got)
    finally:
        c.close()


def test_fetch_limits_smaller_than_a_batch(broker, topic_name):
    """With fetch.max.bytes / max.partition.fetch.bytes below the size of
    one batch the broker still returns that first batch (KIP-74), so the
    consumer makes progress."""
    create_topic(broker.bootstrap, topic_name, 2)
    records = make_records(200, 2, seed=44)
    conf = {"bootstrap.servers": broker.bootstrap, "linger.ms": 20, "batch.size": 200000}
    offsets = produce_all(conf, topic_name, records)
    got = confluent_consume(broker.bootstrap, all_partitions(topic_name, 2), len(records),
                            **{"fetch.max.bytes": 1024, "max.partition.fetch.bytes": 512,
                               "message.max.bytes": 1000})
    assert_roundtrip(records, offsets, got)


def test_create_partitions_and_recreate_topic(broker, admin, topic_name):
    create_topic(broker.bootstrap, topic_name, 1)
    first = make_records(20, 1, seed=45)
    produce_all({"bootstrap.servers": broker.bootstrap}, topic_name, first)

    # Grow to 3 partitions; the new ones take records from offset 0.
    fut = admin.create_partitions([NewPartitions(topic_name, 3)], request_timeout=OP_TIMEOUT)[topic_name]
    assert fut.result(timeout=OP_TIMEOUT) is None
    wait_until(lambda: len(admin.list_topics(topic=topic_name, timeout=10).topics[topic_name].partitions) == 3,
               what="3 partitions in metadata")
    more = make_records(30, 3, seed=46)
    offsets = produce_all({"bootstrap.servers": broker.bootstrap}, topic_name, more)
    assert [o for p, o in offsets if p == 0] == list(range(20, 30))
    assert [o for p, o in offsets if p == 2] == list(range(10))
    # Shrinking is INVALID_PARTITIONS.
    with pytest.raises(KafkaException) as exc:
        admin.create_partitions([NewPartitions(topic_name, 2)], request_timeout=OP_TIMEOUT)[topic_name].result(
            timeout=OP_TIMEOUT)
    assert exc.value.args[0].code() == KafkaError.INVALID_PARTITIONS

    # Delete and create again under the same name: an empty topic.
    admin.delete_topics([topic_name], operation_timeout=OP_TIMEOUT)[topic_name].result(timeout=OP_TIMEOUT)
    wait_until(lambda: topic_name not in admin.list_topics(timeout=10).topics, what="topic deleted")
    wait_until(lambda: create_topic(broker.bootstrap, topic_name, 2) or True, what="topic re-created")
    again = make_records(10, 2, seed=47)
    offsets = produce_all({"bootstrap.servers": broker.bootstrap}, topic_name, again)
    assert_delivered(again, offsets)
    got = confluent_consume(broker.bootstrap, all_partitions(topic_name, 2), len(again))
    assert_roundtrip(again, offsets, got)
