"""DescribeClientQuotas (key 48), v0-v1 (KIP-546).

Client quotas cannot be set on FluxMQ yet (AlterClientQuotas is not served;
quotas are issue 14), so every valid filter matches no entries: an empty
list is the whole truth. `kafka-configs --describe --entity-type users` asks
for quotas beside the SCRAM credentials, so this is what lets it work. The
filter is checked as Kafka's ClientQuotasImage checks it: known entity
types, each at most once, ip never with user or client-id.
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import api
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 48
ENTITY_TYPES = ("user", "client-id", "ip")


def _filter_error(components) -> str | None:
    seen = set()
    for c in components:
        if c.entity_type not in ENTITY_TYPES:
            return f"Custom entity type {c.entity_type} not supported"
        if c.entity_type in seen:
            return f"Entity type {c.entity_type} cannot appear more than once in the filter."
        seen.add(c.entity_type)
    if "ip" in seen and len(seen) > 1:
        return ("Invalid entity filter component combination, IP filter component should not be used with user "
                "or clientId filter component.")
    return None


@api(API_KEY, "DescribeClientQuotas", 0, 1)
def handle(ctx, request):
    if not ctx.authorize(AclOperation.DESCRIBE_CONFIGS, ResourceType.CLUSTER, CLUSTER_NAME):
        return {"throttle_time": 0, "error_code": ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                "error_message": "Cluster authorization failed.", "entries": None}
    error = _filter_error(request.components)
    if error is not None:
        return {"throttle_time": 0, "error_code": ErrorCode.INVALID_REQUEST, "error_message": error, "entries": None}
    return {"throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None, "entries": []}
