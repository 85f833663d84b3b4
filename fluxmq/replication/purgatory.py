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

A completed operation stays in the deadline heap (if it completed early)
and in the watch lists of its other keys until it is purged: once more than
PURGE_INTERVAL of the operations held are completed, and at least half of
them, both are rebuilt without them (Kafka's
purgatory.purge.interval.requests). So acks=all at a high rate with a 30 s
timeout does not keep every finished request, and long polls that expire on
idle partitions do not pile up in those partitions' watch lists.
"""

from __future__ import annotations

import heapq
import itertools

PURGE_INTERVAL = 1000  # Kafka's producer/fetch purgatory.purge.interval.requests


class DelayedOperation:
    """Subclasses implement can_complete() and on_complete()."""

    def __init__(self, deadline_ms: int):
        self.deadline_ms = deadline_ms
        self.completed = False
        self.expired = False
        self.purgatory: DelayedOperationPurgatory | None = None  # set while it is watched

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
        if self.purgatory is not None:
            self.purgatory.on_completed()
        self.on_complete()
        return True


class DelayedOperationPurgatory:
    def __init__(self, name: str, clock):
        self.name = name
        self.clock = clock
        self.watchers: dict[object, list[DelayedOperation]] = {}  # key -> operations waiting on it (read-only outside)
        self._deadlines: list[tuple[int, int, DelayedOperation]] = []
        self._seq = itertools.count()
        self._tracked = 0  # operations in the heap or the watch lists
        self._stale = 0  # of those, the completed ones

    def try_complete_else_watch(self, op: DelayedOperation, keys) -> bool:
        """True if `op` completed at once; otherwise it waits on `keys` (or its deadline)."""
        if op.try_complete():
            return True
        self.watch(op, keys)
        return False

    def watch(self, op: DelayedOperation, keys) -> None:
        """`op` waits on `keys` (or its deadline) without a first try: for a caller
        that has just found it cannot complete (the long-poll fetch, which read
        already), so that nothing is done twice."""
        op.purgatory = self
        self._tracked += 1
        for key in keys:
            self.watchers.setdefault(key, []).append(op)
        heapq.heappush(self._deadlines, (op.deadline_ms, next(self._seq), op))

    def on_completed(self) -> None:
        """A watched operation completed: purge the stale ones once they pile up."""
        self._stale += 1
        if self._stale > PURGE_INTERVAL and 2 * self._stale > self._tracked:
            self.purge_completed()

    def check_and_complete(self, key) -> int:
        """Something changed under `key`: tries its waiting operations; returns how many completed."""
        ops = self.watchers.get(key)
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
            self.watchers[key] = waiting
        else:
            self.watchers.pop(key, None)  # a purge during the loop may have dropped it
        return done

    def expire(self) -> int:
        """Completes, as expired, every operation whose deadline has passed; returns how many."""
        now = self.clock.monotonic_ms()
        count = 0
        while self._deadlines and self._deadlines[0][0] <= now:
            op = heapq.heappop(self._deadlines)[2]
            if not op.completed:
                op.expired = True
                op.force_complete()  # still in the watch lists of its keys: stale
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
                op.purgatory = None
                op.force_complete()
                count += 1
        self.watchers.clear()
        self._tracked = self._stale = 0
        return count

    def watched(self) -> int:
        """Operations waiting (for tests and metrics)."""
        return sum(1 for _d, _s, op in self._deadlines if not op.completed)

    def purge_completed(self) -> None:
        """Drops completed operations from the deadline heap and the watch lists."""
        self._deadlines = [entry for entry in self._deadlines if not entry[2].completed]
        heapq.heapify(self._deadlines)
        for key in list(self.watchers):
            ops = [op for op in self.watchers[key] if not op.completed]
            if ops:
                self.watchers[key] = ops
            else:
                del self.watchers[key]
        self._tracked = len(self._deadlines)  # every waiting operation is in the heap
        self._stale = 0

    def size(self) -> tuple[int, int]:
        """(heap entries, watch-list entries), completed ones included (for tests)."""
        return len(self._deadlines), sum(len(ops) for ops in self.watchers.values())
