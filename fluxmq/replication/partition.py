"""Partition: one topic partition on this broker (Kafka's Partition).

It holds the partition's log and its replication state: the leader epoch and
partition epoch, the replica set and ISR (on one node: this node alone), the
high watermark and the leader-epoch cache. The replica manager
(replica_manager.py) is the only caller.

High watermark: the offset below which every ISR member has the records
(Kafka's maybeIncrementLeaderHW); consumers read below it, acks=all waits for
it. On a single node the ISR is this node, so the high watermark moves to the
log end offset as soon as an append is written (to the page cache), exactly as
in a one-broker Kafka; acks=all additionally waits for fdatasync, which is
FluxMQ's durability rule, not the high watermark's. It is state of its own,
kept at or below the log end offset (truncation and recovery lower it), and
checkpointed to replication-offset-checkpoint.

Leader epochs (KIP-101, KIP-279, KIP-320): the cache lists each epoch this
log saw and the offset where it began, in `leader-epoch-checkpoint` in the
partition directory; an epoch is added when this broker becomes its leader
(at the log end offset, as Kafka's makeLeader) or when a batch of a new epoch
is appended. OffsetForLeaderEpoch answers from it (Kafka's
LeaderEpochFileCache.endOffsetFor). Requests that carry a current leader
epoch are checked with check_current_leader_epoch.
"""

from __future__ import annotations

import bisect
import os
import uuid

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log import checkpoints
from fluxmq.log.batch import NO_TIMESTAMP

LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1
READ_UNCOMMITTED, READ_COMMITTED = 0, 1


class LeaderEpochCache:
    """Kafka's LeaderEpochFileCache: ascending (epoch, start offset) entries."""

    def __init__(self, path: str):
        self.path = path
        self.entries: list[tuple[int, int]] = checkpoints.read_epochs(path)

    @property
    def latest_epoch(self) -> int:
        return self.entries[-1][0] if self.entries else UNDEFINED_EPOCH

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Records that `epoch` begins at `start_offset` if it is new; True if written."""
        if epoch < 0 or epoch <= self.latest_epoch:
            return False
        # A new epoch starts after every earlier one: drop entries it supersedes.
        while self.entries and self.entries[-1][1] >= start_offset:
            self.entries.pop()
        self.entries.append((epoch, start_offset))
        self._write()
        return True

    def end_offset_for(self, requested: int, log_end_offset: int) -> tuple[int, int]:
        """(epoch, end offset) of the largest epoch <= requested, Kafka's endOffsetFor."""
        if requested == UNDEFINED_EPOCH or not self.entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested == self.latest_epoch:
            return requested, log_end_offset
        epochs = [e for e, _o in self.entries]
        higher = bisect.bisect_right(epochs, requested)
        if higher >= len(self.entries):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET  # newer than any we know
        end = self.entries[higher][1]
        if higher == 0:
            return requested, end  # older than the earliest: it ends where the earliest began
        return self.entries[higher - 1][0], end

    def epoch_for(self, offset: int) -> int:
        """The epoch the record at `offset` was written in (Kafka's epochForOffset)."""
        epoch = UNDEFINED_EPOCH
        for e, start in self.entries:
            if start > offset:
                break
            epoch = e
        return epoch

    def truncate_from_start(self, start_offset: int) -> None:
        """The log now starts at start_offset (retention): entries before it collapse into one."""
        keep = [(e, o) for e, o in self.entries if o > start_offset]
        before = [(e, o) for e, o in self.entries if o <= start_offset]
        if before:
            keep.insert(0, (before[-1][0], start_offset))
        if keep != self.entries:
            self.entries = keep
            self._write()

    def _write(self) -> None:
        checkpoints.write_epochs(self.path, self.entries)


class Partition:
    def __init__(self, topic: str, topic_id: uuid.UUID, index: int, log, node_id: int, replicas: list[int],
                 isr: list[int], leader: int, leader_epoch: int, partition_epoch: int,
                 high_watermark: int | None = None):
        self.topic = topic
        self.topic_id = topic_id
        self.index = index
        self.key = (topic, index)
        self.log = log
        self.node_id = node_id
        self.replicas = list(replicas)
        self.isr = list(isr)
        self.leader = leader
        self.leader_epoch = leader_epoch
        self.partition_epoch = partition_epoch
        self.epochs = LeaderEpochCache(os.path.join(log.dir, LEADER_EPOCH_CHECKPOINT))
        if not self.epochs.entries and log.log_end_offset > log.log_start_offset:
            # A log older than its checkpoint (written before FluxMQ kept one): every
            # batch in it carries leader epoch 0, the only one a single node had.
            self.epochs.assign(0, log.log_start_offset)
        if self.is_leader:
            # Kafka's makeLeader: the leader's epoch starts at its log end (KIP-101).
            self.epochs.assign(leader_epoch, log.log_end_offset)
        log.leader_epoch = leader_epoch  # stamped into every appended batch
        self.high_watermark = min(high_watermark if high_watermark is not None else 0, log.log_end_offset)
        self.maybe_increment_high_watermark()

    # ----------------------------------------------------------- state
    @property
    def is_leader(self) -> bool:
        return self.leader == self.node_id

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def last_stable_offset(self) -> int:
        """Read_committed consumers read below it: the first offset of the oldest
        open transaction, or the high watermark (Kafka's UnifiedLog.lastStableOffset)."""
        first_unstable = self.log.first_unstable_offset
        hw = self.high_watermark
        return hw if first_unstable is None or first_unstable > hw else first_unstable

    def offset_limit(self, isolation: int) -> int:
        return self.last_stable_offset if isolation == READ_COMMITTED else self.high_watermark

    def check_current_leader_epoch(self, requested: int) -> None:
        """KIP-320: a newer epoch than ours is UNKNOWN_LEADER_EPOCH (we are behind), an
        older one FENCED_LEADER_EPOCH (the client is); -1 asks for no check."""
        if requested == UNDEFINED_EPOCH:
            return
        if requested > self.leader_epoch:
            raise KafkaError(ErrorCode.UNKNOWN_LEADER_EPOCH)
        if requested < self.leader_epoch:
            raise KafkaError(ErrorCode.FENCED_LEADER_EPOCH)

    def check_leader(self) -> None:
        if not self.is_leader:
            raise KafkaError(ErrorCode.NOT_LEADER_OR_FOLLOWER,
                             f"this broker is not the leader of {self.topic}-{self.index}")

    def check_enough_replicas(self) -> None:
        """acks=all needs min.insync.replicas in the ISR (Kafka's NotEnoughReplicasException)."""
        need = self.log.config.min_insync_replicas
        if len(self.isr) < need:
            raise KafkaError(ErrorCode.NOT_ENOUGH_REPLICAS,
                             f"min.insync.replicas is {need} but the ISR has {len(self.isr)}")

    # ----------------------------------------------------------- appends
    def on_appended(self, first_offset: int) -> bool:
        """An append at first_offset was written: the epoch cache and the high
        watermark. Returns True if the high watermark moved."""
        self.epochs.assign(self.leader_epoch, first_offset)
        return self.maybe_increment_high_watermark()

    def maybe_increment_high_watermark(self) -> bool:
        """The smallest log end offset of the ISR; this node is the whole ISR here."""
        new = self.log_end_offset
        if new > self.high_watermark:
            self.high_watermark = new
            return True
        return False

    def delete_records_before(self, offset: int) -> int:
        """DeleteRecords on the leader (Partition.deleteRecordsOnLeader): only with
        cleanup.policy delete, -1 means the high watermark, and a larger offset
        than that is OFFSET_OUT_OF_RANGE. Returns the new low watermark (log
        start offset)."""
        self.check_leader()
        if not self.log.config.delete:
            raise KafkaError(ErrorCode.POLICY_VIOLATION, f"Records of partition {self.topic}-{self.index} can "
                                                         "not be deleted due to the configured policy")
        hw = self.high_watermark
        target = hw if offset == -1 else offset
        if target < 0:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"The offset {target} for partition {self.topic}-{self.index} is not valid")
        if target > hw:  # UnifiedLog.maybeIncrementLogStartOffset
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"Cannot increment the log start offset to {target} of partition {self.topic}-"
                             f"{self.index} since it is larger than the high watermark {hw}")
        low = self.log.delete_records_before(target)
        self.on_log_start_moved()
        return low

    def on_log_start_moved(self) -> None:
        """Retention or DeleteRecords moved the log start offset."""
        self.epochs.truncate_from_start(self.log_start_offset)

    # ------------------------------------------------------------- reads
    def read(self, offset: int, max_bytes: int, isolation: int, min_one_batch: bool):
        """Whole batches from `offset` below the high watermark (or last stable
        offset): a FileRange or None. Raises OFFSET_OUT_OF_RANGE."""
        limit = self.offset_limit(isolation)
        if offset > self.log_end_offset or offset < self.log_start_offset:
            self.log.check_offset(offset)
        if offset >= limit:
            return None
        return self.log.read(offset, max_bytes if not min_one_batch else max(max_bytes, 1), limit)

    def fetch_offset_for_timestamp(self, timestamp: int, isolation: int) -> tuple[int, int, int] | None:
        """ListOffsets by timestamp: (offset, timestamp, leader epoch) of the first
        record at or after it below the readable limit, or None."""
        found = self.log.offset_for_timestamp(timestamp)
        if found is None or found[0] >= self.offset_limit(isolation):
            return None
        return found[0], found[1], self.epochs.epoch_for(found[0])

    def max_timestamp_offset(self, isolation: int) -> tuple[int, int, int] | None:
        """ListOffsets -3 (KIP-734): the first record holding the largest timestamp."""
        ts, _offset = self.log.max_timestamp()
        if ts == NO_TIMESTAMP:
            return None
        return self.fetch_offset_for_timestamp(ts, isolation)

    def end_offset_for_epoch(self, requested: int) -> tuple[int, int]:
        return self.epochs.end_offset_for(requested, self.log_end_offset)
