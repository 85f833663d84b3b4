"""FluxMQ beside Apache Kafka 4.4.0 on this machine: issue 4's workloads W1..W7 with the same
clients against each broker, brokers alternating (Kafka, FluxMQ, Kafka, FluxMQ, ...) so that
drift of the machine falls on both. `make bench` runs it; `--quick` is a 3-minute smoke run.

    python benchmarks/run.py [--quick] [--repeats N] [--log-size MiB] [--brokers kafka,fluxmq] ...

Writes benchmarks/results/latest.json, latest.md and latest.png; broker and client logs of the
run stay in benchmarks/results/tmp/<date>/logs (data dirs are deleted after each phase).
Needs the Kafka jars (benchmarks/kafka/pom.xml) and benchmarks/requirements.txt.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import brokers  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402
from workloads import MiB, Plan, Recorder  # noqa: E402

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def make_plan(a) -> Plan:
    if a.quick:
        plan = Plan(repeats=1, java_windows=1, rdkafka_seconds=3, idle_settle=2, log_size=64 * MiB,
                    w4_seconds=4, w4_warmup=1, e2e_messages=300, w7_seconds=3, quick=True)
    else:
        plan = Plan()
    for name in ("repeats", "java_windows", "rdkafka_seconds", "rdkafka_procs", "w4_rate", "w4_seconds",
                 "e2e_messages", "w7_partitions", "w7_connections", "w7_procs", "w7_seconds"):
        value = getattr(a, name)
        if value is not None:
            setattr(plan, name, value)
    if a.only:
        plan.only = tuple(w.strip().upper() for w in a.only.split(",") if w.strip())
    if a.log_size is not None:
        plan.log_size = int(a.log_size * MiB)
    return plan


def print_plan(plan: Plan, order: list[str], budget_minutes: float) -> None:
    est = plan.estimate_seconds()
    print("Plan" + (" (QUICK SMOKE RUN: numbers are noise)" if plan.quick else ""))
    print(f"  {plan.repeats} repeat(s) of: " + " -> ".join(order))
    print("  per broker run, phase A (fresh data dir): start (W6 empty), idle "
          f"{plan.idle_settle:g} s (W5 idle RSS),")
    print(f"    W4 {plan.w4_rate} msg/s x {plan.w4_size} B for {plan.w4_warmup:g}+{plan.w4_seconds:g} s "
          f"+ EndToEndLatency {plan.e2e_messages} msgs,")
    print(f"    W1 100 B acks=1 and W2 1 KiB acks=all: ProducerPerformance 1+{plan.java_windows} x 5-s "
          f"windows, librdkafka {plan.rdkafka_procs} procs x {plan.rdkafka_seconds:g} s (W5 peak RSS in W1),")
    print(f"    W7 {plan.w7_partitions} partitions, {plan.w7_connections} connections "
          f"({plan.w7_procs} procs), {plan.w7_seconds:g} s")
    print(f"  phase B (fresh data dir): fill {plan.log_size / MiB:,.0f} MiB (1 KiB records, "
          f"{plan.partitions} partitions), kill -9, restart (W6 recovery), W3 read it all back")
    per = est["per_broker_run"]
    print("  estimated: " + ", ".join(f"{b} ~{s / 60:.1f} min per run" for b, s in per.items())
          + f"; total ~{est['total'] / 60:.0f} min (more if FluxMQ or the machine is slower than assumed)")
    print(f"  a repeat starts only if it should end within {budget_minutes:g} min (--budget-minutes)")
    print()


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run_micro(out_dir: Path, quick: bool, rundir: Path) -> dict | None:
    """benchmarks/micro/run_all.py in its own interpreter (it runs a broker in-process on
    the main thread); returns its micro.json, or None with the failure printed."""
    print("== micro-benchmarks of the C paths (benchmarks/micro/run_all.py)", flush=True)
    cmd = [sys.executable, str(BENCH / "micro" / "run_all.py"), "--out", str(out_dir)] + (["--quick"] if quick else [])
    with open(rundir / "micro.log", "wb") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=900).returncode
    if rc != 0:
        print(f"    !! micro-benchmarks failed (exit {rc}); see {rundir / 'micro.log'}")
        return None
    with open(out_dir / "micro.json") as f:
        micro = json.load(f)
    for t in micro["targets"]:
        print(f"    {t['target']}: {t['measured']} ({'met' if t['met'] else 'missed'})")
    return {"path": "micro.md", "targets": micro["targets"], "date": micro["date"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3-minute smoke run with tiny sizes")
    ap.add_argument("--repeats", type=int, help="broker runs per broker, alternating (default 3)")
    ap.add_argument("--budget-minutes", type=float, default=28.0,
                    help="start another repeat only if it should end within this (default 28)")
    ap.add_argument("--plan-only", action="store_true", help="print the plan and the time estimate, run nothing")
    ap.add_argument("--brokers", default="kafka,fluxmq", help="order within a repeat (default kafka,fluxmq)")
    ap.add_argument("--log-size", type=float, metavar="MiB", help="W3 / W6 log size (default 1024)")
    ap.add_argument("--java-windows", type=int, help="measured 5-s ProducerPerformance windows (default 2)")
    ap.add_argument("--rdkafka-seconds", type=float, help="W1/W2 librdkafka duration (default 10)")
    ap.add_argument("--rdkafka-procs", type=int, help="librdkafka processes in W1/W2/W3 (default 2)")
    ap.add_argument("--w4-rate", type=int, help="W4 records/s (default 5000)")
    ap.add_argument("--w4-seconds", type=float, help="W4 measured seconds (default 20)")
    ap.add_argument("--e2e-messages", type=int, help="EndToEndLatency records (default 2000)")
    ap.add_argument("--w7-partitions", type=int, help="default 1000")
    ap.add_argument("--w7-connections", type=int, help="default 500")
    ap.add_argument("--w7-procs", type=int, help="client processes holding the W7 connections (default 4)")
    ap.add_argument("--w7-seconds", type=float, help="default 10")
    ap.add_argument("--only", help="comma-separated workloads to run, e.g. W4,W6 (default: all)")
    ap.add_argument("--out", default=str(RESULTS / "latest"), help="output path without extension")
    ap.add_argument("--no-micro", action="store_true",
                    help="skip the micro-benchmarks of the C paths (skipped anyway with --only)")
    a = ap.parse_args(argv)

    plan = make_plan(a)
    order = [b.strip() for b in a.brokers.split(",") if b.strip()]
    for b in order:
        if b not in brokers.BROKERS:
            ap.error(f"unknown broker {b!r}")
    print_plan(plan, order, a.budget_minutes)
    if a.plan_only:
        return 0
    brokers.kafka_classpath()  # fail early, with the command to fetch the jars

    started = datetime.now(UTC)
    rundir = RESULTS / "tmp" / started.strftime("%Y%m%d-%H%M%S")
    rundir.mkdir(parents=True, exist_ok=True)
    rec = Recorder()
    settings = workloads.describe_settings(plan)
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/run.py " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:])),
        "order": order,
        "plan": dataclasses.asdict(plan),
        "machine": report.machine_info(RESULTS),
        "loadavg_start": loadavg(),
        "settings": settings,
        "brokers": {},
    }
    m = meta["machine"]
    print(f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('ram_gib')} GiB, Linux {m['kernel']}, "
          f"disk {m['disk']}; load {meta['loadavg_start']}")
    print(f"Logs: {rundir / 'logs'}\n")

    t_start = time.monotonic()
    meta["repeats_done"] = 0
    try:
        for repeat in range(1, plan.repeats + 1):
            elapsed = time.monotonic() - t_start
            if repeat > 1 and elapsed + elapsed / (repeat - 1) > a.budget_minutes * 60:
                print(f"== stopping after {repeat - 1} repeat(s): another would end after the "
                      f"{a.budget_minutes:g}-minute budget (--budget-minutes)")
                break
            for kind in order:
                print(f"== repeat {repeat}/{plan.repeats}: {kind} "
                      f"({(time.monotonic() - t_start) / 60:.1f} min elapsed)", flush=True)
                run = workloads.BrokerRun(kind, repeat, plan, rec, rundir)
                try:
                    run.run()
                except Exception as e:  # noqa: BLE001 - a broker that cannot start: record, go on
                    rec.fail(kind, repeat, "broker run", f"{type(e).__name__}: {e}")
                if kind not in meta["brokers"]:
                    meta["brokers"][kind] = brokers.BROKERS[kind].settings()
            meta["repeats_done"] = repeat
    except KeyboardInterrupt:
        print("\ninterrupted: writing what was measured so far")
    shutil.rmtree(rundir / "data", ignore_errors=True)

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not (a.no_micro or a.only):
        meta["micro"] = run_micro(out.parent, plan.quick, rundir)
    meta["wall_seconds"] = time.monotonic() - t_start
    meta["loadavg_end"] = loadavg()
    rows = report.summarize(rec, meta["plan"])
    report.write_json(out.with_suffix(".json"), meta, rows, rec)
    report.write_chart(out.with_suffix(".png"), rows, meta["plan"])
    report.write_markdown(out.with_suffix(".md"), meta, rows, rec, out.with_suffix(".png").name)
    report.print_table(rows)
    print(f"\nwall time {meta['wall_seconds'] / 60:.1f} min; wrote {out}.json, .md, .png")
    if rec.failures:
        print(f"{len(rec.failures)} step(s) failed; see the table's notes and {rundir / 'logs'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
