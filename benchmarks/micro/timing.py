"""Timing shared by the micro-benchmarks in this folder."""

from __future__ import annotations

import time


def throughput(fn, size: int, seconds: float, max_reps: int = 1 << 24) -> float:
    """GB/s of fn() over `size` bytes, best of 5 timed rounds; the number of
    calls per round doubles until a round lasts about seconds/5 (or reaches
    max_reps)."""
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        dt = time.perf_counter() - t0
        if dt > seconds / 5 or reps > max_reps:
            break
        reps *= 2
    best = dt
    for _ in range(4):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, time.perf_counter() - t0)
    return size * reps / best / 1e9
