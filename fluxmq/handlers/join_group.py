"""JoinGroup (key 11), v0-v9: the classic group protocol's join phase
(fluxmq/group/classic.py has the state machine).

- v4+: a first join without a member id gets MEMBER_ID_REQUIRED and the id
  to join with (KIP-394); v0-v3 members are added directly.
- v5+: group.instance.id (static membership, KIP-345).
- v0 has no rebalance timeout: the session timeout is used, as Kafka does.
- The response waits (a delayed operation) until the join phase completes:
  every known member rejoined, or the rebalance timeout expired; the
  leader's response lists every member's metadata.
- protocol_name is "" below v7 and null from v7 when there is none (Kafka's
  JoinGroupResponse does the same normalization); v9 skip_assignment is set
  only for a static leader replaced without a rebalance (KIP-814).
- Refused up front: empty group id INVALID_GROUP_ID; session timeout outside
  group.min/max.session.timeout.ms INVALID_SESSION_TIMEOUT; more members than
  group.max.size GROUP_MAX_SIZE_REACHED.
- client_host is "/<ip>" like Kafka's InetAddress.toString().
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api, then
from fluxmq.security.acl import AclOperation, ResourceType
from fluxmq.protocol.codec import to_ms

API_KEY = 11


@api(API_KEY, "JoinGroup", 0, 9)
def handle(ctx, request):
    version = ctx.api_version
    if not ctx.authorize(AclOperation.READ, ResourceType.GROUP, request.group_id):
        from fluxmq.group.classic import join_response
        return shape(join_response("", ErrorCode.GROUP_AUTHORIZATION_FAILED), version)
    session_timeout = to_ms(request.session_timeout)
    rebalance_timeout = to_ms(request.rebalance_timeout) if version >= 1 else session_timeout
    result = ctx.broker.groups.run(
        "join_group", group_id=request.group_id, member_id=request.member_id or "",
        group_instance_id=getattr(request, "group_instance_id", None), protocol_type=request.protocol_type,
        protocols=[(p.name, bytes(p.metadata)) for p in request.protocols], session_timeout_ms=session_timeout,
        rebalance_timeout_ms=rebalance_timeout, client_id=ctx.client_id or "", client_host=ctx.conn.client_host,
        api_version=version, reason=getattr(request, "reason", None))
    return then(result, lambda r: shape(r, version))


def shape(response: dict, version: int) -> dict:
    out = dict(response, throttle_time=0)
    if version < 7:
        out["protocol_name"] = out.get("protocol_name") or ""
    elif out.get("protocol_name") == "":
        out["protocol_name"] = None
    out["leader"] = out.get("leader") or ""
    out["member_id"] = out.get("member_id") or ""
    return out
