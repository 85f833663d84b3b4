"""Partition, ReplicaManager and the purgatory on their own, driven by a manual
clock and no sleeps: the high watermark stays at or below the log end offset,
the leader-epoch cache and its checkpoint, current-leader-epoch checks, reads
bounded by the high watermark, delayed fetches and produces completed by new
data or a sync, and expired by the clock."""

from __future__ import annotations

import asyncio

import pytest
from batchgen import Record, build_batch

from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.node import Node
from fluxmq.replication.partition import LEADER_EPOCH_CHECKPOINT, LeaderEpochCache
from fluxmq.replication.purgatory import PURGE_INTERVAL, DelayedOperation, DelayedOperationPurgatory
from fluxmq.replication.replica_manager import COORDINATOR, DelayedProduce, FetchRead, ProduceResult
from fluxmq.util.clock import ManualClock


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def node(tmp_path, clock):
    n = Node(BrokerConfig(), str(tmp_path / "data"), clock).startup()
    yield n
    n.logs._sync_executor.shutdown(wait=False)


def records(clock, n=1) -> bytes:
    return build_batch([Record(value=b"v%d" % i) for i in range(n)], first_timestamp=clock.milliseconds())[0]


def append(node, topic, clock, n=1, partition=0, origin="client"):
    (result,) = node.replica_manager.append_records([(topic, partition, records(clock, n))], 1, 30000, origin)
    assert result.error == ErrorCode.NONE, result
    return result


# ------------------------------------------------------------------ Partition
def test_high_watermark_follows_the_log_end_and_never_passes_it(node, clock):
    node.controller.create_topic("t", 1)
    p = node.replica_manager.partition("t", 0)
    assert p.high_watermark == p.log_end_offset == 0
    append(node, "t", clock, 2)
    first_batch = p.read(0, 1 << 20, 0, min_one_batch=True).length
    append(node, "t", clock, 1)
    assert p.high_watermark == p.log_end_offset == 3
    p.high_watermark = 2  # as a leader whose follower has only the first batch would have it
    assert p.read(0, 1 << 20, 0, min_one_batch=True).length == first_batch  # the second batch is not readable
    assert p.read(2, 1 << 20, 0, min_one_batch=True) is None
    assert p.maybe_increment_high_watermark() and p.high_watermark == 3
    assert p.read(0, 1 << 20, 0, min_one_batch=True).length > first_batch


def test_checkpointed_high_watermark_above_the_log_end_is_clamped(tmp_path, clock):
    first = Node(BrokerConfig(), str(tmp_path / "data"), clock).startup()
    first.controller.create_topic("t", 1)
    append(first, "t", clock, 2)
    first.replica_manager.checkpoint_high_watermarks()
    (tmp_path / "data" / "replication-offset-checkpoint").write_text("0\n1\nt 0 99\n")
    first.shutdown()
    second = Node(BrokerConfig(), str(tmp_path / "data"), clock).startup()
    p = second.replica_manager.partition("t", 0)
    assert p.high_watermark == p.log_end_offset == 2
    second.shutdown()


def test_leader_epoch_cache_and_its_checkpoint(node, clock, tmp_path):
    node.controller.create_topic("t", 1)
    p = node.replica_manager.partition("t", 0)
    append(node, "t", clock, 2)
    path = tmp_path / "data" / "t-0" / LEADER_EPOCH_CHECKPOINT
    assert path.read_text() == "0\n1\n0 0\n"  # Kafka's LeaderEpochCheckpointFile: epoch 0 from offset 0
    cache = LeaderEpochCache(str(path))
    assert cache.assign(2, 5) and cache.assign(5, 9) and not cache.assign(4, 12)
    assert LeaderEpochCache(str(path)).entries == [(0, 0), (2, 5), (5, 9)]
    leo = 20
    assert cache.end_offset_for(-1, leo) == (-1, -1)
    assert cache.end_offset_for(5, leo) == (5, leo)   # the latest epoch ends at the log end
    assert cache.end_offset_for(3, leo) == (2, 9)     # an unknown epoch: the largest below it, ending where the next began
    assert cache.end_offset_for(0, leo) == (0, 5)
    assert cache.end_offset_for(6, leo) == (-1, -1)   # newer than any known
    assert [cache.epoch_for(o) for o in (0, 4, 5, 8, 9, 30)] == [0, 0, 2, 2, 5, 5]
    cache.truncate_from_start(7)
    assert cache.entries == [(2, 7), (5, 9)]
    assert p.end_offset_for_epoch(0) == (0, 2)


def test_current_leader_epoch_checks(node):
    node.controller.create_topic("t", 1)
    p = node.replica_manager.partition("t", 0)
    p.check_current_leader_epoch(-1)
    p.check_current_leader_epoch(0)
    for requested, code in ((1, ErrorCode.UNKNOWN_LEADER_EPOCH), (-2, ErrorCode.FENCED_LEADER_EPOCH)):
        with pytest.raises(KafkaError) as e:
            p.check_current_leader_epoch(requested)
        assert e.value.code == code


# ------------------------------------------------------------- ReplicaManager
def test_clients_may_not_append_to_internal_topics_coordinators_may(node, clock):
    node.controller.ensure_internal_topic("__consumer_offsets", 1, {"cleanup.policy": "compact"})
    batch = build_batch([Record(value=b"v", key=b"k")], first_timestamp=clock.milliseconds())[0]
    (refused,) = node.replica_manager.append_records([("__consumer_offsets", 0, batch)], 1, 1000)
    assert refused.error == ErrorCode.INVALID_TOPIC_EXCEPTION
    (ok,) = node.replica_manager.append_records([("__consumer_offsets", 0, batch)], 1, 1000, COORDINATOR)
    assert (ok.error, ok.base_offset) == (ErrorCode.NONE, 0)
    (unknown,) = node.replica_manager.append_records([("no-such-topic", 0, batch)], 1, 1000)
    assert unknown.error == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_delayed_fetch_completes_when_data_arrives(node, clock):
    node.controller.create_topic("t", 2)
    rm = node.replica_manager
    reads = []
    read_all = rm._read_all
    rm._read_all = lambda *a: reads.append(a) or read_all(*a)

    async def run():
        waiting = rm.fetch_messages([FetchRead("t", 0, 0, 1 << 20), FetchRead("t", 1, 0, 1 << 20)], 0, 1, 30000,
                                    1 << 20)
        assert not waiting.done() and rm.fetch_purgatory.watched() == 1
        assert len(reads) == 1  # the first read decided to wait: watched without reading again
        append(node, "t", clock, 2, partition=1)  # moves partition 1's high watermark: the fetch completes
        assert waiting.done() and len(reads) == 2
        results = waiting.result()
        assert [len(r.records) > 0 for r in results] == [False, True]
        assert [r.high_watermark for r in results] == [0, 2]
        assert rm.fetch_purgatory.watched() == 0

    asyncio.run(run())


def test_delayed_fetch_expires_with_the_clock(node, clock):
    node.controller.create_topic("t", 1)
    rm = node.replica_manager

    async def run():
        waiting = rm.fetch_messages([FetchRead("t", 0, 0, 1 << 20)], 0, 1, 500, 1 << 20)
        clock.advance(499)
        rm._on_timer()
        assert not waiting.done()
        clock.advance(1)
        rm._on_timer()
        assert waiting.done() and waiting.result()[0].records == b""

    asyncio.run(run())


def test_delayed_produce_completes_once_synced_and_times_out_otherwise(node, clock):
    node.controller.create_topic("t", 1)
    rm = node.replica_manager
    p = rm.partition("t", 0)

    async def run():
        node.start()  # the group-committed fdatasync
        synced = rm.append_records([("t", 0, records(clock, 2))], -1, 30000)
        assert not synced.done()
        (r,) = await synced
        assert (r.error, r.base_offset) == (ErrorCode.NONE, 0) and p.log.recovery_point == 2

    asyncio.run(run())

    # A DelayedProduce whose records never get synced: REQUEST_TIMED_OUT at its deadline.
    append(node, "t", clock, 1)  # offset 2, in the page cache only
    purgatory = DelayedOperationPurgatory("Produce", clock)
    answered = []
    result = ProduceResult(base_offset=2, last_offset=2)
    op = DelayedProduce(clock.monotonic_ms() + 100, [(p, result)], [result], answered.append)
    assert not purgatory.try_complete_else_watch(op, [p.key])
    clock.advance(100)
    assert purgatory.expire() == 1
    assert answered == [[result]] and result.error == ErrorCode.REQUEST_TIMED_OUT and result.base_offset == -1


# ------------------------------------------------------------------ purgatory
class Flag(DelayedOperation):
    def __init__(self, deadline_ms):
        super().__init__(deadline_ms)
        self.ready = False
        self.completions = 0

    def can_complete(self):
        return self.ready

    def on_complete(self):
        self.completions += 1


def test_purgatory_completes_each_operation_once(clock):
    purgatory = DelayedOperationPurgatory("test", clock)
    a, b = Flag(clock.monotonic_ms() + 1000), Flag(clock.monotonic_ms() + 50)
    assert not purgatory.try_complete_else_watch(a, ["k1", "k2"])
    assert not purgatory.try_complete_else_watch(b, ["k2"])
    assert purgatory.check_and_complete("k1") == 0
    a.ready = True
    assert purgatory.check_and_complete("k2") == 1 and (a.completions, a.expired) == (1, False)
    assert purgatory.check_and_complete("k1") == 0 and a.completions == 1  # watched under two keys, done once
    clock.advance(50)
    assert purgatory.expire() == 1 and (b.completions, b.expired) == (1, True)
    assert purgatory.watched() == 0 and purgatory.next_deadline_ms() is None
    c = Flag(0)
    c.ready = True
    assert purgatory.try_complete_else_watch(c, ["k1"]) and c.completions == 1 and purgatory.watched() == 0


def test_purgatory_purges_operations_that_completed_early(clock):
    """acks=all completes long before its timeout: finished operations must not pile up
    in the deadline heap and the watch lists of their other keys until then."""
    purgatory = DelayedOperationPurgatory("test", clock)
    n = 3 * PURGE_INTERVAL
    for i in range(n):
        op = Flag(clock.monotonic_ms() + 30_000)
        assert not purgatory.try_complete_else_watch(op, [("t", i % 6), "never-changes"])
        op.ready = True
        assert purgatory.check_and_complete(("t", i % 6)) == 1
    heap, watching = purgatory.size()
    assert heap <= 2 * PURGE_INTERVAL + 2 and watching <= 4 * PURGE_INTERVAL + 4, (heap, watching)
    assert purgatory.watched() == 0
    waiting = Flag(clock.monotonic_ms() + 100)
    assert not purgatory.try_complete_else_watch(waiting, ["never-changes"])
    purgatory.purge_completed()
    assert purgatory.size() == (1, 1) and purgatory.next_deadline_ms() == waiting.deadline_ms
    clock.advance(100)
    assert purgatory.expire() == 1 and waiting.expired and purgatory.size() == (0, 1)


def test_purgatory_purges_expired_long_polls_on_idle_partitions(clock):
    """Fetches that expire on partitions that never change leave the watch lists too."""
    purgatory = DelayedOperationPurgatory("test", clock)
    for _ in range(3 * PURGE_INTERVAL):
        assert not purgatory.try_complete_else_watch(Flag(clock.monotonic_ms() + 500), [("idle", 0), ("idle", 1)])
        clock.advance(500)
        assert purgatory.expire() == 1
    heap, watching = purgatory.size()
    assert heap == 0 and watching <= 4 * PURGE_INTERVAL + 4, watching
