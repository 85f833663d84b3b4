"""The transactional row: the idempotent producer beside the transactional one, on FluxMQ and
on Apache Kafka 4.4.0, with the same client (Kafka's ProducerPerformance from kafka-tools 4.4.0,
the Java 4.4 producer).

Each broker run measures, on fresh topics of 6 partitions, for 100-byte and 1 KiB records:

  idempotent     acks=all (so enable.idempotence stays on, the Java default), batch.size and
                 linger.ms as W2 (65536, 5)
  transactional  the same, with --transactional-id and --transaction-duration-ms 100: a
                 transaction committed every 100 ms (both brokers finalize transaction.version
                 2, so each commit also bumps the epoch, KIP-890 part 2)

ProducerPerformance runs at full speed; its first 5-s window is a warm-up and --windows 5-s
windows are measured, with the broker's CPU over them. Figures are medians over --repeats
broker runs (alternating kafka, fluxmq; odd runs measure transactional before idempotent).
The cost of transactions on a broker is its transactional figure over its idempotent one;
issue 11 asks FluxMQ's to stay within 10% (a throughput ratio of at least 0.90 and broker CPU
per GiB at most 1.10 times the idempotent figure).

    python benchmarks/txn.py [--repeats 2] [--windows 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

import brokers
import report
import workloads

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PARTITIONS = 6
PROPS = workloads.W2_PROPS  # acks=all, batch.size=65536, linger.ms=5
TRANSACTION_MS = 100
SIZES = (100, 1024)
MODES = ("idempotent", "transactional")


def figure(size: int, mode: str) -> str:
    return f"{size}B.{mode}"


def measure(b, size: int, mode: str, repeat: int, windows: int, workdir: Path) -> dict:
    topic = f"txn-{size}-{mode}-r{repeat}"
    workloads.create_topic(b, topic, PARTITIONS)
    tool_args = (("--transactional-id", f"bench-{topic}", "--transaction-duration-ms", str(TRANSACTION_MS))
                 if mode == "transactional" else ())
    r = workloads.producer_performance(b, topic, size, PROPS, workdir, topic, windows=windows, tool_args=tool_args)
    cpu = r["cpu"] or {}
    nbytes = r["records"] * size
    return {"mib_per_s": r["mib_per_s"], "records_per_s": r["records_per_s"], "avg_latency_ms": r["avg_latency_ms"],
            "broker_cpu_s_per_gib": cpu.get("broker_cpu_s", float("nan")) / (nbytes / workloads.GiB),
            "broker_cores": cpu.get("broker_cores", float("nan"))}


def broker_run(kind: str, repeat: int, a, rundir: Path) -> dict:
    workdir = rundir / f"{kind}-r{repeat}"
    b = brokers.KafkaBroker(workdir, {}) if kind == "kafka" else brokers.FluxBroker(workdir, {})
    b.start()
    out = {}
    try:
        for size in SIZES:
            for mode in (MODES[::-1] if repeat % 2 else MODES):
                out[figure(size, mode)] = measure(b, size, mode, repeat, a.windows, workdir)
    finally:
        b.stop()
    print(f"  {kind} r{repeat}: " + ", ".join(f"{k}={v['mib_per_s']:,.1f} MiB/s" for k, v in out.items()), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--windows", type=int, default=2, help="measured 5-s windows per figure")
    ap.add_argument("--out", default=str(RESULTS / "txn-latest"), help="output path without extension")
    a = ap.parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    rundir = RESULTS / "tmp" / ("txn-" + started.strftime("%Y%m%d-%H%M%S"))
    rundir.mkdir(parents=True)
    settings = {"ProducerPerformance": {**PROPS, "throughput": "-1", "record sizes": "100 B and 1 KiB, no key",
                                        "measured": f"{a.windows} x 5-s windows after a 5-s warm-up"},
                "transactional": {"--transactional-id": "one per run", "--transaction-duration-ms": TRANSACTION_MS},
                "notes": [workloads.JAVA_DEFAULTS_NOTE],
                "topics": f"{PARTITIONS} partitions, replication factor 1",
                "kafka": brokers.KafkaBroker.settings()["version"],
                "fluxmq": brokers.FluxBroker.settings()["version"]}
    print(json.dumps(settings, indent=1))
    runs = {"kafka": [], "fluxmq": []}
    for r in range(a.repeats):
        for kind in ("kafka", "fluxmq"):
            runs[kind].append(broker_run(kind, r, a, rundir))
    keys = ("mib_per_s", "broker_cpu_s_per_gib", "avg_latency_ms")
    med = {kind: {figure(s, m): {k: statistics.median(run[figure(s, m)][k] for run in rs) for k in keys}
                  for s in SIZES for m in MODES} for kind, rs in runs.items()}
    lines = [f"# Transactions: the transactional producer beside the idempotent one ({started:%Y-%m-%d})", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in report.machine_info(RESULTS).items()), "",
             f"Command: `python benchmarks/txn.py --repeats {a.repeats} --windows {a.windows}` "
             f"(medians of {a.repeats} runs per broker; Kafka's ProducerPerformance 4.4.0, acks=all, "
             f"batch.size=65536, linger.ms=5, 6 partitions; transactional: a commit every {TRANSACTION_MS} ms)", "",
             "| records | producer | Kafka MiB/s | FluxMQ MiB/s | FluxMQ / Kafka | Kafka broker CPU s/GiB "
             "| FluxMQ broker CPU s/GiB |", "|---|---|---|---|---|---|---|"]
    for s in SIZES:
        for m in MODES:
            k, f = med["kafka"][figure(s, m)], med["fluxmq"][figure(s, m)]
            lines.append(f"| {s} B | {m} | {k['mib_per_s']:,.1f} | {f['mib_per_s']:,.1f} "
                         f"| {f['mib_per_s'] / k['mib_per_s']:.2f} | {k['broker_cpu_s_per_gib']:.1f} "
                         f"| {f['broker_cpu_s_per_gib']:.1f} |")
    lines += ["", "What transactions cost each broker: its transactional figure over its idempotent one "
              "(throughput: higher is better; CPU per GiB: lower is better).", "",
              "| records | Kafka throughput | FluxMQ throughput | Kafka CPU/GiB | FluxMQ CPU/GiB |",
              "|---|---|---|---|---|"]
    for s in SIZES:
        def ratio(kind, key):
            return med[kind][figure(s, "transactional")][key] / med[kind][figure(s, "idempotent")][key]
        cost = {kind: (ratio(kind, "mib_per_s"), ratio(kind, "broker_cpu_s_per_gib")) for kind in med}
        lines.append(f"| {s} B | {cost['kafka'][0]:.2f} | {cost['fluxmq'][0]:.2f} | {cost['kafka'][1]:.2f} "
                     f"| {cost['fluxmq'][1]:.2f} |")
    lines += ["", "Client and broker settings:", "", "```", json.dumps(settings, indent=1), "```", ""]
    Path(a.out + ".md").write_text("\n".join(lines))
    Path(a.out + ".json").write_text(json.dumps({"settings": settings, "runs": runs, "medians": med}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
