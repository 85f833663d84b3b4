"""Helpers shared by the real-client suites (confluent-kafka, kafka-python,
aiokafka, kcat).

Every suite produces the same kind of records — a deterministic mix of keyed
and keyless records, tombstones (null values), empty values, binary payloads,
and headers (duplicate header keys, empty and null header values) — spread
over the partitions of a topic, then reads them back and checks each one with
`assert_roundtrip`, which knows nothing about any client: each suite turns its
client's records into `Got` first.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable, Iterable

# Timestamp types, client-neutral (each client numbers them differently).
CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"

# Every wait in these suites is bounded by one of these (seconds).
OP_TIMEOUT = 20.0
CONSUME_TIMEOUT = 45.0

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@dataclass(frozen=True)
class Rec:
    """A record as the test produced it."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    partition: int
    timestamp: int | None  # CreateTime, ms since the epoch; None: the tool chose it


@dataclass(frozen=True)
class Got:
    """A record as a consumer returned it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int
    timestamp_type: str


def base_timestamp() -> int:
    """A CreateTime base a little in the past, on a whole second."""
    return (int(time.time()) - 3600) * 1000


def make_records(
    n: int,
    partitions: int = 1,
    *,
    seed: int = 0,
    null_header_values: bool = True,
    binary: bool = True,
    base_ts: int | None = None,
) -> list[Rec]:
    """`n` deterministic records, round-robin over `partitions`.

    The mix: every 5th record has no key, every 7th is a tombstone (null
    value), every 11th has an empty value; values range from a few bytes to
    a few KiB and are partly repetitive so that compression has work to do.
    Headers cycle through none / one / several (with an empty value) /
    a repeated key plus a null value (`null_header_values=False` leaves the
    null out for clients that cannot send one). Timestamps are distinct and
    increasing (base + i ms). `binary=False` keeps keys and values printable
    ASCII without newlines, for text tools like kcat.
    """
    rng = random.Random(seed)
    base = base_timestamp() if base_ts is None else base_ts
    sizes = [1, 16, 100, 700, 3000]
    out = []
    for i in range(n):
        if i % 5 == 3 and i % 7 != 5:  # a null key and a null value together
            key = None                   # is refused by kafka-python
        elif binary and i % 3 == 0:
            key = bytes([i % 256, 0, 255]) + f"k{i}".encode()
        else:
            key = f"key-{i}".encode()
        if i % 7 == 5:
            value = None
        elif i % 11 == 0:
            value = b""
        else:
            size = sizes[rng.randrange(len(sizes))]
            text = (f"record {i} of {n} seed {seed} " * (size // 24 + 1)).encode()[:size]
            if binary and i % 2:
                noise = bytes(rng.randrange(256) for _ in range(min(size, 64)))
                value = noise + text[len(noise):]
            else:
                value = text
        kind = i % 4
        if kind == 0:
            headers: tuple = ()
        elif kind == 1:
            headers = (("h1", f"v{i}".encode()),)
        elif kind == 2:
            headers = (("trace-id", f"{seed:04d}-{i:08d}".encode()), ("empty", b""))
        else:
            headers = (("dup", b"first"), ("dup", b"second"))
            if null_header_values:
                headers += (("nullh", None),)
        out.append(Rec(key, value, headers, i % partitions, base + i))
    return out


def assert_delivered(records: list[Rec], offsets: list[tuple[int, int]], fresh: bool = True) -> None:
    """Check the (partition, offset) every delivery report / send future
    gave: one per record, in the record's partition, increasing within a
    partition in send order and, on a fresh topic, exactly 0, 1, 2, ..."""
    assert len(offsets) == len(records), f"{len(offsets)} delivery reports for {len(records)} records"
    per_partition: dict[int, list[int]] = {}
    for rec, (partition, offset) in zip(records, offsets):
        assert partition == rec.partition, f"record for partition {rec.partition} delivered to {partition}"
        assert offset >= 0, f"delivery report offset {offset} for partition {partition}"
        per_partition.setdefault(partition, []).append(offset)
    for partition, got in per_partition.items():
        if fresh:
            assert got == list(range(len(got))), (
                f"partition {partition}: delivered offsets are not 0..{len(got) - 1}: "
                f"first wrong at index {next(i for i, o in enumerate(got) if o != i)}")
        else:
            assert got == sorted(set(got)), f"partition {partition}: offsets not strictly increasing"


def assert_roundtrip(
    records: list[Rec],
    offsets: list[tuple[int, int]],
    got: Iterable[Got],
    timestamp_type: str = CREATE_TIME,
) -> None:
    """Every produced record came back exactly once at its delivered
    (partition, offset), byte for byte, with its headers in order and its
    CreateTime; nothing else came back; within a partition the consumer
    saw offsets in increasing order."""
    got = list(got)
    expected = {po: rec for po, rec in zip(offsets, records)}
    assert len(expected) == len(records), "two records were delivered at the same offset"
    seen: dict[tuple[int, int], Got] = {}
    last: dict[int, int] = {}
    problems = []
    for g in got:
        po = (g.partition, g.offset)
        if po in seen:
            problems.append(f"{po}: consumed twice")
            continue
        seen[po] = g
        if g.offset <= last.get(g.partition, -1):
            problems.append(f"{po}: out of order after offset {last[g.partition]}")
        last[g.partition] = g.offset
        rec = expected.get(po)
        if rec is None:
            problems.append(f"{po}: consumed but never produced there")
            continue
        for field in ("key", "value", "headers"):
            if getattr(g, field) != getattr(rec, field):
                problems.append(f"{po}: {field} {_short(getattr(g, field))} != produced {_short(getattr(rec, field))}")
        if g.timestamp_type != timestamp_type:
            problems.append(f"{po}: timestamp type {g.timestamp_type}, expected {timestamp_type}")
        elif timestamp_type == CREATE_TIME and rec.timestamp is not None and g.timestamp != rec.timestamp:
            problems.append(f"{po}: timestamp {g.timestamp} != produced {rec.timestamp}")
    missing = sorted(set(expected) - set(seen))
    if missing:
        problems.append(f"{len(missing)} produced records never consumed, first {missing[:5]}")
    assert not problems, f"{len(problems)} problems, first 10:\n  " + "\n  ".join(problems[:10])


def _short(x) -> str:
    r = repr(x)
    return r if len(r) <= 80 else r[:77] + "..."


def wait_until(pred: Callable[[], object], timeout: float = OP_TIMEOUT, interval: float = 0.2, what: str = "condition"):
    """Poll `pred` until it returns something truthy; return that. Bounded."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            result = pred()
            if result:
                return result
        except Exception as e:  # noqa: BLE001 - retried until the deadline, then reported
            last_exc = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def by_partition(records: list[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r in records:
        out.setdefault(r.partition, []).append(r)
    return out


# confluent-kafka helpers: the other suites use them to create topics and
# to read back what their client wrote through a second, independent client.

def confluent_consumer_conf(bootstrap: str, **extra) -> dict:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "assign-only",  # librdkafka wants one; it is never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
        "socket.timeout.ms": 10000,
    }
    conf.update(extra)
    return conf


def python_client_got(r) -> Got:
    """A ConsumerRecord of kafka-python or aiokafka: the same fields, timestamp
    type 0 for CreateTime and 1 for LogAppendTime."""
    names = {0: CREATE_TIME, 1: LOG_APPEND_TIME}
    return Got(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp,
               names.get(r.timestamp_type, str(r.timestamp_type)))


def confluent_got(msg) -> Got:
    from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME

    ts_type, ts = msg.timestamp()
    names = {TIMESTAMP_CREATE_TIME: CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME: LOG_APPEND_TIME}
    return Got(msg.partition(), msg.offset(), msg.key(), msg.value(),
               tuple(msg.headers() or ()), ts, names.get(ts_type, str(ts_type)))


def confluent_consume(bootstrap: str, assignments: list, n: int, **extra) -> list[Got]:
    """assign() the given TopicPartitions (with start offsets) and read
    until `n` records arrived (bounded); then read briefly on, so that
    extra records show up in the comparison."""
    from confluent_kafka import Consumer, KafkaException

    c = Consumer(confluent_consumer_conf(bootstrap, **extra))
    try:
        c.assign(assignments)
        out: list[Got] = []
        deadline = time.monotonic() + CONSUME_TIMEOUT
        while len(out) < n and time.monotonic() < deadline:
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    raise KafkaException(m.error())
                out.append(confluent_got(m))
        assert len(out) >= n, f"consumed {len(out)} of {n} records within {CONSUME_TIMEOUT}s"
        for m in c.consume(num_messages=1000, timeout=1.0):
            if not m.error():
                out.append(confluent_got(m))
        return out
    finally:
        c.close()


def create_topic(bootstrap: str, name: str, partitions: int = 1, config: dict | None = None) -> None:
    """Create a topic with confluent-kafka's AdminClient and wait until its
    metadata shows a leader for every partition. Suites that test another
    client's admin API do not use this."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        request_timeout=OP_TIMEOUT)
    futures[name].result(timeout=OP_TIMEOUT)

    def ready():
        md = admin.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        return (t is not None and t.error is None and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values()))

    wait_until(ready, what=f"metadata for new topic {name}")
