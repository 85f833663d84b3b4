"""DescribeAcls (key 29), v1-v3 (v0 removed in Kafka 4, KIP-896).

Needs DESCRIBE on the cluster; without an authorizer the answer is
SECURITY_DISABLED, as Kafka's AclApis gives. The stored bindings the filter
matches (security/acl.py), grouped by resource pattern as
DescribeAclsResponse.aclsResources does (error_message "" then, as Kafka
4.4 sends). A filter with code 0 (UNKNOWN) makes the request malformed
(DescribeAclsRequest's validation): the connection is closed; another code
this version does not know matches nothing.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import NO_RESPONSE, acl_api_refusal, api
from fluxmq.security.acl import AclBindingFilter, AclOperation, wire_has_unknown

API_KEY = 29


def _response(code, message, resources=()):
    return {"throttle_time": 0, "error_code": code, "error_message": message, "resources": list(resources)}


@api(API_KEY, "DescribeAcls", 1, 3)
def handle(ctx, request):
    refusal = acl_api_refusal(ctx, AclOperation.DESCRIBE, "No Authorizer is configured on the broker")
    if refusal is not None:
        return _response(*refusal)
    if wire_has_unknown(request.resource_type_filter, request.pattern_type_filter, request.operation,
                        request.permission_type):
        ctx.broker.close_connection(ctx.conn, "malformed DescribeAcls request: the filter has UNKNOWN elements")
        return NO_RESPONSE
    f = AclBindingFilter.from_wire(request)
    by_pattern: dict[tuple, list] = {}
    for b in ctx.broker.image.acls:
        if f.matches(b):
            by_pattern.setdefault((b.resource_type, b.resource_name, b.pattern_type), []).append(
                {"principal": b.principal, "host": b.host, "operation": b.operation, "permission_type": b.permission})
    return _response(ErrorCode.NONE, "", (
        {"resource_type": rt, "resource_name": name, "pattern_type": pt, "acls": acls}
        for (rt, name, pt), acls in by_pattern.items()))
