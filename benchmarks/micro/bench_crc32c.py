"""CRC-32C throughput: FluxMQ's SSE4.2 path, its software (slicing-by-8)
path, and the `crc32c` PyPI package, over several buffer sizes.

    python benchmarks/micro/bench_crc32c.py [--seconds 0.3]

Numbers include the Python -> C call; small sizes mostly measure that.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from timing import throughput

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
from fluxmq.native import ffi, lib  # noqa: E402

try:
    import crc32c as crc32c_pkg
except ImportError:  # the comparison column is simply left out
    crc32c_pkg = None

SIZES = [64, 1024, 16 * 1024, 256 * 1024, 1 << 20, 16 << 20]


def fluxmq_fn(ptr, size: int, software: bool):
    lib.fmq_crc32c_force_software(1 if software else 0)
    crc = lib.fmq_crc32c
    return lambda: crc(0, ptr, size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    args = ap.parse_args()

    lib.fmq_crc32c_force_software(0)
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()}")
    print(f"python {platform.python_version()}; fluxmq load-time crc path: "
          f"{ffi.string(lib.fmq_crc32c_impl()).decode()}")
    print(f"crc32c package: {getattr(crc32c_pkg, '__version__', 'missing') if crc32c_pkg else 'missing'}"
          f"{'' if not crc32c_pkg else ' (hardware)' if getattr(crc32c_pkg, 'hardware_based', False) else ' (software)'}")
    print(f"{'size':>10} {'sse4.2 GB/s':>12} {'software GB/s':>14} {'crc32c pkg GB/s':>16}")
    for size in SIZES:
        data = os.urandom(size)
        ptr = ffi.from_buffer(data)
        hw = throughput(fluxmq_fn(ptr, size, False), size, args.seconds)
        hw_ok = ffi.string(lib.fmq_crc32c_impl()).decode() == "sse4.2"
        sw = throughput(fluxmq_fn(ptr, size, True), size, args.seconds)
        pkg = throughput(lambda: crc32c_pkg.crc32c(data), size, args.seconds) if crc32c_pkg else float("nan")
        hw_text = f"{hw:12.2f}" if hw_ok else f"{'n/a':>12}"
        print(f"{size:>10} {hw_text} {sw:14.2f} {pkg:16.2f}")
    lib.fmq_crc32c_force_software(0)


if __name__ == "__main__":
    main()
