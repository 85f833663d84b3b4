"""Consumer groups with real clients: members join, leave, die and rejoin
while a producer writes, and no record is lost or redelivered beyond what
at-least-once allows.

For each client and group protocol (Java KafkaConsumer classic with the
range, round-robin and cooperative-sticky assignors and KIP-848 with the
broker's uniform and range assignors; confluent-kafka classic and KIP-848;
kafka-python; aiokafka), on a private broker:

1. three members (subprocesses, groupclients/ or GroupConsumer.java) share a
   6-partition topic while a background producer writes 100 records/s;
2. member a leaves cleanly (commit, close): b and c take its partitions;
3. member b is killed with SIGKILL: after its session times out, c owns all;
4. a new member joins: c and it share the partitions;
5. the producer stops; the members read to the end, commit and close.

Then: every acknowledged record was processed at least once with the value
written at its offset; a record is processed again only if its earlier
processing was never covered by that member's commit (grouputil.
delivery_problems); the group's committed offsets are the end offsets.

Members commit synchronously at most once a second (so the killed member
dies with processed but uncommitted records, which must come again), on
revocation and before closing. Classic
members use session.timeout.ms=6000 (Kafka's group.min.session.timeout.ms);
for KIP-848 the broker's group.consumer.* session and heartbeat settings are
lowered the same way. KIP-848 cases skip while the broker's ApiVersions does
not advertise ConsumerGroupHeartbeat.
"""

from __future__ import annotations

import pytest

import grouputil
import javautil
from clientutil import create_topic, wait_until
from grouputil import BackgroundProducer, Member, wait_stable

PARTITIONS = 6
SESSION_MS = 6000
REBALANCE_TIMEOUT = 60.0  # a whole rebalance, members joining one by one
BROKER_ARGS = [
    "--override", "group.initial.rebalance.delay.ms=0",
    "--override", "group.consumer.min.session.timeout.ms=6000",
    "--override", "group.consumer.session.timeout.ms=6000",
    "--override", "group.consumer.min.heartbeat.interval.ms=1000",
    "--override", "group.consumer.heartbeat.interval.ms=1000",
]

CASES = [
    pytest.param("java", "classic", "range", id="java-classic-range"),
    pytest.param("java", "classic", "roundrobin", id="java-classic-roundrobin"),
    pytest.param("java", "classic", "cooperative-sticky", id="java-classic-cooperative-sticky"),
    pytest.param("java", "consumer", "uniform", id="java-consumer-uniform"),
    pytest.param("java", "consumer", "range", id="java-consumer-range"),
    pytest.param("confluent", "classic", "range", id="confluent-classic-range"),
    pytest.param("confluent", "classic", "cooperative-sticky", id="confluent-classic-cooperative-sticky"),
    pytest.param("confluent", "consumer", None, id="confluent-consumer"),
    pytest.param("kafka-python", "classic", "range", id="kafka-python-classic-range"),
    pytest.param("aiokafka", "classic", "roundrobin", id="aiokafka-classic-roundrobin"),
]


@pytest.fixture(scope="module")
def java_built():
    javautil.build()


def librdkafka_speaks_consumer_protocol(bootstrap: str) -> bool:
    """Does the bundled librdkafka accept group.protocol=consumer?"""
    from confluent_kafka import Consumer, KafkaException

    try:
        Consumer({"bootstrap.servers": bootstrap, "group.id": "probe",
                  "group.protocol": "consumer"}).close()
    except (KafkaException, ValueError, TypeError):
        return False
    return True


@pytest.mark.parametrize("client,protocol,assignor", CASES)
def test_members_leave_die_and_rejoin(request, broker_factory, topic_name, tmp_path, client, protocol, assignor):
    if client == "java":
        request.getfixturevalue("java_built")
    broker = broker_factory(extra_args=BROKER_ARGS).start()
    if protocol == "consumer":
        grouputil.skip_unless_consumer_protocol(broker.bootstrap)
        if client == "confluent" and not librdkafka_speaks_consumer_protocol(broker.bootstrap):
            pytest.skip("the bundled librdkafka has no group.protocol=consumer")
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    group = "g-" + topic_name
    opts = {"protocol": protocol, "assignor": assignor, "commit_interval_ms": 1000,
            "session_ms": SESSION_MS if protocol == "classic" else None}
    members: list[Member] = []

    def start(name: str) -> Member:
        m = Member(client, broker.bootstrap, topic_name, group, name, tmp_path, **opts)
        members.append(m)
        return m

    def progress(ms: list[Member], what: str) -> None:
        """Each of `ms` processes more records than it had."""
        before = {m.name: m.delivered() for m in ms}
        wait_until(lambda: all(m.delivered() > before[m.name] for m in ms), timeout=REBALANCE_TIMEOUT,
                   what=what)

    producer = BackgroundProducer(broker.bootstrap, topic_name, PARTITIONS, rate=100).start()
    acked = None
    try:
        a, b, c = start("a"), start("b"), start("c")
        wait_stable([a, b, c], PARTITIONS, REBALANCE_TIMEOUT, "three members sharing the partitions")
        progress([a, b, c], "all three members to process records")

        assert a.stop() == 0 and a.log.closed, a.describe()
        wait_stable([b, c], PARTITIONS, REBALANCE_TIMEOUT, "b and c to take over after a left")
        progress([b, c], "b and c to process records after a left")

        b.kill()
        wait_stable([c], PARTITIONS, SESSION_MS / 1000 + REBALANCE_TIMEOUT,
                    "c to own every partition once b's session timed out")
        progress([c], "c to process records alone")

        a2 = start("a2")
        wait_stable([c, a2], PARTITIONS, REBALANCE_TIMEOUT, "c and the rejoined member to share the partitions")
        progress([c, a2], "c and the rejoined member to process records")

        acked = producer.stop()
        try:
            wait_until(lambda: grouputil.all_consumed(members, acked), timeout=REBALANCE_TIMEOUT,
                       what="every acknowledged record to be processed")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{grouputil.describe_all(members)}") from None
        for m in (c, a2):
            assert m.stop() == 0 and m.log.closed, m.describe()

        problems = grouputil.delivery_problems(members, acked)
        assert not problems, (f"{len(problems)} problems over {len(acked)} records:\n  " + "\n  ".join(problems)
                              + "\n" + grouputil.describe_all(members))
        ends = grouputil.end_offsets(acked, PARTITIONS)
        committed = {p: o for p, (o, _) in grouputil.committed_offsets(
            broker.bootstrap, group, topic_name, PARTITIONS).items()}
        assert committed == ends, f"committed {committed}, end offsets {ends}"
        failures = [f for m in members for f in m.log.commit_failures]
        print(f"{len(acked)} records, {grouputil.duplicate_count(members)} processed twice, "
              f"{len(failures)} failed commits")
    finally:
        if acked is None:
            try:
                producer.stop()
            except AssertionError:
                pass
        for m in members:
            m.cleanup()
