"""Copy throughput: fmq_copy against memcpy (through ffi.memmove) and a
Python bytes copy, at several sizes; then fmq_copy once per path
(FLUXMQ_COPY_IMPL=avx2 / sse2 / memcpy, each in a fresh interpreter because
the path is chosen at load time). The second table is the evidence behind
the choice documented at the top of csrc/copy.c.

    python benchmarks/micro/bench_copy.py [--seconds 0.3]

Source and destination are reused, so sizes that fit the caches measure
hot-cache copies. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

from timing import throughput

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run from a checkout
from fluxmq.native import ffi, lib  # noqa: E402

SIZES = [256, 4096, 16 * 1024, 64 * 1024, 1 << 20, 4 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20]
PATHS = ["avx2", "sse2", "memcpy"]
MAX_REPS = 1 << 22  # calls per timed round at the most


def buffers(size: int):
    src = ffi.new("uint8_t[]", size + 64)
    dst = ffi.new("uint8_t[]", size + 64)
    ffi.memmove(src, os.urandom(size), size)
    return src, dst


def fmq_copy_gbps(size: int, seconds: float) -> float:
    src, dst = buffers(size)
    copy = lib.fmq_copy
    return throughput(lambda: copy(dst, src, size), size, seconds, MAX_REPS)


def compare(seconds: float) -> list[dict]:
    """fmq_copy (load-time path), ffi.memmove and bytes() per size, GB/s."""
    rows = []
    for size in SIZES:
        src, dst = buffers(size)
        view = memoryview(ffi.buffer(src, size))
        memmove = ffi.memmove
        rows.append({"size": size, "fmq_copy_gbps": fmq_copy_gbps(size, seconds),
                     "memmove_gbps": throughput(lambda: memmove(dst, src, size), size, seconds, MAX_REPS),
                     "bytes_gbps": throughput(lambda: bytes(view), size, seconds, MAX_REPS)})
    return rows


def worker_main(seconds: float) -> None:
    """Runs in a child: one fmq_copy column for the path chosen by env."""
    print(ffi.string(lib.fmq_copy_impl()).decode())
    for size in SIZES:
        print(size, fmq_copy_gbps(size, seconds))


def per_path(seconds: float) -> dict[str, dict[int, float]]:
    """{path: {size: GB/s}} for every path this CPU has."""
    columns = {}
    for path in PATHS:
        env = dict(os.environ, FLUXMQ_COPY_IMPL=path, FLUXMQ_FORCE_MEMCPY="0")
        out = subprocess.run([sys.executable, __file__, "--worker", "--seconds", str(seconds)],
                             env=env, capture_output=True, text=True, check=True).stdout.split("\n")
        if out[0].strip() != path:
            print(f"(path {path} not available on this CPU: got {out[0].strip()})")
            continue
        columns[path] = {int(line.split()[0]): float(line.split()[1]) for line in out[1:] if line.strip()}
    return columns


def measure(seconds: float) -> dict:
    return {"load_time_path": ffi.string(lib.fmq_copy_impl()).decode(), "seconds_per_measurement": seconds,
            "compare": compare(seconds), "per_path": per_path(seconds)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args.seconds)
        return
    print(f"machine: {platform.machine()} cpus={os.cpu_count()} python {platform.python_version()}")
    print(f"fmq_copy load-time path: {ffi.string(lib.fmq_copy_impl()).decode()}")
    print(f"{'size':>10} {'fmq_copy':>10} {'ffi.memmove':>12} {'bytes()':>10}   GB/s")
    for row in compare(args.seconds):
        print(f"{row['size']:>10} {row['fmq_copy_gbps']:10.2f} {row['memmove_gbps']:12.2f} {row['bytes_gbps']:10.2f}")
    print()
    columns = per_path(args.seconds)
    print(f"{'size':>10}" + "".join(f"{p:>10}" for p in columns) + "   GB/s, fmq_copy per path")
    for size in SIZES:
        print(f"{size:>10}" + "".join(f"{columns[p][size]:10.2f}" for p in columns))


if __name__ == "__main__":
    main()
