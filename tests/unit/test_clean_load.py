"""Start-up after a clean shutdown (log/loader.py, log/snapshot.py): the log is
not scanned, its indexes, producer state and aborted transactions come from
the files the clean close wrote, and what is loaded equals what a full scan
(--recovery-mode full) rebuilds from the same segments. Files that do not fit
make the loader scan instead; after an unclean shutdown they are not read."""

from __future__ import annotations

import logging
import os

import pytest
from batchgen import Record, build_batch

from fluxmq.config import BrokerConfig
from fluxmq.errors import ErrorCode
from fluxmq.log import snapshot
from fluxmq.log.segment import LogSegment
from fluxmq.node import Node
from fluxmq.replication.partition import READ_COMMITTED
from fluxmq.replication.replica_manager import FetchRead
from fluxmq.util.clock import ManualClock

TRANSACTIONAL = 0x10


@pytest.fixture
def clock():
    return ManualClock()


def start(tmp_path, clock, recovery_mode="auto") -> Node:
    cfg = BrokerConfig()
    cfg.set("log.index.interval.bytes", 200)  # many index entries
    return Node(cfg, str(tmp_path / "data"), clock).startup(recovery_mode)


def stop(node: Node) -> None:
    node.logs.shutdown()


def append(node, topic, records, partition=0):
    (r,) = node.replica_manager.append_records([(topic, partition, records)], 1, 30000, transactional_id="tx")
    assert r.error == ErrorCode.NONE, r.error
    return r


def batch(clock, values, pid=-1, epoch=-1, seq=-1, transactional=False, ts_delta=0):
    return build_batch([Record(value=v, key=b"k%d" % i) for i, v in enumerate(values)],
                       first_timestamp=clock.milliseconds() + ts_delta, producer_id=pid, producer_epoch=epoch,
                       base_sequence=seq, attributes=TRANSACTIONAL if transactional else 0)[0]


def fill(node, clock):
    """Several segments of plain, idempotent and transactional batches with
    timestamps that go back and forth; one transaction left open."""
    node.controller.create_topic("t", 1, {"segment.bytes": "3000"})
    node.controller.create_topic("lat", 1, {"message.timestamp.type": "LogAppendTime", "segment.bytes": "2000"})
    seq = {7: 0, 9: 0, 10: 0, 11: 0}
    for i in range(60):
        clock.advance(5)
        ts_delta = -3000 if i % 7 == 3 else (2000 if i % 11 == 5 else 0)
        append(node, "t", batch(clock, [b"plain%d" % i] * (1 + i % 3), ts_delta=ts_delta))
        append(node, "t", batch(clock, [b"idem%d" % i], pid=7, epoch=0, seq=seq[7]))
        seq[7] += 1
        append(node, "lat", batch(clock, [b"lat%d" % i]))
        if i % 10 == 2:
            pid = 9 if i % 20 == 2 else 10
            node.replica_manager.txn_verifier = None
            for _ in range(2):
                append(node, "t", batch(clock, [b"txn%d" % i], pid=pid, epoch=0, seq=seq[pid], transactional=True))
                seq[pid] += 1
            assert node.replica_manager.append_markers([("t", 0, pid, 0, pid == 9, 3)]) == [ErrorCode.NONE]
    append(node, "t", batch(clock, [b"open"], pid=11, epoch=0, seq=0, transactional=True))


def state_of(node) -> dict:
    out = {}
    for lg in node.logs.all_logs():
        ps = lg.producer_state
        out[(lg.topic, lg.partition)] = {
            "segments": [(s.base_offset, s.size, s.next_offset, s.max_timestamp, s.offset_of_max_timestamp,
                          s.bytes_since_last_index, list(s.offset_index.offsets), list(s.offset_index.positions),
                          list(s.time_index.timestamps), list(s.time_index.offsets)) for s in lg.segments],
            "log": (lg.log_start_offset, lg.log_end_offset, lg.recovery_point),
            "ongoing": dict(ps.ongoing),
            "aborted": [(a.producer_id, a.first_offset, a.last_offset) for a in ps.aborted],
            # Batch timestamps are the batches' own from a snapshot, the load time from a scan.
            "producers": {pid: (e.epoch, e.coordinator_epoch,
                                [(b.first_seq, b.last_seq, b.first_offset, b.last_offset) for b in e.batches])
                          for pid, e in ps.producers.items()},
        }
    return out


def test_a_clean_start_reads_the_files_and_loads_what_a_scan_rebuilds(tmp_path, clock, monkeypatch):
    node = start(tmp_path, clock)
    fill(node, clock)
    before = state_of(node)
    stop(node)
    tdir = tmp_path / "data" / "t-0"
    names = os.listdir(tdir)
    assert any(n.endswith(".snapshot") for n in names) and any(n.endswith(".txnindex") for n in names)
    assert len([n for n in names if n.endswith(".log")]) > 3

    scanned = []
    real_recover = LogSegment.recover
    monkeypatch.setattr(LogSegment, "recover", lambda self, **kw: scanned.append(
        (self.base_offset, os.fstat(self.fd).st_size)) or real_recover(self, **kw))
    fast = start(tmp_path, clock)
    assert [s for s in scanned if s[1] > 0] == [], "a segment was scanned whole"
    loaded = state_of(fast)
    assert not any(n.endswith((".snapshot", ".txnindex")) for n in os.listdir(tdir))  # consumed
    stop(fast)
    monkeypatch.setattr(LogSegment, "recover", real_recover)
    full = start(tmp_path, clock, recovery_mode="full")
    rebuilt = state_of(full)
    assert loaded == rebuilt
    for key in before:
        assert before[key]["ongoing"] == loaded[key]["ongoing"] and before[key]["aborted"] == loaded[key]["aborted"]
        assert before[key]["segments"][-1][2] == loaded[key]["segments"][-1][2]  # the log end
    # The loaded log serves as before: the open transaction holds the last stable offset,
    # the aborted ones are reported, the producers' sequences continue.
    p = full.replica_manager.partition("t", 0)
    assert p.last_stable_offset == loaded[("t", 0)]["ongoing"][11]
    (r,) = full.replica_manager.fetch_messages([FetchRead("t", 0, 0, 1 << 20)], READ_COMMITTED, 0, 0, 1 << 20)
    assert {pid for pid, _first in r.aborted} == {10}
    stop(full)


def test_a_snapshot_that_does_not_fit_makes_the_loader_scan(tmp_path, clock, caplog):
    node = start(tmp_path, clock)
    fill(node, clock)
    before = state_of(node)
    stop(node)
    tdir = tmp_path / "data" / "t-0"
    (snap,) = [n for n in os.listdir(tdir) if n.endswith(".snapshot")]
    data = bytearray((tdir / snap).read_bytes())
    data[-1] ^= 0xFF
    (tdir / snap).write_bytes(bytes(data))
    with caplog.at_level(logging.INFO, logger="fluxmq.log"):
        again = start(tmp_path, clock)
    assert "t-0: snapshot CRC mismatch; scanning the log" in caplog.text
    after = state_of(again)
    assert after[("t", 0)]["ongoing"] == before[("t", 0)]["ongoing"]
    assert after[("t", 0)]["aborted"] == before[("t", 0)]["aborted"]
    stop(again)


def test_an_unclean_shutdown_ignores_the_files_of_the_clean_one_before(tmp_path, clock):
    node = start(tmp_path, clock)
    fill(node, clock)
    stop(node)
    again = start(tmp_path, clock)  # consumes the files
    append(again, "t", batch(clock, [b"after"], pid=7, epoch=0, seq=60))
    for lg in list(again.logs.all_logs()):
        lg.close(clean=False)  # a crash: no snapshot, no marker
    tdir = tmp_path / "data" / "t-0"
    assert not any(n.endswith(".snapshot") for n in os.listdir(tdir))
    crashed = start(tmp_path, clock)
    ps = crashed.logs.get_log("t", 0).producer_state
    assert ps.producers[7].batches[-1].last_seq == 60 and 11 in ps.ongoing
    stop(crashed)


def test_snapshot_format_round_trip():
    from fluxmq.log.producer_state import ProducerStateManager
    ps = ProducerStateManager()
    for i in range(7):
        ps.record(5, 2, i * 3, 2, 100 + i * 3, 1000 + i)
    ps.record(6, 0, 0, 0, 200, 2000, transactional=True)
    ps.record_marker(8, 4, True, 300, 3000, coordinator_epoch=9)
    producers, ongoing = snapshot.decode_snapshot(snapshot.encode_snapshot(ps))
    assert ongoing == {6: 200}
    assert [(b.first_seq, b.last_seq, b.first_offset, b.last_offset) for b in producers[5].batches] == [
        (i * 3, i * 3 + 2, 100 + i * 3, 102 + i * 3) for i in range(2, 7)]  # the last five
    assert (producers[8].epoch, producers[8].coordinator_epoch, list(producers[8].batches)) == (4, 9, [])
