"""ListOffsets (key 2), v1-v11.

Timestamps: -1 latest (the high watermark), -2 earliest (log start offset),
-3 max timestamp (KIP-734, v7+), -4 earliest local (KIP-405, v8+: the same
as earliest here, there is no tiered storage), -5 latest tiered (KIP-1005,
v9+) and -6 earliest pending upload (KIP-1023, v11+): no tiered storage, so
offset -1 and leader epoch -1. A special timestamp below its version, and
any other negative value, is UNSUPPORTED_VERSION, as Kafka 4.4 answers. Any
other value: the first record whose timestamp is >= the target, or offset -1
/ timestamp -1 when none (DESIGN rule 6).

The leader epoch (KIP-320) is the current one for latest and earliest, and
-1 when no offset is found. Leader epochs in the request are checked as in
Fetch.
"""

from __future__ import annotations

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 2
LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED, EARLIEST_PENDING_UPLOAD = -1, -2, -3, -4, -5, -6
NOT_FOUND = (-1, -1, -1)  # offset, timestamp, leader epoch
# The first version that may ask for each special timestamp (ListOffsetsRequest.json).
SPECIAL_SINCE = {LATEST: 0, EARLIEST: 0, MAX_TIMESTAMP: 7, EARLIEST_LOCAL: 8, LATEST_TIERED: 9,
                 EARLIEST_PENDING_UPLOAD: 11}


def _lookup(p, timestamp: int, version: int, isolation: int) -> tuple[int, int, int]:
    """(offset, timestamp, leader epoch) for one ListOffsets query of partition p."""
    if timestamp < 0 and version < SPECIAL_SINCE.get(timestamp, 2**15):
        raise KafkaError(ErrorCode.UNSUPPORTED_VERSION,
                         f"ListOffsets v{version} cannot ask for special timestamp {timestamp}")
    if timestamp == LATEST:
        return p.offset_limit(isolation), -1, p.leader_epoch
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return p.log_start_offset, -1, p.leader_epoch
    if timestamp in (LATEST_TIERED, EARLIEST_PENDING_UPLOAD):
        return NOT_FOUND
    if timestamp == MAX_TIMESTAMP:
        # The record holding the largest timestamp (its first occurrence), as
        # Kafka 4 answers, not the end of its batch.
        return p.max_timestamp_offset(isolation) or NOT_FOUND
    return p.fetch_offset_for_timestamp(timestamp, isolation) or NOT_FOUND


@api(API_KEY, "ListOffsets", 1, 11)
def handle(ctx, request):
    rm = ctx.broker.replica_manager
    isolation = getattr(request, "isolation_level", 0)
    topics = []
    for rt in request.topics:
        parts = []
        topics.append({"name": rt.name, "partitions": parts})
        allowed = ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, rt.name)
        for rp in rt.partitions:
            try:
                if not allowed:
                    raise KafkaError(ErrorCode.TOPIC_AUTHORIZATION_FAILED)
                p = rm.partition(rt.name, rp.partition_index)
                p.check_current_leader_epoch(getattr(rp, "current_leader_epoch", -1))
                offset, ts, epoch = _lookup(p, rp.timestamp, ctx.api_version, isolation)
                parts.append({"partition_index": rp.partition_index, "error_code": ErrorCode.NONE,
                              "timestamp": ts, "offset": offset, "leader_epoch": epoch,
                              "old_style_offsets": [offset]})
            except KafkaError as e:
                parts.append({"partition_index": rp.partition_index, "error_code": e.code,
                              "timestamp": -1, "offset": -1, "leader_epoch": -1})
    return {"throttle_time": 0, "topics": topics}
