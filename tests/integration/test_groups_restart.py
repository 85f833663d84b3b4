"""Committed offsets survive a broker restart, clean (SIGTERM) or not (kill -9).

- test_resume_from_committed_offsets: a member (confluent-kafka, or the Java
  KafkaConsumer with the classic or the KIP-848 protocol) processes 120 of 300
  records, commits them with commit metadata and leaves. The broker restarts.
  OffsetFetch returns the same offsets and metadata; a new member of the group
  starts at exactly the committed offsets and reads the rest (including
  records written after the restart) once each.
- test_member_survives_broker_restart: a member keeps consuming while a
  producer writes and the broker restarts under both; afterwards nothing is
  lost and nothing is redelivered beyond its uncommitted records.
"""

from __future__ import annotations

import pytest

import grouputil
import javautil
from clientutil import CONSUME_TIMEOUT, OP_TIMEOUT, create_topic, wait_until
from grouputil import BackgroundProducer, Member, wait_stable

PARTITIONS = 3
BROKER_ARGS = ["--override", "group.initial.rebalance.delay.ms=0"]
METADATA = "restart-check"

CLIENTS = [
    pytest.param("confluent", "classic", id="confluent-classic"),
    pytest.param("java", "classic", id="java-classic"),
    pytest.param("java", "consumer", id="java-consumer"),
]
MODES = ["clean", "kill9"]


@pytest.fixture(scope="module")
def java_built():
    javautil.build()


def restart(broker, mode: str) -> None:
    if mode == "clean":
        rc = broker.stop()
        assert rc == 0, f"clean shutdown exited {rc}:\n{broker.log_text()[-3000:]}"
    else:
        broker.kill()
    broker.start()


def offsets_after_restart(bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, str]]:
    """OffsetFetch, retried while the coordinator loads after the restart."""
    return wait_until(lambda: grouputil.committed_offsets(bootstrap, group, topic, PARTITIONS, timeout=10),
                      timeout=60, what=f"OffsetFetch for {group} after the restart")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client,protocol", CLIENTS)
def test_resume_from_committed_offsets(request, broker_factory, topic_name, tmp_path, client, protocol, mode):
    if client == "java":
        request.getfixturevalue("java_built")
    broker = broker_factory(extra_args=BROKER_ARGS).start()
    if protocol == "consumer":
        grouputil.skip_unless_consumer_protocol(broker.bootstrap)
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    group = "g-" + topic_name
    acked = grouputil.produce(broker.bootstrap, topic_name, PARTITIONS, 0, 300)
    members = []
    try:
        first = Member(client, broker.bootstrap, topic_name, group, "first", tmp_path, protocol=protocol,
                       max_records=120, commit_metadata=METADATA)
        members.append(first)
        assert first.wait_exit(CONSUME_TIMEOUT) == 0 and first.log.closed, first.describe()
        committed = first.last_committed()
        assert len(first.log.deliveries) == 120 and sum(committed.values()) == 120, first.describe()
        expected = grouputil.committed_offsets(broker.bootstrap, group, topic_name, PARTITIONS)
        assert {p: o for p, (o, _) in expected.items()} == committed, f"OffsetFetch: {expected}"
        # confluent-kafka sends the C string's terminating NUL as part of the metadata.
        sent = METADATA + "\0" if client == "confluent" else METADATA
        assert all(m == sent for _, m in expected.values()), f"commit metadata not round-tripped: {expected}"

        restart(broker, mode)
        assert offsets_after_restart(broker.bootstrap, group, topic_name) == expected, \
            f"committed offsets changed across the {mode} restart"
        acked.update(grouputil.produce(broker.bootstrap, topic_name, PARTITIONS, 300, 30))

        second = Member(client, broker.bootstrap, topic_name, group, "second", tmp_path, protocol=protocol,
                        idle_exit_ms=3000)
        members.append(second)
        assert second.wait_exit(CONSUME_TIMEOUT + 30) == 0 and second.log.closed, second.describe()
        first_offsets = {}
        for d in second.log.deliveries:
            first_offsets.setdefault(d.partition, d.offset)
        assert first_offsets == {p: committed.get(p, 0) for p in range(PARTITIONS)}, (
            f"after the restart the group resumed at {first_offsets}, committed was {committed}\n"
            + second.describe())
        got = [(d.partition, d.offset) for d in first.log.deliveries + second.log.deliveries]
        assert len(got) == len(set(got)) == len(acked) == 330, \
            f"{len(got)} deliveries, {len(set(got))} distinct, {len(acked)} records"
        problems = grouputil.delivery_problems(members, acked)
        assert not problems, "\n".join(problems)
        ends = grouputil.end_offsets(acked, PARTITIONS)
        # The second member commits without metadata: Kafka stores and returns "".
        assert grouputil.committed_offsets(broker.bootstrap, group, topic_name, PARTITIONS) == \
            {p: (o, "") for p, o in ends.items()}
    finally:
        for m in members:
            m.cleanup()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", ["confluent", "java"])
def test_member_survives_broker_restart(request, broker_factory, topic_name, tmp_path, client, mode):
    if client == "java":
        request.getfixturevalue("java_built")
    broker = broker_factory(extra_args=BROKER_ARGS).start()
    create_topic(broker.bootstrap, topic_name, PARTITIONS)
    group = "g-" + topic_name
    producer = BackgroundProducer(broker.bootstrap, topic_name, PARTITIONS, rate=50).start()
    member = Member(client, broker.bootstrap, topic_name, group, "m", tmp_path, commit_interval_ms=1000)
    acked = None
    try:
        wait_stable([member], PARTITIONS, 60, "the member to own every partition")
        wait_until(lambda: member.delivered() >= 50, timeout=OP_TIMEOUT, what="records before the restart")

        restart(broker, mode)
        before = member.delivered()
        try:
            wait_until(lambda: member.delivered() >= before + 100, timeout=90,
                       what="the member to process records after the broker came back")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{member.describe()}") from None

        acked = producer.stop()
        # The producer is not idempotent: a retry across the restart may store a record twice.
        ends = grouputil.log_end_offsets(broker.bootstrap, topic_name, PARTITIONS)
        wait_until(lambda: grouputil.all_consumed([member], acked) and all(
            member.read_up_to().get(p, 0) >= end for p, end in ends.items()),
            timeout=60, what="every record up to the log end to be processed")
        assert member.stop() == 0 and member.log.closed, member.describe()
        problems = grouputil.delivery_problems([member], acked, retries_may_duplicate=True)
        assert not problems, "\n".join(problems) + "\n" + member.describe()
        committed = {p: o for p, (o, _) in grouputil.committed_offsets(
            broker.bootstrap, group, topic_name, PARTITIONS).items()}
        assert committed == ends
    finally:
        if acked is None:
            try:
                producer.stop()
            except AssertionError:
                pass
        member.cleanup()
