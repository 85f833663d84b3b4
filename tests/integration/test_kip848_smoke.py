"""KIP-848 consumer groups end to end: the Java KafkaConsumer 4.4 and
confluent-kafka (librdkafka) with group.protocol=consumer against a real
broker process.

Two members share a 4-partition topic: the broker splits the partitions
between them (uniform assignor), every record is consumed, then one member
leaves cleanly (ConsumerGroupHeartbeat epoch -1) and the other takes over
its partitions from the committed offsets and reads what is produced next.
The admin client sees the group as a consumer-type group (ListGroups v5
type filter, ConsumerGroupDescribe). A member killed with SIGKILL is fenced
when its session times out and the survivor takes its partitions.

Members run in their own processes (tests/java GroupConsumer and
groupclients/confluent_member.py) and print one line per event, led by a
wall-clock ms: ASSIGNED p,p,.. | REC p offset value | COMMIT .. | CLOSED.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import javautil
import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupType, Producer
from confluent_kafka.admin import AdminClient, NewTopic

HERE = Path(__file__).resolve().parent
PARTITIONS = 4
FIRST, SECOND = 400, 200
WAIT_S = 60.0


class Member:
    """One group member process and the lines it printed so far."""

    def __init__(self, cmd: list[str], name: str):
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=javautil.REPO_ROOT)
        self.lines: list[str] = []
        self.err: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()

    def _read(self, stream, into) -> None:
        for raw in stream:
            with self._lock:
                into.append(raw.rstrip("\n"))

    def events(self, kind: str) -> list[list[str]]:
        with self._lock:
            return [ln.split(" ")[2:] for ln in self.lines if len(ln.split(" ")) > 1 and ln.split(" ")[1] == kind]

    def values(self) -> set[str]:
        return {ev[2] for ev in self.events("REC") if len(ev) >= 3}

    def assignment(self) -> set[int] | None:
        assigned = self.events("ASSIGNED")
        if not assigned:
            return None
        last = assigned[-1][0]
        return set() if last == "-" else {int(p) for p in last.split(",")}

    def stop(self, timeout: float = WAIT_S) -> None:
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"{self.name} did not stop within {timeout}s\n{self.describe()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def describe(self) -> str:
        with self._lock:
            out = [ln for ln in self.lines if " REC " not in ln]
            return (f"--- {self.name} (exit {self.proc.poll()}) ---\n" + "\n".join(out[-40:])
                    + "\n--- stderr ---\n" + "\n".join(self.err[-40:]))


def java_member(bootstrap, topic, group, name) -> Member:
    return Member(["java", *javautil.JVM_OPTS, "-cp", javautil.classpath(), "io.fluxmq.itest.GroupConsumer",
                   bootstrap, topic, "--group", group, "--name", name, "--protocol", "consumer"], name)


def confluent_member(bootstrap, topic, group, name) -> Member:
    return Member([sys.executable, str(HERE / "groupclients" / "confluent_member.py"),
                   bootstrap, topic, "--group", group, "--name", name, "--protocol", "consumer"], name)


def wait_until(cond, what: str, members, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        for m in members:
            if m.proc.poll() is not None and m.proc.returncode != 0:
                pytest.fail(f"{m.name} exited with {m.proc.returncode} while waiting for {what}\n{m.describe()}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n" + "\n".join(m.describe() for m in members))


def produce(bootstrap, topic, start, count) -> set[str]:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    values = set()
    for i in range(start, start + count):
        value = f"v{i}"
        p.produce(topic, value=value.encode(), partition=i % PARTITIONS)
        values.add(value)
    assert p.flush(30) == 0
    return values


@pytest.fixture(scope="module")
def java_built():
    javautil.build()


@pytest.fixture(params=["java", "confluent"])
def member_kind(request):
    if request.param == "java":
        request.getfixturevalue("java_built")
        return java_member
    return confluent_member


def test_two_members_share_then_one_takes_over(broker, topic_name, member_kind):
    bootstrap = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic_name, PARTITIONS, 1)])[topic_name].result(30)
    group = "kip848-" + uuid.uuid4().hex[:8]
    expected = produce(bootstrap, topic_name, 0, FIRST)

    a = member_kind(bootstrap, topic_name, group, "a")
    b = member_kind(bootstrap, topic_name, group, "b")
    members = [a, b]
    try:
        # Both members get partitions, disjoint and covering the topic; every record is read.
        def shared():
            pa, pb = a.assignment(), b.assignment()
            return bool(pa) and bool(pb) and not (pa & pb) and pa | pb == set(range(PARTITIONS))
        wait_until(shared, "the partitions shared between both members", members)
        wait_until(lambda: a.values() | b.values() >= expected, f"all {FIRST} records consumed", members)

        # The admin client sees a KIP-848 group.
        listed = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(30)
        mine = [g for g in listed.valid if g.group_id == group]
        assert mine and mine[0].type == ConsumerGroupType.CONSUMER, listed.valid
        desc = admin.describe_consumer_groups([group])[group].result(30)
        assert desc.type == ConsumerGroupType.CONSUMER
        assert desc.state == ConsumerGroupState.STABLE, desc
        assert len(desc.members) == 2
        assert sorted(tp.partition for m in desc.members for tp in m.assignment.topic_partitions) == \
            list(range(PARTITIONS))

        # b leaves cleanly; a takes over everything and reads what comes next.
        b.stop()
        assert b.proc.returncode == 0, b.describe()
        assert b.events("CLOSED"), b.describe()
        expected |= produce(bootstrap, topic_name, FIRST, SECOND)
        wait_until(lambda: a.assignment() == set(range(PARTITIONS)), "a owning every partition", [a])
        wait_until(lambda: a.values() | b.values() >= expected, f"all {FIRST + SECOND} records consumed", [a])

        desc = admin.describe_consumer_groups([group])[group].result(30)
        assert len(desc.members) == 1
        assert sorted(tp.partition for tp in desc.members[0].assignment.topic_partitions) == \
            list(range(PARTITIONS))
        a.stop()
        assert a.proc.returncode == 0, a.describe()
    finally:
        for m in members:
            m.kill()

    # Committed offsets cover everything that was produced.
    committed = admin.list_consumer_group_offsets(
        [_offsets_request(group, topic_name)])[group].result(30)
    per_partition = {tp.partition: tp.offset for tp in committed.topic_partitions}
    assert per_partition == {p: (FIRST + SECOND) // PARTITIONS for p in range(PARTITIONS)}, per_partition


def _offsets_request(group, topic):
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    return ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(PARTITIONS)])


def test_killed_member_is_fenced_after_the_session_timeout(broker_factory, topic_name, member_kind):
    """A member killed with SIGKILL sends no leave: its partitions move once
    group.consumer.session.timeout.ms passes without a heartbeat."""
    b = broker_factory(extra_args=["--override", "group.consumer.session.timeout.ms=6000",
                                   "--override", "group.consumer.heartbeat.interval.ms=1000"]).start()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic_name, PARTITIONS, 1)])[topic_name].result(30)
    group = "kip848-" + uuid.uuid4().hex[:8]
    expected = produce(b.bootstrap, topic_name, 0, FIRST)
    a = member_kind(b.bootstrap, topic_name, group, "a")
    k = member_kind(b.bootstrap, topic_name, group, "k")
    try:
        wait_until(lambda: bool(a.assignment()) and bool(k.assignment()), "both members assigned", [a, k])
        wait_until(lambda: a.values() | k.values() >= expected, f"all {FIRST} records consumed", [a, k])
        k.kill()
        expected |= produce(b.bootstrap, topic_name, FIRST, SECOND)
        wait_until(lambda: a.assignment() == set(range(PARTITIONS)), "a owning every partition", [a])
        wait_until(lambda: a.values() | k.values() >= expected, f"all {FIRST + SECOND} records consumed", [a])
        a.stop()
        assert a.proc.returncode == 0, a.describe()
    finally:
        a.kill()
        k.kill()
    assert "fenced from the group because its session expired" in b.log_text()


def test_regex_subscription_includes_internal_topics(broker):
    """Kafka 4.4 matches a KIP-848 regex against every topic: a regex naming
    __consumer_offsets is assigned its partitions (confluent-kafka, in process)."""
    from confluent_kafka import Consumer

    group = "regex-internal-" + uuid.uuid4().hex[:8]
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "group.protocol": "consumer"})
    try:
        c.subscribe(["^__consumer_offsets$"])  # joining the group creates the topic if need be
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not c.assignment():
            c.poll(0.2)
        topics = {tp.topic for tp in c.assignment()}
        partitions = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(
            "__consumer_offsets", timeout=10).topics["__consumer_offsets"].partitions
        assert topics == {"__consumer_offsets"}
        assert len(c.assignment()) == len(partitions) > 0
    finally:
        c.close()
