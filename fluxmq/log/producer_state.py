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

Transactions (KIP-98): a producer's first transactional batch opens its
transaction on this partition at that batch's offset; the coordinator's
COMMIT or ABORT marker closes it. The first offset of the oldest open
transaction is the first unstable offset, which bounds the last stable
offset (read_committed consumers read below it). An aborted transaction is
remembered as (producer id, first offset, last offset = the marker's) for
the aborted_transactions of read_committed fetches (Kafka's .txnindex, kept
in memory here and rebuilt when the log is loaded). A marker carries the
producer's epoch; a newer one (the coordinator fenced the producer) fences
older epochs here too, and the producer starts again at sequence 0.
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
    coordinator_epoch: int = -1  # of the last marker (DescribeProducers)

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    """Kafka's AbortedTxn: the offsets a read_committed consumer drops for this producer."""
    producer_id: int
    first_offset: int
    last_offset: int  # the ABORT marker's offset
    last_stable_offset: int = -1  # just after the marker (Kafka's TransactionIndex keeps it)


class Duplicate(Exception):
    """The batch was already appended; `batch` holds its offsets."""

    def __init__(self, batch: BatchMetadata):
        super().__init__("duplicate batch")
        self.batch = batch


class ProducerStateManager:
    def __init__(self):
        self.producers: dict[int, ProducerEntry] = {}
        self.ongoing: dict[int, int] = {}  # producer id -> first offset of its open transaction
        self.aborted: list[AbortedTxn] = []  # by last offset, ascending

    @property
    def first_unstable_offset(self) -> int | None:
        return min(self.ongoing.values()) if self.ongoing else None

    def has_ongoing(self, producer_id: int, epoch: int) -> bool:
        """A transaction of this producer is open here at this epoch (Kafka's
        hasOngoingTransaction; the epoch matters since KIP-890 part 2, where the
        next transaction's epoch can arrive before this one's marker)."""
        if producer_id not in self.ongoing:
            return False
        entry = self.producers.get(producer_id)
        return entry is not None and entry.epoch == epoch

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
        # No batch of this epoch yet: a marker bumped it (the producer starts at 0).
        expected = increment_sequence(entry.last_seq, 1)
        if first_seq != expected:
            raise KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                             f"producer {producer_id} epoch {epoch}: sequence {first_seq}, "
                             f"expected {expected}")

    def record(self, producer_id: int, epoch: int, first_seq: int, last_offset_delta: int,
               first_offset: int, timestamp: int, transactional: bool = False) -> None:
        """Records an appended batch (also used to replay the log on load)."""
        entry = self._entry(producer_id, epoch)
        entry.batches.append(BatchMetadata(first_seq, increment_sequence(first_seq, last_offset_delta),
                                           first_offset, first_offset + last_offset_delta, timestamp))
        entry.last_timestamp = max(entry.last_timestamp, timestamp)
        if transactional:
            self.ongoing.setdefault(producer_id, first_offset)

    def _entry(self, producer_id: int, epoch: int) -> ProducerEntry:
        entry = self.producers.get(producer_id)
        if entry is None or epoch != entry.epoch:
            entry = self.producers[producer_id] = ProducerEntry(epoch)
        return entry

    def check_marker(self, producer_id: int, epoch: int) -> None:
        """A marker may not carry an older epoch than the partition has seen
        (Kafka's ProducerAppendInfo.checkProducerEpoch for control batches)."""
        entry = self.producers.get(producer_id)
        if entry is not None and epoch < entry.epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"marker for producer {producer_id} has epoch {epoch}, older than {entry.epoch}")

    def record_marker(self, producer_id: int, epoch: int, commit: bool, offset: int,
                      timestamp: int, coordinator_epoch: int = -1) -> AbortedTxn | None:
        """A COMMIT or ABORT marker at `offset` closes the producer's transaction;
        returns the aborted transaction it ends, if any."""
        entry = self._entry(producer_id, epoch)
        entry.last_timestamp = max(entry.last_timestamp, timestamp)
        entry.coordinator_epoch = coordinator_epoch
        first = self.ongoing.pop(producer_id, None)
        if commit or first is None:
            return None
        aborted = AbortedTxn(producer_id, first, offset, min(self.ongoing.values(), default=offset + 1))
        self.aborted.append(aborted)
        return aborted

    def aborted_in(self, start: int, upper: int) -> list[AbortedTxn]:
        """Aborted transactions that overlap [start, upper) (Kafka's collectAbortedTxns)."""
        return [a for a in self.aborted if a.last_offset >= start and a.first_offset < upper]

    def forget_aborted(self, markers: set[tuple[int, int]]) -> None:
        """The cleaner removed these ABORT markers (producer id, offset)."""
        if markers:
            self.aborted = [a for a in self.aborted if (a.producer_id, a.last_offset) not in markers]

    def on_log_start(self, log_start: int) -> None:
        """Retention removed offsets below log_start: aborted transactions wholly below it go."""
        if self.aborted and self.aborted[0].last_offset < log_start:
            self.aborted = [a for a in self.aborted if a.last_offset >= log_start]

    def expire(self, now_ms: int, expiration_ms: int) -> int:
        # A producer with an open transaction is kept (Kafka's isProducerExpired).
        stale = [pid for pid, e in self.producers.items()
                 if now_ms - e.last_timestamp > expiration_ms and pid not in self.ongoing]
        for pid in stale:
            del self.producers[pid]
        return len(stale)

    def truncate(self) -> None:
        self.producers.clear()
        self.ongoing.clear()
        self.aborted.clear()
