"""Delayed operations (Kafka's DelayedOperation and DelayedOperationPurgatory).

A request that has to wait - an acks=all produce until its records are
replicated to the ISR and on disk, a fetch until min_bytes are there - becomes
a delayed operation: tried at once, and if it cannot complete, watched under
the keys (topic, partition) that can unblock it, and tried again whenever one
of them changes (check_and_complete), until it completes or its deadline
passes (expire). Each operation completes exactly once: on_complete runs
once, with `expired` telling which way it ended.

The purgatory is sans-I/O: deadlines come from the injected clock and expire()
is called by whoever drives time (the replica manager's timer on the event
loop; unit tests with a manual clock).
"""

from __future__ import annotations

import heapq
import itertools


class DelayedOperation:
    """Subclasses implement can_complete() and on_complete()."""

    def __init__(self, deadline_ms: int):
        self.deadline_ms = deadline_ms
        self.completed = False
        self.expired = False

    def can_complete(self) -> bool:
        raise NotImplementedError

    def on_complete(self) -> None:
        raise NotImplementedError

    def try_complete(self) -> bool:
        """Completes the operation if it can now; True if it is (now or already) complete."""
        if self.completed:
            return True
        if not self.can_complete():
            return False
        self.force_complete()
        return True

    def force_complete(self) -> bool:
        """Completes it whatever its state; False if it already was."""
        if self.completed:
            return False
        self.completed = True
        self.on_complete()
        return True


class DelayedOperationPurgatory:
    def __init__(self, name: str, clock):
        self.name = name
        self.clock = clock
        self._watchers: dict[object, list[DelayedOperation]] = {}
        self._deadlines: list[tuple[int, int, DelayedOperation]] = []
        self._seq = itertools.count()

    def try_complete_else_watch(self, op: DelayedOperation, keys) -> bool:
        """True if `op` completed at once; otherwise it waits on `keys` (or its deadline)."""
        if op.try_complete():
            return True
        for key in keys:
            self._watchers.setdefault(key, []).append(op)
        heapq.heappush(self._deadlines, (op.deadline_ms, next(self._seq), op))
        return False

    def check_and_complete(self, key) -> int:
        """Something changed under `key`: tries its waiting operations; returns how many completed."""
        ops = self._watchers.get(key)
        if not ops:
            return 0
        done = 0
        waiting = []
        for op in ops:
            if op.completed:
                continue
            if op.try_complete():
                done += 1
            else:
                waiting.append(op)
        if waiting:
            self._watchers[key] = waiting
        else:
            del self._watchers[key]
        return done

    def expire(self) -> int:
        """Completes, as expired, every operation whose deadline has passed; returns how many."""
        now = self.clock.monotonic_ms()
        count = 0
        while self._deadlines and self._deadlines[0][0] <= now:
            op = heapq.heappop(self._deadlines)[2]
            if not op.completed:
                op.expired = True
                op.force_complete()
                count += 1
        self._drop_completed_deadlines()
        return count

    def next_deadline_ms(self) -> int | None:
        self._drop_completed_deadlines()
        return self._deadlines[0][0] if self._deadlines else None

    def _drop_completed_deadlines(self) -> None:
        while self._deadlines and self._deadlines[0][2].completed:
            heapq.heappop(self._deadlines)

    def complete_all(self) -> int:
        """Shutdown: every waiting operation completes now (as expired)."""
        count = 0
        while self._deadlines:
            op = heapq.heappop(self._deadlines)[2]
            if not op.completed:
                op.expired = True
                op.force_complete()
                count += 1
        self._watchers.clear()
        return count

    def watched(self) -> int:
        """Operations waiting (for tests and metrics)."""
        return sum(1 for _d, _s, op in self._deadlines if not op.completed)

    def purge_completed(self) -> None:
        """Drops completed operations from the watch lists (they are skipped anyway)."""
        for key in list(self._watchers):
            ops = [op for op in self._watchers[key] if not op.completed]
            if ops:
                self._watchers[key] = ops
            else:
                del self._watchers[key]
