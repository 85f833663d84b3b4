"""Idempotent produce on raw sockets (KIP-98; DESIGN rule 4; Kafka's
ProducerStateManager / ProducerAppendInfo.checkSequence).

Batches carry (producer id, epoch, base sequence). The producer id comes
from InitProducerId when the broker advertises it; otherwise a fixed-range id
is used, which the broker accepts because a producer it has never seen may
start at any sequence (Kafka does the same).
"""

from __future__ import annotations

import random

import pytest

import batchgen as B
from faultutil import start_ready
from wire import API_INIT_PRODUCER_ID, connect, ensure_topic, fetch_all, init_producer_id, log_end_offset, produce, \
    supported_apis

from fluxmq.tools.client import KafkaWireClient

NONE, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH = 0, 45, 47
INT32_MAX = 2**31 - 1


def new_producer(c: KafkaWireClient) -> tuple[int, int]:
    """(producer id, epoch): from InitProducerId if the broker has it."""
    apis = supported_apis(c)
    if API_INIT_PRODUCER_ID in apis:
        return init_producer_id(c, version=min(4, apis[API_INIT_PRODUCER_ID][1]))
    return 1000 + random.randrange(1 << 30), 0


class Producer:
    """Builds the batches of one idempotent producer on one partition."""

    def __init__(self, c: KafkaWireClient, topic: str, pid: int, epoch: int):
        self.c, self.topic, self.pid, self.epoch = c, topic, pid, epoch
        self.seq = 0

    def batch(self, n: int, seq: int | None = None, epoch: int | None = None, tag: str = "") -> bytes:
        seq = self.seq if seq is None else seq
        values = [f"{self.pid}-{epoch if epoch is not None else self.epoch}-{seq}-{i}{tag}".encode() for i in range(n)]
        return B.batch_of(values, producer_id=self.pid, base_sequence=seq,
                             producer_epoch=self.epoch if epoch is None else epoch)

    def send(self, batch: bytes):
        return produce(self.c, self.topic, 0, batch, acks=-1)

    def send_next(self, n: int):
        """Sends the next batch in sequence; returns (batch, partition response)."""
        b = self.batch(n)
        p = self.send(b)
        assert int(p.error_code) == NONE, f"in-sequence batch refused: {p}"
        self.seq = (self.seq + n) % (INT32_MAX + 1)
        return b, p


def values_in_log(c: KafkaWireClient, topic: str) -> list[bytes]:
    return [r.value for b in fetch_all(c, topic) for r in b.records]


@pytest.fixture
def conn(broker):
    with connect(broker) as c:
        yield c


@pytest.fixture
def producer(conn, topic_name):
    ensure_topic(conn, topic_name)
    pid, epoch = new_producer(conn)
    return Producer(conn, topic_name, pid, epoch)


def test_exact_duplicate_returns_original_offset(producer, conn, topic_name):
    first, p1 = producer.send_next(3)
    second, p2 = producer.send_next(2)
    assert (p1.base_offset, p2.base_offset) == (0, 3)
    for batch, original in ((second, 3), (first, 0), (second, 3)):
        dup = producer.send(batch)
        assert int(dup.error_code) == NONE, dup
        assert dup.base_offset == original
    assert log_end_offset(conn, topic_name) == 5
    values = values_in_log(conn, topic_name)
    assert len(values) == 5 and len(set(values)) == 5
    # The producer goes on where it was.
    _b, p3 = producer.send_next(1)
    assert p3.base_offset == 5


def test_duplicate_window_is_the_last_five_batches(producer, conn, topic_name):
    sent = [producer.send_next(1) for _ in range(6)]
    # Batches 2..6 are remembered: exact retries are duplicates.
    for batch, p in sent[1:]:
        dup = producer.send(batch)
        assert int(dup.error_code) == NONE and dup.base_offset == p.base_offset
    # Batch 1 fell out of the window: its sequence is simply out of order now.
    old = producer.send(sent[0][0])
    assert int(old.error_code) == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log_end_offset(conn, topic_name) == 6


def test_sequence_gap_is_out_of_order(producer, conn, topic_name):
    producer.send_next(3)  # sequences 0-2
    gap = producer.send(producer.batch(1, seq=5))
    assert int(gap.error_code) == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert gap.base_offset == -1
    assert log_end_offset(conn, topic_name) == 3
    # A batch overlapping the last one without matching it exactly is no duplicate either.
    overlap = producer.send(producer.batch(2, seq=2))
    assert int(overlap.error_code) == OUT_OF_ORDER_SEQUENCE_NUMBER
    _b, ok = producer.send_next(1)  # sequence 3
    assert ok.base_offset == 3
    assert log_end_offset(conn, topic_name) == 4


def test_older_epoch_is_fenced(producer, conn, topic_name):
    producer.send_next(2)
    old_epoch = producer.epoch
    producer.epoch, producer.seq = old_epoch + 1, 0
    producer.send_next(1)
    stale = producer.send(producer.batch(1, seq=2, epoch=old_epoch))
    assert int(stale.error_code) == INVALID_PRODUCER_EPOCH
    # Even an exact retry of an old-epoch batch is fenced now.
    stale_retry = producer.send(producer.batch(2, seq=0, epoch=old_epoch))
    assert int(stale_retry.error_code) == INVALID_PRODUCER_EPOCH
    assert log_end_offset(conn, topic_name) == 3


def test_new_epoch_must_restart_at_zero(producer, conn, topic_name):
    producer.send_next(4)
    bumped = producer.epoch + 1
    bad = producer.send(producer.batch(1, seq=4, epoch=bumped))
    assert int(bad.error_code) == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log_end_offset(conn, topic_name) == 4
    producer.epoch, producer.seq = bumped, 0
    _b, ok = producer.send_next(2)
    assert ok.base_offset == 4
    _b, ok = producer.send_next(1)
    assert ok.base_offset == 6


def test_sequence_wraps_from_int32_max_to_zero(conn, topic_name):
    ensure_topic(conn, topic_name)
    pid, epoch = new_producer(conn)
    p = Producer(conn, topic_name, pid, epoch)
    p.seq = INT32_MAX - 1  # a producer new to the partition may start anywhere
    p.send_next(1)                     # sequence 2^31-2
    wrapping, pw = p.send_next(2)      # sequences 2^31-1 and 0
    assert p.seq == 1
    _b, after = p.send_next(3)         # sequences 1-3
    assert after.base_offset == 3
    dup = p.send(wrapping)
    assert int(dup.error_code) == NONE and dup.base_offset == pw.base_offset
    gap = p.send(p.batch(1, seq=0))
    assert int(gap.error_code) == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert log_end_offset(conn, topic_name) == 6


@pytest.mark.parametrize("how", ["clean-restart", "kill-9"])
def test_producer_state_survives_restart(broker_factory, topic_name, how):
    """The state is rebuilt from the log: after a clean restart and after
    kill -9, retries of the last batches are still duplicates, a gap is still
    a gap, and the producer continues at its next sequence."""
    b = start_ready(broker_factory())
    with connect(b) as c:
        ensure_topic(c, topic_name)
        pid, epoch = new_producer(c)
        p = Producer(c, topic_name, pid, epoch)
        p.send_next(1)  # offset 0, then a bumped epoch, so there is an older one to fence
        p.epoch, p.seq = epoch + 1, 0
        sent = [p.send_next(3) for _ in range(4)]  # offsets 1, 4, 7, 10
    if how == "kill-9":
        b.kill()
    else:
        assert b.stop() == 0
    start_ready(b)
    with connect(b) as c:
        p.c = c
        assert log_end_offset(c, topic_name) == 13
        for batch, original in reversed(sent):
            dup = p.send(batch)
            assert int(dup.error_code) == NONE, f"retry after {how}: {dup}"
            assert dup.base_offset == original.base_offset
        assert log_end_offset(c, topic_name) == 13, "a retry after the restart was appended again"
        gap = p.send(p.batch(1, seq=p.seq + 1))
        assert int(gap.error_code) == OUT_OF_ORDER_SEQUENCE_NUMBER
        stale = p.send(p.batch(1, seq=1, epoch=epoch))
        assert int(stale.error_code) == INVALID_PRODUCER_EPOCH
        _b, nxt = p.send_next(2)
        assert nxt.base_offset == 13
        values = values_in_log(c, topic_name)
        assert len(values) == 15 and len(set(values)) == 15
