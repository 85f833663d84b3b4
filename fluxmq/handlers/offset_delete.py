"""OffsetDelete (key 47), v0 (KIP-496).

Deletes committed offsets of a group: for an Empty group any partition; for
a classic group with members (or a KIP-848 group) only topics the group does
not subscribe to - partitions of a subscribed topic get
GROUP_SUBSCRIBED_TO_TOPIC. Top-level errors: GROUP_ID_NOT_FOUND for an
unknown group, NON_EMPTY_GROUP for an active group that does not use the
consumer protocol, INVALID_GROUP_ID for an empty id. Topics or partitions
the broker does not have get UNKNOWN_TOPIC_OR_PARTITION, as KafkaApis checks.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, known_partitions, partition_errors, then
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 47


@api(API_KEY, "OffsetDelete", 0, 0)
def handle(ctx, request):
    image = ctx.broker.image
    if not ctx.authorize(AclOperation.DELETE, ResourceType.GROUP, request.group_id):
        return {"error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "throttle_time": 0, "topics": []}
    valid, errors = known_partitions(image, request.topics, lambda p: p.partition_index,
                                     lambda name: ctx.authorize(AclOperation.READ, ResourceType.TOPIC, name))
    result = ctx.broker.groups.run("delete_offsets", group_id=request.group_id, topics=valid)
    return then(result, lambda r: _merge(image, request, r, errors))


def _merge(image, request, response: dict, errors: dict) -> dict:
    if response["error_code"] != ErrorCode.NONE:
        return {"error_code": response["error_code"], "throttle_time": 0, "topics": []}
    return {"error_code": ErrorCode.NONE, "throttle_time": 0,
            "topics": partition_errors(image, request.topics, response["topics"], errors)}
