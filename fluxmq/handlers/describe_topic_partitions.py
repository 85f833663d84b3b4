"""DescribeTopicPartitions (key 75), v0 (KIP-966): topics and their partitions,
paged, as Kafka 4's AdminClient.describeTopics and `kafka-topics --describe`
ask for them (they fall back to Metadata only when the API is missing).

Kafka's DescribeTopicPartitionsRequestHandler and KRaftMetadataCache:
- topics are answered in name order; an empty list means every topic
  (internal ones included) and unknown names are then not reported, while a
  listed unknown name gets UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION
  for an illegal name) with no partitions and uses none of the limit;
- at most min(response_partition_limit, max.request.partition.size.limit)
  partitions (at least 1) per response; next_cursor names the first topic
  and partition left out. A request cursor skips the topics before its
  topic and that topic's partitions before its index; a cursor topic that is
  not among the listed topics, or a negative index, is INVALID_REQUEST for
  every topic;
- eligible leader replicas (KIP-966) are not kept: the ELR lists are empty,
  as Kafka's are with ELR off; no replica is offline on a single node;
- no authorizer yet: topic_authorized_operations is every topic operation,
  as Kafka reports them without one.
"""

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import AUTHORIZED_OPERATIONS_OMITTED, api
from fluxmq.metadata.controller import validate_topic_name
from fluxmq.metadata.image import INTERNAL_TOPICS
from fluxmq.protocol.codec import ZERO_UUID

API_KEY = 75
# READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (Kafka's
# AclOperation codes) as the 32-bit field AuthHelper.authorizedOperations makes without an authorizer.
ALL_TOPIC_OPERATIONS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))


def _topic(name: str, code: ErrorCode, topic_id=ZERO_UUID, partitions=(), operations=ALL_TOPIC_OPERATIONS) -> dict:
    return {"error_code": code, "name": name, "topic_id": topic_id, "is_internal": name in INTERNAL_TOPICS,
            "partitions": list(partitions), "topic_authorized_operations": operations}


def _partition(p) -> dict:
    return {"error_code": ErrorCode.NONE, "partition_index": p.index, "leader_id": p.leader,
            "leader_epoch": p.leader_epoch, "replica_nodes": p.replicas, "isr_nodes": p.isr,
            "eligible_leader_replicas": [], "last_known_elr": [], "offline_replicas": []}


def _unknown(name: str) -> dict:
    try:
        validate_topic_name(name)
    except KafkaError as e:
        return _topic(name, e.code)
    return _topic(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


@api(API_KEY, "DescribeTopicPartitions", 0, 0)
def handle(ctx, request):
    broker = ctx.broker
    image = broker.image
    listed = sorted({t.name for t in request.topics})
    cursor = request.cursor
    if cursor is not None and (cursor.partition_index < 0 or (listed and cursor.topic_name not in listed)):
        return {"throttle_time": 0, "next_cursor": None, "topics": [
            _topic(name, ErrorCode.INVALID_REQUEST, operations=AUTHORIZED_OPERATIONS_OMITTED) for name in listed]}
    names = listed or sorted(image.topics)
    if cursor is not None:
        names = [n for n in names if n >= cursor.topic_name]
    remaining = max(min(broker.config["max.request.partition.size.limit"], request.response_partition_limit), 1)
    topics, next_cursor = [], None
    for name in names:
        topic = image.topics.get(name)
        if topic is None:
            topics.append(_unknown(name))  # only listed names can be unknown
            continue
        if remaining == 0:
            next_cursor = {"topic_name": name, "partition_index": 0}
            break
        start = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        end = min(topic.partition_count, start + remaining)
        topics.append(_topic(name, ErrorCode.NONE, topic.topic_id, map(_partition, topic.partitions[start:end])))
        remaining -= max(end - start, 0)
        if end < topic.partition_count:
            next_cursor = {"topic_name": name, "partition_index": end}
            break
    return {"throttle_time": 0, "topics": topics, "next_cursor": next_cursor}
