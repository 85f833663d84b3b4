"""Delayed operations: a long-poll fetch parks here until data arrives on one
of its partitions or its max_wait_ms passes (Kafka's DelayedFetch)."""

from __future__ import annotations

import asyncio


class DataWaiters:
    def __init__(self):
        self._waiters: dict[tuple[str, int], set[asyncio.Future]] = {}

    def watch(self, partitions) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        for tp in partitions:
            self._waiters.setdefault(tp, set()).add(fut)
        return fut

    def unwatch(self, partitions, fut: asyncio.Future) -> None:
        for tp in partitions:
            s = self._waiters.get(tp)
            if s is not None:
                s.discard(fut)
                if not s:
                    del self._waiters[tp]

    def notify(self, tp: tuple[str, int]) -> None:
        """New data on a partition: wake every fetch waiting on it."""
        for fut in self._waiters.pop(tp, ()):
            if not fut.done():
                fut.set_result(tp)

    def wake_all(self) -> None:
        for futs in self._waiters.values():
            for fut in futs:
                if not fut.done():
                    fut.set_result(None)
        self._waiters.clear()
