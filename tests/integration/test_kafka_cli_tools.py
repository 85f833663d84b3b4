"""Apache Kafka's own command-line tools (kafka-tools 4.4.0) against a real
broker process, run as their main classes (what bin/kafka-topics.sh etc. do):

- TopicCommand (kafka-topics): --create, --list, --describe, --alter
  --partitions, --delete, and their error paths.
- ConsoleProducer / ConsoleConsumer (kafka-console-producer/-consumer):
  lines with keys and headers round-tripped through one partition, read with
  --partition 0 --offset earliest (no group), for every compression codec.
- GetOffsetShell (kafka-get-offsets): latest, earliest, max-timestamp and
  by-timestamp offsets.
- VerifiableProducer: its acked count and offsets.
"""

from __future__ import annotations

import json
import re
import time

import pytest

import javautil
from clientutil import CODECS, wait_until

TOPIC_COMMAND = "org.apache.kafka.tools.TopicCommand"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
GET_OFFSET_SHELL = "org.apache.kafka.tools.GetOffsetShell"
VERIFIABLE_PRODUCER = "org.apache.kafka.tools.VerifiableProducer"


@pytest.fixture(scope="session")
def java_built():
    javautil.build()


def kafka_topics(bootstrap: str, *args: str) -> javautil.JavaResult:
    return javautil.run_class(TOPIC_COMMAND, "--bootstrap-server", bootstrap, *args, timeout=90)


def ok(r: javautil.JavaResult) -> javautil.JavaResult:
    assert r.returncode == 0, r.describe()
    return r


def parse_describe(stdout: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """kafka-topics --describe prints one tab-separated "Key: value" line for
    the topic, then one per partition (indented). Returns (topic, partitions)."""
    topic, parts = {}, []
    for line in stdout.splitlines():
        fields = dict(f.split(": ", 1) if ": " in f else (f.rstrip(":"), "")
                      for f in line.strip().split("\t") if f)
        if "Partition" in fields:
            parts.append(fields)
        elif "PartitionCount" in fields:
            topic = fields
    return topic, parts


def test_topic_command_lifecycle(broker, java_built, topic_name):
    b = broker.bootstrap
    r = ok(kafka_topics(b, "--create", "--topic", topic_name, "--partitions", "2",
                        "--replication-factor", "1", "--config", "retention.ms=123456"))
    assert f"Created topic {topic_name}." in r.stdout

    r = kafka_topics(b, "--create", "--topic", topic_name, "--partitions", "2")
    assert r.returncode == 1 and "already exists" in r.stdout, r.describe()
    ok(kafka_topics(b, "--create", "--if-not-exists", "--topic", topic_name, "--partitions", "2"))

    r = ok(kafka_topics(b, "--list"))
    assert topic_name in r.stdout.splitlines(), r.describe()

    r = ok(kafka_topics(b, "--describe", "--topic", topic_name))
    topic, parts = parse_describe(r.stdout)
    assert topic.get("Topic") == topic_name, r.describe()
    assert topic.get("PartitionCount") == "2" and topic.get("ReplicationFactor") == "1", r.describe()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", topic.get("TopicId", "")), r.describe()
    assert "retention.ms=123456" in topic.get("Configs", "").split(","), r.describe()
    assert [p["Partition"] for p in parts] == ["0", "1"], r.describe()
    for p in parts:
        assert p["Leader"].isdigit() and p["Replicas"] == p["Leader"] and p["Isr"] == p["Leader"], r.describe()

    ok(kafka_topics(b, "--alter", "--topic", topic_name, "--partitions", "4"))
    r = ok(kafka_topics(b, "--describe", "--topic", topic_name))
    topic, parts = parse_describe(r.stdout)
    assert topic.get("PartitionCount") == "4", r.describe()
    assert [p["Partition"] for p in parts] == ["0", "1", "2", "3"], r.describe()

    r = kafka_topics(b, "--alter", "--topic", topic_name, "--partitions", "3")
    assert r.returncode == 1 and "InvalidPartitionsException" in r.stderr, r.describe()

    ok(kafka_topics(b, "--delete", "--topic", topic_name))
    wait_until(lambda: topic_name not in ok(kafka_topics(b, "--list")).stdout.splitlines(),
               what=f"{topic_name} to leave kafka-topics --list")
    r = kafka_topics(b, "--describe", "--topic", topic_name)
    assert r.returncode == 1 and "does not exist" in r.stdout, r.describe()


def test_topic_command_describe_unknown_and_invalid(broker, java_built, topic_name):
    r = kafka_topics(broker.bootstrap, "--describe", "--topic", topic_name)
    assert r.returncode == 1 and "does not exist" in r.stdout, r.describe()
    r = kafka_topics(broker.bootstrap, "--create", "--topic", "bad/name?", "--partitions", "1")
    assert r.returncode == 1 and "InvalidTopicException" in r.stderr, r.describe()


def reader(*props: str) -> list[str]:
    """Console producer properties (kafka-tools 4.4 deprecates --property for --reader-property)."""
    return [arg for p in props for arg in ("--reader-property", p)]


def formatter(*props: str) -> list[str]:
    """Console consumer properties (4.4: --formatter-property; --property prints a deprecation on stdout)."""
    return [arg for p in props for arg in ("--formatter-property", p)]


def console_produce(bootstrap: str, topic: str, lines: list[str], *extra: str) -> None:
    """kafka-console-producer: "h1:v1,h2:v2<TAB>key|value" per line."""
    r = javautil.run_class(CONSOLE_PRODUCER, "--bootstrap-server", bootstrap, "--topic", topic,
                           *reader("parse.headers=true", "parse.key=true", "key.separator=|"), *extra,
                           stdin="".join(line + "\n" for line in lines), timeout=90)
    assert r.returncode == 0, r.describe()


def console_consume(bootstrap: str, topic: str, n: int) -> list[str]:
    """kafka-console-consumer on partition 0 from the earliest offset, no group;
    prints partition, offset, headers, key and value per record."""
    r = javautil.run_class(CONSOLE_CONSUMER, "--bootstrap-server", bootstrap, "--topic", topic,
                           "--partition", "0", "--offset", "earliest", "--max-messages", str(n),
                           "--timeout-ms", "30000",
                           *formatter("print.partition=true", "print.offset=true", "print.headers=true",
                                      "print.key=true"),
                           timeout=90)
    assert f"Processed a total of {n} messages" in r.stderr, r.describe()
    return r.stdout.splitlines()


def sample_lines(n: int) -> list[str]:
    return [f"src:cli,n:{i}\tkey-{i}|line {i}: ünïcødé {'x' * (i * 37 % 300)}" for i in range(n)]


def expected_output(n: int) -> list[str]:
    return [f"Partition:0\tOffset:{i}\tsrc:cli,n:{i}\tkey-{i}\tline {i}: ünïcødé {'x' * (i * 37 % 300)}"
            for i in range(n)]


@pytest.mark.parametrize("codec", CODECS)
def test_console_producer_consumer_roundtrip(broker, java_built, topic_name, codec):
    ok(kafka_topics(broker.bootstrap, "--create", "--topic", topic_name, "--partitions", "1"))
    console_produce(broker.bootstrap, topic_name, sample_lines(25), "--compression-codec", codec)
    assert console_consume(broker.bootstrap, topic_name, 25) == expected_output(25)


def test_console_producer_auto_creates_topic(broker, java_built, topic_name):
    """Producing to a topic nobody created: auto.create.topics.enable (default
    true) makes it, with num.partitions (default 1)."""
    console_produce(broker.bootstrap, topic_name, sample_lines(3))
    assert console_consume(broker.bootstrap, topic_name, 3) == expected_output(3)
    topic, parts = parse_describe(ok(kafka_topics(broker.bootstrap, "--describe", "--topic", topic_name)).stdout)
    assert topic.get("PartitionCount") == "1", topic


def get_offsets(bootstrap: str, *args: str) -> dict[str, int | None]:
    """kafka-get-offsets: one "topic:partition:offset" line per partition
    (offset empty when there is none)."""
    r = javautil.run_class(GET_OFFSET_SHELL, "--bootstrap-server", bootstrap, *args, timeout=90)
    assert r.returncode == 0, r.describe()
    out = {}
    for line in r.stdout.splitlines():
        tp, _, offset = line.rpartition(":")
        out[tp] = int(offset) if offset else None
    return out


def test_get_offset_shell(broker, java_built, topic_name):
    b = broker.bootstrap
    ok(kafka_topics(b, "--create", "--topic", topic_name, "--partitions", "2"))
    before = int(time.time() * 1000) - 1000
    # Keyed lines: the default partitioner spreads them by key hash.
    console_produce(b, topic_name, sample_lines(8))
    p0, p1 = f"{topic_name}:0", f"{topic_name}:1"
    latest = get_offsets(b, "--topic", topic_name)
    assert set(latest) == {p0, p1} and sum(latest.values()) == 8, latest
    assert get_offsets(b, "--topic", topic_name, "--time", "latest") == latest
    assert get_offsets(b, "--topic", topic_name, "--time", "earliest") == {p0: 0, p1: 0}
    assert get_offsets(b, "--topic", topic_name, "--time", "-2") == {p0: 0, p1: 0}
    # By timestamp: the first record at or after `before` is offset 0 in each
    # partition with data; a time far ahead matches nothing.
    by_time = get_offsets(b, "--topic", topic_name, "--time", str(before))
    assert by_time == {tp: 0 for tp, end in latest.items() if end > 0}, (by_time, latest)
    assert get_offsets(b, "--topic", topic_name, "--time", str(before + 10 ** 9)) == {}
    fuller = max(latest, key=latest.get)
    max_ts = get_offsets(b, "--topic-partitions", fuller, "--time", "max-timestamp")
    assert set(max_ts) == {fuller} and 0 <= max_ts[fuller] < latest[fuller], (max_ts, latest)


def test_verifiable_producer(broker, java_built, topic_name):
    r = javautil.run_class(VERIFIABLE_PRODUCER, "--bootstrap-server", broker.bootstrap, "--topic", topic_name,
                           "--max-messages", "100", "--acks", "-1", timeout=120)
    assert r.returncode == 0, r.describe()
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    acked = [e for e in events if e["name"] == "producer_send_success"]
    assert [e["offset"] for e in acked] == list(range(100)), r.describe()
    assert [e["value"] for e in acked] == [str(i) for i in range(100)]
    assert not [e for e in events if e["name"] == "producer_send_error"], r.describe()
    tool_data = [e for e in events if e["name"] == "tool_data"]
    assert tool_data and tool_data[0]["sent"] == 100 and tool_data[0]["acked"] == 100, r.describe()


def test_topic_command_describes_through_describe_topic_partitions(broker, java_built, topic_name):
    """Kafka 4's kafka-topics --describe asks DescribeTopicPartitions (KIP-966) and
    prints its (empty) ELR lists as "Elr: "; through the Metadata fallback it
    would print "Elr: N/A". A page limit of 1 makes it follow next_cursor."""
    b = broker.bootstrap
    ok(kafka_topics(b, "--create", "--topic", topic_name, "--partitions", "3", "--replication-factor", "1"))
    r = ok(kafka_topics(b, "--describe", "--topic", topic_name, "--partition-size-limit-per-response", "1"))
    topic, parts = parse_describe(r.stdout)
    assert topic.get("PartitionCount") == "3", r.describe()
    assert [p["Partition"] for p in parts] == ["0", "1", "2"], r.describe()
    assert all(p.get("Elr") == "" and p.get("LastKnownElr") == "" for p in parts), r.describe()
