"""One transactional id's state (Kafka's TransactionMetadata and
TransactionState), as the coordinator keeps it and __transaction_state
stores it.

    Empty --AddPartitions--> Ongoing --EndTxn--> PrepareCommit / PrepareAbort
      ^                                               | markers written
      +---- InitProducerId (epoch bump) <---- CompleteCommit / CompleteAbort

InitProducerId on an Ongoing transaction fences it: the epoch is bumped and
the transaction aborted (Kafka's PrepareEpochFence, which is never written),
and the producer retries after CONCURRENT_TRANSACTIONS. A transaction that
outlives its timeout is aborted the same way. Dead is an expired
transactional id (its tombstone).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum

NO_PRODUCER_ID = -1
NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 32767  # Short.MAX_VALUE


class TxnState(IntEnum):
    """Kafka's TransactionState ids, as stored in TransactionStatus."""
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        """The name DescribeTransactions and ListTransactions use."""
        return _NAMES[self]


_NAMES = {TxnState.EMPTY: "Empty", TxnState.ONGOING: "Ongoing", TxnState.PREPARE_COMMIT: "PrepareCommit",
          TxnState.PREPARE_ABORT: "PrepareAbort", TxnState.COMPLETE_COMMIT: "CompleteCommit",
          TxnState.COMPLETE_ABORT: "CompleteAbort", TxnState.DEAD: "Dead",
          TxnState.PREPARE_EPOCH_FENCE: "PrepareEpochFence"}
PREPARED = (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)
COMPLETED = (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)


@dataclass(frozen=True)
class TransactionMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset = field(default_factory=frozenset)  # {(topic, partition)}
    start_ms: int = -1          # when the current transaction began (its first AddPartitions)
    last_update_ms: int = -1
    # KIP-890 part 2 (transaction version 2): the epoch goes up at every EndTxn;
    # when it is exhausted, PrepareCommit / PrepareAbort names the producer id
    # that Complete* moves to (next), and Complete* remembers the one it left (previous).
    previous_producer_id: int = NO_PRODUCER_ID
    next_producer_id: int = NO_PRODUCER_ID
    client_transaction_version: int = 0  # of the requests that built this transaction

    def transit(self, **changes) -> "TransactionMetadata":
        return replace(self, **changes)

    @property
    def epoch_exhausted(self) -> bool:
        """Kafka's isEpochExhausted: the epoch cannot be bumped (twice, for a fence) any more."""
        return self.producer_epoch >= MAX_EPOCH - 1

    def to_value(self) -> dict:
        """TransactionLogValue; an Empty transaction stores null partitions, as Kafka."""
        by_topic: dict[str, list[int]] = {}
        for topic, index in sorted(self.partitions):
            by_topic.setdefault(topic, []).append(index)
        partitions = None if self.state == TxnState.EMPTY else [
            {"topic": t, "partition_ids": ids} for t, ids in by_topic.items()]
        return {"producer_id": self.producer_id, "producer_epoch": self.producer_epoch,
                "transaction_timeout_ms": self.timeout_ms, "transaction_status": int(self.state),
                "transaction_partitions": partitions, "transaction_last_update_timestamp_ms": self.last_update_ms,
                "transaction_start_timestamp_ms": self.start_ms, "previous_producer_id": self.previous_producer_id,
                "next_producer_id": self.next_producer_id,
                "client_transaction_version": self.client_transaction_version}

    @classmethod
    def from_value(cls, transactional_id: str, value: dict) -> "TransactionMetadata":
        partitions = frozenset((p["topic"], i) for p in value["transaction_partitions"] or () for i in p["partition_ids"])
        return cls(transactional_id, value["producer_id"], value["producer_epoch"], value["transaction_timeout_ms"],
                   TxnState(value["transaction_status"]), partitions, value["transaction_start_timestamp_ms"],
                   value["transaction_last_update_timestamp_ms"], value.get("previous_producer_id", NO_PRODUCER_ID),
                   value.get("next_producer_id", NO_PRODUCER_ID), value.get("client_transaction_version", 0))
