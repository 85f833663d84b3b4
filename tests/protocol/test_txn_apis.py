"""The transaction APIs over the raw protocol (kio bodies, tests/wire.py):
FindCoordinator, InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
TxnOffsetCommit, EndTxn, transactional Produce, and what read_committed
sees through Fetch, ListOffsets and OffsetFetch. Every assertion here was
first run against Apache Kafka 4.4 (pytest --reference-bootstrap)."""

from __future__ import annotations

import time
import uuid

import pytest
from batchgen import batch_of, parse_batches
from wire import connect

PRODUCE, FETCH, LIST_OFFSETS, FIND_COORDINATOR, OFFSET_FETCH = 0, 1, 2, 10, 9
INIT_PRODUCER_ID, ADD_PARTITIONS, ADD_OFFSETS, END_TXN, TXN_OFFSET_COMMIT, CREATE_TOPICS = 22, 24, 25, 26, 28, 19
TRANSACTIONAL, CONTROL = 0x10, 0x20
NONE, INVALID_PRODUCER_EPOCH, INVALID_PRODUCER_ID_MAPPING, INVALID_TXN_STATE = 0, 47, 49, 48
CONCURRENT_TRANSACTIONS, TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 51, 53
UNSTABLE_OFFSET_COMMIT, PRODUCER_FENCED, UNKNOWN_TOPIC_OR_PARTITION, OPERATION_NOT_ATTEMPTED = 88, 90, 3, 55
TRANSACTION_ABORTABLE = 120
READ_UNCOMMITTED, READ_COMMITTED = 0, 1
RETRIABLE = (14, 15, 16)  # COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR


@pytest.fixture
def wire(broker):
    with connect(broker, timeout=30.0) as w:
        yield w


def code(x) -> int:
    return int(getattr(x, "error_code", x))


def create_topic(w, name, partitions=1):
    resp = w.request(CREATE_TOPICS, 7, {"topics": [{"name": name, "num_partitions": partitions,
                                                    "replication_factor": -1, "assignments": [], "configs": []}],
                                        "timeout": 20000, "validate_only": False})
    assert code(resp.topics[0]) == NONE
    wait_for(lambda: all(list_offsets(w, name, READ_UNCOMMITTED, i)[0] == NONE for i in range(partitions)),
             "the new topic's leaders")


class Txn:
    """One transactional producer spoken by hand."""

    def __init__(self, w, transactional_id=None, timeout_ms=60000):
        self.w = w
        self.id = transactional_id or f"tx-{uuid.uuid4()}"
        self.timeout_ms = timeout_ms
        self.seq: dict = {}
        self.find_coordinator()
        self.init()

    def find_coordinator(self):
        for _ in range(100):  # Kafka answers COORDINATOR_NOT_AVAILABLE while it creates __transaction_state
            resp = self.w.request(FIND_COORDINATOR, 4, {"key_type": 1, "coordinator_keys": [self.id]})
            if code(resp.coordinators[0]) not in RETRIABLE:
                break
            time.sleep(0.1)
        assert code(resp.coordinators[0]) == NONE, resp

    def init(self, expect=NONE):
        for _ in range(200):  # CONCURRENT_TRANSACTIONS while an earlier transaction is aborted
            resp = self.w.request(INIT_PRODUCER_ID, 5, {"transactional_id": self.id,
                                                         "transaction_timeout": self.timeout_ms,
                                                         "producer_id": -1, "producer_epoch": -1})
            if code(resp) not in (CONCURRENT_TRANSACTIONS, *RETRIABLE):
                break
            time.sleep(0.1)
        assert code(resp) == expect, resp
        self.pid, self.epoch = resp.producer_id, resp.producer_epoch
        self.seq.clear()
        return resp

    def add(self, topic, partitions=(0,), version=3):
        """AddPartitionsToTxn, retried while the previous transaction completes, as clients do."""
        for _ in range(200):
            resp = self.w.request(ADD_PARTITIONS, version, {
                "v3_and_below_transactional_id": self.id, "v3_and_below_producer_id": self.pid,
                "v3_and_below_producer_epoch": self.epoch,
                "v3_and_below_topics": [{"name": topic, "partitions": list(partitions)}]})
            out = [(p.partition_index, int(p.partition_error_code))
                   for t in resp.results_by_topic_v3_and_below for p in t.results_by_partition]
            if any(code != CONCURRENT_TRANSACTIONS for _i, code in out):
                return out
            time.sleep(0.05)
        return out

    def produce(self, topic, values, partition=0, transactional_id="self", version=9):
        seq = self.seq.get((topic, partition), 0)
        records = batch_of(values, producer_id=self.pid, producer_epoch=self.epoch, base_sequence=seq,
                           attributes=TRANSACTIONAL)
        txn_id = self.id if transactional_id == "self" else transactional_id
        resp = self.w.request(PRODUCE, version, {"transactional_id": txn_id, "acks": -1, "timeout": 10000,
                                                 "topic_data": [{"name": topic, "partition_data": [
                                                     {"index": partition, "records": records}]}]})
        p = resp.responses[0].partition_responses[0]
        if code(p) == NONE:
            self.seq[(topic, partition)] = seq + len(values)
        return p

    def add_offsets(self, group):
        return code(self.w.request(ADD_OFFSETS, 3, {"transactional_id": self.id, "producer_id": self.pid,
                                                    "producer_epoch": self.epoch, "group_id": group}))

    def commit_offsets(self, group, topic, offset, partition=0, version=3):
        """TxnOffsetCommit, retried while the group coordinator loads (Kafka answers
        NOT_COORDINATOR for a moment after FindCoordinator first names it)."""
        for _ in range(100):
            error = self._commit_offsets(group, topic, offset, partition, version)
            if error not in RETRIABLE:
                return error
            time.sleep(0.1)
        return error

    def _commit_offsets(self, group, topic, offset, partition, version):
        resp = self.w.request(TXN_OFFSET_COMMIT, version, {
            "transactional_id": self.id, "group_id": group, "producer_id": self.pid,
            "producer_epoch": self.epoch, "generation_id": -1, "member_id": "", "group_instance_id": None,
            "topics": [{"name": topic, "partitions": [{"partition_index": partition, "committed_offset": offset,
                                                       "committed_leader_epoch": -1,
                                                       "committed_metadata": ""}]}]})
        return int(resp.topics[0].partitions[0].error_code)

    def end(self, commit, epoch=None):
        return code(self.w.request(END_TXN, 3, {"transactional_id": self.id, "producer_id": self.pid,
                                                "producer_epoch": self.epoch if epoch is None else epoch,
                                                "committed": commit}))


def fetch(w, topic, isolation, partition=0, offset=0):
    resp = w.request(FETCH, 12, {
        "replica_id": -1, "max_wait": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": isolation,
        "session_id": 0, "session_epoch": -1, "rack_id": "", "forgotten_topics_data": [],
        "topics": [{"topic": topic, "partitions": [
            {"partition": partition, "current_leader_epoch": -1, "fetch_offset": offset, "last_fetched_epoch": -1,
             "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]})
    return resp.responses[0].partitions[0]


def list_offsets(w, topic, isolation, partition=0) -> tuple[int, int]:
    """(error, latest offset) for the isolation level."""
    resp = w.request(LIST_OFFSETS, 7, {"replica_id": -1, "isolation_level": isolation, "topics": [
        {"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": -1,
                                        "timestamp": -1}]}]})
    p = resp.topics[0].partitions[0]
    return code(p), p.offset


def latest(w, topic, isolation, partition=0) -> int:
    error, offset = list_offsets(w, topic, isolation, partition)
    assert error == NONE
    return offset


def wait_for(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def wait_for_group_coordinator(w, group):
    wait_for(lambda: code(w.request(FIND_COORDINATOR, 4, {"key_type": 0, "coordinator_keys": [group]})
                          .coordinators[0]) == NONE, "the group coordinator")


def offset_fetch(w, group, topic, require_stable) -> tuple[int, int]:
    """(committed offset, error) of the group's partition 0 of `topic`."""
    resp = w.request(OFFSET_FETCH, 7, {"group_id": group, "require_stable": require_stable,
                                       "topics": [{"name": topic, "partition_indexes": [0]}]})
    p = resp.topics[0].partitions[0]
    return p.committed_offset, int(p.error_code)


def test_commit_and_abort_as_read_committed_sees_them(wire, topic_name):
    create_topic(wire, topic_name)
    tx = Txn(wire)
    assert tx.add(topic_name) == [(0, NONE)]
    assert code(tx.produce(topic_name, [b"a1", b"a2"])) == NONE  # offsets 0-1
    # Open transaction: the last stable offset stays at its first offset.
    assert (latest(wire, topic_name, READ_UNCOMMITTED), latest(wire, topic_name, READ_COMMITTED)) == (2, 0)
    p = fetch(wire, topic_name, READ_COMMITTED)
    assert (p.high_watermark, p.last_stable_offset, parse_batches(p.records)) == (2, 0, [])
    assert tx.end(commit=False) == NONE
    wait_for(lambda: latest(wire, topic_name, READ_COMMITTED) == 3, "the ABORT marker")  # marker at offset 2
    assert tx.add(topic_name) == [(0, NONE)]
    assert code(tx.produce(topic_name, [b"c1"])) == NONE  # offset 3
    assert tx.end(commit=True) == NONE
    wait_for(lambda: latest(wire, topic_name, READ_COMMITTED) == 5, "the COMMIT marker")
    committed = fetch(wire, topic_name, READ_COMMITTED)
    assert (committed.high_watermark, committed.last_stable_offset) == (5, 5)
    # read_committed learns which producer's records from which offset were aborted.
    assert [(a.producer_id, a.first_offset) for a in committed.aborted_transactions] == [(tx.pid, 0)]
    batches = parse_batches(committed.records)
    assert [(b.base_offset, bool(b.attributes & CONTROL)) for b in batches] == [
        (0, False), (2, True), (3, False), (4, True)]
    assert all(b.attributes & TRANSACTIONAL and b.producer_id == tx.pid for b in batches)
    uncommitted = fetch(wire, topic_name, READ_UNCOMMITTED)
    assert uncommitted.aborted_transactions is None and uncommitted.last_stable_offset == 5
    # From past the aborted transaction on, none is reported.
    assert list(fetch(wire, topic_name, READ_COMMITTED, offset=3).aborted_transactions) == []


def test_end_txn_state_checks(wire, topic_name):
    create_topic(wire, topic_name)
    tx = Txn(wire)
    assert tx.end(commit=True) == INVALID_TXN_STATE  # nothing started
    assert tx.add(topic_name) == [(0, NONE)]
    assert tx.end(commit=True, epoch=tx.epoch + 1) == PRODUCER_FENCED
    assert tx.end(commit=True) == NONE
    wait_for(lambda: tx.end(commit=True) == NONE, "CompleteCommit")  # a retried commit succeeds
    assert tx.end(commit=False) == INVALID_TXN_STATE


def test_transactional_produce_needs_the_partition_added(wire, topic_name):
    create_topic(wire, topic_name, 2)
    tx = Txn(wire)
    # KIP-890 part 1: before AddPartitionsToTxn the partition is not in the transaction.
    assert code(tx.produce(topic_name, [b"x"])) == INVALID_TXN_STATE
    assert code(tx.produce(topic_name, [b"x"], version=11)) == TRANSACTION_ABORTABLE
    assert tx.add(topic_name, [0]) == [(0, NONE)]
    assert code(tx.produce(topic_name, [b"x"], partition=1)) == INVALID_TXN_STATE
    assert code(tx.produce(topic_name, [b"x"])) == NONE
    # A transactional batch without a transactional id fails the whole request.
    assert code(tx.produce(topic_name, [b"y"], transactional_id=None)) == TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert tx.end(commit=True) == NONE


def test_add_partitions_with_an_unknown_partition_adds_none(wire, topic_name):
    create_topic(wire, topic_name, 1)
    tx = Txn(wire)
    assert sorted(tx.add(topic_name, [0, 7])) == [(0, OPERATION_NOT_ATTEMPTED), (7, UNKNOWN_TOPIC_OR_PARTITION)]
    assert code(tx.produce(topic_name, [b"x"])) == INVALID_TXN_STATE


def test_a_new_incarnation_fences_the_old_and_aborts_its_transaction(wire, topic_name):
    create_topic(wire, topic_name)
    old = Txn(wire)
    assert old.add(topic_name) == [(0, NONE)]
    assert code(old.produce(topic_name, [b"zombie"])) == NONE
    new = Txn(wire, old.id)  # retries while the old transaction is aborted
    assert (new.pid, new.epoch) == (old.pid, old.epoch + 2)  # one bump to fence, one for the new producer
    assert old.add(topic_name) == [(0, PRODUCER_FENCED)]
    assert old.end(commit=True) == PRODUCER_FENCED
    assert code(old.produce(topic_name, [b"late"])) == INVALID_PRODUCER_EPOCH
    wait_for(lambda: latest(wire, topic_name, READ_COMMITTED) == 2, "the ABORT marker")
    p = fetch(wire, topic_name, READ_COMMITTED)
    assert [(a.producer_id, a.first_offset) for a in p.aborted_transactions] == [(old.pid, 0)]
    # The v0 error for a fenced producer is INVALID_PRODUCER_EPOCH.
    assert old.add(topic_name, version=1) == [(0, INVALID_PRODUCER_EPOCH)]
    unknown = Txn(wire)
    unknown.pid += 1000
    assert unknown.add(topic_name) == [(0, INVALID_PRODUCER_ID_MAPPING)]


def test_txn_offset_commit_is_pending_until_the_commit(wire, topic_name):
    create_topic(wire, topic_name)
    group = f"g-{uuid.uuid4()}"
    wait_for_group_coordinator(wire, group)
    tx = Txn(wire)
    assert tx.commit_offsets(group, topic_name, 5) == INVALID_TXN_STATE  # AddOffsetsToTxn first
    assert tx.add_offsets(group) == NONE
    assert tx.commit_offsets(group, topic_name, 5) == NONE

    def fetched(require_stable):
        return offset_fetch(wire, group, topic_name, require_stable)
    assert fetched(True) == (-1, UNSTABLE_OFFSET_COMMIT)
    assert fetched(False) == (-1, NONE)
    assert tx.end(commit=True) == NONE
    wait_for(lambda: fetched(True) == (5, NONE), "the committed offset")
    # An aborted transactional commit leaves the committed offset as it was.
    wait_for(lambda: tx.add_offsets(group) != CONCURRENT_TRANSACTIONS, "the commit to complete")
    assert tx.commit_offsets(group, topic_name, 9) == NONE
    assert tx.end(commit=False) == NONE
    wait_for(lambda: fetched(True) == (5, NONE), "the abort")


# ------------------------------------------- transaction version 2 (KIP-890 part 2)
API_VERSIONS = 18


def end_v5(tx, commit, epoch=None):
    """EndTxn v5: (error, producer id, epoch) of the answer."""
    resp = tx.w.request(END_TXN, 5, {"transactional_id": tx.id, "producer_id": tx.pid,
                                     "producer_epoch": tx.epoch if epoch is None else epoch, "committed": commit})
    return code(resp), resp.producer_id, resp.producer_epoch


def test_api_versions_finalizes_transaction_version_2(wire):
    resp = wire.request(API_VERSIONS, 4, {"client_software_name": "fluxmq-tests", "client_software_version": "1"})
    supported = {f.name: (f.min_version, f.max_version) for f in resp.supported_features}
    finalized = {f.name: (f.min_version_level, f.max_version_level) for f in resp.finalized_features}
    assert supported["transaction.version"] == (0, 2)
    assert finalized["transaction.version"] == (2, 2)
    assert resp.finalized_features_epoch >= 0


def test_tv2_produce_adds_the_partition_and_end_txn_bumps_the_epoch(wire, topic_name):
    create_topic(wire, topic_name, 2)
    tx = Txn(wire)
    epoch = tx.epoch
    # Produce v12: no AddPartitionsToTxn, the partition leader adds the partition.
    assert code(tx.produce(topic_name, [b"a1", b"a2"], version=12)) == NONE
    assert code(tx.produce(topic_name, [b"a3"], partition=1, version=12)) == NONE
    assert latest(wire, topic_name, READ_COMMITTED) == 0  # the transaction is open
    assert end_v5(tx, commit=True) == (NONE, tx.pid, epoch + 1)
    # The retry of that EndTxn gets the same answer once the transaction is complete.
    wait_for(lambda: end_v5(tx, commit=True) == (NONE, tx.pid, epoch + 1), "CompleteCommit")
    # A late batch of the finished transaction is fenced by the bumped epoch.
    assert code(tx.produce(topic_name, [b"late"], version=12)) == INVALID_PRODUCER_EPOCH
    # The next transaction runs at the new epoch, its sequences from 0.
    tx.epoch = epoch + 1
    tx.seq.clear()
    assert code(tx.produce(topic_name, [b"b1"], version=12)) == NONE
    assert end_v5(tx, commit=False) == (NONE, tx.pid, epoch + 2)
    wait_for(lambda: latest(wire, topic_name, READ_COMMITTED) == 5, "the ABORT marker")
    p = fetch(wire, topic_name, READ_COMMITTED)
    markers = [(b.base_offset, b.producer_epoch) for b in parse_batches(p.records) if b.attributes & CONTROL]
    assert markers == [(2, epoch + 1), (4, epoch + 2)]  # each marker carries its bumped epoch
    assert [(a.producer_id, a.first_offset) for a in p.aborted_transactions] == [(tx.pid, 3)]


def test_tv2_end_txn_checks(wire, topic_name):
    create_topic(wire, topic_name)
    tx = Txn(wire)
    assert end_v5(tx, commit=True) == (INVALID_TXN_STATE, -1, -1)  # nothing started
    assert end_v5(tx, commit=True, epoch=tx.epoch + 1) == (PRODUCER_FENCED, -1, -1)
    # Aborting a transaction that never started is allowed, and bumps the epoch.
    assert end_v5(tx, commit=False) == (NONE, tx.pid, tx.epoch + 1)


def test_tv2_txn_offset_commit_adds_the_offsets_partition(wire, topic_name):
    create_topic(wire, topic_name)
    group = f"g-{uuid.uuid4()}"
    wait_for_group_coordinator(wire, group)
    tx = Txn(wire)
    # v5 needs no AddOffsetsToTxn; v4 still does (and knows TRANSACTION_ABORTABLE).
    assert tx.commit_offsets(group, topic_name, 3, version=4) == TRANSACTION_ABORTABLE
    assert tx.commit_offsets(group, topic_name, 3, version=5) == NONE
    assert end_v5(tx, commit=True) == (NONE, tx.pid, tx.epoch + 1)
    wait_for(lambda: offset_fetch(wire, group, topic_name, True) == (3, NONE), "the committed offset")


def test_tv2_pipelined_produces_keep_their_order_while_a_partition_is_added(wire, topic_name):
    """Two produce requests sent back to back: the first adds partition 1 to the
    transaction (the broker waits for that add), the second goes to partition 0
    only, which is already in it. The second must not overtake the first, whose
    partition 0 batch comes before it in sequence."""
    create_topic(wire, topic_name, 2)
    tx = Txn(wire)
    assert code(tx.produce(topic_name, [b"v0"], version=12)) == NONE  # partition 0 joins the transaction

    def produce_request(batches):
        return {"transactional_id": tx.id, "acks": -1, "timeout": 10000, "topic_data": [
            {"name": topic_name, "partition_data": [
                {"index": p, "records": batch_of(values, producer_id=tx.pid, producer_epoch=tx.epoch,
                                                 base_sequence=seq, attributes=TRANSACTIONAL)}
                for p, seq, values in batches]}]}
    first = wire.send(PRODUCE, 12, produce_request([(0, 1, [b"v1"]), (1, 0, [b"w0"])]))
    second = wire.send(PRODUCE, 12, produce_request([(0, 2, [b"v2"])]))
    answers = [wire.receive(PRODUCE, 12, first), wire.receive(PRODUCE, 12, second)]
    assert [code(p) for a in answers for t in a.responses for p in t.partition_responses] == [NONE, NONE, NONE]
    p = fetch(wire, topic_name, READ_UNCOMMITTED)
    assert [r.value for b in parse_batches(p.records) for r in b.records] == [b"v0", b"v1", b"v2"]
    assert end_v5(tx, commit=True)[0] == NONE
