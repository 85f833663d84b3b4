"""The transaction coordinator's state machine (fluxmq/txn/coordinator.py)
with a ManualClock and no I/O: every record is encoded to Kafka's
__transaction_state format and decoded back before it is replayed, markers
are "written" by the test, and a second coordinator loads the log the first
wrote."""

from __future__ import annotations

import pytest

from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.txn import records as txn_records
from fluxmq.txn.coordinator import TransactionCoordinator, TxnRecord
from fluxmq.txn.metadata import MAX_EPOCH, TxnState
from fluxmq.util.clock import ManualClock

S = TxnState
E = ErrorCode


class Ids:
    def __init__(self):
        self.next = 100

    def generate(self) -> int:
        self.next += 1
        return self.next - 1


class Harness:
    def __init__(self, **config):
        self.clock = ManualClock()
        cfg = BrokerConfig()
        for key, value in config.items():
            cfg.set(key.replace("_", "."), value)
        self.config = cfg
        self.ids = Ids()
        self.markers: list = []  # the metadata of every write_markers call
        self.log: list[TxnRecord] = []
        self.coord = self.new_coordinator()

    def new_coordinator(self) -> TransactionCoordinator:
        c = TransactionCoordinator(None, self.config, self.clock, self.ids, self.markers.append)
        c.active = True
        return c

    def apply(self, result):
        for r in result.records:
            key, value = txn_records.encode(r.transactional_id, r.value)
            decoded = TxnRecord(*txn_records.decode(key, value))
            self.log.append(decoded)
            self.coord.replay(decoded)
        if result.on_append:
            result.on_append(None)
        return result.response

    def init(self, txn_id="t", timeout=60000, **kw):
        return self.apply(self.coord.init_producer_id(txn_id, timeout, **kw))

    def state(self, txn_id="t"):
        return self.coord.txns[txn_id]

    def complete_markers(self):
        """The runtime's part: the markers are durable, the transaction completes."""
        while self.markers:
            meta = self.markers.pop(0)
            result = self.coord.complete(meta.transactional_id, meta.producer_id, meta.producer_epoch)
            if result is not None:
                self.apply(result)


def test_init_bumps_the_epoch_of_one_producer_id():
    h = Harness()
    first = h.init()
    assert (first.error, first.producer_id, first.producer_epoch) == (E.NONE, 100, 0)
    second = h.init()
    assert (second.error, second.producer_id, second.producer_epoch) == (E.NONE, 100, 1)
    assert h.state().state == S.EMPTY
    # KIP-360: naming the current id and epoch keeps the id; a stale epoch is fenced.
    assert h.init(expected_producer_id=100, expected_epoch=1).producer_epoch == 2
    assert h.init(expected_producer_id=100, expected_epoch=0).error == E.PRODUCER_FENCED


def test_commit_goes_through_prepare_markers_and_complete():
    h = Harness()
    r = h.init()
    start = h.clock.milliseconds()
    assert h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("a", 0), ("a", 1)])) == E.NONE
    assert (h.state().state, h.state().start_ms) == (S.ONGOING, start)
    h.clock.advance(10)
    # Adding what is there writes nothing; the start time stays.
    again = h.coord.add_partitions("t", r.producer_id, 0, [("a", 1)])
    assert (again.records, again.response) == ([], E.NONE)
    assert h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("b", 0)])) == E.NONE
    assert h.state().start_ms == start and h.state().partitions == {("a", 0), ("a", 1), ("b", 0)}
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)) == E.NONE
    assert h.state().state == S.PREPARE_COMMIT
    assert [m.partitions for m in h.markers] == [frozenset({("a", 0), ("a", 1), ("b", 0)})]
    # Retries while the markers are written, and after.
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)) == E.CONCURRENT_TRANSACTIONS
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=False)) == E.INVALID_TXN_STATE
    assert h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("a", 0)])) == E.CONCURRENT_TRANSACTIONS
    h.complete_markers()
    assert (h.state().state, h.state().partitions) == (S.COMPLETE_COMMIT, frozenset())
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)) == E.NONE
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=False)) == E.INVALID_TXN_STATE
    assert [rec.value["transaction_status"] for rec in h.log] == [
        S.EMPTY, S.ONGOING, S.ONGOING, S.PREPARE_COMMIT, S.COMPLETE_COMMIT]


def test_producer_checks():
    h = Harness()
    r = h.init()
    assert h.apply(h.coord.add_partitions("nope", r.producer_id, 0, [("a", 0)])) == E.INVALID_PRODUCER_ID_MAPPING
    assert h.apply(h.coord.add_partitions("t", r.producer_id + 1, 0, [("a", 0)])) == E.INVALID_PRODUCER_ID_MAPPING
    assert h.apply(h.coord.add_partitions("t", r.producer_id, 1, [("a", 0)])) == E.PRODUCER_FENCED
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)) == E.INVALID_TXN_STATE  # Empty
    h.coord.active = False
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)) == E.NOT_COORDINATOR


def test_verify_knows_the_partitions_of_the_ongoing_transaction():
    h = Harness()
    r = h.init()
    with pytest.raises(KafkaError) as e:
        h.coord.verify("t", r.producer_id, 0, "a", 0)
    assert e.value.code == E.INVALID_TXN_STATE
    h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("a", 0)]))
    h.coord.verify("t", r.producer_id, 0, "a", 0)
    for args, code in ((("t", r.producer_id, 0, "a", 1), E.INVALID_TXN_STATE),
                       ((None, r.producer_id, 0, "a", 0), E.INVALID_PRODUCER_ID_MAPPING),
                       (("t", r.producer_id + 5, 0, "a", 0), E.INVALID_PRODUCER_ID_MAPPING)):
        with pytest.raises(KafkaError) as e:
            h.coord.verify(*args)
        assert e.value.code == code
    h.init()  # fences epoch 0 (the retry below is answered once the abort completes)
    with pytest.raises(KafkaError) as e:
        h.coord.verify("t", r.producer_id, 0, "a", 0)
    assert e.value.code == E.INVALID_PRODUCER_EPOCH


def test_init_during_a_transaction_fences_and_aborts_it():
    h = Harness()
    r = h.init()
    h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("a", 0)]))
    fenced = h.init()
    assert fenced.error == E.CONCURRENT_TRANSACTIONS
    assert (h.state().state, h.state().producer_epoch) == (S.PREPARE_ABORT, 1)
    assert [(m.state, m.producer_epoch) for m in h.markers] == [(S.PREPARE_ABORT, 1)]  # the markers fence too
    assert h.init().error == E.CONCURRENT_TRANSACTIONS  # until the abort completes
    h.complete_markers()
    assert h.state().state == S.COMPLETE_ABORT
    new = h.init()
    assert (new.error, new.producer_id, new.producer_epoch) == (E.NONE, r.producer_id, 2)
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)) == E.PRODUCER_FENCED


def test_exhausted_epoch_gets_a_new_producer_id():
    h = Harness()
    r = h.init()
    h.coord.replay(TxnRecord("t", h.state().transit(producer_epoch=MAX_EPOCH - 1).to_value()))
    new = h.init()
    assert (new.error, new.producer_epoch) == (E.NONE, 0) and new.producer_id != r.producer_id


def test_timed_out_transaction_is_aborted_with_a_fencing_epoch():
    h = Harness(transaction_abort_timed_out_transaction_cleanup_interval_ms=1000)
    r = h.init(timeout=5000)
    h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("a", 0)]))
    h.clock.advance(4000)
    assert [h.apply(x) for x in h.coord.poll_timers(h.clock.milliseconds())] == []
    assert h.state().state == S.ONGOING
    h.clock.advance(2000)
    for result in h.coord.poll_timers(h.clock.milliseconds()):
        h.apply(result)
    assert (h.state().state, h.state().producer_epoch) == (S.PREPARE_ABORT, 1)
    h.complete_markers()
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)) == E.PRODUCER_FENCED


def test_idle_transactional_ids_expire():
    h = Harness(transactional_id_expiration_ms=10_000, transaction_remove_expired_transaction_cleanup_interval_ms=1000)
    h.init("idle")
    r = h.init("busy")
    h.apply(h.coord.add_partitions("busy", r.producer_id, 0, [("a", 0)]))
    h.clock.advance(11_000)
    for result in h.coord.poll_timers(h.clock.milliseconds()):
        h.apply(result)
    assert "idle" not in h.coord.txns and h.log[-1] == TxnRecord("idle", None)
    assert h.coord.txns["busy"].state == S.ONGOING  # an open transaction never expires


def test_a_new_coordinator_loads_the_log_and_finishes_prepared_transactions():
    h = Harness()
    r = h.init()
    h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("a", 0)]))
    h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=False))
    h.markers.clear()  # "crashed" before the markers were written
    loaded = h.new_coordinator()
    for record in h.log:
        loaded.replay(record)
    assert loaded.txns == h.coord.txns
    h.coord = loaded
    # What load() does after the replay: a prepared transaction gets its markers again.
    for meta in loaded.txns.values():
        if meta.state in (S.PREPARE_COMMIT, S.PREPARE_ABORT):
            h.markers.append(meta)
    h.complete_markers()
    assert h.state().state == S.COMPLETE_ABORT


def test_list_and_describe():
    h = Harness()
    a = h.init("a")
    h.init("b")
    h.apply(h.coord.add_partitions("a", a.producer_id, 0, [("x", 0)]))
    assert {m.transactional_id for m in h.coord.list(set(), set())} == {"a", "b"}
    assert [m.transactional_id for m in h.coord.list({"Ongoing"}, set())] == ["a"]
    assert [m.transactional_id for m in h.coord.list(set(), {a.producer_id})] == ["a"]
    assert h.coord.describe("a").state.kafka_name == "Ongoing" and h.coord.describe("zz") is None
