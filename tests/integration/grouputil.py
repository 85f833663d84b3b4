"""Helpers for the consumer-group suites: group members run as subprocesses
(so one can really be killed), a background producer that remembers where
every record landed, and the delivery checks.

A member is one of the runners under groupclients/ (confluent-kafka,
kafka-python, aiokafka) or io.fluxmq.itest.GroupConsumer (Java). They share a
command line and print the same timestamped lines (groupclients/common.py
documents them); `Member` reads those lines as they come.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import javautil
from clientutil import OP_TIMEOUT, wait_until

RUNNER_DIR = Path(__file__).resolve().parent / "groupclients"
RUNNERS = {
    "confluent": RUNNER_DIR / "confluent_member.py",
    "kafka-python": RUNNER_DIR / "kafka_python_member.py",
    "aiokafka": RUNNER_DIR / "aiokafka_member.py",
}
JAVA_MEMBER = "io.fluxmq.itest.GroupConsumer"

API_CONSUMER_GROUP_HEARTBEAT = 68
API_CONSUMER_GROUP_DESCRIBE = 69


def member_command(client: str, bootstrap: str, topic: str, group: str, name: str, **opts) -> list[str]:
    """The argv of one member. opts become --options (session_ms -> --session-ms)."""
    args = [bootstrap, topic, "--group", group, "--name", name]
    for key, value in opts.items():
        if value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    if client == "java":
        return ["java", *javautil.JVM_OPTS, "-cp", javautil.classpath(), JAVA_MEMBER, *args]
    return [sys.executable, "-u", str(RUNNERS[client]), *args]


@dataclass
class Delivery:
    """One processed record as a member printed it."""

    ms: int
    member: str
    partition: int
    offset: int
    value: str


@dataclass
class Commit:
    ms: int
    member: str
    offsets: dict[int, int]


@dataclass
class MemberLog:
    assignments: list[tuple[int, frozenset[int]]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    commit_failures: list[str] = field(default_factory=list)
    closed: bool = False
    other: list[str] = field(default_factory=list)


class Member:
    """A group member process. stop() is a clean leave (commit, close);
    kill() is SIGKILL, after which the broker only notices by session timeout."""

    def __init__(self, client: str, bootstrap: str, topic: str, group: str, name: str,
                 log_dir: Path, **opts):
        self.client = client
        self.name = name
        self.cmd = member_command(client, bootstrap, topic, group, name, **opts)
        self.stderr_path = Path(log_dir) / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self._stdout_copy = open(Path(log_dir) / f"{name}.stdout", "w")  # for a look after a failure
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, cwd=javautil.REPO_ROOT)
        self.log = MemberLog()
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name=f"member-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            text = raw.decode(errors="replace").rstrip("\n")
            self._stdout_copy.write(text + "\n")
            self._stdout_copy.flush()
            with self._lock:
                self.lines.append(text)
                self._parse(text)

    def _parse(self, text: str) -> None:
        parts = text.split(" ", 2)
        if len(parts) < 2 or not parts[0].isdigit():
            self.log.other.append(text)
            return
        ms, kind, rest = int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""
        if kind == "ASSIGNED":
            ps = frozenset() if rest in ("", "-") else frozenset(int(p) for p in rest.split(","))
            self.log.assignments.append((ms, ps))
        elif kind == "REC":
            p, o, value = (rest.split(" ", 2) + [""])[:3]
            self.log.deliveries.append(Delivery(ms, self.name, int(p), int(o), value))
        elif kind == "COMMIT":
            offsets = {int(p): int(o) for p, o in (x.split(":") for x in rest.split(",") if x)}
            self.log.commits.append(Commit(ms, self.name, offsets))
        elif kind == "COMMITFAIL":
            self.log.commit_failures.append(rest)
        elif kind == "CLOSED":
            self.log.closed = True
        else:
            self.log.other.append(text)

    # -- what the member has said so far ---------------------------------
    def assignment(self) -> frozenset[int] | None:
        with self._lock:
            return self.log.assignments[-1][1] if self.log.assignments else None

    def delivered(self) -> int:
        with self._lock:
            return len(self.log.deliveries)

    def read_up_to(self) -> dict[int, int]:
        """Partition -> one past the highest offset processed."""
        out: dict[int, int] = {}
        with self._lock:
            for d in self.log.deliveries:
                out[d.partition] = max(out.get(d.partition, 0), d.offset + 1)
        return out

    def last_committed(self) -> dict[int, int]:
        out: dict[int, int] = {}
        with self._lock:
            for c in self.log.commits:
                out.update(c.offsets)
        return out

    def alive(self) -> bool:
        return self.proc.poll() is None

    # -- ending it ---------------------------------------------------------
    def stop(self, timeout: float = 60.0) -> int:
        """Asks for a clean leave and waits for the process to exit."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b"stop\n")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"member {self.name} did not stop within {timeout}s\n{self.describe()}")
        self._reader.join(10)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(10)

    def wait_exit(self, timeout: float) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"member {self.name} still running after {timeout}s\n{self.describe()}")
        self._reader.join(10)
        return rc

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        self._stderr.close()
        self._stdout_copy.close()

    def describe(self) -> str:
        with self._lock:
            tail = [line for line in self.lines if " REC " not in line][-40:]
        try:
            err = self.stderr_path.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            err = ""
        return (f"--- member {self.name} ({self.client}) rc={self.proc.poll()} "
                f"{len(self.log.deliveries)} records ---\n" + "\n".join(tail) + f"\n--- stderr ---\n{err}")


def describe_all(members) -> str:
    return "\n".join(m.describe() for m in members)


def wait_stable(members: list[Member], partitions: int, timeout: float, what: str) -> dict[str, frozenset[int]]:
    """Waits until the live members' latest assignments are non-empty,
    disjoint and together cover every partition; returns them."""
    everything = frozenset(range(partitions))

    def stable():
        got = {m.name: m.assignment() for m in members}
        if any(a is None or not a for a in got.values()):
            return None
        union = frozenset().union(*got.values())
        if union != everything or sum(len(a) for a in got.values()) != partitions:
            return None
        return got

    try:
        return wait_until(stable, timeout=timeout, interval=0.1, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{describe_all(members)}") from None


class BackgroundProducer:
    """Writes value "v<n>" to partition n % partitions at a steady rate from a
    thread until stopped; remembers each acknowledged (partition, offset)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: float = 100.0):
        from confluent_kafka import Producer

        self.topic = topic
        self.partitions = partitions
        self.interval = 1.0 / rate
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                  "linger.ms": 5, "message.timeout.ms": 30000})
        self.acked: dict[tuple[int, int], str] = {}
        self.errors: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bg-producer", daemon=True)

    def start(self) -> "BackgroundProducer":
        self._thread.start()
        return self

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self.errors.append(str(err))
        else:
            self.acked[(msg.partition(), msg.offset())] = msg.value().decode()

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            value = f"v{n}"
            self.producer.produce(self.topic, value=value.encode(), partition=n % self.partitions,
                                  on_delivery=self._on_delivery)
            n += 1
            self.sent = n
            self.producer.poll(0)
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self) -> dict[tuple[int, int], str]:
        """Stops writing, waits for every acknowledgement; returns (p, o) -> value."""
        self._stop.set()
        self._thread.join(OP_TIMEOUT)
        left = self.producer.flush(OP_TIMEOUT)
        assert left == 0, f"{left} records still unacknowledged after {OP_TIMEOUT}s"
        assert not self.errors, f"{len(self.errors)} produce errors, first: {self.errors[:3]}"
        assert len(self.acked) == self.sent, f"{len(self.acked)} acks for {self.sent} records"
        return dict(self.acked)


def end_offsets(acked: dict[tuple[int, int], str], partitions: int) -> dict[int, int]:
    ends = {p: 0 for p in range(partitions)}
    for p, o in acked:
        ends[p] = max(ends[p], o + 1)
    return ends


def log_end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """ListOffsets latest, per partition (the high watermark)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks", "enable.auto.commit": False})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=OP_TIMEOUT)[1]
                for p in range(partitions)}
    finally:
        c.close()


def all_consumed(members: list[Member], acked: dict[tuple[int, int], str]) -> bool:
    seen = set()
    for m in members:
        with m._lock:
            seen.update((d.partition, d.offset) for d in m.log.deliveries)
    return set(acked) <= seen


def delivery_problems(members: list[Member], acked: dict[tuple[int, int], str],
                      retries_may_duplicate: bool = False) -> list[str]:
    """At-least-once, and no more redelivery than it allows.

    - every acknowledged record was processed by some member, with the value
      the producer wrote at that (partition, offset); nothing else was
      (with `retries_may_duplicate`, for a broker killed under a producer
      that is not idempotent: a record may also sit at a second offset,
      written by a retry whose first attempt was stored but not acknowledged);
    - a record may be processed again only if no earlier processing of it
      was covered by a commit: once member M processed (p, o) and then
      successfully committed an offset > o for p, nobody may process (p, o)
      after that commit. So duplicates are limited to records after the last
      commit of a member that died (or failed to commit), which is exactly
      what at-least-once allows.
    """
    problems: list[str] = []
    deliveries: list[Delivery] = []
    covered_at: dict[tuple[int, int], tuple[int, str]] = {}  # (p, o) -> (commit ms, member)
    for m in members:
        with m._lock:
            events = list(m.log.deliveries), list(m.log.commits)
        ds, cs = events
        deliveries.extend(ds)
        # For each delivery, the first later commit of this member that covers it.
        for d in ds:
            for c in cs:
                if c.ms >= d.ms and c.offsets.get(d.partition, -1) > d.offset:
                    key = (d.partition, d.offset)
                    if key not in covered_at or c.ms < covered_at[key][0]:
                        covered_at[key] = (c.ms, m.name)
                    break
    seen: dict[tuple[int, int], list[Delivery]] = {}
    written = {(p, v) for (p, _), v in acked.items()}
    for d in deliveries:
        key = (d.partition, d.offset)
        seen.setdefault(key, []).append(d)
        if key not in acked and retries_may_duplicate and (d.partition, d.value) in written:
            continue
        if key not in acked:
            problems.append(f"{d.member} processed {key} = {d.value!r}, which was never acknowledged to the producer")
        elif acked[key] != d.value:
            problems.append(f"{d.member} processed {key} = {d.value!r}, the producer wrote {acked[key]!r} there")
    missing = sorted(set(acked) - set(seen))
    if missing:
        problems.append(f"{len(missing)} acknowledged records never processed, first {missing[:8]}")
    redelivered = 0
    for key, ds in seen.items():
        if len(ds) < 2 or key not in covered_at:
            continue
        commit_ms, committer = covered_at[key]
        late = [d for d in ds if d.ms > commit_ms]
        if late:
            redelivered += 1
            if redelivered <= 8:
                problems.append(
                    f"{key} processed again by {late[0].member} at {late[0].ms} after {committer} "
                    f"had processed it and committed past it at {commit_ms}")
    if redelivered > 8:
        problems.append(f"... {redelivered} records redelivered after a covering commit in all")
    return problems


def duplicate_count(members: list[Member]) -> int:
    seen: dict[tuple[int, int], int] = {}
    for m in members:
        for d in m.log.deliveries:
            seen[(d.partition, d.offset)] = seen.get((d.partition, d.offset), 0) + 1
    return sum(n - 1 for n in seen.values())


def advertised_versions(bootstrap: str) -> dict[int, tuple[int, int]]:
    """ApiVersions as the broker answers it: api key -> (min, max)."""
    from fluxmq.tools.client import KafkaWireClient

    with KafkaWireClient(bootstrap, timeout=OP_TIMEOUT, strict=True) as c:
        r = c.request(18, 3, {"client_software_name": "fluxmq-tests", "client_software_version": "0"})
    assert int(r.error_code) == 0, f"ApiVersions error {r.error_code}"
    return {int(a.api_key): (int(a.min_version), int(a.max_version)) for a in r.api_keys}


def skip_unless_consumer_protocol(bootstrap: str) -> None:
    """KIP-848 tests run only against a broker that advertises
    ConsumerGroupHeartbeat (DESIGN rule 9: only when it really works)."""
    import pytest

    versions = advertised_versions(bootstrap)
    if API_CONSUMER_GROUP_HEARTBEAT not in versions:
        pytest.skip("the broker's ApiVersions does not advertise ConsumerGroupHeartbeat (key 68): "
                    "no KIP-848 consumer group protocol yet")


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int,
                      timeout: float = OP_TIMEOUT) -> dict[int, tuple[int, str]]:
    """The group's committed offsets by OffsetFetch v8 (require_stable):
    partition -> (offset, metadata); partitions without one are left out.
    Raw protocol rather than an AdminClient, so that the metadata string is
    exactly what the broker returned (one single-node broker is its own
    coordinator)."""
    from fluxmq.tools.client import KafkaWireClient

    with KafkaWireClient(bootstrap, timeout=timeout, strict=True) as c:
        r = c.request(9, 8, {"groups": [{"group_id": group, "topics": [
            {"name": topic, "partition_indexes": list(range(partitions))}]}], "require_stable": True})
    (g,) = r.groups
    assert int(g.error_code) == 0, f"OffsetFetch {group}: group error {g.error_code!r}"
    out = {}
    for t in g.topics:
        for p in t.partitions:
            assert int(p.error_code) == 0, f"OffsetFetch {group} {t.name}[{p.partition_index}]: {p.error_code!r}"
            if p.committed_offset >= 0:
                out[p.partition_index] = (p.committed_offset, p.metadata or "")
    return out


def produce(bootstrap: str, topic: str, partitions: int, start: int, count: int) -> dict[tuple[int, int], str]:
    """Writes values v<start>..v<start+count-1>, value n to partition
    n % partitions, acks=all; returns (partition, offset) -> value."""
    from confluent_kafka import Producer

    acked: dict[tuple[int, int], str] = {}
    errors: list[str] = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked[(msg.partition(), msg.offset())] = msg.value().decode()

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for n in range(start, start + count):
        p.produce(topic, value=f"v{n}".encode(), partition=n % partitions, on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(OP_TIMEOUT)
    assert left == 0 and not errors, f"{left} unacknowledged, errors {errors[:3]}"
    assert len(acked) == count
    return acked
