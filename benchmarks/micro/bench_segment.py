"""Segment append throughput: fmq_io_write through io_uring and through
pwritev, without and with a group-commit fdatasync after every request.

A "request" is what one produce request hands to fmq_io_write: for each of
--partitions segment files, --batches record batches of --batch-bytes
appended back to back (merged by segment.c into one vectored write per
file). With --sync, fmq_sync_fds runs over every file after each request
(acks=all with one produce request per fsync: the worst case for group
commit).

    python benchmarks/micro/bench_segment.py [--dir DIR] [--mib 256]

Not a test: nothing is asserted. The page cache absorbs writes without
--sync, so that column mostly measures submission cost and memory bandwidth.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
from fluxmq.native import ffi, lib  # noqa: E402


def filesystem_of(path: str) -> str:
    best, fstype = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            _, mnt, typ = line.split()[:3]
            if path.startswith(mnt) and len(mnt) > len(best):
                best, fstype = mnt, typ
    return fstype


def run(path_name: str, directory: str, args, sync: bool) -> tuple[float, float, str]:
    """Returns (MB/s, requests/s, impl actually used)."""
    io = lib.fmq_io_new(args.queue_depth, 1 if path_name == "pwritev" else 0)
    impl = ffi.string(lib.fmq_io_impl(io)).decode()
    fds = [os.open(os.path.join(directory, f"{path_name}-{i:020d}.log"),
                   os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644) for i in range(args.partitions)]
    payload = ffi.new("uint8_t[]", os.urandom(args.batch_bytes))
    n = args.partitions * args.batches
    writes = ffi.new("fmq_write[]", n)
    fd_array = ffi.new("int[]", fds)
    request_bytes = n * args.batch_bytes
    total = (args.mib << 20) // (8 if sync else 1)
    requests = max(1, total // request_bytes)
    ends = [0] * args.partitions
    t0 = time.perf_counter()
    for _ in range(requests):
        k = 0
        for p, fd in enumerate(fds):
            for _ in range(args.batches):
                w = writes[k]
                w.fd, w.offset, w.buf, w.len = fd, ends[p], payload, args.batch_bytes
                ends[p] += args.batch_bytes
                k += 1
        rc = lib.fmq_io_write(io, writes, n)
        if rc:
            raise OSError(-rc, os.strerror(-rc))
        if sync:
            rc = lib.fmq_sync_fds(fd_array, len(fds))
            if rc:
                raise OSError(-rc, os.strerror(-rc))
    dt = time.perf_counter() - t0
    for fd in fds:
        os.close(fd)
    for i in range(args.partitions):
        os.unlink(os.path.join(directory, f"{path_name}-{i:020d}.log"))
    lib.fmq_io_free(io)
    return requests * request_bytes / dt / 1e6, requests / dt, impl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="where segment files go (default: a temp dir)")
    ap.add_argument("--mib", type=int, default=256, help="MiB appended per run without sync (1/8 with)")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batches", type=int, default=4, help="batches per partition per request")
    ap.add_argument("--batch-bytes", type=int, default=16 * 1024)
    ap.add_argument("--queue-depth", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="best of N")
    args = ap.parse_args()

    directory = tempfile.mkdtemp(prefix="fluxmq-bench-segment-", dir=args.dir)
    try:
        print(f"machine: {platform.machine()} cpus={os.cpu_count()} kernel {platform.release()}")
        print(f"dir: {directory} ({filesystem_of(os.path.realpath(directory))})")
        print(f"request: {args.partitions} partitions x {args.batches} batches x {args.batch_bytes} B"
              f" = {args.partitions * args.batches * args.batch_bytes // 1024} KiB; queue depth "
              f"{args.queue_depth}; {args.mib} MiB per run ({args.mib // 8} MiB with sync); best of {args.rounds}")
        print(f"{'path':>10} {'sync':>6} {'MB/s':>10} {'requests/s':>11}")
        for sync in (False, True):
            results = {"io_uring": [], "pwritev": []}
            for r in range(args.rounds):
                # Alternate the order and flush earlier dirty pages first, so
                # background writeback does not penalise whichever runs next.
                for path_name in (("io_uring", "pwritev") if r % 2 == 0 else ("pwritev", "io_uring")):
                    os.sync()
                    results[path_name].append(run(path_name, directory, args, sync))
            for path_name, runs in results.items():
                mbps, rps, impl = max(runs)
                label = impl if impl == path_name else f"{path_name}->{impl}"
                print(f"{label:>10} {'yes' if sync else 'no':>6} {mbps:10.1f} {rps:11.1f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
