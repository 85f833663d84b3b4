"""DeleteRecords (key 21), v0-v2 (v2 flexible).

Moves each partition's log start offset (its low watermark) up to the given
offset, -1 meaning the high watermark, as `kafka-delete-records` and
AdminClient.deleteRecords ask; records below it are gone for every reader
(OFFSET_OUT_OF_RANGE, ListOffsets earliest answers the new start). The rules
are Kafka's (replication/partition.py, log/log.py): beyond the high watermark
OFFSET_OUT_OF_RANGE, a topic without cleanup.policy=delete POLICY_VIOLATION,
an internal topic INVALID_TOPIC_EXCEPTION, an unknown partition
UNKNOWN_TOPIC_OR_PARTITION; low_watermark is -1 with any error.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 21


@api(API_KEY, "DeleteRecords", 0, 2)
def handle(ctx, request):
    allowed = {t.name for t in request.topics if ctx.authorize(AclOperation.DELETE, ResourceType.TOPIC, t.name)}
    entries = [(t.name, p.partition_index, p.offset) for t in request.topics if t.name in allowed
               for p in t.partitions]
    results = iter(ctx.broker.replica_manager.delete_records(entries))
    topics = []
    for t in request.topics:
        partitions = []
        for p in t.partitions:
            low_watermark, error = next(results) if t.name in allowed else (-1, ErrorCode.TOPIC_AUTHORIZATION_FAILED)
            partitions.append({"partition_index": p.partition_index, "low_watermark": low_watermark,
                               "error_code": error})
        topics.append({"name": t.name, "partitions": partitions})
    return {"throttle_time": 0, "topics": topics}
