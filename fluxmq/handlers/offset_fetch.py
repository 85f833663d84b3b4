"""OffsetFetch (key 9), v1-v10 (v0, offsets in ZooKeeper, was removed in Kafka 4).

- v1-v7 ask for one group; v8+ (KIP-709) for several, each answered on its
  own. Topics null (v2+) means every committed offset of the group.
- An unknown group, or a partition without a committed offset, answers
  offset -1, leader epoch -1, metadata "" and no error, as Kafka does.
- v5+ return the committed leader epoch (KIP-320).
- v7+ require_stable: with no transactions yet no offset is ever pending,
  so UNSTABLE_OFFSET_COMMIT never happens.
- v9 member_id / member_epoch are checked for KIP-848 groups
  (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID); classic groups ignore them.
- v10 (KIP-848) names topics by id, in the request and the response; an
  unknown id answers its partitions with UNKNOWN_TOPIC_ID (offset -1), as
  Kafka 4.4 does. Committed offsets are kept by topic name, as in Kafka.
- A group-level error goes in error_code (v2+); v1 has no group error field,
  so it is set on every requested partition.
- ACLs: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED) and on each topic
  (see fetch_group).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 9


NO_OFFSET = {"committed_offset": -1, "committed_leader_epoch": -1, "metadata": ""}


def _topics(req_topics):
    if req_topics is None:
        return None
    return [(t.name, list(t.partition_indexes)) for t in req_topics]


def fetch_group(ctx, group_id, topics, require_stable, member_id=None, member_epoch=-1) -> dict:
    """One group's offsets: the group needs DESCRIBE; a requested topic the caller
    may not DESCRIBE answers TOPIC_AUTHORIZATION_FAILED (offset -1), and every
    committed offset (topics None) leaves such topics out (KafkaApis)."""
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, group_id or ""):
        return {"group_id": group_id, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "topics": []}
    denied = []
    if topics is not None:
        denied = [(n, parts) for n, parts in topics if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.TOPIC, n)]
        topics = [t for t in topics if t not in denied]
    group = ctx.broker.groups.run("fetch_offsets", group_id=group_id, topics=topics, require_stable=require_stable,
                                  member_id=member_id, member_epoch=member_epoch)
    if group["error_code"] != ErrorCode.NONE or ctx.broker.authorizer is None:
        return group
    if topics is None:
        names = ctx.authorized_names(AclOperation.DESCRIBE, ResourceType.TOPIC, [t["name"] for t in group["topics"]])
        return {**group, "topics": [t for t in group["topics"] if t["name"] in names]}
    return {**group, "topics": group["topics"] + [
        {"name": n, "partitions": [{"partition_index": p, **NO_OFFSET, "error_code": ErrorCode.TOPIC_AUTHORIZATION_FAILED}
                                   for p in parts]} for n, parts in denied]}


def _fetch_group_by_ids(ctx, g, require_stable) -> dict:
    """v10: the group's topics by id, mapped to names for the coordinator and back."""
    image = ctx.broker.image
    known, unknown = [], []
    for t in g.topics or ():
        topic = image.topics_by_id.get(t.topic_id)
        (known if topic is not None else unknown).append((topic, t))
    topics = None if g.topics is None else [(topic.name, list(t.partition_indexes)) for topic, t in known]
    group = fetch_group(ctx, g.group_id, topics, require_stable, g.member_id, g.member_epoch)
    out = []
    for t in group["topics"]:
        topic = image.topics.get(t["name"])
        if topic is not None:  # offsets of a topic that is gone have no id to answer with
            out.append({"topic_id": topic.topic_id, "partitions": t["partitions"]})
    for _topic, t in unknown:
        out.append({"topic_id": t.topic_id, "partitions": [
            {"partition_index": p, **NO_OFFSET, "error_code": ErrorCode.UNKNOWN_TOPIC_ID}
            for p in t.partition_indexes]})
    return {**group, "topics": out}


@api(API_KEY, "OffsetFetch", 1, 10)
def handle(ctx, request):
    version = ctx.api_version
    require_stable = getattr(request, "require_stable", False)
    if version >= 10:
        return {"throttle_time": 0, "groups": [_fetch_group_by_ids(ctx, g, require_stable) for g in request.groups]}
    if version >= 8:
        groups = [fetch_group(ctx, g.group_id, _topics(g.topics), require_stable,
                              getattr(g, "member_id", None), getattr(g, "member_epoch", -1))
                  for g in request.groups]
        return {"throttle_time": 0, "groups": groups}
    topics = _topics(request.topics)
    group = fetch_group(ctx, request.group_id, topics, require_stable)
    code = group["error_code"]
    out_topics = group["topics"]
    if code != ErrorCode.NONE:
        # Kafka answers the requested partitions with offset -1 and, below v2, the error on each.
        out_topics = [{"name": name, "partitions": [
            {"partition_index": p, **NO_OFFSET, "error_code": code if version < 2 else ErrorCode.NONE}
            for p in parts]}
            for name, parts in topics or ()]
    return {"throttle_time": 0, "error_code": code, "topics": out_topics}
