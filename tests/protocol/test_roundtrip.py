"""Every served (API, version) of the handler registry, over the raw
protocol: a minimal valid request gets a response with the request's
correlation id, the right response header (v1 with tagged fields for
flexible versions, v0 for ApiVersions), and a body that kio decodes exactly,
with no error anywhere in it. Then the version edges (DESIGN rules 1 and 2):
ApiVersions v0-v5 (with v3's software-name and v5's cluster-id checks) and the v0 UNSUPPORTED_VERSION answer to anything newer,
Produce v0-v2 answered with UNSUPPORTED_VERSION per partition, and a closed
connection for other versions outside the advertised ranges.
"""

from __future__ import annotations

import dataclasses
import struct
import uuid

import pytest
from batchgen import batch_of
from kio.serial import entity_reader
from wire import CLIENT_ID, connect

from fluxmq.handlers import load_all
from fluxmq.protocol import codec
from fluxmq.tools.client import KafkaWireClient, request_header

REGISTRY = load_all()
SERVED = [(key, v) for key, h in sorted(REGISTRY.items()) for v in range(h.min_served, h.max_version + 1)]
API_VERSIONS = 18
PRODUCE = 0
UNSUPPORTED_VERSION = 35
INVALID_REQUEST = 42
REBOOTSTRAP_REQUIRED = 129


@pytest.fixture(scope="module")
def topic(broker):
    """A topic with 2 partitions and one record, for the requests that name one."""
    name = "rt-" + uuid.uuid4().hex[:10]
    with connect(broker) as w:
        r = w.request(19, 7, {"topics": [{"name": name, "num_partitions": 2, "replication_factor": 1}],
                           "timeout": 5000})
        assert r.topics[0].error_code == 0
        w.request(0, 9, {"acks": -1, "timeout": 5000, "topic_data": [
            {"name": name, "partition_data": [{"index": 0, "records": batch_of([b"hello"])}]}]})
        return name, r.topics[0].topic_id


def _fresh(base: str, version: int, what: str) -> str:
    return f"{base}-{what}-v{version}-{uuid.uuid4().hex[:6]}"


def minimal_request(w: KafkaWireClient, key: int, version: int, topic: tuple[str, uuid.UUID]) -> dict:
    """A small valid request of this API; admin APIs act on topics of their own."""
    name, topic_id = topic
    if key == 0:  # Produce
        return {"acks": 1, "timeout": 5000, "transactional_id": None, "topic_data": [
            {"name": name, "topic_id": topic_id, "partition_data": [{"index": 1, "records": batch_of([b"v"])}]}]}
    if key == 1:  # Fetch
        return {"replica_id": -1, "max_wait": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
                "session_id": 0, "session_epoch": -1, "rack_id": "", "topics": [
                    {"topic": name, "topic_id": topic_id, "partitions": [
                        {"partition": 0, "current_leader_epoch": -1, "fetch_offset": 0, "log_start_offset": -1,
                         "partition_max_bytes": 1 << 20, "last_fetched_epoch": -1}]}]}
    if key == 2:  # ListOffsets
        return {"replica_id": -1, "isolation_level": 0, "topics": [
            {"name": name, "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]}
    if key == 3:  # Metadata
        return {"topics": [{"name": name}], "allow_auto_topic_creation": False}
    if key == API_VERSIONS:
        return {"client_software_name": "fluxmq-tests", "client_software_version": "1.0"}
    if key == 19:  # CreateTopics
        return {"topics": [{"name": _fresh(name, version, "create"), "num_partitions": 1, "replication_factor": -1}],
                "timeout": 5000}
    if key == 20:  # DeleteTopics: a topic of its own
        doomed = _fresh(name, version, "delete")
        assert w.request(19, 7, {"topics": [{"name": doomed, "num_partitions": 1, "replication_factor": 1}],
                              "timeout": 5000}).topics[0].error_code == 0
        return {"topic_names": [doomed], "topics": [{"name": doomed}], "timeout": 5000}
    if key == 37:  # CreatePartitions
        grown = _fresh(name, version, "grow")
        assert w.request(19, 7, {"topics": [{"name": grown, "num_partitions": 1, "replication_factor": 1}],
                              "timeout": 5000}).topics[0].error_code == 0
        return {"topics": [{"name": grown, "count": 2, "assignments": None}], "timeout": 5000}
    if key == 32:  # DescribeConfigs
        return {"resources": [{"resource_type": 2, "resource_name": name, "configuration_keys": None}]}
    if key == 33:  # AlterConfigs
        return {"resources": [{"resource_type": 2, "resource_name": name,
                               "configs": [{"name": "retention.ms", "value": "604800000"}]}]}
    if key == 44:  # IncrementalAlterConfigs
        return {"resources": [{"resource_type": 2, "resource_name": name,
                               "configs": [{"name": "retention.ms", "config_operation": 0, "value": "604800000"}]}]}
    if key == 22:  # InitProducerId
        return {"transactional_id": None, "transaction_timeout": 60000, "producer_id": -1, "producer_epoch": -1}
    if key == 23:  # OffsetForLeaderEpoch
        return {"replica_id": -1, "topics": [
            {"topic": name, "partitions": [{"partition": 0, "current_leader_epoch": -1, "leader_epoch": 0}]}]}
    if key in (68, 69):  # ConsumerGroupHeartbeat: a join; ConsumerGroupDescribe: a group one joined
        join = {"group_id": _fresh(name, version, "cg"), "member_id": uuid.uuid4().hex, "member_epoch": 0,
                "rebalance_timeout": 30000, "subscribed_topic_names": [name], "topic_partitions": []}
        if key == 68:
            return join
        assert w.request(68, 1, join).error_code == 0
        return {"group_ids": [join["group_id"]], "include_authorized_operations": False}
    if key in GROUP_APIS:
        return group_request(w, key, version, name)
    if key == 60:  # DescribeCluster
        return {}
    if key == 17:  # SaslHandshake: on a PLAINTEXT listener, ILLEGAL_SASL_STATE
        return {"mechanism": "PLAIN"}
    if key == 36:  # SaslAuthenticate: likewise
        return {"auth_bytes": b"\0user\0password"}
    if key == 50:  # DescribeUserScramCredentials: every user (none)
        return {"users": None}
    if key == 21:  # DeleteRecords: up to the high watermark of a topic of its own
        target = _fresh(name, version, "trim")
        assert w.request(19, 7, {"topics": [{"name": target, "num_partitions": 1, "replication_factor": 1}],
                              "timeout": 5000}).topics[0].error_code == 0
        return {"topics": [{"name": target, "partitions": [{"partition_index": 0, "offset": -1}]}], "timeout": 5000}
    if key == 35:  # DescribeLogDirs: the shared topic's partitions
        return {"topics": [{"topic": name, "partitions": [0, 1]}]}
    if key == 75:  # DescribeTopicPartitions: the shared topic
        return {"topics": [{"name": name}], "response_partition_limit": 2000, "cursor": None}
    if key == 48:  # DescribeClientQuotas: every user's (none)
        return {"components": [{"entity_type": "user", "match_type": 2, "match": None}], "strict": False}
    if key == 51:  # AlterUserScramCredentials: a credential of its own
        return {"deletions": [], "upsertions": [{"name": _fresh("user", version, "scram"), "mechanism": 1,
                                                 "iterations": 4096, "salt": b"salt", "salted_password": b"x" * 32}]}
    if key in (24, 25, 26, 27, 28, 65):  # the transaction APIs: a transaction of its own
        return txn_request(w, key, version, name)
    if key == 61:  # DescribeProducers: the shared topic's partition 0
        return {"topics": [{"name": name, "partition_indexes": [0]}]}
    if key == 66:  # ListTransactions: every transaction
        return {"state_filters": [], "producer_id_filters": [], "duration_filter": -1,
                "transactional_id_pattern": None}
    acl_filter = {"resource_type_filter": 1, "resource_name_filter": None, "pattern_type_filter": 1,
                  "principal_filter": None, "host_filter": None, "operation": 1, "permission_type": 1}
    if key == 29:  # DescribeAcls: every ACL (SECURITY_DISABLED without an authorizer)
        return acl_filter
    if key == 30:  # CreateAcls: one binding (likewise)
        return {"creations": [{"resource_type": 2, "resource_name": name, "resource_pattern_type": 3,
                               "principal": "User:alice", "host": "*", "operation": 3, "permission_type": 3}]}
    if key == 31:  # DeleteAcls: every ACL (likewise)
        return {"filters": [acl_filter]}
    raise AssertionError(f"no minimal request for API key {key}: add one when registering a handler")


# ------------------------------------------------------------ transactions
def txn_request(w: KafkaWireClient, key: int, version: int, topic: str) -> dict:
    """AddPartitionsToTxn, AddOffsetsToTxn, EndTxn or TxnOffsetCommit for a
    fresh transactional producer, after the requests each needs first."""
    txn_id, group = _fresh(topic, version, "txn"), _fresh(topic, version, "txn-group")
    topic = _fresh(topic, version, "txn-topic")  # its markers stay out of the shared topic
    assert w.request(19, 7, {"topics": [{"name": topic, "num_partitions": 1, "replication_factor": 1}],
                          "timeout": 5000}).topics[0].error_code == 0
    assert w.request(10, 4, {"key_type": 1, "coordinator_keys": [txn_id]}).coordinators[0].error_code == 0
    init = w.request(22, 5, {"transactional_id": txn_id, "transaction_timeout": 60000, "producer_id": -1,
                             "producer_epoch": -1})
    assert init.error_code == 0
    producer = {"transactional_id": txn_id, "producer_id": init.producer_id, "producer_epoch": init.producer_epoch}
    add = {"v3_and_below_transactional_id": txn_id, "v3_and_below_producer_id": init.producer_id,
           "v3_and_below_producer_epoch": init.producer_epoch,
           "v3_and_below_topics": [{"name": topic, "partitions": [0]}]}
    if key == 24:
        if version <= 3:
            return add
        return {"transactions": [{**producer, "verify_only": False, "topics": [{"name": topic, "partitions": [0]}]}]}
    offsets = {**producer, "group_id": group}
    if key == 25:
        return offsets
    if key == 65:  # an ongoing transaction: kio cannot read the start time -1 of an empty one
        assert w.request(24, 3, add).results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == 0
        return {"transactional_ids": [txn_id]}
    if key == 27:  # an ABORT marker for the fresh producer, as Admin.abortTransaction sends it
        return {"markers": [{"producer_id": init.producer_id, "producer_epoch": init.producer_epoch,
                             "transaction_result": False, "coordinator_epoch": 0,
                             "transaction_version": 1, "topics": [{"name": topic, "partition_indexes": [0]}]}]}
    if key == 26:
        assert w.request(24, 3, add).results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == 0
        return {**producer, "committed": True}
    assert w.request(25, 3, offsets).error_code == 0
    return {**offsets, "generation_id": -1, "member_id": "", "group_instance_id": None, "topics": [
        {"name": topic, "partitions": [{"partition_index": 0, "committed_offset": 1, "committed_leader_epoch": -1,
                                        "committed_metadata": ""}]}]}


# ------------------------------------------------------------ classic groups
GROUP_APIS = {8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47}
_STABLE: dict = {}  # topic -> (group id, generation, follower id): one group shared by the group requests


def _subscription(topic: str) -> bytes:
    """ConsumerProtocolSubscription v0: version, topics, user data (null)."""
    return struct.pack(">hih", 0, 1, len(topic)) + topic.encode() + struct.pack(">i", -1)


def _join_body(group: str, topic: str, member_id: str = "") -> dict:
    return {"group_id": group, "session_timeout": 300000, "rebalance_timeout": 300000, "member_id": member_id,
            "group_instance_id": None, "protocol_type": "consumer", "reason": None,
            "protocols": [{"name": "range", "metadata": _subscription(topic)}]}


def _stable_group(w: KafkaWireClient, topic: str) -> tuple[str, int, str]:
    """A Stable classic group with a leader and a follower (long sessions):
    the follower's JoinGroup, SyncGroup and Heartbeat are then answered at
    once with no error, at every version."""
    if topic not in _STABLE:
        group = f"{topic}-stable-{uuid.uuid4().hex[:6]}"
        host, port = w.sock.getpeername()[:2]
        ws = [connect(f"{host}:{port}", timeout=30.0) for _ in range(2)]  # two members, joining together
        try:
            cids = [m.send(11, 3, _join_body(group, topic)) for m in ws]  # v3: no MEMBER_ID_REQUIRED
            joins = [m.receive(11, 3, cid) for m, cid in zip(ws, cids)]
            assert all(j.error_code == 0 for j in joins), joins
            leader = joins[0].leader
            follower = next(j.member_id for j in joins if j.member_id != leader)
            generation = joins[0].generation_id
            lead_w = ws[0] if joins[0].member_id == leader else ws[1]
            assert lead_w.request(14, 3, {"group_id": group, "generation_id": generation, "member_id": leader,
                                       "group_instance_id": None, "assignments": [
                                           {"member_id": leader, "assignment": b"L"},
                                           {"member_id": follower, "assignment": b"F"}]}).error_code == 0
        finally:
            for m in ws:
                m.close()
        _STABLE[topic] = (group, generation, follower)
    return _STABLE[topic]


def group_request(w: KafkaWireClient, key: int, version: int, topic: str) -> dict:
    if key == 10:  # FindCoordinator
        return {"key": "g", "key_type": 0, "coordinator_keys": ["g", "h"]}
    by_id = {"name": topic}
    if key in (8, 9) and version >= 10:  # OffsetCommit/OffsetFetch v10 name topics by id (KIP-848)
        by_id = {"topic_id": w.request(3, 12, {"topics": [{"name": topic, "topic_id": None}],
                                               "allow_auto_topic_creation": False}).topics[0].topic_id}
    if key == 8:  # OffsetCommit: a simple group (generation -1)
        return {"group_id": _fresh(topic, version, "commit"), "generation_id_or_member_epoch": -1, "member_id": "",
                "group_instance_id": None, "retention_time": -1, "topics": [{**by_id, "partitions": [
                    {"partition_index": 0, "committed_offset": 1, "committed_leader_epoch": -1,
                     "committed_metadata": "m"}]}]}
    if key == 9:  # OffsetFetch
        topics = [{**by_id, "partition_indexes": [0, 1]}]
        if version >= 8:
            return {"groups": [{"group_id": "a", "member_id": None, "member_epoch": -1, "topics": topics},
                               {"group_id": "b", "member_id": None, "member_epoch": -1, "topics": None}],
                    "require_stable": True}
        return {"group_id": "a", "topics": topics, "require_stable": True}
    if key in (42, 47):  # DeleteGroups / OffsetDelete: a simple group of their own
        group = _fresh(topic, version, "del")
        commit = group_request(w, 8, 9, topic)
        commit["group_id"] = group
        assert w.request(8, 9, commit).topics[0].partitions[0].error_code == 0
        if key == 42:
            return {"groups_names": [group]}
        return {"group_id": group, "topics": [{"name": topic, "partitions": [{"partition_index": 0}]}]}
    if key == 13:  # LeaveGroup: a pending member (JoinGroup v4+ handed out an id)
        group = _fresh(topic, version, "leave")
        pending = w.request(11, 4, _join_body(group, topic)).member_id
        return {"group_id": group, "member_id": pending,
                "members": [{"member_id": pending, "group_instance_id": None, "reason": "done"}]}
    if key == 16:  # ListGroups
        return {"states_filter": ["Stable", "empty"], "types_filter": ["classic"]}
    group, generation, follower = _stable_group(w, topic)
    if key == 11:  # JoinGroup: the follower rejoins with the same metadata, answered at once
        return _join_body(group, topic, follower)
    if key == 14:  # SyncGroup
        return {"group_id": group, "generation_id": generation, "member_id": follower, "group_instance_id": None,
                "protocol_type": "consumer", "protocol_name": "range", "assignments": []}
    if key == 12:  # Heartbeat
        return {"group_id": group, "generation_id": generation, "member_id": follower, "group_instance_id": None}
    if key == 15:  # DescribeGroups
        return {"groups": [group], "include_authorized_operations": False}
    raise AssertionError(key)


# The minimal request's right answer is an error: the SASL APIs on a PLAINTEXT
# listener get ILLEGAL_SASL_STATE, as from Kafka's KafkaApis.
# SASL APIs on a PLAINTEXT listener: ILLEGAL_SASL_STATE; ACL APIs without an authorizer: SECURITY_DISABLED.
EXPECTED_ERRORS = {17: [("error_code", 34)], 36: [("error_code", 34)], 29: [("error_code", 54)],
                   30: [("results[0].error_code", 54)], 31: [("filter_results[0].error_code", 54)]}


def error_codes(entity, path="") -> list[tuple[str, int]]:
    """Every error code anywhere in a decoded response, with its path."""
    out = []
    for f in dataclasses.fields(entity):
        v = getattr(entity, f.name)
        if f.metadata.get("kafka_type") == "error_code":
            out.append((path + f.name, int(v)))
        elif dataclasses.is_dataclass(v):
            out.extend(error_codes(v, f"{path}{f.name}."))
        elif isinstance(v, tuple):
            for i, x in enumerate(v):
                if dataclasses.is_dataclass(x):
                    out.extend(error_codes(x, f"{path}{f.name}[{i}]."))
    return out


@pytest.mark.parametrize("key,version", SERVED, ids=[f"{REGISTRY[k].name}-v{v}" for k, v in SERVED])
def test_every_served_version_round_trips(broker, topic, key, version):
    with connect(broker) as w:
        body = minimal_request(w, key, version, topic)
        cid = w.send(key, version, body, correlation_id=0x5EED0000 + key * 100 + version)
        resp = w.receive(key, version, cid)  # checks the correlation id and exact decoding
        assert type(resp).__name__.endswith("Response")
        errors = [e for e in error_codes(resp) if e[1] != 0]
        assert errors == EXPECTED_ERRORS.get(key, []), f"{REGISTRY[key].name} v{version}: {errors}"
        # The connection stays usable: a second request on it is answered too.
        again = w.request(API_VERSIONS, 0, {})
        assert int(again.error_code) == 0


def test_registry_matches_api_versions(broker):
    with connect(broker) as w:
        resp = w.request(API_VERSIONS, 4, minimal_request(w, API_VERSIONS, 4, ("x", None)))
    advertised = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    assert advertised == {k: (h.min_version, h.max_version) for k, h in REGISTRY.items()}


# ------------------------------------------------------------ ApiVersions
@pytest.mark.parametrize("version", [0, 1, 2, 3, 4, 5])
def test_api_versions_supported(broker, version):
    with connect(broker) as w:
        cid = w.send(API_VERSIONS, version, minimal_request(w, API_VERSIONS, version, ("x", None)))
        frame = w.recv_frame()
    assert struct.unpack_from(">i", frame, 0)[0] == cid
    # Header v0 even for flexible v3+: the body (error code first) starts right after the correlation id.
    assert struct.unpack_from(">h", frame, 4)[0] == 0
    entity, size = entity_reader(codec.response_class(API_VERSIONS, version))(frame, 4)
    assert 4 + size == len(frame)
    keys = {k.api_key: (k.min_version, k.max_version) for k in entity.api_keys}
    assert keys[API_VERSIONS] == (0, 5)  # Kafka 4.4's range
    assert keys[PRODUCE][0] == 0  # DESIGN rule 2: Produce is advertised from v0


@pytest.mark.parametrize("version", [6, 127])
def test_api_versions_unsupported_version_gets_v0_error_body(broker, version):
    with connect(broker) as w:
        body = codec.encode_request(API_VERSIONS, 4, minimal_request(w, API_VERSIONS, 4, ("x", None)))
        w.send_frame(request_header(API_VERSIONS, version, 4242, CLIENT_ID, True) + body)
        frame = w.recv_frame()
        # v0 response: header v0 (no tagged fields), body error_code + api_keys only.
        assert struct.unpack_from(">ih", frame, 0) == (4242, UNSUPPORTED_VERSION)
        entity, size = entity_reader(codec.response_class(API_VERSIONS, 0))(frame, 4)
        assert 4 + size == len(frame)
        keys = {k.api_key: (k.min_version, k.max_version) for k in entity.api_keys}
        assert keys == {k: (h.min_version, h.max_version) for k, h in REGISTRY.items()}
        # The client may retry on the same connection with a version we know.
        assert int(w.request(API_VERSIONS, 3, minimal_request(w, API_VERSIONS, 3, ("x", None))).error_code) == 0


@pytest.mark.parametrize("name,version", [("-leading-dash", "1.0"), ("fluxmq tests", "1.0"), ("fluxmq", ""),
                                          ("fluxmq", "1.0-")])
def test_api_versions_invalid_software_name_is_invalid_request(broker, name, version):
    """KIP-511 (checked against Kafka 4.4): v3+ client software names and versions match
    [a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?; otherwise INVALID_REQUEST and no API list."""
    with connect(broker) as w:
        resp = w.request(API_VERSIONS, 3, {"client_software_name": name, "client_software_version": version})
        assert int(resp.error_code) == INVALID_REQUEST and resp.api_keys == ()
        assert int(w.request(API_VERSIONS, 3, minimal_request(w, API_VERSIONS, 3, ("x", None))).error_code) == 0


def _cluster_id(w: KafkaWireClient) -> str:
    return w.request(3, 12, {"topics": [], "allow_auto_topic_creation": False}).cluster_id


def test_api_versions_v5_cluster_and_node_id(broker):
    """KIP-1242, as Kafka 4.4 answers: this cluster and node (or neither) is served; another
    cluster id or node id is REBOOTSTRAP_REQUIRED with no API list; one without the other
    is INVALID_REQUEST."""
    def ask(w, cluster_id, node_id):
        body = {**minimal_request(w, API_VERSIONS, 5, ("x", None)), "cluster_id": cluster_id, "node_id": node_id}
        return w.request(API_VERSIONS, 5, body)

    with connect(broker) as w:
        cluster_id = _cluster_id(w)
        node_id = w.request(3, 12, {"topics": [], "allow_auto_topic_creation": False}).brokers[0].node_id
        ok = ask(w, cluster_id, node_id)
        assert int(ok.error_code) == 0 and ok.api_keys
        assert int(ask(w, None, -1).error_code) == 0
        for cid, nid in ((cluster_id + "x", node_id), (cluster_id, node_id + 1), ("other", node_id)):
            resp = ask(w, cid, nid)
            assert (int(resp.error_code), resp.api_keys) == (REBOOTSTRAP_REQUIRED, ())
        for cid, nid in ((cluster_id, -1), (None, node_id)):
            assert int(ask(w, cid, nid).error_code) == INVALID_REQUEST


# ------------------------------------------------------------ Produce v0-v2
def _legacy_produce(version: int, topics: list[tuple[str, list[int]]]) -> bytes:
    """Produce v0-v2 body: acks int16 | timeout int32 | [topic string | [partition int32 | message_set bytes]]."""
    out = struct.pack(">hii", 1, 5000, len(topics))
    for name, partitions in topics:
        raw = name.encode()
        out += struct.pack(">h", len(raw)) + raw + struct.pack(">i", len(partitions))
        for p in partitions:
            message_set = b"\x00" * 8 + struct.pack(">i", 14) + b"\x00" * 14  # an opaque magic 0/1 message set
            out += struct.pack(">ii", p, len(message_set)) + message_set
    return out


@pytest.mark.parametrize("version", [0, 1, 2])
def test_produce_v0_v2_unsupported_version_per_partition(broker, topic, version):
    name = topic[0]
    asked = [(name, [0, 1]), (name + "-other", [3])]
    with connect(broker) as w:
        w.send_frame(request_header(PRODUCE, version, 777, CLIENT_ID, False) + _legacy_produce(version, asked))
        frame = w.recv_frame()
        # Response v0-2: correlation id | [topic | [partition int32 | error int16 | base_offset int64
        #                | log_append_time int64 (v2)]] | throttle_time int32 (v1+)
        (cid, n_topics), pos = struct.unpack_from(">ii", frame, 0), 8
        assert (cid, n_topics) == (777, 2)
        for want_name, want_parts in asked:
            (ln,) = struct.unpack_from(">h", frame, pos)
            assert frame[pos + 2:pos + 2 + ln].decode() == want_name
            pos += 2 + ln
            (n_parts,) = struct.unpack_from(">i", frame, pos)
            pos += 4
            assert n_parts == len(want_parts)
            for p in want_parts:
                assert struct.unpack_from(">ihq", frame, pos) == (p, UNSUPPORTED_VERSION, -1)
                pos += 14
                if version >= 2:
                    assert struct.unpack_from(">q", frame, pos) == (-1,)
                    pos += 8
        if version >= 1:
            assert struct.unpack_from(">i", frame, pos) == (0,)
            pos += 4
        assert pos == len(frame)
        assert int(w.request(API_VERSIONS, 0, {}).error_code) == 0  # connection still usable
        # Nothing was written: partition 0 still holds only the fixture's record.
        lo = w.request(2, 1, minimal_request(w, 2, 1, topic))
        assert lo.topics[0].partitions[0].offset == 1


# ------------------------------------------------- versions outside the range
OUTSIDE = [(k, h.max_version + 1) for k, h in sorted(REGISTRY.items()) if k != API_VERSIONS] + \
          [(k, h.min_version - 1) for k, h in sorted(REGISTRY.items()) if h.min_version > 0]


@pytest.mark.parametrize("key,version", OUTSIDE, ids=[f"{REGISTRY[k].name}-v{v}" for k, v in OUTSIDE])
def test_version_outside_the_range_closes_the_connection(broker, key, version):
    h = REGISTRY[key]
    with connect(broker, timeout=5.0) as w:
        w.send_frame(request_header(key, version, 99, CLIENT_ID, True) + b"\x00" * 16)
        assert w.wait_closed(), f"{h.name} v{version} was not refused"
    with connect(broker) as w:  # the broker is fine
        assert int(w.request(API_VERSIONS, 0, {}).error_code) == 0
