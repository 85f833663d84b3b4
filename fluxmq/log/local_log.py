"""LocalLog: the segments of one partition in its directory (Kafka's LocalLog).

Mechanism only: the ordered segment list and the base offsets to search it,
rolling a new active segment, finding the file range of a batch, the
segments written since the last fdatasync, and the lifetime of segment
files. A segment that leaves the log (retention, compaction's swap, topic
deletion) is renamed `.deleted` and goes to the SegmentDeleter, which
closes and removes it after file.delete.delay.ms, because a Fetch response
being sent may still read it (Kafka's rule).

Policy lives in Log (log.py, Kafka's UnifiedLog): when to roll, what may be
appended, the log start offset, retention, flushing.
"""

from __future__ import annotations

import bisect
import os

from fluxmq.log.segment import LogSegment
from fluxmq.util.file_range import FileRange


class LocalLog:
    def __init__(self, directory: str, config, clock, deleter=None):
        """`config`: the LogConfig (its index interval and file delete delay);
        `deleter`: the SegmentDeleter removed segments go to (None: removed at once)."""
        self.dir = directory
        self.config = config
        self.clock = clock
        self.deleter = deleter
        # Changed in place only, never rebound: Log holds the same list.
        self.segments: list[LogSegment] = []
        self.base_offsets: list[int] = []  # of self.segments, for bisect
        self.dirty_segments: set[LogSegment] = set()  # written since the last fdatasync
        os.makedirs(directory, exist_ok=True)

    @property
    def active_segment(self) -> LogSegment:
        return self.segments[-1]

    def size_in_bytes(self) -> int:
        return sum(s.size for s in self.segments)

    # -------------------------------------------------------------- segments
    def new_segment(self, base_offset: int) -> LogSegment:
        seg = LogSegment(self.dir, base_offset, self.config.index_interval_bytes, self.clock.milliseconds())
        self.add_segment(seg)
        return seg

    def add_segment(self, seg: LogSegment) -> None:
        """Appends an opened segment (the loader's) as the new active one."""
        self.segments.append(seg)
        self.base_offsets.append(seg.base_offset)

    def roll(self, next_offset: int) -> LogSegment:
        """Closes the active segment for appends and starts one at next_offset."""
        self.active_segment.flush_indexes()
        return self.new_segment(next_offset)

    def segment_index(self, offset: int) -> int:
        """The index of the segment whose range holds offset (0 below the first)."""
        return max(0, bisect.bisect_right(self.base_offsets, offset) - 1)

    # ------------------------------------------------------------------ read
    def locate(self, offset: int) -> tuple[LogSegment, int] | None:
        """(segment, position) of the batch holding offset; None past the last batch."""
        for i in range(self.segment_index(offset), len(self.segments)):
            seg = self.segments[i]
            pos = seg.find_batch(offset)
            if pos is not None:
                return seg, pos
        return None

    def read(self, offset: int, max_bytes: int, max_offset: int | None = None) -> FileRange | None:
        """Whole batches from the one holding offset, up to max_bytes but at least
        one batch, none at or beyond max_offset; None if there is nothing."""
        found = self.locate(offset)
        if found is None:
            return None
        seg, pos = found
        length = seg.read_length(pos, max_bytes)
        if max_offset is not None and max_offset < seg.next_offset:
            end = seg.find_batch(max_offset)  # the first batch not to send
            if end is not None:
                length = min(length, end - pos)
        return FileRange(seg.fd, pos, length) if length > 0 else None

    def iter_batches(self, from_offset: int):
        """Every stored batch ending at or after from_offset, as bytes."""
        for seg in self.segments:
            position = 0
            while position < seg.size:
                header = seg.batch_header(position)
                if header is None:
                    break
                _base, last, size = header
                if last >= from_offset:
                    yield os.pread(seg.fd, size, position)
                position += size

    # ----------------------------------------------------------------- flush
    def dirty_fds(self) -> list[int]:
        return [seg.fd for seg in self.dirty_segments if seg.fd >= 0]

    # ------------------------------------------------------- segment removal
    def remove_front(self, segments: list[LogSegment]) -> list[LogSegment]:
        """Removes the leading `segments` (never the active one); returns those removed."""
        removed = []
        for seg in segments:
            if seg is self.active_segment or seg is not self.segments[0]:
                break
            self.dirty_segments.discard(seg)
            self.segments.pop(0)
            self.base_offsets.pop(0)
            seg.mark_deleted()
            removed.append(seg)
        self._release(removed)
        return removed

    def replace_segments(self, new: LogSegment, old: list[LogSegment]) -> None:
        """Log compaction (fluxmq/log/cleaner.py; Kafka's LocalLog.replaceSegments):
        `new`, a cleaned copy of the consecutive closed segments `old` with
        the base offset of old[0] and its files suffixed ".cleaned", takes
        their place. Crash-safe order: rename to ".swap" (from here the
        loader completes the swap), rename the old segments ".deleted", then
        the .swap to old[0]'s name. See cleaner.complete_interrupted_swaps.
        The old segments go to the deleter: their fds stay open for
        file.delete.delay.ms, since a response may still read them."""
        i = next(k for k, seg in enumerate(self.segments) if seg is old[0])
        assert all(self.segments[i + k] is seg for k, seg in enumerate(old)) and i + len(old) < len(self.segments)
        new.change_suffix(".cleaned", ".swap")
        for seg in old:
            self.dirty_segments.discard(seg)
            seg.mark_deleted()
        new.change_suffix(".swap", "")  # takes old[0]'s name
        self.segments[i:i + len(old)] = [new]
        self.base_offsets[i:i + len(old)] = [new.base_offset]
        self._release(old)

    def truncate_fully(self) -> None:
        """Every segment goes: unlinked now, closed by the deleter later."""
        for seg in self.segments:
            seg.delete(close=False)
        self._release(list(self.segments))
        self.segments.clear()
        self.base_offsets.clear()
        self.dirty_segments.clear()

    def _release(self, segments: list[LogSegment]) -> None:
        """Segments this log no longer holds: to the deleter, which removes them
        after file.delete.delay.ms (a response may still be reading them)."""
        if self.deleter is not None:
            self.deleter.schedule(segments, self.config.file_delete_delay_ms)
        else:
            for seg in segments:
                seg.delete()

    # --------------------------------------------------------- lifecycle
    def close(self, clean: bool) -> None:
        for seg in self.segments:
            if clean:
                seg.flush_indexes()
            seg.close()

    def delete(self) -> None:
        """Every segment and the directory itself (the topic was deleted)."""
        self.truncate_fully()
        for name in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, name))
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
