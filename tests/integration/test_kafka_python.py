"""kafka-python against a real broker process.

KafkaProducer with every codec, idempotent and not; KafkaConsumer with
assign() + seek_to_beginning()/seek() and no group (group_id=None);
beginning/end offsets and offsets_for_times; KafkaAdminClient create
(including validate_only and error cases), list, describe, delete.
kafka-python cannot send a null header value, so the records leave it out.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    InvalidPartitionsError,
    InvalidTopicError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

from clientutil import (
    CODECS,
    CONSUME_TIMEOUT,
    LOG_APPEND_TIME,
    OP_TIMEOUT,
    Got,
    assert_delivered,
    assert_roundtrip,
    base_timestamp,
    make_records,
    python_client_got,
    wait_until,
)

TIMEOUT_MS = int(OP_TIMEOUT * 1000)


@pytest.fixture
def admin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=TIMEOUT_MS)
    yield a
    a.close()


def create(admin: KafkaAdminClient, name: str, partitions: int, configs: dict | None = None) -> None:
    admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1, "configs": configs or {}}},
                        timeout_ms=TIMEOUT_MS, wait_for_metadata=True)


def producer(bootstrap: str, **conf) -> KafkaProducer:
    conf.setdefault("linger_ms", 10)
    return KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS,
                         max_block_ms=TIMEOUT_MS, **conf)


def send_all(bootstrap: str, topic: str, records, **conf) -> list[tuple[int, int]]:
    """Every record through one new producer (`conf` as producer()); the
    (partition, offset) of each."""
    p = producer(bootstrap, **conf)
    try:
        futures = [p.send(topic, value=r.value, key=r.key, headers=list(r.headers),
                          partition=r.partition, timestamp_ms=r.timestamp) for r in records]
        p.flush(timeout=OP_TIMEOUT)
        out = []
        for f in futures:
            md = f.get(timeout=OP_TIMEOUT)
            out.append((md.partition, md.offset))
        return out
    finally:
        p.close(timeout=OP_TIMEOUT)


def consumer(bootstrap: str) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         request_timeout_ms=TIMEOUT_MS + 10000, auto_offset_reset="none")


def read_n(c: KafkaConsumer, n: int) -> list[Got]:
    out: list[Got] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT
    while len(out) < n and time.monotonic() < deadline:
        for batch in c.poll(timeout_ms=500, max_records=1000).values():
            out.extend(python_client_got(r) for r in batch)
    assert len(out) >= n, f"consumed {len(out)} of {n} records within {CONSUME_TIMEOUT}s"
    for batch in c.poll(timeout_ms=1000).values():  # anything extra would be a bug
        out.extend(python_client_got(r) for r in batch)
    return out


def read_all_from_beginning(bootstrap: str, topic: str, partitions: int, n: int) -> list[Got]:
    c = consumer(bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        return read_n(c, n)
    finally:
        c.close()


MODES = [
    pytest.param({"enable_idempotence": True, "acks": "all"}, id="idempotent-acks_all"),
    pytest.param({"enable_idempotence": False, "acks": 1}, id="acks_1"),
]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("mode", MODES)
def test_produce_consume_roundtrip(broker, admin, topic_name, codec, mode):
    partitions = 3
    create(admin, topic_name, partitions)
    records = make_records(400, partitions, seed=100 + CODECS.index(codec), null_header_values=False)
    offsets = send_all(broker.bootstrap, topic_name, records,
                       compression_type=None if codec == "none" else codec, **mode)
    assert_delivered(records, offsets)
    got = read_all_from_beginning(broker.bootstrap, topic_name, partitions, len(records))
    assert_roundtrip(records, offsets, got)


def test_seek_and_offset_queries(broker, admin, topic_name):
    create(admin, topic_name, 2)
    base = base_timestamp()
    records = make_records(300, 2, seed=21, null_header_values=False, base_ts=base)
    offsets = send_all(broker.bootstrap, topic_name, records, compression_type="gzip")
    assert_delivered(records, offsets)
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)

    c = consumer(broker.bootstrap)
    try:
        assert c.beginning_offsets([tp0, tp1], timeout_ms=TIMEOUT_MS) == {tp0: 0, tp1: 0}
        assert c.end_offsets([tp0, tp1], timeout_ms=TIMEOUT_MS) == {tp0: 150, tp1: 150}

        # Partition 1 holds records 1, 3, 5, ... at offsets 0, 1, 2, ...:
        # timestamp(offset) = base + 2 * offset + 1.
        found = c.offsets_for_times({tp0: base + 50, tp1: base + 50}, timeout_ms=TIMEOUT_MS)
        assert (found[tp0].offset, found[tp0].timestamp) == (25, base + 50)
        assert (found[tp1].offset, found[tp1].timestamp) == (25, base + 51)
        none = c.offsets_for_times({tp0: base + 100_000}, timeout_ms=TIMEOUT_MS)
        assert none[tp0] is None

        # seek() into the middle of a compressed batch: that record first.
        c.assign([tp1])
        c.seek(tp1, 77)
        got = read_n(c, 150 - 77)
        assert got[0].offset == 77
        part1 = [(r, o) for r, o in zip(records, offsets) if r.partition == 1]
        assert_roundtrip([r for r, _ in part1[77:]], [o for _, o in part1[77:]], got)
        assert c.position(tp1) == 150
    finally:
        c.close()


def test_auto_create_on_produce(broker, admin, topic_name):
    records = make_records(30, 1, seed=22, null_header_values=False)
    offsets = send_all(broker.bootstrap, topic_name, records)
    assert_delivered(records, offsets)
    (desc,) = admin.describe_topics([topic_name])
    assert desc["error_code"] == 0 and len(desc["partitions"]) == 1
    assert_roundtrip(records, offsets, read_all_from_beginning(broker.bootstrap, topic_name, 1, len(records)))


def test_log_append_time(broker, admin, topic_name):
    create(admin, topic_name, 1, {"message.timestamp.type": "LogAppendTime"})
    records = make_records(50, 1, seed=23, null_header_values=False)
    before = int(time.time() * 1000)
    offsets = send_all(broker.bootstrap, topic_name, records, compression_type="snappy")
    after = int(time.time() * 1000)
    got = read_all_from_beginning(broker.bootstrap, topic_name, 1, len(records))
    assert_roundtrip(records, offsets, got, timestamp_type=LOG_APPEND_TIME)
    assert all(before - 5000 <= g.timestamp <= after + 5000 for g in got)


def test_admin_create_list_describe_delete(broker, admin, topic_name):
    names = {f"{topic_name}-x": 2, f"{topic_name}-y": 5}
    res = admin.create_topics(
        {n: {"num_partitions": k, "replication_factor": 1, "configs": {"retention.ms": "3600000"}}
         for n, k in names.items()}, timeout_ms=TIMEOUT_MS, wait_for_metadata=True)
    assert sorted(t["name"] for t in res["topics"]) == sorted(names)
    assert all(t["error_code"] == 0 for t in res["topics"])

    # Broker defaults (-1): num.partitions, which is 1 unless configured.
    admin.create_topics([f"{topic_name}-d"], timeout_ms=TIMEOUT_MS, wait_for_metadata=True)
    # validate_only creates nothing.
    admin.create_topics({f"{topic_name}-v": {"num_partitions": 1, "replication_factor": 1}},
                        timeout_ms=TIMEOUT_MS, validate_only=True)

    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics({f"{topic_name}-x": {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=TIMEOUT_MS)
    with pytest.raises(InvalidTopicError):
        admin.create_topics({"no/slashes": {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=TIMEOUT_MS)
    with pytest.raises(InvalidPartitionsError):
        admin.create_topics({f"{topic_name}-z": {"num_partitions": 0, "replication_factor": 1}}, timeout_ms=TIMEOUT_MS)

    listed = set(admin.list_topics())
    assert set(names) | {f"{topic_name}-d"} <= listed
    assert not {f"{topic_name}-v", f"{topic_name}-z", "no/slashes"} & listed

    descs = {d["name"]: d for d in admin.describe_topics(list(names) + [f"{topic_name}-d"])}
    assert len(descs[f"{topic_name}-d"]["partitions"]) == 1
    for n, k in names.items():
        d = descs[n]
        assert d["error_code"] == 0 and not d["is_internal"]
        parts = sorted(d["partitions"], key=lambda p: p["partition_index"])
        assert [p["partition_index"] for p in parts] == list(range(k))
        leader = parts[0]["leader_id"]
        assert leader >= 0
        assert all(p["leader_id"] == leader and p["replica_nodes"] == [leader] and p["isr_nodes"] == [leader]
                   for p in parts)
        assert all(p["error_code"] == 0 for p in parts)

    res = admin.delete_topics(list(names) + [f"{topic_name}-d"], timeout_ms=TIMEOUT_MS)
    assert all(t["error_code"] == 0 for t in res["topics"])
    wait_until(lambda: not (set(names) | {f"{topic_name}-d"}) & set(admin.list_topics()),
               what="deleted topics to leave list_topics()")
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics([f"{topic_name}-x"], timeout_ms=TIMEOUT_MS)


def test_cluster_metadata(broker, admin):
    cluster = admin.describe_cluster()
    host, port = broker.bootstrap.rsplit(":", 1)
    assert len(cluster["brokers"]) == 1
    (b,) = cluster["brokers"]
    assert (b["host"], b["port"]) == (host, int(port))
    assert cluster["cluster_id"]
    assert cluster["controller_id"] == b["broker_id"]


@pytest.mark.parametrize("api_version", [(1, 1), (2, 1), (2, 8), (3, 5)], ids=lambda v: "%d.%d" % v)
def test_pinned_older_protocol_versions(broker, admin, topic_name, api_version):
    """api_version pins the request versions kafka-python uses to those of
    an older Kafka (e.g. 1.1: Produce v5, Fetch v7, Metadata v5, ListOffsets
    v2), so the older, non-flexible encodings are exercised too."""
    create(admin, topic_name, 2)
    records = make_records(200, 2, seed=400 + api_version[0] * 10 + api_version[1], null_header_values=False)
    offsets = send_all(broker.bootstrap, topic_name, records, api_version=api_version, compression_type="gzip",
                       enable_idempotence=True)
    assert_delivered(records, offsets)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                      api_version=api_version, request_timeout_ms=TIMEOUT_MS + 10000, auto_offset_reset="none")
    try:
        tps = [TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        assert c.end_offsets(tps, timeout_ms=TIMEOUT_MS) == {tps[0]: 100, tps[1]: 100}
        got = read_n(c, len(records))
    finally:
        c.close()
    assert_roundtrip(records, offsets, got)
