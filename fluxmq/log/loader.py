"""LogLoader: a partition directory on disk made into a Log (Kafka's LogLoader).

Every segment is opened and scanned once: indexes and producer state
(sequences, open transactions, aborted transactions) are rebuilt from the
batch headers and the transaction markers. After an unclean shutdown (or with
--recovery-mode full) the segments from the recovery point on are also
checked batch by batch with their CRCs; the first invalid batch and everything
after it are truncated, and any later segment is deleted, with a log line
each. Log compaction's leftovers are settled first: `.cleaned`, `.deleted` and
`.tmp` files go, an interrupted `.swap` is completed (log/cleaner.py).
"""

from __future__ import annotations

import logging
import os

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
    if not lg.segments:
        lg.local.new_segment(log_start)
    lg.log_start_offset = max(log_start, lg.segments[0].base_offset)
    lg.producer_state.on_log_start(lg.log_start_offset)
    if lg.segments[-1].size == 0 and lg.segments[-1].next_offset < lg.log_start_offset:
        lg.segments[-1].next_offset = lg.log_start_offset
    lg.recovery_point = lg.log_end_offset
