"""SyncGroup (key 14), v0-v5: the classic protocol's assignment phase.

The leader sends every member's assignment; it is stored (a GroupMetadata
record in __consumer_offsets) and, once durable, each waiting member gets
its own. Followers wait (a delayed operation) until then, or get
REBALANCE_IN_PROGRESS if a new rebalance starts. In Stable, a SyncGroup
returns the member's current assignment. The assignment is always bytes,
empty when the leader gave the member none, never null.
Errors: UNKNOWN_MEMBER_ID (unknown group or member), FENCED_INSTANCE_ID,
ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, and from v5
INCONSISTENT_GROUP_PROTOCOL when protocol_type/protocol_name do not match
the group's. A failed write of the assignment answers every member with the
mapped error (UNKNOWN_SERVER_ERROR for an assignment above
max.message.bytes of __consumer_offsets, NOT_COORDINATOR for I/O errors).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, then
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 14


@api(API_KEY, "SyncGroup", 0, 5)
def handle(ctx, request):
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return _shape({"error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "protocol_type": None,
                       "protocol_name": None, "assignment": b""})
    result = ctx.broker.groups.run(
        "sync_group", group_id=request.group_id, generation_id=request.generation_id,
        member_id=request.member_id, group_instance_id=getattr(request, "group_instance_id", None),
        protocol_type=getattr(request, "protocol_type", None), protocol_name=getattr(request, "protocol_name", None),
        assignments=[(a.member_id, bytes(a.assignment) if a.assignment is not None else b"")
                     for a in request.assignments])
    return then(result, _shape)


def _shape(response: dict) -> dict:
    out = dict(response, throttle_time=0)
    if out.get("assignment") is None:
        out["assignment"] = b""
    return out
