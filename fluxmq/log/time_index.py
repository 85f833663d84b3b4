"""TimeIndex: the sparse time index of one segment (<base>.timeindex), in
Kafka's on-disk format: 12-byte entries, big-endian

    int64 timestamp | int32 relative offset (offset - segment base offset)

Timestamps in it only grow: at most every `index.interval.bytes`, an entry
(the segment's largest timestamp so far, the offset it is at) is added when
that timestamp passes the last entry's, as Kafka does. ListOffsets by
timestamp looks up the entry just below the target and scans forward from
its offset (every batch before it is older than the target). Kept in
memory, written out on roll and clean shutdown and read back after a clean
shutdown (LogSegment.load_clean), rebuilt from the log after a crash
(log/loader.py).
"""

from __future__ import annotations

import bisect
import struct

from fluxmq.log.checkpoints import read_entries, write_atomically

_ENTRY = struct.Struct(">qi")


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

    def load(self) -> None:
        """The entries of the file; raises ValueError if they are not ascending."""
        entries = read_entries(self.path, _ENTRY)
        self.clear()
        for timestamp, relative in entries:
            offset = self.base_offset + relative
            if relative < 0 or (self.offsets and (offset < self.offsets[-1] or timestamp <= self.timestamps[-1])):
                raise ValueError(f"{self.path}: entries out of order")
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
        data = b"".join(_ENTRY.pack(t, o - base) for t, o in zip(self.timestamps, self.offsets))
        write_atomically(self.path, data, durable=False)
