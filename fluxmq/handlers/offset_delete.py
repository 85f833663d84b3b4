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
from fluxmq.handlers import api, then

API_KEY = 47


@api(API_KEY, "OffsetDelete", 0, 0)
def handle(ctx, request):
    logs = ctx.broker.logs
    valid, errors = [], {}
    for t in request.topics:
        topic = logs.topics.get(t.name)
        parts = []
        for p in t.partitions:
            if topic is None or not 0 <= p.partition_index < topic.partitions:
                errors[(t.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                parts.append(p.partition_index)
        if parts:
            valid.append((t.name, parts))
    result = ctx.broker.groups.run("delete_offsets", group_id=request.group_id, topics=valid)
    return then(result, lambda r: _merge(request, r, errors))


def _merge(request, response: dict, errors: dict) -> dict:
    if response["error_code"] != ErrorCode.NONE:
        return {"error_code": response["error_code"], "throttle_time": 0, "topics": []}
    coordinator = {(t["name"], p["partition_index"]): p["error_code"]
                   for t in response["topics"] for p in t["partitions"]}
    topics = [{"name": t.name, "partitions": [
        {"partition_index": p.partition_index,
         "error_code": errors.get((t.name, p.partition_index),
                                  coordinator.get((t.name, p.partition_index), ErrorCode.NONE))}
        for p in t.partitions]} for t in request.topics]
    return {"error_code": ErrorCode.NONE, "throttle_time": 0, "topics": topics}
