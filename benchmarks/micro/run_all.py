"""Runs every micro-benchmark of the C paths (issue 4) and writes
benchmarks/results/micro.json and micro.md: the machine, the parameters,
every figure, and the issue's two targets marked met or missed.

    python benchmarks/micro/run_all.py [--quick] [--out benchmarks/results]

Each bench_*.py here still runs on its own and prints its tables; this calls
their measure() functions with modest sizes (under a minute on 2 cores with
--quick, about two without). Temporary files go under <out>/tmp, which must
be on the filesystem the broker's data would use (the segment and FFI runs
report which one it is). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))  # the bench_* modules import `timing` from here

import bench_copy  # noqa: E402
import bench_crc32c  # noqa: E402
import bench_ffi  # noqa: E402
import bench_segment  # noqa: E402
from fluxmq import native  # noqa: E402

CRC_TARGET_GBPS = 10.0
CRC_TARGET_SIZE = 1 << 20  # a large in-cache buffer: the checksum loop, not the Python call
FIO_TARGET_FRACTION = 0.8

# (quick, full) parameters; each figure's time is set here, not in the modules.
PARAMS = {
    True: {"crc_seconds": 0.1, "copy_seconds": 0.05, "segment": {"mib": 128, "sync_mib": 32, "rounds": 5},
           "ffi_requests": 100},
    False: {"crc_seconds": 0.3, "copy_seconds": 0.2, "segment": {"mib": 256, "sync_mib": 64, "rounds": 9},
            "ffi_requests": 300},
}


def machine() -> dict:
    def first(path, key):
        with open(path) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(key)), "?")

    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    mem_kib = int(first("/proc/meminfo", "MemTotal").split()[0])
    return {"cpu": first("/proc/cpuinfo", "model name"), "arch": platform.machine(),
            "cpus": len(os.sched_getaffinity(0)), "memory": f"{mem_kib / (1 << 20):.1f} GiB",
            "kernel": platform.release(), "python": platform.python_version(),
            "commit": git.stdout.strip() + (" (with uncommitted changes)" if dirty else ""),
            "native": native.info()}


def targets(results: dict) -> list[dict]:
    crc = next(r for r in results["crc32c"]["rows"] if r["size"] == CRC_TARGET_SIZE)["sse42_gbps"]
    out = [{"target": f"CRC32C SSE4.2 >= {CRC_TARGET_GBPS:g} GB/s ({CRC_TARGET_SIZE >> 20} MiB buffers)",
            "measured": "SSE4.2 path not available" if crc is None else f"{crc:.1f} GB/s",
            "met": crc is not None and crc >= CRC_TARGET_GBPS}]
    seg = results["segment"]
    # The path the broker appends with ("segment_io" before writes and syncs were
    # reported apart); the 1-file layout is the one fio does the same work as.
    info = native.info()
    path = info.get("segment_writes", info.get("segment_io"))
    row = next((r for r in seg["rows"] if r["sync"] and r["layout"] == "1 file" and r["path"] == path), None)
    fio = next((r for r in seg["rows"] if r["sync"] and r["path"] == "fio"), None)
    what = (f"Segment append with fdatasync >= {FIO_TARGET_FRACTION:.0%} of fio "
            f"({seg['params']['request_bytes'] >> 10} KiB requests, one file, {path})")
    if fio is None:
        out.append({"target": what, "measured": "fio not installed (make bench-deps)", "met": False})
    else:
        out.append({"target": what, "measured": f"{row['fraction_of_fio']:.0%} (median of per-round ratios;"
                                                f" median runs {row['mbps_median']:.0f} and {fio['mbps_median']:.0f} MB/s)",
                    "met": row["fraction_of_fio"] >= FIO_TARGET_FRACTION})
    return out


def run(out_dir: Path, quick: bool) -> dict:
    """Runs everything, writes out_dir/micro.json and micro.md, returns the JSON document."""
    p = PARAMS[quick]
    tmp_root = out_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="micro-", dir=tmp_root))
    started = time.monotonic()
    results = {}
    try:
        print("crc32c ...", flush=True)
        results["crc32c"] = bench_crc32c.measure(p["crc_seconds"])
        print("copy ...", flush=True)
        results["copy"] = bench_copy.measure(p["copy_seconds"])
        print("segment append and fio ...", flush=True)
        (work / "segment").mkdir()
        results["segment"] = bench_segment.measure(str(work / "segment"), **p["segment"])
        print("ffi calls per request ...", flush=True)
        (work / "ffi").mkdir()
        results["ffi"] = bench_ffi.measure(str(work / "ffi"), requests=p["ffi_requests"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": quick,
           "machine": machine(), "filesystem": bench_segment.filesystem_of(str(tmp_root.resolve())),
           "params": p, "seconds": round(time.monotonic() - started, 1), "targets": targets(results),
           "results": results}
    (out_dir / "micro.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out_dir / "micro.md").write_text(markdown(doc))
    return doc


def _num(v, fmt=".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _path(row: dict) -> str:
    return row["path"] if row["impl"] == row["path"] else f"{row['path']} (fell back to {row['impl']})"


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def markdown(doc: dict) -> str:
    m, r = doc["machine"], doc["results"]
    lines = [
        "# FluxMQ micro-benchmarks (issue 4)", "",
        f"{doc['date']}, {'quick' if doc['quick'] else 'full'} run, {doc['seconds']:.0f} s; commit {m['commit']}.",
        f"{m['cpu']} ({m['arch']}), {m['cpus']} CPUs, {m['memory']} RAM; Linux {m['kernel']}; Python {m['python']};"
        f" native paths: " + ", ".join(f"{k} {v}" for k, v in m["native"].items()) + ".",
        f"Files on {doc['filesystem']}; {r['segment']['fio'] or 'fio not installed'}."
        f" Produced by `python benchmarks/micro/run_all.py{' --quick' if doc['quick'] else ''}`.", "",
        "## Targets", "", "| target | measured | |", "| --- | --- | --- |",
        *[f"| {t['target']} | {t['measured']} | {'met' if t['met'] else '**missed**'} |" for t in doc["targets"]],
        "", "## CRC-32C", "",
        f"GB/s, Python call included, {r['crc32c']['seconds_per_measurement']} s per figure (best of 5 timed"
        f" rounds); `crc32c` package {r['crc32c']['crc32c_pkg'] or 'not installed'}.", "",
        "| size | SSE4.2 | software (slicing-by-8) | crc32c package |", "| ---: | ---: | ---: | ---: |",
        *[f"| {_size(x['size'])} | {_num(x['sse42_gbps'])} | {_num(x['software_gbps'])} | {_num(x['crc32c_pkg_gbps'])} |"
          for x in r["crc32c"]["rows"]],
        "", "## Copy", "",
        f"GB/s, hot buffers reused, {r['copy']['seconds_per_measurement']} s per figure; fmq_copy's load-time path"
        f" is {r['copy']['load_time_path']}; the per-path columns force each path in a fresh interpreter.", "",
        "| size | fmq_copy | ffi.memmove | bytes() | " + " | ".join(r["copy"]["per_path"]) + " |",
        "| ---: " * (4 + len(r["copy"]["per_path"])) + "|",
        *[f"| {_size(x['size'])} | {x['fmq_copy_gbps']:.2f} | {x['memmove_gbps']:.2f} | {x['bytes_gbps']:.2f} | "
          + " | ".join(f"{col[x['size']]:.2f}" for col in r["copy"]["per_path"].values()) + " |"
          for x in r["copy"]["compare"]],
    ]
    s = r["segment"]
    sp = s["params"]
    lines += [
        "", "## Segment append against fio", "",
        f"Requests of {sp['partitions']} partitions x {sp['batches_per_partition']} batches x {sp['batch_bytes']} B"
        f" = {sp['request_bytes'] >> 10} KiB; {sp['mib_without_sync']} MiB per run without fdatasync,"
        f" {sp['mib_with_sync']} MiB with; {sp['rounds']} interleaved rounds. MB/s is the median run (best beside"
        " it); \"of fio\" is the median over rounds of the run divided by the same round's fio run."
        " \"1 file\" does what fio does: one write of the whole request, then one fdatasync; fio runs"
        f" `--rw=write --ioengine=psync --bs={sp['request_bytes']} --fdatasync=1|0 --fallocate=none`"
        " in the same directory. \"N files\" fdatasyncs every partition's file after each request."
        " See benchmarks/micro/bench_segment.py.", "",
        "| layout | path | fdatasync | MB/s | best | requests/s | of fio |", "| --- | --- | --- | ---: | ---: | ---: | ---: |",
        *[f"| {x['layout']} | {_path(x)} | {'yes' if x['sync'] else 'no'} | {x['mbps_median']:.0f} |"
          f" {x['mbps_best']:.0f} | {x['requests_per_s_median']:.0f} |"
          f" {'' if x['path'] == 'fio' else _num(x['fraction_of_fio'], '.0%')} |" for x in s["rows"]],
    ]
    f = r["ffi"]
    fp = f["params"]
    lines += [
        "", "## Native calls per request", "",
        f"The broker in-process on 127.0.0.1, {fp['requests_per_kind']} requests of each kind sent one at a time"
        f" (so each pays its own poll and flush); {fp['partitions']} partitions, {fp['batch_bytes']} B batches,"
        f" Fetch of {fp['fetch_partition_max_bytes'] >> 10} KiB per partition. One trivial cffi call"
        f" (fmq_crc32c over 0 bytes) costs {f['trivial_call_ns']:.0f} ns; \"share\" is calls x that cost over the"
        " broker event loop's CPU time per request (measured without the counting). See"
        " benchmarks/micro/bench_ffi.py.", "",
        "| request | native calls | x cost | loop CPU | share | round trip | calls by function |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        *[f"| {k} | {x['calls_per_request']:g} | {x['ffi_us_per_request']:.2f} us | {x['broker_loop_cpu_us']:.0f} us |"
          f" {x['ffi_share_of_loop_cpu']:.1%} | {x['round_trip_us']:.0f} us | "
          + ", ".join(f"{fn.removeprefix('fmq_')} {c:g}" for fn, c in x["by_function"].items()) + " |"
          for k, x in f["rows"].items()],
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="where micro.json/.md go")
    args = ap.parse_args()
    doc = run(args.out, args.quick)
    for t in doc["targets"]:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']}")
    print(f"wrote {args.out / 'micro.json'} and {args.out / 'micro.md'} in {doc['seconds']:.0f} s")


if __name__ == "__main__":
    main()
