"""LogLoader: a partition directory on disk made into a Log (Kafka's LogLoader).

After a clean shutdown the log is not scanned: each segment's offset and time
indexes are read from their files (only the batches after the time index's
last entry are read), and the producer state (sequences, open transactions)
and aborted transactions come from the snapshot and transaction indexes the
clean close wrote (log/snapshot.py). If any of those is missing or does not
fit, or after an unclean shutdown (or with --recovery-mode full), every
segment is scanned once instead: indexes and producer state are rebuilt from
the batch headers and the transaction markers. After an unclean shutdown the
segments from the recovery point on are also checked batch by batch with
their CRCs; the first invalid batch and everything after it are truncated,
and any later segment is deleted, with a log line each. Log compaction's
leftovers are settled first: `.cleaned`, `.deleted` and `.tmp` files go, an
interrupted `.swap` is completed (log/cleaner.py).
"""

from __future__ import annotations

import logging
import os

from fluxmq.log import snapshot
from fluxmq.log.batch import CONTROL_BIT, TRANSACTIONAL_BIT
from fluxmq.log.control import COMMIT
from fluxmq.log.segment import LogSegment

log = logging.getLogger("fluxmq.log")


def load_log(lg, clock, clean: bool, recovery_point: int, log_start: int) -> None:
    """Fills the (new, empty) Log `lg` from its directory."""
    from fluxmq.log.cleaner import complete_interrupted_swaps

    now = clock.milliseconds()
    complete_interrupted_swaps(lg.dir, lg.config.index_interval_bytes, now)
    bases = sorted(int(n[:-4]) for n in os.listdir(lg.dir) if n.endswith(".log") and n[:-4].isdigit())
    lg.log_start_offset = log_start
    if not (clean and _load_clean(lg, bases, now)):
        _scan(lg, bases, now, clean, recovery_point)
    snapshot.remove(lg.dir)  # only ever believed right after the clean close that wrote them
    if not lg.segments:
        lg.local.new_segment(log_start)
    lg.log_start_offset = max(log_start, lg.segments[0].base_offset)
    lg.producer_state.on_log_start(lg.log_start_offset)
    if lg.segments[-1].size == 0 and lg.segments[-1].next_offset < lg.log_start_offset:
        lg.segments[-1].next_offset = lg.log_start_offset
    lg.recovery_point = lg.log_end_offset


def _load_clean(lg, bases: list[int], now: int) -> bool:
    """The clean-shutdown path; False (nothing loaded) if the files do not serve."""
    segments: list[LogSegment] = []
    try:
        for base in bases:
            seg = LogSegment(lg.dir, base, lg.config.index_interval_bytes, now)
            segments.append(seg)
            if not seg.load_clean():
                raise snapshot.CorruptStateFile(f"the indexes of segment {base} do not fit it")
        if not segments:
            return False
        state = snapshot.read_clean_state(lg.dir, segments[-1].next_offset, bases)
        if state is None:
            raise snapshot.CorruptStateFile(f"no producer state snapshot at offset {segments[-1].next_offset}")
    except (snapshot.CorruptStateFile, OSError) as e:
        for seg in segments:
            seg.close()
        log.info("%s-%d: %s; scanning the log", lg.topic, lg.partition, e)
        return False
    producers, ongoing, aborted = state
    ps = lg.producer_state
    ps.producers, ps.ongoing, ps.aborted = producers, ongoing, aborted
    for seg in segments:
        lg.local.add_segment(seg)
    return True


def _scan(lg, bases: list[int], now: int, clean: bool, recovery_point: int) -> None:
    truncate_rest = False
    for i, base in enumerate(bases):
        seg = LogSegment(lg.dir, base, lg.config.index_interval_bytes, now)
        if truncate_rest:
            log.warning("%s-%d: deleting segment %d after a corrupt one", lg.topic, lg.partition, base)
            seg.delete()
            continue
        next_base = bases[i + 1] if i + 1 < len(bases) else None
        verify = not clean and (next_base is None or next_base > recovery_point)
        batches, truncated, error = seg.recover(verify_crc=verify)
        if truncated:
            log.warning("%s-%d: recovery truncated %d bytes at position %d of segment %d (%s); "
                        "the log now ends at offset %d", lg.topic, lg.partition, truncated, seg.size,
                        base, error or "torn write", seg.next_offset)
            truncate_rest = True
        state = lg.producer_state
        for b_base, last, pid, epoch, seq, _ts, attrs, marker in batches:
            if pid < 0:
                continue
            if attrs & CONTROL_BIT:
                if marker is not None:
                    kind, coordinator_epoch = marker
                    state.record_marker(pid, epoch, kind == COMMIT, b_base, now, coordinator_epoch)
            else:
                state.record(pid, epoch, seq, last - b_base, b_base, now, bool(attrs & TRANSACTIONAL_BIT))
        lg.local.add_segment(seg)
