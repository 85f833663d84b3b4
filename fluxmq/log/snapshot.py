"""What a clean shutdown leaves beside the segments so that the next start-up
does not scan them (log/loader.py): the producer state snapshot and the
aborted-transaction indexes, in Apache Kafka's formats, so Kafka's
DumpLogSegments reads them.

    <log end offset>.snapshot   ProducerSnapshot v1 (Kafka's ProducerStateManager):
        int16 version (1) | uint32 crc32c of what follows | int32 count, then per entry:
        int64 producer id | int16 epoch | int32 last sequence | int64 last offset |
        int32 offset delta | int64 timestamp | int32 coordinator epoch |
        int64 current transaction's first offset (-1: none)
    <segment base>.txnindex     Kafka's TransactionIndex: 34-byte entries of
        int16 version (0) | int64 producer id | int64 first offset |
        int64 last offset (the ABORT marker) | int64 last stable offset

Kafka keeps one entry per producer, its last batch. FluxMQ keeps the last five
batches of each producer (the duplicate window of idempotent retries) and writes
one entry per batch, oldest first: Kafka's reader keeps the last entry of a
producer id, the same state it would have written; FluxMQ's reader keeps them all.

Unlike Kafka, these files exist only between a clean shutdown and the next
start-up: they are written when the log closes cleanly, read when it
loads after a clean shutdown, and removed once loaded, so no running broker
keeps them current and no crash can leave a stale one that is believed. After
an unclean shutdown they are removed unread and the segments are scanned.
"""

from __future__ import annotations

import os
import struct

from fluxmq import native
from fluxmq.log.checkpoints import write_atomically
from fluxmq.log.producer_state import AbortedTxn, BatchMetadata, ProducerEntry
from fluxmq.log.segment import segment_name

SNAPSHOT_SUFFIX = ".snapshot"
TXN_INDEX_SUFFIX = ".txnindex"
SNAPSHOT_VERSION = 1
_HEAD = struct.Struct(">hI")
_COUNT = struct.Struct(">i")
_ENTRY = struct.Struct(">qhiqiqiq")
_TXN = struct.Struct(">hqqqq")


class CorruptStateFile(ValueError):
    pass


# ------------------------------------------------------------------ snapshot
def encode_snapshot(state) -> bytes:
    """The ProducerStateManager `state` as a snapshot file."""
    body = bytearray()
    count = 0
    for pid, entry in state.producers.items():
        txn_first = state.ongoing.get(pid, -1)
        batches = list(entry.batches) or [None]
        for b in batches:
            if b is None:
                body += _ENTRY.pack(pid, entry.epoch, -1, -1, 0, entry.last_timestamp, entry.coordinator_epoch,
                                    txn_first)
            else:
                body += _ENTRY.pack(pid, entry.epoch, b.last_seq, b.last_offset, b.last_offset - b.first_offset,
                                    b.timestamp, entry.coordinator_epoch, txn_first)
            count += 1
    entries = _COUNT.pack(count) + bytes(body)
    return _HEAD.pack(SNAPSHOT_VERSION, native.crc32c(entries)) + entries


def decode_snapshot(data: bytes) -> tuple[dict[int, ProducerEntry], dict[int, int]]:
    """(producers, open transactions: producer id -> first offset); raises CorruptStateFile."""
    if len(data) < _HEAD.size + _COUNT.size:
        raise CorruptStateFile("snapshot too short")
    version, crc = _HEAD.unpack_from(data, 0)
    if version != SNAPSHOT_VERSION:
        raise CorruptStateFile(f"snapshot version {version}")
    if native.crc32c(data[_HEAD.size:]) != crc:
        raise CorruptStateFile("snapshot CRC mismatch")
    (count,) = _COUNT.unpack_from(data, _HEAD.size)
    if count < 0 or len(data) != _HEAD.size + _COUNT.size + count * _ENTRY.size:
        raise CorruptStateFile("snapshot size does not match its entry count")
    producers: dict[int, ProducerEntry] = {}
    ongoing: dict[int, int] = {}
    for pid, epoch, last_seq, last_offset, delta, ts, coordinator_epoch, txn_first in _ENTRY.iter_unpack(
            data[_HEAD.size + _COUNT.size:]):
        entry = producers.get(pid)
        if entry is None or entry.epoch != epoch:
            entry = producers[pid] = ProducerEntry(epoch)
        entry.coordinator_epoch = coordinator_epoch
        entry.last_timestamp = max(entry.last_timestamp, ts)
        if last_offset >= 0:
            entry.batches.append(BatchMetadata(last_seq - delta, last_seq, last_offset - delta, last_offset, ts))
        if txn_first >= 0:
            ongoing[pid] = txn_first
    return producers, ongoing


# --------------------------------------------------------------- txn index
def encode_txn_index(aborted: list[AbortedTxn]) -> bytes:
    return b"".join(_TXN.pack(0, a.producer_id, a.first_offset, a.last_offset, a.last_stable_offset)
                    for a in aborted)


def decode_txn_index(data: bytes) -> list[AbortedTxn]:
    if len(data) % _TXN.size:
        raise CorruptStateFile("transaction index size is not a multiple of 34")
    out = []
    for version, pid, first, last, lso in _TXN.iter_unpack(data):
        if version != 0:
            raise CorruptStateFile(f"transaction index entry version {version}")
        out.append(AbortedTxn(pid, first, last, lso))
    return out


# ------------------------------------------------------------------- files
def write_clean_state(lg) -> None:
    """At a clean close: the snapshot at the log end offset and each
    segment's aborted transactions (those whose marker it holds)."""
    remove(lg.dir)
    state = lg.producer_state
    # No fsync for the snapshot: a lost or torn one fails its CRC or is missing,
    # and the log is scanned. A lost transaction index could not be told from
    # one without entries, so those are fsynced before the clean-shutdown marker.
    write_atomically(os.path.join(lg.dir, segment_name(lg.log_end_offset) + SNAPSHOT_SUFFIX), encode_snapshot(state),
                     durable=False)
    segments = lg.segments
    for i, seg in enumerate(segments):
        end = segments[i + 1].base_offset if i + 1 < len(segments) else None
        mine = [a for a in state.aborted if a.last_offset >= seg.base_offset and (end is None or a.last_offset < end)]
        if mine:
            write_atomically(os.path.join(lg.dir, segment_name(seg.base_offset) + TXN_INDEX_SUFFIX),
                             encode_txn_index(mine))


def read_clean_state(directory: str, log_end_offset: int, bases: list[int]):
    """(producers, ongoing, aborted) from the files a clean close wrote, or
    None if the snapshot is not there for this log end offset. Raises
    CorruptStateFile or OSError for an unreadable one."""
    path = os.path.join(directory, segment_name(log_end_offset) + SNAPSHOT_SUFFIX)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        producers, ongoing = decode_snapshot(f.read())
    aborted: list[AbortedTxn] = []
    for base in bases:
        index = os.path.join(directory, segment_name(base) + TXN_INDEX_SUFFIX)
        if os.path.exists(index):
            with open(index, "rb") as f:
                aborted += decode_txn_index(f.read())
    aborted.sort(key=lambda a: a.last_offset)
    return producers, ongoing, aborted


def remove(directory: str) -> None:
    """Every snapshot and transaction index of the partition directory."""
    for name in os.listdir(directory):
        if name.endswith(SNAPSHOT_SUFFIX) or name.endswith(TXN_INDEX_SUFFIX):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass
