"""DescribeGroups (key 15), v0-v5.

A classic group: its state, protocol type and, in Stable, the selected
protocol and every member's metadata and assignment; in other states the
members without metadata (Kafka's describeNoMetadata). v4+ add each member's
group.instance.id. An unknown group, or one that is not a classic group
(KIP-848 groups are described by ConsumerGroupDescribe), is "Dead" with no
error, as Kafka answers below v6. A null group id is INVALID_GROUP_ID.
authorized_operations is not computed (no ACLs yet): Kafka's "not
requested" value.
"""

from fluxmq.handlers import api

API_KEY = 15
AUTHORIZED_OPERATIONS_OMITTED = -2147483648


@api(API_KEY, "DescribeGroups", 0, 5)
def handle(ctx, request):
    groups = ctx.broker.groups.run("describe_groups", list(request.groups))
    for g in groups:
        g["authorized_operations"] = AUTHORIZED_OPERATIONS_OMITTED
    return {"throttle_time": 0, "groups": groups}
