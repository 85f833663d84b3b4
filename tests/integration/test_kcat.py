"""kcat (Debian's build, with its own bundled librdkafka) against a real
broker process.

kcat -P with each codec (-z), keys (-K), headers (-H, including a null
header value), NULL keys/values (-Z), then kcat -C -e -o beginning -f and
-J, checked record by record; kcat -L (text and JSON) metadata; kcat -Q
offsets by timestamp; relative and timestamp start offsets. What kcat wrote
is also read back with confluent-kafka, so a fault cannot hide in a matching
encode/decode pair of the same tool.

kcat is installed from Debian's packages when it is missing (the suite
installs what it needs rather than skipping).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from confluent_kafka import OFFSET_BEGINNING, Producer, TopicPartition

from clientutil import (
    CODECS,
    CREATE_TIME,
    OP_TIMEOUT,
    Got,
    Rec,
    assert_delivered,
    assert_roundtrip,
    base_timestamp,
    confluent_consume,
    create_topic,
    make_records,
)

KCAT_TIMEOUT = 60  # seconds, for any one kcat run
# -H options given to every kcat -P below, and what they mean as headers.
HEADER_ARGS = ["-H", "h1=v1", "-H", "trace=abc-123", "-H", "empty=", "-H", "nullh", "-H", "h1=again"]
HEADERS = (("h1", b"v1"), ("trace", b"abc-123"), ("empty", b""), ("nullh", None), ("h1", b"again"))


@pytest.fixture(scope="session")
def kcat():
    path = shutil.which("kcat")
    if path is None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "kcat"],
                       env=env, check=True, capture_output=True, timeout=300)
        path = shutil.which("kcat")
    assert path, "kcat is not installed and apt-get could not install it"
    return path


def run_kcat(kcat: str, bootstrap: str, *args: str, stdin: bytes | None = None) -> str:
    """Run kcat with a metadata timeout; fail on a non-zero exit (kcat -P
    exits 1 when any delivery failed) and return its stdout."""
    cmd = [kcat, "-b", bootstrap, "-m", "15", "-X", "socket.timeout.ms=15000", *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=KCAT_TIMEOUT)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr.decode(errors='replace')}"
    return p.stdout.decode()


def kcat_records(n: int, partition: int, seed: int) -> list[Rec]:
    """Text records as kcat -P -K '\\t' -Z can express them: an empty key or
    value becomes NULL (-Z), so no record has an empty one; all carry the
    same headers (-H applies to every message); kcat picks the timestamp."""
    out = []
    for r in make_records(n, 1, seed=seed, binary=False):
        value = b"-" if r.value == b"" else r.value
        out.append(Rec(r.key, value, HEADERS, partition, None))
    return out


def kcat_input(records: list[Rec]) -> bytes:
    return b"".join((r.key or b"") + b"\t" + (r.value or b"") + b"\n" for r in records)


def fresh_offsets(records: list[Rec]) -> list[tuple[int, int]]:
    """kcat reports no offsets; on a fresh topic, in-order delivery puts
    the i-th record of a partition at offset i."""
    seen: dict[int, int] = {}
    out = []
    for r in records:
        out.append((r.partition, seen.get(r.partition, 0)))
        seen[r.partition] = seen.get(r.partition, 0) + 1
    return out


FORMAT = r"%p\t%o\t%K\t%k\t%S\t%s\t%h\t%T\n"


def parse_formatted(out: str) -> list[Got]:
    """Parse lines printed with FORMAT and -Z: a NULL key/value prints as
    "NULL", so the lengths %K/%S (-1 for NULL) decide; a null header value
    prints as "name=NULL" (no test header has the value "NULL")."""
    got = []
    for line in out.splitlines():
        p, o, klen, key, vlen, value, headers, ts = line.split("\t")
        hs = []
        for h in headers.split(",") if headers else []:
            name, eq, val = h.partition("=")
            hs.append((name, None if not eq or val == "NULL" else val.encode()))
        got.append(Got(int(p), int(o),
                       None if int(klen) < 0 else key.encode(),
                       None if int(vlen) < 0 else value.encode(),
                       tuple(hs), int(ts), CREATE_TIME))
    return got


def parse_json(out: str) -> list[Got]:
    got = []
    for line in out.splitlines():
        m = json.loads(line)
        hs = m.get("headers") or []
        headers = tuple((hs[i], None if hs[i + 1] is None else hs[i + 1].encode()) for i in range(0, len(hs), 2))
        tstype = {"create": CREATE_TIME}.get(m["tstype"], m["tstype"])
        got.append(Got(m["partition"], m["offset"],
                       None if m["key"] is None else m["key"].encode(),
                       None if m["payload"] is None else m["payload"].encode(),
                       headers, m["ts"], tstype))
    return got


@pytest.mark.parametrize("codec", CODECS)
def test_produce_then_consume(broker, kcat, topic_name, codec):
    create_topic(broker.bootstrap, topic_name, 2)
    records = []
    for partition in (0, 1):
        recs = kcat_records(250, partition, seed=300 + CODECS.index(codec) * 2 + partition)
        z = [] if codec == "none" else ["-z", codec]
        run_kcat(kcat, broker.bootstrap, "-P", "-t", topic_name, "-p", str(partition), "-K", r"\t", "-Z",
                 "-X", "linger.ms=20", *z, *HEADER_ARGS, stdin=kcat_input(recs))
        records += recs
    offsets = fresh_offsets(records)

    out = run_kcat(kcat, broker.bootstrap, "-C", "-t", topic_name, "-e", "-o", "beginning", "-Z", "-f", FORMAT)
    got = parse_formatted(out)
    assert_roundtrip(records, offsets, got)
    assert all(g.timestamp > 0 for g in got)  # kcat's own CreateTime

    # The same data through another client.
    again = confluent_consume(broker.bootstrap, [TopicPartition(topic_name, p, OFFSET_BEGINNING) for p in (0, 1)],
                              len(records))
    assert_roundtrip(records, offsets, again)


def test_consume_json_of_confluent_records(broker, kcat, topic_name):
    """Records written by confluent-kafka (explicit timestamps, per-record
    headers, null header values, tombstones) read back by kcat -J."""
    create_topic(broker.bootstrap, topic_name, 3)
    records = make_records(300, 3, seed=310, binary=False)
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "snappy", "linger.ms": 10})
    offsets: list = [None] * len(records)
    for i, r in enumerate(records):
        p.produce(topic_name, value=r.value, key=r.key, partition=r.partition, timestamp=r.timestamp,
                  headers=list(r.headers),
                  on_delivery=lambda err, msg, i=i: offsets.__setitem__(i, err or (msg.partition(), msg.offset())))
    assert p.flush(OP_TIMEOUT) == 0
    assert_delivered(records, offsets)

    got = parse_json(run_kcat(kcat, broker.bootstrap, "-C", "-t", topic_name, "-e", "-o", "beginning", "-J"))
    assert_roundtrip(records, offsets, got)


def test_metadata_listing(broker, kcat, topic_name):
    create_topic(broker.bootstrap, topic_name, 3)
    md = json.loads(run_kcat(kcat, broker.bootstrap, "-L", "-J", "-t", topic_name))
    assert len(md["brokers"]) == 1
    (b,) = md["brokers"]
    assert b["name"] == broker.bootstrap
    assert md["controllerid"] == b["id"]
    (t,) = md["topics"]
    assert t["topic"] == topic_name and "error" not in t
    parts = sorted(t["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == b["id"]
        assert p["replicas"] == [{"id": b["id"]}] and p["isrs"] == [{"id": b["id"]}]
        assert "error" not in p

    text = run_kcat(kcat, broker.bootstrap, "-L")
    assert f"broker {b['id']} at {broker.bootstrap}" in text
    assert f'topic "{topic_name}" with 3 partitions:' in text
    all_md = json.loads(run_kcat(kcat, broker.bootstrap, "-L", "-J"))
    assert topic_name in {t["topic"] for t in all_md["topics"]}


def test_query_offsets_and_start_positions(broker, kcat, topic_name):
    create_topic(broker.bootstrap, topic_name, 1)
    base = base_timestamp()
    records = make_records(100, 1, seed=320, binary=False, base_ts=base)
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "lz4", "linger.ms": 10})
    for r in records:
        p.produce(topic_name, value=r.value, key=r.key, partition=0, timestamp=r.timestamp, headers=list(r.headers))
    assert p.flush(OP_TIMEOUT) == 0
    offsets = [(0, i) for i in range(100)]

    for ts, want in [(base, 0), (base + 42, 42), (base + 99, 99), (base + 1000, -1)]:
        out = run_kcat(kcat, broker.bootstrap, "-Q", "-t", f"{topic_name}:0:{ts}")
        assert f"{topic_name} [0] offset {want}" in out, (ts, out)

    tail = parse_json(run_kcat(kcat, broker.bootstrap, "-C", "-t", topic_name, "-p", "0", "-e", "-o", "-10", "-J"))
    assert [g.offset for g in tail] == list(range(90, 100))
    assert_roundtrip(records[90:], offsets[90:], tail)

    since = parse_json(run_kcat(kcat, broker.bootstrap, "-C", "-t", topic_name, "-p", "0", "-e",
                                "-o", f"s@{base + 95}", "-J"))
    assert [g.offset for g in since] == list(range(95, 100))

    middle = parse_json(run_kcat(kcat, broker.bootstrap, "-C", "-t", topic_name, "-p", "0", "-o", "37",
                                 "-c", "5", "-J"))
    assert [g.offset for g in middle] == [37, 38, 39, 40, 41]
    assert_roundtrip(records[37:42], offsets[37:42], middle)


def test_auto_create_on_produce(broker, kcat, topic_name):
    records = kcat_records(40, 0, seed=330)
    run_kcat(kcat, broker.bootstrap, "-P", "-t", topic_name, "-K", r"\t", "-Z", "-z", "gzip", *HEADER_ARGS,
             stdin=kcat_input(records))
    md = json.loads(run_kcat(kcat, broker.bootstrap, "-L", "-J", "-t", topic_name))
    (t,) = md["topics"]
    assert [p["partition"] for p in t["partitions"]] == [0]
    got = parse_formatted(run_kcat(kcat, broker.bootstrap, "-C", "-t", topic_name, "-e", "-o", "beginning",
                                   "-Z", "-f", FORMAT))
    assert_roundtrip(records, fresh_offsets(records), got)


def test_null_key_and_value_records(broker, kcat, topic_name):
    """-Z turns empty keys and values into NULL; without -Z they stay empty."""
    create_topic(broker.bootstrap, topic_name, 1)
    lines = b"\tonly-value\nonly-key\t\n\t\n"
    run_kcat(kcat, broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-K", r"\t", "-Z", stdin=lines)
    run_kcat(kcat, broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-K", r"\t", stdin=lines)
    got = parse_json(run_kcat(kcat, broker.bootstrap, "-C", "-t", topic_name, "-e", "-o", "beginning", "-J"))
    assert [(g.offset, g.key, g.value) for g in got] == [
        (0, None, b"only-value"), (1, b"only-key", None), (2, None, None),
        (3, b"", b"only-value"), (4, b"only-key", b""), (5, b"", b""),
    ]
    assert all(g.headers == () for g in got)
