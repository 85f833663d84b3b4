"""OffsetIndex: the sparse offset index of one segment (<base>.index), in
Kafka's on-disk format: 8-byte entries, big-endian

    int32 relative offset (offset - segment base offset) | int32 file position

An entry is added after every `index.interval.bytes` of appended batches; a
lookup finds the last entry at or below the target and the segment scans
forward from its position. The index lives in memory and is written out on
roll and clean shutdown and read back at the start-up that follows a clean
shutdown (LogSegment.load_clean); after a crash it is rebuilt from the log
(log/loader.py), so the write needs no fsync.
"""

from __future__ import annotations

import bisect
import struct

from fluxmq.log.checkpoints import read_entries, write_atomically

_ENTRY = struct.Struct(">ii")


class OffsetIndex:
    def __init__(self, path: str, base_offset: int):
        self.path = path
        self.base_offset = base_offset
        self.offsets: list[int] = []    # absolute offsets, ascending
        self.positions: list[int] = []

    def append(self, offset: int, position: int) -> None:
        if not self.offsets or offset > self.offsets[-1]:
            self.offsets.append(offset)
            self.positions.append(position)

    def load(self) -> None:
        """The entries of the file; raises ValueError if they are not ascending."""
        entries = read_entries(self.path, _ENTRY)
        self.clear()
        for relative, position in entries:
            offset = self.base_offset + relative
            if relative < 0 or (self.offsets and (offset <= self.offsets[-1] or position <= self.positions[-1])):
                raise ValueError(f"{self.path}: entries out of order")
            self.offsets.append(offset)
            self.positions.append(position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry <= offset, or (base, 0)."""
        i = bisect.bisect_right(self.offsets, offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.offsets[i], self.positions[i]

    def truncate_to_position(self, position: int) -> None:
        i = bisect.bisect_left(self.positions, position)
        del self.offsets[i:], self.positions[i:]

    def clear(self) -> None:
        self.offsets.clear()
        self.positions.clear()

    def flush(self) -> None:
        base = self.base_offset
        data = b"".join(_ENTRY.pack(o - base, p) for o, p in zip(self.offsets, self.positions))
        write_atomically(self.path, data, durable=False)
