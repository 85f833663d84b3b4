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
- a topic the caller may not DESCRIBE is left out of an every-topic answer;
  a listed one is answered, after the others, TOPIC_AUTHORIZATION_FAILED
  whether it exists or not. topic_authorized_operations is what the caller
  may do (every topic operation without an authorizer, as Kafka reports).
"""

from fluxmq.errors import ErrorCode, KafkaError
from fluxmq.handlers import AUTHORIZED_OPERATIONS_OMITTED, api
from fluxmq.metadata.controller import validate_topic_name
from fluxmq.metadata.image import INTERNAL_TOPICS
from fluxmq.protocol.codec import ZERO_UUID
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 75


def _topic(name: str, code: ErrorCode, topic_id=ZERO_UUID, partitions=(),
           operations=AUTHORIZED_OPERATIONS_OMITTED) -> dict:
    return {"error_code": code, "name": name, "topic_id": topic_id, "is_internal": name in INTERNAL_TOPICS,
            "partitions": list(partitions), "topic_authorized_operations": operations}


def _partition(p) -> dict:
    return {"error_code": ErrorCode.NONE, "partition_index": p.index, "leader_id": p.leader,
            "leader_epoch": p.leader_epoch, "replica_nodes": p.replicas, "isr_nodes": p.isr,
            "eligible_leader_replicas": [], "last_known_elr": [], "offline_replicas": []}


def _unknown(name: str, operations: int) -> dict:
    try:
        validate_topic_name(name)
    except KafkaError as e:
        return _topic(name, e.code, operations=operations)
    return _topic(name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, operations=operations)


@api(API_KEY, "DescribeTopicPartitions", 0, 0)
def handle(ctx, request):
    broker = ctx.broker
    image = broker.image
    listed = sorted({t.name for t in request.topics})
    cursor = request.cursor
    if cursor is not None and (cursor.partition_index < 0 or (listed and cursor.topic_name not in listed)):
        return {"throttle_time": 0, "next_cursor": None, "topics": [
            _topic(name, ErrorCode.INVALID_REQUEST) for name in listed]}
    names = listed or sorted(image.topics)
    if cursor is not None:
        names = [n for n in names if n >= cursor.topic_name]
    allowed = [n for n in names if ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, n)]
    allowed_set = set(allowed)
    denied = [_topic(n, ErrorCode.TOPIC_AUTHORIZATION_FAILED) for n in names if listed and n not in allowed_set]
    names = allowed
    remaining = max(min(broker.config["max.request.partition.size.limit"], request.response_partition_limit), 1)
    topics, next_cursor = [], None
    for name in names:
        topic = image.topics.get(name)
        if topic is None:  # only listed names can be unknown
            topics.append(_unknown(name, ctx.authorized_operations(ResourceType.TOPIC, name)))
            continue
        if remaining == 0:
            next_cursor = {"topic_name": name, "partition_index": 0}
            break
        start = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        end = min(topic.partition_count, start + remaining)
        topics.append(_topic(name, ErrorCode.NONE, topic.topic_id, map(_partition, topic.partitions[start:end]),
                             ctx.authorized_operations(ResourceType.TOPIC, name)))
        remaining -= max(end - start, 0)
        if end < topic.partition_count:
            next_cursor = {"topic_name": name, "partition_index": end}
            break
    return {"throttle_time": 0, "topics": topics + denied, "next_cursor": next_cursor}
