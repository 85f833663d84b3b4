"""The coordinator runtime: the asyncio side of a coordinator (Kafka's
CoordinatorRuntime). CoordinatorRuntime is what every coordinator shares;
GroupCoordinatorRuntime runs the group coordinator over __consumer_offsets,
and fluxmq/txn/runtime.py the transaction coordinator over
__transaction_state.

For each operation: run the coordinator method (no I/O), append its records
to the coordinator's internal topic (one batch per coordinator partition,
written synchronously), replay them, then answer once the group-committed
fdatasync has them - or at once when there is nothing to write. A parked JoinGroup or
SyncGroup is answered when its Pending completes. Timers fire from a task
that calls poll_timers every 100 ms.

Write failures map to what Kafka's coordinator answers
(CoordinatorOperationExceptionHelper / appendGroupMetadataErrorToResponseError):
UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT ->
COORDINATOR_NOT_AVAILABLE; NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR (and
I/O errors) -> NOT_COORDINATOR; MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE,
INVALID_FETCH_SIZE -> UNKNOWN_SERVER_ERROR; anything else as is.

The internal topic is created on first use, compacted, as Kafka creates it
(__consumer_offsets: offsets.topic.num.partitions partitions,
compression.type=producer, segment.bytes=offsets.topic.segment.bytes). This
node is the only replica (the replication factor configs do not apply).
"""

from __future__ import annotations

import asyncio
import logging

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group import GROUP_METADATA_TOPIC
from fluxmq.group import records as rec
from fluxmq.group.base import CoordinatorResult, Pending
from fluxmq.log.batch import TRANSACTIONAL_BIT
from fluxmq.log.batch_builder import build_batch
from fluxmq.replication.replica_manager import COORDINATOR

log = logging.getLogger("fluxmq.group")

TIMER_TICK_S = 0.1

_APPEND_ERRORS = {
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_ENOUGH_REPLICAS: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.REQUEST_TIMED_OUT: ErrorCode.COORDINATOR_NOT_AVAILABLE,
    ErrorCode.NOT_LEADER_OR_FOLLOWER: ErrorCode.NOT_COORDINATOR,
    ErrorCode.KAFKA_STORAGE_ERROR: ErrorCode.NOT_COORDINATOR,
    ErrorCode.MESSAGE_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
    ErrorCode.RECORD_LIST_TOO_LARGE: ErrorCode.UNKNOWN_SERVER_ERROR,
    ErrorCode.INVALID_FETCH_SIZE: ErrorCode.UNKNOWN_SERVER_ERROR,
}


def append_error(code: ErrorCode) -> ErrorCode:
    return _APPEND_ERRORS.get(code, code)


class CoordinatorRuntime:
    """What a coordinator over an internal topic needs: its coordinator object
    (load, on_unloaded, take_deferred, poll_timers, replay) and, from the
    subclass, the topic and how a record is encoded and partitioned."""

    topic: str
    name: str  # in log lines
    log = log  # the coordinator's logger

    def __init__(self, node, config, clock, coordinator):
        """node: the broker's Node (fluxmq/node.py): its metadata, controller and replica manager."""
        self.node = node
        self.config = config
        self.clock = clock
        self.coordinator = coordinator
        self._timer_task: asyncio.Task | None = None

    def topic_spec(self) -> tuple[int, dict]:
        """(partitions, topic configs) the internal topic is created with."""
        raise NotImplementedError

    def encode(self, record) -> tuple[int, tuple[bytes, bytes | None]]:
        """(coordinator partition, (key, value)) of one record."""
        raise NotImplementedError

    # ---------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Replays the internal topic (if it exists) and starts the timers."""
        n = self.coordinator.load()
        if n:
            self.log.info("%s loaded %d records", self.name, n)
        self._timer_task = asyncio.get_running_loop().create_task(self._timer_loop())

    def shutdown(self) -> None:
        """Parked joins and syncs answer NOT_COORDINATOR; timers stop."""
        if self._timer_task is not None:
            self._timer_task.cancel()
            self._timer_task = None
        self.coordinator.on_unloaded()

    def ensure_topic(self) -> ErrorCode | None:
        """Creates the internal topic on first use; the error to answer if that fails."""
        if self.topic in self.node.image.topics:
            return None
        partitions, configs = self.topic_spec()
        try:
            self.node.controller.ensure_internal_topic(self.topic, partitions, configs)
        except (KafkaError, OSError) as e:
            self.log.error("cannot create %s: %s", self.topic, e)
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        return None

    # --------------------------------------------------------- operations
    def run(self, method: str, *args, **kwargs):
        """Runs a coordinator operation; returns its response, or an
        awaitable of it when it waits for fdatasync or a rebalance."""
        result = getattr(self.coordinator, method)(*args, **kwargs)
        if not isinstance(result, CoordinatorResult):
            return result  # reads answer directly
        return self.apply(result)

    def apply(self, result: CoordinatorResult):
        if not result.records:
            if result.on_append is not None:
                result.on_append(None)
            self._drain_deferred()
            return self._respond(result.response)
        error = self._append(result)
        if error is not None:
            if result.on_append is not None:
                result.on_append(error)
            self._drain_deferred()
            response = result.error_response(error) if result.error_response else result.response
            return self._respond(response)
        # Durable after the next fdatasync. The callback runs whatever happens
        # to the requesting connection; the handler awaits its own future.
        done = asyncio.get_running_loop().create_future()
        self.node.logs.sync().add_done_callback(lambda f: self._on_synced(result, f, done))
        self._drain_deferred()
        return self._await_synced(done)

    def _on_synced(self, result: CoordinatorResult, sync_future: asyncio.Future, done: asyncio.Future) -> None:
        error = None
        if sync_future.cancelled():
            error = ErrorCode.NOT_COORDINATOR
        elif sync_future.exception() is not None:
            exc = sync_future.exception()
            error = append_error(exc.code if isinstance(exc, KafkaError) else ErrorCode.KAFKA_STORAGE_ERROR)
        response = result.response
        try:
            if result.on_append is not None:
                result.on_append(error)
            self._drain_deferred()
            if error is not None and result.error_response is not None:
                response = result.error_response(error)
        except Exception as e:  # never leave the request hanging
            self.log.exception("%s: completing a write failed", self.name)
            if not done.done():
                done.set_exception(e)
            return
        if not done.done():
            done.set_result(response)

    async def _await_synced(self, done: asyncio.Future):
        return await self._wait(await done)

    def _respond(self, response):
        if isinstance(response, Pending):
            if response.done:
                return response.value
            return self._wait(response)
        return response

    @staticmethod
    async def _wait(response):
        if not isinstance(response, Pending):
            return response
        if response.done:
            return response.value
        fut = asyncio.get_running_loop().create_future()
        response.add_callback(lambda value: fut.done() or fut.set_result(value))
        return await fut

    def _drain_deferred(self) -> None:
        for _ in range(100):  # callbacks may defer more work; bounded
            pending = self.coordinator.take_deferred()
            if not pending:
                return
            for result in pending:
                self._apply_background(result)

    def _apply_background(self, result: CoordinatorResult) -> None:
        """A result nobody waits for (timers, callbacks): its write and its
        on_append callback run; the response awaitable is dropped."""
        out = self.apply(result)
        if asyncio.iscoroutine(out):
            out.close()

    # ------------------------------------------------------------- writes
    def _append(self, result: CoordinatorResult) -> ErrorCode | None:
        """Writes the records, one batch per coordinator partition, and
        replays those written when the result asks for it."""
        error = self.ensure_topic()
        if error is not None:
            return error
        by_partition: dict[int, list] = {}
        encoded: dict[int, list] = {}
        try:
            for record in result.records:
                record = self.coordinator.as_record(record)
                partition, key_value = self.encode(record)
                by_partition.setdefault(partition, []).append(record)
                encoded.setdefault(partition, []).append(key_value)
        except rec.RecordFormatError as e:
            self.log.error("cannot encode coordinator records: %s", e)
            return ErrorCode.UNKNOWN_SERVER_ERROR
        now = self.clock.milliseconds()
        # TxnOffsetCommit: a transactional batch of the producer, pending until its marker.
        attributes = TRANSACTIONAL_BIT if result.producer_id >= 0 else 0
        entries = [(self.topic, partition, build_batch(encoded[partition], now, result.producer_id,
                                                       result.producer_epoch, -1, attributes))
                   for partition in by_partition]
        # One write for every partition; durable after a later sync (apply).
        results = self.node.replica_manager.append_records(entries, 1, 0, origin=COORDINATOR)
        error = None
        for (partition, records), res in zip(by_partition.items(), results):
            if res.error != ErrorCode.NONE:
                self.log.error("%s-%d: coordinator append of %d records failed: %s: %s", self.topic,
                          partition, len(records), res.error.name, res.error_message)
                error = error or append_error(res.error)
            elif result.replay:
                for i, record in enumerate(records):
                    self.coordinator.replay(record, res.base_offset + i, result.producer_id)
        return error

    # ------------------------------------------------------------- timers
    async def _timer_loop(self) -> None:
        while True:
            await asyncio.sleep(TIMER_TICK_S)
            try:
                for result in self.coordinator.poll_timers(self.clock.milliseconds()):
                    self._apply_background(result)
            except Exception:
                self.log.exception("%s timers failed", self.name)


class GroupCoordinatorRuntime(CoordinatorRuntime):
    topic = GROUP_METADATA_TOPIC
    name = "group coordinator"

    def __init__(self, node, config, clock):
        from fluxmq.group.coordinator import GroupCoordinator
        super().__init__(node, config, clock, GroupCoordinator(node, config, clock))

    def topic_spec(self) -> tuple[int, dict]:
        return self.config["offsets.topic.num.partitions"], {
            "cleanup.policy": "compact", "compression.type": "producer",
            "segment.bytes": str(self.config["offsets.topic.segment.bytes"])}

    def encode(self, record) -> tuple[int, tuple[bytes, bytes | None]]:
        return self.coordinator.partition_for(record.group_id), rec.encode(record)
