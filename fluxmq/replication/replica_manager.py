"""ReplicaManager: the one entry point for data (Kafka's ReplicaManager).

- append_records(entries, acks, timeout_ms, origin): validates and offsets
  every partition's batch, writes them all with one native call (a produce
  request costs one write however many partitions it names), moves the high
  watermarks, and wakes the fetches waiting on them. acks=all becomes a
  DelayedProduce: complete once each partition's high watermark and synced
  offset (group-committed fdatasync) reach its records, REQUEST_TIMED_OUT
  for the partitions that did not when the request's timeout passes. The
  origin says who appends: a client may not write internal topics (Kafka's
  "Cannot append to internal topic"); coordinators and, later, replication
  may. A transactional batch is checked against its transaction first
  (txn_verifier, KIP-890 part 1).
- append_markers(markers): the transaction coordinator's COMMIT / ABORT
  markers (WriteTxnMarkers), written with one native call.
- fetch_messages(reads, isolation, min_bytes, max_wait_ms, max_bytes): reads
  below the high watermark (below the last stable offset for
  read_committed); with fewer than min_bytes a DelayedFetch waits until new
  data moves a high watermark it watches, or max_wait_ms passes.

Both return their results at once, or an awaitable of them. Partitions are
created and removed as the metadata image changes (on_metadata), their logs
through the LogManager. High watermarks are checkpointed to
replication-offset-checkpoint with the other checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from dataclasses import dataclass, field

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log import checkpoints
from fluxmq.log.batch import ATTRIBUTES_POS, PRODUCER_ID_POS, RECORDS_COUNT_POS, TRANSACTIONAL_BIT
from fluxmq.log.log import AppendPlan, append_plans
from fluxmq.log.validator import RecordValidationError
from fluxmq.metadata.image import INTERNAL_TOPICS
from fluxmq.replication.partition import READ_COMMITTED, Partition
from fluxmq.replication.purgatory import DelayedOperation, DelayedOperationPurgatory

log = logging.getLogger("fluxmq.replica")

HIGH_WATERMARK_FILE = "replication-offset-checkpoint"
_PRODUCER_ID_EPOCH = struct.Struct(">qh")
CLIENT, COORDINATOR, REPLICATION = "client", "coordinator", "replication"


@dataclass(slots=True)
class ProduceResult:
    """One partition's answer (Kafka's PartitionResponse)."""
    error: ErrorCode = ErrorCode.NONE
    base_offset: int = -1
    log_append_time: int = -1
    log_start_offset: int = -1
    record_errors: list = field(default_factory=list)  # [(batch index, message)], KIP-467
    error_message: str | None = None
    last_offset: int = -1  # for the delayed produce: the offset its records must reach


@dataclass(slots=True)
class FetchRead:
    topic: str
    partition: int
    offset: int
    max_bytes: int
    current_leader_epoch: int = -1


@dataclass(slots=True)
class FetchResult:
    error: ErrorCode = ErrorCode.NONE
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: object = b""  # a FileRange of the segment, or b""
    aborted: list | None = None  # read_committed: [(producer id, first offset)] aborted in the range


class DelayedProduce(DelayedOperation):
    """acks=all: waits until every appended partition's high watermark and
    synced offset pass its records (Kafka's DelayedProduce, plus fdatasync)."""

    def __init__(self, deadline_ms: int, pending: list[tuple[Partition, ProduceResult]], results, done):
        super().__init__(deadline_ms)
        self.pending = pending
        self.results = results
        self.done = done
        self.storage_error: KafkaError | None = None

    def can_complete(self) -> bool:
        return self.storage_error is not None or all(self._reached(p, r) for p, r in self.pending)

    @staticmethod
    def _reached(p: Partition, r: ProduceResult) -> bool:
        return p.high_watermark > r.last_offset and p.log.recovery_point > r.last_offset

    def on_complete(self) -> None:
        for p, r in self.pending:
            if self.storage_error is not None:
                r.error, r.error_message, r.base_offset = self.storage_error.code, str(self.storage_error), -1
            elif not self._reached(p, r):  # expired first
                r.error, r.base_offset = ErrorCode.REQUEST_TIMED_OUT, -1
                r.error_message = "the records were not replicated and synced within the request timeout"
        self.done(self.results)


class DelayedFetch(DelayedOperation):
    """A fetch that waits for min_bytes (Kafka's DelayedFetch): it reads again
    whenever a watched partition's high watermark moves."""

    def __init__(self, deadline_ms: int, read, min_bytes: int, done):
        super().__init__(deadline_ms)
        self.read = read  # () -> (results, bytes)
        self.min_bytes = min_bytes
        self.done = done
        self.results = None

    def can_complete(self) -> bool:
        self.results, total = self.read()
        return total >= self.min_bytes

    def on_complete(self) -> None:
        if self.expired or self.results is None:
            self.results, _total = self.read()
        self.done(self.results)


class ReplicaManager:
    def __init__(self, node_id: int, logs, image, clock):
        self.node_id = node_id
        self.logs = logs
        self.image = image
        self.clock = clock
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.produce_purgatory = DelayedOperationPurgatory("Produce", clock)
        self.fetch_purgatory = DelayedOperationPurgatory("Fetch", clock)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        # (transactional id, producer id, epoch, topic, partition) -> None, or raises KafkaError;
        # set by the transaction coordinator (fluxmq/txn).
        self.txn_verifier = None

    # ------------------------------------------------------------ partitions
    def start(self) -> None:
        """The partitions of every topic in the image, over the logs the LogManager loaded."""
        hws = checkpoints.read_offsets(self._hw_path())
        for topic in self.image.topics.values():
            self._add_partitions(topic, 0, hws)

    def _hw_path(self) -> str:
        return os.path.join(self.logs.data_dir, HIGH_WATERMARK_FILE)

    def _add_partitions(self, topic, first: int, hws: dict | None = None) -> None:
        for p in topic.partitions[first:]:
            lg = self.logs.get_or_create_log(topic, p.index)
            self.partitions[(topic.name, p.index)] = Partition(
                topic.name, topic.topic_id, p.index, lg, self.node_id, p.replicas, p.isr, p.leader, p.leader_epoch,
                p.partition_epoch, (hws or {}).get((topic.name, p.index)))

    def on_metadata(self, delta) -> None:
        """The controller changed the image: partitions (and logs) come and go."""
        for topic in delta.created:
            self._add_partitions(topic, 0)
        for topic, first in delta.grown:
            self._add_partitions(topic, first)
        for topic in delta.reconfigured:
            self.logs.update_configs(topic)
        for topic in delta.deleted:
            for p in topic.partitions:
                self.partitions.pop((topic.name, p.index), None)
                self.fetch_purgatory.check_and_complete((topic.name, p.index))
            self.logs.delete_logs(topic)

    def partition(self, topic: str, index: int) -> Partition:
        """Kafka's getPartitionOrError."""
        p = self.partitions.get((topic, index))
        if p is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        return p

    def partitions_of(self, topic: str) -> list[Partition]:
        t = self.image.topics.get(topic)
        return [self.partitions[(topic, p.index)] for p in t.partitions] if t is not None else []

    # --------------------------------------------------------------- appends
    def append_records(self, entries: list[tuple[str, int, bytes]], acks: int, timeout_ms: int,
                       origin: str = CLIENT, client_id: str | None = None, transactional_id: str | None = None):
        """entries: (topic, partition, records) in request order. Returns a
        ProduceResult per entry, or (acks=-1) an awaitable of that list.
        client_id names the producer in the log lines of rejected appends;
        transactional_id is the produce request's, for transactional batches."""
        who = client_id if client_id is not None else origin
        now = self.clock.milliseconds()
        results: list[ProduceResult] = []
        plans: list[AppendPlan] = []
        planned: dict[int, tuple[Partition, ProduceResult]] = {}  # id(plan) ->
        touched: set = set()
        for topic, index, records in entries:
            result = ProduceResult()
            results.append(result)
            try:
                p = self._appendable(topic, index, acks, origin)
            except KafkaError as e:
                result.error, result.error_message = e.code, e.message
                if origin == CLIENT and topic in INTERNAL_TOPICS:
                    log.info("produce from %s to internal topic %s rejected", who, topic)
                else:
                    log.info("produce from %s to %s-%d rejected: %s: %s", who, topic, index, e.code.name, e)
                continue
            if p.log in touched:  # the same partition twice: write what is planned first
                self._write(plans, planned, now)
                plans, planned, touched = [], {}, set()
            verify = None
            if origin == CLIENT and self.txn_verifier is not None:
                verifier = self.txn_verifier
                verify = (lambda pid, epoch, t=topic, i=index: verifier(transactional_id, pid, epoch, t, i))
            try:
                outcome = p.log.prepare_append(records, now, verify, check_sequence=origin == CLIENT)
            except RecordValidationError as e:  # KIP-467: which records, so the client fails just those
                result.error, result.error_message, result.record_errors = e.code, str(e), e.record_errors
                result.log_start_offset = p.log_start_offset
                log.info("produce to %s-%d from %s rejected: %s: %s", topic, index, who, e.code.name, e)
                continue
            except KafkaError as e:
                result.error, result.error_message = e.code, str(e)
                log.info("produce to %s-%d from %s rejected: %s: %s", topic, index, who, e.code.name, e)
                continue
            if isinstance(outcome, AppendPlan):
                plans.append(outcome)
                planned[id(outcome)] = (p, result)
                touched.add(p.log)
            else:  # an idempotent duplicate: the original offsets, no error
                result.base_offset, result.log_start_offset = outcome.base_offset, outcome.log_start_offset
                result.last_offset = outcome.base_offset
        self._write(plans, planned, now)
        if acks != -1:
            return results
        pending = [(self.partitions[(t, i)], r) for (t, i, _rec), r in zip(entries, results)
                   if r.error == ErrorCode.NONE and r.base_offset >= 0]
        if not pending:
            return results
        return self._delay_produce(pending, results, timeout_ms)

    def transaction_adds(self, entries: list[tuple[str, int, bytes]]) -> dict[tuple[int, int], list[tuple[str, int]]]:
        """KIP-890 part 2 (Kafka's maybeStartTransactionVerification): the
        partitions of a produce whose transactional batch has no transaction
        open here at its producer's epoch, by (producer id, epoch)."""
        adds: dict[tuple[int, int], list[tuple[str, int]]] = {}
        for topic, index, records in entries:
            if len(records) < RECORDS_COUNT_POS or not records[ATTRIBUTES_POS + 1] & TRANSACTIONAL_BIT:
                continue
            pid, epoch = _PRODUCER_ID_EPOCH.unpack_from(records, PRODUCER_ID_POS)
            p = self.partitions.get((topic, index))
            if p is not None and not p.log.producer_state.has_ongoing(pid, epoch):
                adds.setdefault((pid, epoch), []).append((topic, index))
        return adds

    def append_markers(self, markers: list[tuple[str, int, int, int, bool, int]]) -> list[ErrorCode]:
        """WriteTxnMarkers on this broker: (topic, partition, producer id, epoch,
        commit, coordinator epoch) each; an error per marker. Written with one
        native call; the high watermark moves past each marker, which wakes
        read_committed fetches waiting at the last stable offset."""
        now = self.clock.milliseconds()
        out = [ErrorCode.NONE] * len(markers)
        plans, planned, touched = [], {}, set()
        for i, (topic, index, pid, epoch, commit, coordinator_epoch) in enumerate(markers):
            result = ProduceResult()
            try:
                p = self._appendable(topic, index, 1, COORDINATOR)
                if p.log in touched:
                    self._write(plans, planned, now)
                    plans, planned, touched = [], {}, set()
                plan = p.log.prepare_marker(pid, epoch, commit, coordinator_epoch, now)
            except KafkaError as e:
                log.warning("%s marker for producer %d on %s-%d not written: %s: %s",
                            "COMMIT" if commit else "ABORT", pid, topic, index, e.code.name, e)
                out[i] = e.code
                continue
            plans.append(plan)
            planned[id(plan)] = (p, result)
            touched.add(p.log)
            out[i] = result  # replaced by its error below
        self._write(plans, planned, now)
        return [r.error if isinstance(r, ProduceResult) else r for r in out]

    def _appendable(self, topic: str, index: int, acks: int, origin: str) -> Partition:
        # Runs for every partition of every produce request: plain lookups, checks
        # called only when they fail.
        p = self.partitions.get((topic, index))
        if p is None:
            raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
        if origin == CLIENT and topic in INTERNAL_TOPICS:
            raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot append to internal topic {topic}")
        if p.leader != self.node_id:
            p.check_leader()
        if acks == -1:
            p.check_enough_replicas()
        return p

    def _write(self, plans: list[AppendPlan], planned: dict, now: int) -> None:
        if not plans:
            return
        try:
            appended = append_plans(self.logs.io, plans, now)
        except OSError as e:
            log.error("segment write failed: %s; %d partition(s) answered KAFKA_STORAGE_ERROR", e, len(plans))
            for plan in plans:
                _p, r = planned[id(plan)]
                r.error, r.error_message = ErrorCode.KAFKA_STORAGE_ERROR, str(e)
            return
        fetches, produces = self.fetch_purgatory, self.produce_purgatory
        for plan, res in zip(plans, appended):
            p, r = planned[id(plan)]
            r.base_offset, r.log_append_time, r.log_start_offset = (res.base_offset, res.log_append_time,
                                                                    res.log_start_offset)
            r.last_offset = plan.last_offset
            if p.on_appended(plan.first_offset):
                key = p.key
                if key in fetches.watchers:
                    fetches.check_and_complete(key)
                if key in produces.watchers:
                    produces.check_and_complete(key)

    def _delay_produce(self, pending, results, timeout_ms: int):
        fut = asyncio.get_running_loop().create_future()
        op = DelayedProduce(self.clock.monotonic_ms() + timeout_ms, pending, results,
                            lambda res: fut.done() or fut.set_result(res))
        keys = [p.key for p, _r in pending]
        if not self.produce_purgatory.try_complete_else_watch(op, keys):
            self._arm_timer()
            self.logs.sync().add_done_callback(lambda f: self._on_synced(op, keys, f))
        return fut

    def _on_synced(self, op: DelayedProduce, keys, sync: asyncio.Future) -> None:
        if sync.cancelled():
            return
        error = sync.exception()
        if error is not None:
            op.storage_error = error if isinstance(error, KafkaError) else \
                KafkaError(ErrorCode.KAFKA_STORAGE_ERROR, str(error))
        for key in keys:
            self.produce_purgatory.check_and_complete(key)
        op.try_complete()  # a partition deleted meanwhile has no key to wake it

    # -------------------------------------------------------- delete records
    def delete_records(self, entries: list[tuple[str, int, int]]) -> list[tuple[int, ErrorCode]]:
        """DeleteRecords: (low watermark, error) per (topic, partition, offset).
        Kafka waits for every replica's low watermark (DelayedDeleteRecords); here
        the leader is every replica, so it is answered at once. The new log start
        offsets are checkpointed before the answer: a restart keeps them."""
        out = []
        for topic, index, offset in entries:
            try:
                if topic in INTERNAL_TOPICS:
                    raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                                     f"Cannot delete records of internal topic {topic}")
                out.append((self.partition(topic, index).delete_records_before(offset), ErrorCode.NONE))
            except KafkaError as e:
                log.info("DeleteRecords %s-%d to %d refused: %s %s", topic, index, offset, e.code.name, e)
                out.append((-1, e.code))
        if any(code == ErrorCode.NONE for _low, code in out):
            self.logs.checkpoint()
        return out

    # ----------------------------------------------------------------- reads
    def fetch_messages(self, reads: list[FetchRead], isolation: int, min_bytes: int, max_wait_ms: int,
                       max_bytes: int):
        """A FetchResult per read, or an awaitable of that list (long poll)."""
        results, total = self._read_all(reads, isolation, max_bytes)
        if total >= min_bytes or max_wait_ms <= 0 or any(r.error != ErrorCode.NONE for r in results) \
                or not reads:
            return results
        fut = asyncio.get_running_loop().create_future()
        op = DelayedFetch(self.clock.monotonic_ms() + max_wait_ms,
                          lambda: self._read_all(reads, isolation, max_bytes), min_bytes,
                          lambda res: fut.done() or fut.set_result(res))
        op.results = results
        # The read above found too little: watch at once rather than read again first.
        self.fetch_purgatory.watch(op, [(r.topic, r.partition) for r in reads])
        self._arm_timer()
        return fut

    def _read_all(self, reads: list[FetchRead], isolation: int, max_bytes: int) -> tuple[list[FetchResult], int]:
        remaining, total = max_bytes, 0
        out = []
        for r in reads:
            res = FetchResult(aborted=[] if isolation == READ_COMMITTED else None)
            out.append(res)
            try:
                p = self.partition(r.topic, r.partition)
                res.high_watermark, res.last_stable_offset = p.high_watermark, p.last_stable_offset
                res.log_start_offset = p.log_start_offset
                p.check_current_leader_epoch(r.current_leader_epoch)
                limit = min(r.max_bytes, remaining)
                # KIP-74: the first partition with data may exceed the limits by one batch.
                records = p.read(r.offset, limit, isolation, min_one_batch=not total) or b""
                if total and len(records) > limit:
                    records = b""
            except KafkaError as e:
                # Kafka's createLogReadResult(e): an error partition carries no offsets.
                res.error, res.high_watermark, res.last_stable_offset, res.log_start_offset = e.code, -1, -1, -1
                if e.code != ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
                    log.info("fetch of %s-%d: %s: %s", r.topic, r.partition, e.code.name, e)
                continue
            res.records = records
            if isolation == READ_COMMITTED and records:
                res.aborted = [(a.producer_id, a.first_offset)
                               for a in p.log.aborted_transactions(r.offset, res.last_stable_offset)]
            total += len(records)
            remaining = max(0, remaining - len(records))
        return out, total

    # ----------------------------------------------------------------- timer
    def _arm_timer(self) -> None:
        """One loop timer at the earliest deadline of either purgatory."""
        deadlines = [d for d in (self.produce_purgatory.next_deadline_ms(),
                                 self.fetch_purgatory.next_deadline_ms()) if d is not None]
        if not deadlines:
            return
        at = min(deadlines)
        if self._timer is not None and self._timer_at is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0, at - self.clock.monotonic_ms()) / 1000
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.produce_purgatory.expire()
        self.fetch_purgatory.expire()
        self._arm_timer()

    # ------------------------------------------------------------ lifecycle
    def on_retention(self, lg) -> None:
        """The log's start offset moved."""
        p = self.partitions.get((lg.topic, lg.partition))
        if p is not None:
            p.on_log_start_moved()

    def checkpoint_high_watermarks(self) -> None:
        checkpoints.write_offsets(self._hw_path(), {p.key: p.high_watermark for p in self.partitions.values()})

    def shutdown(self) -> None:
        """Long polls answer now; acks=all waits are answered by the final sync."""
        if self._timer is not None:
            self._timer.cancel()
        self.fetch_purgatory.complete_all()
        self.checkpoint_high_watermarks()
