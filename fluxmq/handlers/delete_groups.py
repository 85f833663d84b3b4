"""DeleteGroups (key 42), v0-v3.

Deletes empty groups and all their committed offsets (tombstones in
__consumer_offsets), each group answered on its own: GROUP_ID_NOT_FOUND for
an unknown group, NON_EMPTY_GROUP while it has members, INVALID_GROUP_ID for
a null id. Answered once the tombstones are durable. v3 adds a per-group
error_message, which stays null: Kafka 4.4 leaves it null for these errors.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, then
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 42


@api(API_KEY, "DeleteGroups", 0, 3)
def handle(ctx, request):
    names = list(request.groups_names)
    allowed = [g for g in names if ctx.authorize(AclOperation.DELETE, ResourceType.GROUP, g)]
    denied = [{"group_id": g, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED} for g in names if g not in allowed]
    result = ctx.broker.groups.run("delete_groups", allowed) if allowed else []
    return then(result, lambda results: {"throttle_time": 0, "results": results + denied})
