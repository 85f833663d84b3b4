"""LeaveGroup (key 13), v0-v5.

v0-v2 name one member id and carry its error at the top level; v3+
(KIP-345) carry a batch of members, each (member id, group.instance.id)
answered on its own, and a static member may be removed by its instance id
alone (member id ""), as kafka-consumer-groups / the admin client do. v5
adds a reason, logged. Leaving triggers a rebalance of the remaining
members. An unknown group answers UNKNOWN_MEMBER_ID for every member (v3+)
or at the top level (v0-v2); an empty group id is INVALID_GROUP_ID.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, then
from fluxmq.security.acl import AclOperation, ResourceType

API_KEY = 13


@api(API_KEY, "LeaveGroup", 0, 5)
def handle(ctx, request):
    version = ctx.api_version
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        return {"throttle_time": 0, "error_code": ErrorCode.GROUP_AUTHORIZATION_FAILED, "members": []}
    if version < 3:
        members = [(request.member_id, None, None)]
    else:
        members = [(m.member_id, m.group_instance_id, getattr(m, "reason", None)) for m in request.members]
    result = ctx.broker.groups.run("leave_group", group_id=request.group_id, members=members)
    return then(result, lambda r: _shape(r, version))


def _shape(response: dict, version: int) -> dict:
    out = dict(response, throttle_time=0)
    if version < 3 and out["error_code"] == ErrorCode.NONE and out.get("members"):
        out["error_code"] = out["members"][0]["error_code"]
    return out
