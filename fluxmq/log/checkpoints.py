"""Checkpoint files in Kafka's formats (CheckpointFile / OffsetCheckpointFile /
LeaderEpochCheckpointFile), written atomically: a temporary file, fsync,
rename.

    <data dir>/recovery-point-offset-checkpoint   per partition: offset below which data is synced
    <data dir>/log-start-offset-checkpoint        per partition: first retained offset
    <data dir>/replication-offset-checkpoint      per partition: high watermark
    <data dir>/cleaner-offset-checkpoint          per compacted partition: first dirty offset

        0                       version
        <count>
        <topic> <partition> <offset>     one line per entry

    <partition dir>/leader-epoch-checkpoint       leader epochs and where each began

        0
        <count>
        <epoch> <start offset>           ascending
"""

from __future__ import annotations

import os
import struct

VERSION = 0


def write_atomically(path: str, content: str | bytes, durable: bool = True, mode: int = 0o666) -> None:
    """Readers see the old file or the new one, never a part; durable: fsync before the
    rename. `mode`: the new file's permissions (before the umask), set at creation."""
    tmp = path + ".tmp"
    data = content.encode("utf-8") if isinstance(content, str) else content
    if os.path.exists(tmp):
        os.unlink(tmp)  # a leftover of a crash: created again with `mode`
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
        f.write(data)
        f.flush()
        if durable:
            os.fsync(f.fileno())
    os.replace(tmp, path)


def _entries(path: str, fields: int) -> list[list[str]]:
    """The entry lines of a checkpoint file; [] if it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return []
    return [parts for parts in (line.split() for line in lines[2:]) if len(parts) == fields]


def read_offsets(path: str) -> dict[tuple[str, int], int]:
    """OffsetCheckpointFile: {(topic, partition): offset}."""
    return {(t, int(p)): int(o) for t, p, o in _entries(path, 3)}


def write_offsets(path: str, entries: dict[tuple[str, int], int]) -> None:
    body = "".join(f"{t} {p} {o}\n" for (t, p), o in sorted(entries.items()))
    write_atomically(path, f"{VERSION}\n{len(entries)}\n{body}")


def read_epochs(path: str) -> list[tuple[int, int]]:
    """LeaderEpochCheckpointFile: [(epoch, start offset)]."""
    return [(int(e), int(o)) for e, o in _entries(path, 2)]


def write_epochs(path: str, entries: list[tuple[int, int]]) -> None:
    body = "".join(f"{e} {o}\n" for e, o in entries)
    write_atomically(path, f"{VERSION}\n{len(entries)}\n{body}")


def read_entries(path: str, entry: struct.Struct) -> list[tuple]:
    """The fixed-size entries of an index file; ValueError if its size is not a multiple."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % entry.size:
        raise ValueError(f"{path}: size {len(data)} is not a multiple of {entry.size}")
    return list(entry.iter_unpack(data))
