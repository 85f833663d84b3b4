"""The TLS row: FluxMQ beside Apache Kafka 4.4.0 over SSL, with the same librdkafka clients.

Each broker serves two listeners, PLAINTEXT and SSL (a PEM keystore: an EC P-256 key and a
certificate for 127.0.0.1 made here with `cryptography`; TLS 1.3, OpenSSL's default suite
negotiated by librdkafka). A broker run measures, on fresh topics of 6 partitions:

  W1   100-byte records, acks=1, batch.size=16384, linger.ms=5 (as run.py's W1): --procs
       librdkafka producer processes for --seconds, once over PLAINTEXT and once over SSL
  W3   a topic filled over PLAINTEXT with at least --fill-mib of 1 KiB records (5-s rounds of
       --procs producers), synced to disk, then read from the start by --procs librdkafka consumer processes (partitions split between them, the
       librdkafka defaults), once over PLAINTEXT and once over SSL

Figures are MiB/s of record values; each is the median over --repeats broker runs
(alternating kafka, fluxmq; odd runs measure SSL before PLAINTEXT), and the ratio is FluxMQ / Kafka in the same session. The
plaintext figures beside the SSL ones show what TLS costs each broker on this machine.

    python benchmarks/tls.py [--repeats 2] [--seconds 10] [--fill-mib 512] [--procs 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import brokers
import report
import workloads

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH.parent / "tests"))
from tlsutil import Pki  # noqa: E402  (the tests' certificate maker)

PARTITIONS = 6
W1_CONF = workloads.W1_PROPS
FIGURES = [("w1.plaintext", "W1 produce 100 B, PLAINTEXT"), ("w1.ssl", "W1 produce 100 B, SSL"),
           ("w3.plaintext", "W3 consume 1 KiB, PLAINTEXT"), ("w3.ssl", "W3 consume 1 KiB, SSL")]


def ssl_conf(pki: Pki) -> dict:
    return {"security.protocol": "SSL", "ssl.ca.location": pki.crt("ca")}


def new_broker(kind: str, workdir: Path, keystore: str) -> brokers.Broker:
    ssl_port = brokers.free_port()
    if kind == "kafka":
        b = brokers.KafkaBroker(workdir, {})
        b.props.update({
            "listeners": f"PLAINTEXT://127.0.0.1:{b.port},SSL://127.0.0.1:{ssl_port},"
                         f"CONTROLLER://127.0.0.1:{b.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{b.port},SSL://127.0.0.1:{ssl_port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": keystore})
        b.config.write_text("".join(f"{k}={v}\n" for k, v in b.props.items()))
    else:
        b = brokers.FluxBroker(workdir, {
            "listeners": f"PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:{ssl_port}",
            "listener.name.ssl.ssl.keystore.type": "PEM",
            "listener.name.ssl.ssl.keystore.location": keystore})
    b.ssl_bootstrap = f"127.0.0.1:{ssl_port}"
    return b


def produce(broker, bootstrap: str, topic: str, size: int, seconds: float, procs: int, conf: dict,
            logdir: Path, tag: str) -> float:
    args = ["--bootstrap", bootstrap, "--topic", topic, "--size", str(size), "--duration", str(seconds),
            *workloads.conf_args(conf)]
    cpu = brokers.CpuWindow(broker.pid)
    results = workloads.run_children([("produce", args)] * procs, logdir, tag, ready_timeout=60,
                                     run_timeout=seconds + 180, cpu=cpu)
    errors = sum(r["errors"] for r in results)
    if errors:
        raise RuntimeError(f"{tag}: {errors} delivery errors, first {next(r['first_error'] for r in results)}")
    acked = sum(r["acked"] for r in results)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    return acked * size / span / workloads.MiB, cpu_figures(cpu.result, acked * size)


def cpu_figures(cpu: dict, nbytes: int) -> dict:
    """Broker CPU seconds per GiB moved, and the cores broker and clients used meanwhile:
    on a small machine the clients' own TLS work takes cores the broker would use."""
    return {"broker_cpu_s_per_gib": cpu["broker_cpu_s"] / (nbytes / workloads.GiB),
            "broker_cores": cpu["broker_cores"], "client_cores": cpu["client_cores"]}


def consume(broker, bootstrap: str, topic: str, ends: dict, procs: int, conf: dict, logdir: Path,
            tag: str) -> tuple[float, dict]:
    parts = sorted(ends)
    specs = [("consume", ["--bootstrap", bootstrap, "--topic", topic,
                          "--end-offsets", json.dumps({q: ends[q] for q in parts[i::procs]}),
                          *workloads.conf_args(conf)]) for i in range(procs)]
    cpu = brokers.CpuWindow(broker.pid)
    results = workloads.run_children(specs, logdir, tag, ready_timeout=60, run_timeout=900, cpu=cpu)
    got, expected = sum(r["messages"] for r in results), sum(ends.values())
    if got < expected:
        raise RuntimeError(f"{tag}: read {got} of {expected} records")
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    nbytes = sum(r["bytes"] for r in results)
    return nbytes / span / workloads.MiB, cpu_figures(cpu.result, nbytes)


def end_offsets(broker, topic: str) -> dict:
    """ListOffsets, retried while a just-created partition is not loaded yet (Kafka
    answers NOT_LEADER_OR_FOLLOWER for a moment after Metadata shows its leader)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return broker.end_offsets(topic, PARTITIONS)
        except brokers.BrokerError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def broker_run(kind: str, repeat: int, a, pki: Pki, keystore: str, rundir: Path) -> dict:
    workdir = rundir / f"{kind}-r{repeat}"
    b = new_broker(kind, workdir, keystore)
    b.start()
    tls = ssl_conf(pki)
    out = {}
    try:
        # Odd repeats run SSL first, so that neither protocol always gets the warmer broker.
        order = [("plaintext", b.bootstrap, {}), ("ssl", b.ssl_bootstrap, tls)][::-1 if repeat % 2 else 1]
        for proto, bootstrap, conf in order:
            topic = f"w1-{proto}"
            workloads.create_topic(b, topic, PARTITIONS)
            out[f"w1.{proto}"], out[f"w1.{proto}.cpu"] = produce(b, bootstrap, topic, 100, a.seconds, a.procs,
                                                                 {**W1_CONF, **conf}, workdir, f"w1-{proto}")
        workloads.create_topic(b, "w3", PARTITIONS)
        fill_seconds = 0.0
        t0 = time.monotonic()
        while sum(end_offsets(b, "w3").values()) * 1024 < a.fill_mib * workloads.MiB:
            produce(b, b.bootstrap, "w3", 1024, 5, a.procs, workloads.W3_FILL_PROPS, workdir, "w3-fill")
            fill_seconds = time.monotonic() - t0
        # Written back before the reads are timed: the fill leaves about a GiB of dirty pages,
        # and write-back on this disk would slow whichever read came first.
        os.sync()
        ends = end_offsets(b, "w3")
        for proto, bootstrap, conf in order:
            out[f"w3.{proto}"], out[f"w3.{proto}.cpu"] = consume(b, bootstrap, "w3", ends, a.procs, conf, workdir,
                                                                 f"w3-{proto}")
        out["w3.records"] = sum(ends.values())
        out["w3.fill_seconds"] = fill_seconds
    finally:
        b.stop()
    print(f"  {kind} r{repeat}: " + ", ".join(f"{k}={v:,.1f}" for k, v in out.items() if not isinstance(v, dict)),
          flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10.0, help="W1 produce duration per protocol")
    ap.add_argument("--fill-mib", type=float, default=512.0, help="W3 topic size")
    ap.add_argument("--procs", type=int, default=2, help="librdkafka processes")
    ap.add_argument("--out", default=str(RESULTS / "tls-latest"), help="output path without extension")
    a = ap.parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    rundir = RESULTS / "tmp" / ("tls-" + started.strftime("%Y%m%d-%H%M%S"))
    rundir.mkdir(parents=True)
    pki = Pki(rundir / "pki")
    keystore = str(rundir / "pki" / "broker-keystore.pem")
    Path(keystore).write_text(pki.key_pem("broker") + pki.chain_pem("broker"))
    settings = {"W1 librdkafka": {**W1_CONF, "record": "100 B", "processes": a.procs, "seconds": a.seconds},
                "W3 fill (librdkafka, PLAINTEXT)": {**workloads.W3_FILL_PROPS, "record": "1 KiB",
                                                    "size_mib": a.fill_mib},
                "W3 librdkafka consumer": {"processes": a.procs, "settings": "librdkafka defaults, assign "
                                           "from the start"},
                "SSL clients": {"security.protocol": "SSL", "ssl.ca.location": "the test CA",
                                "ssl.endpoint.identification.algorithm": "https (librdkafka default)"},
                "broker keystore": "PEM file, EC P-256 key, certificate for 127.0.0.1",
                "kafka": brokers.KafkaBroker.settings()["version"],
                "fluxmq": brokers.FluxBroker.settings()["version"],
                "fluxmq tls": brokers.fluxmq_native_info().get("tls", "?")}
    print(json.dumps(settings, indent=1))
    runs = {"kafka": [], "fluxmq": []}
    for r in range(a.repeats):
        for kind in ("kafka", "fluxmq"):
            runs[kind].append(broker_run(kind, r, a, pki, keystore, rundir))
    med = {kind: {fig: statistics.median(run[fig] for run in rs) for fig, _ in FIGURES} for kind, rs in runs.items()}
    lines = [f"# TLS: FluxMQ beside Apache Kafka over SSL ({started:%Y-%m-%d})", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in report.machine_info(RESULTS).items()), "",
             f"Command: `python benchmarks/tls.py --repeats {a.repeats} --seconds {a.seconds:g} "
             f"--fill-mib {a.fill_mib:g} --procs {a.procs}` (medians of {a.repeats} runs per broker)", "",
             "| figure (MiB/s, higher is better) | Kafka | FluxMQ | FluxMQ / Kafka |", "|---|---|---|---|"]
    for fig, title in FIGURES:
        k, f = med["kafka"][fig], med["fluxmq"][fig]
        lines.append(f"| {title} | {k:,.1f} | {f:,.1f} | {f / k:.2f} |")
    lines += ["", "CPU while measured (medians): broker CPU seconds per GiB of values, and the cores the broker "
              "and the client processes used.", "",
              "| figure | Kafka broker s/GiB | FluxMQ broker s/GiB | Kafka broker / client cores "
              "| FluxMQ broker / client cores |", "|---|---|---|---|---|"]
    for fig, title in FIGURES:
        c = {kind: {key: statistics.median(run[fig + ".cpu"][key] for run in rs) for key in
                    ("broker_cpu_s_per_gib", "broker_cores", "client_cores")} for kind, rs in runs.items()}
        lines.append(f"| {title} | {c['kafka']['broker_cpu_s_per_gib']:.1f} | {c['fluxmq']['broker_cpu_s_per_gib']:.1f}"
                     f" | {c['kafka']['broker_cores']:.2f} / {c['kafka']['client_cores']:.2f}"
                     f" | {c['fluxmq']['broker_cores']:.2f} / {c['fluxmq']['client_cores']:.2f} |")
    lines += ["", "Client and broker settings:", "", "```", json.dumps(settings, indent=1), "```", ""]
    Path(a.out + ".md").write_text("\n".join(lines))
    Path(a.out + ".json").write_text(json.dumps({"settings": settings, "runs": runs, "medians": med}, indent=1))
    print("\n".join(lines[:2 * len(FIGURES) + 13]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
