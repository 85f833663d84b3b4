"""Log: one partition's log (Kafka's UnifiedLog): the policy over its
segments, which LocalLog (local_log.py) keeps: what may be appended and at
which offsets, when to roll, the log start offset and retention, the
recovery point and when to flush, the producer state of idempotent and
transactional producers (the first unstable offset, aborted transactions),
transaction markers, reads by offset and by timestamp.

Appends are split in two so a produce request makes one native write call for
all its partitions: `prepare_append` validates the batch, runs the
idempotence checks, assigns offsets in place and returns the file write;
`append_plans` writes the plans of any number of logs with one native call
and then applies each log's bookkeeping (`complete_append`), or undoes the
writes (`abort_append`). Nothing changes in memory unless the write succeeds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fluxmq import native
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.log import snapshot
from fluxmq.log.batch import CONTROL_BIT, NO_TIMESTAMP, TRANSACTIONAL_BIT
from fluxmq.log.control import COMMIT
from fluxmq.log.producer_state import Duplicate, ProducerStateManager
from fluxmq.log.local_log import LocalLog
from fluxmq.log.segment import LogSegment
from fluxmq.log.validator import validate_records
from fluxmq.util.file_range import FileRange


@dataclass
class LogConfig:
    """The resolved topic configs a Log acts on."""
    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    index_interval_bytes: int = 4096
    max_message_bytes: int = 1048588
    log_append_time: bool = False
    timestamp_after_max_ms: int = 3600000
    timestamp_before_max_ms: int = 2**63 - 1
    retention_ms: int = 604800000
    retention_bytes: int = -1
    flush_messages: int = 2**63 - 1
    flush_ms: int = 2**63 - 1
    compact: bool = False
    delete: bool = True  # cleanup.policy has "delete": time/size retention applies (Kafka's LogConfig.delete)
    compression: int | None = None  # a codec to rewrite batches in; None keeps the producer's
    compression_levels: dict = field(default_factory=dict)
    min_insync_replicas: int = 1
    # Log compaction (cleanup.policy=compact; fluxmq/log/cleaner.py)
    delete_retention_ms: int = 86400000
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = 2**63 - 1
    min_cleanable_ratio: float = 0.5
    file_delete_delay_ms: int = 60000  # how long a removed segment's files outlive it (SegmentDeleter)


@dataclass
class AppendPlan:
    """One batch ready to be written at `position` of `segment` (offsets assigned)."""
    log: "Log"
    segment: LogSegment
    position: int
    buf: bytearray            # the whole batch, as it goes to the file
    first_offset: int
    last_offset: int
    max_timestamp: int        # the batch's, or the append time for LogAppendTime
    log_append_time: int      # NO_TIMESTAMP unless LogAppendTime
    producer: tuple[int, int, int] | None  # (producer id, epoch, base sequence) of an idempotent batch
    new_segment: bool = False
    transactional: bool = False
    marker: int | None = None  # control.COMMIT or control.ABORT for a transaction marker
    coordinator_epoch: int = -1  # a marker's

    def write(self) -> tuple[int, int, bytearray]:
        return self.segment.fd, self.position, self.buf


@dataclass
class AppendResult:
    base_offset: int
    log_append_time: int
    log_start_offset: int
    duplicate: bool = False


class Log:
    def __init__(self, directory: str, topic: str, partition: int, config: LogConfig, clock, leader_epoch: int = 0,
                 deleter=None):
        """`deleter`: the SegmentDeleter removed segments go to (None: removed at once)."""
        self.local = LocalLog(directory, config, clock, deleter)
        self.segments: list[LogSegment] = self.local.segments  # the same list, read on every append
        self.dir = directory
        self.topic = topic
        self.partition = partition
        self.config = config  # read on every append; changed through reconfigure()
        self.clock = clock
        self.leader_epoch = leader_epoch  # stamped into appended batches (Partition sets it)
        self.log_start_offset = 0
        self.recovery_point = 0
        self.unflushed_messages = 0
        self.last_flush_ms = clock.monotonic_ms()
        self.producer_state = ProducerStateManager()

    def reconfigure(self, config: LogConfig) -> None:
        """A topic's configs were altered: the log and its segments take the new ones."""
        self.config = self.local.config = config

    # ------------------------------------------------------------- offsets
    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    @property
    def log_end_offset(self) -> int:
        segments = self.segments
        return segments[-1].next_offset if segments else self.log_start_offset

    def size_in_bytes(self) -> int:
        return self.local.size_in_bytes()

    # -------------------------------------------------------------- segments
    def _should_roll(self, incoming: int, now_ms: int) -> bool:
        seg = self.active_segment
        if seg.size == 0:
            return False
        if seg.size + incoming > self.config.segment_bytes:
            return True
        roll_ms = self.config.segment_ms
        if self.config.compact:
            # KIP-354: the active segment is never cleaned, so it rolls by max.compaction.lag.ms too.
            roll_ms = min(roll_ms, self.config.max_compaction_lag_ms)
        return now_ms - seg.created_ms >= roll_ms

    def roll(self) -> LogSegment:
        """Closes the active segment for appends and starts one at the log end."""
        return self.local.roll(self.log_end_offset)

    # ---------------------------------------------------------------- append
    def prepare_append(self, records, now_ms: int, verify_txn=None, check_sequence: bool = True
                       ) -> AppendPlan | AppendResult:
        """Validates and offsets one produce batch (Kafka 4 takes exactly one
        record batch per partition). Returns an AppendPlan to write, or an
        AppendResult for an idempotent duplicate. Raises KafkaError.
        verify_txn(producer id, epoch), if given, is asked before a producer's
        first transactional batch here whether the partition is in its
        transaction (KIP-890 part 1); it raises KafkaError if not.
        check_sequence is False for a coordinator's own batches (its
        transactional offset commits carry no sequence, as in Kafka)."""
        buf = bytearray(records)
        infos = self._scan_one(buf)
        cfg = self.config
        b = infos[0]
        if b.size > cfg.max_message_bytes:
            self._too_large(b.size)
        if b.attributes & CONTROL_BIT:
            raise KafkaError(ErrorCode.INVALID_RECORD, "clients may not produce control batches")
        transactional = bool(b.attributes & TRANSACTIONAL_BIT)
        if transactional and b.producer_id < 0:
            raise KafkaError(ErrorCode.INVALID_RECORD, "a transactional batch needs a producer id")
        if b.records_count != b.last_offset_delta + 1 or b.records_count <= 0:
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE,
                             f"batch claims {b.records_count} records but lastOffsetDelta {b.last_offset_delta}")
        validate_records(f"{self.topic}-{self.partition}", buf, b, cfg, now_ms)
        if cfg.compression is not None:
            buf, infos = self._recompress(buf, b)
            b = infos[0]
            if b.size > cfg.max_message_bytes:
                self._too_large(b.size)
        producer = None
        if b.producer_id >= 0:
            try:
                if check_sequence:
                    self.producer_state.check(b.producer_id, b.producer_epoch, b.base_sequence,
                                              b.last_offset_delta)
            except Duplicate as d:
                return AppendResult(d.batch.first_offset, NO_TIMESTAMP, self.log_start_offset, duplicate=True)
            producer = (b.producer_id, b.producer_epoch, b.base_sequence)
            if transactional and verify_txn is not None and not self.producer_state.has_ongoing(
                    b.producer_id, b.producer_epoch):
                verify_txn(b.producer_id, b.producer_epoch)
            if not transactional and b.producer_id in self.producer_state.ongoing:
                raise KafkaError(ErrorCode.INVALID_TXN_STATE, f"Expected transactional write from producer "
                                 f"{b.producer_id} at offset {self.log_end_offset} in partition "
                                 f"{self.topic}-{self.partition}")
        new_segment = self._maybe_roll(len(buf), now_ms)
        first = self.log_end_offset
        native.assign_offsets(buf, infos, 1, first, self.leader_epoch)
        append_time, max_timestamp = NO_TIMESTAMP, b.max_timestamp
        if cfg.log_append_time:
            append_time = max_timestamp = now_ms
            native.set_log_append_time(buf, 0, now_ms)
        seg = self.active_segment
        return AppendPlan(self, seg, seg.size, buf, first, first + b.last_offset_delta, max_timestamp,
                          append_time, producer, new_segment, transactional)

    def prepare_marker(self, producer_id: int, producer_epoch: int, commit: bool, coordinator_epoch: int,
                       now_ms: int) -> AppendPlan:
        """The COMMIT or ABORT marker that ends `producer_id`'s transaction here
        (the coordinator's WriteTxnMarkers). Raises INVALID_PRODUCER_EPOCH for an
        epoch older than the partition's."""
        from fluxmq.log.control import ABORT, COMMIT, marker_batch
        self.producer_state.check_marker(producer_id, producer_epoch)
        buf = bytearray(marker_batch(producer_id, producer_epoch, commit, coordinator_epoch, now_ms))
        infos, _n = native.scan_batches(buf, verify_crc=False)
        new_segment = self._maybe_roll(len(buf), now_ms)
        first = self.log_end_offset
        native.assign_offsets(buf, infos, 1, first, self.leader_epoch)
        seg = self.active_segment
        return AppendPlan(self, seg, seg.size, buf, first, first, now_ms, NO_TIMESTAMP,
                          (producer_id, producer_epoch, -1), new_segment, True, COMMIT if commit else ABORT,
                          coordinator_epoch)

    def _maybe_roll(self, incoming: int, now_ms: int) -> bool:
        """Rolls (or starts) the active segment if the next append needs it; True if it did."""
        if self.segments and not self._should_roll(incoming, now_ms):
            return False
        if self.segments:
            self.roll()
        else:
            self.local.new_segment(self.log_end_offset)
        return True

    def _scan_one(self, buf: bytearray):
        """The scanned infos of the one valid batch `buf` must hold; raises KafkaError."""
        try:
            infos, n = native.scan_batches(buf, verify_crc=True)
        except native.CorruptRecords as e:
            invalid = e.n_valid == 0 and e.reason in (native.SCAN_ERRORS[native.lib.FMQ_SCAN_TRUNCATED],
                                                      native.SCAN_ERRORS[native.lib.FMQ_SCAN_BAD_MAGIC])
            raise KafkaError(ErrorCode.INVALID_RECORD if invalid else ErrorCode.CORRUPT_MESSAGE,
                             f"record batch rejected: {e.reason}") from None
        if n == 0:
            raise KafkaError(ErrorCode.INVALID_RECORD, "produce request carried no record batch")
        if n > 1:
            raise KafkaError(ErrorCode.INVALID_RECORD,
                             "Produce requests are only allowed to contain exactly one record batch per partition")
        if infos[0].base_offset != 0:
            raise KafkaError(ErrorCode.INVALID_RECORD, f"The baseOffset of the record batch in the append to "
                             f"{self.topic}-{self.partition} should be 0, but it is {infos[0].base_offset}")
        return infos

    def _too_large(self, size: int) -> None:
        raise KafkaError(ErrorCode.MESSAGE_TOO_LARGE,
                         f"batch of {size} bytes exceeds max.message.bytes {self.config.max_message_bytes}")

    def _recompress(self, buf: bytearray, info):
        """compression.type set on the topic: rewrite the batch in its codec."""
        from fluxmq.log.compression import recompress
        cfg = self.config
        try:
            out = bytearray(recompress(bytes(buf[info.position:info.position + info.size]), cfg.compression,
                                       cfg.compression_levels))
        except Exception as e:  # a codec stream that does not decode
            raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"cannot recompress batch: {e}") from None
        infos, _n = native.scan_batches(out, verify_crc=False)
        return out, infos

    def complete_append(self, plan: AppendPlan, now_ms: int) -> AppendResult:
        """Bookkeeping once the plan's bytes are in the file."""
        seg = plan.segment
        seg.on_batch_appended(plan.first_offset, plan.last_offset, plan.max_timestamp, plan.position, len(plan.buf))
        if plan.marker is not None:
            pid, epoch, _seq = plan.producer
            self.producer_state.record_marker(pid, epoch, plan.marker == COMMIT, plan.first_offset, now_ms,
                                              plan.coordinator_epoch)
        elif plan.producer is not None:
            pid, epoch, seq = plan.producer
            self.producer_state.record(pid, epoch, seq, plan.last_offset - plan.first_offset, plan.first_offset,
                                       now_ms, plan.transactional)
        self.unflushed_messages += plan.last_offset - plan.first_offset + 1
        self.local.dirty_segments.add(seg)
        return AppendResult(plan.first_offset, plan.log_append_time, self.log_start_offset)

    def abort_append(self, plan: AppendPlan) -> None:
        """The write failed: drop whatever reached the file."""
        os.ftruncate(plan.segment.fd, plan.position)

    @property
    def dirty(self) -> bool:
        return bool(self.local.dirty_segments)

    def needs_flush(self, now_mono_ms: int) -> bool:
        cfg = self.config
        rolled_unsynced = any(seg is not self.active_segment for seg in self.local.dirty_segments)
        return self.dirty and (rolled_unsynced or self.unflushed_messages >= cfg.flush_messages
                               or now_mono_ms - self.last_flush_ms >= cfg.flush_ms)

    def dirty_fds(self) -> list[int]:
        return self.local.dirty_fds()

    def mark_flushed(self, upto_offset: int, now_mono_ms: int) -> None:
        """Everything below upto_offset is on disk."""
        self.recovery_point = max(self.recovery_point, upto_offset)
        if upto_offset >= self.log_end_offset:
            self.local.dirty_segments.clear()
            self.unflushed_messages = 0
        self.last_flush_ms = now_mono_ms

    # ------------------------------------------------------------------ read
    def check_offset(self, offset: int) -> None:
        if offset < self.log_start_offset or offset > self.log_end_offset:
            raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE,
                             f"offset {offset} is outside [{self.log_start_offset}, {self.log_end_offset}] "
                             f"of {self.topic}-{self.partition}")

    def locate(self, offset: int) -> tuple[LogSegment, int] | None:
        """(segment, position) of the batch holding offset; None at the log end."""
        self.check_offset(offset)
        return self.local.locate(offset)

    def read(self, offset: int, max_bytes: int, max_offset: int | None = None) -> FileRange | None:
        """The file range holding whole batches from `offset` (inside a
        batch: from its start), up to max_bytes but at least one batch, and
        no batch at or beyond max_offset (the high watermark); None at the
        end. Raises OFFSET_OUT_OF_RANGE."""
        self.check_offset(offset)
        return self.local.read(offset, max_bytes, max_offset)

    @property
    def first_unstable_offset(self) -> int | None:
        """The first offset of the oldest open transaction (None: none is open)."""
        return self.producer_state.first_unstable_offset

    def aborted_transactions(self, start: int, upper: int) -> list:
        """The aborted transactions a read_committed fetch of [start, upper) must know."""
        return self.producer_state.aborted_in(start, upper)

    def iter_batches(self):
        """Every stored batch as bytes, from the log start (to replay
        coordinator state from an internal topic at start-up)."""
        return self.local.iter_batches(self.log_start_offset)

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first batch with a timestamp >= target."""
        from fluxmq.log.records import first_record_at_or_after
        for seg in self.segments:
            if seg.max_timestamp < timestamp:
                continue
            found = seg.find_timestamp(timestamp)
            if found is None:
                continue
            pos, _base = found
            header = seg.batch_header(pos)
            batch = os.pread(seg.fd, header[2], pos)
            hit = first_record_at_or_after(batch, timestamp)
            if hit is not None and hit[0] >= self.log_start_offset:
                return hit
        return None

    def max_timestamp(self) -> tuple[int, int]:
        best = (NO_TIMESTAMP, -1)
        for seg in self.segments:
            if seg.max_timestamp > best[0]:
                best = (seg.max_timestamp, seg.offset_of_max_timestamp)
        return best

    # ------------------------------------------------------------- retention
    def delete_segments_before(self, segments: list[LogSegment]) -> int:
        """Deletes whole segments from the front (never the active one); the log
        start offset moves to the first segment left."""
        removed = self.local.remove_front(segments)
        if removed:
            self.log_start_offset = max(self.log_start_offset, self.local.segments[0].base_offset)
            self.producer_state.on_log_start(self.log_start_offset)
        return len(removed)

    def delete_records_before(self, offset: int) -> int:
        """DeleteRecords: the log start offset moves up to `offset` (Kafka's
        maybeIncrementLogStartOffset); segments wholly below it are removed now.
        The partition checks the policy and the offset first. Returns the new log
        start offset."""
        if offset > self.log_start_offset:
            self.log_start_offset = offset
            self.local.remove_front([s for s in self.segments[:-1] if s.next_offset <= offset])
            self.producer_state.on_log_start(offset)
        return self.log_start_offset

    def apply_retention(self, now_ms: int) -> int:
        cfg = self.config
        if not cfg.delete:
            return 0  # cleanup.policy=compact only (e.g. __consumer_offsets): no time/size retention
        doomed = []
        if cfg.retention_ms >= 0:
            doomed = [s for s in self.segments[:-1]
                      if s.largest_timestamp() >= 0 and now_ms - s.largest_timestamp() > cfg.retention_ms]
            # Only a prefix may go.
            prefix = []
            for s in self.segments[:-1]:
                if s in doomed:
                    prefix.append(s)
                else:
                    break
            doomed = prefix
        if cfg.retention_bytes >= 0:
            excess = self.size_in_bytes() - cfg.retention_bytes
            for s in self.segments[len(doomed):-1]:
                if excess - s.size < 0:
                    break
                excess -= s.size
                doomed.append(s)
        return self.delete_segments_before(doomed) if doomed else 0

    def replace_segments(self, new: LogSegment, old: list[LogSegment]) -> None:
        """Log compaction's swap of cleaned segments (LocalLog.replace_segments)."""
        self.local.replace_segments(new, old)

    # --------------------------------------------------------- lifecycle
    def close(self, clean: bool) -> None:
        if clean:
            snapshot.write_clean_state(self)  # the next start-up need not scan (log/loader.py)
        self.local.close(clean)

    def delete(self) -> None:
        """The topic was deleted: every segment and the partition directory go."""
        self.local.delete()
        self.producer_state.truncate()


def append_plans(io, plans: list[AppendPlan], now_ms: int) -> list[AppendResult]:
    """Writes the plans (of one or many logs) with one native call, then applies
    each log's bookkeeping. If the write fails, whatever reached the files is
    dropped and the OSError raised: no log changed."""
    try:
        io.write([p.write() for p in plans])
    except OSError:
        for plan in plans:
            plan.log.abort_append(plan)
        raise
    return [plan.log.complete_append(plan, now_ms) for plan in plans]
