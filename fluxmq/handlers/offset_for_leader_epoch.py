"""OffsetForLeaderEpoch (key 23), v2-v4 (v0-v1 were removed in Kafka 4).

For each partition: the largest leader epoch <= the requested one and the
offset where it ends (KIP-101, KIP-279), as the leader answers it
(Partition.lastOffsetForLeaderEpoch): for the current epoch, the log end
offset; for a newer epoch or UNDEFINED (-1), epoch -1 / offset -1 with no
error; for an older one, the largest epoch below it and where the next one
began, from the partition's leader-epoch cache (replication/partition.py).
current_leader_epoch is checked as in Fetch (KIP-320): newer than ours is
UNKNOWN_LEADER_EPOCH, older FENCED_LEADER_EPOCH. Unknown topics and
partitions get UNKNOWN_TOPIC_OR_PARTITION. replica_id (v3+) is accepted and
not used: consumers (-1), debug clients (-2) and followers are answered the
same way, from the leader's log.
"""

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 23
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


def _epoch_end(index, code=ErrorCode.NONE, epoch=UNDEFINED_EPOCH, end=UNDEFINED_EPOCH_OFFSET) -> dict:
    return {"error_code": code, "partition": index, "leader_epoch": epoch, "end_offset": end}


@api(API_KEY, "OffsetForLeaderEpoch", 2, 4)
def handle(ctx, request):
    rm = ctx.broker.replica_manager
    topics = []
    for rt in request.topics:
        parts = []
        topics.append({"topic": rt.topic, "partitions": parts})
        allowed = ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, rt.topic)
        for rp in rt.partitions:
            if not allowed:
                parts.append(_epoch_end(rp.partition, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            try:
                p = rm.partition(rt.topic, rp.partition)
                p.check_current_leader_epoch(rp.current_leader_epoch)
                epoch, end = p.end_offset_for_epoch(rp.leader_epoch)
            except KafkaError as e:
                parts.append(_epoch_end(rp.partition, e.code))
                continue
            parts.append(_epoch_end(rp.partition, ErrorCode.NONE, epoch, end))
    return {"throttle_time": 0, "topics": topics}
