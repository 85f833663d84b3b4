"""A consumer-group member on aiokafka (classic protocol only). See common.py
for the command line and the lines it prints."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

import common

ASSIGNORS = {
    "range": RangePartitionAssignor,
    "roundrobin": RoundRobinPartitionAssignor,
}


async def run(args) -> int:
    budget = common.Budget(args)
    owned: set[int] = set()
    processed: dict[int, int] = {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=args.bootstrap, group_id=args.group, client_id=args.name,
        enable_auto_commit=False, auto_offset_reset="earliest",
        session_timeout_ms=args.session_ms, heartbeat_interval_ms=max(500, args.session_ms // 6),
        max_poll_interval_ms=30000, fetch_max_wait_ms=200, request_timeout_ms=31000,
        partition_assignment_strategy=(ASSIGNORS[args.assignor or "roundrobin"],))

    async def commit(partitions) -> None:
        offsets = {p: processed[p] for p in partitions if p in processed}
        if not offsets:
            return
        try:
            await consumer.commit({TopicPartition(args.topic, p): OffsetAndMetadata(o, args.commit_metadata)
                                   for p, o in offsets.items()})
        except KafkaError as e:
            common.emit(common.line("COMMITFAIL", repr(e)))
            return
        for p in offsets:
            processed.pop(p, None)
        common.emit(common.commit_line(offsets))

    class Listener(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked):
            await commit([tp.partition for tp in revoked])
            owned.difference_update(tp.partition for tp in revoked)
            common.emit(common.assigned_line(owned))

        async def on_partitions_assigned(self, assigned):
            owned.update(tp.partition for tp in assigned)
            if budget.paused and assigned:
                consumer.pause(*assigned)
            common.emit(common.assigned_line(owned))

    stop = common.watch_stdin(None)
    await consumer.start()
    try:
        consumer.subscribe([args.topic], listener=Listener())
        while not stop.is_set() and not budget.done():
            batches = await consumer.getmany(timeout_ms=200, max_records=200)
            out = common.record_lines(batches, budget, processed)
            if out:
                budget.saw_records()
                common.emit(*out)
                if budget.commit_due():
                    await commit(list(processed))
            elif budget.idle(bool(owned)):
                break
            if budget.should_pause():
                budget.paused = True
                consumer.pause(*[TopicPartition(args.topic, p) for p in owned])
                common.emit(common.line("PAUSED", f"after {budget.count} records"))
        await commit(list(processed))
    finally:
        await consumer.stop()
    common.emit(common.line("CLOSED"))
    return 0


def main() -> int:
    args = common.parse_args()
    if args.protocol != "classic":
        raise SystemExit("aiokafka speaks the classic group protocol only")
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
