"""ListOffsets (key 2), v1-v10.

Timestamps: -1 latest (the high watermark), -2 earliest (log start offset),
-3 max timestamp (KIP-734, v7+), -4 earliest local (KIP-405, v8+: the same
as earliest here, there is no tiered storage), -5 latest tiered (v9+: no
tiered storage, so -1/-1). Any other value: the first record whose timestamp
is >= the target, or offset -1 / timestamp -1 when none (DESIGN rule 6).
Leader epochs are checked as in Fetch and returned (KIP-320).
"""

from __future__ import annotations

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.handlers.fetch import _check_epoch

API_KEY = 2
LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED = -1, -2, -3, -4, -5


def _lookup(lg, timestamp: int) -> tuple[int, int]:
    """(offset, timestamp) for one ListOffsets query."""
    if timestamp == LATEST:
        return lg.high_watermark, -1
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return lg.log_start_offset, -1
    if timestamp == LATEST_TIERED:
        return -1, -1
    if timestamp == MAX_TIMESTAMP:
        # The record holding the largest timestamp (its first occurrence), as
        # Kafka 4 answers, not the end of its batch.
        ts, _offset = lg.max_timestamp()
        found = lg.offset_for_timestamp(ts) if ts >= 0 else None
        return (found[0], ts) if found else (-1, -1)
    if timestamp < 0:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"unknown special timestamp {timestamp}")
    found = lg.offset_for_timestamp(timestamp)
    return (found[0], found[1]) if found else (-1, -1)


@api(API_KEY, "ListOffsets", 1, 10)
def handle(ctx, request):
    logs = ctx.broker.logs
    topics = []
    for rt in request.topics:
        parts = []
        topics.append({"name": rt.name, "partitions": parts})
        topic = logs.topics.get(rt.name)
        for rp in rt.partitions:
            lg = topic.logs[rp.partition_index] if topic and 0 <= rp.partition_index < topic.partitions else None
            if lg is None:
                parts.append({"partition_index": rp.partition_index,
                              "error_code": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                              "timestamp": -1, "offset": -1, "leader_epoch": -1})
                continue
            try:
                _check_epoch(lg, getattr(rp, "current_leader_epoch", -1))
                offset, ts = _lookup(lg, rp.timestamp)
                parts.append({"partition_index": rp.partition_index, "error_code": ErrorCode.NONE,
                              "timestamp": ts, "offset": offset, "leader_epoch": lg.leader_epoch,
                              "old_style_offsets": [offset]})
            except KafkaError as e:
                parts.append({"partition_index": rp.partition_index, "error_code": e.code,
                              "timestamp": -1, "offset": -1, "leader_epoch": -1})
    return {"throttle_time": 0, "topics": topics}
