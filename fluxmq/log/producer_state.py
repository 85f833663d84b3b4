"""ProducerStateManager: idempotent-producer bookkeeping per partition (KIP-98).

For each producer id the partition remembers the epoch and the metadata of
its last 5 batches (the most a producer keeps in flight per partition):
 - an exact retry of one of those batches (same first and last sequence) is
   a duplicate: the original offsets are returned and nothing is written;
 - any other sequence that does not follow the last one is
   OUT_OF_ORDER_SEQUENCE_NUMBER;
 - an older epoch is INVALID_PRODUCER_EPOCH (fenced);
 - a newer epoch must start again at sequence 0, unless the producer was
   unknown to the partition (its state expired or was never seen).
Sequences are int32 and wrap from 2^31-1 to 0. Idle producers are expired
after producer.id.expiration.ms. The state is rebuilt from batch headers when
the log is loaded, so it survives restarts and crashes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from fluxmq.errors import ErrorCode, KafkaError

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
NUM_BATCHES_TO_RETAIN = 5
INT32_MAX = 2**31 - 1


def increment_sequence(sequence: int, increment: int) -> int:
    """Kafka's wrap-around: the sequence after INT32_MAX is 0."""
    if sequence > INT32_MAX - increment:
        return increment - (INT32_MAX - sequence) - 1
    return sequence + increment


@dataclass(slots=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque = field(default_factory=lambda: deque(maxlen=NUM_BATCHES_TO_RETAIN))
    last_timestamp: int = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE


class Duplicate(Exception):
    """The batch was already appended; `batch` holds its offsets."""

    def __init__(self, batch: BatchMetadata):
        super().__init__("duplicate batch")
        self.batch = batch


class ProducerStateManager:
    def __init__(self):
        self.producers: dict[int, ProducerEntry] = {}

    def check(self, producer_id: int, epoch: int, first_seq: int, last_offset_delta: int) -> None:
        """Validates one batch before it is appended. Raises Duplicate or KafkaError."""
        entry = self.producers.get(producer_id)
        if entry is None:
            return  # unknown producer: any sequence starts it
        if epoch < entry.epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"producer {producer_id} epoch {epoch} is older than {entry.epoch}")
        last_seq = increment_sequence(first_seq, last_offset_delta)
        if epoch > entry.epoch:
            if first_seq != 0:
                raise KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                 f"producer {producer_id} new epoch {epoch} must start at sequence 0, "
                                 f"got {first_seq}")
            return
        for b in entry.batches:
            if b.first_seq == first_seq and b.last_seq == last_seq:
                raise Duplicate(b)
        expected = increment_sequence(entry.last_seq, 1) if entry.batches else first_seq
        if first_seq != expected:
            raise KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                             f"producer {producer_id} epoch {epoch}: sequence {first_seq}, "
                             f"expected {expected}")

    def record(self, producer_id: int, epoch: int, first_seq: int, last_offset_delta: int,
               first_offset: int, timestamp: int) -> None:
        """Records an appended batch (also used to replay the log on load)."""
        entry = self.producers.get(producer_id)
        if entry is None or epoch != entry.epoch:
            entry = ProducerEntry(epoch)
            self.producers[producer_id] = entry
        entry.batches.append(BatchMetadata(first_seq, increment_sequence(first_seq, last_offset_delta),
                                           first_offset, first_offset + last_offset_delta, timestamp))
        entry.last_timestamp = max(entry.last_timestamp, timestamp)

    def expire(self, now_ms: int, expiration_ms: int) -> int:
        stale = [pid for pid, e in self.producers.items() if now_ms - e.last_timestamp > expiration_ms]
        for pid in stale:
            del self.producers[pid]
        return len(stale)

    def truncate(self) -> None:
        self.producers.clear()
