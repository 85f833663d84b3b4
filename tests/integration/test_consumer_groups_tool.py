"""Apache Kafka's kafka-consumer-groups tool (kafka-tools 4.1.1,
org.apache.kafka.tools.consumer.group.ConsumerGroupCommand) against a real
broker: --list (with --state and --type), --describe (offsets, lag, members,
state), --reset-offsets (dry run, --execute, refused while the group is
active), --delete (refused while active, then done). The expected output is
what the tool prints against Apache Kafka 4.1.1.

The tool reports failures as an "Error: ..." line and still exits 0, so the
error cases assert on that line.
"""

from __future__ import annotations

import re

import pytest

import grouputil
import javautil
from clientutil import CONSUME_TIMEOUT, create_topic, wait_until
from grouputil import Member, wait_stable

CONSUMER_GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
PARTITIONS = 3
PER_PARTITION = 10
BROKER_ARGS = ["--override", "group.initial.rebalance.delay.ms=0"]


@pytest.fixture(scope="module")
def java_built():
    javautil.build()


@pytest.fixture
def group_broker(broker_factory, java_built):
    return broker_factory(extra_args=BROKER_ARGS).start()


def cgc(bootstrap: str, *args: str) -> javautil.JavaResult:
    r = javautil.run_class(CONSUMER_GROUP_COMMAND, "--bootstrap-server", bootstrap, *args, timeout=90)
    assert r.returncode == 0, r.describe()
    return r


def table(stdout: str) -> list[dict[str, str]]:
    """Rows of the first table in the output (header line starts with GROUP);
    every column value is one word."""
    rows, header = [], None
    for line in stdout.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "GROUP":
            if header is not None:
                break
            header = words
        elif header is not None:
            assert len(words) == len(header), f"row {line!r} does not fit header {header}"
            rows.append(dict(zip(header, words)))
    assert header is not None, f"no table in:\n{stdout}"
    return rows


def offsets_table(stdout: str) -> dict[int, dict[str, str]]:
    return {int(r["PARTITION"]): r for r in table(stdout)}


def state_row(stdout: str) -> dict[str, str]:
    """--describe --state: GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS."""
    for line in stdout.splitlines():
        m = re.match(r"^(\S+)\s+(\S+:\d+)\s+\((\d+)\)\s+(\S+)\s+(\S+)\s+(\d+)\s*$", line)
        if m:
            return dict(zip(["GROUP", "COORDINATOR", "ID", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"], m.groups()))
    raise AssertionError(f"no --state row in:\n{stdout}")


def two_columns(stdout: str) -> dict[str, str]:
    """--list --state / --list --type: GROUP and one more column."""
    return {r["GROUP"]: list(r.values())[1] for r in table(stdout)}


def setup_topic(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, PARTITIONS)
    grouputil.produce(bootstrap, topic, PARTITIONS, 0, PARTITIONS * PER_PARTITION)


def commit_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """A commit outside any generation (generation -1), as a tool or an
    assign()-only consumer makes it."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def expect_lag_rows(rows: dict[int, dict[str, str]], group: str, topic: str, committed: dict[int, int]) -> None:
    for p, row in rows.items():
        assert row["GROUP"] == group and row["TOPIC"] == topic, row
        assert row["LOG-END-OFFSET"] == str(PER_PARTITION), row
        if p in committed:
            assert row["CURRENT-OFFSET"] == str(committed[p]), row
            assert row["LAG"] == str(PER_PARTITION - committed[p]), row
        else:
            assert row["CURRENT-OFFSET"] == "-" and row["LAG"] == "-", row


def test_list_and_describe_committed_offsets(group_broker, topic_name):
    b = group_broker.bootstrap
    setup_topic(b, topic_name)
    group = "cg-" + topic_name
    commit_offsets(b, group, topic_name, {0: 10, 1: 4})

    assert group in cgc(b, "--list").stdout.split()
    assert two_columns(cgc(b, "--list", "--state").stdout).get(group) == "Empty"
    assert two_columns(cgc(b, "--list", "--type").stdout).get(group) == "Classic"
    # A state filter: the group is Empty, not Stable.
    assert group not in cgc(b, "--list", "--state", "Stable").stdout.split()

    r = cgc(b, "--describe", "--group", group)
    rows = offsets_table(r.stdout)
    assert sorted(rows) == [0, 1], r.describe()  # only partitions with a committed offset
    expect_lag_rows(rows, group, topic_name, {0: 10, 1: 4})
    for row in rows.values():
        assert (row["CONSUMER-ID"], row["HOST"], row["CLIENT-ID"]) == ("-", "-", "-"), row
    assert f"Consumer group '{group}' has no active members." in r.stderr, r.describe()

    st = state_row(cgc(b, "--describe", "--group", group, "--state").stdout)
    assert (st["GROUP"], st["ASSIGNMENT-STRATEGY"], st["STATE"], st["#MEMBERS"]) == (group, "-", "Empty", "0"), st
    assert st["COORDINATOR"] == b and st["ID"] == "1", st


def test_describe_unknown_group(group_broker):
    """Kafka 4.1.1 answers DescribeGroups v6 for an unknown group with
    GROUP_ID_NOT_FOUND (KIP-1043), which the tool reports as an exception; a
    broker without v6 answers state Dead, and the tool prints "Consumer group
    'X' does not exist." instead."""
    b = group_broker.bootstrap
    r = cgc(b, "--describe", "--group", "no-such-group")
    assert "Error: Executing consumer group command failed" in r.stdout, r.describe()
    assert "GroupIdNotFoundException" in r.stdout, r.describe()
    r = cgc(b, "--delete", "--group", "no-such-group")
    assert "Group 'no-such-group' could not be deleted due to" in r.stdout, r.describe()
    assert "GroupIdNotFoundException" in r.stdout, r.describe()


def test_active_group_describe_reset_and_delete(group_broker, topic_name, tmp_path):
    b = group_broker.bootstrap
    setup_topic(b, topic_name)
    group = "cg-" + topic_name
    # A member that processes and commits 13 records, then pauses and stays in the group.
    member = Member("java", b, topic_name, group, "tool-member", tmp_path, pause_after=13)
    members = [member]
    try:
        wait_stable([member], PARTITIONS, 60, "the member to own every partition")
        wait_until(lambda: any("PAUSED" in line for line in member.lines), timeout=CONSUME_TIMEOUT,
                   what="the member to process 13 records and pause")
        committed = member.last_committed()
        assert sum(committed.values()) == 13, member.describe()

        r = cgc(b, "--describe", "--group", group)
        rows = offsets_table(r.stdout)
        assert sorted(rows) == [0, 1, 2], r.describe()
        expect_lag_rows(rows, group, topic_name, committed)
        member_ids = {row["CONSUMER-ID"] for row in rows.values()}
        assert len(member_ids) == 1 and next(iter(member_ids)).startswith("tool-member-"), r.describe()
        for row in rows.values():
            assert row["HOST"] == "/127.0.0.1" and row["CLIENT-ID"] == "tool-member", row

        st = state_row(cgc(b, "--describe", "--group", group, "--state").stdout)
        assert (st["ASSIGNMENT-STRATEGY"], st["STATE"], st["#MEMBERS"]) == ("range", "Stable", "1"), st
        r = cgc(b, "--describe", "--group", group, "--members")
        (m,) = table(r.stdout)
        assert (m["CONSUMER-ID"], m["HOST"], m["CLIENT-ID"], m["#PARTITIONS"]) == \
            (next(iter(member_ids)), "/127.0.0.1", "tool-member", "3"), r.describe()
        assert two_columns(cgc(b, "--list", "--state", "Stable").stdout).get(group) == "Stable"

        r = cgc(b, "--reset-offsets", "--to-earliest", "--group", group, "--topic", topic_name, "--execute")
        assert (f"Error: Assignments can only be reset if the group '{group}' is inactive, "
                "but the current state is Stable.") in r.stdout, r.describe()
        r = cgc(b, "--delete", "--group", group)
        assert f"Group '{group}' could not be deleted due to" in r.stdout, r.describe()
        assert "GroupNotEmptyException" in r.stdout, r.describe()

        assert member.stop() == 0, member.describe()
        r = cgc(b, "--describe", "--group", group)
        assert f"Consumer group '{group}' has no active members." in r.stderr, r.describe()
        expect_lag_rows(offsets_table(r.stdout), group, topic_name, committed)

        # Without --execute: a dry run that prints the plan and changes nothing.
        r = cgc(b, "--reset-offsets", "--to-earliest", "--group", group, "--topic", topic_name)
        assert {p: row["NEW-OFFSET"] for p, row in offsets_table(r.stdout).items()} == {0: "0", 1: "0", 2: "0"}
        assert grouputil.committed_offsets(b, group, topic_name, PARTITIONS) == \
            {p: (o, "") for p, o in committed.items()}

        r = cgc(b, "--reset-offsets", "--to-earliest", "--group", group, "--topic", topic_name, "--execute")
        assert {p: row["NEW-OFFSET"] for p, row in offsets_table(r.stdout).items()} == {0: "0", 1: "0", 2: "0"}
        r = cgc(b, "--describe", "--group", group)
        expect_lag_rows(offsets_table(r.stdout), group, topic_name, {0: 0, 1: 0, 2: 0})

        # A member of the reset group starts from the beginning again.
        again = Member("java", b, topic_name, group, "after-reset", tmp_path, idle_exit_ms=3000)
        members.append(again)
        assert again.wait_exit(CONSUME_TIMEOUT + 30) == 0, again.describe()
        assert sorted((d.partition, d.offset) for d in again.log.deliveries) == \
            [(p, o) for p in range(PARTITIONS) for o in range(PER_PARTITION)], again.describe()

        r = cgc(b, "--delete", "--group", group)
        assert f"Deletion of requested consumer groups ('{group}') was successful." in r.stdout, r.describe()
        assert group not in cgc(b, "--list").stdout.split()
        assert grouputil.committed_offsets(b, group, topic_name, PARTITIONS) == {}
        r = cgc(b, "--describe", "--group", group)
        assert "GroupIdNotFoundException" in r.stdout, r.describe()
    finally:
        for m in members:
            m.cleanup()


def test_consumer_protocol_group(group_broker, topic_name, tmp_path):
    """A KIP-848 group as the tool sees it: type Consumer, the broker's
    assignor as the strategy, members with their epochs."""
    b = group_broker.bootstrap
    grouputil.skip_unless_consumer_protocol(b)
    setup_topic(b, topic_name)
    group = "cg-" + topic_name
    member = Member("java", b, topic_name, group, "kip848-member", tmp_path, protocol="consumer",
                    assignor="uniform", pause_after=7)
    try:
        wait_stable([member], PARTITIONS, 60, "the member to own every partition")
        wait_until(lambda: any("PAUSED" in line for line in member.lines), timeout=CONSUME_TIMEOUT,
                   what="the member to process 7 records and pause")
        committed = member.last_committed()
        assert sum(committed.values()) == 7, member.describe()

        assert two_columns(cgc(b, "--list", "--type").stdout).get(group) == "Consumer"
        assert two_columns(cgc(b, "--list", "--state").stdout).get(group) == "Stable"
        r = cgc(b, "--describe", "--group", group)
        rows = offsets_table(r.stdout)
        assert sorted(rows) == [0, 1, 2], r.describe()
        expect_lag_rows(rows, group, topic_name, committed)
        for row in rows.values():
            assert row["HOST"] == "/127.0.0.1" and row["CLIENT-ID"] == "kip848-member", row

        st = state_row(cgc(b, "--describe", "--group", group, "--state").stdout)
        assert (st["ASSIGNMENT-STRATEGY"], st["STATE"], st["#MEMBERS"]) == ("uniform", "Stable", "1"), st
        r = cgc(b, "--describe", "--group", group, "--members", "--verbose")
        (m,) = table(r.stdout)
        assert m["CLIENT-ID"] == "kip848-member" and m["#PARTITIONS"] == "3", r.describe()
        assert m["CURRENT-EPOCH"].isdigit() and m["CURRENT-EPOCH"] == m["TARGET-EPOCH"], r.describe()
        assert m["CURRENT-ASSIGNMENT"] == m["TARGET-ASSIGNMENT"] == f"{topic_name}:0,1,2", r.describe()

        r = cgc(b, "--reset-offsets", "--to-earliest", "--group", group, "--topic", topic_name, "--execute")
        assert (f"Error: Assignments can only be reset if the group '{group}' is inactive, "
                "but the current state is Stable.") in r.stdout, r.describe()
        assert member.stop() == 0, member.describe()
        r = cgc(b, "--reset-offsets", "--to-earliest", "--group", group, "--topic", topic_name, "--execute")
        assert {p: row["NEW-OFFSET"] for p, row in offsets_table(r.stdout).items()} == {0: "0", 1: "0", 2: "0"}
        r = cgc(b, "--delete", "--group", group)
        assert f"Deletion of requested consumer groups ('{group}') was successful." in r.stdout, r.describe()
    finally:
        member.cleanup()
