"""Heartbeat (key 12), v0-v4: keeps a classic group member's session alive.

NONE in CompletingRebalance and Stable; REBALANCE_IN_PROGRESS while the
group prepares a rebalance (the member rejoins); ILLEGAL_GENERATION for
another generation; UNKNOWN_MEMBER_ID for an unknown group or member (and in
an Empty group); FENCED_INSTANCE_ID for a replaced static member (v3+);
INVALID_GROUP_ID for an empty group id.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, then
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 12


@api(API_KEY, "Heartbeat", 0, 4)
def handle(ctx, request):
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return {"throttle_time": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED}
    result = ctx.broker.groups.run(
        "heartbeat", group_id=request.group_id, generation_id=request.generation_id, member_id=request.member_id,
        group_instance_id=getattr(request, "group_instance_id", None))
    return then(result, lambda r: dict(r, throttle_time=0))
