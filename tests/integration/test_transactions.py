"""Transactions with real clients (KIP-98): librdkafka (confluent-kafka),
kafka-python, aiokafka, kcat and the Java clients (both group protocols)
commit and abort; read_committed consumers never see aborted records and
see committed ones once; a second producer with the same transactional.id
fences the first; consume-transform-produce commits the group's offsets in
the transaction. Against FluxMQ only (they change broker configs or restart
it): a transaction past its timeout is aborted by the coordinator;
committed, aborted and open transactions survive kill -9 and restart; a
consume-transform-produce copier killed with the broker mid-transaction and
after commits, four times, leaves every input record in the output exactly
once; so does Kafka's TransactionalMessageCopier (the Java clients on
transaction version 2, with random aborts) across three kills of the broker
or of a copier; Kafka's DumpLogSegments reads what FluxMQ wrote;
kafka-transactions lists, describes, finds a transaction its coordinator lost
(find-hanging) and aborts it.

The client tests run unchanged against Apache Kafka 4.4
(pytest --reference-bootstrap)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer

import javautil
from clientutil import OP_TIMEOUT, create_topic, wait_until
from test_kcat import kcat, run_kcat  # noqa: F401 - kcat is a fixture

NUM = 10


def txn_producer(bootstrap: str, transactional_id: str | None = None, **extra) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": transactional_id or f"tx-{uuid.uuid4()}",
                  **extra})
    p.init_transactions(OP_TIMEOUT)
    return p


def produce(p: Producer, topic: str, prefix: str, n: int = NUM, partitions: int = 2) -> None:
    for i in range(n):
        p.produce(topic, key=f"k{i}".encode(), value=f"{prefix}{i}".encode(), partition=i % partitions)
    p.flush(OP_TIMEOUT)


def read_values(bootstrap: str, topic: str, isolation: str, partitions: int = 2) -> list[str]:
    """Every value up to the end offsets the consumer sees for its isolation level, by partition."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4()}", "enable.auto.commit": False,
                  "isolation.level": isolation, "auto.offset.reset": "earliest"})
    try:
        tps = [TopicPartition(topic, i) for i in range(partitions)]
        ends = {tp.partition: c.get_watermark_offsets(tp, OP_TIMEOUT)[1] for tp in tps}
        c.assign([TopicPartition(topic, i, 0) for i in range(partitions)])
        got: dict[int, list[str]] = {i: [] for i in range(partitions)}
        deadline = time.monotonic() + OP_TIMEOUT
        positions = {i: 0 for i in range(partitions)}
        while any(positions[i] < ends[i] for i in positions):
            assert time.monotonic() < deadline, f"{isolation}: stopped at {positions} of {ends}: {got}"
            m = c.poll(0.2)
            if m is None:
                positions = {tp.partition: tp.offset for tp in c.position(tps)}
                continue
            assert not m.error(), m.error()
            got[m.partition()].append(m.value().decode())
            positions[m.partition()] = m.offset() + 1
        return [v for i in range(partitions) for v in got[i]]
    finally:
        c.close()


def expected(*prefixes: str, n: int = NUM, partitions: int = 2) -> list[str]:
    return [f"{prefix}{i}" for p in range(partitions) for prefix in prefixes for i in range(n) if i % partitions == p]


def test_confluent_kafka_commit_and_abort(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, 2)
    p = txn_producer(broker.bootstrap)
    for prefix, commit in (("first", True), ("aborted", False), ("second", True)):
        p.begin_transaction()
        produce(p, topic_name, prefix)
        if commit:
            p.commit_transaction(OP_TIMEOUT)
        else:
            p.abort_transaction(OP_TIMEOUT)
    assert read_values(broker.bootstrap, topic_name, "read_committed") == expected("first", "second")
    assert read_values(broker.bootstrap, topic_name, "read_uncommitted") == expected("first", "aborted", "second")


def test_confluent_kafka_zombie_is_fenced(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, 2)
    txn_id = f"tx-{uuid.uuid4()}"
    zombie = txn_producer(broker.bootstrap, txn_id)
    zombie.begin_transaction()
    produce(zombie, topic_name, "zombie")
    fresh = txn_producer(broker.bootstrap, txn_id)  # fences the zombie, aborting its transaction
    with pytest.raises(KafkaException) as e:
        zombie.commit_transaction(OP_TIMEOUT)
    assert e.value.args[0].fatal() and e.value.args[0].code() == KafkaError._FENCED
    fresh.begin_transaction()
    produce(fresh, topic_name, "fresh")
    fresh.commit_transaction(OP_TIMEOUT)
    assert read_values(broker.bootstrap, topic_name, "read_committed") == expected("fresh")


def test_confluent_kafka_send_offsets_to_transaction(broker, topic_name):
    """Consume-transform-produce: the copy and the group's offsets commit together."""
    src, dst, group = f"{topic_name}-in", f"{topic_name}-out", f"g-{uuid.uuid4()}"
    create_topic(broker.bootstrap, src, 2)
    create_topic(broker.bootstrap, dst, 2)
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    produce(plain, src, "v", 3 * NUM)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    p = txn_producer(broker.bootstrap)
    try:
        c.subscribe([src])
        copied = 0
        deadline = time.monotonic() + OP_TIMEOUT * 2
        while copied < 3 * NUM:
            assert time.monotonic() < deadline, f"copied {copied}"
            msgs = [m for m in c.consume(7, 0.5) if not m.error()]
            if not msgs:
                continue
            p.begin_transaction()
            for m in msgs:
                p.produce(dst, key=m.key(), value=m.value(), partition=m.partition())
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), OP_TIMEOUT)
            p.commit_transaction(OP_TIMEOUT)
            copied += len(msgs)
        committed = c.committed([TopicPartition(src, 0), TopicPartition(src, 1)], OP_TIMEOUT)
        assert sorted(tp.offset for tp in committed) == [15, 15]
    finally:
        c.close()
    assert read_values(broker.bootstrap, dst, "read_committed") == expected("v", n=3 * NUM)


def test_kafka_python_transactions(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, 2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=f"tx-{uuid.uuid4()}")
    try:
        p.init_transactions()
        for prefix, commit in (("kp", True), ("kp-aborted", False)):
            p.begin_transaction()
            for i in range(NUM):
                p.send(topic_name, key=f"k{i}".encode(), value=f"{prefix}{i}".encode(), partition=i % 2)
            p.flush()
            p.commit_transaction() if commit else p.abort_transaction()
    finally:
        p.close(timeout=5)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level="read_committed",
                      auto_offset_reset="earliest", consumer_timeout_ms=3000, enable_auto_commit=False)
    try:
        c.assign([TopicPartition_kp(topic_name, 0), TopicPartition_kp(topic_name, 1)])
        got = sorted(m.value.decode() for m in c)
    finally:
        c.close()
    assert got == sorted(expected("kp"))


def TopicPartition_kp(topic, partition):  # noqa: N802 - kafka-python's class, imported lazily
    from kafka import TopicPartition
    return TopicPartition(topic, partition)


def test_aiokafka_transactions(broker, topic_name):
    create_topic(broker.bootstrap, topic_name, 2)

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=f"tx-{uuid.uuid4()}")
        await p.start()
        try:
            for prefix, commit in (("aio", True), ("aio-aborted", False)):
                await p.begin_transaction()
                for i in range(NUM):
                    await p.send(topic_name, key=f"k{i}".encode(), value=f"{prefix}{i}".encode(), partition=i % 2)
                await (p.commit_transaction() if commit else p.abort_transaction())
        finally:
            await p.stop()
        c = AIOKafkaConsumer(topic_name, bootstrap_servers=broker.bootstrap, isolation_level="read_committed",
                             auto_offset_reset="earliest", group_id=f"g-{uuid.uuid4()}")
        await c.start()
        try:
            got = []
            deadline = time.monotonic() + OP_TIMEOUT
            while len(got) < NUM and time.monotonic() < deadline:
                for records in (await c.getmany(timeout_ms=500)).values():
                    got += [r.value.decode() for r in records]
            await asyncio.sleep(0.5)
            for records in (await c.getmany(timeout_ms=500)).values():
                got += [r.value.decode() for r in records]
            return sorted(got)
        finally:
            await c.stop()

    assert asyncio.run(run()) == sorted(expected("aio"))


def test_kcat_transactional_producer(broker, topic_name, kcat):  # noqa: F811 - the fixture above
    create_topic(broker.bootstrap, topic_name, 1)
    run_kcat(kcat, broker.bootstrap, "-P", "-t", topic_name, "-p", "0", "-X", f"transactional.id=tx-{uuid.uuid4()}",
             stdin=b"one\ntwo\nthree\n")
    assert read_values(broker.bootstrap, topic_name, "read_committed", 1) == ["one", "two", "three"]


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_java_transactions(broker, topic_name, protocol):
    javautil.build()
    javautil.run_scenario("Transactions", broker.bootstrap, topic_name, "--group-protocol", protocol)


# ------------------------------------------------------------------ FluxMQ only
def test_java_transactions_on_transaction_version_1(broker_factory, topic_name):
    """fluxmq.transaction.version=1: ApiVersions finalizes transaction.version 1,
    so the Java producer stays on KIP-890 part 1 (AddPartitionsToTxn,
    AddOffsetsToTxn, EndTxn v4) and the epoch does not move."""
    b = broker_factory(["--override", "fluxmq.transaction.version=1"]).start()
    javautil.build()
    javautil.run_scenario("Transactions", b.bootstrap, topic_name, "--transaction-version", "1")


def test_coordinator_aborts_a_timed_out_transaction(broker_factory, topic_name):
    b = broker_factory(["--override", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200"]).start()
    create_topic(b.bootstrap, topic_name, 2)
    p = txn_producer(b.bootstrap, **{"transaction.timeout.ms": 1000})
    p.begin_transaction()
    produce(p, topic_name, "late")
    # The open transaction holds the last stable offset at its first record...
    assert read_values(b.bootstrap, topic_name, "read_committed") == []
    time.sleep(2)  # ...until the coordinator aborts it (and fences the producer)
    with pytest.raises(KafkaException) as e:
        p.commit_transaction(OP_TIMEOUT)
    assert e.value.args[0].code() in (KafkaError._FENCED, KafkaError.INVALID_PRODUCER_EPOCH,
                                      KafkaError.PRODUCER_FENCED), e.value
    wait_until(lambda: Consumer({"bootstrap.servers": b.bootstrap, "group.id": "x", "isolation.level":
                                 "read_committed"}).get_watermark_offsets(TopicPartition(topic_name, 0))[1] > 0,
               what="the abort marker")
    assert read_values(b.bootstrap, topic_name, "read_committed") == []
    assert "timed out after 1000 ms: aborting it" in b.log_text()


def test_transactions_survive_kill_and_restart(broker_factory, topic_name):
    b = broker_factory(["--override", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200"]).start()
    create_topic(b.bootstrap, topic_name, 2)
    p = txn_producer(b.bootstrap)
    for prefix, commit in (("kept", True), ("dropped", False)):
        p.begin_transaction()
        produce(p, topic_name, prefix)
        p.commit_transaction(OP_TIMEOUT) if commit else p.abort_transaction(OP_TIMEOUT)
    hanging = txn_producer(b.bootstrap, **{"transaction.timeout.ms": 3000})
    hanging.begin_transaction()
    produce(hanging, topic_name, "open")
    b.kill()
    b.start()
    # The open transaction is aborted once it times out; the aborted one is still known as aborted.
    wait_until(lambda: "timed out after 3000 ms: aborting it" in b.log_text(), what="the open transaction's abort")
    assert read_values(b.bootstrap, topic_name, "read_committed") == expected("kept")
    assert read_values(b.bootstrap, topic_name, "read_uncommitted") == expected("kept", "dropped", "open")
    fresh = txn_producer(b.bootstrap)
    fresh.begin_transaction()
    produce(fresh, topic_name, "after")
    fresh.commit_transaction(OP_TIMEOUT)
    assert read_values(b.bootstrap, topic_name, "read_committed") == expected("kept", "after")


def test_kafka_reads_the_transaction_log_and_markers_fluxmq_wrote(broker_factory, topic_name):
    """Kafka's own DumpLogSegments decodes __transaction_state and the markers, and the
    producer state snapshot and transaction index a clean stop leaves."""
    javautil.build()
    b = broker_factory().start()
    create_topic(b.bootstrap, topic_name, 1)
    txn_id = f"tx-{uuid.uuid4()}"
    p = txn_producer(b.bootstrap, txn_id)
    p.begin_transaction()
    produce(p, topic_name, "v", 2, partitions=1)
    p.commit_transaction(OP_TIMEOUT)
    b.stop()
    dumps = []
    for directory in sorted(b.data_dir.glob("__transaction_state-*")):
        segment = directory / "00000000000000000000.log"
        if segment.stat().st_size:
            r = javautil.run_class("org.apache.kafka.tools.DumpLogSegments", "--files", str(segment),
                                   "--transaction-log-decoder", "--print-data-log")
            assert r.returncode == 0, r.describe()
            dumps.append(r.stdout)
    states = [line.split('"transactionStatus":"')[1].split('"')[0]
              for line in "".join(dumps).splitlines() if txn_id in line]
    assert states == ["Empty", "Ongoing", "PrepareCommit", "CompleteCommit"], dumps
    r = javautil.run_class("org.apache.kafka.tools.DumpLogSegments", "--files",
                           str(b.data_dir / f"{topic_name}-0" / "00000000000000000000.log"), "--print-data-log")
    assert "endTxnMarker: COMMIT coordinatorEpoch: 0" in r.stdout, r.describe()
    # An aborted transaction (offsets 3-4, its marker at 5) and one left open (6), then a
    # clean stop: Kafka reads the producer state snapshot and the transaction index.
    b.start()
    aborted = txn_producer(b.bootstrap)
    aborted.begin_transaction()
    produce(aborted, topic_name, "a", 2, partitions=1)
    aborted.abort_transaction(OP_TIMEOUT)
    still_open = txn_producer(b.bootstrap)
    still_open.begin_transaction()
    produce(still_open, topic_name, "o", 1, partitions=1)
    b.stop()
    tdir = b.data_dir / f"{topic_name}-0"
    (txn_index,) = tdir.glob("*.txnindex")
    r = javautil.run_class("org.apache.kafka.tools.DumpLogSegments", "--files", str(txn_index))
    assert r.returncode == 0 and "firstOffset: 3 lastOffset: 5" in r.stdout, r.describe()
    (snap,) = tdir.glob("*.snapshot")
    assert snap.name == "00000000000000000007.snapshot"  # at the log end offset
    r = javautil.run_class("org.apache.kafka.tools.DumpLogSegments", "--files", str(snap))
    assert r.returncode == 0 and r.stdout.count("producerId:") == 3, r.describe()
    assert "currentTxnFirstOffset: OptionalLong[6]" in r.stdout, r.describe()


def kafka_transactions(bootstrap: str, *args: str) -> str:
    r = javautil.run_class("org.apache.kafka.tools.TransactionsCommand", "--bootstrap-server", bootstrap, *args,
                           timeout=90)
    assert r.returncode == 0, r.describe()
    return r.stdout


def test_kafka_transactions_tool(broker, topic_name):
    """kafka-transactions list, describe, describe-producers and abort on an open transaction."""
    javautil.build()
    create_topic(broker.bootstrap, topic_name, 1)
    txn_id = f"tx-{uuid.uuid4()}"
    p = txn_producer(broker.bootstrap, txn_id)
    p.begin_transaction()
    produce(p, topic_name, "open", 3, partitions=1)
    listed = [line.split() for line in kafka_transactions(broker.bootstrap, "list").splitlines()]
    mine = [row for row in listed if row[:1] == [txn_id]]
    assert len(mine) == 1 and mine[0][1] == "1" and mine[0][3] == "Ongoing", listed  # id, coordinator, pid, state
    described = kafka_transactions(broker.bootstrap, "describe", "--transactional-id", txn_id)
    assert "Ongoing" in described and f"{topic_name}-0" in described, described
    producers = kafka_transactions(broker.bootstrap, "describe-producers", "--topic", topic_name, "--partition", "0")
    rows = [line.split() for line in producers.splitlines()[1:] if line.strip()]
    assert len(rows) == 1 and rows[0][-1] == "0", producers  # CurrentTransactionStartOffset
    # An operator ends the transaction on the partition (a hanging one, in real life).
    kafka_transactions(broker.bootstrap, "abort", "--topic", topic_name, "--partition", "0", "--start-offset", "0")
    wait_until(lambda: read_values(broker.bootstrap, topic_name, "read_committed", 1) == [] and
               Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "x", "isolation.level": "read_committed"})
               .get_watermark_offsets(TopicPartition(topic_name, 0))[1] == 4, what="the ABORT marker")


def test_kafka_transactions_find_hanging_and_abort(broker_factory, topic_name):
    """kafka-transactions find-hanging on a healthy broker finds nothing; once the
    coordinator has lost an open transaction (its __transaction_state deleted while the
    broker was down, what KIP-890 prevents and older brokers' bugs caused), find-hanging
    names it, and `abort` with what it printed unblocks read_committed consumers."""
    javautil.build()
    b = broker_factory().start()
    create_topic(b.bootstrap, topic_name, 1)
    p = txn_producer(b.bootstrap)
    p.begin_transaction()
    produce(p, topic_name, "open", 3, partitions=1)

    def hanging() -> list[list[str]]:
        out = kafka_transactions(b.bootstrap, "find-hanging", "--broker-id", "1", "--max-transaction-timeout", "0")
        return [line.split() for line in out.splitlines()[1:] if line.strip()]
    assert hanging() == []  # open, but its coordinator knows it
    del p
    b.stop()
    for d in b.data_dir.glob("__transaction_state-*"):  # every partition of it
        shutil.rmtree(d)
    b.start()
    rows = hanging()
    assert [(r[0], r[1], r[5]) for r in rows] == [(topic_name, "0", "0")], rows  # topic, partition, start offset
    assert read_values(b.bootstrap, topic_name, "read_committed", 1) == []  # stuck at the last stable offset 0
    kafka_transactions(b.bootstrap, "abort", "--topic", topic_name, "--partition", "0", "--start-offset", "0")
    wait_until(lambda: hanging() == [], what="the hanging transaction's abort")
    fresh = txn_producer(b.bootstrap)
    fresh.begin_transaction()
    produce(fresh, topic_name, "after", 2, partitions=1)
    fresh.commit_transaction(OP_TIMEOUT)
    assert read_values(b.bootstrap, topic_name, "read_committed", 1) == ["after0", "after1"]


def test_consume_transform_produce_exactly_once_across_broker_kills(broker_factory, topic_name):
    """A copier commits its output and its input offsets in one transaction; the broker is
    killed (-9) in the middle of a transaction and right after a commit, several times, and a
    new copier with the same transactional.id takes over each time. The output holds every
    input record exactly once, in order."""
    b = broker_factory().start()
    src, dst, group, txn_id = f"{topic_name}-in", f"{topic_name}-out", f"g-{uuid.uuid4()}", f"tx-{uuid.uuid4()}"
    create_topic(b.bootstrap, src, 2)
    create_topic(b.bootstrap, dst, 2)
    total = 120
    plain = Producer({"bootstrap.servers": b.bootstrap, "acks": "all"})
    produce(plain, src, "v", total)
    copied = 0
    for cycle in range(4):
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                      "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                      "session.timeout.ms": 6000})
        p = txn_producer(b.bootstrap, txn_id)  # fences the previous copier, aborting its open transaction
        c.subscribe([src])
        batches = 0
        deadline = time.monotonic() + OP_TIMEOUT * 2
        while batches < 3 and time.monotonic() < deadline:
            msgs = [m for m in c.consume(9, 0.5) if not m.error()]
            if not msgs:
                if copied >= total:
                    break
                continue
            p.begin_transaction()
            for m in msgs:
                p.produce(dst, key=m.key(), value=m.value(), partition=m.partition())
            p.flush(OP_TIMEOUT)
            if cycle % 2 == 0 and batches == 2:
                b.kill()  # in the middle of a transaction: its output must never be seen
                break
            p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), OP_TIMEOUT)
            p.commit_transaction(OP_TIMEOUT)
            copied += len(msgs)
            batches += 1
        if b.alive():
            b.kill()  # right after a commit: it must survive
        del p
        b.start()
        c.close()
    # The last copier drains what is left.
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    p = txn_producer(b.bootstrap, txn_id)
    c.subscribe([src])
    deadline = time.monotonic() + OP_TIMEOUT * 3
    src_partitions = [TopicPartition(src, 0), TopicPartition(src, 1)]
    while sum(max(tp.offset, 0) for tp in c.committed(src_partitions, OP_TIMEOUT)) < total:
        assert time.monotonic() < deadline, "the last copier did not finish"
        msgs = [m for m in c.consume(50, 0.5) if not m.error()]
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce(dst, key=m.key(), value=m.value(), partition=m.partition())
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), OP_TIMEOUT)
        p.commit_transaction(OP_TIMEOUT)
    c.close()
    assert read_values(b.bootstrap, dst, "read_committed") == expected("v", n=total)


@pytest.mark.parametrize("bounce", ["broker", "copier"])
def test_kafka_transactional_message_copier_across_kills(broker_factory, topic_name, tmp_path, bounce):
    """Kafka's own TransactionalMessageCopier (kafka-tools, the Java 4.4 clients on
    transaction version 2), as Kafka's transactions system test runs it: one copier per
    input partition, small batches so each transaction has several requests in flight,
    random aborts, offsets committed in each transaction. At a quarter, half and three
    quarters of the copy, the broker is killed (-9) and restarted, or (bounce=copier) one
    copier is killed -9 and a new one with the same transactional.id takes over from the
    committed offsets. (The new copier's read_committed consumer asks for its position
    before its producer fences the old one, so it waits, on UNSTABLE_OFFSET_COMMIT, until
    the coordinator aborts the dead copier's transaction on its timeout; Kafka's system
    test relies on the same, with a transaction timeout below the consumer's 60-s API
    timeout.) Afterwards a read_committed consumer finds every input
    record in the output exactly once, in input order per partition."""
    javautil.build()
    b = broker_factory(["--override", "transaction.abort.timed.out.transaction.cleanup.interval.ms=500"]).start()
    src, dst, group = f"{topic_name}-in", f"{topic_name}-out", f"copier-{uuid.uuid4()}"
    create_topic(b.bootstrap, src, 2)
    create_topic(b.bootstrap, dst, 2)
    total = 20000
    plain = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
    produce(plain, src, "v", total)
    logs = [tmp_path / f"copier-{i}.log" for i in range(2)]

    def start_copier(partition: int):
        out = open(logs[partition], "a")
        cmd = ["java", *javautil.JVM_OPTS, "-cp", javautil.classpath(),
               "org.apache.kafka.tools.TransactionalMessageCopier",
               "--broker-list", b.bootstrap, "--input-topic", src, "--input-partition", str(partition),
               "--output-topic", dst, "--transactional-id", f"copier-{topic_name}-{partition}",
               "--consumer-group", group, "--transaction-size", "20", "--transaction-timeout", "5000",
               "--enable-random-aborts"]
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=javautil.REPO_ROOT), out

    share = total // 2

    def copied(partition: int) -> int:
        """Records of the partition committed so far: its share less what its copier's last status line says remains."""
        lines = [x for x in logs[partition].read_text().splitlines() if '"remaining"' in x]
        return share - (json.loads(lines[-1])["remaining"] if lines else share)

    copiers = [start_copier(p) for p in range(2)]
    try:
        for quarter in (1, 2, 3):
            victim = quarter % 2
            wait_until(lambda: copied(victim) >= quarter * share // 4, timeout=120,
                       what=f"{quarter}/4 of partition {victim} copied")
            assert copiers[victim][0].poll() is None, "the copier finished before the kill"
            if bounce == "broker":
                b.kill()  # mid-copy: transactions open, offsets and markers in flight
                b.start()
            else:
                proc, out = copiers[victim]
                proc.kill()  # mid-transaction: the coordinator aborts it on its timeout
                proc.wait()
                out.close()
                copiers[victim] = start_copier(victim)
        for proc, _out in copiers:
            proc.wait(timeout=240)
    finally:
        for proc, out in copiers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
    assert [proc.returncode for proc, _ in copiers] == [0, 0], "\n".join(log.read_text()[-4000:] for log in logs)
    assert read_values(b.bootstrap, dst, "read_committed") == expected("v", n=total)
