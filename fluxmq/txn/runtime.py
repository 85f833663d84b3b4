"""The transaction coordinator's runtime: fluxmq/group/runtime.py's
CoordinatorRuntime over __transaction_state, plus the markers.

__transaction_state is created on first use with
transaction.state.log.num.partitions partitions, cleanup.policy=compact,
compression.type=uncompressed and segment.bytes =
transaction.state.log.segment.bytes, as Kafka creates it.

Markers (Kafka's TransactionMarkerChannelManager, on one node): once a
PrepareCommit / PrepareAbort is durable, a COMMIT / ABORT marker goes to
every partition of the transaction through the replica manager (one native
write), carrying the producer's epoch and the coordinator epoch (the leader
epoch of the transaction's __transaction_state partition). Only after an
fdatasync has the markers is CompleteCommit / CompleteAbort written, so a
completed transaction never has a marker missing after a crash; a crash
before that leaves it prepared, and the markers are written again at
start-up (a second marker for a closed transaction changes nothing). A
partition whose topic is gone is skipped, as Kafka does; other failures are
retried every second.

Implicit adds (KIP-890 part 2, Kafka's AddPartitionsToTxnManager with
verifyOnly false): a Produce v12+ or TxnOffsetCommit v5+ for a partition
outside the producer's transaction adds it, and the write waits until that
add is durable, so the log never holds a transaction its coordinator does
not know of. A CONCURRENT_TRANSACTIONS answer (the previous transaction's
markers are still being written) is retried here for up to 100 ms, as
Kafka's add.partitions.to.txn.retry.backoff.max.ms allows; where Kafka polls
every 20 ms, the retry here runs as soon as that transaction completes,
since a transaction-version-2 producer starts its next transaction right
after EndTxn and a 20-ms wait per transaction would cost it throughput. While one produce of a
transactional id waits for its add, the next ones of that id wait behind it,
so they reach the log in request order.
"""

from __future__ import annotations

import asyncio
import logging

from fluxmq.errors import ErrorCode
from fluxmq.group.runtime import CoordinatorRuntime
from fluxmq.txn import TRANSACTION_STATE_TOPIC
from fluxmq.txn import records as txn_records
from fluxmq.txn.coordinator import TV2, TransactionCoordinator
from fluxmq.txn.metadata import TransactionMetadata, TxnState

log = logging.getLogger("fluxmq.txn")
MARKER_RETRY_S = 1.0
ADD_RETRY_MAX_S = 0.100  # Kafka's add.partitions.to.txn.retry.backoff.max.ms


class TransactionCoordinatorRuntime(CoordinatorRuntime):
    topic = TRANSACTION_STATE_TOPIC
    name = "transaction coordinator"
    log = log

    def __init__(self, node, config, clock, producer_ids, on_markers=None):
        """on_markers(partition markers written, producer id, commit): the group
        coordinator's hook for markers on __consumer_offsets partitions."""
        super().__init__(node, config, clock,
                         TransactionCoordinator(node, config, clock, producer_ids, self.write_markers))
        self.on_markers = on_markers
        self.value_version = txn_records.value_version(config["fluxmq.transaction.version"])
        self._adding: dict[str, asyncio.Future] = {}  # transactional id -> its implicit add in flight
        self._completions: dict[str, list[asyncio.Future]] = {}  # adds waiting for a transaction to complete

    def topic_spec(self) -> tuple[int, dict]:
        return self.config["transaction.state.log.num.partitions"], {
            "cleanup.policy": "compact", "compression.type": "uncompressed",
            "segment.bytes": str(self.config["transaction.state.log.segment.bytes"])}

    def encode(self, record) -> tuple[int, tuple[bytes, bytes | None]]:
        return (self.coordinator.partition_for(record.transactional_id),
                txn_records.encode(record.transactional_id, record.value, self.value_version))

    def verify(self, transactional_id, producer_id: int, epoch: int, topic: str, partition: int) -> None:
        self.coordinator.verify(transactional_id, producer_id, epoch, topic, partition)

    # ------------------------------------------------------ implicit adds
    def add_implicitly(self, transactional_id: str, adds: dict[tuple[int, int], list[tuple[str, int]]]):
        """A partition leader's adds for one request: adds maps (producer id,
        epoch) to the partitions to add. Returns None when there is nothing to
        wait for, else a task whose result is {(topic, partition): error} for
        those that could not be added. The task is registered at once, so a
        request of this transactional id decoded next waits behind it."""
        previous = self._adding.get(transactional_id)
        if previous is None and all(self.coordinator.has_partitions(transactional_id, pid, epoch, parts)
                                    for (pid, epoch), parts in adds.items()):
            return None
        task = asyncio.get_running_loop().create_task(self._add_in_order(transactional_id, adds, previous))
        self._adding[transactional_id] = task
        task.add_done_callback(lambda t: self._adding.get(transactional_id) is t
                               and self._adding.pop(transactional_id))
        return task

    async def _add_in_order(self, transactional_id: str, adds, previous) -> dict[tuple[str, int], ErrorCode]:
        if previous is not None:
            # Woken after the request that awaits `previous`, which appends as soon as
            # it resumes: the earlier request's records reach the log first.
            await asyncio.wait([previous])
        failed = {}
        for (pid, epoch), parts in adds.items():
            code = await self._add_with_retry(transactional_id, pid, epoch, parts)
            if code != ErrorCode.NONE:
                failed.update(dict.fromkeys(parts, code))
        return failed

    async def _add_with_retry(self, transactional_id: str, pid: int, epoch: int, parts) -> ErrorCode:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ADD_RETRY_MAX_S
        while True:
            code = self.run("add_partitions", transactional_id, pid, epoch, parts, TV2)
            if not isinstance(code, ErrorCode):
                code = await code
            left = deadline - loop.time()
            if code != ErrorCode.CONCURRENT_TRANSACTIONS or left <= 0:
                break
            completed = loop.create_future()
            waiting = self._completions.setdefault(transactional_id, [])
            waiting.append(completed)
            await asyncio.wait([completed], timeout=left)
            if not completed.done():  # timed out: the next retry is the last
                waiting.remove(completed)
                if not waiting:
                    self._completions.pop(transactional_id, None)
        if code == ErrorCode.PRODUCER_FENCED:
            return ErrorCode.INVALID_PRODUCER_EPOCH  # as Kafka's partition leader answers it
        if code != ErrorCode.NONE:
            log.info("implicit add of %d partition(s) to transaction %r of producer %d epoch %d failed: %s",
                     len(parts), transactional_id, pid, epoch, code.name)
        return code

    # ------------------------------------------------------------ markers
    def coordinator_epoch(self, transactional_id: str) -> int:
        p = self.node.replica_manager.partitions.get((TRANSACTION_STATE_TOPIC,
                                                      self.coordinator.partition_for(transactional_id)))
        return p.leader_epoch if p is not None else 0

    def write_markers(self, meta: TransactionMetadata, partitions=None) -> None:
        """Writes the markers of a prepared transaction (those of `partitions`
        only, on a retry); CompleteCommit / CompleteAbort follows once they are durable."""
        commit = meta.state == TxnState.PREPARE_COMMIT
        todo = sorted(meta.partitions if partitions is None else partitions)
        epoch = self.coordinator_epoch(meta.transactional_id)
        errors = self.node.replica_manager.append_markers(
            [(t, i, meta.producer_id, meta.producer_epoch, commit, epoch) for t, i in todo])
        retry = []
        for (topic, index), error in zip(todo, errors):
            if error == ErrorCode.NONE:
                if self.on_markers is not None:
                    self.on_markers(topic, index, meta.producer_id, commit)
            elif error == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                log.info("transaction %r: %s-%d is gone; no marker written there", meta.transactional_id, topic, index)
            else:
                retry.append((topic, index))
        if retry:
            log.warning("transaction %r: markers for %d partition(s) not written; retrying in %.0f s",
                        meta.transactional_id, len(retry), MARKER_RETRY_S)
            asyncio.get_running_loop().call_later(MARKER_RETRY_S, self._retry_markers, meta, retry)
            return
        self.node.logs.sync().add_done_callback(lambda f: self._on_markers_synced(meta, f))

    def _retry_markers(self, meta: TransactionMetadata, partitions) -> None:
        if self.coordinator.active and self.coordinator.txns.get(meta.transactional_id) == meta:
            self.write_markers(meta, partitions)

    def _on_markers_synced(self, meta: TransactionMetadata, sync: asyncio.Future) -> None:
        if sync.cancelled():
            return
        if sync.exception() is not None:
            log.error("transaction %r: markers not synced (%s); writing them again in %.0f s",
                      meta.transactional_id, sync.exception(), MARKER_RETRY_S)
            asyncio.get_running_loop().call_later(MARKER_RETRY_S, self._retry_markers, meta, None)
            return
        result = self.coordinator.complete(meta.transactional_id, meta.producer_id, meta.producer_epoch)
        if result is not None:
            self._apply_background(result)
        for waiter in self._completions.pop(meta.transactional_id, ()):
            if not waiter.done():
                waiter.set_result(None)
