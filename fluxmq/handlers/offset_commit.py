"""OffsetCommit (key 8), v2-v10 (v0-v1 were removed in Kafka 4, KIP-896).

- Topics or partitions this broker does not have get
  UNKNOWN_TOPIC_OR_PARTITION (KafkaApis checks the metadata before the
  coordinator); the rest go to the coordinator. v10 (KIP-848) names topics
  by id: an unknown id is UNKNOWN_TOPIC_ID.
- Classic groups check member id, group.instance.id (v7+) and generation:
  UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ILLEGAL_GENERATION,
  REBALANCE_IN_PROGRESS while the group waits for its assignment. Generation
  -1 with no member id commits into an Empty group or creates a simple group
  (admin client, assign() consumers). KIP-848 groups check the member epoch
  (v9 semantics: STALE_MEMBER_EPOCH). A generation for an unknown group is
  ILLEGAL_GENERATION before v9, GROUP_ID_NOT_FOUND from v9.
- Group-level errors are set on every partition, as Kafka answers.
- Metadata is stored and returned as sent (null as ""); above
  offset.metadata.max.bytes the partition gets OFFSET_METADATA_TOO_LARGE.
- v2-v4 retention_time (other than -1) sets an explicit expire timestamp.
- An empty group id is accepted, as Kafka does for OffsetCommit (only
  JoinGroup/SyncGroup/Heartbeat/LeaveGroup refuse it).
- Answered once the commit records are durable (fdatasync).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, known_partitions, partition_errors, request_topic, then
from fluxmq.security.acl import AclOperation, ResourceType
from fluxmq.protocol.codec import to_ms

API_KEY = 8


@api(API_KEY, "OffsetCommit", 2, 10)
def handle(ctx, request):
    version = ctx.api_version
    image = ctx.broker.image
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        errors = {(request_topic(image, t)[1], p.partition_index): ErrorCode.GROUP_AUTHORIZATION_FAILED
                  for t in request.topics for p in t.partitions}
        return {"throttle_time": 0, "topics": partition_errors(image, request.topics, [], errors)}
    valid, errors = known_partitions(
        image, request.topics,
        lambda p: (p.partition_index, p.committed_offset, getattr(p, "committed_leader_epoch", -1),
                   p.committed_metadata),
        lambda name: ctx.authorize(AclOperation.READ, ResourceType.TOPIC, name))
    retention = to_ms(request.retention_time) if version <= 4 else -1
    if valid:
        result = ctx.broker.groups.run(
            "commit_offsets", group_id=request.group_id, generation_id=request.generation_id_or_member_epoch,
            member_id=request.member_id, group_instance_id=getattr(request, "group_instance_id", None),
            topics=valid, api_version=version, retention_time_ms=retention)
    else:
        result = {"topics": []}
    return then(result, lambda r: {"throttle_time": 0,
                                   "topics": partition_errors(image, request.topics, r["topics"], errors)})
