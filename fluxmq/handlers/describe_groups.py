"""DescribeGroups (key 15), v0-v6.

A classic group: its state, protocol type and, in Stable, the selected
protocol and every member's metadata and assignment; in other states the
members without metadata (Kafka's describeNoMetadata). v4+ add each member's
group.instance.id. An unknown group, or one that is not a classic group
(KIP-848 groups are described by ConsumerGroupDescribe), is "Dead" with no
error below v6, and GROUP_ID_NOT_FOUND with a message from v6 (KIP-1043).
A null group id is INVALID_GROUP_ID.
authorized_operations is not computed (no ACLs yet): Kafka's "not
requested" value.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import AUTHORIZED_OPERATIONS_OMITTED, api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 15


@api(API_KEY, "DescribeGroups", 0, 6)
def handle(ctx, request):
    allowed = [g for g in request.groups if ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, g)]
    described = iter(ctx.broker.groups.run("describe_groups", allowed, ctx.api_version))
    with_ops = getattr(request, "include_authorized_operations", False)
    groups = []
    for group_id in request.groups:
        if group_id not in allowed:
            groups.append({"error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "group_id": group_id,
                           "group_state": "", "protocol_type": "", "protocol_data": "", "members": [],
                           "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED})
            continue
        g = next(described)
        g["authorized_operations"] = (ctx.authorized_operations(ResourceType.GROUP, group_id) if with_ops
                                      else AUTHORIZED_OPERATIONS_OMITTED)
        groups.append(g)
    return {"throttle_time": 0, "groups": groups}
