"""LogSegment: one `<20-digit base offset>.log` file with its indexes.

Batches are stored exactly as received (record batch v2, KIP-98) with only
baseOffset and partitionLeaderEpoch patched. The segment tracks its size (the
append position), its largest timestamp and the sparse indexes; appends go
through the Log, which batches the writes of a whole produce request into one
native call.
"""

from __future__ import annotations

import heapq
import itertools
import mmap
import os
import struct

from fluxmq import native
from fluxmq.log.batch import CONTROL_BIT, HEADER_SIZE, I32, I64, LAST_OFFSET_DELTA_POS, LOG_OVERHEAD, MAX_TIMESTAMP_POS
from fluxmq.log.offset_index import OffsetIndex
from fluxmq.log.time_index import TimeIndex

OFFSET_AND_LENGTH = struct.Struct(">qi")  # baseOffset, batchLength: the start of every batch
SCAN_CHUNK_BATCHES = 65536


def _marker(batch: bytes) -> tuple[int, int] | None:
    """A control batch's (marker type, coordinator epoch); None for one that is not a COMMIT or ABORT."""
    from fluxmq.log.control import coordinator_epoch, marker_type
    try:
        return marker_type(batch), coordinator_epoch(batch)
    except Exception:  # noqa: BLE001 - a control record of another kind or an unreadable one: not a marker
        return None


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


class LogSegment:
    def __init__(self, directory: str, base_offset: int, index_interval_bytes: int, created_ms: int,
                 suffix: str = ""):
        """`suffix` is appended to every file name (Kafka's LogSegment.open
        fileSuffix): ".cleaned" / ".swap" for a segment the log cleaner is
        building or swapping in (fluxmq/log/cleaner.py)."""
        self.directory = directory
        self.base_offset = base_offset
        name = os.path.join(directory, segment_name(base_offset))
        self.log_path = name + ".log" + suffix
        self.fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.offset_index = OffsetIndex(name + ".index" + suffix, base_offset)
        self.time_index = TimeIndex(name + ".timeindex" + suffix, base_offset)
        self.index_interval_bytes = index_interval_bytes
        self.bytes_since_last_index = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.created_ms = created_ms
        self.next_offset = base_offset  # last offset + 1 of what the segment holds

    # ---------------------------------------------------------------- appends
    def on_batch_appended(self, base_offset: int, last_offset: int, max_timestamp: int,
                          position: int, size: int) -> None:
        """Bookkeeping after a batch was written at `position`."""
        if max_timestamp > self.max_timestamp:
            self.max_timestamp = max_timestamp
            self.offset_of_max_timestamp = last_offset
        if self.bytes_since_last_index >= self.index_interval_bytes or not self.offset_index.offsets:
            self.offset_index.append(base_offset, position)
            # Kafka's entry: the largest timestamp so far and the offset it is at,
            # so a clean start-up reads the segment's maximum from the file.
            self.time_index.maybe_append(self.max_timestamp, self.offset_of_max_timestamp)
            self.bytes_since_last_index = 0
        self.bytes_since_last_index += size
        self.next_offset = last_offset + 1
        self.size = max(self.size, position + size)

    # ------------------------------------------------------------------ reads
    def batch_header(self, position: int, limit: int | None = None) -> tuple[int, int, int] | None:
        """(base offset, last offset, batch size) of the batch at position
        (within `limit` bytes of the file; the segment's size by default)."""
        if position + HEADER_SIZE > (self.size if limit is None else limit):
            return None
        head = os.pread(self.fd, HEADER_SIZE, position)
        if len(head) < HEADER_SIZE:
            return None
        base, length = OFFSET_AND_LENGTH.unpack_from(head, 0)
        (delta,) = I32.unpack_from(head, LAST_OFFSET_DELTA_POS)
        return base, base + delta, LOG_OVERHEAD + length

    def find_batch(self, offset: int) -> int | None:
        """Position of the batch that holds `offset` (or the first batch
        after it, for offsets lost to compaction); None if past the end."""
        _o, position = self.offset_index.lookup(offset)
        while position < self.size:
            header = self.batch_header(position)
            if header is None:
                return None
            _base, last, size = header
            if last >= offset:
                return position
            position += size
        return None

    def read_length(self, position: int, max_bytes: int) -> int:
        """How many bytes a fetch takes from position: at most max_bytes but
        always the first whole batch (KIP-74); a trailing partial batch is
        allowed, as in Kafka."""
        if position >= self.size:
            return 0
        length = min(max_bytes, self.size - position)
        header = self.batch_header(position)
        if header is not None and header[2] > length:
            length = min(header[2], self.size - position)
        return length

    def find_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(position, base offset) of the first batch with max timestamp >=
        timestamp, scanning from the time index's hint."""
        if self.max_timestamp < timestamp:
            return None
        start_offset = self.time_index.lookup(timestamp)
        _o, position = self.offset_index.lookup(start_offset)
        while position < self.size:
            head = os.pread(self.fd, HEADER_SIZE, position)
            if len(head) < HEADER_SIZE:
                return None
            base, length = OFFSET_AND_LENGTH.unpack_from(head, 0)
            (max_ts,) = I64.unpack_from(head, MAX_TIMESTAMP_POS)
            if max_ts >= timestamp:
                return position, base
            position += LOG_OVERHEAD + length
        return None

    # --------------------------------------------------------------- recovery
    def recover(self, verify_crc: bool = True):
        """Rebuilds indexes and state by scanning the file; truncates a torn
        or corrupt tail. Returns (batches, bytes truncated, scan error); a batch
        is (base offset, last offset, producer id, epoch, base sequence, max
        timestamp, attributes, (marker type, coordinator epoch) or None)."""
        self.offset_index.clear()
        self.time_index.clear()
        self.bytes_since_last_index = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.next_offset = self.base_offset
        self.size = 0
        return self._scan_from(0, verify_crc)

    def load_clean(self) -> bool:
        """After a clean shutdown: the indexes from their files and only the
        batches after the time index's last entry scanned (the bookkeeping of
        on_batch_appended picks up where the files end, so the state is the
        one recover() would rebuild). False, with nothing trusted, if the
        files do not fit the segment: the caller recovers it instead."""
        file_size = os.fstat(self.fd).st_size
        if file_size == 0:
            self.recover(verify_crc=False)
            return True
        try:
            self.offset_index.load()
            self.time_index.load()
        except (OSError, ValueError):
            return False
        index, times = self.offset_index, self.time_index
        if not index.offsets or not times.offsets:
            return False
        last = self.batch_header(index.positions[-1], file_size)
        if last is None or last[0] != index.offsets[-1]:
            return False  # as Kafka's sanity check: the last entry must point at its batch
        # Scan from the offset index entry at or before the time index's last
        # entry: its timestamp and offset are the running maximum up to there.
        _o, start = index.lookup(times.offsets[-1])
        header = self.batch_header(start, file_size)
        if header is None or (start > 0 and header[0] != _o):
            return False  # the index does not point at a batch of this file
        index.truncate_to_position(start + 1)
        self.bytes_since_last_index = 0
        self.max_timestamp, self.offset_of_max_timestamp = times.timestamps[-1], times.offsets[-1]
        self.next_offset = self.base_offset
        self.size = start
        _batches, truncated, error = self._scan_from(start, False, file_size, truncate=False)
        return truncated == 0 and error is None

    def _scan_from(self, start: int, verify_crc: bool, file_size: int | None = None, truncate: bool = True):
        """Scans the file from `start` (a batch boundary) to its end, appending
        each batch's bookkeeping; truncates a torn or corrupt tail (recover)
        unless told not to (load_clean, which then gives up)."""
        if file_size is None:
            file_size = os.fstat(self.fd).st_size
        batches = []
        error = None
        if file_size > start:
            with mmap.mmap(self.fd, file_size, prot=mmap.PROT_READ) as mm:
                view = memoryview(mm)
                try:
                    position = start
                    while position < file_size:
                        infos, n, valid, err = native.scan_prefix(view[position:], verify_crc, SCAN_CHUNK_BATCHES)
                        for i in range(n):
                            b = infos[i]
                            last = b.base_offset + b.last_offset_delta
                            self.on_batch_appended(b.base_offset, last, b.max_timestamp,
                                                   position + b.position, b.size)
                            marker = None
                            if b.attributes & CONTROL_BIT:
                                at = position + b.position
                                marker = _marker(bytes(view[at:at + b.size]))
                            batches.append((b.base_offset, last, b.producer_id, b.producer_epoch,
                                            b.base_sequence, b.max_timestamp, b.attributes, marker))
                        position += valid
                        if err is None:
                            break
                        if err != native.lib.FMQ_SCAN_TOO_MANY:
                            error = native.SCAN_ERRORS.get(err, str(err))
                            break
                finally:
                    view.release()
        truncated = file_size - self.size
        if truncated and truncate:
            os.ftruncate(self.fd, self.size)
        return batches, truncated, error

    # ------------------------------------------------------------ maintenance
    def truncate_to_offset(self, offset: int) -> None:
        """Drops every batch whose base offset >= offset."""
        position = self.find_batch(offset)
        if position is None:
            return
        header = self.batch_header(position)
        if header and header[0] < offset:
            position += header[2]
        os.ftruncate(self.fd, position)
        self.recover(verify_crc=False)

    def flush_indexes(self) -> None:
        self.offset_index.flush()
        self.time_index.flush()

    def largest_timestamp(self) -> int:
        """Kafka's LogSegment.largestTimestamp: the largest batch timestamp,
        or the file's last-modified time when the segment has none (emptied
        by compaction, or records without timestamps)."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        try:
            st = os.fstat(self.fd) if self.fd >= 0 else os.stat(self.log_path)
        except OSError:
            return -1
        return st.st_mtime_ns // 1_000_000

    def change_suffix(self, old: str, new: str) -> None:
        """Renames the segment's files from suffix `old` to `new` (Kafka's
        changeFileSuffixes); the .log file goes last. The fd stays valid."""
        for holder, attr in ((self.offset_index, "path"), (self.time_index, "path"), (self, "log_path")):
            path = getattr(holder, attr)
            if not path.endswith(old):
                continue
            target = path[:len(path) - len(old)] + new
            try:
                os.replace(path, target)
            except FileNotFoundError:
                if holder is self:
                    raise
            setattr(holder, attr, target)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def mark_deleted(self) -> None:
        """Renames the files `.deleted`; the fd stays open until SegmentDeleter removes them."""
        self.change_suffix("", ".deleted")

    def delete(self, close: bool = True) -> None:
        """Unlinks the files; close=False leaves the fd open for the caller to close."""
        if close:
            self.close()
        for path in (self.log_path, self.offset_index.path, self.time_index.path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


class SegmentDeleter:
    """Where segments go when they leave a log (retention, compaction, topic
    deletion). Kafka's rule: the files are renamed `.deleted` (or, for a
    deleted topic, unlinked) at once, and removed file.delete.delay.ms later,
    so a fetch response still being sent, or queued behind an earlier one,
    reads from a descriptor that stays open. Files left behind by a crash are
    removed at the next start (cleaner.complete_interrupted_swaps). Loop thread only.
    """

    def __init__(self, clock):
        self.clock = clock
        self._due: list[tuple[int, int, LogSegment]] = []  # heap: (due ms, sequence, segment)
        self._seq = itertools.count()

    def schedule(self, segments, delay_ms: int) -> None:
        due = self.clock.milliseconds() + max(delay_ms, 0)
        for seg in segments:
            heapq.heappush(self._due, (due, next(self._seq), seg))

    def delete_due(self) -> int:
        """Closes and removes the segments whose delay has passed; returns how many."""
        now = self.clock.milliseconds()
        count = 0
        while self._due and self._due[0][0] <= now:
            heapq.heappop(self._due)[2].delete()
            count += 1
        return count

    def close_all(self) -> None:
        """Shutdown: close every descriptor; the `.deleted` files go at the next start."""
        while self._due:
            heapq.heappop(self._due)[2].close()

    def __len__(self) -> int:
        return len(self._due)
