"""DescribeCluster (key 60), v0-v2 (KIP-700; v1 endpoint_type, KIP-919;
v2 include_fenced_brokers and is_fenced, KIP-1073).

The cluster is this node: one broker (advertised host and port, no rack,
never fenced, so include_fenced_brokers changes nothing) and this node as
the controller id. This listener is a BROKER endpoint: endpoint_type
CONTROLLER (2) is MISMATCHED_ENDPOINT_TYPE and an unknown type
UNSUPPORTED_ENDPOINT_TYPE (v0 cannot ask for either). No ACL is needed
(AuthHelper.computeDescribeClusterResponse); asked for,
cluster_authorized_operations is what the caller may do on the cluster (0
without DESCRIBE on it; every cluster operation without an authorizer).
"""

from fluxmq.errors import ErrorCode
from fluxmq.handlers import AUTHORIZED_OPERATIONS_OMITTED, api
from fluxmq.security.acl import CLUSTER_NAME, AclOperation, ResourceType

API_KEY = 60
ENDPOINT_BROKER, ENDPOINT_CONTROLLER = 1, 2
ENDPOINT_NAMES = {ENDPOINT_BROKER: "BROKER", ENDPOINT_CONTROLLER: "CONTROLLER"}


def _error(code, message) -> dict:
    return {"throttle_time": 0, "error_code": code, "error_message": message, "endpoint_type": ENDPOINT_BROKER,
            "cluster_id": "", "controller_id": -1, "brokers": [],
            "cluster_authorized_operations": AUTHORIZED_OPERATIONS_OMITTED}


@api(API_KEY, "DescribeCluster", 0, 2)
def handle(ctx, request):
    broker = ctx.broker
    endpoint_type = getattr(request, "endpoint_type", ENDPOINT_BROKER)
    if endpoint_type not in ENDPOINT_NAMES:
        return _error(ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, f"Unsupported endpoint type {endpoint_type}")
    if endpoint_type != ENDPOINT_BROKER:
        return _error(ErrorCode.MISMATCHED_ENDPOINT_TYPE,
                      "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type "
                      f"{ENDPOINT_NAMES[endpoint_type]}")
    return {
        "throttle_time": 0, "error_code": ErrorCode.NONE, "error_message": None,
        "endpoint_type": ENDPOINT_BROKER,
        "cluster_id": broker.image.cluster_id,
        "controller_id": broker.node_id,
        "brokers": [{"broker_id": broker.node_id, "host": ctx.conn.listener.advertised_host,
                     "port": ctx.conn.listener.advertised_port,
                     "rack": None, "is_fenced": False}],
        "cluster_authorized_operations": _cluster_operations(ctx, request),
    }


def _cluster_operations(ctx, request) -> int:
    if not request.include_cluster_authorized_operations:
        return AUTHORIZED_OPERATIONS_OMITTED
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER_NAME):
        return 0
    return ctx.authorized_operations(ResourceType.CLUSTER, CLUSTER_NAME)
