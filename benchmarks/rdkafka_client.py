"""The librdkafka load generator (confluent-kafka), one process per invocation; workloads.py
starts several of them when one process is the bottleneck.

Modes:
  produce          as many records as possible for --duration seconds (W1, W2)
  consume          read the given partitions from the start up to the given end offsets (W3)
  latency-produce  one record every 1/--rate seconds on a fixed schedule (W4)
  latency-consume  receive them and measure from each record's intended send time (W4)
  connections      --instances producers, one broker connection each, producing round-robin (W7)

Handshake with the parent, so that every process starts its clock at the same moment and no
client's own start-up is measured: the child sets up (connections, metadata), prints READY,
waits for `GO <t0 monotonic ns>` on stdin, runs, and prints `RESULT <json>`.
CLOCK_MONOTONIC is system-wide on Linux, so times taken in different processes compare.

--conf k=v (repeatable) is passed to librdkafka verbatim; the parent prints it with the results.

W4 is free of coordinated omission: the producer never waits for the broker before sending
the next record (acks are asynchronous), each record carries the time at which the fixed
schedule meant it to be sent, and the consumer measures from that time. A stall anywhere (the
broker, the client, the machine) shows up in the latency of every record scheduled during
it, instead of delaying the schedule.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

_STAMP = struct.Struct(">q")


def log(msg: str):
    print(f"[rdkafka_client {os.getpid()}] {msg}", file=sys.stderr, flush=True)


def handshake() -> int:
    print("READY", flush=True)
    line = sys.stdin.readline().split()
    if not line or line[0] != "GO":
        sys.exit(0)  # the parent gave up
    return int(line[1]) if len(line) > 1 else time.monotonic_ns()


def result(obj: dict):
    print("RESULT " + json.dumps(obj), flush=True)


def parse_conf(items: list[str]) -> dict:
    conf = {}
    for item in items:
        key, _, value = item.partition("=")
        conf[key] = value
    return conf


class ErrorCounter:
    """Global delivery callback with delivery.report.only.error=true: only failures arrive."""

    def __init__(self):
        self.errors = 0
        self.first = None

    def __call__(self, err, msg):
        if err is not None:
            self.errors += 1
            self.first = self.first or str(err)


def wait_until(t0_ns: int):
    delay = (t0_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        time.sleep(delay)


def mode_produce(a):
    errors = ErrorCounter()
    conf = {"bootstrap.servers": a.bootstrap, "delivery.report.only.error": True,
            "on_delivery": errors, **parse_conf(a.conf)}
    p = Producer(conf)
    p.list_topics(a.topic, timeout=30)
    payload = os.urandom(a.size)
    t0 = handshake()
    wait_until(t0)
    start, cpu0 = time.monotonic(), time.process_time()
    deadline = start + a.duration
    produce, poll, sent = p.produce, p.poll, 0
    topic = a.topic
    while True:
        for _ in range(500):
            try:
                produce(topic, payload)
                sent += 1
            except BufferError:
                poll(0.0005)
        poll(0)
        if time.monotonic() >= deadline:
            break
    unflushed = p.flush(120)
    end, cpu = time.monotonic(), time.process_time() - cpu0
    acked = sent - errors.errors - unflushed
    result({"sent": sent, "acked": acked, "errors": errors.errors, "first_error": errors.first,
            "unflushed": unflushed, "seconds": end - start, "bytes": acked * a.size,
            "start": start, "end": end, "cpu_s": cpu})


def next_messages(c: Consumer, timeout: float, batch: int = 1000) -> list:
    """What the consumer has queued, without waiting; when nothing is, wait for one message.
    (consume(n, timeout) waits until n messages or the timeout, which would add up to the
    timeout to every measurement.)"""
    msgs = c.consume(batch, 0)
    if msgs:
        return msgs
    m = c.poll(timeout)
    return [m] if m is not None else []


def mode_consume(a):
    conf = {"bootstrap.servers": a.bootstrap, "group.id": f"bench-{os.getpid()}",
            "enable.auto.commit": False, "enable.partition.eof": False, **parse_conf(a.conf)}
    c = Consumer(conf)
    c.list_topics(a.topic, timeout=30)
    targets = dict(json.loads(a.end_offsets))  # partition -> end offset
    targets = {int(p): int(o) for p, o in targets.items()}
    expected = sum(targets.values())
    t0 = handshake()
    wait_until(t0)
    start, cpu0 = time.monotonic(), time.process_time()
    c.assign([TopicPartition(a.topic, p, OFFSET_BEGINNING) for p in targets])
    count = nbytes = errs = 0
    last_progress = start
    while count < expected:
        msgs = next_messages(c, 1.0, 10000)
        now = time.monotonic()
        if msgs:
            last_progress = now
        elif now - last_progress > a.idle_timeout:
            log(f"no progress for {a.idle_timeout} s at {count}/{expected}")
            break
        for m in msgs:
            if m.error():
                errs += 1
                continue
            nbytes += len(m)
        count += len(msgs)
    end, cpu = time.monotonic(), time.process_time() - cpu0
    c.close()
    result({"messages": count - errs, "expected": expected, "bytes": nbytes, "errors": errs,
            "seconds": end - start, "start": start, "end": end, "cpu_s": cpu})


def mode_latency_produce(a):
    errors = ErrorCounter()
    conf = {"bootstrap.servers": a.bootstrap, "delivery.report.only.error": True,
            "on_delivery": errors, **parse_conf(a.conf)}
    p = Producer(conf)
    p.list_topics(a.topic, timeout=30)
    p.produce(a.topic, b"warm-up", partition=0)  # the broker connection exists before t0
    p.flush(30)
    pad = os.urandom(a.size - _STAMP.size)
    t0 = handshake()
    interval = 1e9 / a.rate
    total = int(a.rate * a.duration)
    i = 0
    late_max = late_sum = 0
    produce, poll, topic, stamp = p.produce, p.poll, a.topic, _STAMP.pack
    while i < total:
        now = time.monotonic_ns()
        due = t0 + int(i * interval)
        if due > now:
            ahead = (due - now) / 1e9
            if ahead > 0.0003:
                time.sleep(ahead - 0.0002)
            continue
        while i < total:
            due = t0 + int(i * interval)
            if due > now:
                break
            late = now - due
            late_sum += late
            late_max = max(late_max, late)
            while True:
                try:
                    produce(topic, stamp(due) + pad, partition=0)
                    break
                except BufferError:
                    poll(0.0005)
            i += 1
        poll(0)
    unflushed = p.flush(60)
    result({"sent": total, "errors": errors.errors, "first_error": errors.first, "unflushed": unflushed,
            "send_lateness_ms_max": late_max / 1e6, "send_lateness_ms_mean": late_sum / max(total, 1) / 1e6})


def percentile(sorted_values: list, q: float):
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def mode_latency_consume(a):
    conf = {"bootstrap.servers": a.bootstrap, "group.id": f"bench-{os.getpid()}",
            "enable.auto.commit": False, "enable.partition.eof": False, **parse_conf(a.conf)}
    c = Consumer(conf)
    c.assign([TopicPartition(a.topic, 0, a.start_offset)])
    c.consume(1, 1.0)  # fetching has begun from start_offset
    total = int(a.rate * a.duration)
    t0 = handshake()
    measure_from = t0 + int(a.warmup * 1e9)
    deadline = t0 + int((a.duration + a.drain) * 1e9)
    lat, received, errs = [], 0, 0
    dump = [] if a.dump else None
    unpack = _STAMP.unpack_from
    while received < total and time.monotonic_ns() < deadline:
        msgs = next_messages(c, 0.05)
        now = time.monotonic_ns()
        for m in msgs:
            if m.error():
                errs += 1
                continue
            value = m.value()
            if len(value) != a.size:
                continue
            received += 1
            intended = unpack(value)[0]
            if intended >= measure_from:
                lat.append(now - intended)
                if dump is not None:
                    dump.append((intended - t0, now - intended))
    c.close()
    if dump is not None:
        with open(a.dump, "w") as f:
            f.writelines(f"{x / 1e6:.3f} {y / 1e6:.3f}\n" for x, y in dump)
    lat.sort()
    ms = [v / 1e6 for v in lat]
    out = {"expected": total, "received": received, "errors": errs, "measured": len(ms)}
    for name, q in (("p50", .5), ("p90", .9), ("p99", .99), ("p99.9", .999), ("p99.99", .9999)):
        out[name] = percentile(ms, q)
    out["max"] = ms[-1] if ms else None
    out["mean"] = sum(ms) / len(ms) if ms else None
    result(out)


def mode_connections(a):
    errors = ErrorCounter()
    conf = {"bootstrap.servers": a.bootstrap, "delivery.report.only.error": True,
            "on_delivery": errors, **parse_conf(a.conf)}
    producers = []
    # One client after the other (each process ramps up in parallel with the others): the
    # workload is many open connections, not a storm of simultaneous handshakes. librdkafka
    # connects lazily, so one record each opens the connection and fetches the metadata.
    for _ in range(a.instances):
        p = Producer(conf)
        p.produce(a.topic, b"hello")
        if p.flush(60):
            raise KafkaException("connection warm-up did not complete")
        producers.append(p)
    payload = os.urandom(a.size)
    t0 = handshake()
    wait_until(t0)
    start = time.monotonic()
    deadline = start + a.duration
    sent, topic, k = 0, a.topic, len(producers)
    while time.monotonic() < deadline:
        full = 0
        for p in producers:
            for _ in range(a.burst):
                try:
                    p.produce(topic, payload)
                    sent += 1
                except BufferError:  # this client's queue is full: go on with the next one
                    full += 1
                    break
            p.poll(0)
        if full == k:  # every queue full: the broker is the bottleneck, do not spin
            time.sleep(0.001)
    unflushed = sum(p.flush(120) for p in producers)
    end = time.monotonic()
    acked = sent - errors.errors - unflushed
    result({"instances": k, "sent": sent, "acked": acked, "errors": errors.errors,
            "first_error": errors.first, "unflushed": unflushed, "seconds": end - start,
            "bytes": acked * a.size, "start": start, "end": end})
    sys.stdin.readline()  # keep the connections open until the parent has looked
    sys.stdout.flush()
    os._exit(0)  # everything is flushed; skip destroying hundreds of clients one by one


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["produce", "consume", "latency-produce", "latency-consume", "connections"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--end-offsets", default="{}", help="consume: JSON {partition: end offset}")
    ap.add_argument("--idle-timeout", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--drain", type=float, default=15.0, help="latency-consume: wait this long after the schedule ends")
    ap.add_argument("--start-offset", type=int, default=0)
    ap.add_argument("--dump", help="latency-consume: write 'ms since t0, latency ms' per record here")
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--burst", type=int, default=10, help="connections: records per producer per turn")
    a = ap.parse_args()
    {"produce": mode_produce, "consume": mode_consume, "latency-produce": mode_latency_produce,
     "latency-consume": mode_latency_consume, "connections": mode_connections}[a.mode](a)


if __name__ == "__main__":
    main()
