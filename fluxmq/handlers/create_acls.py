"""CreateAcls (key 30), v1-v3 (v0 removed in Kafka 4, KIP-896).

Needs ALTER on the cluster. Without an authorizer every creation gets
SECURITY_DISABLED, as Kafka's AclApis answers. A creation with code 0
(UNKNOWN) for its resource type, pattern type, operation or permission makes
the request malformed, as CreateAclsRequest's validation does in Kafka: the
connection is closed. Otherwise one result per creation, in request order
(metadata/controller.py: create_acls); a code this version does not know is
INVALID_REQUEST "Invalid operation UNKNOWN" and the like, as Kafka 4.4
answers. A binding with ANY or MATCH in it gets INVALID_REQUEST naming the
field too (Kafka 4.4 answers those UNKNOWN_SERVER_ERROR without a message).
"""

from fluxmq.handlers import NO_RESPONSE, acl_api_refusal, api
from fluxmq.security.acl import AclBinding, AclOperation, wire_has_unknown

API_KEY = 30


def _all_failed(request, code, message):
    return {"throttle_time": 0, "results": [{"error_code": code, "error_message": message}
                                            for _ in request.creations]}


@api(API_KEY, "CreateAcls", 1, 3)
def handle(ctx, request):
    refusal = acl_api_refusal(ctx, AclOperation.ALTER)
    if refusal is not None:
        return _all_failed(request, *refusal)
    if any(wire_has_unknown(c.resource_type, c.resource_pattern_type, c.operation, c.permission_type)
           for c in request.creations):
        ctx.broker.close_connection(ctx.conn, "malformed CreateAcls request: a creation has UNKNOWN elements")
        return NO_RESPONSE
    bindings = [AclBinding.from_wire(c) for c in request.creations]
    return {"throttle_time": 0, "results": [{"error_code": code, "error_message": message}
                                            for code, message in ctx.broker.controller.create_acls(bindings)]}
