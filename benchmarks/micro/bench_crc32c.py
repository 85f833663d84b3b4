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


def measure(seconds: float, sizes=SIZES) -> dict:
    """GB/s per size for each implementation (None where one is missing)."""
    lib.fmq_crc32c_force_software(0)
    hw_ok = ffi.string(lib.fmq_crc32c_impl()).decode() == "sse4.2"
    rows = []
    for size in sizes:
        data = os.urandom(size)
        ptr = ffi.from_buffer(data)
        hw = throughput(fluxmq_fn(ptr, size, False), size, seconds) if hw_ok else None
        sw = throughput(fluxmq_fn(ptr, size, True), size, seconds)
        pkg = throughput(lambda: crc32c_pkg.crc32c(data), size, seconds) if crc32c_pkg else None
        rows.append({"size": size, "sse42_gbps": hw, "software_gbps": sw, "crc32c_pkg_gbps": pkg})
    lib.fmq_crc32c_force_software(0)
    return {
        "load_time_path": ffi.string(lib.fmq_crc32c_impl()).decode(),
        "crc32c_pkg": (f"{getattr(crc32c_pkg, '__version__', '?')} "
                       f"({'hardware' if getattr(crc32c_pkg, 'hardware_based', False) else 'software'})"
                       if crc32c_pkg else None),
        "seconds_per_measurement": seconds,
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    args = ap.parse_args()

    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()}")
    res = measure(args.seconds)
    print(f"python {platform.python_version()}; fluxmq load-time crc path: {res['load_time_path']}")
    print(f"crc32c package: {res['crc32c_pkg'] or 'missing'}")
    print(f"{'size':>10} {'sse4.2 GB/s':>12} {'software GB/s':>14} {'crc32c pkg GB/s':>16}")
    for row in res["rows"]:
        cells = [row["sse42_gbps"], row["software_gbps"], row["crc32c_pkg_gbps"]]
        print(f"{row['size']:>10}" + "".join(f"{'n/a' if v is None else f'{v:.2f}':>{w}}"
                                             for v, w in zip(cells, (13, 15, 17))))


if __name__ == "__main__":
    main()
