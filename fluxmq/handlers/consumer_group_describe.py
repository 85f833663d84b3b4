"""ConsumerGroupDescribe (key 69), v0-v1: KIP-848 groups for the admin client
(Admin.describeConsumerGroups, kafka-consumer-groups --describe).

Per group: state (Empty, Assigning, Reconciling, Stable), group epoch,
assignment epoch, the assignor in use, and every member with its
subscription, current assignment and target assignment (topic ids and names).
v1 adds member_type (1: a consumer-protocol member; classic members inside a
consumer group are not supported). An unknown id, or a classic group, is
GROUP_ID_NOT_FOUND with Kafka's message; the admin client then falls back to
DescribeGroups for classic groups. Authorized operations are not computed
(no ACLs): the field keeps Kafka's "not requested" value.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import AUTHORIZED_OPERATIONS_OMITTED, api
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 69


@api(API_KEY, "ConsumerGroupDescribe", 0, 1)
def handle(ctx, request):
    coordinator = ctx.broker.groups.coordinator
    allowed = [g for g in request.group_ids if ctx.authorize(AclOperation.DESCRIBE, ResourceType.GROUP, g)]
    if not coordinator.active:
        described = iter([{"error_code": ErrorCode.COORDINATOR_NOT_AVAILABLE, "group_id": gid, "members": []}
                          for gid in allowed])
    else:
        described = iter(coordinator.consumer.describe(allowed))
    groups = []
    for gid in request.group_ids:
        if gid not in allowed:
            groups.append({"error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "group_id": gid, "members": [],
                           "authorized_operations": AUTHORIZED_OPERATIONS_OMITTED})
            continue
        g = next(described)
        if request.include_authorized_operations:
            g["authorized_operations"] = ctx.authorized_operations(ResourceType.GROUP, gid)
        groups.append(g)
    return {"throttle_time": 0, "groups": groups}
