"""Admin APIs against a real broker process, over the raw protocol (kio
bodies, tests/wire.py) at their lowest and highest served
versions, then through confluent_kafka's AdminClient.

CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs, DescribeCluster, InitProducerId and
OffsetForLeaderEpoch: results, Kafka's error codes and messages, and the
state afterwards (describe after alter, metadata after create/delete,
restarts for what must persist).
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)
from batchgen import batch_of
from brokerproc import free_port
from wire import connect

from fluxmq.config import TOPIC_CONFIGS

CREATE_TOPICS, DELETE_TOPICS, CREATE_PARTITIONS = 19, 20, 37
DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 32, 33, 44
DESCRIBE_CLUSTER, INIT_PRODUCER_ID, OFFSET_FOR_LEADER_EPOCH = 60, 22, 23
METADATA, PRODUCE = 3, 0
TOPIC, BROKER, BROKER_LOGGER, GROUP = 2, 4, 8, 32
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
SRC_TOPIC, SRC_STATIC, SRC_DEFAULT = 1, 4, 5
ZERO_UUID = uuid.UUID(int=0)
OP_TIMEOUT = 20.0

NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC = 0, 3, 17
INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT = 37, 38, 39
INVALID_CONFIG, INVALID_REQUEST, POLICY_VIOLATION, TOPIC_ALREADY_EXISTS = 40, 42, 44, 36
INVALID_TRANSACTION_TIMEOUT, TOPIC_DELETION_DISABLED = 50, 73
FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, UNKNOWN_TOPIC_ID = 74, 75, 100
MISMATCHED_ENDPOINT_TYPE, UNSUPPORTED_ENDPOINT_TYPE = 114, 115


@pytest.fixture
def wire(broker):
    with connect(broker) as w:
        yield w


# ------------------------------------------------------------------ helpers
def create(w, name, partitions=1, rf=-1, configs=None, version=7, validate_only=False, assignments=()):
    resp = w.request(CREATE_TOPICS, version, {
        "topics": [{"name": name, "num_partitions": partitions, "replication_factor": rf,
                    "assignments": [{"partition_index": i, "broker_ids": ids} for i, ids in assignments],
                    "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}],
        "timeout": 5000, "validate_only": validate_only})
    assert len(resp.topics) == 1
    return resp.topics[0]


def create_ok(w, name, partitions=1, **kw):
    t = create(w, name, partitions, **kw)
    assert t.error_code == NONE, (t.error_code, t.error_message)
    return t


def metadata(w, name):
    """(error code, topic id, partition count) without auto-creating."""
    resp = w.request(METADATA, 12, {"topics": [{"name": name}], "allow_auto_topic_creation": False})
    t = resp.topics[0]
    return t.error_code, t.topic_id, len(t.partitions)


def describe(w, name, version=4, rtype=TOPIC, keys=None, synonyms=False):
    resp = w.request(DESCRIBE_CONFIGS, version, {
        "resources": [{"resource_type": rtype, "resource_name": name, "configuration_keys": keys}],
        "include_synonyms": synonyms, "include_documentation": False})
    assert len(resp.results) == 1
    return resp.results[0]


def topic_configs(w, name, version=4, synonyms=False) -> dict:
    r = describe(w, name, version, synonyms=synonyms)
    assert r.error_code == NONE, (r.error_code, r.error_message)
    return {c.name: c for c in r.configs}


def alter(w, name, configs: dict, version=2, validate_only=False, rtype=TOPIC):
    resp = w.request(ALTER_CONFIGS, version, {
        "resources": [{"resource_type": rtype, "resource_name": name,
                       "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
        "validate_only": validate_only})
    assert len(resp.responses) == 1
    return resp.responses[0]


def incremental(w, name, ops, version=1, validate_only=False, rtype=TOPIC):
    """ops: [(name, operation, value)]"""
    resp = w.request(INCREMENTAL_ALTER_CONFIGS, version, {
        "resources": [{"resource_type": rtype, "resource_name": name,
                       "configs": [{"name": k, "config_operation": op, "value": v} for k, op, v in ops]}],
        "validate_only": validate_only})
    assert len(resp.responses) == 1
    return resp.responses[0]


def produce(w, topic, partition, values):
    resp = w.request(PRODUCE, 9, {"transactional_id": None, "acks": -1, "timeout": 5000, "topic_data": [
        {"name": topic, "partition_data": [{"index": partition, "records": batch_of(values)}]}]})
    p = resp.responses[0].partition_responses[0]
    assert p.error_code == NONE
    return p.base_offset


def code(x) -> int:
    return int(x.error_code)


# ------------------------------------------------------------ CreateTopics
def test_create_topics_v7_returns_topic_id_layout_and_configs(wire, topic_name):
    t = create_ok(wire, topic_name, -1, configs={"retention.ms": "123456", "cleanup.policy": "compact"})
    assert t.topic_id != ZERO_UUID
    assert t.num_partitions == 1  # num.partitions
    assert t.replication_factor == 1
    assert t.topic_config_error_code == 0
    got = {c.name: c for c in t.configs}
    assert sorted(got) == sorted(TOPIC_CONFIGS)
    assert [c.name for c in t.configs] == sorted(got)
    assert (got["retention.ms"].value, got["retention.ms"].config_source) == ("123456", SRC_TOPIC)
    assert (got["cleanup.policy"].value, got["cleanup.policy"].config_source) == ("compact", SRC_TOPIC)
    assert (got["segment.bytes"].value, got["segment.bytes"].config_source) == ("1073741824", SRC_DEFAULT)
    assert all(not c.read_only and not c.is_sensitive for c in t.configs)
    err, topic_id, n = metadata(wire, topic_name)
    assert (err, topic_id, n) == (NONE, t.topic_id, 1)


def test_create_topics_v2_and_already_exists(wire, topic_name):
    t = create_ok(wire, topic_name, 3, rf=1, version=2)
    assert t.error_message is None
    assert metadata(wire, topic_name)[2] == 3
    again = create(wire, topic_name, 3, version=2)
    assert code(again) == TOPIC_ALREADY_EXISTS
    assert again.error_message == f"Topic '{topic_name}' already exists."
    assert metadata(wire, topic_name)[2] == 3


@pytest.mark.parametrize("version", [2, 7])
def test_create_topics_validate_only_creates_nothing(wire, topic_name, version):
    t = create(wire, topic_name, 4, configs={"retention.ms": "1000"}, version=version, validate_only=True)
    assert code(t) == NONE
    if version >= 5:
        assert t.num_partitions == 4 and t.replication_factor == 1
        assert {c.name: c.value for c in t.configs}["retention.ms"] == "1000"
    assert code(describe(wire, topic_name)) == UNKNOWN_TOPIC_OR_PARTITION
    bad = create(wire, topic_name, 4, rf=2, version=version, validate_only=True)
    assert code(bad) == INVALID_REPLICATION_FACTOR
    create_ok(wire, topic_name, 2, version=version)  # the name is still free
    assert metadata(wire, topic_name)[2] == 2


@pytest.mark.parametrize("version", [2, 7])
def test_create_topics_errors(wire, topic_name, version):
    base = topic_name

    def topic(suffix, partitions=1, rf=-1, configs=(), assignments=()):
        return {"name": f"{base}-{suffix}", "num_partitions": partitions, "replication_factor": rf,
                "configs": [{"name": k, "value": v} for k, v in configs],
                "assignments": [{"partition_index": i, "broker_ids": ids} for i, ids in assignments]}

    topics = [
        topic("rf3", rf=3), topic("rf0", rf=0), topic("p0", partitions=0), topic("pneg", partitions=-5),
        topic("cfg-unknown", configs=[("no.such.config", "1")]),
        topic("cfg-bad", configs=[("retention.ms", "soon")]),
        topic("cfg-policy", configs=[("cleanup.policy", "shred")]),
        topic("cfg-null", configs=[("retention.ms", None)]),
        topic("asg-rf", partitions=-1, rf=1, assignments=[(0, [1])]),
        topic("asg-np", partitions=1, rf=-1, assignments=[(0, [1])]),
        topic("asg-broker", partitions=-1, assignments=[(0, [2])]),
        topic("asg-twice", partitions=-1, assignments=[(0, [1, 1])]),
        topic("asg-gap", partitions=-1, assignments=[(0, [1]), (2, [1])]),
        topic("asg-dup", partitions=-1, assignments=[(0, [1]), (0, [1])]),
        topic("asg-empty", partitions=-1, assignments=[(0, [])]),
        topic("dup"), topic("dup"),
        {**topic("x"), "name": "bad name!"},
        {**topic("x"), "name": "__cluster_metadata"},
        topic("ok", partitions=2),
    ]
    resp = wire.request(CREATE_TOPICS, version, {"topics": topics, "timeout": 5000})
    got = {t.name: t for t in resp.topics}
    assert len(resp.topics) == len(got) == len(topics) - 1  # the duplicate is answered once
    expected = {
        "rf3": (INVALID_REPLICATION_FACTOR, ("Unable to replicate the partition 3 time(s): The target replication "
                                             "factor of 3 cannot be reached because only 1 broker(s) are registered or some "
                                             "brokers have all their log directories cordoned.")),  # Kafka 4.4
        "rf0": (INVALID_REPLICATION_FACTOR, None), "p0": (INVALID_PARTITIONS, None), "pneg": (INVALID_PARTITIONS, None),
        "cfg-unknown": (INVALID_CONFIG, None), "cfg-bad": (INVALID_CONFIG, None),
        "cfg-policy": (INVALID_CONFIG, None),
        "cfg-null": (INVALID_CONFIG, "Null value not supported for topic configs: retention.ms"),
        "asg-rf": (INVALID_REQUEST, None), "asg-np": (INVALID_REQUEST, None),
        "asg-broker": (INVALID_REPLICA_ASSIGNMENT, ("The manual partition assignment includes broker 2, but no such "
                                                    "broker is registered.")),
        "asg-twice": (INVALID_REPLICA_ASSIGNMENT, None), "asg-gap": (INVALID_REPLICA_ASSIGNMENT, None),
        "asg-dup": (INVALID_REPLICA_ASSIGNMENT, None), "asg-empty": (INVALID_REPLICA_ASSIGNMENT, None),
        "dup": (INVALID_REQUEST, "Duplicate topic name."), "ok": (NONE, None),
    }
    for suffix, (want, message) in expected.items():
        t = got[f"{base}-{suffix}"]
        assert code(t) == want, (suffix, t)
        if want != NONE:
            assert t.error_message, suffix
        if message:
            assert t.error_message == message, suffix
        if want != NONE and version >= 5:
            assert (t.num_partitions, t.replication_factor, t.configs) == (-1, -1, ())
    assert code(got["bad name!"]) == INVALID_TOPIC
    assert code(got["__cluster_metadata"]) == INVALID_REQUEST
    for suffix, (want, _m) in expected.items():
        exists = code(describe(wire, f"{base}-{suffix}")) == NONE
        assert exists == (want == NONE), suffix


def test_create_topics_name_collision(wire, topic_name):
    create_ok(wire, f"{topic_name}.a")
    t = create(wire, f"{topic_name}_a")
    assert code(t) == INVALID_TOPIC
    assert t.error_message == f"Topic '{topic_name}_a' collides with existing topic: {topic_name}.a"


def test_create_topics_manual_assignment(wire, topic_name):
    t = create_ok(wire, topic_name, -1, assignments=[(1, [1]), (0, [1]), (2, [1])])
    assert (t.num_partitions, t.replication_factor) == (3, 1)
    assert metadata(wire, topic_name)[2] == 3


def test_create_topics_too_large_is_refused(wire, topic_name):
    t = create(wire, topic_name, 20000)
    assert code(t) == POLICY_VIOLATION
    assert code(describe(wire, topic_name)) == UNKNOWN_TOPIC_OR_PARTITION


# ------------------------------------------------------------ DeleteTopics
def test_delete_topics_v1_by_name(wire, topic_name):
    create_ok(wire, topic_name, 2)
    resp = wire.request(DELETE_TOPICS, 1, {"topic_names": [topic_name, topic_name + "-missing"], "timeout": 5000})
    got = {t.name: code(t) for t in resp.responses}
    assert got == {topic_name: NONE, topic_name + "-missing": UNKNOWN_TOPIC_OR_PARTITION}
    assert metadata(wire, topic_name)[0] == UNKNOWN_TOPIC_OR_PARTITION
    resp = wire.request(DELETE_TOPICS, 1, {"topic_names": [topic_name], "timeout": 5000})
    assert code(resp.responses[0]) == UNKNOWN_TOPIC_OR_PARTITION
    create_ok(wire, topic_name, 1)  # the name can be used again, as a new, empty topic
    assert metadata(wire, topic_name)[2] == 1


def test_delete_topics_v6_by_id_and_errors(wire, topic_name):
    by_id = create_ok(wire, topic_name + "-id")
    create_ok(wire, topic_name + "-name")
    create_ok(wire, topic_name + "-both")
    unknown_id = uuid.uuid4()
    resp = wire.request(DELETE_TOPICS, 6, {"timeout": 5000, "topics": [
        {"name": None, "topic_id": by_id.topic_id},
        {"name": topic_name + "-name", "topic_id": ZERO_UUID},
        {"name": None, "topic_id": unknown_id},
        {"name": topic_name + "-both", "topic_id": uuid.uuid4()},
        {"name": None, "topic_id": ZERO_UUID},
        {"name": topic_name + "-gone", "topic_id": ZERO_UUID},
        {"name": topic_name + "-dup", "topic_id": ZERO_UUID},
        {"name": topic_name + "-dup", "topic_id": ZERO_UUID},
    ]})
    results = [(r.name, r.topic_id or ZERO_UUID, code(r), r.error_message) for r in resp.responses]  # kio: 0 -> None
    assert (topic_name + "-id", by_id.topic_id, NONE, None) in results
    assert any(n == topic_name + "-name" and c == NONE and i != ZERO_UUID for n, i, c, _m in results)
    assert (None, unknown_id, UNKNOWN_TOPIC_ID) in [r[:3] for r in results]
    assert any(n == topic_name + "-both" and c == INVALID_REQUEST for n, _i, c, _m in results)
    assert (None, ZERO_UUID, INVALID_REQUEST, "Neither topic name nor id were specified.") in results
    assert any(n == topic_name + "-gone" and c == UNKNOWN_TOPIC_OR_PARTITION for n, _i, c, _m in results)
    assert (topic_name + "-dup", ZERO_UUID, INVALID_REQUEST, "Duplicate topic name.") in results
    assert len(results) == 7
    assert metadata(wire, topic_name + "-id")[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert metadata(wire, topic_name + "-name")[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert metadata(wire, topic_name + "-both")[0] == NONE  # the bad entry deleted nothing


def test_delete_topics_disabled(broker_factory, topic_name):
    b = broker_factory(extra_args=["--override", "delete.topic.enable=false"]).start()
    with connect(b) as w:
        create_ok(w, topic_name)
        r6 = w.request(DELETE_TOPICS, 6, {"topics": [{"name": topic_name, "topic_id": ZERO_UUID}], "timeout": 5000})
        assert code(r6.responses[0]) == TOPIC_DELETION_DISABLED
        r1 = w.request(DELETE_TOPICS, 1, {"topic_names": [topic_name], "timeout": 5000})
        assert code(r1.responses[0]) == INVALID_REQUEST
        assert metadata(w, topic_name)[0] == NONE


def test_delete_topics_survives_restart(broker_factory, topic_name):
    b = broker_factory().start()
    with connect(b) as w:
        create_ok(w, topic_name)
        create_ok(w, topic_name + "-kept", 2)
        resp = w.request(DELETE_TOPICS, 6, {"topics": [{"name": topic_name, "topic_id": ZERO_UUID}], "timeout": 5000})
        assert code(resp.responses[0]) == NONE
    b.restart()
    with connect(b) as w:
        assert metadata(w, topic_name)[0] == UNKNOWN_TOPIC_OR_PARTITION
        assert metadata(w, topic_name + "-kept")[2] == 2


# ------------------------------------------------------- CreatePartitions
@pytest.mark.parametrize("version", [0, 3])
def test_create_partitions(wire, topic_name, version):
    create_ok(wire, topic_name, 1)

    def grow(count, assignments=None, validate_only=False, name=topic_name):
        resp = wire.request(CREATE_PARTITIONS, version, {
            "topics": [{"name": name, "count": count,
                        "assignments": None if assignments is None else [{"broker_ids": a} for a in assignments]}],
            "timeout": 5000, "validate_only": validate_only})
        return resp.results[0]

    r = grow(3, validate_only=True)
    assert code(r) == NONE
    assert metadata(wire, topic_name)[2] == 1
    r = grow(3)
    assert (code(r), r.error_message) == (NONE, None)
    assert metadata(wire, topic_name)[2] == 3
    r = grow(3)
    assert (code(r), r.error_message) == (INVALID_PARTITIONS, "Topic already has 3 partition(s).")
    r = grow(2)
    assert code(r) == INVALID_PARTITIONS
    assert r.error_message == f"The topic {topic_name} currently has 3 partition(s); 2 would not be an increase."
    r = grow(5, assignments=[[1]])
    assert code(r) == INVALID_REPLICA_ASSIGNMENT
    assert r.error_message == "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."
    assert code(grow(5, assignments=[[1], [7]])) == INVALID_REPLICA_ASSIGNMENT
    assert code(grow(5, assignments=[[1], [1, 1]])) == INVALID_REPLICA_ASSIGNMENT
    assert metadata(wire, topic_name)[2] == 3
    assert code(grow(5, assignments=[[1], [1]])) == NONE
    assert metadata(wire, topic_name)[2] == 5
    assert produce(wire, topic_name, 4, [b"new partition"]) == 0
    assert code(grow(4, name=topic_name + "-missing")) == UNKNOWN_TOPIC_OR_PARTITION
    assert code(grow(100000)) == POLICY_VIOLATION
    dup = wire.request(CREATE_PARTITIONS, version,
                       {"topics": [{"name": topic_name, "count": 9, "assignments": None}] * 2,
                        "timeout": 5000, "validate_only": False})
    assert [(r.name, code(r)) for r in dup.results] == [(topic_name, INVALID_REQUEST)]
    assert metadata(wire, topic_name)[2] == 5


# -------------------------------------------------------- DescribeConfigs
@pytest.mark.parametrize("version", [1, 4])
def test_describe_topic_configs(wire, topic_name, version):
    create_ok(wire, topic_name, configs={"retention.ms": "5000"})
    got = topic_configs(wire, topic_name, version)
    assert sorted(got) == sorted(TOPIC_CONFIGS)
    r = got["retention.ms"]
    assert (r.value, r.config_source, r.read_only, r.is_sensitive, r.synonyms) == ("5000", SRC_TOPIC, False, False, ())
    d = got["max.message.bytes"]
    assert (d.value, d.config_source) == ("1048588", SRC_DEFAULT)
    assert got["preallocate"].value == "false"
    if version >= 3:
        types = {n: got[n].config_type for n in ("preallocate", "compression.type", "max.message.bytes",
                                                  "retention.ms", "min.cleanable.dirty.ratio", "cleanup.policy")}
        assert types == {"preallocate": 1, "compression.type": 2, "max.message.bytes": 3, "retention.ms": 5,
                         "min.cleanable.dirty.ratio": 6, "cleanup.policy": 7}
        assert all(c.documentation is None for c in got.values())
    with_synonyms = topic_configs(wire, topic_name, version, synonyms=True)
    assert [(s.name, s.value, s.source) for s in with_synonyms["retention.ms"].synonyms] == [
        ("retention.ms", "5000", SRC_TOPIC), ("log.retention.ms", "604800000", SRC_DEFAULT)]
    assert [(s.name, s.source) for s in with_synonyms["max.message.bytes"].synonyms] == [
        ("message.max.bytes", SRC_DEFAULT)]
    some = describe(wire, topic_name, version, keys=["retention.ms", "segment.bytes", "no.such.key"])
    assert sorted(c.name for c in some.configs) == ["retention.ms", "segment.bytes"]


@pytest.mark.parametrize("version", [1, 4])
def test_describe_configs_errors_and_broker(wire, topic_name, version):
    missing = describe(wire, topic_name, version)
    assert (code(missing), missing.error_message, missing.configs) == (UNKNOWN_TOPIC_OR_PARTITION, "", ())  # Kafka 4.4
    assert (missing.resource_type, missing.resource_name) == (TOPIC, topic_name)
    assert code(describe(wire, "bad/name", version)) == INVALID_TOPIC
    node = describe(wire, "1", version, rtype=BROKER)
    assert code(node) == NONE
    cfg = {c.name: c for c in node.configs}
    assert cfg["num.partitions"].value == "1" and cfg["num.partitions"].read_only
    assert cfg["log.retention.ms"].value == "604800000"
    assert cfg["auto.create.topics.enable"].value == "true"
    assert all(c.read_only for c in node.configs)
    assert code(describe(wire, "", version, rtype=BROKER)) == NONE
    assert describe(wire, "", version, rtype=BROKER).configs == ()
    for name in ("2", "one"):
        r = describe(wire, name, version, rtype=BROKER)
        assert code(r) == INVALID_REQUEST and r.error_message and r.configs == ()
    assert code(describe(wire, "1", version, rtype=BROKER_LOGGER)) == NONE
    assert code(describe(wire, "", version, rtype=BROKER_LOGGER)) == INVALID_REQUEST
    assert code(describe(wire, "2", version, rtype=BROKER_LOGGER)) == INVALID_REQUEST
    assert code(describe(wire, "some-group", version, rtype=GROUP)) == INVALID_REQUEST
    # An unknown resource type fails every resource of the request, as in Kafka.
    resp = wire.request(DESCRIBE_CONFIGS, version, {"resources": [
        {"resource_type": 99, "resource_name": "x", "configuration_keys": None},
        {"resource_type": BROKER, "resource_name": "1", "configuration_keys": None}], "include_synonyms": False})
    assert [code(r) for r in resp.results] == [INVALID_REQUEST, INVALID_REQUEST]


def test_describe_configs_static_broker_source(broker_factory, topic_name):
    b = broker_factory(extra_args=["--override", "log.retention.ms=3600000"]).start()
    with connect(b) as w:
        t = create_ok(w, topic_name)
        assert {c.name: (c.value, c.config_source) for c in t.configs}["retention.ms"] == ("3600000", SRC_STATIC)
        r = topic_configs(w, topic_name, synonyms=True)["retention.ms"]
        assert (r.value, r.config_source) == ("3600000", SRC_STATIC)
        assert [(s.name, s.value, s.source) for s in r.synonyms] == [
            ("log.retention.ms", "3600000", SRC_STATIC), ("log.retention.ms", "604800000", SRC_DEFAULT)]
        node = {c.name: c for c in describe(w, "1", rtype=BROKER, synonyms=True).configs}
        assert (node["log.retention.ms"].value, node["log.retention.ms"].config_source) == ("3600000", SRC_STATIC)
        assert node["num.partitions"].config_source == SRC_DEFAULT


# ----------------------------------------------------------- AlterConfigs
@pytest.mark.parametrize("version", [0, 2])
def test_alter_configs_replaces_the_override_set(wire, topic_name, version):
    create_ok(wire, topic_name, configs={"segment.ms": "100000"})
    r = alter(wire, topic_name, {"retention.ms": "5000", "cleanup.policy": "compact"}, version)
    assert (code(r), r.error_message, r.resource_type, r.resource_name) == (NONE, None, TOPIC, topic_name)
    got = topic_configs(wire, topic_name)
    assert (got["retention.ms"].value, got["retention.ms"].config_source) == ("5000", SRC_TOPIC)
    assert (got["cleanup.policy"].value, got["cleanup.policy"].config_source) == ("compact", SRC_TOPIC)
    assert (got["segment.ms"].value, got["segment.ms"].config_source) == ("604800000", SRC_DEFAULT)
    assert code(alter(wire, topic_name, {"retention.ms": "7000"}, version, validate_only=True)) == NONE
    assert topic_configs(wire, topic_name)["retention.ms"].value == "5000"
    assert code(alter(wire, topic_name, {}, version)) == NONE
    assert all(c.config_source == SRC_DEFAULT for c in topic_configs(wire, topic_name).values())


@pytest.mark.parametrize("version", [0, 2])
def test_alter_configs_errors(wire, topic_name, version):
    create_ok(wire, topic_name, configs={"retention.ms": "5000"})
    missing = alter(wire, topic_name + "-missing", {"retention.ms": "1"}, version)
    assert (code(missing), missing.error_message) == (
        UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{topic_name}-missing' does not exist.")
    assert code(alter(wire, topic_name, {"no.such.config": "1"}, version)) == INVALID_CONFIG
    bad = alter(wire, topic_name, {"retention.ms": "later"}, version)
    assert code(bad) == INVALID_CONFIG and "retention.ms" in bad.error_message
    null = alter(wire, topic_name, {"retention.ms": None}, version)
    assert (code(null), null.error_message) == (INVALID_REQUEST, "Null value not supported for : retention.ms")
    assert code(alter(wire, "", {"retention.ms": "1"}, version)) == INVALID_REQUEST
    assert code(alter(wire, "bad name", {"retention.ms": "1"}, version)) == INVALID_TOPIC
    dyn = alter(wire, "1", {"log.retention.ms": "1000"}, version, rtype=BROKER)
    assert (code(dyn), dyn.error_message) == (INVALID_REQUEST, "dynamic broker configs are not supported")
    other = alter(wire, "2", {"log.retention.ms": "1000"}, version, rtype=BROKER)
    assert (code(other), other.error_message) == (INVALID_REQUEST, "Unexpected broker id, expected 1, but received 2")
    assert code(alter(wire, "1", {}, version, rtype=BROKER)) == NONE
    assert code(alter(wire, "1", {"root": "DEBUG"}, version, rtype=BROKER_LOGGER)) == INVALID_REQUEST
    resp = wire.request(ALTER_CONFIGS, version, {"validate_only": False, "resources": [
        {"resource_type": TOPIC, "resource_name": topic_name,
         "configs": [{"name": "retention.ms", "value": "1"}, {"name": "retention.ms", "value": "2"}]},
        {"resource_type": TOPIC, "resource_name": topic_name + "-twice", "configs": []},
        {"resource_type": TOPIC, "resource_name": topic_name + "-twice", "configs": []}]})
    assert [(r.resource_name, code(r), r.error_message) for r in resp.responses] == [
        (topic_name, INVALID_REQUEST, "Error due to duplicate config keys"),
        (topic_name + "-twice", INVALID_REQUEST, "Each resource must appear at most once."),
        (topic_name + "-twice", INVALID_REQUEST, "Each resource must appear at most once.")]
    assert topic_configs(wire, topic_name)["retention.ms"].value == "5000"  # nothing changed


def test_alter_configs_survive_restart_and_apply(broker_factory, topic_name):
    b = broker_factory().start()
    with connect(b) as w:
        create_ok(w, topic_name)
        assert code(alter(w, topic_name, {"max.message.bytes": "2000"})) == NONE
        # The new limit applies to produce at once.
        resp = w.request(PRODUCE, 9, {"transactional_id": None, "acks": 1, "timeout": 5000, "topic_data": [
            {"name": topic_name, "partition_data": [{"index": 0, "records": batch_of([b"x" * 5000])}]}]})
        assert resp.responses[0].partition_responses[0].error_code == 10  # MESSAGE_TOO_LARGE
    b.restart()
    with connect(b) as w:
        got = topic_configs(w, topic_name)["max.message.bytes"]
        assert (got.value, got.config_source) == ("2000", SRC_TOPIC)


# ------------------------------------------------ IncrementalAlterConfigs
@pytest.mark.parametrize("version", [0, 1])
def test_incremental_alter_configs(wire, topic_name, version):
    create_ok(wire, topic_name, configs={"segment.ms": "100000"})
    r = incremental(wire, topic_name, [("retention.ms", SET, "9000"), ("cleanup.policy", APPEND, "compact")], version)
    assert (code(r), r.error_message) == (NONE, None)
    got = topic_configs(wire, topic_name)
    assert got["retention.ms"].value == "9000"
    assert got["segment.ms"].value == "100000"  # untouched keys stay
    assert (got["cleanup.policy"].value, got["cleanup.policy"].config_source) == ("delete,compact", SRC_TOPIC)
    assert code(incremental(wire, topic_name, [("cleanup.policy", APPEND, "compact")], version)) == NONE
    assert topic_configs(wire, topic_name)["cleanup.policy"].value == "delete,compact"
    assert code(incremental(wire, topic_name, [("cleanup.policy", SUBTRACT, "delete")], version)) == NONE
    assert topic_configs(wire, topic_name)["cleanup.policy"].value == "compact"
    r = incremental(wire, topic_name, [("segment.ms", DELETE, None), ("retention.bytes", DELETE, None)], version)
    assert code(r) == NONE
    got = topic_configs(wire, topic_name)
    assert (got["segment.ms"].value, got["segment.ms"].config_source) == ("604800000", SRC_DEFAULT)
    assert code(incremental(wire, topic_name, [("retention.ms", SET, "1")], version, validate_only=True)) == NONE
    assert topic_configs(wire, topic_name)["retention.ms"].value == "9000"


@pytest.mark.parametrize("version", [0, 1])
def test_incremental_alter_configs_errors(wire, topic_name, version):
    create_ok(wire, topic_name, configs={"retention.ms": "5000"})
    r = incremental(wire, topic_name, [("segment.ms", SET, "200000"), ("retention.ms", APPEND, "1")], version)
    assert (code(r), r.error_message) == (INVALID_CONFIG, "Can't APPEND to key retention.ms because its type is not LIST.")
    assert topic_configs(wire, topic_name)["segment.ms"].config_source == SRC_DEFAULT  # all or nothing
    assert code(incremental(wire, topic_name, [("cleanup.policy", SET, "shred")], version)) == INVALID_CONFIG
    assert code(incremental(wire, topic_name, [("no.such", SET, "1")], version)) == INVALID_CONFIG
    null = incremental(wire, topic_name, [("retention.ms", SET, None)], version)
    assert (code(null), null.error_message) == (INVALID_REQUEST, "Null value not supported for : retention.ms")
    assert code(incremental(wire, topic_name, [("retention.ms", 9, "1")], version)) == INVALID_REQUEST
    missing = incremental(wire, topic_name + "-missing", [("retention.ms", SET, "1")], version)
    assert code(missing) == UNKNOWN_TOPIC_OR_PARTITION
    dyn = incremental(wire, "1", [("log.retention.ms", SET, "1000")], version, rtype=BROKER)
    assert (code(dyn), dyn.error_message) == (INVALID_REQUEST, "dynamic broker configs are not supported")
    assert code(incremental(wire, "x", [("log.retention.ms", SET, "1")], version, rtype=BROKER)) == INVALID_REQUEST
    assert code(incremental(wire, "1", [("root", SET, "DEBUG")], version, rtype=BROKER_LOGGER)) == INVALID_REQUEST
    assert topic_configs(wire, topic_name)["retention.ms"].value == "5000"


# --------------------------------------------------------- DescribeCluster
@pytest.mark.parametrize("version", [0, 1, 2])
def test_describe_cluster(wire, broker, version):
    body = {"include_cluster_authorized_operations": True}
    if version >= 2:
        body["include_fenced_brokers"] = True
    r = wire.request(DESCRIBE_CLUSTER, version, body)
    assert (code(r), r.error_message) == (NONE, None)
    meta = wire.request(METADATA, 12, {"topics": [], "allow_auto_topic_creation": False})
    assert r.cluster_id == meta.cluster_id and r.cluster_id
    assert r.controller_id == 1
    assert [(b.broker_id, b.host, b.port, b.rack) for b in r.brokers] == [(1, broker.host, broker.port, None)]
    if version >= 2:
        assert r.brokers[0].is_fenced is False
    # Without an authorizer Kafka reports every cluster operation: CREATE, ALTER, DESCRIBE,
    # CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE (AclOperation codes as bits).
    assert r.cluster_authorized_operations == sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))
    if version >= 1:
        assert r.endpoint_type == 1
        wrong = wire.request(DESCRIBE_CLUSTER, version, {"endpoint_type": 2})
        assert code(wrong) == MISMATCHED_ENDPOINT_TYPE and wrong.brokers == () and wrong.controller_id == -1
        assert code(wire.request(DESCRIBE_CLUSTER, version, {"endpoint_type": 7})) == UNSUPPORTED_ENDPOINT_TYPE


def test_describe_cluster_answers_the_advertised_endpoint(broker_factory):
    """With advertised.listeners on another host and port than the bind address,
    DescribeCluster and Metadata both answer the advertised endpoint."""
    advertised = free_port()
    b = broker_factory(["--override", f"advertised.listeners=PLAINTEXT://localhost:{advertised}"]).start()
    with connect(b) as w:
        for version in (0, 2):
            r = w.request(DESCRIBE_CLUSTER, version, {"include_cluster_authorized_operations": False})
            assert [(x.host, x.port) for x in r.brokers] == [("localhost", advertised)]
        meta = w.request(METADATA, 12, {"topics": [], "allow_auto_topic_creation": False})
        assert [(x.host, x.port) for x in meta.brokers] == [("localhost", advertised)]


# ---------------------------------------------------------- InitProducerId
def init_pid(w, version, transactional_id=None, timeout=60000, pid=-1, epoch=-1):
    body = {"transactional_id": transactional_id, "transaction_timeout": timeout}
    if version >= 3:
        body.update(producer_id=pid, producer_epoch=epoch)
    return w.request(INIT_PRODUCER_ID, version, body)


@pytest.mark.parametrize("version", [0, 5])
def test_init_producer_id(wire, version):
    a, b = init_pid(wire, version), init_pid(wire, version)
    assert (code(a), a.producer_epoch, code(b), b.producer_epoch) == (NONE, 0, NONE, 0)
    assert 0 <= a.producer_id < b.producer_id
    if version >= 3:
        # Kafka gives an idempotent producer a new id even when it names its old one.
        c = init_pid(wire, version, pid=b.producer_id, epoch=0)
        assert (code(c), c.producer_epoch) == (NONE, 0) and c.producer_id > b.producer_id
        half = init_pid(wire, version, pid=-1, epoch=3)
        assert (code(half), half.producer_id, half.producer_epoch) == (INVALID_REQUEST, -1, -1)
    assert code(init_pid(wire, version, transactional_id="")) == INVALID_REQUEST
    assert code(init_pid(wire, version, transactional_id="tx", timeout=0)) == INVALID_TRANSACTION_TIMEOUT
    assert code(init_pid(wire, version, transactional_id="tx", timeout=900001)) == INVALID_TRANSACTION_TIMEOUT
    # A transactional id keeps its producer id; each InitProducerId bumps the epoch.
    txn_id = f"tx-{uuid.uuid4()}"
    tx = init_pid(wire, version, transactional_id=txn_id)
    again = init_pid(wire, version, transactional_id=txn_id)
    assert (code(tx), tx.producer_epoch, code(again), again.producer_epoch) == (NONE, 0, NONE, 1)
    assert again.producer_id == tx.producer_id >= 0


def test_producer_ids_unique_across_restarts(broker_factory, topic_name):
    b = broker_factory().start()
    with connect(b) as w:
        first = init_pid(w, 5).producer_id
        create_ok(w, topic_name)
        # An idempotent batch so the id is also in a partition log.
        resp = w.request(PRODUCE, 9, {"transactional_id": None, "acks": -1, "timeout": 5000, "topic_data": [
            {"name": topic_name, "partition_data": [
                {"index": 0, "records": batch_of([b"v"], producer_id=first, producer_epoch=0,
                                                     base_sequence=0)}]}]})
        assert resp.responses[0].partition_responses[0].error_code == NONE
    b.restart()
    with connect(b) as w:
        second = init_pid(w, 5).producer_id
    assert second > first
    b.kill()
    b.start()
    with connect(b) as w:
        third = init_pid(w, 0).producer_id
    assert third > second
    b.stop()
    (b.data_dir / "producer-id-block").write_text("garbage")
    b.start()
    with connect(b) as w:
        fourth = init_pid(w, 5).producer_id
    assert fourth > first  # above every id in the logs
    assert "producer-id-block is unreadable" in b.log_text()


# ---------------------------------------------------- OffsetForLeaderEpoch
@pytest.mark.parametrize("version", [2, 4])
def test_offset_for_leader_epoch(wire, topic_name, version):
    create_ok(wire, topic_name, 2)
    assert produce(wire, topic_name, 0, [b"a", b"b", b"c"]) == 0

    def ask(leader_epoch, current=0, partition=0, topic=topic_name, replica_id=-1):
        body = {"topics": [{"topic": topic, "partitions": [
            {"partition": partition, "current_leader_epoch": current, "leader_epoch": leader_epoch}]}]}
        if version >= 3:
            body["replica_id"] = replica_id
        p = wire.request(OFFSET_FOR_LEADER_EPOCH, version, body).topics[0].partitions[0]
        assert p.partition == partition
        return code(p), p.leader_epoch, p.end_offset

    assert ask(0) == (NONE, 0, 3)
    assert ask(0, partition=1) == (NONE, 0, 0)
    assert ask(0, current=-1) == (NONE, 0, 3)
    assert ask(5) == (NONE, -1, -1)  # newer than any epoch
    assert ask(-1) == (NONE, -1, -1)
    assert ask(0, current=1) == (UNKNOWN_LEADER_EPOCH, -1, -1)
    assert ask(0, current=-2) == (FENCED_LEADER_EPOCH, -1, -1)
    assert ask(0, partition=7) == (UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
    assert ask(0, topic=topic_name + "-missing") == (UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
    if version >= 3:
        assert ask(0, replica_id=1) == (NONE, 0, 3)  # a follower is answered the same way
    assert produce(wire, topic_name, 0, [b"d"]) == 3
    assert ask(0) == (NONE, 0, 4)


# ----------------------------------------------------- confluent_kafka Admin
def _result(futures: dict):
    return {k: f.result(timeout=OP_TIMEOUT) for k, f in futures.items()}


def test_confluent_admin_client(broker, topic_name):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    # validate_only, then a real create with a config
    _result(admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1)],
                                validate_only=True, operation_timeout=10))
    assert topic_name not in admin.list_topics(timeout=OP_TIMEOUT).topics
    _result(admin.create_topics([NewTopic(topic_name, num_partitions=2, replication_factor=1,
                                          config={"retention.ms": "86400000"})], operation_timeout=10))
    with pytest.raises(KafkaException) as exc:
        _result(admin.create_topics([NewTopic(topic_name + "-rf", num_partitions=1, replication_factor=3)]))
    assert exc.value.args[0].code() == INVALID_REPLICATION_FACTOR
    with pytest.raises(KafkaException) as exc:
        _result(admin.create_topics([NewTopic(topic_name, num_partitions=1, replication_factor=1)]))
    assert exc.value.args[0].code() == TOPIC_ALREADY_EXISTS

    resource = ConfigResource("TOPIC", topic_name)
    entries = _result(admin.describe_configs([resource]))[resource]
    assert set(entries) == set(TOPIC_CONFIGS)
    assert entries["retention.ms"].value == "86400000"
    assert entries["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert entries["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
    assert entries["segment.bytes"].is_default and not entries["retention.ms"].is_default

    alter_resource = ConfigResource("TOPIC", topic_name, incremental_configs=[
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("segment.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    _result(admin.incremental_alter_configs([alter_resource]))
    entries = _result(admin.describe_configs([resource]))[resource]
    assert entries["cleanup.policy"].value == "delete,compact"
    assert entries["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert entries["segment.ms"].value == "3600000"

    broker_resource = ConfigResource("BROKER", "1")
    broker_entries = _result(admin.describe_configs([broker_resource]))[broker_resource]
    assert broker_entries["num.partitions"].value == "1" and broker_entries["num.partitions"].is_read_only

    _result(admin.create_partitions([NewPartitions(topic_name, 4)], operation_timeout=10))
    assert len(admin.list_topics(topic_name, timeout=OP_TIMEOUT).topics[topic_name].partitions) == 4
    with pytest.raises(KafkaException) as exc:
        _result(admin.create_partitions([NewPartitions(topic_name, 3)]))
    assert exc.value.args[0].code() == INVALID_PARTITIONS

    cluster = admin.describe_cluster(request_timeout=OP_TIMEOUT).result(timeout=OP_TIMEOUT)
    assert [(n.id, n.port) for n in cluster.nodes] == [(1, broker.port)]
    assert cluster.controller.id == 1 and cluster.cluster_id

    _result(admin.delete_topics([topic_name], operation_timeout=10))
    with pytest.raises(KafkaException) as exc:
        _result(admin.delete_topics([topic_name + "-missing"]))
    assert exc.value.args[0].code() == UNKNOWN_TOPIC_OR_PARTITION
    with connect(broker) as w:
        assert metadata(w, topic_name)[0] == UNKNOWN_TOPIC_OR_PARTITION
