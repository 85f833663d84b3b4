"""TransactionCoordinator: the transaction APIs' state machine (Kafka's
TransactionCoordinator and TransactionStateManager), without I/O, in the
shape of fluxmq/group/coordinator.py:

- Every request method returns a CoordinatorResult: the record to append to
  __transaction_state and the response. fluxmq/txn/runtime.py appends it,
  replays it, waits for fdatasync and answers; replay() is also how the
  state is loaded at start-up. State changes only in replay().
- Ending a transaction is two writes around the markers (KIP-98): EndTxn
  writes PrepareCommit / PrepareAbort and answers once that is durable;
  then `write_markers(metadata)` (the runtime) writes a COMMIT / ABORT
  marker to every partition of the transaction and, once those are
  durable, calls complete(), which writes CompleteCommit / CompleteAbort.
  A transaction loaded in a Prepare state gets its markers again.
- Time comes from the injected clock; poll_timers(now) aborts transactions
  older than their timeout (fencing the producer, as Kafka does) every
  transaction.abort.timed.out.transaction.cleanup.interval.ms and removes
  transactional ids idle for transactional.id.expiration.ms.
- A transactional id lives on partition abs(javaHashCode(id)) % partitions
  of __transaction_state (Kafka's partitionFor). This broker leads every
  partition, so it coordinates every transaction.

Transaction versions (KIP-890 part 2), told by the request, as Kafka does:
EndTxn v5+ and AddPartitionsToTxn v4+ (a partition leader's implicit add
for Produce v12+ and TxnOffsetCommit v5+) are version 2, older ones version
1. Clients use version 2 when ApiVersions finalizes transaction.version 2
(fluxmq.transaction.version). Under version 2 EndTxn bumps the epoch
(end_txn_v2), a transaction starts from Empty or Complete* with its first
implicit add, and an aborting Empty transaction is allowed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.group.base import CoordinatorResult
from fluxmq.group.records import partition_for
from fluxmq.txn import TRANSACTION_STATE_TOPIC
from fluxmq.txn import records as txn_records
from fluxmq.txn.metadata import (COMPLETED, MAX_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, PREPARED,
                                 TransactionMetadata, TxnState)

log = logging.getLogger("fluxmq.txn")
S = TxnState


@dataclass(frozen=True)
class TxnRecord:
    """One __transaction_state record; value None is a tombstone."""
    transactional_id: str
    value: dict | None


@dataclass(frozen=True)
class InitProducerIdResult:
    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


@dataclass(frozen=True)
class EndTxnResult:
    """EndTxn's answer; v5 (transaction version 2) carries the producer id and
    epoch the next transaction uses (NO_PRODUCER_ID / -1 on an error)."""
    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_PRODUCER_EPOCH


TV1, TV2 = 1, 2  # the client transaction versions a request implies


class TransactionCoordinator:
    def __init__(self, node, config, clock, producer_ids, write_markers: Callable[[TransactionMetadata], None]):
        """node: the broker's Node, or None (unit tests); producer_ids hands out
        producer ids (fluxmq.txn.producer_ids); write_markers(metadata) writes
        a prepared transaction's markers and later calls complete()."""
        self.node = node
        self.config = config
        self.clock = clock
        self.producer_ids = producer_ids
        self.write_markers = write_markers
        self.txns: dict[str, TransactionMetadata] = {}
        self.active = False
        self.abort_interval_ms = config["transaction.abort.timed.out.transaction.cleanup.interval.ms"]
        self.expire_interval_ms = config["transaction.remove.expired.transaction.cleanup.interval.ms"]
        self.id_expiration_ms = config["transactional.id.expiration.ms"]
        self.max_timeout_ms = config["transaction.max.timeout.ms"]
        now = clock.milliseconds()
        self._next_abort_check = now + self.abort_interval_ms
        self._next_expire_check = now + self.expire_interval_ms

    # ----------------------------------------------------------- topology
    def num_partitions(self) -> int:
        topic = self.node.image.topics.get(TRANSACTION_STATE_TOPIC) if self.node is not None else None
        return topic.partition_count if topic is not None else self.config["transaction.state.log.num.partitions"]

    def partition_for(self, transactional_id: str) -> int:
        return partition_for(transactional_id, self.num_partitions())

    # ------------------------------------------------------------- replay
    @staticmethod
    def as_record(record) -> TxnRecord:
        return record

    def replay(self, record: TxnRecord, offset: int = -1, producer_id: int = -1) -> None:
        if record.value is None:
            self.txns.pop(record.transactional_id, None)
        else:
            self.txns[record.transactional_id] = TransactionMetadata.from_value(record.transactional_id, record.value)

    def load(self) -> int:
        """Start-up: replays __transaction_state; prepared transactions get
        their markers again. Returns the number of records replayed."""
        from fluxmq.log.records import iter_records
        count = 0
        partitions = self.node.replica_manager.partitions_of(TRANSACTION_STATE_TOPIC) if self.node is not None else ()
        for p in partitions:
            for batch in p.log.iter_batches():
                for _offset, _ts, key, value in iter_records(batch, with_values=True):
                    try:
                        transactional_id, v = txn_records.decode(key, value)
                    except Exception as e:  # noqa: BLE001 - one bad record must not stop the load
                        log.error("%s-%d: skipping an unreadable record: %s", TRANSACTION_STATE_TOPIC, p.index, e)
                        continue
                    self.replay(TxnRecord(transactional_id, v))
                    count += 1
        self.active = True
        for meta in list(self.txns.values()):
            if meta.state in PREPARED:
                log.info("transaction %r of producer %d was %s at start-up: writing its markers", meta.transactional_id,
                         meta.producer_id, meta.state.kafka_name)
                self.write_markers(meta)
        return count

    def on_unloaded(self) -> None:
        self.active = False

    @staticmethod
    def take_deferred() -> list[CoordinatorResult]:
        """Nothing here produces records outside a request or a timer (the runtime asks)."""
        return []

    def _write(self, meta: TransactionMetadata, response=None, on_append=None) -> CoordinatorResult:
        """The record of `meta`; if it cannot be written the client gets the write's error instead."""
        if isinstance(response, (InitProducerIdResult, EndTxnResult)):
            def error_response(code, kind=type(response)):
                return kind(code)
        else:
            def error_response(code):
                return code
        return CoordinatorResult(records=[TxnRecord(meta.transactional_id, meta.to_value())], response=response,
                                 on_append=on_append, error_response=error_response)

    # ------------------------------------------------------------- checks
    def _checked(self, transactional_id: str, producer_id: int,
                 epoch: int) -> tuple[TransactionMetadata | None, CoordinatorResult | None]:
        """(the transaction, None), or (None, the error result) after Kafka's checks of
        a request's producer id and epoch (transaction version 1)."""
        meta = self.txns.get(transactional_id)
        if not self.active:
            error = ErrorCode.NOT_COORDINATOR
        elif meta is None or meta.state == S.DEAD or meta.producer_id != producer_id:
            error = ErrorCode.INVALID_PRODUCER_ID_MAPPING
        elif meta.producer_epoch != epoch:
            error = ErrorCode.PRODUCER_FENCED
        else:
            return meta, None
        return None, CoordinatorResult(response=error)

    # ===================================================== InitProducerId
    def init_producer_id(self, transactional_id: str, timeout_ms: int, expected_producer_id: int = NO_PRODUCER_ID,
                         expected_epoch: int = NO_PRODUCER_EPOCH) -> CoordinatorResult:
        """A new epoch for the transactional id (the previous incarnation is
        fenced); its ongoing transaction is aborted first."""
        if not self.active:
            return CoordinatorResult(response=InitProducerIdResult(ErrorCode.NOT_COORDINATOR))
        now = self.clock.milliseconds()
        meta = self.txns.get(transactional_id)
        if meta is None or meta.state == S.DEAD:
            try:
                meta = TransactionMetadata(transactional_id, self.producer_ids.generate(), NO_PRODUCER_EPOCH,
                                           timeout_ms, S.EMPTY, last_update_ms=now)
            except KafkaError as e:
                return CoordinatorResult(response=InitProducerIdResult(e.code))
        if expected_producer_id != NO_PRODUCER_ID and not (
                meta.producer_id == expected_producer_id and meta.producer_epoch == expected_epoch):
            # KIP-360: a producer that asks to keep its id must hold the current epoch.
            return CoordinatorResult(response=InitProducerIdResult(ErrorCode.PRODUCER_FENCED))
        if meta.state in PREPARED:
            return CoordinatorResult(response=InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS))
        if meta.state == S.ONGOING:
            # Fence the previous incarnation: abort with a bumped epoch; the client
            # retries on CONCURRENT_TRANSACTIONS and gets the next epoch then.
            log.info("InitProducerId for %r fences producer %d epoch %d: its ongoing transaction is aborted",
                     transactional_id, meta.producer_id, meta.producer_epoch)
            return self._abort(self._fenced(meta, now), now, InitProducerIdResult(ErrorCode.CONCURRENT_TRANSACTIONS))
        if meta.epoch_exhausted:
            try:
                producer_id, epoch = self.producer_ids.generate(), 0
            except KafkaError as e:
                return CoordinatorResult(response=InitProducerIdResult(e.code))
        else:
            producer_id, epoch = meta.producer_id, meta.producer_epoch + 1
        new = meta.transit(producer_id=producer_id, producer_epoch=epoch, timeout_ms=timeout_ms, state=S.EMPTY,
                           partitions=frozenset(), start_ms=-1, last_update_ms=now)
        return self._write(new, InitProducerIdResult(ErrorCode.NONE, producer_id, epoch))

    @staticmethod
    def _fenced(meta: TransactionMetadata, now: int) -> TransactionMetadata:
        """Kafka's prepareFenceProducerEpoch: the epoch goes up by one (not past the maximum)."""
        epoch = meta.producer_epoch if meta.epoch_exhausted else meta.producer_epoch + 1
        return meta.transit(producer_epoch=epoch, last_update_ms=now)

    def _abort(self, meta: TransactionMetadata, now: int, response) -> CoordinatorResult:
        """The coordinator aborts an ongoing transaction itself (a fence or a timeout)."""
        prepared = meta.transit(state=S.PREPARE_ABORT, last_update_ms=now)
        return self._write(prepared, response, on_append=lambda error: error or self.write_markers(prepared))

    # =================================================== AddPartitionsToTxn
    def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                       partitions: list[tuple[str, int]], client_transaction_version: int = TV1) -> CoordinatorResult:
        """Adds partitions (or, for AddOffsetsToTxn, a __consumer_offsets
        partition) to the ongoing transaction, starting it if needed. The
        response is one error for every partition. Version 2 adds come from
        the partition leaders (Produce v12+, TxnOffsetCommit v5+)."""
        current = self.txns.get(transactional_id)
        if self.active and current is not None and current.state in PREPARED:
            # The markers are being written: first, as Kafka checks a pending transition
            # (KAFKA-18660), so the next transaction of a new producer id is not refused.
            return CoordinatorResult(response=ErrorCode.CONCURRENT_TRANSACTIONS)
        meta, refused = self._checked(transactional_id, producer_id, epoch)
        if refused is not None:
            return refused
        added = frozenset(partitions)
        if meta.state == S.ONGOING and added <= meta.partitions:
            return CoordinatorResult(response=ErrorCode.NONE)  # nothing new: no write
        now = self.clock.milliseconds()
        start = meta.start_ms if meta.state == S.ONGOING else now
        new = meta.transit(state=S.ONGOING, partitions=meta.partitions | added, start_ms=start, last_update_ms=now,
                           client_transaction_version=client_transaction_version)
        return self._write(new, ErrorCode.NONE)

    def has_partitions(self, transactional_id: str, producer_id: int, epoch: int, partitions) -> bool:
        """Whether the producer's ongoing transaction holds all `partitions` (no add needed)."""
        meta = self.txns.get(transactional_id)
        return (self.active and meta is not None and meta.state == S.ONGOING and meta.producer_id == producer_id
                and meta.producer_epoch == epoch and meta.partitions.issuperset(partitions))

    def verify(self, transactional_id: str | None, producer_id: int, epoch: int, topic: str, partition: int) -> None:
        """KIP-890 part 1: a producer's first transactional batch on a partition
        must belong to its ongoing transaction, which must hold the partition
        (Kafka's AddPartitionsToTxn verifyOnly). Raises KafkaError."""
        meta = self.txns.get(transactional_id) if transactional_id is not None else None
        if meta is None or meta.producer_id != producer_id:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_ID_MAPPING,
                             f"producer {producer_id} holds no transaction of transactional id {transactional_id!r}")
        if epoch < meta.producer_epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"producer {producer_id} epoch {epoch} is fenced by epoch {meta.producer_epoch}")
        if meta.producer_epoch != epoch or meta.state != S.ONGOING or (topic, partition) not in meta.partitions:
            raise KafkaError(ErrorCode.INVALID_TXN_STATE, f"partition {topic}-{partition} is not in the ongoing "
                             f"transaction of transactional id {transactional_id!r}")

    # ============================================================ EndTxn
    def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool,
                client_transaction_version: int = TV1) -> CoordinatorResult:
        """Commits or aborts: PrepareCommit / PrepareAbort is written and the
        client answered; the markers follow (write_markers)."""
        if client_transaction_version >= TV2:
            return self.end_txn_v2(transactional_id, producer_id, epoch, commit)
        meta, refused = self._checked(transactional_id, producer_id, epoch)
        if refused is not None:
            return CoordinatorResult(response=EndTxnResult(refused.response))
        state = meta.state
        wanted_complete, wanted_prepare = ((S.COMPLETE_COMMIT, S.PREPARE_COMMIT) if commit
                                           else (S.COMPLETE_ABORT, S.PREPARE_ABORT))
        if state == S.ONGOING:
            prepared = meta.transit(state=wanted_prepare, last_update_ms=self.clock.milliseconds())
            return self._write(prepared, EndTxnResult(ErrorCode.NONE),
                               on_append=lambda err: err or self.write_markers(prepared))
        if state == wanted_complete:
            return CoordinatorResult(response=EndTxnResult(ErrorCode.NONE))  # a retry of the EndTxn that completed it
        if state == wanted_prepare:
            return CoordinatorResult(response=EndTxnResult(ErrorCode.CONCURRENT_TRANSACTIONS))
        log.info("EndTxn(%s) for %r refused: the transaction is %s", "commit" if commit else "abort",
                 transactional_id, state.kafka_name)
        return CoordinatorResult(response=EndTxnResult(ErrorCode.INVALID_TXN_STATE))

    def end_txn_v2(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> CoordinatorResult:
        """EndTxn v5+ (KIP-890 part 2, Kafka's endTransaction for TV2): the
        prepared transaction and its markers carry epoch + 1, which the client
        gets back; an exhausted epoch moves to a new producer id (epoch 0) once
        complete. A retry is told by the request's epoch being one behind
        (or, after a new producer id, by the previous producer id)."""
        def refuse(code):
            return CoordinatorResult(response=EndTxnResult(code))
        meta = self.txns.get(transactional_id)
        if not self.active:
            return refuse(ErrorCode.NOT_COORDINATOR)
        if meta is None or meta.state == S.DEAD:
            return refuse(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        retry_on_overflow = (meta.previous_producer_id == producer_id and epoch == MAX_EPOCH - 1
                             and meta.producer_epoch == 0)
        retry_on_bump = meta.producer_epoch == epoch + 1
        if meta.producer_id != producer_id and not retry_on_overflow:
            return refuse(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        state = meta.state
        if state in PREPARED:
            return refuse(ErrorCode.CONCURRENT_TRANSACTIONS)  # Kafka's pending transition, checked before the epoch
        if state in (S.ONGOING, S.EMPTY):
            valid_epoch = epoch == meta.producer_epoch
        else:
            valid_epoch = retry_on_bump or retry_on_overflow or epoch == meta.producer_epoch
        if not valid_epoch:
            return refuse(ErrorCode.PRODUCER_FENCED)
        wanted_complete, wanted_prepare = ((S.COMPLETE_COMMIT, S.PREPARE_COMMIT) if commit
                                           else (S.COMPLETE_ABORT, S.PREPARE_ABORT))
        if state == S.ONGOING or (not commit and state == S.EMPTY):
            return self._prepare_v2(meta, wanted_prepare)
        if state in COMPLETED:
            if state == wanted_complete and (retry_on_bump or retry_on_overflow):
                # The EndTxn that completed it, again: the epoch it answered.
                return CoordinatorResult(response=EndTxnResult(ErrorCode.NONE, meta.producer_id, meta.producer_epoch))
            if not commit and epoch == meta.producer_epoch:
                return self._prepare_v2(meta, S.PREPARE_ABORT)  # aborting a transaction that never started
        log.info("EndTxn(%s) v5 for %r refused: the transaction is %s", "commit" if commit else "abort",
                 transactional_id, state.kafka_name)
        return refuse(ErrorCode.INVALID_TXN_STATE)

    def _prepare_v2(self, meta: TransactionMetadata, prepare: TxnState) -> CoordinatorResult:
        now = self.clock.milliseconds()
        next_producer_id = NO_PRODUCER_ID
        if meta.epoch_exhausted:
            try:
                next_producer_id = self.producer_ids.generate()
            except KafkaError as e:
                return CoordinatorResult(response=EndTxnResult(e.code))
        start = meta.start_ms if meta.state == S.ONGOING else now
        prepared = meta.transit(state=prepare, producer_epoch=meta.producer_epoch + 1,
                                next_producer_id=next_producer_id, start_ms=start, last_update_ms=now,
                                client_transaction_version=TV2)
        answer = (EndTxnResult(ErrorCode.NONE, next_producer_id, 0) if next_producer_id != NO_PRODUCER_ID
                  else EndTxnResult(ErrorCode.NONE, prepared.producer_id, prepared.producer_epoch))
        return self._write(prepared, answer, on_append=lambda err: err or self.write_markers(prepared))

    def complete(self, transactional_id: str, producer_id: int, epoch: int) -> CoordinatorResult | None:
        """The markers of the prepared transaction are durable: CompleteCommit / CompleteAbort."""
        meta = self.txns.get(transactional_id)
        if not self.active or meta is None or meta.state not in PREPARED \
                or (meta.producer_id, meta.producer_epoch) != (producer_id, epoch):
            return None  # shut down, or completed or replaced meanwhile (a restart writes the markers again)
        done = S.COMPLETE_COMMIT if meta.state == S.PREPARE_COMMIT else S.COMPLETE_ABORT
        now = self.clock.milliseconds()
        if meta.next_producer_id != NO_PRODUCER_ID:  # the epoch was exhausted: a new producer id
            completed = meta.transit(state=done, partitions=frozenset(), last_update_ms=now,
                                     producer_id=meta.next_producer_id, producer_epoch=0,
                                     previous_producer_id=meta.producer_id, next_producer_id=NO_PRODUCER_ID)
        else:
            completed = meta.transit(state=done, partitions=frozenset(), last_update_ms=now,
                                     previous_producer_id=meta.producer_id)
        return self._write(completed)

    # ============================================================ timers
    def poll_timers(self, now_ms: int) -> list[CoordinatorResult]:
        out = []
        if self.active and now_ms >= self._next_abort_check:
            self._next_abort_check = now_ms + self.abort_interval_ms
            out += self.abort_timed_out(now_ms)
        if self.active and now_ms >= self._next_expire_check:
            self._next_expire_check = now_ms + self.expire_interval_ms
            out += self.expire_transactional_ids(now_ms)
        return out

    def abort_timed_out(self, now_ms: int) -> list[CoordinatorResult]:
        """Ongoing transactions past transaction.timeout.ms are aborted and their
        producer fenced (Kafka's abortTimedOutTransactions)."""
        out = []
        for meta in list(self.txns.values()):
            if meta.state == S.ONGOING and meta.start_ms + meta.timeout_ms < now_ms:
                log.info("transaction %r of producer %d timed out after %d ms: aborting it", meta.transactional_id,
                         meta.producer_id, meta.timeout_ms)
                out.append(self._abort(self._fenced(meta, now_ms), now_ms, None))
        return out

    def expire_transactional_ids(self, now_ms: int) -> list[CoordinatorResult]:
        """Transactional ids unused for transactional.id.expiration.ms are removed (a tombstone)."""
        out = []
        for meta in list(self.txns.values()):
            if (meta.state in (S.EMPTY, *COMPLETED) and now_ms - meta.last_update_ms >= self.id_expiration_ms):
                log.info("transactional id %r expired", meta.transactional_id)
                out.append(CoordinatorResult(records=[TxnRecord(meta.transactional_id, None)]))
        return out

    # ============================================================ describe
    def describe(self, transactional_id: str) -> TransactionMetadata | None:
        meta = self.txns.get(transactional_id)
        return meta if meta is not None and meta.state != S.DEAD else None

    def list(self, states: set[str], producer_ids: set[int], duration_ms: int = -1) -> list[TransactionMetadata]:
        """ListTransactions' filters: state names, producer ids, and (v1+) running longer than duration_ms."""
        now = self.clock.milliseconds()
        return [m for m in self.txns.values() if m.state != S.DEAD
                and (not states or m.state.kafka_name in states)
                and (not producer_ids or m.producer_id in producer_ids)
                and (duration_ms < 0 or (m.state == S.ONGOING and now - m.start_ms > duration_ms))]
