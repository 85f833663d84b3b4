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
from fluxmq.txn.coordinator import TV2, TransactionCoordinator, TxnRecord
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
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)).error == E.NONE
    assert h.state().state == S.PREPARE_COMMIT
    assert [m.partitions for m in h.markers] == [frozenset({("a", 0), ("a", 1), ("b", 0)})]
    # Retries while the markers are written, and after.
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)).error == E.CONCURRENT_TRANSACTIONS
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=False)).error == E.INVALID_TXN_STATE
    assert h.apply(h.coord.add_partitions("t", r.producer_id, 0, [("a", 0)])) == E.CONCURRENT_TRANSACTIONS
    h.complete_markers()
    assert (h.state().state, h.state().partitions) == (S.COMPLETE_COMMIT, frozenset())
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)).error == E.NONE
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=False)).error == E.INVALID_TXN_STATE
    assert [rec.value["transaction_status"] for rec in h.log] == [
        S.EMPTY, S.ONGOING, S.ONGOING, S.PREPARE_COMMIT, S.COMPLETE_COMMIT]


def test_producer_checks():
    h = Harness()
    r = h.init()
    assert h.apply(h.coord.add_partitions("nope", r.producer_id, 0, [("a", 0)])) == E.INVALID_PRODUCER_ID_MAPPING
    assert h.apply(h.coord.add_partitions("t", r.producer_id + 1, 0, [("a", 0)])) == E.INVALID_PRODUCER_ID_MAPPING
    assert h.apply(h.coord.add_partitions("t", r.producer_id, 1, [("a", 0)])) == E.PRODUCER_FENCED
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)).error == E.INVALID_TXN_STATE  # Empty
    h.coord.active = False
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)).error == E.NOT_COORDINATOR


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
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)).error == E.PRODUCER_FENCED


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
    assert h.apply(h.coord.end_txn("t", r.producer_id, 0, commit=True)).error == E.PRODUCER_FENCED


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


# ------------------------------------------------ transaction version 2 (KIP-890 part 2)
def end2(h, commit, producer_id=100, epoch=0):
    r = h.apply(h.coord.end_txn("t", producer_id, epoch, commit=commit, client_transaction_version=TV2))
    return r.error, r.producer_id, r.producer_epoch


def add2(h, partitions, producer_id=100, epoch=0):
    return h.apply(h.coord.add_partitions("t", producer_id, epoch, partitions, client_transaction_version=TV2))


def test_tv2_end_txn_bumps_the_epoch_and_its_markers_carry_it():
    h = Harness()
    h.init()
    assert add2(h, [("a", 0)]) == E.NONE
    assert h.state().client_transaction_version == TV2
    assert end2(h, commit=True) == (E.NONE, 100, 1)
    assert (h.state().state, h.state().producer_epoch) == (S.PREPARE_COMMIT, 1)
    assert [(m.producer_id, m.producer_epoch) for m in h.markers] == [(100, 1)]
    # While the markers are written every request waits, as during Kafka's pending transition.
    assert end2(h, commit=True) == (E.CONCURRENT_TRANSACTIONS, -1, -1)
    assert end2(h, commit=False) == (E.CONCURRENT_TRANSACTIONS, -1, -1)
    assert add2(h, [("a", 0)], epoch=1) == E.CONCURRENT_TRANSACTIONS
    h.complete_markers()
    assert (h.state().state, h.state().producer_epoch) == (S.COMPLETE_COMMIT, 1)
    # The retry of the EndTxn that completed it gets the same answer; anything else is refused.
    assert end2(h, commit=True) == (E.NONE, 100, 1)
    assert end2(h, commit=False) == (E.INVALID_TXN_STATE, -1, -1)
    assert end2(h, commit=True, epoch=5) == (E.PRODUCER_FENCED, -1, -1)
    # The next transaction starts with its first add, at the new epoch; the old one is fenced.
    assert add2(h, [("b", 0)]) == E.PRODUCER_FENCED
    h.clock.advance(7)
    start = h.clock.milliseconds()
    assert add2(h, [("b", 0)], epoch=1) == E.NONE
    assert (h.state().state, h.state().partitions, h.state().start_ms) == (S.ONGOING, {("b", 0)}, start)
    assert end2(h, commit=False, epoch=1) == (E.NONE, 100, 2)


def test_tv2_abort_without_partitions_and_commit_refused_when_empty():
    h = Harness()
    h.init()
    assert end2(h, commit=True) == (E.INVALID_TXN_STATE, -1, -1)
    assert end2(h, commit=False) == (E.NONE, 100, 1)
    assert (h.state().state, h.state().partitions) == (S.PREPARE_ABORT, frozenset())
    h.complete_markers()
    assert end2(h, commit=False, epoch=1) == (E.NONE, 100, 2)  # CompleteAbort + abort at the current epoch
    h.complete_markers()
    assert h.state().state == S.COMPLETE_ABORT


def test_tv2_exhausted_epoch_moves_to_a_new_producer_id_at_completion():
    h = Harness()
    h.init()
    h.coord.replay(TxnRecord("t", h.state().transit(producer_epoch=MAX_EPOCH - 1).to_value()))
    assert add2(h, [("a", 0)], epoch=MAX_EPOCH - 1) == E.NONE
    assert end2(h, commit=True, epoch=MAX_EPOCH - 1) == (E.NONE, 101, 0)
    assert (h.state().producer_id, h.state().producer_epoch, h.state().next_producer_id) == (100, MAX_EPOCH, 101)
    assert add2(h, [("a", 0)], producer_id=101) == E.CONCURRENT_TRANSACTIONS  # not a mismatch: not yet complete
    assert [(m.producer_id, m.producer_epoch) for m in h.markers] == [(100, MAX_EPOCH)]
    h.complete_markers()
    meta = h.state()
    assert (meta.state, meta.producer_id, meta.producer_epoch, meta.previous_producer_id, meta.next_producer_id) == (
        S.COMPLETE_COMMIT, 101, 0, 100, -1)
    # The retry names the old producer id and epoch.
    assert end2(h, commit=True, producer_id=100, epoch=MAX_EPOCH - 1) == (E.NONE, 101, 0)
    # The tagged fields survive __transaction_state (value version 1) and a reload.
    loaded = h.new_coordinator()
    for record in h.log:
        loaded.replay(record)
    assert loaded.txns == h.coord.txns


def test_tv2_timed_out_transaction_aborts_once_and_the_producer_goes_on():
    h = Harness(transaction_abort_timed_out_transaction_cleanup_interval_ms=1000)
    h.init(timeout=5000)
    add2(h, [("a", 0)])
    h.clock.advance(6000)
    for result in h.coord.poll_timers(h.clock.milliseconds()):
        h.apply(result)
    assert [(m.state, m.producer_epoch) for m in h.markers] == [(S.PREPARE_ABORT, 1)]
    h.complete_markers()
    # The producer's own abort, one epoch behind, is the retry of that abort (Kafka's TV2).
    assert end2(h, commit=False) == (E.NONE, 100, 1)
    assert end2(h, commit=True) == (E.INVALID_TXN_STATE, -1, -1)


def test_transaction_log_value_versions():
    h = Harness()
    h.init()
    add2(h, [("a", 0)])
    value = h.state().to_value()
    for version in (0, 1):
        key, raw = txn_records.encode("t", value, version)
        assert raw[:2] == version.to_bytes(2, "big")
        _tid, decoded = txn_records.decode(key, raw)
        assert decoded["client_transaction_version"] == (TV2 if version == 1 else 0)
    assert txn_records.value_version(2) == txn_records.value_version(1) == 1 and txn_records.value_version(0) == 0


def test_list_and_describe():
    h = Harness()
    a = h.init("a")
    h.init("b")
    h.apply(h.coord.add_partitions("a", a.producer_id, 0, [("x", 0)]))
    assert {m.transactional_id for m in h.coord.list(set(), set())} == {"a", "b"}
    assert [m.transactional_id for m in h.coord.list({"Ongoing"}, set())] == ["a"]
    assert [m.transactional_id for m in h.coord.list(set(), {a.producer_id})] == ["a"]
    assert h.coord.describe("a").state.kafka_name == "Ongoing" and h.coord.describe("zz") is None
