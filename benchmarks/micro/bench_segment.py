"""Segment append throughput: fmq_io_write through io_uring and through
pwritev, without and with an fdatasync after every request, beside fio's
sequential write bandwidth on the same directory (issue 4's target: append
with fsync at least 80% of fio).

    python benchmarks/micro/bench_segment.py [--dir DIR] [--mib 256] [--rounds 3]

A "request" is what one produce request hands to fmq_io_write:
--partitions x --batches record batches of --batch-bytes, each appended at
the end of its partition's segment file. Every run writes the same request
bytes in two layouts:

  N files   --partitions files; segment.c merges one file's batches into one
            vectored write (one pwritev, or one io_uring SQE, per file). With
            sync, every file is then fdatasynced: acks=all when each group
            commit holds a single request, N fdatasyncs per request.
  1 file    all --partitions x --batches batches to one file: one vectored
            write of the whole request, then one fdatasync. The same work as
            the fio job below, so the issue's target is read from this row.

The sync is fmq_io_sync on the same fmq_io (io_uring: all the files'
fdatasyncs in one submission; pwritev: one fdatasync after another), or
fmq_sync_fds where the library predates fmq_io_sync. With one file both
paths make the same single fdatasync call. (The broker's flusher may pair
pwritev writes with io_uring syncs: see LogManager and native.SegmentIO.)

Both layouts write fresh files (O_CREAT | O_TRUNC, buffered, not
preallocated, as segment.py opens them) and delete them after the run. MB/s is
the request bytes over the wall time of the Python loop that fills the
fmq_write array, calls fmq_io_write and, with sync, the sync call.

fio: one job, one new file in the same directory, `--rw=write
--ioengine=psync --bs=<request bytes> --size=<the same total> --fdatasync=1`
(0 without sync) `--fallocate=none --unlink=1`, buffered, queue depth 1: one
pwrite of the whole request, then one fdatasync. MB/s is fio's io_bytes over
its job runtime (--output-format=json). fio has no equivalent of the N-file
layout: with --nrfiles and round-robin its fdatasync goes to the next file,
not the one just written.

Runs of every kind are interleaved round by round, after an os.sync() so one
run's writeback does not land on the next. The virtual disks this is run on
vary several-fold from one fdatasync-bound run to the next, so MB/s is the
median run (the best is printed too) and "vs fio" is the median over rounds
of each run divided by the fio run of the same round: a slow spell of the
disk then lowers both sides of a ratio instead of one side of it. Not a test: nothing is
asserted. The page cache absorbs writes without sync, so those rows mostly
measure submission cost and memory bandwidth.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
from fluxmq.native import ffi, lib  # noqa: E402

PATHS = ("io_uring", "pwritev")


def filesystem_of(path: str) -> str:
    """"ext4 (/dev/vda on /)": the mount holding path."""
    best, text = "", "?"
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, typ = line.split()[:3]
            if path.startswith(mnt) and len(mnt) > len(best):
                best, text = mnt, f"{typ} ({dev} on {mnt})"
    return text


def append_run(path_name: str, directory: str, files: int, batches: int, batch_bytes: int,
               queue_depth: int, total: int, sync: bool) -> tuple[float, str]:
    """One run of fmq_io_write; returns (MB/s, impl actually used)."""
    sync_fds = (lambda fds, n: lib.fmq_io_sync(io, fds, n)) if hasattr(lib, "fmq_io_sync") else lib.fmq_sync_fds
    io = lib.fmq_io_new(queue_depth, 1 if path_name == "pwritev" else 0)
    impl = ffi.string(lib.fmq_io_impl(io)).decode()
    names = [os.path.join(directory, f"{path_name}-{i:020d}.log") for i in range(files)]
    fds = [os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644) for name in names]
    payload = ffi.new("uint8_t[]", os.urandom(batch_bytes))
    n = files * batches
    writes = ffi.new("fmq_write[]", n)
    fd_array = ffi.new("int[]", fds)
    request_bytes = n * batch_bytes
    requests = max(1, total // request_bytes)
    ends = [0] * files
    t0 = time.perf_counter()
    for _ in range(requests):
        k = 0
        for p, fd in enumerate(fds):
            for _ in range(batches):
                w = writes[k]
                w.fd, w.offset, w.buf, w.len = fd, ends[p], payload, batch_bytes
                ends[p] += batch_bytes
                k += 1
        rc = lib.fmq_io_write(io, writes, n)
        if rc:
            raise OSError(-rc, os.strerror(-rc))
        if sync:
            rc = sync_fds(fd_array, files)
            if rc:
                raise OSError(-rc, os.strerror(-rc))
    dt = time.perf_counter() - t0
    for fd, name in zip(fds, names):
        os.close(fd)
        os.unlink(name)
    lib.fmq_io_free(io)
    return requests * request_bytes / dt / 1e6, impl


def fio_version() -> str | None:
    if shutil.which("fio") is None:
        return None
    return subprocess.run(["fio", "--version"], capture_output=True, text=True).stdout.strip()


def fio_run(directory: str, request_bytes: int, total: int, sync: bool) -> float:
    """fio's MB/s for the equivalent of the 1-file layout (see the docstring)."""
    total -= total % request_bytes  # whole requests, as append_run writes
    cmd = ["fio", "--name=fluxmq-baseline", f"--directory={directory}", "--rw=write",
           "--ioengine=psync", "--iodepth=1", "--direct=0", f"--bs={request_bytes}", f"--size={total}",
           f"--fdatasync={1 if sync else 0}", "--fallocate=none", "--unlink=1", "--output-format=json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    write = json.loads(out[out.index("{"):])["jobs"][0]["write"]  # fio may print notes before the JSON
    return write["io_bytes"] / (write["runtime"] / 1000) / 1e6


def measure(directory: str, partitions: int = 8, batches: int = 4, batch_bytes: int = 16 * 1024,
            queue_depth: int = 64, mib: int = 256, sync_mib: int = 64, rounds: int = 3) -> dict:
    """Every run of every kind, interleaved; returns parameters and rows."""
    request_bytes = partitions * batches * batch_bytes
    fio = fio_version()
    layouts = {f"{partitions} files": (partitions, batches), "1 file": (1, partitions * batches)}
    kinds = [(layout, path) for layout in layouts for path in PATHS] + ([("1 file", "fio")] if fio else [])
    rows = []
    for sync in (False, True):
        total = (sync_mib if sync else mib) << 20
        runs = {kind: [] for kind in kinds}
        impls = {}
        for r in range(rounds):
            # Rotate the order so no kind always runs right after the same other one.
            for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
                os.sync()
                layout, path = kind
                if path == "fio":
                    runs[kind].append(fio_run(directory, request_bytes, total, sync))
                else:
                    files, per_file = layouts[layout]
                    mbps, impls[kind] = append_run(path, directory, files, per_file, batch_bytes,
                                                   queue_depth, total, sync)
                    runs[kind].append(mbps)
        for kind in kinds:
            median = statistics.median(runs[kind])
            ratio = statistics.median(a / b for a, b in zip(runs[kind], runs[("1 file", "fio")])) if fio else None
            rows.append({"layout": kind[0], "path": kind[1], "impl": impls.get(kind, kind[1]), "sync": sync,
                         "mbps_median": round(median, 1), "mbps_best": round(max(runs[kind]), 1),
                         "requests_per_s_median": round(median * 1e6 / request_bytes, 1),
                         "fraction_of_fio": round(ratio, 3) if fio else None,
                         "mbps_runs": [round(x, 1) for x in runs[kind]]})
    return {
        "dir": directory,
        "filesystem": filesystem_of(os.path.realpath(directory)),
        "fio": fio,
        "params": {"partitions": partitions, "batches_per_partition": batches, "batch_bytes": batch_bytes,
                   "request_bytes": request_bytes, "queue_depth": queue_depth, "mib_without_sync": mib,
                   "mib_with_sync": sync_mib, "rounds": rounds,
                   "statistic": "MB/s: median run; fraction_of_fio: median of per-round ratios"},
        "rows": rows,
    }


def print_result(res: dict) -> None:
    p = res["params"]
    print(f"dir: {res['dir']} ({res['filesystem']}); fio: {res['fio'] or 'not found (make bench-deps)'}")
    print(f"request: {p['partitions']} partitions x {p['batches_per_partition']} batches x {p['batch_bytes']} B"
          f" = {p['request_bytes'] // 1024} KiB; queue depth {p['queue_depth']}; {p['mib_without_sync']} MiB"
          f" per run ({p['mib_with_sync']} MiB with sync); {p['rounds']} rounds")
    print(f"{'layout':>9} {'path':>10} {'sync':>5} {'MB/s med':>9} {'MB/s best':>10} {'req/s':>8} {'vs fio':>7}")
    for row in res["rows"]:
        label = row["path"] if row["impl"] == row["path"] else f"{row['path']}->{row['impl']}"
        frac = "" if row["fraction_of_fio"] is None or row["path"] == "fio" else f"{row['fraction_of_fio']:.0%}"
        print(f"{row['layout']:>9} {label:>10} {'yes' if row['sync'] else 'no':>5} {row['mbps_median']:9.1f}"
              f" {row['mbps_best']:10.1f} {row['requests_per_s_median']:8.1f} {frac:>7}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=None, help="where segment files go (default: a temp dir)")
    ap.add_argument("--mib", type=int, default=256, help="MiB appended per run without sync")
    ap.add_argument("--sync-mib", type=int, default=64, help="MiB appended per run with sync")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batches", type=int, default=4, help="batches per partition per request")
    ap.add_argument("--batch-bytes", type=int, default=16 * 1024)
    ap.add_argument("--queue-depth", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="runs of each kind")
    args = ap.parse_args()

    directory = tempfile.mkdtemp(prefix="fluxmq-bench-segment-", dir=args.dir)
    try:
        print(f"machine: {platform.machine()} cpus={os.cpu_count()} kernel {platform.release()}")
        print_result(measure(directory, args.partitions, args.batches, args.batch_bytes, args.queue_depth,
                             args.mib, args.sync_mib, args.rounds))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
