"""LogCleaner: log compaction for cleanup.policy=compact (and compact,delete),
with the semantics of Kafka's LogCleaner and LogCleanerManager.

Which log, and how much of it (LogCleanerManager.grabFilthiestCompactedLog)
    Only closed segments are cleaned, never the active one. The cleaner
    checkpoint (`cleaner-offset-checkpoint` in the data dir, Kafka's format)
    holds each compacted log's first dirty offset, splitting the closed
    segments in three:
        [log start, first dirty)          clean: compacted before
        [first dirty, first uncleanable)  dirty: to compact now
        [first uncleanable, ...)          not yet: from the first segment that
                                          is not fsynced yet, has a record
                                          newer than min.compaction.lag.ms, or
                                          reaches the first unstable offset
    A log is cleaned when dirty / (clean + dirty) bytes > min.cleanable.dirty.ratio,
    when a dirty segment's first batch is older than max.compaction.lag.ms
    (KIP-354), or - a FluxMQ addition - when the delete horizon of a retained
    tombstone has passed, so tombstones go without waiting for new writes.
    The filthiest log (highest ratio) goes first; one log at a time.

How (LogCleaner.Cleaner.doClean)
    1. Offset map: key -> offset of its latest record, over the dirty
       section. log.cleaner.dedupe.buffer.size caps it at Kafka's 24 bytes an
       entry (x log.cleaner.io.buffer.load.factor); when full, the dirty
       section ends at that segment and the next pass goes on from there.
    2. The closed segments from the log start to the end of the map are
       rewritten into groups of consecutive segments: a segment joins the
       group before it while that group's output so far plus the segment's
       size stays within segment.bytes and its offsets fit int32 relative
       offsets (Kafka's groupSegmentsBySize counts input sizes; counting the
       output merges the segments compaction emptied). A record stays if
       it has a key, no later record has that key, and it is not a tombstone
       whose delete horizon has passed. Records without a key are dropped,
       as Kafka does (compacted topics refuse them on produce anyway).
    3. Offsets never change. A batch whose records all stay is copied as it
       is; otherwise it is rebuilt with the same baseOffset, leader epoch,
       producer fields and lastOffsetDelta (so the producer's last sequence
       survives), its remaining records with their own offset deltas, in its
       own codec (decompressed, filtered, recompressed; compression.*.level).
       A batch left with no record goes, unless it is the last batch of an
       idempotent producer the partition still tracks: that one stays as an
       empty batch (Kafka's RETAIN_EMPTY), so producer state rebuilt when the
       log is loaded keeps its epoch and sequence.
       Transactions (Kafka's cleaner rules): records of aborted transactions
       are removed and never enter the offset map (so an aborted write never
       hides a committed one); the cleaner stops before the first unstable
       offset (an open transaction's data is never cleaned). A COMMIT /
       ABORT marker goes once no batch of its transaction is left in the log
       (the pass after its aborted data went, or after compaction removed
       its committed data), after a delete horizon like a tombstone's; the
       marker a producer's state ends with stays (_BatchFilter._marker).
       Marker horizons do not schedule cleans: a marker that must stay would
       make its log cleaned again and again.
    4. Tombstones (KIP-534): the first clean that keeps a tombstone stamps its
       batch with a delete horizon, now + delete.retention.ms: attribute bit
       0x40 set and the horizon in baseTimestamp (record timestamp deltas are
       rewritten so every record keeps its timestamp). A later clean after
       the horizon drops the tombstone.
    5. A group whose output equals its one input segment is not rewritten.

Crash safety (Kafka's suffixes; LocalLog.replaceSegments, LogLoader)
    The worker writes `<base>.log.cleaned` (and its indexes) and fsyncs it.
    The swap, on the event loop thread in one step: rename to `.swap` - from
    here on the swap is committed -, delete the other old segments first to
    last, then rename the .swap over the first old segment's file. At load,
    complete_interrupted_swaps deletes `.cleaned`/`.deleted`/`.tmp` files and
    completes a `.swap`: old segments whose base lies inside the swap's offset
    range are deleted and the .swap renamed. Old segments left past the
    swap's last offset hold only records the swap has none of, so a crash at
    any point leaves, for every offset range, either the old or the new
    segments, never both and never neither. Groups are swapped in offset
    order, so a record is only ever removed after what superseded it is in
    place.

Threads
    The scan, the offset map and the writing run in one worker thread (reads
    through its own dup of each segment fd, with pread - never mmap, which
    would SIGBUS if a segment were truncated meanwhile - and a GIL yield per
    batch, throttled by log.cleaner.io.max.bytes.per.second). The swap runs
    on the loop thread without an await and first checks that the cleaned
    segments are still the log's (retention, topic deletion); otherwise the
    clean is dropped and retried later. A fetch that already holds a
    FileRange of a replaced segment is safe: fmq_net_send_file dups the fd.
    The broker's maintenance loop calls maybe_clean() every second; a pass
    runs every log.cleaner.backoff.ms and cleans until nothing is cleanable.
    A log whose clean fails is marked uncleanable until restart (KIP-346).
"""

from __future__ import annotations

import asyncio
import bisect
import errno
import logging
import os
import re
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from fluxmq import native
from fluxmq.log.compression import compress
from fluxmq.log.control import ABORT, COMMIT, marker_type
from fluxmq.log.batch import (COMPRESSION_MASK, CONTROL_BIT, DELETE_HORIZON_BIT, HEADER, HEADER_SIZE, I64,
                              LOG_OVERHEAD, MAX_TIMESTAMP_POS, NO_TIMESTAMP, TIMESTAMP_TYPE_BIT, TRANSACTIONAL_BIT,
                              set_crc)
from fluxmq.log.records import decompress, read_varint
from fluxmq.log.segment import LogSegment, segment_name
from fluxmq.util.varint import varint as _varint

log = logging.getLogger("fluxmq.log.cleaner")

CLEANER_CHECKPOINT_FILE = "cleaner-offset-checkpoint"

OFFSET_MAP_ENTRY_BYTES = 24  # Kafka's SkimpyOffsetMap: 16-byte key hash + 8-byte offset
READ_CHUNK = 1 << 20
WRITE_CHUNK = 1 << 20
MAX_OFFSET_SPAN = 2**31 - 1  # relative offsets in the indexes are int32
HORIZON_SCAN_LOGS = 32
_SEGMENT_FILE = re.compile(r"^(\d{20})\.(log|index|timeindex)$")
_SWAP_FILE = re.compile(r"^(\d{20})\.log\.swap$")


class CleanAborted(Exception):
    """The broker is shutting down."""


# ------------------------------------------------------------------ reading
def _batches(fd: int, size: int):
    """(position, header fields, batch bytes) for each whole batch in the
    first `size` bytes of a segment, read with pread."""
    pos = 0
    buf, buf_start = b"", 0
    while pos + HEADER_SIZE <= size:
        if pos + HEADER_SIZE > buf_start + len(buf):
            buf, buf_start = os.pread(fd, min(READ_CHUNK, size - pos), pos), pos
            if len(buf) < HEADER_SIZE:
                return
        rel = pos - buf_start
        header = HEADER.unpack_from(buf, rel)
        n = LOG_OVERHEAD + header[1]
        if n < HEADER_SIZE or pos + n > size:
            return
        if rel + n > len(buf):
            buf, buf_start, rel = os.pread(fd, min(max(READ_CHUNK, n), size - pos), pos), pos, 0
            if len(buf) < n:
                return
        yield pos, header, buf[rel:rel + n]
        pos += n


def _records(body: bytes, count: int):
    """Each record of a batch's (decompressed) records section:
    (start, end, timestamp delta, end of the timestamp delta, offset delta,
    key or None, value is null). The record's attributes byte sits just
    before its timestamp delta."""
    pos = 0
    for _ in range(count):
        length, p = read_varint(body, pos)
        end = p + length
        ts_delta, ts_end = read_varint(body, p + 1)
        off_delta, p = read_varint(body, ts_end)
        key_len, p = read_varint(body, p)
        key = None if key_len < 0 else bytes(body[p:p + key_len])
        p += max(key_len, 0)
        value_len, p = read_varint(body, p)
        if end > len(body):
            raise ValueError("record runs past the end of its batch")
        yield pos, end, ts_delta, ts_end, off_delta, key, value_len < 0
        pos = end


def _body(header, batch: bytes) -> bytes:
    codec = header[5] & COMPRESSION_MASK
    return decompress(codec, batch[HEADER_SIZE:]) if codec else batch[HEADER_SIZE:]


# ------------------------------------------------------------------ the job
@dataclass
class _Source:
    """A closed segment to clean, as the worker sees it."""
    segment: LogSegment  # identity only: checked at swap time, never read by the worker
    base: int
    size: int
    fd: int               # the worker's own dup; closed by the worker
    mtime_ns: int


@dataclass
class CleanerStats:
    segments_read: int = 0
    segments_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_removed: int = 0
    tombstones_removed: int = 0
    markers_removed: int = 0
    map_entries: int = 0
    elapsed_ms: float = 0.0


@dataclass
class CleanJob:
    """Everything the worker needs, snapshotted on the loop thread."""
    log: object
    directory: str
    sources: list[_Source]  # the log start .. first uncleanable segment
    dirty_from: int         # index of the first dirty source
    first_uncleanable: int  # offset
    now_ms: int
    delete_retention_ms: int
    segment_bytes: int
    index_interval_bytes: int
    levels: dict
    producer_last_offsets: dict[int, int]  # producer id -> last offset of its last batch
    producer_marker_epochs: dict[int, int]  # producer id -> epoch, where its last record is a marker
    aborted: dict[int, list[tuple[int, int]]]  # producer id -> [(first, last offset)] of aborted transactions
    max_map_entries: int
    abort: threading.Event
    max_bytes_per_second: float
    stats: CleanerStats = field(default_factory=CleanerStats)


    def is_aborted(self, attributes: int, producer_id: int, offset: int) -> bool:
        """A transactional data batch at `offset` belongs to an aborted transaction."""
        if not attributes & TRANSACTIONAL_BIT or attributes & CONTROL_BIT:
            return False
        return any(first <= offset <= last for first, last in self.aborted.get(producer_id, ()))


@dataclass
class CleanResult:
    groups: list[tuple[list[_Source], LogSegment | None]]  # None: the group is unchanged
    end_offset: int                # the new first dirty offset
    delete_horizon: int | None     # earliest horizon of a retained tombstone
    stats: CleanerStats
    removed_aborts: set = field(default_factory=set)  # (producer id, offset) of the ABORT markers removed

    def discard(self) -> None:
        for _sources, new in self.groups:
            if new is not None:
                new.delete()


class _Throttle:
    """log.cleaner.io.max.bytes.per.second over the bytes read and written;
    also yields the GIL to the event loop thread on every call."""

    def __init__(self, rate: float, abort: threading.Event):
        self.rate = rate
        self.abort = abort
        self.start = time.monotonic()
        self.bytes = 0

    def __call__(self, n: int) -> None:
        if self.abort.is_set():
            raise CleanAborted()
        self.bytes += n
        ahead = self.bytes / self.rate - (time.monotonic() - self.start)
        time.sleep(min(ahead, 1.0) if ahead > 0 else 0)


class _GroupWriter:
    """The new segment of one group. Copies of unchanged batches are only
    noted (and coalesced) until the first change, so a group that changes
    nothing writes nothing; then they go through copy_file_range."""

    def __init__(self, job: CleanJob, base: int, changed: bool):
        self.job = job
        self.base = base
        self.segment: LogSegment | None = None
        self.ops: list = []  # [fd, position, size] copy ranges and bytes, in order
        self.buffered = 0
        self.size = 0  # bytes of output so far
        if changed:
            self.change()

    def keep(self, fd: int, position: int, size: int) -> None:
        last = self.ops[-1] if self.ops else None
        if isinstance(last, list) and last[0] == fd and last[1] + last[2] == position:
            last[2] += size
        else:
            self.ops.append([fd, position, size])
        self.size += size
        self._maybe_drain()

    def write(self, data: bytes) -> None:
        self.change()
        self.ops.append(data)
        self.buffered += len(data)
        self.size += len(data)
        self._maybe_drain()

    def change(self) -> None:
        if self.segment is not None:
            return
        name = os.path.join(self.job.directory, segment_name(self.base))
        for ext in (".log", ".index", ".timeindex"):
            try:
                os.unlink(name + ext + ".cleaned")  # left by an abandoned attempt
            except FileNotFoundError:
                pass
        self.segment = LogSegment(self.job.directory, self.base, self.job.index_interval_bytes,
                                  self.job.now_ms, suffix=".cleaned")

    def _maybe_drain(self) -> None:
        if self.segment is not None and (self.buffered >= WRITE_CHUNK or len(self.ops) > 64):
            self._drain()

    def _drain(self) -> None:
        fd = self.segment.fd
        pending: list[bytes] = []
        for op in self.ops:
            if isinstance(op, list):
                _write_all(fd, b"".join(pending))
                pending.clear()
                _copy_range(op[0], op[1], op[2], fd)
                self.job.stats.bytes_written += op[2]
            else:
                pending.append(op)
                self.job.stats.bytes_written += len(op)
        _write_all(fd, b"".join(pending))
        self.ops.clear()
        self.buffered = 0

    def finish(self, mtime_ns: int) -> LogSegment | None:
        """Writes out the rest, rebuilds the indexes (LogSegment.recover),
        keeps the last old segment's modification time (Kafka does, for
        time retention) and fsyncs. None if the group changed nothing."""
        if self.segment is None:
            return None
        self._drain()
        seg = self.segment
        _batches_found, truncated, error = seg.recover(verify_crc=False)
        if truncated:
            raise RuntimeError(f"cleaned segment {seg.log_path} does not scan: {error}")
        seg.flush_indexes()
        os.utime(seg.log_path, ns=(mtime_ns, mtime_ns))
        os.fsync(seg.fd)
        self.job.stats.segments_written += 1
        return seg

    def discard(self) -> None:
        if self.segment is not None:
            self.segment.delete()
            self.segment = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _copy_range(src: int, position: int, size: int, dst: int) -> None:
    """size bytes of src from position, appended to dst (at its file offset)."""
    while size > 0:
        try:
            n = os.copy_file_range(src, dst, min(size, 1 << 30), position)
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(src, min(size, READ_CHUNK), position)
            _write_all(dst, data)
            n = len(data)
        if n <= 0:
            raise OSError(errno.EIO, "segment shorter than expected while cleaning")
        position += n
        size -= n


# ------------------------------------------------------------ the worker side
def build_offset_map(job: CleanJob, throttle: _Throttle) -> tuple[dict[bytes, int], int]:
    """key -> latest offset over the dirty sources, whole segments only;
    returns the map and how many dirty sources it covers (at least one if
    there is any, even past the cap, as Kafka needs one segment to fit)."""
    offsets: dict[bytes, int] = {}
    covered = 0
    for src in job.sources[job.dirty_from:]:
        seg_map: dict[bytes, int] = {}
        for _pos, header, batch in _batches(src.fd, src.size):
            throttle(len(batch))
            if header[5] & CONTROL_BIT or job.is_aborted(header[5], header[9], header[0]):
                continue
            base = header[0]
            for _s, _e, _td, _te, off_delta, key, _null in _records(_body(header, batch), header[12]):
                if key is not None:
                    seg_map[key] = base + off_delta
        if covered and len(offsets) + sum(1 for k in seg_map if k not in offsets) > job.max_map_entries:
            log.info("%s: offset map full (%d keys, log.cleaner.dedupe.buffer.size); cleaning up to offset %d "
                     "this time", job.directory, len(offsets), src.base)
            break
        offsets.update(seg_map)
        covered += 1
    return offsets, covered


class _BatchFilter:
    """Kafka's LogCleaner.shouldRetainRecord + checkBatchRetention and
    MemoryRecords.filterTo for one batch."""

    KEEP = object()  # the batch unchanged

    def __init__(self, job: CleanJob, offsets: dict[bytes, int]):
        self.job = job
        self.offsets = offsets
        self.min_horizon: int | None = None
        self.txns = _CleanedTransactions()
        self.removed_aborts: set[tuple[int, int]] = set()

    def __call__(self, header, batch: bytes):
        """KEEP, None (the batch goes) or the rebuilt batch bytes."""
        base, _len, _epoch, _magic, _crc, attrs, lod, base_ts, _max_ts, pid, pepoch, _seq, count = header
        stats = self.job.stats
        if attrs & CONTROL_BIT:
            return self._marker(header, batch)
        aborted = self.job.is_aborted(attrs, pid, base)
        if attrs & TRANSACTIONAL_BIT:
            self.txns.on_batch(pid, aborted)
        if aborted:
            stats.records_read += count
            stats.records_removed += count
            if self.job.producer_last_offsets.get(pid) == base + lod:
                return _empty_batch(header)
            return None
        body = _body(header, batch)
        now = self.job.now_ms
        has_horizon = bool(attrs & DELETE_HORIZON_BIT)
        drop_deletes = has_horizon and now >= base_ts
        kept = []
        tombstones = False
        for rec in _records(body, count):
            _s, _e, _td, _te, off_delta, key, null_value = rec
            stats.records_read += 1
            if key is None or base + off_delta < self.offsets.get(key, -1):
                continue  # keyless, or a later record has the key
            if null_value:
                if drop_deletes:
                    stats.tombstones_removed += 1
                    continue
                tombstones = True
            kept.append(rec)
        stats.records_removed += count - len(kept)
        stamp = tombstones and not has_horizon
        horizon = now + self.job.delete_retention_ms if stamp else base_ts
        if tombstones:
            self.min_horizon = horizon if self.min_horizon is None else min(self.min_horizon, horizon)
        if len(kept) == count and not stamp:
            return self.KEEP
        if not kept:
            if pid >= 0 and self.job.producer_last_offsets.get(pid) == base + lod:
                return _empty_batch(header)
            return None
        return _rebuild(header, body, kept, horizon if stamp else base_ts, stamp, self.job.levels)


    def _marker(self, header, batch: bytes):
        """Kafka's rules for a COMMIT / ABORT marker (LogCleaner.checkBatchRetention
        with CleanedTransactionMetadata): once no batch of its transaction is left
        in the log it may go, but only after a delete horizon (KIP-534, as for
        tombstones: the first such clean stamps it, now + delete.retention.ms), so
        that a read_committed consumer that read the data has time to read the
        marker. The marker a producer's state ends with stays (as an empty batch
        once its horizon passed): it holds the epoch that fences it (KIP-890)."""
        base, _len, _epoch, _magic, _crc, attrs, lod, base_ts, _max_ts, pid, pepoch, _seq, count = header
        job = self.job
        if not self.txns.on_marker(pid, _marker_kind(header, batch)):
            return self.KEEP  # data of its transaction is still in the log
        last_of_producer = job.producer_marker_epochs.get(pid) == pepoch
        if count == 0 and last_of_producer:
            return self.KEEP
        if attrs & DELETE_HORIZON_BIT:
            if job.now_ms < base_ts:
                return self.KEEP
            if last_of_producer:
                return self.KEEP if count == 0 else _empty_batch(header)
            job.stats.markers_removed += 1
            if _marker_kind(header, batch) == ABORT:
                self.removed_aborts.add((pid, base))
            return None
        body = _body(header, batch)
        kept = list(_records(body, count))
        return _rebuild(header, body, kept, job.now_ms + job.delete_retention_ms, True, job.levels)


class _CleanedTransactions:
    """Kafka's CleanedTransactionMetadata, for one pass over the log in offset
    order: whether a marker's transaction still has batches in the log. An
    aborted transaction's batches are removed by this pass, but its ABORT marker
    waits for the next one; a committed transaction's marker may go once
    compaction has removed all its batches."""

    def __init__(self):
        self.aborted_seen: set[int] = set()    # producers with an aborted batch read since their last marker
        self.committed_seen: set[int] = set()  # producers with a committed-transaction batch read

    def on_batch(self, producer_id: int, aborted: bool) -> None:
        (self.aborted_seen if aborted else self.committed_seen).add(producer_id)

    def on_marker(self, producer_id: int, kind: int | None) -> bool:
        """True if the marker's transaction has no batch left (it may go)."""
        if kind == ABORT:
            if producer_id in self.aborted_seen:
                self.aborted_seen.discard(producer_id)
                return False
            return True
        if kind == COMMIT:
            if producer_id in self.committed_seen:
                self.committed_seen.discard(producer_id)
                return False
            return True
        return kind is None  # an empty control batch (already cleaned) may go; an unknown type stays


def _marker_kind(header, batch: bytes) -> int | None:
    """ABORT, COMMIT, None for a control batch without records, -1 for another control type."""
    if header[12] == 0:
        return None
    try:
        return marker_type(batch)
    except ValueError:
        return -1


def _empty_batch(header) -> bytes:
    """Kafka's DefaultRecordBatch.writeEmptyHeader: no records, same offsets,
    producer fields and timestamp type; both timestamps the max timestamp."""
    base, _len, epoch, magic, _crc, attrs, lod, _bts, max_ts, pid, pepoch, seq, _count = header
    attributes = attrs & (TIMESTAMP_TYPE_BIT | TRANSACTIONAL_BIT | CONTROL_BIT)  # no codec, no horizon
    out = bytearray(HEADER.pack(base, HEADER_SIZE - LOG_OVERHEAD, epoch, magic, 0, attributes, lod,
                                 max_ts, max_ts, pid, pepoch, seq, 0))
    set_crc(out, native.crc32c)
    return bytes(out)


def _rebuild(header, body: bytes, kept: list, new_base_ts: int, stamp: bool, levels: dict) -> bytes:
    """The batch with only `kept` records, in its own codec; with a new
    baseTimestamp, CreateTime record deltas are rewritten to keep each
    record's timestamp."""
    base, _len, epoch, magic, _crc, attrs, lod, base_ts, max_ts, pid, pepoch, seq, _count = header
    log_append = bool(attrs & TIMESTAMP_TYPE_BIT)
    rewrite = new_base_ts != base_ts and not log_append
    parts = []
    new_max = NO_TIMESTAMP
    for start, end, ts_delta, ts_end, _od, _key, _null in kept:
        ts = base_ts + ts_delta
        new_max = max(new_max, ts)
        if rewrite:
            _length, attr_pos = read_varint(body, start)  # the attributes byte follows the length
            inner = body[attr_pos:attr_pos + 1] + _varint(ts - new_base_ts) + body[ts_end:end]
            parts.append(_varint(len(inner)) + inner)
        else:
            parts.append(body[start:end])
    if log_append:
        new_max = max_ts
    records = b"".join(parts)
    codec = attrs & COMPRESSION_MASK
    if codec:
        records = compress(codec, records, levels)
    attributes = attrs | DELETE_HORIZON_BIT if stamp else attrs
    out = bytearray(HEADER.pack(base, HEADER_SIZE - LOG_OVERHEAD + len(records), epoch, magic, 0, attributes,
                                 lod, new_base_ts, new_max, pid, pepoch, seq, len(kept)))
    out += records
    set_crc(out, native.crc32c)
    return bytes(out)


def clean(job: CleanJob) -> CleanResult:
    """The worker's whole job: offset map, then the rewritten groups as
    `.cleaned` segments, fsynced. Closes the job's fds. Raises CleanAborted
    when the broker shuts down."""
    started = time.monotonic()
    throttle = _Throttle(job.max_bytes_per_second, job.abort)
    writers: list[_GroupWriter] = []
    groups: list[tuple[list[_Source], LogSegment | None]] = []
    try:
        offsets, covered = build_offset_map(job, throttle)
        job.stats.map_entries = len(offsets)
        end_index = job.dirty_from + covered
        end_offset = job.sources[end_index].base if end_index < len(job.sources) else job.first_uncleanable
        keep = _BatchFilter(job, offsets)
        cleaned = job.sources[:end_index]
        writer, group = None, []
        for i, src in enumerate(cleaned):
            src_end = cleaned[i + 1].base if i + 1 < len(cleaned) else end_offset
            if writer is not None and (writer.size + src.size > job.segment_bytes
                                       or src_end - 1 - group[0].base > MAX_OFFSET_SPAN):
                groups.append((group, writer.finish(group[-1].mtime_ns)))
                writer = None
            if writer is None:
                writer, group = _GroupWriter(job, src.base, changed=False), []
                writers.append(writer)
            else:
                writer.change()  # merging segments
            group.append(src)
            job.stats.segments_read += 1
            for pos, header, batch in _batches(src.fd, src.size):
                throttle(len(batch))
                job.stats.bytes_read += len(batch)
                out = keep(header, batch)
                if out is _BatchFilter.KEEP:
                    writer.keep(src.fd, pos, len(batch))
                elif out is None:
                    writer.change()
                else:
                    writer.write(out)
        if writer is not None:
            groups.append((group, writer.finish(group[-1].mtime_ns)))
        if job.abort.is_set():
            raise CleanAborted()
        job.stats.elapsed_ms = (time.monotonic() - started) * 1000
        return CleanResult(groups, end_offset, keep.min_horizon, job.stats, keep.removed_aborts)
    except BaseException:
        for w in writers:
            w.discard()
        raise
    finally:
        for src in job.sources:
            os.close(src.fd)


def scan_delete_horizons(items: list[tuple[object, list[tuple[int, int]]]],
                         abort: threading.Event) -> dict[object, int | None]:
    """Earliest delete horizon among the stamped batches of each log's closed
    segments ((fd, size) pairs, dups closed here): what a clean before the
    last restart left to expire."""
    found: dict[object, int | None] = {}
    try:
        for lg, segments in items:
            horizon = None
            for fd, size in segments:
                if abort.is_set():
                    return found
                for _pos, header, _batch in _batches(fd, size):
                    if header[5] & DELETE_HORIZON_BIT and not header[5] & CONTROL_BIT:
                        horizon = header[7] if horizon is None else min(horizon, header[7])
                time.sleep(0)
            found[lg] = horizon
        return found
    finally:
        for _lg, segments in items:
            for fd, _size in segments:
                os.close(fd)


# ------------------------------------------------------------------ loading
def complete_interrupted_swaps(directory: str, index_interval_bytes: int, now_ms: int) -> None:
    """The loader's first step in a partition directory (Kafka's LogLoader):
    deletes `.cleaned`, `.deleted` and `.tmp` files and index `.swap` files
    (indexes are rebuilt), then completes each `<base>.log.swap`: segments
    with a base offset in (base, the swap's next offset) are the old segments
    it replaces and are deleted, and the swap is renamed to `<base>.log`."""
    swaps = []
    for name in os.listdir(directory):
        m = _SWAP_FILE.match(name)
        if m:
            swaps.append(int(m.group(1)))
        elif name.endswith((".tmp", ".deleted", ".cleaned", ".swap")):
            os.unlink(os.path.join(directory, name))
    for base in sorted(swaps):
        seg = LogSegment(directory, base, index_interval_bytes, now_ms, suffix=".swap")
        try:
            seg.recover(verify_crc=True)
            end = seg.next_offset
        finally:
            seg.close()
        replaced = []
        for name in os.listdir(directory):
            m = _SEGMENT_FILE.match(name)
            if m and base < int(m.group(1)) < end:
                os.unlink(os.path.join(directory, name))
                replaced.append(int(m.group(1)))
        os.replace(seg.log_path, os.path.join(directory, segment_name(base) + ".log"))
        log.warning("%s: completed a log compaction swap interrupted by a crash: segment %d now covers "
                    "offsets up to %d (replaced segments %s)", directory, base, end - 1,
                    sorted(set(replaced)) or "none besides its own")
    if swaps:
        _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------ the loop side
@dataclass
class LogToClean:
    """Kafka's LogToClean: one compacted log's clean and dirty sections."""
    log: object
    first_dirty: int
    dirty_index: int        # into log.segments
    uncleanable_index: int  # into log.segments: first segment not cleaned now
    clean_bytes: int
    dirty_bytes: int
    reason: str

    @property
    def ratio(self) -> float:
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0


class LogCleaner:
    def __init__(self, manager):
        self.manager = manager
        self.clock = manager.clock
        cfg = manager.config
        self.enabled = cfg["log.cleaner.enable"]
        self.backoff_ms = cfg["log.cleaner.backoff.ms"]
        self.max_map_entries = max(1, int(cfg["log.cleaner.dedupe.buffer.size"] / OFFSET_MAP_ENTRY_BYTES
                                          * cfg["log.cleaner.io.buffer.load.factor"]))
        self.max_bytes_per_second = float(cfg["log.cleaner.io.max.bytes.per.second"])
        self.path = os.path.join(manager.data_dir, CLEANER_CHECKPOINT_FILE)
        # Keyed by the Log object: a topic deleted and created again starts dirty.
        self._first_dirty: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._horizons: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # log -> horizon or None
        self._uncleanable: weakref.WeakSet = weakref.WeakSet()
        self._abort = threading.Event()
        self._checkpoint_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task | None = None
        self._next_run_ms = 0
        self._closed = False

    # ------------------------------------------------------- checkpoints
    def load_checkpoints(self) -> None:
        from fluxmq.log.checkpoints import read_offsets
        entries = read_offsets(self.path)
        for lg in self.manager.all_logs():
            offset = entries.get((lg.topic, lg.partition))
            if offset is not None:
                self._first_dirty[lg] = offset

    def checkpoint_entries(self) -> dict[tuple[str, int], int]:
        return {(lg.topic, lg.partition): offset for lg, offset in list(self._first_dirty.items())
                if self.manager.get_log(lg.topic, lg.partition) is lg}

    def write_checkpoint(self, entries: dict[tuple[str, int], int]) -> None:
        from fluxmq.log.checkpoints import write_offsets
        with self._checkpoint_lock:
            write_offsets(self.path, entries)

    def first_dirty_offset(self, lg) -> int:
        """The checkpoint, or the log start when it is missing or out of range."""
        offset = self._first_dirty.get(lg)
        if offset is None or offset < lg.log_start_offset:
            return lg.log_start_offset
        if offset > lg.log_end_offset:
            log.warning("%s-%d: cleaner checkpoint %d is past the log end %d; cleaning from the log start",
                        lg.topic, lg.partition, offset, lg.log_end_offset)
            self._first_dirty.pop(lg, None)
            return lg.log_start_offset
        return offset

    # ---------------------------------------------------------- choosing
    def log_to_clean(self, lg, now_ms: int) -> LogToClean | None:
        """The log's sections, and why it needs cleaning now; None if it does not."""
        cfg = lg.config
        if not cfg.compact or lg in self._uncleanable or len(lg.segments) < 2:
            return None
        closed = lg.segments[:-1]
        first_dirty = self.first_dirty_offset(lg)
        uncleanable = len(closed)
        for i, seg in enumerate(closed):
            if seg in lg.local.dirty_segments or seg.fd < 0:
                uncleanable = i  # not fsynced yet
                break
        first_unstable = lg.first_unstable_offset
        if first_unstable is not None:
            for i in range(uncleanable):
                if closed[i].next_offset > first_unstable:
                    uncleanable = i  # an open transaction's data is never cleaned
                    break
        dirty = min(max(0, bisect.bisect_right(lg.local.base_offsets, first_dirty) - 1), uncleanable)
        if cfg.min_compaction_lag_ms > 0:
            for i in range(dirty, uncleanable):
                if closed[i].largest_timestamp() > now_ms - cfg.min_compaction_lag_ms:
                    uncleanable = i
                    break
        clean_bytes = sum(s.size for s in closed[:dirty])
        dirty_bytes = sum(s.size for s in closed[dirty:uncleanable])
        ltc = LogToClean(lg, first_dirty, dirty, uncleanable, clean_bytes, dirty_bytes, "")
        if dirty_bytes > 0 and ltc.ratio > cfg.min_cleanable_ratio:
            ltc.reason = f"dirty ratio {ltc.ratio:.2f} > min.cleanable.dirty.ratio {cfg.min_cleanable_ratio}"
        elif dirty_bytes > 0 and self._past_max_lag(closed[dirty:], now_ms, cfg.max_compaction_lag_ms):
            ltc.reason = f"a dirty record is older than max.compaction.lag.ms {cfg.max_compaction_lag_ms}"
        elif uncleanable > 0 and self._horizons.get(lg) is not None and self._horizons[lg] <= now_ms:
            ltc.reason = "a tombstone's delete horizon has passed"
        else:
            return None
        return ltc

    @staticmethod
    def _past_max_lag(dirty_segments, now_ms: int, max_lag_ms: int) -> bool:
        """KIP-354: the first batch of a dirty segment is older than the lag."""
        if max_lag_ms >= now_ms:
            return False
        for seg in dirty_segments:
            head = os.pread(seg.fd, HEADER_SIZE, 0) if seg.fd >= 0 else b""
            if len(head) == HEADER_SIZE:
                (first_ts,) = I64.unpack_from(head, MAX_TIMESTAMP_POS)
                if 0 < first_ts < now_ms - max_lag_ms:
                    return True
        return False

    def grab_filthiest(self, now_ms: int, exclude=()) -> LogToClean | None:
        best = None
        for lg in self.manager.all_logs():
            if lg in exclude:
                continue
            ltc = self.log_to_clean(lg, now_ms)
            if ltc is not None and (best is None or ltc.ratio > best.ratio):
                best = ltc
        return best

    def prepare(self, ltc: LogToClean, now_ms: int) -> CleanJob:
        """Snapshots what the worker needs; dups the segment fds."""
        lg = ltc.log
        cfg = lg.config
        sources = []
        try:
            for seg in lg.segments[:ltc.uncleanable_index]:
                fd = os.dup(seg.fd)
                sources.append(_Source(seg, seg.base_offset, seg.size, fd, os.fstat(fd).st_mtime_ns))
        except OSError:
            for s in sources:
                os.close(s.fd)
            raise
        producers = {pid: e.batches[-1].last_offset for pid, e in lg.producer_state.producers.items() if e.batches}
        marker_epochs = {pid: e.epoch for pid, e in lg.producer_state.producers.items() if not e.batches}
        aborted: dict[int, list[tuple[int, int]]] = {}
        for a in lg.producer_state.aborted:
            aborted.setdefault(a.producer_id, []).append((a.first_offset, a.last_offset))
        return CleanJob(lg, lg.dir, sources, ltc.dirty_index, lg.segments[ltc.uncleanable_index].base_offset,
                        now_ms, cfg.delete_retention_ms, cfg.segment_bytes, cfg.index_interval_bytes,
                        dict(cfg.compression_levels), producers, marker_epochs, aborted, self.max_map_entries,
                        self._abort,
                        self.max_bytes_per_second)

    # ------------------------------------------------------------ swapping
    def swap(self, job: CleanJob, result: CleanResult) -> bool:
        """Loop thread, no await: puts the cleaned segments in place, group by
        group in offset order, if they still replace the log's segments. True
        if every group was swapped."""
        lg = job.log
        live = self.manager.get_log(lg.topic, lg.partition) is lg
        complete = live
        for sources, new in result.groups:
            if complete and not _still_in_place(lg, sources):
                complete = False
            if not complete:
                if new is not None:
                    new.delete()
                continue
            if new is not None:
                start, end = sources[0].base, sources[-1].segment.next_offset
                lg.replace_segments(new, [s.segment for s in sources])  # the old ones go to the log's deleter
                # Kafka rewrites the aborted-transaction index the same way: an
                # aborted transaction whose marker is gone is no longer reported
                # to read_committed fetches (its data went a pass earlier).
                lg.producer_state.forget_aborted({(pid, o) for pid, o in result.removed_aborts if start <= o < end})
        if not live:
            try:
                os.rmdir(lg.dir)  # the topic was deleted while we wrote into its directory
            except OSError:
                pass
            return False
        previous = self._horizons.get(lg)
        if complete:
            self._first_dirty[lg] = result.end_offset
            self._horizons[lg] = result.delete_horizon
        elif result.delete_horizon is not None:
            self._horizons[lg] = result.delete_horizon if previous is None else min(previous, result.delete_horizon)
        s = result.stats
        if complete:
            log.info("%s-%d: compacted %d segment(s) into %d up to offset %d: %d records removed (%d expired "
                     "tombstones), %d transaction markers removed, %d bytes read, %d written, %d keys, %.0f ms",
                     lg.topic, lg.partition, s.segments_read, len(result.groups), result.end_offset, s.records_removed,
                     s.tombstones_removed, s.markers_removed, s.bytes_read, s.bytes_written, s.map_entries,
                     s.elapsed_ms)
        else:
            log.info("%s-%d: compaction dropped: the log changed while it was being cleaned (retention or "
                     "truncation); it will be cleaned again", lg.topic, lg.partition)
        return complete

    def persist(self, directory: str, entries: dict[tuple[str, int], int]) -> None:
        """After a swap: the renames on disk, then the checkpoint."""
        try:
            _fsync_dir(directory)
        except FileNotFoundError:
            pass
        self.write_checkpoint(entries)

    # ------------------------------------------------------- synchronous
    def clean_once(self) -> CleanResult | None:
        """Cleans the filthiest log now, in this thread (tests, tools).
        Returns the result, or None when no log needs cleaning."""
        now = self.clock.milliseconds()
        unknown = self._unscanned()
        if unknown:
            self._horizons.update(scan_delete_horizons(self._horizon_items(unknown), self._abort))
        ltc = self.grab_filthiest(now)
        if ltc is None:
            return None
        job = self.prepare(ltc, now)
        result = clean(job)
        if self.swap(job, result):
            self.persist(job.directory, self.checkpoint_entries())
        return result

    # -------------------------------------------------------------- async
    def maybe_clean(self) -> None:
        """Called from the broker's maintenance loop: starts a cleaning pass
        every log.cleaner.backoff.ms unless one is running."""
        if not self.enabled or self._closed or self._task is not None:
            return
        if self.clock.monotonic_ms() < self._next_run_ms:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fluxmq-cleaner")
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._on_pass_done)

    def _on_pass_done(self, task: asyncio.Task) -> None:
        self._task = None
        self._next_run_ms = self.clock.monotonic_ms() + self.backoff_ms
        if not task.cancelled() and task.exception() is not None:
            log.error("log cleaner pass failed", exc_info=task.exception())

    async def _in_worker(self, fn, *args, on_orphan=None):
        """Runs fn in the cleaner thread. If this task is cancelled meanwhile
        (shutdown), on_orphan gets the result the thread still produces."""
        cf: Future = self._executor.submit(fn, *args)
        try:
            return await asyncio.wrap_future(cf)
        except asyncio.CancelledError:
            if on_orphan is not None:
                cf.add_done_callback(lambda f: not f.cancelled() and f.exception() is None and on_orphan(f.result()))
            raise

    async def _run(self) -> None:
        unknown = self._unscanned()
        for i in range(0, len(unknown), HORIZON_SCAN_LOGS):  # bounded: each segment is dup'ed meanwhile
            items = self._horizon_items(unknown[i:i + HORIZON_SCAN_LOGS])
            found = await self._in_worker(scan_delete_horizons, items, self._abort)
            for lg, horizon in found.items():
                self._horizons.setdefault(lg, horizon)
        tried: set = set()
        while not self._closed:
            now = self.clock.milliseconds()
            ltc = self.grab_filthiest(now, exclude=tried)
            if ltc is None:
                return
            lg = ltc.log
            tried.add(lg)
            log.debug("%s-%d: cleaning: %s", lg.topic, lg.partition, ltc.reason)
            try:
                job = self.prepare(ltc, now)
                result = await self._in_worker(clean, job, on_orphan=CleanResult.discard)
            except CleanAborted:
                return
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception:
                if self.manager.get_log(lg.topic, lg.partition) is not lg:
                    log.debug("%s-%d: deleted while it was being compacted", lg.topic, lg.partition)
                    continue
                log.exception("%s-%d: log compaction failed; the partition is marked uncleanable until restart",
                              lg.topic, lg.partition)
                self._uncleanable.add(lg)
                continue
            if self._closed:
                result.discard()
                return
            try:
                swapped = self.swap(job, result)
            except Exception:
                log.exception("%s-%d: swapping in the compacted segments failed; the partition is marked "
                              "uncleanable until restart (the loader completes the swap)", lg.topic, lg.partition)
                self._uncleanable.add(lg)
                continue
            if swapped:
                await self._in_worker(self.persist, job.directory, self.checkpoint_entries())

    def _unscanned(self) -> list:
        return [lg for lg in self.manager.all_logs() if lg.config.compact and lg not in self._horizons]

    @staticmethod
    def _horizon_items(logs: list) -> list:
        """(log, [(fd dup, size) of each closed segment]) for scan_delete_horizons."""
        items = []
        try:
            for lg in logs:
                fds: list = []
                items.append((lg, fds))
                for seg in lg.segments[:-1]:
                    if seg.fd >= 0:
                        fds.append((os.dup(seg.fd), seg.size))
        except OSError:
            for _lg, fds in items:
                for fd, _size in fds:
                    os.close(fd)
            raise
        return items

    # ---------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        """Abandons a clean in progress (its .cleaned files are deleted by the
        worker or, after a crash, by the loader) and writes the checkpoint."""
        self._closed = True
        self._abort.set()
        if self._task is not None:
            self._task.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        try:
            self.write_checkpoint(self.checkpoint_entries())
        except OSError as e:
            log.error("cannot write %s: %s", self.path, e)


def _still_in_place(lg, sources: list[_Source]) -> bool:
    """The sources are still consecutive closed segments of the log, unchanged."""
    first = sources[0].segment
    for i, seg in enumerate(lg.segments):
        if seg is first:
            break
    else:
        return False
    if i + len(sources) >= len(lg.segments):
        return False
    return all(lg.segments[i + k] is s.segment and s.segment.fd >= 0 and s.segment.size == s.size
               for k, s in enumerate(sources))
