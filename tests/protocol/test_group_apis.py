"""The group APIs over the raw protocol (kio bodies, tests/wire.py) at every
version FluxMQ advertises: FindCoordinator v0-v6, JoinGroup v0-v9,
SyncGroup v0-v5, Heartbeat v0-v4, LeaveGroup v0-v5, OffsetCommit v2-v10,
OffsetFetch v1-v10 (v10 by topic id), DescribeGroups v0-v5, ListGroups v0-v5,
DeleteGroups v0-v3, OffsetDelete v0 - each response decoded exactly by kio -
and the error codes Kafka gives for bad input."""

from __future__ import annotations

import struct
import uuid

import pytest
from brokerproc import BrokerProcess
from wire import connect

OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, HEARTBEAT = 8, 9, 10, 11, 12
LEAVE_GROUP, SYNC_GROUP, DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 13, 14, 15, 16, 42, 47
CREATE_TOPICS = 19
NONE, UNKNOWN_SERVER_ERROR, UNKNOWN_TOPIC_OR_PARTITION = 0, -1, 3
OFFSET_METADATA_TOO_LARGE, COORDINATOR_NOT_AVAILABLE = 12, 15
ILLEGAL_GENERATION, INVALID_GROUP_ID, UNKNOWN_MEMBER_ID, INVALID_SESSION_TIMEOUT = 22, 24, 25, 26
INVALID_REQUEST, NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, MEMBER_ID_REQUIRED = 42, 68, 69, 79
GROUP_SUBSCRIBED_TO_TOPIC = 86
UNKNOWN_TOPIC_ID = 100
TOPIC = "wire-groups"


def subscription(*topics: str) -> bytes:
    out = struct.pack(">hi", 0, len(topics))
    for t in topics:
        out += struct.pack(">h", len(t)) + t.encode()
    return out + struct.pack(">i", -1)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = BrokerProcess(tmp_path_factory.mktemp("groups") / "data",
                      ["--override", "group.initial.rebalance.delay.ms=0"]).start()
    with connect(b) as w:
        r = w.request(CREATE_TOPICS, 7, {"topics": [{"name": TOPIC, "num_partitions": 2, "replication_factor": 1,
                                                   "assignments": [], "configs": []}], "timeout": 10000})
        assert r.topics[0].error_code.value == NONE
    yield b
    assert b.alive(), b.log_text()[-3000:]
    assert b.stop() == 0
    assert "Traceback" not in b.log_text()


@pytest.fixture
def wire(broker):
    with connect(broker, timeout=30.0) as w:
        yield w


def code(x) -> int:
    return int(getattr(x, "value", x))


def join(w, version, group, member_id="", metadata=None, session=10000, instance=None):
    body = {"group_id": group, "session_timeout": session, "rebalance_timeout": 20000, "member_id": member_id,
            "group_instance_id": instance, "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": metadata or subscription(TOPIC)}], "reason": None}
    return w.request(JOIN_GROUP, version, body)


def join_member(w, version, group, **kw):
    r = join(w, version, group, **kw)
    if version >= 4 and code(r.error_code) == MEMBER_ID_REQUIRED:
        r = join(w, version, group, member_id=r.member_id, **kw)
    assert code(r.error_code) == NONE, r
    return r


def topic_id(w, name=TOPIC) -> uuid.UUID:
    return w.request(3, 12, {"topics": [{"name": name, "topic_id": None}],
                             "allow_auto_topic_creation": False}).topics[0].topic_id


def topic_ref(w, version, name=TOPIC) -> dict:
    """How OffsetCommit/OffsetFetch name a topic: by id from v10 (KIP-848)."""
    return {"topic_id": topic_id(w, name)} if version >= 10 else {"name": name}


def commit(w, version, group, generation=-1, member_id="", partitions=((0, 5),), metadata="m", topic=TOPIC):
    body = {"group_id": group, "generation_id_or_member_epoch": generation, "member_id": member_id,
            "group_instance_id": None, "retention_time": -1,
            "topics": [{**topic_ref(w, version, topic), "partitions": [
                {"partition_index": p, "committed_offset": o, "committed_leader_epoch": 0,
                 "committed_metadata": metadata} for p, o in partitions]}]}
    r = w.request(OFFSET_COMMIT, version, body)
    return [code(p.error_code) for t in r.topics for p in t.partitions]


def fetch(w, version, group, partitions=(0, 1)):
    topics = [{**topic_ref(w, version), "partition_indexes": list(partitions)}]
    if version >= 8:
        r = w.request(OFFSET_FETCH, version, {"groups": [{"group_id": group, "member_id": None, "member_epoch": -1,
                                                         "topics": topics}], "require_stable": True})
        return r.groups[0]
    return w.request(OFFSET_FETCH, version, {"group_id": group, "topics": topics, "require_stable": True})


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("version", range(7))
def test_find_coordinator(wire, broker, version):
    if version < 4:
        r = wire.request(FIND_COORDINATOR, version, {"key": "g", "key_type": 0})
        assert (code(r.error_code), r.node_id, r.host, r.port) == (NONE, 1, "127.0.0.1", broker.port)
        if version >= 1:  # the transaction coordinator is this node too
            r = wire.request(FIND_COORDINATOR, version, {"key": "txn", "key_type": 1})
            assert (code(r.error_code), r.node_id, r.host, r.port) == (NONE, 1, "127.0.0.1", broker.port)
        return
    r = wire.request(FIND_COORDINATOR, version, {"key_type": 0, "coordinator_keys": ["a", "b", ""]})
    assert [(c.key, code(c.error_code), c.node_id, c.port) for c in r.coordinators] == [
        (k, NONE, 1, broker.port) for k in ("a", "b", "")]
    r = wire.request(FIND_COORDINATOR, version, {"key_type": 1, "coordinator_keys": ["t1"]})
    assert [(code(c.error_code), c.node_id, c.port) for c in r.coordinators] == [(NONE, 1, broker.port)]
    r = wire.request(FIND_COORDINATOR, version, {"key_type": 2, "coordinator_keys": ["s:x:0"]})
    assert code(r.coordinators[0].error_code) == (COORDINATOR_NOT_AVAILABLE if version >= 6 else INVALID_REQUEST)
    r = wire.request(FIND_COORDINATOR, version, {"key_type": 9, "coordinator_keys": ["x"]})
    assert code(r.coordinators[0].error_code) == INVALID_REQUEST


@pytest.mark.parametrize("jv", range(10))
def test_classic_group_round_trip_at_every_version(wire, jv):
    """JoinGroup at jv; the other APIs at versions cycling through their ranges."""
    sv, hv, lv, cv, fv, dv, gv, xv = jv % 6, jv % 5, jv % 6, 2 + jv % 9, 1 + jv % 10, jv % 6, jv % 6, jv % 4
    group = f"wire-{jv}"
    r = join(wire, jv, group)
    if jv >= 4:
        assert code(r.error_code) == MEMBER_ID_REQUIRED and r.member_id.startswith("fluxmq-tests-")
        r = join(wire, jv, group, member_id=r.member_id)
    me = r.member_id
    assert (r.generation_id, r.leader, r.protocol_name) == (1, me, "range")
    if jv >= 7:
        assert r.protocol_type == "consumer"
    assert [(m.member_id, bytes(m.metadata)) for m in r.members] == [(me, subscription(TOPIC))]

    s = wire.request(SYNC_GROUP, sv, {"group_id": group, "generation_id": 1, "member_id": me,
                                   "group_instance_id": None, "protocol_type": "consumer",
                                   "protocol_name": "range", "assignments": [{"member_id": me, "assignment": b"A"}]})
    assert code(s.error_code) == NONE and bytes(s.assignment) == b"A"
    if sv >= 5:
        assert (s.protocol_type, s.protocol_name) == ("consumer", "range")
    h = wire.request(HEARTBEAT, hv, {"group_id": group, "generation_id": 1, "member_id": me, "group_instance_id": None})
    assert code(h.error_code) == NONE

    assert commit(wire, cv, group, 1, me, [(0, 11), (1, 12)], metadata="meta-" + group) == [NONE, NONE]
    f = fetch(wire, fv, group)
    assert code(f.error_code) == NONE if fv >= 2 else True
    got = [(p.partition_index, p.committed_offset, p.metadata) for t in f.topics for p in t.partitions]
    assert got == [(0, 11, "meta-" + group), (1, 12, "meta-" + group)]
    if fv >= 5:
        epoch = 0 if cv >= 6 else -1  # OffsetCommit carries the leader epoch from v6
        assert [p.committed_leader_epoch for t in f.topics for p in t.partitions] == [epoch, epoch]

    d = wire.request(DESCRIBE_GROUPS, dv, {"groups": [group], "include_authorized_operations": False}).groups[0]
    assert (code(d.error_code), d.group_state, d.protocol_type, d.protocol_data) == (
        NONE, "Stable", "consumer", "range")
    m = d.members[0]
    assert (m.member_id, m.client_id, m.client_host, bytes(m.member_assignment)) == (
        me, "fluxmq-tests", "/127.0.0.1", b"A")
    assert bytes(m.member_metadata) == subscription(TOPIC)

    body = {"states_filter": ["stable"], "types_filter": ["Classic"]} if gv >= 4 else {}
    listed = {g.group_id: g for g in wire.request(LIST_GROUPS, gv, body).groups}
    assert listed[group].protocol_type == "consumer"
    if gv >= 4:
        assert listed[group].group_state == "Stable"
    if gv >= 5:
        assert listed[group].group_type == "classic"

    if lv < 3:
        left = wire.request(LEAVE_GROUP, lv, {"group_id": group, "member_id": me})
        assert code(left.error_code) == NONE
    else:
        left = wire.request(LEAVE_GROUP, lv, {"group_id": group, "members": [
            {"member_id": me, "group_instance_id": None, "reason": "done"},
            {"member_id": "ghost", "group_instance_id": None, "reason": None}]})
        assert [code(x.error_code) for x in left.members] == [NONE, UNKNOWN_MEMBER_ID]
    d = wire.request(DESCRIBE_GROUPS, dv, {"groups": [group], "include_authorized_operations": False}).groups[0]
    assert d.group_state == "Empty" and d.members == ()
    r = wire.request(DELETE_GROUPS, xv, {"groups_names": [group, group + "-unknown"]})
    assert [code(x.error_code) for x in r.results] == [NONE, GROUP_ID_NOT_FOUND]


def test_bad_input_gets_kafkas_error_codes(wire):
    assert code(join(wire, 9, "").error_code) == INVALID_GROUP_ID
    assert code(join(wire, 9, "g-bad", session=1000).error_code) == INVALID_SESSION_TIMEOUT
    assert code(join(wire, 9, "g-bad", member_id="not-a-member").error_code) == UNKNOWN_MEMBER_ID
    hb = wire.request(HEARTBEAT, 4, {"group_id": "nobody", "generation_id": 1, "member_id": "x",
                                  "group_instance_id": None})
    assert code(hb.error_code) == UNKNOWN_MEMBER_ID
    hb = wire.request(HEARTBEAT, 4, {"group_id": "", "generation_id": 1, "member_id": "x", "group_instance_id": None})
    assert code(hb.error_code) == INVALID_GROUP_ID
    # The longest group id the protocol can carry is accepted, as by Kafka.
    assert code(join(wire, 9, "L" * 32767).error_code) == MEMBER_ID_REQUIRED

    r = join_member(wire, 9, "g-stale")
    assert commit(wire, 9, "g-stale", 0, r.member_id) == [ILLEGAL_GENERATION]
    assert commit(wire, 9, "g-stale", 1, "stranger") == [UNKNOWN_MEMBER_ID]
    hb = wire.request(HEARTBEAT, 4, {"group_id": "g-stale", "generation_id": 0, "member_id": r.member_id,
                                  "group_instance_id": None})
    assert code(hb.error_code) == ILLEGAL_GENERATION
    assert commit(wire, 8, "g-unknown", 4, "m") == [ILLEGAL_GENERATION]
    assert commit(wire, 9, "g-unknown", 4, "m") == [GROUP_ID_NOT_FOUND]
    assert commit(wire, 9, "g-simple", topic="no-such-topic") == [UNKNOWN_TOPIC_OR_PARTITION]
    assert commit(wire, 9, "g-simple", partitions=((0, 1), (7, 1))) == [NONE, UNKNOWN_TOPIC_OR_PARTITION]
    assert commit(wire, 9, "g-simple", metadata="x" * 4097) == [OFFSET_METADATA_TOO_LARGE]
    assert commit(wire, 9, "", metadata="empty group ids commit, as in Kafka") == [NONE]
    unknown = fetch(wire, 9, "g-never")
    assert code(unknown.error_code) == NONE
    assert [p.committed_offset for t in unknown.topics for p in t.partitions] == [-1, -1]

    d = wire.request(DELETE_GROUPS, 2, {"groups_names": ["g-stale"]})
    assert code(d.results[0].error_code) == NON_EMPTY_GROUP
    od = wire.request(OFFSET_DELETE, 0, {"group_id": "g-stale", "topics": [{"name": TOPIC, "partitions": [
        {"partition_index": 0}]}]})
    assert code(od.error_code) == NONE and code(od.topics[0].partitions[0].error_code) == GROUP_SUBSCRIBED_TO_TOPIC
    od = wire.request(OFFSET_DELETE, 0, {"group_id": "g-simple", "topics": [{"name": TOPIC, "partitions": [
        {"partition_index": 0}, {"partition_index": 9}]}]})
    assert [code(p.error_code) for p in od.topics[0].partitions] == [NONE, UNKNOWN_TOPIC_OR_PARTITION]


def test_oversized_protocol_metadata_fails_the_leaders_sync_like_kafka(wire):
    """The subscriptions are stored with the assignment: above
    max.message.bytes of __consumer_offsets the write fails, and Kafka maps
    that to UNKNOWN_SERVER_ERROR."""
    r = join_member(wire, 9, "g-huge", metadata=b"\x00" * 2_000_000)
    s = wire.request(SYNC_GROUP, 5, {"group_id": "g-huge", "generation_id": r.generation_id, "member_id": r.member_id,
                                  "group_instance_id": None, "protocol_type": "consumer", "protocol_name": "range",
                                  "assignments": [{"member_id": r.member_id, "assignment": b""}]})
    assert code(s.error_code) == UNKNOWN_SERVER_ERROR


def test_offset_fetch_v8_several_groups_and_all_partitions(wire):
    assert commit(wire, 9, "g-multi-a", partitions=((0, 1), (1, 2))) == [NONE, NONE]
    r = wire.request(OFFSET_FETCH, 8, {"groups": [{"group_id": "g-multi-a", "topics": None},
                                               {"group_id": "g-multi-none", "topics": None}],
                                    "require_stable": False})
    a, none = r.groups
    assert [(t.name, [(p.partition_index, p.committed_offset) for p in t.partitions]) for t in a.topics] == [
        (TOPIC, [(0, 1), (1, 2)])]
    assert code(none.error_code) == NONE and none.topics == ()


def test_offset_commit_and_fetch_v10_by_topic_id(wire):
    """KIP-848 v10 names topics by id; an unknown id is UNKNOWN_TOPIC_ID, a partition the
    topic lacks UNKNOWN_TOPIC_OR_PARTITION (commit) or no offset (fetch), as Kafka 4.4."""
    tid, bogus = topic_id(wire), uuid.uuid4()
    r = wire.request(OFFSET_COMMIT, 10, {
        "group_id": "g-v10", "generation_id_or_member_epoch": -1, "member_id": "", "group_instance_id": None,
        "topics": [{"topic_id": tid, "partitions": [
            {"partition_index": p, "committed_offset": 7, "committed_leader_epoch": -1, "committed_metadata": "m"}
            for p in (0, 9)]},
                   {"topic_id": bogus, "partitions": [
                       {"partition_index": 0, "committed_offset": 1, "committed_leader_epoch": -1,
                        "committed_metadata": None}]}]})
    assert [(t.topic_id, {p.partition_index: code(p.error_code) for p in t.partitions}) for t in r.topics] == [
        (tid, {0: NONE, 9: UNKNOWN_TOPIC_OR_PARTITION}), (bogus, {0: UNKNOWN_TOPIC_ID})]
    for topics in ([{"topic_id": tid, "partition_indexes": [0, 1]}, {"topic_id": bogus, "partition_indexes": [0]}],
                   None):
        g = wire.request(OFFSET_FETCH, 10, {"groups": [{"group_id": "g-v10", "member_id": None, "member_epoch": -1,
                                                       "topics": topics}], "require_stable": False}).groups[0]
        got = [(t.topic_id, [(p.partition_index, p.committed_offset, p.metadata, code(p.error_code))
                             for p in t.partitions]) for t in g.topics]
        if topics is None:  # every committed offset of the group
            assert got == [(tid, [(0, 7, "m", NONE)])]
        else:
            assert got == [(tid, [(0, 7, "m", NONE), (1, -1, "", NONE)]), (bogus, [(0, -1, "", UNKNOWN_TOPIC_ID)])]
