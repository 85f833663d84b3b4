"""DeleteAcls (key 31), v1-v3 (v0 removed in Kafka 4, KIP-896).

Needs ALTER on the cluster; without an authorizer every filter gets
SECURITY_DISABLED. Each filter lists the stored bindings it matched, which
are deleted together (metadata/controller.py: delete_acls). A filter with
code 0 (UNKNOWN) makes the request malformed (the connection is closed, as
Kafka's request validation does); another code this version does not know
gets INVALID_REQUEST "Unknown patternFilter." or "Unknown entryFilter.".
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import NO_RESPONSE, acl_api_refusal, api
from fluxmq.security.acl import AclBindingFilter, AclOperation, wire_has_unknown

API_KEY = 31


def _matching(b) -> dict:
    return {"error_code": ErrorCode.NONE, "error_message": None, "resource_type": b.resource_type,
            "resource_name": b.resource_name, "pattern_type": b.pattern_type, "principal": b.principal,
            "host": b.host, "operation": b.operation, "permission_type": b.permission}


def _all_failed(request, code, message):
    return {"throttle_time": 0, "filter_results": [{"error_code": code, "error_message": message,
                                                    "matching_acls": []} for _ in request.filters]}


@api(API_KEY, "DeleteAcls", 1, 3)
def handle(ctx, request):
    refusal = acl_api_refusal(ctx, AclOperation.ALTER)
    if refusal is not None:
        return _all_failed(request, *refusal)
    if any(wire_has_unknown(f.resource_type_filter, f.pattern_type_filter, f.operation, f.permission_type)
           for f in request.filters):
        ctx.broker.close_connection(ctx.conn, "malformed DeleteAcls request: a filter has UNKNOWN elements")
        return NO_RESPONSE
    results = ctx.broker.controller.delete_acls([AclBindingFilter.from_wire(f) for f in request.filters])
    return {"throttle_time": 0, "filter_results": [
        {"error_code": code, "error_message": message, "matching_acls": [_matching(b) for b in matched]}
        for code, message, matched in results]}
