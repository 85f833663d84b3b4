"""A byte range of an open file: how fetch payloads travel from a segment to
the socket (sendfile) without passing through Python."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileRange:
    """`length` bytes of file descriptor `fd` from `offset`."""
    fd: int
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length
