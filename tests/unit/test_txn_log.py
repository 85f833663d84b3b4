"""The transactional side of the log and the replica manager: open
transactions bound the last stable offset, markers close them, aborted
transactions are reported to read_committed fetches, a producer fenced by a
marker's epoch is refused, and all of it is rebuilt from the segments after
a crash."""

from __future__ import annotations

import pytest
from batchgen import Record, build_batch

from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.node import Node
from fluxmq.replication.partition import READ_COMMITTED, READ_UNCOMMITTED
from fluxmq.replication.replica_manager import FetchRead
from fluxmq.util.clock import ManualClock

TRANSACTIONAL = 0x10
PID = 7


@pytest.fixture
def clock():
    return ManualClock()


def start(tmp_path, clock) -> Node:
    return Node(BrokerConfig(), str(tmp_path / "data"), clock).startup()


@pytest.fixture
def node(tmp_path, clock):
    n = start(tmp_path, clock)
    n.controller.create_topic("t", 1)
    yield n
    n.logs._sync_executor.shutdown(wait=False)


def txn_batch(clock, seq, n=1, pid=PID, epoch=0, transactional=True) -> bytes:
    return build_batch([Record(value=b"v%d" % i) for i in range(n)], first_timestamp=clock.milliseconds(),
                       producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                       attributes=TRANSACTIONAL if transactional else 0)[0]


def append(node, records, verify=None):
    node.replica_manager.txn_verifier = verify
    (result,) = node.replica_manager.append_records([("t", 0, records)], 1, 30000, transactional_id="tx")
    return result


def marker(node, commit, pid=PID, epoch=0, coordinator_epoch=0):
    return node.replica_manager.append_markers([("t", 0, pid, epoch, commit, coordinator_epoch)])[0]


def fetch(node, isolation, offset=0):
    (r,) = node.replica_manager.fetch_messages([FetchRead("t", 0, offset, 1 << 20)], isolation, 0, 0, 1 << 20)
    return r


def test_open_transactions_hold_the_last_stable_offset(node, clock):
    p = node.replica_manager.partition("t", 0)
    assert append(node, txn_batch(clock, 0, 2)).base_offset == 0  # offsets 0-1, open
    other = append(node, txn_batch(clock, 0, 1, pid=PID + 1))      # offset 2, another producer
    assert other.error == ErrorCode.NONE
    assert (p.high_watermark, p.last_stable_offset) == (3, 0)
    assert fetch(node, READ_COMMITTED).records == b""
    assert marker(node, commit=False) == ErrorCode.NONE              # offset 3 aborts PID's
    assert p.last_stable_offset == 2                                 # the other one is still open
    assert marker(node, commit=True, pid=PID + 1) == ErrorCode.NONE  # offset 4
    assert (p.high_watermark, p.last_stable_offset) == (5, 5)
    r = fetch(node, READ_COMMITTED)
    assert r.aborted == [(PID, 0)] and len(r.records) > 0
    assert fetch(node, READ_UNCOMMITTED).aborted is None
    assert fetch(node, READ_COMMITTED, offset=4).aborted == []  # past the aborted range


def test_a_producer_with_an_open_transaction_must_write_transactionally(node, clock):
    append(node, txn_batch(clock, 0))
    r = append(node, txn_batch(clock, 1, transactional=False))
    assert r.error == ErrorCode.INVALID_TXN_STATE


def test_the_verifier_is_asked_for_the_first_batch_of_a_transaction_only(node, clock):
    asked = []

    def verify(txn_id, pid, epoch, topic, partition):
        asked.append((txn_id, pid, epoch, topic, partition))
        if len(asked) > 1:
            raise KafkaError(ErrorCode.INVALID_TXN_STATE, "not in the transaction")
    assert append(node, txn_batch(clock, 0), verify).error == ErrorCode.NONE
    assert append(node, txn_batch(clock, 1), verify).error == ErrorCode.NONE  # already open here: not asked
    assert asked == [("tx", PID, 0, "t", 0)]
    marker(node, commit=True)
    assert append(node, txn_batch(clock, 2), verify).error == ErrorCode.INVALID_TXN_STATE


def test_a_marker_with_a_newer_epoch_fences_the_producer(node, clock):
    append(node, txn_batch(clock, 0))
    assert marker(node, commit=False, epoch=1) == ErrorCode.NONE
    assert append(node, txn_batch(clock, 1, epoch=0)).error == ErrorCode.INVALID_PRODUCER_EPOCH
    assert marker(node, commit=True, epoch=0) == ErrorCode.INVALID_PRODUCER_EPOCH
    # The new epoch starts at sequence 0.
    assert append(node, txn_batch(clock, 5, epoch=1)).error == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert append(node, txn_batch(clock, 0, epoch=1)).error == ErrorCode.NONE


def test_transaction_state_is_rebuilt_after_a_crash(tmp_path, clock, node):
    append(node, txn_batch(clock, 0, 2))       # 0-1 aborted
    marker(node, commit=False)                 # 2
    append(node, txn_batch(clock, 2, 1))       # 3 committed
    marker(node, commit=True, coordinator_epoch=7)  # 4
    append(node, txn_batch(clock, 3, 1))       # 5 still open
    for lg in list(node.logs.all_logs()):
        lg.close(clean=False)
    again = start(tmp_path, clock)
    try:
        p = again.replica_manager.partition("t", 0)
        assert (p.high_watermark, p.last_stable_offset) == (6, 5)
        assert fetch(again, READ_COMMITTED).aborted == [(PID, 0)]
        # DescribeProducers' coordinator epoch is the last marker's, read back from it.
        assert p.log.producer_state.producers[PID].coordinator_epoch == 7
        assert marker(again, commit=True) == ErrorCode.NONE
        assert p.last_stable_offset == 7
    finally:
        again.logs._sync_executor.shutdown(wait=False)


def test_retention_forgets_aborted_transactions_below_the_log_start(node, clock):
    append(node, txn_batch(clock, 0, 2))
    marker(node, commit=False)
    p = node.replica_manager.partition("t", 0)
    assert p.log.aborted_transactions(0, 10) != []
    p.delete_records_before(3)
    assert p.log.aborted_transactions(0, 10) == []
