"""Injectable clock: domain code asks the clock, tests advance a manual one."""

from __future__ import annotations

import time


class SystemClock:
    def milliseconds(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


class ManualClock:
    def __init__(self, now_ms: int = 1_700_000_000_000):
        self.now_ms = now_ms
        self._mono = 0

    def milliseconds(self) -> int:
        return self.now_ms

    def monotonic_ms(self) -> int:
        return self._mono

    def advance(self, ms: int) -> None:
        self.now_ms += ms
        self._mono += ms
