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

from fluxmq.handlers import AUTHORIZED_OPERATIONS_OMITTED, api

API_KEY = 15


@api(API_KEY, "DescribeGroups", 0, 6)
def handle(ctx, request):
    groups = ctx.broker.groups.run("describe_groups", list(request.groups), ctx.api_version)
    for g in groups:
        g["authorized_operations"] = AUTHORIZED_OPERATIONS_OMITTED
    return {"throttle_time": 0, "groups": groups}
