"""Committed offsets (OffsetCommit / OffsetFetch / OffsetDelete /
DeleteGroups / retention) with a manual clock, the coordinator records in
Kafka's format, and the runtime writing them to a real log and loading them
back at start-up."""

import asyncio
import struct
import uuid

import pytest
from group_harness import Harness, persisted_view, subscription

from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode as E
from fluxmq.group import records as rec
from fluxmq.group.classic import S
from fluxmq.group.runtime import GroupCoordinatorRuntime
from fluxmq.node import Node
from fluxmq.util.clock import ManualClock


@pytest.fixture
def h():
    return Harness()


# ------------------------------------------------------------------ commit
def test_simple_commit_creates_a_group_and_round_trips_metadata_and_epoch(h):
    assert h.commit("g", {("t", 0): 42, ("t", 1): 7}, metadata="my metadata é", epoch=3) == {
        ("t", 0): E.NONE, ("t", 1): E.NONE}
    assert h.fetch("g", [("t", [0, 1, 2])]) == {
        ("t", 0): (42, 3, "my metadata é"), ("t", 1): (7, 3, "my metadata é"), ("t", 2): (-1, -1, "")}
    assert h.fetch("g") == {("t", 0): (42, 3, "my metadata é"), ("t", 1): (7, 3, "my metadata é")}
    listed = h.coord.list_groups()["groups"]
    assert listed == [{"group_id": "g", "protocol_type": "", "group_state": "Empty", "group_type": "classic"}]
    # An empty group id is accepted for commits, as Kafka does.
    assert h.commit("", {("t", 0): 1}) == {("t", 0): E.NONE}


def test_metadata_above_the_limit_fails_only_that_partition(h):
    small = Harness(offset_metadata_max_bytes=10)
    topics = [("t", [(0, 5, -1, "x" * 10), (1, 6, -1, "x" * 11)])]
    resp = small.apply(small.coord.commit_offsets("g", -1, "", None, topics, 8))
    assert [p["error_code"] for p in resp["topics"][0]["partitions"]] == [E.NONE, E.OFFSET_METADATA_TOO_LARGE]
    assert small.fetch("g", [("t", [0, 1])]) == {("t", 0): (5, -1, "x" * 10), ("t", 1): (-1, -1, "")}


def test_commits_to_unknown_groups_with_a_generation(h):
    assert h.commit("nope", {("t", 0): 1}, generation=3, member_id="m", version=8) == {("t", 0): E.ILLEGAL_GENERATION}
    assert h.commit("nope", {("t", 0): 1}, generation=3, member_id="m", version=9) == {("t", 0): E.GROUP_ID_NOT_FOUND}
    assert "nope" not in h.coord.groups


def test_commit_checks_of_a_classic_group(h):
    gen, leader, (m1, m2) = h.stable_group("g")
    assert h.commit("g", {("t", 0): 1}, gen, m1) == {("t", 0): E.NONE}
    assert h.commit("g", {("t", 0): 1}) == {("t", 0): E.UNKNOWN_MEMBER_ID}  # no member, group not empty
    assert h.commit("g", {("t", 0): 1}, gen, "stranger") == {("t", 0): E.UNKNOWN_MEMBER_ID}
    assert h.commit("g", {("t", 0): 1}, gen + 1, m1) == {("t", 0): E.ILLEGAL_GENERATION}
    h.join("g", member_id=leader, client="c0")  # the leader rejoins: PreparingRebalance
    assert h.commit("g", {("t", 0): 2}, gen, m2) == {("t", 0): E.NONE}  # still allowed, as in Kafka
    h.join("g", member_id=m2, client="c1")  # everybody rejoined: CompletingRebalance
    assert h.group().state is S.COMPLETING_REBALANCE
    assert h.commit("g", {("t", 0): 3}, gen + 1, m2) == {("t", 0): E.REBALANCE_IN_PROGRESS}


def test_a_commit_keeps_a_classic_members_session_alive(h):
    gen, leader, (m1,) = h.stable_group("g", n=1, session=10_000)
    for _ in range(3):
        h.tick(8000)
        assert h.commit("g", {("t", 0): 1}, gen, m1) == {("t", 0): E.NONE}
    assert h.group().state is S.STABLE


def test_failed_writes_answer_the_mapped_error(h):
    h.fail_next = E.NOT_COORDINATOR
    assert h.commit("g", {("t", 0): 1, ("u", 1): 2}) == {("t", 0): E.NOT_COORDINATOR, ("u", 1): E.NOT_COORDINATOR}
    assert h.fetch("g", [("t", [0])]) == {("t", 0): (-1, -1, "")}  # nothing was replayed


# ------------------------------------------------------------------- fetch
def test_fetch_of_an_unknown_group_or_with_require_stable(h):
    assert h.fetch("nobody", [("t", [0])]) == {("t", 0): (-1, -1, "")}
    assert h.fetch("nobody") == {}
    h.commit("g", {("t", 0): 9})
    assert h.fetch("g", [("t", [0])], require_stable=True) == {("t", 0): (9, 7, "meta")}
    assert h.coord.fetch_offsets(None, None)["error_code"] == E.INVALID_GROUP_ID


# ------------------------------------------------------------------ delete
def test_offset_delete_refuses_subscribed_topics(h):
    gen, leader, ids = h.stable_group("g", protocols=[("range", subscription("t"))])
    h.commit("g", {("t", 0): 1, ("old", 0): 2}, gen, ids[0])
    resp = h.apply(h.coord.delete_offsets("g", [("t", [0]), ("old", [0, 1])]))
    assert resp["error_code"] == E.NONE
    assert [[p["error_code"] for p in t["partitions"]] for t in resp["topics"]] == [
        [E.GROUP_SUBSCRIBED_TO_TOPIC], [E.NONE, E.NONE]]
    assert h.fetch("g") == {("t", 0): (1, 7, "meta")}
    assert h.apply(h.coord.delete_offsets("nope", [("t", [0])]))["error_code"] == E.GROUP_ID_NOT_FOUND
    assert h.apply(h.coord.delete_offsets("", [("t", [0])]))["error_code"] == E.INVALID_GROUP_ID


def test_offset_delete_of_a_non_consumer_group_with_members_is_non_empty(h):
    h.stable_group("c", n=1, protocol_type="connect", protocols=[("default", b"x")])
    assert h.apply(h.coord.delete_offsets("c", [("t", [0])]))["error_code"] == E.NON_EMPTY_GROUP


def test_delete_groups(h):
    gen, leader, ids = h.stable_group("active", n=1)
    h.commit("simple", {("t", 0): 1, ("t", 1): 2})
    results = h.apply(h.coord.delete_groups(["active", "simple", "unknown", None]))
    assert [r["error_code"] for r in results] == [E.NON_EMPTY_GROUP, E.NONE, E.GROUP_ID_NOT_FOUND,
                                                  E.INVALID_GROUP_ID]
    assert "simple" not in h.coord.groups and h.fetch("simple") == {}
    tombstones = [r for r in h.log if r.is_tombstone]
    assert {(r.type, r.group_id) for r in tombstones} == {(rec.OFFSET_COMMIT, "simple"), (rec.GROUP_METADATA, "simple")}
    assert len(tombstones) == 3


# --------------------------------------------------------------- retention
def test_offsets_of_a_simple_group_expire_after_retention_and_the_group_goes(h):
    short = Harness(offsets_retention_minutes=1, offsets_retention_check_interval_ms=1000)
    short.commit("g", {("t", 0): 1})
    short.tick(30_000)
    short.commit("g", {("t", 1): 2})
    short.tick(31_000)  # t-0 is 61 s old, t-1 31 s
    assert short.fetch("g") == {("t", 1): (2, 7, "meta")}
    assert "g" in short.coord.groups
    short.tick(30_000)
    assert short.fetch("g") == {} and "g" not in short.coord.groups


def test_explicit_retention_time_from_v2_to_v4(h):
    short = Harness(offsets_retention_check_interval_ms=1000)
    short.commit("g", {("t", 0): 1}, version=2, retention=5000)
    assert short.log[-1].value_version == 1 and short.log[-1].value["expire_timestamp"] > 0
    short.tick(4000)
    assert short.fetch("g") != {}
    short.tick(2000)
    assert short.fetch("g") == {}


def test_retention_of_a_consumer_group_counts_from_when_it_became_empty(h):
    short = Harness(offsets_retention_minutes=1, offsets_retention_check_interval_ms=1000)
    gen, leader, (m1,) = short.stable_group("g", n=1, session=600_000,
                                            protocols=[("range", subscription("t"))])
    short.commit("g", {("t", 0): 1, ("other", 0): 2}, gen, m1)
    short.tick(120_000)  # Stable: the subscribed topic's offset stays, the other expires
    assert short.fetch("g") == {("t", 0): (1, 7, "meta")}
    short.leave("g", m1)
    short.tick(59_000)
    assert short.fetch("g") == {("t", 0): (1, 7, "meta")}  # 59 s since the group became Empty
    short.tick(2000)
    assert short.fetch("g") == {} and "g" not in short.coord.groups


# ------------------------------------------------------------------ records
def test_offset_commit_records_use_kafkas_layout():
    r = rec.offset_commit("grp", "top", 3, 100, 5, "md", 1234)
    key, value = rec.encode(r)
    assert key == struct.pack(">hh3sh3si", 1, 3, b"grp", 3, b"top", 3)
    assert value == struct.pack(">hqih2sq", 3, 100, 5, 2, b"md", 1234)
    back = rec.decode(key, value)
    assert back.value["offset"] == 100 and back.value["leader_epoch"] == 5 and back.value_version == 3
    # v1 carries the expire timestamp and no leader epoch.
    key1, value1 = rec.encode(rec.offset_commit("grp", "top", 3, 100, 5, "md", 1234, 9999))
    assert value1 == struct.pack(">hqh2sqq", 1, 100, 2, b"md", 1234, 9999)
    assert rec.decode(key1, value1).value["leader_epoch"] == -1
    # The legacy key type 0 (old logs) reads as an offset commit; a tombstone has no value.
    legacy = rec.decode(struct.pack(">h", 0) + key[2:], value)
    assert legacy.type == rec.OFFSET_COMMIT and legacy.key == {"group": "grp", "topic": "top", "partition": 3}
    assert rec.decode(*rec.encode(rec.offset_commit_tombstone("grp", "top", 3))).is_tombstone


def test_all_value_versions_round_trip_including_flexible_v4():
    tid = uuid.uuid4()
    for version in range(5):
        value = {"offset": 1, "leader_epoch": 2 if version >= 3 else -1, "metadata": "m", "commit_timestamp": 3,
                 "expire_timestamp": 4 if version == 1 else -1, "topic_id": tid if version >= 4 else rec.ZERO_UUID}
        data = rec.encode_message(rec.OFFSET_COMMIT_VALUE, version, value)
        assert rec.decode_message(rec.OFFSET_COMMIT_VALUE, version, data) == value
    member = {"member_id": "m", "group_instance_id": "i", "client_id": "c", "client_host": "/h",
              "rebalance_timeout": 5, "session_timeout": 6, "subscription": b"s", "assignment": b""}
    for version in range(5):
        m = dict(member)
        if version < 3:
            m["group_instance_id"] = None
        if version < 1:
            m["rebalance_timeout"] = -1
        value = {"protocol_type": "consumer", "generation": 7, "protocol": None, "leader": "m",
                 "current_state_timestamp": 8 if version >= 2 else -1, "members": [m]}
        data = rec.encode_message(rec.GROUP_METADATA_VALUE, version, value)
        assert rec.decode_message(rec.GROUP_METADATA_VALUE, version, data) == value
    with pytest.raises(rec.UnknownRecordType):
        rec.decode(struct.pack(">h", 99) + b"x", None)
    with pytest.raises(rec.RecordFormatError):
        rec.decode(struct.pack(">h", 1) + b"\x00", None)


def test_coordinator_partition_is_kafkas():
    # Java: "my-group".hashCode() == -1906497762, "polygenelubricants".hashCode() == Integer.MIN_VALUE
    assert rec.java_string_hash("my-group") == -1906497762
    assert rec.partition_for("my-group", 50) == 1906497762 % 50
    assert rec.partition_for("polygenelubricants", 50) == 0  # Utils.abs(MIN_VALUE) is 0
    assert rec.java_string_hash("\U0001F600x") == 54959989  # surrogate pairs count as two chars


def test_replay_rebuilds_offsets_and_expiry_inputs(h):
    h.commit("a", {("t", 0): 1, ("t", 1): 2}, version=2, retention=10_000)
    h.commit("a", {("t", 0): 3})
    h.commit("b", {("u", 5): 4})
    h.apply(h.coord.delete_offsets("b", [("u", [5])]))
    assert persisted_view(h.rebuilt().coord) == persisted_view(h.coord)


# ------------------------------------------------------------------ runtime
def _broker_config(**values) -> BrokerConfig:
    cfg = BrokerConfig()
    cfg.set("offsets.topic.num.partitions", 5)
    for k, v in values.items():
        cfg.set(k, v)
    return cfg


def test_runtime_writes_to_consumer_offsets_and_loads_them_back(tmp_path):
    clock = ManualClock()
    cfg = _broker_config()

    async def first_life():
        node = Node(cfg, str(tmp_path), clock).startup()
        node.start()
        node.controller.create_topic("t", 2)
        rt = GroupCoordinatorRuntime(node, cfg, clock)
        rt.start()
        resp = await rt.run("commit_offsets", "g", -1, "", None, [("t", [(0, 42, 3, "meta"), (1, 7, -1, None)])], 9)
        assert [p["error_code"] for p in resp["topics"][0]["partitions"]] == [E.NONE, E.NONE]
        join = rt.run("join_group", "cg", "", "inst", "consumer", [("range", subscription("t"))], 10_000, 30_000,
                      "client", "/127.0.0.1", 9)
        clock.advance(3000)
        for r in rt.coordinator.poll_timers(clock.milliseconds()):
            rt._apply_background(r)
        joined = await join
        mid = joined["member_id"]
        synced = await rt.run("sync_group", "cg", 1, mid, "inst", "consumer", "range", [(mid, b"assign")])
        assert synced["assignment"] == b"assign"
        topic = node.image.topics["__consumer_offsets"]
        assert topic.partition_count == 5 and topic.configs["cleanup.policy"] == "compact"
        rt.shutdown()
        node.shutdown()

    async def second_life():
        node = Node(cfg, str(tmp_path), clock).startup()
        node.start()
        rt = GroupCoordinatorRuntime(node, cfg, clock)
        rt.start()
        got = rt.run("fetch_offsets", "g", [("t", [0, 1])])
        assert [(p["committed_offset"], p["committed_leader_epoch"], p["metadata"])
                for p in got["topics"][0]["partitions"]] == [(42, 3, "meta"), (7, -1, "")]
        group = rt.coordinator.groups["cg"]
        assert group.state is S.STABLE and group.static_members == {"inst": next(iter(group.members))}
        assert next(iter(group.members.values())).assignment == b"assign"
        rt.shutdown()
        node.shutdown()

    asyncio.run(first_life())
    asyncio.run(second_life())


def test_runtime_maps_a_record_above_max_message_bytes_to_unknown_server_error(tmp_path):
    clock = ManualClock()
    cfg = _broker_config(**{"message.max.bytes": 2000, "offset.metadata.max.bytes": 100_000})

    async def run():
        node = Node(cfg, str(tmp_path), clock).startup()
        node.start()
        node.controller.create_topic("t", 1)
        rt = GroupCoordinatorRuntime(node, cfg, clock)
        rt.start()
        resp = rt.run("commit_offsets", "g", -1, "", None, [("t", [(0, 1, -1, "x" * 5000)])], 9)
        assert resp["topics"][0]["partitions"][0]["error_code"] == E.UNKNOWN_SERVER_ERROR
        rt.shutdown()
        node.shutdown()

    asyncio.run(run())
