"""A consumer-group member on kafka-python (classic protocol only). See
common.py for the command line and the lines it prints."""

from __future__ import annotations

import logging
import time

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

import common

ASSIGNORS = {
    "range": RangePartitionAssignor,
    "roundrobin": RoundRobinPartitionAssignor,
    "cooperative-sticky": CooperativeStickyAssignor,
}


def main() -> int:
    args = common.parse_args()
    if args.protocol != "classic":
        raise SystemExit("kafka-python speaks the classic group protocol only")
    logging.basicConfig(level=logging.WARNING)
    budget = common.Budget(args)
    owned: set[int] = set()
    processed: dict[int, int] = {}
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, client_id=args.name,
        enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=args.session_ms, heartbeat_interval_ms=max(500, args.session_ms // 6),
        max_poll_interval_ms=30000, fetch_max_wait_ms=200, request_timeout_ms=31000,
        reconnect_backoff_max_ms=1000,
        partition_assignment_strategy=[ASSIGNORS[args.assignor or "range"]])

    def to_commit(partitions) -> dict[int, int]:
        return {p: processed[p] for p in partitions if p in processed}

    def request(offsets: dict[int, int]) -> dict:
        return {TopicPartition(args.topic, p): OffsetAndMetadata(o, args.commit_metadata, -1)
                for p, o in offsets.items()}

    def committed(offsets: dict[int, int]) -> None:
        for p in offsets:
            processed.pop(p, None)
        common.emit(common.commit_line(offsets))

    def commit(partitions) -> None:
        offsets = to_commit(partitions)
        if not offsets:
            return
        try:
            consumer.commit(request(offsets))
        except KafkaError as e:
            common.emit(common.line("COMMITFAIL", repr(e)))
            return
        committed(offsets)

    class Listener(AsyncConsumerRebalanceListener):
        """kafka-python 3 runs rebalance listeners on its IO loop, where the
        blocking commit() refuses to run; the coroutine behind commit() is
        what it asks listeners to await instead."""

        async def on_partitions_revoked(self, revoked):
            offsets = to_commit([tp.partition for tp in revoked])
            if offsets:
                try:
                    await consumer._coordinator._commit_offsets_sync_async(request(offsets))
                    committed(offsets)
                except KafkaError as e:
                    common.emit(common.line("COMMITFAIL", repr(e)))
            owned.difference_update(tp.partition for tp in revoked)
            common.emit(common.assigned_line(owned))

        async def on_partitions_assigned(self, assigned):
            owned.update(tp.partition for tp in assigned)
            if budget.paused and assigned:
                consumer.pause(*assigned)
            common.emit(common.assigned_line(owned))

        async def on_partitions_lost(self, lost):
            for tp in lost:
                owned.discard(tp.partition)
                processed.pop(tp.partition, None)
            common.emit(common.line("LOST", ",".join(str(tp.partition) for tp in lost)),
                        common.assigned_line(owned))

    stop = common.watch_stdin(None)
    # kafka-python's leader assigns from its own metadata cache: a member that
    # joins before the cache holds the new topic assigns it to nobody ("No
    # partition metadata for topic") and was seen to stall afterwards. Wait
    # for the topic first (bounded).
    deadline = time.monotonic() + 30
    while not consumer.partitions_for_topic(args.topic) and time.monotonic() < deadline:
        time.sleep(0.1)
    consumer.subscribe(topics=[args.topic], listener=Listener())
    while not stop.is_set() and not budget.done():
        batches = consumer.poll(timeout_ms=200, max_records=200)
        out = common.record_lines(batches, budget, processed)
        if out:
            budget.saw_records()
            common.emit(*out)
            if budget.commit_due():
                commit(list(processed))
        elif budget.idle(bool(owned)):
            break
        if budget.should_pause():
            budget.paused = True
            consumer.pause(*[TopicPartition(args.topic, p) for p in owned])
            common.emit(common.line("PAUSED", f"after {budget.count} records"))
    commit(list(processed))
    consumer.close()
    common.emit(common.line("CLOSED"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
