"""Workloads W1..W7 of issue 4, run against one broker at a time with the same clients:
Kafka's own tools (ProducerPerformance, ConsumerPerformance, EndToEndLatency from the
kafka-tools 4.4.0 jar) and a librdkafka client (rdkafka_client.py, several processes).

A broker run is two phases, each on a fresh data dir:

  phase A  start (W6 empty) · settle, RSS (W5 idle) · W4 latency · W1 (W5 peak RSS) · W2 · W7
  phase B  start · fill the W3 topic with --log-size bytes (1 KiB records) · kill -9 ·
           restart (W6 recovery) · W3 consume from the start (page cache warm)

W4 runs before W1/W2 so that the latency run does not share the disk with the write-back of
the gigabytes W1 and W2 leave dirty. Every workload gets fresh topics made with the AdminClient.
A step that fails is recorded as failed with its reason and the run goes on; a client that
needs an API the broker does not offer (ConsumerPerformance and EndToEndLatency need the group
coordinator) is recorded as skipped, with the reason.
"""

from __future__ import annotations

import json
import math
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

import brokers
import kwire

BENCH = Path(__file__).resolve().parent
RDKAFKA_CLIENT = BENCH / "rdkafka_client.py"
MiB = 1 << 20
GiB = 1 << 30

# Group APIs ConsumerPerformance (subscribe) and EndToEndLatency (commitSync) depend on.
GROUP_APIS = {10: "FindCoordinator", 11: "JoinGroup", 14: "SyncGroup", 12: "Heartbeat", 8: "OffsetCommit"}


@dataclass
class Plan:
    """Sizes and durations; run.py fills it from --quick / the command line."""
    repeats: int = 3
    java_windows: int = 2            # measured 5-s windows of ProducerPerformance (+1 warm-up window)
    rdkafka_seconds: float = 10.0    # W1/W2 librdkafka produce duration
    rdkafka_procs: int = 2           # librdkafka processes for W1/W2/W3
    idle_settle: float = 5.0         # W5: seconds between readiness and the idle RSS sample
    partitions: int = 6              # W1, W2, W3 topics
    log_size: int = 1 << 30          # W3 data and W6 recovery log, bytes
    w4_rate: int = 5000
    w4_size: int = 1024
    w4_seconds: float = 20.0         # measured, after w4_warmup
    w4_warmup: float = 5.0          # also lets Kafka's JIT warm up: W4 is the first load after start
    e2e_messages: int = 2000         # EndToEndLatency (closed loop)
    w7_partitions: int = 1000
    w7_connections: int = 500
    w7_procs: int = 4
    w7_seconds: float = 10.0
    quick: bool = False
    only: tuple = ()                 # workloads to run ("W1", ...); empty: all

    def wants(self, *workloads: str) -> bool:
        return not self.only or any(w in self.only for w in workloads)

    def estimate_seconds(self) -> dict:
        """A rough clock for the plan on this 2-core machine, from the timings of trial runs:
        per broker run (both phases) and in total."""
        log_mib = self.log_size / MiB
        java_produce = 0.5 + 3 + 5 * (self.java_windows + 1) + 1
        rdkafka_produce = 0.5 + 1.5 + self.rdkafka_seconds + 1
        w4 = 0.5 + 2 + self.w4_warmup + self.w4_seconds + 1 + 0.5 + 2 + self.e2e_messages * 0.003
        w7 = 2 + self.w7_connections * 0.025 + 1 + self.w7_seconds + 10
        phase_a = self.idle_settle + w4 + 2 * (java_produce + rdkafka_produce) + w7
        fill = 0.5 + 2 + log_mib / 60
        w3 = 2 + log_mib / 150 + 3 + log_mib / 150
        per_broker = {
            "kafka": phase_a + 2 * (2 + 4 + 2) + fill + 15 + w3,     # restart waits out the old broker session
            "fluxmq": phase_a + 2 * (0.5 + 2.5) + fill + 2 + log_mib / 500 + w3,
        }
        return {"per_broker_run": per_broker, "total": self.repeats * sum(per_broker.values()) + 10}


@dataclass
class Figure:
    id: str
    workload: str
    label: str
    client: str
    unit: str
    higher_is_better: bool
    target: str = ""  # issue 4's target: on the FluxMQ/Kafka ratio (">= 1.5", "<= 0.5") or absolute ("< 2 s")

    def text(self, plan) -> str:
        """The label with the plan's sizes filled in."""
        return self.label.format(log_mib=f"{plan['log_size'] / MiB:,.0f}", w7_partitions=plan["w7_partitions"],
                                 w7_connections=plan["w7_connections"], w7_procs=plan["w7_procs"])

    def target_met(self, fluxmq, kafka):
        """True/False when the target applies and both numbers are there, else None."""
        if not self.target or fluxmq is None:
            return None
        op, value, *unit = self.target.split()
        value = float(value)
        if unit:  # absolute, on FluxMQ's own figure
            return fluxmq < value if op == "<" else fluxmq <= value
        if not kafka:
            return None
        ratio = fluxmq / kafka
        return ratio >= value if op == ">=" else ratio <= value


def _cpu_figures(prefix: str, workload: str, verb: str, *clients: str) -> list[Figure]:
    """Where the CPU goes during a throughput window. On a 2-core machine the client and the
    broker share the cores, so a client that needs most of them caps the throughput whatever
    the broker does; these figures show which side is the bottleneck."""
    out = []
    for client, tag in zip(clients, ("java", "rdkafka")):
        out.append(Figure(f"{prefix}.{tag}.cpu", workload, f"broker CPU per GiB {verb}", client, "s/GiB", False))
        out.append(Figure(f"{prefix}.{tag}.client_cores", workload, "client CPU during the window (of 2 cores)",
                          client, "cores", False))
    return out


def _figures() -> list[Figure]:
    J, R = "Kafka ProducerPerformance", "librdkafka (confluent-kafka)"
    return [
        Figure("w1.java", "W1", "produce 100 B, acks=1", J, "MiB/s", True, ">= 1.5"),
        Figure("w1.rdkafka", "W1", "produce 100 B, acks=1", R, "MiB/s", True, ">= 1.5"),
        *_cpu_figures("w1", "W1", "produced", J, R),
        Figure("w2.java", "W2", "produce 1 KiB, acks=all", J, "MiB/s", True, ">= 1.5"),
        Figure("w2.rdkafka", "W2", "produce 1 KiB, acks=all", R, "MiB/s", True, ">= 1.5"),
        *_cpu_figures("w2", "W2", "produced", J, R),
        Figure("w3.fill", "W3", "fill {log_mib} MiB: produce 1 KiB, acks=1, fixed count", J, "MiB/s", True),
        Figure("w3.rdkafka", "W3", "consume {log_mib} MiB from the start, page cache warm", R, "MiB/s", True, ">= 1.2"),
        Figure("w3.java", "W3", "consume {log_mib} MiB from the start, page cache warm",
               "Kafka ConsumerPerformance", "MiB/s", True, ">= 1.2"),
        Figure("w3.rdkafka.cpu", "W3", "broker CPU per GiB consumed", R, "s/GiB", False),
        Figure("w3.java.cpu", "W3", "broker CPU per GiB consumed", "Kafka ConsumerPerformance", "s/GiB", False),
        Figure("w4.rdkafka.p50", "W4", "end-to-end latency p50, fixed rate", R, "ms", False),
        Figure("w4.rdkafka.p99", "W4", "end-to-end latency p99, fixed rate", R, "ms", False, "<= 0.5"),
        Figure("w4.rdkafka.p99.9", "W4", "end-to-end latency p99.9, fixed rate", R, "ms", False, "<= 0.5"),
        Figure("w4.rdkafka.max", "W4", "end-to-end latency max, fixed rate", R, "ms", False),
        Figure("w4.java.p50", "W4", "round trip p50, one in flight (closed loop)",
               "Kafka EndToEndLatency", "ms", False),
        Figure("w4.java.p99", "W4", "round trip p99, one in flight (closed loop)",
               "Kafka EndToEndLatency", "ms", False),
        Figure("w4.java.p99.9", "W4", "round trip p99.9, one in flight (closed loop)",
               "Kafka EndToEndLatency", "ms", False),
        Figure("w5.rss_idle", "W5", "broker RSS, idle after start", "/proc", "MiB", False, "<= 0.1"),
        Figure("w5.rss_peak", "W5", "broker RSS, peak during W1", "/proc", "MiB", False, "<= 0.25"),
        Figure("w6.start_empty", "W6", "start-up to first Metadata, empty", "raw Metadata v4", "s", False,
               "<= 0.05"),
        Figure("w6.recover_meta", "W6", "start-up after kill -9 with {log_mib} MiB of log: Metadata, topic led",
               "raw Metadata v4", "s", False, "< 2 s"),
        Figure("w6.recover_data", "W6", "start-up after kill -9: all acked records listed",
               "raw ListOffsets v1", "s", False),
        Figure("w7.throughput", "W7", "produce 100 B, {w7_partitions} partitions, {w7_connections} connections", R, "MiB/s", True),
        Figure("w7.connections", "W7", "client connections open at the broker", R, "conns", True),
        Figure("w7.connect", "W7", "open them: client start-up, metadata and one record each, "
               "{w7_procs} processes in parallel", R, "s", False),
        Figure("w7.rss_connected", "W7", "broker RSS, all connections open, idle", "/proc", "MiB", False),
        Figure("w7.rss_peak", "W7", "broker RSS, peak during the W7 load", "/proc", "MiB", False),
        Figure("w7.create_topic", "W7", "create the {w7_partitions}-partition topic until every partition is led",
               "AdminClient", "s", False),
    ]


FIGURES = _figures()
FIGURE_BY_ID = {f.id: f for f in FIGURES}


@dataclass
class Recorder:
    """Every sample of every figure, per broker, in run order."""
    values: dict = field(default_factory=dict)    # fig -> broker -> [value]
    details: dict = field(default_factory=dict)   # fig -> broker -> [dict]
    skipped: dict = field(default_factory=dict)   # fig -> broker -> reason
    failures: list = field(default_factory=list)  # {broker, repeat, step, error}
    settings: dict = field(default_factory=dict)  # workload -> {client: settings}

    def add(self, fig: str, broker: str, value, **detail):
        assert fig in FIGURE_BY_ID, fig
        self.values.setdefault(fig, {}).setdefault(broker, []).append(value)
        self.details.setdefault(fig, {}).setdefault(broker, []).append(detail)
        print(f"    {fig:<20} {broker:<7} {fmt(value)} {FIGURE_BY_ID[fig].unit}"
              + (f"   {detail_line(detail)}" if detail else ""), flush=True)

    def skip(self, fig: str, broker: str, reason: str):
        if broker not in self.skipped.get(fig, {}):
            print(f"    {fig:<20} {broker:<7} skipped: {reason}", flush=True)
        self.skipped.setdefault(fig, {})[broker] = reason

    def fail(self, broker: str, repeat: int, step: str, error: str):
        print(f"    !! {step} on {broker} failed: {error}", flush=True)
        self.failures.append({"broker": broker, "repeat": repeat, "step": step, "error": error})


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or (isinstance(v, float) and v >= 100):
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if v < 1 else f"{v:.2f}"


def detail_line(d: dict) -> str:
    return ", ".join(f"{k}={fmt(v) if isinstance(v, (int, float)) else v}" for k, v in d.items())


# ---------------------------------------------------------------------------------------------
# Client settings: exactly what is passed; everything else is the client's default.

def _java_props(acks, batch, linger):
    return {"acks": acks, "batch.size": str(batch), "linger.ms": str(linger)}


W1_PROPS = _java_props("1", 16384, 5)
W2_PROPS = _java_props("all", 65536, 5)
W3_FILL_PROPS = _java_props("1", 65536, 5)
W4_PRODUCER_CONF = {"acks": "1", "linger.ms": "0"}
W4_CONSUMER_CONF = {"fetch.wait.max.ms": "500", "fetch.min.bytes": "1"}
# queue.buffering.max.messages bounds what each of the many clients has outstanding, so the
# drain after the timed window stays short and the figure is a sustained rate, not a backlog.
W7_CONF = {"acks": "1", "linger.ms": "5", "batch.size": "16384", "queue.buffering.max.messages": "100"}

JAVA_DEFAULTS_NOTE = ("Java client defaults otherwise (compression.type=none, max.in.flight.requests."
                      "per.connection=5, buffer.memory=32 MiB; enable.idempotence=true unless acks != all, "
                      "when the producer turns it off); tool JVM -Xmx512M as the kafka-*-perf-test.sh scripts")
RDKAFKA_DEFAULTS_NOTE = ("librdkafka defaults otherwise (compression.type=none, enable.idempotence=false, "
                         "max.in.flight=1000000, sticky partitioning for keyless records)")


def describe_settings(plan: Plan) -> dict:
    rp = plan.rdkafka_procs
    return {
        "W1": {"records": "100 B values, no key", "topic": f"{plan.partitions} partitions",
               "ProducerPerformance": {**W1_PROPS, "throughput": "-1",
                                       "measured": f"{plan.java_windows} x 5-s windows after a 5-s warm-up"},
               "librdkafka": {**W1_PROPS, "processes": rp, "duration_s": plan.rdkafka_seconds},
               "notes": [JAVA_DEFAULTS_NOTE, RDKAFKA_DEFAULTS_NOTE]},
        "W2": {"records": "1 KiB values, no key", "topic": f"{plan.partitions} partitions",
               "ProducerPerformance": {**W2_PROPS, "throughput": "-1",
                                       "measured": f"{plan.java_windows} x 5-s windows after a 5-s warm-up"},
               "librdkafka": {**W2_PROPS, "processes": rp, "duration_s": plan.rdkafka_seconds},
               "durability": "FluxMQ answers acks=all after a group-committed fdatasync of the written "
                             "segments. Kafka with one replica (min.insync.replicas=1) answers acks=all once "
                             "the leader has written to the page cache; it never fsyncs per request "
                             "(log.flush.interval.messages defaults to Long.MAX_VALUE).",
               "notes": [JAVA_DEFAULTS_NOTE, RDKAFKA_DEFAULTS_NOTE]},
        "W3": {"log": f"{plan.log_size / MiB:,.0f} MiB of 1 KiB records in {plan.partitions} partitions",
               "fill (ProducerPerformance)": {**W3_FILL_PROPS, "throughput": "-1"},
               "librdkafka consumer": {"processes": rp, "assign": "partitions split between processes, "
                                       "from OFFSET_BEGINNING", "enable.auto.commit": "false",
                                       "defaults": "fetch.max.bytes=52428800, max.partition.fetch.bytes="
                                       "1048576, fetch.wait.max.ms=500, queued.max.messages.kbytes=65536"},
               "ConsumerPerformance": {"fetch-size": "1048576 (default)", "socket-buffer-size": "2097152 "
                                       "(default)", "figure": "fetch.MB.sec (excludes the group join)"},
               "cache": "the log was just written and recovered: page cache warm on both brokers"},
        "W4": {"records": f"{plan.w4_size} B, 1 partition", "rate": f"{plan.w4_rate} records/s",
               "duration": f"{plan.w4_warmup:g} s warm-up (discarded) + {plan.w4_seconds:g} s measured",
               "librdkafka producer": W4_PRODUCER_CONF, "librdkafka consumer": W4_CONSUMER_CONF,
               "method": "fixed schedule; each record carries its intended send time; latency = consumer "
                         "receive time - intended send time (CLOCK_MONOTONIC), so stalls are not omitted",
               "EndToEndLatency": {"acks": "1", "message_size": str(plan.w4_size),
                                   "messages": plan.e2e_messages,
                                   "method": "closed loop, one record in flight, consumer commitSync per "
                                             "record (as the tool does); ms resolution"}},
        "W5": {"sampling": "VmRSS of the broker's process tree from /proc every 100 ms",
               "idle": f"{plan.idle_settle:g} s after the first Metadata response",
               "peak": "largest sample during W1 (both clients)"},
        "W6": {"empty": "process launch to the first Metadata v4 response listing a broker (Kafka: "
                        "after storage format, which is not timed)",
               "recovery": f"kill -9 right after the W3 fill ({plan.log_size / MiB:,.0f} MiB), relaunch; "
                           "Metadata: the topic is listed with every partition led; data: ListOffsets latest "
                           "sums to the record count acknowledged before the kill",
               "kafka": "after a kill -9 Kafka's controller still holds the dead incarnation's broker "
                        "registration: the new one gets DUPLICATE_BROKER_REGISTRATION until "
                        "broker.session.timeout.ms (9 s, default) passes; that wait is part of its "
                        "start-up, as it would be for an operator (see its server.log)"},
        "W7": {"topic": f"{plan.w7_partitions} partitions", "connections": plan.w7_connections,
               "clients": f"{plan.w7_procs} processes x {math.ceil(plan.w7_connections / plan.w7_procs)} "
                          "librdkafka producers (one broker connection each), created one after the other "
                          "in each process (each sends one record before the next starts)",
               "librdkafka": {**W7_CONF, "record": "100 B", "duration_s": plan.w7_seconds},
               "order": "runs after W1 and W2 in the same broker process: its RSS includes what they left "
                        "(Kafka's heap grows to -Xms1G and stays)"},
    }


# ---------------------------------------------------------------------------------------------
# Helpers: topics, child processes, Java tools

def create_topic(broker: brokers.Broker, name: str, partitions: int, timeout: float = 120.0) -> float:
    """AdminClient CreateTopics, then wait until Metadata shows every partition led.
    Returns the seconds the whole thing took."""
    t0 = time.monotonic()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for fut in admin.create_topics([NewTopic(name, partitions, 1)], request_timeout=timeout).values():
        fut.result(timeout)
    with broker.probe() as c:
        while not kwire.topic_ready(c.metadata([name]), name, partitions):
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"topic {name} not ready after {timeout:.0f} s")
            time.sleep(0.01)
    return time.monotonic() - t0


class Child:
    """A rdkafka_client.py process speaking the READY / GO / RESULT handshake."""

    def __init__(self, mode: str, args: list[str], log: Path):
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, str(RDKAFKA_CLIENT), mode, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _expect(self, prefix: str, deadline: float) -> str:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"rdkafka_client: no {prefix} in time (log {self.log.name})")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"rdkafka_client exited with {self.proc.wait()} before {prefix} "
                                   f"(log {self.log.name})")
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def ready(self, deadline: float):
        self._expect("READY", deadline)

    def go(self, t0_ns: int):
        self.proc.stdin.write(f"GO {t0_ns}\n")
        self.proc.stdin.flush()

    def result(self, deadline: float) -> dict:
        return json.loads(self._expect("RESULT", deadline))

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_children(specs: list[tuple[str, list[str]]], logdir: Path, tag: str, ready_timeout: float,
                 run_timeout: float, on_ready=None, start_delay: float = 0.3,
                 cpu: brokers.CpuWindow | None = None) -> list[dict]:
    """Start every child, wait for all READY, call on_ready(), send GO with a common t0 and
    collect every RESULT. With `cpu`, the broker's CPU is measured from t0 to the last RESULT
    (the children report their own CPU in their RESULT as cpu_s)."""
    children = [Child(mode, args, logdir / f"{tag}-{i}.log") for i, (mode, args) in enumerate(specs)]
    try:
        deadline = time.monotonic() + ready_timeout
        for c in children:
            c.ready(deadline)
        if on_ready:
            on_ready()
        t0 = time.monotonic_ns() + int(start_delay * 1e9)
        for c in children:
            c.go(t0)
        deadline = time.monotonic() + start_delay + run_timeout
        if cpu:
            time.sleep(max(0.0, (t0 - time.monotonic_ns()) / 1e9))
            cpu.start([])
        results = [c.result(deadline) for c in children]
        if cpu:
            cpu.result = cpu.stop()
            cpu.result["client_cpu_s"] = sum(r.get("cpu_s", 0.0) for r in results)
            cpu.result["client_cores"] = cpu.result["client_cpu_s"] / cpu.result["seconds"]
        return results
    finally:
        for c in children:
            c.close()


def conf_args(conf: dict) -> list[str]:
    return [arg for k, v in conf.items() for arg in ("--conf", f"{k}={v}")]


_WINDOW = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                     r"([\d.]+) ms max latency\.$")
_SUMMARY = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
                      r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th\.$")
_LOCALE = ["-Duser.language=en", "-Duser.country=US"]


def _java(main_class: str, args: list[str], workdir: Path) -> list[str]:
    cmd = brokers.java_tool_command(main_class, args, workdir)
    return cmd[:1] + _LOCALE + cmd[1:]


def producer_performance(broker, topic: str, size: int, props: dict, logdir: Path, tag: str,
                         windows: int | None = None, num_records: int | None = None,
                         timeout: float = 600.0, tool_args: tuple = ()) -> dict:
    """Run ProducerPerformance at full speed. With `windows`, stop it after one warm-up
    window and `windows` measured 5-s windows and compute the throughput of the measured
    ones, and the broker's and the tool's CPU over them; with `num_records`, let it finish
    and use its summary line."""
    n = num_records or 1_000_000_000
    args = ["--topic", topic, "--num-records", str(n), "--record-size", str(size), "--throughput", "-1",
            *tool_args,
            "--producer-props", f"bootstrap.servers={broker.bootstrap}", *[f"{k}={v}" for k, v in props.items()]]
    err = open(logdir / f"{tag}.log", "ab")
    proc = subprocess.Popen(_java("org.apache.kafka.tools.ProducerPerformance", args, logdir),
                            stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: ([lines.put(x) for x in proc.stdout], lines.put(None)), daemon=True).start()
    found, summary, deadline = [], None, time.monotonic() + timeout
    cpu, cpu_result = brokers.CpuWindow(broker.pid), None
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                break
            line = line.strip()
            err.write((line + "\n").encode())
            if m := _SUMMARY.match(line):
                summary = m
                break
            if m := _WINDOW.match(line):
                found.append((int(m[1]), float(m[2]), float(m[4])))
                if len(found) == 1:
                    cpu.start([proc.pid])
                if windows and len(found) >= windows + 1:
                    cpu_result = cpu.stop()
                    break
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()
    if summary and not windows:
        records, rate = int(summary[1]), float(summary[2])
        return {"records": records, "records_per_s": rate, "mib_per_s": rate * size / MiB,
                "avg_latency_ms": float(summary[4]), "p99_ms": int(summary[8])}
    measured = found[1:] if len(found) > 1 else found
    if not measured:
        raise RuntimeError(f"ProducerPerformance printed no progress (log {logdir / (tag + '.log')})")
    records = sum(r for r, _, _ in measured)
    seconds = sum(r / rate for r, rate, _ in measured if rate > 0)
    return {"records": records, "records_per_s": records / seconds, "mib_per_s": records * size / seconds / MiB,
            "windows": len(measured), "avg_latency_ms": sum(lat * r for r, _, lat in measured) / records,
            "cpu": cpu_result}


def consumer_performance(broker, topic: str, messages: int, logdir: Path, tag: str) -> dict:
    args = ["--bootstrap-server", broker.bootstrap, "--topic", topic, "--messages", str(messages),
            "--timeout", "30000", "--hide-header", "--group", f"bench-{tag}"]
    cpu = brokers.CpuWindow(broker.pid)
    cpu.start([])
    res = subprocess.run(_java("org.apache.kafka.tools.ConsumerPerformance", args, logdir),
                         check=False, capture_output=True, text=True, timeout=600)
    broker_cpu_s = cpu.stop()["broker_cpu_s"]  # the broker idles while the tool's JVM starts
    (logdir / f"{tag}.log").write_text(res.stdout + res.stderr)
    rows = [line.split(", ") for line in res.stdout.splitlines() if line.count(", ") >= 9]
    if res.returncode != 0 or not rows or "Exiting before consuming" in res.stdout:
        raise RuntimeError(f"ConsumerPerformance failed (log {logdir / (tag + '.log')})")
    r = rows[-1]
    return {"mib": float(r[2]), "mib_per_s_total": float(r[3]), "messages": int(r[4]),
            "rebalance_ms": int(r[6]), "fetch_ms": int(r[7]), "fetch_mib_per_s": float(r[8]),
            "broker_cpu_s": broker_cpu_s}


def end_to_end_latency(broker, topic: str, messages: int, size: int, logdir: Path, tag: str) -> dict:
    args = [broker.bootstrap, topic, str(messages), "1", str(size)]
    res = subprocess.run(_java("org.apache.kafka.tools.EndToEndLatency", args, logdir),
                         check=False, capture_output=True, text=True, timeout=600)
    (logdir / f"{tag}.log").write_text(res.stdout + res.stderr)
    avg = re.search(r"Avg latency: ([\d.]+) ms", res.stdout)
    pct = re.search(r"Percentiles: 50th = (\d+), 99th = (\d+), 99.9th = (\d+)", res.stdout)
    if res.returncode != 0 or not (avg and pct):
        raise RuntimeError(f"EndToEndLatency failed (log {logdir / (tag + '.log')})")
    return {"avg": float(avg[1]), "p50": int(pct[1]), "p99": int(pct[2]), "p99.9": int(pct[3])}


def established_connections(port: int) -> int:
    """Server-side ESTABLISHED sockets on `port` (/proc/net/tcp and tcp6)."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


# ---------------------------------------------------------------------------------------------
# The workloads

class BrokerRun:
    """One broker, one repeat: phases A and B."""

    def __init__(self, kind: str, repeat: int, plan: Plan, rec: Recorder, rundir: Path):
        self.kind, self.repeat, self.plan, self.rec = kind, repeat, plan, rec
        self.rundir = rundir
        self.logdir = rundir / "logs" / f"{kind}-r{repeat}"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.broker: brokers.Broker | None = None

    def missing_group_apis(self) -> str | None:
        """Why Kafka's group-based tools cannot run against this broker, or None if they can."""
        apis = self.broker.api_versions()
        missing = [name for key, name in GROUP_APIS.items() if key not in apis]
        return f"the broker does not offer {', '.join(missing)} (consumer groups)" if missing else None

    def step(self, name: str, fn, *args):
        t0 = time.monotonic()
        print(f"  [{self.kind} r{self.repeat}] {name}", flush=True)
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - record and go on with the next workload
            self.rec.fail(self.kind, self.repeat, name, f"{type(e).__name__}: {e}")
        print(f"  [{self.kind} r{self.repeat}] {name} done in {time.monotonic() - t0:.1f} s", flush=True)

    def new_broker(self, phase: str) -> brokers.Broker:
        workdir = self.rundir / "data" / f"{self.kind}-r{self.repeat}-{phase}"
        shutil.rmtree(workdir, ignore_errors=True)
        return brokers.BROKERS[self.kind](workdir)

    def finish_broker(self):
        if self.broker:
            self.broker.stop()
            # keep the broker's own log, drop the data
            for name in (f"{self.broker.name}.out", "server.log"):
                src = self.broker.workdir / name
                if src.exists():
                    shutil.copy(src, self.logdir / f"{self.broker.workdir.name}-{name}")
            shutil.rmtree(self.broker.workdir, ignore_errors=True)
            self.broker = None

    def run(self):
        phases = [("phase A", self.phase_a, ("W1", "W2", "W4", "W5", "W6", "W7")),
                  ("phase B", self.phase_b, ("W3", "W6"))]
        for name, fn, workloads in phases:
            if not self.plan.wants(*workloads):
                continue
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - a broker that fails to start: record, go on
                self.rec.fail(self.kind, self.repeat, name, f"{type(e).__name__}: {e}")
            finally:
                self.finish_broker()

    # -- phase A ------------------------------------------------------------------------------

    def phase_a(self):
        self.broker = self.new_broker("a")
        t = self.broker.start()
        self.rec.add("w6.start_empty", self.kind, t)
        if isinstance(self.broker, brokers.KafkaBroker):
            print(f"    (storage format, not timed: {self.broker.format_seconds:.1f} s)")
        time.sleep(self.plan.idle_settle)
        rss, anon = self.broker.sampler.now()
        self.rec.add("w5.rss_idle", self.kind, rss / MiB, anon_mib=anon / MiB)
        if self.plan.wants("W4"):
            self.step("W4 latency", self.w4)
        if self.plan.wants("W1", "W5"):
            self.step("W1 produce 100 B acks=1", self.w1)
        if self.plan.wants("W2"):
            self.step("W2 produce 1 KiB acks=all", self.w2)
        if self.plan.wants("W7"):
            self.step("W7 scale", self.w7)

    def _produce_pair(self, wl: str, size: int, props: dict):
        p = self.plan
        topic = f"{wl}-java-r{self.repeat}"
        create_topic(self.broker, topic, p.partitions)
        r = producer_performance(self.broker, topic, size, props, self.logdir, f"{wl}-java",
                                 windows=p.java_windows)
        self.rec.add(f"{wl}.java", self.kind, r["mib_per_s"], records_per_s=r["records_per_s"],
                     avg_latency_ms=r["avg_latency_ms"])
        if r["cpu"]:
            self.add_cpu(f"{wl}.java", r["cpu"], r["records"] * size)
        topic = f"{wl}-rdkafka-r{self.repeat}"
        create_topic(self.broker, topic, p.partitions)
        args = ["--bootstrap", self.broker.bootstrap, "--topic", topic, "--size", str(size),
                "--duration", str(p.rdkafka_seconds), *conf_args(props)]
        cpu = brokers.CpuWindow(self.broker.pid)
        results = run_children([("produce", args)] * p.rdkafka_procs, self.logdir, f"{wl}-rdkafka",
                               ready_timeout=60, run_timeout=p.rdkafka_seconds + 180, cpu=cpu)
        acked = sum(r["acked"] for r in results)
        seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
        errors = sum(r["errors"] for r in results)
        if errors:
            print(f"    delivery errors: {errors} (first: {next(r['first_error'] for r in results if r['errors'])})")
        self.rec.add(f"{wl}.rdkafka", self.kind, acked * size / seconds / MiB, records_per_s=acked / seconds,
                     errors=errors)
        self.add_cpu(f"{wl}.rdkafka", cpu.result, acked * size)

    def add_cpu(self, fig: str, cpu: dict, nbytes: int):
        self.rec.add(f"{fig}.cpu", self.kind, cpu["broker_cpu_s"] / (nbytes / GiB), broker_cores=cpu["broker_cores"])
        if f"{fig}.client_cores" in FIGURE_BY_ID:
            self.rec.add(f"{fig}.client_cores", self.kind, cpu["client_cores"])

    def w1(self):
        t0 = time.monotonic()
        try:
            self._produce_pair("w1", 100, W1_PROPS)
        finally:
            rss, anon = self.broker.sampler.peak(t0)
            self.rec.add("w5.rss_peak", self.kind, rss / MiB, anon_mib=anon / MiB)

    def w2(self):
        self._produce_pair("w2", 1024, W2_PROPS)

    def w4(self):
        p = self.plan
        topic = f"w4-rdkafka-r{self.repeat}"
        create_topic(self.broker, topic, 1)
        common = ["--bootstrap", self.broker.bootstrap, "--topic", topic, "--size", str(p.w4_size),
                  "--rate", str(p.w4_rate), "--duration", str(p.w4_warmup + p.w4_seconds),
                  "--warmup", str(p.w4_warmup)]
        consumer = ("latency-consume", [*common, "--start-offset", "0", *conf_args(W4_CONSUMER_CONF)])
        producer = ("latency-produce", [*common, *conf_args(W4_PRODUCER_CONF)])
        cons, prod = run_children([consumer, producer], self.logdir, "w4-rdkafka", ready_timeout=60,
                                  run_timeout=p.w4_warmup + p.w4_seconds + 60)
        if cons["received"] < cons["expected"]:
            print(f"    W4: only {cons['received']} of {cons['expected']} records arrived")
        extra = {"measured": cons["measured"], "lost": cons["expected"] - cons["received"],
                 "send_lateness_ms_max": prod["send_lateness_ms_max"]}
        for q in ("p50", "p99", "p99.9", "max"):
            self.rec.add(f"w4.rdkafka.{q}", self.kind, cons[q], **(extra if q == "p50" else {}))
        missing = self.missing_group_apis()
        if missing:
            for q in ("p50", "p99", "p99.9"):
                self.rec.skip(f"w4.java.{q}", self.kind,
                              "EndToEndLatency commits offsets (commitSync) after every record: " + missing)
            return
        topic = f"w4-java-r{self.repeat}"
        create_topic(self.broker, topic, 1)
        r = end_to_end_latency(self.broker, topic, p.e2e_messages, p.w4_size, self.logdir, "w4-java")
        for q in ("p50", "p99", "p99.9"):
            self.rec.add(f"w4.java.{q}", self.kind, r[q], **({"avg_ms": r["avg"]} if q == "p50" else {}))

    def w7(self):
        p = self.plan
        topic = f"w7-r{self.repeat}"
        t = create_topic(self.broker, topic, p.w7_partitions, timeout=300)
        self.rec.add("w7.create_topic", self.kind, t)
        per_proc = math.ceil(p.w7_connections / p.w7_procs)
        specs = []
        left = p.w7_connections
        for _ in range(p.w7_procs):
            k = min(per_proc, left)
            left -= k
            if k:
                specs.append(("connections", ["--bootstrap", self.broker.bootstrap, "--topic", topic,
                                              "--size", "100", "--duration", str(p.w7_seconds),
                                              "--instances", str(k), *conf_args(W7_CONF)]))
        seen = {}

        def on_ready():
            time.sleep(1.0)
            seen["conns"] = established_connections(self.broker.port)
            seen["rss"] = self.broker.sampler.now()
            seen["t0"] = time.monotonic()

        t_connect = time.monotonic()
        results = run_children(specs, self.logdir, "w7-rdkafka", ready_timeout=300,
                               run_timeout=p.w7_seconds + 240, on_ready=on_ready)
        self.rec.add("w7.connect", self.kind, seen["t0"] - 1.0 - t_connect)
        rss_peak, _ = self.broker.sampler.peak(seen["t0"])
        self.rec.add("w7.connections", self.kind, seen["conns"], target=p.w7_connections)
        acked = sum(r["acked"] for r in results)
        seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
        self.rec.add("w7.throughput", self.kind, acked * 100 / seconds / MiB, records_per_s=acked / seconds,
                     errors=sum(r["errors"] for r in results))
        self.rec.add("w7.rss_connected", self.kind, seen["rss"][0] / MiB)
        self.rec.add("w7.rss_peak", self.kind, rss_peak / MiB)

    # -- phase B ------------------------------------------------------------------------------

    def phase_b(self):
        p = self.plan
        self.broker = self.new_broker("b")
        self.rec.add("w6.start_empty", self.kind, self.broker.start())
        topic = f"w3-r{self.repeat}"
        create_topic(self.broker, topic, p.partitions)
        records = p.log_size // 1024
        r = producer_performance(self.broker, topic, 1024, W3_FILL_PROPS, self.logdir, "w3-fill",
                                 num_records=records, timeout=900)
        self.rec.add("w3.fill", self.kind, r["mib_per_s"], records_per_s=r["records_per_s"],
                     p99_ms=r["p99_ms"])
        ends = self.broker.end_offsets(topic, p.partitions)
        expected = sum(ends.values())
        if expected != records:
            print(f"    W3 fill: {expected} records listed, {records} sent")
        self.broker.kill9()
        t0 = time.monotonic()
        try:
            meta = self.broker.start(ready_topic=(topic, p.partitions), timeout=600)
            self.rec.add("w6.recover_meta", self.kind, meta, log_mib=p.log_size / MiB)
            self.rec.add("w6.recover_data", self.kind, self.broker.wait_end_offsets(topic, p.partitions,
                                                                                     expected, t0))
        except Exception as e:  # noqa: BLE001
            self.rec.fail(self.kind, self.repeat, "W6 recovery", f"{type(e).__name__}: {e}")
            return
        if self.plan.wants("W3"):
            self.step("W3 consume", self.w3, topic, ends)

    def w3(self, topic: str, ends: dict):
        p = self.plan
        expected = sum(ends.values())
        parts = sorted(ends)
        specs = []
        for i in range(p.rdkafka_procs):
            mine = {q: ends[q] for q in parts[i::p.rdkafka_procs]}
            if mine:
                specs.append(("consume", ["--bootstrap", self.broker.bootstrap, "--topic", topic,
                                          "--end-offsets", json.dumps(mine)]))
        cpu = brokers.CpuWindow(self.broker.pid)
        results = run_children(specs, self.logdir, "w3-rdkafka", ready_timeout=60, run_timeout=900, cpu=cpu)
        got = sum(r["messages"] for r in results)
        nbytes = sum(r["bytes"] for r in results)
        seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
        if got < expected:
            raise RuntimeError(f"librdkafka consumers read {got} of {expected} records")
        self.rec.add("w3.rdkafka", self.kind, nbytes / seconds / MiB, records_per_s=got / seconds,
                     seconds=seconds)
        self.add_cpu("w3.rdkafka", cpu.result, nbytes)
        missing = self.missing_group_apis()
        if missing:
            self.rec.skip("w3.java", self.kind, "ConsumerPerformance subscribes with a group: " + missing)
            return
        r = consumer_performance(self.broker, topic, expected, self.logdir, "w3-java")
        self.rec.add("w3.java", self.kind, r["fetch_mib_per_s"], mib_per_s_incl_join=r["mib_per_s_total"],
                     rebalance_ms=r["rebalance_ms"])
        self.rec.add("w3.java.cpu", self.kind, r["broker_cpu_s"] / (r["mib"] * MiB / GiB))
