"""Sparse indexes of one segment, in Kafka's on-disk formats.

OffsetIndex (<base>.index): 8-byte entries, big-endian
    int32 relative offset (offset - segment base offset) | int32 file position
TimeIndex (<base>.timeindex): 12-byte entries, big-endian
    int64 timestamp | int32 relative offset
An entry is added after every `index.interval.bytes` of appended batches;
lookups find the last entry at or below the target and scan forward from
there. Both live in memory and are written out on roll and clean shutdown;
after a crash they are rebuilt from the log (LogLoader).
"""

from __future__ import annotations

import bisect
import os
import struct

_OFFSET_ENTRY = struct.Struct(">ii")
_TIME_ENTRY = struct.Struct(">qi")


def _write_atomically(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


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
        data = b"".join(_OFFSET_ENTRY.pack(o - base, p) for o, p in zip(self.offsets, self.positions))
        _write_atomically(self.path, data)


class TimeIndex:
    def __init__(self, path: str, base_offset: int):
        self.path = path
        self.base_offset = base_offset
        self.timestamps: list[int] = []  # non-decreasing
        self.offsets: list[int] = []

    def maybe_append(self, timestamp: int, offset: int) -> None:
        if not self.timestamps or timestamp > self.timestamps[-1]:
            self.timestamps.append(timestamp)
            self.offsets.append(offset)

    def lookup(self, timestamp: int) -> int:
        """An offset from which scanning finds the first batch with
        max timestamp >= timestamp: the entry just below the target."""
        i = bisect.bisect_left(self.timestamps, timestamp) - 1
        return self.base_offset if i < 0 else self.offsets[i]

    def truncate_to_offset(self, offset: int) -> None:
        i = bisect.bisect_left(self.offsets, offset)
        del self.timestamps[i:], self.offsets[i:]

    def clear(self) -> None:
        self.timestamps.clear()
        self.offsets.clear()

    def flush(self) -> None:
        base = self.base_offset
        data = b"".join(_TIME_ENTRY.pack(t, o - base) for t, o in zip(self.timestamps, self.offsets))
        _write_atomically(self.path, data)
