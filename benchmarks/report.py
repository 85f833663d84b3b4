"""Results of a run: latest.json (every sample), latest.md (the table, machine and settings) and
latest.png (throughput, latency percentiles, memory and start-up, FluxMQ beside Kafka).

Each figure's value is the median of its samples over the repeats; the ratio is always
FluxMQ / Kafka, whichever direction is better, so it reads against issue 4's targets directly
(throughput >= 1.5, latency <= 0.5, RSS <= 0.1, ...).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from pathlib import Path

from brokers import KAFKA_VERSION
from workloads import FIGURES, fmt

BROKER_LABEL = {"fluxmq": "FluxMQ", "kafka": "Kafka"}
README_END = "<!-- end of the README part -->"


def machine_info(data_path: Path) -> dict:
    info = {"cpu": "?", "cores": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["ram_gib"] = round(int(f.readline().split()[1]) / (1 << 20), 1)
    except OSError:
        pass
    info["disk"] = disk_info(data_path)
    try:
        out = subprocess.run(["java", "-version"], check=False, capture_output=True, text=True, timeout=30)
        info["java"] = out.stderr.splitlines()[0] if out.stderr else "?"
    except (OSError, subprocess.SubprocessError):
        info["java"] = "?"
    try:
        import confluent_kafka
        info["confluent_kafka"] = confluent_kafka.version()
        info["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass
    return info


def disk_info(path: Path) -> str:
    path = str(path.resolve())
    best, dev, fstype = "", "?", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                d, mnt, typ = line.split()[:3]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, dev, fstype = mnt, d, typ
    except OSError:
        return "?"
    name = os.path.basename(os.path.realpath(dev)) if dev.startswith("/dev/") else dev
    block = name
    while block and not os.path.exists(f"/sys/block/{block}"):
        block = block[:-1]  # vda1 -> vda, nvme0n1p1 -> nvme0n1p (then nvme0n1)
    parts = [f"{dev} ({fstype}, mounted on {best})"]
    if block:
        def read(rel):
            try:
                return Path(f"/sys/block/{block}/{rel}").read_text().strip()
            except OSError:
                return ""
        model = read("device/model")
        rot = read("queue/rotational")
        size = read("size")
        if model:
            parts.append(model)
        if rot:
            parts.append(f"queue/rotational={rot}")
        if size:
            parts.append(f"{int(size) * 512 / 1e9:.0f} GB")
        driver = Path(f"/sys/block/{block}/device/driver")
        if driver.exists():
            parts.append(f"driver {os.path.basename(os.path.realpath(driver))}")
    return ", ".join(parts)


def summarize(rec, plan: dict) -> list[dict]:
    rows = []
    for fig in FIGURES:
        vals = rec.values.get(fig.id, {})
        row = {"id": fig.id, "workload": fig.workload, "label": fig.text(plan), "client": fig.client,
               "unit": fig.unit, "higher_is_better": fig.higher_is_better, "target": fig.target,
               "samples": vals, "details": rec.details.get(fig.id, {}),
               "skipped": rec.skipped.get(fig.id, {})}
        for b in ("fluxmq", "kafka"):
            row[b] = statistics.median(vals[b]) if vals.get(b) else None
        f, k = row["fluxmq"], row["kafka"]
        row["ratio"] = (f / k) if (f is not None and k) else None
        row["target_met"] = fig.target_met(f, k)
        rows.append(row)
    return rows


def write_json(path: Path, meta: dict, rows: list[dict], rec) -> None:
    out = {**meta, "figures": rows, "failures": rec.failures}
    path.write_text(json.dumps(out, indent=2, default=str) + "\n")


def _cell(row, broker, notes: list[str]):
    v = row[broker]
    if v is None:
        if broker not in row["skipped"]:
            return "—"
        reason = row["skipped"][broker]
        if reason not in notes:
            notes.append(reason)
        return f"skipped ({notes.index(reason) + 1})"
    return f"{fmt(v)} {row['unit']}"


def write_markdown(path: Path, meta: dict, rows: list[dict], rec, chart_name: str) -> None:
    m = meta["machine"]
    lines = [f"# FluxMQ beside Apache Kafka {KAFKA_VERSION}", ""]
    if meta["plan"]["quick"]:
        lines += ["> **Quick smoke run** (`--quick`): tiny sizes and a few seconds per workload, to check",
                  "> that the harness works. The numbers are noise, not a measurement.", ""]
    lines += [
        (f"Run {meta['date']} · {meta.get('repeats_done', meta['plan']['repeats'])} repeat(s), brokers alternating "
         f"({', '.join(BROKER_LABEL[b] for b in meta['order'])}) · wall time {meta['wall_seconds'] / 60:.1f} min · "
         f"`{meta['command']}`"),
        "",
        (f"Machine: {m['cpu']}, {m['cores']} cores, {m.get('ram_gib', '?')} GiB RAM, Linux {m['kernel']}; "
         f"disk {m['disk']}; load average {meta['loadavg_start']} at the start, {meta['loadavg_end']} "
         "at the end (other work on the machine shows up as noise)."),
        "",
        (f"Clients on the same machine: Kafka's own tools from kafka-tools {KAFKA_VERSION} (Java "
         f"{m.get('java', '?')}) and librdkafka {m.get('librdkafka', '?')} through confluent-kafka "
         f"{m.get('confluent_kafka', '?')}. Each value is the median over the repeats; "
         "FluxMQ ÷ Kafka is the ratio of the medians; targets are issue 4's."),
        "",
        ("CPU rows: user + system seconds from /proc/<pid>/stat (every thread) over the measured "
         "window. Broker and client share the machine's 2 cores: when the client needs most of "
         "them, it is the bottleneck, and the broker's CPU per GiB is what a faster broker can still win."),
        "",
        "| | figure | client | FluxMQ | Kafka | FluxMQ ÷ Kafka | target | |",
        "|---|---|---|--:|--:|--:|--:|---|",
    ]
    notes: list[str] = []
    for r in rows:
        if not r["samples"] and not r["skipped"]:
            continue
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        target = r["target"].replace(">=", "≥").replace("<=", "≤")
        if target and not target.endswith("s"):
            target += "×"
        met = {True: "met", False: "missed", None: ""}[r["target_met"]]
        lines.append(f"| {r['workload']} | {r['label']} | {r['client']} | {_cell(r, 'fluxmq', notes)} | "
                     f"{_cell(r, 'kafka', notes)} | {ratio} | {target} | {met} |")
    lines.append("")
    for i, reason in enumerate(notes, 1):
        lines.append(f"({i}) skipped: {reason}.  ")
    if rec.failures:
        lines += ["", "Failed steps (the figure has fewer samples or none):", ""]
        for f in rec.failures:
            lines.append(f"- {BROKER_LABEL[f['broker']]} repeat {f['repeat']}, {f['step']}: `{f['error']}`")
    if meta.get("micro"):
        lines += ["", f"Micro-benchmarks of the C paths, same session ([{meta['micro']['path']}]({meta['micro']['path']}): "
                  "CRC32C, copy, segment append beside fio, native calls per request):", "",
                  "| target | measured | |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'met' if t['met'] else 'missed'} |"
                  for t in meta["micro"]["targets"]]
    lines += ["", f"![throughput, latency, memory and start-up]({chart_name})", "", README_END, ""]

    lines += ["## Every sample", "", "| figure | FluxMQ | Kafka |", "|---|---|---|"]
    for r in rows:
        if r["samples"]:
            lines.append(f"| {r['id']} ({r['unit']}) | "
                         + " | ".join(", ".join(fmt(v) for v in r["samples"].get(b, [])) or "—"
                                      for b in ("fluxmq", "kafka")) + " |")
    lines += ["", "## Settings", "", "### Brokers", ""]
    for name, s in meta["brokers"].items():
        lines.append(f"**{BROKER_LABEL[name]}**: {s.get('version', '')}  ")
        for k, v in s.items():
            if k == "version":
                continue
            if isinstance(v, dict):
                lines.append(f"- {k}: " + ", ".join(f"`{kk}={vv}`" for kk, vv in v.items()))
            else:
                lines.append(f"- {k}: {v}")
        lines.append("")
    lines += ["### Workloads", ""]
    for wl, s in meta["settings"].items():
        lines.append(f"**{wl}**")
        for k, v in s.items():
            if isinstance(v, dict):
                lines.append(f"- {k}: " + ", ".join(f"`{kk}={vv}`" for kk, vv in v.items()))
            elif isinstance(v, list):
                lines += [f"- {x}" for x in v]
            else:
                lines.append(f"- {k}: {v}")
        lines.append("")
    lines += ["### Plan", "", "`" + ", ".join(f"{k}={v}" for k, v in meta["plan"].items()) + "`", ""]
    path.write_text("\n".join(lines))


def write_chart(path: Path, rows: list[dict], plan: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_id = {r["id"]: r for r in rows}
    panels = [
        ("Throughput (MiB/s, higher is better)", False,
         ["w1.java", "w1.rdkafka", "w2.java", "w2.rdkafka", "w3.fill", "w3.rdkafka", "w3.java", "w7.throughput"]),
        ("W4 end-to-end latency (ms, log scale, lower is better)", True,
         ["w4.rdkafka.p50", "w4.rdkafka.p99", "w4.rdkafka.p99.9", "w4.rdkafka.max",
          "w4.java.p50", "w4.java.p99", "w4.java.p99.9"]),
        ("Broker RSS (MiB, log scale, lower is better)", True,
         ["w5.rss_idle", "w5.rss_peak", "w7.rss_connected", "w7.rss_peak"]),
        ("Start-up and set-up (s, log scale, lower is better)", True,
         ["w6.start_empty", "w6.recover_meta", "w6.recover_data", "w7.create_topic", "w7.connect"]),
    ]
    short = {
        "w1.java": "W1 Java", "w1.rdkafka": "W1 rdkafka", "w2.java": "W2 Java", "w2.rdkafka": "W2 rdkafka",
        "w3.fill": "W3 fill", "w3.rdkafka": "W3 read\nrdkafka", "w3.java": "W3 read\nJava",
        "w7.throughput": f"W7 {plan['w7_partitions']} part.\n{plan['w7_connections']} conns",
        "w4.rdkafka.p50": "p50", "w4.rdkafka.p99": "p99", "w4.rdkafka.p99.9": "p99.9", "w4.rdkafka.max": "max",
        "w4.java.p50": "E2E p50", "w4.java.p99": "E2E p99", "w4.java.p99.9": "E2E p99.9",
        "w5.rss_idle": "idle", "w5.rss_peak": "peak W1", "w7.rss_connected": "W7 conns\nidle",
        "w7.rss_peak": "W7 peak",
        "w6.start_empty": "empty", "w6.recover_meta": "after kill -9\nMetadata",
        "w6.recover_data": "after kill -9\nall data",
        "w7.create_topic": f"W7 create {plan['w7_partitions']}-\npartition topic",
        "w7.connect": f"W7 open {plan['w7_connections']}\nconnections",
    }
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    colors = {"kafka": "#8c8c8c", "fluxmq": "#1f77b4"}
    for ax, (title, log, ids) in zip(axes.flat, panels):
        ids = [i for i in ids if i in by_id and (by_id[i]["samples"] or by_id[i]["skipped"])]
        xs = range(len(ids))
        width = 0.38
        for j, b in enumerate(("kafka", "fluxmq")):
            vals = [by_id[i][b] for i in ids]
            pos = [x + (j - 0.5) * width for x in xs]
            bars = ax.bar(pos, [v or 0 for v in vals], width, label=BROKER_LABEL[b], color=colors[b])
            for rect, v in zip(bars, vals):
                x = rect.get_x() + rect.get_width() / 2
                if v is None:
                    ax.annotate("n/a", (x, 0.01), xycoords=("data", "axes fraction"), ha="center",
                                va="bottom", fontsize=7, rotation=90)
                else:
                    ax.annotate(fmt(v), (x, v), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(list(xs), [short.get(i, i) for i in ids], fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    title = f"FluxMQ beside Apache Kafka {KAFKA_VERSION} (same machine, same clients)"
    if plan["quick"]:
        title += ": QUICK SMOKE RUN, numbers are noise"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(rows: list[dict]) -> None:
    print(f"\n{'figure':<20}{'FluxMQ':>10}{'':6}{'Kafka':>10}{'':6}{'F/K':>6}  target")
    for r in rows:
        if not r["samples"] and not r["skipped"]:
            continue
        cells = []
        for b in ("fluxmq", "kafka"):
            if r[b] is not None:
                cells.append(f"{fmt(r[b]):>10} {r['unit']:<5}")
            else:
                cells.append(f"{'skipped' if b in r['skipped'] else '-':>10} {'':<5}")
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        met = {True: "met", False: "missed", None: ""}[r["target_met"]]
        print(f"{r['id']:<20}{cells[0]}{cells[1]}{ratio:>6}  {r['target']} {met}")
